"""A decoder powerful enough to ignore h: the lecture's MLP decoder plus an autoregressive term.

Pixel :math:`d` gets the logit (label ``eq:autoregressive-decoder``; MADE and PixelCNN in miniature,
Germain et al. 2015; the collapse it invites: Bowman et al. 2016, Chen et al. 2017)

.. math:: \\ell_d(\\mathbf{h}, \\mathbf{x}_{<d}) = f_\\Theta(\\mathbf{h})_d + \\sum_{e<d} A_{de}\\,x_e + b_d,
          \\qquad \\log p(\\mathbf{x}|\\mathbf{h}) = \\sum_d \\log\\mathrm{Bernoulli}(x_d;\\sigma(\\ell_d)),

with :math:`A` strictly lower triangular in raster order. Such a decoder can model the pixels
without :math:`\\mathbf{h}` (each pixel from the ones above it), and then the ELBO's optimum is
:math:`Q(\\mathbf{h}|\\mathbf{x}) = p(\\mathbf{h})`: the rate is zero and the latent space unused.
Chapter book/kl_in_practice.md.
"""

from __future__ import annotations

import torch
from torch import nn

from vaecourse.models import VAE

__all__ = ["AutoregressiveVAE"]


class AutoregressiveVAE(VAE):
    """The lecture's MLP VAE whose logits also see the preceding pixels.

    ``eq:autoregressive-decoder``. ``x`` is (B, 1, 28, 28) or (B, 784);
    ``log_likelihood(x, h)`` as :class:`vaecourse.models.VAE`: h (B, k) ->
    (B,), h (S, B, k) -> (S, B). There is no ``decoder_mean`` (the pixels
    depend on each other); :meth:`sample_images` draws pixel by pixel.
    """

    def __init__(self, hidden: int = 200, latent_dim: int = 2):
        super().__init__(784, hidden, latent_dim, (1, 28, 28))
        # A, and the mask that keeps only e < d (strictly lower triangle)
        self.pixel_weights = nn.Parameter(torch.zeros(784, 784))
        lower = torch.tril(torch.ones(784, 784), diagonal=-1)
        self.register_buffer("mask", lower)

    def _autoregressive_logits(self, x_flat: torch.Tensor) -> torch.Tensor:
        # (B, 784): sum over e < d of A_de x_e, for every pixel d
        return x_flat @ (self.pixel_weights * self.mask).T

    def logits(self, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        """l_d(h, x_<d): x (B, ...), h (..., B, k) -> (..., B, 784)."""
        x_flat = x.reshape(x.shape[0], 784)  # (B, 784)
        flat_h = h.reshape(-1, self.latent_dim)
        f = self.decoder(flat_h).reshape(*h.shape[:-1], 784)  # (..., B, 784)
        return f + self._autoregressive_logits(x_flat)  # over sample dims

    def log_likelihood(self, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        """sum_d log Bernoulli(x_d; sigmoid(l_d)): (B,) or (S, B)."""
        x_flat = x.reshape(x.shape[0], 784)
        logits = self.logits(x, h)
        return (x_flat * logits - nn.functional.softplus(logits)).sum(-1)

    def decoder_mean(self, h: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError("an autoregressive decoder has no closed-form mean image; use sample_images")

    @torch.no_grad()
    def sample_images(self, h: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Binary images drawn pixel by pixel: h (N, k) -> (N, 1, 28, 28)."""
        base = self.decoder(h)  # (N, 784)
        weights = self.pixel_weights * self.mask
        x = torch.zeros_like(base)
        for d in range(784):
            logit = base[:, d] + x @ weights[d]
            p = torch.sigmoid(logit)
            x[:, d] = torch.bernoulli(p, generator=generator)
        return x.reshape(-1, 1, 28, 28)
