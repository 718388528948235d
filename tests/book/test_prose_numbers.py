"""No number about an output is typed by hand in the prose of chapters 4 on (vaecourse.prose).

A number the text quotes about a result is inserted by the computation (``{glue:text}`name```, made
by ``vaecourse.prose.quote``), so the text and the output under it cannot disagree. This test reads
the Markdown of every chapter from the fourth on, leaves out what is not prose (code, maths, roles,
links, labels, directive options), and fails on every number that looks like a result: a decimal
(14.4, 0.07), a power of ten (1e-3), a percentage, or a count with a unit of measurement (nats, MB,
seconds). A number typed on purpose (a setting the code also states, a fact from a paper) is listed
below, chapter by chapter, with the reason it may stay.
"""

from __future__ import annotations

import re

import pytest

from scripts.chapters import chapter_numbers, chapter_sources, read_chapter

# {chapter: {number as typed: why it may be typed}}. Keep one block per chapter.
ALLOWED: dict[str, dict[str, str]] = {
    "elbo": {},
    "sgd": {},
    "reparameterisation": {},
    "pytorch_vae": {
        "86.76": "Burda, Grosse and Salakhutdinov's published test log-likelihood, cited where it appears",
        "0.4": "the PyTorch version that retired autograd.Variable, a fact about PyTorch",
        "105.6": "the test loss the pytorch/examples VAE script prints, a fact about another program",
        "0.5": "a constant of the from-scratch loss, the code the page shows in a solution",
        "1e-5": "the tolerance of the solution's check, code the page shows",
    },
    "keras_vae": {
        "150 nats": "the final loss the Keras example reports (cited), not an output of this book",
        "6.5": "the KL term the Keras example reports (cited), not an output of this book",
    },
    "latent_space": {
        "-3.5": "the exercise's histogram range, a setting in the solution's code",
        "3.5": "the exercise's histogram range, a setting in the solution's code",
    },
    "kl_in_practice": {},
    "richer_posteriors": {},
    "diffusion": {
        "0.2": "the standard deviation of the ring mixture's components, the setting of dm.ring_mixture",
        "12.5": "an equal share of eight modes (1/8 in per cent), a definition, not a result",
    },
    "ising": {},
    "ising_generative": {},
    "ising_sampler": {},
    "spectra": {},
}

FIRST_CHECKED = 4  # chapters 1-3 quote no executed result in their prose (reviewed by hand)

NOT_PROSE = [
    re.compile(r"^(`{3,})[\w-]+[ \t]*\n.*?^\1[ \t]*$", re.S | re.M),  # code blocks in the text (a solution's ```python)
    re.compile(r"\$\$.*?\$\$", re.S),  # display maths
    re.compile(r"\\begin\{(\w+\*?)\}.*?\\end\{\1\}", re.S),  # amsmath environments
    re.compile(r"(?<!\\)\$[^$\n]+?(?<!\\)\$"),  # inline maths
    re.compile(r"\{[\w:-]+\}`[^`]*`"),  # roles: {cite:p}`...`, {glue:text}`...`, {eq}`...`
    re.compile(r"`[^`\n]*`"),  # inline code
    re.compile(r"\]\([^)]*\)"),  # link targets
    re.compile(r"^\s*:[\w-]+:.*$", re.M),  # directive options (:label:, :width:)
    re.compile(r"^\s*\(\w[\w-]*\)=\s*$", re.M),  # labels
    re.compile(r"^\s*[:`]{3,}.*$", re.M),  # directive fences and their arguments
    re.compile(r"^\s*<!--.*?-->", re.S | re.M),  # comments
    re.compile(r"^%.*$", re.M),  # MyST comments
    # references into a book or paper: "sections 2.3 and 2.5", "(sections 20.10-20.14)", "equation 3.2"
    re.compile(
        r"\b(?:sections?|chapters?|equations?|eqs?\.|exercises?|figures?|tables?|algorithms?|appendix)"
        r"(?:\s*(?:\d+(?:\.\d+)*[a-z]?|and|,|-|to|\u2013))+",
        re.I,
    ),
]
UNITS = r"(?:nats?|bits?|MB|GB|kB|KB|MiB|GiB|s|seconds?|minutes?|ms|per ?cent)"
RESULT_LIKE = re.compile(
    r"(?<![\w.])(?:"
    r"[-+]?\d+\.\d+(?:[eE][-+]?\d+)?"  # 14.4, 0.07, 1.5e-3
    r"|\d+[eE][-+]?\d+"  # 1e-3
    r"|\d+(?:\.\d+)?\s?%"  # 30 %, 30%
    rf"|\d[\d,]*\s?{UNITS}\b"  # 33 nats, 1 MB, 120 s
    r")"
)


def chapters_checked():
    numbers = chapter_numbers()
    return [p for p in chapter_sources() if numbers.get(p.stem, 0) >= FIRST_CHECKED]


def prose_of(path) -> str:
    """The chapter's Markdown cells with code, maths, roles, links and directive syntax left out."""
    notebook = read_chapter(path)
    text = "\n\n".join(c.source for c in notebook.cells if c.cell_type == "markdown")
    for pattern in NOT_PROSE:
        text = pattern.sub(" ", text)
    return text


def typed_numbers(text: str) -> list[str]:
    return [m.group(0).strip() for m in RESULT_LIKE.finditer(text)]


def test_the_detector_finds_typed_results_and_leaves_maths_and_quotes_alone():
    typed = "The flow halves the gap (33.9 -> 14.4 nats), 1e-3 apart, 40 % of units, 1.07 MB."
    assert typed_numbers(typed) == ["33.9", "14.4", "1e-3", "40 %", "1.07"]
    assert typed_numbers("we train 12 MB of weights for 50 s") == ["12 MB", "50 s"]
    for pattern in NOT_PROSE:
        typed = pattern.sub(" ", typed)
    clean = "The gap falls to {glue:text}`gap_flow` nats, $\\beta = 0.5$, `lr=1e-3`, ($1.2$)."
    for pattern in NOT_PROSE:
        clean = pattern.sub(" ", clean)
    assert typed_numbers(clean) == []
    cited = "See sections 2.3 and 2.5, and (sections 20.10-20.14) of the book, equation 3.2."
    for pattern in NOT_PROSE:
        cited = pattern.sub(" ", cited)
    assert typed_numbers(cited) == []


def test_every_allowed_number_names_a_chapter_of_the_book_and_a_reason():
    chapters = {p.stem for p in chapters_checked()}
    for chapter, allowed in ALLOWED.items():
        assert chapter in chapters, f"ALLOWED names {chapter!r}, which is not a chapter from the fourth on"
        for number, reason in allowed.items():
            assert len(reason.split()) >= 3, f"{chapter}: give the reason {number!r} may be typed by hand"


@pytest.mark.parametrize("path", chapters_checked(), ids=lambda p: p.stem)
def test_no_number_about_an_output_is_typed_in_the_prose(path):
    allowed = ALLOWED.get(path.stem, {})
    typed = [n for n in typed_numbers(prose_of(path)) if n not in allowed]
    assert not typed, (
        f"{path.name} types numbers by hand in its prose: {typed}. Quote results from the computation "
        f"(vaecourse.prose.quote and {{glue:text}}`name`), or list the number in ALLOWED with the reason."
    )


GLUED = re.compile(r"\{glue(?::\w+)?\}`([^`:]+)")
QUOTED = re.compile(r"\bquote\(\s*[\"'](\w+)[\"']")


@pytest.mark.parametrize("path", chapter_sources(), ids=lambda p: p.stem)
def test_every_number_the_text_quotes_is_quoted_by_the_chapter_code(path):
    """Each ``{glue:text}`name``` of the text has a ``quote("name", ...)`` in the chapter's code (a literal
    name, so this test can see it); a misspelt name would otherwise surface only in the website build."""
    notebook = read_chapter(path)
    text = "\n".join(c.source for c in notebook.cells if c.cell_type == "markdown")
    code = "\n".join(c.source for c in notebook.cells if c.cell_type == "code")
    missing = sorted(set(GLUED.findall(text)) - set(QUOTED.findall(code)))
    assert not missing, f'{path.name}: the text quotes {missing}, which no quote("name", ...) in its code makes'


@pytest.mark.parametrize("path", chapter_sources(), ids=lambda p: p.stem)
def test_no_figure_cell_quotes_a_number(path):
    """On the website a quoted number is an output of its cell (myst-nb's glue), and myst-nb makes every
    output of a figure's cell a figure with the figure's label: two targets of one name, a broken build.
    Quote in the cell after the figure's."""
    for cell in read_chapter(path).cells:
        figure = (cell.metadata.get("mystnb") or {}).get("figure")
        if cell.cell_type == "code" and figure:
            assert not QUOTED.search(cell.source), f"{path.name}: the figure {figure.get('name')} quotes a number"
