"""Run-wide settings: the smoke switch, the cache folder, the device override and offline mode.

This is the *only* place that reads the course's environment variables. How files are written into
the cache folder, and how its entries are keyed and checked, is :mod:`vaecourse.cache`.

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
``VAECOURSE_BOOK_BUILD``
    ``1`` while Jupyter Book executes the chapters for the website (set by the Sphinx extension
    scripts/quoted_numbers.py, never by hand): quoted numbers are glued into the text
    (:mod:`vaecourse.prose`) and no progress bar is drawn (a closed bar would stay on the static page
    as an empty widget).
``KERAS_BACKEND``
    Keras 3's own variable; :func:`keras_backend` sets it to ``torch`` when unset (for
    :mod:`vaecourse.keras_vae`).
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


def in_book_build() -> bool:
    """True while Jupyter Book executes the chapters for the website (``VAECOURSE_BOOK_BUILD=1``)."""
    return os.environ.get("VAECOURSE_BOOK_BUILD", "").strip() == "1"


def show_progress() -> bool:
    """Whether long steps (training, downloads) draw a progress bar: not in smoke mode, where they take
    seconds, and not in the website build, where a bar would stay on the page as an empty widget."""
    return not is_smoke() and not in_book_build()


def offline() -> bool:
    """True when ``VAECOURSE_OFFLINE`` forbids downloads."""
    return os.environ.get("VAECOURSE_OFFLINE", "").strip().lower() in _TRUE


def device_override() -> str | None:
    """The device named by ``VAECOURSE_DEVICE``, or None for the automatic choice."""
    value = os.environ.get("VAECOURSE_DEVICE", "").strip()
    return value or None


def keras_backend(default: str = "torch") -> str:
    """The backend ``KERAS_BACKEND`` names (lower case), after setting it to ``default`` when unset.

    Keras reads the variable once, at import; :func:`vaecourse.keras_vae.use_keras_torch_backend` calls this.
    """
    os.environ.setdefault("KERAS_BACKEND", default)
    return os.environ["KERAS_BACKEND"].strip().lower()


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
        raise OSError(
            f"no cache folder: there is no home folder to put it in (HOME is not set and user id "
            f"{os.getuid()} has no passwd entry); set VAECOURSE_CACHE to a folder you can write to "
            f"[{type(error).__name__}]"
        ) from None
    path = base.joinpath(*parts)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, FileNotFoundError, NotADirectoryError):
        link = _dangling_link(path)
        if link is not None:
            raise NotADirectoryError(
                f"the cache folder {str(link)!r} is a symbolic link to "
                f"{os.readlink(link)!r}, which does not exist; create that folder, remove "
                "the link, or set VAECOURSE_CACHE to another folder"
            ) from None
        raise NotADirectoryError(
            f"the cache folder {str(path)!r} is a file, not a folder; move the file away "
            "or set VAECOURSE_CACHE to another folder"
        ) from None
    except PermissionError:
        raise PermissionError(
            f"cannot create the cache folder {str(path)!r} (permission denied); "
            "set VAECOURSE_CACHE to a folder you can write to"
        ) from None
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
