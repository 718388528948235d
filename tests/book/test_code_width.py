"""Code the chapters show from the package (``literalinclude``) fits the page's code box: at most 80
characters a line, although the package itself allows 120 (``[tool.ruff]`` in pyproject.toml)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BOOK = ROOT / "book"
CODE_BOX = 80  # characters of code a page shows without a horizontal scroll bar

# ```{literalinclude} path, then its :option: value lines, up to the closing fence
INCLUDE = re.compile(r"^(`{3,})\{literalinclude\}\s+(\S+)\s*\n((?::[\w-]+:.*\n)*)", re.MULTILINE)
OPTION = re.compile(r"^:([\w-]+):\s*(.*)$")
UNDERSTOOD = {"pyobject", "lines", "start-after", "end-before", "language", "caption", "emphasize-lines", "linenos"}


def includes() -> list[tuple[str, Path, dict[str, str]]]:
    """(where, included file, options) for every literalinclude in book/*.md."""
    found = []
    for page in sorted(BOOK.glob("*.md")):
        text = page.read_text()
        for match in INCLUDE.finditer(text):
            line = text.count("\n", 0, match.start()) + 1
            options = dict(OPTION.match(o).groups() for o in match.group(3).splitlines())
            found.append((f"book/{page.name}:{line}", (page.parent / match.group(2)).resolve(), options))
    return found


def python_object(source: str, dotted: str) -> list[str]:
    """The lines of the class, function or method `dotted` (``Class.method``), its decorators included."""
    nodes, node = ast.parse(source).body, None
    for part in dotted.split("."):
        named = [n for n in nodes if isinstance(n, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))]
        node = next((n for n in named if n.name == part), None)
        assert node is not None, f"no class or function {part!r} (of {dotted!r})"
        nodes = node.body
    first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
    return source.splitlines()[first - 1 : node.end_lineno]


def line_numbers(spec: str, count: int) -> set[int]:
    """The 1-based line numbers of a ``:lines:`` value such as ``1-3, 7, 10-``."""
    keep = set()
    for part in spec.split(","):
        start, dash, end = part.strip().partition("-")
        if dash:
            keep.update(range(int(start or 1), int(end or count) + 1))
        else:
            keep.add(int(start))
    return keep


def shown_lines(path: Path, options: dict[str, str]) -> list[str]:
    """The lines a literalinclude with these options shows."""
    source = path.read_text()
    if "pyobject" in options:
        source = "\n".join(python_object(source, options["pyobject"]))
    if "start-after" in options:
        source = source.split(options["start-after"], 1)[1].split("\n", 1)[-1]
    if "end-before" in options:
        source = source.split(options["end-before"], 1)[0]
    lines = source.splitlines()
    if "lines" in options:
        keep = line_numbers(options["lines"], len(lines))
        lines = [line for number, line in enumerate(lines, 1) if number in keep]
    return lines


INCLUDES = includes()


def test_the_chapters_include_code():
    assert len(INCLUDES) >= 10, "fewer literalincludes than the chapters have: is the pattern out of date?"


@pytest.mark.parametrize(("where", "path", "options"), INCLUDES, ids=[where for where, _, _ in INCLUDES])
def test_included_code_fits_the_code_box(where, path, options):
    assert set(options) <= UNDERSTOOD, f"{where}: options this test cannot resolve: {set(options) - UNDERSTOOD}"
    lines = shown_lines(path, options)
    assert lines, f"{where}: shows nothing"
    too_long = [f"{len(line)}: {line.strip()}" for line in lines if len(line) > CODE_BOX]
    assert not too_long, (
        f"{where} shows lines over {CODE_BOX} characters: wrap them in {path.relative_to(ROOT)} "
        "(a magic trailing comma keeps ruff format from joining them)\n" + "\n".join(too_long)
    )


def test_the_width_check_sees_a_long_line(tmp_path):
    source = tmp_path / "module.py"
    source.write_text("class A:\n    @staticmethod\n    def f():\n        return " + "1 + " * 20 + "1\n")
    lines = shown_lines(source, {"pyobject": "A.f"})
    assert lines[0] == "    @staticmethod" and len(lines) == 3
    assert max(map(len, lines)) > CODE_BOX
