"""The whole course as one PDF: jupyter-book's LaTeX builder (``jupyter-book build . --builder pdflatex``).

Needs TeX Live with latexmk: on Debian/Ubuntu

    apt-get install texlive-latex-recommended texlive-latex-extra texlive-fonts-recommended \\
        texlive-xetex latexmk fonts-freefont-otf

(TEX_PACKAGES below; the README's instructor section names the same line). Like ``make book`` it executes
every chapter (full mode unless ``VAECOURSE_SMOKE=1``). The PDF is copied to ``_build/pdf/vaecourse.pdf``.

Usage: ``python scripts/pdf.py [--path-output DIR]``; exit status 0 with the PDF's path, 1 with one line
saying what is missing or which step failed (the LaTeX log's last lines).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# The Debian packages the PDF needs, and the programs that show they are installed.
TEX_PACKAGES = (
    "texlive-latex-recommended",
    "texlive-latex-extra",
    "texlive-fonts-recommended",
    "texlive-xetex",
    "latexmk",
    "fonts-freefont-otf",
)
TEX_PROGRAMS = ("latexmk", "xelatex")


def missing_tex() -> list[str]:
    """The TeX programs the build needs that are not on PATH ([] when all are)."""
    return [program for program in TEX_PROGRAMS if shutil.which(program) is None]


def install_hint() -> str:
    return "apt-get install " + " ".join(TEX_PACKAGES)


def build(path_output: Path | None = None) -> Path:
    """Build the PDF; return its path. Raises RuntimeError saying what is missing or what failed."""
    missing = missing_tex()
    if missing:
        raise RuntimeError(f"TeX is not installed ({', '.join(missing)} not found): {install_hint()}")
    jupyter_book = Path(sys.executable).parent / "jupyter-book"
    command = [str(jupyter_book), "build", str(ROOT), "--builder", "pdflatex"]
    if path_output is not None:
        command += ["--path-output", str(path_output)]
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    result = subprocess.run(command, env=env, capture_output=True, text=True)
    build_dir = (path_output or ROOT) / "_build"
    (build_dir).mkdir(parents=True, exist_ok=True)
    (build_dir / "pdf-build.log").write_text(result.stdout + "\n" + result.stderr)
    # the book's PDF is named after its .tex (other PDFs there are pictures, e.g. the syllabus graph)
    pdfs = [tex.with_suffix(".pdf") for tex in (build_dir / "latex").glob("*.tex") if tex.with_suffix(".pdf").exists()]
    if result.returncode != 0 or not pdfs:
        tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-15:])
        raise RuntimeError(f"jupyter-book's LaTeX build failed (log: {build_dir / 'pdf-build.log'}):\n{tail}")
    target = build_dir / "pdf" / "vaecourse.pdf"
    target.parent.mkdir(exist_ok=True)
    shutil.copyfile(pdfs[-1], target)
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--path-output", type=Path, default=None, help="build into DIR/_build (default: here)")
    args = parser.parse_args(argv)
    try:
        pdf = build(args.path_output)
    except RuntimeError as error:
        print(f"pdf: {error}", file=sys.stderr)
        return 1
    print(f"The course as a PDF: {pdf}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
