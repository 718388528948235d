"""vaecourse.reparameterisation: h = mu + sigma * eps has the right moments; the three gradient estimators."""

from __future__ import annotations

import math

import hypothesis
import hypothesis.extra.numpy as hnp
import numpy as np
import pytest
import torch
from hypothesis import strategies as st

from vaecourse import reparameterisation


def test_gradient_estimators_shapes_and_naive_is_zero():
    mu, sigma = torch.tensor([0.5, -1.0]), torch.tensor([1.0, 0.5])

    def f(h):
        return h.pow(2).sum(-1)

    torch.manual_seed(0)
    for estimator in (
        reparameterisation.naive_gradient,
        reparameterisation.reparameterised_gradient,
        reparameterisation.score_function_gradient,
    ):
        est = estimator(f, mu, sigma, 64)
        assert est.per_sample_mu.shape == (64, 2) and est.mean_sigma.shape == (2,)
    naive = reparameterisation.naive_gradient(f, mu, sigma, 64)
    assert float(naive.per_sample_mu.abs().max()) == 0.0 and float(naive.per_sample_sigma.abs().max()) == 0.0
    with pytest.raises(ValueError, match="sigma must be positive"):
        reparameterisation.reparameterised_gradient(f, mu, -sigma, 10)
    with pytest.raises(ValueError, match="same shape"):
        reparameterisation.score_function_gradient(f, mu, sigma[:1], 10)


def test_score_function_baseline_keeps_it_unbiased_and_lowers_variance():
    mu, sigma = torch.tensor([1.0], dtype=torch.float64), torch.tensor([0.5], dtype=torch.float64)

    def f(h):
        return h.pow(2).sum(-1)

    torch.manual_seed(1)
    plain = reparameterisation.score_function_gradient(f, mu, sigma, 100_000)
    torch.manual_seed(2)
    based = reparameterisation.score_function_gradient(f, mu, sigma, 100_000, baseline=1.25)  # = E[f]
    for est in (plain, based):
        assert abs(float(est.mean_mu - 2 * mu)) < 5 * float(est.se_mu)
    assert float(based.var_mu) < float(plain.var_mu)


def test_reparameterise_moments():
    torch.manual_seed(0)
    mu, logvar = torch.tensor([1.0, -2.0], dtype=torch.float64), torch.tensor([0.0, math.log(4.0)], dtype=torch.float64)
    h = reparameterisation.reparameterise(mu, logvar, torch.randn(100_000, 2, dtype=torch.float64))
    assert torch.all((h.mean(0) - mu).abs() < 5 * h.std(0) / math.sqrt(h.shape[0]))
    torch.testing.assert_close(h.std(0), torch.tensor([1.0, 2.0], dtype=torch.float64), rtol=0.02, atol=0.0)


def test_reparameterise_full_has_the_right_covariance():
    gen = torch.Generator().manual_seed(0)
    a = torch.randn(3, 3, generator=gen, dtype=torch.float64)
    cov = a @ a.T + 0.5 * torch.eye(3, dtype=torch.float64)
    mu = torch.tensor([1.0, 0.0, -1.0], dtype=torch.float64)
    h = reparameterisation.reparameterise_full(mu, cov, torch.randn(200_000, 3, generator=gen, dtype=torch.float64))
    centred = h - h.mean(0)
    sample_cov = centred.T @ centred / (h.shape[0] - 1)
    # standard error of a sample covariance entry: sqrt((S_ii S_jj + S_ij^2) / n) for Gaussian data
    se = torch.sqrt((torch.outer(cov.diagonal(), cov.diagonal()) + cov.pow(2)) / h.shape[0])
    assert torch.all((sample_cov - cov).abs() < 5 * se)
    with pytest.raises(ValueError, match="cov is not positive definite"):
        reparameterisation.reparameterise_full(mu, -cov, torch.zeros(3, dtype=torch.float64))


#: Property-based tests: reproducible (no random seed, no example database) and few examples (CI time).
FUZZ = hypothesis.settings(derandomize=True, database=None, max_examples=60, deadline=None)


def test_reparameterise_full_of_an_empty_batch_is_empty():
    mu, cov = torch.zeros(0, 2, dtype=torch.float64), torch.eye(2, dtype=torch.float64).expand(0, 2, 2)
    assert reparameterisation.reparameterise_full(mu, cov, torch.zeros(0, 2, dtype=torch.float64)).shape == (0, 2)
    one_mu, one_cov = torch.zeros(2, dtype=torch.float64), torch.eye(2, dtype=torch.float64)
    no_draws = torch.zeros(0, 2, dtype=torch.float64)
    assert reparameterisation.reparameterise_full(one_mu, one_cov, no_draws).shape == (0, 2)


@FUZZ
@hypothesis.given(st.data())
def test_reparameterise_full_is_mu_plus_a_square_root_of_cov_times_eps(data):
    """The definition h = mu + S eps with S S^T = cov: h is affine in eps, and its columns S e_j square to cov."""
    k = data.draw(st.integers(1, 4))
    a = data.draw(hnp.arrays(np.float64, (k, k), elements=st.floats(-3, 3, allow_nan=False)))
    cov = torch.from_numpy(a @ a.T + data.draw(st.floats(0.05, 3)) * np.eye(k))
    mu = torch.from_numpy(data.draw(hnp.arrays(np.float64, (k,), elements=st.floats(-5, 5, allow_nan=False))))
    eps = torch.from_numpy(
        data.draw(hnp.arrays(np.float64, (data.draw(st.integers(0, 3)), k), elements=st.floats(-4, 4, allow_nan=False)))
    )
    basis = torch.eye(k, dtype=torch.float64)
    root = (reparameterisation.reparameterise_full(mu, cov, basis) - mu).T  # column j: h(e_j) - mu = S e_j
    scale = float(cov.abs().max())
    torch.testing.assert_close(root @ root.T, cov, rtol=1e-9, atol=1e-9 * scale)
    h = reparameterisation.reparameterise_full(mu, cov, eps)
    assert h.shape == eps.shape
    torch.testing.assert_close(h, mu + eps @ root.T, rtol=1e-9, atol=1e-9 * scale)
