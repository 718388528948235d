"""Forward and reverse KL fits: one Gaussian fitted to a 1-D Gaussian mixture, by D[p||Q] and by D[Q||p].

The picture behind the asymmetry of the Kullback-Leibler divergence (book/kl_divergence.md;
Goodfellow et al. 2016, section 3.13 and figure 3.6; Bishop 2006, section 10.1.2):
fit a single Gaussian $Q = \\mathcal{N}(m, s^2)$ to a bimodal mixture $p$

- by minimising the *forward* divergence $\\mathcal{D}[p\\,\\|\\,Q]$: the optimum matches the mean
  and the variance of $p$ (moment matching) and spreads $Q$ over both modes ("mass-covering");
- by minimising the *reverse* divergence $\\mathcal{D}[Q\\,\\|\\,p]$, the direction a VAE uses: the
  optimum sits on one mode ("mode-seeking"); which mode depends on where the optimiser starts.

Both divergences are computed by quadrature (composite Gauss-Legendre under the Gaussian weight,
:func:`gaussian_expectation`), so they are deterministic and differentiable; nothing here samples.
Everything is one-dimensional and float64.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch.distributions import Categorical, MixtureSameFamily, Normal

__all__ = [
    "gaussian_mixture",
    "gaussian_expectation",
    "standard_normal_rule",
    "reverse_kl",
    "forward_kl",
    "fit_forward_kl",
    "fit_reverse_kl",
]

_DTYPE = torch.float64

#: Gauss-Legendre nodes per panel of :func:`gaussian_expectation`.
ORDER = 8
#: Panels of :func:`gaussian_expectation` on [-REACH, REACH] standard deviations.
PANELS = 200
#: The rule covers this many standard deviations of Q on each side.
REACH = 10.0


def _as_vector(value, name: str) -> torch.Tensor:
    """A finite 1-D float64 tensor, or a ValueError naming ``name``."""
    t = torch.as_tensor(value, dtype=_DTYPE).reshape(-1)  # (K,)
    if t.numel() == 0:
        raise ValueError(f"{name} is empty: give at least one mixture component")
    if not torch.isfinite(t).all():
        raise ValueError(f"{name} contains NaN or inf: {t.tolist()}")
    return t


def _check_std(std, name: str) -> torch.Tensor:
    t = torch.as_tensor(std, dtype=_DTYPE)
    if not torch.isfinite(t).all() or (t <= 0).any():
        raise ValueError(f"{name} must be finite and > 0, got {t.tolist()}")
    return t


def gaussian_mixture(weights, means, stds) -> MixtureSameFamily:
    """The 1-D mixture $p(x) = \\sum_j w_j\\,\\mathcal{N}(x \\mid \\mu_j, \\sigma_j^2)$.

    book/kl_divergence.md. ``weights``, ``means`` and ``stds`` are sequences of length K;
    the weights must be positive and sum to one (within 1e-6), the standard deviations positive.
    Returns a ``torch.distributions.MixtureSameFamily`` of batch shape () in float64.

    Raises ValueError when the three lengths differ, a weight or a standard deviation is not
    positive, the weights do not sum to one, or any value is NaN/inf.
    """
    w = _as_vector(weights, "weights")
    mu = _as_vector(means, "means")
    sd = _as_vector(stds, "stds")
    if not (w.shape == mu.shape == sd.shape):
        raise ValueError(
            f"weights, means and stds must have the same length, got {w.numel()}, {mu.numel()}, {sd.numel()}"
        )
    if (w <= 0).any():
        raise ValueError(f"weights must be > 0, got {w.tolist()}")
    if abs(float(w.sum()) - 1.0) > 1e-6:
        raise ValueError(f"weights must sum to 1, they sum to {float(w.sum()):.6g}: normalise them")
    _check_std(sd, "stds")
    return MixtureSameFamily(Categorical(probs=w), Normal(mu, sd))


def _components(p: MixtureSameFamily) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(weights (K,), means (K,), stds (K,)) of a 1-D Gaussian mixture."""
    if not isinstance(p, MixtureSameFamily) or not isinstance(p.component_distribution, Normal):
        raise ValueError("p must be a 1-D Gaussian mixture made by gaussian_mixture(...)")
    comp = p.component_distribution
    return p.mixture_distribution.probs, comp.loc, comp.scale


def gaussian_expectation(fn, mean, std, panels: int = PANELS) -> torch.Tensor:
    """$E_{x\\sim\\mathcal{N}(m, s^2)}[f(x)]$ by composite Gauss-Legendre quadrature.

    $E[f] \\approx \\sum_i u_i\\,f(m + s z_i)$ with the nodes $z_i$ and weights $u_i$ of
    :func:`standard_normal_rule`. Why not Gauss-Hermite, the textbook rule for a Gaussian weight: it
    fits one polynomial to $f$ over the whole line, and $\\log p$ of a mixture changes slope within a
    short stretch between the modes, so for a wide $Q$ (s = 2.5) its error is about 1e-2 nats with 80
    nodes, and more than about 150 nodes overflow. Accurate to about 1e-9 against
    ``scipy.integrate.quad`` on the chapter's mixture (tests/test_kl_fits.py); differentiable in
    ``mean`` and ``std``. ``mean`` and ``std`` are scalars or tensors of one shape S; ``fn`` maps a
    tensor of nodes of shape (panels * ORDER, *S) elementwise. Returns shape S. book/kl_divergence.md.

    Raises ValueError when ``std`` is not positive or ``panels`` < 1.
    """
    mean = torch.as_tensor(mean, dtype=_DTYPE)
    std = torch.as_tensor(std, dtype=_DTYPE)
    _check_std(std.detach(), "std")
    z, u = standard_normal_rule(panels)  # (N,) each
    shape = (z.numel(),) + (1,) * len(torch.broadcast_shapes(mean.shape, std.shape))
    nodes = mean + std * z.reshape(shape)  # (N, *S)
    return (u.reshape(shape) * fn(nodes)).sum(0)  # S


def standard_normal_rule(panels: int = PANELS):
    """Nodes z and weights u with sum(u * f(z)) = E[f(z)], z ~ N(0, 1).

    ``panels`` equal panels on [-10, 10] (the mass beyond, 1e-23, is left
    out), each with ORDER Gauss-Legendre nodes, weighted by the density.
    Returns (z, u), both of shape (panels * ORDER,), float64.
    """
    if panels < 1:
        raise ValueError(f"panels must be >= 1, got {panels}")
    t, v = np.polynomial.legendre.leggauss(ORDER)  # nodes, weights on [-1, 1]
    edges = np.linspace(-REACH, REACH, panels + 1)
    half = (edges[1] - edges[0]) / 2  # half the width of a panel
    centres = (edges[:-1] + edges[1:]) / 2
    z = centres[:, None] + half * t[None, :]  # (panels, ORDER)
    density = np.exp(-0.5 * z**2) / math.sqrt(2 * math.pi)
    u = half * v[None, :] * density  # (panels, ORDER)
    z = torch.as_tensor(z.ravel(), dtype=_DTYPE)
    return z, torch.as_tensor(u.ravel(), dtype=_DTYPE)


def reverse_kl(
    mean,
    std,
    p: MixtureSameFamily,
    panels: int = PANELS,
) -> torch.Tensor:
    """Reverse divergence $\\mathcal{D}[Q\\,\\|\\,p]$ of a Gaussian $Q$.

    For $Q = \\mathcal{N}(m, s^2)$,
    $\\mathcal{D}[Q\\,\\|\\,p] = E_Q[\\log Q - \\log p]
    = -\\tfrac12\\log(2\\pi e s^2) - E_Q[\\log p]$ (the Gaussian entropy
    is closed form; the expectation is done by :func:`gaussian_expectation`).
    book/kl_divergence.md. ``mean``/``std`` are scalars or tensors of one
    shape S (differentiable); returns shape S.
    """
    _components(p)
    mean = torch.as_tensor(mean, dtype=_DTYPE)
    std = torch.as_tensor(std, dtype=_DTYPE)
    _check_std(std.detach(), "std")
    # E_Q[log p], shape S
    cross = gaussian_expectation(p.log_prob, mean, std, panels)
    entropy = 0.5 * torch.log(2 * math.pi * math.e * std**2)
    return -entropy - cross


def forward_kl(p: MixtureSameFamily, mean, std, panels: int = PANELS) -> torch.Tensor:
    """Forward divergence $\\mathcal{D}[p\\,\\|\\,Q] = E_p[\\log p - \\log Q]$, $Q = \\mathcal{N}(m, s^2)$.

    $E_p[f] = \\sum_j w_j E_{\\mathcal{N}(\\mu_j, \\sigma_j^2)}[f]$, each term by
    :func:`gaussian_expectation`. book/kl_divergence.md. ``mean``/``std`` are scalars (differentiable);
    returns a scalar tensor.
    """
    w, mu, sd = _components(p)
    mean = torch.as_tensor(mean, dtype=_DTYPE)
    std = torch.as_tensor(std, dtype=_DTYPE)
    _check_std(std.detach(), "std")
    q = Normal(mean, std)
    per_component = gaussian_expectation(lambda x: p.log_prob(x) - q.log_prob(x), mu, sd, panels)  # (K,)
    return (w * per_component).sum()


def fit_forward_kl(p: MixtureSameFamily) -> tuple[float, float]:
    """The Gaussian $Q$ minimising $\\mathcal{D}[p\\,\\|\\,Q]$: moment matching.

    In closed form: $m = \\sum_j w_j\\mu_j$,
    $s^2 = \\sum_j w_j(\\sigma_j^2 + \\mu_j^2) - m^2$ (setting the derivatives
    of $-E_p[\\log Q]$ to zero). book/kl_divergence.md. Returns (m, s) as
    floats.
    """
    w, mu, sd = _components(p)
    mean = (w * mu).sum()
    var = (w * (sd**2 + mu**2)).sum() - mean**2
    return float(mean), float(var.sqrt())


def fit_reverse_kl(
    p: MixtureSameFamily, init_mean: float, init_std: float = 1.0, steps: int = 100, panels: int = PANELS
) -> tuple[float, float]:
    """A Gaussian $Q$ at a local minimum of $\\mathcal{D}[Q\\,\\|\\,p]$, found by L-BFGS from a start.

    Optimises $(m, \\log s)$ from ``(init_mean, init_std)``. The reverse divergence of a bimodal
    $p$ has a local minimum near each well-separated mode, and can also settle between the modes (a
    broad $Q$ over both, when they are close or the start is symmetric), so the start decides where
    $Q$ ends up.
    book/kl_divergence.md; the objective is :func:`reverse_kl`. Returns (m, s) as floats.

    Raises ValueError when ``init_std`` is not positive or ``steps`` < 1.
    """
    _components(p)
    _check_std(init_std, "init_std")
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    mean = torch.tensor(float(init_mean), dtype=_DTYPE, requires_grad=True)
    log_std = torch.tensor(math.log(init_std), dtype=_DTYPE, requires_grad=True)
    opt = torch.optim.LBFGS(
        [mean, log_std],
        lr=1.0,
        max_iter=steps,
        tolerance_grad=1e-10,
        tolerance_change=1e-14,
        line_search_fn="strong_wolfe",
    )

    def closure():
        opt.zero_grad()
        loss = reverse_kl(mean, log_std.exp(), p, panels)
        loss.backward()
        return loss

    opt.step(closure)
    return float(mean.detach()), float(log_std.detach().exp())
