"""The KL term in practice: rate and distortion, the beta-ELBO, active units, KL warm-up and free bits.

Minus the ELBO splits into a *distortion* and a *rate* (label ``eq:rate-distortion``; Alemi et al.
2018, "Fixing a broken ELBO"):

.. math:: -\\mathcal{L}(\\mathbf{x}) =
          \\underbrace{-E_{\\mathbf{h}\\sim Q}[\\log p(\\mathbf{x}|\\mathbf{h})]}_{\\mathrm{Dist}}
          + \\underbrace{\\mathcal{D}[Q(\\mathbf{h}|\\mathbf{x})\\,\\|\\,p(\\mathbf{h})]}_{R},

and the beta-VAE of Higgins et al. 2017 minimises :math:`\\mathrm{Dist} + \\beta R` (label ``eq:beta-elbo``). A
latent unit :math:`j` is *active* when :math:`\\mathrm{Var}_{\\mathbf{x}}\\big(E_Q[h_j]\\big) > 0.01`
(label ``eq:active-units``; Burda et al. 2015). Two remedies against unused units change the rate
term during training: a KL weight that rises from 0 to 1 (warm-up; Bowman et al. 2016) and *free
bits*, :math:`\\sum_j \\max(\\tau, E_{\\mathbf{x}}[R_j])` over a batch (label ``eq:free-bits``;
Kingma et al. 2016). Chapter book/kl_in_practice.md.

Models are :class:`vaecourse.models.LatentVariableModel` (``encode(x)`` -> ``Normal`` (B, k),
``log_likelihood(x, h)``).
"""

from __future__ import annotations

import torch
from torch.distributions import Normal

from vaecourse.models import LatentVariableModel, encoder_means
from vaecourse.validation import require_batch, require_count

__all__ = [
    "ACTIVE_THRESHOLD",
    "kl_per_unit",
    "rate_distortion",
    "beta_elbo",
    "free_bits_rate",
    "kl_weight",
    "unit_activity",
    "active_units",
]

# Burda, Grosse & Salakhutdinov 2015, section 5.2: a unit is active when Var_x E_Q[h_j] > 0.01.
ACTIVE_THRESHOLD = 0.01


def kl_per_unit(q: Normal) -> torch.Tensor:
    """:math:`R_j = \\tfrac12(\\sigma_j^2 + \\mu_j^2 - 1 - \\log\\sigma_j^2)`, the rate of each latent unit.

    The terms of ``eq:kl-standard-normal`` before the sum; book/kl_in_practice.md.
    Shapes: q a ``Normal`` of batch shape (B, k) -> (B, k).
    """
    var = q.scale.pow(2)
    return 0.5 * (var + q.loc.pow(2) - 1.0 - torch.log(var))


def rate_distortion(
    model: LatentVariableModel, x: torch.Tensor, n_samples: int = 1
) -> tuple[torch.Tensor, torch.Tensor]:
    """Rate and distortion per image.

    Rate :math:`R = \\mathcal{D}[Q\\|p(\\mathbf{h})]`,
    distortion :math:`\\mathrm{Dist} = -E_Q[\\log p(\\mathbf{x}|\\mathbf{h})]`.

    ``eq:rate-distortion``: :math:`R + \\mathrm{Dist} = -\\mathcal{L}`; the distortion is the ``n_samples``-sample
    reparameterised estimate, the rate is in closed form (:func:`kl_per_unit` summed). Alemi et al. 2018;
    book/kl_in_practice.md. Shapes: x (B, ...) -> (rate (B,), distortion (B,)).
    Raises ``ValueError`` for NaN/inf x or n_samples < 1.
    """
    require_batch("x", x)
    require_count(n_samples, "n_samples")
    q = model.encode(x)  # Normal, batch (B, k)
    h = q.rsample((n_samples,))  # (S, B, k)
    distortion = -model.log_likelihood(x, h).mean(0)  # (B,)
    return kl_per_unit(q).sum(-1), distortion


def beta_elbo(model: LatentVariableModel, x: torch.Tensor, beta: float, n_samples: int = 1) -> torch.Tensor:
    """:math:`-(\\mathrm{Dist} + \\beta R)` per image, the beta-VAE objective (``eq:beta-elbo``; Higgins et al. 2017).

    beta = 1 is the ELBO. Shapes: x (B, ...) -> (B,). Raises ``ValueError`` for beta < 0.
    """
    if not beta >= 0:
        raise ValueError(f"beta must be a non-negative number, got {beta!r}")
    rate, distortion = rate_distortion(model, x, n_samples)
    return -(distortion + beta * rate)


def free_bits_rate(q: Normal, free_bits: float) -> torch.Tensor:
    r"""The free-bits rate of a batch: no unit is charged less than tau nats.

    Its batch mean is $\sum_j \max(\tau, \frac1B \sum_b R_j(\mathbf{x}_b))$
    (``eq:free-bits``; Kingma et al. 2016, appendix C): $R_j$ is replaced by
    $\tau$ = ``free_bits`` in every unit whose batch mean is below it, so that
    such a unit gets no gradient from the rate term. book/kl_in_practice.md.
    Shapes: q of batch shape (B, k) -> (B,).
    Raises ``ValueError`` for a negative ``free_bits``.
    """
    if not free_bits >= 0:
        message = f"free_bits must be >= 0 nats per unit, got {free_bits!r}"
        raise ValueError(message)
    per_unit = kl_per_unit(q)  # (B, k)
    below = per_unit.mean(0) < free_bits  # (k,): the unit's batch mean
    floor = torch.full_like(per_unit, free_bits)
    return torch.where(below, floor, per_unit).sum(-1)  # (B,)


def kl_weight(step: int, warmup_steps: int) -> float:
    r"""The KL warm-up weight $w_t = \min(1, t / T_w)$ of step $t$.

    It rises linearly from 0 at the first step to 1 after $T_w$ =
    ``warmup_steps`` steps, and is 1 throughout without warm-up
    (Bowman et al. 2016). book/kl_in_practice.md.
    """
    if warmup_steps <= 0:
        return 1.0
    return min(1.0, step / warmup_steps)


def unit_activity(model: LatentVariableModel, x: torch.Tensor, batch_size: int = 4096) -> torch.Tensor:
    """The activity of each latent unit over the images x (``eq:active-units``).

    :math:`A_j = \\mathrm{Var}_{\\mathbf{x}}\\big(E_{Q(\\mathbf{h}|\\mathbf{x})}[h_j]\\big)`.

    The variance (divided by N) of the encoder means over the data set; Burda et al. 2015.
    Shapes: x (N, ...) with N >= 2 -> (k,). Raises ``ValueError`` for fewer than two images.
    """
    if x.shape[0] < 2:
        raise ValueError(f"unit activity is a variance over images: pass at least 2, got {x.shape[0]}")
    means = encoder_means(model, x, batch_size)  # (N, k)
    return means.var(0, correction=0)


def active_units(model: LatentVariableModel, x: torch.Tensor, threshold: float = ACTIVE_THRESHOLD) -> int:
    """The number of latent units with :func:`unit_activity` above ``threshold`` (0.01; ``eq:active-units``)."""
    return int((unit_activity(model, x) > threshold).sum())
