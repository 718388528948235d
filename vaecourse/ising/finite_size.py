"""Finite-size scaling: $T_c(L)$ on several lattice sizes, extrapolated to the infinite lattice.

A finite lattice has no singularity; its curves change fastest at a pseudo-critical temperature
$T_c(L)$ that approaches $T_c$ as $T_c(L) = T_c + a L^{-1/\\nu}$ with $\\nu = 1$ for the 2-D Ising
model (label ``eq:fss-shift``; ``book/ising_generative.md``; Ferrenberg & Landau 1991). The steps:

- :func:`fss_dataset_config`: the Monte Carlo data set of one size (cached by
  :func:`vaecourse.ising.ising_dataset`), the same temperatures for every $L$;
- :func:`vae_tc`: the VAE estimate of ``book/ising.md`` ($\\langle|h|\\rangle(T)$ and the
  reconstruction loss, with bootstrap errors over chains) on one size;
- :func:`binder_cumulant` and :func:`binder_crossing`: the physicist's reference, the crossing of
  Binder's cumulant $U_L = 1 - \\langle m^4\\rangle / (3\\langle m^2\\rangle^2)$ (label
  ``eq:binder``; Binder 1981) for two sizes, bootstrapped over chains;
- :func:`extrapolate`: the weighted least-squares line $T_c(L) = T_c + a L^{-1/\\nu}$ with the
  covariance of its two parameters.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "fss_dataset_config",
    "vae_tc",
    "binder_cumulant",
    "binder_crossing",
    "Extrapolation",
    "extrapolate",
]


def fss_dataset_config(L: int) -> dict:
    """Arguments of :func:`vaecourse.ising.ising_dataset` for lattice size ``L`` (``book/ising_generative.md``).

    The same 16 temperatures in $[2.0, 2.6]$ for every size (8 in smoke mode), 640 configurations
    per temperature from 64 chains of 10 (smoke: 40 from 4 chains), 60 burn-in steps of the
    Swendsen-Wang + Metropolis sampler (30 in smoke mode), 2 steps between samples.

    Raises ``ValueError`` for an odd or too small ``L`` (the sampler needs even ``L >= 4``).
    """
    from vaecourse import settings

    if int(L) < 4 or int(L) % 2:
        raise ValueError(f"L must be even and at least 4, got {L}")
    n_temps = settings.pick(full=16, smoke=8)
    return {
        "L": int(L),
        "temperatures": np.linspace(2.0, 2.6, n_temps).round(6).tolist(),
        "n_per_T": settings.pick(full=640, smoke=40),
        "samples_per_chain": 10,
        "burn_in": settings.pick(full=60, smoke=30),
        "thin": 2,
        "algorithm": "mixed",
        "seed": int(L),
    }


def vae_tc(data, latent_dim: int = 1, hidden: int = 64, seed: int = 0, n_boot: int = 200):
    """$T_c(L)$ of one lattice size from a VAE: the steepest change of $\\langle|h|\\rangle(T)$ and of the loss.

    The steps of ``book/ising.md`` (:mod:`vaecourse.ising.vae_analysis`): a random 75/25 split, a VAE
    with ``latent_dim`` latents and ``hidden`` units trained on the training configurations (10
    epochs of 128, 3 in smoke mode; cached),
    the latent axis centred by :func:`vaecourse.ising.vae_analysis.centre_latent`,
    then :func:`vaecourse.ising.critical_temperature.bootstrap_tc` on the held-out configurations,
    resampling whole chains. ``book/ising_generative.md``.

    Shapes: ``data`` an :class:`vaecourse.ising.IsingSamples`. Result: a dict with
    :class:`~vaecourse.ising.critical_temperature.TcEstimate` values ``"latent"`` and ``"loss"``.
    """
    from vaecourse import settings
    from vaecourse.ising import critical_temperature as ct
    from vaecourse.ising import vae_analysis as va
    from vaecourse.train import TrainConfig

    t_all = data.temperature.numpy()
    train, test = va.split_configurations(t_all, test_fraction=0.25, seed=seed)
    x = va.spins_to_pixels(data.spins)
    config = TrainConfig(epochs=settings.pick(full=10, smoke=3), batch_size=128, binarize="grey", seed=seed)
    trained = va.train_vae(
        x[train],
        None,
        latent_dim=latent_dim,
        hidden=hidden,
        seed=seed,
        train_config=config,
        name=f"ising-fss-L{data.spins.shape[-1]}",
        progress=False,
    )
    # centred on the hottest configurations' median latent, so that |h| is even in m (book/ising.md)
    axis = va.centre_latent(va.latent_axis(va.latent_means(trained.model, x[test])), t_all[test])
    loss = va.reconstruction_loss(trained.model, x[test])
    chains = data.chain.numpy()[test]
    return {
        "latent": ct.bootstrap_tc(t_all[test], np.abs(axis), groups=chains, n_boot=n_boot, seed=seed),
        "loss": ct.bootstrap_tc(t_all[test], loss, groups=chains, n_boot=n_boot, seed=seed),
    }


def _moments_by_temperature(temperature, magnetisation, groups, n_boot: int, seed: int):
    """Per-temperature $\\langle m^2\\rangle$, $\\langle m^4\\rangle$ of the data and of chain-bootstrap
    resamples: ``(t_grid (K,), full (K, 2), replicates (n_boot, K, 2))``."""
    t = np.asarray(temperature, dtype=np.float64).ravel()
    m = np.asarray(magnetisation, dtype=np.float64).ravel()
    g = np.asarray(groups).ravel()
    if not t.shape == m.shape == g.shape:
        raise ValueError(
            f"temperature, magnetisation and groups must have one entry per configuration; "
            f"got {t.size}, {m.size}, {g.size}"
        )
    grid, t_index = np.unique(t, return_inverse=True)
    powers = np.stack([m**2, m**4], 1)  # (N, 2)
    rng = np.random.default_rng(seed)
    full = np.zeros((grid.size, 2))
    reps = np.zeros((n_boot, grid.size, 2))
    for k in range(grid.size):
        here = t_index == k
        chain_ids, unit = np.unique(g[here], return_inverse=True)
        sums = np.stack([np.bincount(unit, weights=powers[here, j]) for j in range(2)], 1)  # (C, 2)
        counts = np.bincount(unit).astype(np.float64)  # (C,)
        full[k] = sums.sum(0) / counts.sum()
        draw = rng.integers(0, chain_ids.size, size=(n_boot, chain_ids.size))  # (n_boot, C)
        reps[:, k] = sums[draw].sum(1) / counts[draw].sum(1)[:, None]
    return grid, full, reps


def binder_cumulant(temperature, magnetisation):
    """Binder's cumulant $U_L(T) = 1 - \\langle m^4\\rangle / (3\\langle m^2\\rangle^2)$ at each temperature.

    $U_L \\to 2/3$ in an ordered phase and $\\to 0$ in the disordered one; at $T_c$ it is nearly
    independent of $L$, so the curves of two sizes cross close to $T_c$ (label ``eq:binder``;
    Binder 1981; ``book/ising_generative.md``).

    Shapes: ``temperature``, ``magnetisation`` ``(N,)``. Result: ``(t_grid (K,), U (K,))``.

    Raises ``ValueError`` on mismatched lengths.
    """
    t = np.asarray(temperature).ravel()
    grid, full, _ = _moments_by_temperature(t, magnetisation, np.zeros(t.size, dtype=np.int64), 1, 0)
    return grid, 1.0 - full[:, 1] / (3.0 * full[:, 0] ** 2)


def _crossing(grid, u_small, u_large):
    """Temperature where $U_{\\rm small} - U_{\\rm large}$ changes sign, by linear interpolation (NaN if none)."""
    d = u_small - u_large  # below T_c the larger lattice has the larger U: d < 0; above: d > 0
    sign_change = np.flatnonzero(np.diff(np.sign(d)) != 0)
    if sign_change.size == 0:
        return np.nan
    k = sign_change[np.argmin(np.abs(grid[sign_change] - np.median(grid)))]  # the crossing nearest the middle
    return float(grid[k] - d[k] * (grid[k + 1] - grid[k]) / (d[k + 1] - d[k]))


def binder_crossing(small, large, n_boot: int = 200, seed: int = 0):
    """The temperature where the Binder cumulants of two lattice sizes cross, with a bootstrap error.

    $U_{L_1}(T) = U_{L_2}(T)$ located by linear interpolation between the grid temperatures (which
    must be the same for both sizes); the error is the standard deviation over ``n_boot`` resamples
    of whole chains at every temperature of both data sets. Label ``eq:binder``; Binder 1981;
    ``book/ising_generative.md``.

    Shapes: ``small``, ``large`` :class:`vaecourse.ising.IsingSamples`. Result: a
    :class:`~vaecourse.ising.critical_temperature.TcEstimate` (``method="binder"``).

    Raises ``ValueError`` when the two data sets have different temperatures or no crossing.
    """
    from vaecourse.ising.critical_temperature import TcEstimate

    curves = []
    for data, offset in ((small, 0), (large, 1)):
        grid, full, reps = _moments_by_temperature(
            data.temperature.numpy(), data.magnetisation.numpy(), data.chain.numpy(), n_boot, seed * 2 + offset
        )
        curves.append((grid, 1 - full[:, 1] / (3 * full[:, 0] ** 2), 1 - reps[..., 1] / (3 * reps[..., 0] ** 2)))
    (g1, u1, r1), (g2, u2, r2) = curves
    if g1.shape != g2.shape or not np.allclose(g1, g2):
        raise ValueError("the two data sets must share their temperatures (use fss_dataset_config)")
    value = _crossing(g1, u1, u2)
    if not np.isfinite(value):
        raise ValueError("the Binder cumulants do not cross inside the temperature range")
    replicates = np.array([_crossing(g1, a, b) for a, b in zip(r1, r2)])
    replicates = replicates[np.isfinite(replicates)]
    return TcEstimate(value, float(replicates.std(ddof=1)), "binder", replicates)


@dataclass(frozen=True)
class Extrapolation:
    """The fit $T_c(L) = T_c + a L^{-1/\\nu}$.

    ``tc`` and ``a`` with standard errors, $\\chi^2$ and degrees of freedom.
    """

    tc: float
    tc_error: float
    a: float
    a_error: float
    chi2: float
    dof: int
    nu: float

    def __str__(self) -> str:
        return f"T_c = {self.tc:.4f} +- {self.tc_error:.4f} (a = {self.a:+.3f}, chi2/dof = {self.chi2:.1f}/{self.dof})"

    def at(self, L):
        """The fitted $T_c(L)$ at sizes ``L`` (float or array)."""
        return self.tc + self.a * np.asarray(L, dtype=np.float64) ** (-1.0 / self.nu)


def extrapolate(sizes, values, errors, nu: float = 1.0) -> Extrapolation:
    """Weighted least squares of $T_c(L) = T_c + a\\,L^{-1/\\nu}$; the intercept is the infinite-lattice $T_c$.

    With $x_i = L_i^{-1/\\nu}$ and weights $w_i = 1/\\sigma_i^2$, the normal equations give
    $(T_c, a)$ and their covariance $(X^\\top W X)^{-1}$; $\\chi^2 = \\sum_i w_i r_i^2$ measures
    whether the line describes the points within their errors (label ``eq:fss-shift``;
    ``book/ising_generative.md``; Ferrenberg & Landau 1991). The errors are not rescaled by
    $\\chi^2$: a large $\\chi^2/\\text{dof}$ says the error bar is too optimistic.

    Shapes: ``sizes``, ``values``, ``errors`` ``(n,)`` with ``n >= 2``. Result: an :class:`Extrapolation`.

    Raises ``ValueError`` for fewer than 2 sizes, mismatched lengths or non-positive errors.
    """
    L = np.asarray(sizes, dtype=np.float64).ravel()
    y = np.asarray(values, dtype=np.float64).ravel()
    s = np.asarray(errors, dtype=np.float64).ravel()
    if not L.shape == y.shape == s.shape or L.size < 2:
        raise ValueError(f"need at least 2 sizes with one value and one error each; got {L.size}, {y.size}, {s.size}")
    if not (np.all(np.isfinite(s)) and np.all(s > 0)):
        raise ValueError("errors must be positive and finite")
    X = np.stack([np.ones_like(L), L ** (-1.0 / nu)], 1)  # (n, 2)
    w = 1.0 / s**2
    cov = np.linalg.inv(X.T @ (w[:, None] * X))  # (2, 2)
    beta = cov @ X.T @ (w * y)
    chi2 = float(np.sum(w * (y - X @ beta) ** 2))
    return Extrapolation(
        float(beta[0]),
        float(np.sqrt(cov[0, 0])),
        float(beta[1]),
        float(np.sqrt(cov[1, 1])),
        chi2,
        int(L.size - 2),
        float(nu),
    )
