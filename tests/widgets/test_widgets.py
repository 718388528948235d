"""The latent-space widgets on the kernel side (vaecourse.widgets, book/latent_space.md).

- The widget classes refuse models they cannot show, with a ValueError naming the problem, and traits
  set after construction are checked as the constructor checks them.
- One exported decoder serves both widgets and holds exactly the model's weights.
- The posterior explorer's numbers agree with independent routes; an interpolation's path ends at the
  two encoder means.

The same widgets rendered in a page (headless Chromium) are tested in tests/browser/test_widgets_page.py.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import traitlets
from torch import nn

from tests.training import grey_images, tiny_model
from tests.widgets.examples import ProtocolVAE, protocol_model, random_images
from vaecourse import (
    widgets,  # needs anywidget, pinned in requirements.txt: a missing one fails
)

# --------------------------------------------------------------------------------------------------
# Python side: what the widgets refuse, and what they share


@pytest.mark.parametrize(
    "make,widget,match",
    [
        (lambda: protocol_model(1), widgets.LatentExplorer, "latent_dim >= 2"),
        (lambda: protocol_model(widgets.MAX_SLIDERS + 1), widgets.LatentExplorer, "at most"),
        (lambda: protocol_model(3), widgets.PosteriorExplorer, "latent_dim == 2"),
        (lambda: protocol_model(2, data_shape=(3, 8, 8)), widgets.LatentExplorer, "grey image"),
        (lambda: protocol_model(2, data_shape=(64,)), widgets.Interpolation, "grey image"),
        (
            lambda: protocol_model(2, decoder_layers=[nn.Linear(2, 16), nn.Sigmoid(), nn.Linear(16, 784)]),
            widgets.LatentExplorer,
            "Sigmoid",
        ),
        (lambda: protocol_model(2, decoder_layers=[nn.Linear(3, 784)]), widgets.Interpolation, "expects 3 inputs"),
        (lambda: protocol_model(2, likelihood="categorical"), widgets.LatentExplorer, "likelihood is 'categorical'"),
        (lambda: protocol_model(2, hidden=600), widgets.LatentExplorer, "MB"),
    ],
    ids=[
        "1d",
        "too-many-dims",
        "posterior-3d",
        "colour",
        "vector",
        "sigmoid-layer",
        "sizes",
        "other-likelihood",
        "too-heavy",
    ],
)
def test_widgets_refuse_models_they_cannot_show(make, widget, match):
    model = make()
    x = torch.rand(8, *model.data_shape)
    with pytest.raises(ValueError, match=match):
        widget(model, x)


def test_conv_decoder_is_refused():
    class ConvLike(ProtocolVAE):
        def __init__(self):
            super().__init__(2, 16)
            self.decoder = nn.Module()
            self.decoder.net = nn.Sequential(
                nn.Linear(2, 49), nn.Unflatten(1, (1, 7, 7)), nn.ConvTranspose2d(1, 1, 4, stride=4)
            )

    with pytest.raises(ValueError, match="Unflatten"):
        widgets.LatentExplorer(ConvLike(), torch.rand(4, 1, 28, 28))

    class NoNet(ProtocolVAE):
        def __init__(self):
            super().__init__(2, 16)
            self.decoder = nn.Linear(2, 784)

    with pytest.raises(ValueError, match="no MLP decoder"):
        widgets.Interpolation(NoNet(), torch.rand(4, 1, 28, 28))


def test_bad_inputs_and_traits_are_refused():
    import traitlets

    model = protocol_model(2)
    x, labels = random_images(20)
    with pytest.raises(ValueError, match="x: expected test images"):
        widgets.LatentExplorer(model, torch.rand(5, 100))
    with pytest.raises(ValueError, match="NaN"):
        widgets.LatentExplorer(model, torch.full((3, 784), float("nan")))
    with pytest.raises(ValueError, match="labels"):
        widgets.LatentExplorer(model, x, labels[:5])
    with pytest.raises(ValueError, match="latent_dim=3"):
        widgets.LatentExplorer(model, x, decoder=widgets.export_decoder(protocol_model(3)))
    with pytest.raises(ValueError, match="t: must lie"):
        widgets.Interpolation(model, x, t=1.5)
    explorer = widgets.LatentExplorer(model, x, labels)
    with pytest.raises(traitlets.TraitError, match="h: expected 2 finite floats"):
        explorer.h = [0.0, 1.0, 2.0]
    with pytest.raises(traitlets.TraitError):
        explorer.h = [0.0, float("nan")]


def test_shared_decoder_weights_are_the_model_weights():
    """One BrowserDecoder serves both widgets; its float32 buffer holds exactly the decoder's tensors."""
    model = protocol_model(2, 32)
    x, labels = random_images(30)
    decoder = widgets.export_decoder(model)
    explorer = widgets.LatentExplorer(model, x, labels, decoder=decoder)
    interp = widgets.Interpolation(model, x, labels, decoder=decoder)
    assert explorer.decoder is interp.decoder is decoder
    assert explorer.get_state()["decoder"] == interp.get_state()["decoder"] == f"IPY_MODEL_{decoder.model_id}"
    from ipywidgets.embed import dependency_state

    assert decoder.model_id in dependency_state([explorer])  # embedding a widget carries its decoder
    flat = np.frombuffer(decoder.weights, dtype="<f4")
    linears = [m for m in model.decoder.net if isinstance(m, nn.Linear)]
    expected = np.concatenate([t.detach().numpy().ravel() for m in linears for t in (m.weight, m.bias)])
    np.testing.assert_array_equal(flat, expected)
    assert [layer["activation"] for layer in decoder.spec["layers"]] == ["relu", "tanh", "none"]
    # the scatter is the encoder means of the test images (first two latent dims)
    points = np.frombuffer(explorer.points, dtype="<f4").reshape(-1, 2)
    np.testing.assert_allclose(points, model.encode(x).mean.detach().numpy()[:, :2], atol=1e-6)
    assert list(np.frombuffer(explorer.labels, dtype=np.uint8)) == labels.tolist()


X = torch.rand(20, 1, 8, 8, generator=torch.Generator().manual_seed(1))


@pytest.mark.parametrize(
    "trait, value",
    [
        ("t", 1.5),
        ("t", float("nan")),
        ("index_a", 99),
        ("index_b", -1),
        ("steps", 0),
        ("steps", 100),
        ("limit", -1.0),
        ("image_size", 0),
    ],
)
def test_interpolation_traits_set_after_construction_are_checked(trait, value):
    w = widgets.Interpolation(tiny_model(hidden=8), X, n_images=6)
    with pytest.raises(traitlets.TraitError, match=trait):
        setattr(w, trait, value)


@pytest.mark.parametrize("trait, value", [("grid_size", 1), ("limit", 0.0)])
def test_posterior_explorer_traits_set_after_construction_are_checked(trait, value):
    w = widgets.PosteriorExplorer(tiny_model(hidden=8), X, grid_size=9, n_samples=4)
    with pytest.raises(traitlets.TraitError, match=trait):
        setattr(w, trait, value)


def test_a_decoder_exported_from_another_model_is_refused():
    other = widgets.export_decoder(tiny_model(seed=1, hidden=8))
    with pytest.raises(ValueError, match="another model"):
        widgets.LatentExplorer(tiny_model(seed=0, hidden=8), X, decoder=other)
    mine = tiny_model(seed=2, hidden=8)
    shared = widgets.export_decoder(mine)
    widgets.LatentExplorer(mine, X, decoder=shared)
    widgets.Interpolation(mine, X, decoder=shared)


def test_no_images_or_zero_points_are_clear():
    with pytest.raises(ValueError, match="no images"):
        widgets.LatentExplorer(tiny_model(hidden=8), X[:0])
    with pytest.raises(ValueError, match="n_points"):
        widgets.LatentExplorer(tiny_model(hidden=8), X, n_points=0)


def test_interpolation_path_ends_are_the_two_encoder_means():
    """The path's ends are the means of Q for the two chosen images (not draws, not swapped)."""
    model = tiny_model(hidden=16)
    x = grey_images(10)
    interp = widgets.Interpolation(model, x, index_a=2, index_b=5, n_points=0)
    with torch.no_grad():
        means = model.encoder(x.flatten(1)).loc  # (10, 2)
    ends = interp.path([0.0, 1.0])
    assert ends.shape == (2, 2)
    np.testing.assert_allclose(ends, means[[2, 5]].numpy(), rtol=1e-6, atol=1e-7)


# --------------------------------------------------------------------------------------------------
# PosteriorExplorer (kernel side)


def test_posterior_explorer_numbers_agree_with_independent_routes(posterior_explorer):
    from vaecourse import marginal

    explorer, model, x = posterior_explorer
    result = explorer.compute(3)
    # log p(x), recovered from the posterior grid by Bayes' rule, is the quadrature value on that grid.
    reference = float(marginal.log_px_quadrature(model, x[3:4], grid_size=41, limit=4.0)[0])
    assert result["log_px"] == pytest.approx(reference, abs=1e-3)
    # The gap log p(x) - ELBO is KL(Q || p(h|x)) (Monte Carlo ELBO vs grid KL: loose tolerance).
    assert result["kl_grid"] >= 0 and 0.9 < result["q_mass"] <= 1.0 + 1e-6
    assert result["log_px"] - result["elbo"] == pytest.approx(result["kl_grid"], abs=0.5)
    # The grids the front end draws: (G, G) log densities that integrate to 1 over the grid.
    cell = (8.0 / 40) ** 2
    assert np.exp(result["log_posterior"]).sum() * cell == pytest.approx(1.0, abs=1e-4)
    assert np.exp(result["log_q"]).sum() * cell == pytest.approx(1.0, abs=0.05)
    mu = model.encode(x[3:4]).mean[0].detach()
    i, j = np.unravel_index(np.argmax(result["log_q"]), result["log_q"].shape)
    assert abs(-4 + 0.2 * i - float(mu[0])) <= 0.1 and abs(-4 + 0.2 * j - float(mu[1])) <= 0.1  # [i, j] = (h1, h2)


def test_posterior_explorer_index_change_updates(posterior_explorer):
    """Choosing another image in a live kernel recomputes everything (its speed is measured in
    benchmarks/bench_widgets.py, not asserted here)."""
    explorer, model, x = posterior_explorer
    for index in (7, 8, 9):
        before = dict(explorer.stats)
        explorer.index = index
        assert explorer.stats["test image"] == f"#{index}" and explorer.stats != before
        assert explorer.last_update_ms > 0
    assert np.frombuffer(explorer.image, np.uint8).tolist() == (x[9].reshape(-1) * 255).round().int().tolist()
    import traitlets

    with pytest.raises(traitlets.TraitError, match="index"):
        explorer.index = 10


@pytest.fixture(scope="module")
def trained_explorer():
    """(adaptive explorer, fixed-square explorer, model, x): a 2-D VAE trained 300 steps, whose posteriors
    are already much narrower than the prior, and 6 of its binarised test images."""
    from tests.widgets.examples import trained_model

    model, x, _ = trained_model(steps=300)
    x = x[:6]
    adaptive = widgets.PosteriorExplorer(model, x, n_samples=2000)  # the default 61 x 61 grid
    square = widgets.PosteriorExplorer(model, x, grid_size=41, limit=4.0, n_samples=2000)
    return adaptive, square, model, x


def test_the_adaptive_window_resolves_the_posterior_where_the_square_grid_does_not(trained_explorer):
    adaptive, square, model, x = trained_explorer
    for index in range(len(x)):
        near, far = adaptive.compute(index), square.compute(index)
        assert near["points_per_sigma"] >= widgets.PosteriorExplorer.MIN_POINTS_PER_SIGMA
        # The posterior's width, read off the two grids: only the adaptive one has it to a few per cent.
        steps = np.array([near["axis1"][1] - near["axis1"][0], near["axis2"][1] - near["axis2"][0]])
        assert np.all(np.array(near["posterior_std"]) >= 4 * steps)
        assert far["points_per_sigma"] < 2, "the fixed 41-point square should be too coarse: is the model trained?"
        # Both windows hold Q and the posterior; the heat maps integrate to one over the grid shown.
        assert near["q_mass"] == pytest.approx(1.0, abs=1e-3)
        cell = float(steps.prod())
        assert np.exp(near["log_posterior"]).sum() * cell == pytest.approx(1.0, abs=1e-6)
    assert adaptive.window[0] < adaptive.window[1] and adaptive.window[2] < adaptive.window[3]
    assert "points per posterior std" in adaptive.stats["grid"]


def test_the_adaptive_window_agrees_with_fine_quadrature_and_its_gap_with_the_grid_kl(trained_explorer):
    from vaecourse import elbo, marginal

    adaptive, _, model, x = trained_explorer
    for index in (0, 3):
        result = adaptive.compute(index)
        # log p(x) on a fine square grid over the whole prior (an independent route: a different grid).
        fine = float(marginal.log_px_quadrature(model, x[index : index + 1], grid_size=401, limit=4.5)[0])
        assert result["log_px"] == pytest.approx(fine, abs=0.02)
        # The ELBO is elbo.elbo's for the same seed and sample count.
        torch.manual_seed(adaptive.seed)
        with torch.no_grad():
            reference = float(elbo.elbo(model, x[index : index + 1], n_samples=adaptive.n_samples)[0])
        assert result["elbo"] == pytest.approx(reference, abs=1e-3)
        # eq:central: the gap log p(x) - ELBO equals the grid KL within the ELBO's Monte Carlo error.
        gap = result["log_px"] - result["elbo"]
        assert abs(gap - result["kl_grid"]) <= 4 * result["elbo_se"] + 0.02
