"""vaecourse.marginal: log p(x) and the posterior p(h|x) by numerics.

Against the linear-Gaussian model's closed forms.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch.distributions import Normal

from vaecourse import kl, marginal
from vaecourse.linear_gaussian import LinearGaussian


def _x(model, n=4, seed=3):
    return model.sample(n, seed=seed)[0]


@pytest.fixture
def model_and_x():
    model = LinearGaussian.random(data_dim=4, latent_dim=2, sigma=0.8, seed=11)
    x, _ = model.sample(3, seed=12)  # (3, 4)
    return model, x


def test_q_density_on_grid_matches_normal_log_prob(model_and_x):
    model, x = model_and_x
    q = model.with_q(shift=0.3, scale=1.4).encode(x)  # batch (3, 2)
    axis = torch.linspace(-3, 3, 7, dtype=torch.float64)
    got = marginal.q_log_density_on_grid(q, axis, axis)  # (3, 7, 7)
    i, j = 2, 5
    point = torch.stack([axis[i], axis[j]])  # (2,)
    expected = q.log_prob(point.expand(3, 2)).sum(-1)  # (3,)
    torch.testing.assert_close(got[:, i, j], expected)


def test_grid_kl_matches_closed_form_gaussian_kl(model_and_x):
    model, x = model_and_x
    q = model.with_q(shift=0.4, scale=1.3).encode(x)
    axis1, axis2, log_post = marginal.posterior_grid(model, x, grid_size=241, limit=6.0)
    got = marginal.kl_q_posterior_on_grid(q, axis1, axis2, log_post)  # (3,)
    post = model.posterior(x)
    exact = kl.kl_gaussians(q.mean, torch.diag_embed(q.variance), post.mean, post.covariance_matrix)
    torch.testing.assert_close(got, exact, rtol=1e-6, atol=1e-6)
    assert (exact > 0.05).all()  # a real gap, not a trivially zero one


def test_grid_kl_is_the_gap_of_the_central_equation(model_and_x):
    model, x = model_and_x
    q_model = model.with_q(shift=-0.3, scale=0.7)
    axis1, axis2, log_post = marginal.posterior_grid(q_model, x, grid_size=241, limit=6.0)
    gap = marginal.kl_q_posterior_on_grid(q_model.encode(x), axis1, axis2, log_post)
    q = q_model.encode(x)
    exact_elbo = q_model.expected_log_likelihood(x, q) - kl.kl_standard_normal(q.mean, q.variance.log())
    torch.testing.assert_close(model.log_px(x) - exact_elbo, gap, rtol=1e-6, atol=1e-6)


def test_bad_inputs_raise(model_and_x):
    model, x = model_and_x
    q = model.encode(x)
    axis = torch.linspace(-3, 3, 9, dtype=torch.float64)
    with pytest.raises(ValueError, match="log_posterior must have shape"):
        marginal.kl_q_posterior_on_grid(q, axis, axis, torch.zeros(3, 9, 8, dtype=torch.float64))
    with pytest.raises(ValueError, match="NaN"):
        marginal.kl_q_posterior_on_grid(q, axis, axis, torch.full((3, 9, 9), float("nan"), dtype=torch.float64))
    with pytest.raises(ValueError, match="batch shape"):
        marginal.q_log_density_on_grid(Normal(torch.zeros(3), torch.ones(3)), axis, axis)
    with pytest.raises(ValueError, match="grid_h2"):
        marginal.q_log_density_on_grid(q, axis, torch.zeros(2, 2))


def test_local_grid_follows_a_narrow_posterior(model_and_x):
    # a sharp posterior (small noise, many data dims): a global grid on [-5, 5]^2 would not resolve it
    model = LinearGaussian.random(data_dim=40, latent_dim=2, sigma=0.1, seed=13)
    x, _ = model.sample(3, seed=14)
    post = model.posterior(x)
    q = model.with_q(shift=0.01, scale=1.2).encode(x)
    width = 8 * post.covariance_matrix.diagonal(dim1=-2, dim2=-1).sqrt().max(-1).values  # (3,)
    g1, g2, log_post, log_px = marginal.local_posterior_grid(model, x, q.mean, width, grid_size=121)
    assert g1.shape == (3, 121) and log_post.shape == (3, 121, 121)
    torch.testing.assert_close(log_px, model.log_px(x), rtol=1e-8, atol=1e-8)
    got = marginal.kl_q_posterior_on_grid(q, g1, g2, log_post)
    exact = kl.kl_gaussians(q.mean, torch.diag_embed(q.variance), post.mean, post.covariance_matrix)
    torch.testing.assert_close(got, exact, rtol=1e-6, atol=1e-6)


def test_local_grid_bad_inputs_raise(model_and_x):
    model, x = model_and_x
    with pytest.raises(ValueError, match="centre"):
        marginal.local_posterior_grid(model, x, torch.zeros(2, 2, dtype=torch.float64), 1.0)
    with pytest.raises(ValueError, match="half_width"):
        marginal.local_posterior_grid(model, x, torch.zeros(3, 2, dtype=torch.float64), -1.0)
    with pytest.raises(ValueError, match="grid_size"):
        marginal.local_posterior_grid(model, x, torch.zeros(3, 2, dtype=torch.float64), 1.0, grid_size=2)
    three_d = LinearGaussian.random(data_dim=4, latent_dim=3, seed=1)
    with pytest.raises(ValueError, match="latent_dim == 2"):
        marginal.local_posterior_grid(three_d, x, torch.zeros(3, 2, dtype=torch.float64), 1.0)


# ---------------------------------------------------------------------------------- quadrature


@pytest.mark.parametrize("dtype, tol", [(torch.float64, 1e-8), (torch.float32, 1e-4)])
def test_log_px_quadrature_matches_exact_log_px(dtype, tol):
    model = LinearGaussian.random(data_dim=7, latent_dim=2, sigma=0.6, orthogonal=False, seed=5, dtype=dtype)
    x = _x(model, n=3)
    quadrature = marginal.log_px_quadrature(model, x, grid_size=201, limit=7.0)
    assert quadrature.shape == (3,) and quadrature.dtype == dtype
    torch.testing.assert_close(quadrature, model.log_px(x), rtol=tol, atol=tol)


def test_posterior_grid_is_the_exact_posterior():
    model = LinearGaussian.random(data_dim=7, latent_dim=2, sigma=0.6, orthogonal=False, seed=5)
    x = _x(model, n=2)
    h1, h2, log_post = marginal.posterior_grid(model, x, grid_size=151, limit=6.0)
    assert h1.shape == (151,) and log_post.shape == (2, 151, 151)
    points = torch.stack(torch.meshgrid(h1, h2, indexing="ij"), dim=-1)  # (G, G, 2)
    exact = model.posterior(x.unsqueeze(1).unsqueeze(1)).log_prob(points)  # (B, G, G)
    mass = torch.exp(log_post).sum((-2, -1)) * float(h1[1] - h1[0]) ** 2
    torch.testing.assert_close(mass, torch.ones(2, dtype=torch.float64), rtol=1e-8, atol=1e-8)
    near = exact > -20  # compare where the density is not negligible
    torch.testing.assert_close(log_post[near], exact[near], rtol=1e-7, atol=1e-7)


def test_quadrature_rejects_other_latent_sizes():
    exact_model = LinearGaussian.random(data_dim=6, latent_dim=2, sigma=0.5, orthogonal=True, seed=1)
    model = LinearGaussian.random(data_dim=4, latent_dim=3, seed=0)
    with pytest.raises(ValueError, match="latent_dim == 2"):
        marginal.log_px_quadrature(model, _x(model))
    with pytest.raises(ValueError, match="grid_size"):
        marginal.posterior_grid(exact_model, _x(exact_model), grid_size=2)


def test_log_px_discrete_matches_torch_mixture():
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(5, generator=gen, dtype=torch.float64)
    means = torch.randn(5, 3, generator=gen, dtype=torch.float64)
    x = torch.randn(4, 3, generator=gen, dtype=torch.float64)
    log_lik = Normal(means, 0.8).log_prob(x.unsqueeze(1)).sum(-1)  # (B, H)
    mixture = torch.distributions.MixtureSameFamily(
        torch.distributions.Categorical(logits=logits), torch.distributions.Independent(Normal(means, 0.8), 1)
    )
    torch.testing.assert_close(marginal.log_px_discrete(torch.log_softmax(logits, -1), log_lik), mixture.log_prob(x))


# ---------------------------------------------------------------------------------- importance sampling


def test_effective_sample_size_extremes():
    assert float(marginal.effective_sample_size(torch.zeros(50))) == pytest.approx(50.0)
    assert float(marginal.effective_sample_size(torch.tensor([0.0, -1000.0, -1000.0]))) == pytest.approx(1.0)
    batched = marginal.effective_sample_size(torch.zeros(10, 3), dim=0)
    assert batched.shape == (3,)
    with pytest.raises(ValueError, match="NaN"):
        marginal.effective_sample_size(torch.tensor([0.0, math.nan]))


def test_importance_weights_from_the_prior_are_the_likelihood_and_average_to_p_x():
    """Prior as proposal: log w = log p(x|h), one draw shared by the batch; their mean is p(x) within 5 s.e."""
    model = LinearGaussian.random(data_dim=3, latent_dim=2, sigma=1.0, seed=6)
    x = _x(model, n=2)
    torch.manual_seed(0)
    log_w = marginal.importance_log_weights(model, x, model.prior(), n_samples=20_000)  # (S, B)
    assert log_w.shape == (20_000, 2)
    torch.manual_seed(0)
    h = model.prior().sample((20_000,))  # (S, 2): the same draws
    torch.testing.assert_close(log_w, model.log_likelihood(x, h.unsqueeze(1)))
    w = torch.exp(log_w - model.log_px(x))  # (S, B), mean 1
    assert torch.all((w.mean(0) - 1).abs() < 5 * w.std(0) / math.sqrt(w.shape[0]))


def test_importance_weights_from_the_exact_posterior_are_constant():
    model = LinearGaussian.random(data_dim=6, latent_dim=2, sigma=0.5, orthogonal=True, seed=1)
    x = _x(model)
    log_w = marginal.importance_log_weights(model, x, model.encode(x), n_samples=50)  # (S, B)
    torch.testing.assert_close(log_w, model.log_px(x).expand(50, -1))
    assert float(marginal.effective_sample_size(log_w).min()) == pytest.approx(50.0)


def test_chunk_size_keeps_memory_bounded_and_at_least_one_point():
    assert marginal.chunk_size(torch.zeros(4, 1024), 10**9) == 2**22 // 4096
    assert marginal.chunk_size(torch.zeros(4, 1024), 7) == 7
    assert marginal.chunk_size(torch.zeros(2**23), 7) == 1


def test_shared_and_local_grids_agree_on_the_same_window(model_and_x):
    """posterior_grid on [-4, 4]^2 and local_posterior_grid centred at 0 with half-width 4: one numerics."""
    model, x = model_and_x
    h1, _, log_post = marginal.posterior_grid(model, x, grid_size=81, limit=4.0)
    g1, g2, local_post, log_px = marginal.local_posterior_grid(
        model, x, torch.zeros(3, 2, dtype=x.dtype), 4.0, grid_size=81
    )
    torch.testing.assert_close(g1, h1.expand(3, -1))
    torch.testing.assert_close(local_post, log_post, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(
        log_px, marginal.log_px_quadrature(model, x, grid_size=81, limit=4.0), rtol=1e-12, atol=1e-12
    )


# ---------------------------------------------------------------------------------- a Bernoulli decoder


def _bernoulli_vae(dtype=torch.float64):
    """A random 2-D VAE with 64 Bernoulli pixels, its decoder sharpened (a non-Gaussian posterior), and 4 images."""
    from vaecourse import models

    torch.manual_seed(0)
    model = models.VAE(data_dim=64, hidden=16, latent_dim=2, data_shape=(1, 8, 8)).to(dtype)
    with torch.no_grad():
        for p in model.decoder.parameters():
            p.mul_(3.0)
    x = torch.bernoulli(torch.full((4, 1, 8, 8), 0.4, dtype=dtype), generator=torch.Generator().manual_seed(1))
    return model, x


def _direct_log_joint(model, x, h):
    """log p(x|h) + log p(h) written out with torch.distributions: h (..., 2) -> (..., B)."""
    logits = model.decoder(h.reshape(-1, 2)).reshape(*h.shape[:-1], 1, -1)  # (..., 1, D)
    log_lik = torch.distributions.Bernoulli(logits=logits).log_prob(x.reshape(len(x), -1)).sum(-1)  # (..., B)
    return log_lik + Normal(0.0, 1.0).log_prob(h).sum(-1, keepdim=True)


@pytest.mark.parametrize("dtype, tol", [(torch.float64, 1e-9), (torch.float32, 1e-5)])
def test_bernoulli_quadrature_and_posterior_are_the_direct_sum(dtype, tol):
    """log p(x) = logsumexp_ij log p(x, h_ij) + log Delta^2 and the grid posterior, against torch's Bernoulli."""
    model, x = _bernoulli_vae(dtype)
    axis = torch.linspace(-5, 5, 41, dtype=dtype)
    h = torch.stack(torch.meshgrid(axis, axis, indexing="ij"), -1)  # (G, G, 2)
    with torch.no_grad():
        log_joint = _direct_log_joint(model, x, h).permute(2, 0, 1)  # (B, G, G)
    log_px = torch.logsumexp(log_joint.flatten(1), 1) + 2 * math.log(float(axis[1] - axis[0]))
    quadrature = marginal.log_px_quadrature(model, x, grid_size=41, limit=5.0)
    torch.testing.assert_close(quadrature, log_px, rtol=tol, atol=tol)
    _, _, log_post = marginal.posterior_grid(model, x, grid_size=41, limit=5.0)
    torch.testing.assert_close(log_post, log_joint - log_px[:, None, None], rtol=tol, atol=tol)
    centre = torch.tensor([[0.5, -1.0]], dtype=dtype).expand(4, 2)
    g1, g2, local_post, local_px = marginal.local_posterior_grid(model, x, centre, 2.0, grid_size=21)
    points = torch.stack(torch.broadcast_tensors(g1[:, :, None], g2[:, None, :]), -1)  # (B, G, G, 2)
    with torch.no_grad():
        local_joint = torch.stack([_direct_log_joint(model, x[b : b + 1], points[b])[..., 0] for b in range(4)])
    expected_px = torch.logsumexp(local_joint.flatten(1), 1) + math.log(float((g1[0, 1] - g1[0, 0]) ** 2))
    torch.testing.assert_close(local_px, expected_px, rtol=tol, atol=tol)
    torch.testing.assert_close(local_post, local_joint - expected_px[:, None, None], rtol=tol, atol=tol)


def test_quadrature_of_many_images_in_several_chunks_is_the_quadrature_of_each(monkeypatch):
    """Chunking the grid (the memory rule) changes no number beyond rounding."""
    model, x = _bernoulli_vae()
    whole = marginal.log_px_quadrature(model, x, grid_size=31, limit=5.0)
    monkeypatch.setattr(marginal, "_NUMBERS_PER_CHUNK", 64 * 7)  # a few grid points per chunk
    torch.testing.assert_close(marginal.log_px_quadrature(model, x, grid_size=31, limit=5.0), whole, rtol=0, atol=1e-10)
    _, _, chunked = marginal.posterior_grid(model, x, grid_size=31, limit=5.0)
    monkeypatch.undo()
    _, _, whole_posterior = marginal.posterior_grid(model, x, grid_size=31, limit=5.0)
    torch.testing.assert_close(chunked, whole_posterior, rtol=0, atol=1e-10)


# ---------------------------------------------------------------------------------- any Q on the grid


def test_grid_kl_takes_any_log_density(model_and_x):
    """A Normal, a distribution with log_prob and a plain function give the closed-form Gaussian KL, on
    shared and local grids."""
    model, x = model_and_x
    q = model.with_q(shift=0.4, scale=1.3).encode(x)  # Normal, batch (3, 2)
    post = model.posterior(x)
    exact = kl.kl_gaussians(q.mean, torch.diag_embed(q.variance), post.mean, post.covariance_matrix)
    as_mvn = torch.distributions.MultivariateNormal(q.mean, torch.diag_embed(q.variance))  # (P, B, 2) -> (P, B)

    def as_function(h):  # (P, B, 2) or (P, 1, 2) -> (P, B)
        return -0.5 * (((h - q.mean) / q.stddev) ** 2).sum(-1) - q.stddev.log().sum(-1) - math.log(2 * math.pi)

    shared = marginal.posterior_grid(model, x, grid_size=241, limit=6.0)
    local = marginal.local_posterior_grid(model, x, q.mean, 6 * q.stddev.max(-1).values, grid_size=241)[:3]
    for axis1, axis2, log_post in (shared, local):
        for density in (q, as_mvn, as_function):
            torch.testing.assert_close(
                marginal.kl_q_posterior_on_grid(density, axis1, axis2, log_post), exact, rtol=1e-6, atol=1e-6
            )
        torch.testing.assert_close(
            marginal.q_log_density_on_grid(as_function, axis1, axis2),
            marginal.q_log_density_on_grid(q, axis1, axis2),
            rtol=1e-10,
            atol=1e-10,
        )
    with pytest.raises(ValueError, match="log_prob"):
        marginal.q_log_density_on_grid("not a density", shared[0], shared[1])
    with pytest.raises(ValueError, match=r"\(P, B\)"):
        marginal.q_log_density_on_grid(lambda h: h, shared[0], shared[1])


# ---------------------------------------------------------------------------------- the pad's adaptive window


def test_adaptive_window_finds_the_exact_posterior_from_a_poor_start():
    """Started far too narrow or far too wide, the window ends on the posterior: log p(x), mean and std exact."""
    model = LinearGaussian.random(data_dim=30, latent_dim=2, sigma=0.3, seed=13)
    x, _ = model.sample(2, seed=14)
    post = model.posterior(x)
    sd = post.covariance_matrix.diagonal(dim1=-2, dim2=-1).sqrt()  # (2, 2)
    for b in range(2):
        for half, first_move in ((0.3 * sd[b], "widen"), (60 * sd[b], "zoom")):
            result = marginal.adaptive_local_grid(
                model, x[b : b + 1], post.mean[b] + 0.1 * sd[b], half, grid_size=21, max_steps=8
            )
            first, final = result.first, result.final
            assert 1 <= result.steps < 8
            assert (first.edge > 1e-3) == (first_move == "widen")
            torch.testing.assert_close(torch.as_tensor(first.half), torch.as_tensor(half, dtype=torch.float64))
            assert final.edge <= 1e-3 and bool((final.std >= 0.75 * final.spacing).all())
            assert final.log_px == pytest.approx(float(model.log_px(x[b : b + 1])[0]), abs=1e-4)
            torch.testing.assert_close(final.mean, post.mean[b], rtol=0, atol=1e-3 * float(sd[b].max()))
            torch.testing.assert_close(final.std, sd[b], rtol=1e-2, atol=0)
            assert final.log_posterior.shape == (21, 21) and final.axis1.shape == (21,)
    stopped = marginal.adaptive_local_grid(model, x[:1], post.mean[0], 0.3 * sd[0], grid_size=21, max_steps=0)
    assert stopped.steps == 0 and stopped.final is stopped.first


def test_grid_numerics_live_only_in_marginal():
    """The modules that use latent grids build none (no linspace/meshgrid) and size no chunk by hand
    (no .split(<number>) or range(0, n, <number>)): grids, their chunking and the rectangle rule are marginal's."""
    import re
    from pathlib import Path

    package = Path(marginal.__file__).parent
    files = [package / "gaps.py", package / "evaluate.py", *sorted((package / "widgets").glob("*.py"))]
    pattern = re.compile(r"\b(meshgrid|linspace)\b|\.split\(\s*\d|range\(0,[^,]+,\s*\d+\s*\)")
    offenders = [
        f"{path.relative_to(package)}: {line.strip()}"
        for path in files
        for line in path.read_text().splitlines()
        if pattern.search(line)
    ]
    assert offenders == []


def test_a_model_with_its_own_likelihood_is_not_taken_for_a_bernoulli_decoder():
    """The matrix-product route is for the course's Bernoulli likelihood only: an override is honoured."""
    from vaecourse import models

    class Shifted(models.VAE):
        def log_likelihood(self, x, h):
            return super().log_likelihood(x, h) + 1.0

    model, x = _bernoulli_vae()
    shifted = Shifted(data_dim=64, hidden=16, latent_dim=2, data_shape=(1, 8, 8)).double()
    shifted.load_state_dict(model.state_dict())
    torch.testing.assert_close(
        marginal.log_px_quadrature(shifted, x, grid_size=31, limit=5.0),
        marginal.log_px_quadrature(model, x, grid_size=31, limit=5.0) + 1.0,
    )


def test_posterior_moments_are_the_exact_posterior_mean_and_std(model_and_x):
    model, x = model_and_x
    post = model.posterior(x)  # closed form, an independent route
    exact_std = post.covariance_matrix.diagonal(dim1=-2, dim2=-1).sqrt()  # (3, 2)
    g1, g2, log_post = marginal.posterior_grid(model, x, grid_size=201, limit=6.0)  # shared axes
    mean, std = marginal.posterior_moments(g1, g2, log_post)
    torch.testing.assert_close(mean, post.mean, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(std, exact_std, rtol=1e-6, atol=1e-6)
    # on per-point windows centred elsewhere, the same moments
    l1, l2, local_post, _ = marginal.local_posterior_grid(model, x, post.mean + 0.3, 8 * exact_std.max(), 161)
    mean, std = marginal.posterior_moments(l1, l2, local_post)
    torch.testing.assert_close(mean, post.mean, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(std, exact_std, rtol=1e-6, atol=1e-6)
    with pytest.raises(ValueError, match="log_posterior"):
        marginal.posterior_moments(g1, g2, log_post[:, :-1])


def test_a_window_centred_on_the_global_posterior_holds_it_where_one_centred_on_q_does_not():
    """The recipe of book/elbo.md: a Q far from a narrow posterior; a window of 6 of Q's standard deviations
    around Q misses the posterior, one around the posterior's moments on the global grid holds it."""
    model = LinearGaussian.random(data_dim=40, latent_dim=2, sigma=0.3, seed=13)
    x, _ = model.sample(2, seed=14)
    q = model.with_q(shift=1.0, scale=0.5).encode(x)  # narrow, and off by several posterior std
    exact = model.log_px(x)
    log_px_on_q = marginal.local_posterior_grid(model, x, q.mean, 6 * q.stddev.max(-1).values, 121)[3]
    assert bool((log_px_on_q < exact - 0.5).all())
    g1, g2, log_post = marginal.posterior_grid(model, x, grid_size=201, limit=6.0)
    mean, std = marginal.posterior_moments(g1, g2, log_post)
    half = torch.maximum(6 * std.max(-1).values, (q.mean - mean).abs().max(-1).values + 4 * q.stddev.max(-1).values)
    log_px_local = marginal.local_posterior_grid(model, x, mean, half, 201)[3]
    torch.testing.assert_close(log_px_local, exact, rtol=1e-6, atol=1e-6)


def test_importance_weights_decode_the_samples_in_bounded_chunks_with_the_same_result(monkeypatch):
    """S x B x D decoded numbers at once took 1.2 GB in chapter 1 (S = 10,000, B = 20, D = 256): the samples
    are decoded a chunk at a time, and the weights are those of decoding all of them at once."""
    model = LinearGaussian.random(data_dim=64, latent_dim=2, sigma=0.5, seed=1)
    x, _ = model.sample(8, seed=2)  # (8, 64)
    monkeypatch.setattr(marginal, "_NUMBERS_PER_CHUNK", 8 * 64 * 100)  # 100 samples per chunk
    calls = []
    decode = model.log_likelihood
    monkeypatch.setattr(model, "log_likelihood", lambda x_, h: calls.append(h.shape[0]) or decode(x_, h))
    torch.manual_seed(0)
    chunked = marginal.importance_log_weights(model, x, model.prior(), 1000)
    assert max(calls) == 100 and sum(calls) == 1000
    torch.manual_seed(0)
    h = model.prior().sample((1000,)).unsqueeze(1)  # the same draws, decoded at once
    direct = decode(x, h) + model.prior().log_prob(h).sum(-1) - model.prior().log_prob(h).sum(-1)
    torch.testing.assert_close(chunked, direct.expand(1000, 8))
