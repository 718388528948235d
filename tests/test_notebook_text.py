"""The student notebooks' plain Markdown (scripts/plain_markdown.py) against the website.

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
from scripts.chapters import ROOT, chapter_sources

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


def translate(markdown: str, name: str = "demo", number: int | None = 3, book_extra=None) -> str:
    refs = plain_markdown.read_bibliography(ROOT / "references.bib")
    chapter = plain_markdown.scan_chapter(name, [("markdown", markdown, {})], number=number)
    book = {name: chapter, **(book_extra or {})}
    return plain_markdown.Translator(chapter, book, refs, source_dir=ROOT / "book").translate(markdown)


def test_exercise_and_dropdown_solution():
    text = translate(":::{exercise}\n:label: ex-a\n\nShow $x$.\n:::\n\n:::{solution} ex-a\n:class: dropdown\n\nIt is.\n:::")
    assert text == ("> **Exercise 3.1**\n>\n> Show $x$.\n\n"
                    "<details><summary><b>Solution to Exercise 3.1</b></summary>\n\nIt is.\n\n</details>")


def test_labelled_equation_and_reference():
    text = translate("(sec)=\n## Part\n\n$$\na = b\n$$ (eq:ab)\n\nBy {eq}`eq:ab`, see {ref}`the part <sec>`.")
    assert text == "## Part\n\n$$\na = b\n\\tag{3.1}\n$$\n\nBy (3.1), see [the part](#Part)."


def test_citations_are_author_year_from_the_bibliography():
    text = translate("As shown {cite:p}`kingma2013auto,doersch2016tutorial`; {cite:t}`kingma2019introduction` agree.")
    assert text == "As shown (Kingma and Welling, 2013; Doersch, 2016); Kingma and Welling (2019) agree."


def test_admonition_theorem_and_proof():
    text = translate("```{note}\nMind $h$.\n```\n\n:::{prf:theorem} Big\n:label: thm-big\n\nTrue.\n:::\n\n"
                     ":::{prf:proof}\nObvious.\n:::\n\nBy {prf:ref}`thm-big`.")
    assert text == ("> **Note.**\n>\n> Mind $h$.\n\n> **Theorem 3.1** (Big)\n>\n> True.\n\n"
                    "*Proof.* Obvious. \u220e\n\nBy Theorem 3.1.")


def test_references_into_other_chapters_link_their_notebook():
    other = plain_markdown.scan_chapter("elbo", [("markdown", "# The ELBO\n\n$$\nx\n$$ (eq:elbo)", {})], number=4)
    text = translate("See {eq}`eq:elbo` in {doc}`elbo`.", book_extra={"elbo": other})
    assert text == "See (4.1) in [The ELBO](elbo.ipynb) in [The ELBO](elbo.ipynb)."


def test_literalinclude_becomes_the_source():
    text = translate("```{literalinclude} ../vaecourse/settings.py\n:lines: 1-2\n```")
    first_two = "\n".join((ROOT / "vaecourse" / "settings.py").read_text().splitlines()[:2]).rstrip().splitlines()
    assert text.splitlines() == ["```python", *first_two, "```"]


def test_display_maths_in_a_blockquote_is_one_line():
    """JupyterLab takes display maths out before reading the Markdown: a "> " on a continuation line
    would be typeset as part of the formula."""
    text = translate(":::{prf:theorem} T\n:label: thm-t\n\n$$\na = b,\n\\qquad c\n$$ (eq:t)\n:::")
    assert text == "> **Theorem 3.1** (T)\n>\n> $$ a = b, \\qquad c \\tag{3.1} $$"


@pytest.mark.parametrize("source", chapter_sources(), ids=lambda p: p.stem)
def test_links_in_the_notebooks_lead_somewhere(source):
    """Links to other chapters open their notebook; links to pages that are not notebooks (notation,
    glossary) open the file in the course repository; links within a notebook reach a heading."""
    import yaml

    config = yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]
    in_repository = f"{config['url'].rstrip('/')}/blob/{config['branch']}/"
    notebook = nbformat.read(ROOT / "notebooks" / f"{source.stem}.ipynb", as_version=4)
    markdown = [c.source for c in notebook.cells if c.cell_type == "markdown"]
    headings = {"#" + m.strip().replace(" ", "-") for text in markdown
                for m in re.findall(r"^#{1,6}\s+(.*)$", text, re.M)}
    for target in re.findall(r"\]\(([^)\s]+)\)", "\n".join(markdown)):
        if target.startswith(in_repository):
            assert (ROOT / target[len(in_repository):]).exists(), f"{source.stem}: link to a missing file {target}"
        elif target.startswith("#"):
            assert target in headings, f"{source.stem}: link to a missing heading {target}"
        elif not re.match(r"^https?://", target):
            assert (ROOT / "notebooks" / target).exists(), f"{source.stem}: link to a missing notebook {target}"
