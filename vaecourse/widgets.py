"""Widgets for exploring a VAE's latent space, live in JupyterLab and on the static website.

Book chapter 9 ("Exploring the latent space"). Three widgets, built on ``anywidget``:

:class:`LatentExplorer`
    A latent plane with the label-coloured scatter of encoder means $\\mu(\\mathbf{x})$ of test images;
    pointing at or dragging over a point $\\mathbf{h}$ shows the decoder mean
    $\\mathbb{E}[\\mathbf{x}\\mid\\mathbf{h}] = \\sigma(f_\\Theta(\\mathbf{h}))$ at once. For
    ``latent_dim > 2`` there is one slider per latent dimension.
:class:`Interpolation`
    Two test images $\\mathbf{x}_a, \\mathbf{x}_b$; a slider $t$ walks the straight line
    $\\mathbf{h}(t) = (1-t)\\,\\mu(\\mathbf{x}_a) + t\\,\\mu(\\mathbf{x}_b)$ and shows the decoded path.
:class:`PosteriorExplorer` (needs a live kernel to change the image)
    For a 2-D model and one test image, the true posterior $p(\\mathbf{h}\\mid\\mathbf{x})$ on a grid
    next to the encoder's $Q(\\mathbf{h}\\mid\\mathbf{x})$, with $\\log p(\\mathbf{x})$, the ELBO and
    their gap $\\log p(\\mathbf{x}) - \\mathcal{L}(\\mathbf{x}) = \\mathcal{D}[Q(\\mathbf{h}\\mid\\mathbf{x})\\,\\|\\,
    p(\\mathbf{h}\\mid\\mathbf{x})]$ (Kingma & Welling 2013, eq. 2-3; book chapter 4).

The first two run the decoder **in the browser**: the MLP decoder's weights travel in the widget state
as one float32 buffer (:class:`BrowserDecoder`, shared by every widget that shows the same model, so a
page carries them once) and ``vaecourse/js/mlp_decoder.js`` evaluates the network in JavaScript. So
they work on the published website, where no Python kernel runs, and the same objects work live in
JupyterLab (moving the point there also updates the ``h`` trait in Python, and setting ``h`` in Python
moves the point). No precomputed image grid stands in for the model.

Which models: anything following the course's model protocol whose decoder is an MLP,
``model.decoder.net`` an ``nn.Sequential`` of ``nn.Linear``, ``nn.ReLU`` and ``nn.Tanh`` mapping
``latent_dim`` numbers to ``prod(model.data_shape)`` logits, with ``model.decoder_mean`` equal to the
sigmoid (Bernoulli decoder), tanh, or identity of those logits -- that is,
:class:`vaecourse.models.VAE`. Anything else (a convolutional decoder, a non-image output, a latent
dimension a widget cannot show) is refused with a ``ValueError`` saying why; the static figures of
:mod:`vaecourse.plotting` work for every model.

This module imports ``anywidget`` (and so ``ipywidgets``) when it is imported; ``import vaecourse``
does not import it.
"""

from __future__ import annotations

import math
import time
from functools import lru_cache
from pathlib import Path

import anywidget
import ipywidgets
import numpy as np
import torch
import traitlets

_JS = Path(__file__).resolve().parent / "js"

#: The most decoder weight bytes a widget accepts by default: the page budget is 2 MB and the state
#: is stored base64-encoded (4/3 of the raw size).
MAX_DECODER_BYTES = 1_450_000
#: The most latent dimensions :class:`LatentExplorer` shows as sliders.
MAX_SLIDERS = 16
_ACTIVATIONS = {torch.nn.ReLU: "relu", torch.nn.Tanh: "tanh"}


@lru_cache(maxsize=None)
def _bundle(*names: str) -> str:
    """Concatenate front-end files from vaecourse/js into one ES module (helpers first)."""
    return "\n".join((_JS / name).read_text() for name in names)


# --------------------------------------------------------------------------------------------------
# The decoder, as the browser will run it


def _model_device_dtype(model) -> tuple[torch.device, torch.dtype]:
    parameter = next(iter(model.parameters()), None)
    if parameter is None:
        return torch.device("cpu"), torch.get_default_dtype()
    return parameter.device, parameter.dtype


def _latent_dim(model) -> int:
    latent_dim = getattr(model, "latent_dim", None)
    if not isinstance(latent_dim, int) or latent_dim < 1:
        raise ValueError(
            f"model: expected a VAE with an integer `latent_dim` >= 1 (the course's model protocol), "
            f"got {type(model).__name__} with latent_dim={latent_dim!r}"
        )
    return latent_dim


def image_shape(model) -> tuple[int, int]:
    """The (height, width) of the grey image the model's decoder produces.

    ``model.data_shape`` must be ``(H, W)`` or ``(1, H, W)``. Raises ``ValueError`` for other shapes
    (colour channels, vectors, missing ``data_shape``), which the widgets cannot draw as one image.
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
    $o(\\mathbf{a}_L)$, $o \\in \\{\\mathrm{sigmoid}, \\tanh, \\mathrm{identity}\\}$ -- found by
    comparing ``model.decoder_mean`` with each candidate on random latent points. Book chapter 9.

    Raises ``ValueError`` naming the problem when the model has no ``decoder.net``, the net holds a
    layer other than ``nn.Linear``/``nn.ReLU``/``nn.Tanh``, the layer sizes do not chain from
    ``latent_dim`` to ``prod(data_shape)``, or ``decoder_mean`` is none of the three output maps.
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
    output = _output_map(model, net, latent_dim)
    return [tuple(layer) for layer in layers], output


def _output_map(model, net, latent_dim: int) -> str:
    device, dtype = _model_device_dtype(model)
    generator = torch.Generator().manual_seed(0)
    h = torch.randn(6, latent_dim, generator=generator).to(device=device, dtype=dtype)  # (6, latent_dim)
    with torch.no_grad():
        logits = net(h).reshape(6, -1)  # (6, data_dim)
        mean = model.decoder_mean(h).reshape(6, -1)  # (6, data_dim)
    candidates = {"sigmoid": torch.sigmoid(logits), "tanh": torch.tanh(logits), "identity": logits}
    for name, value in candidates.items():
        if torch.allclose(mean, value, rtol=1e-5, atol=1e-6):
            return name
    raise ValueError(
        "model.decoder_mean(h) is not sigmoid, tanh or the identity of model.decoder.net(h); the "
        "in-browser decoder cannot reproduce it"
    )


class BrowserDecoder(anywidget.AnyWidget):
    """The decoder's weights in the widget state, shared by the widgets that show one model.

    ``spec`` describes the layers (``n_in``, ``n_out``, ``activation``), ``latent_dim``,
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
    Raises ``ValueError`` when the decoder cannot run in the browser (see :func:`mlp_decoder_layers`),
    its weights exceed ``max_bytes`` (pass a larger ``max_bytes`` to accept a heavier page), or
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


def _encode_means(model, x: torch.Tensor, batch_size: int = 1024) -> torch.Tensor:
    """Encoder means mu(x) for every row of x, in batches; returns (N, latent_dim) float32 on the CPU."""
    device, dtype = _model_device_dtype(model)
    means = []
    with torch.no_grad():
        for start in range(0, len(x), batch_size):
            batch = x[start:start + batch_size].to(device=device, dtype=dtype)
            means.append(model.encode(batch).mean.to("cpu", torch.float32))  # (b, latent_dim)
    return torch.cat(means)


def _check_images(model, x, name: str = "x") -> torch.Tensor:
    x = _as_tensor(x, name)
    height, width = image_shape(model)
    if x.ndim < 2 or x[0].numel() != height * width:
        raise ValueError(
            f"{name}: expected test images of shape (N, 1, {height}, {width}) or (N, {height * width}), "
            f"got {tuple(x.shape)}"
        )
    if len(x) == 0:
        raise ValueError(f"{name}: no images given")
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


class _DecodingWidget(anywidget.AnyWidget):
    """Common part of the widgets whose decoder runs in the browser."""

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
        decoder = decoder if decoder is not None else export_decoder(model)
        if not isinstance(decoder, BrowserDecoder):
            raise ValueError(f"decoder: expected a BrowserDecoder from export_decoder(model), got {type(decoder).__name__}")
        if decoder.spec.get("latent_dim") != self.latent_dim:
            raise ValueError(
                f"decoder: it was exported from a model with latent_dim={decoder.spec.get('latent_dim')}, "
                f"this model has latent_dim={self.latent_dim}"
            )
        self.decoder = decoder

    def _scatter(self, x: torch.Tensor, labels, n_points: int) -> torch.Tensor:
        x = x[:n_points]
        means = _encode_means(self.model, x)  # (N, latent_dim)
        plane = means[:, :2].numpy().astype("<f4")  # (N, 2)
        self.points = plane.tobytes()
        self.labels = _check_labels(labels, len(x)).tobytes()
        self.limit = _plane_limit(plane)
        return means

    def decode(self, h) -> np.ndarray:
        """The decoder mean at latent point(s) h, computed by torch: (..., H, W) numpy array.

        The reference the browser's decoder is tested against.
        """
        device, dtype = _model_device_dtype(self.model)
        h = torch.as_tensor(np.asarray(h, dtype=np.float64), device=device, dtype=dtype)
        if h.shape[-1] != self.latent_dim:
            raise ValueError(f"h: last dimension must be latent_dim={self.latent_dim}, got shape {tuple(h.shape)}")
        with torch.no_grad():
            mean = self.model.decoder_mean(h)
        return mean.reshape(*h.shape[:-1], *image_shape(self.model)).cpu().numpy()


class LatentExplorer(_DecodingWidget):
    """Point at the latent plane, see the decoded image (decoder runs in the browser). Chapter 9.

    Parameters
    ----------
    model : a trained MLP VAE (protocol: ``latent_dim``, ``encode``, ``decoder.net``, ``decoder_mean``,
        ``data_shape``) with ``2 <= latent_dim <= 16``.
    x : test images, (N, 1, H, W) or (N, H*W); the first ``n_points`` are encoded and their means
        $\\mu(\\mathbf{x})$ (first two latent dimensions) drawn as the scatter.
    labels : (N,) integer labels colouring the scatter, or None.
    decoder : a :class:`BrowserDecoder` to share with other widgets of the same model (default: a
        new one from :func:`export_decoder`).

    The current latent point is the synced trait ``h`` (a list of ``latent_dim`` floats); set it from
    Python to move the point. Raises ``ValueError`` for a model the widget cannot show.
    """

    _esm = _bundle("mlp_decoder.js", "drawing.js", "latent_explorer.js")
    h = traitlets.List(traitlets.Float()).tag(sync=True)
    label_names = traitlets.List(traitlets.Unicode()).tag(sync=True)
    follow_pointer = traitlets.Bool(True).tag(sync=True)

    def __init__(self, model, x, labels=None, *, decoder: BrowserDecoder | None = None,
                 n_points: int = 2000, label_names=None, h=None, **kwargs):
        latent_dim = _latent_dim(model)
        if latent_dim < 2:
            raise ValueError(
                f"model: LatentExplorer needs latent_dim >= 2 for its plane, got {latent_dim}; use "
                "Interpolation (any latent_dim) to walk a 1-D latent space"
            )
        if latent_dim > MAX_SLIDERS:
            raise ValueError(
                f"model: LatentExplorer shows at most {MAX_SLIDERS} latent dimensions as sliders, got "
                f"latent_dim={latent_dim}; train a smaller latent space or use Interpolation"
            )
        x = _check_images(model, x)
        super().__init__(**kwargs)
        self._attach(model, decoder)
        self._scatter(x, labels, n_points)
        n_labels = int(np.frombuffer(self.labels, dtype=np.uint8).max()) + 1 if self.labels else 0
        self.label_names = list(label_names) if label_names is not None else [str(i) for i in range(n_labels)]
        self.h = list(h) if h is not None else [0.0] * latent_dim

    @traitlets.validate("h")
    def _valid_h(self, proposal):
        value = proposal["value"]
        expected = getattr(self, "latent_dim", len(value))
        if len(value) != expected or not all(math.isfinite(v) for v in value):
            raise traitlets.TraitError(f"h: expected {expected} finite floats, got {value!r}")
        return value


class Interpolation(_DecodingWidget):
    """Slide between the latent codes of two test images; the decoded path is drawn in the browser.

    $\\mathbf{h}(t) = (1-t)\\,\\mu(\\mathbf{x}_a) + t\\,\\mu(\\mathbf{x}_b)$, $t \\in [0, 1]$. Chapter 9.

    Parameters
    ----------
    model : a trained MLP VAE (any ``latent_dim``).
    x : test images, (N, 1, H, W) or (N, H*W); the first ``n_images`` can be picked as the ends.
    labels : (N,) integer labels, used in the image names and the scatter colours, or None.
    index_a, index_b, t : the initial ends and position (synced traits).
    steps : the path strip shows ``steps + 1`` decoded images.
    decoder : a :class:`BrowserDecoder` shared with other widgets of the same model.
    n_points : for a 2-D model, how many encoded images to scatter under the path (0: no plane).
    """

    _esm = _bundle("mlp_decoder.js", "drawing.js", "interpolation.js")
    images = traitlets.Bytes().tag(sync=True)  # (n_images, H*W) uint8
    codes = traitlets.Bytes().tag(sync=True)  # (n_images, latent_dim) float32
    image_names = traitlets.List(traitlets.Unicode()).tag(sync=True)
    index_a = traitlets.Int(0).tag(sync=True)
    index_b = traitlets.Int(1).tag(sync=True)
    t = traitlets.Float(0.5).tag(sync=True)
    steps = traitlets.Int(8).tag(sync=True)

    def __init__(self, model, x, labels=None, *, decoder: BrowserDecoder | None = None,
                 n_images: int = 12, index_a: int = 0, index_b: int = 1, t: float = 0.5,
                 steps: int = 8, n_points: int = 1000, **kwargs):
        x = _check_images(model, x)
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
        label_values = _check_labels(labels, n_images)
        codes = _encode_means(model, x[:n_images]).numpy().astype("<f4")  # (n_images, latent_dim)
        self.images = _to_uint8(x[:n_images].reshape(n_images, -1))
        self.codes = codes.tobytes()
        self.image_names = [
            f"#{i}" + (f" (label {label_values[i]})" if len(label_values) else "") for i in range(n_images)
        ]
        if self.latent_dim == 2 and n_points > 0:
            self._scatter(x, labels, n_points)
        self.index_a, self.index_b, self.t, self.steps = int(index_a), int(index_b), float(t), int(steps)

    def path(self, t) -> np.ndarray:
        """The latent points h(t) for an array of t values: (len(t), latent_dim)."""
        codes = np.frombuffer(self.codes, dtype="<f4").reshape(-1, self.latent_dim)
        a, b = codes[self.index_a], codes[self.index_b]
        t = np.asarray(t, dtype=np.float64)[:, None]  # (T, 1)
        return (1 - t) * a + t * b  # (T, latent_dim)


class PosteriorExplorer(anywidget.AnyWidget):
    """The true posterior p(h|x) on a grid beside the encoder's Q(h|x), for a 2-D model. Chapter 9.

    For test image ``x[index]``: $\\log p(\\mathbf{h}\\mid\\mathbf{x})$ on a ``grid_size`` x
    ``grid_size`` grid over $[-\\text{limit}, \\text{limit}]^2$ (:func:`vaecourse.elbo.posterior_grid`),
    $\\log Q(\\mathbf{h}\\mid\\mathbf{x})$ on the same grid, $\\log p(\\mathbf{x})$ by quadrature on
    that grid (the value :func:`vaecourse.elbo.log_px_quadrature` gives, recovered from the grid by
    Bayes' rule at its mode, so one update decodes the grid once), the ELBO
    (:func:`vaecourse.elbo.elbo`, ``n_samples`` reparameterised samples, seeded) and the gap $\\log p(\\mathbf{x}) - \\mathcal{L}$, with the grid
    estimate of $\\mathcal{D}[Q\\,\\|\\,p(\\mathbf{h}\\mid\\mathbf{x})]$ that the gap must equal
    (Kingma & Welling 2013; book chapter 4). Computed in Python: changing ``index`` needs a live kernel
    (the static website shows the image it was built with). ``last_update_ms`` is the time the last
    update took in Python.

    Raises ``ValueError`` unless ``model.latent_dim == 2``.
    """

    _esm = _bundle("mlp_decoder.js", "drawing.js", "posterior.js")
    _css = _bundle("widgets.css")
    index = traitlets.Int(0).tag(sync=True)
    n_images = traitlets.Int(1).tag(sync=True)
    grid_size = traitlets.Int(41).tag(sync=True)
    limit = traitlets.Float(4.0).tag(sync=True)
    data_shape = traitlets.List(traitlets.Int()).tag(sync=True)
    plane_size = traitlets.Int(190).tag(sync=True)
    image = traitlets.Bytes().tag(sync=True)  # (H*W,) uint8
    log_posterior = traitlets.Bytes().tag(sync=True)  # (G, G) float32
    log_q = traitlets.Bytes().tag(sync=True)  # (G, G) float32
    stats = traitlets.Dict().tag(sync=True)

    def __init__(self, model, x, *, index: int = 0, grid_size: int = 41, limit: float = 4.0,
                 n_samples: int = 100, seed: int = 0, **kwargs):
        latent_dim = _latent_dim(model)
        if latent_dim != 2:
            raise ValueError(
                f"model: PosteriorExplorer computes p(h|x) on a 2-D grid and needs latent_dim == 2, got "
                f"{latent_dim}"
            )
        image_shape(model)
        x = _check_images(model, x)
        if not 0 <= index < len(x):
            raise ValueError(f"index: must lie in 0..{len(x) - 1}, got {index}")
        if grid_size < 3 or limit <= 0 or n_samples < 1:
            raise ValueError(f"grid_size >= 3, limit > 0 and n_samples >= 1 required, got {grid_size}, {limit}, {n_samples}")
        super().__init__(**kwargs)
        self.model, self.x = model, x
        self.n_samples, self.seed = int(n_samples), int(seed)
        self.last_update_ms = float("nan")
        self.n_images, self.grid_size, self.limit = len(x), int(grid_size), float(limit)
        self.data_shape = list(image_shape(model))
        self.index = int(index)
        self._update()
        self.observe(lambda change: self._update(), names="index")

    @traitlets.validate("index")
    def _valid_index(self, proposal):
        value = proposal["value"]
        if not 0 <= value < self.n_images:
            raise traitlets.TraitError(f"index: must lie in 0..{self.n_images - 1}, got {value}")
        return value

    def compute(self, index: int) -> dict:
        """Everything the widget shows for x[index], as numpy arrays and floats (no widget update)."""
        from vaecourse import elbo as elbo_module

        device, dtype = _model_device_dtype(self.model)
        x = self.x[index:index + 1].to(device=device, dtype=dtype)  # (1, ...)
        with torch.no_grad():
            grid_h1, grid_h2, log_post = elbo_module.posterior_grid(
                self.model, x, grid_size=self.grid_size, limit=self.limit)  # (G,), (G,), (1, G, G)
            # log p(x) from the same grid, by Bayes' rule at the grid's posterior mode h0 (chapter 3):
            # log p(x) = log p(x|h0) + log p(h0) - log p(h0|x). It equals log_px_quadrature on this grid
            # and costs one decoder pass instead of a second pass over the grid.
            i, j = divmod(int(torch.argmax(log_post[0])), self.grid_size)
            h0 = torch.stack([grid_h1[i], grid_h2[j]]).reshape(1, 2).to(device=device, dtype=dtype)  # (1, 2)
            log_px = float(self.model.log_likelihood(x, h0)[0]
                           + self.model.prior().log_prob(h0).sum(-1)[0] - log_post[0, i, j])
            q = self.model.encode(x)  # Normal, batch shape (1, 2)
            h1, h2 = torch.meshgrid(grid_h1, grid_h2, indexing="ij")  # (G, G) each
            grid = torch.stack([h1, h2], dim=-1).to(device=device, dtype=dtype)  # (G, G, 2)
            log_q = q.log_prob(grid).sum(-1)  # (G, G)
            with torch.random.fork_rng(devices=[] if device.type == "cpu" else [device]):
                torch.manual_seed(self.seed)
                elbo_value = float(elbo_module.elbo(self.model, x, n_samples=self.n_samples).mean())
        log_post = log_post[0].to(torch.float64)  # (G, G)
        log_q = log_q.to(torch.float64)
        cell = float((grid_h1[1] - grid_h1[0]) * (grid_h2[1] - grid_h2[0]))
        q_cell = torch.exp(log_q) * cell  # (G, G) probability of each grid cell under Q
        kl_grid = float((q_cell * (log_q - log_post)).sum())  # misses Q's mass outside the grid
        return {
            "image": x.reshape(-1).clamp(0, 1).cpu(),
            "log_posterior": log_post.cpu().numpy(),
            "log_q": log_q.cpu().numpy(),
            "log_px": log_px,
            "elbo": elbo_value,
            "kl_grid": kl_grid,
            "q_mass": float(q_cell.sum()),
            "mu": q.mean[0].tolist(),
            "sigma": q.stddev[0].tolist(),
        }

    def _update(self) -> None:
        start = time.perf_counter()
        result = self.compute(self.index)
        self.image = _to_uint8(result["image"])
        self.log_posterior = result["log_posterior"].astype("<f4").tobytes()
        self.log_q = result["log_q"].astype("<f4").tobytes()
        gap = result["log_px"] - result["elbo"]
        self.stats = {
            "test image": f"#{self.index}",
            "log p(x) (quadrature)": f"{result['log_px']:.2f} nats",
            f"ELBO ({self.n_samples} samples)": f"{result['elbo']:.2f} nats",
            "gap log p(x) - ELBO": f"{gap:.2f} nats",
            "KL(Q || p(h|x)) on the grid": f"{result['kl_grid']:.2f} nats",
            "Q's probability on the grid": f"{result['q_mass']:.3f}",
            "Q mean, std": "({:.2f}, {:.2f}), ({:.3f}, {:.3f})".format(*result["mu"], *result["sigma"]),
        }
        self.last_update_ms = 1000 * (time.perf_counter() - start)
