"""The book builds (smoke mode) with zero warnings, and every chapter is there with its outputs."""

from __future__ import annotations

from pathlib import Path

import pytest

from scripts.chapters import ROOT, chapter_sources, toc_files


@pytest.mark.slow
def test_every_toc_entry_has_a_page(built_book: Path):
    assert (built_book / "index.html").exists()
    missing = [name for name in toc_files() if not (built_book / f"{name}.html").exists()]
    assert missing == []


@pytest.mark.slow
@pytest.mark.parametrize("source", chapter_sources(), ids=lambda p: p.stem)
def test_chapter_pages_carry_executed_outputs(built_book: Path, source: Path):
    html = (built_book / source.relative_to(ROOT).with_suffix(".html")).read_text()
    assert "cell_output" in html, f"{source.name}: no executed output on its page"
    assert "Traceback" not in html


@pytest.mark.slow
def test_intro_reports_version_and_device(built_book: Path):
    import vaecourse

    html = (built_book / "book" / "intro.html").read_text()
    assert f"vaecourse version: {vaecourse.__version__}" in html
    assert "run mode:          smoke" in html
