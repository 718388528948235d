"""The evidence lower bound (ELBO), the importance-weighted bound (IWAE) and log p(x) by quadrature.

The central equation of the lecture (label ``eq:central``; Kingma & Welling 2013; Doersch 2016):

.. math::

    \\log p(\\mathbf{x}) - \\mathcal{D}[Q(\\mathbf{h}|\\mathbf{x})\\|p(\\mathbf{h}|\\mathbf{x})]
      = \\underbrace{E_{\\mathbf{h}\\sim Q}[\\log p(\\mathbf{x}|\\mathbf{h})]
        - \\mathcal{D}[Q(\\mathbf{h}|\\mathbf{x})\\|p(\\mathbf{h})]}_{\\mathrm{ELBO}\\ \\mathcal{L}(\\mathbf{x})}.

A VAE minimises ``loss = -elbo`` averaged over the batch (``eq:training-objective``). The
importance-weighted bound of Burda, Grosse & Salakhutdinov 2015 (arXiv:1509.00519),

.. math:: \\mathcal{L}_K(\\mathbf{x}) = E\\Big[\\log \\frac1K\\sum_{i=1}^K
          \\frac{p(\\mathbf{x},\\mathbf{h}_i)}{Q(\\mathbf{h}_i|\\mathbf{x})}\\Big],

lies between the ELBO (:math:`K = 1`) and :math:`\\log p(\\mathbf{x})` and tightens as K grows.
For a 2-D latent, :func:`log_px_quadrature` and :func:`posterior_grid` compute
:math:`\\log p(\\mathbf{x}) = \\log\\int p(\\mathbf{x}|\\mathbf{h})p(\\mathbf{h})\\,d\\mathbf{h}` and the true
posterior on a grid (chapters book/bayes_rule.md and book/elbo.md).

Every function takes any model that follows the team's protocol (``latent_dim``, ``encode(x)`` ->
``Normal`` (B, latent_dim), ``log_likelihood(x, h)`` with leading sample dims, ``prior()``), for
example :class:`vaecourse.linear_gaussian.LinearGaussian` or :class:`vaecourse.models.VAE`.
Samples use the global torch random state (seed it for reproducible numbers).
"""

from __future__ import annotations

import math

import torch

from vaecourse import kl as _kl
from vaecourse.validation import require_finite, require_tensor

__all__ = [
    "elbo",
    "elbo_terms",
    "loss",
    "iwae",
    "log_mean_exp",
    "log_px_discrete",
    "log_px_quadrature",
    "posterior_grid",
]


def _check_x(x) -> torch.Tensor:
    require_tensor("x", x, min_dim=1)
    require_finite("x", x)
    return x


def _check_count(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return value


def _log_prior(model, h: torch.Tensor) -> torch.Tensor:
    """log p(h) summed over the latent dim: (..., latent_dim) -> (...,)."""
    return model.prior().log_prob(h).sum(-1)


def elbo_terms(model, x: torch.Tensor, n_samples: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """The two terms of the ELBO: (reconstruction, kl), with elbo = reconstruction - kl.

    reconstruction: the ``n_samples``-sample reparameterised estimate of
    :math:`E_{h\\sim Q}[\\log p(x|h)]` (``eq:single-sample``); kl: the closed form
    :math:`\\mathcal{D}[Q(h|x)\\|\\mathcal{N}(0,I)]` of :func:`vaecourse.kl.kl_standard_normal`
    (``eq:kl-standard-normal``). Chapter book/elbo.md.

    Shapes: x (B, ...) -> two tensors (B,). Differentiable with respect to the model's parameters.
    Raises ``ValueError`` for NaN/inf in x or a non-positive ``n_samples``.
    """
    _check_x(x)
    _check_count("n_samples", n_samples)
    q = model.encode(x)  # Normal, batch (B, k)
    h = q.rsample((n_samples,))  # (S, B, k)
    reconstruction = model.log_likelihood(x, h).mean(0)  # (B,)
    kl = _kl.kl_standard_normal(q.loc, 2 * torch.log(q.scale))  # (B,)
    return reconstruction, kl


def elbo(model, x: torch.Tensor, n_samples: int = 1, analytic_kl: bool = True) -> torch.Tensor:
    """ELBO per data point, :math:`E_Q[\\log p(x|h)] - \\mathcal{D}[Q(h|x)\\|p(h)]`, reparameterised.

    With ``analytic_kl`` the KL is the closed form (the lecture's choice, lower variance); without
    it the whole integrand :math:`\\log p(x,h) - \\log Q(h|x)` is averaged over the ``n_samples``
    draws, which has zero variance when Q is the exact posterior (``eq:exact-posterior``).
    Label ``eq:central``; chapter book/elbo.md; Kingma & Welling 2013, eqs. 7 and 10.

    Shapes: x (B, ...) -> (B,). Raises ``ValueError`` for NaN/inf x or ``n_samples`` < 1.
    """
    if analytic_kl:
        reconstruction, kl = elbo_terms(model, x, n_samples)
        return reconstruction - kl
    _check_x(x)
    _check_count("n_samples", n_samples)
    q = model.encode(x)
    h = q.rsample((n_samples,))  # (S, B, k)
    log_w = model.log_likelihood(x, h) + _log_prior(model, h) - q.log_prob(h).sum(-1)  # (S, B)
    return log_w.mean(0)


def loss(model, x: torch.Tensor, n_samples: int = 1) -> torch.Tensor:
    """The training loss of a VAE: minus the ELBO, averaged over the batch (a scalar).

    Label ``eq:training-objective``: :math:`-\\frac1B\\sum_b \\mathcal{L}(x_b)`, with the analytic KL.
    Chapter book/elbo.md. Shapes: x (B, ...) -> ().
    """
    return -elbo(model, x, n_samples=n_samples, analytic_kl=True).mean()


def log_mean_exp(log_w: torch.Tensor, dim: int = 0) -> torch.Tensor:
    """:math:`\\log \\frac1K\\sum_i e^{\\log w_i}` along ``dim``, stably (logsumexp minus log K)."""
    return torch.logsumexp(log_w, dim=dim) - math.log(log_w.shape[dim])


def iwae(model, x: torch.Tensor, k: int, chunk_size: int | None = None) -> torch.Tensor:
    """Importance-weighted bound :math:`\\log\\frac1K\\sum_{i=1}^K p(x,h_i)/Q(h_i|x)`, one draw per call.

    Label ``eq:training-objective`` (Burda et al. 2015, eq. 8; chapter book/elbo.md). The K
    samples are drawn in chunks of ``chunk_size`` (default: about 4 million data-sized numbers at a
    time) and combined with a running logsumexp, so memory stays bounded for K = 5000. K = 1 is a
    single-sample ELBO without the analytic KL. Differentiable (reparameterised samples).

    Shapes: x (B, ...) -> (B,). Raises ``ValueError`` for NaN/inf x, k < 1 or chunk_size < 1.
    """
    _check_x(x)
    _check_count("k", k)
    batch = x.shape[0]
    if chunk_size is None:
        per_sample = max(1, x.numel())  # numbers one sample costs for the whole batch
        chunk_size = max(1, min(k, 2**22 // per_sample))
    _check_count("chunk_size", chunk_size)
    q = model.encode(x)  # batch (B, k_latent)
    total = None
    for start in range(0, k, chunk_size):  # loop over chunks, not samples
        size = min(chunk_size, k - start)
        h = q.rsample((size,))  # (C, B, latent_dim)
        log_w = model.log_likelihood(x, h) + _log_prior(model, h) - q.log_prob(h).sum(-1)  # (C, B)
        part = torch.logsumexp(log_w, dim=0)  # (B,)
        total = part if total is None else torch.logaddexp(total, part)
    assert total is not None and total.shape == (batch,)
    return total - math.log(k)


def log_px_discrete(log_prior: torch.Tensor, log_likelihood: torch.Tensor) -> torch.Tensor:
    """log p(x) for a discrete latent: :math:`\\log\\sum_h p(h)\\,p(x|h)`, by logsumexp over the last dim.

    The discrete form of equation 1 (label ``eq:marginal``; chapter book/marginal_likelihood.md).
    Shapes: log_prior (..., H) (log p(h) for each of H latent values, summing to 1 in probability),
    log_likelihood (..., H) (log p(x|h)); they broadcast; result (...,).
    Raises ``ValueError`` if log_prior holds NaN or +inf.
    """
    require_tensor("log_prior", log_prior, min_dim=1)
    require_tensor("log_likelihood", log_likelihood, min_dim=1)
    if bool(torch.isnan(log_prior).any()) or bool((log_prior == float("inf")).any()):
        raise ValueError("log_prior contains NaN or +inf; pass log-probabilities")
    return torch.logsumexp(log_prior + log_likelihood, dim=-1)


# --------------------------------------------------------------------------------------------
# quadrature over a 2-D latent grid
# --------------------------------------------------------------------------------------------


def _grid(model, x: torch.Tensor, grid_size: int, limit: float):
    if getattr(model, "latent_dim", None) != 2:
        raise ValueError(
            f"quadrature needs a model with latent_dim == 2, got latent_dim={getattr(model, 'latent_dim', None)}; "
            "use vaecourse.elbo.iwae for higher-dimensional latents"
        )
    _check_x(x)
    _check_count("grid_size", grid_size)
    if grid_size < 3:
        raise ValueError(f"grid_size must be >= 3, got {grid_size}")
    if not (math.isfinite(limit) and limit > 0):
        raise ValueError(f"limit must be a positive number (half-width of the grid), got {limit}")
    axis = torch.linspace(-limit, limit, grid_size, dtype=x.dtype, device=x.device)  # (G,)
    h1, h2 = torch.meshgrid(axis, axis, indexing="ij")
    points = torch.stack([h1.reshape(-1), h2.reshape(-1)], dim=-1)  # (G*G, 2)
    return axis, points


def _log_joint_on_grid(model, x: torch.Tensor, points: torch.Tensor, chunk_size: int) -> torch.Tensor:
    """log p(x, h) for every grid point and data point: (G*G, B), computed in chunks of points."""
    batch = x.shape[0]
    parts = []
    with torch.no_grad():
        for start in range(0, points.shape[0], chunk_size):
            h = points[start:start + chunk_size].unsqueeze(1).expand(-1, batch, 2)  # (C, B, 2)
            parts.append(model.log_likelihood(x, h) + _log_prior(model, h))  # (C, B)
    return torch.cat(parts, dim=0)  # (G*G, B)


def _chunk(x: torch.Tensor, n_points: int) -> int:
    return max(1, min(n_points, 2**22 // max(1, x.numel())))


def log_px_quadrature(model, x: torch.Tensor, grid_size: int = 201, limit: float = 5.0) -> torch.Tensor:
    """log p(x) by quadrature over a square grid of a 2-D latent: :math:`\\log\\sum_{ij} p(x|h_{ij})p(h_{ij})\\,\\Delta^2`.

    The grid has ``grid_size`` points per axis on [-limit, limit] (spacing Delta); for integrands
    that are smooth on the scale of Delta this rectangle rule converges faster than any power of
    Delta, and the mass of N(0, I) outside [-5, 5]^2 is about 1e-6 (widen ``limit`` for posteriors far from 0). Label ``eq:marginal``; chapter
    book/marginal_likelihood.md. No gradients are tracked.

    Shapes: x (B, ...) -> (B,). Raises ``ValueError`` unless ``model.latent_dim == 2``, and for a
    grid_size < 3, limit <= 0 or NaN/inf x.
    """
    axis, points = _grid(model, x, grid_size, limit)
    delta = (axis[1] - axis[0]).item()
    log_joint = _log_joint_on_grid(model, x, points, _chunk(x, points.shape[0]))  # (G*G, B)
    return torch.logsumexp(log_joint, dim=0) + 2 * math.log(delta)


def posterior_grid(model, x: torch.Tensor, grid_size: int = 101, limit: float = 4.0):
    """The true posterior density p(h | x) on a 2-D latent grid, normalised by quadrature.

    :math:`\\log p(h|x) = \\log p(x|h) + \\log p(h) - \\log p(x)`, with log p(x) from the same grid
    (so that the density sums to 1 / Delta^2). Chapter book/bayes_rule.md draws it against Q.

    Shapes: x (B, ...) -> (grid_h1 (G,), grid_h2 (G,), log_posterior (B, G, G)); log_posterior[b, i, j]
    is at h = (grid_h1[i], grid_h2[j]). Raises ``ValueError`` as :func:`log_px_quadrature`.
    """
    axis, points = _grid(model, x, grid_size, limit)
    delta = (axis[1] - axis[0]).item()
    log_joint = _log_joint_on_grid(model, x, points, _chunk(x, points.shape[0]))  # (G*G, B)
    log_px = torch.logsumexp(log_joint, dim=0) + 2 * math.log(delta)  # (B,)
    log_post = (log_joint - log_px).T.reshape(x.shape[0], grid_size, grid_size)  # (B, G, G)
    return axis, axis.clone(), log_post
