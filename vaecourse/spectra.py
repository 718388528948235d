"""Synthetic spectra with known parameters, a Gaussian-decoder VAE on them, and PCA at the same dimension.

Continuous data (``book/spectra.md``): each spectrum is a power-law continuum plus four emission
lines at fixed rest wavelengths, shifted by a redshift, plus Gaussian noise (label ``eq:spectrum``),

.. math:: f(\\lambda) = A\\,(\\lambda/\\lambda_0)^{\\alpha}
          + S \\sum_j r_j \\exp\\Big(-\\frac{(\\lambda - (1+z)\\lambda_j)^2}{2w^2}\\Big) + \\sigma_{\\rm n}\\,\\epsilon,

with five parameters $(A, \\alpha, z, S, w)$ drawn uniformly from the ranges of
:class:`SpectraConfig`. The VAE is the course's MLP VAE with ``likelihood="gaussian"``: a Gaussian
decoder $\\mathcal{N}(\\boldsymbol\\mu(\\mathbf{h}), \\sigma^2 I)$ with one learned $\\sigma$ (label
``eq:gaussian-likelihood``; the MSE loss is this with $\\sigma$ fixed). :func:`pca_reconstruct`
is the linear baseline, :func:`recovery_r2` measures how well latents predict the true parameters
(Portillo et al. 2020 compare a 6-latent VAE with 6 principal components on SDSS spectra).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
import torch

from vaecourse.cache import CacheEntryError, cache_file, key, load_or_build, read_tensors

__all__ = [
    "PARAMETERS",
    "SpectraConfig",
    "Spectra",
    "spectrum",
    "spectra_dataset",
    "default_config",
    "standardise",
    "train_gaussian_vae",
    "vae_reconstruct",
    "pca_reconstruct",
    "recovery_r2",
]

#: Names of the five parameters, the columns of :attr:`Spectra.params`.
PARAMETERS = ("amplitude", "slope", "redshift", "line_strength", "line_width")
_CACHE_VERSION = 1
_FIELDS = ("wavelength", "flux", "clean", "params")  # of Spectra, as its cache entry stores them


@dataclass
class SpectraConfig:
    """How the data set is drawn (every field keys the cache)."""

    # Number of spectra.
    n: int = 4000
    # Pixels on the wavelength grid, evenly spaced in [wave_min, wave_max] (Angstrom).
    n_pixels: int = 200
    wave_min: float = 4000.0
    wave_max: float = 10000.0
    # Rest wavelengths (Angstrom) of H-beta, [O III], H-alpha, [S II], and their relative strengths.
    lines: tuple = (4861.0, 5007.0, 6563.0, 6717.0)
    ratios: tuple = (0.35, 1.0, 1.0, 0.3)
    # Uniform ranges of the five parameters (PARAMETERS order).
    ranges: dict = field(
        default_factory=lambda: {
            "amplitude": (0.5, 1.5),
            "slope": (-1.5, 0.5),
            "redshift": (0.0, 0.5),
            "line_strength": (0.3, 2.0),
            "line_width": (15.0, 40.0),
        }
    )
    # Standard deviation of the white noise, and the seed.
    noise: float = 0.05
    seed: int = 0

    def __post_init__(self) -> None:
        if int(self.n) < 1 or int(self.n_pixels) < 2:
            raise ValueError(f"n >= 1 and n_pixels >= 2 are needed, got n={self.n}, n_pixels={self.n_pixels}")
        if not 0 < self.wave_min < self.wave_max:
            raise ValueError(f"need 0 < wave_min < wave_max, got {self.wave_min}, {self.wave_max}")
        if len(self.lines) != len(self.ratios):
            raise ValueError("lines and ratios must have the same length")
        if set(self.ranges) != set(PARAMETERS) or any(lo > hi for lo, hi in self.ranges.values()):
            raise ValueError(f"ranges must give (low, high) with low <= high for each of {PARAMETERS}")
        if not self.noise >= 0:
            raise ValueError(f"noise must be >= 0, got {self.noise}")
        self.lines, self.ratios = tuple(float(v) for v in self.lines), tuple(float(v) for v in self.ratios)

    def to_dict(self) -> dict:
        out = asdict(self)
        out["ranges"] = {k: list(v) for k, v in sorted(self.ranges.items())}
        out["lines"], out["ratios"] = list(self.lines), list(self.ratios)
        return out


@dataclass
class Spectra:
    """A data set: the wavelength grid, the noisy fluxes, the noise-free fluxes and the true parameters.

    Shapes: ``wavelength`` float32 ``(D,)``; ``flux``, ``clean`` float32 ``(N, D)``; ``params``
    float32 ``(N, 5)`` in :data:`PARAMETERS` order.
    """

    wavelength: torch.Tensor
    flux: torch.Tensor
    clean: torch.Tensor
    params: torch.Tensor

    def __len__(self) -> int:
        return self.flux.shape[0]


def spectrum(wavelength, params, config: SpectraConfig) -> np.ndarray:
    """The noise-free spectrum of label ``eq:spectrum`` for each row of parameters.

    $\\lambda_0 = 6000$ Angstrom. ``book/spectra.md``. Shapes: ``wavelength`` ``(D,)``, ``params``
    ``(N, 5)`` in :data:`PARAMETERS` order -> float64 ``(N, D)``.

    Raises ``ValueError`` unless ``params`` has 5 columns.
    """
    lam = np.asarray(wavelength, dtype=np.float64)[None, :]  # (1, D)
    p = np.atleast_2d(np.asarray(params, dtype=np.float64))
    if p.shape[1] != len(PARAMETERS):
        raise ValueError(f"params must have {len(PARAMETERS)} columns {PARAMETERS}, got shape {p.shape}")
    amplitude, slope, z, strength, width = (p[:, i : i + 1] for i in range(5))  # (N, 1) each
    flux = amplitude * (lam / 6000.0) ** slope  # (N, D) continuum
    for rest, ratio in zip(config.lines, config.ratios):
        flux = flux + strength * ratio * np.exp(-0.5 * ((lam - (1 + z) * rest) / width) ** 2)
    return flux


def spectra_dataset(config: SpectraConfig | None = None, cache: bool = True) -> Spectra:
    """Draw (or load from the cache) ``config.n`` spectra of label ``eq:spectrum`` with their parameters.

    Parameters uniform in ``config.ranges``, noise $\\mathcal{N}(0, \\sigma_{\\rm n}^2)$ per pixel, all from
    ``np.random.default_rng(config.seed)``. Cached (:mod:`vaecourse.cache`, folder "spectra") under a
    hash of the configuration; a damaged entry is regenerated with a ``CacheRebuiltWarning``.
    ``book/spectra.md``. ``config`` defaults to :func:`default_config`.

    Result: a :class:`Spectra`.
    """
    config = config or default_config()

    def build() -> Spectra:
        rng = np.random.default_rng(config.seed)
        lows, highs = zip(*(config.ranges[name] for name in PARAMETERS))
        params = rng.uniform(lows, highs, size=(int(config.n), len(PARAMETERS)))  # (N, 5)
        wavelength = np.linspace(config.wave_min, config.wave_max, int(config.n_pixels))
        clean = spectrum(wavelength, params, config)
        flux = clean + config.noise * rng.standard_normal(clean.shape)
        return Spectra(*(torch.as_tensor(a, dtype=torch.float32) for a in (wavelength, flux, clean, params)))

    def load(entry) -> Spectra:
        stored = read_tensors(entry, _FIELDS)
        if tuple(stored["flux"].shape) != (int(config.n), int(config.n_pixels)):
            raise CacheEntryError(f"{entry.name} holds another data set (shape {tuple(stored['flux'].shape)})")
        return Spectra(**{name: stored[name] for name in _FIELDS})

    if not cache:
        return build()
    path = cache_file("spectra", "spectra", key({"v": _CACHE_VERSION, **config.to_dict()}, versioned=False))
    return load_or_build(
        path, build, lambda out, tmp: torch.save(vars(out), tmp), load, cheap=True, what="spectra data set"
    )


def default_config() -> SpectraConfig:
    """The data set of ``book/spectra.md``: 4,000 spectra of 200 pixels (smoke mode: 600 of 64)."""
    from vaecourse import settings

    return SpectraConfig(n=settings.pick(full=4000, smoke=600), n_pixels=settings.pick(full=200, smoke=64))


def standardise(x_train, x):
    """Each pixel centred and scaled by the training set: $(x_d - \bar x_d)/s_d$, and the inverse map.

    Neural networks train best on inputs of order one; the lines are small next to the continuum.
    ``book/spectra.md``. Shapes: ``(N_train, D)``, ``(N, D)`` -> ``(z (N, D), undo)`` where
    ``undo(z)`` maps standardised spectra back to fluxes (NumPy or torch).
    """
    x_train = torch.as_tensor(x_train, dtype=torch.float32)
    mean, scale = x_train.mean(0), x_train.std(0)  # (D,)

    def undo(z):
        return z * scale.numpy() + mean.numpy() if isinstance(z, np.ndarray) else z * scale + mean

    return (torch.as_tensor(x, dtype=torch.float32) - mean) / scale, undo


def train_gaussian_vae(
    x_train,
    x_test=None,
    latent_dim: int = 6,
    hidden: int = 128,
    train_config=None,
    seed: int = 0,
    progress: bool | None = None,
):
    """The course's MLP VAE with a Gaussian decoder (one learned $\\sigma$), trained or loaded from the cache.

    :func:`vaecourse.recipes.load_or_train` with ``ModelConfig(likelihood="gaussian")``;
    ``train_config`` defaults to 40 epochs of 64 spectra (4 in smoke mode), ``binarize="grey"``
    (fluxes are used as they are). Label ``eq:gaussian-likelihood``; ``book/spectra.md``.

    Shapes: ``x_train``, ``x_test`` ``(N, D)`` fluxes. Result: a
    :class:`vaecourse.recipes.TrainedModel`.
    """
    from vaecourse import settings
    from vaecourse.models import ModelConfig
    from vaecourse.recipes import load_or_train
    from vaecourse.train import TrainConfig

    x_train = torch.as_tensor(x_train, dtype=torch.float32)
    if train_config is None:
        train_config = TrainConfig(epochs=settings.pick(full=40, smoke=4), batch_size=64, binarize="grey", seed=seed)
    model_config = ModelConfig(
        "mlp", latent_dim=latent_dim, hidden=hidden, data_shape=(x_train.shape[1],), likelihood="gaussian"
    )
    test = None if x_test is None else torch.as_tensor(x_test, dtype=torch.float32)
    return load_or_train(
        model_config, train_config, x_train, test, name=f"spectra-vae-{latent_dim}d", progress=progress
    )


def vae_reconstruct(model, x) -> tuple[np.ndarray, np.ndarray]:
    """Encoder means $\\boldsymbol\\mu(\\mathbf{x})$ and the decoder mean at them, the VAE's reconstruction.

    ``book/spectra.md``. Shapes: ``x`` ``(N, D)`` -> ``(latent (N, k), reconstruction (N, D))`` float64.
    """
    from vaecourse.models import encoder_means

    x = torch.as_tensor(x, dtype=torch.float32)
    mu = encoder_means(model, x)  # (N, k)
    with torch.no_grad():
        recon = model.decoder_mean(mu).reshape(x.shape[0], -1)  # (N, D)
    return mu.double().cpu().numpy(), recon.double().cpu().numpy()


def pca_reconstruct(x_train, x, n_components: int) -> tuple[np.ndarray, np.ndarray]:
    """Scores on, and reconstruction from, the leading ``n_components`` principal components of ``x_train``.

    $\\hat{\\mathbf{x}} = \\bar{\\mathbf{x}} + W W^\\top(\\mathbf{x} - \\bar{\\mathbf{x}})$ with the
    orthonormal columns $W$ of largest variance: the best linear reconstruction in squared error
    (Pearson 1901). ``book/spectra.md``.

    Shapes: ``x_train`` ``(N_train, D)``, ``x`` ``(N, D)`` -> ``(scores (N, k), reconstruction (N, D))``.

    Raises ``ValueError`` when ``n_components`` is not between 1 and ``min(N_train, D)``.
    """
    from sklearn.decomposition import PCA

    reference = np.asarray(x_train, dtype=np.float64)
    x = np.asarray(x, dtype=np.float64)
    if not 1 <= n_components <= min(reference.shape):
        raise ValueError(f"n_components must be between 1 and {min(reference.shape)}, got {n_components}")
    pca = PCA(n_components=n_components).fit(reference)
    scores = pca.transform(x)
    return scores, pca.inverse_transform(scores)


def recovery_r2(latent_train, params_train, latent_test, params_test, method: str = "knn") -> np.ndarray:
    """How well the latents predict each true parameter, on test data.

    $R^2 = 1 - \\sum (p - \\hat p)^2 / \\sum (p - \\bar p)^2$.

    The regressor from latents to parameters is fitted on the training set: ``"linear"`` (least
    squares) or ``"knn"`` (the mean of the 10 nearest neighbours on standardised latents, which can
    follow a non-linear map). ``book/spectra.md``.

    Shapes: latents ``(N, k)``, params ``(N, P)`` -> ``(P,)``.

    Raises ``ValueError`` for another ``method``.
    """
    from sklearn.linear_model import LinearRegression
    from sklearn.neighbors import KNeighborsRegressor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if method not in ("linear", "knn"):
        raise ValueError(f"method must be 'linear' or 'knn', got {method!r}")
    regressor = LinearRegression() if method == "linear" else KNeighborsRegressor(10)
    fitted = make_pipeline(StandardScaler(), regressor).fit(np.asarray(latent_train), np.asarray(params_train))
    predicted = fitted.predict(np.asarray(latent_test))
    truth = np.asarray(params_test, dtype=np.float64)
    return 1 - ((truth - predicted) ** 2).sum(0) / ((truth - truth.mean(0)) ** 2).sum(0)
