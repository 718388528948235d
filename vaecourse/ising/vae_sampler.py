"""Exact samples of the Ising model with a conditional VAE as the proposal (``book/ising_sampler.md``).

The marginal $p(\\mathbf{x}\\mid T) = \\int p(\\mathbf{h}\\mid T)\\,p(\\mathbf{x}\\mid\\mathbf{h}, T)\\,d\\mathbf{h}$
has no closed form, so the samplers work on the pair $(\\mathbf{x}, \\mathbf{h})$: the target is
$\\pi(\\mathbf{x})\\,Q(\\mathbf{h}\\mid\\mathbf{x}, T)$, whose marginal in $\\mathbf{x}$ is the Boltzmann distribution
$\\pi(\\mathbf{x}) = e^{-E(\\mathbf{x})/T}/Z$ whatever the encoder, and the proposal is the VAE's generative
model $p(\\mathbf{h}\\mid T)\\,p(\\mathbf{x}\\mid\\mathbf{h}, T)$. Their ratio is the importance weight

.. math:: w(\\mathbf{x}, \\mathbf{h}) = \\frac{e^{-E(\\mathbf{x})/T}\\,Q(\\mathbf{h}\\mid\\mathbf{x}, T)}
          {p(\\mathbf{h}\\mid T)\\,p(\\mathbf{x}\\mid\\mathbf{h}, T)}

(:func:`log_weight`), used two ways: self-normalised importance sampling (:func:`importance_estimate`,
:func:`effective_sample_size`) and the independence Metropolis-Hastings sampler, which accepts a proposal
with probability $\\min(1, w'/w)$ (:func:`independence_step`; Tierney 1994, Liu 1996). Interleaved with
checkerboard Metropolis sweeps and a fresh $\\mathbf{h}\\sim Q(\\mathbf{h}\\mid\\mathbf{x}, T)$ it is the mixed
kernel of :func:`run_chains`.

What the chapter measures them with: :func:`integrated_autocorrelation_time` (Sokal's automatic window),
the exact state probabilities of a small lattice (:func:`boltzmann_probabilities`, :func:`state_index`)
and a pooled chi-square test (:func:`goodness_of_fit`), and the exact energy of a finite periodic lattice
(:func:`kaufman_energy`, Kaufman 1949).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import torch

from vaecourse.ising import conditional, exact, sampler
from vaecourse.validation import require_count

__all__ = [
    "KERNELS",
    "Proposal",
    "course_model",
    "Chains",
    "log_weight",
    "propose",
    "independence_step",
    "refresh_latent",
    "effective_sample_size",
    "importance_estimate",
    "integrated_autocorrelation_time",
    "run_chains",
    "state_index",
    "boltzmann_probabilities",
    "goodness_of_fit",
    "kaufman_energy",
]

#: ``"vae"``: one independence Metropolis-Hastings step per step; ``"mixed"``: a VAE step, then one
#: Metropolis sweep and a fresh latent; ``"metropolis"``, ``"swendsen-wang"``: the local and the cluster
#: updates of :mod:`vaecourse.ising.sampler`.
KERNELS = ("vae", "mixed", "metropolis", "swendsen-wang")


@dataclass
class Proposal:
    """Configurations with their latents and log weights: the state of ``C`` chains, or ``C`` proposals.

    Shapes: ``spins`` float32 ``(C, L, L)`` in $\\{-1, +1\\}$, ``h`` ``(C, k)``, ``log_w`` float64 ``(C,)``.
    """

    spins: torch.Tensor
    h: torch.Tensor
    log_w: torch.Tensor


def course_model(L: int, epochs: int | None = None):
    """The course's conditional VAE of $L\\times L$ lattices, trained by the recipe of ``book/ising_generative.md``.

    The same data (:func:`vaecourse.ising.ising_dataset` at the chapter's temperatures, two held out), the same
    :class:`~vaecourse.ising.conditional.ConditionalConfig` (2-D latent, MLP decoder) and the default training of
    :func:`~vaecourse.ising.conditional.train_conditional`, so at that chapter's size (16 in full mode, 8 in smoke
    mode) it is that chapter's cached model; other sizes are trained (and cached) the same way. ``epochs``
    overrides the number of training epochs (default: that of ``train_conditional``, 40, 3 in smoke mode).
    ``book/ising_sampler.md``. Result: the model, in eval mode on the CPU.
    """
    from vaecourse import settings
    from vaecourse.ising import sampler as mc

    L = require_count(L, "L", 2)
    temperatures = exact.temperature_grid(settings.pick(full=14, smoke=8), 1.5, 3.5)
    held_out = temperatures[[2, len(temperatures) // 2 + 1]].astype(np.float32)
    data = mc.ising_dataset(
        L=L,
        temperatures=temperatures.tolist(),
        n_per_T=settings.pick(full=400, smoke=60),
        samples_per_chain=20,
        burn_in=60,
        thin=2,
    )
    train = ~np.isin(data.temperature.numpy(), held_out)
    rows = conditional.pack(data.spins, data.temperature)
    train_config = None
    if epochs is not None:
        from vaecourse.train import TrainConfig

        train_config = TrainConfig(epochs=require_count(epochs, "epochs"), batch_size=128, binarize="grey")
    model, _ = conditional.train_conditional(
        conditional.ConditionalConfig(L=L, latent_dim=2), rows[train], train_config
    )
    return model


def _rows(spins: torch.Tensor, temperature: float) -> torch.Tensor:
    """Packed rows ``[pixels, T/4]`` of configurations ``(C, L, L)`` at one temperature."""
    return conditional.pack(spins, np.full(spins.shape[0], float(temperature), dtype=np.float32))


def log_weight(model, spins, h, temperature: float) -> torch.Tensor:
    """The log importance weight of pairs (x, h): target over proposal.

    $\\log w = -E(\\mathbf{x})/T + \\log Q(\\mathbf{h}\\mid\\mathbf{x}, T)
    - \\log p(\\mathbf{h}\\mid T) - \\log p(\\mathbf{x}\\mid\\mathbf{h}, T)$,
    with $E = L^2 u$ the *total* energy, and $\\log Z$ left out: it cancels
    in every ratio and every self-normalised average.
    ``book/ising_sampler.md`` (label ``eq:pair-weight``).

    Shapes: ``spins`` ``(C, L, L)`` of +-1, ``h`` ``(C, k)``; result ``(C,)``.
    """
    with torch.no_grad():
        rows = _rows(spins, temperature)  # (C, L*L + 1): pixels, T / 4
        log_q = model.encode(rows).log_prob(h).sum(-1)  # (C,)
        log_prior = model.prior_at(rows[:, -1]).log_prob(h).sum(-1)
        log_lik = model.log_likelihood(rows, h)  # (C,)
    n_spins = spins.shape[-1] * spins.shape[-2]
    energy = n_spins * exact.energy_per_spin(spins).double()  # total E
    log_boltzmann = -energy / float(temperature)  # log pi(x) + log Z
    return log_boltzmann + (log_q - log_prior - log_lik).double()


def propose(model, temperature: float, n: int, generator=None) -> Proposal:
    """``n`` draws of the VAE: h ~ p(h|T), then every spin independently.

    $s_i = +1$ with probability $\\sigma(\\text{decoder}_i(\\mathbf{h}, T))$;
    returned with their log weights (:func:`log_weight`).
    ``book/ising_sampler.md``. Result: a :class:`Proposal` of ``n`` pairs.
    """
    n = require_count(n, "n")
    t_column = torch.full((n,), float(temperature) / conditional.T_SCALE)
    with torch.no_grad():
        prior = model.prior_at(t_column)  # (n, k)
        eps = torch.randn(prior.loc.shape, generator=generator)
        h = prior.loc + prior.scale * eps  # (n, k) ~ p(h | T)
        p_up = torch.sigmoid(model.logits(h, t_column))  # (n, L*L)
    up = torch.rand(p_up.shape, generator=generator) < p_up
    spins = torch.where(up, 1.0, -1.0).reshape(n, model.L, model.L)
    return Proposal(spins, h, log_weight(model, spins, h, temperature))


def independence_step(model, state: Proposal, temperature, generator=None):
    """One independence Metropolis-Hastings step of every chain on (x, h).

    A fresh pair from :func:`propose` replaces the current one with
    probability $\\min(1, w'/w)$ (label ``eq:imh-acceptance``), which leaves
    $\\pi(\\mathbf{x})\\,Q(\\mathbf{h}\\mid\\mathbf{x}, T)$ invariant.
    ``book/ising_sampler.md``; Tierney 1994.

    Result: the new state and the bool ``(C,)`` of accepted proposals.
    """
    new = propose(model, temperature, state.spins.shape[0], generator)
    u = torch.rand(state.log_w.shape, generator=generator, dtype=torch.float64)
    accept = torch.log(u) < new.log_w - state.log_w  # (C,): u < w'/w
    spins = torch.where(accept[:, None, None], new.spins, state.spins)
    h = torch.where(accept[:, None], new.h, state.h)
    log_w = torch.where(accept, new.log_w, state.log_w)
    return Proposal(spins, h, log_w), accept


def refresh_latent(model, spins, temperature, generator=None) -> Proposal:
    """A fresh h ~ Q(h|x, T) for each configuration, with its new log weight.

    A Gibbs step on $\\mathbf{h}$ of the pair target: it makes a state whose
    $\\mathbf{x}$ was moved by another $\\pi$-invariant update (a Metropolis
    sweep) a valid state of the pair again. ``book/ising_sampler.md``.
    """
    with torch.no_grad():
        q = model.encode(_rows(spins, temperature))  # (C, k)
        eps = torch.randn(q.loc.shape, generator=generator)
        h = q.loc + q.scale * eps
    return Proposal(spins, h, log_weight(model, spins, h, temperature))


def effective_sample_size(log_w: torch.Tensor) -> float:
    """Kish's effective sample size, $(\\sum_i w_i)^2 / \\sum_i w_i^2$.

    From log weights, the largest subtracted (the scale cancels). Between 1
    (one weight dominates) and $n$ (equal weights). ``book/ising_sampler.md``
    (label ``eq:ess``); Kong 1992. Shapes: ``log_w`` ``(n,)``.
    """
    w = torch.exp(log_w.double() - log_w.max())
    return float(w.sum() ** 2 / (w**2).sum())


def importance_estimate(log_w, values) -> tuple[float, float, float]:
    """Self-normalised importance-sampling average, its standard error, ESS.

    $\\hat f = \\sum_i w_i f_i / \\sum_i w_i$; standard error (delta method)
    $\\sqrt{\\sum_i w_i^2 (f_i - \\hat f)^2} / \\sum_i w_i$.
    ``book/ising_sampler.md``. Shapes: ``log_w``, ``values`` ``(n,)``.
    Result: ``(mean, standard_error, ess)``.
    """
    w = torch.exp(log_w.double() - log_w.max())  # (n,), largest = 1
    f = values.double()
    mean = (w * f).sum() / w.sum()
    se = torch.sqrt((w**2 * (f - mean) ** 2).sum()) / w.sum()
    return float(mean), float(se), effective_sample_size(log_w)


def integrated_autocorrelation_time(series, window_factor: float = 5.0) -> float:
    """Integrated autocorrelation time $\\tau = 1 + 2\\sum_{t=1}^{W}\\rho(t)$ of ``C`` chains, in steps.

    $\\rho(t)$ is the autocovariance at lag $t$ over the autocovariance at lag 0, averaged over the chains
    (each about the mean of all chains, by FFT); the window $W$ is the smallest with
    $W \\ge c\\,\\tau(W)$, $c$ = ``window_factor`` (Sokal's automatic window). The variance of a mean of
    $n$ correlated steps is $\\tau$ times that of $n$ independent ones. ``book/ising_sampler.md``
    (label ``eq:tau-int``); Sokal 1997.

    Shapes: ``series`` ``(C, n)`` or ``(n,)``, ``n >= 2``. A series that never changes gives ``inf``.
    """
    x = np.atleast_2d(np.asarray(series, dtype=np.float64))
    n = x.shape[1]
    if n < 2:
        raise ValueError(f"need at least 2 steps per chain, got {n}")
    x = x - x.mean()
    size = 1 << (2 * n - 1).bit_length()
    spectrum = np.fft.rfft(x, size, axis=1)
    acov = np.fft.irfft(spectrum * np.conj(spectrum), size, axis=1)[:, :n].mean(0) / n  # (n,)
    if acov[0] <= 0:
        return math.inf
    rho = acov / acov[0]
    tau = 2 * np.cumsum(rho) - 1  # tau(W) = 1 + 2 sum_{t=1}^{W} rho(t)
    window = np.arange(n)
    ok = window >= window_factor * tau
    return float(tau[np.argmax(ok)] if ok.any() else tau[-1])


@dataclass
class Chains:
    """Time series of ``C`` chains: ``abs_m``, ``energy`` (per spin) ``(C, n)``; the acceptance rate of
    the VAE proposals (nan for kernels without them), the seconds one step of all chains took, and the
    final configurations ``(C, L, L)``."""

    abs_m: np.ndarray
    energy: np.ndarray
    acceptance: float
    seconds_per_step: float
    spins: torch.Tensor


def run_chains(
    kernel: str,
    L: int,
    temperature: float,
    n_chains: int,
    n_steps: int,
    burn_in: int = 0,
    model=None,
    seed: int = 0,
) -> Chains:
    """Run ``n_chains`` chains of one kernel of :data:`KERNELS` for ``burn_in + n_steps`` steps and record
    $|m|$ and $u$ after each of the last ``n_steps``.

    ``"vae"`` and ``"mixed"`` need ``model`` (a conditional VAE of $L\\times L$ lattices) and start from
    a proposal; ``"metropolis"`` and ``"swendsen-wang"`` start from random spins. One step of
    ``"mixed"`` is an independence step (:func:`independence_step`), a Metropolis sweep and a fresh
    latent (:func:`refresh_latent`); each part leaves the pair target invariant. The clock covers the
    recorded steps only. ``book/ising_sampler.md``.

    Raises ``ValueError`` for an unknown kernel, a VAE kernel without a model of this ``L``, or bad counts.
    """
    if kernel not in KERNELS:
        raise ValueError(f"kernel must be one of {KERNELS}, got {kernel!r}")
    uses_vae = kernel in ("vae", "mixed")
    if uses_vae and (model is None or model.L != L):
        raise ValueError(f"kernel {kernel!r} needs a conditional VAE of {L}x{L} lattices as model")
    n_chains, n_steps = require_count(n_chains, "n_chains"), require_count(n_steps, "n_steps")
    burn_in = require_count(burn_in, "burn_in", 0)
    generator = torch.Generator().manual_seed(int(seed))
    beta = torch.full((n_chains,), 1.0 / float(temperature))
    if uses_vae:
        state = propose(model, temperature, n_chains, generator)
    else:
        state = Proposal(torch.where(torch.rand((n_chains, L, L), generator=generator) < 0.5, 1.0, -1.0), None, None)

    def step(state):
        accepted = None
        if uses_vae:
            state, accepted = independence_step(model, state, temperature, generator)
        if kernel == "mixed":
            spins = sampler.metropolis_sweep(state.spins, beta, generator)
            state = refresh_latent(model, spins, temperature, generator)
        elif kernel == "metropolis":
            state = Proposal(sampler.metropolis_sweep(state.spins, beta, generator), None, None)
        elif kernel == "swendsen-wang":
            state = Proposal(sampler.swendsen_wang_update(state.spins, beta, generator), None, None)
        return state, accepted

    abs_m = np.empty((n_chains, n_steps))
    energy = np.empty((n_chains, n_steps))
    accepted_total = 0
    for _ in range(burn_in):
        state, _ = step(state)
    start = time.perf_counter()
    for t in range(n_steps):
        state, accepted = step(state)
        if accepted is not None:
            accepted_total += int(accepted.sum())
        abs_m[:, t] = exact.magnetisation(state.spins).abs().numpy()
        energy[:, t] = exact.energy_per_spin(state.spins).numpy()
    seconds = (time.perf_counter() - start) / n_steps
    acceptance = accepted_total / (n_chains * n_steps) if uses_vae else math.nan
    return Chains(abs_m, energy, acceptance, seconds, state.spins)


def state_index(spins: torch.Tensor) -> torch.Tensor:
    """The number of each configuration: spin $i$ (row-major) up sets bit $i$. ``(C, L, L)`` -> int64 ``(C,)``.

    ``L*L`` must be at most 62. ``book/ising_sampler.md``.
    """
    bits = (spins.reshape(spins.shape[0], -1) > 0).long()  # (C, N)
    if bits.shape[1] > 62:
        raise ValueError(f"state_index numbers lattices of at most 62 spins, got {bits.shape[1]}")
    return (bits << torch.arange(bits.shape[1])).sum(-1)


def boltzmann_probabilities(L: int, temperature: float) -> np.ndarray:
    """The exact Boltzmann probability of each of the $2^{L^2}$ states of a periodic $L\\times L$ lattice,
    indexed as :func:`state_index` numbers them.

    The energy is counted bond by bond in NumPy, $E = -\\sum_i s_i(s_{i+\\hat x} + s_{i+\\hat y})$
    (a route that shares no code with :mod:`vaecourse.ising.exact`). ``book/ising_sampler.md``.

    Result: float64 ``(2**(L*L),)`` summing to 1. Raises ``ValueError`` unless ``2 <= L <= 4``.
    """
    if not 2 <= int(L) <= 4:
        raise ValueError(f"exact enumeration is for 2 <= L <= 4 (2^(L*L) states), got L={L}")
    L = int(L)
    n = L * L
    states = ((np.arange(2**n)[:, None] >> np.arange(n)) & 1) * 2 - 1  # (2^n, n), bit i = spin i
    grid = states.reshape(-1, L, L)
    energy = -(grid * (np.roll(grid, -1, axis=2) + np.roll(grid, -1, axis=1))).sum(axis=(1, 2))
    log_w = -energy / float(temperature)
    w = np.exp(log_w - log_w.max())
    return w / w.sum()


def goodness_of_fit(counts, probabilities, min_expected: float = 5.0, seed: int = 0) -> dict:
    """Pearson's chi-square test of observed state counts against exact probabilities, rare states pooled.

    A state whose expected count $n p_s$ is at least ``min_expected`` is its own cell; the others are
    taken in a fixed random order (``seed``) and pooled into consecutive cells of expected count at least
    ``min_expected``. $\\chi^2 = \\sum_c (O_c - E_c)^2 / E_c$ with (cells - 1) degrees of freedom; the
    p-value is its upper tail. ``book/ising_sampler.md``; Pearson 1900.

    Shapes: ``counts``, ``probabilities`` ``(S,)``. Result: dict with ``"chi2"``, ``"dof"``, ``"p_value"``,
    ``"cells"``, ``"single_states"`` (cells holding one state), ``"n"``.
    """
    from scipy import stats

    counts = np.asarray(counts, dtype=np.float64)
    p = np.asarray(probabilities, dtype=np.float64)
    n = counts.sum()
    expected = n * p
    single = expected >= min_expected
    rare = np.flatnonzero(~single)
    rare = rare[np.random.default_rng(seed).permutation(len(rare))]
    cell_expected, cell_observed = list(expected[single]), list(counts[single])
    cumulative = np.cumsum(expected[rare])
    group = np.floor(cumulative / min_expected).astype(np.int64)
    if len(rare):
        group = np.minimum(group, max(group[-1] - 1, 0))  # the last, short group joins the one before
        cell_expected += list(np.bincount(group, weights=expected[rare]))
        cell_observed += list(np.bincount(group, weights=counts[rare]))
    e, o = np.array(cell_expected), np.array(cell_observed)
    chi2 = float(((o - e) ** 2 / e).sum())
    dof = len(e) - 1
    return {
        "chi2": chi2,
        "dof": dof,
        "p_value": float(stats.chi2.sf(chi2, dof)),
        "cells": len(e),
        "single_states": int(single.sum()),
        "n": int(n),
    }


def _log_abs_2cosh(x: torch.Tensor) -> torch.Tensor:
    return x.abs() + torch.log1p(torch.exp(-2 * x.abs()))


def _log_abs_2sinh(x: torch.Tensor) -> torch.Tensor:
    return x.abs() + torch.log(-torch.expm1(-2 * x.abs()))


def _kaufman_log_z(L: int, coupling: torch.Tensor) -> torch.Tensor:
    """$\\log Z$ of the periodic $L\\times L$ lattice at coupling $K = 1/T$ (Kaufman 1949, as written by Beale 1996)."""
    k2 = 2 * coupling
    cos = torch.cos(math.pi * torch.arange(2 * L, dtype=torch.float64) / L)  # (2L,), l = 0 .. 2L-1
    gamma = torch.acosh(torch.cosh(k2) / torch.tanh(k2) - cos)  # (2L,)
    gamma = torch.cat([(k2 + torch.log(torch.tanh(coupling)))[None], gamma[1:]])  # gamma_0 keeps its sign
    odd, even = gamma[1::2] * L / 2, gamma[0::2] * L / 2  # (L,) each
    logs = torch.stack(
        [_log_abs_2cosh(odd).sum(), _log_abs_2sinh(odd).sum(), _log_abs_2cosh(even).sum(), _log_abs_2sinh(even).sum()]
    )
    signs = torch.stack(
        [
            torch.ones((), dtype=torch.float64),
            torch.sign(odd).prod(),
            torch.ones((), dtype=torch.float64),
            torch.sign(even).prod(),
        ]
    )
    top = logs.max()
    total = (signs * torch.exp(logs - top)).sum()
    return math.log(0.5) + L * L / 2 * torch.log(2 * torch.sinh(k2)) + top + torch.log(total)


def kaufman_energy(L: int, temperature) -> np.ndarray:
    """Exact mean energy per spin of the periodic $L\\times L$ lattice, $u = -L^{-2}\\,\\partial\\log Z/\\partial K$.

    Kaufman's partition function of the finite torus (Kaufman 1949), differentiated by autograd in float64:
    $Z = \\tfrac12(2\\sinh 2K)^{L^2/2}\\sum_{i=1}^4 Z_i$, products over $2\\cosh$ and $2\\sinh$ of $L\\gamma_l/2$
    with $\\cosh\\gamma_l = \\cosh 2K\\coth 2K - \\cos(\\pi l/L)$ and $\\gamma_0 = 2K + \\log\\tanh K$. It tends
    to Onsager's $u(T)$ as $L\\to\\infty$. ``book/ising_sampler.md`` (label ``eq:kaufman``).

    Shapes: ``temperature`` a number or ``(K,)`` -> float64 ``(K,)``. Raises ``ValueError`` for ``L < 2``.
    """
    L = require_count(L, "L", 2)
    temps = exact._positive_temperatures(temperature, "temperature").reshape(-1)

    def energy(coupling: float) -> float:
        k = torch.tensor(coupling, dtype=torch.float64, requires_grad=True)
        (grad,) = torch.autograd.grad(_kaufman_log_z(L, k), k)
        return -float(grad) / (L * L)

    out = []
    for t in temps:
        u = energy(1.0 / t)
        if not math.isfinite(u):  # at T_c exactly gamma_0 = 0 and log|sinh| diverges: u is smooth, average
            u = 0.5 * (energy((1 + 1e-7) / t) + energy((1 - 1e-7) / t))
        out.append(u)
    return np.array(out)
