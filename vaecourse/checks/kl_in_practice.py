"""Checks of book/kl_in_practice.md: rate + distortion = -ELBO (eq:rate-distortion), the beta-ELBO
(eq:beta-elbo), the active-units count (eq:active-units), free bits (eq:free-bits) and the
autoregressive decoder's mask (eq:autoregressive-decoder).

Each function compares two independent routes; its formulas are looked up through their modules
at call time, so a test can swap in a broken formula and watch the check fail.
"""

from __future__ import annotations

import torch
from torch.distributions import Normal, kl_divergence

from vaecourse import autoregressive, elbo, kl, models, settings
from vaecourse import rate_distortion as rd
from vaecourse.checks._core import Check, Context, Outcome, closed_outcome, mc_outcome, mean_se
from vaecourse.checks._problems import data, diag_cov


def _imperfect(ctx: Context):
    """A linear-Gaussian model whose Q is off the posterior (shifted and too wide), and 4 observations."""
    model = ctx.model(data_dim=6, latent_dim=3, sigma=0.5, orthogonal=True).with_q(shift=0.4, scale=1.5)
    return model, data(model, 4)


def rate_plus_distortion(ctx: Context) -> Outcome:
    model, x = _imperfect(ctx)
    with ctx.seeded():
        rate, distortion = rd.rate_distortion(model, x, n_samples=8)
    with ctx.seeded():  # the same draws of h
        value = elbo.elbo(model, x, n_samples=8)
    return closed_outcome(
        ctx,
        rate + distortion,
        -value,
        "rate_distortion (per-unit KL) vs -elbo.elbo (kl.kl_standard_normal), same samples",
        extra=ctx.floor(100.0),
        why="rounding of the sampled terms",
    )


def rate_is_kl_to_prior(ctx: Context) -> Outcome:
    model, x = _imperfect(ctx)
    q = model.encode(x)
    rate, _ = rd.rate_distortion(model, x)
    k = q.loc.shape[-1]
    eye = torch.eye(k, dtype=ctx.dtype, device=ctx.device)
    exact = kl.kl_gaussians(q.loc, diag_cov(q), torch.zeros_like(q.loc), eye)
    return closed_outcome(
        ctx, rate, exact, "rate_distortion's rate vs kl.kl_gaussians(Q, N(0, I)) (full-covariance route)"
    )


def distortion_monte_carlo(ctx: Context) -> Outcome:
    model, x = _imperfect(ctx)
    repeats, n = settings.pick(full=(400, 100), smoke=(100, 50))
    with ctx.seeded():
        _, distortion = rd.rate_distortion(model, x.repeat(repeats, 1), n_samples=n)  # (R*B,)
    mean, se = mean_se(distortion.detach().reshape(repeats, x.shape[0]))
    exact = -model.expected_log_likelihood(x, model.encode(x))
    return mc_outcome(
        ctx,
        mean,
        exact,
        se,
        "rate_distortion's distortion (Monte Carlo) vs -LinearGaussian.expected_log_likelihood (closed form)",
        repeats * n,
    )


def beta_weights_the_rate(ctx: Context) -> Outcome:
    model, x = _imperfect(ctx)
    beta = 4.0
    with ctx.seeded():
        value = rd.beta_elbo(model, x, beta, n_samples=8)
    with ctx.seeded():
        reconstruction, kl_term = elbo.elbo_terms(model, x, n_samples=8)
    return closed_outcome(
        ctx,
        value,
        reconstruction - beta * kl_term,
        "rate_distortion.beta_elbo(beta = 4) vs elbo.elbo_terms: reconstruction - 4 KL, same samples",
        extra=ctx.floor(100.0),
        why="rounding of the sampled terms",
    )


def free_bits_floor(ctx: Context) -> Outcome:
    # three units whose batch-mean rate (~0.18) is below tau while single images straddle it, three far above
    mu = torch.cat([0.6 * ctx.randn(32, 3), 1.4 + 0.3 * ctx.randn(32, 3, offset=1)], -1)
    sigma = torch.cat([1.0 + 0.05 * ctx.randn(32, 3, offset=2), 0.5 + 0.05 * ctx.randn(32, 3, offset=3)], -1).abs()
    q = Normal(mu, sigma)
    tau = 0.25  # the free-bits floor
    per_unit = kl_divergence(q, Normal(torch.zeros_like(mu), torch.ones_like(mu)))  # (32, 6)
    expected = per_unit.mean(0).clamp(min=tau).sum()
    return closed_outcome(
        ctx,
        rd.free_bits_rate(q, tau).mean(),
        expected,
        "batch mean of free_bits_rate vs sum_j max(tau, mean_b kl_divergence(Q_bj, N(0,1)))",
    )


KNOWN_ACTIVE = 3


def _known_model(ctx: Context) -> models.VAE:
    """A random MLP VAE (6 latents) whose encoder mean uses 3 units; a 4th moves only a little (Var ~ 1e-3)."""
    with ctx.seeded():
        model = models.VAE(data_dim=20, hidden=16, latent_dim=6).to(ctx.device, ctx.dtype)
    with torch.no_grad():
        weight, bias = model.encoder.enc_mu.weight, model.encoder.enc_mu.bias  # (6, 16), (6,)
        weight[:KNOWN_ACTIVE] *= 20.0  # clearly active
        weight[KNOWN_ACTIVE] *= 1.5  # a standard deviation of a few hundredths: still inactive
        weight[KNOWN_ACTIVE + 1 :] = 0.0  # constant means: inactive
        bias[KNOWN_ACTIVE + 1 :] = 0.7
    return model


def active_units_known(ctx: Context) -> Outcome:
    model = _known_model(ctx)
    x = torch.bernoulli(torch.full((400, 20), 0.4, dtype=ctx.dtype), generator=torch.Generator().manual_seed(ctx.seed))
    activity = rd.unit_activity(model, x.to(ctx.device))
    counted = torch.tensor(float(rd.active_units(model, x.to(ctx.device))))
    return closed_outcome(
        ctx,
        counted,
        torch.tensor(float(KNOWN_ACTIVE)),
        f"active_units vs the {KNOWN_ACTIVE} units the encoder was built to use "
        f"(activities {', '.join(f'{a:.2g}' for a in activity.tolist())})",
    )


def autoregressive_is_causal(ctx: Context) -> Outcome:
    with ctx.seeded():
        model = autoregressive.AutoregressiveVAE(hidden=8, latent_dim=2).to(ctx.device, ctx.dtype)
        with torch.no_grad():
            model.pixel_weights.copy_(0.1 * ctx.randn(784, 784))
    x = torch.bernoulli(torch.full((1, 784), 0.3, dtype=ctx.dtype), generator=torch.Generator().manual_seed(ctx.seed))
    x = x.to(ctx.device)
    h = torch.zeros(1, 2, dtype=ctx.dtype, device=ctx.device)
    before, after = 0.0, float("inf")
    for e in (0, 100, 391, 600, 782):  # flip pixel e: the logits of pixels d <= e must not move
        flipped = x.clone()
        flipped[0, e] = 1 - flipped[0, e]
        with torch.no_grad():
            change = (model.logits(flipped, h) - model.logits(x, h)).abs()[0]  # (784,)
        before = max(before, float(change[: e + 1].max()))
        after = min(after, float(change[e + 1 :].max()))
    return closed_outcome(
        ctx,
        torch.tensor(before),
        torch.tensor(0.0),
        "AutoregressiveVAE.logits: largest change of pixels d <= e after flipping pixel e "
        f"(later pixels move by at least {after:.2g})",
    )


CHECKS = [
    Check(
        "rate-plus-distortion-is-minus-elbo",
        "eq:rate-distortion",
        "rate + distortion = -ELBO on the same samples of h (linear-Gaussian model, imperfect Q)",
        rate_plus_distortion,
        seed=171,
    ),
    Check(
        "rate-is-kl-to-prior",
        "eq:rate-distortion",
        "the rate is D[Q||N(0, I)]: per-unit sum vs the full-covariance formula",
        rate_is_kl_to_prior,
        seed=171,
    ),
    Check(
        "distortion-monte-carlo",
        "eq:rate-distortion",
        "the distortion estimate averages to -E_Q[log p(x|h)] in closed form",
        distortion_monte_carlo,
        seed=172,
    ),
    Check(
        "beta-elbo-weights-the-rate",
        "eq:beta-elbo",
        "the beta-ELBO is -(Dist + beta R): reconstruction minus beta times the KL, same samples",
        beta_weights_the_rate,
        seed=173,
    ),
    Check(
        "active-units-known-count",
        "eq:active-units",
        f"a VAE built to use {KNOWN_ACTIVE} of 6 latent units has {KNOWN_ACTIVE} active units (Var_x E_Q[h_j] > 0.01)",
        active_units_known,
        seed=175,
    ),
    Check(
        "autoregressive-decoder-is-causal",
        "eq:autoregressive-decoder",
        "the autoregressive decoder's logit of pixel d does not change when a pixel e >= d is flipped",
        autoregressive_is_causal,
        seed=176,
    ),
    Check(
        "free-bits-floor",
        "eq:free-bits",
        "free bits: the batch-mean rate is sum_j max(tau, E_x[R_j]) (3 units below tau, 3 above)",
        free_bits_floor,
        seed=174,
    ),
]
