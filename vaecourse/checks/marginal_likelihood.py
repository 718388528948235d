"""Checks of book/marginal_likelihood.md: p(x) three ways, and why sampling from the prior fails.

Labels eq:marginal, eq:naive-sampling.

Each function compares two independent routes; its formulas are looked up through their modules
at call time, so a test can swap in a broken formula and watch the check fail.
"""

from __future__ import annotations

import math

import torch
from torch.distributions import Normal

from vaecourse import elbo, marginal, settings
from vaecourse import linear_gaussian as lg
from vaecourse.checks._core import Check, Context, Outcome, closed_outcome, mc_outcome
from vaecourse.checks._problems import data

# ============================================================================================
# eq:marginal  p(x) = integral of p(x|h) p(h) dh
# ============================================================================================


def marginal_quadrature(ctx: Context) -> Outcome:
    model = ctx.model(data_dim=5, latent_dim=2, sigma=0.6)
    x = data(model, 4)
    grid = settings.pick(full=241, smoke=121)
    lhs = marginal.log_px_quadrature(model, x, grid_size=grid, limit=8.0)
    rhs = model.log_px(x)
    return closed_outcome(
        ctx,
        lhs,
        rhs,
        f"marginal.log_px_quadrature ({grid}x{grid} grid on [-8, 8]^2) vs N(b, WW^T + s^2 I)",
        extra=1e-8,
        why="1e-8 for quadrature (rectangle rule on a smooth integrand, "
        "posterior std >= 3 grid steps; prior mass outside the grid < 1e-10)",
    )


def marginal_monte_carlo(ctx: Context) -> Outcome:
    model = ctx.model(data_dim=2, latent_dim=1, sigma=0.8)
    x = data(model, 3)
    n = settings.pick(full=200_000, smoke=20_000)
    with ctx.seeded():
        log_w = marginal.importance_log_weights(model, x, model.prior(), n)  # (S, B) = log p(x|h)
    lhs = elbo.log_mean_exp(log_w, dim=0)  # (B,)
    w = torch.exp(log_w - lhs)  # weights relative to their mean, (S, B)
    se_log = w.std(0) / math.sqrt(n)  # delta method: SE(log mean w) = SE(mean w) / mean w
    return mc_outcome(
        ctx, lhs, model.log_px(x), se_log, "log of the mean of p(x|h) over prior samples vs closed form", n
    )


def marginal_discrete_sum(ctx: Context) -> Outcome:
    k, d = 3, 4
    codes = torch.cartesian_prod(*[ctx.tensor([0.0, 1.0])] * k)  # (8, k): every binary h
    probs = ctx.tensor([0.3, 0.6, 0.45])  # p(h_j = 1)
    log_ph = (codes * probs.log() + (1 - codes) * (1 - probs).log()).sum(-1)  # (8,)
    W, b, sigma = ctx.randn(d, k, offset=0), ctx.randn(d, offset=1), 0.7
    x = ctx.randn(5, d, offset=2)  # (B, d)
    log_px_h = Normal(codes @ W.T + b, sigma).log_prob(x.unsqueeze(1)).sum(-1)  # (B, 8)
    lhs = marginal.log_px_discrete(log_ph, log_px_h)  # the lecture's sum, (B,)
    mixture = torch.distributions.MixtureSameFamily(
        torch.distributions.Categorical(logits=log_ph),
        torch.distributions.Independent(Normal(codes @ W.T + b, sigma), 1),
    )
    return closed_outcome(ctx, lhs, mixture.log_prob(x), "marginal.log_px_discrete vs torch MixtureSameFamily.log_prob")


# ============================================================================================
# eq:naive-sampling  sampling h from the prior: the effective sample size collapses
# ============================================================================================


def _scaled_model(ctx: Context, data_dim: int, latent_dim: int) -> lg.LinearGaussian:
    """Orthogonal W with column norms growing like sqrt(data_dim): each pixel adds information."""
    base = ctx.model(data_dim=data_dim, latent_dim=latent_dim, sigma=0.5)
    return lg.LinearGaussian(base.W * math.sqrt(data_dim / 4), base.b, 0.5)


def _cov(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return ((a - a.mean(0)) * (b - b.mean(0))).sum(0) / (a.shape[0] - 1)


def ess_prior_matches_theory(ctx: Context) -> Outcome:
    model = _scaled_model(ctx, data_dim=4, latent_dim=2)
    x = data(model, 3)
    n = settings.pick(full=400_000, smoke=50_000)
    with ctx.seeded():
        log_w = marginal.importance_log_weights(model, x, model.prior(), n)  # (S, B)
    lhs = marginal.effective_sample_size(log_w, dim=0) / n  # (B,)
    # delta-method standard error of f = a^2 / c, a = mean(w), c = mean(w^2) (w rescaled by its max)
    w = torch.exp(log_w - log_w.max(0).values)
    a, c = w.mean(0), w.pow(2).mean(0)
    cov = torch.stack([torch.stack([w.var(0), _cov(w, w.pow(2))]), torch.stack([_cov(w, w.pow(2)), w.pow(2).var(0)])])
    grad = torch.stack([2 * a / c, -a.pow(2) / c.pow(2)])  # (2, B)
    se = torch.sqrt(torch.einsum("ib,ijb,jb->b", grad, cov, grad) / n)
    return mc_outcome(
        ctx,
        lhs,
        model.prior_sampling_ess_fraction(x),
        se,
        "marginal.effective_sample_size on prior samples vs LinearGaussian.prior_sampling_ess_fraction",
        n,
        what="delta-method",
    )


def ess_exact_posterior(ctx: Context) -> Outcome:
    model = _scaled_model(ctx, data_dim=64, latent_dim=8)
    x = data(model, 3)
    n = settings.pick(full=4000, smoke=1000)
    with ctx.seeded():
        log_w = marginal.importance_log_weights(model, x, model.encode(x), n)  # (S, B)
    lhs = marginal.effective_sample_size(log_w, dim=0) / n
    return closed_outcome(
        ctx,
        lhs,
        torch.ones_like(lhs),
        f"ESS/S of {n} draws from LinearGaussian.encode (exact)",
        extra=1e3 * torch.finfo(ctx.dtype).eps * math.sqrt(n),
        why="accumulated rounding of the weights",
    )


def ess_prior_collapses(ctx: Context) -> Outcome:
    model = _scaled_model(ctx, data_dim=64, latent_dim=8)  # the model of ess-exact-posterior (same seed)
    x = data(model, 3)
    n = settings.pick(full=20_000, smoke=5000)
    with ctx.seeded(offset=1):
        log_w = marginal.importance_log_weights(model, x, model.prior(), n)  # (S, B)
    measured = marginal.effective_sample_size(log_w, dim=0) / n  # (B,)
    return Outcome(
        float(measured.max()),
        0.01,
        0.0,
        f"largest ESS/S over the batch with {n} prior draws",
        "a threshold: at most 1% of the samples are effective",
        relation="<=",
    )


CHECKS = [
    Check(
        "marginal-quadrature",
        "eq:marginal",
        "log p(x) of a 2-D-latent linear-Gaussian model: grid quadrature of p(x|h)p(h) = closed form",
        marginal_quadrature,
        seed=11,
    ),
    Check(
        "marginal-monte-carlo",
        "eq:marginal",
        "p(x) = E_{h~p(h)}[p(x|h)]: the prior-sampling average converges to the closed form",
        marginal_monte_carlo,
        seed=12,
    ),
    Check(
        "marginal-discrete-sum",
        "eq:marginal",
        "discrete latent: p(x) = sum_h p(h) p(x|h) over 8 binary codes h = torch's mixture density",
        marginal_discrete_sum,
        seed=13,
    ),
    Check(
        "ess-prior-matches-theory",
        "eq:naive-sampling",
        "ESS/S of importance sampling from the prior (w = p(x|h)) = (E w)^2 / E w^2 in closed form",
        ess_prior_matches_theory,
        seed=21,
    ),
    Check(
        "ess-exact-posterior",
        "eq:naive-sampling",
        "sampling h from the exact posterior Q = p(h|x): every weight equals p(x), so ESS = S",
        ess_exact_posterior,
        seed=22,
    ),
    Check(
        "ess-prior-collapses",
        "eq:naive-sampling",
        "data_dim 64, latent_dim 8: ESS/S from the prior is far below 1% (it is 1 from the posterior)",
        ess_prior_collapses,
        seed=22,
    ),
]
