"""Checks of book/ising_generative.md: the conditional ELBO of a trained conditional VAE against
quadrature (eq:cvae-elbo), the observables of sampled configurations against exact enumeration
(eq:correlation-function), Binder's cumulant (eq:binder) and the finite-size fit (eq:fss-shift).

Each function compares two independent routes; its formulas are looked up through their modules
at call time, so a test can swap in a broken formula and watch the check fail.
"""

from __future__ import annotations

import numpy as np
import torch

from vaecourse import elbo
from vaecourse.checks._core import Check, Context, Outcome, closed_outcome, mc_outcome, mean_se
from vaecourse.ising import conditional, exact, finite_size, sampler

_TEMPERATURES = (1.5, 2.27, 3.0)


def _trained_cvae(ctx: Context):
    """A conditional VAE (L = 4, 2-D latent) trained for a few epochs on Monte Carlo data, and 4 rows."""
    if "cvae" not in ctx.cache:
        from vaecourse.train import TrainConfig

        # Sampled and trained on the CPU, deliberately, whatever ctx.device is: the same data and weights
        # (so the same check numbers) on every machine; the trained model then moves to ctx.device.
        data = sampler.simulate(
            4, [1.5, 2.0, 2.5, 3.0], n_chains=32, n_samples=4, burn_in=20, thin=2, seed=ctx.seed, device="cpu"
        )
        rows = conditional.pack(data.spins, data.temperature)
        config = TrainConfig(epochs=6, batch_size=32, binarize="grey", seed=ctx.seed, device="cpu")
        model, _ = conditional.train_conditional(
            conditional.ConditionalConfig(L=4, latent_dim=2, hidden=32), rows, config, use_cache=False, progress=False
        )
        ctx.cache["cvae"] = (model, rows[:: len(rows) // 4][:4])
    model, rows = ctx.cache["cvae"]
    return model.to(ctx.device, ctx.dtype), rows.to(ctx.device, ctx.dtype)


def cvae_elbo_vs_quadrature(ctx: Context) -> Outcome:
    model, rows = _trained_cvae(ctx)
    with ctx.seeded():
        sides = conditional.elbo_vs_quadrature(model, rows, n_samples=4000)
    return mc_outcome(
        ctx,
        sides["elbo"],
        sides["left"],
        sides["elbo_se"],
        "conditional_elbo (Monte Carlo + closed-form KL) vs log p(y|T) - D[Q||p(h|y,T)] on a latent grid",
        4000,
        extra=1e-4,
        why="quadrature error of the 201 x 201 grid",
    )


def cvae_iwae_vs_quadrature(ctx: Context) -> Outcome:
    model, rows = _trained_cvae(ctx)
    view = conditional.conditioned(model, rows)
    repeats, k = 10, 500
    with ctx.seeded(), torch.no_grad():
        values = torch.stack([elbo.iwae(view, rows, k) for _ in range(repeats)])  # (R, B)
        from vaecourse import marginal

        exact_value = marginal.log_px_quadrature(view, rows)
    mean, se = mean_se(values)
    return mc_outcome(
        ctx,
        mean,
        exact_value,
        se,
        "elbo.iwae (K = 500) on the conditioned view vs marginal.log_px_quadrature (log p(y|T))",
        repeats * k,
        extra=0.02,
        why="the IWAE bias at K = 500 (it lies below log p by at most a few hundredths here)",
    )


def observables_vs_enumeration(ctx: Context) -> Outcome:
    # Sampled on the CPU, deliberately: the same configurations (so the same check numbers) on every machine.
    data = sampler.simulate(
        4, list(_TEMPERATURES), n_chains=400, n_samples=5, burn_in=20, thin=3, seed=ctx.seed, device="cpu"
    )
    spins = data.spins.reshape(len(_TEMPERATURES), -1, 4, 4)  # (K, n, 4, 4)
    sampled = torch.stack(
        [
            exact.magnetisation(spins).abs(),
            exact.energy_per_spin(spins),
            *exact.correlation_function(spins.reshape(-1, 4, 4)).reshape(len(_TEMPERATURES), -1, 3).unbind(-1)[1:],
        ],
        0,
    ).double()  # (4, K, n)
    mean, se = mean_se(sampled, dim=-1)  # (4, K)
    reference = exact.exact_enumeration(4, list(_TEMPERATURES))
    truth = torch.tensor(np.stack([reference["abs_m"], reference["u"], *reference["C"][:, 1:].T]))
    return mc_outcome(
        ctx,
        mean.to(ctx.dtype),
        truth.to(ctx.dtype),
        se.to(ctx.dtype),
        "|m|, u, C(1), C(2) of Metropolis + Swendsen-Wang samples vs exact enumeration of 2^16 states",
        spins.shape[1],
        what="Monte Carlo (chains of 5, 3 steps apart)",
    )


def energy_is_minus_two_c1(ctx: Context) -> Outcome:
    spins = torch.where(ctx.randn(64, 8, 8) > 0.3, 1.0, -1.0)
    return closed_outcome(
        ctx,
        exact.energy_per_spin(spins).to(ctx.dtype),
        -2 * exact.correlation_function(spins)[:, 1].to(ctx.dtype),
        "exact.energy_per_spin vs -2 C(1) of correlation_function on random configurations",
        extra=1e-6,
        why="float32 sums over 64 sites",
    )


def binder_limits(ctx: Context) -> Outcome:
    # An ordered phase, m = +-0.9 (U = 2/3), and a Gaussian m (U = 0), 20,000 configurations each.
    n = 20000
    ordered = 0.9 * torch.where(ctx.randn(n) > 0, 1.0, -1.0)
    gaussian = ctx.randn(n, offset=1)
    t = np.repeat([1.0, 5.0], n)
    _, u = finite_size.binder_cumulant(t, torch.cat([ordered, gaussian]).cpu().numpy())
    # the Gaussian U has standard error about sqrt(8/(3n)) (delta method for <m^4>/(3<m^2>^2))
    se = torch.tensor([0.0, (8 / (3 * n)) ** 0.5], dtype=ctx.dtype)
    return mc_outcome(
        ctx,
        torch.tensor(u, dtype=ctx.dtype),
        torch.tensor([2 / 3, 0.0], dtype=ctx.dtype),
        se,
        "binder_cumulant of m = +-0.9 and of Gaussian m vs 2/3 and 0",
        n,
    )


def fss_fit_recovers_a_line(ctx: Context) -> Outcome:
    sizes = np.array([8.0, 12.0, 16.0, 24.0, 32.0])
    values = 2.2692 + 0.9 / sizes
    fit = finite_size.extrapolate(sizes, values, np.full(5, 0.01))
    return closed_outcome(
        ctx,
        torch.tensor([fit.tc, fit.a], dtype=ctx.dtype),
        torch.tensor([2.2692, 0.9], dtype=ctx.dtype),
        "finite_size.extrapolate on exact points T_c + a/L vs the T_c and a they were made from",
        extra=1e-9,
        why="the solve of the normal equations",
    )


CHECKS = [
    Check(
        "cvae-elbo-vs-quadrature",
        "eq:cvae-elbo",
        "trained conditional VAE: its ELBO equals log p(y|T) - D[Q||p(h|y,T)], both by quadrature (eq:conditional)",
        cvae_elbo_vs_quadrature,
        seed=191,
    ),
    Check(
        "cvae-iwae-vs-quadrature",
        "eq:cvae-elbo",
        "trained conditional VAE: the conditional IWAE bound approaches log p(y|T) from quadrature",
        cvae_iwae_vs_quadrature,
        seed=191,
    ),
    Check(
        "observables-vs-enumeration",
        "eq:correlation-function",
        "4 x 4 lattice: <|m|>, u and C(r) of sampled configurations equal the exact Boltzmann averages",
        observables_vs_enumeration,
        seed=192,
    ),
    Check(
        "energy-is-minus-two-c1",
        "eq:correlation-function",
        "u = -2 C(1) configuration by configuration",
        energy_is_minus_two_c1,
        seed=193,
    ),
    Check(
        "fss-fit-recovers-a-line",
        "eq:fss-shift",
        "the weighted fit T_c(L) = T_c + a/L returns T_c and a of exact points",
        fss_fit_recovers_a_line,
        seed=195,
    ),
    Check(
        "binder-limits",
        "eq:binder",
        "Binder's cumulant is 2/3 for an ordered phase and 0 for a Gaussian magnetisation",
        binder_limits,
        seed=194,
    ),
]
