"""vaecourse.elbo and vaecourse.linear_gaussian against exact answers.

The linear-Gaussian model has a closed-form log p(x) and posterior; every Monte Carlo comparison
uses a fixed seed and a tolerance of 5 standard errors. On a neural VAE, a wrong shape or dtype and an empty
batch are refused by name.
"""

from __future__ import annotations

import math

import hypothesis
import hypothesis.extra.numpy as hnp
import numpy as np
import pytest
import torch
from hypothesis import strategies as st
from scipy.special import logsumexp

from vaecourse import elbo, kl, marginal, train
from vaecourse.linear_gaussian import ConditionalLinearGaussian, LinearGaussian
from vaecourse.models import VAE


@pytest.fixture
def exact_model():
    """Orthogonal W: LinearGaussian.encode is the exact posterior."""
    return LinearGaussian.random(data_dim=6, latent_dim=2, sigma=0.5, orthogonal=True, seed=1)


def _x(model, n=4, seed=3):
    return model.sample(n, seed=seed)[0]


# ---------------------------------------------------------------------------------- the model


def test_linear_gaussian_posterior_is_bayes_rule():
    """log p(h|x) = log p(x|h) + log p(h) - log p(x) at arbitrary h, for a non-orthogonal W."""
    model = LinearGaussian.random(data_dim=5, latent_dim=3, sigma=0.7, orthogonal=False, seed=2)
    x = _x(model)
    h = torch.randn(10, 4, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)  # (S, B, k)
    lhs = model.posterior(x).log_prob(h)
    rhs = model.log_likelihood(x, h) + model.prior().log_prob(h).sum(-1) - model.log_px(x)
    assert model.log_likelihood(x, h).shape == (10, 4)
    torch.testing.assert_close(lhs, rhs, rtol=1e-10, atol=1e-10)


def test_encode_is_the_exact_posterior_for_orthogonal_w(exact_model):
    x = _x(exact_model)
    q = exact_model.encode(x)
    post = exact_model.posterior(x)
    assert q.batch_shape == (4, 2)
    gap = kl.kl_gaussians(q.mean, torch.diag_embed(q.variance), post.mean, post.covariance_matrix)
    assert float(gap.abs().max()) < 1e-12


def test_encode_is_mean_field_for_general_w():
    """For non-diagonal W^T W, Q is the best factorised Gaussian: a small but positive KL gap."""
    model = LinearGaussian.random(data_dim=5, latent_dim=3, sigma=0.7, orthogonal=False, seed=2)
    x = _x(model)
    q, post = model.encode(x), model.posterior(x)
    gap = kl.kl_gaussians(q.mean, torch.diag_embed(q.variance), post.mean, post.covariance_matrix)
    assert torch.all(gap > 1e-3)
    worse = model.with_q(scale=1.2).encode(x)
    worse_gap = kl.kl_gaussians(worse.mean, torch.diag_embed(worse.variance), post.mean, post.covariance_matrix)
    assert torch.all(worse_gap > gap)


def test_expected_log_likelihood_and_its_variance_match_monte_carlo(exact_model):
    model = exact_model.with_q(shift=0.3, scale=1.5)
    x = _x(model)
    q = model.encode(x)
    torch.manual_seed(0)
    values = model.log_likelihood(x, q.sample((200_000,)))  # (S, B)
    mean, se = values.mean(0), values.std(0) / math.sqrt(values.shape[0])
    assert torch.all((mean - model.expected_log_likelihood(x, q)).abs() < 5 * se)
    centred = values - mean
    var = centred.pow(2).mean(0)
    se_var = torch.sqrt((centred.pow(4).mean(0) - var.pow(2)) / values.shape[0])
    assert torch.all((var - model.log_likelihood_variance(x, q)).abs() < 5 * se_var)


def test_linear_gaussian_float32_and_unbatched(exact_model):
    model = exact_model.to(dtype=torch.float32)
    x = _x(model, n=1)[0]  # (D,)
    assert model.log_px(x).shape == () and model.log_px(x).dtype == torch.float32
    assert model.encode(x).batch_shape == (2,)
    torch.testing.assert_close(model.log_px(x).double(), exact_model.log_px(x.double()), rtol=1e-5, atol=1e-5)


def test_linear_gaussian_rejects_bad_input(exact_model):
    W = torch.ones(3, 2, dtype=torch.float64)
    with pytest.raises(ValueError, match="sigma must be a positive"):
        LinearGaussian(W, torch.zeros(3, dtype=torch.float64), -1.0)
    with pytest.raises(ValueError, match="b must have shape"):
        LinearGaussian(W, torch.zeros(2, dtype=torch.float64), 1.0)
    with pytest.raises(ValueError, match="W contains NaN"):
        LinearGaussian(W * math.nan, torch.zeros(3, dtype=torch.float64), 1.0)
    with pytest.raises(ValueError, match=r"x must have shape \(\.\.\., 6\)"):
        exact_model.log_px(torch.zeros(4, 5, dtype=torch.float64))
    with pytest.raises(ValueError, match="x contains inf"):
        exact_model.encode(torch.full((2, 6), math.inf, dtype=torch.float64))


def test_conditional_model_marginal_matches_monte_carlo():
    model = ConditionalLinearGaussian.random(seed=3)
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(3, model.x_dim, generator=gen, dtype=torch.float64)
    y = torch.randn(3, model.y_dim, generator=gen, dtype=torch.float64)
    torch.manual_seed(1)
    h = model.prior_mean(x) + torch.randn(100_000, 3, model.latent_dim, dtype=torch.float64)  # h ~ p(h|x)
    log_w = model.log_likelihood(y, h, x)  # (S, B)
    estimate = elbo.log_mean_exp(log_w, dim=0)
    se = torch.exp(log_w - estimate).std(0) / math.sqrt(log_w.shape[0])  # delta method, in log space
    assert torch.all((estimate - model.log_py(y, x)).abs() < 5 * se)


# ---------------------------------------------------------------------------------- ELBO


def test_elbo_with_exact_posterior_is_log_px_for_every_sample(exact_model):
    x = _x(exact_model)
    torch.manual_seed(0)
    value = elbo.elbo(exact_model, x, n_samples=3, analytic_kl=False)
    assert value.shape == (4,)
    torch.testing.assert_close(value, exact_model.log_px(x), rtol=1e-10, atol=1e-10)


def test_elbo_terms_add_up_and_loss_is_minus_the_mean(exact_model):
    model = exact_model.with_q(shift=0.5)
    x = _x(model)
    torch.manual_seed(3)
    reconstruction, kl_term = elbo.elbo_terms(model, x, n_samples=5)
    torch.manual_seed(3)
    value = elbo.elbo(model, x, n_samples=5)
    torch.manual_seed(3)
    loss = elbo.loss(model, x, n_samples=5)
    q = model.encode(x)
    torch.testing.assert_close(kl_term, kl.kl_standard_normal(q.loc, 2 * q.scale.log()))
    torch.testing.assert_close(value, reconstruction - kl_term)
    torch.testing.assert_close(loss, -value.mean())


def test_elbo_is_below_log_px_by_the_posterior_kl(exact_model):
    """Central equation: E[elbo] = log p(x) - KL(Q || p(h|x)), for a deliberately wrong Q."""
    model = exact_model.with_q(shift=0.4, scale=1.4)
    x = _x(model)
    torch.manual_seed(1)
    values = elbo.elbo(model, x.repeat(400, 1), n_samples=50).reshape(400, 4)
    mean, se = values.mean(0), values.std(0) / 20
    q, post = model.encode(x), model.posterior(x)
    expected = model.log_px(x) - kl.kl_gaussians(
        q.mean, torch.diag_embed(q.variance), post.mean, post.covariance_matrix
    )
    assert torch.all((mean - expected).abs() < 5 * se)
    assert torch.all(expected < model.log_px(x) - 0.1)


def test_elbo_is_differentiable():
    W = torch.randn(5, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0)).requires_grad_(True)
    model = LinearGaussian(W, torch.zeros(5, dtype=torch.float64), 0.5, q_shift=0.2)
    x = torch.ones(3, 5, dtype=torch.float64)
    elbo.loss(model, x).backward()
    assert W.grad is not None and torch.isfinite(W.grad).all() and W.grad.abs().sum() > 0


def test_elbo_rejects_bad_input(exact_model):
    with pytest.raises(ValueError, match="x contains NaN"):
        elbo.elbo(exact_model, torch.full((2, 6), math.nan, dtype=torch.float64))
    with pytest.raises(ValueError, match="n_samples must be a positive integer"):
        elbo.elbo(exact_model, _x(exact_model), n_samples=0)
    with pytest.raises(ValueError, match="k must be a positive integer"):
        elbo.iwae(exact_model, _x(exact_model), k=0)


# ---------------------------------------------------------------------------------- IWAE


@pytest.mark.parametrize("chunk_size", [None, 1, 333, 5000])
def test_iwae_with_exact_posterior_is_log_px_whatever_the_chunks(exact_model, chunk_size):
    """With Q = p(h|x) every weight is p(x): any chunking and the -log k must give log p(x) exactly."""
    x = _x(exact_model)
    torch.manual_seed(0)
    k = 5000 if chunk_size != 1 else 20
    torch.testing.assert_close(
        elbo.iwae(exact_model, x, k=k, chunk_size=chunk_size), exact_model.log_px(x), rtol=1e-10, atol=1e-10
    )


def test_iwae_chunking_does_not_change_the_distribution(exact_model):
    """Chunked and unchunked draws estimate the same expectation (5 standard errors)."""
    model = exact_model.with_q(shift=0.4, scale=1.4)
    x = _x(model, n=1).repeat(2000, 1)
    torch.manual_seed(2)
    a = elbo.iwae(model, x, k=16)
    b = elbo.iwae(model, x, k=16, chunk_size=3)
    se = torch.sqrt(a.var() / a.numel() + b.var() / b.numel())
    assert abs(float(a.mean() - b.mean())) < 5 * float(se)


def test_iwae_k1_is_the_sampled_elbo(exact_model):
    model = exact_model.with_q(shift=0.4, scale=1.4)
    x = _x(model)
    torch.manual_seed(4)
    a = elbo.iwae(model, x, k=1)
    torch.manual_seed(4)
    b = elbo.elbo(model, x, n_samples=1, analytic_kl=False)
    torch.testing.assert_close(a, b)


def test_linear_gaussian_follows_the_model_protocol(exact_model):
    x = _x(exact_model)
    h = torch.randn(5, 4, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))  # (S, B, k)
    torch.testing.assert_close(exact_model.decode(h).log_prob(x), exact_model.log_likelihood(x, h))
    assert exact_model.decoder_mean(h).shape == (5, 4, 6)
    prior = exact_model.prior()
    assert prior.batch_shape == (2,) and prior.mean.dtype == torch.float64
    assert exact_model.log_likelihood(x, h[0]).shape == (4,)


def test_bounds_and_quadrature_agree_on_a_neural_vae():
    """On the team's MLP VAE (2-D latent, untrained, float32): ELBO <= IWAE_k <= log p(x) by quadrature."""
    from vaecourse.models import VAE

    torch.manual_seed(0)
    vae = VAE(data_dim=20, hidden=16, latent_dim=2)
    x = (torch.rand(3, 20) < 0.3).float()
    with torch.no_grad():
        log_px = marginal.log_px_quadrature(vae, x, grid_size=161, limit=6.0)  # (B,)
        iwae = elbo.iwae(vae, x.repeat(50, 1), k=500).reshape(50, 3)
        bound = elbo.elbo(vae, x.repeat(50, 1), n_samples=20).reshape(50, 3)
    assert log_px.shape == (3,) and log_px.dtype == torch.float32
    iwae_mean, iwae_se = iwae.mean(0), iwae.std(0) / math.sqrt(50)
    assert torch.all(iwae_mean <= log_px + 5 * iwae_se + 1e-4)
    assert torch.all(log_px - iwae_mean < 0.05)  # k = 500 leaves a gap far below 0.05 nats here
    assert torch.all(bound.mean(0) <= iwae_mean + 5 * iwae_se)
    vae.zero_grad()
    elbo.loss(vae, x).backward()
    assert all(p.grad is not None for p in vae.encoder.parameters())
    assert all(p.grad is not None for p in vae.decoder.parameters())


# ----------------------------------------------------------------------------- log_mean_exp: edge cases, fuzzing


@pytest.mark.parametrize("shape, dim", [((0,), 0), ((3, 0), 1), ((0, 4), 0), ((2, 0, 3), -2)])
def test_log_mean_exp_over_an_empty_dimension_is_refused(shape, dim):
    with pytest.raises(ValueError, match=f"dimension {dim} of log_w .* is empty"):
        elbo.log_mean_exp(torch.zeros(shape), dim=dim)


@hypothesis.settings(derandomize=True, database=None, max_examples=80, deadline=None)
@hypothesis.given(
    hnp.arrays(
        np.float64,
        hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=5),
        elements=st.one_of(st.floats(-700, 700), st.just(-math.inf)),
    ),
    st.integers(0, 2),
    st.booleans(),
)
def test_log_mean_exp_agrees_with_scipy_logsumexp_in_float64(log_w, axis, single):
    """The float64 numpy route: scipy's logsumexp minus log K; float32 input within float32's precision."""
    axis = axis % log_w.ndim
    reference = logsumexp(log_w, axis=axis) - math.log(log_w.shape[axis])
    dtype, tol = (torch.float32, 1e-4) if single else (torch.float64, 1e-10)
    if single:
        log_w = log_w.astype(np.float32).astype(np.float64)  # the float32 input, exactly
        reference = logsumexp(log_w, axis=axis) - math.log(log_w.shape[axis])
    ours = elbo.log_mean_exp(torch.from_numpy(log_w).to(dtype), dim=axis).double().numpy()
    assert ours.shape == reference.shape
    assert np.array_equal(np.isneginf(ours), np.isneginf(reference))  # all weights zero: -inf, as it should
    finite = np.isfinite(reference)
    assert np.all(np.abs(ours[finite] - reference[finite]) <= tol * (1 + np.abs(reference[finite])))


@pytest.mark.parametrize(
    "x, word",
    [
        (torch.rand(4, 5), "shape"),
        (torch.rand(4, 1, 8, 8, dtype=torch.float64), "float64"),
        (torch.randint(0, 255, (4, 1, 8, 8), dtype=torch.uint8), "floating"),
    ],
)
def test_elbo_with_a_wrong_shape_or_dtype_names_it(x, word):
    with pytest.raises(ValueError, match=word):
        elbo.elbo(VAE(64, 8, 2, (1, 8, 8)), x)


def test_loss_and_dataset_elbo_of_an_empty_batch_are_refused():
    model = VAE(64, 8, 2, (1, 8, 8))
    with pytest.raises(ValueError, match="empty batch"):
        elbo.loss(model, torch.rand(0, 1, 8, 8))  # not NaN
    with pytest.raises(ValueError, match="non-empty"):
        train.dataset_elbo(model, torch.rand(0, 1, 8, 8))  # not a division by zero
