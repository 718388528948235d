"""The stored reference outputs (tests/notebooks/) print nothing that differs between processors.

nbval compares every stored text output with a fresh run. Digits below what the computation guarantees
(round-off: 1e-16 on one processor is -1.1e-16 or 0.0 on another, with another vector unit, BLAS build
or thread count) would fail the comparison on a student's machine for no reason about the course. The
chapters print what the reader needs instead ("agree to 1e-12: yes", the check table's "<1e-8"), and
this test fails when a stored output prints round-off. It uses the definition of round-off that
tests/nbval_sanitize.cfg masks, so the two cannot drift apart.
"""

from __future__ import annotations

import configparser
import json
import re

import pytest

from tests.paths import ROOT

NOTEBOOKS = sorted((ROOT / "tests" / "notebooks").glob("*.ipynb"))


def round_off_pattern() -> re.Pattern:
    config = configparser.ConfigParser(interpolation=None)
    config.read(ROOT / "tests" / "nbval_sanitize.cfg")
    (section,) = [s for s in config.sections() if s.startswith("round-off")]
    return re.compile(config[section]["regex"])


# Not round-off, though the sanitiser masks them too: a stated bound ("< 1e-12", "agree to 1e-12"), a
# power of ten (a tolerance the code sets), and a p-value (a probability, however small).
STATED = re.compile(r"(?:<=?|\bto|\bp\s*=|\bp_\w*:\s*of)\s*$")


def prints_round_off(line: str, pattern: re.Pattern) -> bool:
    """Whether ``line`` shows a round-off number: one the pattern finds that is not a stated bound."""
    for match in pattern.finditer(line):
        number = match.group(0).lstrip("+-")
        if re.fullmatch(r"1e-\d+", number) or STATED.search(line[: match.start()]):
            continue
        return True
    return False


def stored_text(path) -> list[tuple[int, str]]:
    """(cell index, line) of every text output line of a stored notebook."""
    lines = []
    for index, cell in enumerate(json.loads(path.read_text())["cells"]):
        for output in cell.get("outputs", []):
            text = output.get("text") or output.get("data", {}).get("text/plain", "")
            text = "".join(text) if isinstance(text, list) else text
            lines += [(index, line) for line in text.splitlines()]
    return lines


def test_the_pattern_finds_round_off_and_leaves_results_alone():
    pattern = round_off_pattern()
    for line in ("largest difference: 4.4e-16", "sinh(2 / T_C) - 1: -1.1e-16", "x  0.0e+00  pass", "8.882e-16"):
        assert pattern.search(line), line
    for line in ("lr 1e-3", "tolerance 1.000e-08 is fine", "-132.178", "error <1e-8", "3.2e+05 images"):
        assert not pattern.search(line), line
    for line in ("agree to 1e-12: True", "identity_error: 1e-12", "diff   < 1e-12", "p = 4.01e-223"):
        assert not prints_round_off(line, pattern), line
    for line in ("largest difference: 4.4e-16", "quad_error: 7e-15", "0.0e+00"):
        assert prints_round_off(line, pattern), line


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_no_stored_output_prints_round_off(path):
    pattern = round_off_pattern()
    found = [f"cell {i}: {line.strip()}" for i, line in stored_text(path) if prints_round_off(line, pattern)]
    assert not found, (
        f"{path.name} stores outputs that print round-off, which differs between processors:\n"
        + "\n".join(found[:10])
        + "\nPrint what the reader needs (e.g. 'agree to 1e-12: yes'), then `make notebooks`."
    )
