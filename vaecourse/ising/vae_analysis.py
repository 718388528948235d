"""What a VAE learns about the 2-D Ising model: the steps of the experiment of ``book/ising.md``.

Wetzel 2017 (Phys. Rev. E 96, 022140) trained a VAE with a one-dimensional latent space on spin
configurations of the square-lattice Ising model at many temperatures. Nobody told it about
magnetisation or phases, yet its latent variable turned out to be almost linear in the magnetisation
per spin $m = \\frac{1}{L^2}\\sum_i s_i$, and both $\\langle|h|\\rangle(T)$ and the reconstruction
loss change sharply at Onsager's critical temperature $T_c = 2/\\ln(1+\\sqrt2) \\approx 2.269$.
The chapter calls these steps one by one, so each can be changed on its own:

- the data: :func:`vaecourse.ising.ising_dataset` (the one way to get it);
- :func:`split_configurations`, the training and held-out configurations;
- :func:`spins_to_pixels`, spins $s\\in\\{-1,+1\\}$ to the Bernoulli decoder's $x=(s+1)/2$;
- :func:`train_vae`, the course's MLP VAE trained through the cache of trained models;
- :func:`latent_means`, :func:`latent_axis`, :func:`reconstruction_loss`, :func:`decode_along_axis`,
  what the trained VAE says about each configuration; :func:`pca_scores`, the linear baseline;
- :func:`centre_latent`, the latent axis shifted so that the disordered phase sits at zero (so that
  $|h|$, like $|m|$, is even under the spin flip), and :func:`odd_asymmetry`, the check that it is;
- :func:`pearson`, the latent-vs-magnetisation correlation; $T_c$ from a curve with its bootstrap
  error is in :mod:`vaecourse.ising.critical_temperature`;
- :func:`phase_clusters`, the three clusters (two ordered, one disordered) in a 2-D latent space.

Shapes: ``N`` configurations of ``L x L`` spins, ``D = L * L`` pixels, ``latent_dim`` latent
dimensions. Everything returned for plotting is a NumPy array.
"""

from __future__ import annotations

import numpy as np
import torch

from vaecourse import device
from vaecourse.models import encoder_means

__all__ = [
    "spins_to_pixels",
    "split_configurations",
    "train_vae",
    "latent_means",
    "latent_direction",
    "latent_axis",
    "centre_latent",
    "odd_asymmetry",
    "pca_scores",
    "reconstruction_loss",
    "decode_along_axis",
    "pearson",
    "phase_clusters",
]


# ---------------------------------------------------------------------------------------------
# The data and the split
# ---------------------------------------------------------------------------------------------


def spins_to_pixels(spins) -> torch.Tensor:
    """Flatten spin configurations into Bernoulli 'pixels': $x = (s + 1)/2 \\in \\{0, 1\\}$.

    The VAE's decoder is a product of Bernoulli distributions (sigmoid output, cross-entropy loss,
    label ``eq:ising-bernoulli``), as in Wetzel 2017; ``book/ising.md``.

    Shapes: ``spins`` array or tensor ``(N, L, L)`` (or ``(N, D)``) of values in ``{-1, +1}``.
    Result: float32 tensor ``(N, L*L)`` of zeros and ones.

    Raises ``ValueError`` when ``spins`` holds anything but -1 and +1.
    """
    s = torch.as_tensor(spins)
    if s.ndim < 2:
        raise ValueError(f"spins must have shape (N, L, L) or (N, D); got shape {tuple(s.shape)}")
    if s.numel() and not bool(((s == 1) | (s == -1)).all()):
        raise ValueError("spins must contain only -1 and +1 (use x = (s + 1) / 2 for 0/1 data)")
    s = s.reshape(s.shape[0], -1)  # (N, D)
    return ((s.to(torch.float32) + 1.0) / 2.0).contiguous()


def split_configurations(temperature, test_fraction: float = 0.25, seed: int = 0, held_out_temperatures=None):
    """Indices of the training and the held-out configurations.

    By default a random permutation (``np.random.default_rng(seed)``) puts ``test_fraction`` of the
    configurations in the held-out set, at every temperature alike. With ``held_out_temperatures``
    the held-out set is every configuration at those temperatures instead (a test of how the model
    does at temperatures it never saw). ``book/ising.md``.

    Shapes: ``temperature`` ``(N,)``. Result: ``(train, test)``, sorted int64 index arrays.

    Raises ``ValueError`` when ``test_fraction`` is not strictly between 0 and 1, or when a held-out
    temperature is not in ``temperature`` or holds every configuration.
    """
    t = np.asarray(temperature, dtype=np.float64).ravel()
    if held_out_temperatures is not None:
        held_out = np.asarray(held_out_temperatures, dtype=np.float64).ravel()
        missing = held_out[~np.isin(held_out, t)]
        if missing.size:
            raise ValueError(f"held_out_temperatures not in the data: {missing.tolist()}")
        is_test = np.isin(t, held_out)
        if is_test.all():
            raise ValueError("held_out_temperatures hold every configuration; keep some for training")
        return np.flatnonzero(~is_test), np.flatnonzero(is_test)
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must lie strictly between 0 and 1; got {test_fraction}")
    perm = np.random.default_rng(seed).permutation(t.size)
    n_test = max(int(round(test_fraction * t.size)), 1)
    return np.sort(perm[n_test:]), np.sort(perm[:n_test])


# ---------------------------------------------------------------------------------------------
# Training
# ---------------------------------------------------------------------------------------------


def train_vae(
    x_train,
    x_test=None,
    latent_dim: int = 1,
    *,
    hidden: int = 256,
    train_config=None,
    seed: int = 0,
    name: str = "ising-vae",
    progress: bool | None = None,
):
    """The course's MLP VAE trained on Ising pixels, or loaded from the cache of trained models.

    Maximises the ELBO (label ``eq:training-objective``) of a :class:`vaecourse.models.VAE` with
    a Bernoulli decoder, ``hidden`` units and ``latent_dim`` latent dimensions, through
    :func:`vaecourse.recipes.load_or_train`, which keys the cache by both configurations and the
    data (file ``{name}-{latent_dim}d-...``). ``train_config`` defaults to 20 epochs of batches of 128
    (10 epochs of 32 in smoke mode), no binarisation (the pixels are already 0 or 1) and ``seed``.
    Wetzel 2017 used one hidden layer of 256 units and ``latent_dim = 1``; ``book/ising.md``.

    Shapes: ``x_train`` ``(N_train, D)`` or ``(N_train, 1, L, L)`` pixels of
    :func:`spins_to_pixels`, ``x_test`` likewise (its ELBO is recorded each epoch) or None.
    Result: a :class:`vaecourse.recipes.TrainedModel` (``.model``, ``.history``,
    ``.from_cache``).

    Raises ``ValueError`` when the pixels are not square lattices.
    """
    from vaecourse import settings
    from vaecourse.models import ModelConfig
    from vaecourse.recipes import load_or_train
    from vaecourse.train import TrainConfig

    size = int(round(np.sqrt(np.prod(x_train.shape[1:]))))
    if size * size != np.prod(x_train.shape[1:]):
        raise ValueError(f"x_train must hold L*L pixels per configuration; got shape {tuple(x_train.shape)}")
    if train_config is None:
        train_config = TrainConfig(
            epochs=settings.pick(full=20, smoke=10),
            batch_size=settings.pick(full=128, smoke=32),
            binarize="grey",
            seed=seed,
        )
    model_config = ModelConfig("mlp", latent_dim=latent_dim, hidden=hidden, data_shape=(1, size, size))
    images = [
        None if x is None else torch.as_tensor(x).reshape(-1, 1, size, size)  # (N, 1, L, L)
        for x in (x_train, x_test)
    ]
    return load_or_train(model_config, train_config, *images, name=f"{name}-{latent_dim}d", progress=progress)


# ---------------------------------------------------------------------------------------------
# What the trained VAE says about each configuration
# ---------------------------------------------------------------------------------------------


def latent_means(model, x, batch_size: int = 4096) -> np.ndarray:
    """Encoder means $\\boldsymbol\\mu(\\mathbf{x})$ of $Q(\\mathbf{h}\\mid\\mathbf{x})$, one per configuration.

    Wetzel 2017 reads the latent variable of a configuration as the mean of its approximate
    posterior; ``book/ising.md``.

    Shapes: ``x`` ``(N, D)`` pixels from :func:`spins_to_pixels`. Result: ``(N, latent_dim)``
    float64, a NumPy copy of :func:`vaecourse.models.encoder_means`.

    Raises ``ValueError`` for a ``batch_size < 1``.
    """
    return encoder_means(model, x, batch_size).double().cpu().numpy()  # (N, latent_dim)


def _latent_array(latent) -> np.ndarray:
    mu = np.asarray(latent, dtype=np.float64)
    if mu.ndim != 2:
        raise ValueError(f"latent must have shape (N, latent_dim); got {mu.shape}")
    return mu


def latent_direction(latent):
    """Centre $\\bar\\mu$ and direction $w_1$ of largest variance of the latent means (sign fixed).

    $w_1$ is the first principal axis of the centred means (the first right singular vector of
    $\\mu - \\bar\\mu$), with the sign that makes the largest $|w_1^\\top(\\mu_i - \\bar\\mu)|$
    positive, so that the axis does not flip between runs. ``book/ising.md``.

    Shapes: ``latent`` ``(N, latent_dim)``. Result: ``(centre (latent_dim,), w (latent_dim,))``.

    Raises ``ValueError`` unless ``latent`` is two-dimensional.
    """
    mu = _latent_array(latent)
    centre = mu.mean(axis=0)
    _, _, vt = np.linalg.svd(mu - centre, full_matrices=False)  # rows of vt: principal axes
    a = (mu - centre) @ vt[0]  # (N,)
    return centre, (vt[0] if a[np.abs(a).argmax()] >= 0 else -vt[0])


def latent_axis(latent) -> np.ndarray:
    """The latent means projected on their direction of largest variance (sign fixed).

    For a 1-D latent this is the latent itself; otherwise $a_i = w_1^\\top(\\mu_i - \\bar\\mu)$ with
    $\\bar\\mu$, $w_1$ of :func:`latent_direction`. Either way the sign makes the largest $|a_i|$
    positive. ``book/ising.md``.

    Shapes: ``latent`` ``(N, latent_dim)``. Result: ``(N,)``.

    Raises ``ValueError`` unless ``latent`` is two-dimensional.
    """
    mu = _latent_array(latent)
    if mu.shape[1] > 1:
        centre, w = latent_direction(mu)
        return (mu - centre) @ w  # (N,)
    a = mu[:, 0]
    return a if a[np.abs(a).argmax()] >= 0 else -a


def centre_latent(values, temperature, n_hottest: int = 3) -> np.ndarray:
    """The latent values shifted so that the disordered phase sits at zero: $h - \\operatorname{median}_{\\rm hot}(h)$.

    Nothing in the ELBO fixes where $m = 0$ lands on the latent axis (a trained 1-D latent is often
    offset), so $|h|$ of the raw axis is not an even function of $m$ and $\\langle|h|\\rangle(T)$ would
    depend on that offset. The configurations at the ``n_hottest`` highest temperatures are disordered,
    their magnetisations symmetric about zero, so the median of their latent values is the latent
    value of $m = 0$; subtracting it centres the axis without using $m$. ``book/ising.md``.

    Shapes: ``values`` ``(N,)``, ``temperature`` ``(N,)``. Result: float64 ``(N,)``.

    Raises ``ValueError`` on mismatched lengths or ``n_hottest`` not between 1 and the number of
    temperatures.
    """
    a = np.asarray(values, dtype=np.float64).ravel()
    t = np.asarray(temperature, dtype=np.float64).ravel()
    if a.shape != t.shape:
        raise ValueError(f"values and temperature need one entry per configuration; got {a.size} and {t.size}")
    grid = np.unique(t)
    if not 1 <= int(n_hottest) <= grid.size:
        raise ValueError(f"n_hottest must be between 1 and the {grid.size} temperatures; got {n_hottest}")
    hot = t >= grid[-int(n_hottest)]
    return a - np.median(a[hot])


def odd_asymmetry(values, magnetisation, m_max: float = 0.8, n_bins: int = 8) -> float:
    """How far the latent values are from an odd function of $m$ for $|m| \\le$ ``m_max``: 0 when $h(-m) = -h(m)$.

    The configurations with $0 < |m| \\le m_{\\max}$ are put in ``n_bins`` bins of equal width in
    $|m|$. On each side, $m > 0$ and $m < 0$, the median latent value of each bin against the bin's
    median $|m|$ is a curve $g_\\pm(|m|)$; both are interpolated at the bins' median $|m|$ of all
    configurations, where an odd latent has $g_+ = -g_-$. The result is the largest $|g_+ + g_-|/2$
    (the offset from an odd function) divided by the largest $(g_+ - g_-)/2$ (the latent's half
    range up to $m_{\\max}$): a latent offset by a tenth of that half range gives 0.1.
    ``book/ising.md``.

    Shapes: ``values``, ``magnetisation`` ``(N,)``. Result: a float >= 0.

    Raises ``ValueError`` on mismatched lengths, or when some bin lacks configurations of either sign.
    """
    a = np.asarray(values, dtype=np.float64).ravel()
    m = np.asarray(magnetisation, dtype=np.float64).ravel()
    if a.shape != m.shape:
        raise ValueError(f"values and magnetisation need one entry per configuration; got {a.size} and {m.size}")
    size = np.abs(m)
    edges = np.linspace(0.0, float(m_max), int(n_bins) + 1)
    bins = [(size > low) & (size <= high) for low, high in zip(edges[:-1], edges[1:])]
    curves = []
    for side in (m > 0, m < 0):
        if not all((b & side).any() for b in bins):
            raise ValueError("some |m| bin has no configurations of both signs; use fewer bins or a smaller m_max")
    where = np.array([np.median(size[b]) for b in bins])  # (n_bins,) the common |m| of each bin
    for side in (m > 0, m < 0):
        x = np.array([np.median(size[b & side]) for b in bins])
        y = np.array([np.median(a[b & side]) for b in bins])
        curves.append(np.interp(where, x, y))  # g(|m|) of this sign at the common |m|
    up, down = curves
    return float(np.max(np.abs(up + down)) / 2 / np.max(np.abs(up - down) / 2))


def pca_scores(x, n_components: int = 1, seed: int = 0, fit_on=None) -> np.ndarray:
    """Projections of the configurations on their leading principal components (the baseline).

    PCA finds the orthonormal directions $w_1, w_2, \\ldots$ of largest variance of the centred data
    ``fit_on`` (default ``x`` itself); the score of configuration $s$ is $w_j^\\top (s - \\bar s)$.
    For the Ising model $w_1$ is close to the uniform vector, so the first score is proportional to
    the magnetisation (Wang 2016, discussed by Wetzel 2017); ``book/ising.md``. Fitting on the
    training configurations and scoring the held-out ones is the chapter's baseline.

    Shapes: ``x``, ``fit_on`` ``(N, L, L)`` or ``(N, D)`` spins or pixels (floating inputs keep
    their precision, others become float64). Result: ``(N, n_components)``.

    Raises ``ValueError`` when ``n_components`` is not between 1 and ``min(N, D)`` of ``fit_on``.
    """
    from sklearn.decomposition import PCA

    def flat(data):
        data = np.asarray(data)
        data = data if data.dtype.kind == "f" else data.astype(np.float64)
        return data.reshape(data.shape[0], -1)  # (N, D)

    x = flat(x)
    reference = x if fit_on is None else flat(fit_on)
    if not 1 <= n_components <= min(reference.shape):
        raise ValueError(f"n_components must be between 1 and min(N, D) = {min(reference.shape)}; got {n_components}")
    return PCA(n_components=n_components, random_state=seed).fit(reference).transform(x)  # (N, n_components)


def reconstruction_loss(model, x, batch_size: int = 4096) -> np.ndarray:
    """Reconstruction loss $-\\log p(\\mathbf{x}\\mid\\mathbf{h}=\\boldsymbol\\mu(\\mathbf{x}))$ of each configuration.

    The binary cross-entropy summed over the $L^2$ spins (nats per configuration), decoding the
    encoder mean. Ordered configurations are easy to reconstruct, disordered ones are not: the loss
    rises steeply at $T_c$ (Wetzel 2017); label ``eq:ising-bernoulli``; ``book/ising.md``.

    Shapes: ``x`` ``(N, D)`` pixels. Result: ``(N,)`` float64.
    """
    where = device.of(model)
    x = torch.as_tensor(x)
    out = []
    with torch.no_grad():
        for chunk in torch.split(x, batch_size):
            chunk = chunk.to(where)
            mu = model.encode(chunk).mean  # (b, latent_dim)
            out.append(-model.log_likelihood(chunk, mu).double().cpu())  # (b,)
    return torch.cat(out).numpy()


def decode_along_axis(model, values, latent=None) -> np.ndarray:
    """Mean spin configurations decoded at points along the latent axis.

    Decodes $\\mathbf{h} = \\bar\\mu + a\\,w_1$ for each $a$ in ``values`` ($w_1$, $\\bar\\mu$ of
    :func:`latent_direction`; for a 1-D latent $h = \\pm a$, with the sign :func:`latent_axis` gave
    ``latent``, or $h = a$ without ``latent``) and returns the mean spin
    $\\langle s\\rangle = 2\\,\\mathbb{E}[x] - 1$ of each site. So ``values`` are points of
    :func:`latent_axis` (``latent``). ``book/ising.md``.

    Shapes: ``values`` ``(n,)``; ``latent`` the ``(N, latent_dim)`` means that define the axis
    (needed when ``latent_dim > 1``). Result: ``(n, *data_shape)`` in ``[-1, 1]``.

    Raises ``ValueError`` when ``latent`` is missing for a model with ``latent_dim > 1``.
    """
    a = torch.as_tensor(np.asarray(values, dtype=np.float32)).reshape(-1, 1)  # (n, 1)
    if model.latent_dim == 1:
        flipped = latent is not None and float(latent_axis(latent) @ _latent_array(latent)[:, 0]) < 0
        h = -a if flipped else a
    else:
        if latent is None:
            raise ValueError("latent (the encoder means) is needed to find the axis when latent_dim > 1")
        centre, w = latent_direction(latent)
        h = torch.as_tensor(centre, dtype=torch.float32) + a * torch.as_tensor(w, dtype=torch.float32)
    with torch.no_grad():
        mean = model.decoder_mean(h.to(device.of(model)))  # (n, *data_shape)
    return (2.0 * mean - 1.0).double().cpu().numpy()


# ---------------------------------------------------------------------------------------------
# The latent variable against the magnetisation; phases in a 2-D latent space
# ---------------------------------------------------------------------------------------------


def pearson(a, b) -> float:
    """Pearson correlation coefficient $r = \\mathrm{cov}(a, b) / (\\sigma_a \\sigma_b)$.

    Used for corr(latent, magnetisation) in ``book/ising.md``; Pearson 1895.

    Shapes: ``a``, ``b`` arrays ``(N,)`` with ``N >= 2``. Result: a float in ``[-1, 1]``.

    Raises ``ValueError`` on different lengths, fewer than two values, non-finite values, or a
    constant input (the correlation is then undefined, not NaN).
    """
    a = np.asarray(a, dtype=np.float64).ravel()
    b = np.asarray(b, dtype=np.float64).ravel()
    if a.shape != b.shape:
        raise ValueError(f"a and b must have the same length; got {a.size} and {b.size}")
    if a.size < 2:
        raise ValueError("need at least two values to compute a correlation")
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise ValueError("a and b must be finite (found NaN or inf)")
    da, db = a - a.mean(), b - b.mean()
    na, nb = np.sqrt(da @ da), np.sqrt(db @ db)
    if na == 0 or nb == 0:
        raise ValueError("correlation is undefined for a constant input (zero variance)")
    return float(np.clip((da @ db) / (na * nb), -1.0, 1.0))


def phase_clusters(latent, n_clusters: int = 3, seed: int = 0) -> np.ndarray:
    """Cluster labels of the latent means from a Gaussian mixture with three components by default.

    With a 2-D latent the configurations fall into two ordered clusters ($m \\approx \\pm1$) and one
    disordered cluster ($m\\approx 0$) (Wetzel 2017). A mixture of ``n_clusters`` Gaussians with full
    covariances, $p(\\mu) = \\sum_c \\pi_c\\,\\mathcal{N}(\\mu; m_c, S_c)$, fitted by expectation
    maximisation (scikit-learn), finds them without labels; each configuration gets its most probable
    component. Unlike k-means, whose clusters are round, it can follow the elongated disordered
    cluster. Labels are ordered by the clusters' mean position on :func:`latent_axis`, so label 0 is
    one ordered phase, the middle label the disordered phase, the last the other ordered phase.
    ``book/ising.md``; Wetzel 2017.

    Shapes: ``latent`` ``(N, latent_dim)``. Result: ``(N,)`` integer labels.

    Raises ``ValueError`` unless ``latent`` is ``(N, latent_dim)`` with ``N >= n_clusters``.
    """
    from sklearn.mixture import GaussianMixture

    mu = np.asarray(latent, dtype=np.float64)
    if mu.ndim != 2 or mu.shape[0] < n_clusters:
        raise ValueError(f"latent must have shape (N, latent_dim) with N >= n_clusters={n_clusters}; got {mu.shape}")
    mixture = GaussianMixture(n_clusters, covariance_type="full", n_init=3, random_state=seed)
    raw = mixture.fit_predict(mu)  # (N,)
    axis = latent_axis(mu)
    centre = np.bincount(raw, weights=axis, minlength=n_clusters) / np.maximum(
        np.bincount(raw, minlength=n_clusters), 1
    )
    rank = np.empty(n_clusters, dtype=np.int64)
    rank[np.argsort(centre)] = np.arange(n_clusters)
    return rank[raw]
