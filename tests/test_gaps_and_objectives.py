"""gaps (per-image optimisation, the decomposition against the grid) and objectives (one pass, the cache)."""

from __future__ import annotations

import pytest
import torch

from vaecourse import gaps, marginal, models, objectives
from vaecourse import posterior_families as pf


def _small():
    torch.manual_seed(0)
    model = models.VAE(data_dim=12, hidden=8, latent_dim=2)
    x = torch.bernoulli(torch.full((3, 12), 0.5), generator=torch.Generator().manual_seed(1))
    return model, x


def test_per_image_optimisation_raises_the_elbo_and_leaves_the_model_alone():
    model, x = _small()
    before = [p.clone() for p in model.parameters()]
    family = pf.family("full")
    start = torch.cat([torch.full((3, 2), 1.5), torch.full((3, 2), -1.5), torch.zeros(3, 1)], -1)
    torch.manual_seed(2)
    best = gaps.optimise_per_image(model, family, x, start, steps=80, n_samples=8, lr=0.05)
    elbo_start, se_start = gaps.elbo_with_se(model, family, start, x, 4000)
    elbo_best, se_best = gaps.elbo_with_se(model, family, best, x, 4000)
    assert torch.all(elbo_best - elbo_start > 5 * torch.sqrt(se_start**2 + se_best**2))
    assert all(torch.equal(a, b) and b.requires_grad for a, b in zip(before, model.parameters()))


def test_the_total_gap_is_the_grid_divergence_of_the_encoders_q():
    model, x = _small()
    encoder = pf.EncoderPosterior(model)
    torch.manual_seed(3)
    g = gaps.gap_decomposition(model, encoder, x, steps=5, n_eval=20000, grid_size=201)
    axis = torch.linspace(-7, 7, 281).expand(3, -1)
    *_, log_post, log_px = marginal.local_posterior_grid(model, x, torch.zeros(3, 2), 7.0, 281)
    grid_kl = gaps.kl_to_posterior_on_grid(encoder.family, g.params_amortised, axis, axis, log_post)
    torch.testing.assert_close(g.log_px, log_px, atol=1e-3, rtol=0)
    assert torch.all((g.total - grid_kl).abs() < 5 * g.se_amortised + 1e-3)


def test_load_or_fit_trains_once_then_loads(tmp_path, monkeypatch):
    monkeypatch.setenv("VAECOURSE_CACHE", str(tmp_path))
    images = torch.rand(64, 1, 28, 28)
    specs = [
        objectives.ModelSpec("t-flow", family="flow", hidden=8),
        objectives.ModelSpec("t-beta", hidden=8, objective=objectives.Objective(beta=2.0, free_bits=0.1)),
        objectives.ModelSpec("t-iwae", hidden=8, objective=objectives.Objective("iwae", k=3)),
    ]
    fit = objectives.FitSettings(epochs=1, batch_size=32)
    first = objectives.load_or_fit(specs, images, fit)
    second = objectives.load_or_fit(specs, images, fit)
    assert [t.from_cache for t in first] == [False] * 3 and [t.from_cache for t in second] == [True] * 3
    for a, b in zip(first, second):
        for (name, p), q in zip(a.posterior.state_dict().items(), b.posterior.state_dict().values()):
            torch.testing.assert_close(p.cpu(), q.cpu(), msg=name)
        assert len(a.history["loss"]) == 1


def test_a_fixed_decoder_stays_fixed(tmp_path, monkeypatch):
    monkeypatch.setenv("VAECOURSE_CACHE", str(tmp_path))
    torch.manual_seed(0)
    decoder = models.VAE(784, 8, 2, (1, 28, 28))
    before = {k: v.clone() for k, v in decoder.state_dict().items()}
    (trained,) = objectives.load_or_fit(
        [objectives.ModelSpec("t-enc", family="full", hidden=8)],
        torch.rand(64, 1, 28, 28),
        objectives.FitSettings(epochs=1, batch_size=32),
        generative=decoder,
    )
    assert trained.model is decoder
    assert all(torch.equal(v.cpu(), before[k]) for k, v in decoder.state_dict().items())
    assert all(p.requires_grad for p in decoder.parameters())


def test_bad_objectives_are_refused():
    with pytest.raises(ValueError, match="kind"):
        objectives.Objective("elbow")
    with pytest.raises(ValueError, match="non-negative"):
        objectives.Objective(beta=-1.0)
    with pytest.raises(ValueError, match="family"):
        objectives.ModelSpec("x", family="mixture")


def test_the_bernoulli_quadrature_is_the_direct_sum():
    """log p(x) = logsumexp_ij [log Bernoulli(x | decoder(h_ij)) + log N(h_ij; 0, I)] + log Delta^2, written out."""
    import math

    torch.manual_seed(0)
    model = models.VAE(data_dim=784, hidden=16, latent_dim=2, data_shape=(1, 28, 28)).double()
    x = torch.bernoulli(torch.full((5, 1, 28, 28), 0.2, dtype=torch.float64))
    axis = torch.linspace(-5, 5, 81, dtype=torch.float64)
    h = torch.stack(torch.meshgrid(axis, axis, indexing="ij"), -1).reshape(-1, 1, 2)  # (P, 1, 2)
    with torch.no_grad():
        logits = model.decoder(h[:, 0]).unsqueeze(1)  # (P, 1, D)
        log_joint = torch.distributions.Bernoulli(logits=logits).log_prob(x.reshape(5, -1)).sum(
            -1
        ) + torch.distributions.Normal(0.0, 1.0).log_prob(h).sum(-1)  # (P, B)
    expected = torch.logsumexp(log_joint, 0) + 2 * math.log(float(axis[1] - axis[0]))
    torch.testing.assert_close(
        gaps.log_px_bernoulli_grid(model, x, grid_size=81, limit=5.0), expected, rtol=1e-9, atol=1e-9
    )
    with pytest.raises(ValueError, match="Bernoulli"):
        gaps.log_px_bernoulli_grid(models.VAE(12, 8, 3), torch.rand(2, 12))


def test_grid_kl_of_a_full_covariance_q_is_the_closed_form():
    """gaps.kl_to_posterior_on_grid for Q = N(mu, LL^T) against the Gaussian posterior of a linear-Gaussian model."""
    from vaecourse import kl
    from vaecourse.linear_gaussian import LinearGaussian

    model = LinearGaussian.random(data_dim=5, latent_dim=2, sigma=0.6, seed=3)
    x, _ = model.sample(3, seed=4)
    family = pf.FullCovarianceGaussian(2)
    params = torch.tensor(
        [[0.2, -0.1, -0.6, -0.4, 0.3], [0.0, 0.3, -0.3, -0.8, -0.2], [-0.4, 0.1, -0.5, -0.5, 0.0]], dtype=torch.float64
    )
    g1, g2, log_post, _ = marginal.local_posterior_grid(model, x, params[:, :2], 5.0, grid_size=251)
    got = gaps.kl_to_posterior_on_grid(family, params, g1, g2, log_post)
    post = model.posterior(x)
    exact = kl.kl_gaussians(params[:, :2], family.covariance(params), post.mean, post.covariance_matrix)
    torch.testing.assert_close(got, exact, rtol=1e-6, atol=1e-6)
    assert bool((exact > 0.1).all())


def _linear_gaussian():
    from vaecourse.linear_gaussian import LinearGaussian

    model = LinearGaussian.random(data_dim=5, latent_dim=2, sigma=0.6, seed=3)
    x, _ = model.sample(4, seed=4)
    return model, x


def test_per_image_optimisation_finds_the_exact_optima_of_a_linear_gaussian_model():
    """Q* against closed forms: the full-covariance optimum is the Gaussian posterior itself, and the
    diagonal optimum (reverse KL) has the posterior mean and variances 1 / precision_jj (model.encode)."""
    from vaecourse import kl

    model, x = _linear_gaussian()
    post = model.posterior(x)
    torch.manual_seed(5)
    full = pf.family("full")
    best = gaps.optimise_per_image(model, full, x, full.initial(4, torch.float64), steps=400, n_samples=16)
    assert float(kl.kl_gaussians(best[:, :2], full.covariance(best), post.mean, post.covariance_matrix).max()) < 5e-3
    diagonal = pf.family("diagonal")
    best = gaps.optimise_per_image(model, diagonal, x, diagonal.initial(4, torch.float64), steps=400, n_samples=16)
    q = model.encode(x)
    torch.testing.assert_close(best[:, :2], q.loc, atol=0.03, rtol=0)
    torch.testing.assert_close(best[:, 2:].exp(), q.scale, atol=0.03, rtol=0)


def test_richer_families_start_from_the_diagonal_optimum_and_keep_the_best_start():
    """from_diagonal writes the same Gaussian in a richer family's parameters; gap_decomposition keeps, per
    image, the start whose optimum has the highest ELBO and records how far the starts ended apart."""
    model, x = _small()
    diagonal = pf.family("diagonal")
    params = torch.tensor([[0.3, -0.2, -0.5, -1.0], [1.0, 0.5, -0.2, 0.1], [0.0, 0.0, 0.0, 0.0]])
    h = torch.randn(7, 3, 2)
    for name in ("full", "flow"):
        richer = pf.family(name)
        torch.testing.assert_close(richer.log_prob(richer.from_diagonal(params), h), diagonal.log_prob(params, h))
    flow = pf.family("flow")
    far = flow.from_diagonal(torch.tensor([[4.0, 4.0, -3.0, -3.0]]).expand(3, -1))  # far off, very narrow
    torch.manual_seed(6)
    g = gaps.gap_decomposition(
        model, gaps.FixedPosterior(flow, far), x, steps=60, n_samples=8, n_eval=4000, starts=(far,)
    )
    assert g.elbo_starts.shape == (3, 3) and torch.equal(g.best_start, g.elbo_starts.argmax(0))
    assert torch.all(g.best_start == 1)  # the prior's start beats the two far-off ones
    torch.testing.assert_close(g.start_spread, g.elbo_starts[1] - g.elbo_starts.min(0).values)
    assert torch.all(g.amortisation > 1.0)
    with pytest.raises(ValueError, match="holds parameters for 3 images"):
        gaps.FixedPosterior(flow, far)(x[:2])
