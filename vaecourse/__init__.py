"""vaecourse: an executable course on Variational Autoencoders for the physical sciences.

The package behind the book. One module per concept:

- :mod:`vaecourse.settings`   the smoke switch and the cache folder (read in one place)
- :mod:`vaecourse.device`     automatic choice of cpu / cuda / mps

Importing ``vaecourse`` is cheap: torch, matplotlib, ipywidgets and keras are imported only by the
submodules that need them, and submodules are loaded on first attribute access.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

_SUBMODULES = {
    "settings",
    "device",
    "kl",
    "elbo",
    "linear_gaussian",
    "derivations",
    "estimators",
    "models",
    "train",
    "evaluate",
    "data",
    "ising",
    "plotting",
    "widgets",
    "physics",
}


def __getattr__(name: str):
    """Load a submodule the first time it is used (``vaecourse.kl`` works without an import)."""
    if name in _SUBMODULES:
        module = importlib.import_module(f"{__name__}.{name}")
        globals()[name] = module
        return module
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(_SUBMODULES))
