"""The lecture's two VAEs in PyTorch: the MLP ``VAE`` (``Encoder`` + ``Decoder``) and the Keras example's ``ConvVAE``.

Every model follows the course's model contract, written in code as two ``typing.Protocol`` classes
below (the way dynamax's ``SSM`` base class states what its models provide): :class:`LatentVariableModel`
(``latent_dim``, ``data_shape``, ``encode``, ``log_likelihood``, ``prior``: what the ELBO and the
quadrature of :mod:`vaecourse.marginal` need, and all the exact reference model has) and
:class:`VAEModel` (that, plus ``likelihood``, ``decoder_mean``, ``parameters`` and the ``train``/``eval``
switch: what training, evaluation and plotting need). book/pytorch_vae.md.

References: Kingma & Welling 2013 (arXiv:1312.6114); C. Doersch 2016 (arXiv:1606.05908); F. Chollet,
"Variational AutoEncoder", keras.io (2020, updated 2023); pytorch/examples ``vae/main.py``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Protocol, runtime_checkable

import torch
import torch.nn.functional as F
from torch import nn

from vaecourse.device import placement
from vaecourse.validation import require_count, require_memory

LIKELIHOODS = ("bernoulli", "gaussian")
ARCHITECTURES = ("mlp", "conv")


@dataclass
class ModelConfig:
    """Everything needed to build a model (and to key the trained-model cache).

    >>> build_model(ModelConfig(architecture="mlp", latent_dim=2))  # doctest: +ELLIPSIS
    VAE(...)
    """

    # "mlp": the lecture's PyTorch Encoder and a mirrored decoder; "conv": the Keras example's ConvVAE.
    architecture: str = "mlp"
    # Latent dimension k. 2 lets us draw the latent space and compute log p(x) by quadrature.
    latent_dim: int = 2
    # Hidden width H of the MLP (both hidden layers of encoder and decoder); pytorch/examples uses 400.
    hidden: int = 400
    # Shape of one observation: (1, 28, 28) for MNIST and Fashion-MNIST, (1, L, L) for the Ising lattice.
    data_shape: tuple = (1, 28, 28)
    # Decoder likelihood: "bernoulli" (logits; binary or grey images) or "gaussian" (learned scalar sigma).
    likelihood: str = "bernoulli"
    # Hidden activation of the MLP decoder: "relu" (pytorch/examples) or "tanh" (Kingma & Welling 2013).
    decoder_activation: str = "relu"

    def __post_init__(self) -> None:
        self.data_shape = tuple(int(n) for n in self.data_shape)
        if self.architecture not in ARCHITECTURES:
            raise ValueError(f"architecture must be one of {ARCHITECTURES}, got {self.architecture!r}")
        self.latent_dim = require_count(self.latent_dim, "latent_dim")
        self.hidden = require_count(self.hidden, "hidden")
        if self.likelihood not in LIKELIHOODS:
            raise ValueError(f"likelihood must be one of {LIKELIHOODS}, got {self.likelihood!r}")
        if self.decoder_activation not in ("relu", "tanh"):
            raise ValueError(f"decoder_activation must be 'relu' or 'tanh', got {self.decoder_activation!r}")
        if self.architecture == "conv" and self.data_shape != (1, 28, 28):
            raise ValueError(f"the ConvVAE takes 28x28 one-channel images, got data_shape={self.data_shape}")

    def to_dict(self) -> dict:
        """A plain dict (lists, not tuples) for JSON and for checkpoints."""
        out = asdict(self)
        out["data_shape"] = list(self.data_shape)
        return out


def parameter_estimate(config: ModelConfig) -> int:
    """Number of encoder and decoder parameters of the model of ``config``.

    Counted on the layers themselves, built on torch's ``meta`` device, which allocates nothing.
    """
    k, d = config.latent_dim, math.prod(config.data_shape)
    with torch.device("meta"):
        if config.architecture == "conv":
            parts = (ConvEncoder(k), ConvDecoder(k))
        else:
            parts = (Encoder(d, config.hidden, k), Decoder(k, config.hidden, d, config.decoder_activation))
    return sum(count_parameters(part) for part in parts)


def decoder_floats(model) -> int:
    """Numbers the decoder holds for one latent point: the sum of the outputs of its layers.

    Measured, not restated: the decoder is rebuilt on torch's ``meta`` device (nothing allocated) from
    ``model.config`` and run on one point with a hook on every layer. A model without a
    :class:`ModelConfig` (the Keras adapter, a hand-built model) counts its data size only. It is the
    ``per_point`` cost of :func:`vaecourse.marginal.chunk_size` for the IWAE of
    :func:`vaecourse.evaluate.iwae_per_image`, where the conv decoder's feature maps are many times
    the size of an image.
    """
    config = getattr(model, "config", None)
    if not isinstance(config, ModelConfig):
        return math.prod(getattr(model, "data_shape", (1,)))
    with torch.device("meta"):
        k, d = config.latent_dim, math.prod(config.data_shape)
        decoder = (
            ConvDecoder(k) if config.architecture == "conv" else Decoder(k, config.hidden, d, config.decoder_activation)
        )
        total = [0]
        layers = [m for m in decoder.modules() if not list(m.children())]
        hooks = [
            m.register_forward_hook(lambda m, i, out: total.__setitem__(0, total[0] + out.numel())) for m in layers
        ]
        with torch.no_grad():
            decoder(torch.zeros(1, k))  # (1, k) -> (1, ...)
        for hook in hooks:
            hook.remove()
    return max(total[0], d)


def _require_fits(config: ModelConfig) -> None:
    """ValueError with the estimated size, before any weight is allocated, when the model would not
    fit in memory (a typo such as ``hidden=100000``, or a forged checkpoint)."""
    n = parameter_estimate(config)
    require_memory(4 * n, f"the {config.architecture} model ({n:,} float32 parameters)")


def build_model(config: ModelConfig) -> nn.Module:
    """Build the model a :class:`ModelConfig` describes (weights freshly initialised).

    Raises ``ValueError`` when the model would not fit in memory (with its estimated size).
    """
    if config.architecture == "conv":
        return ConvVAE(latent_dim=config.latent_dim, likelihood=config.likelihood)
    return VAE(
        data_dim=math.prod(config.data_shape),
        hidden=config.hidden,
        latent_dim=config.latent_dim,
        data_shape=config.data_shape,
        likelihood=config.likelihood,
        decoder_activation=config.decoder_activation,
    )


def count_parameters(module: nn.Module) -> int:
    """Number of trainable scalars in ``module``."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


@runtime_checkable
class LatentVariableModel(Protocol):
    """A latent variable model with an encoder: $p(\\mathbf{h})$, $p(\\mathbf{x}\\mid\\mathbf{h})$ and
    $Q(\\mathbf{h}\\mid\\mathbf{x})$, all that the ELBO (:mod:`vaecourse.elbo`) and the quadrature
    (:mod:`vaecourse.marginal`) ask of a model.

    A class satisfies it by having these members (no inheritance): every :class:`VAEModel`, the exact
    :class:`vaecourse.linear_gaussian.LinearGaussian` and :func:`vaecourse.ising.conditional.conditioned`.
    ``isinstance(model, LatentVariableModel)`` checks that the members exist (not their signatures).
    Kingma & Welling 2013; book/elbo.md.
    """

    #: The dimension $k$ of $\\mathbf{h}$.
    latent_dim: int
    #: The shape of one observation $\\mathbf{x}$, e.g. ``(1, 28, 28)``.
    data_shape: tuple

    def encode(self, x: torch.Tensor) -> torch.distributions.Normal:
        """$Q(\\mathbf{h}\\mid\\mathbf{x}) = \\mathcal{N}(\\boldsymbol\\mu(\\mathbf{x}),
        \\operatorname{diag}\\boldsymbol\\sigma^2(\\mathbf{x}))$: ``x`` ``(B, *data_shape)`` -> batch shape
        ``(B, latent_dim)``."""
        ...

    def log_likelihood(self, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        """$\\log p(\\mathbf{x}\\mid\\mathbf{h})$ summed over the data dimensions: ``h`` ``(B, latent_dim)``
        -> ``(B,)``; ``(S, B, latent_dim)`` or ``(S, 1, latent_dim)`` (one latent point for the whole
        batch, as on a quadrature grid) -> ``(S, B)``."""
        ...

    def prior(self) -> torch.distributions.Normal:
        """$p(\\mathbf{h})$, batch shape ``(latent_dim,)`` ($\\mathcal{N}(0, I)$ for the VAEs)."""
        ...


@runtime_checkable
class VAEModel(LatentVariableModel, Protocol):
    """A trainable VAE of the course: a :class:`LatentVariableModel` with weights, a decoder mean and a
    likelihood name, as :func:`vaecourse.train.fit`, :mod:`vaecourse.evaluate`, :mod:`vaecourse.plotting`
    and the widgets use it.

    :class:`VAE`, :class:`ConvVAE`, :class:`vaecourse.autoregressive.AutoregressiveVAE`, the spectra VAE
    (a :class:`VAE` with a Gaussian likelihood) and the read-only Keras adapter
    :class:`vaecourse.keras_vae.KerasAsTorchVAE` satisfy it. The device and dtype of a model are
    :func:`vaecourse.device.placement` (from ``parameters()``). book/pytorch_vae.md.
    """

    #: ``"bernoulli"`` (pixels in [0, 1], logits) or ``"gaussian"`` (a learned scale).
    likelihood: str
    #: True in training mode (``train()``), False after ``eval()``, as for a ``torch.nn.Module``.
    training: bool

    def decoder_mean(self, h: torch.Tensor) -> torch.Tensor:
        """The mean of $p(\\mathbf{x}\\mid\\mathbf{h})$: ``h`` ``(..., latent_dim)`` -> ``(..., *data_shape)``."""
        ...

    def parameters(self) -> Iterator[torch.Tensor]:
        """The weights (tensors); their device and dtype are the model's."""
        ...

    def train(self, mode: bool = True) -> VAEModel:
        """Switch training mode on (or off with ``mode=False``); return the model."""
        ...

    def eval(self) -> VAEModel:
        """Switch training mode off; return the model."""
        ...


class Encoder(nn.Module):
    """The lecture's PyTorch encoder, with its layer names.

    $Q(\\mathbf{h}\\mid\\mathbf{x})$:
    $\\mathbf{a} = \\mathrm{ReLU}(W_2\\,
    \\mathrm{ReLU}(W_1\\mathbf{x}+b_1)+b_2)$,
    $\\boldsymbol\\mu = W_\\mu\\mathbf{a}+b_\\mu$,
    $\\log\\boldsymbol\\sigma = W_\\sigma\\mathbf{a}+b_\\sigma$.

    Input ``(B, D_in)`` (or ``(B, *data_shape)``, flattened here); returns
    ``Normal(loc=mu, scale=sigma)`` of batch shape ``(B, latent_size)``. Note
    the head predicts $\\log\\sigma$, not $\\log\\sigma^2$ (the Keras example
    predicts ``z_log_var``).
    """

    # D_in and H: the lecture's names
    def __init__(self, D_in: int, H: int, latent_size: int):  # noqa: N803
        super().__init__()
        self.linear1 = nn.Linear(D_in, H)
        self.linear2 = nn.Linear(H, H)
        self.enc_mu = nn.Linear(H, latent_size)
        self.enc_log_sigma = nn.Linear(H, latent_size)

    def forward(self, x: torch.Tensor) -> torch.distributions.Normal:
        x = x.flatten(1)  # (B, D_in)
        x = F.relu(self.linear1(x))  # (B, H)
        x = F.relu(self.linear2(x))  # (B, H)
        mu = self.enc_mu(x)  # (B, latent_size)
        log_sigma = self.enc_log_sigma(x)  # (B, latent_size)
        sigma = torch.exp(log_sigma)
        return torch.distributions.Normal(loc=mu, scale=sigma)


def _bernoulli_log_prob(x: torch.Tensor, logits: torch.Tensor, event_dims: int) -> torch.Tensor:
    """$\\sum_d x_d \\log\\sigma(l_d) + (1-x_d)\\log(1-\\sigma(l_d))$ = minus the summed binary
    cross-entropy, stable for large logits. For grey levels $x_d\\in[0,1]$ this is the Keras and
    pytorch/examples loss, which is *not* a normalised log-likelihood."""
    per_pixel = x * logits - F.softplus(logits)  # (..., *data_shape)
    return per_pixel.flatten(-event_dims).sum(-1)


def _gaussian_log_prob(x: torch.Tensor, mean: torch.Tensor, log_scale: torch.Tensor, event_dims: int):
    """$\\sum_d \\log\\mathcal{N}(x_d; m_d, \\sigma^2)$ with one scalar $\\sigma = e^{\\text{log\\_scale}}$."""
    per_pixel = -0.5 * ((x - mean) * torch.exp(-log_scale)) ** 2 - log_scale - 0.5 * math.log(2 * math.pi)
    return per_pixel.flatten(-event_dims).sum(-1)


class PriorMixin:
    """The prior $p(\\mathbf{h}) = \\mathcal{N}(0, I)$ and sampling from the model, for any class
    with ``latent_dim``, ``parameters()`` and ``decoder_mean(h)`` (the models here and
    :class:`vaecourse.keras_vae.KerasAsTorchVAE`)."""

    def prior(self) -> torch.distributions.Normal:
        """$p(\\mathbf{h}) = \\mathcal{N}(0, I)$, batch shape ``(latent_dim,)``, on the model's device."""
        device, dtype = placement(self)
        zeros = torch.zeros(self.latent_dim, device=device, dtype=dtype)
        return torch.distributions.Normal(zeros, torch.ones_like(zeros))

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Mean images of ``n`` prior draws, shape ``(n, *data_shape)``."""
        device, dtype = placement(self)
        h = torch.randn(n, self.latent_dim, generator=generator, device=device, dtype=dtype)
        with torch.no_grad():
            return self.decoder_mean(h)


class _LikelihoodMixin(PriorMixin):
    """The :class:`VAEModel` members for a class with an ``encoder`` (x -> Q(h|x)) and a ``decoder``
    ((N, latent_dim) -> N outputs)."""

    likelihood: str
    data_shape: tuple
    latent_dim: int

    def encode(self, x: torch.Tensor) -> torch.distributions.Normal:
        """$Q(\\mathbf{h}\\mid\\mathbf{x})$, batch shape ``(B, latent_dim)``.

        Raises ``ValueError`` unless ``x`` is ``(B, ...)`` with ``data_dim`` values per row, as
        ``(B, *data_shape)`` or ``(B, data_dim)``, in the weights' dtype (shape and dtype checks, no
        device sync: three-channel images are refused, not read as three times the batch).
        """
        if not isinstance(x, torch.Tensor) or x.ndim < 2 or math.prod(x.shape[1:]) != math.prod(self.data_shape):
            shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(
                f"x must be a tensor of shape (B, {', '.join(map(str, self.data_shape))}) or "
                f"(B, {math.prod(self.data_shape)}) for this model, got {shape}"
            )
        dtype = placement(self)[1]
        if x.dtype != dtype:
            hint = "divide raw pixels by 255 (x.float() / 255)" if not x.is_floating_point() else f"use x.to({dtype})"
            raise ValueError(f"x is {x.dtype}, the model's weights are {dtype}; {hint}")
        return self.encoder(x)

    def _output(self, h: torch.Tensor) -> torch.Tensor:
        """Decoder output (logits or Gaussian mean) for ``h`` of shape ``(..., latent_dim)``."""
        lead = h.shape[:-1]
        out = self.decoder(h.reshape(-1, self.latent_dim))  # (N, data_dim) or (N, *data_shape)
        return out.reshape(*lead, *self.data_shape)  # (..., *data_shape)

    def decode(self, h: torch.Tensor) -> torch.distributions.Distribution:
        """$p(\\mathbf{x}\\mid\\mathbf{h})$ with event shape ``data_shape``.

        Bernoulli: ``Independent(Bernoulli(logits=...))``; built with ``validate_args=False`` so
        that grey-level images (values in [0,1]) can be scored as in the Keras and PyTorch
        examples. Gaussian: ``Independent(Normal(mean, sigma))`` with one learned sigma.
        """
        out = self._output(h)
        n = len(self.data_shape)
        if self.likelihood == "bernoulli":
            base = torch.distributions.Bernoulli(logits=out, validate_args=False)
        else:
            base = torch.distributions.Normal(out, torch.exp(self.log_scale).expand_as(out))
        return torch.distributions.Independent(base, n)

    def log_likelihood(self, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        """$\\log p(\\mathbf{x}\\mid\\mathbf{h})$ summed over data dimensions.

        ``x``: ``(B, *data_shape)`` or ``(B, data_dim)``; ``h``: ``(B, latent_dim)`` -> ``(B,)``,
        or ``(S, B, latent_dim)`` -> ``(S, B)``.
        """
        x = x.reshape(x.shape[0], *self.data_shape)  # (B, *data_shape)
        out = self._output(h)  # (..., B, *data_shape)
        n = len(self.data_shape)
        if self.likelihood == "bernoulli":
            return _bernoulli_log_prob(x, out, n)
        return _gaussian_log_prob(x, out, self.log_scale, n)

    def decoder_mean(self, h: torch.Tensor) -> torch.Tensor:
        """Mean of $p(\\mathbf{x}\\mid\\mathbf{h})$, shape ``(..., *data_shape)``."""
        out = self._output(h)
        return torch.sigmoid(out) if self.likelihood == "bernoulli" else out

    def forward(self, x: torch.Tensor) -> torch.distributions.Normal:
        """Same as :meth:`encode`."""
        return self.encode(x)


class Decoder(nn.Module):
    """MLP decoder $\\mathbf{h}\\mapsto$ logits (or Gaussian means).

    The logits or means of $p(\\mathbf{x}\\mid\\mathbf{h})$. ``net`` =
    Linear(latent_dim, H) -> act -> Linear(H, H) -> act -> Linear(H, data_dim),
    only ``nn.Linear``/``nn.ReLU``/``nn.Tanh`` layers (the in-browser decoder
    reproduces it). Input ``(N, latent_dim)``, output ``(N, data_dim)``.
    """

    def __init__(
        self,
        latent_dim: int,
        H: int,  # noqa: N803
        data_dim: int,
        activation: str = "relu",
    ):
        super().__init__()
        act = nn.ReLU if activation == "relu" else nn.Tanh
        self.net = nn.Sequential(
            nn.Linear(latent_dim, H),
            act(),
            nn.Linear(H, H),
            act(),
            nn.Linear(H, data_dim),
        )

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.net(h)


class VAE(_LikelihoodMixin, nn.Module):
    """The lecture's MLP VAE: :class:`Encoder` + :class:`Decoder` + prior $\\mathcal{N}(0, I)$.

    Kingma & Welling 2013; book/pytorch_vae.md. ``x`` is ``(B, *data_shape)`` or ``(B, data_dim)``.
    The model keeps the :class:`ModelConfig` it was built from as ``self.config``.
    """

    def __init__(
        self,
        data_dim: int = 784,
        hidden: int = 400,
        latent_dim: int = 2,
        data_shape: tuple | None = None,
        likelihood: str = "bernoulli",
        decoder_activation: str = "relu",
    ):
        super().__init__()
        data_shape = tuple(data_shape) if data_shape is not None else (data_dim,)
        if math.prod(data_shape) != data_dim:
            raise ValueError(f"data_shape {data_shape} does not hold data_dim={data_dim} values")
        self.config = ModelConfig(
            architecture="mlp",
            latent_dim=latent_dim,
            hidden=hidden,
            data_shape=data_shape,
            likelihood=likelihood,
            decoder_activation=decoder_activation,
        )
        _require_fits(self.config)
        self.data_dim, self.hidden, self.latent_dim = data_dim, hidden, latent_dim
        self.data_shape, self.likelihood = self.config.data_shape, likelihood
        self.encoder = Encoder(data_dim, hidden, latent_dim)
        self.decoder = Decoder(latent_dim, hidden, data_dim, decoder_activation)
        if likelihood == "gaussian":
            self.log_scale = nn.Parameter(torch.zeros(()))

    def extra_repr(self) -> str:
        return (
            f"data_shape={self.data_shape}, hidden={self.hidden}, latent_dim={self.latent_dim}, "
            f"likelihood={self.likelihood!r}, parameters: encoder {count_parameters(self.encoder):,}, "
            f"decoder {count_parameters(self.decoder):,}"
        )


class ConvEncoder(nn.Module):
    """The Keras example's encoder in PyTorch (69,076 parameters for latent_dim=2).

    (B,1,28,28) -> Conv(32,3,s2) ReLU -> (B,32,14,14) -> Conv(64,3,s2) ReLU -> (B,64,7,7) -> flatten
    (B,3136) -> Dense(16) ReLU -> ``z_mean`` and ``z_log_var`` heads (B, latent_dim). Returns
    ``Normal(mu, exp(0.5 * logvar))``.
    """

    def __init__(self, latent_dim: int = 2):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3, stride=2, padding=1)
        self.conv2 = nn.Conv2d(32, 64, 3, stride=2, padding=1)
        self.dense = nn.Linear(7 * 7 * 64, 16)
        self.z_mean = nn.Linear(16, latent_dim)
        self.z_log_var = nn.Linear(16, latent_dim)

    def forward(self, x: torch.Tensor) -> torch.distributions.Normal:
        x = x.reshape(-1, 1, 28, 28)
        a = F.relu(self.conv1(x))  # (B, 32, 14, 14)
        a = F.relu(self.conv2(a))  # (B, 64, 7, 7)
        a = F.relu(self.dense(a.flatten(1)))  # (B, 16)
        mu, logvar = self.z_mean(a), self.z_log_var(a)  # (B, latent_dim) each
        return torch.distributions.Normal(loc=mu, scale=torch.exp(0.5 * logvar))


class ConvDecoder(nn.Module):
    """The Keras example's decoder in PyTorch (65,089 parameters for latent_dim=2).

    (N, latent_dim) -> Dense(3136) ReLU -> (N,64,7,7) -> ConvT(64,3,s2) ReLU -> (N,64,14,14)
    -> ConvT(32,3,s2) ReLU -> (N,32,28,28) -> ConvT(1,3) -> logits (N,1,28,28). Keras puts a
    sigmoid on the last layer; here it lives in the Bernoulli likelihood (numerically stabler).
    """

    def __init__(self, latent_dim: int = 2):
        super().__init__()
        self.dense = nn.Linear(latent_dim, 7 * 7 * 64)
        self.deconv1 = nn.ConvTranspose2d(64, 64, 3, stride=2, padding=1, output_padding=1)
        self.deconv2 = nn.ConvTranspose2d(64, 32, 3, stride=2, padding=1, output_padding=1)
        self.out = nn.ConvTranspose2d(32, 1, 3, stride=1, padding=1)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        a = F.relu(self.dense(h)).reshape(-1, 64, 7, 7)  # (N, 64, 7, 7)
        a = F.relu(self.deconv1(a))  # (N, 64, 14, 14)
        a = F.relu(self.deconv2(a))  # (N, 32, 28, 28)
        return self.out(a)  # (N, 1, 28, 28)


class ConvVAE(_LikelihoodMixin, nn.Module):
    """The Keras "Variational AutoEncoder" example (F. Chollet) as a PyTorch model.

    book/keras_vae.md. ``x`` is ``(B, 1, 28, 28)`` (or ``(B, 784)``). The model keeps the
    :class:`ModelConfig` it was built from as ``self.config``.
    """

    def __init__(self, latent_dim: int = 2, likelihood: str = "bernoulli"):
        super().__init__()
        self.config = ModelConfig(architecture="conv", latent_dim=latent_dim, likelihood=likelihood)
        _require_fits(self.config)
        self.latent_dim, self.likelihood, self.data_shape = latent_dim, likelihood, (1, 28, 28)
        self.data_dim = 784
        self.encoder = ConvEncoder(latent_dim)
        self.decoder = ConvDecoder(latent_dim)
        if likelihood == "gaussian":
            self.log_scale = nn.Parameter(torch.zeros(()))
        # Speed only: convolution weights stored channels-last (as Keras does), so the CPU's oneDNN
        # convolutions skip layout conversions; same numbers up to float rounding (benchmarks/RESULTS.md).
        self.to(memory_format=torch.channels_last)

    def extra_repr(self) -> str:
        return (
            f"latent_dim={self.latent_dim}, likelihood={self.likelihood!r}, parameters: "
            f"encoder {count_parameters(self.encoder):,}, decoder {count_parameters(self.decoder):,}"
        )


def encoder_means(model: VAEModel, x: torch.Tensor, batch_size: int = 4096) -> torch.Tensor:
    """The encoder means $\\boldsymbol\\mu(\\mathbf{x})$ of $Q(\\mathbf{h}\\mid\\mathbf{x})$ for every row of ``x``.

    In batches of ``batch_size`` rows, without gradients, on the model's device and in its dtype
    (any :class:`VAEModel`); book/latent_space.md and book/ising.md read a data point's
    latent code as this mean (Wetzel 2017).

    Shapes: x (N, *data_shape) or (N, data_dim) -> (N, latent_dim), on the model's device.
    Raises ``ValueError`` for a batch_size < 1.
    """
    batch_size = require_count(batch_size, "batch_size")
    device, dtype = placement(model)
    with torch.no_grad():
        return torch.cat(
            [
                model.encode(chunk.to(device, dtype)).mean  # (b, latent_dim)
                for chunk in torch.as_tensor(x).split(batch_size)
            ]
        )


__all__ = [
    "LatentVariableModel",
    "VAEModel",
    "ModelConfig",
    "build_model",
    "parameter_estimate",
    "count_parameters",
    "encoder_means",
    "Encoder",
    "Decoder",
    "VAE",
    "ConvEncoder",
    "ConvDecoder",
    "ConvVAE",
]
