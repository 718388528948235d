"""Diffusion models as hierarchical VAEs: the noising schedule, its closed forms, the ELBO's terms, a small
denoiser, its training and the ancestral sampler (book/diffusion.md).

A Markovian hierarchical VAE with latents $\\mathbf{h}_1, \\dots, \\mathbf{h}_N$ of the data's dimension,
$\\mathbf{h}_0 = \\mathbf{x}$, whose encoder is *fixed* to the Gaussian noising process

.. math::

    Q(\\mathbf{h}_t\\mid\\mathbf{h}_{t-1}) = \\mathcal{N}(\\sqrt{\\alpha_t}\\,\\mathbf{h}_{t-1}, (1-\\alpha_t) I),
    \\qquad \\bar\\alpha_t = \\prod_{s\\le t}\\alpha_s ,

is a variational diffusion model. Its closed forms: $Q(\\mathbf{h}_t\\mid\\mathbf{x}) =
\\mathcal{N}(\\sqrt{\\bar\\alpha_t}\\mathbf{x}, (1-\\bar\\alpha_t)I)$ (:func:`q_marginal`) and the posterior
$Q(\\mathbf{h}_{t-1}\\mid\\mathbf{h}_t,\\mathbf{x})$ (:func:`posterior`). The decoder
$p(\\mathbf{h}_{t-1}\\mid\\mathbf{h}_t)$ has the posterior's variance and the posterior's mean with
$\\mathbf{x}$ replaced by the network's guess $\\hat{\\mathbf{x}}$; the network may output that guess, the
noise or the score (:data:`PARAMETERISATIONS`; converted by :func:`x0_from_noise` and its siblings).

The number of steps is $N$ (``n_steps``), not $T$ (the Ising temperature), and the course writes no
$\\beta_t = 1 - \\alpha_t$ ($\\beta$ is the KL weight of book/kl_in_practice.md). Time ``t`` is an integer
tensor in $1..N$; ``Schedule`` arrays are indexed by $t$ directly (index 0 holds $\\bar\\alpha_0 = 1$).

References: Sohl-Dickstein et al. 2015 (arXiv:1503.03585); Ho, Jain & Abbeel 2020 (arXiv:2006.11239);
Kingma, Salimans, Poole & Ho 2021 (arXiv:2107.00630); Song et al. 2021 (arXiv:2011.13456);
C. Luo 2022, "Understanding Diffusion Models: A Unified Perspective" (arXiv:2208.11970).
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn

from vaecourse import cache
from vaecourse.device import placement

PARAMETERISATIONS = ("noise", "x0", "score")
SCHEDULES = ("cosine", "linear")
LIKELIHOODS = ("gaussian", "bernoulli")


# ----------------------------------------------------------------------------- the noising schedule


@dataclass(frozen=True)
class Schedule:
    """$\\alpha_t$ and $\\bar\\alpha_t$ for $t = 0..N$ (index 0: $\\alpha_0 = \\bar\\alpha_0 = 1$), float64."""

    alpha: torch.Tensor  # (N + 1,)
    alpha_bar: torch.Tensor  # (N + 1,)

    @property
    def n_steps(self) -> int:
        return self.alpha.shape[0] - 1

    def snr(self) -> torch.Tensor:
        """Signal-to-noise ratio $\\mathrm{SNR}(t) = \\bar\\alpha_t / (1-\\bar\\alpha_t)$, ``(N + 1,)`` (inf at 0)."""
        return self.alpha_bar / (1 - self.alpha_bar)


def make_schedule(n_steps: int, kind: str = "cosine", noise_min: float = 1e-4, noise_max: float = 0.02) -> Schedule:
    """The noising schedule: ``"cosine"`` (Nichol & Dhariwal 2021) or ``"linear"`` in $1-\\alpha_t$ (Ho et al. 2020).

    cosine: $\\bar\\alpha_t = f(t)/f(0)$, $f(t) = \\cos^2\\big(\\frac{t/N + s}{1+s}\\frac{\\pi}{2}\\big)$, $s = 0.008$,
    with $1-\\alpha_t \\le 0.999$; linear: $1-\\alpha_t$ from ``noise_min`` to ``noise_max``, both scaled by
    $1000/N$ (Ho et al.'s values are for $N = 1000$). book/diffusion.md.

    Raises ``ValueError`` for fewer than 2 steps or another ``kind``.
    """
    if not isinstance(n_steps, int) or n_steps < 2:
        raise ValueError(f"n_steps must be an integer of at least 2, got {n_steps!r}")
    if kind not in SCHEDULES:
        raise ValueError(f"schedule must be one of {SCHEDULES}, got {kind!r}")
    t = torch.arange(n_steps + 1, dtype=torch.float64)
    if kind == "cosine":
        s = 0.008
        f = torch.cos((t / n_steps + s) / (1 + s) * math.pi / 2) ** 2
        alpha = torch.ones_like(t)
        alpha[1:] = (f[1:] / f[:-1]).clamp(min=1e-3)  # 1 - alpha_t <= 0.999
    else:
        scale = 1000 / n_steps
        alpha = torch.ones_like(t)
        alpha[1:] = 1 - torch.linspace(noise_min * scale, noise_max * scale, n_steps, dtype=torch.float64)
    return Schedule(alpha, torch.cumprod(alpha, 0))


def _at(values: torch.Tensor, t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """``values[t]`` shaped to broadcast against ``like`` ``(B, D...)``: ``(B, 1, ...)``, in ``like``'s dtype."""
    out = values.to(like.device)[t.long()].to(like.dtype)  # (B,)
    return out.reshape(out.shape + (1,) * (like.ndim - out.ndim))


# ----------------------------------------------------------------------------- the closed forms


def q_step(h_prev: torch.Tensor, t: torch.Tensor, eps: torch.Tensor, schedule: Schedule) -> torch.Tensor:
    """One noising step.

    $\\mathbf{h}_t = \\sqrt{\\alpha_t}\\,\\mathbf{h}_{t-1} + \\sqrt{1-\\alpha_t}\\,\\boldsymbol\\epsilon$.
    Label ``eq:noising-step``; book/diffusion.md. Shapes: ``h_prev``, ``eps`` ``(B, D)``, ``t`` ``(B,)`` -> ``(B, D)``.
    """
    a = _at(schedule.alpha, t, h_prev)  # (B, 1)
    return a.sqrt() * h_prev + (1 - a).sqrt() * eps


def q_marginal(x: torch.Tensor, t: torch.Tensor, schedule: Schedule) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and variance of the noising process after t steps, in closed form.

    $Q(\\mathbf{h}_t\\mid\\mathbf{x}) = \\mathcal{N}(\\sqrt{\\bar\\alpha_t}\\mathbf{x}, (1-\\bar\\alpha_t)I)$.

    Label ``eq:q-marginal``; book/diffusion.md; Ho et al. 2020, eq. 4. Shapes: ``x`` ``(B, D)``, ``t`` ``(B,)``
    -> mean ``(B, D)``, variance ``(B, 1)`` (the same for every coordinate).
    """
    ab = _at(schedule.alpha_bar, t, x)  # (B, 1)
    return ab.sqrt() * x, 1 - ab


def q_sample(x: torch.Tensor, t: torch.Tensor, eps: torch.Tensor, schedule: Schedule) -> torch.Tensor:
    """A draw of :func:`q_marginal` in one step.

    $\\mathbf{h}_t = \\sqrt{\\bar\\alpha_t}\\,\\mathbf{x} + \\sqrt{1-\\bar\\alpha_t}\\,\\boldsymbol\\epsilon$.
    Shapes: ``x``, ``eps`` ``(B, D)``, ``t`` ``(B,)`` -> ``(B, D)``."""
    mean, var = q_marginal(x, t, schedule)
    return mean + var.sqrt() * eps


def posterior(
    h_t: torch.Tensor, x: torch.Tensor, t: torch.Tensor, schedule: Schedule
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and variance of $Q(\\mathbf{h}_{t-1}\\mid\\mathbf{h}_t,\\mathbf{x})$, for $t \\ge 1$.

    .. math::

        \\boldsymbol\\mu_q = \\frac{\\sqrt{\\alpha_t}(1-\\bar\\alpha_{t-1})\\,\\mathbf{h}_t
        + \\sqrt{\\bar\\alpha_{t-1}}(1-\\alpha_t)\\,\\mathbf{x}}{1-\\bar\\alpha_t},\\qquad
        \\sigma_t^2 = \\frac{(1-\\alpha_t)(1-\\bar\\alpha_{t-1})}{1-\\bar\\alpha_t} .

    Label ``eq:posterior``; book/diffusion.md; Luo 2022. Shapes: ``h_t``, ``x`` ``(B, D)``, ``t``
    ``(B,)`` -> mean ``(B, D)``, variance ``(B, 1)``.
    """
    a, ab, ab_prev = _at(schedule.alpha, t, x), _at(schedule.alpha_bar, t, x), _at(schedule.alpha_bar, t - 1, x)
    mean = (a.sqrt() * (1 - ab_prev) * h_t + ab_prev.sqrt() * (1 - a) * x) / (1 - ab)
    return mean, (1 - a) * (1 - ab_prev) / (1 - ab)


# ----------------------------------------------------------------------------- the three parameterisations


def x0_from_noise(h_t: torch.Tensor, eps: torch.Tensor, t: torch.Tensor, schedule: Schedule) -> torch.Tensor:
    """The guess of x from a guess of the noise (:func:`q_sample` solved for $\\mathbf{x}$).

    $\\hat{\\mathbf{x}} = (\\mathbf{h}_t - \\sqrt{1-\\bar\\alpha_t}\\,\\hat{\\boldsymbol\\epsilon})
    /\\sqrt{\\bar\\alpha_t}$.
    Label ``eq:three-targets``. Shapes: ``(B, D)``, ``t`` ``(B,)``."""
    ab = _at(schedule.alpha_bar, t, h_t)
    return (h_t - (1 - ab).sqrt() * eps) / ab.sqrt()


def noise_from_x0(h_t: torch.Tensor, x0: torch.Tensor, t: torch.Tensor, schedule: Schedule) -> torch.Tensor:
    """The guess of the noise from a guess of x, the inverse of :func:`x0_from_noise`.

    $\\hat{\\boldsymbol\\epsilon} = (\\mathbf{h}_t - \\sqrt{\\bar\\alpha_t}\\,\\hat{\\mathbf{x}})
    /\\sqrt{1-\\bar\\alpha_t}$.
    Label ``eq:three-targets``. Shapes: ``(B, D)``, ``t`` ``(B,)``."""
    ab = _at(schedule.alpha_bar, t, h_t)
    return (h_t - ab.sqrt() * x0) / (1 - ab).sqrt()


def score_from_noise(h_t: torch.Tensor, eps: torch.Tensor, t: torch.Tensor, schedule: Schedule) -> torch.Tensor:
    """$\\hat{\\mathbf{s}} = -\\hat{\\boldsymbol\\epsilon}/\\sqrt{1-\\bar\\alpha_t}$, the score
    $\\nabla_{\\mathbf{h}_t}\\log Q(\\mathbf{h}_t\\mid\\mathbf{x})$ in terms of the noise (Tweedie's formula; Luo 2022).
    Label ``eq:three-targets``. Shapes: ``(B, D)``, ``t`` ``(B,)``."""
    return -eps / _at(1 - schedule.alpha_bar, t, h_t).sqrt()


def noise_from_score(h_t: torch.Tensor, score: torch.Tensor, t: torch.Tensor, schedule: Schedule) -> torch.Tensor:
    """The inverse of :func:`score_from_noise`:
    $\\hat{\\boldsymbol\\epsilon} = -\\sqrt{1-\\bar\\alpha_t}\\,\\hat{\\mathbf{s}}$."""
    return -score * _at(1 - schedule.alpha_bar, t, h_t).sqrt()


def weight_x0(t: torch.Tensor, schedule: Schedule) -> torch.Tensor:
    """The weight of $\\Vert\\mathbf{x}-\\hat{\\mathbf{x}}\\Vert^2$ in the denoising KL:
    $\\tfrac12(\\mathrm{SNR}(t-1) - \\mathrm{SNR}(t))$, for $t \\ge 2$. Label ``eq:three-objectives``; Kingma et al.
    2021. Shapes: ``t`` ``(B,)`` -> ``(B,)`` float64."""
    snr = schedule.snr().to(t.device)
    return 0.5 * (snr[t - 1] - snr[t])


def weight_noise(t: torch.Tensor, schedule: Schedule) -> torch.Tensor:
    """The weight of $\\Vert\\boldsymbol\\epsilon-\\hat{\\boldsymbol\\epsilon}\\Vert^2$:
    $\\tfrac12(\\mathrm{SNR}(t-1)/\\mathrm{SNR}(t) - 1)$, for $t \\ge 2$. Label ``eq:three-objectives``."""
    snr = schedule.snr().to(t.device)
    return 0.5 * (snr[t - 1] / snr[t] - 1)


def weight_score(t: torch.Tensor, schedule: Schedule) -> torch.Tensor:
    """The weight of $\\Vert\\mathbf{s}-\\hat{\\mathbf{s}}\\Vert^2$:
    $\\tfrac12(\\mathrm{SNR}(t-1)/\\mathrm{SNR}(t) - 1)(1-\\bar\\alpha_t)$, for $t \\ge 2$.
    Label ``eq:three-objectives``."""
    return weight_noise(t, schedule) * (1 - schedule.alpha_bar.to(t.device)[t])


# ----------------------------------------------------------------------------- the denoiser and the model


@dataclass
class DiffusionConfig:
    """Everything needed to build a :class:`DiffusionModel` (and to key its cache entry)."""

    # Dimension D of x (and of every h_t): 2 for the toy data, 784 for MNIST.
    data_dim: int = 2
    # Number of steps N (the course's T is the Ising temperature).
    n_steps: int = 50
    # "cosine" or "linear" (make_schedule).
    schedule: str = "cosine"
    # What the network outputs: "noise" (Ho et al. 2020), "x0" or "score".
    parameterisation: str = "noise"
    # Width and number of hidden layers of the MLP.
    hidden: int = 128
    layers: int = 3
    # Sinusoidal features of t/N fed to the network (twice this many numbers).
    time_features: int = 16
    # p(x|h_1): "gaussian" (continuous data) or "bernoulli" (binary pixels, stored as -1/+1).
    likelihood: str = "gaussian"
    # The decoder clips its guess of x to [-clip, clip] (0: no clipping). At large t the noise guess is
    # divided by sqrt(alpha_bar_t) ~ 0.01 to give x: clipping keeps the reverse steps finite (Ho et al. 2020).
    clip: float = 0.0

    def __post_init__(self) -> None:
        for name in ("data_dim", "hidden", "layers", "time_features"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if not isinstance(self.n_steps, int) or self.n_steps < 2:
            raise ValueError(f"n_steps must be an integer of at least 2, got {self.n_steps!r}")
        if not (isinstance(self.clip, (int, float)) and math.isfinite(self.clip) and self.clip >= 0):
            raise ValueError(f"clip must be a finite number >= 0 (0: no clipping), got {self.clip!r}")
        for name, allowed in (
            ("schedule", SCHEDULES),
            ("parameterisation", PARAMETERISATIONS),
            ("likelihood", LIKELIHOODS),
        ):
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {allowed}, got {getattr(self, name)!r}")

    def to_dict(self) -> dict:
        return asdict(self)


class Denoiser(nn.Module):
    """An MLP from $(\\mathbf{h}_t, t)$ to a vector of the data's dimension (noise, $\\hat{\\mathbf{x}}$ or score).

    $t$ enters as ``time_features`` sines and cosines of $t/N$ at geometric frequencies, concatenated with
    $\\mathbf{h}_t$. Shapes: ``h`` ``(B, D)``, ``t`` ``(B,)`` integer -> ``(B, D)``.
    """

    def __init__(self, data_dim: int, hidden: int, layers: int, n_steps: int, time_features: int = 16):
        super().__init__()
        self.n_steps = n_steps
        self.register_buffer("frequencies", torch.exp(torch.linspace(0, math.log(1000), time_features)))
        widths = [data_dim + 2 * time_features] + [hidden] * layers
        body = []
        for a, b in zip(widths[:-1], widths[1:]):
            body += [nn.Linear(a, b), nn.SiLU()]
        self.net = nn.Sequential(*body, nn.Linear(hidden, data_dim))

    def forward(self, h: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        angle = (t.to(h.dtype) / self.n_steps)[:, None] * self.frequencies.to(h.dtype)  # (B, F)
        return self.net(torch.cat([h, torch.sin(angle), torch.cos(angle)], -1))  # (B, D + 2F) -> (B, D)


class DiffusionModel(nn.Module):
    """A variational diffusion model: the schedule, a :class:`Denoiser` and the config it was built from.

    ``x0``, ``noise`` and ``score`` give the network's guess in each parameterisation whatever it outputs;
    ``reverse_mean`` is the decoder's mean $\\boldsymbol\\mu_\\Theta(\\mathbf{h}_t, t)$. book/diffusion.md.
    """

    def __init__(self, config: DiffusionConfig):
        super().__init__()
        self.config = config
        self.schedule = make_schedule(config.n_steps, config.schedule)
        self.net = Denoiser(config.data_dim, config.hidden, config.layers, config.n_steps, config.time_features)

    def x0(self, h: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """$\\hat{\\mathbf{x}}(\\mathbf{h}_t, t)$, ``(B, D)``."""
        out, kind = self.net(h, t), self.config.parameterisation
        if kind == "x0":
            return out
        eps = out if kind == "noise" else noise_from_score(h, out, t, self.schedule)
        return x0_from_noise(h, eps, t, self.schedule)

    def noise(self, h: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """$\\hat{\\boldsymbol\\epsilon}(\\mathbf{h}_t, t)$, ``(B, D)``."""
        out, kind = self.net(h, t), self.config.parameterisation
        if kind == "noise":
            return out
        return noise_from_x0(h, out, t, self.schedule) if kind == "x0" else noise_from_score(h, out, t, self.schedule)

    def score(self, h: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """$\\hat{\\mathbf{s}}(\\mathbf{h}_t, t)$, ``(B, D)``."""
        if self.config.parameterisation == "score":
            return self.net(h, t)
        return score_from_noise(h, self.noise(h, t), t, self.schedule)

    def guess(self, h: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """The decoder's $\\hat{\\mathbf{x}}$: :meth:`x0`, clipped to ``[-clip, clip]`` when ``config.clip`` > 0."""
        x0 = self.x0(h, t)
        return x0.clamp(-self.config.clip, self.config.clip) if self.config.clip > 0 else x0

    def reverse_mean(self, h: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """$\\boldsymbol\\mu_\\Theta(\\mathbf{h}_t, t)$: :func:`posterior`'s mean, :meth:`guess` for $\\mathbf{x}$."""
        return posterior(h, self.guess(h, t), t, self.schedule)[0]

    def log_likelihood(self, x: torch.Tensor, h1: torch.Tensor) -> torch.Tensor:
        """$\\log p(\\mathbf{x}\\mid\\mathbf{h}_1)$ summed over the D coordinates, ``(B,)``.

        gaussian:
        $\\mathcal{N}(\\mathbf{x}; \\hat{\\mathbf{x}}(\\mathbf{h}_1, 1), \\frac{1-\\bar\\alpha_1}{\\bar\\alpha_1}I)$,
        the spread of $\\mathbf{x}$ given $\\mathbf{h}_1$ under a flat prior. bernoulli (pixels $\\pm1$): log-odds
        $2\\sqrt{\\bar\\alpha_1}\\,\\mathbf{h}_1/(1-\\bar\\alpha_1)$ of $+1$ against $-1$, the exact posterior of a
        pixel seen through the noise of step 1 when both values are equally likely (no network needed).
        """
        if self.config.likelihood == "gaussian":
            one = torch.ones(x.shape[0], dtype=torch.long, device=x.device)
            var = (1 - float(self.schedule.alpha_bar[1])) / float(self.schedule.alpha_bar[1])
            return (-0.5 * (x - self.guess(h1, one)) ** 2 / var - 0.5 * math.log(2 * math.pi * var)).sum(-1)
        return -nn.functional.softplus(-x * self._pixel_logits(h1)).sum(-1)  # log sigmoid(x logits), x = +-1

    def _pixel_logits(self, h1: torch.Tensor) -> torch.Tensor:
        ab1 = float(self.schedule.alpha_bar[1])
        return 2 * math.sqrt(ab1) * h1 / (1 - ab1)

    def decoder_mean(self, h1: torch.Tensor) -> torch.Tensor:
        """The mean of $p(\\mathbf{x}\\mid\\mathbf{h}_1)$: $\\hat{\\mathbf{x}}$ (gaussian) or
        $P(\\text{pixel} = +1)$ (bernoulli), ``(B, D)``."""
        if self.config.likelihood == "gaussian":
            return self.guess(h1, torch.ones(h1.shape[0], dtype=torch.long, device=h1.device))
        return torch.sigmoid(self._pixel_logits(h1))


def build(config: DiffusionConfig, seed: int = 0) -> DiffusionModel:
    """A :class:`DiffusionModel` with weights initialised from ``seed`` (the global RNG is left as it was)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return DiffusionModel(config)


# ----------------------------------------------------------------------------- training


def loss(model: DiffusionModel, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """The training loss of Ho et al. 2020, in the model's own parameterisation, unweighted, per image.

    $\\Vert\\boldsymbol\\epsilon - \\hat{\\boldsymbol\\epsilon}\\Vert^2$ (noise), $\\Vert\\mathbf{x} -
    \\hat{\\mathbf{x}}\\Vert^2$ (x0) or $(1-\\bar\\alpha_t)\\Vert\\mathbf{s} - \\hat{\\mathbf{s}}\\Vert^2$ (score, with
    the weight that makes it the noise loss), at $t$ uniform on $1..N$ and $\\mathbf{h}_t\\sim Q(\\mathbf{h}_t\\mid
    \\mathbf{x})$. book/diffusion.md. Shapes: ``x`` ``(B, D)`` -> ``(B,)``.
    """
    n = model.config.n_steps
    t = torch.randint(1, n + 1, (x.shape[0],), generator=generator, device=x.device)  # (B,)
    eps = torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)  # (B, D)
    h = q_sample(x, t, eps, model.schedule)
    out, kind = model.net(h, t), model.config.parameterisation
    if kind == "noise":
        return ((eps - out) ** 2).sum(-1)
    if kind == "x0":
        return ((x - out) ** 2).sum(-1)
    target = score_from_noise(h, eps, t, model.schedule)
    return (_at(1 - model.schedule.alpha_bar, t, x) * (target - out) ** 2).sum(-1)


@dataclass
class DiffusionTraining:
    """Settings of :func:`fit` (all of them key the cache)."""

    steps: int = 2000
    batch_size: int = 256
    lr: float = 2e-3
    seed: int = 0
    # "none" (continuous data) or "dynamic": a fresh Bernoulli draw of [0, 1] pixels per batch, mapped to -1/+1.
    binarize: str = "none"

    def to_dict(self) -> dict:
        return asdict(self)


def fit(model: DiffusionModel, x: torch.Tensor, training: DiffusionTraining) -> list[float]:
    """Train ``model`` on ``x`` ``(N, D)`` with Adam (cosine-decayed learning rate); return the loss per step.

    Batches are drawn with replacement from ``x`` with the training seed (the global RNG is untouched).
    With ``binarize="dynamic"``, ``x`` holds grey levels in $[0, 1]$ and each batch is a fresh Bernoulli
    draw mapped to $\\pm1$. Raises ``ValueError`` for an empty or non-finite ``x``.
    """
    if x.ndim != 2 or x.shape[0] == 0 or not torch.isfinite(x).all():
        raise ValueError(f"x must be a finite (N, D) tensor with N >= 1, got shape {tuple(x.shape)}")
    gen = torch.Generator().manual_seed(training.seed)
    opt = torch.optim.Adam(model.parameters(), lr=training.lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, training.steps)
    history = []
    model.train()
    for _ in range(training.steps):
        batch = x[torch.randint(0, x.shape[0], (training.batch_size,), generator=gen)]  # (B, D)
        if training.binarize == "dynamic":
            batch = 2 * torch.bernoulli(batch, generator=gen) - 1
        value = loss(model, batch, gen).mean()
        opt.zero_grad()
        value.backward()
        opt.step()
        sched.step()
        history.append(float(value.detach()))
    model.eval()
    return history


@dataclass
class TrainedDiffusion:
    """A trained model, its loss per step, its cache file, whether it came from the cache, and seconds."""

    model: DiffusionModel
    history: list
    path: Path
    from_cache: bool
    seconds: float

    def __repr__(self) -> str:  # the file name only: a notebook shows no machine's folders
        source = "loaded from the cache" if self.from_cache else f"trained now in {self.seconds:.0f} s"
        return f"TrainedDiffusion({len(self.history)} steps, {source}, file={self.path.name!r})"


def load_or_fit(
    config: DiffusionConfig, training: DiffusionTraining, x: torch.Tensor, name: str, force: bool = False
) -> TrainedDiffusion:
    """The model of ``config`` trained on ``x`` by :func:`fit`, from the cache (:mod:`vaecourse.cache`) or trained.

    Key: the two configurations, a fingerprint of ``x`` and the package version; file
    ``cache_file("models", name, key)``. A damaged entry is retrained with a warning (the models are small).
    """
    key = cache.key(
        {"model": config.to_dict(), "train": training.to_dict(), "kind": "diffusion"}, data=cache.fingerprint(x)
    )
    path = cache.cache_file("models", name, key)
    started = time.perf_counter()

    def build_and_fit():
        model = build(config, training.seed)
        return model, fit(model, x, training)

    def save(result, tmp: Path) -> None:
        model, history = result
        torch.save({"config": config.to_dict(), "state": model.state_dict(), "history": history}, tmp)

    def load(entry: Path):
        stored = cache.read_tensors(entry, ("config", "state", "history"))
        if stored["config"] != config.to_dict():
            raise cache.CacheEntryError(f"{entry.name} holds another model's configuration")
        model = DiffusionModel(config)
        try:
            model.load_state_dict(stored["state"])
        except (RuntimeError, KeyError) as error:
            raise cache.CacheEntryError(f"{entry.name} holds other weights ({str(error)[:80]})") from None
        return model.eval(), list(stored["history"])

    hit = cache.load_entry(path, load, cheap=True, what=f"diffusion model {name!r}", force=force)
    if hit is not None:
        return TrainedDiffusion(*hit, path, True, time.perf_counter() - started)
    result = build_and_fit()
    cache.write_atomically(path, lambda tmp: save(result, tmp))
    return TrainedDiffusion(*result, path, False, time.perf_counter() - started)


# ----------------------------------------------------------------------------- the ELBO and sampling


def kl_gaussians_same_var(mean_q, mean_p, var) -> torch.Tensor:
    """The KL divergence of two Gaussians with one variance.

    $\\mathcal{D}[\\mathcal{N}(\\boldsymbol\\mu_q, \\sigma^2 I)\\Vert\\mathcal{N}(\\boldsymbol\\mu_p, \\sigma^2 I)]
    = \\Vert\\boldsymbol\\mu_q - \\boldsymbol\\mu_p\\Vert^2 / (2\\sigma^2)$.
    Shapes: ``(B, D)``, ``var`` ``(B, 1)`` -> ``(B,)``."""
    return ((mean_q - mean_p) ** 2 / (2 * var)).sum(-1)


@torch.no_grad()
def elbo_terms(model: DiffusionModel, x: torch.Tensor, generator: torch.Generator | None = None) -> dict:
    """The three terms of the diffusion ELBO (nats per image), one draw of each $\\mathbf{h}_t$:

    prior matching $\\mathcal{D}[Q(\\mathbf{h}_N\\mid\\mathbf{x})\\Vert p(\\mathbf{h}_N)]$ (closed form),
    reconstruction $E_{Q(\\mathbf{h}_1\\mid\\mathbf{x})}\\log p(\\mathbf{x}\\mid\\mathbf{h}_1)$ and denoising matching
    $\\sum_{t=2}^N E_{Q(\\mathbf{h}_t\\mid\\mathbf{x})}
    \\mathcal{D}[Q(\\mathbf{h}_{t-1}\\mid\\mathbf{h}_t,\\mathbf{x})\\Vert p(\\mathbf{h}_{t-1}\\mid\\mathbf{h}_t)]$
    (every $t$, none sampled). ELBO = reconstruction - prior - denoising.
    Label ``eq:vdm-elbo``; book/diffusion.md; Luo 2022. Shapes: ``x`` ``(B, D)`` -> dict of ``(B,)``
    with ``"denoising_t"`` ``(N - 1, B)`` (the term of each $t = 2..N$).
    """
    s, n, b = model.schedule, model.config.n_steps, x.shape[0]

    def randn():
        return torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)

    full = torch.full((b,), n, dtype=torch.long, device=x.device)
    mean_n, var_n = q_marginal(x, full, s)  # (B, D), (B, 1)
    d = x.shape[-1]
    prior = 0.5 * ((var_n - 1 - var_n.log()).squeeze(-1) * d + (mean_n**2).sum(-1))
    one = torch.ones(b, dtype=torch.long, device=x.device)
    reconstruction = model.log_likelihood(x, q_sample(x, one, randn(), s))
    per_t = []
    for step in range(2, n + 1):
        t = torch.full((b,), step, dtype=torch.long, device=x.device)
        h = q_sample(x, t, randn(), s)
        mean_q, var = posterior(h, x, t, s)
        per_t.append(kl_gaussians_same_var(mean_q, model.reverse_mean(h, t), var))
    denoising_t = torch.stack(per_t)  # (N - 1, B)
    denoising = denoising_t.sum(0)
    return {
        "prior": prior,
        "reconstruction": reconstruction,
        "denoising": denoising,
        "denoising_t": denoising_t,
        "elbo": reconstruction - prior - denoising,
    }


@torch.no_grad()
def elbo_direct(model: DiffusionModel, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """A direct Monte Carlo estimate of the hierarchical VAE's ELBO, one draw of the whole chain per image:

    $\\log p(\\mathbf{h}_N) + \\sum_{t=2}^{N}\\log p(\\mathbf{h}_{t-1}\\mid\\mathbf{h}_t)
    + \\log p(\\mathbf{x}\\mid\\mathbf{h}_1) - \\sum_{t=1}^{N}\\log Q(\\mathbf{h}_t\\mid\\mathbf{h}_{t-1})$
    with $\\mathbf{h}_{1:N}$ drawn by :func:`q_step`.
    Label ``eq:hvae-elbo``; Luo 2022. Its expectation is :func:`elbo_terms`'s ELBO.
    Shapes: ``(B, D)`` -> ``(B,)``.
    """
    s, n, b = model.schedule, model.config.n_steps, x.shape[0]
    normal = torch.distributions.Normal
    chain, log_q = [x], torch.zeros(b, dtype=x.dtype, device=x.device)
    for step in range(1, n + 1):
        t = torch.full((b,), step, dtype=torch.long, device=x.device)
        eps = torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)
        chain.append(q_step(chain[-1], t, eps, s))
        a = _at(s.alpha, t, x)
        log_q = log_q + normal(a.sqrt() * chain[-2], (1 - a).sqrt()).log_prob(chain[-1]).sum(-1)
    log_p = normal(0.0, 1.0).log_prob(chain[n]).sum(-1) + model.log_likelihood(x, chain[1])
    for step in range(2, n + 1):
        t = torch.full((b,), step, dtype=torch.long, device=x.device)
        var = posterior(chain[step], x, t, s)[1]
        log_p = log_p + normal(model.reverse_mean(chain[step], t), var.sqrt()).log_prob(chain[step - 1]).sum(-1)
    return log_p - log_q


@torch.no_grad()
def sample(
    model: DiffusionModel, n: int, generator: torch.Generator | None = None, keep: tuple[int, ...] = ()
) -> tuple[torch.Tensor, dict]:
    """Ancestral sampling from the decoder's chain.

    $\\mathbf{h}_N\\sim\\mathcal{N}(0, I)$, $\\mathbf{h}_{t-1} = \\boldsymbol\\mu_\\Theta(\\mathbf{h}_t, t)
    + \\sigma_t\\mathbf{z}$ for $t = N..2$, then the mean of $p(\\mathbf{x}\\mid\\mathbf{h}_1)$.

    Label ``eq:ancestral``; Ho et al. 2020, algorithm 2. Returns ``(n, D)`` samples and ``{t: h_t}`` for
    the steps in ``keep``.
    """
    s, d = model.schedule, model.config.data_dim
    device, dtype = placement(model)
    h = torch.randn(n, d, generator=generator, dtype=dtype).to(device)  # (n, D); drawn on the CPU
    kept = {model.config.n_steps: h} if model.config.n_steps in keep else {}
    for step in range(model.config.n_steps, 1, -1):
        t = torch.full((n,), step, dtype=torch.long, device=device)
        mean = model.reverse_mean(h, t)
        var = posterior(h, mean, t, s)[1]  # sigma_t^2: the same for any x
        h = mean + var.sqrt() * torch.randn(n, d, generator=generator, dtype=dtype).to(device)
        if step - 1 in keep:
            kept[step - 1] = h
    return model.decoder_mean(h), kept


# ----------------------------------------------------------------------------- the 2-D data


def ring_mixture(
    n: int, generator: torch.Generator | None = None, modes: int = 8, radius: float = 2.0, std: float = 0.2
):
    """``n`` points of an equal mixture of ``modes`` Gaussians (standard deviation ``std``) on a circle, ``(n, 2)``."""
    k = torch.randint(0, modes, (n,), generator=generator)
    angle = 2 * math.pi * k.double() / modes
    centres = radius * torch.stack([torch.cos(angle), torch.sin(angle)], -1)  # (n, 2)
    return (centres + std * torch.randn(n, 2, generator=generator, dtype=torch.float64)).float()


def ring_log_density(x: torch.Tensor, modes: int = 8, radius: float = 2.0, std: float = 0.2) -> torch.Tensor:
    """The exact $\\log p(\\mathbf{x})$ of :func:`ring_mixture`, ``(B, 2)`` -> ``(B,)``."""
    angle = 2 * math.pi * torch.arange(modes, dtype=x.dtype) / modes
    centres = radius * torch.stack([torch.cos(angle), torch.sin(angle)], -1)  # (M, 2)
    sq = ((x[:, None, :] - centres) ** 2).sum(-1)  # (B, M)
    log_n = -0.5 * sq / std**2 - math.log(2 * math.pi * std**2)
    return torch.logsumexp(log_n, -1) - math.log(modes)


__all__ = [
    "LIKELIHOODS",
    "PARAMETERISATIONS",
    "SCHEDULES",
    "Denoiser",
    "DiffusionConfig",
    "DiffusionModel",
    "DiffusionTraining",
    "Schedule",
    "TrainedDiffusion",
    "build",
    "elbo_direct",
    "elbo_terms",
    "fit",
    "kl_gaussians_same_var",
    "load_or_fit",
    "loss",
    "make_schedule",
    "noise_from_score",
    "noise_from_x0",
    "posterior",
    "q_marginal",
    "q_sample",
    "q_step",
    "ring_log_density",
    "ring_mixture",
    "sample",
    "score_from_noise",
    "weight_noise",
    "weight_score",
    "weight_x0",
    "x0_from_noise",
]
