"""Answer cells: every exercise in the student notebooks is followed by a cell to answer in (the
chapter's stub and its check, or an empty Markdown cell), then its folded solution; the stubs are
written once, in book/, and match the package's checks."""

from __future__ import annotations

import re

import nbformat
import pytest

from scripts import plain_markdown
from scripts.chapters import (
    ANSWER_PROMPT,
    ROOT,
    chapter_sources,
    is_answer_cell,
    read_chapter,
    split_at_answers,
    to_notebook,
)
from vaecourse import exercises

SOURCES = chapter_sources()


def test_split_at_answers_puts_a_written_answer_cell_after_each_exercise():
    text = f"Intro.\n\n> **Exercise 1.1**\n\n{plain_markdown.ANSWER_MARK}\n\n<details>S</details>"
    cells = split_at_answers(text, {"tags": ["x"]}, following=None)
    assert [c.source for c in cells] == ["Intro.\n\n> **Exercise 1.1**", ANSWER_PROMPT, "<details>S</details>"]
    assert cells[0].metadata == {"tags": ["x"]} and cells[1].metadata == {"tags": ["answer"]}


def test_split_at_answers_leaves_the_answer_to_a_following_code_cell():
    code = nbformat.v4.new_code_cell("f = ...", metadata={"tags": ["answer"]})
    text = f"> **Exercise 1.1**\n\n{plain_markdown.ANSWER_MARK}"
    assert [c.source for c in split_at_answers(text, {}, following=code)] == ["> **Exercise 1.1**"]
    plain = nbformat.v4.new_code_cell("print(1)")
    assert [c.source for c in split_at_answers(text, {}, following=plain)] == ["> **Exercise 1.1**", ANSWER_PROMPT]


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_every_exercise_has_an_answer_cell_then_its_solution(source):
    cells = to_notebook(source).cells
    for i, cell in enumerate(cells):
        if cell.cell_type == "markdown" and re.search(r"^> \*\*Exercise \d+\.\d+\*\*", cell.source, re.MULTILINE):
            answers = 2 if "experiment" in cells[i + 1].metadata.get("tags", []) else 1
            for answer in cells[i + 1 : i + 1 + answers]:
                assert "answer" in answer.metadata.get("tags", []), cell.source[:80]
            if answers == 2:
                assert (cells[i + 1].cell_type, cells[i + 2].source) == ("code", ANSWER_PROMPT)
            solution = cells[i + 1 + answers]
            number = re.findall(r"^> \*\*Exercise (\d+\.\d+)", cell.source, re.MULTILINE)[-1]
            assert solution.source.startswith(f"<details><summary><b>Solution to Exercise {number}</b>")
            assert plain_markdown.ANSWER_MARK not in cell.source


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_the_reference_copies_leave_the_stubs_and_the_self_test_out(source):
    cells = to_notebook(source, for_tests=True).cells
    assert not any(is_answer_cell(c) or "self_test(" in c.source for c in cells)


def test_every_checked_exercise_has_its_stub_in_the_book_and_nothing_else():
    stubs = {}
    for source in SOURCES:
        for cell in read_chapter(source).cells:
            if is_answer_cell(cell) and "experiment" in cell.metadata["tags"]:
                assert cell.source.startswith("# your experiment") and "solution" not in cell.source.lower()
            elif is_answer_cell(cell):
                name = re.search(r"import (check_\w+)", cell.source).group(1)
                stubs[name] = (source.stem, cell)
    wanted = {e.check_name: e for e in exercises.EXERCISES.values()}
    assert set(stubs) == set(wanted)
    for name, (chapter, cell) in stubs.items():
        exercise = wanted[name]
        assert chapter == exercise.chapter
        assert cell.source == f"from vaecourse.exercises import {name}\n\n{exercise.stub}"
        assert "remove-output" in cell.metadata["tags"]  # the website shows the empty stub, not its verdict
        assert f":label: {exercise.label}" in (ROOT / "book" / f"{chapter}.md").read_text()


@pytest.mark.parametrize("label", sorted(exercises.EXERCISES))
def test_an_unfilled_stub_runs_and_says_there_is_no_answer_yet(label, capsys):
    exercise = exercises.EXERCISES[label]
    namespace = {}
    exec(
        compile(  # noqa: S102 -- the stub as the notebook runs it
            f"from vaecourse.exercises import {exercise.check_name}\n{exercise.stub}", label, "exec"
        ),
        namespace,
    )
    out = capsys.readouterr().out
    assert out.startswith("NOT YET") and "Traceback" not in out
