"""The evidence lower bound (ELBO) and the importance-weighted bound (IWAE): the objectives a VAE trains on.

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
:math:`\\log p(\\mathbf{x})` itself and the true posterior on a grid (for a 2-D latent) are in
:mod:`vaecourse.marginal`. book/elbo.md, book/sgd.md and book/pytorch_vae.md.

Every function takes any :class:`vaecourse.models.LatentVariableModel` (``latent_dim``, ``encode(x)``
-> ``Normal`` (B, latent_dim), ``log_likelihood(x, h)`` with leading sample dims, ``prior()``), for
example :class:`vaecourse.linear_gaussian.LinearGaussian` or :class:`vaecourse.models.VAE`.
Samples use the global torch random state (seed it for reproducible numbers).
"""

from __future__ import annotations

import math

import torch

from vaecourse import kl as _kl
from vaecourse.marginal import chunk_size as _default_chunk_size
from vaecourse.models import LatentVariableModel
from vaecourse.validation import require_batch, require_count

__all__ = [
    "elbo",
    "elbo_terms",
    "loss",
    "iwae",
    "log_mean_exp",
]


def _check_x_and_count(x, count, name: str) -> None:
    """x: a finite floating tensor (B, ...) (checked when validating); ``count`` (n_samples or k) >= 1."""
    require_batch("x", x)
    require_count(count, name)


def _log_prior(model: LatentVariableModel, h: torch.Tensor) -> torch.Tensor:
    """log p(h) summed over the latent dim: (..., latent_dim) -> (...,)."""
    return model.prior().log_prob(h).sum(-1)


def elbo_terms(
    model: LatentVariableModel,
    x: torch.Tensor,
    n_samples: int = 1,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The two terms of the ELBO: (reconstruction, kl).

    The ELBO is reconstruction - kl.

    reconstruction: the ``n_samples``-sample reparameterised estimate of
    :math:`E_{h\\sim Q}[\\log p(x|h)]` (``eq:single-sample``); kl: the
    closed form :math:`\\mathcal{D}[Q(h|x)\\|\\mathcal{N}(0,I)]` of
    :func:`vaecourse.kl.kl_standard_normal` (``eq:kl-standard-normal``).
    book/elbo.md.

    Shapes: x (B, ...) -> two tensors (B,). Differentiable with respect to the
    model's parameters. Raises ``ValueError`` for NaN/inf in x or a
    non-positive ``n_samples``.
    """
    _check_x_and_count(x, n_samples, "n_samples")
    q = model.encode(x)  # Normal, batch (B, k)
    h = q.rsample((n_samples,))  # (S, B, k)
    reconstruction = model.log_likelihood(x, h).mean(0)  # (B,)
    kl = _kl.kl_standard_normal(q.loc, 2 * torch.log(q.scale))  # (B,)
    return reconstruction, kl


def elbo(model: LatentVariableModel, x: torch.Tensor, n_samples: int = 1, analytic_kl: bool = True) -> torch.Tensor:
    """ELBO per data point, :math:`E_Q[\\log p(x|h)] - \\mathcal{D}[Q(h|x)\\|p(h)]`, reparameterised.

    With ``analytic_kl`` the KL is the closed form (the lecture's choice, lower variance); without
    it the whole integrand :math:`\\log p(x,h) - \\log Q(h|x)` is averaged over the ``n_samples``
    draws, which has zero variance when Q is the exact posterior (``eq:exact-posterior``).
    Label ``eq:central``; book/elbo.md; Kingma & Welling 2013, eqs. 7 and 10.

    Shapes: x (B, ...) -> (B,). Raises ``ValueError`` for NaN/inf x or ``n_samples`` < 1.
    """
    if analytic_kl:
        reconstruction, kl = elbo_terms(model, x, n_samples)
        return reconstruction - kl
    _check_x_and_count(x, n_samples, "n_samples")
    q = model.encode(x)
    h = q.rsample((n_samples,))  # (S, B, k)
    log_w = model.log_likelihood(x, h) + _log_prior(model, h) - q.log_prob(h).sum(-1)  # (S, B)
    return log_w.mean(0)


def loss(model: LatentVariableModel, x: torch.Tensor, n_samples: int = 1) -> torch.Tensor:
    """The training loss of a VAE: minus the ELBO, averaged over the batch (a scalar).

    Label ``eq:training-objective``: :math:`-\\frac1B\\sum_b \\mathcal{L}(x_b)`, with the analytic KL.
    book/sgd.md; Kingma & Welling 2013, eq. 10. Shapes: x (B, ...) -> ().
    Raises ``ValueError`` as :func:`elbo`.
    """
    return -elbo(model, x, n_samples=n_samples, analytic_kl=True).mean()


def log_mean_exp(log_w: torch.Tensor, dim: int = 0) -> torch.Tensor:
    """:math:`\\log \\frac1K\\sum_i e^{\\log w_i}` along ``dim``, stably (logsumexp minus log K).

    The Monte Carlo estimate of log p(x) from K importance log weights (``eq:marginal``;
    book/marginal_likelihood.md). Shapes: log_w (..., K, ...) -> the same with ``dim`` removed.

    Raises ``ValueError`` when ``dim`` is empty (K = 0: a mean of no weights is undefined).
    """
    if log_w.shape[dim] == 0:
        raise ValueError(
            f"log_mean_exp: dimension {dim} of log_w (shape {tuple(log_w.shape)}) is empty; "
            "a mean needs at least one log weight"
        )
    return torch.logsumexp(log_w, dim=dim) - math.log(log_w.shape[dim])


def iwae(model: LatentVariableModel, x: torch.Tensor, k: int, chunk_size: int | None = None) -> torch.Tensor:
    """Importance-weighted bound :math:`\\log\\frac1K\\sum_{i=1}^K p(x,h_i)/Q(h_i|x)`, one draw per call.

    Label ``eq:iwae-bound`` (Burda et al. 2015, eq. 8; book/pytorch_vae.md). The K
    samples are drawn in chunks of ``chunk_size`` (default: about 4 million data-sized numbers at a
    time) and combined with a running logsumexp, so memory stays bounded for K = 5000. K = 1 is a
    single-sample ELBO without the analytic KL. Differentiable (reparameterised samples).

    Shapes: x (B, ...) -> (B,). Raises ``ValueError`` for NaN/inf x, k < 1 or chunk_size < 1.
    """
    _check_x_and_count(x, k, "k")
    batch = x.shape[0]
    chunk_size = require_count(_default_chunk_size(x, k) if chunk_size is None else chunk_size, "chunk_size")
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
