"""Onsager's exact results for the 2-D Ising model, and the observables they are compared with.

The model (``book/ising.md``): spins $s_i \\in \\{-1, +1\\}$ on an $L \\times L$ square lattice with
periodic boundaries, energy $E = -J \\sum_{\\langle ij \\rangle} s_i s_j$ over nearest-neighbour
pairs (label ``eq:ising-energy``), $J = k_B = 1$, Boltzmann weights $\\propto e^{-E/T}$.
Observables per spin: magnetisation $m = \\frac{1}{L^2} \\sum_i s_i$ (``eq:ising-magnetisation``)
and energy $u = E / L^2$. Exact results of the infinite lattice (Onsager 1944; Yang 1952):
:data:`T_C` (``eq:onsager-tc``), :func:`onsager_energy`, :func:`spontaneous_magnetisation`
(``eq:spontaneous-magnetisation``). ``tests/ising/test_sampler.py`` checks the samplers against them.
Also the spin-spin correlation :func:`correlation_function` (``eq:correlation-function``, used by
``book/ising_generative.md``), the per-temperature averages :func:`observables_by_temperature`, and
:func:`exact_enumeration`, the exact Boltzmann averages of a lattice small enough to enumerate.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import torch

__all__ = [
    "T_C",
    "onsager_energy",
    "spontaneous_magnetisation",
    "temperature_grid",
    "energy_per_spin",
    "magnetisation",
    "correlation_function",
    "observables_by_temperature",
    "exact_enumeration",
]

#: Onsager's critical temperature $T_c = 2 / \\ln(1 + \\sqrt 2) \\approx 2.269185$ ($J = k_B = 1$).
T_C = 2.0 / math.log(1.0 + math.sqrt(2.0))


def _positive_temperatures(temperature, name: str = "temperature") -> np.ndarray:
    """``temperature`` as a float64 array, checked finite and $> 0$ (raises ``ValueError``)."""
    t = np.asarray(temperature, dtype=np.float64)
    if t.size == 0 or not np.all(np.isfinite(t)) or np.any(t <= 0):
        raise ValueError(f"{name} must hold finite temperatures > 0, got {temperature!r}")
    return t


def onsager_energy(temperature):
    """Exact energy per spin of the infinite 2-D Ising model (Onsager 1944).

    .. math::
        u(T) = -\\coth(2\\beta)\\left[1 + \\frac{2}{\\pi}\\left(2\\tanh^2(2\\beta) - 1\\right)K(k)
        \\right], \\quad \\beta = 1/T, \\quad k = \\frac{2\\sinh(2\\beta)}{\\cosh^2(2\\beta)},

    $K$ the complete elliptic integral of the first kind of modulus $k$ (``scipy.special.ellipk``
    takes $m = k^2$). At $T_c$ the bracket's second term is $0 \\cdot \\infty$; its limit gives
    $u(T_c) = -\\sqrt 2$. Below $T \\approx 0.006$ the modulus is computed as the equal
    $k = 2\\tanh(2\\beta)/\\cosh(2\\beta)$ (no overflow of $\\sinh$), so $u \\to -2$ as $T \\to 0$.
    ``book/ising.md``; Onsager 1944.

    Shapes: ``temperature`` a float or an array of temperatures $> 0$; the result a float or a
    float64 array of the same shape.

    Raises ``ValueError`` when a temperature is not finite and positive.
    """
    from scipy.special import ellipk

    t = _positive_temperatures(temperature)
    b2 = 2.0 / t
    with np.errstate(over="ignore"):  # sinh and cosh overflow for 2 / T > 710; the second form does not
        k = np.where(
            b2 < 350.0,
            2.0 * np.sinh(np.minimum(b2, 350.0)) / np.cosh(np.minimum(b2, 350.0)) ** 2,
            2.0 * np.tanh(b2) / np.cosh(b2),
        )
    with np.errstate(invalid="ignore", divide="ignore"):
        bracket = 1.0 + (2.0 / np.pi) * (2.0 * np.tanh(b2) ** 2 - 1.0) * ellipk(k**2)
        u = -bracket / np.tanh(b2)
    u = np.where(np.isclose(t, T_C, rtol=0, atol=1e-12), -math.sqrt(2.0), u)
    return float(u) if np.ndim(temperature) == 0 else u


def spontaneous_magnetisation(temperature):
    """Exact spontaneous magnetisation per spin of the infinite lattice (Onsager; Yang 1952).

    .. math:: M(T) = \\left(1 - \\sinh^{-4}(2/T)\\right)^{1/8} \\text{ for } T < T_c, \\quad
        M(T) = 0 \\text{ for } T \\ge T_c,

    label ``eq:spontaneous-magnetisation``. A finite lattice has $\\langle m \\rangle = 0$ by
    symmetry; compare $M$ with $\\langle |m| \\rangle$ well below $T_c$. ``book/ising.md``; Yang 1952.

    Shapes: ``temperature`` a float or an array of temperatures $> 0$; the result a float or a
    float64 array of the same shape.

    Raises ``ValueError`` when a temperature is not finite and positive.
    """
    t = _positive_temperatures(temperature)
    with np.errstate(over="ignore"):
        inner = 1.0 - np.sinh(2.0 / t) ** -4.0
    m = np.where(t < T_C, np.clip(inner, 0.0, None) ** 0.125, 0.0)
    return float(m) if np.ndim(temperature) == 0 else m


def temperature_grid(n: int, low: float = 1.0, high: float = 3.5, power: float = 1.5) -> np.ndarray:
    """``n`` temperatures in $[\\text{low}, \\text{high}]$, denser near $T_c$.

    $T = T_c + \\operatorname{sign}(u)\\,|u|^{p}\\,\\Delta_\\pm$ for $u$ evenly spaced in $[-1, 1]$,
    with $\\Delta_- = T_c - \\text{low}$ and $\\Delta_+ = \\text{high} - T_c$; ``power`` $p > 1$ puts
    more points near $T_c$ ($p = 1$: evenly spaced on each side). ``book/ising.md``.

    Shapes: the result is float64 ``(n,)``, increasing.

    Raises ``ValueError`` when ``n`` is not a whole number >= 2, ``power`` is not a finite number > 0,
    or not ``0 < low < T_c < high`` with finite ``low`` and ``high`` (NaN and inf are refused).
    """
    try:
        count = float(n)
    except (TypeError, ValueError):
        count = math.nan
    if not (math.isfinite(count) and count == int(count) and count >= 2):
        raise ValueError(f"n must be a whole number >= 2, got {n!r}")
    for name, value in (("low", low), ("high", high), ("power", power)):
        try:
            finite = math.isfinite(float(value))
        except (TypeError, ValueError):
            finite = False
        if not finite:
            raise ValueError(f"{name} must be a finite number, got {value!r}")
    if power <= 0:
        raise ValueError(f"power must be > 0, got {power}")
    if not 0 < low < T_C < high:
        raise ValueError(f"need 0 < low < T_C={T_C:.4f} < high, got low={low}, high={high}")
    u = np.linspace(-1.0, 1.0, int(n))
    y = np.sign(u) * np.abs(u) ** power
    return np.where(y < 0, T_C + y * (T_C - low), T_C + y * (high - T_C))


def energy_per_spin(spins: torch.Tensor) -> torch.Tensor:
    """Energy per spin $u = -\\frac{1}{L^2} \\sum_i s_i (s_{i+\\hat x} + s_{i+\\hat y})$, periodic boundaries.

    Label ``eq:ising-energy`` divided by $L^2$; ``book/ising.md``.

    Shapes: ``spins`` ``(..., L, L)`` with values $\\pm 1$ (any dtype) -> float32 ``(...)``.
    """
    s = spins.to(torch.float32)
    bonds = s * (torch.roll(s, -1, dims=-1) + torch.roll(s, -1, dims=-2))  # (..., L, L)
    return -bonds.mean(dim=(-2, -1))


def magnetisation(spins: torch.Tensor) -> torch.Tensor:
    """Magnetisation per spin $m = \\frac{1}{L^2} \\sum_i s_i$ (signed), label ``eq:ising-magnetisation``.

    ``book/ising.md``.

    Shapes: ``spins`` ``(..., L, L)`` -> float32 ``(...)``.
    """
    return spins.to(torch.float32).mean(dim=(-2, -1))


def correlation_function(spins: torch.Tensor, r_max: int | None = None) -> torch.Tensor:
    """Spin-spin correlation $C(r)$ per configuration.

    $C(r) = \\frac{1}{2L^2}\\sum_i s_i (s_{i + r\\hat x} + s_{i + r\\hat y})$.

    Periodic boundaries, label ``eq:correlation-function``; $C(0) = 1$ and the energy per spin is
    $u = -2\\,C(1)$. Averaged over configurations at one temperature it is $\\langle s_0 s_r\\rangle$,
    which tends to $\\langle m\\rangle^2$ at large $r$ in an ordered phase. ``book/ising_generative.md``.

    Shapes: ``spins`` ``(N, L, L)`` ($\\pm1$ or mean spins in $[-1, 1]$) -> float32 ``(N, r_max + 1)``,
    ``r_max`` defaulting to ``L // 2``.

    Raises ``ValueError`` unless ``spins`` is ``(N, L, L)`` and ``0 <= r_max <= L // 2``.
    """
    if spins.ndim != 3 or spins.shape[-1] != spins.shape[-2]:
        raise ValueError(f"spins must have shape (N, L, L), got {tuple(spins.shape)}")
    L = spins.shape[-1]
    r_max = L // 2 if r_max is None else int(r_max)
    if not 0 <= r_max <= L // 2:
        raise ValueError(f"r_max must lie in [0, L // 2 = {L // 2}], got {r_max}")
    s = spins.to(torch.float32)
    out = [
        (s * (torch.roll(s, -r, dims=-1) + torch.roll(s, -r, dims=-2))).mean(dim=(-2, -1)) / 2 for r in range(r_max + 1)
    ]
    return torch.stack(out, -1)  # (N, r_max + 1)


def observables_by_temperature(spins, temperature, r_max: int | None = None) -> dict:
    """Per temperature: $\\langle|m|\\rangle$, $u$, $C(r)$ with standard errors over the configurations.

    $m$ and $u$ from :func:`vaecourse.ising.magnetisation` and
    :func:`vaecourse.ising.energy_per_spin`, $C(r)$ from :func:`correlation_function`.
    ``book/ising_generative.md``.

    Shapes: ``spins`` ``(N, L, L)``, ``temperature`` ``(N,)``. Result: a dict of NumPy arrays:
    ``"T"`` ``(K,)``; ``"abs_m"``, ``"abs_m_err"``, ``"u"``, ``"u_err"`` ``(K,)``; ``"C"``,
    ``"C_err"`` ``(K, r_max + 1)``. A standard error is the sample standard deviation (divisor
    $n - 1$) over $\\sqrt n$ for the $n$ configurations at that temperature; with a single
    configuration it is unknown and given as NaN (not 0: one sample says nothing about its spread).

    Raises ``ValueError`` on mismatched lengths.
    """
    s = torch.as_tensor(spins)
    t = np.asarray(temperature, dtype=np.float64).reshape(-1)
    if t.shape[0] != s.shape[0]:
        raise ValueError(f"need one temperature per configuration: {s.shape[0]} and {t.shape[0]}")
    columns = {
        "abs_m": magnetisation(s).abs().double().numpy()[:, None],
        "u": energy_per_spin(s).double().numpy()[:, None],
        "C": correlation_function(s, r_max).double().numpy(),
    }
    grid, inverse, counts = np.unique(t, return_inverse=True, return_counts=True)
    out = {"T": grid}
    for name, v in columns.items():
        mean = np.stack([np.bincount(inverse, weights=v[:, j]) for j in range(v.shape[1])], 1) / counts[:, None]
        sq = np.stack([np.bincount(inverse, weights=(v[:, j] - mean[inverse, j]) ** 2) for j in range(v.shape[1])], 1)
        err = np.sqrt(sq / np.maximum(counts - 1, 1)[:, None] / counts[:, None])
        err[counts < 2] = np.nan  # one configuration: its standard error is unknown
        out[name], out[f"{name}_err"] = (mean[:, 0], err[:, 0]) if v.shape[1] == 1 else (mean, err)
    return out


def exact_enumeration(L: int, temperatures) -> dict:
    """Exact $\\langle|m|\\rangle$, $u$ and $C(r)$ of an $L\\times L$ periodic lattice by summing all $2^{L^2}$ states.

    Each state gets the Boltzmann weight $e^{-E/T}/Z$, $E$ counted bond by bond in NumPy (a route that
    shares no code with :mod:`vaecourse.ising.exact`). Feasible for $L \\le 4$ (65,536 states).
    ``book/ising_generative.md``.

    Shapes: ``temperatures`` ``(K,)``. Result: dict of float64 arrays ``"abs_m"``, ``"u"`` ``(K,)``
    and ``"C"`` ``(K, L // 2 + 1)``.

    Raises ``ValueError`` for ``L > 4`` or ``L < 2``.
    """
    if not 2 <= int(L) <= 4:
        raise ValueError(f"exact enumeration is for 2 <= L <= 4 (2^(L*L) states), got L={L}")
    L = int(L)
    temps = _positive_temperatures(temperatures, "temperatures").reshape(-1)
    states = np.array(list(itertools.product((-1, 1), repeat=L * L)), dtype=np.int64).reshape(-1, L, L)
    energy = np.zeros(len(states))
    corr = np.zeros((len(states), L // 2 + 1))
    for i in range(L):
        for j in range(L):
            energy -= states[:, i, j] * (states[:, i, (j + 1) % L] + states[:, (i + 1) % L, j])
            for r in range(L // 2 + 1):
                corr[:, r] += states[:, i, j] * (states[:, i, (j + r) % L] + states[:, (i + r) % L, j])
    corr /= 2 * L * L
    abs_m = np.abs(states.sum(axis=(1, 2))) / (L * L)
    out = {"abs_m": [], "u": [], "C": []}
    for T in temps:
        w = np.exp(-(energy - energy.min()) / T)
        w /= w.sum()
        out["abs_m"].append(w @ abs_m)
        out["u"].append(w @ energy / (L * L))
        out["C"].append(w @ corr)
    return {k: np.array(v) for k, v in out.items()}
