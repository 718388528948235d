"""Where the gap log p(x) - ELBO goes: the approximation gap and the amortisation gap.

Cremer, Li & Duvenaud 2018 split the gap of the encoder's :math:`Q_\\phi(\\mathbf{h}|\\mathbf{x})` with
the best member :math:`Q^*` of its family for this one image (label ``eq:gap-decomposition``):

.. math:: \\underbrace{\\log p(\\mathbf{x}) - \\mathcal{L}[Q_\\phi]}_{\\text{total}}
          = \\underbrace{\\log p(\\mathbf{x}) - \\mathcal{L}[Q^*]}_{\\text{approximation}}
          + \\underbrace{\\mathcal{L}[Q^*] - \\mathcal{L}[Q_\\phi]}_{\\text{amortisation}},
          \\qquad Q^* = \\arg\\max_{Q\\in\\text{family}} \\mathcal{L}[Q].

:math:`Q^*` is found by optimising the family's parameters for each image separately
(:func:`optimise_per_image`, from several starts: the encoder's Q, the prior and any others given,
such as a smaller family's optimum; per image the best is kept, and :attr:`Gaps.start_spread` says
how far the starts ended apart). On a 2-D latent, :math:`\\log p(\\mathbf{x})` comes from quadrature
and the approximation gap also equals :math:`\\mathcal{D}[Q^*\\|p(\\mathbf{h}|\\mathbf{x})]` on the grid
(:func:`kl_to_posterior_on_grid`).
The IWAE bounds sit in between: :math:`\\mathcal{L} \\le \\mathcal{L}_5 \\le \\mathcal{L}_{50} \\le
\\log p(\\mathbf{x})` in expectation (label ``eq:iwae-ordering``; Burda et al. 2015). Chapter
book/richer_posteriors.md.

Models are :class:`vaecourse.models.VAEModel` (``log_likelihood``, ``prior``, ``latent_dim``); Q is a family of
:mod:`vaecourse.posterior_families` with parameters (B, n_params).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from vaecourse import device, marginal
from vaecourse import posterior_families as pf
from vaecourse.models import VAEModel
from vaecourse.validation import require_count

__all__ = [
    "FixedPosterior",
    "log_px_bernoulli_grid",
    "optimise_per_image",
    "elbo_with_se",
    "bound_ladder",
    "posterior_window",
    "log_q_on_grid",
    "kl_to_posterior_on_grid",
    "Gaps",
    "gap_decomposition",
]


def log_px_bernoulli_grid(model: VAEModel, x: torch.Tensor, grid_size: int = 201, limit: float = 6.0) -> torch.Tensor:
    """log p(x) of a Bernoulli decoder by :func:`vaecourse.marginal.log_px_quadrature` on [-limit, limit]^2.

    :math:`\\log p(\\mathbf{x}) \\approx \\log\\Delta^2\\sum_{ij} p(\\mathbf{x}|\\mathbf{h}_{ij})p(\\mathbf{h}_{ij})`
    (``eq:marginal``), with x moved to the model's device and dtype; for a Bernoulli decoder the
    rectangle rule takes one matrix product per chunk of grid points. book/richer_posteriors.md.
    Shapes: x (B, ...) -> (B,). Raises ``ValueError`` unless the model has a 2-D latent and a Bernoulli decoder.
    """
    if getattr(model, "latent_dim", None) != 2 or getattr(model, "likelihood", None) != "bernoulli":
        raise ValueError(
            "log_px_bernoulli_grid needs a model with latent_dim == 2 and a Bernoulli decoder; "
            "use vaecourse.marginal.log_px_quadrature otherwise"
        )
    require_count(grid_size, "grid_size", minimum=3)
    on, dtype = device.placement(model)
    return marginal.log_px_quadrature(model, x.to(on, dtype), grid_size, limit)


class _Frozen:
    """``with _Frozen(model):`` the model's parameters take no gradient; restored afterwards."""

    def __init__(self, model: VAEModel):
        parameters = getattr(model, "parameters", list)  # a closed-form model has none
        self.trainable = [p for p in parameters() if p.requires_grad]

    def __enter__(self):
        for p in self.trainable:
            p.requires_grad_(False)

    def __exit__(self, *exc):
        for p in self.trainable:
            p.requires_grad_(True)


def optimise_per_image(
    model: VAEModel,
    q_family,
    x: torch.Tensor,
    params: torch.Tensor,
    steps: int = 300,
    n_samples: int = 16,
    lr: float = 0.05,
) -> torch.Tensor:
    """Q*: the family's parameters maximising each image's ELBO, by Adam.

    Starts from ``params``. Each image has its own parameters, so the batch
    sum optimises every image at once. The learning rate falls linearly to
    zero, so the last steps average out the Monte Carlo noise of the gradient
    instead of jittering around the optimum. The model is held fixed.
    ``eq:gap-decomposition``; Cremer et al. 2018; book/richer_posteriors.md.
    Shapes: x (B, ...), params (B, n_params) -> (B, n_params), detached.
    Raises ``ValueError`` for steps or n_samples < 1.
    """
    require_count(steps, "steps")
    require_count(n_samples, "n_samples")
    local = params.detach().clone().requires_grad_(True)
    optimiser = torch.optim.Adam([local], lr=lr)
    with _Frozen(model):
        for step in range(steps):
            elbo = pf.elbo_of(model, q_family, local, x, n_samples)  # (B,)
            optimiser.zero_grad()
            (-elbo.sum()).backward()
            optimiser.param_groups[0]["lr"] = lr * (1 - step / steps)
            optimiser.step()
    return local.detach()


@torch.no_grad()
def elbo_with_se(model: VAEModel, q_family, params: torch.Tensor, x: torch.Tensor, n: int = 1000):
    """Monte Carlo ELBO :math:`\\frac1n\\sum_i\\log w_i` and its standard error, per image: (B,), (B,)."""
    require_count(n, "n", minimum=2)
    chunk = marginal.chunk_size(x, n)
    log_w = torch.cat(
        [pf.log_weights(model, q_family, params, x, min(chunk, n - start)) for start in range(0, n, chunk)]
    )  # (n, B), drawn in chunks to bound memory
    return log_w.mean(0), log_w.std(0) / math.sqrt(n)


@torch.no_grad()
def bound_ladder(model: VAEModel, q_family, params: torch.Tensor, x: torch.Tensor, ks=(1, 5, 50), repeats: int = 100):
    """Mean and standard error over ``repeats`` draws of the bound :math:`\\mathcal{L}_K` for each K.

    Both (len(ks), B).

    K = 1 is the single-sample ELBO; ``eq:iwae-ordering``.
    """
    require_count(repeats, "repeats", minimum=2)
    means, ses = [], []
    for k in ks:
        values = torch.stack([pf.iwae_of(model, q_family, params, x, k) for _ in range(repeats)])  # (R, B)
        means.append(values.mean(0))
        ses.append(values.std(0) / math.sqrt(repeats))
    return torch.stack(means), torch.stack(ses)


@torch.no_grad()
def posterior_window(q_family, params: torch.Tensor, n: int = 2000, width: float = 6.0):
    """A square window around Q for the grid: (centre (B, 2), half-width (B,)) from n samples.

    Centre: the sample mean; half-width: ``width`` times the larger sample standard deviation.
    """
    h, _ = q_family.sample(params, n)  # (n, B, 2)
    return h.mean(0), width * h.std(0).max(-1).values


def _log_prob_of(q_family, params: torch.Tensor):
    """The density h (P, B, k) -> log Q(h) (P, B) of ``q_family`` with parameters ``params`` (B, n_params)."""
    return lambda h: q_family.log_prob(params.to(h), h)


def log_q_on_grid(q_family, params: torch.Tensor, grid_h1: torch.Tensor, grid_h2: torch.Tensor) -> torch.Tensor:
    """:math:`\\log Q(\\mathbf{h}_{ij}\\mid\\mathbf{x}_b)` of a family on one grid per image: axes (B, G) -> (B, G, G).

    :func:`vaecourse.marginal.q_log_density_on_grid` with Q the family's density for ``params`` (B, n_params).
    """
    return marginal.q_log_density_on_grid(_log_prob_of(q_family, params), grid_h1, grid_h2)


def kl_to_posterior_on_grid(q_family, params, grid_h1, grid_h2, log_posterior) -> torch.Tensor:
    """The KL divergence D[Q || p(h|x)] on a grid, by the rectangle rule: (B,).

    :math:`\\mathcal{D}[Q\\|p(\\mathbf{h}|\\mathbf{x})] \\approx
    \\Delta_1\\Delta_2\\sum_{ij}Q(\\mathbf{h}_{ij})[\\log Q - \\log p(\\mathbf{h}_{ij}|\\mathbf{x})]`.

    :func:`vaecourse.marginal.kl_q_posterior_on_grid` for any family with parameters (B, n_params);
    axes (B, G), log_posterior (B, G, G) from :func:`vaecourse.marginal.local_posterior_grid`.
    The grid must hold Q's mass and resolve it. ``eq:gap-decomposition``.
    """
    return marginal.kl_q_posterior_on_grid(_log_prob_of(q_family, params), grid_h1, grid_h2, log_posterior)


class FixedPosterior(nn.Module):
    """An 'encoder' that returns the same parameters ``params`` (B, n_params) of ``q_family`` for any x.

    For :func:`gap_decomposition` of a Q that no network computes, e.g. the encoder's diagonal Q written
    in a richer family's parameters (:meth:`vaecourse.posterior_families.DiagonalGaussian.from_diagonal`).
    """

    def __init__(self, q_family, params: torch.Tensor):
        super().__init__()
        self.family, self.params = q_family, params

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[0] != self.params.shape[0]:
            raise ValueError(f"FixedPosterior holds parameters for {self.params.shape[0]} images, got {x.shape[0]}")
        return self.params


@dataclass
class Gaps:
    """The gap decomposition of a batch of images (nats, (B,) each) and the two parameter sets.

    ``elbo_starts`` (S, B): the ELBO that :func:`optimise_per_image` reached from each start (the
    encoder's Q, the prior, then any ``starts`` given), estimated on draws of its own; ``best_start``
    (B,): the start whose optimum became :math:`Q^*`.
    """

    log_px: torch.Tensor
    elbo_amortised: torch.Tensor
    elbo_best: torch.Tensor
    se_amortised: torch.Tensor
    se_best: torch.Tensor
    params_amortised: torch.Tensor
    params_best: torch.Tensor
    elbo_starts: torch.Tensor | None = None
    best_start: torch.Tensor | None = None

    @property
    def total(self) -> torch.Tensor:
        return self.log_px - self.elbo_amortised

    @property
    def approximation(self) -> torch.Tensor:
        return self.log_px - self.elbo_best

    @property
    def amortisation(self) -> torch.Tensor:
        return self.elbo_best - self.elbo_amortised

    @property
    def start_spread(self) -> torch.Tensor:
        """How far the starts' optima lie apart, best minus worst ELBO (B,): 0 when they agree.

        A spread well above the Monte Carlo error means that some starts ended in a local optimum or
        had not converged: the per-image optimisation is only as good as its best start.
        """
        return self.elbo_starts.max(0).values - self.elbo_starts.min(0).values


def gap_decomposition(
    model: VAEModel,
    posterior,
    x: torch.Tensor,
    steps: int = 300,
    n_samples: int = 16,
    n_eval: int = 2000,
    grid_size: int = 201,
    log_px: torch.Tensor | None = None,
    lr: float = 0.05,
    starts: tuple = (),
) -> Gaps:
    """Total, approximation and amortisation gaps of ``posterior`` (an encoder x -> params) on images x.

    ``eq:gap-decomposition``: :math:`Q^*` by :func:`optimise_per_image` from several starts, the
    encoder's parameters, the prior's and each of ``starts`` ((B, n_params) each, e.g. the optimum of a
    smaller family written in this one's parameters, :meth:`DiagonalGaussian.from_diagonal`); per image
    the optimum with the highest ELBO is kept. The choice is made on ``n_eval`` draws, and both ELBOs are
    then estimated on ``n_eval`` fresh draws (so the choice does not bias them upwards).
    :math:`\\log p(\\mathbf{x})` by quadrature on a grid around the two Qs
    (:func:`vaecourse.marginal.local_posterior_grid`) unless ``log_px`` (B,) is given (one quadrature
    serves several families). 2-D latents only.
    Shapes: x (B, ...) -> :class:`Gaps` of (B,) tensors.
    """
    q_family = posterior.family
    with torch.no_grad():
        params_a = posterior(x)  # (B, P)
    prior = q_family.initial(x.shape[0], params_a.dtype, params_a.device)
    optima = torch.stack(
        [optimise_per_image(model, q_family, x, p, steps, n_samples, lr) for p in (params_a, prior, *starts)]
    )  # (S, B, P)
    elbo_starts = torch.stack([elbo_with_se(model, q_family, p, x, n_eval)[0] for p in optima])  # (S, B)
    best_start = elbo_starts.argmax(0)  # (B,)
    params_b = optima[best_start, torch.arange(x.shape[0])]  # (B, P)
    elbo_b, se_b = elbo_with_se(model, q_family, params_b, x, n_eval)
    elbo_a, se_a = elbo_with_se(model, q_family, params_a, x, n_eval)
    if log_px is None:
        centre_a, half_a = posterior_window(q_family, params_a)
        centre_b, half_b = posterior_window(q_family, params_b)
        centre = 0.5 * (centre_a + centre_b)
        half = torch.maximum(half_a, half_b) + 0.5 * (centre_a - centre_b).abs().max(-1).values
        *_, log_px = marginal.local_posterior_grid(model, x, centre, half, grid_size)
    return Gaps(log_px, elbo_a, elbo_b, se_a, se_b, params_a, params_b, elbo_starts, best_start)
