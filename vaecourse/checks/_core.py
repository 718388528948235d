"""The check framework: a check, its outcome, the relation judge, the runners and the table.

A check compares two independent routes to one number and returns an :class:`Outcome`; the
runner judges it into a :class:`CheckResult`. The checks themselves live one file per chapter
(``vaecourse/checks/<chapter>.py``, chapter ``book/<chapter>.md``), each ending in ``CHECKS = [...]``;
``checks/__init__.py`` lists them in book order and selects what to run.

Tolerances: a Monte Carlo comparison allows ``Z_SCORE = 5`` standard errors, estimated from the
same samples (a false alarm has probability below 1e-6 per compared number), plus the rounding
floor ``1000 * eps(dtype) * max(1, |value|)``; a closed-form comparison allows the floor only.
Every tolerance is stated when the outcome is made, with the rule that gives it.

Seeds: each :class:`Check` states its ``seed`` (11, 12, ... 122: roughly ten times the lecture's
equation number plus an index, kept from the first version so every printed number stays the
same). Its random draws come from ``run_seed * 1000 + seed + offset`` (:meth:`Context.randn`,
:meth:`Context.seeded`, small offsets 0, 1, 2 ... within the check), its models from
``LinearGaussian.random(seed=seed)``; checks that share a model share a seed.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field

import torch

from vaecourse import linear_gaussian as lg

Z_SCORE = 5.0
MUST_EXCEED = ">"  # the one rule where a larger difference is better
RELATIONS = ("==", "<=", ">=", MUST_EXCEED)


@dataclass(frozen=True)
class CheckResult:
    """The judged outcome of one check: the claim ``lhs relation rhs``, its error and tolerance.

    ``==``: error ``|lhs - rhs|``; ``<=``/``>=``: error = how much the inequality is violated (0 when
    it holds); these pass when ``error <= tolerance``. ``>`` (:func:`must_exceed`): error = the
    margin ``lhs - rhs``, tolerance = the margin required; passes when ``error >= tolerance``.
    ``method`` names the two routes; ``tolerance_rule`` says where the tolerance comes from.
    """

    name: str
    label: str
    statement: str
    method: str
    lhs: float
    relation: str
    rhs: float
    error: float
    tolerance: float
    passed: bool
    tolerance_rule: str
    seconds: float = 0.0

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Outcome:
    """What a check returns: both sides, the relation and the tolerance (stated, never edited)."""

    lhs: float
    rhs: float
    tolerance: float
    method: str
    tolerance_rule: str
    relation: str = "=="

    def __post_init__(self):
        if self.relation not in RELATIONS:
            raise ValueError(f"relation must be one of {RELATIONS}, got {self.relation!r}")


def must_exceed(lhs: float, rhs: float, margin: float, method: str, rule: str) -> Outcome:
    """The claim "lhs exceeds rhs by at least ``margin``" (relation ``>``): passes when lhs - rhs >= margin."""
    return Outcome(float(lhs), float(rhs), float(margin), method, rule, relation=MUST_EXCEED)


def judge(relation: str, lhs: float, rhs: float, tolerance: float) -> tuple[float, bool]:
    """(error, passed) of the claim ``lhs relation rhs``; anything non-finite fails."""
    if not all(math.isfinite(v) for v in (lhs, rhs, tolerance)):
        return float("nan"), False
    if relation == MUST_EXCEED:
        margin = lhs - rhs
        return margin, margin >= tolerance
    error = {"==": abs(lhs - rhs), "<=": max(0.0, lhs - rhs), ">=": max(0.0, rhs - lhs)}[relation]
    return error, error <= tolerance


@dataclass(frozen=True)
class Check:
    """One check: a name, the book label it guards, the claim in words, the function and its seed."""

    name: str
    label: str
    statement: str
    fn: Callable[[Context], Outcome]
    seed: int = 0


@dataclass
class Context:
    """What a check function gets: dtype, device, the run's seed, its own seed, a per-run cache."""

    dtype: torch.dtype
    device: torch.device
    run_seed: int
    seed: int = 0  # the check's seed (Check.seed)
    cache: dict = field(default_factory=dict)  # results shared within one run (the IWAE curve)

    def tensor(self, value) -> torch.Tensor:
        return torch.as_tensor(value, dtype=self.dtype, device=self.device)

    def randn(self, *shape, offset: int = 0) -> torch.Tensor:
        """Standard normals from seed run_seed * 1000 + seed + offset (drawn on the CPU in float64)."""
        gen = torch.Generator().manual_seed(self.run_seed * 1000 + self.seed + offset)
        return torch.randn(*shape, generator=gen, dtype=torch.float64).to(self.device, self.dtype)

    @contextmanager
    def seeded(self, offset: int = 0):
        """Fork the global torch RNG, seed it with run_seed * 1000 + seed + offset, restore it afterwards."""
        devices = [self.device] if self.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(self.run_seed * 1000 + self.seed + offset)
            yield

    def floor(self, scale: float = 1.0) -> float:
        """Rounding tolerance: 1000 * eps(dtype) * max(1, |scale|)."""
        return 1000 * torch.finfo(self.dtype).eps * max(1.0, abs(float(scale)))

    def model(self, **kwargs) -> lg.LinearGaussian:
        """``LinearGaussian.random`` with the check's seed, in the run's dtype and device."""
        return lg.LinearGaussian.random(dtype=self.dtype, device=self.device, seed=self.seed, **kwargs)


# ============================================================================================
# outcomes (the test problems shared by several chapters are in checks/_problems.py)
# ============================================================================================


def mean_se(samples: torch.Tensor, dim: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and standard error along ``dim``."""
    return samples.mean(dim), samples.std(dim) / math.sqrt(samples.shape[dim])


def worst(lhs: torch.Tensor, rhs: torch.Tensor, tol: torch.Tensor) -> tuple[float, float, float]:
    """The element with the largest |lhs - rhs| / tol (NaN counts as worst)."""
    lhs, rhs, tol = torch.broadcast_tensors(lhs.detach(), rhs.detach(), torch.as_tensor(tol).to(lhs).detach())
    ratio = ((lhs - rhs).abs() / tol).reshape(-1)
    ratio = torch.where(torch.isnan(ratio), torch.full_like(ratio, float("inf")), ratio)
    i = int(torch.argmax(ratio))
    return float(lhs.reshape(-1)[i]), float(rhs.reshape(-1)[i]), float(tol.reshape(-1)[i])


def mc_outcome(
    ctx: Context, lhs, rhs, se, method: str, n: int, what: str = "Monte Carlo", extra: float = 0.0, why: str = ""
) -> Outcome:
    """lhs == rhs up to Z_SCORE standard errors ``se`` + rounding (+ ``extra``, for ``why``); worst element."""
    rhs_t = torch.as_tensor(rhs).to(lhs)
    tol = Z_SCORE * se + ctx.floor(float(rhs_t.abs().max())) + extra
    l_, r_, t_ = worst(lhs, rhs_t, tol)
    rule = f"{Z_SCORE:g} standard errors of the {what} estimate (n={n}) + rounding" + (f" + {why}" if why else "")
    return Outcome(l_, r_, t_, method, rule)


def closed_outcome(ctx: Context, lhs, rhs, method: str, extra: float = 0.0, why: str = "") -> Outcome:
    """lhs == rhs up to rounding (+ ``extra``, for ``why``); worst element."""
    rhs_t = torch.as_tensor(rhs).to(lhs)
    tol = extra + ctx.floor(float(rhs_t.abs().max()))
    l_, r_, t_ = worst(lhs, rhs_t, torch.full_like(rhs_t, tol))
    rule = "rounding: 1000 eps(dtype) max(1, |value|)" + (f" + {why}" if why else "")
    return Outcome(l_, r_, t_, method, rule)


# ============================================================================================
# running and the table (checks/__init__.py selects the checks: run, run_all)
# ============================================================================================


def _resolve_device(device) -> torch.device:
    from vaecourse.device import default_device

    if device is not None:
        return default_device(str(device))  # ValueError if that device is not available here
    chosen = default_device()
    # Apple's MPS has no float64, and these checks are tiny: the CPU is the right place there.
    return torch.device("cpu") if chosen.type == "mps" else chosen


def run_checks(checks: list[Check], dtype=torch.float64, device=None, seed: int = 0) -> list[CheckResult]:
    """Run the given checks in one run (one seed, one cache) and judge each; see :func:`vaecourse.checks.run_all`."""
    if dtype not in (torch.float32, torch.float64):
        raise ValueError(f"dtype must be torch.float32 or torch.float64, got {dtype}")
    device, cache = _resolve_device(device), {}
    # The checks use tensors of at most a few hundred thousand numbers: on the CPU, one thread is
    # several times faster than a pool (whose start-up and contention dominate). Restored after.
    threads = torch.get_num_threads()
    if device.type == "cpu":
        torch.set_num_threads(1)
    try:
        return [_run_one(check, Context(dtype, device, seed, check.seed, cache)) for check in checks]
    finally:
        torch.set_num_threads(threads)


def _run_one(check: Check, ctx: Context) -> CheckResult:
    start = time.perf_counter()
    try:
        out = check.fn(ctx)
        error, passed = judge(out.relation, float(out.lhs), float(out.rhs), float(out.tolerance))
        result = CheckResult(
            check.name,
            check.label,
            check.statement,
            out.method,
            float(out.lhs),
            out.relation,
            float(out.rhs),
            error,
            float(out.tolerance),
            bool(passed),
            out.tolerance_rule,
        )
    except Exception as exc:  # a check that raises has failed; report it instead of aborting the table
        nan = float("nan")
        result = CheckResult(
            check.name,
            check.label,
            check.statement,
            f"raised {type(exc).__name__}: {exc}",
            nan,
            "==",
            nan,
            nan,
            nan,
            False,
            "-",
        )
    return CheckResult(**{**result.as_dict(), "seconds": time.perf_counter() - start})


# Below this, a difference or a tolerance is round-off: its digits change with the processor's vector unit,
# the BLAS build and the thread count, so the table says only that it is below (the test compares tables).
ROUND_OFF = 1e-8


def _fmt(value: float, round_off: str = "0") -> str:
    """A table cell: six decimals, or three significant digits; round-off (< ROUND_OFF) as ``round_off``."""
    if math.isnan(value):
        return "nan"
    if value == 0:
        return "0"
    if abs(value) < ROUND_OFF:
        return round_off
    if 1e-3 <= abs(value) < 1e5:
        return f"{value:.6f}"
    return f"{value:.3e}"


def results_table(results: list[CheckResult], verbose: bool = False) -> str:
    """A fixed-width text table of results; ``verbose`` adds each statement, method and tolerance rule."""
    header = ("label", "check", "lhs", "rel", "rhs", "error", "tolerance", "ok")
    rows = [
        (
            r.label,
            r.name,
            _fmt(r.lhs),
            r.relation,
            _fmt(r.rhs),
            _fmt(r.error, "<1e-8"),
            _fmt(r.tolerance, "<1e-8"),
            "pass" if r.passed else "FAIL",
        )
        for r in results
    ]
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(str(cell).ljust(w) for cell, w in zip(header, widths)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    for r, row in zip(results, rows):
        lines.append("  ".join(str(cell).ljust(w) for cell, w in zip(row, widths)).rstrip())
        if verbose or not r.passed:
            lines.append(f"    {r.statement}")
            lines.append(f"    routes: {r.method}; tolerance: {r.tolerance_rule}")
    return "\n".join(lines)
