"""p(x) and p(h|x) by numerics: quadrature, a discrete sum, importance weights and the grid posterior.

The marginal likelihood (label ``eq:marginal``; book/marginal_likelihood.md),

.. math:: p(\\mathbf{x}) = \\int p(\\mathbf{x}|\\mathbf{h})\\,p(\\mathbf{h})\\,d\\mathbf{h},

computed four ways: as a sum over a discrete latent (:func:`log_px_discrete`); by the rectangle rule
on a 2-D latent grid (:func:`log_px_quadrature`); by importance sampling with weights
:math:`w = p(\\mathbf{x},\\mathbf{h})/r(\\mathbf{h})` (:func:`importance_log_weights`), whose effective
sample size (:func:`effective_sample_size`, label ``eq:naive-sampling``) shows why sampling h from
the prior fails; and, on the same grid, the true posterior by Bayes' rule
:math:`\\log p(\\mathbf{h}|\\mathbf{x}) = \\log p(\\mathbf{x},\\mathbf{h}) - \\log p(\\mathbf{x})`
(:func:`posterior_grid`, :func:`local_posterior_grid`, with :func:`posterior_moments` to place a window;
book/bayes_rule.md, book/elbo.md). Against it,
:func:`kl_q_posterior_on_grid` measures the gap of the central equation (label ``eq:central``),

.. math:: \\mathcal{D}[Q(\\mathbf{h}|\\mathbf{x})\\|p(\\mathbf{h}|\\mathbf{x})] \\approx \\Delta^2\\sum_{ij}
          Q(\\mathbf{h}_{ij}|\\mathbf{x})\\big[\\log Q(\\mathbf{h}_{ij}|\\mathbf{x})
          - \\log p(\\mathbf{h}_{ij}|\\mathbf{x})\\big],

a route to :math:`\\log p(\\mathbf{x}) - \\mathcal{L}(\\mathbf{x})` that shares no code with the
ELBO's Monte Carlo estimate (Kingma & Welling 2013; Doersch 2016; Kong 1992 for the ESS). Q may be
any density: the encoder's Normal, a distribution with ``log_prob``, or a function of h.
:func:`adaptive_local_grid` is the posterior pad's window search (book/latent_space.md), which the
page's JavaScript mirrors with the constants of :func:`window_rule`.

Every function takes any :class:`vaecourse.models.LatentVariableModel` (``latent_dim``, ``encode``,
``log_likelihood(x, h)`` with leading sample dims that broadcast against the batch, ``prior()``).
Latent points are evaluated in chunks of :func:`chunk_size` so memory stays bounded. This module is
the one home of the course's grid numerics: every latent grid, its chunking and its rectangle rule.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch.distributions import Normal

from vaecourse import models
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
    "posterior_moments",
    "q_log_density_on_grid",
    "kl_q_posterior_on_grid",
    "Window",
    "AdaptiveGrid",
    "adaptive_local_grid",
    "window_rule",
    "WINDOW_GRID",
    "WINDOW_HALF_SIGMAS",
    "WINDOW_EDGE_MASS",
    "WINDOW_WIDEN_FACTOR",
    "WINDOW_SHIFT_CELLS",
    "WINDOW_MAX_STEPS",
]

_NUMBERS_PER_CHUNK = 2**22  # about 4 million data-sized numbers (16 MB in float32) per chunk


def chunk_size(x: torch.Tensor, n_points: int, per_point: int | None = None) -> int:
    """Latent points to evaluate at once for the batch ``x``: :math:`\\lfloor 2^{22} / c\\rfloor`, in [1, n_points].

    :math:`c` (``per_point``) is the numbers one latent point costs, by default :math:`\\mathrm{numel}(x)`
    (the point decoded and compared with every data point of the batch). The one memory rule of
    :func:`vaecourse.elbo.iwae`, :func:`vaecourse.evaluate.iwae_per_image`, :mod:`vaecourse.gaps` and
    the grid functions here.
    """
    cost = x.numel() if per_point is None else per_point
    return max(1, min(n_points, _NUMBERS_PER_CHUNK // max(1, cost)))


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
    batch) -> (S, B). No gradients are tracked; the samples are decoded in chunks (:func:`chunk_size`),
    so memory stays bounded for any S. Raises ``ValueError`` for NaN/inf x or n_samples < 1.
    """
    require_batch("x", x)
    require_count(n_samples, "n_samples")
    with torch.no_grad():
        h = proposal.sample((n_samples,))  # (S, B, k) or (S, k)
        if h.dim() == 2:
            h = h.unsqueeze(1)  # (S, 1, k): one draw for the whole batch, broadcast in log_likelihood
        step = chunk_size(x, n_samples)  # the decoder's (samples, B, D) numbers, a chunk of samples at a time
        log_lik = torch.cat([model.log_likelihood(x, h[i : i + step]) for i in range(0, n_samples, step)])
        log_w = log_lik + model.prior().log_prob(h).sum(-1) - proposal.log_prob(h).sum(-1)
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


def _bernoulli_logits(model):
    """The decoder ``h (C, 2) -> logits (C, D)`` when ``log_likelihood`` is the course's Bernoulli one, else None.

    Only the models of :mod:`vaecourse.models` whose ``log_likelihood`` is not overridden qualify (an
    autoregressive decoder, for one, is not a function of h alone).
    """
    if getattr(model, "likelihood", None) != "bernoulli":
        return None
    if getattr(type(model), "log_likelihood", None) is not models._LikelihoodMixin.log_likelihood:
        return None
    return lambda h: model.decoder(h).reshape(h.shape[0], -1)


def _log_joint_chunks(model, x: torch.Tensor, points: torch.Tensor):
    """log p(x, h) at the grid points for every data point, one chunk of points at a time: (C, B) each.

    ``points`` is (P, 2), one grid shared by the batch, or (P, B, 2), one grid per data point; they are
    evaluated in x's dtype and returned in theirs. A shared point enters ``log_likelihood`` as
    (C, 1, 2): decoded once and broadcast over the batch. For a Bernoulli decoder with logits
    :math:`\\ell(h)`, :math:`\\log p(x|h) = x\\cdot\\ell(h) - \\sum_d\\log(1 + e^{\\ell_d(h)})`, so a chunk's
    likelihoods are one matrix product ``logits @ x.T`` minus a softplus sum, without a
    (points, images, pixels) tensor.
    """
    prior = model.prior()
    batch = x.shape[0]
    logits_of = _bernoulli_logits(model) if points.dim() == 2 else None
    if logits_of is not None:
        x_flat = x.reshape(batch, -1)  # (B, D)
        size = chunk_size(x, points.shape[0], per_point=x_flat.shape[1] + batch)  # logits (C, D), result (C, B)
    else:
        size = chunk_size(x, points.shape[0])  # log_likelihood holds (C, B, D)
    with torch.no_grad():
        for h in points.split(size):
            h = h.to(x)
            if logits_of is not None:
                logits = logits_of(h)  # (C, D)
                log_joint = (
                    logits @ x_flat.T
                    - F.softplus(logits).sum(-1, keepdim=True)
                    + prior.log_prob(h).sum(-1, keepdim=True)
                )  # (C, B)
            else:
                if h.dim() == 2:
                    h = h.unsqueeze(1)  # (C, 1, 2)
                log_joint = model.log_likelihood(x, h) + prior.log_prob(h).sum(-1)  # (C, B)
            yield log_joint.to(points)


def _log_joint_on_grid(model, x: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
    """log p(x, h) at every grid point for every data point: (P, B); points as :func:`_log_joint_chunks`."""
    return torch.cat(list(_log_joint_chunks(model, x, points)), dim=0).expand(-1, x.shape[0])  # (P, B)


def _grid_points(grid_h1: torch.Tensor, grid_h2: torch.Tensor) -> torch.Tensor:
    """The points h_ij = (grid_h1[i], grid_h2[j]): (G1*G2, 2) for shared axes (G,), (G1*G2, B, 2) for axes (B, G)."""
    if grid_h1.dim() == 1:
        return torch.stack(torch.meshgrid(grid_h1, grid_h2, indexing="ij"), -1).reshape(-1, 2)  # (G1*G2, 2)
    points = torch.stack(torch.broadcast_tensors(grid_h1[:, :, None], grid_h2[:, None, :]), -1)  # (B, G1, G2, 2)
    return points.reshape(points.shape[0], -1, 2).transpose(0, 1)  # (G1*G2, B, 2)


def _log_cell(grid_h1: torch.Tensor, grid_h2: torch.Tensor):
    """:math:`\\log(\\Delta_1\\Delta_2)`: a float for shared axes (G,), (B,) for axes (B, G)."""
    if grid_h1.dim() == 1:
        return math.log((grid_h1[1] - grid_h1[0]).item()) + math.log((grid_h2[1] - grid_h2[0]).item())
    return torch.log((grid_h1[:, 1] - grid_h1[:, 0]) * (grid_h2[:, 1] - grid_h2[:, 0]))  # (B,)


def _grid_posterior(model, x: torch.Tensor, grid_h1: torch.Tensor, grid_h2: torch.Tensor):
    """Bayes' rule on the grid of two evenly spaced axes: log_posterior (B, G1, G2), log_px (B,), log_joint (B, G1, G2).

    Axes (G,) are shared by the batch, axes (B, G) are one grid per data point; the numbers come in
    the axes' dtype. :math:`\\log p(x) = \\mathrm{logsumexp}_{ij}\\log p(x, h_{ij}) + \\log(\\Delta_1\\Delta_2)`.
    """
    log_joint = _log_joint_on_grid(model, x, _grid_points(grid_h1, grid_h2))  # (G1*G2, B)
    log_px = torch.logsumexp(log_joint, dim=0) + _log_cell(grid_h1, grid_h2)  # (B,)
    shape = (x.shape[0], grid_h1.shape[-1], grid_h2.shape[-1])
    log_posterior = (log_joint - log_px).T.reshape(shape)
    return log_posterior, log_px, log_joint.T.reshape(shape)


def _square_axis(model, x: torch.Tensor, grid_size: int, limit: float) -> torch.Tensor:
    """The axis (G,) of the square grid [-limit, limit]^2, after checking the arguments."""
    _check_2d_latent(model)
    require_batch("x", x)
    require_count(grid_size, "grid_size", minimum=3)
    if not (math.isfinite(limit) and limit > 0):
        raise ValueError(f"limit must be a positive number (half-width of the grid), got {limit}")
    return torch.linspace(-limit, limit, grid_size, dtype=x.dtype, device=x.device)  # (G,)


def log_px_quadrature(
    model: LatentVariableModel, x: torch.Tensor, grid_size: int = 201, limit: float = 5.0
) -> torch.Tensor:
    """log p(x) by quadrature over a square grid of a 2-D latent.

    :math:`\\log\\sum_{ij} p(x|h_{ij})p(h_{ij})\\,\\Delta^2`.

    The grid has ``grid_size`` points per axis on [-limit, limit] (spacing Delta); for integrands
    that are smooth on the scale of Delta this rectangle rule converges faster than any power of
    Delta, and the mass of N(0, I) outside [-5, 5]^2 is about 1e-6 (widen ``limit`` for posteriors
    far from 0). Label ``eq:marginal``; book/marginal_likelihood.md. No gradients are tracked.

    Shapes: x (B, ...) -> (B,). Raises ``ValueError`` unless ``model.latent_dim == 2``, and for a
    grid_size < 3, limit <= 0 or NaN/inf x.
    """
    axis = _square_axis(model, x, grid_size, limit)
    total = None
    for part in _log_joint_chunks(model, x, _grid_points(axis, axis)):  # a running logsumexp: memory (C, B)
        part = torch.logsumexp(part.expand(-1, x.shape[0]), dim=0)  # (B,)
        total = part if total is None else torch.logaddexp(total, part)
    return total + _log_cell(axis, axis)


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


def posterior_moments(grid_h1: torch.Tensor, grid_h2: torch.Tensor, log_posterior: torch.Tensor):
    """The posterior's mean and standard deviation along each latent axis, by the rectangle rule on its grid.

    :math:`E[h_1] \\approx \\Delta_1\\Delta_2\\sum_{ij} p(\\mathbf{h}_{ij}|\\mathbf{x})\\,h_{i,1}`, and likewise the
    variance about it. Where the posterior lies on a coarse global grid (:func:`posterior_grid`), these
    say where to centre a finer window (:func:`local_posterior_grid`) and how wide to make it: centred
    on the posterior, not on Q, the window holds the posterior's mass even where the encoder's Q is far
    off (book/elbo.md). No gradients are tracked.

    Shapes: axes (G,) shared or (B, G) per data point, ``log_posterior`` (B, G1, G2) as returned with
    them -> (mean (B, 2), std (B, 2)). Raises ``ValueError`` for axes that are not 1-D or 2-D tensors of
    at least 3 points, or a log posterior of another shape.
    """
    _check_axes(grid_h1, grid_h2)
    batch = log_posterior.shape[0]
    if log_posterior.shape[-2:] != (grid_h1.shape[-1], grid_h2.shape[-1]) or log_posterior.dim() != 3:
        raise ValueError(
            f"log_posterior must be (B, {grid_h1.shape[-1]}, {grid_h2.shape[-1]}) to match the axes, "
            f"got {tuple(log_posterior.shape)}"
        )
    with torch.no_grad():
        axis1 = grid_h1.expand(batch, -1).to(log_posterior)  # (B, G1)
        axis2 = grid_h2.expand(batch, -1).to(log_posterior)  # (B, G2)
        cell = (axis1[:, 1] - axis1[:, 0]) * (axis2[:, 1] - axis2[:, 0])  # (B,)
        weight = log_posterior.exp() * cell[:, None, None]  # (B, G1, G2): the probability of each cell
        marginal1, marginal2 = weight.sum(2), weight.sum(1)  # (B, G1), (B, G2)
        mean = torch.stack([(marginal1 * axis1).sum(1), (marginal2 * axis2).sum(1)], -1)  # (B, 2)
        var1 = (marginal1 * (axis1 - mean[:, :1]) ** 2).sum(1)
        var2 = (marginal2 * (axis2 - mean[:, 1:]) ** 2).sum(1)
        return mean, torch.stack([var1, var2], -1).sqrt()  # (B, 2) each


def local_posterior_grid(
    model: LatentVariableModel, x: torch.Tensor, centre: torch.Tensor, half_width, grid_size: int = 201
):
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
    log_posterior, log_px, _ = _grid_posterior(model, x, grid_h1, grid_h2)
    return grid_h1, grid_h2, log_posterior, log_px


# --------------------------------------------------------------------------------------------
# eq:central -- Q against the true posterior on the grid
# --------------------------------------------------------------------------------------------


def _check_axes(grid_h1: torch.Tensor, grid_h2: torch.Tensor) -> None:
    for name, axis in (("grid_h1", grid_h1), ("grid_h2", grid_h2)):
        if not isinstance(axis, torch.Tensor) or axis.dim() not in (1, 2) or axis.shape[-1] < 3:
            raise ValueError(
                f"{name} must be a tensor (G,) or (B, G) of at least 3 evenly spaced grid points, "
                "e.g. from marginal.posterior_grid or marginal.local_posterior_grid"
            )


def q_log_density_on_grid(q, grid_h1: torch.Tensor, grid_h2: torch.Tensor) -> torch.Tensor:
    """:math:`\\log Q(\\mathbf{h}_{ij}|\\mathbf{x})` at every point of the grid, for any Q.

    ``q`` is the encoder's diagonal Gaussian, a ``torch.distributions.Normal`` of batch shape (B, 2)
    (``model.encode(x)``), evaluated as :math:`\\log\\mathcal{N}(h_{i,1}; \\mu_1, \\sigma_1^2) +
    \\log\\mathcal{N}(h_{j,2}; \\mu_2, \\sigma_2^2)`; or any other density: an object with ``log_prob(h)``
    (e.g. a ``MultivariateNormal`` of batch shape (B,)) or a function ``h -> log Q(h)``, called with
    the points h (P, B, 2) (one grid per data point) or (P, 1, 2) (shared axes) and returning (P, B).
    The grid is that of :func:`posterior_grid` or :func:`local_posterior_grid`; book/elbo.md,
    book/richer_posteriors.md. No gradients are tracked.

    Shapes: ``grid_h1`` (G1,) or (B, G1), ``grid_h2`` (G2,) or (B, G2), shared or one per data point ->
    (B, G1, G2), entry [b, i, j] at h = (grid_h1[(b,) i], grid_h2[(b,) j]).
    Raises ``ValueError`` when a Normal Q is not of batch shape (B, 2), Q is neither a Normal nor has
    ``log_prob`` nor is callable, its log density is not (P, B), or an axis is not 1-D or 2-D.
    """
    _check_axes(grid_h1, grid_h2)
    if isinstance(q, Normal):
        if q.batch_shape[-1:] != (2,) or len(q.batch_shape) != 2:
            raise ValueError(f"q must be a Normal with batch shape (B, 2), got {tuple(q.batch_shape)}")
        loc, scale = q.loc.detach(), q.scale.detach()  # (B, 2)
        log_q1 = Normal(loc[:, :1], scale[:, :1]).log_prob(grid_h1.to(loc))  # (B, G1)
        log_q2 = Normal(loc[:, 1:], scale[:, 1:]).log_prob(grid_h2.to(loc))  # (B, G2)
        return log_q1.unsqueeze(-1) + log_q2.unsqueeze(-2)  # (B, G1, G2)
    log_prob = getattr(q, "log_prob", None) or (q if callable(q) else None)
    if log_prob is None:
        raise ValueError(
            f"q must be a Normal of batch shape (B, 2), an object with log_prob(h) or a function "
            f"h -> log Q(h), got {type(q).__name__}"
        )
    points = _grid_points(grid_h1, grid_h2)  # (P, 2) or (P, B, 2)
    if points.dim() == 2:
        points = points.unsqueeze(1)  # (P, 1, 2)
    with torch.no_grad():
        log_q = log_prob(points)
    if not isinstance(log_q, torch.Tensor) or log_q.dim() != 2 or log_q.shape[0] != points.shape[0]:
        raise ValueError(
            f"log Q of the grid points (P, B, 2) must be (P, B) with P = {points.shape[0]}, got "
            f"{tuple(getattr(log_q, 'shape', ()))}"
        )
    return log_q.T.reshape(log_q.shape[1], grid_h1.shape[-1], grid_h2.shape[-1])  # (B, G1, G2)


def kl_q_posterior_on_grid(
    q: Normal, grid_h1: torch.Tensor, grid_h2: torch.Tensor, log_posterior: torch.Tensor
) -> torch.Tensor:
    """The KL divergence D[Q || p(h|x)] on a grid, by the rectangle rule.

    :math:`\\mathcal{D}[Q\\|p(h|x)] \\approx
    \\Delta_1\\Delta_2\\sum_{ij} Q(h_{ij})[\\log Q(h_{ij}) - \\log p(h_{ij}|x)]`.

    By ``eq:central`` this equals log p(x) minus the ELBO (book/elbo.md), and for the best Q of a
    family the approximation gap (``eq:gap-decomposition``, book/richer_posteriors.md). Q is any
    density (:func:`q_log_density_on_grid`). The grid must cover Q's mass and resolve Q (a grid step
    well below Q's standard deviations); otherwise the sum is not an integral.

    Shapes: q and the axes as :func:`q_log_density_on_grid`; ``log_posterior`` (B, G1, G2), the true
    log posterior on the grid (:func:`posterior_grid`, :func:`local_posterior_grid`) -> (B,).
    Raises ``ValueError`` as :func:`q_log_density_on_grid`, for mismatched shapes or a NaN in ``log_posterior``.
    """
    log_q = q_log_density_on_grid(q, grid_h1, grid_h2)  # (B, G1, G2)
    if log_posterior.shape != log_q.shape:
        raise ValueError(
            f"log_posterior must have shape {tuple(log_q.shape)} to match q and the grid, "
            f"got {tuple(log_posterior.shape)}"
        )
    if bool(torch.isnan(log_posterior).any()):
        raise ValueError("log_posterior contains NaN")
    cell = (grid_h1[..., 1] - grid_h1[..., 0]) * (grid_h2[..., 1] - grid_h2[..., 0])  # Delta^2, () or (B,)
    integrand = torch.exp(log_q) * (log_q - log_posterior.to(log_q))  # (B, G1, G2)
    return integrand.sum((-2, -1)) * cell.to(log_q)


# --------------------------------------------------------------------------------------------
# The posterior pad's adaptive window (book/latent_space.md): the page runs the same search in
# js/posterior_numerics.js (vaeNextWindow), with these constants from PosteriorPad.window_rule
# --------------------------------------------------------------------------------------------

#: Points per axis of each window.
WINDOW_GRID = 11
#: Half-width in standard deviations: Q's window is mu +- 6 sigma, a zoomed window mean +- 6 std.
WINDOW_HALF_SIGMAS = 6.0
#: Widen while more of the posterior's probability than this lies in the window's outer ring of cells...
WINDOW_EDGE_MASS = 1e-3
#: ... by this factor.
WINDOW_WIDEN_FACTOR = 2.0
#: Zoom in while a posterior standard deviation spans fewer grid cells than this.
WINDOW_SHIFT_CELLS = 0.75
#: At most this many new windows after the first.
WINDOW_MAX_STEPS = 3


def window_rule(grid_size: int = WINDOW_GRID, half_sigmas: float = WINDOW_HALF_SIGMAS) -> dict:
    """The constants of :func:`adaptive_local_grid` as the page reads them (``PosteriorPad.window_rule``).

    Keys: ``edge_mass`` (:data:`WINDOW_EDGE_MASS`), ``widen_factor`` (:data:`WINDOW_WIDEN_FACTOR`),
    ``shift_cells`` (:data:`WINDOW_SHIFT_CELLS`), ``max_steps`` (:data:`WINDOW_MAX_STEPS`), ``grid``
    (points per axis) and ``half_sigmas`` (half-width in standard deviations). book/latent_space.md.
    """
    return {
        "edge_mass": WINDOW_EDGE_MASS,
        "widen_factor": WINDOW_WIDEN_FACTOR,
        "shift_cells": WINDOW_SHIFT_CELLS,
        "max_steps": WINDOW_MAX_STEPS,
        "grid": int(grid_size),
        "half_sigmas": float(half_sigmas),
    }


@dataclass(frozen=True)
class Window:
    """One window of :func:`adaptive_local_grid`: the posterior on a G x G grid around ``centre``, in float64.

    ``axis1``, ``axis2`` (G,); ``log_joint`` log p(x, h_ij) and ``log_posterior`` log p(h_ij|x), (G, G);
    ``log_px`` by the rectangle rule; ``edge`` the posterior's probability in the outermost ring of
    cells; ``mean``, ``std`` the posterior's per-axis moments on the grid, ``spacing`` the grid steps
    and ``half`` the half-widths, (2,) each; ``cell`` the cell area.
    """

    axis1: torch.Tensor
    axis2: torch.Tensor
    log_joint: torch.Tensor
    log_posterior: torch.Tensor
    log_px: float
    edge: float
    mean: torch.Tensor
    std: torch.Tensor
    spacing: torch.Tensor
    half: torch.Tensor
    cell: float


@dataclass(frozen=True)
class AdaptiveGrid:
    """What :func:`adaptive_local_grid` found: the ``first`` window, the ``final`` one and the ``steps`` between."""

    first: Window
    final: Window
    steps: int


def _window(model, x: torch.Tensor, centre: torch.Tensor, half: torch.Tensor, grid_size: int) -> Window:
    """The :class:`Window` centre +- half (float64, (2,) each) with grid_size points per axis."""
    unit = torch.linspace(-1, 1, grid_size, dtype=torch.float64)
    axis1, axis2 = centre[0] + half[0] * unit, centre[1] + half[1] * unit  # (G,) each
    log_posterior, log_px, log_joint = _grid_posterior(model, x, axis1, axis2)  # (1, G, G), (1,), (1, G, G)
    spacing = torch.stack([axis1[1] - axis1[0], axis2[1] - axis2[0]])  # (2,)
    cell = float(spacing.prod())
    weight = log_posterior[0].exp() * cell  # (G, G): the probability of each cell
    ring = torch.ones(grid_size, grid_size, dtype=torch.bool)
    ring[1:-1, 1:-1] = False
    mean = torch.stack([(weight.sum(1) * axis1).sum(), (weight.sum(0) * axis2).sum()])  # (2,)
    second = torch.stack([(weight.sum(1) * axis1**2).sum(), (weight.sum(0) * axis2**2).sum()])  # (2,)
    return Window(
        axis1,
        axis2,
        log_joint[0],
        log_posterior[0],
        float(log_px[0]),
        float(weight[ring].sum()),
        mean,
        (second - mean**2).clamp(min=0).sqrt(),
        spacing,
        half,
        cell,
    )


def _next_half(window: Window, half_sigmas: float) -> torch.Tensor | None:
    """The next window's half-widths (2,), or None when ``window`` holds and resolves the posterior."""
    if window.edge > WINDOW_EDGE_MASS:
        return WINDOW_WIDEN_FACTOR * window.half
    if bool((window.std < WINDOW_SHIFT_CELLS * window.spacing).any()):
        return torch.maximum(half_sigmas * window.std, window.spacing)
    return None


def adaptive_local_grid(
    model,
    x: torch.Tensor,
    centre,
    half_widths,
    grid_size: int = WINDOW_GRID,
    half_sigmas: float = WINDOW_HALF_SIGMAS,
    max_steps: int = WINDOW_MAX_STEPS,
) -> AdaptiveGrid:
    """A small grid that follows the true posterior of one data point, from a first window centre +- half_widths.

    Each window is the posterior of :func:`local_posterior_grid` on ``grid_size`` x ``grid_size``
    points (one half-width per axis), with :math:`\\log p(\\mathbf{x})` by the rectangle rule and the
    posterior's mean and standard deviation on the grid. While more than :data:`WINDOW_EDGE_MASS`
    of the posterior lies in the outer ring of cells, the next window is :data:`WINDOW_WIDEN_FACTOR`
    times wider; otherwise, while a standard deviation spans fewer than :data:`WINDOW_SHIFT_CELLS`
    cells, it zooms to ``half_sigmas`` standard deviations (at least one cell); each new window is
    centred on the posterior mean, at most ``max_steps`` of them. The posterior pad starts from Q's
    mu +- 6 sigma (book/latent_space.md) and its page runs the same search (js/posterior_numerics.js,
    ``vaeNextWindow``). Computed in float64 from the model's log-likelihoods; no gradients.

    Shapes: x (1, ...) one data point on the model's device and in its dtype; ``centre`` and
    ``half_widths`` (2,) -> :class:`AdaptiveGrid` (windows of (G,) axes and (G, G) log densities).
    Raises ``ValueError`` unless ``model.latent_dim == 2``, for a batch of more than one data point,
    centre or half-widths of the wrong shape, a half-width that is not positive and finite,
    grid_size < 3 or max_steps < 0.
    """
    _check_2d_latent(model)
    require_batch("x", x)
    if x.shape[0] != 1:
        raise ValueError(f"x must be one data point (1, ...), got a batch of {x.shape[0]}; call once per data point")
    centre = torch.as_tensor(centre).to("cpu", torch.float64)
    half = torch.as_tensor(half_widths).to("cpu", torch.float64)
    if centre.shape != (2,) or half.shape != (2,):
        raise ValueError(
            f"centre and half_widths must have shape (2,), got {tuple(centre.shape)} and {tuple(half.shape)}"
        )
    if not bool(torch.isfinite(half).all()) or bool((half <= 0).any()):
        raise ValueError(f"half_widths must be positive and finite, got {half.tolist()}")
    require_count(grid_size, "grid_size", minimum=3)
    require_count(max_steps, "max_steps", minimum=0)
    first = window = _window(model, x, centre, half, grid_size)
    steps = 0
    while steps < max_steps:
        half = _next_half(window, half_sigmas)
        if half is None:
            break
        window = _window(model, x, window.mean, half, grid_size)
        steps += 1
    return AdaptiveGrid(first, window, steps)
