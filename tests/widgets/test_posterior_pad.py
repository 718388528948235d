"""The posterior pad on the kernel side (vaecourse.widgets.posterior_pad, book/latent_space.md): what it
refuses, and its window search, the Python statement of the rule that the page's JavaScript mirrors
(the page itself is tested in tests/browser/test_posterior_pad.py)."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch

from vaecourse import elbo, models, widgets
from vaecourse.widgets import posterior_pad

pytestmark = pytest.mark.usefixtures("one_thread")


def test_pad_refuses_what_it_cannot_show():
    import traitlets

    x = torch.rand(8, 1, 28, 28)
    with pytest.raises(ValueError, match="latent_dim == 2"):
        posterior_pad.PosteriorPad(models.VAE(hidden=16, latent_dim=3, data_shape=(1, 28, 28)), x)
    with pytest.raises(ValueError, match="Bernoulli"):
        posterior_pad.PosteriorPad(models.VAE(hidden=16, data_shape=(1, 28, 28), likelihood="gaussian"), x)
    model = models.VAE(hidden=16, data_shape=(1, 28, 28))
    with pytest.raises(ValueError, match="power of 2"):
        posterior_pad.PosteriorPad(model, x, k=3)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        posterior_pad.PosteriorPad(model, 2 * x)
    with pytest.raises(ValueError, match="dtype"):
        widgets.export_encoder(model, dtype="int8")
    with pytest.raises(ValueError, match="not the course's MLP encoder"):
        widgets.export_encoder(models.ConvVAE())
    pad = posterior_pad.PosteriorPad(model, x)
    with pytest.raises(traitlets.TraitError, match="power of 2"):
        pad.k = 5
    with pytest.raises(ValueError, match="has not reported"):
        pad.input()


@pytest.fixture(scope="module")
def quick_pad():
    """A pad on a 2-D VAE fitted for a few steps to 100 binarised test digits (posteriors of many sizes)."""
    from vaecourse import data, recipes

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", data.OfflineSubsetWarning)
        images, labels = recipes.load_dataset("mnist", "test")
    x = (images[:100] > 0.5).float()
    torch.manual_seed(0)
    model = models.VAE(hidden=64, latent_dim=2, data_shape=(1, 28, 28))
    optimiser = torch.optim.Adam(model.parameters(), lr=2e-3)
    for _ in range(150):
        optimiser.zero_grad()
        elbo.loss(model, x).backward()
        optimiser.step()
    return posterior_pad.PosteriorPad(model.eval(), x, labels[:100], n_points=50, n_images=12), x


def _direct_window(model, x, centre, half, grid_size):
    """One G x G grid centre +- half, written out: log p(x, h) by torch's Bernoulli and Normal, then moments."""
    unit = torch.linspace(-1, 1, grid_size, dtype=torch.float64)
    axis1, axis2 = centre[0] + half[0] * unit, centre[1] + half[1] * unit
    h = torch.stack(torch.meshgrid(axis1, axis2, indexing="ij"), -1).float()  # (G, G, 2)
    with torch.no_grad():
        logits = model.decoder(h.reshape(-1, 2))  # (G*G, D)
        log_joint = (
            torch.distributions.Bernoulli(logits=logits).log_prob(x).sum(-1)
            + torch.distributions.Normal(0.0, 1.0).log_prob(h.reshape(-1, 2)).sum(-1)
        ).double()
    cell = float((axis1[1] - axis1[0]) * (axis2[1] - axis2[0]))
    log_px = float(torch.logsumexp(log_joint, 0)) + math.log(cell)
    p = (log_joint - log_px).exp().reshape(grid_size, grid_size) * cell  # probability of each cell
    inner = p[1:-1, 1:-1].sum()
    mean = torch.stack([(p.sum(1) * axis1).sum(), (p.sum(0) * axis2).sum()])
    var = torch.stack([(p.sum(1) * (axis1 - mean[0]) ** 2).sum(), (p.sum(0) * (axis2 - mean[1]) ** 2).sum()])
    return {
        "axis1": axis1,
        "axis2": axis2,
        "log_joint": log_joint.reshape(grid_size, grid_size),
        "log_px": log_px,
        "edge": float(p.sum() - inner),
        "mean": mean,
        "std": var.sqrt(),
        "half": torch.as_tensor(half),
        "spacing": torch.stack([axis1[1] - axis1[0], axis2[1] - axis2[0]]),
        "cell": cell,
    }


def _direct_compute(model, x, grid_size, widths, max_steps, n):
    """The pad's numbers as book/latent_space.md states the algorithm: Q's grid mu +- widths sigma; while more than
    1e-3 of the posterior lies in the outer ring, double the window; while a posterior std spans under 0.75 cells,
    zoom to its mean +- widths std (at least one cell); each new window centred on the posterior mean."""
    with torch.no_grad():
        q = model.encode(x[None])
    mu, sigma = q.mean[0].double(), q.stddev[0].double()
    first = grid = _direct_window(model, x, mu, widths * sigma, grid_size)
    steps = 0
    while steps < max_steps:
        if grid["edge"] > 1e-3:
            half = 2 * grid["half"]
        elif bool((grid["std"] < 0.75 * grid["spacing"]).any()):
            half = torch.maximum(widths * grid["std"], grid["spacing"])
        else:
            break
        grid, steps = _direct_window(model, x, grid["mean"], half, grid_size), steps + 1
    h = torch.stack(torch.meshgrid(first["axis1"], first["axis2"], indexing="ij"), -1)  # (G, G, 2)
    log_q = torch.distributions.Normal(mu, sigma).log_prob(h).sum(-1)  # (G, G)
    kl = float((log_q.exp() * (log_q - (first["log_joint"] - grid["log_px"]))).sum() * first["cell"])
    with torch.no_grad():
        draws = model.log_likelihood(x[None], q.rsample((n,)))[:, 0].double()  # (n,)
    kl_prior = float(torch.distributions.kl_divergence(q, torch.distributions.Normal(0.0, 1.0)).sum())
    return {
        "log_px": grid["log_px"],
        "kl_grid": kl,
        "q_mass": float(log_q.exp().sum() * first["cell"]),
        "edge": grid["edge"],
        "widened": steps,
        "axis1": grid["axis1"],
        "axis2": grid["axis2"],
        "log_posterior": grid["log_joint"] - grid["log_px"],
        "elbo": float(draws.mean()) - kl_prior,
        "elbo_error": float(draws.std() / math.sqrt(n)),
        "mu": mu.tolist(),
        "sigma": sigma.tolist(),
    }


@pytest.mark.parametrize("grid_size, max_steps", [(11, 3), (7, 1), (15, 5)])
def test_compute_is_the_stated_window_search(quick_pad, grid_size, max_steps):
    """pad.compute (the Python twin of the page) against the algorithm written out here, on twelve digits."""
    pad, x = quick_pad
    pad.grid_size = grid_size
    widened = set()
    for i in range(12):
        torch.manual_seed(i)
        got = pad.compute(x[i], max_steps=max_steps)
        torch.manual_seed(i)
        want = _direct_compute(pad.model, x[i].reshape(-1), grid_size, pad.widths, max_steps, pad.samples)
        assert got["widened"] == want["widened"]
        widened.add(got["widened"])
        for key in ("log_px", "kl_grid", "elbo", "elbo_error"):
            assert got[key] == pytest.approx(want[key], abs=2e-4), key
        assert got["q_mass"] == pytest.approx(want["q_mass"], abs=1e-9)
        assert got["edge"] == pytest.approx(want["edge"], abs=1e-5)
        np.testing.assert_allclose(got["mu"], want["mu"], rtol=1e-6)
        np.testing.assert_allclose(got["sigma"], want["sigma"], rtol=1e-6)
        np.testing.assert_allclose(got["axis1"], want["axis1"].numpy(), rtol=0, atol=1e-4)
        np.testing.assert_allclose(got["axis2"], want["axis2"].numpy(), rtol=0, atol=1e-4)
        near = want["log_posterior"].numpy() > -30
        np.testing.assert_allclose(
            got["log_posterior"][near], want["log_posterior"].numpy()[near], rtol=2e-5, atol=2e-4
        )
    assert len(widened) >= 2 or max_steps == 1, f"the digits exercised only {widened} window steps"
    pad.grid_size = 11


def test_the_page_gets_the_window_rule_from_marginal(quick_pad):
    """The synced trait window_rule carries marginal's window constants (the page's search reads them) and
    follows grid_size and widths."""
    from vaecourse import marginal

    pad, _ = quick_pad
    assert pad.trait_metadata("window_rule", "sync") is True
    assert pad.window_rule == {
        "edge_mass": marginal.WINDOW_EDGE_MASS,
        "widen_factor": marginal.WINDOW_WIDEN_FACTOR,
        "shift_cells": marginal.WINDOW_SHIFT_CELLS,
        "max_steps": marginal.WINDOW_MAX_STEPS,
        "grid": pad.grid_size,
        "half_sigmas": pad.widths,
    }
    pad.grid_size, pad.widths = 9, 4.0
    try:
        assert (pad.window_rule["grid"], pad.window_rule["half_sigmas"]) == (9, 4.0)
        assert "window_rule" in pad.get_state()
    finally:
        pad.grid_size, pad.widths = marginal.WINDOW_GRID, marginal.WINDOW_HALF_SIGMAS
