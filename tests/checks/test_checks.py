"""The derivation checks pass, are listed in book order beside their chapters, and are judged by simple rules.

The mutation tests (each check fails when the formula it guards is broken) are in
tests/checks/test_mutations.py.
"""

from __future__ import annotations

import importlib
import math
import pkgutil
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from scripts.chapters import toc_files
from tests.paths import ROOT
from vaecourse import checks, cli, kl
from vaecourse.checks import _core


def _toc_chapters() -> list[str]:
    """Every page of _toc.yml, in book order, as a file stem ("elbo")."""
    return [Path(name).name for name in toc_files()]


def _check_files() -> list[str]:
    """The chapters that have a check file in vaecourse/checks/ (``_core`` and other helpers excluded), in book
    order."""
    files = {m.name for m in pkgutil.iter_modules(checks.__path__) if not m.name.startswith("_")}
    assert files <= set(_toc_chapters()), f"check files of no chapter in _toc.yml: {files - set(_toc_chapters())}"
    return [chapter for chapter in _toc_chapters() if chapter in files]


def _defined_labels(chapter: str) -> list[str]:
    """The equation labels defined in book/<chapter>.md (``$$ (eq:...)``), in the order they appear."""
    return re.findall(r"\$\$\s*\((eq:[\w-]+)\)", (ROOT / "book" / f"{chapter}.md").read_text())


@pytest.fixture(scope="module")
def results():
    return checks.run_all()


def test_every_check_passes_in_float64(results):
    failed = [r for r in results if not r.passed]
    assert failed == [], checks.results_table(failed, verbose=True)


def test_every_check_passes_in_float32_with_another_seed():
    results = checks.run_all(dtype=torch.float32, seed=3)
    failed = [r for r in results if not r.passed]
    assert failed == [], checks.results_table(failed, verbose=True)


def test_each_check_file_holds_the_labels_of_its_chapter():
    for chapter in _check_files():
        module = importlib.import_module(f"vaecourse.checks.{chapter}")
        defined = _defined_labels(chapter)
        assert module.CHECKS, chapter
        for check in module.CHECKS:
            assert check.label in defined, f"{check.name}: {check.label} is not defined in book/{chapter}.md"


def test_checks_run_in_book_order():
    """Chapters in _toc.yml order, labels in the order each chapter defines them."""
    order = [label for chapter in _toc_chapters() for label in _defined_labels(chapter)]
    assert checks.labels() == sorted(checks.labels(), key=order.index)
    assert list(checks.CHAPTERS) == _check_files(), "checks.CHAPTERS must list every check file in _toc.yml order"


def test_names_are_unique_and_results_complete(results):
    assert len(set(checks.names())) == len(checks.names()) == len(results)
    for r in results:
        assert r.label in checks.labels() and r.relation in checks.RELATIONS
        assert r.tolerance_rule and r.method and r.statement
        assert math.isfinite(r.lhs) and math.isfinite(r.rhs) and math.isfinite(r.tolerance)


def test_monte_carlo_tolerances_state_their_standard_errors(results):
    statistical = [r for r in results if "standard errors" in r.tolerance_rule]
    assert len(statistical) >= 15
    for r in statistical:
        assert "n=" in r.tolerance_rule or "repeats=" in r.tolerance_rule


def test_every_check_states_its_seed_and_shared_seeds_share_a_setup():
    seeds = {c.name: c.seed for c in checks.CHECKS}
    assert all(s > 0 for s in seeds.values())
    assert seeds["ess-prior-collapses"] == seeds["ess-exact-posterior"]  # the same model
    assert seeds["iwae-below-log-px"] == seeds["iwae-tighter-than-elbo"]  # the same IWAE curve


@pytest.mark.parametrize(
    "relation, lhs, rhs, tolerance, error, passed",
    [
        ("==", 1.0, 1.5, 0.6, 0.5, True),
        ("==", 1.0, 1.5, 0.4, 0.5, False),
        ("<=", 1.0, 2.0, 0.0, 0.0, True),
        ("<=", 2.5, 2.0, 0.4, 0.5, False),
        (">=", 2.0, 1.0, 0.0, 0.0, True),
        (">=", 1.0, 1.3, 0.4, 0.3, True),
        (">", 3.0, 1.0, 1.5, 2.0, True),  # must_exceed: lhs - rhs >= margin
        (">", 3.0, 1.0, 2.5, 2.0, False),
        (">", 1.0, 3.0, 0.1, -2.0, False),  # the wrong way round never passes
        ("==", float("nan"), 1.0, 1.0, None, False),
    ],
)
def test_the_judge(relation, lhs, rhs, tolerance, error, passed):
    got_error, got_passed = _core.judge(relation, lhs, rhs, tolerance)
    assert got_passed is passed
    if error is not None:
        assert got_error == pytest.approx(error)


def test_outcomes_refuse_an_unknown_relation_and_cannot_be_edited():
    with pytest.raises(ValueError, match="relation must be one of"):
        _core.Outcome(1.0, 1.0, 0.0, "m", "r", relation="!=")
    out = _core.must_exceed(2.0, 1.0, 0.5, "m", "r")
    assert out.relation == checks.MUST_EXCEED
    with pytest.raises(AttributeError):
        out.tolerance += 1e-6


def test_run_by_label_and_by_name():
    central = checks.run("eq:central")
    assert {r.label for r in central} == {"eq:central"} and len(central) == 2
    one = checks.run("kl-asymmetric")
    assert [r.name for r in one] == ["kl-asymmetric"] and one[0].passed
    with pytest.raises(ValueError, match="eq:marginal"):
        checks.run("eq:nonsense")


def test_results_table_lists_every_check(results):
    table = checks.results_table(results)
    for r in results:
        assert r.name in table
    assert "FAIL" not in table
    assert "tolerance:" in checks.results_table(results[:2], verbose=True)


def _kl_without_minus_k(mu0, cov0, mu1, cov1):
    return kl.kl_gaussians(mu0, cov0, mu1, cov1) + 0.5 * mu0.shape[-1]


def test_check_command_exit_codes(capsys, monkeypatch):
    """`python -m vaecourse check` (cli.check): 0 when all pass, 1 on a failure, 2 with one stderr line."""
    assert cli.check(["--only", "eq:kl-gaussians", "--only", "kl-asymmetric"]) == 0
    out = capsys.readouterr().out
    assert "kl-gaussians-vs-torch" in out and "2/2 checks passed" in out
    assert cli.check(["--only", "eq:nope"]) == 2
    assert capsys.readouterr().err.startswith("vaecourse check: error: no check named")
    if not torch.cuda.is_available():
        assert cli.check(["--device", "cuda"]) == 2
        assert "CUDA is not available" in capsys.readouterr().err
    assert cli.check(["--list"]) == 0
    assert "eq:training-objective" in capsys.readouterr().out
    monkeypatch.setattr(kl, "kl_gaussians", _kl_without_minus_k)
    assert cli.check(["--only", "eq:kl-gaussians"]) == 1
    assert "FAIL" in capsys.readouterr().out


def test_python_m_vaecourse_check_runs():
    done = subprocess.run(
        [sys.executable, "-m", "vaecourse", "check", "--only", "eq:kl-standard-normal"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "3/3 checks passed" in done.stdout


def test_a_check_that_raises_is_reported_as_failed(monkeypatch):
    def explode(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(kl, "kl_gaussians", explode)
    (result,) = checks.run("kl-gaussians-vs-torch")
    assert not result.passed and "boom" in result.method


def test_the_table_prints_round_off_as_below_its_floor_not_as_digits():
    """Round-off digits differ between processors; the stored notebooks compare the table's text."""
    from vaecourse.checks._core import CheckResult

    fields = dict(label="eq:x", name="x", statement="s", method="m", tolerance_rule="r", seconds=0.0)
    tiny = CheckResult(**fields, lhs=-2.2e-16, relation="==", rhs=0.0, error=2.2e-16, tolerance=4.4e-11, passed=True)
    row = checks.results_table([tiny]).splitlines()[-1].split()
    assert row[2:] == ["0", "==", "0", "<1e-8", "<1e-8", "pass"]
    large = CheckResult(**fields, lhs=2.5, relation="==", rhs=2.5, error=3e-3, tolerance=1e-2, passed=True)
    assert checks.results_table([large]).splitlines()[-1].split()[2:] == [
        "2.500000",
        "==",
        "2.500000",
        "0.003000",
        "0.010000",
        "pass",
    ]
