"""Each check of book/ising_generative.md and book/spectra.md FAILS when its formula is broken.

The same idea as tests/checks/mutations_lecture.py, for the two physics chapters: swap in a broken
formula (the energy with one bond direction, C(r) shifted by one site, the KL to the wrong prior,
the quadrature without its cell area, Binder's cumulant without the 3, the fit through the origin,
the Gaussian log-likelihood without its normalisation ...) and assert that the check guarding it
reports a failure (tests/checks/test_mutations.py).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from vaecourse import elbo, marginal, models
from vaecourse.checks import ising_generative, spectra
from vaecourse.ising import conditional, exact, finite_size

correlation = exact.correlation_function
_quadrature = marginal.log_px_quadrature
_binder = finite_size.binder_cumulant
_extrapolate = finite_size.extrapolate
_iwae = elbo.iwae


def _energy_one_direction(spins):
    s = spins.to(torch.float32)
    return -(s * torch.roll(s, -1, dims=-1)).mean(dim=(-2, -1))


def _magnetisation_squared(spins):
    return spins.to(torch.float32).mean(dim=(-2, -1)) ** 2


def _correlation_shifted(spins, r_max=None):
    c = correlation(spins, r_max)
    return torch.cat([c[:, :1], torch.roll(c[:, 1:], -1, dims=-1)], -1)


def _conditional_elbo_standard_prior(model, rows, n_samples=1):
    q = model.encode(rows)
    h = q.rsample((n_samples,))
    kl = 0.5 * (q.scale**2 + q.loc**2 - 1 - torch.log(q.scale**2)).sum(-1)  # against N(0, I), not p(h|T)
    return model.log_likelihood(rows, h).mean(0) - kl


def _conditional_elbo_without_kl(model, rows, n_samples=1):
    return model.log_likelihood(rows, model.encode(rows).rsample((n_samples,))).mean(0)


def _quadrature_without_cell_area(model, x, grid_size=201, limit=5.0):
    return _quadrature(model, x, grid_size, limit) - 2 * math.log(2 * limit / (grid_size - 1))


def _iwae_mean_of_logs(model, x, k, chunk_size=None):
    q = model.encode(x)
    h = q.rsample((k,))
    return (model.log_likelihood(x, h) + model.prior().log_prob(h).sum(-1) - q.log_prob(h).sum(-1)).mean(0)


def _binder_without_three(temperature, magnetisation):
    grid, u = _binder(temperature, magnetisation)
    return grid, 1 - (1 - u) * 3


def _fit_through_origin(sizes, values, errors, nu=1.0):
    fit = _extrapolate(sizes, values, errors, nu)
    slope = float(np.sum(np.asarray(values) / np.asarray(sizes, float)) / np.sum(np.asarray(sizes, float) ** -2.0))
    return finite_size.Extrapolation(0.0, fit.tc_error, slope, fit.a_error, fit.chi2, fit.dof, nu)


def _gaussian_without_log_scale(x, mean, log_scale, event_dims):
    per_pixel = -0.5 * ((x - mean) * torch.exp(-log_scale)) ** 2 - 0.5 * math.log(2 * math.pi)
    return per_pixel.flatten(-event_dims).sum(-1)


def _gaussian_variance_for_std(x, mean, log_scale, event_dims):
    per_pixel = -0.5 * ((x - mean) * torch.exp(-2 * log_scale)) ** 2 - log_scale - 0.5 * math.log(2 * math.pi)
    return per_pixel.flatten(-event_dims).sum(-1)


def _gaussian_without_half(x, mean, log_scale, event_dims):
    per_pixel = -(((x - mean) * torch.exp(-log_scale)) ** 2) - log_scale - 0.5 * math.log(2 * math.pi)
    return per_pixel.flatten(-event_dims).sum(-1)


MUTATIONS = [
    # book/ising_generative.md
    (
        "conditional ELBO: KL to N(0, I) instead of p(h|T)",
        conditional,
        "conditional_elbo",
        _conditional_elbo_standard_prior,
        ["cvae-elbo-vs-quadrature"],
    ),
    (
        "conditional ELBO: KL forgotten",
        conditional,
        "conditional_elbo",
        _conditional_elbo_without_kl,
        ["cvae-elbo-vs-quadrature"],
    ),
    (
        "quadrature: forget the cell area",
        marginal,
        "log_px_quadrature",
        _quadrature_without_cell_area,
        ["cvae-elbo-vs-quadrature", "cvae-iwae-vs-quadrature", "gaussian-vae-iwae-vs-quadrature"],
    ),
    (
        "IWAE: mean of log weights",
        elbo,
        "iwae",
        _iwae_mean_of_logs,
        ["cvae-iwae-vs-quadrature", "gaussian-vae-iwae-vs-quadrature"],
    ),
    (
        "energy: one bond direction",
        exact,
        "energy_per_spin",
        _energy_one_direction,
        ["observables-vs-enumeration", "energy-is-minus-two-c1"],
    ),
    ("magnetisation: squared", exact, "magnetisation", _magnetisation_squared, ["observables-vs-enumeration"]),
    (
        "C(r): shifted by one site",
        exact,
        "correlation_function",
        _correlation_shifted,
        ["observables-vs-enumeration", "energy-is-minus-two-c1"],
    ),
    ("Binder: without the 3", finite_size, "binder_cumulant", _binder_without_three, ["binder-limits"]),
    (
        "finite-size fit through the origin",
        finite_size,
        "extrapolate",
        _fit_through_origin,
        ["fss-fit-recovers-a-line"],
    ),
    # book/spectra.md
    (
        "Gaussian log-likelihood: -log sigma forgotten",
        models,
        "_gaussian_log_prob",
        _gaussian_without_log_scale,
        ["gaussian-log-likelihood-vs-torch"],
    ),
    (
        "Gaussian log-likelihood: sigma^2 where sigma belongs",
        models,
        "_gaussian_log_prob",
        _gaussian_variance_for_std,
        ["gaussian-log-likelihood-vs-torch"],
    ),
    (
        "Gaussian log-likelihood: the 1/2 forgotten",
        models,
        "_gaussian_log_prob",
        _gaussian_without_half,
        ["gaussian-log-likelihood-vs-torch", "mse-is-fixed-variance-gaussian"],
    ),
    (
        "ELBO: KL added instead of subtracted",
        elbo,
        "elbo",
        lambda model, x, n_samples=1, analytic_kl=True: sum(elbo.elbo_terms(model, x, n_samples)),
        ["gaussian-vae-elbo-below-iwae"],
    ),
]

CHAPTER_CHECKS = {c.name for c in [*ising_generative.CHECKS, *spectra.CHECKS]}  # what MUTATIONS must guard
