"""scripts/syllabus.py and book/syllabus.md: the prerequisite graph read from the chapters' prerequisites
lines, the run times from the cold-run benchmark (or a sentence saying it has not been run), the study
times, and two paths that take every chapter after its prerequisites."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
import yaml

from scripts import syllabus
from scripts.chapters import ROOT

SAMPLE = Path(__file__).parent / "data" / "cold_chapters_sample.json"


def _numbered_chapters() -> list[str]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    return [Path(c["file"]).name for part in toc["parts"] if part.get("numbered") for c in part["chapters"]]


def _needs_by_regex(stem: str, chapters: list[str]) -> set[str]:
    """The chapters a chapter's "**Prerequisites:**" paragraph names, by a regular expression on the text."""
    text = (ROOT / "book" / f"{stem}.md").read_text()
    found = re.search(r"\*\*Prerequisites:\*\*(.*?)(?:\n\s*\n|\n:::)", text, re.S)
    if not found:
        return set()
    return {name for name in re.findall(r"\{doc\}`(?:[^`<]*<)?(\w+)>?`", found[1]) if name in chapters}


@pytest.fixture(scope="module")
def chapters():
    return syllabus.read_chapters()


def test_every_numbered_chapter_with_what_its_prerequisites_line_names(chapters):
    stems = _numbered_chapters()
    assert [c.stem for c in chapters] == stems
    for info in chapters:
        assert set(info.needs) == _needs_by_regex(info.stem, stems), info.stem
    assert any(info.needs for info in chapters)


def test_both_paths_take_each_chapter_after_its_prerequisites(chapters):
    for kind in ("two-week", "four-week"):
        path = syllabus.path_chapters(kind, chapters)
        stems = [info.stem for info in path]
        for position, info in enumerate(path):
            earlier = set(stems[:position])
            assert {n for n in _needs_by_regex(info.stem, _numbered_chapters()) if n in stems} <= earlier
    assert len(syllabus.path_chapters("four-week", chapters)) == len(chapters)
    assert 0 < len(syllabus.path_chapters("two-week", chapters)) < len(chapters)


def test_the_order_check_finds_a_chapter_before_its_prerequisites(chapters):
    assert syllabus.check_order(chapters) == []
    backwards = list(reversed(chapters))
    assert set(syllabus.check_order(backwards)) == {info.stem for info in chapters if info.needs}


@pytest.mark.parametrize("weeks", [2, 4])
def test_weeks_keep_the_order_and_every_chapter(chapters, weeks):
    groups = syllabus.split_weeks(chapters, weeks)
    assert len(groups) == weeks and all(groups)
    assert [info for group in groups for info in group] == chapters
    hours = [sum(i.study_hours() for i in group) for group in groups]
    assert max(hours) - min(hours) <= max(i.study_hours() for i in chapters)


def test_study_time_counts_exercises_and_the_run():
    base = syllabus.ChapterInfo("x", 1, "X", "P", words=1200, equations=2, exercises=1, code_cells=4)
    more = syllabus.ChapterInfo("x", 1, "X", "P", words=1200, equations=2, exercises=4, code_cells=4)
    assert base.study_hours() == 1.0  # 20 + 6 + 20 + 4 = 50 minutes, rounded up to the half hour
    assert more.study_hours() == 2.0  # 110 minutes
    base.seconds = 3600.0
    assert base.study_hours() == 2.0


def test_the_table_with_and_without_the_benchmark(chapters):
    without = syllabus.table_markdown(chapters, None)
    assert "has not been run" in without and "not measured" in without
    sample = syllabus.read_benchmark(SAMPLE)
    timed = syllabus.with_run_times(syllabus.read_chapters(), sample)
    table = syllabus.table_markdown(timed, sample)
    assert "a sample machine (tests only)" in table and "1 CPU, 1 GB" in table
    row = next(line for line in table.splitlines() if "`marginal_likelihood`" in line)
    assert "| 42 s | 512 MB |" in row
    stopped = next(line for line in table.splitlines() if "`kl_divergence`" in line)
    assert "| 1800 s (stopped after 1800 s) | not measured |" in stopped
    elbo = next(info for info in timed if info.stem == "elbo")
    untimed = next(info for info in chapters if info.stem == "elbo")
    assert elbo.study_hours() == pytest.approx(untimed.study_hours() + 2.0, abs=0.5)  # it ran 2 h 1 min


def test_a_malformed_benchmark_is_refused(tmp_path):
    bad = tmp_path / "cold.json"
    bad.write_text('{"machine": "m", "seconds": 3}')
    with pytest.raises(ValueError, match="chapters"):
        syllabus.read_benchmark(bad)
    assert syllabus.read_benchmark(tmp_path / "absent.json") is None


def test_the_graph_draws_every_direct_need(chapters):
    edges = syllabus.direct_edges(chapters)
    for need, stem in edges:
        assert need in next(i for i in chapters if i.stem == stem).needs
    # every need is drawn, or implied by a path of drawn arrows
    drawn = {}
    for need, stem in edges:
        drawn.setdefault(stem, set()).add(need)

    def reaches(start, goal):
        return goal in drawn.get(start, set()) or any(reaches(n, goal) for n in drawn.get(start, set()))

    for info in chapters:
        for need in info.needs:
            assert reaches(info.stem, need), (info.stem, need)
    figure = syllabus.graph_figure(chapters)
    texts = {t.get_text() for t in figure.axes[0].texts}
    assert {f"{i.number} {i.stem.replace('_', ' ')}" for i in chapters} <= texts


def test_the_page_builds_with_sphinx(tmp_path):
    """book/syllabus.md through Sphinx and MyST, the extension loaded as jupyter-book loads it (scripts/ on the
    path, in a fresh process), with stub pages for the chapters it links: no warning, the graph as an SVG with
    its description, one table row per chapter, both paths, the sample benchmark's times."""
    import subprocess
    import sys

    src = tmp_path / "src"
    (src / "book").mkdir(parents=True)
    (src / "book" / "syllabus.md").write_text((ROOT / "book" / "syllabus.md").read_text())
    for stem in [*_numbered_chapters(), "intro"]:
        (src / "book" / f"{stem}.md").write_text(f"# {stem}\n")
    (src / "index.md").write_text("# Index\n\n```{toctree}\n:glob:\nbook/*\n```\n")
    (src / "conf.py").write_text(
        f"import sys\nfrom pathlib import Path\nsys.path.insert(0, {str(ROOT / 'scripts')!r})\n"
        f"import syllabus\nsyllabus.BENCHMARK = Path({str(SAMPLE)!r})\n"
        "extensions = ['myst_parser', 'syllabus']\n"
    )
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    build = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "-q", "-b", "html", str(src), str(tmp_path / "out")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )
    assert build.returncode == 0, build.stderr[-3000:]
    page = (tmp_path / "out" / "book" / "syllabus.html").read_text()
    assert re.search(r'<svg role="img" aria-label="The chapters\' prerequisites', page)
    assert page.count("<tr") == len(_numbered_chapters()) + 1
    assert "42 s" in page and "a sample machine (tests only)" in page
    assert page.count("Week 1") == 2 and "Week 4" in page
