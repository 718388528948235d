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

import math
import time
from dataclasses import asdict, dataclass, field

import torch

from vaecourse import posterior_families as pf
from vaecourse import rate_distortion as rd
from vaecourse import cache, validation
from vaecourse.autoregressive import AutoregressiveVAE
from vaecourse.data import dynamic_binarize, images_of
from vaecourse.device import default_device
from vaecourse.models import VAE
from vaecourse.train import NonFiniteLossError, make_optimizer

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


def fit_together(specs: list[ModelSpec], train, fit: FitSettings, generative=None,
                 models: list | None = None) -> list[Trained]:
    """Train every spec on the same mini-batches (one dynamic binarisation per batch, shared); return them.

    Each model has its own Adam optimiser (:func:`vaecourse.train.make_optimizer`). With
    ``generative`` the decoder is held fixed and only the encoders learn. ``models`` (optional)
    are prebuilt (model, posterior) pairs. Shapes: ``train`` images (N, 1, 28, 28) in [0, 1].
    Raises :class:`vaecourse.train.NonFiniteLossError` when a loss becomes NaN or inf.
    """
    device = default_device()
    x_train = images_of(train).to(device, torch.float32)
    pairs = models or []
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(fit.seed)
        if not pairs:
            pairs = [build(spec, generative) for spec in specs]
        for model, posterior in pairs:
            model.to(device)
            posterior.to(device)
        optimisers = []
        for (model, posterior) in pairs:
            params = list(posterior.parameters()) if generative is not None else \
                list({id(p): p for p in [*model.parameters(), *posterior.parameters()]}.values())
            optimisers.append(make_optimizer(torch.nn.ParameterList(params), fit.lr))
        frozen = [p for p in generative.parameters() if p.requires_grad] if generative is not None else []
        for p in frozen:
            p.requires_grad_(False)
        histories = [{"epoch": [], "loss": [], "rate": [], "distortion": [], "seconds": []} for _ in specs]
        generator = torch.Generator(device=device).manual_seed(fit.seed)
        n = x_train.shape[0]
        n_batches = math.ceil(n / fit.batch_size)
        with validation.disabled():
            for epoch in range(1, fit.epochs + 1):
                began = time.perf_counter()
                sums = [[0.0, 0.0, 0.0] for _ in specs]
                order = torch.randperm(n, generator=generator, device=device)
                for batch in range(n_batches):
                    x = dynamic_binarize(x_train[order[batch * fit.batch_size:(batch + 1) * fit.batch_size]],
                                         generator=generator)  # (B, 1, 28, 28)
                    step = (epoch - 1) * n_batches + batch
                    for i, (spec, (model, posterior), opt) in enumerate(zip(specs, pairs, optimisers)):
                        scale = rd.kl_weight(step, round(spec.objective.warmup_epochs * n_batches))
                        loss, rate, distortion = batch_loss(spec, model, posterior, x, scale)
                        value = float(loss.detach())
                        if not math.isfinite(value):
                            raise NonFiniteLossError(f"the loss of {spec.name!r} became {value} at epoch {epoch}, "
                                                     f"batch {batch}; lower the learning rate")
                        opt.zero_grad(set_to_none=True)
                        loss.backward()
                        opt.step()
                        sums[i][0] += value / n_batches
                        sums[i][1] += rate / n_batches
                        sums[i][2] += distortion / n_batches
                seconds = time.perf_counter() - began
                for history, (loss_mean, rate_mean, distortion_mean) in zip(histories, sums):
                    history["epoch"].append(epoch)
                    history["loss"].append(loss_mean)
                    history["rate"].append(rate_mean)
                    history["distortion"].append(distortion_mean)
                    history["seconds"].append(seconds / len(specs))
    for p in frozen:
        p.requires_grad_(True)
    for model, posterior in pairs:
        model.eval()
        posterior.eval()
    return [Trained(spec, model, posterior, history) for spec, (model, posterior), history
            in zip(specs, pairs, histories)]


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
        raise cache.CacheEntryError(f"{path.name} does not hold this model's weights "
                                    f"({str(error).strip().splitlines()[0][:120]})") from None
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
        cache.load_entry(path, lambda entry, spec=spec: _load(entry, spec, generative), cheap=cheap,
                         what=f"model {spec.name!r}", force=force)
        for spec, path in zip(specs, paths)]
    missing = [i for i, r in enumerate(results) if r is None]
    if missing:
        trained = fit_together([specs[i] for i in missing], x, fit, generative)
        for i, t in zip(missing, trained):
            state = {"model": t.model.state_dict() if generative is None else {},
                     "posterior": t.posterior.state_dict(), "history": t.history}
            cache.write_atomically(paths[i], lambda tmp, state=state: torch.save(state, tmp))
            results[i] = t
    return results  # type: ignore[return-value]
