"""Forward/reverse KL fits of one Gaussian to a mixture, against independent routes."""

from __future__ import annotations

import math

import pytest
import torch
from torch.distributions import Normal, kl_divergence

from vaecourse import kl_fits


@pytest.fixture
def bimodal():
    return kl_fits.gaussian_mixture([0.3, 0.7], [-3.0, 2.5], [0.8, 1.2])


def test_gauss_hermite_is_exact_on_polynomials():
    # E[x^4] of N(m, s^2) = m^4 + 6 m^2 s^2 + 3 s^4 (textbook moments, not the code under test).
    m, s = 0.7, 1.9
    got = kl_fits.gaussian_expectation(lambda x: x**4, m, s, n_nodes=10)
    assert got.item() == pytest.approx(m**4 + 6 * m**2 * s**2 + 3 * s**4, rel=1e-12)


def test_gauss_hermite_broadcasts_over_means_and_stds():
    means = torch.tensor([0.0, 1.0, -2.0], dtype=torch.float64)
    stds = torch.tensor([1.0, 0.5, 2.0], dtype=torch.float64)
    got = kl_fits.gaussian_expectation(lambda x: x**2, means, stds, n_nodes=5)  # (3,)
    torch.testing.assert_close(got, means**2 + stds**2)


def test_single_component_divergences_match_torch_closed_form():
    p = kl_fits.gaussian_mixture([1.0], [0.4], [1.3])
    q_mean, q_std = -0.6, 0.7
    exact_rev = kl_divergence(
        Normal(torch.tensor(q_mean), torch.tensor(q_std)), Normal(torch.tensor(0.4), torch.tensor(1.3))
    )
    exact_fwd = kl_divergence(
        Normal(torch.tensor(0.4), torch.tensor(1.3)), Normal(torch.tensor(q_mean), torch.tensor(q_std))
    )
    assert kl_fits.reverse_kl(q_mean, q_std, p).item() == pytest.approx(exact_rev.item(), rel=1e-6)
    assert kl_fits.forward_kl(p, q_mean, q_std).item() == pytest.approx(exact_fwd.item(), rel=1e-6)


def test_forward_kl_matches_monte_carlo(bimodal):
    torch.manual_seed(0)
    x = bimodal.sample((400_000,))
    q = Normal(torch.tensor(0.2, dtype=torch.float64), torch.tensor(2.0, dtype=torch.float64))
    mc = bimodal.log_prob(x) - q.log_prob(x)
    # statistical tolerance: 5 standard errors of the Monte Carlo mean
    tol = 5 * mc.std().item() / math.sqrt(x.numel())
    assert kl_fits.forward_kl(bimodal, 0.2, 2.0).item() == pytest.approx(mc.mean().item(), abs=tol)


def test_forward_fit_is_moment_matching_and_a_minimum(bimodal):
    torch.manual_seed(1)
    x = bimodal.sample((400_000,))
    mean, std = kl_fits.fit_forward_kl(bimodal)
    assert mean == pytest.approx(x.mean().item(), abs=0.02)
    assert std == pytest.approx(x.std().item(), abs=0.02)
    best = kl_fits.forward_kl(bimodal, mean, std).item()
    for dm, ds in [(0.1, 0), (-0.1, 0), (0, 0.1), (0, -0.1)]:
        assert kl_fits.forward_kl(bimodal, mean + dm, std + ds).item() > best


def test_reverse_fit_seeks_the_mode_it_starts_near(bimodal):
    right = kl_fits.fit_reverse_kl(bimodal, init_mean=2.0)
    left = kl_fits.fit_reverse_kl(bimodal, init_mean=-2.0)
    assert right[0] == pytest.approx(2.5, abs=0.2) and right[1] == pytest.approx(1.2, abs=0.2)
    assert left[0] == pytest.approx(-3.0, abs=0.2) and left[1] == pytest.approx(0.8, abs=0.2)
    # a local minimum: the gradient vanishes and nearby points are worse
    m = torch.tensor(right[0], dtype=torch.float64, requires_grad=True)
    s = torch.tensor(right[1], dtype=torch.float64, requires_grad=True)
    value = kl_fits.reverse_kl(m, s, bimodal)
    value.backward()
    assert abs(m.grad.item()) < 1e-5 and abs(s.grad.item()) < 1e-5
    # the mode-seeking fit beats moment matching in the reverse direction, and loses in the forward one
    fm, fs = kl_fits.fit_forward_kl(bimodal)
    assert value.item() < kl_fits.reverse_kl(fm, fs, bimodal).item()
    assert kl_fits.forward_kl(bimodal, *right).item() > kl_fits.forward_kl(bimodal, fm, fs).item()


@pytest.mark.parametrize(
    "args, match",
    [
        (([0.5, 0.5], [0.0], [1.0, 1.0]), "same length"),
        (([0.5, 0.6], [0.0, 1.0], [1.0, 1.0]), "sum to 1"),
        (([1.5, -0.5], [0.0, 1.0], [1.0, 1.0]), "weights must be > 0"),
        (([0.5, 0.5], [0.0, 1.0], [1.0, 0.0]), "stds"),
        (([0.5, 0.5], [0.0, float("nan")], [1.0, 1.0]), "means"),
    ],
)
def test_bad_mixture_raises(args, match):
    with pytest.raises(ValueError, match=match):
        kl_fits.gaussian_mixture(*args)


def test_bad_std_raises(bimodal):
    with pytest.raises(ValueError, match="std"):
        kl_fits.reverse_kl(0.0, -1.0, bimodal)
    with pytest.raises(ValueError, match="std"):
        kl_fits.forward_kl(bimodal, 0.0, 0.0)
    with pytest.raises(ValueError, match="init_std"):
        kl_fits.fit_reverse_kl(bimodal, 0.0, init_std=-1.0)
    with pytest.raises(ValueError, match="mixture"):
        kl_fits.reverse_kl(0.0, 1.0, Normal(0.0, 1.0))
