"""Forward/reverse KL fits of one Gaussian to a mixture, against independent routes."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import integrate
from torch.distributions import Normal, kl_divergence

from vaecourse import kl_fits


@pytest.fixture
def bimodal():
    return kl_fits.gaussian_mixture([0.3, 0.7], [-3.0, 2.5], [0.8, 1.2])


def test_gaussian_expectation_integrates_polynomials():
    # E[x^4] of N(m, s^2) = m^4 + 6 m^2 s^2 + 3 s^4 (textbook moments, not the code under test).
    m, s = 0.7, 1.9
    got = kl_fits.gaussian_expectation(lambda x: x**4, m, s)
    assert got.item() == pytest.approx(m**4 + 6 * m**2 * s**2 + 3 * s**4, rel=1e-12)


def test_gaussian_expectation_broadcasts_over_means_and_stds():
    means = torch.tensor([0.0, 1.0, -2.0], dtype=torch.float64)
    stds = torch.tensor([1.0, 0.5, 2.0], dtype=torch.float64)
    got = kl_fits.gaussian_expectation(lambda x: x**2, means, stds)  # (3,)
    torch.testing.assert_close(got, means**2 + stds**2)


def reverse_kl_by_scipy(m: float, s: float, p) -> float:
    """D[Q||p] = -H[Q] - E_Q[log p] with E_Q by adaptive quadrature (scipy.integrate.quad), an independent route."""

    def integrand(x):
        log_p = p.log_prob(torch.tensor(x, dtype=torch.float64)).item()
        return math.exp(-0.5 * ((x - m) / s) ** 2) / (s * math.sqrt(2 * math.pi)) * log_p

    means = p.component_distribution.loc.tolist()
    inside = sorted(v for v in [*means, sum(means) / 2] if m - 15 * s < v < m + 15 * s)
    cross, _ = integrate.quad(integrand, m - 15 * s, m + 15 * s, points=inside, limit=400, epsabs=1e-13)
    return -0.5 * math.log(2 * math.pi * math.e * s * s) - cross


CHAPTER_MIXTURE = ([0.4, 0.6], [-3.0, 2.5], [1.0, 0.8])  # book/kl_divergence.md
WIDE_AND_NARROW = [(m, s) for m in (-5.0, -0.4, 0.3, 2.5) for s in (0.1, 1.0, 2.5, 5.0)]


def test_reverse_kl_matches_adaptive_quadrature_for_wide_and_narrow_q():
    p = kl_fits.gaussian_mixture(*CHAPTER_MIXTURE)
    for m, s in WIDE_AND_NARROW:
        assert kl_fits.reverse_kl(m, s, p).item() == pytest.approx(reverse_kl_by_scipy(m, s, p), abs=1e-8), (m, s)


def test_the_comparison_with_adaptive_quadrature_catches_an_inaccurate_rule(monkeypatch):
    """The 80-node Gauss-Hermite rule the chapter used before is off by about 1e-2 nats at s = 2.5."""

    def gauss_hermite(fn, mean, std, panels=None):
        t, w = np.polynomial.hermite.hermgauss(80)
        t, w = torch.as_tensor(t, dtype=torch.float64), torch.as_tensor(w, dtype=torch.float64)
        mean, std = torch.as_tensor(mean, dtype=torch.float64), torch.as_tensor(std, dtype=torch.float64)
        return (w * fn(mean + math.sqrt(2) * std * t)).sum() / math.sqrt(math.pi)

    p = kl_fits.gaussian_mixture(*CHAPTER_MIXTURE)
    monkeypatch.setattr(kl_fits, "gaussian_expectation", gauss_hermite)
    errors = [abs(kl_fits.reverse_kl(m, s, p).item() - reverse_kl_by_scipy(m, s, p)) for m, s in WIDE_AND_NARROW]
    assert max(errors) > 1e-4


def test_the_between_mode_minimum_is_a_stationary_point_of_the_accurate_divergence():
    """From m = 0.3 the fit settles between the modes; there the divergence by adaptive quadrature is flat."""
    p = kl_fits.gaussian_mixture(*CHAPTER_MIXTURE)
    m, s = kl_fits.fit_reverse_kl(p, init_mean=0.3)
    assert -3.0 < m < 2.5 and s > 2.0  # straddles both modes
    step = 1e-4
    d_m = (reverse_kl_by_scipy(m + step, s, p) - reverse_kl_by_scipy(m - step, s, p)) / (2 * step)
    d_s = (reverse_kl_by_scipy(m, s + step, p) - reverse_kl_by_scipy(m, s - step, p)) / (2 * step)
    assert abs(d_m) < 1e-5 and abs(d_s) < 1e-5
    # a minimum, and worse than either mode
    value = reverse_kl_by_scipy(m, s, p)
    for dm, ds in [(0.05, 0), (-0.05, 0), (0, 0.05), (0, -0.05)]:
        assert reverse_kl_by_scipy(m + dm, s + ds, p) > value
    for start in (-2.0, 2.0):
        assert kl_fits.reverse_kl(*kl_fits.fit_reverse_kl(p, init_mean=start), p).item() < value


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
