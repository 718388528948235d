"""The models as the browser runs them: their weights in the widget state, and the front ends' bundles.

book/latent_space.md, book/ising.md. The in-browser widgets run an MLP VAE's decoder and encoder in JavaScript:
:func:`export_decoder` puts the weights of an MLP decoder $\\mathbf{a}_l = g_l(W_l \\mathbf{a}_{l-1} + b_l)$
into one buffer (a :class:`BrowserDecoder`, shared by every widget of one model, so a page carries them once),
:func:`export_encoder` does the same for the encoder (a :class:`BrowserEncoder`), and
``vaecourse/js/src/mlp_decoder.js`` and ``mlp_encoder.js`` evaluate them. Each widget's front end is one file,
``vaecourse/js/bundles/<name>.js`` (:func:`~vaecourse.frontend.bundle`, re-exported here with the entry lists),
built by esbuild from the ES modules in ``vaecourse/js/src/``.
"""

from __future__ import annotations

import anywidget
import numpy as np
import torch
import traitlets

from vaecourse import device

# Re-exported: the widgets import the front ends' entries from here.
from vaecourse.frontend import BUNDLE_DIR, JS, JS_SOURCES, STYLE, WIDGET_BUNDLES, WORKER_BUNDLES, bundle  # noqa: F401

#: The most decoder weight bytes a widget accepts by default: the page budget is 2 MB and the state
#: is stored base64-encoded (4/3 of the raw size).
MAX_DECODER_BYTES = 1_450_000
#: The most encoder weight bytes accepted by default, as for the decoder (a 784-256-256-2 encoder takes
#: 1.07 MB as float32, 0.53 MB as float16).
MAX_ENCODER_BYTES = 1_450_000
_ACTIVATIONS = {torch.nn.ReLU: "relu", torch.nn.Tanh: "tanh"}
#: The decoder mean as a function of the last layer's output, by the model's declared likelihood.
OUTPUT_MAPS = {"bernoulli": "sigmoid", "gaussian": "identity"}


# --------------------------------------------------------------------------------------------------
# The decoder, as the browser will run it


def latent_dim_of(model) -> int:
    """``model.latent_dim``, checked. Raises ``ValueError`` unless it is an integer >= 1."""
    latent_dim = getattr(model, "latent_dim", None)
    if not isinstance(latent_dim, int) or latent_dim < 1:
        raise ValueError(
            f"model: expected a VAE with an integer `latent_dim` >= 1 (a vaecourse.models.VAEModel), "
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
            f"model: output shape {tuple(model.data_shape)} cannot be shown as one grey image; "
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
    latent_dim = latent_dim_of(model)
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
                raise ValueError(f"model.decoder.net[{position}]: an activation must follow a Linear layer")
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
        "latent_dim": latent_dim_of(model),
        "data_shape": [height, width],
        "output": output,
        "layers": spec_layers,
        "dtype": dtype,
    }
    return BrowserDecoder(spec=spec, weights=weights)


def exported_from(decoder: BrowserDecoder, model) -> bool:
    """Whether ``decoder`` holds exactly ``model``'s decoder weights (a shared decoder must)."""
    try:
        dtype = decoder.spec.get("dtype", "float32")
        return export_decoder(model, max_bytes=max(len(decoder.weights), 1), dtype=dtype).weights == decoder.weights
    except ValueError:  # another size, or a decoder the browser cannot run
        return False


# --------------------------------------------------------------------------------------------------
# The encoder, as the browser will run it


def mlp_encoder_layers(model) -> tuple[list[tuple[torch.Tensor, torch.Tensor, str]], str]:
    """Read the MLP encoder as ``[(W (n_out, n_in), b (n_out,), activation), ...]`` and its head.

    The body $\\mathbf{a}_l = \\mathrm{relu}(W_l\\mathbf{a}_{l-1} + b_l)$, then the heads
    $\\boldsymbol\\mu = W_\\mu\\mathbf{a} + b_\\mu$ and $\\log\\boldsymbol\\sigma = W_\\sigma\\mathbf{a} + b_\\sigma$
    (head ``"log_sigma"``, :class:`vaecourse.models.Encoder`); the last two entries are the heads.
    Checked against ``model.encode`` on random inputs. book/latent_space.md.

    Raises ``ValueError`` when the encoder is not ``vaecourse.models.Encoder``-shaped or the rebuilt
    network disagrees with ``model.encode``.
    """
    encoder = getattr(model, "encoder", None)
    names = ("linear1", "linear2", "enc_mu", "enc_log_sigma")
    if not all(isinstance(getattr(encoder, name, None), torch.nn.Linear) for name in names):
        raise ValueError(
            f"model: {type(model).__name__}'s encoder is not the course's MLP encoder (linear1, linear2, "
            "enc_mu, enc_log_sigma of vaecourse.models.Encoder); the in-browser encoder cannot run it"
        )
    layers = [
        (getattr(encoder, name).weight.detach(), getattr(encoder, name).bias.detach(), act)
        for name, act in zip(names, ("relu", "relu", "none", "none"))
    ]
    on, dtype = device.placement(model)
    x = torch.rand(4, layers[0][0].shape[1], generator=torch.Generator().manual_seed(0))  # (4, D)
    x = x.to(device=on, dtype=dtype)
    with torch.no_grad():
        a = torch.relu(torch.relu(x @ layers[0][0].T + layers[0][1]) @ layers[1][0].T + layers[1][1])
        mu, log_sigma = a @ layers[2][0].T + layers[2][1], a @ layers[3][0].T + layers[3][1]  # (4, k)
        q = model.encode(x.reshape(4, *model.data_shape))
    if not (torch.allclose(q.mean, mu, atol=1e-5) and torch.allclose(q.stddev, log_sigma.exp(), rtol=1e-4)):
        raise ValueError(
            "model.encode(x) is not N(enc_mu(a), exp(enc_log_sigma(a))) of its MLP body; "
            "the in-browser encoder cannot reproduce it"
        )
    return layers, "log_sigma"


class BrowserEncoder(anywidget.AnyWidget):
    """The encoder's weights in the widget state, shared by the widgets that show one model.

    ``spec``: ``data_dim``, ``latent_dim``, ``head``, ``dtype`` and the layers (``n_in``, ``n_out``,
    ``activation``); ``weights``: layer after layer $W$ (n_out, n_in) row-major then $b$, little-endian
    ``dtype``. No view of its own. Build it with :func:`export_encoder`.
    """

    _esm = "export default {};\n"
    spec = traitlets.Dict().tag(sync=True)
    weights = traitlets.Bytes().tag(sync=True)


def export_encoder(model, dtype: str = "float16", max_bytes: int = MAX_ENCODER_BYTES) -> BrowserEncoder:
    """Put ``model``'s MLP encoder into a :class:`BrowserEncoder` (``dtype`` "float16" or "float32").

    Raises ``ValueError`` for an encoder the browser cannot run (:func:`mlp_encoder_layers`), a weight
    float16 cannot hold, another ``dtype``, or weights heavier than ``max_bytes``.
    """
    if dtype not in ("float16", "float32"):
        raise ValueError(f"dtype: expected 'float16' or 'float32', got {dtype!r}")
    layers, head = mlp_encoder_layers(model)
    stored = "<f2" if dtype == "float16" else "<f4"
    chunks = [t.to("cpu", torch.float32).numpy().astype(stored).ravel() for w, b, _ in layers for t in (w, b)]
    flat = np.concatenate(chunks)
    if not np.isfinite(flat).all():
        raise ValueError("model: an encoder weight overflows float16 (|w| > 65504); use dtype='float32'")
    weights = flat.tobytes()
    if len(weights) > max_bytes:
        raise ValueError(
            f"model: the encoder's weights take {len(weights) / 1e6:.2f} MB, more than "
            f"max_bytes={max_bytes / 1e6:.2f} MB; use dtype='float16' or pass a larger max_bytes"
        )
    spec = {
        "data_dim": int(layers[0][0].shape[1]),
        "latent_dim": int(layers[-1][0].shape[0]),
        "head": head,
        "dtype": dtype,
        "layers": [{"n_in": int(w.shape[1]), "n_out": int(w.shape[0]), "activation": a} for w, _, a in layers],
    }
    return BrowserEncoder(spec=spec, weights=weights)
