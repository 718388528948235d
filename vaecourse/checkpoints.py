"""The checkpoint file format: save, load, update and rebuild a model, and the RNG states for a resume.

A checkpoint is one ``torch.save`` file holding only tensors, numbers, strings, lists and dicts (the
model's configuration and weights, the training configuration, the optimiser state, the history,
the RNG states), written atomically (:func:`vaecourse.cache.write_atomically`) and read back with
``torch.load(weights_only=True)``, so a foreign file is refused and never unpickled. The trained-model
cache that stores one checkpoint per model is :func:`vaecourse.recipes.load_or_train`
(book/pytorch_vae.md); the training loop that writes them is :func:`vaecourse.train.fit`.
"""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import torch

from vaecourse import __version__, cache
from vaecourse.config import TrainConfig
from vaecourse.device import default_device
from vaecourse.models import ModelConfig, build_model

CHECKPOINT_FORMAT = "vaecourse-checkpoint"
CHECKPOINT_VERSION = 1


class CheckpointError(cache.CacheEntryError):
    """A checkpoint that is missing, is not a vaecourse checkpoint, or belongs to another model."""


def save_checkpoint(
    path,
    model,
    config,
    *,
    optimizer=None,
    history=None,
    epoch: int = 0,
    rng: dict | None = None,
    complete: bool = False,
    extra: dict | None = None,
) -> Path:
    """Write a checkpoint atomically (:func:`vaecourse.cache.write_atomically`).

    ``config`` is the :class:`vaecourse.train.TrainConfig`, ``history`` a
    :class:`vaecourse.train.History` (None: no epochs yet). ``optimizer`` is a torch optimiser or
    its ``state_dict()``. Returns the path written.

    Raises ``OSError`` naming the file when it cannot be written (read-only folder, full disk).
    """
    path = Path(path)
    payload = {
        "format": CHECKPOINT_FORMAT,
        "format_version": CHECKPOINT_VERSION,
        "package_version": __version__,
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
    # A unique temporary file, then a rename; orphans of killed writes are removed (cache).
    return cache.write_atomically(path, lambda tmp: torch.save(payload, tmp))


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
        ckpt = cache.load_tensors(path)
    except cache.CacheEntryError as error:  # truncated, corrupt, a pickle of other objects
        raise CheckpointError(f"{str(path)!r} is not a vaecourse checkpoint ({error})") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{str(path)!r} is not a vaecourse checkpoint (no '{CHECKPOINT_FORMAT}' marker)")
    if ckpt.get("format_version") != CHECKPOINT_VERSION:
        raise CheckpointError(
            f"{str(path)!r} has checkpoint format {ckpt.get('format_version')}, "
            f"this vaecourse reads format {CHECKPOINT_VERSION}"
        )
    if expect is not None and ckpt.get("model_class") != expect:
        raise CheckpointError(f"{str(path)!r} holds a {ckpt.get('model_class')} checkpoint, not a {expect}")
    _check_fields(ckpt, path)
    return ckpt


_REQUIRED = {
    "model_class": str,
    "model_config": dict,
    "train_config": dict,
    "model_state": dict,
    "epoch": int,
    "history": dict,
    "complete": bool,
}


def _check_fields(ckpt: dict, path: Path) -> None:
    """The one check of a checkpoint's contents: every field there, of its type, configurations valid.

    A hand-edited or forged file fails here with a :class:`CheckpointError` naming the field, not
    later with a ``KeyError``/``TypeError`` (or a huge allocation: sizes are checked by
    :func:`vaecourse.models.build_model` before any weight is made).
    """
    for name, kind in _REQUIRED.items():
        if not isinstance(ckpt.get(name), kind):
            raise CheckpointError(
                f"{str(path)!r} is damaged: its field {name!r} is missing or not a "
                f"{kind.__name__}; retrain (or delete the file)"
            )
    for name, cls in (("model_config", ModelConfig), ("train_config", TrainConfig)):
        known = {f.name for f in fields(cls)}
        given = set(ckpt[name])
        if given - known or (name == "model_config" and known - given):
            odd = sorted(given - known) or sorted(known - given)
            raise CheckpointError(
                f"{str(path)!r} has {'unknown' if given - known else 'missing'} {name} "
                f"field(s) {odd}; it was written by another vaecourse version: retrain it"
            )
        try:
            cls(**ckpt[name])
        except (TypeError, ValueError) as error:
            raise CheckpointError(f"{str(path)!r} has an invalid {name}: {error}") from None


def update_checkpoint(path, **changes) -> Path:
    """Rewrite a checkpoint with some fields changed (``complete``, ``extra``), keeping all the others.

    The optimiser and RNG states survive, so a checkpoint marked or annotated afterwards (by the
    command line, by :func:`vaecourse.recipes.load_or_train`) still resumes exactly. Raises :class:`CheckpointError`
    as :func:`load_checkpoint`, ``OSError`` when the file cannot be written.
    """
    ckpt = load_checkpoint(path)
    if "extra" in changes:
        changes["extra"] = {**ckpt.get("extra", {}), **changes["extra"]}
    payload = {**ckpt, **changes}
    return cache.write_atomically(Path(path), lambda tmp: torch.save(payload, tmp))


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


__all__ = [
    "CHECKPOINT_FORMAT",
    "CHECKPOINT_VERSION",
    "CheckpointError",
    "load_checkpoint",
    "model_from_checkpoint",
    "rng_state",
    "save_checkpoint",
    "set_rng_state",
    "update_checkpoint",
]
