"""A temperature-conditioned VAE of Ising configurations, used as a sampler, and the physics of its samples.

The conditional model of the lecture's "Rearranging" slide (label ``eq:conditional``,
``book/bayes_rule.md``) with the input $x = T$ and the output $\\mathbf{y}$ a spin configuration
(``book/ising_generative.md``; Sohn et al. 2015): encoder $Q(\\mathbf{h}\\mid\\mathbf{y}, T)$, a
learned conditional prior $p(\\mathbf{h}\\mid T) = \\mathcal{N}(\\mathbf{m}(T), \\operatorname{diag}
\\mathbf{s}^2(T))$, decoder $p(\\mathbf{y}\\mid\\mathbf{h}, T)$ a product of Bernoulli distributions,
trained by the conditional ELBO (label ``eq:cvae-elbo``, :func:`conditional_elbo`)

.. math:: \\log p(\\mathbf{y}\\mid T) \\ge E_{Q}[\\log p(\\mathbf{y}\\mid\\mathbf{h}, T)]
          - \\mathcal{D}[Q(\\mathbf{h}\\mid\\mathbf{y}, T)\\,\\|\\,p(\\mathbf{h}\\mid T)].

Each training pair is stored as one row ``[pixels (L*L), T / T_SCALE]`` (:func:`pack`); the model
reads $T$ from the last column and scores only the pixels. :func:`conditioned` fixes the condition
of a batch of rows, so that the unconditional tools of the course (:mod:`vaecourse.marginal`'s
quadrature, :func:`vaecourse.elbo.iwae`) run on the conditional model unchanged. Two decoders:
``"mlp"`` and ``"conv"`` (convolutions with periodic padding, after D'Angelo & Boettcher 2020).
Either way the pixels are drawn *independently* given $\\mathbf{h}$ and $T$, which is what Yevick
2022 found suppresses the spin correlations (:func:`generate`).

The physics of the generated configurations is measured by :mod:`vaecourse.ising.exact`
(``correlation_function``, ``observables_by_temperature``, ``exact_enumeration``).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.distributions import Normal

from vaecourse import cache, validation
from vaecourse.device import default_device, placement
from vaecourse.ising import exact
from vaecourse.models import Encoder, count_parameters
from vaecourse.train import make_optimizer, progress_bar, run_epoch

__all__ = [
    "T_SCALE",
    "DECODERS",
    "ConditionalConfig",
    "ConditionalVAE",
    "pack",
    "conditioned",
    "conditional_elbo",
    "train_conditional",
    "generate",
    "elbo_vs_quadrature",
]

#: The condition column holds $T / T_{\\rm scale}$, in $[0, 1]$ for $T \\le 4$.
T_SCALE = 4.0
DECODERS = ("mlp", "conv")


@dataclass
class ConditionalConfig:
    """Everything that builds a :class:`ConditionalVAE` (and keys its cache)."""

    # Linear lattice size L (the configurations are L x L).
    L: int = 16
    # Latent dimension k.
    latent_dim: int = 2
    # Hidden width of the encoder and of the MLP decoder.
    hidden: int = 128
    # "mlp": Linear(k+1, H) -> ReLU -> Linear(H, H) -> ReLU -> Linear(H, L*L);
    # "conv": Linear(k+1, c*L*L) -> ReLU -> two 3x3 periodic convolutions (c channels, then 1).
    decoder: str = "mlp"
    # Channels c of the convolutional decoder.
    channels: int = 8

    def __post_init__(self) -> None:
        if int(self.L) < 2 or int(self.latent_dim) < 1 or int(self.hidden) < 1 or int(self.channels) < 1:
            raise ValueError(f"L >= 2, latent_dim, hidden and channels >= 1 are needed, got {self}")
        if self.decoder not in DECODERS:
            raise ValueError(f"decoder must be one of {DECODERS}, got {self.decoder!r}")

    def to_dict(self) -> dict:
        return asdict(self)


class _ConvDecoder(nn.Module):
    """(N, k + 1) -> logits (N, L*L): a dense layer to c feature maps, two periodic 3x3 convolutions."""

    def __init__(self, latent_dim: int, L: int, channels: int):  # noqa: N803 -- the lattice size
        super().__init__()
        self.L, self.channels = L, channels
        self.dense = nn.Linear(latent_dim + 1, channels * L * L)
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1, padding_mode="circular")
        self.conv2 = nn.Conv2d(channels, 1, 3, padding=1, padding_mode="circular")

    def forward(self, ht: torch.Tensor) -> torch.Tensor:
        a = F.relu(self.dense(ht)).reshape(-1, self.channels, self.L, self.L)  # (N, c, L, L)
        a = F.relu(self.conv1(a))  # (N, c, L, L)
        return self.conv2(a).flatten(1)  # (N, L*L)


def _condition(t_column: torch.Tensor) -> torch.Tensor:
    """The network input for a condition column $T/T_{\\rm scale}$: $T - T_c$ (centred, order one)."""
    return t_column * T_SCALE - exact.T_C


class ConditionalVAE(nn.Module):
    """A VAE of spin configurations conditioned on the temperature: $Q(h|y,T)$, $p(h|T)$, $p(y|h,T)$.

    On packed rows ``[pixels, T / T_SCALE]`` (:func:`pack`): ``encode(x)`` is the lecture's
    :class:`vaecourse.models.Encoder` on the whole row; ``prior_at(t_column)`` is
    $\\mathcal{N}(\\mathbf{m}(T), \\operatorname{diag}\\mathbf{s}^2(T))$ from a small network;
    ``log_likelihood(x, h)`` $= \\sum_i [y_i \\log p_i + (1 - y_i)\\log(1 - p_i)]$ over the pixels only,
    $p_i = \\sigma(\\text{decoder}(\\mathbf{h}, T))$ (label ``eq:cvae-elbo``); :meth:`logits` decodes at
    chosen temperatures. ``book/ising_generative.md``; Sohn et al. 2015.

    Shapes: rows ``x`` ``(B, L*L + 1)``; ``h`` ``(B, k)``, ``(S, B, k)`` or ``(S, 1, k)``.
    """

    likelihood = "bernoulli"

    def __init__(self, config: ConditionalConfig):
        super().__init__()
        self.config = config
        self.L, self.latent_dim = int(config.L), int(config.latent_dim)
        self.n_pixels = self.L * self.L
        self.data_shape = (self.n_pixels + 1,)
        self.data_dim = self.n_pixels + 1
        self.encoder = Encoder(self.data_dim, config.hidden, self.latent_dim)
        self.prior_net = nn.Sequential(nn.Linear(1, 32), nn.Tanh(), nn.Linear(32, 2 * self.latent_dim))
        if config.decoder == "mlp":
            self.decoder = nn.Sequential(
                nn.Linear(self.latent_dim + 1, config.hidden),
                nn.ReLU(),
                nn.Linear(config.hidden, config.hidden),
                nn.ReLU(),
                nn.Linear(config.hidden, self.n_pixels),
            )
        else:
            self.decoder = _ConvDecoder(self.latent_dim, self.L, config.channels)

    def extra_repr(self) -> str:
        return (
            f"L={self.L}, latent_dim={self.latent_dim}, decoder={self.config.decoder!r}, parameters: "
            f"encoder {count_parameters(self.encoder):,}, prior {count_parameters(self.prior_net):,}, "
            f"decoder {count_parameters(self.decoder):,}"
        )

    def encode(self, x: torch.Tensor) -> Normal:
        """$Q(\\mathbf{h}\\mid\\mathbf{y}, T)$ of packed rows ``(B, L*L + 1)``, batch shape ``(B, k)``."""
        return self.encoder(x)

    def prior_at(self, t_column: torch.Tensor) -> Normal:
        """$p(\\mathbf{h}\\mid T)$ for conditions ``t_column`` ``(B,)`` ($T$/T_SCALE): batch shape ``(B, k)``."""
        out = self.prior_net(_condition(t_column)[:, None])  # (B, 2k)
        return Normal(out[:, : self.latent_dim], torch.exp(out[:, self.latent_dim :]))

    def logits(self, h: torch.Tensor, t_column: torch.Tensor) -> torch.Tensor:
        """Decoder logits at latents ``h`` ``(..., k)`` and conditions ``t_column`` ($T$/T_SCALE) broadcasting
        against ``h.shape[:-1]``; result ``(..., L*L)``."""
        lead = torch.broadcast_shapes(h.shape[:-1], t_column.shape)
        ht = torch.cat([h.expand(*lead, self.latent_dim), _condition(t_column.to(h)).expand(lead)[..., None]], -1)
        out = self.decoder(ht.reshape(-1, self.latent_dim + 1))  # (N, L*L)
        return out.reshape(*lead, self.n_pixels)

    def log_likelihood(self, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        """$\\log p(\\mathbf{y}\\mid\\mathbf{h}, T)$ of packed rows ``x`` ``(B, L*L + 1)``: ``(B,)`` or ``(S, B)``."""
        x = x.reshape(x.shape[0], -1)
        y, t = x[:, :-1], x[:, -1]  # (B, L*L), (B,)
        logits = self.logits(h, t)  # (..., B, L*L)
        return (y * logits - F.softplus(logits)).sum(-1)

    def forward(self, x: torch.Tensor) -> Normal:
        return self.encode(x)


class _Conditioned:
    """A :class:`vaecourse.models.LatentVariableModel` with each row's condition fixed: ``prior()`` is
    $p(\\mathbf{h}\\mid T_b)$, batch (B, k)."""

    def __init__(self, model: ConditionalVAE, rows: torch.Tensor):
        self.model, self.rows = model, rows
        self.latent_dim, self.data_shape = model.latent_dim, model.data_shape

    def parameters(self):
        return self.model.parameters()

    def encode(self, x):
        return self.model.encode(x)

    def log_likelihood(self, x, h):
        return self.model.log_likelihood(x, h)

    def prior(self) -> Normal:
        return self.model.prior_at(self.rows[:, -1])


def conditioned(model: ConditionalVAE, rows: torch.Tensor):
    """A view of ``model`` for these ``rows`` whose ``prior()`` is each row's $p(\\mathbf{h}\\mid T)$.

    With it :func:`vaecourse.marginal.log_px_quadrature` computes $\\log p(\\mathbf{y}\\mid T)$ and
    :func:`vaecourse.elbo.iwae` the conditional IWAE bound; pass the same ``rows`` as their ``x``.
    ``book/ising_generative.md``. Shapes: ``rows`` ``(B, L*L + 1)``.
    """
    return _Conditioned(model, rows)


def conditional_elbo(model: ConditionalVAE, rows: torch.Tensor, n_samples: int = 1) -> torch.Tensor:
    """The conditional ELBO of a batch of rows.

    $E_Q[\\log p(\\mathbf{y}|\\mathbf{h},T)] - \\mathcal{D}[Q(\\mathbf{h}|\\mathbf{y},T)\\|p(\\mathbf{h}|T)]$.

    Reconstruction by ``n_samples`` reparameterised draws of $\\mathbf{h}$; the KL of two diagonal
    Gaussians in closed form, $\\frac12\\sum_j[\\sigma_j^2/s_j^2 + (\\mu_j - m_j)^2/s_j^2 - 1
    + \\log(s_j^2/\\sigma_j^2)]$. Label ``eq:cvae-elbo``; ``book/ising_generative.md``; Sohn et al. 2015.

    Shapes: ``rows`` ``(B, L*L + 1)`` -> ``(B,)``. Differentiable.

    Raises ``ValueError`` for ``n_samples < 1``.
    """
    from vaecourse.validation import require_count

    require_count(n_samples, "n_samples")
    q = model.encode(rows)  # (B, k)
    p = model.prior_at(rows[:, -1])  # (B, k)
    h = q.rsample((n_samples,))  # (S, B, k)
    reconstruction = model.log_likelihood(rows, h).mean(0)  # (B,)
    ratio = (q.scale / p.scale) ** 2
    kl = 0.5 * (ratio + ((q.loc - p.loc) / p.scale) ** 2 - 1 - torch.log(ratio)).sum(-1)  # (B,)
    return reconstruction - kl


def pack(spins, temperature) -> torch.Tensor:
    """Rows ``[pixels, T / T_SCALE]``: pixels $y_i = (s_i + 1)/2$ and the condition in the last column.

    ``book/ising_generative.md``. Shapes: ``spins`` ``(N, L, L)`` in $\\{-1, +1\\}$, ``temperature``
    ``(N,)`` -> float32 ``(N, L*L + 1)``.

    Raises ``ValueError`` for spins other than $\\pm 1$, mismatched lengths or $T$ outside $(0, 4]$.
    """
    from vaecourse.ising.vae_analysis import spins_to_pixels

    y = spins_to_pixels(spins)  # (N, L*L)
    t = torch.as_tensor(np.asarray(temperature, dtype=np.float32)).reshape(-1)
    if t.shape[0] != y.shape[0]:
        raise ValueError(
            f"need one temperature per configuration: {y.shape[0]} configurations, {t.shape[0]} temperatures"
        )
    if bool((t <= 0).any()) or bool((t > T_SCALE).any()):
        raise ValueError(f"temperatures must lie in (0, {T_SCALE}] (the condition column is T / {T_SCALE})")
    return torch.cat([y, (t / T_SCALE)[:, None]], 1)


def _cache_file(config: ConditionalConfig, train_config, rows: torch.Tensor):
    """The cache entry of a trained model: both configurations (the fields that change the weights) and the rows."""
    fields = {"model": config.to_dict(), "train": train_config.fields_that_change_weights(), "kind": "ConditionalVAE-2"}
    key = cache.key(fields, data=cache.fingerprint(rows), versioned=False)  # "kind" says when entries go stale
    return cache.cache_file("models", f"ising-cvae-{config.decoder}-{config.latent_dim}d", key)


def _load(path, config: ConditionalConfig) -> tuple[ConditionalVAE, list]:
    """The model and training ELBOs of an entry; :class:`vaecourse.cache.CacheEntryError` when it does not fit."""
    stored = cache.read_tensors(path, ("config", "model_state", "train_elbo"))
    if stored["config"] != config.to_dict():
        raise cache.CacheEntryError(f"{path.name} holds another model's configuration")
    with torch.random.fork_rng(devices=[]):  # building draws initial weights: leave the caller's RNG alone
        model = ConditionalVAE(config)
    try:
        model.load_state_dict(stored["model_state"])
    except (RuntimeError, TypeError, AttributeError) as error:
        raise cache.CacheEntryError(
            f"{path.name} does not hold this model's weights ({str(error).strip().splitlines()[0][:120]})"
        ) from None
    return model.eval(), list(stored["train_elbo"])


def train_conditional(
    config: ConditionalConfig,
    train_rows: torch.Tensor,
    train_config=None,
    use_cache: bool = True,
    force: bool = False,
    *,
    progress: bool | None = False,
):
    """A :class:`ConditionalVAE` trained by maximising :func:`conditional_elbo`, or loaded from the cache.

    Adam on mini-batches of ``train_config.batch_size`` rows for ``train_config.epochs`` epochs
    (a :class:`vaecourse.train.TrainConfig`; default 40 epochs of 128 rows, 3 in smoke mode), one
    sample of $\\mathbf{h}$ per row, seeded by ``train_config.seed``, one :func:`vaecourse.train.run_epoch`
    per epoch on the device :func:`vaecourse.device.default_device` gives for ``train_config.device``;
    ``progress``: a progress bar (default off: the chapter's page shows no bar; None: on unless smoke
    mode). The weights are one entry of :mod:`vaecourse.cache` (``ising-cvae-...`` in folder
    "models"), keyed by both configurations and the rows; ``force`` retrains and overwrites it. Label
    ``eq:cvae-elbo``; ``book/ising_generative.md``.

    Shapes: ``train_rows`` ``(N, L*L + 1)`` from :func:`pack`. Result: ``(model, train_elbo)``, the
    model in eval mode on the CPU and the mean training ELBO of each epoch (a list of floats).

    Raises ``ValueError`` when the rows do not hold ``L*L + 1`` columns,
    :class:`vaecourse.train.NonFiniteLossError` when the loss becomes NaN or infinite,
    :class:`vaecourse.cache.CacheEntryError` for a damaged entry that is not cheap to retrain (a cheap
    one is retrained with a ``CacheRebuiltWarning``).
    """
    from vaecourse import settings
    from vaecourse.train import TrainConfig

    if train_rows.ndim != 2 or train_rows.shape[1] != config.L**2 + 1:
        raise ValueError(
            f"rows must be (N, L*L + 1) = (N, {config.L**2 + 1}) from pack(); got {tuple(train_rows.shape)}"
        )
    if train_config is None:
        train_config = TrainConfig(epochs=settings.pick(full=40, smoke=3), batch_size=128, binarize="grey")
    path = _cache_file(config, train_config, train_rows)
    if use_cache:
        cheap = cache.cheap_to_train(train_config.epochs, train_rows.shape[0])
        stored = cache.load_entry(
            path, lambda entry: _load(entry, config), cheap=cheap, what="conditional VAE", force=force
        )
        if stored is not None:
            return stored
    device = default_device(train_config.device)
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(train_config.seed)
        model = ConditionalVAE(config)
        train_elbo = _fit(model, train_rows, train_config, device, progress)
    model.to("cpu").eval()  # returned on the CPU, as from the cache
    if use_cache:
        stored = {"config": config.to_dict(), "model_state": model.state_dict(), "train_elbo": train_elbo}
        cache.write_atomically(path, lambda tmp: torch.save(stored, tmp))
    return model, train_elbo


def _fit(model: ConditionalVAE, rows: torch.Tensor, train_config, device, progress: bool | None) -> list[float]:
    """Train ``model`` on ``rows`` on ``device`` by maximising :func:`conditional_elbo`; the mean ELBO of each epoch.

    The global RNG must be seeded already (it draws $\\boldsymbol\\epsilon$); the batch order is drawn
    from a generator seeded by ``train_config.seed``.
    """
    model.to(device)
    rows = rows.to(device)
    optimizer = make_optimizer(model, train_config.lr)
    generator = torch.Generator(device=device).manual_seed(train_config.seed)
    n_batches = math.ceil(rows.shape[0] / train_config.batch_size)

    def loss_fn(batch: torch.Tensor):
        return -conditional_elbo(model, batch).mean(), {}

    train_elbo = []
    with validation.disabled(), progress_bar(progress, train_config.epochs * n_batches, "ConditionalVAE") as on_step:
        model.train()
        for epoch in range(1, train_config.epochs + 1):
            sums = run_epoch(loss_fn, optimizer, rows, train_config.batch_size, generator, epoch, on_step)
            train_elbo.append(-sums["loss"] / rows.shape[0])
    return train_elbo


def generate(model: ConditionalVAE, temperatures, n_per_T: int, seed: int = 0, mean_only: bool = False):
    """Configurations drawn from the model at each temperature: $\\mathbf{h}\\sim p(\\mathbf{h}\\mid T)$, then
    every spin independently, $s_i = +1$ with probability $p_i = \\sigma(\\text{decoder}(\\mathbf{h}, T))$.

    With ``mean_only`` the mean spins $2p_i - 1$ are returned instead of draws. Because the spins are
    independent given $\\mathbf{h}$, their correlations come only through $\\mathbf{h}$ (Yevick 2022).
    ``book/ising_generative.md``.

    Shapes: ``temperatures`` ``(K,)``. Result: ``(spins, temperature)``, int8 ``(K*n, L, L)``
    (float32 with ``mean_only``) ordered by temperature, and float32 ``(K*n,)``.

    Raises ``ValueError`` for ``n_per_T < 1`` or a temperature outside $(0, 4]$.
    """
    from vaecourse.validation import require_count

    n = require_count(n_per_T, "n_per_T")
    temps = exact._positive_temperatures(temperatures, "temperatures").reshape(-1)
    if np.any(temps > T_SCALE):
        raise ValueError(f"temperatures must be at most {T_SCALE}")
    device, dtype = placement(model)
    gen = torch.Generator(device=device).manual_seed(int(seed))
    t = torch.as_tensor(np.repeat(temps, n), dtype=dtype, device=device)  # (K*n,)
    with torch.no_grad():
        prior = model.prior_at(t / T_SCALE)  # (K*n, k)
        eps = torch.randn(t.shape[0], model.latent_dim, generator=gen, device=device, dtype=dtype)
        h = prior.loc + prior.scale * eps  # (K*n, k) drawn from p(h | T)
        prob = torch.sigmoid(model.logits(h, t / T_SCALE))  # (K*n, L*L)
    shape = (t.shape[0], model.L, model.L)
    if mean_only:
        return (2 * prob - 1).reshape(shape).float().cpu(), t.float().cpu()
    up = torch.rand(prob.shape, generator=gen, device=device, dtype=dtype) < prob
    return (2 * up.to(torch.int8) - 1).reshape(shape).cpu(), t.float().cpu()


def elbo_vs_quadrature(
    model: ConditionalVAE, rows: torch.Tensor, n_samples: int = 2000, grid_size: int = 201, limit: float = 5.0
) -> dict:
    """Both sides of the conditional central equation on a trained model with a 2-D latent.

    Left: $\\log p(\\mathbf{y}\\mid T) - \\mathcal{D}[Q\\,\\|\\,p(\\mathbf{h}\\mid\\mathbf{y}, T)]$, both by
    quadrature on a latent grid (:mod:`vaecourse.marginal`); right: the ELBO of
    :func:`conditional_elbo` (Monte Carlo reconstruction, closed-form KL) with its standard error.
    Labels ``eq:conditional`` and ``eq:cvae-elbo``; ``book/ising_generative.md``.

    Shapes: ``rows`` ``(B, L*L + 1)``. Result: dict of float64 tensors ``(B,)``: ``"log_p"``,
    ``"kl_grid"``, ``"left"``, ``"elbo"``, ``"elbo_se"``.

    Raises ``ValueError`` unless ``model.latent_dim == 2``.
    """
    from vaecourse import marginal

    if model.latent_dim != 2:
        raise ValueError(f"the latent grid needs latent_dim == 2, got {model.latent_dim}")
    view = conditioned(model, rows)
    with torch.no_grad():
        axis, _, log_post = marginal.posterior_grid(view, rows, grid_size, limit)
        log_p = marginal.log_px_quadrature(view, rows, grid_size, limit)
        kl_grid = marginal.kl_q_posterior_on_grid(model.encode(rows), axis, axis, log_post)
        reps = 20
        values = torch.stack([conditional_elbo(model, rows, max(1, n_samples // reps)) for _ in range(reps)])
    return {
        "log_p": log_p.double(),
        "kl_grid": kl_grid.double(),
        "left": (log_p - kl_grid).double(),
        "elbo": values.mean(0).double(),
        "elbo_se": (values.std(0) / math.sqrt(reps)).double(),
    }
