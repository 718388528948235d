"""Latent interpolation: decode the straight line between the codes of two test images, in the browser.

book/latent_space.md. A slider $t$ walks $\\mathbf{h}(t) = (1-t)\\,\\boldsymbol\\mu(\\mathbf{x}_a) +
t\\,\\boldsymbol\\mu(\\mathbf{x}_b)$ and ``vaecourse/js/src/mlp_decoder.js`` decodes the path.
"""

from __future__ import annotations

import numpy as np
import traitlets

from vaecourse import models
from vaecourse.widgets.browser import BrowserDecoder, bundle
from vaecourse.widgets.common import (
    DecodingWidget,
    check_images,
    check_labels,
    in_range,
    to_uint8,
)


class Interpolation(DecodingWidget):
    """Slide between the latent codes of two test images; the decoded path is drawn in the browser.

    $\\mathbf{h}(t) = (1-t)\\,\\boldsymbol\\mu(\\mathbf{x}_a) + t\\,\\boldsymbol\\mu(\\mathbf{x}_b)$,
    $t \\in [0, 1]$; book/latent_space.md. ``model`` is a trained MLP VAE (any ``latent_dim``); the
    first ``n_images`` test images can be picked as the ends ``index_a``, ``index_b`` (synced traits,
    like the position ``t``), named with their ``labels``; the path strip shows ``steps + 1`` decoded
    images; for a 2-D model ``n_points`` encoded images are scattered under the path (0: no plane).
    ``decoder`` is a :class:`BrowserDecoder` shared with other widgets of the same model.

    Shapes: x (N, 1, H, W) or (N, H*W); labels (N,) integers or None.
    Raises ``ValueError`` for fewer than 2 images, ends outside 0..n_images-1, t outside [0, 1],
    steps outside 1..32, or a model the widget cannot show.
    """

    _esm = bundle("interpolation")
    images = traitlets.Bytes().tag(sync=True)  # (n_images, H*W) uint8
    codes = traitlets.Bytes().tag(sync=True)  # (n_images, latent_dim) float32
    image_names = traitlets.List(traitlets.Unicode()).tag(sync=True)
    index_a = traitlets.Int(0).tag(sync=True)
    index_b = traitlets.Int(1).tag(sync=True)
    t = traitlets.Float(0.5).tag(sync=True)
    steps = traitlets.Int(8).tag(sync=True)

    def __init__(
        self,
        model,
        x,
        labels=None,
        *,
        decoder: BrowserDecoder | None = None,
        n_images: int = 12,
        index_a: int = 0,
        index_b: int = 1,
        t: float = 0.5,
        steps: int = 8,
        n_points: int = 1000,
        **kwargs,
    ):
        x = check_images(model, x)
        n_images = min(int(n_images), len(x))
        if n_images < 2:
            raise ValueError(f"x: Interpolation needs at least 2 test images, got {n_images}")
        if not (0 <= index_a < n_images and 0 <= index_b < n_images):
            raise ValueError(f"index_a, index_b: must lie in 0..{n_images - 1}, got {index_a}, {index_b}")
        if not 0.0 <= t <= 1.0:
            raise ValueError(f"t: must lie in [0, 1], got {t}")
        if not 1 <= steps <= 32:
            raise ValueError(f"steps: must lie in 1..32, got {steps}")
        super().__init__(**kwargs)
        self._attach(model, decoder)
        label_values = check_labels(labels, n_images)
        codes = models.encoder_means(model, x[:n_images]).cpu().numpy().astype("<f4")  # (n_images, latent_dim)
        self.images = to_uint8(x[:n_images].reshape(n_images, -1))
        self.codes = codes.tobytes()
        self.image_names = [
            f"#{i}" + (f" (label {label_values[i]})" if len(label_values) else "") for i in range(n_images)
        ]
        if self.latent_dim == 2 and n_points > 0:
            self._scatter(x, labels, n_points)
        self.index_a, self.index_b, self.t, self.steps = int(index_a), int(index_b), float(t), int(steps)

    _valid_t = in_range("t", 0.0, 1.0)
    _valid_steps = in_range("steps", 1, 32)
    _valid_index_a = in_range("index_a", 0, "_last_image")
    _valid_index_b = in_range("index_b", 0, "_last_image")

    def _last_image(self) -> int:
        return len(self.image_names) - 1 if self.image_names else 10**9  # during construction: checked there

    def path(self, t) -> np.ndarray:
        """The latent points $\\mathbf{h}(t) = (1-t)\\,\\boldsymbol\\mu_a + t\\,\\boldsymbol\\mu_b$, computed in Python.

        Shapes: t (T,) -> (T, latent_dim).
        """
        codes = np.frombuffer(self.codes, dtype="<f4").reshape(-1, self.latent_dim)
        a, b = codes[self.index_a], codes[self.index_b]
        t = np.asarray(t, dtype=np.float64)[:, None]  # (T, 1)
        return (1 - t) * a + t * b  # (T, latent_dim)
