"""Evaluating a trained VAE as a researcher would: test-set ELBO, importance-weighted log p(x), and,
for 2-D latents, log p(x) by quadrature and the gap log p(x) - ELBO.

- ELBO: $\\mathcal{L}(\\mathbf{x}) = \\mathbb{E}_Q[\\log p(\\mathbf{x}\\mid\\mathbf{h})]
  - \\mathcal{D}[Q(\\mathbf{h}\\mid\\mathbf{x})\\,\\|\\,p(\\mathbf{h})]$ (Kingma & Welling 2013).
- IWAE: $\\mathcal{L}_k(\\mathbf{x}) = \\mathbb{E}\\log\\frac1k\\sum_{i=1}^k
  \\frac{p(\\mathbf{x},\\mathbf{h}_i)}{Q(\\mathbf{h}_i\\mid\\mathbf{x})}$, $\\mathbf{h}_i\\sim Q$;
  $\\mathcal{L}\\le\\mathcal{L}_k\\le\\log p(\\mathbf{x})$, tight as $k\\to\\infty$ (Burda, Grosse &
  Salakhutdinov 2015, arXiv:1509.00519; the published MNIST numbers use $k = 5000$).
- Gap: $\\log p(\\mathbf{x}) - \\mathcal{L}(\\mathbf{x}) = \\mathcal{D}[Q(\\mathbf{h}\\mid\\mathbf{x})\\,\\|\\,
  p(\\mathbf{h}\\mid\\mathbf{x})]$, the lecture's central equation (``eq:central``, book/bayes_rule.md).

The estimators themselves are :mod:`vaecourse.elbo`'s; this module batches them over a data set so
memory stays bounded; ``python -m vaecourse evaluate`` (:mod:`vaecourse.cli`) prints them for a checkpoint.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from vaecourse import device
from vaecourse import elbo as _elbo
from vaecourse import marginal as _marginal
from vaecourse.models import VAEModel, decoder_floats
from vaecourse.validation import require_count

#: At least this many images share a call of elbo.iwae (their k samples drawn in chunks), so that a
#: large k still decodes batches of many samples at once.
_IMAGES_PER_CALL = 16


def _check(x: torch.Tensor, model) -> torch.Tensor:
    if not isinstance(x, torch.Tensor) or x.ndim < 2 or x.shape[0] == 0:
        raise ValueError(f"x must be a non-empty batch of images (N, ...), got {getattr(x, 'shape', type(x))}")
    if math.prod(x.shape[1:]) != math.prod(model.data_shape):
        raise ValueError(f"x has images of shape {tuple(x.shape[1:])}, the model expects {model.data_shape}")
    return x


@torch.no_grad()
def elbo_per_image(model: VAEModel, x: torch.Tensor, *, n_samples: int = 1, batch_size: int = 1000) -> torch.Tensor:
    """ELBO of each image (nats), ``(N,)``, from :func:`vaecourse.elbo.elbo` in batches of images.

    ``x``: ``(N, *data_shape)`` already binarised (or grey). Stochastic in h, as an ELBO must be
    (pytorch/examples PR #419).
    """
    _check(x, model)
    was_training = model.training
    model.eval()
    on = device.of(model)
    out = torch.cat(
        [
            _elbo.elbo(model, x[i : i + batch_size].to(on, torch.float32), n_samples=n_samples).cpu()
            for i in range(0, x.shape[0], batch_size)
        ]
    )
    model.train(was_training)
    return out


@torch.no_grad()
def iwae_per_image(model: VAEModel, x: torch.Tensor, k: int = 5000, *, chunk_size: int | None = None) -> torch.Tensor:
    """Importance-weighted estimate $\\mathcal{L}_k$ of $\\log p(\\mathbf{x})$ per image, ``(N,)``.

    Images go to :func:`vaecourse.elbo.iwae` as many at a time as fit with all k samples in one chunk
    of :func:`vaecourse.marginal.chunk_size`, and at least 16 (whose k samples are then drawn in
    chunks of ``chunk_size`` samples, by default that same rule, each sample costing the numbers its
    decoder holds, :func:`vaecourse.models.decoder_floats`): at most about :math:`2^{22}` numbers are
    held at once, so k = 5000 on MNIST fits in memory for the MLP and the conv decoder alike. Raises ``ValueError``
    for k < 1 or chunk_size < 1.
    """
    require_count(k, "k")
    if chunk_size is not None:
        require_count(chunk_size, "chunk_size")
    _check(x, model)
    was_training = model.training
    model.eval()
    on = device.of(model)
    n = x.shape[0]
    per_sample = decoder_floats(model)  # numbers one decoded sample holds (the conv decoder's maps)
    images = max(min(_IMAGES_PER_CALL, n), _marginal.chunk_size(x[:1], n * k, per_sample) // k)
    parts = []
    for i in range(0, n, images):
        batch = x[i : i + images].to(on, torch.float32)
        chunk = chunk_size or _marginal.chunk_size(batch, k, batch.shape[0] * per_sample)
        parts.append(_elbo.iwae(model, batch, k, chunk_size=chunk).cpu())
    model.train(was_training)
    return torch.cat(parts)


@torch.no_grad()
def quadrature_gap(
    model: VAEModel, x: torch.Tensor, *, grid_size: int = 201, limit: float = 6.0, n_samples: int = 100
) -> dict:
    """For a 2-D latent: ``log_px`` by quadrature (:func:`vaecourse.marginal.log_px_quadrature`), the ELBO
    averaged over ``n_samples`` draws, and ``gap = log_px - elbo`` $= \\mathcal{D}[Q\\|p(\\mathbf{h}\\mid
    \\mathbf{x})]$ per image; each ``(N,)``. Raises ``ValueError`` unless ``model.latent_dim == 2``."""
    if model.latent_dim != 2:
        raise ValueError(
            f"quadrature needs a 2-D latent space, the model has latent_dim={model.latent_dim}; "
            "use iwae_per_image instead"
        )
    _check(x, model)
    log_px = _marginal.log_px_quadrature(
        model, x.to(device.of(model), torch.float32), grid_size=grid_size, limit=limit
    ).cpu()  # chunked by marginal's memory rule
    elbo = elbo_per_image(model, x, n_samples=n_samples, batch_size=100)
    return {"log_px": log_px, "elbo": elbo, "gap": log_px - elbo}


@dataclass
class Evaluation:
    """Test-set summary in nats per image (means over the images)."""

    n_images: int
    elbo: float
    log_px_iwae: float | None
    iwae_k: int | None
    log_px_quadrature: float | None = None
    grey: bool = False

    def __repr__(self) -> str:
        lines = [
            f"Evaluation on {self.n_images} test images (nats per image)",
            f"  ELBO                   {self.elbo:10.2f}",
        ]
        if self.log_px_iwae is not None:
            lines.append(f"  log p(x), IWAE k={self.iwae_k:<5d} {self.log_px_iwae:10.2f}")
        if self.log_px_quadrature is not None:
            lines.append(f"  log p(x), quadrature   {self.log_px_quadrature:10.2f}")
            lines.append(f"  gap log p(x) - ELBO    {self.log_px_quadrature - self.elbo:10.2f}")
        if self.grey:
            lines.append("  (grey-level images scored with the Bernoulli formula: not log-likelihoods)")
        return "\n".join(lines)


def evaluate(
    model: VAEModel,
    x: torch.Tensor,
    *,
    iwae_k: int = 5000,
    quadrature: bool | None = None,
    grey: bool = False,
    grid_size: int = 201,
) -> Evaluation:
    """Test ELBO (mean of one-sample ELBOs), IWAE log p(x) with ``iwae_k`` samples (0 skips it) and,
    for 2-D latents (``quadrature`` None means "if 2-D"), log p(x) by quadrature. ``x`` prepared
    (binarised or grey), ``(N, *data_shape)``."""
    _check(x, model)
    elbo = float(elbo_per_image(model, x).mean())
    iwae = float(iwae_per_image(model, x, iwae_k).mean()) if iwae_k else None
    quad = None
    if quadrature or (quadrature is None and model.latent_dim == 2):
        quad = float(quadrature_gap(model, x, n_samples=1, grid_size=grid_size)["log_px"].mean())
    return Evaluation(x.shape[0], elbo, iwae, iwae_k or None, quad, grey)


__all__ = ["elbo_per_image", "iwae_per_image", "quadrature_gap", "Evaluation", "evaluate"]
