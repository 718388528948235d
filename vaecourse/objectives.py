"""Training with objectives other than the plain ELBO: several small models in one pass, cached.

One loop (:func:`fit_together`) trains a list of models on the same mini-batches, each with its
own :class:`Objective`:

- ``"elbo"``: minimise :math:`D + w_t\\,\\beta R` (``eq:beta-elbo``), where the KL weight
  :math:`w_t` rises linearly from 0 to 1 over ``warmup_epochs`` (Bowman et al. 2016) and, with
  ``free_bits`` > 0, :math:`R` is the free-bits rate (``eq:free-bits``; Kingma et al. 2016). For the
  diagonal family the rate is the closed form of :mod:`vaecourse.rate_distortion`; for the richer
  families of :mod:`vaecourse.posterior_families` it is the single-sample estimate
  :math:`\\log Q(\\mathbf{h}) - \\log p(\\mathbf{h})`.
- ``"iwae"``: maximise the importance-weighted bound with ``k`` samples (Burda et al. 2015).

A model is a :class:`ModelSpec`: the lecture's MLP decoder (:class:`vaecourse.models.VAE`) with a
posterior family. With ``generative`` given, only the encoders are trained against that fixed
decoder (the gap decomposition of book/richer_posteriors.md). :func:`load_or_fit` keys each
model by everything that changes its weights and keeps it in the cache (:mod:`vaecourse.cache`), so a
second build loads it. book/kl_in_practice.md, book/richer_posteriors.md.
"""

from __future__ import annotations

import itertools
import math
import time
from dataclasses import asdict, dataclass, field

import torch

from vaecourse import cache, validation
from vaecourse import posterior_families as pf
from vaecourse import rate_distortion as rd
from vaecourse.autoregressive import AutoregressiveVAE
from vaecourse.data import dynamic_binarize, images_of
from vaecourse.device import default_device
from vaecourse.models import VAE
from vaecourse.train import NonFiniteLossError, make_optimizer, progress_bar, run_epoch

__all__ = ["Objective", "ModelSpec", "FitSettings", "Trained", "build", "batch_loss", "fit_together", "load_or_fit"]

KINDS = ("elbo", "iwae")


@dataclass(frozen=True)
class Objective:
    """What a model minimises: ``kind`` "elbo" (with beta, KL warm-up and free bits) or "iwae" (k samples)."""

    kind: str = "elbo"
    # Weight of the rate in D + beta R; 1 is the ELBO.
    beta: float = 1.0
    # Epochs over which the KL weight rises linearly from 0 to 1 (0: no warm-up).
    warmup_epochs: float = 0.0
    # Free bits lambda, nats per latent unit (0: none).
    free_bits: float = 0.0
    # Importance samples of the IWAE objective.
    k: int = 1

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {self.kind!r}")
        if not (self.beta >= 0 and self.warmup_epochs >= 0 and self.free_bits >= 0):
            raise ValueError("beta, warmup_epochs and free_bits must be non-negative")
        validation.require_count(self.k, "k")


@dataclass(frozen=True)
class ModelSpec:
    """One model to train: a name, its posterior family, sizes and objective."""

    name: str
    family: str = "diagonal"
    latent_dim: int = 2
    hidden: int = 200
    objective: Objective = field(default_factory=Objective)
    # "mlp" (the lecture's decoder) or "autoregressive" (vaecourse.autoregressive; diagonal family only).
    decoder: str = "mlp"

    def __post_init__(self) -> None:
        if self.family not in pf.FAMILIES:
            raise ValueError(f"family must be one of {pf.FAMILIES}, got {self.family!r}")
        if self.decoder not in ("mlp", "autoregressive"):
            raise ValueError(f"decoder must be 'mlp' or 'autoregressive', got {self.decoder!r}")

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class FitSettings:
    """Epochs, batch size, learning rate and seed shared by the models of one :func:`fit_together`."""

    epochs: int = 10
    batch_size: int = 128
    lr: float = 1e-3
    seed: int = 0


@dataclass
class Trained:
    """A trained model (``model``: the VAE; ``posterior``: params of Q from x), its spec and history."""

    spec: ModelSpec
    model: torch.nn.Module
    posterior: torch.nn.Module
    history: dict
    from_cache: bool = False

    @property
    def family(self):
        return self.posterior.family

    def __repr__(self) -> str:
        source = "loaded from the cache" if self.from_cache else "trained now"
        return f"Trained({self.spec.name!r}, {self.spec.family}, {self.spec.objective}, {source})"


def build(spec: ModelSpec, generative=None) -> tuple[torch.nn.Module, torch.nn.Module]:
    """(model, posterior) for a spec: a fresh VAE (or the given fixed ``generative`` model) and its encoder.

    The diagonal family uses the VAE's own encoder unless the decoder is fixed.
    """
    if generative is not None:
        model = generative
    elif spec.decoder == "autoregressive":
        model = AutoregressiveVAE(spec.hidden, spec.latent_dim)
    else:
        model = VAE(784, spec.hidden, spec.latent_dim, (1, 28, 28))
    if spec.family == "diagonal" and generative is None:
        return model, pf.EncoderPosterior(model)
    return model, pf.AmortisedPosterior(spec.family, model.data_dim, spec.hidden, spec.latent_dim)


def batch_loss(spec: ModelSpec, model, posterior, x: torch.Tensor, kl_scale: float = 1.0):
    """(loss, rate, distortion) of one batch under ``spec.objective``; rate and distortion are batch means.

    ``kl_scale`` is the warm-up weight :func:`vaecourse.rate_distortion.kl_weight` of this step.
    """
    objective = spec.objective
    if objective.kind == "iwae":
        params = posterior(x)  # (B, P)
        log_w = pf.log_weights(model, posterior.family, params, x, objective.k)  # (k, B)
        bound = torch.logsumexp(log_w, 0) - math.log(objective.k)  # (B,)
        return -bound.mean(), float("nan"), float("nan")
    if isinstance(posterior, pf.EncoderPosterior):
        q = model.encode(x)  # Normal (B, k)
        distortion = -model.log_likelihood(x, q.rsample())  # (B,)
        exact_rate = rd.kl_per_unit(q).sum(-1)
        rate = rd.free_bits_rate(q, objective.free_bits) if objective.free_bits > 0 else exact_rate
    else:
        params = posterior(x)
        h, log_q = posterior.family.sample(params, 1)  # (1, B, k), (1, B)
        distortion = -model.log_likelihood(x, h)[0]
        exact_rate = rate = (log_q - model.prior().log_prob(h).sum(-1))[0]
    loss = (distortion + kl_scale * objective.beta * rate).mean()
    return loss, float(exact_rate.detach().mean()), float(distortion.detach().mean())


def fit_together(
    specs: list[ModelSpec],
    train,
    fit: FitSettings,
    generative=None,
    models: list | None = None,
    *,
    device=None,
    progress: bool | None = False,
) -> list[Trained]:
    """Train every spec on the same mini-batches (one dynamic binarisation per batch, shared); return them.

    One :func:`vaecourse.train.run_epoch` per epoch on the sum of the models' losses: the models share
    no trainable parameter, so each one's gradient is that of its own loss, and one Adam
    (:func:`vaecourse.train.make_optimizer`) over all of them steps each as its own Adam would. With
    ``generative`` the decoder is held fixed and only the encoders learn. ``models`` (optional) are
    prebuilt (model, posterior) pairs. ``device``: :func:`vaecourse.device.default_device` of it (the
    course's device when None). ``progress``: a progress bar (default off: the chapters that call this
    show their tables, not a bar; None: on unless smoke mode).
    Shapes: ``train`` images (N, 1, 28, 28) in [0, 1].
    Raises :class:`vaecourse.train.NonFiniteLossError` when a loss becomes NaN or inf (naming the model).
    """
    device = default_device(device)
    x_train = images_of(train).to(device, torch.float32)
    pairs = models or []
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(fit.seed)
        if not pairs:
            pairs = [build(spec, generative) for spec in specs]
        for model, posterior in pairs:
            model.to(device)
            posterior.to(device)
        optimiser = _one_optimiser(pairs, generative, fit.lr)
        frozen = [p for p in generative.parameters() if p.requires_grad] if generative is not None else []
        for p in frozen:
            p.requires_grad_(False)
        histories = [{"epoch": [], "loss": [], "rate": [], "distortion": [], "seconds": []} for _ in specs]
        generator = torch.Generator(device=device).manual_seed(fit.seed)
        n_batches = math.ceil(x_train.shape[0] / fit.batch_size)
        loss_fn, last_losses = _summed_loss(specs, pairs, generator, n_batches)
        with validation.disabled(), progress_bar(progress, fit.epochs * n_batches, "fit_together") as on_step:
            for epoch in range(1, fit.epochs + 1):
                began = time.perf_counter()
                try:
                    sums = run_epoch(loss_fn, optimiser, x_train, fit.batch_size, generator, epoch, on_step)
                except NonFiniteLossError as error:
                    diverged = ", ".join(repr(s.name) for s, v in zip(specs, last_losses) if not math.isfinite(v))
                    raise NonFiniteLossError(
                        error.value, error.epoch, error.batch, f" (the loss of {diverged})"
                    ) from None
                seconds = (time.perf_counter() - began) / len(specs)
                for i, history in enumerate(histories):
                    history["epoch"].append(epoch)
                    history["loss"].append(sums[i, "loss"])
                    history["rate"].append(sums[i, "rate"])
                    history["distortion"].append(sums[i, "distortion"])
                    history["seconds"].append(seconds)
    for p in frozen:
        p.requires_grad_(True)
    for model, posterior in pairs:
        model.eval()
        posterior.eval()
    return [
        Trained(spec, model, posterior, history) for spec, (model, posterior), history in zip(specs, pairs, histories)
    ]


def _one_optimiser(pairs: list, generative, lr: float) -> torch.optim.Optimizer:
    """One Adam over every trainable parameter of the (model, posterior) pairs, each parameter once.

    Adam updates each parameter from its own gradient and moments, so this is the same as one Adam per
    model. With a fixed ``generative`` decoder only the posteriors train; a diagonal posterior is its
    model's own encoder.
    """
    trainable = {}
    for model, posterior in pairs:
        for p in [*(model.parameters() if generative is None else []), *posterior.parameters()]:
            trainable[id(p)] = p
    return make_optimizer(torch.nn.ParameterList(trainable.values()), lr)


def _summed_loss(specs: list[ModelSpec], pairs: list, generator: torch.Generator, n_batches: int):
    """``(loss_fn, last_losses)``: the ``loss_fn`` of :func:`vaecourse.train.run_epoch` for several models.

    ``loss_fn(x)`` binarises the batch once (``generator``), then returns the sum of the models' losses
    (:func:`batch_loss`, the KL warm-up counted in steps) and, as terms keyed ``(i, name)``, each model's
    loss, rate and distortion divided by ``n_batches`` (their sums are epoch means). ``last_losses``
    holds each model's loss on the latest batch.
    """
    steps = itertools.count()
    last_losses = [0.0] * len(specs)

    def loss_fn(x: torch.Tensor):
        x = dynamic_binarize(x, generator=generator)  # (B, 1, 28, 28), the same draw for every model
        step, losses, terms = next(steps), [], {}
        for i, (spec, (model, posterior)) in enumerate(zip(specs, pairs)):
            scale = rd.kl_weight(step, round(spec.objective.warmup_epochs * n_batches))
            loss, rate, distortion = batch_loss(spec, model, posterior, x, scale)
            last_losses[i] = float(loss.detach())
            losses.append(loss)
            terms.update(
                {
                    (i, "loss"): last_losses[i] / n_batches,
                    (i, "rate"): rate / n_batches,
                    (i, "distortion"): distortion / n_batches,
                }
            )
        return sum(losses), terms

    return loss_fn, last_losses


def _cache_file(spec: ModelSpec, fit: FitSettings, data_id: str, generative_id: str):
    """The cache entry of one model: its spec, the fit settings, the data and the fixed decoder's weights."""
    key = cache.key({"spec": spec.to_dict(), "fit": asdict(fit), "decoder": generative_id}, data=data_id)
    return cache.cache_file("models", spec.name, key)


def _load(path, spec: ModelSpec, generative) -> Trained:
    """The model of ``spec`` from its entry; :class:`vaecourse.cache.CacheEntryError` when it does not fit."""
    saved = cache.read_tensors(path, ("model", "posterior", "history"))
    model, posterior = build(spec, generative)
    try:
        if generative is None:
            model.load_state_dict(saved["model"])
        posterior.load_state_dict(saved["posterior"], strict=True)
    except (RuntimeError, TypeError, AttributeError) as error:  # another model's arrays, or not a state dict
        raise cache.CacheEntryError(
            f"{path.name} does not hold this model's weights ({str(error).strip().splitlines()[0][:120]})"
        ) from None
    device = default_device()
    model.to(device).eval()
    posterior.to(device).eval()
    return Trained(spec, model, posterior, saved["history"], from_cache=True)


def load_or_fit(specs: list[ModelSpec], train, fit: FitSettings, generative=None, force: bool = False) -> list[Trained]:
    """:func:`fit_together` for the specs missing from the cache; the others are loaded.

    Each model is one entry of :mod:`vaecourse.cache` (folder "models"), keyed by the spec, the fit
    settings, the data (and the fixed decoder's weights) and the package version; it holds only
    tensors, numbers and strings (``torch.load(weights_only=True)``). ``force`` retrains them all. A
    damaged entry is retrained with a :class:`vaecourse.cache.CacheRebuiltWarning` when that is cheap,
    otherwise it raises :class:`vaecourse.cache.CacheEntryError` naming the file.
    """
    x = images_of(train)
    data_id = cache.fingerprint(x)
    generative_id = "none" if generative is None else cache.fingerprint(*generative.state_dict().values())
    paths = [_cache_file(spec, fit, data_id, generative_id) for spec in specs]
    cheap = cache.cheap_to_train(fit.epochs, x.shape[0])
    results: list[Trained | None] = [
        cache.load_entry(
            path,
            lambda entry, spec=spec: _load(entry, spec, generative),
            cheap=cheap,
            what=f"model {spec.name!r}",
            force=force,
        )
        for spec, path in zip(specs, paths)
    ]
    missing = [i for i, r in enumerate(results) if r is None]
    if missing:
        trained = fit_together([specs[i] for i in missing], x, fit, generative)
        for i, t in zip(missing, trained):
            state = {
                "model": t.model.state_dict() if generative is None else {},
                "posterior": t.posterior.state_dict(),
                "history": t.history,
            }
            cache.write_atomically(paths[i], lambda tmp, state=state: torch.save(state, tmp))
            results[i] = t
    return results  # type: ignore[return-value]
