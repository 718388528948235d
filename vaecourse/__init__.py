"""vaecourse: an executable course on Variational Autoencoders for the physical sciences.

The package behind the book. One module per concept (a folder, ``name/``, for a concept with parts):

- :mod:`~vaecourse.settings`     the smoke switch, the cache folder, offline mode (the only env reader)
- :mod:`~vaecourse.prose`        numbers the text quotes (``quote``, glued on the website) and its claims (``claim``)
- :mod:`~vaecourse.resources`    the limits the process really has: memory (host, cgroup, RLIMIT_AS) and CPUs
  (affinity, cgroup quota); torch's thread pool sized to them
- :mod:`~vaecourse.device`       automatic choice of cpu / cuda / mps
- :mod:`~vaecourse.validation`   input checks shared by the mathematics modules, and the switch that skips them
- :mod:`~vaecourse.kl`           closed-form Gaussian KL divergences (eq:kl-gaussians, eq:kl-standard-normal)
- :mod:`~vaecourse.kl_symbolic`  the KL against N(0, I) derived from the KL of two Gaussians (sympy)
- :mod:`~vaecourse.elbo`         the ELBO, the IWAE bound and the training loss
- :mod:`~vaecourse.linear_gaussian`  the exact reference model (every quantity in closed form)
- :mod:`~vaecourse.reparameterisation`  h = mu + sigma * eps; naive, reparameterised, score-function gradients
- :mod:`~vaecourse.checks`       ``checks/``: one check per equation, one file per chapter with its ``CHECKS``
  list, the judge and runners in ``_core`` (``python -m vaecourse check``)
- :mod:`~vaecourse.exercises`  ``exercises/``: ``check_<exercise>(answer)`` for every code or numeric exercise, naming
  the mistake; one file per chapter, the machinery in ``_core``; the self-tests and the instructors' grader
- :mod:`~vaecourse.kl_fits`      forward vs reverse KL fits of one Gaussian to a mixture
- :mod:`~vaecourse.marginal`     p(x) and p(h|x) by numerics: quadrature, importance weights, the grid posterior
- :mod:`~vaecourse.models`       the lecture's MLP VAE and the Keras example's ConvVAE, in PyTorch
- :mod:`~vaecourse.keras_vae`    the Keras example on Keras 3's torch backend
- :mod:`~vaecourse.config`       ``TrainConfig``: the training settings, and which of them change the weights
- :mod:`~vaecourse.train`        the training loop: ``History``, ``fit`` (``TrainConfig`` from ``config``)
- :mod:`~vaecourse.checkpoints`  the checkpoint file format (save, load, rebuild a model, RNG states)
- :mod:`~vaecourse.cache`        the one cache: its folder, keys, data fingerprints, atomic writes, damage policy
- :mod:`~vaecourse.recipes`      trained models, cached (``load_or_train``), and the chapters' named models
  (``recipe``, ``load_or_train_recipe``)
- :mod:`~vaecourse.cli`          the command line: ``python -m vaecourse info|check|train|evaluate``
- :mod:`~vaecourse.evaluate`     test ELBO, IWAE log p(x), quadrature gap
- :mod:`~vaecourse.idx`, :mod:`~vaecourse.data`  IDX files; MNIST and Fashion-MNIST, online or offline
- :mod:`~vaecourse.ising`        ``ising/``: the 2-D Ising model: ``exact`` (Onsager), ``sampler`` (Monte Carlo,
  data set), ``vae_analysis`` (what a VAE learns about it, book/ising.md; imported on its own)
  ``conditional`` (a temperature-conditioned VAE as a sampler) and ``finite_size`` (T_c of the infinite
  lattice), book/ising_generative.md; imported on their own
- :mod:`~vaecourse.spectra`      synthetic spectra, a Gaussian-decoder VAE and PCA on them (book/spectra.md)
- :mod:`~vaecourse.diffusion`    diffusion models as hierarchical VAEs: noising, the ELBO's terms, training, sampling
- :mod:`~vaecourse.rate_distortion`  rate, distortion, the beta-ELBO, active units, KL warm-up and free bits
- :mod:`~vaecourse.autoregressive`  a decoder that also sees the preceding pixels (and can ignore h)
- :mod:`~vaecourse.objectives`  several small models trained in one pass with beta, warm-up, free bits or IWAE
- :mod:`~vaecourse.flows`        affine coupling layers on a 2-D latent, log-determinant in closed form
- :mod:`~vaecourse.posterior_families`  diagonal, full-covariance (Cholesky) and flow posteriors Q(h|x)
- :mod:`~vaecourse.gaps`         approximation and amortisation gaps (per-image optimisation of Q)
- :mod:`~vaecourse.plotting`     static figures of any model (reconstructions, samples, latent manifold)
- :mod:`~vaecourse.widgets`      ``widgets/``: the latent-space widgets, ``latent_explorer``, ``interpolation``,
  ``posterior_explorer``, ``posterior_pad`` (draw a digit: encoder, true posterior and bounds in the
  browser), ``ising_lattice`` (an Ising lattice simulated and encoded in the page); ``browser`` the
  models as the browser runs them, ``common`` the shared checks
- :mod:`~vaecourse.frontend`     where the widgets' JavaScript lives: ES modules in ``js/src/``, bundled by
  esbuild into ``js/bundles/`` (``make bundles``)

Importing ``vaecourse`` is cheap: torch, matplotlib, ipywidgets and keras are imported only by the
submodules that need them, and submodules are loaded on first attribute access. The website's loader
scripts are site code, not package code: they live in ``book/_static/site/``.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

_SUBMODULES = {
    "prose",
    "settings",
    "config",
    "resources",
    "device",
    "validation",
    "kl",
    "kl_symbolic",
    "elbo",
    "linear_gaussian",
    "reparameterisation",
    "checks",
    "exercises",
    "kl_fits",
    "marginal",
    "frontend",
    "models",
    "keras_vae",
    "train",
    "checkpoints",
    "cache",
    "recipes",
    "evaluate",
    "cli",
    "idx",
    "data",
    "ising",
    "spectra",
    "diffusion",
    "rate_distortion",
    "autoregressive",
    "objectives",
    "flows",
    "posterior_families",
    "gaps",
    "plotting",
    "widgets",
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
