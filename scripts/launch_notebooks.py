"""Sphinx extension: every chapter's launch buttons open the student notebook, notebooks/<chapter>.ipynb.

sphinx-book-theme builds its Colab, Binder and JupyterHub links from the page's own source path,
book/<chapter>.md, which Colab cannot open and which has no set-up cell. This extension runs right
after the theme (html-page-context, priority 502) and points each link at notebooks/<chapter>.ipynb
of the same repository and branch (_config.yml: repository.url, repository.branch; the JupyterHub
link is nbgitpuller's, with the hub address launch_buttons.jupyterhub_url). A chapter without its
notebook loses its launch buttons and the build warns (so `jupyter-book build -W` fails).

Enabled in _config.yml under sphinx.local_extensions.
"""

from __future__ import annotations

from pathlib import Path

from sphinx.util import logging

LOGGER = logging.getLogger(__name__)
NOTEBOOK_DIR = "notebooks"


def notebook_path(pagename: str) -> str:
    """The repository path of a chapter's student notebook: book/elbo -> notebooks/elbo.ipynb."""
    return f"{NOTEBOOK_DIR}/{Path(pagename).name}.ipynb"


def point_launch_buttons(app, pagename, templatename, context, doctree):
    buttons = context.get("header_buttons") or []
    group = next((b for b in buttons if b.get("label") == "launch-buttons"), None)
    if group is None:
        return
    # What the theme wrote (sphinx_book_theme.header_buttons.launch): path_to_docs + page + suffix.
    suffix = Path(app.env.doc2path(pagename)).suffix
    prefix = app.config["html_theme_options"].get("path_to_docs", "").strip("/")
    theme_path = f"{prefix + '/' if prefix else ''}{pagename}{suffix}"
    target = notebook_path(pagename)
    if not (Path(app.srcdir) / target).exists():
        LOGGER.warning(
            f"{pagename}: no {target} for its launch buttons (run `make notebooks`); the buttons are left out"
        )
        buttons.remove(group)
        return
    for button in group.get("buttons", []):
        url = button.get("url")
        if not url:
            continue
        if theme_path not in url:
            LOGGER.warning(f"{pagename}: cannot point the {button.get('text')} launch link at {target}: {url}")
            continue
        button["url"] = url.replace(theme_path, target)


def setup(app):
    app.connect("html-page-context", point_launch_buttons, priority=502)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
