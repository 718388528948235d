"""Test problems shared by the checks of several chapters: random Gaussians, data, a diagonal Q, repeated ELBOs."""

from __future__ import annotations

import torch
from torch.distributions import Normal

from vaecourse import elbo
from vaecourse import linear_gaussian as lg
from vaecourse.checks._core import Context, mean_se


def random_spd(ctx: Context, batch: tuple, k: int, offset: int) -> torch.Tensor:
    """Random SPD matrices A A^T / k + 0.3 I (condition number of order 10), shape (*batch, k, k)."""
    a = ctx.randn(*batch, k, k, offset=offset)
    eye = torch.eye(k, dtype=ctx.dtype, device=ctx.device)
    return a @ a.transpose(-2, -1) / k + 0.3 * eye


def gaussian_pairs(ctx: Context, batch: tuple, k: int, offset: int = 0):
    """Random (mu0, Sigma0, mu1, Sigma1), shapes (*batch, k) and (*batch, k, k); offsets offset .. offset + 3."""
    mu0, mu1 = 0.7 * ctx.randn(*batch, k, offset=offset), 0.7 * ctx.randn(*batch, k, offset=offset + 1)
    return mu0, random_spd(ctx, batch, k, offset + 2), mu1, random_spd(ctx, batch, k, offset + 3)


def data(model: lg.LinearGaussian, n: int, seed: int = 7) -> torch.Tensor:
    """``n`` observations x (n, data_dim) from the model (a fixed seed, the same for every check)."""
    x, _ = model.sample(n, seed=seed)
    return x


def diag_q(mean: torch.Tensor, std: torch.Tensor) -> Normal:
    return Normal(mean, std.expand_as(mean))


def diag_cov(q: Normal) -> torch.Tensor:
    return torch.diag_embed(q.variance)  # (..., k, k)


def elbo_repeats(model, x: torch.Tensor, repeats: int, n_samples: int):
    """Mean and standard error over ``repeats`` independent ``n_samples``-sample ELBO estimates: (B,), (B,)."""
    values = elbo.elbo(model, x.repeat(repeats, 1), n_samples=n_samples)  # (R*B,)
    return mean_se(values.detach().reshape(repeats, x.shape[0]))
