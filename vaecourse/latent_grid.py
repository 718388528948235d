"""An approximate posterior Q against the true posterior on a 2-D latent grid.

For a model with a 2-D latent, :func:`vaecourse.elbo.posterior_grid` gives the true posterior
$p(\\mathbf{h}\\mid\\mathbf{x})$ on a square grid. This module puts the encoder's Gaussian
$Q(\\mathbf{h}\\mid\\mathbf{x})$ on the same grid and measures the gap of the central equation,

.. math::

    \\mathcal{D}[Q(\\mathbf{h}|\\mathbf{x})\\,\\|\\,p(\\mathbf{h}|\\mathbf{x})]
      \\approx \\Delta^2 \\sum_{ij} Q(\\mathbf{h}_{ij}|\\mathbf{x})
        \\big[\\log Q(\\mathbf{h}_{ij}|\\mathbf{x}) - \\log p(\\mathbf{h}_{ij}|\\mathbf{x})\\big],

by the same rectangle rule (Kingma & Welling 2013; Doersch 2016; book chapter ``elbo``). By the
central equation this equals $\\log p(\\mathbf{x}) - \\mathcal{L}(\\mathbf{x})$, a route to the gap that
shares no code with the ELBO's Monte Carlo estimate.
"""

from __future__ import annotations

import torch
from torch.distributions import Normal

__all__ = ["local_posterior_grid", "q_log_density_on_grid", "kl_q_posterior_on_grid"]


def _check_axes(grid_h1: torch.Tensor, grid_h2: torch.Tensor) -> None:
    for name, axis in (("grid_h1", grid_h1), ("grid_h2", grid_h2)):
        if not isinstance(axis, torch.Tensor) or axis.dim() not in (1, 2) or axis.shape[-1] < 3:
            raise ValueError(f"{name} must be a tensor (G,) or (B, G) of at least 3 evenly spaced grid points, "
                             "e.g. from elbo.posterior_grid or local_posterior_grid")


def local_posterior_grid(model, x: torch.Tensor, centre: torch.Tensor, half_width, grid_size: int = 201):
    """The true posterior on a square grid around ``centre``, one grid per data point, and log p(x).

    Grid b spans ``centre[b] +- half_width[b]`` along both latent axes with ``grid_size`` points;
    :math:`\\log p(\\mathbf{x}) = \\log \\Delta^2\\sum_{ij} p(\\mathbf{x}|\\mathbf{h}_{ij})p(\\mathbf{h}_{ij})`
    and :math:`\\log p(\\mathbf{h}_{ij}|\\mathbf{x}) = \\log p(\\mathbf{x},\\mathbf{h}_{ij}) - \\log p(\\mathbf{x})`.
    Unlike :func:`vaecourse.elbo.posterior_grid` (one grid on [-limit, limit]^2 for all), the grid
    follows a narrow posterior, so it can be resolved with few points. The window must hold all of
    the posterior's mass: compare ``log_px`` with :func:`vaecourse.elbo.log_px_quadrature`.

    Shapes: x (B, ...), centre (B, 2), half_width a float or (B,) -> (grid_h1 (B, G), grid_h2 (B, G),
    log_posterior (B, G, G), log_px (B,)); log_posterior[b, i, j] is at (grid_h1[b, i], grid_h2[b, j]).
    No gradients are tracked. Raises ValueError unless ``model.latent_dim == 2``, for a centre of
    the wrong shape, a non-positive half-width or grid_size < 3.
    """
    if getattr(model, "latent_dim", None) != 2:
        raise ValueError(f"a latent grid needs latent_dim == 2, got {getattr(model, 'latent_dim', None)}")
    batch = x.shape[0]
    if centre.shape != (batch, 2):
        raise ValueError(f"centre must have shape ({batch}, 2) to match x, got {tuple(centre.shape)}")
    half_width = torch.as_tensor(half_width, dtype=x.dtype, device=x.device).expand(batch)  # (B,)
    if not bool(torch.isfinite(half_width).all()) or bool((half_width <= 0).any()):
        raise ValueError("half_width must be positive and finite")
    if isinstance(grid_size, bool) or not isinstance(grid_size, int) or grid_size < 3:
        raise ValueError(f"grid_size must be an integer >= 3, got {grid_size!r}")
    unit = torch.linspace(-1.0, 1.0, grid_size, dtype=x.dtype, device=x.device)  # (G,)
    centre = centre.to(x)
    grid_h1 = centre[:, :1] + half_width[:, None] * unit  # (B, G)
    grid_h2 = centre[:, 1:] + half_width[:, None] * unit  # (B, G)
    points = torch.stack(torch.broadcast_tensors(grid_h1[:, :, None], grid_h2[:, None, :]), dim=-1)  # (B, G, G, 2)
    points = points.reshape(batch, -1, 2).transpose(0, 1)  # (G*G, B, 2)
    chunk = max(1, 2**22 // max(1, x.numel()))
    prior = model.prior()
    with torch.no_grad():
        log_joint = torch.cat([
            model.log_likelihood(x, h) + prior.log_prob(h).sum(-1)  # (C, B)
            for h in points.split(chunk)
        ])  # (G*G, B)
    cell = (grid_h1[:, 1] - grid_h1[:, 0]) * (grid_h2[:, 1] - grid_h2[:, 0])  # (B,)
    log_px = torch.logsumexp(log_joint, dim=0) + torch.log(cell)  # (B,)
    log_posterior = (log_joint - log_px).T.reshape(batch, grid_size, grid_size)  # (B, G, G)
    return grid_h1, grid_h2, log_posterior, log_px


def q_log_density_on_grid(q: Normal, grid_h1: torch.Tensor, grid_h2: torch.Tensor) -> torch.Tensor:
    """$\\log Q(\\mathbf{h}_{ij}\\mid\\mathbf{x})$ of a diagonal Gaussian at every grid point.

    ``q``: a ``torch.distributions.Normal`` with batch shape (B, 2) (``model.encode(x)``);
    ``grid_h1`` (G1,) or (B, G1), ``grid_h2`` (G2,) or (B, G2): the grid axes, shared or one per data
    point. Returns (B, G1, G2), with entry [b, i, j] at $\\mathbf{h} = $ (grid_h1[(b,) i],
    grid_h2[(b,) j]), the layout of :func:`vaecourse.elbo.posterior_grid` and :func:`local_posterior_grid`.

    Raises ValueError when Q is not a Normal of batch shape (B, 2) or an axis is not 1-D.
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
    """$\\mathcal{D}[Q\\,\\|\\,p(\\mathbf{h}|\\mathbf{x})]$ by the rectangle rule on an evenly spaced grid.

    ``log_posterior`` (B, G1, G2) is the true log posterior on the grid (from
    :func:`vaecourse.elbo.posterior_grid`). The grid must cover Q's mass and resolve Q (a grid step
    well below Q's standard deviations); otherwise the sum is not an integral. Returns (B,).

    Raises ValueError for mismatched shapes or a NaN in ``log_posterior``.
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
