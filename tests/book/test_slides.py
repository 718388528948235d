"""scripts/slides.py: a chapter's reveal.js deck, made from its MyST source and its executed outputs, works
offline in Chromium (no request to another host), with its equations typeset by MathJax, its figures
present and the arrow keys moving through it; the slide markers of STYLE.md ("Slides") do what they say."""

from __future__ import annotations

import functools
import http.server
import re
import threading
from pathlib import Path
from urllib.parse import urlparse

import pytest
import yaml

from scripts import slides
from scripts.chapters import ROOT
from tests.system_packages import require_system

CHAPTER = "marginal_likelihood"  # labelled equations and a figure; about 30 s in smoke mode


def _labelled_equations(source: str) -> list[str]:
    """The labels of the chapter's display equations, read from the MyST text: ``$$ (label)`` closings
    and ``{math}`` directives with ``:label:``."""
    closing = re.findall(r"^\$\$\s*\(([^)]+)\)\s*$", source, re.M)
    directive = re.findall(r"^```\{math\}\s*\n:label:\s*(\S+)", source, re.M)
    return closing + directive


def _figure_names(source: str) -> list[str]:
    """The names of the chapter's myst-nb figures (``mystnb: figure: name:``)."""
    return re.findall(r"^mystnb:\n  figure:\n(?:    .*\n|      .*\n)*?    name: (\S+)", source, re.M)


def _chapter_number(stem: str) -> int:
    """The chapter's number as the website gives it: its place among the numbered parts of _toc.yml."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [Path(c["file"]).name for part in toc["parts"] if part.get("numbered") for c in part["chapters"]]
    return files.index(stem) + 1


@pytest.fixture(scope="module")
def deck(tmp_path_factory) -> Path:
    """The chapter's deck, built into a fresh folder (the chapter executed there: no website build)."""
    out = tmp_path_factory.mktemp("slides")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("VAECOURSE_SMOKE", "1")
        patch.setenv("VAECOURSE_OFFLINE", "1")
        written = slides.build([CHAPTER], out=out / "slides", executed=out / "no-website-build")
    assert written == [out / "slides" / f"{CHAPTER}.html"]
    return written[0]


@pytest.fixture(scope="module")
def served(deck: Path):
    handler = functools.partial(_Quiet, directory=str(deck.parent))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/{deck.name}"
    server.shutdown()
    server.server_close()


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def page(served):
    """The deck open in headless Chromium, every request to a host other than 127.0.0.1 aborted and noted."""
    from tests.browser.pages import CHROMIUM, CHROMIUM_ARGS

    require_system(CHROMIUM, "chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        page.elsewhere, page.errors, page.missing = [], [], []

        def route(route_):
            if urlparse(route_.request.url).hostname in {"127.0.0.1", "localhost"} or route_.request.url.startswith(
                "data:"
            ):
                route_.continue_()
            else:
                page.elsewhere.append(route_.request.url)
                route_.abort()

        page.route("**/*", route)
        page.on("pageerror", lambda error: page.errors.append(str(error)))
        page.on("response", lambda r: r.status >= 400 and page.missing.append(r.url))
        page.goto(served, wait_until="load")
        page.wait_for_function("document.documentElement.dataset.typeset === 'done'", timeout=30_000)
        yield page
        browser.close()


@pytest.mark.slow
def test_the_deck_asks_no_other_host_and_finds_every_file(page):
    assert page.elsewhere == [], f"the deck asked other hosts: {page.elsewhere}"
    assert page.missing == [], f"the deck asked for files its folder lacks: {page.missing}"
    assert page.errors == []


@pytest.mark.slow
def test_equations_are_typeset_with_the_website_numbers(page):
    source = (ROOT / "book" / f"{CHAPTER}.md").read_text()
    labels = _labelled_equations(source)
    assert labels, f"{CHAPTER} has no labelled equation: choose another chapter for this test"
    displayed = page.locator("mjx-container[display='true']")
    assert displayed.count() >= len(labels)
    assert page.locator("mjx-merror").count() == 0, "MathJax reported a TeX error"
    text = page.locator(".slides").inner_text()
    assert "\\[" not in text and "\\(" not in text, "TeX left untypeset on a slide"
    number = _chapter_number(CHAPTER)
    # MathJax's assistive MathML (what a screen reader reads) holds each equation's number
    cells = "mjx-assistive-mml mlabeledtr > mtd:first-child"
    tags = page.eval_on_selector_all(cells, "cs => cs.map(c => c.textContent)")
    assert sorted(tags) == sorted(f"({number}.{k})" for k in range(1, len(labels) + 1))


@pytest.mark.slow
def test_every_figure_is_on_a_slide_with_its_picture(page):
    names = _figure_names((ROOT / "book" / f"{CHAPTER}.md").read_text())
    assert names, f"{CHAPTER} has no figure: choose another chapter for this test"
    for name in names:
        image = page.locator(f"img[src*='{name}.']")
        assert image.count() == 1, f"no slide shows figure {name}"
        assert image.evaluate("img => img.complete && img.naturalWidth > 100"), f"{name}: the picture did not load"
        assert image.get_attribute("alt"), f"{name}: no alt text"


@pytest.mark.slow
def test_arrow_keys_move_through_the_deck(page):
    total = page.evaluate("Reveal.getTotalSlides()")
    assert total >= 5
    page.evaluate("Reveal.slide(0)")
    page.locator(".reveal").click()
    page.keyboard.press("ArrowRight")
    page.wait_for_function("Reveal.getIndices().h === 1")
    page.keyboard.press("ArrowRight")
    page.wait_for_function("Reveal.getIndices().h === 2")
    page.keyboard.press("ArrowLeft")
    page.wait_for_function("Reveal.getIndices().h === 1")
    current = page.locator(".slides > section.present")
    assert current.count() == 1 and current.locator("h2").inner_text().strip() == "Learning goals"


@pytest.mark.slow
def test_equation_slides_carry_the_text_as_speaker_notes(deck):
    page = deck.read_text()
    slides_with_maths = re.findall(r"<section class=\"equations\">(.*?)</section>", page, re.S)
    assert slides_with_maths
    for body in slides_with_maths:
        notes = re.search(r'<aside class="notes">(.*?)</aside>', body, re.S)
        assert notes and len(re.sub("<[^>]+>", "", notes[1]).split()) > 20


CHAPTER_TEXT = """\
---
jupytext:
  text_representation:
    format_name: myst
kernelspec:
  display_name: Python 3
  language: python
  name: python3
---

# A small chapter

:::{admonition} Learning goals
:class: tip
- goal one
:::

## The derivation

Some words about the first equation, which is important.

$$
a = b
$$ (eq:kept)

<!-- no-slide -->
$$
c = d
$$ (eq:dropped)

<!-- slide: A point worth a slide -->
The point is this, on a slide of its own.

The next paragraph is only a note.

## Key takeaways

:::{admonition} Key takeaways
:class: tip
- take this away
:::
"""


def test_slide_markers_put_blocks_on_and_off_the_slides(tmp_path):
    """``<!-- slide: Title -->`` gives the next block a slide; ``<!-- no-slide -->`` leaves an equation off."""
    path = tmp_path / "small.md"
    path.write_text(CHAPTER_TEXT)
    deck = slides.chapter_deck(path, slides.Outputs({}, {}, "none"))
    derivation = next(s for s in deck.sections if s.title == "The derivation")
    assert [("a = b" in eq, "c = d" in eq) for eq in derivation.equations] == [(True, False)]
    assert [title for title, _ in derivation.marked] == ["A point worth a slide"]
    assert "on a slide of its own" in derivation.marked[0][1]
    assert any("only a note" in note for note in derivation.notes)
    assert "goal one" in deck.goals and "take this away" in deck.takeaways


def test_without_markers_every_labelled_equation_is_on_a_slide(tmp_path):
    path = tmp_path / "small.md"
    unmarked = CHAPTER_TEXT.replace("<!-- no-slide -->\n", "").replace("<!-- slide: A point worth a slide -->\n", "")
    path.write_text(unmarked)
    deck = slides.chapter_deck(path, slides.Outputs({}, {}, "none"))
    derivation = next(s for s in deck.sections if s.title == "The derivation")
    assert len(derivation.equations) == 2 and derivation.marked == []


def test_a_quoted_number_is_filled_in_from_the_outputs(tmp_path):
    path = tmp_path / "small.md"
    path.write_text(CHAPTER_TEXT.replace("The next paragraph is only a note.", "The gap is {glue:text}`gap` nats."))
    deck = slides.chapter_deck(path, slides.Outputs({}, {"gap": "14.4"}, "none"))
    derivation = next(s for s in deck.sections if s.title == "The derivation")
    assert [slides.to_text(n) for n in derivation.numbers] == ["The gap is 14.4 nats."]
    page = slides.render(deck, slides.Outputs({}, {"gap": "14.4"}, "none"), tmp_path, "_assets", "0")
    assert "<strong class='computed'>14.4</strong>" in page


def test_outputs_are_read_from_a_website_build_and_from_a_notebook_run(tmp_path):
    """A quoted number glued by myst-nb (website build) or printed by vaecourse.prose.quote (notebook run),
    and the picture of a figure cell, found by the figure's name."""
    import base64

    import nbformat

    png = base64.b64encode(b"\x89PNG\r\n\x1a\n fake").decode()
    notebook = nbformat.v4.new_notebook()
    glued = nbformat.v4.new_output(
        "display_data", data={"text/plain": "14.4"}, metadata={"scrapbook": {"name": "gap", "mime_prefix": ""}}
    )
    printed = nbformat.v4.new_output("stream", name="stdout", text="ratio: 0.52\nnot_quoted: 3\n")
    picture = nbformat.v4.new_output("display_data", data={"image/png": png, "text/plain": "<Figure>"})
    figure = nbformat.v4.new_code_cell("plot()", metadata={"mystnb": {"figure": {"name": "fig-x"}}})
    figure.outputs = [picture]
    code = nbformat.v4.new_code_cell("x")
    code.outputs = [glued, printed]
    notebook.cells = [code, figure]
    path = tmp_path / "run.ipynb"
    nbformat.write(notebook, path)
    outputs = slides.read_outputs(path, {"gap", "ratio"}, smoke=False)
    assert outputs.glued == {"gap": "14.4", "ratio": "0.52"}
    assert outputs.figures == {"fig-x": (".png", base64.b64decode(png))}
