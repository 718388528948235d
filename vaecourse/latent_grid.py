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

__all__ = ["q_log_density_on_grid", "kl_q_posterior_on_grid"]


def _check_axes(grid_h1: torch.Tensor, grid_h2: torch.Tensor) -> None:
    for name, axis in (("grid_h1", grid_h1), ("grid_h2", grid_h2)):
        if not isinstance(axis, torch.Tensor) or axis.dim() != 1 or axis.numel() < 3:
            raise ValueError(f"{name} must be a 1-D tensor of at least 3 grid points, e.g. from elbo.posterior_grid")


def q_log_density_on_grid(q: Normal, grid_h1: torch.Tensor, grid_h2: torch.Tensor) -> torch.Tensor:
    """$\\log Q(\\mathbf{h}_{ij}\\mid\\mathbf{x})$ of a diagonal Gaussian at every grid point.

    ``q``: a ``torch.distributions.Normal`` with batch shape (B, 2) (``model.encode(x)``);
    ``grid_h1`` (G1,), ``grid_h2`` (G2,): the grid axes. Returns (B, G1, G2), with entry [b, i, j] at
    $\\mathbf{h} = $ (grid_h1[i], grid_h2[j]), the layout of :func:`vaecourse.elbo.posterior_grid`.

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
    cell = (grid_h1[1] - grid_h1[0]) * (grid_h2[1] - grid_h2[0])  # Delta^2
    integrand = torch.exp(log_q) * (log_q - log_posterior.to(log_q))  # (B, G1, G2)
    return integrand.sum((-2, -1)) * cell.to(log_q)
