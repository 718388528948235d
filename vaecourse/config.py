"""The training configuration, :class:`TrainConfig`: what :func:`vaecourse.train.fit` is asked to do.

It lives in its own module so that the training loop (:mod:`vaecourse.train`), the checkpoint format
(:mod:`vaecourse.checkpoints`) and the caches (:mod:`vaecourse.cache`) can all import it without
importing each other. The model's configuration is :class:`vaecourse.models.ModelConfig`.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from vaecourse import validation

BINARIZATIONS = ("dynamic", "static", "grey")

#: Fields of :class:`TrainConfig` that change no trained weight (memory and placement only).
NO_EFFECT_ON_WEIGHTS = ("device", "eval_batch_size")


@dataclass
class TrainConfig:
    """Hyper-parameters of :func:`vaecourse.train.fit` (all but :data:`NO_EFFECT_ON_WEIGHTS` key the caches).

    >>> TrainConfig(epochs=2).batch_size
    128
    """

    # Passes over the training set.
    epochs: int = 10
    # Images per gradient step; 128 as in the Keras and pytorch/examples code.
    batch_size: int = 128
    # Adam learning rate; 1e-3 as in both examples.
    lr: float = 1e-3
    # "dynamic" (fresh Bernoulli draw per use), "static" (one fixed draw) or "grey" (no binarisation).
    binarize: str = "dynamic"
    # Monte Carlo samples L of h per image in the training ELBO (the lecture takes L = 1).
    n_samples: int = 1
    # Seed of the batch order, the binarisation and the noise eps: same seed, same history.
    seed: int = 0
    # Images per forward pass when evaluating the test ELBO (memory only, no effect on results).
    eval_batch_size: int = 1000
    # "cpu", "cuda", "mps" or None for vaecourse.device.default_device(); not part of the cache key.
    device: str | None = None

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "n_samples", "eval_batch_size"):
            validation.require_count(getattr(self, name), name, minimum=0 if name == "epochs" else 1)
        if not (isinstance(self.lr, (int, float)) and math.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"lr must be a positive finite number, got {self.lr!r}")
        if self.binarize not in BINARIZATIONS:
            raise ValueError(f"binarize must be one of {BINARIZATIONS}, got {self.binarize!r}")

    def to_dict(self) -> dict:
        return asdict(self)

    def fields_that_change_weights(self) -> dict:
        """The fields that change the trained weights: all but :data:`NO_EFFECT_ON_WEIGHTS`.

        The one list used by every cache key and by the resume check (which also lets ``epochs`` grow).
        """
        return {k: v for k, v in asdict(self).items() if k not in NO_EFFECT_ON_WEIGHTS}


__all__ = ["TrainConfig", "BINARIZATIONS", "NO_EFFECT_ON_WEIGHTS"]
