"""Onsager's exact results for the 2-D Ising model, and the observables they are compared with.

The model (``book/ising.md``): spins $s_i \\in \\{-1, +1\\}$ on an $L \\times L$ square lattice with
periodic boundaries, energy $E = -J \\sum_{\\langle ij \\rangle} s_i s_j$ over nearest-neighbour
pairs (label ``eq:ising-energy``), $J = k_B = 1$, Boltzmann weights $\\propto e^{-E/T}$.
Observables per spin: magnetisation $m = \\frac{1}{L^2} \\sum_i s_i$ (``eq:ising-magnetisation``)
and energy $u = E / L^2$. Exact results of the infinite lattice (Onsager 1944; Yang 1952):
:data:`T_C` (``eq:onsager-tc``), :func:`onsager_energy`, :func:`spontaneous_magnetisation`
(``eq:spontaneous-magnetisation``). ``tests/test_ising.py`` checks the samplers against them.
"""

from __future__ import annotations

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
    $u(T_c) = -\\sqrt 2$. ``book/ising.md``; Onsager 1944.

    Shapes: ``temperature`` a float or an array of temperatures $> 0$; the result a float or a
    float64 array of the same shape.

    Raises ``ValueError`` when a temperature is not finite and positive.
    """
    from scipy.special import ellipk

    t = _positive_temperatures(temperature)
    b2 = 2.0 / t
    k = 2.0 * np.sinh(b2) / np.cosh(b2) ** 2
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

    Raises ``ValueError`` when ``n < 2``, ``power <= 0`` or not ``0 < low < T_c < high``.
    """
    if int(n) < 2:
        raise ValueError(f"n must be at least 2, got {n}")
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
