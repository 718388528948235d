"""Sphinx extension: the ``{syllabus}`` directive of book/syllabus.md, everything on it computed at build time.

- **Which chapter needs which**: read from each chapter's "**Prerequisites:**" line (the ``{doc}`` roles
  in it that name chapters), drawn as a graph (matplotlib: inline SVG on the website, a PDF in the
  LaTeX build), one row per chapter in a table.
- **Time to run**: ``benchmarks/cold_chapters.json`` (benchmarks/bench_cold_chapters.py: each chapter
  executed cold in full mode; ``{"machine", "limits", "chapters": {stem: {"seconds", "peak_mb", "status"}}}``,
  ``peak_mb`` null where it could not be measured, ``status`` "ok" or what went wrong).
  Without that file the page says the benchmark has not been run.
- **Time to study**: an estimate from each chapter's own text (STUDY below: words read, display
  equations worked through, exercises, code cells run), the formula stated on the page.
- **Two paths**: a two-week unit on the lecture's chapters (the parts LECTURE_PARTS of _toc.yml) and a
  four-week unit with the chapters beyond it, each chapter after its prerequisites, split into weeks
  of similar study time.

Enabled in _config.yml under sphinx.local_extensions.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Sphinx puts scripts/ on the path for a local extension; the chapter reader is imported as scripts.*
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
BENCHMARK = ROOT / "benchmarks" / "cold_chapters.json"
LECTURE_PARTS = ("The mathematics of VAEs", "The code")
# The study-time estimate: minutes per word of prose, per display equation, per exercise, per code cell.
STUDY = {"words_per_minute": 60, "minutes_per_equation": 3, "minutes_per_exercise": 20, "minutes_per_code_cell": 1}
PART_COLOURS = ("#4C72B0", "#DD8452", "#55A868", "#C44E52", "#8172B3")


@dataclass
class ChapterInfo:
    stem: str
    number: int
    title: str
    part: str
    needs: list[str] = field(default_factory=list)  # chapter stems, from the Prerequisites line
    words: int = 0
    equations: int = 0
    exercises: int = 0
    code_cells: int = 0
    seconds: float | None = None  # measured cold run (full mode)
    peak_mb: float | None = None
    status: str = "ok"  # the benchmark's word on the run: "ok", "stopped after 1800 s", "failed (...)"

    def study_hours(self) -> float:
        """Reading, equations, exercises and code cells (STUDY), plus the measured run time; in hours,
        rounded up to the next half hour."""
        minutes = (
            self.words / STUDY["words_per_minute"]
            + self.equations * STUDY["minutes_per_equation"]
            + self.exercises * STUDY["minutes_per_exercise"]
            + self.code_cells * STUDY["minutes_per_code_cell"]
            + (self.seconds or 0) / 60
        )
        return max(0.5, -(-minutes // 30) / 2)


def _prerequisites(source: str, chapters: list[str]) -> list[str]:
    """The chapters named by ``{doc}`` roles in the chapter's "**Prerequisites:**" paragraph."""
    from scripts import plain_markdown

    for block in plain_markdown.walk(source):
        if block.kind == "paragraph" and block.lines[0].lstrip().startswith("**Prerequisites:**"):
            named = [
                content.split("<")[-1].rstrip(">").split("/")[-1] for name, content in block.roles if name == "doc"
            ]
            return sorted((stem for stem in dict.fromkeys(named) if stem in chapters), key=chapters.index)
    return []


def read_chapters(root: Path = ROOT) -> list[ChapterInfo]:
    """Every numbered chapter of _toc.yml, in order, with what it needs and what its text holds."""
    import yaml

    from scripts import plain_markdown
    from scripts.chapters import read_chapter

    toc = yaml.safe_load((root / "_toc.yml").read_text())
    entries = [
        (Path(entry["file"]), part["caption"])
        for part in toc.get("parts", [])
        if part.get("numbered")
        for entry in part.get("chapters", [])
    ]
    stems = [path.name for path, _ in entries]
    out = []
    for number, (path, part) in enumerate(entries, start=1):
        source = (root / path).with_suffix(".md")
        notebook = read_chapter(source)
        markdown = "\n".join(c.source for c in notebook.cells if c.cell_type == "markdown")
        title = next((line[2:].strip() for line in markdown.splitlines() if line.startswith("# ")), path.name)
        info = ChapterInfo(path.name, number, title, part, _prerequisites(markdown, stems))
        prose = re.sub(r"(?s)\$\$.*?\$\$|```.*?```|\$[^$\n]+\$|\{[\w:]+\}`[^`]*`", " ", markdown)
        info.words = len(re.findall(r"[A-Za-z][A-Za-z'-]*", prose))
        blocks = list(plain_markdown.walk(markdown))
        info.equations = len(re.findall(r"^\s*\$\$", markdown, re.M)) // 2 + markdown.count("```{math}")
        info.exercises = sum(1 for b in blocks if b.directive and b.directive.name == "exercise")
        info.code_cells = sum(1 for c in notebook.cells if c.cell_type == "code")
        out.append(info)
    return out


def read_benchmark(path: Path | None = None) -> dict | None:
    """The cold-run benchmark ({"machine", "limits", "chapters": {stem: {"seconds", "peak_mb"}}}), or None
    when it has not been run (default path: BENCHMARK). Raises ValueError when the file is there but not in
    that form."""
    path = path or BENCHMARK
    if not path.exists():
        return None
    data = json.loads(path.read_text())
    if not isinstance(data, dict) or not isinstance(data.get("chapters"), dict):
        raise ValueError(
            f"{path.name}: expected {{'machine', 'limits', 'chapters': {{stem: {{'seconds', 'peak_mb'}}}}}}"
        )
    return data


def with_run_times(chapters: list[ChapterInfo], benchmark: dict | None) -> list[ChapterInfo]:
    for info in chapters:
        measured = (benchmark or {}).get("chapters", {}).get(info.stem)
        if measured:
            info.seconds = float(measured["seconds"])
            info.peak_mb = float(measured["peak_mb"]) if measured.get("peak_mb") is not None else None
            info.status = str(measured.get("status", "ok"))
    return chapters


def check_order(path: list[ChapterInfo]) -> list[str]:
    """The chapters of `path` whose prerequisites come later in it (or not at all): [] when none."""
    seen, late = set(), []
    stems = {info.stem for info in path}
    for info in path:
        if any(need in stems and need not in seen for need in info.needs):
            late.append(info.stem)
        seen.add(info.stem)
    return late


def outside(path: list[ChapterInfo]) -> list[str]:
    """Prerequisites of the path's chapters that the path leaves out."""
    stems = {info.stem for info in path}
    return sorted({need for info in path for need in info.needs if need not in stems})


def split_weeks(path: list[ChapterInfo], weeks: int) -> list[list[ChapterInfo]]:
    """`path` in order, cut into `weeks` consecutive groups of similar study time (none empty)."""
    total = sum(info.study_hours() for info in path)
    groups: list[list[ChapterInfo]] = [[]]
    done = 0.0
    for index, info in enumerate(path):
        left_chapters, left_weeks = len(path) - index, weeks - len(groups)
        boundary = total * len(groups) / weeks
        if groups[-1] and left_weeks > 0 and (done + info.study_hours() / 2 > boundary or left_chapters <= left_weeks):
            groups.append([])
        groups[-1].append(info)
        done += info.study_hours()
    return groups


def depths(chapters: list[ChapterInfo]) -> dict[str, int]:
    """Each chapter's layer in the graph: 0 without prerequisites, else one more than its deepest one."""
    depth: dict[str, int] = {}
    for info in chapters:  # the toc order puts prerequisites first (check_order tests it)
        depth[info.stem] = 1 + max((depth.get(need, 0) for need in info.needs), default=-1)
    return depth


def ancestors(stem: str, chapters: list[ChapterInfo]) -> set[str]:
    """Every chapter that `stem` needs, directly or through others."""
    needs = {info.stem: info.needs for info in chapters}
    seen: set[str] = set()
    todo = list(needs.get(stem, []))
    while todo:
        need = todo.pop()
        if need not in seen:
            seen.add(need)
            todo += needs.get(need, [])
    return seen


def direct_edges(chapters: list[ChapterInfo]) -> list[tuple[str, str]]:
    """(need, chapter) for every prerequisite not already implied by another one (the graph's arrows)."""
    return [
        (need, info.stem)
        for info in chapters
        for need in info.needs
        if not any(need in ancestors(other, chapters) for other in info.needs if other != need)
    ]


def graph_figure(chapters: list[ChapterInfo]):
    """The prerequisite graph as a matplotlib figure: a row per depth, top to bottom, an arrow from each
    chapter to the chapters that need it directly (implied needs left out), boxes coloured by part."""
    import matplotlib

    matplotlib.use("agg")
    import matplotlib.pyplot as plt

    depth = depths(chapters)
    rows: dict[int, list[ChapterInfo]] = {}
    for info in chapters:
        rows.setdefault(depth[info.stem], []).append(info)
    width = max(len(row) for row in rows.values())
    position = {
        info.stem: ((i - (len(row) - 1) / 2) * 2.6, -d * 1.0) for d, row in rows.items() for i, info in enumerate(row)
    }
    parts = list(dict.fromkeys(info.part for info in chapters))
    colour = {part: PART_COLOURS[i % len(PART_COLOURS)] for i, part in enumerate(parts)}
    fig, ax = plt.subplots(figsize=(2.2 * width + 1.0, 0.75 * len(rows) + 1.0))
    for need, stem in direct_edges(chapters):
        (x0, y0), (x1, y1) = position[need], position[stem]
        ax.annotate(
            "",
            xy=(x1, y1 + 0.2),
            xytext=(x0, y0 - 0.2),
            arrowprops={"arrowstyle": "->", "color": "0.4", "lw": 1.0, "shrinkA": 0, "shrinkB": 0},
        )
    for info in chapters:
        x, y = position[info.stem]
        ax.text(
            x,
            y,
            f"{info.number} {info.stem.replace('_', ' ')}",
            ha="center",
            va="center",
            fontsize=10,
            color="white",
            bbox={"boxstyle": "round,pad=0.35", "facecolor": colour[info.part], "edgecolor": "none"},
        )
    for part in parts:
        ax.plot([], [], "s", color=colour[part], label=part, ms=10)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, 0.02), ncol=len(parts), frameon=False, fontsize=9)
    ax.set_xlim(-1.3 * width - 0.2, 1.3 * width + 0.2)
    ax.set_ylim(-len(rows) + 0.5, 0.4)
    ax.axis("off")
    fig.tight_layout()
    return fig


def graph_description(chapters: list[ChapterInfo]) -> str:
    """The graph in words (its alt text): who needs whom."""
    with_needs = [
        f"{info.number} needs {' and '.join(str(next(c.number for c in chapters if c.stem == n)) for n in info.needs)}"
        for info in chapters
        if info.needs
    ]
    roots = [str(info.number) for info in chapters if not info.needs]
    return (
        f"The chapters' prerequisites, as arrows from a chapter to the chapters that need it (an arrow implied by "
        f"two others is left out). Chapter "
        f"{' and '.join(roots)} need{'s' if len(roots) == 1 else ''} no other chapter; " + "; ".join(with_needs) + "."
    )


def _hours(value: float) -> str:
    return f"{value:g} h"


def table_markdown(chapters: list[ChapterInfo], benchmark: dict | None) -> str:
    """The chapters' table (needs, run time, peak memory, study time) and how its numbers were made."""
    by_stem = {info.stem: info for info in chapters}
    if benchmark is None:
        lines = [
            "**Time to run:** the cold-run benchmark has not been run yet (`benchmarks/cold_chapters.json` is "
            "missing; `python benchmarks/bench_cold_chapters.py` writes it), so the table shows no run "
            "times and the study times leave them out.",
        ]
    else:
        lines = [
            f"**Time to run:** each chapter executed cold, in full mode, on "
            f"{benchmark.get('machine', 'an unnamed machine')} ({benchmark.get('limits', 'no limits stated')}); "
            "from `benchmarks/cold_chapters.json`.",
        ]
    lines += [
        "",
        f"**Time to study** is an estimate from each chapter's text: its prose at {STUDY['words_per_minute']} "
        f"words a minute, {STUDY['minutes_per_equation']} minutes per display equation, "
        f"{STUDY['minutes_per_exercise']} per exercise, {STUDY['minutes_per_code_cell']} per code cell, plus "
        "the time it takes to run; rounded up to the half hour.",
        "",
        "| Chapter | Needs chapters | Runs (full mode) | Peak memory | Study |",
        "|:--|:--|--:|--:|--:|",
    ]
    for info in chapters:
        needs = ", ".join(str(by_stem[n].number) for n in info.needs) or "none"
        runs = f"{info.seconds:.0f} s" if info.seconds is not None else "not measured"
        runs += "" if info.status == "ok" else f" ({info.status.replace('|', '/')})"
        peak = f"{info.peak_mb:.0f} MB" if info.peak_mb is not None else "not measured"
        study = _hours(info.study_hours())
        lines.append(f"| {info.number}. {{doc}}`{info.stem}` | {needs} | {runs} | {peak} | {study} |")
    return "\n".join(lines) + "\n"


PATHS = {
    "two-week": (2, "the chapters that follow the lecture, in order"),
    "four-week": (4, "the lecture's chapters, then the chapters beyond it and the physics"),
}


def path_chapters(kind: str, chapters: list[ChapterInfo]) -> list[ChapterInfo]:
    """The chapters of a suggested path: "two-week" the lecture's parts, "four-week" every chapter."""
    if kind not in PATHS:
        raise ValueError(f"syllabus: unknown path {kind!r}; use one of {', '.join(PATHS)}")
    return [info for info in chapters if kind == "four-week" or info.part in LECTURE_PARTS]


def path_markdown(kind: str, chapters: list[ChapterInfo]) -> str:
    """A suggested path, week by week, each chapter with the chapters it needs."""
    by_stem = {info.stem: info for info in chapters}
    path = path_chapters(kind, chapters)
    late = check_order(path)
    if late:
        raise ValueError(f"syllabus: in the {kind} path, {', '.join(late)} come before their prerequisites")
    weeks, intro = PATHS[kind]
    lines = [f"About {_hours(sum(i.study_hours() for i in path))} of study: {intro}.", ""]
    for week, group in enumerate(split_weeks(path, weeks), start=1):
        items = "; ".join(
            f"{{doc}}`{i.stem}`" + (f" (needs {', '.join(str(by_stem[n].number) for n in i.needs)})" if i.needs else "")
            for i in group
        )
        lines.append(f"- **Week {week}** ({_hours(sum(i.study_hours() for i in group))}): {items}.")
    missing = outside(path)
    if missing:
        lines += ["", f"It also needs chapters {', '.join(missing)}, which it leaves out."]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------------
# The directive
# ---------------------------------------------------------------------------------------------------


def _svg(fig, description: str) -> str:
    import io

    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", bbox_inches="tight")
    svg = buffer.getvalue()
    svg = svg[svg.index("<svg") :]
    label = description.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;")
    return svg.replace("<svg ", f'<svg role="img" aria-label="{label}" style="max-width:100%;height:auto" ', 1)


def _directive_class():
    from docutils import nodes
    from docutils.statemachine import StringList
    from sphinx.util.docutils import SphinxDirective

    class Syllabus(SphinxDirective):
        """``{syllabus} graph``, ``{syllabus} table``, ``{syllabus} two-week``, ``{syllabus} four-week``."""

        required_arguments = 1
        has_content = False

        def run(self):
            chapters = with_run_times(read_chapters(), read_benchmark())
            for info in chapters:
                self.env.note_dependency(str(ROOT / "book" / f"{info.stem}.md"))
            self.env.note_dependency(str(BENCHMARK))
            kind = self.arguments[0]
            if kind == "graph":
                return self.graph(chapters)
            markdown = table_markdown(chapters, read_benchmark()) if kind == "table" else path_markdown(kind, chapters)
            container = nodes.container()
            self.state.nested_parse(StringList(markdown.splitlines()), self.content_offset, container)
            return container.children

        def graph(self, chapters):
            import matplotlib.pyplot as plt

            description = graph_description(chapters)
            fig = graph_figure(chapters)
            if self.env.app.builder.format == "latex":
                outdir = Path(self.env.app.outdir)
                outdir.mkdir(parents=True, exist_ok=True)
                fig.savefig(outdir / "syllabus-graph.pdf", bbox_inches="tight")
                latex = "\\begin{center}\\includegraphics[width=\\linewidth]{syllabus-graph.pdf}\\end{center}"
                picture = nodes.raw("", latex, format="latex")
            else:
                picture = nodes.raw("", f"<div class='syllabus-graph'>{_svg(fig, description)}</div>", format="html")
            plt.close(fig)
            caption = nodes.paragraph()
            caption += nodes.emphasis(text=description)
            return [picture, caption]

    return Syllabus


def setup(app):
    app.add_directive("syllabus", _directive_class())
    return {"parallel_read_safe": True, "parallel_write_safe": True}
