"""Tiny models, images and configurations for the tests of training, checkpoints and the caches.

Everything here is small enough for a CPU test: 8x8 images, a 2-D latent, a few dozen hidden units.
"""

from __future__ import annotations

import torch

from vaecourse.config import TrainConfig
from vaecourse.models import VAE


def tiny_model(seed: int = 0, hidden: int = 32, likelihood: str = "bernoulli") -> VAE:
    """A 2-D-latent MLP VAE on 8x8 images, its weights drawn after torch.manual_seed(seed)."""
    torch.manual_seed(seed)
    return VAE(64, hidden, 2, (1, 8, 8), likelihood=likelihood)


def synthetic_images(n: int = 320, seed: int = 0) -> torch.Tensor:
    """Grey 8x8 images p = sigmoid(W h + b) from a 2-D latent h ~ N(0, I): structured, learnable."""
    g = torch.Generator().manual_seed(0)  # the same "true decoder" for every seed
    w = 3 * torch.randn(64, 2, generator=g)
    b = torch.randn(64, generator=g)
    h = torch.randn(n, 2, generator=torch.Generator().manual_seed(seed))  # (n, 2)
    return torch.sigmoid(h @ w.T + b).reshape(n, 1, 8, 8)  # (n, 1, 8, 8) in (0, 1)


def grey_images(n: int, seed: int = 0) -> torch.Tensor:
    """n grey 8x8 images with values strictly inside (0, 1), uniform and without structure."""
    g = torch.Generator().manual_seed(seed)
    return 0.05 + 0.9 * torch.rand(n, 1, 8, 8, generator=g)


def config(**kwargs) -> TrainConfig:
    """A CPU training configuration: 3 epochs of batches of 32 at lr 3e-3 unless ``kwargs`` say otherwise."""
    return TrainConfig(**{"epochs": 3, "batch_size": 32, "lr": 3e-3, "device": "cpu", **kwargs})


def same_state(a: dict, b: dict) -> bool:
    """Two state dicts hold the same names and bit-for-bit the same tensors."""
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    """Two modules hold bit-for-bit the same weights."""
    return same_state(a.state_dict(), b.state_dict())


class EncoderSpy:
    """Wraps VAE.encode: records (training?, input) of every call; may raise on the n-th training call."""

    def __init__(self, monkeypatch, raise_at: int | None = None, error=KeyboardInterrupt):
        self.calls: list[tuple[bool, torch.Tensor]] = []
        self.raise_at, self.error = raise_at, error
        real = VAE.encode

        def encode(model, x):
            if model.training and self.raise_at is not None and self.training_calls() == self.raise_at:
                self.raise_at = None
                raise self.error
            self.calls.append((model.training, x.detach().clone()))
            return real(model, x)

        monkeypatch.setattr(VAE, "encode", encode)

    def training_calls(self) -> int:
        return sum(training for training, _ in self.calls)

    def inputs(self, training: bool) -> list[torch.Tensor]:
        return [x for t, x in self.calls if t == training]
