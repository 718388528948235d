"""Fault injection, the Python API and the widgets (issue 15, causes 7 and 8): odd arguments are clear
ValueErrors naming the argument, never deep torch errors, silent NaNs or silently wrong shapes."""

from __future__ import annotations

import pytest
import torch
import traitlets

from vaecourse import elbo, kl, train
from vaecourse.models import VAE, ConvVAE

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.mark.parametrize("make", [lambda: VAE(latent_dim=0), lambda: ConvVAE(latent_dim=0),
                                  lambda: VAE(latent_dim=2.0), lambda: ConvVAE(latent_dim=2.0),
                                  lambda: VAE(hidden=1.5)])
def test_a_latent_dim_or_width_that_is_not_a_positive_integer_is_refused(make):
    with pytest.raises(ValueError, match="must be a positive integer"):
        make()


def test_conv_encode_refuses_three_channel_images():
    with pytest.raises(ValueError, match=r"shape \(B, 1, 28, 28\)"):
        ConvVAE().encode(torch.rand(4, 3, 28, 28))  # used to return a batch of 12


@pytest.mark.parametrize("x, word", [(torch.rand(4, 5), "shape"), (torch.rand(4, 1, 8, 8, dtype=torch.float64), "float64"),
                                     (torch.randint(0, 255, (4, 1, 8, 8), dtype=torch.uint8), "floating")])
def test_elbo_with_a_wrong_shape_or_dtype_names_it(x, word):
    with pytest.raises(ValueError, match=word):
        elbo.elbo(VAE(64, 8, 2, (1, 8, 8)), x)


def test_loss_and_dataset_elbo_of_an_empty_batch_are_refused():
    model = VAE(64, 8, 2, (1, 8, 8))
    with pytest.raises(ValueError, match="empty batch"):
        elbo.loss(model, torch.rand(0, 1, 8, 8))  # used to be NaN
    with pytest.raises(ValueError, match="non-empty"):
        train.dataset_elbo(model, torch.rand(0, 1, 8, 8))  # used to divide by zero


def test_training_that_would_not_fit_in_memory_is_refused_before_the_first_step(monkeypatch):
    """fit() counts weights, gradients and Adam's two moments (4x the weights), not the weights only:
    with memory for twice the weights the model builds, and training is refused with its size."""
    from vaecourse import resources, validation

    model = VAE(hidden=16, latent_dim=2)
    weight_bytes = sum(p.numel() * p.element_size() for p in model.parameters())
    monkeypatch.setattr(validation, "memory_limit", lambda device=None: resources.Limit(2 * weight_bytes, "host RAM"))
    VAE(hidden=16, latent_dim=2)  # building checks the weights alone: it fits
    before = [p.detach().clone() for p in model.parameters()]
    with pytest.raises(ValueError, match=r"training this VAE \(weights, gradients and Adam's two moments"):
        train.fit(model, torch.rand(8, 1, 28, 28), train.TrainConfig(epochs=1, batch_size=4))
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))  # not a step taken


def test_a_float16_kl_is_computed_in_float32():
    mu, cov = torch.zeros(2, dtype=torch.float16), torch.eye(2, dtype=torch.float16)
    value = kl.kl_gaussians(mu, cov, mu + 1, 2 * cov)  # used to raise NotImplementedError (Half cholesky)
    exact = kl.kl_gaussians(mu.double(), cov.double(), mu.double() + 1, 2 * cov.double())
    assert value.dtype == torch.float32 and abs(float(value) - float(exact)) < 1e-5


# ----------------------------------------------------------------------------- cause 8: widgets


@pytest.fixture(scope="module")
def widgets():
    from vaecourse import widgets

    return widgets


def _model(seed=0):
    torch.manual_seed(seed)
    return VAE(64, 8, 2, (1, 8, 8))


X = torch.rand(20, 1, 8, 8, generator=torch.Generator().manual_seed(1))


@pytest.mark.parametrize("trait, value", [("t", 1.5), ("t", float("nan")), ("index_a", 99), ("index_b", -1),
                                          ("steps", 0), ("steps", 100), ("limit", -1.0), ("image_size", 0)])
def test_interpolation_traits_set_after_construction_are_checked(widgets, trait, value):
    w = widgets.Interpolation(_model(), X, n_images=6)
    with pytest.raises(traitlets.TraitError, match=trait):
        setattr(w, trait, value)


@pytest.mark.parametrize("trait, value", [("grid_size", 1), ("limit", 0.0)])
def test_posterior_explorer_traits_set_after_construction_are_checked(widgets, trait, value):
    w = widgets.PosteriorExplorer(_model(), X, grid_size=9, n_samples=4)
    with pytest.raises(traitlets.TraitError, match=trait):
        setattr(w, trait, value)


def test_a_decoder_exported_from_another_model_is_refused(widgets):
    other = widgets.export_decoder(_model(seed=1))
    with pytest.raises(ValueError, match="another model"):
        widgets.LatentExplorer(_model(seed=0), X, decoder=other)
    mine = _model(seed=2)
    shared = widgets.export_decoder(mine)
    widgets.LatentExplorer(mine, X, decoder=shared)
    widgets.Interpolation(mine, X, decoder=shared)


def test_no_images_or_zero_points_are_clear(widgets):
    with pytest.raises(ValueError, match="no images"):
        widgets.LatentExplorer(_model(), X[:0])
    with pytest.raises(ValueError, match="n_points"):
        widgets.LatentExplorer(_model(), X, n_points=0)
