"""The critical temperature from a curve that changes sharply at $T_c$, with a bootstrap error bar.

A curve $y(T)$ such as the VAE's $\\langle|h|\\rangle(T)$ or its reconstruction loss
(``book/ising.md``, after Wetzel 2017, Phys. Rev. E 96, 022140) is first averaged per temperature
(:func:`temperature_average`); :func:`tc_from_curve` takes $T_c$ where its smoothed slope is
steepest (label ``eq:smoothed-slope``) or at the midpoint of a fitted tanh step; :func:`bootstrap_tc`
adds Efron's bootstrap error, resampling configurations or whole Markov chains within each
temperature. Compare with Onsager's $T_c$ (:data:`vaecourse.ising.T_C`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["TC_METHODS", "TcEstimate", "temperature_average", "tc_from_curve", "bootstrap_tc"]

TC_METHODS = ("steepest", "tanh")


def temperature_average(temperature, values):
    """Average of per-configuration ``values`` at each distinct temperature, with its standard error.

    $\\langle v\\rangle(T_k) = \\frac{1}{n_k}\\sum_{i: T_i = T_k} v_i$; standard error
    $\\sigma_k/\\sqrt{n_k}$ (zero when $n_k = 1$). ``book/ising.md``.

    Shapes: ``temperature``, ``values`` ``(N,)``. Result: ``(t_grid (K,), mean (K,), sem (K,))``
    with ``t_grid`` sorted ascending.

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
        raise ValueError(f"temperature and values must have the same length; got {t.size} and {v.size}")
    if t.size == 0:
        raise ValueError("temperature and values are empty")
    if not (np.isfinite(t).all() and np.isfinite(v).all()):
        raise ValueError("temperature and values must be finite (found NaN or inf)")
    return t, v


def _smoothed_slopes(t, y, t_eval, bandwidth):
    """Gaussian-smoothed slopes of the piecewise-linear interpolants of the curves ``y``.

    Between grid points the interpolant has the constant slope
    $d_k = (y_{k+1} - y_k)/(t_{k+1} - t_k)$; smoothing with a normal kernel of width $b$ gives
    $\\sum_k d_k\\,[\\Phi((t_{k+1} - t)/b) - \\Phi((t_k - t)/b)]$, divided by the kernel mass
    inside the data. Unlike a regression on the points, this does not favour densely sampled
    temperatures, so a symmetric step stays centred on a non-uniform grid.

    Shapes: ``t`` ``(K,)`` ascending; ``y`` ``(R, K)`` (R curves sharing one grid); ``t_eval``
    ``(G,)``. Result: ``(R, G)``.
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
        raise ValueError(f"the tanh step fit did not converge ({err}); try method='steepest'") from err
    return float(params[2])


def tc_from_curve(temperature, curve, method: str = "steepest", bandwidth: float | None = None):
    """Estimate the critical temperature from a curve $y(T)$ that changes sharply at $T_c$.

    ``method="steepest"``: the temperature where $|dy/dT|$ is largest, the slope taken from the
    Gaussian-smoothed piecewise-linear interpolant of the points (kernel width $b$, ``bandwidth``;
    default twice the median grid spacing) and refined by a parabola through the maximum. For the
    order parameter of a finite lattice this is the usual pseudo-critical temperature.
    ``method="tanh"``: the midpoint $t_0$ of a least-squares fit of
    $y(T) = a + b\\tanh((T - t_0)/w)$.

    Label ``eq:smoothed-slope``. Applied to $\\langle|h|\\rangle(T)$ and the reconstruction loss
    in ``book/ising.md``, following Wetzel 2017; compare with Onsager's $T_c = 2.269$.

    Shapes: ``temperature``, ``curve`` ``(K,)`` with at least 5 distinct temperatures (any order).
    Result: a float.

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
            "(vaecourse.ising.critical_temperature.temperature_average)"
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
    ``replicates``, each the estimate on one bootstrap resample; ``method``: the curve estimator
    used (see :func:`tc_from_curve`). ``book/ising.md``.

    Shapes: ``value``, ``error`` floats; ``replicates`` ``(n_boot,)``.
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
    and gives an honest error. ``book/ising.md``; Efron 1979.

    Shapes: ``temperature``, ``values`` ``(N,)``; ``groups`` ``(N,)`` integer chain ids or None.
    Result: a :class:`TcEstimate`.

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
    _, unit = np.unique(np.stack([t_index, np.unique(g, return_inverse=True)[1]]), axis=1, return_inverse=True)
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
    draws = start[slot_temp] + np.floor(rng.random((n_boot, n_units)) * per_temp[slot_temp]).astype(
        np.int64
    )  # (n_boot, U)
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
