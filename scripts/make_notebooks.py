"""Generate notebooks/*.ipynb from the MyST chapters in book/ (run by ``make notebooks``).

Each chapter listed in _toc.yml that is a jupytext notebook becomes ``notebooks/<name>.ipynb`` with
the same cells in the same order, executed in smoke mode so that the students' copies carry outputs
and nbval can compare them. notebooks/ is never edited by hand; tests/test_layout.py fails when it is
out of date with book/.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from scripts.chapters import chapter_sources, to_notebook  # noqa: E402


def strip_machine_paths(text: str) -> str:
    """Remove this machine's paths from stored outputs (the repository, the home folder, kernel temp
    files), so the committed notebooks read the same for every student."""
    text = text.replace(str(ROOT) + os.sep, "")
    text = text.replace(str(Path.home()), "~")
    return re.sub(r"/tmp/ipykernel_\d+/\d+\.py", "<cell>", text)


def clean_outputs(notebook) -> None:
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            if "text" in output:
                output["text"] = strip_machine_paths(output["text"])
            data = output.get("data", {})
            for mime in ("text/plain", "text/html", "text/markdown"):
                if mime in data:
                    data[mime] = strip_machine_paths(data[mime])


def main() -> int:
    import nbformat
    from nbclient import NotebookClient

    # The same conditions as the test run (conftest.py): smoke mode, no downloads.
    os.environ["VAECOURSE_SMOKE"] = "1"
    os.environ["VAECOURSE_OFFLINE"] = "1"
    out_dir = ROOT / "notebooks"
    out_dir.mkdir(exist_ok=True)
    wanted = {path.stem for path in chapter_sources()}
    for stale in out_dir.glob("*.ipynb"):
        if stale.stem not in wanted:
            stale.unlink()
            print(f"removed {stale.relative_to(ROOT)} (no longer in _toc.yml)")
    for source in chapter_sources():
        notebook = to_notebook(source)
        client = NotebookClient(notebook, timeout=600, kernel_name="python3",
                                resources={"metadata": {"path": str(out_dir)}})
        client.execute()
        for index, cell in enumerate(notebook.cells):  # keep diffs clean between runs:
            cell.metadata.pop("execution", None)  # timestamps change on every run
            cell.id = f"cell-{index:03d}"  # nbformat would draw random ids
        clean_outputs(notebook)
        target = out_dir / f"{source.stem}.ipynb"
        nbformat.write(notebook, target)
        print(f"wrote {target.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
