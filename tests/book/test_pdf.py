"""scripts/pdf.py (`make pdf`): the whole course as one PDF through jupyter-book's LaTeX builder. Its text
(pdftotext) has every chapter's title, the chapters' numbered equations, the bibliography's entries, and a
line where each widget would be.

Building it executes every chapter (smoke mode here) and runs LaTeX: minutes. Without TeX Live the tests
skip and say what to install. The build runs in ``make test-pdf`` (``VAECOURSE_PDF_BUILD=1``), not in
``make test``, to keep that within CI's time; ``VAECOURSE_PDF=path/to/vaecourse.pdf`` checks a PDF built
earlier instead.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from scripts import pdf
from scripts.chapters import ROOT
from tests.system_packages import IN_CI


@pytest.fixture(scope="module")
def course_pdf(tmp_path_factory) -> Path:
    given = os.environ.get("VAECOURSE_PDF")
    if given:
        return Path(given)
    if os.environ.get("VAECOURSE_PDF_BUILD") != "1":
        pytest.skip(
            "building the whole PDF executes every chapter and runs LaTeX (up to 20 minutes on 2 cores): "
            "`make test-pdf` runs these tests (the README, for instructors)"
        )
    missing = pdf.missing_tex()
    if missing:
        pytest.skip(f"TeX is not installed ({', '.join(missing)} not found): {pdf.install_hint()}")
    out = tmp_path_factory.mktemp("pdf")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("VAECOURSE_SMOKE", "1")
        patch.setenv("VAECOURSE_OFFLINE", "1")
        return pdf.build(path_output=out)


@pytest.fixture(scope="module")
def text(course_pdf: Path) -> str:
    """The PDF's text, hyphenation undone, whitespace and quotes made plain."""
    if shutil.which("pdftotext") is None:
        message = "pdftotext is missing: install Debian's poppler-utils (apt-get install poppler-utils)"
        pytest.fail(message) if IN_CI else pytest.skip(message)
    raw = subprocess.run(["pdftotext", "-enc", "UTF-8", str(course_pdf), "-"], capture_output=True, text=True).stdout
    raw = re.sub(r"(\w)-\n(\w)", r"\1\2", raw)
    return _plain(raw)


def _plain(text: str) -> str:
    text = text.replace("\u2019", "'").replace("\u2018", "'").replace("\u201c", '"').replace("\u201d", '"')
    text = text.replace("\ufb01", "fi").replace("\ufb02", "fl").replace("\u2013", "-").replace("\u2014", "-")
    return " ".join(text.split())


def _chapters() -> list[tuple[str, str, int]]:
    """(stem, title, number of labelled equations) of every numbered chapter, from _toc.yml and the MyST."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    out = []
    for part in toc["parts"]:
        for entry in part["chapters"] if part.get("numbered") else []:
            source = (ROOT / f"{entry['file']}.md").read_text()
            title = re.search(r"^# (.+)$", source, re.M)[1]
            labelled = len(re.findall(r"^\$\$\s*\([^)]+\)\s*$", source, re.M))
            out.append((Path(entry["file"]).name, _plain(re.sub(r"[`*]", "", title)), labelled))
    return out


@pytest.mark.slow
def test_every_chapter_title_is_in_the_pdf(text):
    missing = [title for _, title, _ in _chapters() if title not in text]
    assert missing == [], f"chapters missing from the PDF: {missing}"


@pytest.mark.slow
def test_the_equations_carry_the_website_numbers(text):
    """Chapter n's k labelled equations are numbered (n.1) ... (n.k) in the PDF, as on the website."""
    numbered = [(n, count) for n, (_, _, count) in enumerate(_chapters(), start=1) if count]
    assert numbered
    missing = [f"({n}.{k})" for n, count in numbered for k in range(1, count + 1) if f"({n}.{k})" not in text]
    assert missing == [], f"equation numbers missing from the PDF: {missing}"


def _letters(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.lower())


@pytest.mark.slow
def test_the_bibliography_lists_every_work(text):
    from pybtex.database import parse_file

    entries = parse_file(str(ROOT / "references.bib")).entries
    letters = _letters(text)
    missing = [
        key
        for key, entry in entries.items()
        if _letters(" ".join(re.sub(r"\\[a-zA-Z]+|[{}]", "", entry.fields["title"]).split()[:5])) not in letters
    ]
    assert missing == [], f"bibliography entries missing from the PDF: {missing}"


@pytest.mark.slow
def test_widgets_say_where_they_run_live(text):
    widget_chapters = [p.stem for p in (ROOT / "book").glob("*.md") if "widgets." in p.read_text()]
    assert widget_chapters
    for stem in widget_chapters:
        assert f"notebooks/{stem}.ipynb" in text.replace(" ", "")
    assert "Interactive widget: it runs live" in text


def test_without_tex_the_build_says_what_to_install(monkeypatch):
    monkeypatch.setattr(pdf.shutil, "which", lambda name: None)
    with pytest.raises(RuntimeError, match="apt-get install texlive-latex-recommended"):
        pdf.build()


def test_a_widget_becomes_a_line_naming_its_own_chapter(tmp_path):
    """Sphinx's LaTeX writer (no TeX needed) on two small chapters, each with a widget view: each becomes the
    line naming that chapter's notebook, in the one .tex the builder assembles; the HTML build keeps them."""
    import sys

    src = tmp_path / "src"
    src.mkdir()
    widget = '```{raw} html\n<script type="application/vnd.jupyter.widget-view+json">{}</script>\n```\n'
    for stem in ("first", "second"):
        (src / f"{stem}.md").write_text(f"# Chapter {stem}\n\nText.\n\n{widget}")
    (src / "index.md").write_text("# Book\n\n```{toctree}\nfirst\nsecond\n```\n")
    (src / "conf.py").write_text(
        f"import sys\nsys.path.insert(0, {str(ROOT / 'scripts')!r})\n"
        "extensions = ['myst_nb', 'latex_pdf']\n"
        "html_theme_options = {'repository_url': 'https://example.org/course', 'repository_branch': 'main'}\n"
    )
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    for builder in ("latex", "html"):
        build = subprocess.run(
            [sys.executable, "-m", "sphinx", "-q", "-b", builder, str(src), str(tmp_path / builder)],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
        )
        assert build.returncode == 0, build.stderr[-3000:]
    tex = _plain(next((tmp_path / "latex").glob("*.tex")).read_text())
    assert tex.count("Interactive widget: it runs live") == 2
    assert tex.index("notebooks/first.ipynb") < tex.index("notebooks/second.ipynb")
    assert "widget-view+json" not in tex
    assert (tmp_path / "latex" / "bbm.sty").exists()
    assert "widget-view+json" in (tmp_path / "html" / "first.html").read_text()
