"""Which files are chapters, and how a MyST chapter becomes a notebook.

Shared by scripts/make_notebooks.py and the tests, so that both agree on the rules.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def toc_files() -> list[str]:
    """Every file named in _toc.yml (root first), as paths without extension, e.g. 'book/intro'."""
    import yaml

    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]]

    def walk(entries):
        for entry in entries or []:
            if "file" in entry:
                files.append(entry["file"])
            walk(entry.get("sections"))
            for part in entry.get("parts", []) or []:
                walk(part.get("chapters"))

    walk(toc.get("chapters"))
    for part in toc.get("parts", []) or []:
        walk(part.get("chapters"))
    return [str(Path(f).with_suffix("")) for f in files]


def chapter_numbers() -> dict[str, int]:
    """{file stem: number} of the chapters in _toc.yml's numbered parts, counted on across parts, as
    the website numbers them (the root and unnumbered parts have none)."""
    import yaml

    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    numbers, n = {}, 0
    for part in toc.get("parts", []) or []:
        if not part.get("numbered"):
            continue
        for entry in part.get("chapters", []) or []:
            n += 1
            numbers[Path(entry["file"]).name] = n
    return numbers


def is_notebook(path: Path) -> bool:
    """A MyST file is an executable chapter when its front matter carries a jupytext header."""
    text = path.read_text()
    return text.startswith("---") and "jupytext:" in text.split("---", 2)[1]


def chapter_sources() -> list[Path]:
    """The executable chapters, in table-of-contents order."""
    paths = [ROOT / f"{name}.md" for name in toc_files()]
    return [path for path in paths if path.exists() and is_notebook(path)]


# ---------------------------------------------------------------------------------------------------
# The student notebooks (notebooks/): plain Markdown that reads well with no extension (JupyterLab,
# Colab, GitHub), a first cell that installs the package where it is missing, no outputs.
# ---------------------------------------------------------------------------------------------------

NBVAL_MARKER = re.compile(r"^#\s*NBVAL_[A-Z_]+\s*$")


def read_chapter(path: Path):
    """The MyST chapter as an nbformat notebook, cells exactly as in book/ (no outputs)."""
    import jupytext

    notebook = jupytext.read(path, fmt="md:myst")
    notebook.metadata.pop("jupytext", None)
    return notebook


def repository() -> tuple[str, str]:
    """(url, branch) of the course repository: the one place it is named is _config.yml."""
    import yaml

    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    repo = config.get("repository") or {}
    return repo["url"].rstrip("/"), repo.get("branch", "main")


def install_source() -> str:
    """Where the first cell of every notebook installs the package from (a pip URL)."""
    url, branch = repository()
    return f"git+{url}@{branch}"


# The set-up cell never replaces the packages it names where it finds them installed (Colab's torch,
# numpy and ipywidgets 7 above all: ipywidgets 8 breaks Colab's widget display, googlecolab/colabtools#3020).
# It pins each one found to its installed version in a pip constraints file: pip then adds only what is
# missing, and fails (saying so) rather than replace one. pyproject.toml's ranges admit Colab's versions
# (tests/book/test_colab_environment.py runs the cell in an environment holding them).
SETUP_CELL = """\
#@title Set-up: installs the course package where it is missing (Colab, a hub); locally it does nothing
# It installs from the course repository only what is missing: the torch, numpy, ipywidgets, ... already
# there are kept as they are (pinned for pip by a constraints file).
SOURCE = "{source}"
try:
    import vaecourse
except ImportError:
    import importlib, importlib.metadata, os, subprocess, sys, tempfile
    print(f"vaecourse is not installed here: installing it from {{SOURCE}} ...", flush=True)
    kept = []
    for name in ("torch", "numpy", "scipy", "matplotlib", "scikit-learn", "keras", "ipywidgets",
                 "widgetsnbextension", "jupyterlab-widgets", "anywidget", "ipykernel", "ipython", "traitlets"):
        try:
            kept.append(f"{{name}}=={{importlib.metadata.version(name)}}")
        except importlib.metadata.PackageNotFoundError:
            pass
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as constraints:
        constraints.write("\\n".join(kept) + "\\n")
    pip = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--constraint", constraints.name,
                          f"vaecourse[plot,widgets,keras] @ {{SOURCE}}"], capture_output=True, text=True)
    os.unlink(constraints.name)
    if pip.returncode != 0:
        said = [line for line in pip.stderr.splitlines() if line.startswith("ERROR")]
        print("\\n".join(said[-2:] or pip.stderr.strip().splitlines()[-2:]))
        why = ("it needs versions other than those installed here, which this cell does not replace"
               if "ResolutionImpossible" in pip.stderr else "this machine may be offline; connect it")
        raise RuntimeError(f"could not install vaecourse from {{SOURCE}} (pip's words above): {{why}}, "
                           "or install the package by hand") from None
    importlib.invalidate_caches()
    import vaecourse
    print(f"installed vaecourse {{vaecourse.__version__}} and only the dependencies that were missing")"""


def setup_cell_source(source: str | None = None) -> str:
    """The first code cell of every student notebook; `source` defaults to install_source()."""
    return SETUP_CELL.format(source=source or install_source())


def strip_test_markers(code: str) -> str:
    """Drop nbval's markers (and the reason on the line after each) from code a student reads."""
    lines = code.splitlines()
    out, i = [], 0
    while i < len(lines):
        if NBVAL_MARKER.match(lines[i].strip()):
            i += 1
            if i < len(lines) and re.match(r"^#\s*\(.*\)\s*$", lines[i].strip()):
                i += 1
            continue
        out.append(lines[i])
        i += 1
    return "\n".join(out)


@functools.lru_cache(maxsize=1)
def _book():
    from scripts import plain_markdown

    book = {}
    for path in chapter_sources():
        notebook = read_chapter(path)
        book[path.stem] = plain_markdown.scan_chapter(
            path.stem,
            [(c.cell_type, c.source, c.metadata) for c in notebook.cells],
            number=chapter_numbers().get(path.stem),
        )
    references = plain_markdown.read_bibliography(ROOT / "references.bib")
    # Pages that are not notebooks (notation, glossary, bibliography): linked in the repository, where
    # GitHub shows them; every place a notebook runs can open that.
    url, branch = repository()
    pages = {}
    for name in toc_files():
        path = ROOT / f"{name}.md"
        if path.stem not in book and path.exists() and "{bibliography}" in path.read_text():
            pages[path.stem] = ("References", "#References")  # each notebook ends with its own
        elif path.stem not in book and path.exists():
            title = next(
                (line[2:].strip() for line in path.read_text().splitlines() if line.startswith("# ")), path.stem
            )
            pages[path.stem] = (title, f"{url}/blob/{branch}/{name}.md")
    return book, references, pages


ANSWER_PROMPT = "**Your answer.** *Double-click this cell and write your answer here.*"


def is_answer_cell(cell) -> bool:
    """A code cell tagged ``answer``: the stub a student fills in below an exercise."""
    return cell.cell_type == "code" and "answer" in cell.metadata.get("tags", [])


def is_student_only(cell) -> bool:
    """An answer cell or the self-test (tagged ``self-test``): for students, not run by the reference copies."""
    return cell.cell_type == "code" and bool({"answer", "self-test"} & set(cell.metadata.get("tags", [])))


def split_at_answers(text: str, metadata: dict, following) -> list:
    """The translated Markdown of one cell, split after each exercise (plain_markdown.ANSWER_MARK), with
    a Markdown answer cell there, unless the exercise ends the cell and an answer code cell follows."""
    import nbformat

    from scripts.plain_markdown import ANSWER_MARK

    parts = [part.strip("\n") for part in ("\n" + text + "\n").split(f"\n{ANSWER_MARK}\n")]
    cells = []
    for i, part in enumerate(parts):
        if part:
            cells.append(nbformat.v4.new_markdown_cell(part, metadata=dict(metadata) if not cells else {}))
        last = i == len(parts) - 1
        if not last and not (
            i == len(parts) - 2 and not parts[-1] and following is not None and is_answer_cell(following)
        ):
            cells.append(nbformat.v4.new_markdown_cell(ANSWER_PROMPT, metadata={"tags": ["answer"]}))
    return cells


def to_notebook(path: Path, *, for_tests: bool = False):
    """The student notebook of a chapter (no outputs): the set-up cell, then the chapter's cells with
    plain-Markdown text, a caption cell under each numbered figure (with the figure's alt text in words,
    which a notebook's output image lacks), and a closing References cell.

    After each exercise comes an answer cell: the chapter's code cell tagged ``answer`` (a stub and its
    check; tagged ``experiment`` too, an empty cell to run an experiment in, followed by a Markdown cell
    for what it shows), or else an empty Markdown cell for a written answer; the solution follows, folded.
    ``for_tests`` keeps nbval's markers in the code and leaves the answer cells and the self-test out
    (the copy tests/notebooks/ holds, with outputs: it runs the chapter, not what students fill in;
    tests/book/test_answer_cells.py and tests/exercises/test_selftest.py test those).
    """
    import nbformat

    from scripts import plain_markdown

    book, references, pages = _book()
    chapter = book[path.stem]
    translator = plain_markdown.Translator(chapter, book, references, source_dir=path.parent, pages=pages)
    notebook = read_chapter(path)
    # Folded: JupyterLab shows a one-line placeholder, Colab the #@title line (a "form").
    setup = nbformat.v4.new_code_cell(
        setup_cell_source(), metadata={"jupyter": {"source_hidden": True}, "cellView": "form"}
    )
    cells = [setup]
    source_cells = list(notebook.cells)
    for index, cell in enumerate(source_cells):
        if is_student_only(cell) and for_tests:
            continue  # the reference copies run the chapter, not the students' stubs and self-tests
        if cell.cell_type == "markdown":
            following = source_cells[index + 1] if index + 1 < len(source_cells) else None
            cells += split_at_answers(translator.translate(cell.source), cell.metadata, following)
            continue
        if cell.cell_type == "code" and not for_tests:
            cell.source = strip_test_markers(cell.source)
        cells.append(cell)
        if is_answer_cell(cell) and "experiment" in cell.metadata.get("tags", []):
            # an experiment: a code cell to run it, then a Markdown cell for what it shows
            cells.append(nbformat.v4.new_markdown_cell(ANSWER_PROMPT, metadata={"tags": ["answer"]}))
        figure = (cell.metadata.get("mystnb") or {}).get("figure") or {}
        if cell.cell_type == "code" and figure.get("name") in chapter.targets:
            caption = translator.inline(" ".join(str(figure.get("caption", "")).split()))
            text = f"**{chapter.targets[figure['name']].text}.** {caption}".rstrip()
            # JupyterLab and Colab give an output image no alt text: the description follows in words
            alt = " ".join(str(((cell.metadata.get("mystnb") or {}).get("image") or {}).get("alt", "")).split())
            if alt:
                text += f"\n\n*What the figure shows:* {translator.inline(alt)}"
            cells.append(nbformat.v4.new_markdown_cell(text))
    closing = translator.references_cell()
    if closing:
        cells.append(nbformat.v4.new_markdown_cell(closing))
    notebook.cells = cells
    for index, cell in enumerate(notebook.cells):
        cell.id = f"cell-{index:03d}"  # stable ids: clean diffs between runs
    return notebook
