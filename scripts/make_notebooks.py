"""Generate the notebooks from the MyST chapters in book/ (run by ``make notebooks``).

Each chapter listed in _toc.yml that is a jupytext notebook becomes two files with the same cells:

- ``notebooks/<name>.ipynb``, the student's copy: plain Markdown that reads well in JupyterLab and
  on Colab (scripts/plain_markdown.py), a first cell that installs the package where it is missing,
  and **no outputs**. A student who runs it sees the results of the mode they run (full, unless
  VAECOURSE_SMOKE is set), which are the results the text describes; nothing stored contradicts it,
  and no widget state (megabytes nobody can see without a kernel) is carried.
- ``tests/notebooks/<name>.ipynb``, the reference for nbval: the same cells (with nbval's markers),
  executed in smoke mode, keeping the text outputs nbval compares and dropping what it never compares
  (images, widget state). ``pytest`` runs them; they are test data, not for reading.

``python -m scripts.make_notebooks --no-execute`` rewrites the student copies, and the reference copies'
Markdown where their code is unchanged, in seconds (no execution). Neither folder is edited by hand;
tests/book/test_layout.py fails when one is out of date with book/.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path

from scripts.chapters import ROOT, chapter_sources, to_notebook

STUDENT_DIR = ROOT / "notebooks"
REFERENCE_DIR = ROOT / "tests" / "notebooks"
# Output data nbval never compares (nbval.plugin skip_compare): not worth storing in the reference.
NOT_COMPARED = (
    "image/png",
    "image/jpeg",
    "image/svg+xml",
    "application/vnd.jupyter.widget-view+json",
    "application/vnd.jupyter.widget-state+json",
)


def strip_machine_paths(text: str) -> str:
    """Remove this machine's paths from stored outputs (the repository, the home folder, kernel temp
    files), so the committed notebooks read the same for every machine."""
    text = text.replace(str(ROOT) + os.sep, "")
    text = text.replace(str(Path.home()), "~")
    return re.sub(r"/tmp/ipykernel_\d+/\d+\.py", "<cell>", text)


def clean_outputs(notebook) -> None:
    """Paths out of every text output; what nbval does not compare out of the reference copy."""
    notebook.metadata.pop("widgets", None)
    for cell in notebook.cells:
        cell.metadata.pop("execution", None)  # timestamps change on every run
        for output in cell.get("outputs", []):
            if "text" in output:
                output["text"] = strip_machine_paths(output["text"])
            data = output.get("data", {})
            for mime in NOT_COMPARED:
                data.pop(mime, None)
            for mime in ("text/plain", "text/html", "text/markdown"):
                if mime in data:
                    data[mime] = strip_machine_paths(data[mime])


def write(notebook, target: Path) -> None:
    import nbformat

    target.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, target)
    print(f"wrote {target.relative_to(ROOT)}")


def refresh_text(source: Path) -> None:
    """Bring the reference copy's Markdown up to date without executing, where its code is unchanged
    (outputs depend on the code only): the stored outputs move to the new cells one to one."""
    import nbformat

    target = REFERENCE_DIR / f"{source.stem}.ipynb"
    new = to_notebook(source, for_tests=True)
    if not target.exists():
        print(f"{target.relative_to(ROOT)} is missing: run `make notebooks`")
        return
    old = nbformat.read(target, as_version=4)
    old_code = [c for c in old.cells if c.cell_type == "code"]
    new_code = [c for c in new.cells if c.cell_type == "code"]
    if [c.source for c in old_code] != [c.source for c in new_code]:
        print(f"{target.relative_to(ROOT)}: its code changed, so its outputs are stale: run `make notebooks`")
        return
    for before, after in zip(old_code, new_code):
        after.outputs, after.execution_count = before.outputs, before.execution_count
    new.metadata = old.metadata
    write(new, target)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--no-execute",
        action="store_true",
        help="no execution: the student copies, and the references' Markdown where code is unchanged",
    )
    parser.add_argument(
        "--only",
        nargs="+",
        metavar="CHAPTER",
        help="execute only these chapters' reference copies (file stems, e.g. elbo); the rest stay as stored",
    )
    args = parser.parse_args(argv)

    wanted = {path.stem for path in chapter_sources()}
    unknown = set(args.only or []) - wanted
    if unknown:
        parser.error(f"not chapters in _toc.yml: {', '.join(sorted(unknown))} (give file stems, e.g. elbo)")
    for folder in (STUDENT_DIR, REFERENCE_DIR):
        for stale in folder.glob("*.ipynb"):
            if stale.stem not in wanted:
                stale.unlink()
                print(f"removed {stale.relative_to(ROOT)} (no longer in _toc.yml)")
    for source in chapter_sources():
        write(to_notebook(source), STUDENT_DIR / f"{source.stem}.ipynb")
    if args.no_execute:
        for source in chapter_sources():
            refresh_text(source)
        return 0

    from nbclient import NotebookClient

    # The same conditions as the test run (conftest.py): smoke mode, no downloads.
    os.environ["VAECOURSE_SMOKE"] = "1"
    os.environ["VAECOURSE_OFFLINE"] = "1"
    for source in chapter_sources():
        if args.only and source.stem not in args.only:
            refresh_text(source)
            continue
        notebook = to_notebook(source, for_tests=True)
        client = NotebookClient(
            notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(STUDENT_DIR)}}
        )
        client.execute()
        clean_outputs(notebook)
        write(notebook, REFERENCE_DIR / f"{source.stem}.ipynb")
    return 0


if __name__ == "__main__":
    sys.exit(main())
