"""The student notebooks' plain Markdown (scripts/plain_markdown.py): one case per rule, and the numbers
against the website.

The website numbers equations, exercises, theorems and figures with Sphinx; the notebooks number them
with the translator. Both must give every item the same number, in the same order, so that "see
(3.2)" or "Exercise 10.1" means one thing in both. The translation itself is checked on small MyST
snippets whose plain form is written out here.
"""

from __future__ import annotations

import re

import nbformat
import pytest

from scripts import plain_markdown
from scripts.chapters import ROOT, chapter_sources, read_chapter

KINDS = "Exercise|Theorem|Proposition|Lemma|Corollary|Definition"


def website_numbers(html: str) -> tuple[list[str], list[tuple[str, str]]]:
    equations = re.findall(r'<span class="eqno">\(([0-9.]+)\)', html)
    items = re.findall(rf'<span class="caption-number">({KINDS}|Fig\.) ([0-9.]+)', html)
    return equations, [("Figure" if kind == "Fig." else kind, n.rstrip(".")) for kind, n in items]


def notebook_numbers(name: str) -> tuple[list[str], list[tuple[str, str]]]:
    notebook = nbformat.read(ROOT / "notebooks" / f"{name}.ipynb", as_version=4)
    text = "\n".join(c.source for c in notebook.cells if c.cell_type == "markdown")
    equations = re.findall(r"\\tag\{([0-9.]+)\}", text)
    items = re.findall(rf"^(?:> )?\*\*({KINDS}|Figure) ([0-9.]+?)\.?\*\*", text, re.M)
    return equations, items


@pytest.mark.slow
@pytest.mark.parametrize("source", chapter_sources(), ids=lambda p: p.stem)
def test_notebook_numbers_match_the_website(built_book, source):
    site = website_numbers((built_book / "book" / f"{source.stem}.html").read_text())
    notebook = notebook_numbers(source.stem)
    assert notebook[0] == site[0], f"{source.stem}: equation numbers differ from the website's"
    # The website may order a figure after the text around it; compare each kind in its own order.
    for kind in {k for k, _ in site[1] + notebook[1]}:
        in_site = [n for k, n in site[1] if k == kind]
        in_notebook = [n for k, n in notebook[1] if k == kind]
        if kind == "Figure" and not in_site:
            continue  # a book built without execution has no figures
        assert in_notebook == in_site, f"{source.stem}: {kind} numbers differ from the website's"


PAGES = {"notation": ("Notation", "https://example.org/notation.md")}  # a page that is not a notebook


def translate(markdown: str, name: str = "demo", number: int | None = 3, book_extra=None) -> str:
    refs = plain_markdown.read_bibliography(ROOT / "references.bib")
    chapter = plain_markdown.scan_chapter(name, [("markdown", markdown, {})], number=number)
    book = {name: chapter, **(book_extra or {})}
    return plain_markdown.Translator(chapter, book, refs, source_dir=ROOT / "book", pages=PAGES).translate(markdown)


def other_chapter():
    """Chapter 4, "The ELBO", with an equation, a theorem and a figure that chapter 3 refers to."""
    source = (
        "# The ELBO\n\n$$\nx\n$$ (eq:elbo)\n\n:::{prf:theorem}\n:label: thm-elbo\n\nTrue.\n:::\n\n"
        "```{figure} a.png\n:name: fig-elbo\n```"
    )
    return {"elbo": plain_markdown.scan_chapter("elbo", [("markdown", source, {})], number=4)}


# One case per rule of plain_markdown.ROLES and plain_markdown.DIRECTIVES: (rule, MyST, plain Markdown).
RULES = [
    ("glue:text", "The gap is {glue:text}`gap_flow` nats.", "The gap is `gap_flow` nats."),
    (
        "cite:p",
        "As shown {cite:p}`kingma2013auto,doersch2016tutorial`.",
        "As shown (Kingma and Welling, 2014; Doersch, 2016).",
    ),
    ("cite:t", "{cite:t}`kingma2019introduction` agree.", "Kingma and Welling (2019) agree."),
    ("math", "The maths {math}`a^2`.", "The maths $a^2$."),
    ("eq", "$$\na = b\n$$ (eq:ab)\n\nBy {eq}`eq:ab`.", "$$\na = b\n\\tag{3.1}\n$$\n\nBy (3.1)."),
    (
        "eq into another chapter: a link on the number",
        "See {eq}`eq:elbo` in {doc}`elbo`.",
        "See [(4.1)](elbo.ipynb) in [The ELBO](elbo.ipynb).",
    ),
    (
        "doc",
        "{doc}`elbo`, {doc}`the bound <elbo>`, {doc}`notation`, {doc}`missing_page`",
        "[The ELBO](elbo.ipynb), [the bound](elbo.ipynb), [Notation](https://example.org/notation.md), "
        "*missing page* (on the course website)",
    ),
    (
        "ref to a heading",
        "(sec)=\n## Part\n\nSee {ref}`the part <sec>` and {ref}`sec`.",
        "## Part\n\nSee [the part](#Part) and [Part](#Part).",
    ),
    (
        "numref",
        "```{figure} a.png\n:name: fig-a\n:alt: A\n```\n\n{numref}`fig-a`, {numref}`Fig. %s <fig-a>`",
        "![A](../book/a.png)\n\n\nFigure 3.1, Fig. 3.1",
    ),
    (
        "prf:ref and ref into another chapter",
        "By {prf:ref}`thm-elbo` and {numref}`fig-elbo`.",
        "By [Theorem 4.1](elbo.ipynb) and [Figure 4.1](elbo.ipynb).",
    ),
    (
        "code roles",
        "{func}`~vaecourse.elbo.loss`, {class}`torch.nn.Module`, {py:func}`f`",
        "`vaecourse.elbo.loss`, `torch.nn.Module`, `f`",
    ),
    ("any other role: its text", "{term}`ELBO`, {abbr}`KL <Kullback-Leibler>`", "ELBO, KL"),
    ("no role in inline code", "Write `{eq}`x`` for a reference.", "Write `{eq}`x`` for a reference."),
    (
        "literalinclude",
        "```{literalinclude} ../vaecourse/checks/__init__.py\n:pyobject: names\n```",
        '```python\ndef names() -> list[str]:\n    """Names of all checks, in book order."""\n'
        "    return [c.name for c in CHECKS]\n```",
    ),
    ("math directive", "```{math}\n:label: eq:m\na=b\n```\n\nSee {eq}`eq:m`.", "$$\na=b\n\\tag{3.1}\n$$\n\nSee (3.1)."),
    (
        "exercise and dropdown solution",
        ":::{exercise} Warm-up\n:label: ex-a\n\nShow $x$.\n:::\n\n:::{solution} ex-a\n:class: dropdown\n\nIt is.\n:::",
        "> **Exercise 3.1** (Warm-up)\n>\n> Show $x$.\n\n<!-- answer -->\n\n"
        "<details><summary><b>Solution to Exercise 3.1</b></summary>\n\nIt is.\n\n</details>",
    ),
    ("solution shown", ":::{solution}\nPlain.\n:::", "**Solution.**\n\nPlain."),
    (
        "theorem and proof",
        ":::{prf:theorem} Big\n:label: thm-big\n\nTrue.\n:::\n\n:::{prf:proof}\nObvious.\n:::\n\n"
        "By {prf:ref}`thm-big`.",
        "> **Theorem 3.1** (Big)\n>\n> True.\n\n*Proof.* Obvious. \u220e\n\nBy Theorem 3.1.",
    ),
    (
        "statements numbered per kind",
        ":::{prf:proposition}\nX.\n:::\n\n:::{prf:theorem}\nY.\n:::",
        "> **Proposition 3.1**\n>\n> X.\n\n> **Theorem 3.1**\n>\n> Y.",
    ),
    (
        "proof ending in maths, folded",
        ":::{prf:proof}\n:class: dropdown\nBy\n\n$$\nx\n$$\n:::",
        "<details><summary><b>Proof</b></summary>\n\nBy\n\n$$\nx\n$$\n\n\u220e\n\n</details>",
    ),
    ("admonition", "```{note}\nMind $h$.\n```", "> **Note.**\n>\n> Mind $h$."),
    (
        "titled admonition, folded",
        ":::{admonition} Why {math}`h`\n:class: dropdown\nBody.\n:::",
        "<details><summary><b>Why $h$</b></summary>\n\nBody.\n\n</details>",
    ),
    ("bibliography dropped", "Before.\n\n```{bibliography}\n```", "Before."),
    (
        "any other directive: its body under its argument",
        "```{epigraph} Said\nBody {math}`x`.\n```",
        "**Said**\n\nBody $x$.",
    ),
]


@pytest.mark.parametrize(("markdown", "plain"), [case[1:] for case in RULES], ids=[case[0] for case in RULES])
def test_each_rule_translates_myst_to_plain_markdown(markdown, plain):
    assert translate(markdown, book_extra=other_chapter()) == plain


def test_every_role_and_directive_rule_has_a_case():
    """A rule added to plain_markdown's tables without a case above fails here."""
    named = " ".join(markdown for _, markdown, _ in RULES)
    for name in (*plain_markdown.ROLES, *plain_markdown.DIRECTIVES):
        if name in {
            "cite:ps",
            "cite",
            "cite:alp",
            "cite:ts",
            "cite:author",
            "meth",
            "mod",
            "attr",
            "obj",
            "data",
            "exc",
            "image",
            "tableofcontents",
            "glue",
            "glue:",
            "glue:any",
            "glue:md",
        } | set(plain_markdown.ADMONITIONS) - {"note", "admonition"}:
            continue  # the same rule as a name that has a case
        assert "{" + name + "}" in named, f"no case in RULES for {name}"


def test_display_maths_in_a_blockquote_is_one_line():
    """JupyterLab takes display maths out before reading the Markdown: a "> " on a continuation line
    would be typeset as part of the formula. Maths right after a line of text too."""
    text = translate(":::{prf:theorem} T\n:label: thm-t\n\n$$\na = b,\n\\qquad c\n$$ (eq:t)\n\nso\n$$\nd\n$$\n:::")
    assert text == "> **Theorem 3.1** (T)\n>\n> $$ a = b, \\qquad c \\tag{3.1} $$\n>\n> so\n> $$ d $$"


def test_a_label_leaves_no_double_blank_line():
    assert translate("Text.\n\n(sec)=\n\n## Part") == "Text.\n\n## Part"


def test_figures_of_code_cells_are_numbered_in_order_with_the_others():
    cells = [
        ("markdown", "```{figure} a.png\n:name: fig-a\n```", {}),
        ("code", "plot()", {"mystnb": {"figure": {"name": "fig-b", "caption": "B"}}}),
        ("markdown", "$$\nx\n$$ (eq:x)", {}),
    ]
    chapter = plain_markdown.scan_chapter("demo", cells, number=2)
    assert {k: t.text for k, t in chapter.targets.items()} == {
        "fig-a": "Figure 2.1",
        "fig-b": "Figure 2.2",
        "eq:x": "(2.1)",
    }


@pytest.mark.parametrize("source", chapter_sources(), ids=lambda p: p.stem)
def test_no_line_of_inline_maths_starts_a_list(source):
    """A line that opens with "- " or "+ " inside $...$ starts a list (for Sphinx and JupyterLab alike), and
    the maths around it is printed raw: break such lines before the sign, not after."""
    for cell in read_chapter(source).cells:
        if cell.cell_type != "markdown":
            continue
        for block in plain_markdown.walk(cell.source):  # directives' bodies too
            first = block.lines[0] if block.lines else ""
            assert not (block.kind == "text" and re.match(r"^\s*[-+*] \\", first)), (
                f"{source.stem}: a list that starts with maths: {first[:60]!r}"
            )


@pytest.mark.parametrize("source", chapter_sources(), ids=lambda p: p.stem)
def test_links_in_the_notebooks_lead_somewhere(source):
    """Links to other chapters open their notebook; links to pages that are not notebooks (notation,
    glossary) open the file in the course repository; links within a notebook reach a heading."""
    import yaml

    config = yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]
    in_repository = f"{config['url'].rstrip('/')}/blob/{config['branch']}/"
    notebook = nbformat.read(ROOT / "notebooks" / f"{source.stem}.ipynb", as_version=4)
    markdown = [c.source for c in notebook.cells if c.cell_type == "markdown"]
    headings = {
        "#" + m.strip().replace(" ", "-") for text in markdown for m in re.findall(r"^#{1,6}\s+(.*)$", text, re.M)
    }
    for target in re.findall(r"\]\(([^)\s]+)\)", "\n".join(markdown)):
        if target.startswith(in_repository):
            assert (ROOT / target[len(in_repository) :]).exists(), f"{source.stem}: link to a missing file {target}"
        elif target.startswith("#"):
            assert target in headings, f"{source.stem}: link to a missing heading {target}"
        elif not re.match(r"^https?://", target):
            assert (ROOT / "notebooks" / target).exists(), f"{source.stem}: link to a missing notebook {target}"


@pytest.mark.parametrize("source", chapter_sources(), ids=lambda p: p.stem)
def test_every_figure_of_a_notebook_is_described_in_words_under_it(source):
    """An output image in JupyterLab or Colab has no alt text: the caption cell under each numbered figure
    carries the chapter's description of it, so a screen reader reads what the figure shows."""
    from scripts.chapters import to_notebook

    cells = to_notebook(source).cells
    for index, cell in enumerate(cells):
        mystnb = cell.metadata.get("mystnb") or {}
        alt = " ".join(str((mystnb.get("image") or {}).get("alt", "")).split())
        if cell.cell_type != "code" or not (mystnb.get("figure") or {}).get("name"):
            continue
        assert alt, f"{source.stem}: the figure {mystnb['figure']['name']} has no alt text (mystnb image alt)"
        below = cells[index + 1]
        assert below.cell_type == "markdown" and "*What the figure shows:*" in below.source, below.source
