"""One numerical (or symbolic) check for every step of the lecture's derivation.

Each check compares two *independent* routes to the same number -- a closed form against
``torch.distributions``, Monte Carlo, quadrature or sympy -- and returns a :class:`CheckResult`
with both sides, the error, the tolerance and how the tolerance was derived. The chapters show
these tables; ``python -m vaecourse check`` prints them and exits non-zero if any check fails.

Labels (stable: the book cites them; several checks may share one equation's label):

========================  =======================================================================
``eq:marginal``           1. p(x) = integral of p(x, h) dh (and the discrete sum)
``eq:naive-sampling``     2. sampling h from the prior: the effective sample size collapses
``eq:kl-definition``      3. D[Q||P] = E_Q[log Q - log P] >= 0, = 0 iff Q = P, not symmetric
``eq:bayes-kl``           4. D[Q||p(h|x)] = E_Q[log Q - log p(x|h) - log p(h)] + log p(x)
``eq:central``            5. log p(x) - D[Q||p(h|x)] = E_Q[log p(x|h)] - D[Q||p(h)] for any Q
``eq:conditional``        6. the same with a condition x_i, target y_i (the "Rearranging" slide)
``eq:exact-posterior``    7. Q = p(h|x) makes the ELBO equal log p(x)
``eq:kl-gaussians``       8. closed-form KL of two full-covariance Gaussians
``eq:kl-standard-normal`` 9. its simplification against N(0, I); the diagonal log-variance form
``eq:single-sample``      10. the single-sample estimate of E_Q[log p(x|h)]: unbiased, variance 1/L
``eq:reparameterisation`` 11. gradients: naive (wrong), reparameterised, score function
``eq:training-objective`` 12. loss = -ELBO; ELBO <= IWAE_k <= log p(x), increasing in k
========================  =======================================================================

Statistical soundness: every Monte Carlo check uses a fixed seed and a tolerance of
``Z_SCORE = 5`` standard errors (estimated from the same samples; a false alarm has probability
below 1e-6 per compared number), plus a rounding floor of ``1000 * eps(dtype) * max(1, |value|)``.
Closed-form comparisons use only the rounding floor. Smoke mode (:func:`vaecourse.settings.pick`)
shrinks sample sizes; tolerances shrink or grow with them, so both modes are equally strict in
units of standard errors.

Every check looks its formulas up through their modules at call time (``kl.kl_gaussians``,
``elbo.iwae``, ``LinearGaussian.posterior_precision``...), so a test can swap in a broken formula
and watch the check fail (tests/test_derivations.py). Each chapter prints the rows of its own equations.
"""

from __future__ import annotations

import argparse
import math
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Callable

import torch
from torch.distributions import MultivariateNormal, Normal

from vaecourse import elbo, estimators, kl, marginal, settings
from vaecourse import linear_gaussian as lg

__all__ = [
    "Z_SCORE",
    "CheckResult",
    "SymbolicDerivation",
    "run_all",
    "run",
    "names",
    "labels",
    "results_table",
    "all_passed",
    "symbolic_kl_gaussians",
    "lecture_kl_standard_normal",
    "symbolic_kl_standard_normal",
    "cli",
]

Z_SCORE = 5.0
RELATIONS = ("==", "<=", ">=", ">", "!=")


# ============================================================================================
# results
# ============================================================================================


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one check.

    ``lhs relation rhs`` is the claim. For ``==`` the error is ``|lhs - rhs|``; for ``<=``/``>=``
    it is the amount by which the inequality is violated (0 when it holds); all of these pass when
    ``error <= tolerance``. For ``>`` (strictly greater, by a margin) and ``!=`` the error is
    ``lhs - rhs`` resp. ``|lhs - rhs|`` and the check passes only when it *exceeds* the tolerance.
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


@dataclass
class _Outcome:
    lhs: float
    rhs: float
    tolerance: float
    method: str
    tolerance_rule: str
    relation: str = "=="


def _judge(relation: str, lhs: float, rhs: float, tolerance: float) -> tuple[float, bool]:
    if relation not in RELATIONS:
        raise ValueError(f"relation must be one of {RELATIONS}, got {relation!r}")
    if not all(math.isfinite(v) for v in (lhs, rhs, tolerance)):
        return float("nan"), False
    if relation == "==":
        error = abs(lhs - rhs)
        return error, error <= tolerance
    if relation == "<=":
        error = max(0.0, lhs - rhs)
        return error, error <= tolerance
    if relation == ">=":
        error = max(0.0, rhs - lhs)
        return error, error <= tolerance
    if relation == ">":
        error = lhs - rhs
        return error, error > tolerance
    error = abs(lhs - rhs)
    return error, error > tolerance


# ============================================================================================
# the registry
# ============================================================================================


@dataclass(frozen=True)
class _Check:
    name: str
    label: str
    statement: str
    function: Callable[["_Context"], _Outcome]


_CHECKS: list[_Check] = []


def _check(name: str, label: str, statement: str):
    def register(function):
        if any(c.name == name for c in _CHECKS):
            raise RuntimeError(f"duplicate check name {name!r}")
        _CHECKS.append(_Check(name, label, statement, function))
        return function

    return register


@dataclass
class _Context:
    dtype: torch.dtype
    device: torch.device
    seed: int
    cache: dict = field(default_factory=dict)  # shared results within one run (the IWAE curve)

    def tensor(self, value) -> torch.Tensor:
        return torch.as_tensor(value, dtype=self.dtype, device=self.device)

    def randn(self, *shape, offset: int = 0) -> torch.Tensor:
        """Deterministic standard normals (drawn on the CPU in float64, then moved)."""
        gen = torch.Generator().manual_seed(self.seed * 1000 + offset)
        return torch.randn(*shape, generator=gen, dtype=torch.float64).to(self.device, self.dtype)

    @contextmanager
    def seeded(self, offset: int = 0):
        """Fork the global torch RNG, seed it, restore it afterwards."""
        devices = [self.device] if self.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(self.seed * 1000 + offset)
            yield

    def floor(self, scale: float = 1.0) -> float:
        """Rounding tolerance: 1000 * eps(dtype) * max(1, |scale|)."""
        return 1000 * torch.finfo(self.dtype).eps * max(1.0, abs(float(scale)))

    def model(self, **kwargs) -> lg.LinearGaussian:
        return lg.LinearGaussian.random(dtype=self.dtype, device=self.device, **kwargs)


def _resolve_device(device) -> torch.device:
    from vaecourse.device import default_device

    if device is not None:
        return default_device(str(device))  # ValueError if that device is not available here
    chosen = default_device()
    # Apple's MPS has no float64, and these checks are tiny: the CPU is the right place there.
    return torch.device("cpu") if chosen.type == "mps" else chosen


def names() -> list[str]:
    """Names of all checks, in lecture order."""
    return [c.name for c in _CHECKS]


def labels() -> list[str]:
    """The distinct equation labels, in lecture order."""
    return list(dict.fromkeys(c.label for c in _CHECKS))


def _run_one(check: _Check, ctx: _Context) -> CheckResult:
    start = time.perf_counter()
    try:
        out = check.function(ctx)
        error, passed = _judge(out.relation, float(out.lhs), float(out.rhs), float(out.tolerance))
        result = CheckResult(check.name, check.label, check.statement, out.method, float(out.lhs), out.relation,
                             float(out.rhs), error, float(out.tolerance), bool(passed), out.tolerance_rule)
    except Exception as exc:  # a check that raises has failed; report it instead of aborting the table
        nan = float("nan")
        result = CheckResult(check.name, check.label, check.statement, f"raised {type(exc).__name__}: {exc}",
                             nan, "==", nan, nan, nan, False, "-")
    return CheckResult(**{**result.as_dict(), "seconds": time.perf_counter() - start})


def run_all(dtype: torch.dtype = torch.float64, device=None, seed: int = 0) -> list[CheckResult]:
    """Run every check; one :class:`CheckResult` each, in lecture order.

    ``dtype`` float64 (default) or float32; ``device`` defaults to
    :func:`vaecourse.device.default_device` (the CPU instead of Apple MPS, which lacks float64);
    ``seed`` fixes every random draw.
    """
    return _run_many(_CHECKS, dtype, device, seed)


def run(key: str, dtype: torch.dtype = torch.float64, device=None, seed: int = 0) -> list[CheckResult]:
    """Run the checks whose name or equation label is ``key`` (e.g. ``"eq:central"``).

    Raises ``ValueError`` listing the valid keys when nothing matches.
    """
    chosen = [c for c in _CHECKS if key in (c.name, c.label)]
    if not chosen:
        raise ValueError(f"no check named or labelled {key!r}; labels: {', '.join(labels())}")
    return _run_many(chosen, dtype, device, seed)


def _run_many(checks: list[_Check], dtype, device, seed: int) -> list[CheckResult]:
    if dtype not in (torch.float32, torch.float64):
        raise ValueError(f"dtype must be torch.float32 or torch.float64, got {dtype}")
    ctx = _Context(dtype, _resolve_device(device), seed)
    # The checks use tensors of at most a few hundred thousand numbers: on the CPU, one thread is
    # several times faster than a pool (whose start-up and contention dominate). Restored after.
    threads = torch.get_num_threads()
    if ctx.device.type == "cpu":
        torch.set_num_threads(1)
    try:
        return [_run_one(check, ctx) for check in checks]
    finally:
        torch.set_num_threads(threads)


def all_passed(results: list[CheckResult]) -> bool:
    return bool(results) and all(r.passed for r in results)


def _fmt(value: float) -> str:
    if math.isnan(value):
        return "nan"
    if value == 0:
        return "0"
    if 1e-3 <= abs(value) < 1e5:
        return f"{value:.6f}"
    return f"{value:.3e}"


def results_table(results: list[CheckResult], verbose: bool = False) -> str:
    """A fixed-width text table of results; ``verbose`` adds each statement, method and tolerance rule."""
    header = ("label", "check", "lhs", "rel", "rhs", "error", "tolerance", "ok")
    rows = [
        (r.label, r.name, _fmt(r.lhs), r.relation, _fmt(r.rhs), _fmt(r.error), _fmt(r.tolerance),
         "pass" if r.passed else "FAIL")
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


# ============================================================================================
# helpers for the checks
# ============================================================================================


def _mean_se(samples: torch.Tensor, dim: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    return samples.mean(dim), samples.std(dim) / math.sqrt(samples.shape[dim])


def _worst(lhs: torch.Tensor, rhs: torch.Tensor, tol: torch.Tensor) -> tuple[float, float, float]:
    """The element with the largest |lhs - rhs| / tol (NaN counts as worst)."""
    lhs, rhs, tol = torch.broadcast_tensors(lhs.detach(), rhs.detach(), torch.as_tensor(tol).to(lhs).detach())
    ratio = ((lhs - rhs).abs() / tol).reshape(-1)
    ratio = torch.where(torch.isnan(ratio), torch.full_like(ratio, float("inf")), ratio)
    i = int(torch.argmax(ratio))
    return float(lhs.reshape(-1)[i]), float(rhs.reshape(-1)[i]), float(tol.reshape(-1)[i])


def _mc_outcome(ctx: _Context, lhs, rhs, se, method: str, n: int, what: str = "Monte Carlo") -> _Outcome:
    """lhs == rhs up to Z_SCORE standard errors (se) plus rounding, worst element reported."""
    rhs_t = torch.as_tensor(rhs).to(lhs)
    scale = float(rhs_t.abs().max())
    tol = Z_SCORE * se + ctx.floor(scale)
    l_, r_, t_ = _worst(lhs, rhs_t, tol)
    return _Outcome(l_, r_, t_, method,
                    f"{Z_SCORE:g} standard errors of the {what} estimate (n={n}) + rounding")


def _closed_outcome(ctx: _Context, lhs, rhs, method: str, extra: float = 0.0, why: str = "") -> _Outcome:
    rhs_t = torch.as_tensor(rhs).to(lhs)
    tol = extra + ctx.floor(float(rhs_t.abs().max()))
    l_, r_, t_ = _worst(lhs, rhs_t, torch.full_like(rhs_t, tol))
    rule = "rounding: 1000 eps(dtype) max(1, |value|)" + (f" + {why}" if why else "")
    return _Outcome(l_, r_, t_, method, rule)


def _random_spd(ctx: _Context, batch: tuple, k: int, offset: int) -> torch.Tensor:
    """Random SPD matrices A A^T / k + 0.3 I (condition number of order 10), shape (*batch, k, k)."""
    a = ctx.randn(*batch, k, k, offset=offset)
    eye = torch.eye(k, dtype=ctx.dtype, device=ctx.device)
    return a @ a.transpose(-2, -1) / k + 0.3 * eye


def _data(model: lg.LinearGaussian, n: int, seed: int = 7) -> torch.Tensor:
    x, _ = model.sample(n, seed=seed)
    return x  # (n, data_dim)


def _diag_q(mean: torch.Tensor, std: torch.Tensor) -> Normal:
    return Normal(mean, std.expand_as(mean))


def _diag_cov(q: Normal) -> torch.Tensor:
    return torch.diag_embed(q.variance)  # (..., k, k)


def _some_q(model: lg.LinearGaussian, x: torch.Tensor, ctx: _Context, offset: int = 0) -> Normal:
    """An arbitrary diagonal Q(h|x): the posterior mean shifted by O(0.5), std scaled by 0.6..1.6."""
    k = model.latent_dim
    shift = 0.5 * ctx.randn(k, offset=offset)
    scale = 0.6 + torch.rand(k, generator=torch.Generator().manual_seed(offset), dtype=torch.float64)
    std = torch.sqrt(torch.diagonal(model.posterior_cov())) * scale.to(ctx.device, ctx.dtype)
    return _diag_q(model.posterior_mean(x) + shift, std)


def _elbo_repeats(model, x: torch.Tensor, repeats: int, n_samples: int, analytic_kl: bool = True):
    """Mean and standard error over ``repeats`` independent ``n_samples``-sample ELBO estimates: (B,), (B,)."""
    batch = x.shape[0]
    values = elbo.elbo(model, x.repeat(repeats, 1), n_samples=n_samples, analytic_kl=analytic_kl)  # (R*B,)
    return _mean_se(values.detach().reshape(repeats, batch))


# ============================================================================================
# equation 1: the marginal likelihood
# ============================================================================================


@_check("marginal-quadrature", "eq:marginal",
        "log p(x) of a 2-D-latent linear-Gaussian model: grid quadrature of p(x|h)p(h) = closed form")
def _marginal_quadrature(ctx: _Context) -> _Outcome:
    model = ctx.model(data_dim=5, latent_dim=2, sigma=0.6, seed=11)
    x = _data(model, 4)
    grid = settings.pick(full=241, smoke=121)
    lhs = marginal.log_px_quadrature(model, x, grid_size=grid, limit=8.0)
    rhs = model.log_px(x)
    return _closed_outcome(ctx, lhs, rhs, f"marginal.log_px_quadrature ({grid}x{grid} grid on [-8, 8]^2) vs N(b, WW^T + s^2 I)",
                           extra=1e-8, why="1e-8 for quadrature (rectangle rule on a smooth integrand, "
                           "posterior std >= 3 grid steps; prior mass outside the grid < 1e-10)")


@_check("marginal-monte-carlo", "eq:marginal",
        "p(x) = E_{h~p(h)}[p(x|h)]: the prior-sampling average converges to the closed form")
def _marginal_monte_carlo(ctx: _Context) -> _Outcome:
    model = ctx.model(data_dim=2, latent_dim=1, sigma=0.8, seed=12)
    x = _data(model, 3)
    n = settings.pick(full=200_000, smoke=20_000)
    with ctx.seeded(12):
        log_w = marginal.importance_log_weights(model, x, model.prior(), n)  # (S, B) = log p(x|h)
    lhs = elbo.log_mean_exp(log_w, dim=0)  # (B,)
    w = torch.exp(log_w - lhs)  # weights relative to their mean, (S, B)
    se_log = w.std(0) / math.sqrt(n)  # delta method: SE(log mean w) = SE(mean w) / mean w
    return _mc_outcome(ctx, lhs, model.log_px(x), se_log,
                       "log of the mean of p(x|h) over prior samples vs closed form", n)


@_check("marginal-discrete-sum", "eq:marginal",
        "discrete latent: p(x) = sum_h p(h) p(x|h) over 8 binary codes h = torch's mixture density")
def _marginal_discrete(ctx: _Context) -> _Outcome:
    k, d = 3, 4
    codes = torch.cartesian_prod(*[ctx.tensor([0.0, 1.0])] * k)  # (8, k): every binary h
    probs = ctx.tensor([0.3, 0.6, 0.45])  # p(h_j = 1)
    log_ph = (codes * probs.log() + (1 - codes) * (1 - probs).log()).sum(-1)  # (8,)
    W, b, sigma = ctx.randn(d, k, offset=13), ctx.randn(d, offset=14), 0.7
    x = ctx.randn(5, d, offset=15)  # (B, d)
    log_px_h = Normal(codes @ W.T + b, sigma).log_prob(x.unsqueeze(1)).sum(-1)  # (B, 8)
    lhs = marginal.log_px_discrete(log_ph, log_px_h)  # the lecture's sum, (B,)
    mixture = torch.distributions.MixtureSameFamily(
        torch.distributions.Categorical(logits=log_ph),
        torch.distributions.Independent(Normal(codes @ W.T + b, sigma), 1))
    return _closed_outcome(ctx, lhs, mixture.log_prob(x), "marginal.log_px_discrete vs torch MixtureSameFamily.log_prob")


# ============================================================================================
# equation 2: why sampling h from the prior fails
# ============================================================================================


def _scaled_model(ctx: _Context, data_dim: int, latent_dim: int, seed: int) -> lg.LinearGaussian:
    """Orthogonal W with column norms growing like sqrt(data_dim): each pixel adds information."""
    base = ctx.model(data_dim=data_dim, latent_dim=latent_dim, sigma=0.5, seed=seed)
    return lg.LinearGaussian(base.W * math.sqrt(data_dim / 4), base.b, 0.5)


@_check("ess-prior-matches-theory", "eq:naive-sampling",
        "ESS/S of importance sampling from the prior (w = p(x|h)) = (E w)^2 / E w^2 in closed form")
def _ess_theory(ctx: _Context) -> _Outcome:
    model = _scaled_model(ctx, data_dim=4, latent_dim=2, seed=21)
    x = _data(model, 3)
    n = settings.pick(full=400_000, smoke=50_000)
    with ctx.seeded(21):
        log_w = marginal.importance_log_weights(model, x, model.prior(), n)  # (S, B)
    lhs = marginal.effective_sample_size(log_w, dim=0) / n  # (B,)
    # delta-method standard error of f = a^2 / c, a = mean(w), c = mean(w^2) (w rescaled by its max)
    w = torch.exp(log_w - log_w.max(0).values)
    a, c = w.mean(0), w.pow(2).mean(0)
    cov = torch.stack([torch.stack([w.var(0), _cov(w, w.pow(2))]), torch.stack([_cov(w, w.pow(2)), w.pow(2).var(0)])])
    grad = torch.stack([2 * a / c, -a.pow(2) / c.pow(2)])  # (2, B)
    se = torch.sqrt(torch.einsum("ib,ijb,jb->b", grad, cov, grad) / n)
    return _mc_outcome(ctx, lhs, model.prior_sampling_ess_fraction(x), se,
                       "marginal.effective_sample_size on prior samples vs LinearGaussian.prior_sampling_ess_fraction",
                       n, what="delta-method")


def _cov(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return ((a - a.mean(0)) * (b - b.mean(0))).sum(0) / (a.shape[0] - 1)


@_check("ess-exact-posterior", "eq:naive-sampling",
        "sampling h from the exact posterior Q = p(h|x): every weight equals p(x), so ESS = S")
def _ess_posterior(ctx: _Context) -> _Outcome:
    model = _scaled_model(ctx, data_dim=64, latent_dim=8, seed=22)
    x = _data(model, 3)
    n = settings.pick(full=4000, smoke=1000)
    with ctx.seeded(22):
        log_w = marginal.importance_log_weights(model, x, model.encode(x), n)  # (S, B)
    lhs = marginal.effective_sample_size(log_w, dim=0) / n
    return _closed_outcome(ctx, lhs, torch.ones_like(lhs), f"ESS/S of {n} draws from LinearGaussian.encode (exact)",
                           extra=1e3 * torch.finfo(ctx.dtype).eps * math.sqrt(n),
                           why="accumulated rounding of the weights")


@_check("ess-prior-collapses", "eq:naive-sampling",
        "data_dim 64, latent_dim 8: ESS/S from the prior is far below 1% (it is 1 from the posterior)")
def _ess_collapse(ctx: _Context) -> _Outcome:
    model = _scaled_model(ctx, data_dim=64, latent_dim=8, seed=22)
    x = _data(model, 3)
    n = settings.pick(full=20_000, smoke=5000)
    with ctx.seeded(23):
        log_w = marginal.importance_log_weights(model, x, model.prior(), n)  # (S, B)
    measured = marginal.effective_sample_size(log_w, dim=0) / n  # (B,)
    return _Outcome(float(measured.max()), 0.01, 0.0, f"largest ESS/S over the batch with {n} prior draws",
                    "a threshold: at most 1% of the samples are effective", relation="<=")


# ============================================================================================
# equation 3: the KL definition
# ============================================================================================


def _random_gaussian_pairs(ctx: _Context, batch: tuple, k: int, offset: int):
    mu0, mu1 = 0.7 * ctx.randn(*batch, k, offset=offset), 0.7 * ctx.randn(*batch, k, offset=offset + 1)
    return mu0, _random_spd(ctx, batch, k, offset + 2), mu1, _random_spd(ctx, batch, k, offset + 3)


@_check("kl-definition-monte-carlo", "eq:kl-definition",
        "D[Q||P] = E_Q[log Q(h) - log P(h)]: Monte Carlo over Q = kl.kl_gaussians (3-D, full covariances)")
def _kl_definition(ctx: _Context) -> _Outcome:
    mu0, cov0, mu1, cov1 = _random_gaussian_pairs(ctx, (4,), 3, offset=31)
    n = settings.pick(full=200_000, smoke=20_000)
    with ctx.seeded(31):
        estimate, se = kl.kl_monte_carlo(MultivariateNormal(mu0, cov0), MultivariateNormal(mu1, cov1), n)
    return _mc_outcome(ctx, estimate, kl.kl_gaussians(mu0, cov0, mu1, cov1), se,
                       "kl.kl_monte_carlo (the definition) vs kl.kl_gaussians", n)


@_check("kl-nonnegative", "eq:kl-definition",
        "D[Q||P] > 0 for 512 random pairs Q != P of 4-D Gaussians, half of them nearly equal (smallest shown)")
def _kl_nonnegative(ctx: _Context) -> _Outcome:
    mu0, cov0, mu1, cov1 = _random_gaussian_pairs(ctx, (512,), 4, offset=32)
    # half of the pairs are near-identical (mean off by 0.05, covariance by a factor 1 + 0.1|n|):
    # there the divergence is small, and a wrong formula most easily dips below zero
    near_cov = cov0[:256] * (1 + 0.1 * ctx.randn(256, 1, 1, offset=36).abs())
    values = kl.kl_gaussians(mu0, cov0, torch.cat([mu0[:256] + 0.05, mu1[256:]]), torch.cat([near_cov, cov1[256:]]))
    return _Outcome(float(values.min()), 0.0, ctx.floor(), "kl.kl_gaussians on random distinct pairs",
                    "strictly positive: above the rounding floor", relation=">")


@_check("kl-zero-iff-equal", "eq:kl-definition", "D[P||P] = 0 for random 4-D Gaussians P (largest |value| shown)")
def _kl_zero(ctx: _Context) -> _Outcome:
    mu, cov, _, _ = _random_gaussian_pairs(ctx, (64,), 4, offset=33)
    values = kl.kl_gaussians(mu, cov, mu, cov)
    worst = values.abs().argmax()
    return _closed_outcome(ctx, values[worst], torch.zeros_like(values[worst]), "kl.kl_gaussians(P, P)",
                           extra=ctx.floor(10.0), why="rounding of the log-determinants")


@_check("kl-asymmetric", "eq:kl-definition", "D[Q||P] != D[P||Q]: Q = N(0, I), P = N(1, 4 I) in 3-D")
def _kl_asymmetric(ctx: _Context) -> _Outcome:
    eye = torch.eye(3, dtype=ctx.dtype, device=ctx.device)
    zeros = torch.zeros(3, dtype=ctx.dtype, device=ctx.device)
    mu0, cov0, mu1, cov1 = zeros, eye, zeros + 1, 4 * eye
    forward, backward = kl.kl_gaussians(mu0, cov0, mu1, cov1), kl.kl_gaussians(mu1, cov1, mu0, cov0)
    return _Outcome(float(forward), float(backward), 0.1, "kl.kl_gaussians both ways",
                    "they must differ by more than 0.1 nats", relation="!=")


# ============================================================================================
# equations 4-7: Bayes rule, the central equation, its conditional form, the exact posterior
# ============================================================================================


@_check("bayes-rule-kl", "eq:bayes-kl",
        "D[Q||p(h|x)] (closed form) = E_Q[log Q - log p(x|h) - log p(h)] (Monte Carlo) + log p(x)")
def _bayes_kl(ctx: _Context) -> _Outcome:
    model = ctx.model(data_dim=6, latent_dim=2, sigma=0.7, orthogonal=False, seed=41)
    x = _data(model, 4)
    q = _some_q(model, x, ctx, offset=41)
    post = model.posterior(x)
    lhs = kl.kl_gaussians(q.mean, _diag_cov(q), post.mean, post.covariance_matrix)
    n = settings.pick(full=200_000, smoke=20_000)
    with ctx.seeded(41):
        h = q.sample((n,))  # (S, B, k)
    integrand = q.log_prob(h).sum(-1) - model.log_likelihood(x, h) - model.prior().log_prob(h).sum(-1)  # (S, B)
    mean, se = _mean_se(integrand)
    return _mc_outcome(ctx, mean + model.log_px(x), lhs, se,
                       "Monte Carlo of the Bayes-rule form + exact log p(x) vs kl.kl_gaussians(Q, posterior)", n)


@_check("central-equation-linear-gaussian", "eq:central",
        "log p(x) - D[Q||p(h|x)] (closed form) = E_Q[log p(x|h)] - D[Q||p(h)] (elbo.elbo, Monte Carlo), any Q")
def _central_lg(ctx: _Context) -> _Outcome:
    model = ctx.model(data_dim=6, latent_dim=2, sigma=0.7, orthogonal=False, seed=51)
    x = _data(model, 4)
    q = _some_q(model, x, ctx, offset=51)
    post = model.posterior(x)
    lhs = model.log_px(x) - kl.kl_gaussians(q.mean, _diag_cov(q), post.mean, post.covariance_matrix)
    repeats, n = settings.pick(full=(400, 250), smoke=(100, 100))
    with_q = model.with_encoder(lambda x_: _some_q(model, x_, ctx, offset=51))  # the same Q for repeated x
    with ctx.seeded(51):
        mean, se = _elbo_repeats(with_q, x, repeats, n)
    return _mc_outcome(ctx, mean, lhs, se, "elbo.elbo (MC reconstruction + kl.kl_standard_normal) vs "
                       "LinearGaussian.log_px - kl.kl_gaussians(Q, posterior)", repeats * n)


class _TanhModel:
    """A small nonlinear model for the quadrature check: h (2) -> x = B tanh(A h + a) + c + N(0, s^2 I).

    Its Q(h|x) is an arbitrary Gaussian (a fixed linear map of x); the point is that the central
    equation holds for *any* Q, on a model whose posterior is not Gaussian.
    """

    latent_dim = 2

    def __init__(self, ctx: _Context, data_dim: int = 4):
        self.A = 1.5 * ctx.randn(3, 2, offset=61)
        self.a = 0.3 * ctx.randn(3, offset=62)
        self.B = ctx.randn(data_dim, 3, offset=63)
        self.c = 0.2 * ctx.randn(data_dim, offset=64)
        self.E = 0.3 * ctx.randn(2, data_dim, offset=65)
        self.sigma = ctx.tensor(0.5)

    def prior(self) -> Normal:
        zeros = torch.zeros(2, dtype=self.A.dtype, device=self.A.device)
        return Normal(zeros, torch.ones_like(zeros))

    def decoder_mean(self, h: torch.Tensor) -> torch.Tensor:
        return torch.tanh(h @ self.A.T + self.a) @ self.B.T + self.c  # (..., D)

    def log_likelihood(self, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        return Normal(self.decoder_mean(h), self.sigma).log_prob(x).sum(-1)

    def encode(self, x: torch.Tensor) -> Normal:
        mean = (x @ self.E.T).clamp(-2.0, 2.0)  # (B, 2)
        return Normal(mean, torch.full_like(mean, 0.6))


@_check("central-equation-quadrature", "eq:central",
        "nonlinear 2-D latent model: log p(x) - D[Q||p(h|x)] on a latent grid = elbo.elbo by Monte Carlo")
def _central_quadrature(ctx: _Context) -> _Outcome:
    model = _TanhModel(ctx)
    with ctx.seeded(60):
        h_true = torch.randn(4, 2, dtype=ctx.dtype, device=ctx.device)
        x = model.decoder_mean(h_true) + model.sigma * torch.randn(4, 4, dtype=ctx.dtype, device=ctx.device)
    grid = settings.pick(full=241, smoke=121)
    log_px = marginal.log_px_quadrature(model, x, grid_size=grid, limit=7.0)  # (B,)
    axis, _, log_post = marginal.posterior_grid(model, x, grid_size=grid, limit=7.0)  # (B, G, G)
    h1, h2 = torch.meshgrid(axis, axis, indexing="ij")
    points = torch.stack([h1, h2], dim=-1)  # (G, G, 2)
    q = model.encode(x)
    log_q = Normal(q.loc[:, None, None, :], q.scale[:, None, None, :]).log_prob(points).sum(-1)  # (B, G, G)
    cell = float(axis[1] - axis[0]) ** 2
    kl_post = (torch.exp(log_q) * (log_q - log_post)).sum((-2, -1)) * cell  # (B,)
    lhs = log_px - kl_post
    repeats, n = settings.pick(full=(400, 250), smoke=(100, 100))
    with ctx.seeded(61):
        batch = x.shape[0]
        values = elbo.elbo(model, x.repeat(repeats, 1), n_samples=n)  # (R*B,)
        mean, se = _mean_se(values.reshape(repeats, batch))
    out = _mc_outcome(ctx, mean, lhs, se, f"elbo.elbo (MC) vs marginal.log_px_quadrature - KL(Q||posterior_grid) "
                      f"on a {grid}x{grid} grid", repeats * n)
    out.tolerance += 1e-6
    out.tolerance_rule += " + 1e-6 for quadrature (Q std = 7 grid steps)"
    return out


def _conditional_setup(ctx: _Context):
    model = lg.ConditionalLinearGaussian.random(seed=71, dtype=ctx.dtype, device=ctx.device)
    x = ctx.randn(4, model.x_dim, offset=71)
    y = ctx.randn(4, model.y_dim, offset=72)
    return model, x, y


@_check("conditional-bayes-pointwise", "eq:conditional",
        "log p(y|h,x) = log p(h|y,x) - log p(h|x) + log p(y|x) at random h (all closed form)")
def _conditional_bayes(ctx: _Context) -> _Outcome:
    model, x, y = _conditional_setup(ctx)
    h = 1.5 * ctx.randn(16, 4, model.latent_dim, offset=73)  # (S, B, k)
    lhs = model.log_likelihood(y, h, x)
    rhs = model.posterior(y, x).log_prob(h) - model.log_prior(h, x) + model.log_py(y, x)
    return _closed_outcome(ctx, lhs, rhs, "ConditionalLinearGaussian likelihood vs posterior/prior/evidence")


@_check("conditional-central-equation", "eq:conditional",
        "log p(y|x) - D[Q||p(h|x,y)] = E_Q[log p(y|h,x) + log p(h|x) - log Q(h)] for an arbitrary Q")
def _conditional_central(ctx: _Context) -> _Outcome:
    model, x, y = _conditional_setup(ctx)
    post = model.posterior(y, x)
    q = _diag_q(post.mean + 0.4 * ctx.randn(model.latent_dim, offset=74),
                0.8 * torch.sqrt(torch.diagonal(post.covariance_matrix, dim1=-2, dim2=-1)))
    lhs = model.log_py(y, x) - kl.kl_gaussians(q.mean, _diag_cov(q), post.mean, post.covariance_matrix)
    n = settings.pick(full=200_000, smoke=20_000)
    with ctx.seeded(74):
        h = q.sample((n,))  # (S, B, k)
    integrand = model.log_likelihood(y, h, x) + model.log_prior(h, x) - q.log_prob(h).sum(-1)  # (S, B)
    mean, se = _mean_se(integrand)
    return _mc_outcome(ctx, mean, lhs, se, "Monte Carlo of the right side vs closed-form left side", n)


@_check("exact-posterior-every-sample", "eq:exact-posterior",
        "Q = p(h|x): log p(x,h) - log Q(h) = log p(x) for every sample, so elbo(analytic_kl=False) = log p(x)")
def _exact_every_sample(ctx: _Context) -> _Outcome:
    model = ctx.model(data_dim=6, latent_dim=3, sigma=0.5, orthogonal=True, seed=81)
    x = _data(model, 4)
    with ctx.seeded(81):
        lhs = elbo.elbo(model, x, n_samples=16, analytic_kl=False)
    return _closed_outcome(ctx, lhs, model.log_px(x), "elbo.elbo with the exact encoder vs LinearGaussian.log_px",
                           extra=ctx.floor(100.0), why="rounding of the sampled terms")


@_check("exact-posterior-analytic-kl", "eq:exact-posterior",
        "Q = p(h|x): E_Q[log p(x|h)] - D[Q||p(h)] (MC + closed-form KL) = log p(x)")
def _exact_analytic(ctx: _Context) -> _Outcome:
    model = ctx.model(data_dim=6, latent_dim=3, sigma=0.5, orthogonal=True, seed=82)
    x = _data(model, 4)
    repeats, n = settings.pick(full=(400, 250), smoke=(100, 100))
    with ctx.seeded(82):
        mean, se = _elbo_repeats(model, x, repeats, n)
    return _mc_outcome(ctx, mean, model.log_px(x), se, "elbo.elbo (analytic KL) vs LinearGaussian.log_px",
                       repeats * n)


# ============================================================================================
# equations 8-9: the closed-form KL
# ============================================================================================


@_check("kl-gaussians-vs-torch", "eq:kl-gaussians",
        "kl.kl_gaussians = torch.distributions.kl_divergence(MultivariateNormal, MultivariateNormal), batch (5, 3), k = 4")
def _kl_vs_torch(ctx: _Context) -> _Outcome:
    mu0, cov0, mu1, cov1 = _random_gaussian_pairs(ctx, (5, 3), 4, offset=91)
    lhs = kl.kl_gaussians(mu0, cov0, mu1, cov1)
    ref = torch.distributions.kl_divergence(
        MultivariateNormal(mu0.double(), cov0.double()), MultivariateNormal(mu1.double(), cov1.double()))
    return _closed_outcome(ctx, lhs, ref.to(ctx.dtype), "closed form (Cholesky) vs torch.distributions (float64)",
                           extra=ctx.floor(float(ref.abs().max())) * 10, why="conditioning (cond ~ 10)")


def _symbols(k: int, prefix: str, vector: str):
    import sympy as sp

    mu = sp.Matrix(sp.symbols(f"{vector}_1:{k + 1}", real=True))
    cov = sp.zeros(k, k)
    for i in range(k):
        for j in range(i, k):
            cov[i, j] = cov[j, i] = sp.Symbol(f"{prefix}_{i + 1}{j + 1}", real=True)
    return mu, cov


def symbolic_kl_gaussians(mu0, cov0, mu1, cov1, k: int):
    """Equation 8 as a sympy expression of sympy matrices (the lecture's formula, verbatim)."""
    import sympy as sp

    diff = mu1 - mu0
    inverse = cov1.inv()
    return sp.Rational(1, 2) * ((inverse * cov0).trace() + (diff.T * inverse * diff)[0, 0] - k
                                + sp.log(cov1.det() / cov0.det()))


def lecture_kl_standard_normal(mu, cov, k: int):
    """Equation 9 as the lecture writes it: 1/2 (tr Sigma + mu^T mu - k - log det Sigma), sympy."""
    import sympy as sp

    return sp.Rational(1, 2) * (cov.trace() + (mu.T * mu)[0, 0] - k - sp.log(cov.det()))


@dataclass
class SymbolicDerivation:
    """Equation 9 derived from equation 8 with sympy (for a chapter to display, e.g. ``sp.latex(d.substituted)``).

    ``general``: eq. 8 with symbolic mu0, Sigma0, mu1, Sigma1; ``substituted``: mu1 = 0, Sigma1 = I;
    ``lecture``: the lecture's eq. 9; ``difference``: simplify(substituted - lecture) (0 when the
    derivation holds); ``diagonal``: eq. 9 with Sigma = diag(exp(logvar)); ``diagonal_difference``:
    its difference from the training form 1/2 sum(exp(logvar) + mu^2 - 1 - logvar).
    """

    k: int
    mu: object
    cov: object
    general: object
    substituted: object
    lecture: object
    difference: object
    diagonal: object
    training_form: object
    diagonal_difference: object

    @property
    def holds(self) -> bool:
        return self.difference == 0 and self.diagonal_difference == 0


def symbolic_kl_standard_normal(k: int = 2) -> SymbolicDerivation:
    """Derive eq. 9 from eq. 8 symbolically for a k-dimensional Gaussian (sympy; k <= 4 is quick).

    Substitutes mu1 = 0 and Sigma1 = I into :func:`symbolic_kl_gaussians` with a general symmetric
    Sigma0, simplifies (logarithms expanded, Sigma0 taken positive definite), and compares with
    :func:`lecture_kl_standard_normal`; then restricts Sigma to diag(exp(logvar)) and compares with
    the training form. Label ``eq:kl-standard-normal``; chapters book/kl_divergence.md and book/sgd.md.
    """
    import sympy as sp

    if not isinstance(k, int) or not 1 <= k <= 5:
        raise ValueError(f"k must be an integer between 1 and 5 (sympy cost grows fast), got {k!r}")
    mu0, cov0 = _symbols(k, "Sigma", "mu")
    mu1, cov1 = _symbols(k, "S", "m")
    general = symbolic_kl_gaussians(mu0, cov0, mu1, cov1, k)
    at_prior = {**{mu1[i]: 0 for i in range(k)},
                **{cov1[i, j]: int(i == j) for i in range(k) for j in range(k)}}
    substituted = general.subs(at_prior)
    lecture = lecture_kl_standard_normal(mu0, cov0, k)
    difference = sp.simplify(sp.expand_log(substituted - lecture, force=True))
    logvar = sp.Matrix(sp.symbols(f"logvar_1:{k + 1}", real=True))
    diagonal_sub = {cov0[i, j]: (sp.exp(logvar[i]) if i == j else 0) for i in range(k) for j in range(k)}
    diagonal = sp.expand_log(lecture.subs(diagonal_sub), force=True)
    training = sp.Rational(1, 2) * sum(sp.exp(logvar[j]) + mu0[j] ** 2 - 1 - logvar[j] for j in range(k))
    diagonal_difference = sp.simplify(diagonal - training)
    return SymbolicDerivation(k, mu0, cov0, general, substituted, lecture, difference, diagonal, training,
                              diagonal_difference)


@_check("kl-standard-normal-symbolic", "eq:kl-standard-normal",
        "sympy: eq. 8 with mu1 = 0, Sigma1 = I simplifies to the lecture's eq. 9, and to the log-variance sum")
def _kl_symbolic(ctx: _Context) -> _Outcome:
    import sympy as sp

    k = settings.pick(full=3, smoke=2)
    d = symbolic_kl_standard_normal(k)
    # a symbolic zero gives error 0; otherwise report the difference at a numeric point
    point = {s: sp.Rational(1, 3) + sp.Rational(i, 7) for i, s in enumerate(sorted(
        (d.difference - d.diagonal_difference).free_symbols | d.lecture.free_symbols, key=str))}
    for i in range(k):
        point[d.cov[i, i]] = 2 + i  # keep Sigma positive definite at the numeric point
    off = abs(complex(d.difference.subs(point).evalf())) + abs(complex(d.diagonal_difference.subs(point).evalf()))
    residual = 0.0 if d.holds else max(off, 1.0)
    return _Outcome(residual, 0.0, 0.0, f"sympy simplify(eq8|prior - eq9) and (eq9|diag - training form), k = {k}",
                    "exact: the simplified difference must be the symbolic 0")


@_check("kl-standard-normal-vs-sympy", "eq:kl-standard-normal",
        "kl.kl_standard_normal_full = eq. 8 at mu1 = 0, Sigma1 = I evaluated from the sympy expression (k = 3)")
def _kl_full_vs_sympy(ctx: _Context) -> _Outcome:
    import sympy as sp

    k = 3
    d = symbolic_kl_standard_normal(k)
    symbols = list(d.mu) + [d.cov[i, j] for i in range(k) for j in range(i, k)]
    f = sp.lambdify(symbols, d.substituted, modules="math")
    mu, cov = 0.8 * ctx.randn(6, k, offset=95), _random_spd(ctx, (6,), k, offset=96)
    lhs = kl.kl_standard_normal_full(mu, cov)
    rows = [list(mu[b].tolist()) + [float(cov[b, i, j]) for i in range(k) for j in range(i, k)] for b in range(6)]
    rhs = ctx.tensor([f(*row) for row in rows])  # 6 evaluations of a scalar formula
    return _closed_outcome(ctx, lhs, rhs, "kl.kl_standard_normal_full vs lambdified sympy", extra=ctx.floor(100.0),
                           why="rounding through the explicit inverse and determinant")


@_check("kl-standard-normal-vs-torch", "eq:kl-standard-normal",
        "kl.kl_standard_normal(mu, logvar) = sum_j kl_divergence(Normal(mu_j, e^(logvar_j/2)), Normal(0, 1)), batch (8, 5)")
def _kl_diag_vs_torch(ctx: _Context) -> _Outcome:
    mu, logvar = ctx.randn(8, 5, offset=97), 1.5 * ctx.randn(8, 5, offset=98)
    lhs = kl.kl_standard_normal(mu, logvar)
    ref = torch.distributions.kl_divergence(Normal(mu.double(), torch.exp(0.5 * logvar.double())),
                                            Normal(torch.zeros_like(mu.double()), 1.0)).sum(-1)
    full = kl.kl_gaussians(mu, torch.diag_embed(logvar.exp()), torch.zeros_like(mu),
                           torch.eye(5, dtype=ctx.dtype, device=ctx.device))
    out = _closed_outcome(ctx, lhs, ref.to(ctx.dtype), "diagonal formula vs torch.distributions (float64)")
    agree = _closed_outcome(ctx, full, ref.to(ctx.dtype), "")
    if abs(agree.lhs - agree.rhs) > agree.tolerance:  # the full-covariance route must agree as well
        return _Outcome(agree.lhs, agree.rhs, agree.tolerance, "kl.kl_gaussians(diag) vs torch.distributions",
                        agree.tolerance_rule)
    return out


# ============================================================================================
# equation 10: the single-sample estimate
# ============================================================================================


def _imperfect_model(ctx: _Context, seed: int) -> lg.LinearGaussian:
    return ctx.model(data_dim=8, latent_dim=2, sigma=0.5, orthogonal=True, seed=seed).with_q(shift=0.4, scale=1.4)


@_check("single-sample-unbiased", "eq:single-sample",
        "the mean of many single-sample estimates log p(x|h), h ~ Q, equals E_Q[log p(x|h)] in closed form")
def _single_sample_unbiased(ctx: _Context) -> _Outcome:
    model = _imperfect_model(ctx, 101)
    x = _data(model, 4)
    repeats = settings.pick(full=200_000, smoke=20_000)
    with ctx.seeded(101):
        values = estimators.reconstruction_estimate(model, x, n_samples=1, repeats=repeats).detach()  # (R, B)
    mean, se = _mean_se(values)
    return _mc_outcome(ctx, mean, model.expected_log_likelihood(x, model.encode(x)), se,
                       "estimators.reconstruction_estimate (L = 1) vs LinearGaussian.expected_log_likelihood", repeats)


@_check("single-sample-variance", "eq:single-sample",
        "L * Var[L-sample estimate] = Var[single sample] (closed form) for L = 1, 4, 16: variance falls as 1/L")
def _single_sample_variance(ctx: _Context) -> _Outcome:
    model = _imperfect_model(ctx, 102)
    x = _data(model, 2)
    exact = model.log_likelihood_variance(x, model.encode(x))  # (B,)
    repeats = settings.pick(full=40_000, smoke=5000)
    ratios, ses = [], []
    with ctx.seeded(102):
        for n in (1, 4, 16):
            values = estimators.reconstruction_estimate(model, x, n_samples=n, repeats=repeats).detach()  # (R, B)
            centred = values - values.mean(0)
            var = centred.pow(2).mean(0)
            se_var = torch.sqrt((centred.pow(4).mean(0) - var.pow(2)) / repeats)  # SE of a sample variance
            ratios.append(n * var / exact)
            ses.append(n * se_var / exact)
    ratio, se = torch.stack(ratios), torch.stack(ses)  # (3, B)
    return _mc_outcome(ctx, ratio, torch.ones_like(ratio), se,
                       "L * sample variance of estimators.reconstruction_estimate / LinearGaussian.log_likelihood_variance",
                       repeats, what="sample-variance")


# ============================================================================================
# equation 11: gradients
# ============================================================================================


def _gradient_problem(ctx: _Context):
    mu, sigma = ctx.tensor([0.7, -1.2, 0.3]), ctx.tensor([0.5, 1.1, 0.8])

    def f(h: torch.Tensor) -> torch.Tensor:  # E[sum h^2] = sum (mu^2 + sigma^2)
        return h.pow(2).sum(-1)

    return f, mu, sigma, 2 * mu, 2 * sigma  # exact gradients


def _gradient_outcome(ctx: _Context, estimate: "estimators.GradientEstimate", exact_mu, exact_sigma, method, n):
    lhs = torch.cat([estimate.mean_mu, estimate.mean_sigma])
    rhs = torch.cat([exact_mu, exact_sigma])
    se = torch.cat([estimate.se_mu, estimate.se_sigma])
    return _mc_outcome(ctx, lhs, rhs, se, method + " vs exact (2 mu, 2 sigma); worst coordinate", n)


@_check("reparameterised-gradient", "eq:reparameterisation",
        "d/d(mu, sigma) E_{N(mu, sigma^2)}[sum h^2] = (2 mu, 2 sigma): the reparameterised estimator is unbiased")
def _reparam_gradient(ctx: _Context) -> _Outcome:
    f, mu, sigma, g_mu, g_sigma = _gradient_problem(ctx)
    n = settings.pick(full=200_000, smoke=40_000)
    with ctx.seeded(111):
        est = estimators.reparameterised_gradient(f, mu, sigma, n)
    return _gradient_outcome(ctx, est, g_mu, g_sigma, "estimators.reparameterised_gradient", n)


@_check("score-function-gradient", "eq:reparameterisation",
        "the score-function (REINFORCE) estimator is unbiased for the same gradient (2 mu, 2 sigma)")
def _score_gradient(ctx: _Context) -> _Outcome:
    f, mu, sigma, g_mu, g_sigma = _gradient_problem(ctx)
    n = settings.pick(full=200_000, smoke=20_000)
    with ctx.seeded(112):
        est = estimators.score_function_gradient(f, mu, sigma, n)
    return _gradient_outcome(ctx, est, g_mu, g_sigma, "estimators.score_function_gradient", n)


@_check("naive-gradient-is-wrong", "eq:reparameterisation",
        "differentiating f(h) for a sample h drawn without reparameterisation misses the gradient (2 mu, 2 sigma)")
def _naive_gradient(ctx: _Context) -> _Outcome:
    f, mu, sigma, g_mu, g_sigma = _gradient_problem(ctx)
    n = settings.pick(full=20_000, smoke=5000)
    with ctx.seeded(113):
        naive = estimators.naive_gradient(f, mu, sigma, n)
        reference = estimators.reparameterised_gradient(f, mu, sigma, n)
    lhs = torch.cat([naive.mean_mu, naive.mean_sigma])
    rhs = torch.cat([g_mu, g_sigma])
    se = torch.cat([reference.se_mu, reference.se_sigma])
    i = int(((lhs - rhs).abs() / se).argmax())
    return _Outcome(float(lhs[i]), float(rhs[i]), float(Z_SCORE * se[i]), "estimators.naive_gradient vs exact",
                    f"must differ by more than {Z_SCORE:g} standard errors of the reparameterised estimate (n={n})",
                    relation="!=")


@_check("reparameterised-variance", "eq:reparameterisation",
        "per-sample variance of the reparameterised gradient = 4 sigma^2 (mu) and 4 mu^2 + 8 sigma^2 (sigma)")
def _reparam_variance(ctx: _Context) -> _Outcome:
    f, mu, sigma, _, _ = _gradient_problem(ctx)
    n = settings.pick(full=200_000, smoke=40_000)
    with ctx.seeded(114):
        est = estimators.reparameterised_gradient(f, mu, sigma, n)
    samples = torch.cat([est.per_sample_mu, est.per_sample_sigma], dim=-1)  # (S, 6)
    centred = samples - samples.mean(0)
    var = centred.pow(2).mean(0)
    se = torch.sqrt((centred.pow(4).mean(0) - var.pow(2)) / n)
    exact = torch.cat([4 * sigma.pow(2), 4 * mu.pow(2) + 8 * sigma.pow(2)])
    return _mc_outcome(ctx, var, exact, se, "measured variance vs Gaussian moments", n, what="sample-variance")


@_check("reparameterised-beats-score-function", "eq:reparameterisation",
        "the reparameterised gradient has lower variance than the score-function one (largest ratio shown)")
def _variance_ratio(ctx: _Context) -> _Outcome:
    f, mu, sigma, _, _ = _gradient_problem(ctx)
    n = settings.pick(full=100_000, smoke=20_000)
    with ctx.seeded(115):
        rep = estimators.reparameterised_gradient(f, mu, sigma, n)
        score = estimators.score_function_gradient(f, mu, sigma, n)
    ratio = torch.cat([rep.var_mu / score.var_mu, rep.var_sigma / score.var_sigma])
    return _Outcome(float(ratio.max()), 0.5, 0.0, "variance ratio reparameterised / score function, per coordinate",
                    "a threshold: at least a factor 2 smaller in every coordinate", relation="<=")


# ============================================================================================
# equation 12: the training objective and the IWAE bound
# ============================================================================================


@_check("loss-is-minus-elbo", "eq:training-objective",
        "elbo.loss = -(1/B) sum_b [log p(x_b) - D[Q||p(h|x_b)]], the batch mean of minus the ELBO")
def _loss(ctx: _Context) -> _Outcome:
    model = _imperfect_model(ctx, 121)
    x = _data(model, 8)
    q, post = model.encode(x), model.posterior(x)
    exact = -(model.log_px(x) - kl.kl_gaussians(q.mean, _diag_cov(q), post.mean, post.covariance_matrix)).mean()
    repeats, n = settings.pick(full=(400, 100), smoke=(200, 50))
    x_rep = x.repeat(repeats, 1)  # (R*B, D)
    with ctx.seeded(121):  # the same draws twice: elbo.loss must be minus the batch mean of elbo.elbo ...
        lhs = elbo.loss(model, x_rep, n_samples=n).detach()
    with ctx.seeded(121):  # ... whose spread over the R repeats gives the standard error
        per_repeat = -elbo.elbo(model, x_rep, n_samples=n).detach().reshape(repeats, -1).mean(-1)  # (R,)
    _, se = _mean_se(per_repeat)
    return _mc_outcome(ctx, lhs, exact, se, "elbo.loss vs closed-form -ELBO", repeats * n)


def _iwae_curve(ctx: _Context):
    """Mean and SE of elbo.iwae for k = 1 .. 256 over repeated draws; computed once per run."""
    if "iwae" in ctx.cache:
        return ctx.cache["iwae"]
    model = _imperfect_model(ctx, 122)
    x = _data(model, 3)
    repeats = settings.pick(full=400, smoke=100)
    ks = (1, 4, 16, 64, 256)
    means, ses = [], []
    with ctx.seeded(122):
        for k in ks:
            values = elbo.iwae(model, x.repeat(repeats, 1), k=k).detach().reshape(repeats, -1)  # (R, B)
            mean, se = _mean_se(values)
            means.append(mean)
            ses.append(se)
    q, post = model.encode(x), model.posterior(x)
    log_px = model.log_px(x)
    exact_elbo = log_px - kl.kl_gaussians(q.mean, _diag_cov(q), post.mean, post.covariance_matrix)
    ctx.cache["iwae"] = ks, torch.stack(means), torch.stack(ses), log_px, exact_elbo, repeats
    return ctx.cache["iwae"]


@_check("iwae-below-log-px", "eq:training-objective", "IWAE_k <= log p(x) for k = 1, 4, 16, 64, 256 (worst case shown)")
def _iwae_bound(ctx: _Context) -> _Outcome:
    ks, means, ses, log_px, _, repeats = _iwae_curve(ctx)
    excess = (means - log_px) / ses  # (K, B) in standard errors
    i = int(excess.argmax())
    m, s, l_ = means.reshape(-1)[i], ses.reshape(-1)[i], log_px.expand_as(means).reshape(-1)[i]
    return _Outcome(float(m), float(l_), float(Z_SCORE * s + ctx.floor(float(l_))),
                    "mean of elbo.iwae over repeats vs LinearGaussian.log_px",
                    f"{Z_SCORE:g} standard errors (repeats={repeats}) + rounding", relation="<=")


@_check("iwae-increases-with-k", "eq:training-objective",
        "E[IWAE_k] does not decrease from k to 4k (k = 1 .. 256); the largest decrease is shown")
def _iwae_monotone(ctx: _Context) -> _Outcome:
    ks, means, ses, _, _, repeats = _iwae_curve(ctx)
    drop = means[:-1] - means[1:]  # (K-1, B): positive means a decrease
    se = torch.sqrt(ses[:-1].pow(2) + ses[1:].pow(2))
    i = int((drop / se).argmax())
    return _Outcome(float(drop.reshape(-1)[i]), 0.0, float(Z_SCORE * se.reshape(-1)[i]),
                    "mean of elbo.iwae at successive k (independent draws)",
                    f"{Z_SCORE:g} standard errors of the difference (repeats={repeats})", relation="<=")


@_check("iwae-tighter-than-elbo", "eq:training-objective",
        "IWAE_256 is strictly above the ELBO (closed form) when Q is imperfect (smallest margin shown)")
def _iwae_tighter(ctx: _Context) -> _Outcome:
    ks, means, ses, _, exact_elbo, repeats = _iwae_curve(ctx)
    margin = (means[-1] - exact_elbo) / ses[-1]
    i = int(margin.argmin())
    return _Outcome(float(means[-1, i]), float(exact_elbo[i]), float(Z_SCORE * ses[-1, i]),
                    "mean of elbo.iwae (k = 256) vs log p(x) - kl.kl_gaussians(Q, posterior)",
                    f"must exceed the ELBO by {Z_SCORE:g} standard errors (repeats={repeats})", relation=">")


# ============================================================================================
# command line
# ============================================================================================


def cli(argv: list[str] | None = None) -> int:
    """``python -m vaecourse check [--only KEY ...] [--float32] [--seed N] [--list] [-v]``.

    Prints the results table and returns 0 when every check passes, 1 otherwise (2 for bad usage).
    """
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
        for check in _CHECKS:
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
