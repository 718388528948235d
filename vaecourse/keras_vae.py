"""The lecture's Keras example -- F. Chollet's convolutional VAE -- run by Keras 3 on the torch backend.

book/keras_vae.md. The architecture follows the keras.io example
"Variational AutoEncoder" (F. Chollet, 2020, updated 2023) that the lecture shows; the code here is
the course's own. Its ``train_step`` is written the PyTorch way (``zero_grad``, ``loss.backward()``,
``optimizer.apply``), because the example's ``tf.GradientTape`` step only runs on TensorFlow, and
this course needs no TensorFlow. :class:`vaecourse.models.ConvVAE` is the same network in plain
PyTorch; the chapter compares the two.

The loss per image is the example's: binary cross-entropy summed over the $28\\times28$ pixels plus
the KL divergence to the prior (Kingma & Welling 2013, eq. 10),

.. math::

    \\ell(\\mathbf{x}) = -\\sum_{d=1}^{784} \\bigl[x_d\\log\\hat x_d + (1-x_d)\\log(1-\\hat x_d)\\bigr]
    + \\tfrac12\\sum_{j=1}^{k}\\bigl(e^{\\text{logvar}_j} + \\mu_j^2 - 1 - \\text{logvar}_j\\bigr),

averaged over the batch. For grey-level images $x_d\\in[0,1]$ this is minus an ELBO-like number,
not a bound on a normalised log-likelihood (book/pytorch_vae.md).

Importing this module imports Keras and fixes its backend to PyTorch, so it must be imported before
anything else imports ``keras``. ``import vaecourse`` does not import it.

Shapes: Keras works channels-last, images ``(B, 28, 28, 1)``; the functions that take course data
accept ``(B, 1, 28, 28)`` or ``(B, 784)`` tensors/arrays in $[0, 1]$, like the PyTorch models.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from vaecourse import settings
from vaecourse.cache import (
    CacheEntryError,
    cache_file,
    cheap_to_train,
    fingerprint,
    key,
    load_or_build,
    read_arrays,
)
from vaecourse.models import PriorMixin
from vaecourse.validation import require_count


def use_keras_torch_backend() -> None:
    """Make Keras 3 run on PyTorch: ``KERAS_BACKEND=torch`` unless the user already chose a backend.

    Must be called before ``keras`` is first imported (Keras reads the variable once, at import);
    importing this module calls it. Raises ``RuntimeError`` when Keras is already imported with
    another backend, or when ``KERAS_BACKEND`` names another backend, saying what to do.
    """
    chosen = settings.keras_backend(default="torch")
    loaded = sys.modules.get("keras")
    if loaded is not None and hasattr(loaded, "backend"):
        active = loaded.backend.backend()
        if active != "torch":
            raise RuntimeError(
                f"keras was already imported with the {active!r} backend; the course's Keras code "
                "needs the 'torch' backend. Restart the kernel and import vaecourse.keras_vae before "
                "keras (or set KERAS_BACKEND=torch)."
            )
    elif chosen != "torch":
        raise RuntimeError(
            f"KERAS_BACKEND is set to {chosen!r}; the course's Keras code needs 'torch'. "
            "Unset KERAS_BACKEND or set it to 'torch'."
        )


use_keras_torch_backend()  # KERAS_BACKEND=torch, before keras is imported

import keras  # noqa: E402 -- keras reads KERAS_BACKEND when first imported, so it comes after the call above
from keras import layers, ops  # noqa: E402 -- likewise

IMAGE_SHAPE = (28, 28, 1)  # Keras is channels-last


class Sampling(layers.Layer):
    """The reparameterisation of ``[mu, logvar]``, as a Keras layer.

    $\\mathbf{h} = \\boldsymbol\\mu
    + e^{\\text{logvar}/2}\\odot\\boldsymbol\\epsilon$,
    $\\boldsymbol\\epsilon\\sim\\mathcal{N}(0, I)$ (``eq:reparameterisation``;
    Kingma & Welling 2013; book/reparameterisation.md). Inputs ``[mu, logvar]``,
    each ``(B, latent_dim)``; output ``(B, latent_dim)``.
    """

    def __init__(self, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs):
        mu, logvar = inputs
        # (B, latent_dim)
        eps = keras.random.normal(ops.shape(mu), seed=self.seed_generator)
        return mu + ops.exp(0.5 * logvar) * eps


def build_encoder(latent_dim: int = 2, seed: int | None = None) -> keras.Model:
    """The example's encoder: ``(B, 28, 28, 1)`` -> ``[mu, logvar, h]``.

    Each output is ``(B, latent_dim)``. 69,076 parameters for ``latent_dim=2``
    (the same count as :class:`vaecourse.models.ConvEncoder`).
    """
    latent_dim = require_count(latent_dim, "latent_dim")
    x = keras.Input(shape=IMAGE_SHAPE, name="x")
    # (B, 14, 14, 32)
    a = layers.Conv2D(32, 3, strides=2, padding="same", activation="relu")(x)
    # (B, 7, 7, 64)
    a = layers.Conv2D(64, 3, strides=2, padding="same", activation="relu")(a)
    a = layers.Flatten()(a)  # (B, 3136)
    a = layers.Dense(16, activation="relu")(a)  # (B, 16)
    mu = layers.Dense(latent_dim, name="z_mean")(a)  # (B, latent_dim)
    logvar = layers.Dense(latent_dim, name="z_log_var")(a)  # (B, latent_dim)
    h = Sampling(seed=seed, name="sampling")([mu, logvar])  # (B, latent_dim)
    return keras.Model(x, [mu, logvar, h], name="encoder")


def build_decoder(latent_dim: int = 2) -> keras.Model:
    """The example's decoder: ``(N, latent_dim)`` -> mean image.

    The mean image is ``(N, 28, 28, 1)``, in (0, 1). 65,089 parameters for
    ``latent_dim=2`` (the same count as :class:`vaecourse.models.ConvDecoder`).
    """
    latent_dim = require_count(latent_dim, "latent_dim")
    h = keras.Input(shape=(latent_dim,), name="h")
    a = layers.Dense(7 * 7 * 64, activation="relu")(h)  # (N, 3136)
    a = layers.Reshape((7, 7, 64))(a)  # (N, 7, 7, 64)
    a = layers.Conv2DTranspose(
        64,
        3,
        strides=2,
        padding="same",
        activation="relu",
    )(a)  # (N, 14, 14, 64)
    a = layers.Conv2DTranspose(
        32,
        3,
        strides=2,
        padding="same",
        activation="relu",
    )(a)  # (N, 28, 28, 32)
    x_mean = layers.Conv2DTranspose(
        1,
        3,
        padding="same",
        activation="sigmoid",
    )(a)  # (N, 28, 28, 1)
    return keras.Model(h, x_mean, name="decoder")


class KerasVAE(keras.Model):
    """Encoder + decoder + the example's loss, with ``train_step`` and ``test_step`` for the torch backend.

    ``fit`` and ``evaluate`` report three numbers per batch, averaged over the epoch: ``loss`` (the
    negative ELBO-like objective), ``reconstruction_loss`` and ``kl_loss``, with
    ``loss = reconstruction_loss + kl_loss`` exactly (each is a batch mean, and means add).
    """

    def __init__(self, encoder: keras.Model, decoder: keras.Model, **kwargs):
        super().__init__(**kwargs)
        self.encoder = encoder
        self.decoder = decoder
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.reconstruction_tracker = keras.metrics.Mean(name="reconstruction_loss")
        self.kl_tracker = keras.metrics.Mean(name="kl_loss")

    @property
    def metrics(self):
        # Listed here so that Keras resets them at the start of every epoch.
        return [self.loss_tracker, self.reconstruction_tracker, self.kl_tracker]

    def call(self, x, training=False):
        """Reconstruction of ``x``: encode, sample ``h``, decode. ``(B, 28, 28, 1)`` -> ``(B, 28, 28, 1)``."""
        _, _, h = self.encoder(x, training=training)
        return self.decoder(h, training=training)

    def loss_terms(self, x, training=False):
        """``(loss, reconstruction, kl)``, scalars averaged over the batch.

        ``x`` is ``(B, 28, 28, 1)``.
        """
        # (B, latent_dim) each
        mu, logvar, h = self.encoder(x, training=training)
        x_mean = self.decoder(h, training=training)  # (B, 28, 28, 1)
        # binary_crossentropy averages over the last (channel) axis, of size 1;
        # sum over the pixels.
        bce = keras.losses.binary_crossentropy(x, x_mean)  # (B, 28, 28)
        reconstruction = ops.mean(ops.sum(bce, axis=(1, 2)))
        kl_per_unit = 0.5 * (ops.exp(logvar) + ops.square(mu) - 1.0 - logvar)
        kl = ops.mean(ops.sum(kl_per_unit, axis=1))
        return reconstruction + kl, reconstruction, kl

    def train_step(self, data):
        """One optimiser step, the PyTorch way.

        The example's ``tf.GradientTape`` step, rewritten.
        """
        x = data[0] if isinstance(data, (tuple, list)) else data
        self.zero_grad()  # clear the .grad left by the previous step
        loss, reconstruction, kl = self.loss_terms(x, training=True)
        loss.backward()  # autograd fills .grad of every weight
        weights = self.trainable_weights
        gradients = [w.value.grad for w in weights]
        with torch.no_grad():  # the update itself is not part of the graph
            self.optimizer.apply(gradients, weights)
        return self._track(loss, reconstruction, kl)

    def test_step(self, data):
        """The same three numbers on held-out data, no update (the example has no ``test_step``)."""
        x = data[0] if isinstance(data, (tuple, list)) else data
        with torch.no_grad():
            loss, reconstruction, kl = self.loss_terms(x, training=False)
        return self._track(loss, reconstruction, kl)

    def _track(self, loss, reconstruction, kl) -> dict:
        self.loss_tracker.update_state(loss)
        self.reconstruction_tracker.update_state(reconstruction)
        self.kl_tracker.update_state(kl)
        return {m.name: m.result() for m in self.metrics}


def build_vae(latent_dim: int = 2, seed: int | None = None) -> KerasVAE:
    """A fresh :class:`KerasVAE` (built, weights initialised from ``seed``), not yet compiled."""
    if seed is not None:
        keras.utils.set_random_seed(seed)
    model = KerasVAE(build_encoder(latent_dim, seed=seed), build_decoder(latent_dim), name="keras_vae")
    model(ops.zeros((1, *IMAGE_SHAPE)))  # build the weights
    return model


def parameter_counts(model: KerasVAE) -> dict:
    """``{"encoder": n, "decoder": m}``: trainable scalars of each half (69,076 and 65,089 for k=2)."""
    return {"encoder": _count(model.encoder), "decoder": _count(model.decoder)}


def _count(part: keras.Model) -> int:
    return int(sum(np.prod(w.shape) for w in part.trainable_weights))


def to_keras_images(x) -> np.ndarray:
    """Course images ``(B, 1, 28, 28)`` or ``(B, 784)`` (tensor or array, values in [0, 1]) ->
    float32 channels-last array ``(B, 28, 28, 1)``. Raises ``ValueError`` on another size or range."""
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    x = np.asarray(x, dtype=np.float32)
    if x.ndim < 2 or x[0].size != 784:
        raise ValueError(f"x must hold 28x28 images, shape (B, 1, 28, 28) or (B, 784); got shape {x.shape}")
    if x.size and (not np.isfinite(x).all() or x.min() < 0.0 or x.max() > 1.0):
        raise ValueError("x must hold grey levels in [0, 1] (divide 0..255 images by 255)")
    return x.reshape(-1, *IMAGE_SHAPE)  # (B, 28, 28, 1)


@dataclass(frozen=True)
class KerasConfig:
    """Training settings of the Keras example (its defaults: 30 epochs, batch 128, Adam 1e-3)."""

    # Latent dimension k; the example uses 2 so that the latent space can be drawn.
    latent_dim: int = 2
    # Passes over the training images; the example trains 30 (about 150 nats/image at the end).
    epochs: int = 30
    # Images per optimiser step.
    batch_size: int = 128
    # Adam's step size.
    learning_rate: float = 1e-3
    # Seeds the weights, the shuffling and the sampling layer.
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("latent_dim", "epochs", "batch_size"):
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or value < (0 if name == "epochs" else 1):
                raise ValueError(
                    f"{name} must be a {'non-negative' if name == 'epochs' else 'positive'} integer, got {value!r}"
                )
        if not self.learning_rate > 0:
            raise ValueError(f"learning_rate must be positive, got {self.learning_rate!r}")


class _EpochTimer(keras.callbacks.Callback):
    """Records the wall-clock seconds of every epoch."""

    def __init__(self):
        super().__init__()
        self.seconds: list[float] = []

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self._start)


def train(x, config: KerasConfig = KerasConfig(), cache: bool = True, verbose: int = 0, force: bool = False):
    """Train the Keras example's VAE on images ``x`` with ``keras.Model.fit``; return ``(model, history)``.

    ``x``: ``(N, 1, 28, 28)`` or ``(N, 784)`` grey levels in [0, 1] (the example uses them unbinarised).
    ``history`` maps ``"loss"``, ``"reconstruction_loss"``, ``"kl_loss"`` and ``"seconds"`` to one value
    per epoch. With ``cache=True`` the weights and history are one entry of :mod:`vaecourse.cache`
    (folder "keras"), keyed by the configuration, the data and the Keras version, and loaded instead
    of retraining when present; ``force`` retrains and overwrites it. A damaged entry is retrained
    with a :class:`vaecourse.cache.CacheRebuiltWarning` when that is cheap, otherwise it raises
    :class:`vaecourse.cache.CacheEntryError` naming the file. ``verbose`` is passed to ``fit`` (0: silent).
    """
    images = to_keras_images(x)  # (N, 28, 28, 1)
    if len(images) == 0:
        raise ValueError("x holds no images")

    def build() -> tuple[KerasVAE, dict]:
        model = _compiled(config)
        timer = _EpochTimer()
        fitted = model.fit(
            images,
            epochs=config.epochs,
            batch_size=config.batch_size,
            shuffle=True,
            verbose=verbose,
            callbacks=[timer],
        )
        history = {
            name: [float(v) for v in fitted.history.get(name, [])]
            for name in ("loss", "reconstruction_loss", "kl_loss")
        }
        history["seconds"] = timer.seconds
        return model, history

    if not cache:
        return build()
    return load_or_build(
        _cache_file(images, config),
        build,
        _save,
        lambda path: _load(path, config),
        cheap=cheap_to_train(config.epochs, len(images)),
        what="Keras model",
        force=force,
    )


def _compiled(config: KerasConfig) -> KerasVAE:
    model = build_vae(config.latent_dim, seed=config.seed)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=config.learning_rate))
    return model


def _cache_file(images: np.ndarray, config: KerasConfig) -> Path:
    """The cache entry of a training run: the configuration, the Keras version and backend, the images."""
    fields = {"config": asdict(config), "keras": keras.__version__, "backend": keras.backend.backend()}
    return cache_file("keras", "vae", key(fields, data=fingerprint(images)), ".npz")


def _save(trained: tuple[KerasVAE, dict], tmp: Path) -> None:
    """Write the weights and the history into one NumPy ``.npz`` (no pickles), weights in ``model.weights`` order.

    ``tmp`` is the temporary file of :func:`vaecourse.cache.write_atomically` (via ``load_or_build``).

    Not ``model.save_weights``: with NumPy 2 that path warns (``DeprecationWarning: __array__
    implementation doesn't accept a copy keyword``, from keras/src/backend/torch/core.py), and the
    test suite turns warnings into errors.
    """
    model, history = trained
    arrays = {f"w{i:03d}": w.value.detach().cpu().numpy() for i, w in enumerate(model.weights)}
    # The sampling layer's generator state is not among model.weights; keep it, so that a model
    # loaded from the cache draws the same eps afterwards as the freshly trained one did.
    arrays["sampling_seed"] = _sampling_seed(model).value.detach().cpu().numpy()
    arrays["history"] = np.array(json.dumps(history))  # a unicode array: no pickle
    with open(tmp, "wb") as handle:  # a handle: np.savez adds no second suffix
        np.savez(handle, **arrays)


def _load(path: Path, config: KerasConfig) -> tuple[KerasVAE, dict]:
    """Inverse of :func:`_save`; raises :class:`vaecourse.cache.CacheEntryError` for a file that does not fit."""
    stored = read_arrays(path)
    model = _compiled(config)
    names = [f"w{i:03d}" for i in range(len(model.weights))]
    if any(name not in stored for name in (*names, "sampling_seed", "history")) or [stored[n].shape for n in names] != [
        tuple(w.shape) for w in model.weights
    ]:
        raise CacheEntryError(f"{path.name} does not hold this model's weights")
    try:
        history = json.loads(str(stored["history"]))
    except json.JSONDecodeError as error:
        raise CacheEntryError(f"{path.name} holds a damaged history ({error})") from None
    for w, name in zip(model.weights, names):
        w.assign(stored[name])
    _sampling_seed(model).assign(stored["sampling_seed"])
    return model, history


def _sampling_seed(model: KerasVAE):
    """The state variable of the encoder's :class:`Sampling` layer's random-number generator."""
    return model.encoder.get_layer("sampling").seed_generator.state


class KerasAsTorchVAE(PriorMixin):
    """A trained :class:`KerasVAE` as a :class:`vaecourse.models.VAEModel` (``encode``,
    ``decoder_mean``, ``log_likelihood``, ``prior``, ...), so that :mod:`vaecourse.elbo`,
    :mod:`vaecourse.evaluate` and :mod:`vaecourse.plotting` treat it exactly like
    :class:`vaecourse.models.ConvVAE`. Read-only: it never trains.

    Images go in and come out channels-first, ``(B, 1, 28, 28)``; latents are ``(..., latent_dim)``.
    ``log_likelihood`` is the Bernoulli formula on the decoder's sigmoid output, clipped to
    $[10^{-7}, 1-10^{-7}]$ as Keras's binary cross-entropy does, so that
    ``-elbo.elbo(view, x).mean()`` is the number ``KerasVAE.evaluate`` reports.
    """

    likelihood = "bernoulli"
    data_shape = (1, 28, 28)
    training = False

    def __init__(self, model: KerasVAE):
        self.model = model
        self.latent_dim = int(model.decoder.inputs[0].shape[-1])

    def parameters(self):
        """The Keras weights as torch tensors (:func:`vaecourse.device.placement` reads the device from them)."""
        return (w.value for w in self.model.weights)

    def eval(self):
        return self

    def train(self, mode: bool = True):
        return self

    def encode(self, x: torch.Tensor) -> torch.distributions.Normal:
        """$Q(\\mathbf{h}\\mid\\mathbf{x}) = \\mathcal{N}(\\mu, e^{\\text{logvar}})$, batch ``(B, latent_dim)``."""
        images = x.reshape(-1, 1, 28, 28).permute(0, 2, 3, 1)  # (B, 28, 28, 1)
        mu, logvar, _ = self.model.encoder(images, training=False)  # (B, latent_dim) each
        return torch.distributions.Normal(mu, torch.exp(0.5 * logvar))

    def decoder_mean(self, h: torch.Tensor) -> torch.Tensor:
        """Decoder output for ``h`` ``(..., latent_dim)`` -> ``(..., 1, 28, 28)`` in (0, 1)."""
        lead = h.shape[:-1]
        out = self.model.decoder(h.reshape(-1, self.latent_dim), training=False)  # (N, 28, 28, 1)
        return out.permute(0, 3, 1, 2).reshape(*lead, 1, 28, 28)

    def log_likelihood(self, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        """$\\sum_d x_d\\log\\hat x_d + (1-x_d)\\log(1-\\hat x_d)$: ``x`` ``(B, ...)`` with ``h``
        ``(B, latent_dim)`` -> ``(B,)``, or ``h`` ``(S, B, latent_dim)`` -> ``(S, B)``."""
        x = x.reshape(x.shape[0], 1, 28, 28)  # (B, 1, 28, 28)
        p = self.decoder_mean(h).clamp(1e-7, 1 - 1e-7)  # (..., B, 1, 28, 28)
        per_pixel = x * torch.log(p) + (1 - x) * torch.log1p(-p)
        return per_pixel.flatten(-3).sum(-1)

    def decode(self, h: torch.Tensor) -> torch.distributions.Distribution:
        """$p(\\mathbf{x}\\mid\\mathbf{h})$, Bernoulli with event shape ``(1, 28, 28)`` (grey levels allowed)."""
        probs = self.decoder_mean(h).clamp(1e-7, 1 - 1e-7)
        base = torch.distributions.Bernoulli(probs=probs, validate_args=False)
        return torch.distributions.Independent(base, 3)

    def __repr__(self) -> str:
        counts = parameter_counts(self.model)
        return (
            f"KerasAsTorchVAE(KerasVAE, latent_dim={self.latent_dim}, parameters: encoder "
            f"{counts['encoder']:,}, decoder {counts['decoder']:,})"
        )


__all__ = [
    "KerasConfig",
    "KerasVAE",
    "KerasAsTorchVAE",
    "Sampling",
    "build_decoder",
    "build_encoder",
    "build_vae",
    "parameter_counts",
    "to_keras_images",
    "train",
]
