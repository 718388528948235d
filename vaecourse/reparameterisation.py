"""The reparameterisation h = mu + sigma * eps and the gradient estimators it is compared with.

The lecture's :math:`\\mathbf{h} = \\boldsymbol\\mu(\\mathbf{x}) + \\Sigma^{1/2}(\\mathbf{x})\\,\\boldsymbol\\epsilon`,
:math:`\\boldsymbol\\epsilon\\sim\\mathcal{N}(0, I)` (label ``eq:reparameterisation``;
book/reparameterisation.md; Kingma & Welling 2013, section 2.4), and three estimators of
:math:`\\nabla_\\theta E_{h\\sim\\mathcal{N}(\\mu,\\sigma^2)}[f(h)]`, :math:`\\theta = (\\mu, \\sigma)`:

- :func:`naive_gradient`: draw h without a path back to the parameters and differentiate
  :math:`f(h)`; the gradient is zero -- the mistake the lecture warns about.
- :func:`reparameterised_gradient`: differentiate :math:`f(\\mu + \\sigma\\epsilon)`; unbiased, low variance.
- :func:`score_function_gradient`: REINFORCE, :math:`f(h)\\,\\nabla_\\theta\\log\\mathcal{N}(h;\\mu,\\sigma^2)`
  (Williams 1992), unbiased but with a larger variance.

Each returns a :class:`GradientEstimate` holding per-sample gradients, so the chapter can show
means, variances and standard errors. :func:`reconstruction_estimate` is the reparameterised
L-sample estimate of :math:`E_Q[\\log p(x|h)]` (``eq:single-sample``; book/sgd.md).
Samples use the global torch random state (seed it for reproducible numbers).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from vaecourse.validation import check_mean_cov, require_count, require_finite, require_spd, require_tensor

__all__ = [
    "GradientEstimate",
    "reconstruction_estimate",
    "reparameterise",
    "reparameterise_full",
    "naive_gradient",
    "reparameterised_gradient",
    "score_function_gradient",
]


# --------------------------------------------------------------------------------------------
# eq:single-sample -- the L-sample estimate of E_Q[log p(x|h)]
# --------------------------------------------------------------------------------------------


def reconstruction_estimate(model, x: torch.Tensor, n_samples: int = 1, repeats: int | None = None) -> torch.Tensor:
    """The L-sample estimate :math:`\\frac1L\\sum_{l=1}^L \\log p(x|h_l)`, :math:`h_l\\sim Q(h|x)`, of
    :math:`E_Q[\\log p(x|h)]`.

    L = ``n_samples`` = 1 is the lecture's single-sample estimate (label ``eq:single-sample``): unbiased,
    with variance falling as 1/L. ``repeats`` draws that many independent estimates at once (to
    measure the estimator's spread). book/sgd.md; Kingma & Welling 2013, eq. 10. Reparameterised
    (differentiable).

    Shapes: x (B, ...) -> (B,), or (repeats, B) when ``repeats`` is given.
    Raises ``ValueError`` for n_samples or repeats < 1.
    """
    require_count(n_samples, "n_samples")
    q = model.encode(x)  # batch (B, k)
    shape = (n_samples,) if repeats is None else (require_count(repeats, "repeats"), n_samples)
    h = q.rsample(shape)  # (*shape, B, k)
    return model.log_likelihood(x, h).mean(-2)  # average over the L axis -> (B,) or (R, B)


# --------------------------------------------------------------------------------------------
# eq:reparameterisation -- the reparameterisation and three gradient estimators
# --------------------------------------------------------------------------------------------


@dataclass
class GradientEstimate:
    """Per-sample gradient estimates of :math:`\\nabla E[f(h)]` with respect to mu and sigma.

    ``per_sample_mu``, ``per_sample_sigma``: (S, *shape); ``mean_*`` the S-sample estimate, ``var_*``
    the per-sample variance, ``se_*`` the standard error of the mean (shape of mu).
    """

    per_sample_mu: torch.Tensor
    per_sample_sigma: torch.Tensor

    @property
    def n_samples(self) -> int:
        return self.per_sample_mu.shape[0]

    @property
    def mean_mu(self) -> torch.Tensor:
        return self.per_sample_mu.mean(0)

    @property
    def mean_sigma(self) -> torch.Tensor:
        return self.per_sample_sigma.mean(0)

    @property
    def var_mu(self) -> torch.Tensor:
        return self.per_sample_mu.var(0)

    @property
    def var_sigma(self) -> torch.Tensor:
        return self.per_sample_sigma.var(0)

    @property
    def se_mu(self) -> torch.Tensor:
        return (self.var_mu / self.n_samples).sqrt()

    @property
    def se_sigma(self) -> torch.Tensor:
        return (self.var_sigma / self.n_samples).sqrt()


def _check_mu_sigma(mu: torch.Tensor, sigma: torch.Tensor, n_samples: int):
    require_tensor("mu", mu)
    require_tensor("sigma", sigma)
    if mu.shape != sigma.shape:
        raise ValueError(f"mu and sigma must have the same shape, got {tuple(mu.shape)} and {tuple(sigma.shape)}")
    require_finite("mu", mu)
    require_finite("sigma", sigma)
    if bool((sigma <= 0).any()):
        raise ValueError("sigma must be positive (a standard deviation); got a value <= 0")
    require_count(n_samples, "n_samples", minimum=2)  # two samples at least, to measure a variance


def _per_sample_leaves(mu: torch.Tensor, sigma: torch.Tensor, n_samples: int):
    """One independent copy of (mu, sigma) per sample, so that one backward gives per-sample grads."""
    mu_s = mu.detach().expand(n_samples, *mu.shape).clone().requires_grad_(True)  # (S, *shape)
    sigma_s = sigma.detach().expand(n_samples, *sigma.shape).clone().requires_grad_(True)
    return mu_s, sigma_s


def _grads(value: torch.Tensor, mu_s: torch.Tensor, sigma_s: torch.Tensor) -> GradientEstimate:
    grad_mu, grad_sigma = torch.autograd.grad(value.sum(), (mu_s, sigma_s), allow_unused=True)
    grad_mu = torch.zeros_like(mu_s) if grad_mu is None else grad_mu
    grad_sigma = torch.zeros_like(sigma_s) if grad_sigma is None else grad_sigma
    return GradientEstimate(grad_mu.detach(), grad_sigma.detach())


def reparameterise(
    mu: torch.Tensor,
    logvar: torch.Tensor,
    eps: torch.Tensor,
) -> torch.Tensor:
    """The reparameterisation with a diagonal Sigma^(1/2).

    :math:`h = \\mu + e^{\\mathrm{logvar}/2}\\,\\epsilon`.
    Label ``eq:reparameterisation``; book/reparameterisation.md;
    Kingma & Welling 2013, section 2.4.
    Shapes: mu, logvar (..., latent_dim); eps (..., latent_dim) with optional
    extra leading sample dims; result has eps's shape. No checks (the formula
    alone, as the chapter shows it).
    """
    return mu + torch.exp(0.5 * logvar) * eps


def reparameterise_full(mu: torch.Tensor, cov: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
    """The lecture's :math:`h = \\mu + \\Sigma^{1/2}\\epsilon` for a full covariance, with the Cholesky factor as root.

    Any matrix square root :math:`S` with :math:`SS^\\top = \\Sigma` gives :math:`h\\sim\\mathcal{N}(\\mu,\\Sigma)`;
    the lower Cholesky factor is the cheapest. Label ``eq:reparameterisation``; book/reparameterisation.md.

    Shapes: mu (..., k), cov (..., k, k), eps (..., k) with optional extra leading sample dims; result has eps's
    shape (an empty batch gives an empty result). Raises ``ValueError`` naming ``cov`` if it is not symmetric
    positive definite, or for NaN/inf.
    """
    check_mean_cov("mu", mu, "cov", cov)
    require_tensor("eps", eps, min_dim=1)
    if eps.shape[-1] != mu.shape[-1]:
        raise ValueError(f"eps must have shape (..., {mu.shape[-1]}), got {tuple(eps.shape)}")
    chol = require_spd("cov", cov)  # (..., k, k)
    return mu + (chol @ eps.unsqueeze(-1)).squeeze(-1)


def naive_gradient(
    f: Callable[[torch.Tensor], torch.Tensor], mu: torch.Tensor, sigma: torch.Tensor, n_samples: int
) -> GradientEstimate:
    """Differentiate f(h) for h drawn *without* a path to (mu, sigma): the wrong (zero) gradient.

    This is what happens when a sample is taken with ``Normal(mu, sigma).sample()`` (or
    ``h.detach()``) inside a loss: autograd sees a constant. book/reparameterisation.md.

    Shapes: ``f`` maps h (S, *shape) to (S,); mu, sigma (*shape); per-sample gradients (S, *shape).
    Raises ``ValueError`` for mu and sigma of different shapes, NaN/inf, sigma <= 0 or n_samples < 2.
    """
    _check_mu_sigma(mu, sigma, n_samples)
    mu_s, sigma_s = _per_sample_leaves(mu, sigma, n_samples)
    h = torch.distributions.Normal(mu_s, sigma_s).sample()  # (S, *shape), no graph
    value = f(h) + 0 * (mu_s.sum() + sigma_s.sum())  # keep the leaves in the graph: zero, not None
    return _grads(value, mu_s, sigma_s)


def reparameterised_gradient(
    f: Callable[[torch.Tensor], torch.Tensor], mu: torch.Tensor, sigma: torch.Tensor, n_samples: int
) -> GradientEstimate:
    """Per-sample reparameterised gradients: unbiased, low variance.

    :math:`\\nabla_{\\mu,\\sigma} f(\\mu + \\sigma\\epsilon)`, :math:`\\epsilon\\sim\\mathcal{N}(0, I)`.

    Label ``eq:reparameterisation``; book/reparameterisation.md; Kingma & Welling 2013, section 2.4.

    Shapes: ``f`` maps h (S, *shape) to (S,) and must treat samples independently; mu, sigma
    (*shape); per-sample gradients (S, *shape). Raises ``ValueError`` as :func:`naive_gradient`.
    """
    _check_mu_sigma(mu, sigma, n_samples)
    mu_s, sigma_s = _per_sample_leaves(mu, sigma, n_samples)
    eps = torch.randn_like(mu_s)  # (S, *shape)
    h = mu_s + sigma_s * eps  # the path from (mu, sigma) to h is kept
    return _grads(f(h), mu_s, sigma_s)


def score_function_gradient(
    f: Callable[[torch.Tensor], torch.Tensor],
    mu: torch.Tensor,
    sigma: torch.Tensor,
    n_samples: int,
    baseline: float = 0.0,
) -> GradientEstimate:
    """Per-sample REINFORCE gradients :math:`(f(h) - b)\\,\\nabla\\log\\mathcal{N}(h;\\mu,\\sigma^2)`, h detached.

    Unbiased for any constant ``baseline`` b (since :math:`E[\\nabla\\log q] = 0`); needs only values
    of f, not its derivative. Label ``eq:score-function``; book/reparameterisation.md; Williams 1992.

    Shapes: ``f`` maps h (S, *shape) to (S,); mu, sigma (*shape); per-sample gradients (S, *shape).
    Raises ``ValueError`` as :func:`naive_gradient`.
    """
    _check_mu_sigma(mu, sigma, n_samples)
    mu_s, sigma_s = _per_sample_leaves(mu, sigma, n_samples)
    with torch.no_grad():
        h = mu_s + sigma_s * torch.randn_like(mu_s)  # (S, *shape)
        weight = f(h) - baseline  # (S,)
    log_q = torch.distributions.Normal(mu_s, sigma_s).log_prob(h)  # (S, *shape)
    log_q = log_q.reshape(n_samples, -1).sum(-1)  # (S,)
    return _grads(weight * log_q, mu_s, sigma_s)
