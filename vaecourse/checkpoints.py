"""Checkpoints and the trained-model cache: save, load and rebuild a model; train only on a cache miss.

A checkpoint is one ``torch.save`` file holding only tensors, numbers, strings, lists and dicts (the
model's configuration and weights, the training configuration, the optimiser state, the history,
the RNG states), written atomically and read back with ``torch.load(weights_only=True)``, so a
foreign file is refused and never unpickled. The cache stores one checkpoint per model, keyed by
everything that changes its weights (:func:`cache_key`); :func:`load_or_train` trains with
:func:`vaecourse.train.fit` only when that checkpoint is missing or unfinished (book/pytorch_vae.md).
"""

from __future__ import annotations

import hashlib
import json
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch

from vaecourse import settings
from vaecourse.config import TrainConfig
from vaecourse.data import images_of
from vaecourse.device import default_device
from vaecourse.models import ModelConfig, build_model

CHECKPOINT_FORMAT = "vaecourse-checkpoint"
CHECKPOINT_VERSION = 1


class CheckpointError(ValueError):
    """A checkpoint that is missing, is not a vaecourse checkpoint, or belongs to another model."""


def _package_version() -> str:
    import vaecourse

    return vaecourse.__version__


def save_checkpoint(path, model, config, *, optimizer=None, history=None, epoch: int = 0, rng: dict | None = None,
                    complete: bool = False, extra: dict | None = None) -> Path:
    """Write a checkpoint atomically (:func:`vaecourse.settings.write_atomically`).

    ``config`` is the :class:`vaecourse.train.TrainConfig`, ``history`` a
    :class:`vaecourse.train.History` (None: no epochs yet). ``optimizer`` is a torch optimiser or
    its ``state_dict()``. Returns the path written.

    Raises ``OSError`` naming the file when it cannot be written (read-only folder, full disk).
    """
    path = Path(path)
    payload = {
        "format": CHECKPOINT_FORMAT,
        "format_version": CHECKPOINT_VERSION,
        "package_version": _package_version(),
        "model_class": type(model).__name__,
        "model_config": model.config.to_dict(),
        "train_config": config.to_dict(),
        "model_state": model.state_dict(),
        "optimizer_state": optimizer if isinstance(optimizer, dict) or optimizer is None else optimizer.state_dict(),
        "epoch": int(epoch),
        "history": history.to_dict() if history is not None else {},  # History.from_dict({}): no epochs
        "rng": rng or {},
        "complete": bool(complete),
        "extra": extra or {},
    }
    # A unique temporary file, then a rename; orphans of killed writes are removed (settings).
    return settings.write_atomically(path, lambda tmp: torch.save(payload, tmp))


def load_checkpoint(path, expect: str | None = None) -> dict:
    """Read a checkpoint written by :func:`save_checkpoint` (``torch.load(weights_only=True)``).

    ``expect`` ("VAE" or "ConvVAE") refuses a checkpoint of another model.

    Raises :class:`CheckpointError` for a missing file, a file that is not a vaecourse checkpoint
    (any other pickle, a corrupt file) or the wrong model -- never unpickles arbitrary objects.
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
    _check_fields(ckpt, path)
    return ckpt


_REQUIRED = {"model_class": str, "model_config": dict, "train_config": dict, "model_state": dict,
             "epoch": int, "history": dict, "complete": bool}


def _check_fields(ckpt: dict, path: Path) -> None:
    """The one check of a checkpoint's contents: every field there, of its type, configurations valid.

    A hand-edited or forged file fails here with a :class:`CheckpointError` naming the field, not
    later with a ``KeyError``/``TypeError`` (or a huge allocation: sizes are checked by
    :func:`vaecourse.models.build_model` before any weight is made).
    """
    from dataclasses import fields

    for name, kind in _REQUIRED.items():
        if not isinstance(ckpt.get(name), kind):
            raise CheckpointError(f"{str(path)!r} is damaged: its field {name!r} is missing or not a "
                                  f"{kind.__name__}; retrain (or delete the file)")
    for name, cls in (("model_config", ModelConfig), ("train_config", TrainConfig)):
        known = {f.name for f in fields(cls)}
        given = set(ckpt[name])
        if given - known or (name == "model_config" and known - given):
            odd = sorted(given - known) or sorted(known - given)
            raise CheckpointError(f"{str(path)!r} has {'unknown' if given - known else 'missing'} {name} "
                                  f"field(s) {odd}; it was written by another vaecourse version: retrain it")
        try:
            cls(**ckpt[name])
        except (TypeError, ValueError) as error:
            raise CheckpointError(f"{str(path)!r} has an invalid {name}: {error}") from None


def update_checkpoint(path, **changes) -> Path:
    """Rewrite a checkpoint with some fields changed (``complete``, ``extra``), keeping all the others.

    The optimiser and RNG states survive, so a checkpoint marked or annotated afterwards (by the
    command line, by :func:`load_or_train`) still resumes exactly. Raises :class:`CheckpointError`
    as :func:`load_checkpoint`, ``OSError`` when the file cannot be written.
    """
    ckpt = load_checkpoint(path)
    if "extra" in changes:
        changes["extra"] = {**ckpt.get("extra", {}), **changes["extra"]}
    payload = {**ckpt, **changes}
    return settings.write_atomically(Path(path), lambda tmp: torch.save(payload, tmp))


def model_from_checkpoint(ckpt, device=None):
    """Rebuild the model stored in a checkpoint (a path or a dict from :func:`load_checkpoint`).

    Raises :class:`CheckpointError` when the file is not a checkpoint or its weights do not fit.
    """
    if not isinstance(ckpt, dict):
        ckpt = load_checkpoint(ckpt)
    config = ckpt["model_config"]
    try:
        model = build_model(ModelConfig(**{**config, "data_shape": tuple(config["data_shape"])}))
    except (TypeError, ValueError, KeyError) as error:  # a dict not checked by load_checkpoint
        raise CheckpointError(f"the checkpoint's model cannot be built: {error}") from None
    try:
        model.load_state_dict(ckpt["model_state"])
    except RuntimeError as error:
        raise CheckpointError(f"checkpoint weights do not fit its model: {str(error).splitlines()[0]}") from None
    return model.to(default_device(device) if device is None or isinstance(device, str) else device)


def rng_state(generator: torch.Generator, device) -> dict:
    """The global torch RNG, ``generator`` and (on CUDA) the device RNG, for a checkpoint."""
    state = {"torch": torch.get_rng_state(), "generator": generator.get_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def set_rng_state(state: dict, generator: torch.Generator, device) -> None:
    """Restore what :func:`rng_state` saved, so a resumed run draws what the uninterrupted one would."""
    torch.set_rng_state(state["torch"])
    generator.set_state(state["generator"])
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)


# ----------------------------------------------------------------------------- trained-model cache


def data_fingerprint(*tensors) -> str:
    """A hash of the data's shapes, dtypes and bytes (BLAKE2b), for the trained-model cache.

    Each argument: images ``(N, ...)``, an ``(images, labels)`` pair, or None.
    """
    digest = hashlib.blake2b(digest_size=16)
    for t in tensors:
        if t is None:
            digest.update(b"none")
            continue
        t = images_of(t).detach().to("cpu").contiguous()
        digest.update(f"{tuple(t.shape)}|{t.dtype}|".encode())
        digest.update(t.numpy().tobytes())
    return digest.hexdigest()


def cache_key(model_config: ModelConfig, train_config, data_id: str) -> str:
    """SHA-256 of the model configuration, the training configuration (without the device), the data
    identity and the package version."""
    blob = json.dumps({"model": model_config.to_dict(), "train": train_config.fields_that_change_weights(),
                       "data": data_id, "version": _package_version()}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()


@dataclass
class TrainedModel:
    """A trained model, its history, the checkpoint file, and whether it came from the cache."""

    model: torch.nn.Module
    history: object  # vaecourse.train.History
    path: Path
    from_cache: bool

    def __repr__(self) -> str:  # the file name only: a notebook's output shows no machine's folders
        source = "loaded from the cache" if self.from_cache else "trained now"
        return f"TrainedModel({type(self.model).__name__}, {len(self.history)} epochs, {source}, file={self.path.name!r})"


def load_or_train(model_config: ModelConfig, train_config, train, test=None, *, name: str = "model",
                  data_id: str | None = None, progress: bool | None = None, force: bool = False) -> TrainedModel:
    """Return the trained model for these configurations and data, training only on a cache miss.

    The file is ``settings.cache_dir("models") / f"{name}-{key[:16]}.pt"`` where ``key`` is
    :func:`cache_key` (``data_id`` defaults to :func:`data_fingerprint` of ``train`` and ``test``).
    A run stopped half-way (Ctrl-C) resumes from its checkpoint on the next call. ``force`` retrains.
    A damaged entry is retrained with a :class:`vaecourse.settings.CacheRebuiltWarning` when that is
    cheap (:data:`CHEAP_IMAGES`), otherwise it raises a :class:`CheckpointError` saying to pass
    ``force=True`` or delete the file.
    :func:`vaecourse.recipes.load_or_train_recipe` does the same for a chapter's named model.

    Shapes: ``train``, ``test`` images ``(N, *data_shape)`` in [0, 1] (or ``(images, labels)``).
    """
    from vaecourse import train as loop  # train.py imports this module: the loop is imported here

    data_id = data_id or data_fingerprint(train, test)
    key = cache_key(model_config, train_config, data_id)
    path = settings.cache_dir("models") / f"{name}-{key[:16]}.pt"
    resume = path.exists() and not force
    if resume:
        try:
            ckpt = load_checkpoint(path)
        except CheckpointError as error:  # a damaged entry: retrain when cheap, else say what to do
            if not _cheap(train_config, train):
                raise CheckpointError(f"the cached model {name!r} ({path.name}) is damaged ({error}); retrain "
                                      "it with force=True, or delete that file from the cache folder "
                                      "(python -m vaecourse info prints the folder)") from None
            warnings.warn(f"the cached model {name!r} ({path.name}) was damaged; retraining it",
                          settings.CacheRebuiltWarning, stacklevel=2)
            ckpt, resume = None, False
        if ckpt is not None and ckpt["complete"] and ckpt.get("extra", {}).get("cache_key") == key:
            model = model_from_checkpoint(ckpt, train_config.device)
            model.eval()
            return TrainedModel(model, loop.History.from_dict(ckpt["history"]), path, True)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(train_config.seed)  # the initial weights depend on the seed only
        model = build_model(model_config)
    history = loop.fit(model, train, train_config, test, checkpoint=path, resume=resume, progress=progress)
    if history.interrupted:
        return TrainedModel(model, history, path, False)
    update_checkpoint(path, complete=True, extra={"cache_key": key, "name": name, "data_id": data_id})
    return TrainedModel(model, history, path, False)


#: Retraining a damaged cache entry without asking is fine below this many images seen in training.
CHEAP_IMAGES = 20_000


def _cheap(train_config, train) -> bool:
    """Whether a run is cheap to redo: at most :data:`CHEAP_IMAGES` images shown in all its epochs."""
    return train_config.epochs * images_of(train).shape[0] <= CHEAP_IMAGES


__all__ = [
    "CHECKPOINT_FORMAT", "CHECKPOINT_VERSION", "CheckpointError", "save_checkpoint", "load_checkpoint",
    "update_checkpoint", "model_from_checkpoint", "rng_state", "set_rng_state", "data_fingerprint", "cache_key", "TrainedModel",
    "load_or_train",
]
