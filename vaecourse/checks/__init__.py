"""One numerical (or symbolic) check for every step of the lecture's derivation, one file per chapter.

Each check compares two independent routes to one number (a closed form against
``torch.distributions``, Monte Carlo, quadrature or sympy) and returns a :class:`CheckResult`. The
checks of chapter ``book/<chapter>.md`` are in ``vaecourse/checks/<chapter>.py``, listed in its
``CHECKS``; the framework (judge, tolerances, seeds, runners) is in ``checks/_core.py``.
``checks.run("eq:central")`` runs one equation's checks, ``checks.run_all()`` all of them, in
book order; ``python -m vaecourse check`` (:func:`vaecourse.cli.check`) prints them and exits
non-zero if any fails.
"""

from __future__ import annotations

import importlib

import torch

from vaecourse.checks._core import MUST_EXCEED, RELATIONS, Z_SCORE, Check, CheckResult, results_table, run_checks

__all__ = [
    "Z_SCORE",
    "RELATIONS",
    "MUST_EXCEED",
    "Check",
    "CheckResult",
    "CHAPTERS",
    "CHECKS",
    "run",
    "run_all",
    "names",
    "labels",
    "results_table",
]

# The chapters that have checks, in _toc.yml order: the one list (an installed package has no _toc.yml to
# read; tests/checks/test_checks.py fails when this disagrees with _toc.yml or with the files in this folder).
CHAPTERS: tuple[str, ...] = (
    "marginal_likelihood",
    "kl_divergence",
    "bayes_rule",
    "elbo",
    "sgd",
    "reparameterisation",
    "kl_in_practice",
    "richer_posteriors",
    "diffusion",
    "ising_generative",
    "ising_sampler",
    "spectra",
)

CHECKS: list[Check] = [
    check for chapter in CHAPTERS for check in importlib.import_module(f"{__name__}.{chapter}").CHECKS
]


def names() -> list[str]:
    """Names of all checks, in book order."""
    return [c.name for c in CHECKS]


def labels() -> list[str]:
    """The distinct equation labels, in book order."""
    return list(dict.fromkeys(c.label for c in CHECKS))


def run_all(dtype: torch.dtype = torch.float64, device=None, seed: int = 0) -> list[CheckResult]:
    """Run every check; one :class:`CheckResult` each, in book order.

    ``dtype`` float64 (default) or float32; ``device`` defaults to
    :func:`vaecourse.device.default_device` (the CPU instead of Apple MPS, which lacks float64);
    ``seed`` fixes every random draw.
    """
    return run_checks(CHECKS, dtype, device, seed)


def run(key: str, dtype: torch.dtype = torch.float64, device=None, seed: int = 0) -> list[CheckResult]:
    """Run the checks whose name or equation label is ``key`` (e.g. ``"eq:central"``), as :func:`run_all`.

    Raises ``ValueError`` listing the valid labels when nothing matches.
    """
    chosen = [c for c in CHECKS if key in (c.name, c.label)]
    if not chosen:
        raise ValueError(f"no check named or labelled {key!r}; labels: {', '.join(labels())}")
    return run_checks(chosen, dtype, device, seed)
