"""Run-wide settings: the smoke switch and the cache folder (and how files are written into it).

This is the *only* place that reads the course's environment variables.

``VAECOURSE_SMOKE``
    ``1`` (or ``true``/``yes``) shrinks every expensive step -- epochs, data size, Monte Carlo
    samples, lattice sizes -- so that each chapter executes in seconds. ``make test`` and CI set it;
    ``make book`` builds the full course unless it is set. Chapters never test for CI themselves:
    they call :func:`pick` (or :func:`is_smoke`).
``VAECOURSE_CACHE``
    Folder for downloaded data, generated Ising configurations and trained models. Defaults to the
    platform's user cache folder (``~/.cache/vaecourse`` on Linux).
``VAECOURSE_DEVICE``
    Overrides the automatic device choice (see :mod:`vaecourse.device`).
``VAECOURSE_OFFLINE``
    ``1`` forbids every download: data loaders go straight to their offline fallback. The test
    suite sets it, so that tests never reach the internet.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")

_TRUE = {"1", "true", "yes", "on"}


def is_smoke() -> bool:
    """True when ``VAECOURSE_SMOKE`` asks for the fast, shrunken run of every chapter."""
    return os.environ.get("VAECOURSE_SMOKE", "").strip().lower() in _TRUE


def pick(full: T, smoke: T) -> T:
    """Return ``smoke`` in smoke mode and ``full`` otherwise.

    >>> epochs = pick(full=30, smoke=1)
    """
    return smoke if is_smoke() else full


def mode() -> str:
    """``"smoke"`` or ``"full"``, for printing and for cache keys."""
    return "smoke" if is_smoke() else "full"


def offline() -> bool:
    """True when ``VAECOURSE_OFFLINE`` forbids downloads."""
    return os.environ.get("VAECOURSE_OFFLINE", "").strip().lower() in _TRUE


def device_override() -> str | None:
    """The device named by ``VAECOURSE_DEVICE``, or None for the automatic choice."""
    value = os.environ.get("VAECOURSE_DEVICE", "").strip()
    return value or None


def cache_dir(*parts: str) -> Path:
    """The course's cache folder (created on demand), or a subfolder of it.

    ``VAECOURSE_CACHE`` overrides the platform's user cache folder. Raises ``OSError`` with one line
    saying what to do when there is no folder to use: no home folder to put it in (``HOME`` unset and
    a user id without a passwd entry, as in containers run with an arbitrary uid), a symbolic link to
    nothing (a dangling link, said as such), a file in its place, or a folder that cannot be created.
    """
    root = os.environ.get("VAECOURSE_CACHE", "").strip()
    try:
        if root:
            base = Path(root).expanduser()
        else:
            from platformdirs import user_cache_dir

            base = Path(user_cache_dir("vaecourse", appauthor=False))
    except (RuntimeError, KeyError) as error:  # "could not determine the home directory", getpwuid's KeyError
        raise OSError(f"no cache folder: there is no home folder to put it in (HOME is not set and user id "
                      f"{os.getuid()} has no passwd entry); set VAECOURSE_CACHE to a folder you can write to "
                      f"[{type(error).__name__}]") from None
    path = base.joinpath(*parts)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, FileNotFoundError, NotADirectoryError):
        link = _dangling_link(path)
        if link is not None:
            raise NotADirectoryError(f"the cache folder {str(link)!r} is a symbolic link to "
                                     f"{os.readlink(link)!r}, which does not exist; create that folder, remove "
                                     "the link, or set VAECOURSE_CACHE to another folder") from None
        raise NotADirectoryError(f"the cache folder {str(path)!r} is a file, not a folder; move the file away "
                                 "or set VAECOURSE_CACHE to another folder") from None
    except PermissionError:
        raise PermissionError(f"cannot create the cache folder {str(path)!r} (permission denied); "
                              "set VAECOURSE_CACHE to a folder you can write to") from None
    return path


def _dangling_link(path: Path) -> Path | None:
    """The first of ``path`` and its parents that is a symbolic link to nothing, or None."""
    for candidate in (*reversed(path.parents), path):
        if candidate.is_symlink() and not candidate.exists():
            return candidate
    return None


def thread_count() -> int | None:
    """The thread count ``OMP_NUM_THREADS`` asks for (a positive whole number), or None when unset or unusable.

    torch sizes its thread pool from it at start-up; :func:`vaecourse.resources.size_torch_threads`
    then leaves the count alone.
    """
    value = os.environ.get("OMP_NUM_THREADS", "").strip()
    return int(value) if value.isdigit() and int(value) > 0 else None


class CacheRebuiltWarning(UserWarning):
    """A damaged cache entry (a truncated or corrupt file) was found, removed and rebuilt."""


def _temporaries(path: Path) -> list[Path]:
    """The temporary files of :func:`write_atomically` for ``path``: ``.NAME.PID-TOKEN.tmp`` beside it."""
    return list(path.parent.glob(f".{path.name}.*.tmp"))


def remove_orphans(path) -> int:
    """Delete the temporary files a killed write of ``path`` left behind; return how many.

    A temporary file of :func:`write_atomically` is named after its writer's process id; it is an
    orphan when that process no longer runs (a write in progress in another process is kept).
    """
    removed = 0
    for tmp in _temporaries(Path(path)):
        pid = tmp.name[len(Path(path).name) + 2:-len(".tmp")].split("-")[0]
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


def write_atomically(path, write) -> Path:
    """Write ``path`` all at once: ``write(tmp)`` fills a unique temporary file beside it, then a rename.

    Readers see the old file or the new one, never half of one; two processes writing the same path
    each use their own temporary name (``.NAME.PID-TOKEN.tmp``), and the last rename wins. Orphaned
    temporaries of killed earlier writes are removed first (:func:`remove_orphans`). A failed write
    (a full disk, a file-size limit) removes its temporary file and raises ``OSError`` naming
    ``path``, as does a folder that cannot be written.
    """
    import secrets

    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OSError(f"cannot create the folder of {str(path)!r} ({error.strerror or error})") from None
    remove_orphans(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    except (OSError, RuntimeError) as error:  # torch.save reports a failed write as RuntimeError
        text = str(getattr(error, "strerror", None) or error).strip().splitlines()
        raise OSError(f"could not write {str(path)!r} ({text[0][:120] if text else type(error).__name__}); "
                      "check that the folder is writable and the disk has space") from None
    finally:
        tmp.unlink(missing_ok=True)
    return path


def use_keras_torch_backend() -> None:
    """Make Keras 3 run on PyTorch: ``KERAS_BACKEND=torch`` unless the user already chose a backend.

    Must be called before ``keras`` is first imported (Keras reads the variable once, at import);
    :mod:`vaecourse.keras_vae` calls it. Raises ``RuntimeError`` when Keras is already imported with
    another backend, or when ``KERAS_BACKEND`` names another backend, saying what to do.
    """
    import sys

    os.environ.setdefault("KERAS_BACKEND", "torch")
    chosen = os.environ["KERAS_BACKEND"].strip().lower()
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
