"""The browser decoder shared by the latent-space widgets: an MLP decoder's weights in the widget state.

book/latent_space.md. The in-browser widgets (:class:`~vaecourse.widgets.LatentExplorer`,
:class:`~vaecourse.widgets.Interpolation`) run the decoder in JavaScript: :func:`export_decoder` puts the
weights of an MLP decoder $\\mathbf{a}_l = g_l(W_l \\mathbf{a}_{l-1} + b_l)$ into one float32 buffer
(a :class:`BrowserDecoder`, shared by every widget of one model, so a page carries them once), and
``vaecourse/js/mlp_decoder.js`` evaluates it. Also here: the checks of the images and labels handed to a
widget, and :class:`_DecodingWidget`, the common part of the widgets whose decoder runs in the browser.
"""

from __future__ import annotations

import math
from functools import lru_cache
from pathlib import Path

import anywidget
import ipywidgets
import numpy as np
import torch
import traitlets

from vaecourse import device, models
from vaecourse.validation import require_count

_JS = Path(__file__).resolve().parent.parent / "js"

#: The most decoder weight bytes a widget accepts by default: the page budget is 2 MB and the state
#: is stored base64-encoded (4/3 of the raw size).
MAX_DECODER_BYTES = 1_450_000
_ACTIVATIONS = {torch.nn.ReLU: "relu", torch.nn.Tanh: "tanh"}
#: The decoder mean as a function of the last layer's output, by the model's declared likelihood.
OUTPUT_MAPS = {"bernoulli": "sigmoid", "gaussian": "identity"}


@lru_cache(maxsize=None)
def _bundle(*names: str) -> str:
    """Concatenate front-end files from vaecourse/js into one ES module (helpers first)."""
    return "\n".join((_JS / name).read_text() for name in names)


# --------------------------------------------------------------------------------------------------
# The decoder, as the browser will run it


def _where(model) -> tuple[torch.device, torch.dtype]:
    """The device (:func:`vaecourse.device.of`) and the floating dtype of the model's parameters."""
    parameter = next(iter(model.parameters()), None)
    return device.of(model), parameter.dtype if parameter is not None else torch.get_default_dtype()


def _latent_dim(model) -> int:
    latent_dim = getattr(model, "latent_dim", None)
    if not isinstance(latent_dim, int) or latent_dim < 1:
        raise ValueError(
            f"model: expected a VAE with an integer `latent_dim` >= 1 (the course's model protocol), "
            f"got {type(model).__name__} with latent_dim={latent_dim!r}"
        )
    return latent_dim


def image_shape(model) -> tuple[int, int]:
    """The (height, width) of the grey image the model's decoder produces; book/latent_space.md.

    Shapes: ``model.data_shape`` (H, W) or (1, H, W) -> (H, W).
    Raises ``ValueError`` for other shapes (colour channels, vectors, missing ``data_shape``), which the
    widgets cannot draw as one image.
    """
    shape = getattr(model, "data_shape", None)
    if shape is None:
        raise ValueError(
            f"model: {type(model).__name__} has no `data_shape`; the widgets draw the decoder output as "
            "an image of shape (1, H, W) or (H, W)"
        )
    shape = tuple(int(s) for s in shape)
    if len(shape) == 3 and shape[0] == 1:
        shape = shape[1:]
    if len(shape) != 2 or min(shape) < 1:
        raise ValueError(
            f"model: output shape {tuple(getattr(model, 'data_shape'))} cannot be shown as one grey image; "
            "the widgets need data_shape (1, H, W) or (H, W). Use vaecourse.plotting for other data."
        )
    return shape


def mlp_decoder_layers(model) -> tuple[list[tuple[torch.Tensor, torch.Tensor, str]], str]:
    """Read an MLP decoder as ``[(W (n_out, n_in), b (n_out,), activation), ...]`` and its output map.

    The network is $\\mathbf{a}_0 = \\mathbf{h}$, $\\mathbf{a}_l = g_l(W_l \\mathbf{a}_{l-1} + b_l)$ with
    $g_l \\in \\{\\mathrm{relu}, \\tanh, \\mathrm{none}\\}$, and the decoder mean is
    $o(\\mathbf{a}_L)$: the sigmoid for ``model.likelihood == "bernoulli"``, the identity for
    ``"gaussian"`` (:data:`OUTPUT_MAPS`). book/latent_space.md.

    Shapes: layer l gives W (n_out, n_in) and b (n_out,), from latent_dim inputs to prod(data_shape).
    Raises ``ValueError`` naming the problem when the model has no ``decoder.net``, the net holds a
    layer other than ``nn.Linear``/``nn.ReLU``/``nn.Tanh``, the layer sizes do not chain from
    ``latent_dim`` to ``prod(data_shape)``, or the model declares no likelihood the browser can run.
    """
    latent_dim = _latent_dim(model)
    height, width = image_shape(model)
    net = getattr(getattr(model, "decoder", None), "net", None)
    if not isinstance(net, torch.nn.Sequential):
        raise ValueError(
            f"model: {type(model).__name__} has no MLP decoder `model.decoder.net` (an nn.Sequential of "
            "Linear/ReLU/Tanh layers); the in-browser widgets can only run vaecourse.models.VAE's MLP "
            "decoder. For other models (e.g. ConvVAE) use the static figures in vaecourse.plotting."
        )
    layers: list[list] = []
    for position, layer in enumerate(net):
        if isinstance(layer, torch.nn.Linear):
            if layer.bias is None:
                raise ValueError(f"model.decoder.net[{position}]: Linear without bias is not supported")
            layers.append([layer.weight.detach(), layer.bias.detach(), "none"])
        elif type(layer) in _ACTIVATIONS:
            if not layers or layers[-1][2] != "none":
                raise ValueError(
                    f"model.decoder.net[{position}]: an activation must follow a Linear layer"
                )
            layers[-1][2] = _ACTIVATIONS[type(layer)]
        else:
            raise ValueError(
                f"model.decoder.net[{position}] is {type(layer).__name__}: the in-browser decoder supports "
                "only nn.Linear, nn.ReLU and nn.Tanh layers (use vaecourse.plotting for other decoders)"
            )
    if not layers:
        raise ValueError("model.decoder.net has no Linear layer")
    n_in = latent_dim
    for position, (weight, _, _) in enumerate(layers):
        if weight.shape[1] != n_in:
            raise ValueError(
                f"decoder Linear layer {position} expects {weight.shape[1]} inputs but receives {n_in} "
                f"(latent_dim={latent_dim})"
            )
        n_in = weight.shape[0]
    if n_in != height * width:
        raise ValueError(
            f"decoder output has {n_in} values but data_shape {tuple(model.data_shape)} has {height * width}"
        )
    likelihood = getattr(model, "likelihood", None)
    if likelihood not in OUTPUT_MAPS:
        raise ValueError(
            f"model.likelihood is {likelihood!r}: the in-browser decoder runs the decoder mean of a "
            f"{' or '.join(map(repr, OUTPUT_MAPS))} likelihood only"
        )
    output = OUTPUT_MAPS[likelihood]
    return [tuple(layer) for layer in layers], output


class BrowserDecoder(anywidget.AnyWidget):
    """The decoder's weights in the widget state, shared by the widgets that show one model.

    book/latent_space.md. ``spec`` describes the layers (``n_in``, ``n_out``, ``activation``), ``latent_dim``,
    ``data_shape`` and the ``output`` map; ``weights`` holds, layer after layer, $W$ (n_out, n_in)
    row-major then $b$ (n_out,), as little-endian float32. It has no view of its own: display a
    :class:`LatentExplorer` or :class:`Interpolation` instead. Build it with :func:`export_decoder`.
    """

    _esm = "export default {};\n"
    spec = traitlets.Dict().tag(sync=True)
    weights = traitlets.Bytes().tag(sync=True)


def export_decoder(model, max_bytes: int = MAX_DECODER_BYTES, dtype: str = "float32") -> BrowserDecoder:
    """Put ``model``'s MLP decoder into a :class:`BrowserDecoder` (float32 or float16 weights + spec).

    ``dtype="float16"`` halves the page weight; the browser widens the numbers back to float32.

    book/latent_space.md. Shapes: the weights are layer after layer W (n_out, n_in) then b (n_out,).
    Raises ``ValueError`` when the decoder cannot run in the browser (see :func:`mlp_decoder_layers`)
    or its weights exceed ``max_bytes`` (pass a larger ``max_bytes`` to accept a heavier page), or
    ``dtype`` is neither "float32" nor "float16".
    """
    if dtype not in ("float32", "float16"):
        raise ValueError(f"dtype: expected 'float32' or 'float16', got {dtype!r}")
    layers, output = mlp_decoder_layers(model)
    height, width = image_shape(model)
    chunks, spec_layers = [], []
    stored = "<f4" if dtype == "float32" else "<f2"
    for weight, bias, activation in layers:
        chunks.append(weight.to("cpu", torch.float32).contiguous().numpy().astype(stored).ravel())
        chunks.append(bias.to("cpu", torch.float32).contiguous().numpy().astype(stored).ravel())
        spec_layers.append({"n_in": int(weight.shape[1]), "n_out": int(weight.shape[0]), "activation": activation})
    weights = np.concatenate(chunks).tobytes()
    if len(weights) > max_bytes:
        raise ValueError(
            f"model: the decoder's weights take {len(weights) / 1e6:.2f} MB, more than max_bytes="
            f"{max_bytes / 1e6:.2f} MB (a page-size budget of 2 MB after base64); use a smaller decoder or "
            "pass a larger max_bytes"
        )
    spec = {
        "latent_dim": _latent_dim(model),
        "data_shape": [height, width],
        "output": output,
        "layers": spec_layers,
        "dtype": dtype,
    }
    return BrowserDecoder(spec=spec, weights=weights)


# --------------------------------------------------------------------------------------------------
# Data handed to the widgets


def _as_tensor(x, name: str) -> torch.Tensor:
    if isinstance(x, np.ndarray):
        x = torch.from_numpy(x)
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"{name}: expected a torch tensor or numpy array, got {type(x).__name__}")
    return x


def _check_images(model, x, name: str = "x") -> torch.Tensor:
    x = _as_tensor(x, name)
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


def _check_labels(labels, n: int) -> np.ndarray:
    if labels is None:
        return np.zeros(0, dtype=np.uint8)
    labels = _as_tensor(labels, "labels").reshape(-1)
    if len(labels) < n:
        raise ValueError(f"labels: {len(labels)} labels for {n} images")
    labels = labels[:n].to(torch.int64).numpy()
    if labels.min() < 0 or labels.max() > 255:
        raise ValueError("labels: expected integer class labels in 0..255")
    return labels.astype(np.uint8)


def _plane_limit(points: np.ndarray) -> float:
    """Half-width of the square latent plane: covers 99.5% of the points and the prior's +-2.5 sigma."""
    reach = float(np.quantile(np.abs(points), 0.995)) if points.size else 0.0
    return float(math.ceil(max(2.5, reach) * 2) / 2)


def _to_uint8(images: torch.Tensor) -> bytes:
    return (images.float().clamp(0, 1) * 255).round().to(torch.uint8).numpy().tobytes()


def _widget_repr(widget) -> str:
    """What a notebook shows in place of a widget whose state it did not store: one line, what to do."""
    return f"{type(widget).__name__} (an interactive widget: run this cell in a live kernel to see it)"


def _exported_from(decoder: BrowserDecoder, model) -> bool:
    """Whether ``decoder`` holds exactly ``model``'s decoder weights (a shared decoder must)."""
    try:
        dtype = decoder.spec.get("dtype", "float32")
        return export_decoder(model, max_bytes=max(len(decoder.weights), 1), dtype=dtype).weights == decoder.weights
    except ValueError:  # another size, or a decoder the browser cannot run
        return False


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


class _DecodingWidget(anywidget.AnyWidget):
    """Common part of the widgets whose decoder runs in the browser."""

    __repr__ = _widget_repr

    _css = _bundle("widgets.css")
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
        self.latent_dim = _latent_dim(model)
        shared, decoder = decoder is not None, decoder if decoder is not None else export_decoder(model)
        if not isinstance(decoder, BrowserDecoder):
            raise ValueError(f"decoder: expected a BrowserDecoder from export_decoder(model), got {type(decoder).__name__}")
        if decoder.spec.get("latent_dim") != self.latent_dim:
            raise ValueError(
                f"decoder: it was exported from a model with latent_dim={decoder.spec.get('latent_dim')}, "
                f"this model has latent_dim={self.latent_dim}"
            )
        if shared and not _exported_from(decoder, model):
            raise ValueError("decoder: it was exported from another model (its weights differ), so the browser "
                             "would draw that model; pass export_decoder(model) of this model")
        self.decoder = decoder

    _valid_image_size = in_range("image_size", 16, 1024)
    _valid_limit = in_range("limit", 1e-6, 1e6)

    def _scatter(self, x: torch.Tensor, labels, n_points: int) -> torch.Tensor:
        x = x[:require_count(n_points, "n_points")]
        means = models.encoder_means(self.model, x).to("cpu", torch.float32)  # (N, latent_dim)
        plane = means[:, :2].numpy().astype("<f4")  # (N, 2)
        self.points = plane.tobytes()
        self.labels = _check_labels(labels, len(x)).tobytes()
        self.limit = _plane_limit(plane)
        return means

    def decode(self, h) -> np.ndarray:
        """The decoder mean $\\mathbb{E}[\\mathbf{x}\\mid\\mathbf{h}]$ at latent point(s) h, computed by torch.

        The reference the browser's decoder is tested against; book/latent_space.md.

        Shapes: h (..., latent_dim) -> (..., H, W) numpy array.
        Raises ``ValueError`` when h's last dimension is not ``latent_dim``.
        """
        device, dtype = _where(self.model)
        h = torch.as_tensor(np.asarray(h, dtype=np.float64), device=device, dtype=dtype)
        if h.shape[-1] != self.latent_dim:
            raise ValueError(f"h: last dimension must be latent_dim={self.latent_dim}, got shape {tuple(h.shape)}")
        with torch.no_grad():
            mean = self.model.decoder_mean(h)
        return mean.reshape(*h.shape[:-1], *image_shape(self.model)).cpu().numpy()


