"""What an exact sample costs: the VAE-proposal samplers of book/ising_sampler.md against Metropolis and
Swendsen-Wang, on the CPU.

For each lattice size L and temperature T, every kernel of ``vaecourse.ising.vae_sampler.KERNELS`` runs
the same number of chains in parallel; the table gives the VAE proposals' acceptance rate, the effective
sample size per draw of importance sampling, the integrated autocorrelation times of |m| and u (in
steps), the milliseconds one step of all chains takes, and their product: the wall-clock milliseconds
per independent sample of all chains (smaller is better). The proposal is the course's conditional VAE
of each size (``vae_sampler.course_model``: trained on first use, then cached).

    python benchmarks/bench_ising_sampler.py                        # L = 4, 8, 16 at T_c, 1 thread
    python benchmarks/bench_ising_sampler.py --sizes 4 8 16 32 --temperatures 1.5 2.269 3.0

Writes the Markdown table, with the command that made it, to benchmarks/ising_sampler.md (``--out``).
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

import torch

from vaecourse.ising import exact, vae_sampler


def measure(L: int, T: float, model, chains: int, steps: int, burn_in: int, draws: int) -> list[dict]:
    """One row per kernel at one (L, T)."""
    proposals = vae_sampler.propose(model, T, draws, torch.Generator().manual_seed(6))
    ess = vae_sampler.effective_sample_size(proposals.log_w) / draws
    rows = []
    for kernel in vae_sampler.KERNELS:
        run = vae_sampler.run_chains(kernel, L, T, chains, steps, burn_in=burn_in, model=model, seed=7)
        tau_m = vae_sampler.integrated_autocorrelation_time(run.abs_m)
        tau_u = vae_sampler.integrated_autocorrelation_time(run.energy)
        ms = 1e3 * run.seconds_per_step
        rows.append(
            {
                "L": L,
                "T": T,
                "kernel": kernel,
                "acceptance": run.acceptance,
                "ess": ess if kernel == "vae" else float("nan"),
                "tau_m": tau_m,
                "tau_u": tau_u,
                "ms": ms,
                "cost_m": tau_m * ms,
                "cost_u": tau_u * ms,
                "reliable": steps >= 20 * max(tau_m, tau_u),
            }
        )
    return rows


def table(rows: list[dict]) -> str:
    head = (
        "| L | T | kernel | acceptance | ESS/draw | tau abs(m) | tau u | ms/step | ms per independent abs(m) "
        "| ms per independent u |\n|---|---|---|---|---|---|---|---|---|---|\n"
    )
    lines = []
    for r in rows:
        star = "" if r["reliable"] else " *"
        lines.append(
            f"| {r['L']} | {r['T']:.3f} | {r['kernel']} | {r['acceptance']:.4f} | {r['ess']:.4f} | "
            f"{r['tau_m']:.1f}{star} | {r['tau_u']:.1f}{star} | {r['ms']:.2f} | {r['cost_m']:.1f} | {r['cost_u']:.1f} |"
        )
    body = "\n".join(lines)
    while "| nan |" in body:  # overlapping matches: replace until none is left
        body = body.replace("| nan |", "| - |")
    return head + body + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[4, 8, 16])
    parser.add_argument("--temperatures", type=float, nargs="+", default=[exact.T_C])
    parser.add_argument("--chains", type=int, default=32)
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--burn-in", type=int, default=200)
    parser.add_argument("--draws", type=int, default=4000, help="proposals for the ESS per draw")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=Path(__file__).with_name("ising_sampler.md"))
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    rows = []
    for L in args.sizes:
        model = vae_sampler.course_model(L)
        for T in args.temperatures:
            rows.extend(measure(L, T, model, args.chains, args.steps, args.burn_in, args.draws))
            print(table(rows), flush=True)
    command = "python benchmarks/bench_ising_sampler.py " + " ".join(sys.argv[1:] if argv is None else argv)
    text = (
        "# The cost of exact samples with a VAE proposal (book/ising_sampler.md)\n\n"
        f"Made by `{command.strip()}` on {platform.processor() or platform.machine()}, "
        f"{args.threads} thread(s), {args.chains} chains in parallel, {args.steps} recorded steps after "
        f"{args.burn_in}; {time.perf_counter() - start:.0f} s in all. The proposal is the course's conditional "
        "VAE of each size (`vae_sampler.course_model`, full-mode settings). One step of `mixed` is an "
        "independence step, a Metropolis sweep and a fresh latent. ms per independent sample = tau x ms per "
        "step (all chains together): the wall-clock cost at equal accuracy. * marks a tau longer than a "
        "twentieth of the run, an estimate to read as a lower bound. Timings depend on the machine and its load.\n\n"
        + table(rows)
    )
    args.out.write_text(text)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
