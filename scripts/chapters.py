"""Which files are chapters, and how a MyST chapter becomes a notebook.

Shared by scripts/make_notebooks.py and the tests, so that both agree on the rules.
"""

from __future__ import annotations

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


def is_notebook(path: Path) -> bool:
    """A MyST file is an executable chapter when its front matter carries a jupytext header."""
    text = path.read_text()
    return text.startswith("---") and "jupytext:" in text.split("---", 2)[1]


def chapter_sources() -> list[Path]:
    """The executable chapters, in table-of-contents order."""
    paths = [ROOT / f"{name}.md" for name in toc_files()]
    return [path for path in paths if path.exists() and is_notebook(path)]


def to_notebook(path: Path):
    """Read a MyST chapter as an nbformat notebook (no outputs)."""
    import jupytext

    notebook = jupytext.read(path, fmt="md:myst")
    notebook.metadata.pop("jupytext", None)
    return notebook
