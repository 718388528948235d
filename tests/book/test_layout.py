"""The repository's promises: book/, _toc.yml, notebooks/ and tests/notebooks/ agree, stored notebooks carry
no machine paths (and the notebook generator strips them); the README states the commands."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from scripts import make_notebooks
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
def test_nbval_reference_is_in_sync_with_its_chapter(source: Path):
    """tests/notebooks/ holds the same cells (with nbval's markers), executed: what nbval compares."""
    import nbformat

    expected = [(c.cell_type, c.source) for c in to_notebook(source, for_tests=True).cells]
    target = ROOT / "tests" / "notebooks" / f"{source.stem}.ipynb"
    reference = nbformat.read(target, as_version=4)
    actual = [(c.cell_type, c.source) for c in reference.cells]
    assert actual == expected, f"tests/notebooks/{target.name} is out of date with {source.name}: run `make notebooks`"
    executed = [c for c in reference.cells if c.cell_type == "code" and c.execution_count]
    assert executed, f"tests/notebooks/{target.name} was never executed: run `make notebooks`"


@pytest.mark.parametrize("source", chapter_sources(), ids=lambda p: p.stem)
def test_student_notebooks_carry_no_outputs_and_no_widget_state(source: Path):
    """A student's notebook shows only what its own run produces: nothing stored can contradict the
    text (smoke-mode results beside sentences about full-mode ones), and no widget state is carried."""
    import nbformat

    notebook = nbformat.read(ROOT / "notebooks" / f"{source.stem}.ipynb", as_version=4)
    stored = [i for i, c in enumerate(notebook.cells) if c.cell_type == "code" and (c.outputs or c.execution_count)]
    assert stored == [], f"{source.stem}.ipynb stores outputs in cells {stored}: run `make notebooks`"
    assert "widgets" not in notebook.metadata


@pytest.mark.parametrize("source", chapter_sources(), ids=lambda p: p.stem)
def test_student_notebooks_read_without_a_myst_extension(source: Path):
    """No MyST syntax is left for JupyterLab or Colab to show as raw text; no test plumbing in code."""
    import nbformat

    notebook = nbformat.read(ROOT / "notebooks" / f"{source.stem}.ipynb", as_version=4)
    raw = re.compile(r"^:::|^```\{|\{[\w:-]+\}`|^\([\w-]+\)=\s*$|^:(label|class):", re.M)
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type == "markdown":
            found = raw.findall(cell.source)
            assert found == [], f"{source.stem}.ipynb cell {index}: MyST left in the Markdown: {found}"
        else:
            assert "NBVAL_" not in cell.source, f"{source.stem}.ipynb cell {index}: an nbval marker"


@pytest.mark.parametrize("source", chapter_sources(), ids=lambda p: p.stem)
def test_chapter_sources_carry_no_outputs_and_a_title(source: Path):
    text = source.read_text()
    assert is_notebook(source)
    assert any(line.startswith("# ") for line in text.splitlines()), f"{source.name} has no title"


@pytest.mark.parametrize("source", chapter_sources(), ids=lambda p: p.stem)
def test_every_chapter_is_a_course_page(source: Path):
    """Learning goals first, key takeaways and further reading at the end, every figure cited by number."""
    text = source.read_text()
    if source.stem in {"notation", "glossary", "bibliography"}:
        return  # reference pages, not chapters
    lowered = text.lower()
    assert "learning goals" in lowered or "what you will learn" in lowered, f"{source.name}: no learning goals"
    assert source.stem == "intro" or "key takeaways" in lowered, f"{source.name}: no key takeaways"
    assert "further reading" in lowered, f"{source.name}: no further reading"
    figures = set(re.findall(r"^\s*name: (fig-[\w-]+)", text, flags=re.M))
    cited = set(re.findall(r"\{numref\}`(?:[^`<]*<)?(fig-[\w-]+)>?`", text))
    assert figures - cited == set(), f"{source.name}: figures never cited with {{numref}}: {sorted(figures - cited)}"


@pytest.mark.parametrize("source", chapter_sources(), ids=lambda p: p.stem)
def test_chapter_titles_carry_no_maths(source: Path):
    """A title is in every page's navigation, also on pages that load no MathJax: plain text only."""
    title = next(line for line in source.read_text().splitlines() if line.startswith("# "))
    assert "$" not in title, f"{source.name}: maths in the title {title!r}"


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
        line
        for line in source.read_text().splitlines()
        if line.lstrip("# ").startswith("NBVAL") and line.lstrip("#").strip() not in NBVAL_MARKERS
    ]
    assert bad == [], f"{source.name}: nbval would ignore these markers: {bad}"


@pytest.mark.parametrize("source", chapter_sources(), ids=lambda p: p.stem)
@pytest.mark.parametrize("folder", ["notebooks", "tests/notebooks"])
def test_stored_notebooks_carry_no_machine_paths(source: Path, folder: str):
    text = (ROOT / folder / f"{source.stem}.ipynb").read_text()
    found = re.findall(r"(?:/root/|/home/\w+|/work/|/tmp/|/Users/)\S{0,40}", text)
    assert found == [], f"{folder}/{source.stem}.ipynb stores paths of the machine that made it: {found[:3]}"


def test_the_notebook_generator_strips_machine_paths():
    """The repository path, the home folder and kernel temp paths, in every output kind."""
    import nbformat

    root, home = Path(make_notebooks.__file__).resolve().parent.parent, Path.home()
    dirty = (
        f'File "{root}{os.sep}vaecourse{os.sep}train.py", line 3\n'
        f"cache in {home}{os.sep}.cache{os.sep}vaecourse\n"
        'File "/tmp/ipykernel_4242/1234567.py", line 1\n'
    )
    clean = (
        f'File "vaecourse{os.sep}train.py", line 3\ncache in ~{os.sep}.cache{os.sep}vaecourse\nFile "<cell>", line 1\n'
    )
    assert make_notebooks.strip_machine_paths(dirty) == clean
    cell = nbformat.v4.new_code_cell("1")
    cell.outputs = [
        nbformat.v4.new_output("stream", name="stderr", text=dirty),
        nbformat.v4.new_output("execute_result", data={"text/plain": dirty, "text/html": dirty}, execution_count=1),
        nbformat.v4.new_output("display_data", data={"text/markdown": dirty}),
    ]
    notebook = nbformat.v4.new_notebook(cells=[cell])
    make_notebooks.clean_outputs(notebook)
    out = cell.outputs
    assert [
        out[0]["text"],
        out[1]["data"]["text/plain"],
        out[1]["data"]["text/html"],
        out[2]["data"]["text/markdown"],
    ] == [clean] * 4
