"""Throughput of the Ising samplers: lattice configurations updated per second.

One "configuration" is one L x L lattice taken through one update: a full checkerboard Metropolis
sweep (every spin proposed once), or one Swendsen-Wang cluster update. All chains are one tensor,
so the rate is (chains x updates) / seconds. Also times the course's full-mode data set
(``vaecourse.ising.default_dataset_config`` in full mode, not cached).

    python benchmarks/bench_ising.py                 # L = 28, 30, 32 on the default device
    python benchmarks/bench_ising.py --threads 1 --dataset

Prints a Markdown table for benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import time

import torch

from vaecourse import ising
from vaecourse.device import default_device, describe


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def rate(update, L: int, chains: int, temperature: float, repeats: int, device) -> float:
    """Configurations per second of ``update`` at one temperature, after equilibrating warm-up."""
    generator = torch.Generator(device=device).manual_seed(0)
    beta = torch.full((chains,), 1.0 / temperature, device=device)
    spins = torch.ones((chains, L, L), device=device)
    for _ in range(3):  # warm-up: allocations, and clusters of typical size at this temperature
        spins = update(spins, beta, generator)
    _sync(device)
    start = time.perf_counter()
    for _ in range(repeats):
        spins = update(spins, beta, generator)
    _sync(device)
    return chains * repeats / (time.perf_counter() - start)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[28, 30, 32])
    parser.add_argument("--chains", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--device", default=None)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--dataset", action="store_true", help="also time the full-mode data set")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = default_device(args.device)
    print(f"device: {describe(device)}, torch {torch.__version__}, {args.chains} chains\n")
    print("| L | Metropolis sweeps, T=2.27 | Swendsen-Wang, T=1.5 | Swendsen-Wang, T=2.27 | Swendsen-Wang, T=3.5 |")
    print("| --- | --- | --- | --- | --- |")
    for L in args.sizes:
        metro = rate(ising.metropolis_sweep, L, args.chains, ising.T_C, 5 * args.repeats, device)
        sw = [rate(ising.swendsen_wang_update, L, args.chains, T, args.repeats, device) for T in (1.5, ising.T_C, 3.5)]
        print(f"| {L} | {metro:,.0f} | " + " | ".join(f"{r:,.0f}" for r in sw) + " |", flush=True)
    if args.dataset:
        from vaecourse import settings

        config = ising.default_dataset_config() if not settings.is_smoke() else None
        if config is None:
            print("\n(--dataset times the full-mode data set: unset VAECOURSE_SMOKE)")
            return 0
        start = time.perf_counter()
        samples = ising.ising_dataset(**config, cache=False, device=device)
        seconds = time.perf_counter() - start
        print(
            f"\nfull-mode data set: {len(samples):,} configurations of {config['L']}x{config['L']} "
            f"at {len(config['temperatures'])} temperatures in {seconds:.1f} s "
            f"({len(samples) / seconds:,.0f} recorded configurations/s)"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
