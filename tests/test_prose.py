"""vaecourse.prose: quoted numbers reach the text, and a claim the output refutes stops the build."""

from __future__ import annotations

import pytest

from scripts.plain_markdown import ROLES
from vaecourse import prose


def test_quote_formats_once_and_prints_the_name_in_a_notebook(monkeypatch, capsys):
    monkeypatch.delenv(prose.BOOK_BUILD, raising=False)
    text = prose.quote("gap_flow", 14.4367, "{:.1f}")
    assert text == "14.4"
    assert repr(text) == "14.4"  # what {glue:text} shows: no quotes around it
    assert capsys.readouterr().out == "gap_flow: 14.4\n"


def test_quote_glues_the_text_in_the_book_build_and_prints_nothing(monkeypatch, capsys):
    glued = []
    monkeypatch.setenv(prose.BOOK_BUILD, "1")
    monkeypatch.setattr("myst_nb.glue", lambda name, value, display: glued.append((name, repr(value), display)))
    assert prose.quote("units_active", 15, "{:d}") == "15"
    assert glued == [("units_active", "15", False)]
    assert capsys.readouterr().out == ""


def test_quote_refuses_a_name_the_notebook_cannot_show():
    with pytest.raises(ValueError, match="identifier"):
        prose.quote("gap flow", 1.0)


def test_a_claim_that_holds_is_silent_and_one_that_fails_names_the_sentence(monkeypatch, capsys):
    monkeypatch.delenv("VAECOURSE_SMOKE", raising=False)
    prose.claim(2 < 3, "two is less than three")
    assert capsys.readouterr().out == ""
    with pytest.raises(prose.ClaimError, match="the flow halves the gap"):
        prose.claim(14.4 > 0.5 * 33.9, "the flow halves the gap")


def test_a_claim_marked_for_full_size_is_skipped_in_smoke_mode_only(monkeypatch):
    reason = "five epochs are too few for the flow to pull ahead"
    monkeypatch.setenv("VAECOURSE_SMOKE", "1")
    prose.claim(False, "the flow wins", unchecked_in_smoke=reason)
    with pytest.raises(prose.ClaimError):
        prose.claim(False, "the flow wins")  # no reason given: asserted in smoke mode too
    monkeypatch.setenv("VAECOURSE_SMOKE", "0")
    with pytest.raises(prose.ClaimError):
        prose.claim(False, "the flow wins", unchecked_in_smoke=reason)
    with pytest.raises(ValueError, match="say why"):
        prose.claim(True, "the flow wins", unchecked_in_smoke=" ")


def test_the_notebook_text_names_the_quoted_number():
    assert ROLES["glue:text"](None, "gap_flow", "glue:text") == "`gap_flow`"
    assert ROLES["glue"](None, "gap_flow", "glue") == "`gap_flow`"


def test_the_book_build_extension_sets_the_switch(monkeypatch):
    from scripts import quoted_numbers

    monkeypatch.delenv(prose.BOOK_BUILD, raising=False)
    quoted_numbers.setup(app=None)
    assert prose.in_book_build()
