"""Kullback-Leibler divergences between Gaussians, in closed form.

The lecture needs two formulas (book/kl_divergence.md and book/sgd.md, equations ``eq:kl-gaussians`` and
``eq:kl-standard-normal``; Kingma & Welling 2013, appendix B; Doersch 2016, eq. 7):

.. math::

    \\mathcal{D}[\\mathcal{N}(\\mu_0,\\Sigma_0)\\,\\|\\,\\mathcal{N}(\\mu_1,\\Sigma_1)]
      = \\tfrac12\\Big(\\operatorname{tr}(\\Sigma_1^{-1}\\Sigma_0)
        + (\\mu_1-\\mu_0)^\\top\\Sigma_1^{-1}(\\mu_1-\\mu_0) - k
        + \\log\\frac{\\det\\Sigma_1}{\\det\\Sigma_0}\\Big)

and its special case against the prior :math:`\\mathcal{N}(0, I)`,

.. math::

    \\mathcal{D}[\\mathcal{N}(\\mu,\\Sigma)\\,\\|\\,\\mathcal{N}(0,I)]
      = \\tfrac12\\big(\\operatorname{tr}\\Sigma + \\mu^\\top\\mu - k - \\log\\det\\Sigma\\big),

which for a diagonal :math:`\\Sigma = \\operatorname{diag}(e^{\\mathrm{logvar}})` is the sum used in
training, :math:`\\tfrac12\\sum_j (e^{\\mathrm{logvar}_j} + \\mu_j^2 - 1 - \\mathrm{logvar}_j)`.

Every function accepts float32 and float64, batched (leading dimensions) and unbatched inputs, and
raises ``ValueError`` naming the argument for mismatched shapes, non-finite values, covariances that
are not symmetric positive definite and non-positive variances. :mod:`vaecourse.checks` checks
each formula against ``torch.distributions.kl_divergence``, Monte Carlo and sympy.
"""

from __future__ import annotations

import torch

from vaecourse.validation import (
    check_mean_cov,
    common_dtype,
    require_count,
    require_finite,
    require_spd,
    require_tensor,
)

__all__ = [
    "kl_gaussians",
    "kl_standard_normal",
    "kl_standard_normal_full",
    "kl_monte_carlo",
]


# --------------------------------------------------------------------------------------------
# eq:kl-gaussians: two Gaussians with full covariances
# --------------------------------------------------------------------------------------------


def kl_gaussians(mu0: torch.Tensor, cov0: torch.Tensor, mu1: torch.Tensor, cov1: torch.Tensor) -> torch.Tensor:
    """KL divergence of two Gaussians in closed form.

    :math:`\\mathcal{D}[\\mathcal{N}(\\mu_0,\\Sigma_0)\\|\\mathcal{N}(\\mu_1,\\Sigma_1)]`.

    Formula (lecture, "More on the SGD"; label ``eq:kl-gaussians``)::

        1/2 ( tr(cov1^-1 cov0) + (mu1 - mu0)^T cov1^-1 (mu1 - mu0) - k + log det cov1 - log det cov0 )

    computed through Cholesky factors (triangular solves, log det = 2 sum log diag L), never an
    explicit inverse. book/kl_divergence.md and book/sgd.md; Kingma & Welling 2013 appendix B.

    Shapes: ``mu0``, ``mu1`` (..., k); ``cov0``, ``cov1`` (..., k, k). Leading (batch) dimensions
    broadcast against each other, so one prior ``(k,)``/``(k, k)`` can serve a batch. Result: the
    broadcast leading shape (a 0-dim tensor for unbatched inputs; ``(0,)`` for an empty batch), dtype
    promoted from the inputs.

    Raises ``ValueError`` naming the argument if a shape does not match, a value is NaN/inf, a
    covariance is not symmetric positive definite, or the batch shapes do not broadcast.
    """
    k0 = check_mean_cov("mu0", mu0, "cov0", cov0)
    k1 = check_mean_cov("mu1", mu1, "cov1", cov1)
    if k0 != k1:
        raise ValueError(f"mu0/cov0 describe a {k0}-dimensional Gaussian but mu1/cov1 a {k1}-dimensional one")
    dtype = common_dtype(mu0=mu0, cov0=cov0, mu1=mu1, cov1=cov1)
    mu0, cov0, mu1, cov1 = (t.to(dtype) for t in (mu0, cov0, mu1, cov1))
    try:
        batch = torch.broadcast_shapes(mu0.shape[:-1], cov0.shape[:-2], mu1.shape[:-1], cov1.shape[:-2])
    except RuntimeError as error:
        raise ValueError(
            f"batch shapes of mu0 {tuple(mu0.shape)}, cov0 {tuple(cov0.shape)}, mu1 {tuple(mu1.shape)}, "
            f"cov1 {tuple(cov1.shape)} do not broadcast"
        ) from error
    chol0 = require_spd("cov0", cov0)  # (..., k, k)
    chol1 = require_spd("cov1", cov1)  # (..., k, k)
    chol0 = chol0.expand(*batch, k0, k0)
    chol1 = chol1.expand(*batch, k0, k0)
    # tr(cov1^-1 cov0) = || L1^-1 L0 ||_F^2
    m = torch.linalg.solve_triangular(chol1, chol0, upper=False)  # (..., k, k)
    trace = m.pow(2).sum(dim=(-2, -1))  # (...,)
    diff = (mu1 - mu0).expand(*batch, k0).unsqueeze(-1)  # (..., k, 1)
    z = torch.linalg.solve_triangular(chol1, diff, upper=False)  # (..., k, 1)
    mahalanobis = z.pow(2).sum(dim=(-2, -1))  # (...,)
    logdet0 = 2 * torch.log(torch.diagonal(chol0, dim1=-2, dim2=-1)).sum(-1)
    logdet1 = 2 * torch.log(torch.diagonal(chol1, dim1=-2, dim2=-1)).sum(-1)
    return 0.5 * (trace + mahalanobis - k0 + logdet1 - logdet0)


# --------------------------------------------------------------------------------------------
# eq:kl-standard-normal: against the standard normal prior
# --------------------------------------------------------------------------------------------


def _check_mean_logvar(mu: torch.Tensor, logvar: torch.Tensor) -> None:
    """mu and logvar: floating tensors (..., latent_dim) of one shape, on one device, finite (when validating)."""
    require_tensor("mu", mu, min_dim=1)
    require_tensor("logvar", logvar, min_dim=1)
    if mu.shape != logvar.shape:
        raise ValueError(
            f"mu and logvar must have the same shape (..., latent_dim); got {tuple(mu.shape)} and {tuple(logvar.shape)}"
        )
    common_dtype(mu=mu, logvar=logvar)
    require_finite("mu", mu)
    require_finite("logvar", logvar)


def kl_standard_normal(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL divergence of a diagonal Gaussian from :math:`\\mathcal{N}(0, I)`.

    Summed over the last dim. Formula (lecture, "Simplification", diagonal
    form; label ``eq:kl-standard-normal``): :math:`\\tfrac12\\sum_j
    \\big(e^{\\mathrm{logvar}_j} + \\mu_j^2 - 1 - \\mathrm{logvar}_j\\big)`.
    This is the KL term of the training loss (Kingma & Welling 2013,
    appendix B; book/sgd.md).

    Shapes: ``mu`` and ``logvar`` (..., latent_dim), equal shapes; result
    (...,) (0-dim for a single vector). Differentiable in both arguments.

    Raises ``ValueError`` naming the argument on mismatched shapes or NaN/inf
    values.
    """
    _check_mean_logvar(mu, logvar)
    return 0.5 * (torch.exp(logvar) + mu.pow(2) - 1.0 - logvar).sum(-1)


def kl_standard_normal_full(mu: torch.Tensor, cov: torch.Tensor) -> torch.Tensor:
    """KL divergence of :math:`\\mathcal{N}(\\mu, \\Sigma)` (full covariance) from :math:`\\mathcal{N}(0, I)`.

    Formula (lecture, "Simplification"; label ``eq:kl-standard-normal``):
    :math:`\\tfrac12(\\operatorname{tr}\\Sigma + \\mu^\\top\\mu - k - \\log\\det\\Sigma)`, the form the
    lecture writes before restricting :math:`\\Sigma` to a diagonal. book/kl_divergence.md and book/sgd.md.

    Shapes: ``mu`` (..., k), ``cov`` (..., k, k) with broadcastable leading dims; result (...,)
    (``(0,)`` for an empty batch).

    Raises ``ValueError`` naming the argument on mismatched shapes, NaN/inf, or a covariance that is
    not symmetric positive definite.
    """
    k = check_mean_cov("mu", mu, "cov", cov)
    dtype = common_dtype(mu=mu, cov=cov)
    mu, cov = mu.to(dtype), cov.to(dtype)
    chol = require_spd("cov", cov)  # (..., k, k)
    trace = torch.diagonal(cov, dim1=-2, dim2=-1).sum(-1)
    logdet = 2 * torch.log(torch.diagonal(chol, dim1=-2, dim2=-1)).sum(-1)
    return 0.5 * (trace + mu.pow(2).sum(-1) - k - logdet)


# --------------------------------------------------------------------------------------------
# eq:kl-definition: the definition, by Monte Carlo
# --------------------------------------------------------------------------------------------


def kl_monte_carlo(q, p, n_samples: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Monte Carlo estimate of :math:`\\mathcal{D}[Q\\|P] = E_{h\\sim Q}[\\log Q(h) - \\log P(h)]`.

    The definition (lecture, "Kullback-Leibler again"; label ``eq:kl-definition``), estimated with
    ``n_samples`` draws from ``q``. Works for any pair of ``torch.distributions`` objects with the
    same event shape (use ``Independent`` or ``MultivariateNormal`` so that ``log_prob`` is a joint
    density). Uses the global torch random state; seed it for reproducible numbers.

    Shapes: the batch shape of ``q``/``p``; returns ``(estimate, standard_error)``, each of that
    shape, where the standard error is the sample standard deviation over :math:`\\sqrt{n}`.

    Raises ``ValueError`` if ``n_samples < 2``.
    """
    require_count(n_samples, "n_samples", minimum=2)  # two at least, for a standard error
    with torch.no_grad():
        h = q.sample((n_samples,))  # (S, *batch, *event)
        log_ratio = q.log_prob(h) - p.log_prob(h)  # (S, *batch)
    return log_ratio.mean(0), log_ratio.std(0) / n_samples**0.5
