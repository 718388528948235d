"""Monte Carlo samples of the 2-D Ising model: Metropolis and Swendsen-Wang, and the cached data set.

Every chain at every temperature is one slice of a single ``(C, L, L)`` tensor, so a whole data set
is updated by a handful of tensor operations (``book/ising.md``):

- :func:`metropolis_sweep`: checkerboard Metropolis (Metropolis et al. 1953). The two sublattices
  of a bipartite lattice are updated in turn; a flip is accepted with probability
  $\\min(1, e^{-\\Delta E / T})$, $\\Delta E = 2 s_i \\sum_{j \\sim i} s_j$.
- :func:`swendsen_wang_update`: the cluster algorithm of Swendsen & Wang 1987 (Phys. Rev. Lett. 58,
  86). Each bond between equal spins is activated with probability $p = 1 - e^{-2/T}$; the
  clusters this makes (found by :func:`cluster_labels`, a vectorised label propagation with
  pointer jumping) are flipped with probability 1/2 each. Near $T_c$ single-spin updates suffer
  critical slowing down; cluster updates do not.
- :func:`simulate` runs burn-in, then records every ``thin``-th step; :func:`ising_dataset` builds
  the data set of ``book/ising.md`` (after Wetzel 2017, Phys. Rev. E 96, 022140) and caches it on
  disk (:mod:`vaecourse.cache`, folder "ising"), keyed by every parameter; :func:`default_dataset_config`
  gives the course's arguments.

The exact results the samplers are checked against are in :mod:`vaecourse.ising.exact`.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from dataclasses import dataclass, fields

import numpy as np
import torch

from vaecourse import settings, validation
from vaecourse.cache import CacheEntryError, cache_file, key, load_or_build, read_tensors
from vaecourse.ising.exact import _positive_temperatures, energy_per_spin, magnetisation, temperature_grid
from vaecourse.validation import require_count

__all__ = [
    "ALGORITHMS",
    "IsingSamples",
    "metropolis_sweep",
    "swendsen_wang_update",
    "cluster_labels",
    "simulate",
    "ising_dataset",
    "default_dataset_config",
]

#: ``"metropolis"``: one checkerboard sweep per step; ``"swendsen-wang"``: one cluster update per
#: step; ``"mixed"``: one of each per step (the default: fast local and global decorrelation).
ALGORITHMS = ("metropolis", "swendsen-wang", "mixed")
#: Bytes a run of :func:`simulate` holds per lattice site at its peak, with a margin of about 20%: one
#: step's state, draws, bonds and int64 cluster labels (measured on the CPU, peak resident memory: 72 to
#: 119 bytes at L = 700 to 3000), and per site and recorded sample the int8 record and the float32
#: observables computed from it (16 to 19 bytes).
STEP_BYTES_PER_SITE, SAMPLE_BYTES_PER_SITE = 128, 22
_CACHE_VERSION = 1


def _neighbour_sum(s: torch.Tensor) -> torch.Tensor:
    """Sum of the four periodic nearest neighbours, ``(C, L, L)`` -> ``(C, L, L)``."""
    return (
        torch.roll(s, 1, dims=-1) + torch.roll(s, -1, dims=-1) + torch.roll(s, 1, dims=-2) + torch.roll(s, -1, dims=-2)
    )


def _checkerboard(size: int, device) -> torch.Tensor:
    i = torch.arange(size, device=device)
    return (i[:, None] + i[None, :]) % 2 == 0  # (L, L) bool, True on the "black" sublattice


def _check_lattice(spins, beta) -> tuple[torch.Tensor, torch.Tensor]:
    """The one check of a lattice update's input: ``(spins as float32, beta as float32 (C,))``.

    ``spins`` ``(C, L, L)`` of any real dtype (``simulate`` records int8) holding only $\\pm 1$, ``L``
    even; ``beta`` a number or ``(C,)``, finite and $\\ge 0$. The value checks cost a device sync and
    are skipped inside :func:`vaecourse.validation.disabled` (``simulate`` runs its steps there).
    Raises ``ValueError`` naming the argument.
    """
    if not isinstance(spins, torch.Tensor) or spins.dtype == torch.bool or spins.is_complex():
        raise ValueError(
            f"spins must be a real tensor of +1/-1 values, got {type(spins).__name__}"
            + (f" of {spins.dtype}" if isinstance(spins, torch.Tensor) else "")
        )
    if spins.ndim != 3 or spins.shape[-1] != spins.shape[-2]:
        raise ValueError(f"spins must have shape (chains, L, L), got {tuple(spins.shape)}")
    if spins.shape[-1] % 2:
        raise ValueError(f"L must be even (the checkerboard of a periodic lattice needs it), got L={spins.shape[-1]}")
    if isinstance(beta, bool) or not isinstance(beta, (numbers.Real, torch.Tensor, np.ndarray)):
        raise ValueError(f"beta must be a number or a tensor of shape (chains,), got {type(beta).__name__}")
    beta = torch.as_tensor(beta, device=spins.device).to(torch.float32)
    if beta.ndim == 0:
        beta = beta.expand(spins.shape[0])
    if beta.shape != spins.shape[:1]:
        raise ValueError(f"beta must have shape (chains,) = ({spins.shape[0]},), got {tuple(beta.shape)}")
    spins = spins.to(torch.float32)  # an int8 lattice would turn -2 beta into an integer
    if validation.enabled():
        if not bool((torch.isfinite(beta) & (beta >= 0)).all()):
            raise ValueError(f"beta must hold finite inverse temperatures >= 0, got {beta.tolist()[:8]}")
        if not bool((spins.abs() == 1).all()):
            raise ValueError("spins must hold only +1 and -1 (map 0/1 spins with 2 * s - 1)")
    return spins, beta


def metropolis_sweep(spins: torch.Tensor, beta: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """One checkerboard Metropolis sweep of every chain (every spin proposed once).

    Sublattice by sublattice, spin $i$ flips with probability $\\min(1, e^{-\\beta \\Delta E_i})$,
    $\\Delta E_i = 2 s_i \\sum_{j \\sim i} s_j$; spins of one colour have neighbours only of the other,
    so each half-sweep is exact detailed balance done in parallel. ``book/ising.md``;
    Metropolis et al. 1953.

    Shapes: ``spins`` ``(C, L, L)`` in $\\{-1, +1\\}$, any real dtype, ``L`` even (not modified);
    ``beta`` ``(C,)`` (or one number) inverse temperatures $1/T$, one per chain; ``generator`` a
    ``torch.Generator`` on the spins' device. Result: the new spins ``(C, L, L)``, in the dtype of
    ``spins`` (the arithmetic is float32).

    Raises ``ValueError`` on wrong shapes, odd ``L``, spins other than $\\pm 1$ or a NaN/negative beta.
    """
    dtype = spins.dtype if isinstance(spins, torch.Tensor) else None
    spins, beta = _check_lattice(spins, beta)
    black = _checkerboard(spins.shape[-1], spins.device).to(spins.dtype)  # (L, L), 1 on black
    uniform = torch.rand(spins.shape, generator=generator, device=spins.device)  # (C, L, L)
    minus_two_beta = (-2.0 * beta).to(spins.dtype)[:, None, None]  # (C, 1, 1)
    for colour in (black, 1.0 - black):
        # accept iff u < exp(-beta dE) with dE = 2 s sum(nb); dE <= 0 is always accepted.
        accept = uniform < torch.exp(minus_two_beta * spins * _neighbour_sum(spins))  # (C, L, L)
        spins = spins * (1.0 - 2.0 * colour * accept)  # flip accepted spins of this colour
    return spins.to(dtype)


def cluster_labels(bond_right: torch.Tensor, bond_down: torch.Tensor) -> torch.Tensor:
    """Connected components of the bond graph of each lattice, as site labels.

    Site $(c, i, j)$ is joined to $(c, i, j+1)$ when ``bond_right[c, i, j]`` and to $(c, i+1, j)$
    when ``bond_down[c, i, j]`` (indices modulo ``L``). Every site starts labelled by its own flat
    index; then, until nothing changes, each site takes the smallest label across its active bonds,
    hands it to its current root (a scatter-min, the "hooking" of Shiloach & Vishkin 1982), and
    labels are shortened by pointer jumping, ``label = label[label]``. Converges in a few dozen
    rounds for any cluster shape, all chains at once. ``book/ising.md``; Shiloach & Vishkin 1982.

    Shapes: ``bond_right``, ``bond_down`` bool ``(C, L, L)``. Result: int64 ``(C, L, L)``, each
    site's label the flat index ``c*L*L + i*L + j`` of the smallest site of its cluster, so labels
    are unique across chains.

    Raises ``ValueError`` when the two bond arrays are not both ``(C, L, L)``.
    """
    if bond_right.shape != bond_down.shape or bond_right.ndim != 3:
        raise ValueError(
            "bond_right and bond_down must both have shape (chains, L, L), got "
            f"{tuple(bond_right.shape)} and {tuple(bond_down.shape)}"
        )
    shape = bond_right.shape
    n_sites = bond_right.numel()
    # Labels propagate in int32 (half the memory traffic of int64) unless there are too many sites;
    # scatter and gather need int64 indices.
    dtype = torch.int32 if 2 * n_sites < 2**31 else torch.int64
    # Added to a neighbour's label where there is no bond: larger than every label, so the minimum
    # ignores it. Computed once; the bonds do not change while labels propagate.
    penalty = [
        (~bond).to(dtype) * n_sites
        for bond in (
            bond_right,
            torch.roll(bond_right, 1, dims=-1),  # bond to the left = left neighbour's right bond
            bond_down,
            torch.roll(bond_down, 1, dims=-2),  # bond upwards = upper neighbour's down bond
        )
    ]
    shifts = ((-1, -1), (1, -1), (-1, -2), (1, -2))  # right, left, down, up neighbour
    label = torch.arange(n_sites, device=bond_right.device, dtype=dtype).view(shape)  # (C, L, L)
    while True:
        best = label
        for pen, (shift, dim) in zip(penalty, shifts):
            best = torch.minimum(best, torch.roll(label, shift, dims=dim) + pen)
        best = best.reshape(-1).long()  # (C*L*L,)
        flat = best.clone()
        flat.scatter_reduce_(0, label.reshape(-1).long(), best, reduce="amin")  # hook roots
        for _ in range(2):  # pointer jumping
            flat = flat.gather(0, flat)
        new = flat.to(dtype).view(shape)
        if torch.equal(new, label):
            return label.long()
        label = new


def swendsen_wang_update(
    spins: torch.Tensor, beta: torch.Tensor, generator: torch.Generator | None = None
) -> torch.Tensor:
    """One Swendsen-Wang cluster update of every chain (Swendsen & Wang 1987).

    Bonds between equal neighbours are activated with probability $p = 1 - e^{-2\\beta}$; every
    cluster of :func:`cluster_labels` then flips with probability 1/2. Satisfies detailed balance
    for $e^{-\\beta E}$ (the Fortuin-Kasteleyn representation). ``book/ising.md``; Swendsen &
    Wang 1987.

    Shapes: ``spins`` ``(C, L, L)`` in $\\{-1, +1\\}$, any real dtype (not modified); ``beta`` ``(C,)``
    (or one number) inverse temperatures; ``generator`` a ``torch.Generator`` on the spins' device.
    Result: the new spins ``(C, L, L)`` in the dtype of ``spins``.

    Raises ``ValueError`` as :func:`metropolis_sweep`.
    """
    dtype = spins.dtype if isinstance(spins, torch.Tensor) else None
    spins, beta = _check_lattice(spins, beta)
    p_bond = (1.0 - torch.exp(-2.0 * beta)).to(spins.dtype)[:, None, None]  # (C, 1, 1)
    uniform = torch.rand((2, *spins.shape), generator=generator, device=spins.device)  # (2, C, L, L)
    bond_right = (spins == torch.roll(spins, -1, dims=-1)) & (uniform[0] < p_bond)  # (C, L, L)
    bond_down = (spins == torch.roll(spins, -1, dims=-2)) & (uniform[1] < p_bond)
    label = cluster_labels(bond_right, bond_down)  # (C, L, L), flat indices of cluster roots
    coin = torch.rand(spins.numel(), generator=generator, device=spins.device) < 0.5  # per root
    # the coin of the cluster's root, so all sites of a cluster flip together
    flip = coin.gather(0, label.reshape(-1)).view(spins.shape)  # (C, L, L)
    return (spins * (1.0 - 2.0 * flip)).to(dtype)


@dataclass
class IsingSamples:
    """Recorded configurations, ``N = n_temperatures * n_chains * n_samples`` of them.

    Ordered by temperature, then chain, then time; ``chain`` numbers the independent Markov chains
    (for error bars). ``book/ising.md``.

    Shapes: ``spins`` int8 ``(N, L, L)`` in $\\{-1, +1\\}$; ``temperature``, ``magnetisation``
    (signed $m$), ``energy`` (per spin) float32 ``(N,)``; ``chain`` int64 ``(N,)``.
    """

    spins: torch.Tensor
    temperature: torch.Tensor
    magnetisation: torch.Tensor
    energy: torch.Tensor
    chain: torch.Tensor

    def __len__(self) -> int:
        return self.spins.shape[0]

    def to(self, device) -> IsingSamples:
        """A copy with every tensor on ``device``."""
        return IsingSamples(**{f.name: getattr(self, f.name).to(device) for f in fields(self)})


def simulate(
    L: int,
    temperatures: Sequence[float] | np.ndarray | torch.Tensor,
    n_chains: int = 1,
    n_samples: int = 1,
    burn_in: int = 100,
    thin: int = 5,
    algorithm: str = "mixed",
    seed: int = 0,
    start: str = "ordered",
    device=None,
) -> IsingSamples:
    """Run ``n_chains`` independent chains at every temperature at once and record samples.

    The state is one float32 tensor ``(K * n_chains, L, L)``. After ``burn_in`` steps, a sample is
    recorded every ``thin`` steps, ``n_samples`` per chain, so the cost is
    ``burn_in + thin * n_samples`` steps of ``algorithm`` (one step of ``"mixed"`` is a
    Swendsen-Wang update followed by a Metropolis sweep). ``L`` is the linear lattice size (even,
    >= 2); ``burn_in >= 0`` steps are discarded, ``thin >= 1`` steps separate recorded
    configurations; ``algorithm`` is one of :data:`ALGORITHMS`; ``seed`` seeds the run's
    ``torch.Generator`` (results also depend on the device type); ``start`` is ``"ordered"`` (all
    $+1$) or ``"random"`` (infinite temperature); ``device`` defaults to
    :func:`vaecourse.device.default_device`. ``book/ising.md``.

    Shapes: ``temperatures`` ``(K,)`` temperatures $> 0$. Result: :class:`IsingSamples` on the CPU
    with ``N = K * n_chains * n_samples`` configurations.

    Raises ``ValueError`` when any argument is out of range, the device is unavailable, or the run
    would not fit in the device's memory (the message gives its estimated size).
    """
    from vaecourse.device import default_device

    L = require_count(L, "L", 2)
    if L % 2:
        raise ValueError(f"L must be even (checkerboard updates on a periodic lattice), got {L}")
    temps = _positive_temperatures(
        temperatures.detach().cpu().numpy() if torch.is_tensor(temperatures) else temperatures,
        "temperatures",
    ).reshape(-1)
    n_chains = require_count(n_chains, "n_chains")
    n_samples = require_count(n_samples, "n_samples")
    burn_in = require_count(burn_in, "burn_in", 0)
    thin = require_count(thin, "thin")
    if algorithm not in ALGORITHMS:
        raise ValueError(f"algorithm must be one of {ALGORITHMS}, got {algorithm!r}")
    if start not in ("ordered", "random"):
        raise ValueError(f"start must be 'ordered' or 'random', got {start!r}")
    device = default_device(device)
    C = len(temps) * n_chains
    # Before allocating: one step's state, draws, bonds and labels, and the record with its observables.
    validation.require_memory(
        C * L * L * (STEP_BYTES_PER_SITE + SAMPLE_BYTES_PER_SITE * n_samples),
        f"an Ising run of {C} chains of {L}x{L} spins with {n_samples} samples each",
        device,
    )

    generator = torch.Generator(device=device)
    generator.manual_seed(int(seed))
    temperature = torch.as_tensor(temps, dtype=torch.float32, device=device)
    temperature = temperature.repeat_interleave(n_chains)  # (C,), C = K * n_chains
    beta = 1.0 / temperature
    if start == "ordered":
        spins = torch.ones((C, L, L), device=device)
    else:
        spins = torch.rand((C, L, L), generator=generator, device=device).lt(0.5).float() * 2 - 1

    def step(s):
        if algorithm in ("swendsen-wang", "mixed"):
            s = swendsen_wang_update(s, beta, generator)
        if algorithm in ("metropolis", "mixed"):
            s = metropolis_sweep(s, beta, generator)
        return s

    recorded = torch.empty((C, n_samples, L, L), dtype=torch.int8, device=device)
    with validation.disabled():  # the state is +-1 by construction: no per-step value checks (syncs)
        for _ in range(burn_in):
            spins = step(spins)
        for t in range(n_samples):
            for _ in range(thin):
                spins = step(spins)
            recorded[:, t] = spins.to(torch.int8)
    recorded = recorded.reshape(C * n_samples, L, L).cpu()  # (N, L, L), temperature-major
    chain = torch.arange(C).repeat_interleave(n_samples)  # (N,)
    return IsingSamples(
        spins=recorded,
        temperature=temperature.cpu().repeat_interleave(n_samples),
        magnetisation=magnetisation(recorded),
        energy=energy_per_spin(recorded),
        chain=chain,
    )


def ising_dataset(
    L: int,
    temperatures: Sequence[float] | np.ndarray,
    n_per_T: int,
    samples_per_chain: int = 10,
    burn_in: int = 200,
    thin: int = 5,
    algorithm: str = "mixed",
    seed: int = 0,
    cache: bool = True,
    device=None,
) -> IsingSamples:
    """A data set of ``n_per_T`` configurations at each temperature, cached on disk.

    Uses ``ceil(n_per_T / samples_per_chain)`` independent chains per temperature (many short chains
    vectorise best) and keeps the first ``n_per_T`` configurations of each temperature. The result is
    saved in the cache (:mod:`vaecourse.cache`, folder "ising") in a file whose name hashes every
    argument above except ``cache`` and ``device``; a later call with the same arguments loads it, and
    a damaged file is regenerated with a ``CacheRebuiltWarning``. This is the one
    way the course gets its Ising data: ``book/ising.md`` trains on it (after Wetzel 2017: L = 28,
    T in [1, 3.5]).

    Shapes: ``temperatures`` ``(K,)``. Result: :class:`IsingSamples` with ``N = K * n_per_T``
    configurations, ordered by temperature.

    Raises ``ValueError`` when an argument is out of range (see :func:`simulate`).
    """
    n_per_T = require_count(n_per_T, "n_per_T")
    samples_per_chain = require_count(samples_per_chain, "samples_per_chain")
    temps = _positive_temperatures(temperatures, "temperatures").reshape(-1)
    per_chain = min(samples_per_chain, n_per_T)
    n_chains = -(-n_per_T // per_chain)
    params = {
        "version": _CACHE_VERSION,
        "L": int(L),
        "temperatures": [float(t) for t in temps],
        "n_per_T": n_per_T,
        "samples_per_chain": per_chain,
        "burn_in": int(burn_in),
        "thin": int(thin),
        "algorithm": algorithm,
        "seed": int(seed),
    }

    def build() -> IsingSamples:
        run = simulate(
            L,
            temps,
            n_chains=n_chains,
            n_samples=per_chain,
            burn_in=burn_in,
            thin=thin,
            algorithm=algorithm,
            seed=seed,
            device=device,
        )
        # Keep the first n_per_T of the n_chains * per_chain configurations of every temperature.
        keep = (torch.arange(len(run)) % (n_chains * per_chain)) < n_per_T  # (N_run,)
        return IsingSamples(**{f.name: getattr(run, f.name)[keep] for f in fields(run)})

    def load(entry) -> IsingSamples:
        stored = read_tensors(entry, ("params", "samples"))
        if stored["params"] != params:
            raise CacheEntryError(f"{entry.name} holds another data set")
        try:
            return IsingSamples(**stored["samples"])
        except TypeError as error:  # not the fields of IsingSamples
            raise CacheEntryError(f"{entry.name} holds no Ising samples ({error})") from None

    if not cache:
        return build()
    path = cache_file("ising", f"ising-L{int(L)}", key(params, versioned=False))
    return load_or_build(
        path,
        build,
        lambda samples, tmp: torch.save({"params": params, "samples": vars(samples)}, tmp),
        load,
        cheap=True,
        what="Ising data set",
    )


def default_dataset_config() -> dict:
    """Arguments of :func:`ising_dataset` for ``book/ising.md``, from ``settings.pick``.

    Full: ``L = 28`` as Wetzel 2017, 40 temperatures in $[1, 3.5]$ denser near $T_c$
    (:func:`temperature_grid`), 625 configurations each (25,000 in all) from 25 chains per
    temperature, 100 burn-in steps, 3 steps between samples (twice as many moved the VAE's
    correlation with m by < 0.01 and its T_c by < 0.02: benchmarks/RESULTS.md). Smoke: ``L = 16``,
    8 temperatures, 50 configurations each (400), in seconds.
    """
    n_temps = settings.pick(full=40, smoke=8)
    return {
        "L": settings.pick(full=28, smoke=16),
        "temperatures": temperature_grid(n_temps, 1.0, 3.5).tolist(),
        "n_per_T": settings.pick(full=625, smoke=50),
        "samples_per_chain": settings.pick(full=25, smoke=10),
        "burn_in": settings.pick(full=100, smoke=50),
        "thin": settings.pick(full=3, smoke=2),
        "algorithm": "mixed",
        "seed": 0,
    }
