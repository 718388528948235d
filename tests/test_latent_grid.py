"""Q against the true posterior on a 2-D latent grid, checked on the linear-Gaussian model."""

from __future__ import annotations

import pytest
import torch
from torch.distributions import Normal

from vaecourse import elbo, kl, latent_grid
from vaecourse.linear_gaussian import LinearGaussian


@pytest.fixture
def model_and_x():
    model = LinearGaussian.random(data_dim=4, latent_dim=2, sigma=0.8, seed=11)
    x, _ = model.sample(3, seed=12)  # (3, 4)
    return model, x


def test_q_density_on_grid_matches_normal_log_prob(model_and_x):
    model, x = model_and_x
    q = model.with_q(shift=0.3, scale=1.4).encode(x)  # batch (3, 2)
    axis = torch.linspace(-3, 3, 7, dtype=torch.float64)
    got = latent_grid.q_log_density_on_grid(q, axis, axis)  # (3, 7, 7)
    i, j = 2, 5
    point = torch.stack([axis[i], axis[j]])  # (2,)
    expected = q.log_prob(point.expand(3, 2)).sum(-1)  # (3,)
    torch.testing.assert_close(got[:, i, j], expected)


def test_grid_kl_matches_closed_form_gaussian_kl(model_and_x):
    model, x = model_and_x
    q = model.with_q(shift=0.4, scale=1.3).encode(x)
    axis1, axis2, log_post = elbo.posterior_grid(model, x, grid_size=241, limit=6.0)
    got = latent_grid.kl_q_posterior_on_grid(q, axis1, axis2, log_post)  # (3,)
    post = model.posterior(x)
    exact = kl.kl_gaussians(q.mean, torch.diag_embed(q.variance), post.mean, post.covariance_matrix)
    torch.testing.assert_close(got, exact, rtol=1e-6, atol=1e-6)
    assert (exact > 0.05).all()  # a real gap, not a trivially zero one


def test_grid_kl_is_the_gap_of_the_central_equation(model_and_x):
    model, x = model_and_x
    q_model = model.with_q(shift=-0.3, scale=0.7)
    axis1, axis2, log_post = elbo.posterior_grid(q_model, x, grid_size=241, limit=6.0)
    gap = latent_grid.kl_q_posterior_on_grid(q_model.encode(x), axis1, axis2, log_post)
    q = q_model.encode(x)
    exact_elbo = q_model.expected_log_likelihood(x, q) - kl.kl_standard_normal(q.mean, q.variance.log())
    torch.testing.assert_close(model.log_px(x) - exact_elbo, gap, rtol=1e-6, atol=1e-6)


def test_bad_inputs_raise(model_and_x):
    model, x = model_and_x
    q = model.encode(x)
    axis = torch.linspace(-3, 3, 9, dtype=torch.float64)
    with pytest.raises(ValueError, match="log_posterior must have shape"):
        latent_grid.kl_q_posterior_on_grid(q, axis, axis, torch.zeros(3, 9, 8, dtype=torch.float64))
    with pytest.raises(ValueError, match="NaN"):
        latent_grid.kl_q_posterior_on_grid(q, axis, axis, torch.full((3, 9, 9), float("nan"), dtype=torch.float64))
    with pytest.raises(ValueError, match="batch shape"):
        latent_grid.q_log_density_on_grid(Normal(torch.zeros(3), torch.ones(3)), axis, axis)
    with pytest.raises(ValueError, match="grid_h2"):
        latent_grid.q_log_density_on_grid(q, axis, torch.zeros(2, 2))


def test_local_grid_follows_a_narrow_posterior(model_and_x):
    # a sharp posterior (small noise, many data dims): a global grid on [-5, 5]^2 would not resolve it
    model = LinearGaussian.random(data_dim=40, latent_dim=2, sigma=0.1, seed=13)
    x, _ = model.sample(3, seed=14)
    post = model.posterior(x)
    q = model.with_q(shift=0.01, scale=1.2).encode(x)
    width = 8 * post.covariance_matrix.diagonal(dim1=-2, dim2=-1).sqrt().max(-1).values  # (3,)
    g1, g2, log_post, log_px = latent_grid.local_posterior_grid(model, x, q.mean, width, grid_size=121)
    assert g1.shape == (3, 121) and log_post.shape == (3, 121, 121)
    torch.testing.assert_close(log_px, model.log_px(x), rtol=1e-8, atol=1e-8)
    got = latent_grid.kl_q_posterior_on_grid(q, g1, g2, log_post)
    exact = kl.kl_gaussians(q.mean, torch.diag_embed(q.variance), post.mean, post.covariance_matrix)
    torch.testing.assert_close(got, exact, rtol=1e-6, atol=1e-6)


def test_local_grid_bad_inputs_raise(model_and_x):
    model, x = model_and_x
    with pytest.raises(ValueError, match="centre"):
        latent_grid.local_posterior_grid(model, x, torch.zeros(2, 2, dtype=torch.float64), 1.0)
    with pytest.raises(ValueError, match="half_width"):
        latent_grid.local_posterior_grid(model, x, torch.zeros(3, 2, dtype=torch.float64), -1.0)
    with pytest.raises(ValueError, match="grid_size"):
        latent_grid.local_posterior_grid(model, x, torch.zeros(3, 2, dtype=torch.float64), 1.0, grid_size=2)
    three_d = LinearGaussian.random(data_dim=4, latent_dim=3, seed=1)
    with pytest.raises(ValueError, match="latent_dim == 2"):
        latent_grid.local_posterior_grid(three_d, x, torch.zeros(3, 2, dtype=torch.float64), 1.0)
