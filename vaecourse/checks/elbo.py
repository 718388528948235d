"""Checks of book/elbo.md: with the exact posterior as Q the ELBO equals log p(x) (eq:exact-posterior).

Each function compares two independent routes; its formulas are looked up through their modules
at call time, so a test can swap in a broken formula and watch the check fail.
"""

from __future__ import annotations

from vaecourse import elbo, settings
from vaecourse.checks._core import Check, Context, Outcome, closed_outcome, mc_outcome
from vaecourse.checks._problems import data, elbo_repeats


def exact_posterior_every_sample(ctx: Context) -> Outcome:
    model = ctx.model(data_dim=6, latent_dim=3, sigma=0.5, orthogonal=True)
    x = data(model, 4)
    with ctx.seeded():
        lhs = elbo.elbo(model, x, n_samples=16, analytic_kl=False)
    return closed_outcome(
        ctx,
        lhs,
        model.log_px(x),
        "elbo.elbo with the exact encoder vs LinearGaussian.log_px",
        extra=ctx.floor(100.0),
        why="rounding of the sampled terms",
    )


def exact_posterior_analytic_kl(ctx: Context) -> Outcome:
    model = ctx.model(data_dim=6, latent_dim=3, sigma=0.5, orthogonal=True)
    x = data(model, 4)
    repeats, n = settings.pick(full=(400, 250), smoke=(100, 100))
    with ctx.seeded():
        mean, se = elbo_repeats(model, x, repeats, n)
    return mc_outcome(ctx, mean, model.log_px(x), se, "elbo.elbo (analytic KL) vs LinearGaussian.log_px", repeats * n)


CHECKS = [
    Check(
        "exact-posterior-every-sample",
        "eq:exact-posterior",
        "Q = p(h|x): log p(x,h) - log Q(h) = log p(x) for every sample, so elbo(analytic_kl=False) = log p(x)",
        exact_posterior_every_sample,
        seed=81,
    ),
    Check(
        "exact-posterior-analytic-kl",
        "eq:exact-posterior",
        "Q = p(h|x): E_Q[log p(x|h)] - D[Q||p(h)] (MC + closed-form KL) = log p(x)",
        exact_posterior_analytic_kl,
        seed=82,
    ),
]
