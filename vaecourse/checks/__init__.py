"""One numerical (or symbolic) check for every step of the lecture's derivation, one file per chapter.

Each check compares two independent routes to one number (a closed form against
``torch.distributions``, Monte Carlo, quadrature or sympy) and returns a :class:`CheckResult`. The
checks of chapter ``book/<chapter>.md`` are in ``vaecourse/checks/<chapter>.py``, listed in its
``CHECKS``; the framework (judge, tolerances, seeds, runners) is in ``checks/_core.py``.
``checks.run("eq:central")`` runs one equation's checks, ``checks.run_all()`` all of them, in
book order; ``python -m vaecourse check`` prints them and exits non-zero if any fails.
"""

from __future__ import annotations

import argparse
import time

import torch

from vaecourse.checks import bayes_rule, elbo, kl_divergence, marginal_likelihood, reparameterisation, sgd
from vaecourse.checks._core import MUST_EXCEED, RELATIONS, Z_SCORE, Check, CheckResult, results_table, run_checks

__all__ = ["Z_SCORE", "RELATIONS", "MUST_EXCEED", "Check", "CheckResult", "CHECKS", "run", "run_all", "names",
           "labels", "results_table", "main"]

# the chapters in _toc.yml order
CHECKS: list[Check] = [
    *marginal_likelihood.CHECKS,
    *kl_divergence.CHECKS,
    *bayes_rule.CHECKS,
    *elbo.CHECKS,
    *sgd.CHECKS,
    *reparameterisation.CHECKS,
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


def main(argv: list[str] | None = None) -> int:
    """``python -m vaecourse check [--only KEY ...] [--float32] [--seed N] [--device D] [--list] [-v]``.

    Prints the results table and returns 0 when every check passes, 1 otherwise (2 for bad usage).
    """
    from vaecourse import settings

    parser = argparse.ArgumentParser(prog="python -m vaecourse check",
                                     description="Run the lecture's derivation checks.")
    parser.add_argument("--only", action="append", default=[], metavar="KEY",
                        help="run only this check name or equation label (repeatable)")
    parser.add_argument("--float32", action="store_true", help="run in float32 instead of float64")
    parser.add_argument("--seed", type=int, default=0, help="seed of every random draw (default 0)")
    parser.add_argument("--device", default=None, help="device (default: the course's automatic choice)")
    parser.add_argument("--list", action="store_true", help="list the check names and labels and exit")
    parser.add_argument("-v", "--verbose", action="store_true", help="print each statement and tolerance rule")
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:
        return int(exit_.code or 0)
    if args.list:
        for check in CHECKS:
            print(f"{check.label:<26} {check.name:<38} {check.statement}")
        return 0
    dtype = torch.float32 if args.float32 else torch.float64
    start = time.perf_counter()
    try:
        if args.only:
            results = [r for key in args.only for r in run(key, dtype=dtype, device=args.device, seed=args.seed)]
        else:
            results = run_all(dtype=dtype, device=args.device, seed=args.seed)
    except ValueError as error:
        print(f"vaecourse check: {error}")
        return 2
    print(results_table(results, verbose=args.verbose))
    failed = [r.name for r in results if not r.passed]
    seconds = time.perf_counter() - start
    print(f"\n{len(results) - len(failed)}/{len(results)} checks passed in {seconds:.1f} s "
          f"({settings.mode()} mode, {str(dtype).replace('torch.', '')}, seed {args.seed})")
    if failed:
        print("FAILED: " + ", ".join(failed))
        return 1
    return 0
