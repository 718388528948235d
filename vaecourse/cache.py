"""The one cache of every trained or generated artefact: where it lives, its keys, its writes, its damage policy.

Every cached artefact of the course -- a trained model (:func:`vaecourse.recipes.load_or_train`), the
models of several objectives (:func:`vaecourse.objectives.load_or_fit`), the conditional Ising VAE, the
Keras example, the synthetic spectra and the Ising data set -- is one file in a subfolder of
:func:`folder`, named by :func:`cache_file` after :func:`key`: a hash of the settings that change the
result, a :func:`fingerprint` of the data and the package version. It is written by
:func:`write_atomically` and read by :func:`load_or_build` (or :func:`load_entry`) under one policy:

- a missing entry is built and written;
- a damaged or foreign entry (truncated, random bytes, empty, an HTML page, a pickle, another model's
  arrays: whatever its reader refuses with :class:`CacheEntryError`) is removed and rebuilt with a
  :class:`CacheRebuiltWarning` when that is cheap, and otherwise raises the reader's error, naming the
  file and the remedy (``force=True``, or delete the file; ``python -m vaecourse info`` prints the folder).

Files are read with ``torch.load(weights_only=True)`` (:func:`read_tensors`) or as NumPy arrays
without pickles: a cache file is never unpickled. Each module keeps only what is its own: how to
build, save and load its artefact.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import struct
import tempfile
import warnings
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import numpy as np
import torch

from vaecourse import __version__, settings

T = TypeVar("T")

__all__ = [
    "CHEAP_IMAGES",
    "CacheEntryError",
    "CacheRebuiltWarning",
    "cache_file",
    "cheap_to_train",
    "fingerprint",
    "folder",
    "key",
    "load_entry",
    "load_or_build",
    "load_tensors",
    "read_arrays",
    "read_tensors",
    "refuse_link",
    "remove_orphans",
    "write_atomically",
]

#: Retraining a damaged entry without asking is fine up to this many images (rows) seen in training.
CHEAP_IMAGES = 20_000

#: Hex digits of the key in a file name, per folder, as the entries already on disk are named.
_KEY_DIGITS = {"models": 16}
_DEFAULT_DIGITS = 20


class CacheEntryError(ValueError):
    """A cache entry that cannot be used: damaged (truncated, corrupt) or foreign (another artefact's file)."""


class CacheRebuiltWarning(UserWarning):
    """A damaged cache entry (a truncated or corrupt file) was found, removed and rebuilt."""


def folder(kind: str | None = None) -> Path:
    """The cache folder (created on demand), or its subfolder ``kind`` ("models", "ising", ...).

    ``VAECOURSE_CACHE`` overrides the platform's user cache folder (:func:`vaecourse.settings.cache_dir`,
    which raises ``NotADirectoryError``/``PermissionError`` saying what to do when it cannot be made).
    """
    return settings.cache_dir(kind) if kind else settings.cache_dir()


def key(fields: dict, *, data: str | None = None, versioned: bool = True) -> str:
    """The SHA-256 hex digest of ``fields`` (the settings that change the result), the data and the version.

    ``fields`` must be JSON-serialisable; ``data`` is a :func:`fingerprint` (left out when None);
    ``versioned`` adds the package version, so that a new vaecourse rebuilds the entry (entries whose
    own format tag in ``fields`` says when they go stale pass ``versioned=False``).
    """
    parts = dict(fields)
    if data is not None:
        parts["data"] = data
    if versioned:
        parts["version"] = __version__
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def fingerprint(*arrays) -> str:
    """A BLAKE2b hash (32 hex digits) of the arrays' shapes, dtypes and bytes, the data's part of a :func:`key`.

    Each argument: a torch tensor, a NumPy array or None (hashed as "none"). Shapes: any.
    """
    digest = hashlib.blake2b(digest_size=16)
    for a in arrays:
        if a is None:
            digest.update(b"none")
            continue
        t = torch.as_tensor(a).detach().to("cpu").contiguous()
        digest.update(f"{tuple(t.shape)}|{t.dtype}|".encode())
        digest.update(t.numpy().tobytes())
    return digest.hexdigest()


def cache_file(kind: str, name: str, entry_key: str, suffix: str = ".pt") -> Path:
    """The file of an entry: ``folder(kind) / f"{name}-{entry_key[:digits]}{suffix}"``.

    ``digits`` is 16 in "models" and 20 elsewhere (the names of the entries already on disk).
    """
    return folder(kind) / f"{name}-{entry_key[: _KEY_DIGITS.get(kind, _DEFAULT_DIGITS)]}{suffix}"


# ----------------------------------------------------------------------------- atomic writes


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_UMASK = _umask()  # read once: os.umask can only be read by setting it


def _temporaries(path: Path) -> list[Path]:
    """The temporary files of :func:`write_atomically` for ``path``: ``.NAME.PID-RANDOM.tmp`` beside it."""
    return list(path.parent.glob(f".{path.name}.*.tmp"))


def remove_orphans(path) -> int:
    """Delete the temporary files a killed write of ``path`` left behind; return how many.

    A temporary file of :func:`write_atomically` is named after its writer's process id; it is an
    orphan when that process no longer runs (a write in progress in another process is kept). A link
    planted there is removed, never followed.
    """
    removed = 0
    for tmp in _temporaries(Path(path)):
        pid = tmp.name[len(Path(path).name) + 2 : -len(".tmp")].split("-")[0]
        try:
            os.kill(int(pid), 0)  # signal 0: does the writer still run? (this process too: a thread)
            continue
        except ProcessLookupError:
            pass
        except (ValueError, PermissionError, OverflowError):
            continue  # not ours to judge: a name we did not make, or another user's running process
        tmp.unlink(missing_ok=True)
        removed += 1
    return removed


def refuse_link(path) -> None:
    """Raise ``FileExistsError`` naming ``path`` when it is a symbolic link (dangling or not); else nothing.

    Every write of the package calls it before writing ``path``: a link planted at a file's name (in a
    shared cache, an output folder) would otherwise make the write replace or fill a file elsewhere.
    """
    if os.path.islink(path):
        raise FileExistsError(
            f"{str(path)!r} is a symbolic link; vaecourse does not write through links "
            "(one planted there could overwrite another file): remove the link and run again"
        )


def write_atomically(path, write: Callable[[Path], object]) -> Path:
    """Write ``path`` all at once: ``write(tmp)`` fills a new temporary file beside it, then a rename.

    Readers see the old file or the new one, never half of one. The temporary file is made by
    ``tempfile.mkstemp`` (``.NAME.PID-RANDOM.tmp``, created exclusively: two writers never share one,
    and a link planted at a temporary name is never followed). A symbolic link at ``path`` itself is
    refused (:func:`refuse_link`): in a shared folder it may have been planted to make this write
    land elsewhere. The last rename wins. Orphaned temporaries of killed earlier writes are removed
    first (:func:`remove_orphans`). A failed write (a full disk, a file-size limit, a folder that
    cannot be written) removes its temporary file, keeps the old ``path`` and raises ``OSError``
    naming ``path``.

    Raises ``FileExistsError`` (an ``OSError``) naming ``path`` when it is a symbolic link.
    """
    path = Path(path)
    refuse_link(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OSError(f"cannot create the folder of {str(path)!r} ({error.strerror or error})") from None
    remove_orphans(path)
    tmp = None
    try:
        handle, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.{os.getpid()}-", suffix=".tmp")
        os.close(handle)
        tmp = Path(name)
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; a cache file gets the usual permissions
        write(tmp)
        os.replace(tmp, path)
    except (OSError, RuntimeError) as error:  # torch.save reports a failed write as RuntimeError
        text = str(getattr(error, "strerror", None) or error).strip().splitlines()
        raise OSError(
            f"could not write {str(path)!r} ({text[0][:120] if text else type(error).__name__}); "
            "check that the folder is writable and the disk has space"
        ) from None
    finally:
        if tmp is not None:
            tmp.unlink(missing_ok=True)
    return path


# ----------------------------------------------------------------------------- reading and the damage policy

#: What ``torch.load(weights_only=True)`` and ``np.load`` raise for a file that is not theirs.
_UNREADABLE = (
    pickle.UnpicklingError,
    EOFError,
    RuntimeError,
    ValueError,
    zipfile.BadZipFile,
    UnicodeDecodeError,
    IndexError,
    KeyError,
    struct.error,
)


def load_tensors(path):
    """Whatever tensors, numbers, strings, lists and dicts a ``torch.save`` file holds (``weights_only=True``).

    Raises :class:`CacheEntryError` naming the file for one that torch cannot read this way (truncated,
    random bytes, empty, an HTML page, a pickle of other objects); ``OSError`` when it cannot be opened.
    """
    path = Path(path)
    with open(path, "rb") as handle:  # a file that cannot be opened raises its own OSError
        # torch.save writes a zip archive; other bytes can make torch's unpickler raise almost anything
        if not zipfile.is_zipfile(handle):
            raise CacheEntryError(f"{path.name} is not a torch archive (empty, truncated or other bytes)")
        handle.seek(0)
        try:
            with warnings.catch_warnings():  # torch's note on a pickle protocol it was not written with
                warnings.filterwarnings("ignore", message="Detected pickle protocol", category=UserWarning)
                return torch.load(handle, map_location="cpu", weights_only=True)
        except pickle.UnpicklingError:
            raise CacheEntryError(
                f"{path.name} holds objects other than tensors, or other bytes; it was not unpickled"
            ) from None
        except (*_UNREADABLE, OSError) as error:  # OSError: a truncated archive torch cannot seek in
            raise CacheEntryError(f"{path.name} is not a readable tensor file ({_first_line(error)})") from None


def read_tensors(path, fields: tuple[str, ...] = ()) -> dict:
    """The dict of tensors, numbers and strings in a ``torch.save`` file, read with ``weights_only=True``.

    Raises :class:`CacheEntryError` (naming the file) for a file that is not such a dict -- truncated,
    random bytes, empty, an HTML page, a pickle of any other object -- or that lacks one of ``fields``.
    Never unpickles arbitrary objects.
    """
    stored = load_tensors(path)
    if not isinstance(stored, dict):
        raise CacheEntryError(f"{path.name} holds a {type(stored).__name__}, not a cache entry")
    missing = [name for name in fields if name not in stored]
    if missing:
        raise CacheEntryError(f"{path.name} lacks the field(s) {missing}")
    return stored


def read_arrays(path) -> dict[str, np.ndarray]:
    """The arrays of a NumPy ``.npz`` file, read without pickles (``allow_pickle=False``).

    Raises :class:`CacheEntryError` (naming the file) for a file that is not such an archive.
    """
    path = Path(path)
    with open(path, "rb") as handle:  # a file that cannot be opened raises its own OSError
        try:
            with np.load(handle, allow_pickle=False) as stored:
                return {name: stored[name] for name in stored.files}
        except (*_UNREADABLE, OSError) as error:  # np.load raises OSError for a file that is no archive
            raise CacheEntryError(f"{path.name} is not a readable array file ({_first_line(error)})") from None


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0][:120] if text else type(error).__name__


def cheap_to_train(epochs: int, n_images: int) -> bool:
    """Whether a training run is cheap to redo: at most :data:`CHEAP_IMAGES` images seen in all its epochs."""
    return epochs * n_images <= CHEAP_IMAGES


def load_entry(path, load: Callable[[Path], T], *, cheap: bool, what: str, force: bool = False) -> T | None:
    """``load(path)``, or None when the entry is missing (or ``force``): the cache's one damage policy.

    ``load`` raises :class:`CacheEntryError` (or a subclass) for a damaged or foreign entry. Then,
    when ``cheap``, the file is removed (a link: the link only), a :class:`CacheRebuiltWarning` naming
    ``what`` and the file is issued and None returned, so that the caller rebuilds it; otherwise the
    same error class is raised, naming the file and the remedy.
    """
    path = Path(path)
    if force or not (path.exists() or path.is_symlink()):
        return None
    try:
        return load(path)
    except CacheEntryError as error:
        if not cheap:
            raise type(error)(
                f"the cached {what} ({path.name}) is damaged ({error}); rebuild it with force=True, or "
                "delete that file from the cache folder (python -m vaecourse info prints the folder)"
            ) from None
        path.unlink(missing_ok=True)
        warnings.warn(
            f"the cached {what} ({path.name}) was damaged ({error}); removed and rebuilt",
            CacheRebuiltWarning,
            stacklevel=3,
        )
        return None


def load_or_build(
    path,
    build: Callable[[], T],
    save: Callable[[T, Path], object],
    load: Callable[[Path], T],
    *,
    cheap: bool,
    what: str,
    force: bool = False,
) -> T:
    """The entry at ``path``: loaded when present and sound, else ``build()`` and written atomically.

    ``save(result, tmp)`` writes the result into a temporary file (:func:`write_atomically`);
    ``load(path)`` reads it back, raising :class:`CacheEntryError` for a damaged or foreign file
    (:func:`load_entry` applies the damage policy). ``force`` rebuilds and overwrites.
    Raises ``OSError`` naming the file when it cannot be written (the old entry, if any, is kept).
    """
    loaded = load_entry(path, load, cheap=cheap, what=what, force=force)
    if loaded is not None:
        return loaded
    result = build()
    write_atomically(path, lambda tmp: save(result, tmp))
    return result
