"""Every chapter (``book/<file>.md``) and equation label (``eq:...``) named in the package exists in the book.

Docstrings and comments cite chapters as ``book/<file>.md`` and equations by their book label
(STYLE.md); a renamed chapter or label must not leave a stale reference behind. Private equation
numbers ("equation 8") are not used: the book numbers its equations itself (a paper's, as in
"Kingma & Welling 2013, eq. 10", may be cited).
"""

from __future__ import annotations

import re

from tests.paths import ROOT

PACKAGE = ROOT / "vaecourse"
SOURCE_SUFFIXES = {".py", ".js"}


def _sources() -> dict[str, str]:
    return {
        str(p.relative_to(ROOT)): p.read_text(encoding="utf-8")
        for p in sorted(PACKAGE.rglob("*"))
        if p.suffix in SOURCE_SUFFIXES and p.is_file()
    }


def _book_labels() -> set[str]:
    """Labels defined in book/*.md: ``$$ (label)`` after an equation, ``(label)=`` targets, ``:label:`` options."""
    labels = set()
    for path in (ROOT / "book").glob("*.md"):
        text = path.read_text(encoding="utf-8")
        labels |= set(re.findall(r"\$\$\s*\(([\w:-]+)\)", text))
        labels |= set(re.findall(r"^\(([\w:-]+)\)=", text, flags=re.M))
        labels |= set(re.findall(r"^:label:\s*(\S+)", text, flags=re.M))
    return labels


def _found(pattern: str, unless_after: str | None = None) -> list[tuple[str, int, str]]:
    """(file, line, match) for every match of ``pattern`` in the package sources (not right after ``unless_after``)."""
    hits = []
    for name, text in _sources().items():
        for number, line in enumerate(text.splitlines(), start=1):
            hits += [
                (name, number, m.group(1))
                for m in re.finditer(pattern, line)
                if unless_after is None or not re.search(unless_after + r"\s*$", line[: m.start()])
            ]
    return hits


def test_the_patterns_find_what_they_look_for():
    """The scan itself works: it finds the references of a module known to cite both."""
    assert _sources(), "no package sources found"
    assert any(f == "vaecourse/kl.py" for f, _, _ in _found(r"\b(book/[\w-]+\.md)"))
    assert "eq:kl-gaussians" in _book_labels() and "eq:central" in _book_labels()


def test_every_cited_chapter_exists():
    missing = [f"{f}:{n}: {ref}" for f, n, ref in _found(r"\b(book/[\w/-]+\.md)") if not (ROOT / ref).is_file()]
    assert missing == [], "chapters cited in vaecourse/ that are not in book/:\n" + "\n".join(missing)


def test_every_cited_equation_label_exists():
    labels = _book_labels()
    cited = _found(r"(?<![\w-])(eq[:-][a-z0-9]+(?:-[a-z0-9]+)*)")
    missing = [f"{f}:{n}: {ref}" for f, n, ref in cited if ref not in labels]
    assert missing == [], "equation labels cited in vaecourse/ that no book chapter defines:\n" + "\n".join(missing)


def test_no_private_equation_numbers():
    paper = r"(?:19|20)\d\d[a-z]?,"  # "Kingma & Welling 2013, eq. 10" cites the paper's own numbering
    numbered = [f"{f}:{n}: {ref}" for f, n, ref in _found(r"\b((?:[Ee]quations?|[Ee]qs?\.)\s*\(?\d+)", paper)]
    assert numbered == [], "cite equations by their book label (eq:...), not by number:\n" + "\n".join(numbered)


def test_book_equation_labels_have_one_prefix():
    """Every equation label in the book is spelled ``eq:...`` (one convention, so a search finds them all)."""
    dashed = sorted(label for label in _book_labels() if label.startswith("eq-"))
    assert dashed == [], "equation labels spelled eq-... instead of eq:...: " + ", ".join(dashed)
