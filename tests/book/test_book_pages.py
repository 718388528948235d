"""The book's front door and reference pages against its chapters.

- The intro's roadmap ("What comes next") names every chapter of _toc.yml, once, in order.
- Every cross-reference in a page ({doc}, {ref}, {numref}, {eq}, {prf:ref}, {term}, citations) has a
  target, and every glossary entry points at a chapter that uses the term.
- Every chapter has the same layout: a learning-goals box with its prerequisites before the first
  section, then, at the end, boxed key takeaways, the exercises, and further reading, in that order.

Each check is a function of the page texts, also run on a small broken page, so that a check that
cannot fail is caught too. Sphinx warns about a missing target only in a full build; these run in a
second.
"""

from __future__ import annotations

import re

import pytest

from scripts.chapters import ROOT, chapter_numbers, toc_files

BOOK = ROOT / "book"
CHAPTERS = list(chapter_numbers())  # the numbered chapters, in _toc.yml order


def book_pages() -> dict[str, str]:
    """{name: MyST text} of every page in _toc.yml."""
    return {name.split("/")[-1]: (ROOT / f"{name}.md").read_text(encoding="utf-8") for name in toc_files()}


# ---------------------------------------------------------------------------------------------------
# The roadmap
# ---------------------------------------------------------------------------------------------------


def roadmap_chapters(intro: str) -> list[str]:
    """The chapters named in the table of the intro's "What comes next" section, in table order."""
    parts = intro.split("\n## What comes next\n", 1)
    if len(parts) < 2:
        return []
    section = parts[1].split("\n## ", 1)[0]
    rows = "\n".join(line for line in section.splitlines() if line.startswith("|"))
    return re.findall(r"\{doc\}`([\w-]+)`", rows)


def test_the_roadmap_names_every_chapter_once_in_order():
    assert roadmap_chapters(book_pages()["intro"]) == CHAPTERS, (
        "book/intro.md, 'What comes next': the table must list every chapter of _toc.yml once, in order"
    )


def test_a_roadmap_without_a_chapter_is_caught():
    intro = book_pages()["intro"]
    broken = intro.replace("| | {doc}`spectra` |", "| | spectra |")
    assert broken != intro, "the roadmap row of the last chapter was not found"
    assert roadmap_chapters(broken) != CHAPTERS


# ---------------------------------------------------------------------------------------------------
# Cross-references and the glossary
# ---------------------------------------------------------------------------------------------------

ROLE = re.compile(r"\{(?P<role>doc|ref|numref|eq|prf:ref|term)\}`(?P<content>[^`]+)`")
CITE = re.compile(r"\{cite(?::[pt])?\}`(?P<keys>[^`]+)`")


def _target(content: str) -> str:
    """``text <target>`` -> target; ``target`` -> target."""
    match = re.fullmatch(r"(?s).*?<([^<>]+)>\s*", content)
    return (match.group(1) if match else content).strip()


def glossary_entries(glossary: str) -> dict[str, str]:
    """{term: its definition} from the ```{glossary} block (a term is an unindented line)."""
    block = glossary.split("```{glossary}", 1)[1].split("\n```", 1)[0]
    entries, term = {}, None
    for line in block.splitlines()[1:]:
        if line and not line[0].isspace():
            term = line.strip()
            entries[term] = ""
        elif term is not None:
            entries[term] += line.strip() + "\n"
    return entries


def labels(pages: dict[str, str]) -> set[str]:
    """Every target a {ref}, {numref}, {eq} or {prf:ref} can name: ``(label)=``, ``:label:``, an
    equation's ``$$ (label)``, a figure's ``name:``."""
    found = set()
    for text in pages.values():
        found |= set(re.findall(r"^\(([\w:-]+)\)=\s*$", text, flags=re.MULTILINE))
        found |= set(re.findall(r"^\s*:label:\s*(\S+)", text, flags=re.MULTILINE))
        found |= set(re.findall(r"\$\$\s*\(([\w:-]+)\)", text))
        found |= set(re.findall(r"^\s*name:\s*(fig-[\w-]+)", text, flags=re.MULTILINE))
    return found


def missing_targets(pages: dict[str, str], bibliography: str) -> list[str]:
    """'page: role target' for every reference whose target no page (or references.bib) defines."""
    known_labels = labels(pages)
    terms = {term.lower() for term in glossary_entries(pages["glossary"])}
    keys = set(re.findall(r"^@\w+\{([^,\s]+),", bibliography, flags=re.MULTILINE))
    missing = []
    for name, text in pages.items():
        for match in ROLE.finditer(text):
            role, target = match.group("role"), _target(match.group("content"))
            ok = {"doc": target in pages, "term": target.lower() in terms}.get(role, target in known_labels)
            if not ok:
                missing.append(f"{name}: {{{role}}}`{target}`")
        for match in CITE.finditer(text):
            missing += [f"{name}: {{cite}}`{key}`" for key in match.group("keys").split(",") if key.strip() not in keys]
    return missing


def test_every_reference_in_the_book_has_a_target():
    pages = book_pages()
    missing = missing_targets(pages, (ROOT / "references.bib").read_text(encoding="utf-8"))
    assert missing == [], "references to targets that no page defines:\n" + "\n".join(missing)


def test_a_reference_to_a_missing_target_is_caught():
    pages = book_pages()
    bib = (ROOT / "references.bib").read_text(encoding="utf-8")
    pages["intro"] += (
        "\nSee {term}`Posterior collapse`, {term}`No such term`, {doc}`old_chapter`,"
        " {ref}`gone <ex-gone>` and {cite:p}`nobody2099`.\n"
    )
    assert missing_targets(pages, bib) == [
        "intro: {term}`No such term`",
        "intro: {doc}`old_chapter`",
        "intro: {ref}`ex-gone`",
        "intro: {cite}`nobody2099`",
    ]


def _words(text: str) -> str:
    """Lower case, hyphens and line breaks as spaces: "Free-bits\\nrate" -> "free bits rate"."""
    return " ".join(text.lower().replace("-", " ").split())


def entries_not_used_where_they_point(pages: dict[str, str]) -> list[str]:
    """Glossary entries that name no chapter, or whose term (the name before any parenthesis; each
    of "A, B") appears in none of the chapters they name."""
    problems = []
    for term, definition in glossary_entries(pages["glossary"]).items():
        chapters = [c for c in re.findall(r"\{doc\}`([\w-]+)`", definition) if c in pages]
        names = [_words(n) for n in re.sub(r"\s*\(.*\)", "", term).split(",")]
        if not chapters:
            problems.append(f"{term}: names no chapter")
        elif not any(n in _words(pages[c]) for n in names for c in chapters):
            problems.append(f"{term}: not used in {', '.join(chapters)}")
    return problems


def test_every_glossary_entry_points_at_a_chapter_that_uses_the_term():
    problems = entries_not_used_where_they_point(book_pages())
    assert problems == [], "book/glossary.md:\n" + "\n".join(problems)


def test_a_glossary_entry_pointing_at_the_wrong_chapter_is_caught():
    pages = book_pages()
    pages["glossary"] = (
        pages["glossary"]
        .replace("Binder cumulant\n", "Binder cumulant\n  Defined in chapter {doc}`sgd`.\n", 1)
        .replace("chapter {doc}`ising_generative`.\n\nGaussian decoder", "\n\nGaussian decoder")
    )
    assert entries_not_used_where_they_point(pages) == ["Binder cumulant: not used in sgd"]


# ---------------------------------------------------------------------------------------------------
# One chapter layout
# ---------------------------------------------------------------------------------------------------

GOALS = ":::{admonition} Learning goals\n:class: tip\n"
TAKEAWAYS = "## Key takeaways\n\n:::{admonition} Key takeaways\n:class: important\n"


def layout_problems(text: str) -> list[str]:
    """What a chapter lacks of the course layout: a learning-goals box holding the prerequisites,
    before the first section; boxed key takeaways, then the exercises, then further reading, last."""
    problems = []
    sections = [m.start() for m in re.finditer(r"^## ", text, flags=re.MULTILINE)]
    goals = text.find(GOALS)
    if goals < 0:
        problems.append("no learning-goals box (:::{admonition} Learning goals, :class: tip)")
    else:
        box = text[goals : text.find("\n:::\n", goals)]
        if "\n**Prerequisites:**" not in box:
            problems.append("no **Prerequisites:** line in the learning-goals box")
        if sections and goals > sections[0]:
            problems.append("the learning-goals box comes after the first section")
    order = [
        ("key takeaways box", text.find(TAKEAWAYS)),
        ("exercises", text.find("\n## Exercises\n")),
        ("further reading", text.find("\n## Further reading\n")),
    ]
    for part, where in order:
        if where < 0:
            problems.append(f"no {part} section")
    present = [(part, where) for part, where in order if where >= 0]
    if [part for part, _ in sorted(present, key=lambda p: p[1])] != [part for part, _ in present]:
        problems.append("the end is not in the order: key takeaways (boxed), exercises, further reading")
    if order[2][1] >= 0 and sections and text.find("\n## ", order[2][1] + 1) >= 0:
        problems.append("a section follows further reading")
    return problems


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_every_chapter_has_the_course_layout(chapter):
    problems = layout_problems(book_pages()[chapter])
    assert problems == [], f"book/{chapter}.md: " + "; ".join(problems)


def test_a_chapter_out_of_layout_is_caught():
    text = book_pages()["sgd"]
    exercises = text.index("\n## Exercises\n")
    takeaways = text.index(TAKEAWAYS)
    swapped = (
        text[:takeaways]
        + text[exercises + 1 : text.index("\n## Further reading\n")]
        + "\n"
        + text[takeaways:exercises]
        + text[text.index("\n## Further reading\n") :]
    )
    assert "the end is not in the order" in "; ".join(layout_problems(swapped))
    unboxed = text.replace(":::{admonition} Learning goals\n:class: tip\n", "**Learning goals.** ")
    assert layout_problems(unboxed)[0].startswith("no learning-goals box")
    no_prerequisites = text.replace("**Prerequisites:**", "Before this:")
    assert layout_problems(no_prerequisites) == ["no **Prerequisites:** line in the learning-goals box"]
