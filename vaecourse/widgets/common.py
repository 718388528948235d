"""What the widgets share: the checks of the images and labels handed to them, and :class:`DecodingWidget`.

book/latent_space.md. :class:`DecodingWidget` is the common part of the widgets whose decoder runs in
the browser (:class:`~vaecourse.widgets.LatentExplorer`, :class:`~vaecourse.widgets.Interpolation`): the
shared :class:`~vaecourse.widgets.browser.BrowserDecoder`, the scatter of encoded test images and
:meth:`DecodingWidget.decode`, torch's decoder mean the page is tested against. :func:`in_range` is the
one check of a synced number trait.
"""

from __future__ import annotations

import math

import anywidget
import ipywidgets
import numpy as np
import torch
import traitlets

from vaecourse import device, models
from vaecourse.validation import require_count
from vaecourse.widgets.browser import (
    STYLE,
    BrowserDecoder,
    export_decoder,
    exported_from,
    image_shape,
    latent_dim_of,
)


def as_tensor(x, name: str) -> torch.Tensor:
    """x as a torch tensor (numpy arrays are wrapped). Raises ``ValueError`` naming ``name`` for another type."""
    if isinstance(x, np.ndarray):
        x = torch.from_numpy(x)
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"{name}: expected a torch tensor or numpy array, got {type(x).__name__}")
    return x


def check_images(model, x, name: str = "x") -> torch.Tensor:
    """Test images for ``model``'s widgets, checked: (N, 1, H, W) or (N, H*W), N >= 1, finite.

    Raises ``ValueError`` naming ``name`` and the expected shape otherwise.
    """
    x = as_tensor(x, name)
    height, width = image_shape(model)
    if x.ndim >= 1 and len(x) == 0:
        raise ValueError(f"{name}: no images given; pass at least one image")
    if x.ndim < 2 or x[0].numel() != height * width:
        raise ValueError(
            f"{name}: expected test images of shape (N, 1, {height}, {width}) or (N, {height * width}), "
            f"got {tuple(x.shape)}"
        )
    if not torch.isfinite(x.float()).all():
        raise ValueError(f"{name}: contains NaN or infinite values")
    return x


def check_labels(labels, n: int) -> np.ndarray:
    """The first n labels as (n,) uint8 (empty for None). Raises ``ValueError`` for fewer labels or values
    outside 0..255."""
    if labels is None:
        return np.zeros(0, dtype=np.uint8)
    labels = as_tensor(labels, "labels").reshape(-1)
    if len(labels) < n:
        raise ValueError(f"labels: {len(labels)} labels for {n} images")
    labels = labels[:n].to(torch.int64).numpy()
    if labels.min() < 0 or labels.max() > 255:
        raise ValueError("labels: expected integer class labels in 0..255")
    return labels.astype(np.uint8)


def plane_limit(points: np.ndarray) -> float:
    """Half-width of the square latent plane: covers 99.5% of the points and the prior's +-2.5 sigma."""
    reach = float(np.quantile(np.abs(points), 0.995)) if points.size else 0.0
    return float(math.ceil(max(2.5, reach) * 2) / 2)


def to_uint8(images: torch.Tensor) -> bytes:
    """Images in [0, 1] (clipped) as bytes of uint8 pixels, round(255 x)."""
    return (images.float().clamp(0, 1) * 255).round().to(torch.uint8).numpy().tobytes()


def widget_repr(widget) -> str:
    """What a notebook shows in place of a widget whose state it did not store: one line, what to do."""
    return f"{type(widget).__name__} (an interactive widget: run this cell in a live kernel to see it)"


def in_range(name: str, low, high=None):
    """The one check of a synced number trait: a ``traitlets`` validator refusing values outside
    ``[low, high]`` (a bound may be a method name, read at validation time), so that a value set after
    construction (``widget.t = 2``) is refused as the constructor refuses it. Raises ``TraitError``."""

    def bound(widget, b):
        return getattr(widget, b)() if isinstance(b, str) else b

    @traitlets.validate(name)
    def check(widget, proposal):
        value, lo, hi = proposal["value"], bound(widget, low), bound(widget, high)
        if value != value or value < lo or (hi is not None and value > hi):  # value != value: NaN
            where = f"[{lo}, {hi}]" if hi is not None else f">= {lo}"
            raise traitlets.TraitError(f"{name}: must lie in {where}, got {value!r}")
        return value

    return check


class DecodingWidget(anywidget.AnyWidget):
    """Common part of the widgets whose decoder runs in the browser."""

    __repr__ = widget_repr

    _css = STYLE
    # A widget reference ("IPY_MODEL_<id>" in the state): the page then carries the weights once, and
    # ipywidgets' embedding tools include the decoder with every widget that uses it.
    decoder = traitlets.Instance(BrowserDecoder, allow_none=True).tag(sync=True, **ipywidgets.widget_serialization)
    image_size = traitlets.Int(168).tag(sync=True)
    plane_size = traitlets.Int(320).tag(sync=True)
    points = traitlets.Bytes(b"").tag(sync=True)  # (N, 2) float32: encoder means, first two dims
    labels = traitlets.Bytes(b"").tag(sync=True)  # (N,) uint8, or empty
    limit = traitlets.Float(3.0).tag(sync=True)

    def _attach(self, model, decoder: BrowserDecoder | None) -> None:
        self.model = model
        self.latent_dim = latent_dim_of(model)
        shared, decoder = decoder is not None, decoder if decoder is not None else export_decoder(model)
        if not isinstance(decoder, BrowserDecoder):
            raise ValueError(
                f"decoder: expected a BrowserDecoder from export_decoder(model), got {type(decoder).__name__}"
            )
        if decoder.spec.get("latent_dim") != self.latent_dim:
            raise ValueError(
                f"decoder: it was exported from a model with latent_dim={decoder.spec.get('latent_dim')}, "
                f"this model has latent_dim={self.latent_dim}"
            )
        if shared and not exported_from(decoder, model):
            raise ValueError(
                "decoder: it was exported from another model (its weights differ), so the browser "
                "would draw that model; pass export_decoder(model) of this model"
            )
        self.decoder = decoder

    _valid_image_size = in_range("image_size", 16, 1024)
    _valid_limit = in_range("limit", 1e-6, 1e6)

    def _scatter(self, x: torch.Tensor, labels, n_points: int) -> torch.Tensor:
        x = x[: require_count(n_points, "n_points")]
        means = models.encoder_means(self.model, x).to("cpu", torch.float32)  # (N, latent_dim)
        plane = means[:, :2].numpy().astype("<f4")  # (N, 2)
        self.points = plane.tobytes()
        self.labels = check_labels(labels, len(x)).tobytes()
        self.limit = plane_limit(plane)
        return means

    def decode(self, h) -> np.ndarray:
        """The decoder mean $\\mathbb{E}[\\mathbf{x}\\mid\\mathbf{h}]$ at latent point(s) h, computed by torch.

        The reference the browser's decoder is tested against; book/latent_space.md.

        Shapes: h (..., latent_dim) -> (..., H, W) numpy array.
        Raises ``ValueError`` when h's last dimension is not ``latent_dim``.
        """
        on, dtype = device.placement(self.model)
        h = torch.as_tensor(np.asarray(h, dtype=np.float64), device=on, dtype=dtype)
        if h.shape[-1] != self.latent_dim:
            raise ValueError(f"h: last dimension must be latent_dim={self.latent_dim}, got shape {tuple(h.shape)}")
        with torch.no_grad():
            mean = self.model.decoder_mean(h)
        return mean.reshape(*h.shape[:-1], *image_shape(self.model)).cpu().numpy()
