"""vaecourse: an executable course on Variational Autoencoders for the physical sciences.

The package behind the book. One module per concept:

- :mod:`~vaecourse.settings`     the smoke switch, the cache folder, offline mode (the only env reader)
- :mod:`~vaecourse.device`       automatic choice of cpu / cuda / mps
- :mod:`~vaecourse.validation`   input checks shared by the mathematics modules
- :mod:`~vaecourse.kl`           closed-form Gaussian KL divergences (equations 8 and 9)
- :mod:`~vaecourse.elbo`         ELBO, IWAE bound, log p(x) by latent quadrature
- :mod:`~vaecourse.linear_gaussian`  the exact reference model (every quantity in closed form)
- :mod:`~vaecourse.estimators`   effective sample size; naive, reparameterised, score-function gradients
- :mod:`~vaecourse.derivations`  one check per equation of the lecture (``python -m vaecourse check``)
- :mod:`~vaecourse.mixtures`     forward vs reverse KL fits (chapter 2)
- :mod:`~vaecourse.latent_grid`  Q and the true posterior on a 2-D latent grid (chapter 4)
- :mod:`~vaecourse.models`       the lecture's MLP VAE and the Keras example's ConvVAE, in PyTorch
- :mod:`~vaecourse.keras_vae`    the Keras example on Keras 3's torch backend
- :mod:`~vaecourse.train`        training, checkpoints, the trained-model cache
- :mod:`~vaecourse.evaluate`     test ELBO, IWAE log p(x), quadrature gap
- :mod:`~vaecourse.idx`, :mod:`~vaecourse.data`  IDX files; MNIST and Fashion-MNIST, online or offline
- :mod:`~vaecourse.ising`        the 2-D Ising sampler and Onsager's exact results
- :mod:`~vaecourse.physics`      the VAE finds the Ising transition (chapter 10)
- :mod:`~vaecourse.plotting`, :mod:`~vaecourse.widgets`  figures and latent-space widgets
- :mod:`~vaecourse.posterior_pad`  draw a digit: encoder, true posterior and bounds in the browser
- :mod:`~vaecourse.ising_lattice`  an Ising lattice simulated and encoded in the browser (chapter 10)

Importing ``vaecourse`` is cheap: torch, matplotlib, ipywidgets and keras are imported only by the
submodules that need them, and submodules are loaded on first attribute access.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

_SUBMODULES = {
    "settings",
    "device",
    "validation",
    "kl",
    "elbo",
    "linear_gaussian",
    "estimators",
    "derivations",
    "mixtures",
    "latent_grid",
    "models",
    "keras_vae",
    "train",
    "evaluate",
    "idx",
    "data",
    "ising",
    "physics",
    "plotting",
    "widgets",
    "posterior_pad",
    "ising_lattice",
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
