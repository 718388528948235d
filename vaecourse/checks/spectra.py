"""Checks of book/spectra.md: the Gaussian decoder's log-likelihood against torch.distributions
(eq:gaussian-likelihood), MSE as a fixed-variance Gaussian (eq:mse-gaussian), and the trained
Gaussian VAE's ELBO and IWAE against quadrature (eq:gaussian-elbo).

Each function compares two independent routes; its formulas are looked up through their modules
at call time, so a test can swap in a broken formula and watch the check fail.
"""

from __future__ import annotations

import math

import torch
from torch.distributions import Normal

from vaecourse import elbo, marginal, models
from vaecourse import spectra as sp
from vaecourse.checks._core import Check, Context, Outcome, closed_outcome, mc_outcome, mean_se


def _random_gaussian_vae(ctx: Context):
    with ctx.seeded():
        model = models.VAE(data_dim=12, hidden=16, latent_dim=2, likelihood="gaussian").to(ctx.device, ctx.dtype)
    with torch.no_grad():
        model.log_scale.fill_(-0.7)
    return model


def gaussian_vs_torch(ctx: Context) -> Outcome:
    model = _random_gaussian_vae(ctx)
    x, h = ctx.randn(5, 12), ctx.randn(3, 5, 2, offset=1)
    ours = model.log_likelihood(x, h)  # (3, 5)
    reference = Normal(model.decoder_mean(h), torch.exp(model.log_scale)).log_prob(x).sum(-1)
    return closed_outcome(
        ctx,
        ours.detach(),
        reference.detach(),
        "VAE(likelihood='gaussian').log_likelihood vs torch.distributions.Normal(mean, sigma).log_prob",
    )


def mse_is_fixed_variance(ctx: Context) -> Outcome:
    model = _random_gaussian_vae(ctx)
    with torch.no_grad():
        model.log_scale.fill_(0.0)
    x, h = ctx.randn(5, 12), ctx.randn(5, 2, offset=1)
    squared = ((x - model.decoder_mean(h)) ** 2).sum(-1)  # (5,)
    return closed_outcome(
        ctx,
        -model.log_likelihood(x, h).detach(),
        (0.5 * squared + 6 * math.log(2 * math.pi)).detach(),
        "-log N(x; mu, I) of the model vs 0.5 * sum (x - mu)^2 + (D/2) log 2 pi",
    )


def _trained_gaussian_vae(ctx: Context):
    """A Gaussian VAE (2-D latent) trained briefly on 400 standardised spectra of 24 pixels, and 4 of them."""
    if "spectra-vae" not in ctx.cache:
        from vaecourse.train import TrainConfig, fit

        data = sp.spectra_dataset(sp.SpectraConfig(n=400, n_pixels=24, seed=ctx.seed), cache=False)
        x = (data.flux - data.flux.mean(0)) / data.flux.std(0)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(ctx.seed)
            model = models.VAE(data_dim=24, hidden=32, latent_dim=2, likelihood="gaussian")
        # Trained on the CPU, deliberately, whatever ctx.device is: the same weights (so the same check
        # numbers) on every machine; the trained model then moves to ctx.device.
        fit(
            model, x, TrainConfig(epochs=3, batch_size=32, binarize="grey", seed=ctx.seed, device="cpu"), progress=False
        )
        ctx.cache["spectra-vae"] = (model, x[:4])
    model, x = ctx.cache["spectra-vae"]
    return model.to(ctx.device, ctx.dtype), x.to(ctx.device, ctx.dtype)


def iwae_vs_quadrature(ctx: Context) -> Outcome:
    model, x = _trained_gaussian_vae(ctx)
    repeats, k = 10, 500
    with ctx.seeded(), torch.no_grad():
        values = torch.stack([elbo.iwae(model, x, k) for _ in range(repeats)])  # (R, B)
        reference = marginal.log_px_quadrature(model, x, grid_size=301, limit=6.0)
    mean, se = mean_se(values)
    return mc_outcome(
        ctx,
        mean,
        reference,
        se,
        "elbo.iwae (K = 500) vs marginal.log_px_quadrature (301 x 301 grid)",
        repeats * k,
        extra=0.02,
        why="the IWAE bias at K = 500",
    )


def elbo_below_iwae(ctx: Context) -> Outcome:
    model, x = _trained_gaussian_vae(ctx)
    repeats = 10
    with ctx.seeded(), torch.no_grad():
        lower = torch.stack([elbo.elbo(model, x, n_samples=500) for _ in range(repeats)]).mean(0)
        upper = torch.stack([elbo.iwae(model, x, 500) for _ in range(repeats)])
    mean, se = mean_se(upper)
    # ELBO <= IWAE_K for every data point; report the data point closest to violating it
    margin = upper.mean(0) - lower
    i = int(torch.argmin(margin / (se + 1e-12)))
    return Outcome(
        float(lower[i]),
        float(mean[i]),
        float(5 * se[i]),
        "elbo.elbo (500 samples) vs elbo.iwae (K = 500)",
        "5 standard errors of the IWAE estimate (repeats=10)",
        relation="<=",
    )


CHECKS = [
    Check(
        "gaussian-log-likelihood-vs-torch",
        "eq:gaussian-likelihood",
        "the Gaussian decoder's log p(x|h) equals torch.distributions.Normal's log_prob summed over pixels",
        gaussian_vs_torch,
        seed=201,
    ),
    Check(
        "mse-is-fixed-variance-gaussian",
        "eq:mse-gaussian",
        "with sigma = 1, -log p(x|h) is half the summed squared error plus a constant",
        mse_is_fixed_variance,
        seed=202,
    ),
    Check(
        "gaussian-vae-iwae-vs-quadrature",
        "eq:gaussian-elbo",
        "trained Gaussian VAE on spectra: the IWAE bound approaches log p(x) from quadrature",
        iwae_vs_quadrature,
        seed=203,
    ),
    Check(
        "gaussian-vae-elbo-below-iwae",
        "eq:gaussian-elbo",
        "trained Gaussian VAE on spectra: ELBO <= IWAE bound",
        elbo_below_iwae,
        seed=203,
    ),
]
