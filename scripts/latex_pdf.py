"""Sphinx extension for the PDF (LaTeX builder): widgets as a line saying where they run live, and TeX's needs.

**Widgets.**
A widget's output is a widget view (``application/vnd.jupyter.widget-view+json``) and its ``text/plain`` repr.
In the LaTeX build myst-nb would print the repr (``LatentExplorer(...)``); this extension makes myst-nb
choose the widget view there too (``nb_mime_priority_overrides``), and replaces it with a paragraph naming the
chapter's notebook (JupyterLab, Colab, Binder) and its page on the website, where the widget runs. A widget
whose output also carries a picture (``image/png``) is shown as that picture, by myst-nb, before the line.

**TeX's needs.** jupyter-book's LaTeX class loads the ``bbm`` package, which only Debian's 1.4 GB
texlive-fonts-extra has; ``scripts/latex/bbm.sty``, a three-line stand-in, goes into the LaTeX folder
(``latex_additional_files``), and the (empty) index is made by makeindex rather than xindy (another
package), so the TeX packages scripts/pdf.py names are enough.

Enabled in _config.yml under sphinx.local_extensions; the HTML build is untouched.
"""

from __future__ import annotations

from pathlib import Path

LATEX_FILES = [Path(__file__).parent / "latex" / "bbm.sty"]
WIDGET = "application/vnd.jupyter.widget-view+json"


def configure_latex(app, config) -> None:
    overrides = list(config.nb_mime_priority_overrides or [])
    overrides.append(("latex", WIDGET, 5))
    config.nb_mime_priority_overrides = overrides
    config.latex_additional_files = [*(config.latex_additional_files or []), *map(str, LATEX_FILES)]
    config.latex_use_xindy = False  # the book has no index: makeindex (in TeX Live) instead of Debian's xindy


def where_live(docname: str, repository: str, branch: str) -> str:
    """The sentence that stands for a widget in the PDF."""
    stem = docname.split("/")[-1]
    return (
        f"Interactive widget: it runs live on this chapter's page of the course website and in the notebook "
        f"notebooks/{stem}.ipynb ({repository.rstrip('/')}/blob/{branch}/notebooks/{stem}.ipynb), "
        "in JupyterLab, Colab or Binder."
    )


def replace_widgets(app, doctree, docname) -> None:
    from docutils import nodes
    from sphinx import addnodes

    if app.builder.format != "latex":
        return
    options = app.config.html_theme_options or {}
    repository = options.get("repository_url") or "the course repository"
    branch = options.get("repository_branch") or "main"
    current = docname
    # the LaTeX builder resolves one doctree assembled from every chapter: walk it in order, noting where
    # each chapter starts (Sphinx's start_of_file nodes, or sections that carry their docname)
    for node in list(doctree.findall(lambda n: isinstance(n, (addnodes.start_of_file, nodes.section, nodes.raw)))):
        if isinstance(node, (addnodes.start_of_file, nodes.section)):
            current = node.get("docname") or current
        elif "html" in node.get("format", "") and WIDGET in node.astext():
            paragraph = nodes.paragraph()
            paragraph += nodes.emphasis(text=where_live(current, repository, branch))
            node.replace_self(paragraph)


def setup(app):
    app.connect("config-inited", configure_latex)
    app.connect("doctree-resolved", replace_widgets)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
