"""p(x) and p(h|x) by numerics: quadrature, a discrete sum, importance weights and the grid posterior.

The marginal likelihood (label ``eq:marginal``; book/marginal_likelihood.md),

.. math:: p(\\mathbf{x}) = \\int p(\\mathbf{x}|\\mathbf{h})\\,p(\\mathbf{h})\\,d\\mathbf{h},

computed four ways: as a sum over a discrete latent (:func:`log_px_discrete`); by the rectangle rule
on a 2-D latent grid (:func:`log_px_quadrature`); by importance sampling with weights
:math:`w = p(\\mathbf{x},\\mathbf{h})/r(\\mathbf{h})` (:func:`importance_log_weights`), whose effective
sample size (:func:`effective_sample_size`, label ``eq:naive-sampling``) shows why sampling h from
the prior fails; and, on the same grid, the true posterior by Bayes' rule
:math:`\\log p(\\mathbf{h}|\\mathbf{x}) = \\log p(\\mathbf{x},\\mathbf{h}) - \\log p(\\mathbf{x})`
(:func:`posterior_grid`, :func:`local_posterior_grid`; book/bayes_rule.md, book/elbo.md). Against it,
:func:`kl_q_posterior_on_grid` measures the gap of the central equation (label ``eq:central``),

.. math:: \\mathcal{D}[Q(\\mathbf{h}|\\mathbf{x})\\|p(\\mathbf{h}|\\mathbf{x})] \\approx \\Delta^2\\sum_{ij}
          Q(\\mathbf{h}_{ij}|\\mathbf{x})\\big[\\log Q(\\mathbf{h}_{ij}|\\mathbf{x}) - \\log p(\\mathbf{h}_{ij}|\\mathbf{x})\\big],

a route to :math:`\\log p(\\mathbf{x}) - \\mathcal{L}(\\mathbf{x})` that shares no code with the
ELBO's Monte Carlo estimate (Kingma & Welling 2013; Doersch 2016; Kong 1992 for the ESS).

Every function takes any :class:`vaecourse.models.LatentVariableModel` (``latent_dim``, ``encode``,
``log_likelihood(x, h)`` with leading sample dims that broadcast against the batch, ``prior()``).
Latent points are evaluated in chunks of :func:`chunk_size` so memory stays bounded.
"""

from __future__ import annotations

import math

import torch
from torch.distributions import Normal

from vaecourse.models import LatentVariableModel
from vaecourse.validation import require_batch, require_count, require_tensor

__all__ = [
    "chunk_size",
    "log_px_discrete",
    "log_px_quadrature",
    "importance_log_weights",
    "effective_sample_size",
    "posterior_grid",
    "local_posterior_grid",
    "q_log_density_on_grid",
    "kl_q_posterior_on_grid",
]

_NUMBERS_PER_CHUNK = 2**22  # about 4 million data-sized numbers (16 MB in float32) per chunk


def chunk_size(x: torch.Tensor, n_points: int) -> int:
    """Latent points to evaluate at once for the batch ``x``: :math:`\\lfloor 2^{22} / \\mathrm{numel}(x)\\rfloor`, in [1, n_points].

    The one memory rule of :func:`vaecourse.elbo.iwae` and the grid functions here.
    """
    return max(1, min(n_points, _NUMBERS_PER_CHUNK // max(1, x.numel())))


def _check_log_probabilities(name: str, value: torch.Tensor) -> None:
    require_tensor(name, value, min_dim=1)
    if bool(torch.isnan(value).any()) or bool((value == float("inf")).any()):
        raise ValueError(f"{name} contains NaN or +inf; pass finite log values (-inf for a zero weight)")


def _check_2d_latent(model) -> None:
    if getattr(model, "latent_dim", None) != 2:
        raise ValueError(
            f"a latent grid needs a model with latent_dim == 2, got latent_dim={getattr(model, 'latent_dim', None)}; "
            "use vaecourse.elbo.iwae for higher-dimensional latents"
        )


# --------------------------------------------------------------------------------------------
# eq:marginal -- a discrete latent, importance weights and their effective sample size
# --------------------------------------------------------------------------------------------


def log_px_discrete(log_prior: torch.Tensor, log_likelihood: torch.Tensor) -> torch.Tensor:
    """log p(x) for a discrete latent: :math:`\\log\\sum_h p(h)\\,p(x|h)`, by logsumexp over the last dim.

    The discrete form of ``eq:marginal``; book/marginal_likelihood.md.
    Shapes: log_prior (..., H) (log p(h) for each of H latent values, summing to 1 in probability),
    log_likelihood (..., H) (log p(x|h)); they broadcast; result (...,).
    Raises ``ValueError`` if log_prior holds NaN or +inf.
    """
    _check_log_probabilities("log_prior", log_prior)
    require_tensor("log_likelihood", log_likelihood, min_dim=1)
    return torch.logsumexp(log_prior + log_likelihood, dim=-1)


def importance_log_weights(model: LatentVariableModel, x: torch.Tensor, proposal, n_samples: int) -> torch.Tensor:
    """:math:`\\log w_i = \\log p(x, h_i) - \\log r(h_i)` for ``n_samples`` draws h_i from ``proposal`` r.

    :math:`p(x) = E_{h\\sim r}[w]` (``eq:marginal``); with the prior as proposal (the naive choice,
    ``eq:naive-sampling``) :math:`\\log w_i = \\log p(x|h_i)`. book/marginal_likelihood.md.

    Shapes: x (B, ...); ``proposal`` a ``torch.distributions.Normal`` of batch shape (B, latent_dim)
    (e.g. ``model.encode(x)``) or (latent_dim,) (e.g. ``model.prior()``, one draw shared by the
    batch) -> (S, B). No gradients are tracked. Raises ``ValueError`` for NaN/inf x or n_samples < 1.
    """
    require_batch("x", x)
    require_count(n_samples, "n_samples")
    with torch.no_grad():
        h = proposal.sample((n_samples,))  # (S, B, k) or (S, k)
        if h.dim() == 2:
            h = h.unsqueeze(1)  # (S, 1, k): one draw for the whole batch, broadcast in log_likelihood
        log_w = model.log_likelihood(x, h) + model.prior().log_prob(h).sum(-1) - proposal.log_prob(h).sum(-1)
        return log_w.expand(n_samples, x.shape[0])  # (S, B)


def effective_sample_size(log_weights: torch.Tensor, dim: int = 0) -> torch.Tensor:
    """Kish's effective sample size :math:`(\\sum_i w_i)^2 / \\sum_i w_i^2` from log weights.

    Computed in log space, :math:`\\exp(2\\,\\mathrm{logsumexp}(\\log w) - \\mathrm{logsumexp}(2\\log w))`,
    so weights of :math:`e^{-1000}` are fine. Equals S for equal weights and 1 when one weight
    dominates. Label ``eq:naive-sampling``; book/marginal_likelihood.md; Kong 1992.

    Shapes: log_weights (..., S, ...) -> the same with ``dim`` removed.
    Raises ``ValueError`` for NaN or +inf log weights (-inf, a zero weight, is allowed).
    """
    _check_log_probabilities("log_weights", log_weights)
    return torch.exp(2 * torch.logsumexp(log_weights, dim) - torch.logsumexp(2 * log_weights, dim))


# --------------------------------------------------------------------------------------------
# eq:marginal and Bayes' rule on a 2-D latent grid
# --------------------------------------------------------------------------------------------


def _log_joint_on_grid(model, x: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
    """log p(x, h) at every grid point for every data point, in chunks of points: (P, B).

    ``points`` is (P, 2), one grid shared by the batch, or (P, B, 2), one grid per data point. A
    shared point enters ``log_likelihood`` as (C, 1, 2): each point is decoded once and the result
    broadcast over the batch, not decoded once per image.
    """
    prior = model.prior()
    parts = []
    with torch.no_grad():
        for h in points.split(chunk_size(x, points.shape[0])):
            if h.dim() == 2:
                h = h.unsqueeze(1)  # (C, 1, 2)
            parts.append(model.log_likelihood(x, h) + prior.log_prob(h).sum(-1))  # (C, B)
    return torch.cat(parts, dim=0).expand(-1, x.shape[0])  # (P, B)


def _grid_posterior(model, x: torch.Tensor, grid_h1: torch.Tensor, grid_h2: torch.Tensor):
    """Bayes' rule on the grid spanned by two evenly spaced axes: (log_posterior (B, G1, G2), log_px (B,)).

    Axes (G,) are shared by the batch, axes (B, G) are one grid per data point.
    :math:`\\log p(x) = \\mathrm{logsumexp}_{ij}\\log p(x, h_{ij}) + \\log(\\Delta_1\\Delta_2)`.
    """
    shared = grid_h1.dim() == 1
    h1, h2 = (grid_h1, grid_h2) if shared else (grid_h1[:, :, None], grid_h2[:, None, :])  # (B, G, 1), (B, 1, G)
    points = torch.stack(torch.meshgrid(h1, h2, indexing="ij") if shared else torch.broadcast_tensors(h1, h2), -1)
    if shared:
        points = points.reshape(-1, 2)  # (G1*G2, 2)
        log_cell = math.log((grid_h1[1] - grid_h1[0]).item()) + math.log((grid_h2[1] - grid_h2[0]).item())
    else:
        points = points.reshape(x.shape[0], -1, 2).transpose(0, 1)  # (G1*G2, B, 2)
        log_cell = torch.log((grid_h1[:, 1] - grid_h1[:, 0]) * (grid_h2[:, 1] - grid_h2[:, 0]))  # (B,)
    log_joint = _log_joint_on_grid(model, x, points)  # (G1*G2, B)
    log_px = torch.logsumexp(log_joint, dim=0) + log_cell  # (B,)
    log_posterior = (log_joint - log_px).T.reshape(x.shape[0], grid_h1.shape[-1], grid_h2.shape[-1])
    return log_posterior, log_px


def _square_axis(model, x: torch.Tensor, grid_size: int, limit: float) -> torch.Tensor:
    """The axis (G,) of the square grid [-limit, limit]^2, after checking the arguments."""
    _check_2d_latent(model)
    require_batch("x", x)
    require_count(grid_size, "grid_size", minimum=3)
    if not (math.isfinite(limit) and limit > 0):
        raise ValueError(f"limit must be a positive number (half-width of the grid), got {limit}")
    return torch.linspace(-limit, limit, grid_size, dtype=x.dtype, device=x.device)  # (G,)


def log_px_quadrature(model: LatentVariableModel, x: torch.Tensor, grid_size: int = 201,
                      limit: float = 5.0) -> torch.Tensor:
    """log p(x) by quadrature over a square grid of a 2-D latent: :math:`\\log\\sum_{ij} p(x|h_{ij})p(h_{ij})\\,\\Delta^2`.

    The grid has ``grid_size`` points per axis on [-limit, limit] (spacing Delta); for integrands
    that are smooth on the scale of Delta this rectangle rule converges faster than any power of
    Delta, and the mass of N(0, I) outside [-5, 5]^2 is about 1e-6 (widen ``limit`` for posteriors
    far from 0). Label ``eq:marginal``; book/marginal_likelihood.md. No gradients are tracked.

    Shapes: x (B, ...) -> (B,). Raises ``ValueError`` unless ``model.latent_dim == 2``, and for a
    grid_size < 3, limit <= 0 or NaN/inf x.
    """
    axis = _square_axis(model, x, grid_size, limit)
    return _grid_posterior(model, x, axis, axis)[1]


def posterior_grid(model: LatentVariableModel, x: torch.Tensor, grid_size: int = 101, limit: float = 4.0):
    """The true posterior p(h|x) on the square grid [-limit, limit]^2 of a 2-D latent, normalised by quadrature.

    :math:`\\log p(h|x) = \\log p(x|h) + \\log p(h) - \\log p(x)`, with log p(x) from the same grid
    (so that the density sums to 1 / Delta^2). Label ``eq:exact-posterior``; book/bayes_rule.md draws
    it against Q. No gradients are tracked.

    Shapes: x (B, ...) -> (grid_h1 (G,), grid_h2 (G,), log_posterior (B, G, G)); log_posterior[b, i, j]
    is at h = (grid_h1[i], grid_h2[j]). Raises ``ValueError`` as :func:`log_px_quadrature`.
    """
    axis = _square_axis(model, x, grid_size, limit)
    return axis, axis.clone(), _grid_posterior(model, x, axis, axis)[0]


def local_posterior_grid(model: LatentVariableModel, x: torch.Tensor, centre: torch.Tensor, half_width,
                         grid_size: int = 201):
    """The true posterior on a square grid around ``centre``, one grid per data point, and log p(x).

    Grid b spans ``centre[b] +- half_width[b]`` along both latent axes with ``grid_size`` points;
    :math:`\\log p(\\mathbf{x}) = \\log \\Delta^2\\sum_{ij} p(\\mathbf{x}|\\mathbf{h}_{ij})p(\\mathbf{h}_{ij})`
    and :math:`\\log p(\\mathbf{h}_{ij}|\\mathbf{x}) = \\log p(\\mathbf{x},\\mathbf{h}_{ij}) - \\log p(\\mathbf{x})`.
    Unlike :func:`posterior_grid` (one grid on [-limit, limit]^2 for all), the grid follows a narrow
    posterior, so it can be resolved with few points. The window must hold all of the posterior's
    mass: compare ``log_px`` with :func:`log_px_quadrature`. book/elbo.md.

    Shapes: x (B, ...), centre (B, 2), half_width a float or (B,) -> (grid_h1 (B, G), grid_h2 (B, G),
    log_posterior (B, G, G), log_px (B,)); log_posterior[b, i, j] is at (grid_h1[b, i], grid_h2[b, j]).
    No gradients are tracked. Raises ``ValueError`` unless ``model.latent_dim == 2``, for a centre of
    the wrong shape, a non-positive half-width or grid_size < 3.
    """
    _check_2d_latent(model)
    batch = x.shape[0]
    if centre.shape != (batch, 2):
        raise ValueError(f"centre must have shape ({batch}, 2) to match x, got {tuple(centre.shape)}")
    half_width = torch.as_tensor(half_width, dtype=x.dtype, device=x.device).expand(batch)  # (B,)
    if not bool(torch.isfinite(half_width).all()) or bool((half_width <= 0).any()):
        raise ValueError("half_width must be positive and finite")
    require_count(grid_size, "grid_size", minimum=3)
    unit = torch.linspace(-1.0, 1.0, grid_size, dtype=x.dtype, device=x.device)  # (G,)
    centre = centre.to(x)
    grid_h1 = centre[:, :1] + half_width[:, None] * unit  # (B, G)
    grid_h2 = centre[:, 1:] + half_width[:, None] * unit  # (B, G)
    log_posterior, log_px = _grid_posterior(model, x, grid_h1, grid_h2)
    return grid_h1, grid_h2, log_posterior, log_px


# --------------------------------------------------------------------------------------------
# eq:central -- Q against the true posterior on the grid
# --------------------------------------------------------------------------------------------


def _check_axes(grid_h1: torch.Tensor, grid_h2: torch.Tensor) -> None:
    for name, axis in (("grid_h1", grid_h1), ("grid_h2", grid_h2)):
        if not isinstance(axis, torch.Tensor) or axis.dim() not in (1, 2) or axis.shape[-1] < 3:
            raise ValueError(f"{name} must be a tensor (G,) or (B, G) of at least 3 evenly spaced grid points, "
                             "e.g. from marginal.posterior_grid or marginal.local_posterior_grid")


def q_log_density_on_grid(q: Normal, grid_h1: torch.Tensor, grid_h2: torch.Tensor) -> torch.Tensor:
    """:math:`\\log Q(\\mathbf{h}_{ij}|\\mathbf{x}) = \\log\\mathcal{N}(h_{i,1}; \\mu_1, \\sigma_1^2) + \\log\\mathcal{N}(h_{j,2}; \\mu_2, \\sigma_2^2)` on the grid.

    The encoder's diagonal Gaussian on the grid of :func:`posterior_grid` or
    :func:`local_posterior_grid`; book/elbo.md.

    Shapes: ``q`` a ``torch.distributions.Normal`` of batch shape (B, 2) (``model.encode(x)``);
    ``grid_h1`` (G1,) or (B, G1), ``grid_h2`` (G2,) or (B, G2), shared or one per data point ->
    (B, G1, G2), entry [b, i, j] at h = (grid_h1[(b,) i], grid_h2[(b,) j]).
    Raises ``ValueError`` when Q is not a Normal of batch shape (B, 2) or an axis is not 1-D or 2-D.
    """
    if not isinstance(q, Normal) or q.batch_shape[-1:] != (2,) or len(q.batch_shape) != 2:
        raise ValueError(f"q must be a Normal with batch shape (B, 2), got {type(q).__name__} "
                         f"{tuple(getattr(q, 'batch_shape', ()))}")
    _check_axes(grid_h1, grid_h2)
    loc, scale = q.loc.detach(), q.scale.detach()  # (B, 2)
    grid_h1 = grid_h1.to(loc)
    grid_h2 = grid_h2.to(loc)
    log_q1 = Normal(loc[:, :1], scale[:, :1]).log_prob(grid_h1)  # (B, G1)
    log_q2 = Normal(loc[:, 1:], scale[:, 1:]).log_prob(grid_h2)  # (B, G2)
    return log_q1.unsqueeze(-1) + log_q2.unsqueeze(-2)  # (B, G1, G2)


def kl_q_posterior_on_grid(q: Normal, grid_h1: torch.Tensor, grid_h2: torch.Tensor,
                           log_posterior: torch.Tensor) -> torch.Tensor:
    """:math:`\\mathcal{D}[Q\\|p(h|x)] \\approx \\Delta_1\\Delta_2\\sum_{ij} Q(h_{ij})[\\log Q(h_{ij}) - \\log p(h_{ij}|x)]`, the rectangle rule.

    By ``eq:central`` this equals log p(x) minus the ELBO; book/elbo.md. The grid must cover Q's mass
    and resolve Q (a grid step well below Q's standard deviations); otherwise the sum is not an
    integral.

    Shapes: q and the axes as :func:`q_log_density_on_grid`; ``log_posterior`` (B, G1, G2), the true
    log posterior on the grid (:func:`posterior_grid`) -> (B,).
    Raises ``ValueError`` for mismatched shapes or a NaN in ``log_posterior``.
    """
    log_q = q_log_density_on_grid(q, grid_h1, grid_h2)  # (B, G1, G2)
    if log_posterior.shape != log_q.shape:
        raise ValueError(f"log_posterior must have shape {tuple(log_q.shape)} to match q and the grid, "
                         f"got {tuple(log_posterior.shape)}")
    if bool(torch.isnan(log_posterior).any()):
        raise ValueError("log_posterior contains NaN")
    cell = (grid_h1[..., 1] - grid_h1[..., 0]) * (grid_h2[..., 1] - grid_h2[..., 0])  # Delta^2, () or (B,)
    integrand = torch.exp(log_q) * (log_q - log_posterior.to(log_q))  # (B, G1, G2)
    return integrand.sum((-2, -1)) * cell.to(log_q)
