"""Checks of book/ising_sampler.md: the pair weight by self-normalised importance sampling (eq:pair-weight)
and the independence sampler (eq:imh-acceptance) against exact enumeration of the 4 x 4 lattice, Kish's
effective sample size of log-normal weights (eq:ess), the pooled chi-square test under its null
(eq:chi-square), Kaufman's finite-lattice energy against enumeration and Onsager (eq:kaufman), and the
integrated autocorrelation time of an AR(1) series (eq:tau-int).

Each function compares two independent routes; the formulas are looked up through their module at call
time, so a test can swap in a broken formula and watch the check fail (tests/checks/mutations_sampler.py).
"""

from __future__ import annotations

import numpy as np
import torch

from vaecourse.checks._core import Check, Context, Outcome, closed_outcome, mc_outcome, mean_se
from vaecourse.ising import conditional, exact, sampler, vae_sampler

_T = 2.5  # above T_c, where a small VAE of the 4 x 4 lattice proposes well enough for short checks


def _small_cvae(ctx: Context):
    """A conditional VAE of 4 x 4 lattices trained for a few epochs on Monte Carlo data (CPU, float32)."""
    if "sampler-cvae" not in ctx.cache:
        from vaecourse.train import TrainConfig

        # On the CPU, deliberately: the same data and weights (so the same check numbers) on every machine.
        data = sampler.simulate(
            4, [1.5, 2.0, 2.5, 3.0], n_chains=64, n_samples=4, burn_in=20, thin=2, seed=ctx.seed, device="cpu"
        )
        rows = conditional.pack(data.spins, data.temperature)
        config = TrainConfig(epochs=15, batch_size=32, binarize="grey", seed=ctx.seed, device="cpu")
        model, _ = conditional.train_conditional(
            conditional.ConditionalConfig(L=4, latent_dim=2, hidden=32), rows, config, use_cache=False, progress=False
        )
        ctx.cache["sampler-cvae"] = model
    return ctx.cache["sampler-cvae"]


def _exact_4x4() -> torch.Tensor:
    reference = exact.exact_enumeration(4, [_T])
    return torch.tensor([reference["abs_m"][0], reference["u"][0]], dtype=torch.float64)


def importance_vs_enumeration(ctx: Context) -> Outcome:
    model = _small_cvae(ctx)
    generator = torch.Generator().manual_seed(ctx.run_seed * 1000 + ctx.seed)
    draws = vae_sampler.propose(model, _T, 40000, generator)
    estimates = [
        vae_sampler.importance_estimate(draws.log_w, values)
        for values in (exact.magnetisation(draws.spins).abs(), exact.energy_per_spin(draws.spins))
    ]
    mean = torch.tensor([e[0] for e in estimates], dtype=torch.float64)
    se = torch.tensor([e[1] for e in estimates], dtype=torch.float64)
    return mc_outcome(
        ctx,
        mean.to(ctx.device, ctx.dtype),
        _exact_4x4().to(ctx.device, ctx.dtype),
        se.to(ctx.device, ctx.dtype),
        "self-normalised importance sampling with w = e^{-E/T} Q(h|x) / (p(h|T) p(x|h,T)) vs exact enumeration",
        40000,
        what="self-normalised importance-sampling (delta-method)",
    )


def independence_sampler_vs_enumeration(ctx: Context) -> Outcome:
    model = _small_cvae(ctx)
    chains = vae_sampler.run_chains(
        "vae", 4, _T, 2000, 20, burn_in=60, model=model, seed=ctx.run_seed * 1000 + ctx.seed
    )
    per_chain = torch.tensor(np.stack([chains.abs_m.mean(1), chains.energy.mean(1)]))  # (2, C)
    mean, se = mean_se(per_chain, dim=1)
    return mc_outcome(
        ctx,
        mean.to(ctx.device, ctx.dtype),
        _exact_4x4().to(ctx.device, ctx.dtype),
        se.to(ctx.device, ctx.dtype),
        "<|m|>, u of 2000 independence-sampler chains (VAE proposal, acceptance min(1, w'/w)) vs exact enumeration",
        2000,
        what="Monte Carlo (independent chains of 20 steps after 60)",
    )


def ess_of_lognormal_weights(ctx: Context) -> Outcome:
    # log w ~ N(0, s^2): E[w]^2 / E[w^2] = exp(-s^2), so ESS / n -> exp(-s^2); 20 batches give the error bar.
    s, n, batches = 0.7, 20000, 20
    log_w = s * ctx.randn(batches, n).double().cpu()
    ratios = torch.tensor([vae_sampler.effective_sample_size(row) / n for row in log_w], dtype=torch.float64)
    mean, se = mean_se(ratios)
    return mc_outcome(
        ctx,
        mean.to(ctx.device, ctx.dtype),
        torch.tensor(np.exp(-(s**2)), dtype=ctx.dtype, device=ctx.device),
        se.to(ctx.device, ctx.dtype),
        "effective_sample_size / n of log-normal weights (sigma = 0.7) vs exp(-sigma^2)",
        batches * n,
        what="Monte Carlo (20 batches)",
        extra=2e-3,
        why="the O(1/n) bias of a ratio estimate",
    )


def chi_square_mean_under_the_null(ctx: Context) -> Outcome:
    # Counts drawn from the very probabilities tested: E[chi^2] = degrees of freedom (Pearson 1900).
    rng = np.random.default_rng(ctx.run_seed * 1000 + ctx.seed)
    p = rng.dirichlet(np.full(40, 0.5))
    results = [vae_sampler.goodness_of_fit(rng.multinomial(400, p), p, seed=0) for _ in range(4000)]
    chi2 = torch.tensor([r["chi2"] for r in results], dtype=torch.float64)
    dof = {r["dof"] for r in results}
    mean, se = mean_se(chi2)
    return mc_outcome(
        ctx,
        mean.to(ctx.device, ctx.dtype),
        torch.tensor(float(dof.pop()) if len(dof) == 1 else float("nan"), dtype=ctx.dtype, device=ctx.device),
        se.to(ctx.device, ctx.dtype),
        "mean chi^2 of goodness_of_fit on multinomial counts from the tested probabilities vs its degrees of freedom",
        4000,
        what="Monte Carlo (4000 multinomial draws; E[chi^2] = cells - 1 exactly for fixed cells)",
    )


def kaufman_vs_enumeration(ctx: Context) -> Outcome:
    temps = [1.5, 2.269, 3.0]
    return closed_outcome(
        ctx,
        torch.tensor(vae_sampler.kaufman_energy(4, temps), dtype=ctx.dtype, device=ctx.device),
        torch.tensor(exact.exact_enumeration(4, temps)["u"], dtype=ctx.dtype, device=ctx.device),
        "kaufman_energy(L=4) (autograd of Kaufman's log Z) vs the mean energy of all 2^16 states",
        extra=1e-9,
        why="float64 autograd through acosh",
    )


def kaufman_tends_to_onsager(ctx: Context) -> Outcome:
    temps = [1.5, 3.0]  # away from T_c the finite-size correction of L = 256 is far below 1e-9
    return closed_outcome(
        ctx,
        torch.tensor(vae_sampler.kaufman_energy(256, temps), dtype=ctx.dtype, device=ctx.device),
        torch.tensor(exact.onsager_energy(np.array(temps)), dtype=ctx.dtype, device=ctx.device),
        "kaufman_energy(L=256) vs Onsager's energy of the infinite lattice at T = 1.5 and 3",
        extra=1e-8,
        why="Onsager's elliptic integral in float64",
    )


def tau_of_ar1(ctx: Context) -> Outcome:
    # x_t = a x_{t-1} + noise has rho(t) = a^t, so tau = 1 + 2 a / (1 - a) = (1 + a) / (1 - a).
    a, chains, steps, batches = 0.8, 20, 4000, 10
    noise = ctx.randn(batches, chains, steps).double().cpu().numpy()
    x = np.empty_like(noise)
    x[..., 0] = noise[..., 0] / np.sqrt(1 - a**2)  # start in the stationary distribution
    for t in range(1, steps):
        x[..., t] = a * x[..., t - 1] + noise[..., t]
    taus = torch.tensor([vae_sampler.integrated_autocorrelation_time(batch) for batch in x], dtype=torch.float64)
    mean, se = mean_se(taus)
    return mc_outcome(
        ctx,
        mean.to(ctx.device, ctx.dtype),
        torch.tensor((1 + a) / (1 - a), dtype=ctx.dtype, device=ctx.device),
        se.to(ctx.device, ctx.dtype),
        "integrated_autocorrelation_time of AR(1) series (a = 0.8) vs (1 + a) / (1 - a)",
        batches * chains * steps,
        what="Monte Carlo (10 batches)",
        extra=0.2,
        why="the bias of the truncated window",
    )


CHECKS = [
    Check(
        "pair-weight-importance-vs-enumeration",
        "eq:pair-weight",
        "4 x 4 lattice: importance weights of (x, h) pairs give the exact <|m|> and u (the encoder's Q cancels)",
        importance_vs_enumeration,
        seed=201,
    ),
    Check(
        "independence-sampler-vs-enumeration",
        "eq:imh-acceptance",
        "4 x 4 lattice: the independence sampler with a VAE proposal gives the exact <|m|> and u",
        independence_sampler_vs_enumeration,
        seed=201,
    ),
    Check(
        "ess-of-lognormal-weights",
        "eq:ess",
        "Kish's effective sample size of log-normal weights is n exp(-sigma^2)",
        ess_of_lognormal_weights,
        seed=202,
    ),
    Check(
        "chi-square-mean-under-the-null",
        "eq:chi-square",
        "the pooled chi-square statistic of counts drawn from the tested probabilities averages its degrees of freedom",
        chi_square_mean_under_the_null,
        seed=203,
    ),
    Check(
        "kaufman-vs-enumeration",
        "eq:kaufman",
        "Kaufman's exact energy of the 4 x 4 torus equals the Boltzmann average over all 2^16 states",
        kaufman_vs_enumeration,
        seed=204,
    ),
    Check(
        "kaufman-tends-to-onsager",
        "eq:kaufman",
        "Kaufman's exact energy of a 256 x 256 torus equals Onsager's infinite-lattice energy away from T_c",
        kaufman_tends_to_onsager,
        seed=204,
    ),
    Check(
        "tau-int-of-ar1",
        "eq:tau-int",
        "the integrated autocorrelation time of an AR(1) series is (1 + a) / (1 - a)",
        tau_of_ar1,
        seed=205,
    ),
]
