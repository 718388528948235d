"""Training a VAE: maximise the ELBO by stochastic gradient ascent, with checkpoints and a cache.

Each step draws a mini-batch $\\{\\mathbf{x}_b\\}$, one reparameterised sample
$\\mathbf{h}_b = \\boldsymbol\\mu(\\mathbf{x}_b) + \\boldsymbol\\sigma(\\mathbf{x}_b)\\odot\\boldsymbol\\epsilon$
per image, and takes an Adam step on the loss

.. math:: \\ell = -\\frac{1}{B}\\sum_b \\Big[\\log p(\\mathbf{x}_b\\mid\\mathbf{h}_b)
          - \\mathcal{D}[Q(\\mathbf{h}\\mid\\mathbf{x}_b)\\,\\|\\,\\mathcal{N}(0, I)]\\Big]

(Kingma & Welling 2013, arXiv:1312.6114; chapter "Training a VAE"). The ELBO and its two terms come
from :mod:`vaecourse.elbo`; nothing here re-derives them.

Data live in memory as one tensor (``(N, *data_shape)``, values in [0, 1]) and are sliced into
batches by a random permutation -- no per-sample ``Dataset`` in the hot loop. Binarisation is
``"dynamic"`` (a fresh Bernoulli draw each time an image is used; Burda et al. 2015), ``"static"``
(one fixed draw) or ``"grey"`` (grey levels scored with the Bernoulli formula, as the Keras and
pytorch/examples code do -- a number that is *not* a log-likelihood).

Public API: :class:`TrainConfig`, :func:`fit`, :class:`History`, :func:`dataset_elbo`,
:func:`prepare_test_set`, :func:`make_optimizer`, :func:`save_checkpoint`, :func:`load_checkpoint`,
:func:`model_from_checkpoint`, :func:`load_or_train` (the trained-model cache), :func:`default_config`
and :func:`train_cached` (the chapters' named models), :func:`load_dataset`, :func:`cli`.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Callable

import torch

from vaecourse import settings
from vaecourse.device import default_device
from vaecourse.models import ModelConfig, build_model, model_config_of

CHECKPOINT_FORMAT = "vaecourse-checkpoint"
CHECKPOINT_VERSION = 1
BINARIZATIONS = ("dynamic", "static", "grey")
# Seed of the one fixed binarisation of the test set, so test ELBOs compare across runs and seeds.
TEST_BINARIZATION_SEED = 20240423


class CheckpointError(ValueError):
    """A checkpoint that is missing, is not a vaecourse checkpoint, or belongs to another model."""


class NonFiniteLossError(FloatingPointError):
    """The training loss became NaN or infinite; the message names the epoch and the batch."""


@dataclass
class TrainConfig:
    """Hyper-parameters of :func:`fit` (all of them key the trained-model cache, except ``device``).

    >>> TrainConfig(epochs=2).batch_size
    128
    """

    # Passes over the training set.
    epochs: int = 10
    # Images per gradient step; 128 as in the Keras and pytorch/examples code.
    batch_size: int = 128
    # Adam learning rate; 1e-3 as in both examples.
    lr: float = 1e-3
    # "dynamic" (fresh Bernoulli draw per use), "static" (one fixed draw) or "grey" (no binarisation).
    binarize: str = "dynamic"
    # Monte Carlo samples L of h per image in the training ELBO (the lecture takes L = 1).
    n_samples: int = 1
    # Seed of the batch order, the binarisation and the noise eps: same seed, same history.
    seed: int = 0
    # Images per forward pass when evaluating the test ELBO (memory only, no effect on results).
    eval_batch_size: int = 1000
    # "cpu", "cuda", "mps" or None for vaecourse.device.default_device(); not part of the cache key.
    device: str | None = None

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "n_samples", "eval_batch_size"):
            value = getattr(self, name)
            minimum = 0 if name == "epochs" else 1
            if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
                raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
        if not (isinstance(self.lr, (int, float)) and math.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"lr must be a positive finite number, got {self.lr!r}")
        if self.binarize not in BINARIZATIONS:
            raise ValueError(f"binarize must be one of {BINARIZATIONS}, got {self.binarize!r}")

    def to_dict(self) -> dict:
        return asdict(self)

    def cache_key_dict(self) -> dict:
        """The fields that change the trained weights (the device is left out)."""
        out = asdict(self)
        out.pop("device")
        out.pop("eval_batch_size")
        return out


@dataclass
class History:
    """Per-epoch record of a training run: ELBO and its two terms (nats per image), on the training
    set (running mean over the epoch's batches) and the test set (after the epoch), and seconds."""

    epoch: list = field(default_factory=list)
    train_elbo: list = field(default_factory=list)
    train_reconstruction: list = field(default_factory=list)
    train_kl: list = field(default_factory=list)
    test_elbo: list = field(default_factory=list)
    test_reconstruction: list = field(default_factory=list)
    test_kl: list = field(default_factory=list)
    seconds: list = field(default_factory=list)
    # True when Ctrl-C stopped the run before its last epoch.
    interrupted: bool = False

    COLUMNS = ("epoch", "train_elbo", "train_reconstruction", "train_kl",
               "test_elbo", "test_reconstruction", "test_kl", "seconds")

    def to_dict(self) -> dict:
        return {**{c: list(getattr(self, c)) for c in self.COLUMNS}, "interrupted": self.interrupted}

    @classmethod
    def from_dict(cls, data: dict) -> "History":
        return cls(**{c: list(data.get(c, [])) for c in cls.COLUMNS}, interrupted=bool(data.get("interrupted")))

    def to_csv(self) -> str:
        rows = [",".join(self.COLUMNS)]
        for i in range(len(self.epoch)):
            rows.append(",".join("" if getattr(self, c)[i] is None else repr(getattr(self, c)[i])
                                 for c in self.COLUMNS))
        return "\n".join(rows) + "\n"

    def __len__(self) -> int:
        return len(self.epoch)

    def __repr__(self) -> str:
        if not self.epoch:
            return "History(no epochs)"
        lines = [f"History({len(self)} epochs{', interrupted' if self.interrupted else ''})",
                 "  epoch  train ELBO  test ELBO   recon.     KL   seconds"]
        shown = range(len(self)) if len(self) <= 8 else [*range(3), None, *range(len(self) - 3, len(self))]
        for i in shown:
            if i is None:
                lines.append("    ...")
                continue
            test = self.test_elbo[i]
            test_s = f"{test:10.2f}" if test is not None else "         -"
            lines.append(f"  {self.epoch[i]:5d} {self.train_elbo[i]:11.2f} {test_s} "
                         f"{self.train_reconstruction[i]:8.2f} {self.train_kl[i]:6.2f} {self.seconds[i]:8.1f}")
        return "\n".join(lines)


# ----------------------------------------------------------------------------- data handling


def _images(data) -> torch.Tensor:
    """Accept ``images`` or ``(images, labels)``; return the images tensor."""
    if isinstance(data, (tuple, list)):
        data = data[0]
    if not isinstance(data, torch.Tensor):
        raise ValueError(f"data must be a tensor of images (N, ...) or an (images, labels) pair, got {type(data).__name__}")
    return data


def _check_images(x: torch.Tensor, model, name: str, config: TrainConfig) -> None:
    if x.ndim < 2 or x.shape[0] == 0:
        raise ValueError(f"{name} must be a non-empty batch of images (N, ...), got shape {tuple(x.shape)}")
    if math.prod(x.shape[1:]) != math.prod(model.data_shape):
        raise ValueError(f"{name} images have shape {tuple(x.shape[1:])}, the model expects {model.data_shape}")
    if not torch.isfinite(x).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    if model.likelihood == "bernoulli" or config.binarize != "grey":
        lo, hi = float(x.min()), float(x.max())
        if lo < 0 or hi > 1:
            raise ValueError(f"{name} values must lie in [0, 1] (got {lo:.3g}..{hi:.3g}); divide raw pixels by 255")


def _binarizers():
    from vaecourse import data

    return data.dynamic_binarize, data.static_binarize


def _prepare(x: torch.Tensor, binarize: str, seed: int, device) -> torch.Tensor:
    """Move to the device as float32; a static binarisation is drawn once here."""
    x = x.to(device=device, dtype=torch.float32)
    if binarize == "static":
        _, static_binarize = _binarizers()
        x = static_binarize(x, seed)
    return x


def prepare_test_set(x: torch.Tensor, binarize: str, device) -> torch.Tensor:
    """The test set as scored: one fixed binarisation (seed ``TEST_BINARIZATION_SEED``) unless grey."""
    return _prepare(x, "grey" if binarize == "grey" else "static", TEST_BINARIZATION_SEED, device)


def _terms(model, x: torch.Tensor, n_samples: int = 1):
    """(reconstruction (B,), kl (B,)) from :func:`vaecourse.elbo.elbo_terms`."""
    from vaecourse.elbo import elbo_terms

    return elbo_terms(model, x, n_samples=n_samples)


@torch.no_grad()
def dataset_elbo(model, x: torch.Tensor, batch_size: int = 1000, n_samples: int = 1) -> dict:
    """Mean ELBO, reconstruction and KL (nats per image) of images ``x`` ``(N, ...)`` already prepared
    (binarised or grey). Stochastic: the reconstruction term uses sampled h, as an ELBO must."""
    was_training = model.training
    model.eval()
    rec_sum = kl_sum = 0.0
    for start in range(0, x.shape[0], batch_size):
        rec, kl = _terms(model, x[start:start + batch_size], n_samples)  # (b,), (b,)
        rec_sum += float(rec.sum())
        kl_sum += float(kl.sum())
    model.train(was_training)
    n = x.shape[0]
    return {"elbo": (rec_sum - kl_sum) / n, "reconstruction": rec_sum / n, "kl": kl_sum / n}


# ----------------------------------------------------------------------------- checkpoints


def _package_version() -> str:
    import vaecourse

    return vaecourse.__version__


def save_checkpoint(path, model, config: TrainConfig, *, optimizer=None, history: History | None = None,
                    epoch: int = 0, rng: dict | None = None, complete: bool = False, extra: dict | None = None) -> Path:
    """Write a checkpoint atomically: a temporary file in the same folder, then ``os.replace``.

    Holds only tensors, numbers, strings, lists and dicts, so :func:`load_checkpoint` can read it
    with ``torch.load(weights_only=True)``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "format": CHECKPOINT_FORMAT,
        "format_version": CHECKPOINT_VERSION,
        "package_version": _package_version(),
        "model_class": type(model).__name__,
        "model_config": model_config_of(model).to_dict(),
        "train_config": config.to_dict(),
        "model_state": model.state_dict(),
        "optimizer_state": optimizer.state_dict() if optimizer is not None else None,
        "epoch": int(epoch),
        "history": (history or History()).to_dict(),
        "rng": rng or {},
        "complete": bool(complete),
        "extra": extra or {},
    }
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        torch.save(payload, tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def load_checkpoint(path, expect: str | None = None) -> dict:
    """Read a checkpoint written by :func:`save_checkpoint` (``torch.load(weights_only=True)``).

    ``expect`` ("VAE" or "ConvVAE") refuses a checkpoint of another model. Raises
    :class:`CheckpointError` for a missing file, a file that is not a vaecourse checkpoint (any other
    pickle, a corrupt file) or the wrong model -- never unpickles arbitrary objects.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {str(path)!r} does not exist")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # UnpicklingError, RuntimeError (zip), EOFError ...
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise CheckpointError(f"{str(path)!r} is not a vaecourse checkpoint ({first[:120]})") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{str(path)!r} is not a vaecourse checkpoint (no '{CHECKPOINT_FORMAT}' marker)")
    if ckpt.get("format_version") != CHECKPOINT_VERSION:
        raise CheckpointError(f"{str(path)!r} has checkpoint format {ckpt.get('format_version')}, "
                              f"this vaecourse reads format {CHECKPOINT_VERSION}")
    if expect is not None and ckpt.get("model_class") != expect:
        raise CheckpointError(f"{str(path)!r} holds a {ckpt.get('model_class')} checkpoint, not a {expect}")
    return ckpt


def model_from_checkpoint(ckpt, device=None):
    """Rebuild the model stored in a checkpoint (a path or a dict from :func:`load_checkpoint`)."""
    if not isinstance(ckpt, dict):
        ckpt = load_checkpoint(ckpt)
    config = ckpt["model_config"]
    model = build_model(ModelConfig(**{**config, "data_shape": tuple(config["data_shape"])}))
    try:
        model.load_state_dict(ckpt["model_state"])
    except RuntimeError as error:
        raise CheckpointError(f"checkpoint weights do not fit its model: {str(error).splitlines()[0]}") from None
    return model.to(default_device(device) if device is None or isinstance(device, str) else device)


def _rng_state(generator: torch.Generator, device) -> dict:
    state = {"torch": torch.get_rng_state(), "generator": generator.get_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def _set_rng_state(state: dict, generator: torch.Generator, device) -> None:
    torch.set_rng_state(state["torch"])
    generator.set_state(state["generator"])
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)


# ----------------------------------------------------------------------------- the training loop


def make_optimizer(model, lr: float) -> torch.optim.Adam:
    """Adam (Kingma & Ba 2014), the fused single-kernel version where this torch and device have it:
    on a CPU it updates the parameters about 5x faster than the default per-tensor loop (see
    benchmarks/RESULTS.md), with the same update rule."""
    try:
        return torch.optim.Adam(model.parameters(), lr=lr, fused=True)
    except (RuntimeError, ValueError, TypeError):  # older torch or a device without the fused kernel
        return torch.optim.Adam(model.parameters(), lr=lr)


def fit(model, train, config: TrainConfig | None = None, test=None, *, checkpoint=None, resume: bool = False,
        progress: bool | None = None, callback: Callable[[int, int, float], None] | None = None) -> History:
    """Train ``model`` on ``train`` by maximising the ELBO; return the :class:`History`.

    Parameters
    ----------
    model : a :mod:`vaecourse.models` model (moved to ``config.device`` or the default device).
    train, test : images ``(N, *data_shape)`` in [0, 1] (or ``(images, labels)``); ``test`` optional.
    config : :class:`TrainConfig` (defaults if None).
    checkpoint : path of a checkpoint written after every epoch (atomically), on Ctrl-C, and at the end.
    resume : continue from ``checkpoint`` if it exists (same seed -> the same history as an
        uninterrupted run).
    progress : show a ``tqdm.auto`` bar (default: on unless smoke mode).
    callback : ``callback(epoch, batch, loss)`` after every step (1-based epoch, 0-based batch).

    Raises ``ValueError`` on bad data, :class:`NonFiniteLossError` when the loss becomes NaN or inf
    (the last good checkpoint is left in place), :class:`CheckpointError` for a bad resume file.
    On ``KeyboardInterrupt`` a checkpoint is saved (if ``checkpoint`` is set) and the history so far
    is returned with ``history.interrupted = True``.
    """
    config = config or TrainConfig()
    device = default_device(config.device)
    model.to(device)
    x_train = _images(train)
    _check_images(x_train, model, "train", config)
    x_test = None
    if test is not None:
        x_test = _images(test)
        _check_images(x_test, model, "test", config)
    progress = (not settings.is_smoke()) if progress is None else progress
    checkpoint = Path(checkpoint) if checkpoint is not None else None

    optimizer = make_optimizer(model, config.lr)
    generator = torch.Generator(device=device)
    history, start_epoch, rng = History(), 0, None
    if resume and checkpoint is not None and checkpoint.exists():
        ckpt = load_checkpoint(checkpoint, expect=type(model).__name__)
        if ckpt["model_config"] != model_config_of(model).to_dict():
            raise CheckpointError(f"cannot resume from {str(checkpoint)!r}: it holds another model "
                                  f"({ckpt['model_config']}, not {model_config_of(model).to_dict()})")
        saved = {k: v for k, v in ckpt["train_config"].items() if k not in ("device", "epochs", "eval_batch_size")}
        mine = {k: v for k, v in config.to_dict().items() if k not in ("device", "epochs", "eval_batch_size")}
        if saved != mine:
            raise CheckpointError(f"cannot resume from {str(checkpoint)!r}: it was trained with {saved}, not {mine}")
        model.load_state_dict(ckpt["model_state"])
        if ckpt["optimizer_state"] is not None:
            optimizer.load_state_dict(ckpt["optimizer_state"])
        history, start_epoch, rng = History.from_dict(ckpt["history"]), ckpt["epoch"], ckpt["rng"] or None
        history.interrupted = False

    devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):  # the caller's global RNG is left untouched
        if rng:
            _set_rng_state(rng, generator, device)
        else:
            torch.manual_seed(config.seed)
            generator.manual_seed(config.seed)
        x_train = _prepare(x_train, config.binarize, config.seed, device)
        x_test = prepare_test_set(x_test, config.binarize, device) if x_test is not None else None
        dynamic_binarize = _binarizers()[0] if config.binarize == "dynamic" else None
        n = x_train.shape[0]
        n_batches = math.ceil(n / config.batch_size)
        bar = None
        if progress and config.epochs > start_epoch:
            from tqdm.auto import tqdm

            bar = tqdm(total=(config.epochs - start_epoch) * n_batches, unit="batch", leave=False,
                       desc=type(model).__name__)

        def save(epoch: int, complete: bool = False) -> None:
            if checkpoint is not None:
                save_checkpoint(checkpoint, model, config, optimizer=optimizer, history=history, epoch=epoch,
                                rng=_rng_state(generator, device), complete=complete)

        epoch = start_epoch
        try:
            model.train()
            for epoch in range(start_epoch + 1, config.epochs + 1):
                began = time.perf_counter()
                order = torch.randperm(n, generator=generator, device=device)
                rec_sum = torch.zeros((), device=device)
                kl_sum = torch.zeros((), device=device)
                for batch in range(n_batches):
                    x = x_train[order[batch * config.batch_size:(batch + 1) * config.batch_size]]  # (B, ...)
                    if dynamic_binarize is not None:
                        x = dynamic_binarize(x, generator=generator)
                    try:
                        rec, kl = _terms(model, x, config.n_samples)  # (B,), (B,)
                    except ValueError as error:  # elbo/kl refuse NaN encoder outputs: weights diverged
                        if _parameters_finite(model):
                            raise
                        raise _non_finite(float("nan"), epoch, batch, checkpoint) from error
                    loss = (kl - rec).mean()
                    value = float(loss.detach())  # one sync per step: NaN is caught at its batch
                    if not math.isfinite(value):
                        raise _non_finite(value, epoch, batch, checkpoint)
                    optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                    optimizer.step()
                    rec_sum += rec.detach().sum()
                    kl_sum += kl.detach().sum()
                    if bar is not None:
                        bar.update(1)
                        if batch % 20 == 0:
                            bar.set_postfix(epoch=epoch, loss=f"{value:.2f}", refresh=False)
                    if callback is not None:
                        callback(epoch, batch, value)
                rec_mean, kl_mean = float(rec_sum) / n, float(kl_sum) / n
                history.epoch.append(epoch)
                history.train_elbo.append(rec_mean - kl_mean)
                history.train_reconstruction.append(rec_mean)
                history.train_kl.append(kl_mean)
                if x_test is not None:
                    scores = dataset_elbo(model, x_test, config.eval_batch_size)
                    model.train()
                    history.test_elbo.append(scores["elbo"])
                    history.test_reconstruction.append(scores["reconstruction"])
                    history.test_kl.append(scores["kl"])
                else:
                    history.test_elbo.append(None)
                    history.test_reconstruction.append(None)
                    history.test_kl.append(None)
                history.seconds.append(time.perf_counter() - began)
                save(epoch, complete=epoch == config.epochs)
            epoch = config.epochs
        except KeyboardInterrupt:
            history.interrupted = True
            done = history.epoch[-1] if history.epoch else start_epoch
            save(done)
            where = f"; checkpoint saved to {str(checkpoint)!r} (resume=True continues)" if checkpoint else ""
            print(f"training interrupted during epoch {done + 1}{where}", file=sys.stderr)
        finally:
            if bar is not None:
                bar.close()
        if config.epochs == start_epoch and checkpoint is not None and not checkpoint.exists():
            save(start_epoch, complete=True)
    model.eval()
    return history


def _parameters_finite(model) -> bool:
    return all(bool(torch.isfinite(p).all()) for p in model.parameters())


def _non_finite(value: float, epoch: int, batch: int, checkpoint) -> NonFiniteLossError:
    last = f"; the last good checkpoint {str(checkpoint)!r} is unchanged" if checkpoint else ""
    return NonFiniteLossError(
        f"the training loss became {value} at epoch {epoch}, batch {batch}{last}. "
        "Lower the learning rate (lr) or check the data for extreme values."
    )


# ----------------------------------------------------------------------------- trained-model cache


def data_fingerprint(*tensors) -> str:
    """A hash of the data's shapes, dtypes and bytes (BLAKE2b), for the trained-model cache."""
    digest = hashlib.blake2b(digest_size=16)
    for t in tensors:
        if t is None:
            digest.update(b"none")
            continue
        t = _images(t).detach().to("cpu").contiguous()
        digest.update(f"{tuple(t.shape)}|{t.dtype}|".encode())
        digest.update(t.numpy().tobytes())
    return digest.hexdigest()


def cache_key(model_config: ModelConfig, train_config: TrainConfig, data_id: str) -> str:
    """SHA-256 of the model configuration, the training configuration (without the device), the data
    identity and the package version."""
    blob = json.dumps({"model": model_config.to_dict(), "train": train_config.cache_key_dict(),
                       "data": data_id, "version": _package_version()}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()


@dataclass
class TrainedModel:
    """A trained model, its history, the checkpoint file, and whether it came from the cache."""

    model: torch.nn.Module
    history: History
    path: Path
    from_cache: bool

    def __repr__(self) -> str:
        source = "loaded from the cache" if self.from_cache else "trained now"
        return (f"TrainedModel({type(self.model).__name__}, {len(self.history)} epochs, {source}, "
                f"path={str(self.path)!r})")


def load_or_train(model_config: ModelConfig, train_config: TrainConfig, train, test=None, *, name: str = "model",
                  data_id: str | None = None, progress: bool | None = None, force: bool = False) -> TrainedModel:
    """Return the trained model for these configurations and data, training only on a cache miss.

    The file is ``settings.cache_dir("models") / f"{name}-{key[:16]}.pt"`` where ``key`` is
    :func:`cache_key` (``data_id`` defaults to :func:`data_fingerprint` of ``train`` and ``test``).
    A run stopped half-way (Ctrl-C) resumes from its checkpoint on the next call. ``force`` retrains.
    """
    data_id = data_id or data_fingerprint(train, test)
    key = cache_key(model_config, train_config, data_id)
    path = settings.cache_dir("models") / f"{name}-{key[:16]}.pt"
    if path.exists() and not force:
        ckpt = load_checkpoint(path)
        if ckpt.get("complete") and ckpt.get("extra", {}).get("cache_key") == key:
            model = model_from_checkpoint(ckpt, train_config.device)
            model.eval()
            return TrainedModel(model, History.from_dict(ckpt["history"]), path, True)
    devices = []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(train_config.seed)  # the initial weights depend on the seed only
        model = build_model(model_config)
    resume = path.exists() and not force
    history = fit(model, train, train_config, test, checkpoint=path, resume=resume, progress=progress)
    if history.interrupted:
        return TrainedModel(model, history, path, False)
    ckpt = load_checkpoint(path)
    save_checkpoint(path, model, train_config, history=history, epoch=ckpt["epoch"], complete=True,
                    extra={"cache_key": key, "name": name, "data_id": data_id})
    return TrainedModel(model, history, path, False)


@dataclass
class Recipe:
    """A named training set-up used by the chapters: data set, sizes and both configurations."""

    name: str
    dataset: str
    model: ModelConfig
    train: TrainConfig
    # Number of training / test images used (None = all); the smoke mode shrinks them.
    n_train: int | None = None
    n_test: int | None = None
    # Full mode only: images to show the model in total; train_cached turns it into epochs
    # (between 10 and 50), so the 4,000-image offline subset gets more passes than the full 60,000.
    image_budget: int | None = None

    def epochs_for(self, n_images: int) -> int:
        """Epochs for a training set of n_images: the recipe's own, or image_budget / n_images."""
        if self.image_budget is None:
            return self.train.epochs
        return max(10, min(50, self.image_budget // max(n_images, 1)))


def default_config(name: str) -> Recipe:
    """The course's training set-up for a named chapter model; smoke mode shrinks epochs and data.

    Names: ``"mlp-mnist-2d"`` (the lecture's MLP, 2-D latent, dynamic binarisation),
    ``"mlp-mnist-20d"`` (20-D latent), ``"conv-mnist-keras"`` (the Keras example: ConvVAE, 2-D latent,
    grey levels), ``"mlp-fashion-2d"`` (Fashion-MNIST). Raises ``ValueError`` for another name.
    """
    pick = settings.pick
    n_train, n_test = pick(full=None, smoke=1000), pick(full=None, smoke=200)
    # Full mode: about 200,000 images per MLP (50 epochs of the offline subset, 10 of full MNIST,
    # a few minutes on a laptop CPU); the ConvVAE is ~10x slower per image, so it sees 10,000 images.
    mlp_budget = pick(full=200_000, smoke=None)
    one_epoch = TrainConfig(epochs=1)
    recipes = {
        "mlp-mnist-2d": Recipe(name, "mnist", ModelConfig("mlp", latent_dim=2),
                               one_epoch, n_train, n_test, mlp_budget),
        "mlp-mnist-20d": Recipe(name, "mnist", ModelConfig("mlp", latent_dim=20),
                                one_epoch, n_train, n_test, mlp_budget),
        "conv-mnist-keras": Recipe(name, "mnist", ModelConfig("conv", latent_dim=2),
                                   TrainConfig(epochs=pick(full=10, smoke=1), binarize="grey"),
                                   pick(full=10_000, smoke=1000), n_test),
        "mlp-fashion-2d": Recipe(name, "fashion-mnist", ModelConfig("mlp", latent_dim=2),
                                 one_epoch, n_train, n_test, mlp_budget),
    }
    if name not in recipes:
        raise ValueError(f"unknown model name {name!r}; choose one of {', '.join(recipes)}")
    return recipes[name]


DATASETS = ("mnist", "fashion-mnist", "ising")


def load_dataset(dataset: str, split: str):
    """(images (N, 1, H, W) in [0, 1], labels (N,)) of a named data set, via :mod:`vaecourse.data`."""
    if dataset not in DATASETS:
        raise ValueError(f"unknown dataset {dataset!r}; choose one of {', '.join(DATASETS)}")
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    if dataset == "ising":
        # The course's Ising data set (vaecourse.ising), spins mapped to {0, 1}, labels = temperatures;
        # a fixed random fifth of the configurations is the test split.
        from vaecourse import ising

        samples = ising.ising_dataset(**ising.default_dataset_config())
        images = ((samples.spins.float() + 1) / 2).unsqueeze(1)  # (N, 1, L, L)
        order = torch.randperm(images.shape[0], generator=torch.Generator().manual_seed(0))
        n_test = images.shape[0] // 5
        keep = order[:n_test] if split == "test" else order[n_test:]
        return images[keep], samples.temperature[keep]
    from vaecourse import data

    return data.load_mnist(split) if dataset == "mnist" else data.load_fashion_mnist(split)


def subset(pair, n: int | None, seed: int = 0):
    """A fixed random subset of n (images, labels) pairs (all of them when n is None).

    Random, not the first n: the offline MNIST subset is ordered by digit, so its first 1,000 images
    hold only three digits. The same seed gives the same subset on every run.
    """
    images, labels = pair
    if n is None or n >= images.shape[0]:
        return images, labels
    keep = torch.randperm(images.shape[0], generator=torch.Generator().manual_seed(seed))[:n]
    return images[keep], labels[keep]


def train_cached(name: str, *, model_config: ModelConfig | None = None, cache_name: str | None = None,
                 progress: bool | None = None, force: bool = False) -> TrainedModel:
    """Train (or load from the cache) the named model of :func:`default_config` on its data set.

    ``model_config`` replaces the recipe's model (e.g. a narrower decoder for the website), stored
    under ``cache_name``; the cache key holds the full configuration either way.

    >>> trained = train_cached("mlp-mnist-2d")       # doctest: +SKIP
    >>> trained.model, trained.history                # doctest: +SKIP
    """
    recipe = default_config(name)
    train = subset(load_dataset(recipe.dataset, "train"), recipe.n_train)
    test = subset(load_dataset(recipe.dataset, "test"), recipe.n_test)
    config = replace(recipe.train, epochs=recipe.epochs_for(train[0].shape[0]))
    return load_or_train(model_config or recipe.model, config, train[0], test[0], name=cache_name or name,
                         progress=progress, force=force)


# ----------------------------------------------------------------------------- command line


class _UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, no usage dump, no SystemExit
        raise _UsageError(message)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative, got {value}")
    return value


def _parser() -> _Parser:
    p = _Parser(prog="python -m vaecourse train", description="Train a VAE; write checkpoint, history, figures.")
    p.add_argument("--model", choices=["mlp", "conv"], default="mlp")
    p.add_argument("--dataset", choices=list(DATASETS), default="mnist")
    p.add_argument("--latent-dim", type=_positive_int, default=2)
    p.add_argument("--hidden", type=_positive_int, default=400)
    p.add_argument("--epochs", type=_positive_int, default=settings.pick(full=10, smoke=1))
    p.add_argument("--batch-size", type=_positive_int, default=128)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--binarize", choices=list(BINARIZATIONS), default=None,
                   help="default: dynamic for the MLP, grey for the ConvVAE (as in the Keras example)")
    p.add_argument("--n-train", type=_positive_int, default=None, help="use only the first N training images")
    p.add_argument("--n-test", type=_positive_int, default=None, help="use only the first N test images")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default=None)
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt")
    p.add_argument("--no-figures", action="store_true")
    p.add_argument("--no-progress", action="store_true")
    return p


def cli(argv: list[str]) -> int:
    """``python -m vaecourse train ...``: returns the exit code (2 for bad arguments, 1 for failures)."""
    try:
        args = _parser().parse_args(argv)
        if args.latent_dim < 1:
            raise _UsageError("argument --latent-dim: must be at least 1")
        if args.batch_size < 1:
            raise _UsageError("argument --batch-size: must be at least 1")
        binarize = args.binarize or ("grey" if args.model == "conv" else "dynamic")
        train_config = TrainConfig(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, binarize=binarize,
                                   seed=args.seed, device=args.device)
        default_device(args.device)
    except (_UsageError, ValueError) as error:
        print(f"vaecourse train: error: {error}", file=sys.stderr)
        return 2
    try:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        train = subset(load_dataset(args.dataset, "train"), args.n_train)
        test = subset(load_dataset(args.dataset, "test"), args.n_test)
        model_config = ModelConfig(args.model, latent_dim=args.latent_dim, hidden=args.hidden,
                                   data_shape=tuple(train[0].shape[1:]))
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(args.seed)
            model = build_model(model_config)
        history = fit(model, train[0], train_config, test[0], checkpoint=out / "checkpoint.pt", resume=args.resume,
                      progress=not args.no_progress)
        # Remember which data the checkpoint was trained on, for `vaecourse evaluate`.
        ckpt = load_checkpoint(out / "checkpoint.pt")
        save_checkpoint(out / "checkpoint.pt", model, train_config, history=history, epoch=ckpt["epoch"],
                        rng=ckpt["rng"], complete=ckpt["complete"],
                        extra={"dataset": args.dataset, "n_test": args.n_test})
        (out / "history.json").write_text(json.dumps(history.to_dict(), indent=1))
        (out / "history.csv").write_text(history.to_csv())
        figures = [] if args.no_figures else _write_figures(model, history, test, out)
    except (ValueError, OSError, NonFiniteLossError) as error:
        print(f"vaecourse train: error: {str(error).splitlines()[0]}", file=sys.stderr)
        return 1
    last = len(history) - 1
    print(f"trained {type(model).__name__} ({args.model}, latent_dim={args.latent_dim}) on {args.dataset}: "
          f"{len(history)} epochs, {sum(history.seconds):.1f} s")
    if last >= 0:
        test_elbo = history.test_elbo[last]
        print(f"train ELBO {history.train_elbo[last]:.2f} nats/image"
              + (f", test ELBO {test_elbo:.2f}" if test_elbo is not None else "")
              + (" (grey levels: not a log-likelihood)" if binarize == "grey" else ""))
    print(f"wrote {out / 'checkpoint.pt'}, history.json, history.csv" + (f", {len(figures)} figures" if figures else ""))
    return 130 if history.interrupted else 0


def _write_figures(model, history: History, test, out: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from vaecourse import plotting

    images, labels = test
    images = images[:2000].to(next(model.parameters()).device)
    figs = {
        "reconstructions.png": plotting.reconstructions(model, images[:10]),
        "prior_samples.png": plotting.prior_samples(model, 36),
    }
    if len(history):
        figs["training_curves.png"] = plotting.training_curves(history)
    if model.latent_dim == 2:
        figs["latent_manifold.png"] = plotting.latent_manifold(model, n=15)
        figs["latent_means.png"] = plotting.latent_means(model, images, labels[:2000])
    paths = []
    for filename, fig in figs.items():
        fig.savefig(out / filename, dpi=100)
        plt.close(fig)
        paths.append(out / filename)
    return paths


__all__ = [
    "TrainConfig", "History", "fit", "dataset_elbo", "save_checkpoint", "load_checkpoint", "model_from_checkpoint",
    "CheckpointError", "NonFiniteLossError", "data_fingerprint", "cache_key", "load_or_train", "TrainedModel",
    "Recipe", "default_config", "train_cached", "load_dataset", "prepare_test_set", "make_optimizer", "cli",
]
