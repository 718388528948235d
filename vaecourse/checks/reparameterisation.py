"""Checks of book/reparameterisation.md: naive (wrong), reparameterised and score-function gradients.

Label eq:reparameterisation.

The test problem: d/d(mu, sigma) E_{N(mu, sigma^2)}[sum h^2] = (2 mu, 2 sigma), exactly. Each
function compares an estimator of vaecourse.reparameterisation with it; the estimators are looked
up at call time, so a test can swap in a broken one and watch the check fail.
"""

from __future__ import annotations

import torch

from vaecourse import reparameterisation, settings
from vaecourse.checks._core import Z_SCORE, Check, Context, Outcome, mc_outcome, must_exceed


def _gradient_problem(ctx: Context):
    mu, sigma = ctx.tensor([0.7, -1.2, 0.3]), ctx.tensor([0.5, 1.1, 0.8])

    def f(h: torch.Tensor) -> torch.Tensor:  # E[sum h^2] = sum (mu^2 + sigma^2)
        return h.pow(2).sum(-1)

    return f, mu, sigma, 2 * mu, 2 * sigma  # exact gradients


def _unbiased(ctx: Context, estimator, method: str, n: int) -> Outcome:
    """The mean of ``n`` per-sample gradients of ``estimator`` vs the exact (2 mu, 2 sigma), worst coordinate."""
    f, mu, sigma, g_mu, g_sigma = _gradient_problem(ctx)
    with ctx.seeded():
        estimate = estimator(f, mu, sigma, n)
    lhs = torch.cat([estimate.mean_mu, estimate.mean_sigma])
    se = torch.cat([estimate.se_mu, estimate.se_sigma])
    return mc_outcome(
        ctx, lhs, torch.cat([g_mu, g_sigma]), se, f"{method} vs exact (2 mu, 2 sigma); worst coordinate", n
    )


def reparameterised_gradient(ctx: Context) -> Outcome:
    return _unbiased(
        ctx,
        reparameterisation.reparameterised_gradient,
        "reparameterisation.reparameterised_gradient",
        settings.pick(full=200_000, smoke=40_000),
    )


def score_function_gradient(ctx: Context) -> Outcome:
    return _unbiased(
        ctx,
        reparameterisation.score_function_gradient,
        "reparameterisation.score_function_gradient",
        settings.pick(full=200_000, smoke=20_000),
    )


def naive_gradient_is_wrong(ctx: Context) -> Outcome:
    f, mu, sigma, g_mu, g_sigma = _gradient_problem(ctx)
    n = settings.pick(full=20_000, smoke=5000)
    with ctx.seeded():
        naive = reparameterisation.naive_gradient(f, mu, sigma, n)
        reference = reparameterisation.reparameterised_gradient(f, mu, sigma, n)
    miss = (torch.cat([naive.mean_mu, naive.mean_sigma]) - torch.cat([g_mu, g_sigma])).abs()  # (6,)
    se = torch.cat([reference.se_mu, reference.se_sigma])
    i = int((miss / se).argmax())
    return must_exceed(
        miss[i],
        0.0,
        Z_SCORE * se[i],
        "|reparameterisation.naive_gradient - exact|, worst coordinate",
        f"must miss by more than {Z_SCORE:g} standard errors of the reparameterised estimate (n={n})",
    )


def reparameterised_variance(ctx: Context) -> Outcome:
    f, mu, sigma, _, _ = _gradient_problem(ctx)
    n = settings.pick(full=200_000, smoke=40_000)
    with ctx.seeded():
        est = reparameterisation.reparameterised_gradient(f, mu, sigma, n)
    samples = torch.cat([est.per_sample_mu, est.per_sample_sigma], dim=-1)  # (S, 6)
    centred = samples - samples.mean(0)
    var = centred.pow(2).mean(0)
    se = torch.sqrt((centred.pow(4).mean(0) - var.pow(2)) / n)
    exact = torch.cat([4 * sigma.pow(2), 4 * mu.pow(2) + 8 * sigma.pow(2)])
    return mc_outcome(ctx, var, exact, se, "measured variance vs Gaussian moments", n, what="sample-variance")


def reparameterised_beats_score_function(ctx: Context) -> Outcome:
    f, mu, sigma, _, _ = _gradient_problem(ctx)
    n = settings.pick(full=100_000, smoke=20_000)
    with ctx.seeded():
        rep = reparameterisation.reparameterised_gradient(f, mu, sigma, n)
        score = reparameterisation.score_function_gradient(f, mu, sigma, n)
    ratio = torch.cat([rep.var_mu / score.var_mu, rep.var_sigma / score.var_sigma])
    return Outcome(
        float(ratio.max()),
        0.5,
        0.0,
        "variance ratio reparameterised / score function, per coordinate",
        "a threshold: at least a factor 2 smaller in every coordinate",
        relation="<=",
    )


CHECKS = [
    Check(
        "reparameterised-gradient",
        "eq:reparameterisation",
        "d/d(mu, sigma) E_{N(mu, sigma^2)}[sum h^2] = (2 mu, 2 sigma): the reparameterised estimator is unbiased",
        reparameterised_gradient,
        seed=111,
    ),
    Check(
        "score-function-gradient",
        "eq:reparameterisation",
        "the score-function (REINFORCE) estimator is unbiased for the same gradient (2 mu, 2 sigma)",
        score_function_gradient,
        seed=112,
    ),
    Check(
        "naive-gradient-is-wrong",
        "eq:reparameterisation",
        "differentiating f(h) for a sample h drawn without reparameterisation misses the gradient (2 mu, 2 sigma)",
        naive_gradient_is_wrong,
        seed=113,
    ),
    Check(
        "reparameterised-variance",
        "eq:reparameterisation",
        "per-sample variance of the reparameterised gradient = 4 sigma^2 (mu) and 4 mu^2 + 8 sigma^2 (sigma)",
        reparameterised_variance,
        seed=114,
    ),
    Check(
        "reparameterised-beats-score-function",
        "eq:reparameterisation",
        "the reparameterised gradient has lower variance than the score-function one (largest ratio shown)",
        reparameterised_beats_score_function,
        seed=115,
    ),
]
