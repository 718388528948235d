"""Checks of book/kl_divergence.md: D[Q||P] = E_Q[log Q - log P] >= 0, = 0 iff Q = P, not symmetric.

Label eq:kl-definition.

Each function compares two independent routes; its formulas are looked up through their modules
at call time, so a test can swap in a broken formula and watch the check fail.
"""

from __future__ import annotations

import torch
from torch.distributions import MultivariateNormal

from vaecourse import kl, settings
from vaecourse.checks._core import Check, Context, Outcome, closed_outcome, mc_outcome, must_exceed
from vaecourse.checks._problems import gaussian_pairs


def kl_definition_monte_carlo(ctx: Context) -> Outcome:
    mu0, cov0, mu1, cov1 = gaussian_pairs(ctx, (4,), 3)
    n = settings.pick(full=200_000, smoke=20_000)
    with ctx.seeded():
        estimate, se = kl.kl_monte_carlo(MultivariateNormal(mu0, cov0), MultivariateNormal(mu1, cov1), n)
    return mc_outcome(
        ctx,
        estimate,
        kl.kl_gaussians(mu0, cov0, mu1, cov1),
        se,
        "kl.kl_monte_carlo (the definition) vs kl.kl_gaussians",
        n,
    )


def kl_nonnegative(ctx: Context) -> Outcome:
    mu0, cov0, mu1, cov1 = gaussian_pairs(ctx, (512,), 4)
    # half of the pairs are near-identical (mean off by 0.05, covariance by a factor 1 + 0.1|n|):
    # there the divergence is small, and a wrong formula most easily dips below zero
    near_cov = cov0[:256] * (1 + 0.1 * ctx.randn(256, 1, 1, offset=4).abs())
    values = kl.kl_gaussians(mu0, cov0, torch.cat([mu0[:256] + 0.05, mu1[256:]]), torch.cat([near_cov, cov1[256:]]))
    return must_exceed(
        values.min(),
        0.0,
        ctx.floor(),
        "kl.kl_gaussians on random distinct pairs",
        "strictly positive: above the rounding floor",
    )


def kl_zero_iff_equal(ctx: Context) -> Outcome:
    mu, cov, _, _ = gaussian_pairs(ctx, (64,), 4)
    values = kl.kl_gaussians(mu, cov, mu, cov)
    largest = values.abs().argmax()
    return closed_outcome(
        ctx,
        values[largest],
        torch.zeros_like(values[largest]),
        "kl.kl_gaussians(P, P)",
        extra=ctx.floor(10.0),
        why="rounding of the log-determinants",
    )


def kl_asymmetric(ctx: Context) -> Outcome:
    eye = torch.eye(3, dtype=ctx.dtype, device=ctx.device)
    zeros = torch.zeros(3, dtype=ctx.dtype, device=ctx.device)
    mu0, cov0, mu1, cov1 = zeros, eye, zeros + 1, 4 * eye
    forward, backward = kl.kl_gaussians(mu0, cov0, mu1, cov1), kl.kl_gaussians(mu1, cov1, mu0, cov0)
    return must_exceed(
        backward,
        forward,
        0.1,
        "kl.kl_gaussians both ways: D[P||Q] vs D[Q||P]",
        "D[P||Q] must exceed D[Q||P] by at least 0.1 nats",
    )


CHECKS = [
    Check(
        "kl-definition-monte-carlo",
        "eq:kl-definition",
        "D[Q||P] = E_Q[log Q(h) - log P(h)]: Monte Carlo over Q = kl.kl_gaussians (3-D, full covariances)",
        kl_definition_monte_carlo,
        seed=31,
    ),
    Check(
        "kl-nonnegative",
        "eq:kl-definition",
        "D[Q||P] > 0 for 512 random pairs Q != P of 4-D Gaussians, half of them nearly equal (smallest shown)",
        kl_nonnegative,
        seed=32,
    ),
    Check(
        "kl-zero-iff-equal",
        "eq:kl-definition",
        "D[P||P] = 0 for random 4-D Gaussians P (largest |value| shown)",
        kl_zero_iff_equal,
        seed=33,
    ),
    Check(
        "kl-asymmetric",
        "eq:kl-definition",
        "D[P||Q] != D[Q||P]: Q = N(0, I), P = N(1, 4 I) in 3-D, where D[P||Q] is the larger",
        kl_asymmetric,
        seed=34,
    ),
]
