"""What a VAE learns about the 2-D Ising model: the analysis of chapter 10 (``book/ising.md``).

Wetzel 2017 (Phys. Rev. E 96, 022140) trained a VAE with a one-dimensional latent space on spin
configurations of the square-lattice Ising model at many temperatures. Nobody told it about
magnetisation or phases, yet its latent variable turned out to be almost linear in the magnetisation
per spin $m = \\frac{1}{L^2}\\sum_i s_i$, and both $\\langle|h|\\rangle(T)$ and the reconstruction
loss change sharply at Onsager's critical temperature $T_c = 2/\\ln(1+\\sqrt2) \\approx 2.269$
(Onsager 1944). This module turns those observations into numbers:

- :func:`spins_to_pixels` maps spins $s\\in\\{-1,+1\\}$ to the Bernoulli decoder's $x=(s+1)/2$;
- :func:`pca_scores`, the linear baseline (principal component analysis, scikit-learn);
- :func:`latent_means`, :func:`latent_axis`, :func:`reconstruction_loss`, what the trained VAE says
  about each configuration;
- :func:`pearson`, :func:`temperature_average`, the statistics;
- :func:`tc_from_curve` and :func:`bootstrap_tc`, an estimate of $T_c$ from a curve such as
  $\\langle|h|\\rangle(T)$, with a bootstrap error bar over configurations or Markov chains;
- :func:`phase_clusters`, the three clusters (two ordered, one disordered) in a 2-D latent space;
- :func:`analyse_ising_vae`, the whole pipeline in one call, returning an :class:`IsingVAEResult`.

Shapes: ``N`` configurations of ``L x L`` spins, ``K`` distinct temperatures, ``latent_dim`` latent
dimensions. Everything returned for plotting is a NumPy array.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

__all__ = [
    "TcEstimate",
    "IsingVAEResult",
    "spins_to_pixels",
    "pearson",
    "pca_scores",
    "latent_means",
    "latent_axis",
    "reconstruction_loss",
    "decode_along_axis",
    "temperature_average",
    "tc_from_curve",
    "bootstrap_tc",
    "phase_clusters",
    "analyse_configurations",
    "analyse_ising_vae",
]

TC_METHODS = ("steepest", "tanh")


# ---------------------------------------------------------------------------------------------
# Data and statistics
# ---------------------------------------------------------------------------------------------


def spins_to_pixels(spins) -> torch.Tensor:
    """Flatten spin configurations into Bernoulli 'pixels': $x = (s + 1)/2 \\in \\{0, 1\\}$.

    The VAE's decoder is a product of Bernoulli distributions (sigmoid output, cross-entropy loss),
    as in Wetzel 2017; chapter 10.

    ``spins``: array or tensor ``(N, L, L)`` (or ``(N, D)``) of values in ``{-1, +1}``.
    Returns a float32 tensor ``(N, L*L)`` of zeros and ones.

    Raises ``ValueError`` when ``spins`` holds anything but -1 and +1.
    """
    s = torch.as_tensor(spins)
    if s.ndim < 2:
        raise ValueError(f"spins must have shape (N, L, L) or (N, D); got shape {tuple(s.shape)}")
    if s.numel() and not bool(((s == 1) | (s == -1)).all()):
        raise ValueError("spins must contain only -1 and +1 (use x = (s + 1) / 2 for 0/1 data)")
    s = s.reshape(s.shape[0], -1)  # (N, D)
    return ((s.to(torch.float32) + 1.0) / 2.0).contiguous()


def pearson(a, b) -> float:
    """Pearson correlation coefficient $r = \\mathrm{cov}(a, b) / (\\sigma_a \\sigma_b)$.

    Used for corr(latent, magnetisation) in chapter 10.

    ``a``, ``b``: arrays ``(N,)`` with ``N >= 2``. Returns a float in ``[-1, 1]``.

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


def pca_scores(spins, n_components: int = 1, seed: int = 0) -> np.ndarray:
    """Projections of the configurations on their leading principal components (the baseline).

    PCA finds the orthonormal directions $w_1, w_2, \\ldots$ of largest variance of the centred data;
    the score of configuration $s$ is $w_j^\\top (s - \\bar s)$. For the Ising model $w_1$ is close
    to the uniform vector, so the first score is proportional to the magnetisation (Wang 2016,
    discussed by Wetzel 2017); chapter 10.

    ``spins``: ``(N, L, L)`` or ``(N, D)``. Returns ``(N, n_components)`` float64.

    Raises ``ValueError`` when ``n_components`` is not between 1 and ``min(N, D)``.
    """
    from sklearn.decomposition import PCA

    x = np.asarray(spins, dtype=np.float64)
    x = x.reshape(x.shape[0], -1)  # (N, D)
    if not 1 <= n_components <= min(x.shape):
        raise ValueError(
            f"n_components must be between 1 and min(N, D) = {min(x.shape)}; got {n_components}"
        )
    return PCA(n_components=n_components, random_state=seed).fit_transform(x)  # (N, n_components)


def temperature_average(temperature, values):
    """Average of per-configuration ``values`` at each distinct temperature, with its standard error.

    $\\langle v\\rangle(T_k) = \\frac{1}{n_k}\\sum_{i: T_i = T_k} v_i$; standard error
    $\\sigma_k/\\sqrt{n_k}$ (zero when $n_k = 1$). Chapter 10.

    ``temperature``, ``values``: ``(N,)``. Returns ``(t_grid (K,), mean (K,), sem (K,))`` with
    ``t_grid`` sorted ascending.

    Raises ``ValueError`` on different lengths or an empty input.
    """
    t, v = _check_pairs(temperature, values)
    t_grid, inverse, counts = np.unique(t, return_inverse=True, return_counts=True)
    mean = np.bincount(inverse, weights=v) / counts  # (K,)
    sq = np.bincount(inverse, weights=(v - mean[inverse]) ** 2)
    var = np.divide(sq, counts - 1, out=np.zeros_like(sq), where=counts > 1)
    return t_grid, mean, np.sqrt(var / counts)


def _check_pairs(temperature, values):
    t = np.asarray(temperature, dtype=np.float64).ravel()
    v = np.asarray(values, dtype=np.float64).ravel()
    if t.shape != v.shape:
        raise ValueError(
            f"temperature and values must have the same length; got {t.size} and {v.size}"
        )
    if t.size == 0:
        raise ValueError("temperature and values are empty")
    if not (np.isfinite(t).all() and np.isfinite(v).all()):
        raise ValueError("temperature and values must be finite (found NaN or inf)")
    return t, v


# ---------------------------------------------------------------------------------------------
# The critical temperature from a curve
# ---------------------------------------------------------------------------------------------


def _smoothed_slopes(t, y, t_eval, bandwidth):
    """Gaussian-smoothed slopes of the piecewise-linear interpolants of the curves ``y``.

    Between grid points the interpolant has the constant slope
    $d_k = (y_{k+1} - y_k)/(t_{k+1} - t_k)$; smoothing with a normal kernel of width $b$ gives
    $\\sum_k d_k\\,[\\Phi((t_{k+1} - t)/b) - \\Phi((t_k - t)/b)]$, divided by the kernel mass
    inside the data. Unlike a regression on the points, this does not favour densely sampled
    temperatures, so a symmetric step stays centred on a non-uniform grid.

    ``t``: ``(K,)`` ascending; ``y``: ``(R, K)`` (R curves sharing one grid); ``t_eval``: ``(G,)``.
    Returns ``(R, G)``.
    """
    from scipy.special import ndtr  # the standard normal CDF

    d = np.diff(y, axis=1) / np.diff(t)[None, :]  # (R, K-1)
    cdf = ndtr((t[None, :] - t_eval[:, None]) / bandwidth)  # (G, K)
    mass = np.diff(cdf, axis=1)  # (G, K-1) kernel mass over each interval
    return (d @ mass.T) / mass.sum(axis=1)[None, :]  # (R, G)


def _steepest(t, y, bandwidth, n_grid=801):
    """Temperatures of steepest change of each curve in ``y (R, K)``: argmax of |smoothed slope|."""
    lo, hi = t[0] + bandwidth, t[-1] - bandwidth  # keep the kernel inside the data
    if hi <= lo:
        lo, hi = t[0], t[-1]
    t_eval = np.linspace(lo, hi, n_grid)  # (G,)
    slopes = np.abs(_smoothed_slopes(t, y, t_eval, bandwidth))  # (R, G)
    j = slopes.argmax(axis=1)  # (R,)
    # Parabola through the maximum and its neighbours refines the grid position.
    j = np.clip(j, 1, n_grid - 2)
    rows = np.arange(len(j))
    s0, s1, s2 = slopes[rows, j - 1], slopes[rows, j], slopes[rows, j + 1]
    curv = s0 - 2 * s1 + s2
    offset = np.divide(0.5 * (s0 - s2), curv, out=np.zeros_like(s1), where=curv < 0)
    return t_eval[j] + np.clip(offset, -1, 1) * (t_eval[1] - t_eval[0])  # (R,)


def _tanh_step(t, a, b, t0, w):
    return a + b * np.tanh((t - t0) / w)


def _tanh_fit(t, y, start):
    """Midpoint $t_0$ of the fitted step $a + b\\tanh((T - t_0)/w)$; one curve ``y (K,)``."""
    from scipy.optimize import curve_fit

    span = t[-1] - t[0]
    a0 = 0.5 * (y.max() + y.min())
    b0 = 0.5 * (y[-1] - y[0]) or 0.5 * (y.max() - y.min())
    p0 = [a0, b0, start, 0.05 * span]
    bounds = ([-np.inf, -np.inf, t[0], 1e-4 * span], [np.inf, np.inf, t[-1], span])
    try:
        params, _ = curve_fit(_tanh_step, t, y, p0=p0, bounds=bounds, maxfev=5000)
    except RuntimeError as err:  # no convergence
        raise ValueError(
            f"the tanh step fit did not converge ({err}); try method='steepest'"
        ) from err
    return float(params[2])


def tc_from_curve(temperature, curve, method: str = "steepest", bandwidth: float | None = None):
    """Estimate the critical temperature from a curve $y(T)$ that changes sharply at $T_c$.

    ``method="steepest"``: the temperature where $|dy/dT|$ is largest, the slope taken from the
    Gaussian-smoothed piecewise-linear interpolant of the points (kernel width $b$, ``bandwidth``;
    default twice the median grid spacing) and refined by a parabola through the maximum. For the
    order parameter of a finite lattice this is the usual pseudo-critical temperature.
    ``method="tanh"``: the midpoint $t_0$ of a least-squares fit of
    $y(T) = a + b\\tanh((T - t_0)/w)$.

    Applied to $\\langle|h|\\rangle(T)$ and the reconstruction loss in chapter 10, following
    Wetzel 2017; compare with Onsager's $T_c = 2.269$.

    ``temperature``, ``curve``: ``(K,)`` with at least 5 distinct temperatures (any order).
    Returns a float.

    Raises ``ValueError`` on an unknown method, mismatched lengths, repeated temperatures (average
    them first with :func:`temperature_average`), fewer than 5 points, or a non-positive bandwidth.
    """
    t, y = _check_curve(temperature, curve, method, bandwidth)
    bw = _default_bandwidth(t) if bandwidth is None else float(bandwidth)
    start = float(_steepest(t, y[None, :], bw)[0])
    if method == "steepest":
        return start
    return _tanh_fit(t, y, start)


def _check_curve(temperature, curve, method, bandwidth):
    if method not in TC_METHODS:
        raise ValueError(f"method must be one of {TC_METHODS}; got {method!r}")
    if bandwidth is not None and not bandwidth > 0:
        raise ValueError(f"bandwidth must be positive (a temperature width); got {bandwidth}")
    t, y = _check_pairs(temperature, curve)
    order = np.argsort(t)
    t, y = t[order], y[order]
    if np.any(np.diff(t) == 0):
        raise ValueError(
            "temperature has repeated values: average the curve per temperature first "
            "(vaecourse.ising.vae_analysis.temperature_average)"
        )
    if t.size < 5:
        raise ValueError(f"need at least 5 temperatures to locate a transition; got {t.size}")
    return t, y


def _default_bandwidth(t):
    return 2.0 * float(np.median(np.diff(t)))


@dataclass(frozen=True)
class TcEstimate:
    """A critical-temperature estimate with its bootstrap standard error.

    ``value``: the estimate on the full data; ``error``: the standard deviation of the
    ``replicates`` (``(n_boot,)``), each the estimate on one bootstrap resample; ``method``: the
    curve estimator used (see :func:`tc_from_curve`).
    """

    value: float
    error: float
    method: str
    replicates: np.ndarray = field(repr=False)

    def __str__(self) -> str:
        return f"{self.value:.3f} +- {self.error:.3f}"


def bootstrap_tc(
    temperature,
    values,
    method: str = "steepest",
    groups=None,
    n_boot: int = 200,
    bandwidth: float | None = None,
    seed: int = 0,
) -> TcEstimate:
    """$T_c$ from per-configuration ``values`` (e.g. $|h|$), with a bootstrap error bar.

    The curve is $\\langle v\\rangle(T_k)$ (:func:`temperature_average`) and $T_c$ is
    :func:`tc_from_curve` applied to it. For the error, the resampling units -- single
    configurations, or whole Markov chains when ``groups`` gives each configuration's chain id --
    are drawn with replacement *within each temperature*, the curve is recomputed and $T_c$
    re-estimated; the error is the standard deviation over ``n_boot`` replicates (Efron's
    bootstrap). Resampling chains rather than configurations keeps the correlations inside a chain
    and gives an honest error. Chapter 10.

    ``temperature``, ``values``: ``(N,)``; ``groups``: ``(N,)`` integer chain ids or None.
    Returns a :class:`TcEstimate`.

    Raises ``ValueError`` on mismatched lengths, ``n_boot < 2``, or fewer than 5 temperatures.
    """
    t, v = _check_pairs(temperature, values)
    if n_boot < 2:
        raise ValueError(f"n_boot must be at least 2; got {n_boot}")
    g = np.arange(t.size) if groups is None else np.asarray(groups).ravel()
    if g.shape != t.shape:
        raise ValueError(f"groups must have one id per configuration ({t.size}); got {g.size}")
    t_grid, t_index = np.unique(t, return_inverse=True)
    _check_curve(t_grid, np.zeros_like(t_grid), method, bandwidth)
    bw = _default_bandwidth(t_grid) if bandwidth is None else float(bandwidth)

    # Resampling units: one per (temperature, chain) pair, with the sum and count of its values.
    _, unit = np.unique(np.stack([t_index, np.unique(g, return_inverse=True)[1]]), axis=1,
                        return_inverse=True)
    unit = unit.ravel()
    n_units = unit.max() + 1
    unit_sum = np.bincount(unit, weights=v, minlength=n_units)  # (U,)
    unit_count = np.bincount(unit, minlength=n_units).astype(np.float64)  # (U,)
    unit_temp = np.zeros(n_units, dtype=np.int64)
    unit_temp[unit] = t_index  # (U,) temperature index of each unit
    order = np.argsort(unit_temp, kind="stable")  # units grouped by temperature
    per_temp = np.bincount(unit_temp, minlength=t_grid.size)  # (K,) units at each temperature
    start = np.concatenate([[0], np.cumsum(per_temp)[:-1]])  # (K,)

    rng = np.random.default_rng(seed)
    # For each replicate and each slot, draw a unit from the same temperature as the slot's unit.
    slot_temp = unit_temp[order]  # (U,)
    draws = start[slot_temp] + np.floor(
        rng.random((n_boot, n_units)) * per_temp[slot_temp]
    ).astype(np.int64)  # (n_boot, U)
    chosen = order[draws]  # (n_boot, U) unit ids
    # Flat index (replicate, temperature) of every slot, then one bincount per total.
    cell = (np.arange(n_boot)[:, None] * t_grid.size + slot_temp[None, :]).ravel()  # (n_boot*U,)
    size = n_boot * t_grid.size
    sums = np.bincount(cell, weights=unit_sum[chosen].ravel(), minlength=size)
    counts = np.bincount(cell, weights=unit_count[chosen].ravel(), minlength=size)
    curves = (sums / counts).reshape(n_boot, t_grid.size)  # (n_boot, K)

    full_curve = np.bincount(t_index, weights=v) / np.bincount(t_index)  # (K,)
    if method == "steepest":
        value = float(_steepest(t_grid, full_curve[None, :], bw)[0])
        replicates = _steepest(t_grid, curves, bw)
    else:
        value = tc_from_curve(t_grid, full_curve, method, bw)
        replicates = np.array([tc_from_curve(t_grid, c, method, bw) for c in curves])
    return TcEstimate(value, float(replicates.std(ddof=1)), method, replicates)


# ---------------------------------------------------------------------------------------------
# What the trained VAE says about each configuration
# ---------------------------------------------------------------------------------------------


def _model_device(model):
    return next(model.parameters()).device


def latent_means(model, x, batch_size: int = 4096) -> np.ndarray:
    """Encoder means $\\boldsymbol\\mu(\\mathbf{x})$ of $Q(\\mathbf{h}\\mid\\mathbf{x})$, one per configuration.

    Wetzel 2017 reads the latent variable of a configuration as the mean of its approximate
    posterior; chapter 10.

    ``model``: a course model (``model.encode(x)`` returns a Normal); ``x``: ``(N, D)`` pixels from
    :func:`spins_to_pixels`. Returns ``(N, latent_dim)`` float64 (computed without gradients, in
    batches of ``batch_size`` on the model's device).
    """
    device = _model_device(model)
    x = torch.as_tensor(x)
    out = []
    with torch.no_grad():
        for chunk in torch.split(x, batch_size):
            out.append(model.encode(chunk.to(device)).mean.double().cpu())  # (b, latent_dim)
    return torch.cat(out).numpy()  # (N, latent_dim)


def latent_axis(latent) -> np.ndarray:
    """The latent means projected on their direction of largest variance (sign fixed).

    For a 1-D latent this is the latent itself; for a 2-D latent, the first principal axis
    $w_1$ of the centred means: $a_i = w_1^\\top(\\mu_i - \\bar\\mu)$. The sign makes the largest
    $|a_i|$ positive, so that the axis does not flip between runs. Chapter 10.

    ``latent``: ``(N, latent_dim)``. Returns ``(N,)``.
    """
    mu = np.asarray(latent, dtype=np.float64)
    if mu.ndim != 2:
        raise ValueError(f"latent must have shape (N, latent_dim); got {mu.shape}")
    if mu.shape[1] == 1:
        axis = mu[:, 0]
    else:
        centred = mu - mu.mean(axis=0)
        _, _, vt = np.linalg.svd(centred, full_matrices=False)  # rows of vt: principal axes
        axis = centred @ vt[0]  # (N,)
    return axis if axis[np.abs(axis).argmax()] >= 0 else -axis


def reconstruction_loss(model, x, batch_size: int = 4096) -> np.ndarray:
    """Reconstruction loss $-\\log p(\\mathbf{x}\\mid\\mathbf{h}=\\boldsymbol\\mu(\\mathbf{x}))$ of each configuration.

    The binary cross-entropy summed over the $L^2$ spins (nats per configuration), decoding the
    encoder mean. Ordered configurations are easy to reconstruct, disordered ones are not: the loss
    rises steeply at $T_c$ (Wetzel 2017); chapter 10.

    ``x``: ``(N, D)`` pixels. Returns ``(N,)`` float64.
    """
    device = _model_device(model)
    x = torch.as_tensor(x)
    out = []
    with torch.no_grad():
        for chunk in torch.split(x, batch_size):
            chunk = chunk.to(device)
            mu = model.encode(chunk).mean  # (b, latent_dim)
            out.append(-model.log_likelihood(chunk, mu).double().cpu())  # (b,)
    return torch.cat(out).numpy()


def decode_along_axis(model, values, latent=None) -> np.ndarray:
    """Mean spin configurations decoded at points along the latent axis.

    Decodes $\\mathbf{h} = \\bar\\mu + a\\,w_1$ for each $a$ in ``values`` ($w_1$, $\\bar\\mu$ as in
    :func:`latent_axis`; for a 1-D latent simply $h = a$) and returns the mean spin
    $\\langle s\\rangle = 2\\,\\mathbb{E}[x] - 1$ of each site. Chapter 10.

    ``values``: ``(n,)``; ``latent``: the ``(N, latent_dim)`` means that define the axis (needed
    only when ``latent_dim > 1``). Returns ``(n, *data_shape)`` in ``[-1, 1]``.
    """
    a = torch.as_tensor(np.asarray(values, dtype=np.float32)).reshape(-1, 1)  # (n, 1)
    if model.latent_dim == 1:
        h = a
    else:
        if latent is None:
            raise ValueError("latent (the encoder means) is needed to find the axis when latent_dim > 1")
        mu = np.asarray(latent, dtype=np.float64)
        centre = mu.mean(axis=0)
        _, _, vt = np.linalg.svd(mu - centre, full_matrices=False)
        w = vt[0] if ((mu - centre) @ vt[0])[np.abs((mu - centre) @ vt[0]).argmax()] >= 0 else -vt[0]
        h = torch.as_tensor(centre, dtype=torch.float32) + a * torch.as_tensor(w, dtype=torch.float32)
    with torch.no_grad():
        mean = model.decoder_mean(h.to(_model_device(model)))  # (n, *data_shape)
    return (2.0 * mean - 1.0).double().cpu().numpy()


def phase_clusters(latent, n_clusters: int = 3, seed: int = 0) -> np.ndarray:
    """Cluster labels of the latent means from a Gaussian mixture with three components by default.

    With a 2-D latent the configurations fall into two ordered clusters ($m \\approx \\pm1$) and one
    disordered cluster ($m\\approx 0$) (Wetzel 2017). A mixture of ``n_clusters`` Gaussians with full
    covariances, $p(\\mu) = \\sum_c \\pi_c\\,\\mathcal{N}(\\mu; m_c, S_c)$, fitted by expectation
    maximisation (scikit-learn), finds them without labels; each configuration gets its most probable
    component. Unlike k-means, whose clusters are round, it can follow the elongated disordered
    cluster. Labels are ordered by the clusters' mean position on :func:`latent_axis`, so label 0 is
    one ordered phase, the middle label the disordered phase, the last the other ordered phase.
    Chapter 10.

    ``latent``: ``(N, latent_dim)``. Returns ``(N,)`` integer labels.

    Raises ``ValueError`` unless ``latent`` is ``(N, latent_dim)`` with ``N >= n_clusters``.
    """
    from sklearn.mixture import GaussianMixture

    mu = np.asarray(latent, dtype=np.float64)
    if mu.ndim != 2 or mu.shape[0] < n_clusters:
        raise ValueError(
            f"latent must have shape (N, latent_dim) with N >= n_clusters={n_clusters}; got {mu.shape}"
        )
    mixture = GaussianMixture(n_clusters, covariance_type="full", n_init=3, random_state=seed)
    raw = mixture.fit_predict(mu)  # (N,)
    axis = latent_axis(mu)
    centre = np.bincount(raw, weights=axis, minlength=n_clusters) / np.maximum(
        np.bincount(raw, minlength=n_clusters), 1
    )
    rank = np.empty(n_clusters, dtype=np.int64)
    rank[np.argsort(centre)] = np.arange(n_clusters)
    return rank[raw]


# ---------------------------------------------------------------------------------------------
# The pipeline
# ---------------------------------------------------------------------------------------------


@dataclass
class IsingVAEResult:
    """Everything chapter 10 shows about one trained Ising VAE (arrays over the held-out set).

    Per configuration (``(N,)`` unless stated): ``temperature``, ``magnetisation`` $m$, ``latent``
    (encoder means, ``(N, latent_dim)``), ``axis`` (:func:`latent_axis`), ``pca`` (first principal
    component score), ``loss`` (:func:`reconstruction_loss`, nats per configuration), ``chain``
    (Markov-chain ids or None), ``spins`` (``(N, L, L)``).
    Per temperature (``(K,)``): ``t_grid``, ``abs_latent`` and ``abs_latent_sem``
    ($\\langle|a|\\rangle$ and its standard error), ``loss_mean`` and ``loss_sem``.
    Numbers: ``corr_latent`` $= |r(a, m)|$, ``corr_pca`` $= |r(\\text{PC}_1, m)|$, ``tc`` ($T_c$ from
    $\\langle|a|\\rangle(T)$) and ``tc_loss`` ($T_c$ from the loss), both :class:`TcEstimate`.
    Also the trained ``model``, its training ``history``, and ``from_cache`` (True when the weights
    came from the cache of trained models instead of being trained now).
    """

    lattice_size: int
    latent_dim: int
    temperature: np.ndarray
    magnetisation: np.ndarray
    latent: np.ndarray
    axis: np.ndarray
    pca: np.ndarray
    loss: np.ndarray
    chain: np.ndarray | None
    spins: np.ndarray = field(repr=False)
    t_grid: np.ndarray = field(repr=False)
    abs_latent: np.ndarray = field(repr=False)
    abs_latent_sem: np.ndarray = field(repr=False)
    loss_mean: np.ndarray = field(repr=False)
    loss_sem: np.ndarray = field(repr=False)
    corr_latent: float
    corr_pca: float
    tc: TcEstimate
    tc_loss: TcEstimate
    model: torch.nn.Module = field(repr=False)
    history: object = field(repr=False)
    from_cache: bool = False

    def summary(self) -> str:
        """A few lines with the headline numbers, for printing in the chapter and the benchmark."""
        return "\n".join(
            [
                f"L = {self.lattice_size}, latent_dim = {self.latent_dim}, "
                f"{self.temperature.size} held-out configurations at {self.t_grid.size} temperatures",
                f"|corr(latent, m)| = {self.corr_latent:.3f}   |corr(PC1, m)| = {self.corr_pca:.3f}",
                f"T_c from <|latent|>(T):   {self.tc}  ({self.tc.method}, bootstrap)",
                f"T_c from the loss(T):     {self.tc_loss}",
            ]
        )


def analyse_configurations(
    spins,
    temperature,
    magnetisation,
    *,
    latent_dim: int = 1,
    chain=None,
    hidden: int = 256,
    train_config=None,
    test_fraction: float = 0.25,
    method: str = "steepest",
    n_boot: int = 200,
    seed: int = 0,
    name: str = "ising-vae",
    progress: bool | None = None,
) -> IsingVAEResult:
    """Train (or load from the cache) a VAE on Ising configurations and analyse what it learned.

    Steps: map spins to pixels (:func:`spins_to_pixels`); split the configurations at random into a
    training and a held-out set; train the MLP VAE of :mod:`vaecourse.models` (Bernoulli decoder,
    hidden width ``hidden``, ``latent_dim``) with :func:`vaecourse.train.load_or_train`, which caches
    the trained weights; on the held-out set compute the latent means and axis, PCA's first
    component (fitted on the training set), the reconstruction loss, their correlations with $m$,
    their temperature averages, and $T_c$ from $\\langle|a|\\rangle(T)$ and from the loss with a
    bootstrap error bar over chains (:func:`bootstrap_tc`). Wetzel 2017; chapter 10.

    ``spins``: ``(N, L, L)`` in ``{-1, +1}``; ``temperature``, ``magnetisation``: ``(N,)``;
    ``chain``: ``(N,)`` Markov-chain ids or None; ``train_config``: a
    :class:`vaecourse.train.TrainConfig` (default: 20 epochs of batches of 128; 10 epochs of 32 in
    smoke mode; no binarisation --
    the pixels are already 0 or 1). Returns an :class:`IsingVAEResult`.

    Raises ``ValueError`` on mismatched lengths, spins other than -1/+1, non-square lattices, or
    ``test_fraction`` outside (0, 1).
    """
    from vaecourse import settings
    from vaecourse.models import ModelConfig
    from vaecourse.checkpoints import load_or_train
    from vaecourse.train import TrainConfig

    s = np.asarray(spins)
    if s.ndim != 3 or s.shape[1] != s.shape[2]:
        raise ValueError(f"spins must have shape (N, L, L); got {s.shape}")
    t = np.asarray(temperature, dtype=np.float64).ravel()
    m = np.asarray(magnetisation, dtype=np.float64).ravel()
    if not t.size == m.size == s.shape[0]:
        raise ValueError(
            f"spins, temperature and magnetisation must describe the same {s.shape[0]} configurations;"
            f" got {t.size} temperatures and {m.size} magnetisations"
        )
    if chain is not None:
        chain = np.asarray(chain).ravel()
        if chain.size != t.size:
            raise ValueError(f"chain must have one id per configuration ({t.size}); got {chain.size}")
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must lie strictly between 0 and 1; got {test_fraction}")
    x = spins_to_pixels(s)  # (N, L*L)
    lattice_size = s.shape[1]

    rng = np.random.default_rng(seed)
    perm = rng.permutation(t.size)
    n_test = max(int(round(test_fraction * t.size)), 1)
    test, train = np.sort(perm[:n_test]), np.sort(perm[n_test:])

    if train_config is None:
        train_config = TrainConfig(
            epochs=settings.pick(full=20, smoke=10),
            batch_size=settings.pick(full=128, smoke=32),
            binarize="grey",
            seed=seed,
        )
    model_config = ModelConfig(
        "mlp", latent_dim=latent_dim, hidden=hidden, data_shape=(1, lattice_size, lattice_size)
    )
    x_train = x[train].reshape(-1, 1, lattice_size, lattice_size)  # (N_train, 1, L, L)
    x_test = x[test].reshape(-1, 1, lattice_size, lattice_size)  # (N_test, 1, L, L)
    trained = load_or_train(
        model_config, train_config, x_train, x_test, name=f"{name}-{latent_dim}d", progress=progress
    )
    model = trained.model

    latent = latent_means(model, x_test)  # (N_test, latent_dim)
    axis = latent_axis(latent)  # (N_test,)
    loss = reconstruction_loss(model, x_test)  # (N_test,)
    from sklearn.decomposition import PCA

    pca = PCA(n_components=1, random_state=seed).fit(x[train].numpy()).transform(x[test].numpy())[:, 0]
    t_test, m_test = t[test], m[test]
    chain_test = None if chain is None else chain[test]
    t_grid, abs_mean, abs_sem = temperature_average(t_test, np.abs(axis))
    _, loss_mean, loss_sem = temperature_average(t_test, loss)
    return IsingVAEResult(
        lattice_size=lattice_size,
        latent_dim=latent_dim,
        temperature=t_test,
        magnetisation=m_test,
        latent=latent,
        axis=axis,
        pca=pca,
        loss=loss,
        chain=chain_test,
        spins=s[test],
        t_grid=t_grid,
        abs_latent=abs_mean,
        abs_latent_sem=abs_sem,
        loss_mean=loss_mean,
        loss_sem=loss_sem,
        corr_latent=abs(pearson(axis, m_test)),
        corr_pca=abs(pearson(pca, m_test)),
        tc=bootstrap_tc(t_test, np.abs(axis), method, chain_test, n_boot, seed=seed),
        tc_loss=bootstrap_tc(t_test, loss, method, chain_test, n_boot, seed=seed),
        model=model,
        history=trained.history,
        from_cache=trained.from_cache,
    )


def analyse_ising_vae(latent_dim: int = 1, dataset: dict | None = None, **options) -> IsingVAEResult:
    """The whole of chapter 10 in one call: Ising data, a trained VAE, and what it learned.

    Builds (or loads from the cache) the Monte Carlo data set of
    :func:`vaecourse.ising.ising_dataset` with the arguments ``dataset`` (default
    :func:`vaecourse.ising.default_dataset_config`: $L = 28$, 40 temperatures in $[1, 3.5]$, 50,000
    configurations; $L = 16$ and 400 configurations in smoke mode), then runs
    :func:`analyse_configurations` with the chains as bootstrap units. ``options`` are passed on
    (``hidden``, ``train_config``, ``method``, ``n_boot``, ``seed``, ...). Wetzel 2017; chapter 10.

    >>> result = analyse_ising_vae(latent_dim=1)        # doctest: +SKIP
    >>> print(result.summary())                         # doctest: +SKIP

    Returns an :class:`IsingVAEResult`; raises ``ValueError`` on bad arguments.
    """
    from vaecourse import ising

    config = ising.default_dataset_config() if dataset is None else dict(dataset)
    data = ising.ising_dataset(**config)
    return analyse_configurations(
        data.spins.numpy(),
        data.temperature.numpy(),
        data.magnetisation.numpy(),
        latent_dim=latent_dim,
        chain=data.chain.numpy(),
        **options,
    )
