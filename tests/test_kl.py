"""vaecourse.kl against torch.distributions (float64, tight) and Monte Carlo (5 standard errors)."""

from __future__ import annotations

import math

import hypothesis
import hypothesis.extra.numpy as hnp
import numpy as np
import pytest
import torch
from hypothesis import strategies as st
from torch.distributions import MultivariateNormal, Normal, kl_divergence

from vaecourse import kl


def _spd(gen: torch.Generator, *batch: int, k: int, dtype=torch.float64) -> torch.Tensor:
    a = torch.randn(*batch, k, k, generator=gen, dtype=torch.float64)
    return (a @ a.transpose(-2, -1) / k + 0.2 * torch.eye(k, dtype=torch.float64)).to(dtype)


def _pairs(batch, k, seed=0, dtype=torch.float64):
    gen = torch.Generator().manual_seed(seed)
    mu0 = torch.randn(*batch, k, generator=gen, dtype=torch.float64).to(dtype)
    mu1 = torch.randn(*batch, k, generator=gen, dtype=torch.float64).to(dtype)
    return mu0, _spd(gen, *batch, k=k, dtype=dtype), mu1, _spd(gen, *batch, k=k, dtype=dtype)


@pytest.mark.parametrize("batch", [(), (7,), (3, 4)])
@pytest.mark.parametrize("k", [1, 3, 6])
def test_kl_gaussians_matches_torch_float64(batch, k):
    mu0, cov0, mu1, cov1 = _pairs(batch, k, seed=k)
    ours = kl.kl_gaussians(mu0, cov0, mu1, cov1)
    reference = kl_divergence(MultivariateNormal(mu0, cov0), MultivariateNormal(mu1, cov1))
    assert ours.shape == batch and ours.dtype == torch.float64
    torch.testing.assert_close(ours, reference, rtol=1e-10, atol=1e-10)


def test_kl_gaussians_float32_and_broadcast_prior():
    mu0, cov0, _, _ = _pairs((5,), 3, seed=1, dtype=torch.float32)
    mu1, cov1 = torch.zeros(3), 2.0 * torch.eye(3)  # one unbatched Gaussian for the whole batch
    ours = kl.kl_gaussians(mu0, cov0, mu1, cov1)
    reference = kl_divergence(
        MultivariateNormal(mu0.double(), cov0.double()), MultivariateNormal(mu1.double(), cov1.double())
    )
    assert ours.shape == (5,) and ours.dtype == torch.float32
    torch.testing.assert_close(ours.double(), reference, rtol=1e-5, atol=1e-5)


def test_kl_gaussians_mixed_dtypes_promote():
    mu0, cov0, mu1, cov1 = _pairs((2,), 2, seed=2)
    assert kl.kl_gaussians(mu0.float(), cov0, mu1, cov1.float()).dtype == torch.float64


def test_kl_gaussians_matches_monte_carlo():
    """Statistical tolerance: 5 standard errors of the 100,000-sample mean of log Q - log P."""
    mu0, cov0, mu1, cov1 = _pairs((4,), 3, seed=3)
    torch.manual_seed(0)
    estimate, se = kl.kl_monte_carlo(MultivariateNormal(mu0, cov0), MultivariateNormal(mu1, cov1), 100_000)
    exact = kl.kl_gaussians(mu0, cov0, mu1, cov1)
    assert torch.all((estimate - exact).abs() <= 5 * se), (estimate, exact, se)
    assert torch.all(se < 0.05)  # the test is sharp enough to see an error of a few hundredths of a nat


def test_kl_properties():
    mu0, cov0, mu1, cov1 = _pairs((200,), 4, seed=4)
    values = kl.kl_gaussians(mu0, cov0, mu1, cov1)
    assert torch.all(values > 0)
    assert torch.all(kl.kl_gaussians(mu0, cov0, mu0, cov0).abs() < 1e-12)
    assert not torch.allclose(values, kl.kl_gaussians(mu1, cov1, mu0, cov0))


def test_kl_standard_normal_matches_torch_and_full_form():
    gen = torch.Generator().manual_seed(5)
    mu = torch.randn(6, 4, generator=gen, dtype=torch.float64)
    logvar = 2 * torch.randn(6, 4, generator=gen, dtype=torch.float64)
    ours = kl.kl_standard_normal(mu, logvar)
    reference = kl_divergence(Normal(mu, torch.exp(0.5 * logvar)), Normal(0.0, 1.0)).sum(-1)
    torch.testing.assert_close(ours, reference, rtol=1e-12, atol=1e-12)
    eye = torch.eye(4, dtype=torch.float64)
    full = kl.kl_standard_normal_full(mu, torch.diag_embed(logvar.exp()))
    torch.testing.assert_close(full, reference, rtol=1e-10, atol=1e-10)
    general = kl.kl_gaussians(mu, torch.diag_embed(logvar.exp()), torch.zeros(4, dtype=torch.float64), eye)
    torch.testing.assert_close(general, reference, rtol=1e-10, atol=1e-10)


def test_kl_standard_normal_full_covariance():
    mu0, cov0, _, _ = _pairs((3,), 3, seed=6)
    ours = kl.kl_standard_normal_full(mu0, cov0)
    prior = MultivariateNormal(torch.zeros(3, dtype=torch.float64), torch.eye(3, dtype=torch.float64))
    torch.testing.assert_close(ours, kl_divergence(MultivariateNormal(mu0, cov0), prior), rtol=1e-10, atol=1e-10)


def test_kl_standard_normal_unbatched_float32_and_gradient():
    mu = torch.tensor([0.5, -1.0], requires_grad=True)
    logvar = torch.tensor([0.3, -0.7], requires_grad=True)
    value = kl.kl_standard_normal(mu, logvar)
    assert value.shape == () and value.dtype == torch.float32
    value.backward()
    # d/dmu = mu, d/dlogvar = (exp(logvar) - 1) / 2, by hand from the formula
    torch.testing.assert_close(mu.grad, mu.detach())
    torch.testing.assert_close(logvar.grad, 0.5 * (logvar.detach().exp() - 1))


def test_kl_standard_normal_is_zero_at_the_prior():
    assert float(kl.kl_standard_normal(torch.zeros(3, 5), torch.zeros(3, 5)).abs().max()) == 0.0


# ---------------------------------------------------------------------------------- bad input

EYE = torch.eye(2, dtype=torch.float64)
ZERO = torch.zeros(2, dtype=torch.float64)


@pytest.mark.parametrize(
    "args, match",
    [
        ((torch.zeros(3, dtype=torch.float64), EYE, ZERO, EYE), "cov0 must have shape"),
        ((ZERO, EYE, ZERO, torch.eye(3, dtype=torch.float64)), "cov1 must have shape"),
        ((ZERO, torch.tensor([[1.0, 0.5], [0.0, 1.0]], dtype=torch.float64), ZERO, EYE), "cov0 is not symmetric"),
        (
            (ZERO, EYE, ZERO, torch.tensor([[1.0, 2.0], [2.0, 1.0]], dtype=torch.float64)),
            "cov1 is not positive definite",
        ),
        ((ZERO, torch.diag(torch.tensor([1.0, -0.5], dtype=torch.float64)), ZERO, EYE), "negative or zero variance"),
        ((torch.tensor([float("nan"), 0.0], dtype=torch.float64), EYE, ZERO, EYE), "mu0 contains NaN"),
        ((ZERO, EYE, ZERO, torch.diag(torch.tensor([math.inf, 1.0], dtype=torch.float64))), "cov1 contains inf"),
        ((ZERO.repeat(3, 1), EYE.repeat(3, 1, 1), ZERO.repeat(4, 1), EYE), "do not broadcast"),
        ((torch.zeros(2, dtype=torch.int64), EYE, ZERO, EYE), "mu0 must be a floating tensor"),
        (([0.0, 0.0], EYE, ZERO, EYE), "mu0 must be a torch.Tensor"),
    ],
)
def test_kl_gaussians_rejects_bad_input(args, match):
    with pytest.raises(ValueError, match=match):
        kl.kl_gaussians(*args)


def test_kl_standard_normal_rejects_bad_input():
    with pytest.raises(ValueError, match="same shape"):
        kl.kl_standard_normal(torch.zeros(3, 2), torch.zeros(3, 4))
    with pytest.raises(ValueError, match="logvar contains inf"):
        kl.kl_standard_normal(torch.zeros(2), torch.tensor([0.0, math.inf]))
    with pytest.raises(ValueError, match="mu contains NaN"):
        kl.kl_standard_normal(torch.tensor([math.nan]), torch.zeros(1))
    with pytest.raises(ValueError, match="at least 1 dimension"):
        kl.kl_standard_normal(torch.tensor(0.0), torch.tensor(0.0))
    with pytest.raises(ValueError, match="cov is not positive definite"):
        kl.kl_standard_normal_full(torch.zeros(2), torch.diag(torch.tensor([1.0, -1.0])))
    with pytest.raises(ValueError, match="n_samples"):
        kl.kl_monte_carlo(Normal(0.0, 1.0), Normal(0.0, 1.0), 1)


def test_kl_gaussians_gradients_match_torch():
    mu0, cov0, mu1, cov1 = _pairs((3,), 3, seed=7)
    ours_in = [t.clone().requires_grad_(True) for t in (mu0, cov0, mu1, cov1)]
    ref_in = [t.clone().requires_grad_(True) for t in (mu0, cov0, mu1, cov1)]
    kl.kl_gaussians(*ours_in).sum().backward()
    kl_divergence(MultivariateNormal(ref_in[0], ref_in[1]), MultivariateNormal(ref_in[2], ref_in[3])).sum().backward()
    for ours, ref in zip(ours_in, ref_in):
        # covariance gradients are compared symmetrised: only the symmetric part is meaningful
        g, r = ours.grad, ref.grad
        if g.dim() == 3:
            g, r = (g + g.transpose(-2, -1)) / 2, (r + r.transpose(-2, -1)) / 2
        torch.testing.assert_close(g, r, rtol=1e-8, atol=1e-10)


# ----------------------------------------------------------------------------- empty batches, fuzzing

#: Property-based tests: reproducible (no random seed, no example database) and few examples (CI time).
FUZZ = hypothesis.settings(derandomize=True, database=None, max_examples=60, deadline=None)


def test_an_empty_batch_gives_an_empty_kl():
    mu, cov = torch.zeros(0, 3, dtype=torch.float64), torch.eye(3, dtype=torch.float64).expand(0, 3, 3)
    prior_mu, prior_cov = torch.zeros(3, dtype=torch.float64), torch.eye(3, dtype=torch.float64)
    for result in (
        kl.kl_gaussians(mu, cov, prior_mu, prior_cov),
        kl.kl_gaussians(prior_mu, prior_cov, mu, cov),
        kl.kl_standard_normal_full(mu, cov),
        kl.kl_standard_normal(mu, torch.zeros(0, 3)),
    ):
        assert result.shape == (0,)


@st.composite
def gaussians(draw, min_batch=0):
    """(mu, cov) float64 with cov = A A^T + d I: entries of A in [-3, 3], d in [0.05, 3], |mu| <= 5."""
    k = draw(st.integers(1, 4))
    batch = draw(st.integers(min_batch, 3))
    entries = st.floats(-3, 3, allow_nan=False)
    a = draw(hnp.arrays(np.float64, (batch, k, k), elements=entries))
    d = draw(st.floats(0.05, 3))
    mu = draw(hnp.arrays(np.float64, (batch, k), elements=st.floats(-5, 5, allow_nan=False)))
    cov = a @ np.swapaxes(a, -1, -2) + d * np.eye(k)
    return torch.from_numpy(mu), torch.from_numpy(cov)


@FUZZ
@hypothesis.given(st.data())
def test_kl_gaussians_agrees_with_torch_distributions_on_fuzzed_gaussians(data):
    mu0, cov0 = data.draw(gaussians())
    k, batch = mu0.shape[-1], mu0.shape[0]
    mu1, cov1 = data.draw(gaussians(min_batch=1).filter(lambda g: g[0].shape[-1] == k))
    mu1, cov1 = mu1[:1].expand(batch, k), cov1[:1].expand(batch, k, k)  # one second Gaussian per row
    ours = kl.kl_gaussians(mu0, cov0, mu1, cov1)
    assert ours.shape == (batch,)
    if batch:
        reference = kl_divergence(MultivariateNormal(mu0, cov0), MultivariateNormal(mu1, cov1))
        # condition numbers are at most (36 k + 3) / 0.05: float64 leaves far more than 8 digits
        torch.testing.assert_close(ours, reference, rtol=1e-8, atol=1e-8)


@FUZZ
@hypothesis.given(gaussians())
def test_kl_standard_normal_full_agrees_with_torch_distributions_on_fuzzed_gaussians(gaussian):
    mu, cov = gaussian
    ours = kl.kl_standard_normal_full(mu, cov)
    assert ours.shape == mu.shape[:1]
    if mu.shape[0]:
        k = mu.shape[-1]
        prior = MultivariateNormal(torch.zeros(k, dtype=torch.float64), torch.eye(k, dtype=torch.float64))
        torch.testing.assert_close(ours, kl_divergence(MultivariateNormal(mu, cov), prior), rtol=1e-8, atol=1e-8)


def test_a_float16_kl_is_computed_in_float32():
    mu, cov = torch.zeros(2, dtype=torch.float16), torch.eye(2, dtype=torch.float16)
    value = kl.kl_gaussians(mu, cov, mu + 1, 2 * cov)  # torch has no float16 Cholesky on the CPU
    exact = kl.kl_gaussians(mu.double(), cov.double(), mu.double() + 1, 2 * cov.double())
    assert value.dtype == torch.float32 and abs(float(value) - float(exact)) < 1e-5
