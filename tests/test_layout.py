"""The repository's promises: book/, _toc.yml and notebooks/ agree; the README states the commands."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from scripts.chapters import ROOT, chapter_sources, is_notebook, to_notebook, toc_files


def test_every_book_file_is_in_the_toc_and_back():
    in_book = {f"book/{p.stem}" for p in (ROOT / "book").glob("*.md")}
    in_toc = set(toc_files())
    assert in_book - in_toc == set(), "chapters in book/ missing from _toc.yml"
    assert in_toc - in_book == set(), "_toc.yml lists files that book/ does not have"


def test_every_chapter_has_its_notebook_and_back():
    chapters = {p.stem for p in chapter_sources()}
    notebooks = {p.stem for p in (ROOT / "notebooks").glob("*.ipynb")}
    assert chapters, "no executable chapter found"
    assert chapters - notebooks == set(), "run `make notebooks`: these chapters have no notebook"
    assert notebooks - chapters == set(), "notebooks/ holds notebooks with no chapter in book/"


@pytest.mark.parametrize("source", chapter_sources(), ids=lambda p: p.stem)
def test_notebook_is_in_sync_with_its_chapter(source: Path):
    import nbformat

    expected = [(c.cell_type, c.source) for c in to_notebook(source).cells]
    target = ROOT / "notebooks" / f"{source.stem}.ipynb"
    actual = [(c.cell_type, c.source) for c in nbformat.read(target, as_version=4).cells]
    assert actual == expected, f"{target.name} is out of date with {source.name}: run `make notebooks`"


@pytest.mark.parametrize("source", chapter_sources(), ids=lambda p: p.stem)
def test_chapter_sources_carry_no_outputs_and_a_title(source: Path):
    text = source.read_text()
    assert is_notebook(source)
    assert any(line.startswith("# ") for line in text.splitlines()), f"{source.name} has no title"


def test_readme_states_the_two_commands_first():
    readme = (ROOT / "README.md").read_text()
    before_first_section = readme.split("\n## ", 1)[0]
    assert "make book" in before_first_section, "README: `make book` must come before any section"
    assert "make test" in before_first_section, "README: `make test` must come before any section"


def test_ci_runs_the_readme_test_command():
    assert "make test" in (ROOT / ".ci" / "run").read_text()


NBVAL_MARKERS = {"NBVAL_IGNORE_OUTPUT", "NBVAL_CHECK_OUTPUT", "NBVAL_SKIP", "NBVAL_RAISES_EXCEPTION"}


@pytest.mark.parametrize("source", chapter_sources(), ids=lambda p: p.stem)
def test_nbval_markers_are_spelled_as_nbval_reads_them(source: Path):
    """nbval only honours a comment that is exactly the marker (a reason goes on the next line)."""
    bad = [
        line for line in source.read_text().splitlines()
        if line.lstrip("# ").startswith("NBVAL") and line.lstrip("#").strip() not in NBVAL_MARKERS
    ]
    assert bad == [], f"{source.name}: nbval would ignore these markers: {bad}"


@pytest.mark.parametrize("source", chapter_sources(), ids=lambda p: p.stem)
def test_stored_notebooks_carry_no_machine_paths(source: Path):
    text = (ROOT / "notebooks" / f"{source.stem}.ipynb").read_text()
    found = re.findall(r"(?:/root/|/home/\w+|/work/|/tmp/|/Users/)\S{0,40}", text)
    assert found == [], f"{source.stem}.ipynb stores paths of the machine that made it: {found[:3]}"
