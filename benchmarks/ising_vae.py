"""The Ising-VAE experiment of book/ising.md (issue 8): correlation with the magnetisation and T_c.

Runs the steps of ``book/ising.md`` (:mod:`vaecourse.ising.vae_analysis`,
:mod:`vaecourse.ising.critical_temperature`) for a 1-D and a 2-D latent space on the course's
Ising data set (full mode unless ``VAECOURSE_SMOKE=1``), and prints a Markdown section for
benchmarks/RESULTS.md: |corr(latent, m)|, |corr(PC1, m)|, and T_c from <|latent|>(T) and from the
reconstruction loss, each with its bootstrap error over Markov chains, next to Onsager's 2.269.

    python benchmarks/ising_vae.py                  # full mode: L = 28, 25,000 configurations
    python benchmarks/ising_vae.py --threads 1      # one CPU thread (a busy shared machine)
    VAECOURSE_SMOKE=1 python benchmarks/ising_vae.py

The data set and the trained models go to the course's cache (``VAECOURSE_CACHE``), so the book's
chapter reuses them; a second run only re-analyses.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from vaecourse import ising, settings
from vaecourse.device import default_device, describe
from vaecourse.ising import critical_temperature, vae_analysis


def experiment(data, latent_dim: int) -> dict:
    """The chapter's steps for one latent dimension: split, pixels, training, latents, PCA, T_c."""
    t = data.temperature.numpy()
    train, test = vae_analysis.split_configurations(t, test_fraction=0.25, seed=0)
    x = vae_analysis.spins_to_pixels(data.spins)  # (N, L*L)
    model = vae_analysis.train_vae(x[train], x[test], latent_dim=latent_dim, progress=False).model
    axis = vae_analysis.latent_axis(vae_analysis.latent_means(model, x[test]))  # (N_test,)
    pca = vae_analysis.pca_scores(x[test], fit_on=x[train])[:, 0]  # (N_test,)
    loss = vae_analysis.reconstruction_loss(model, x[test])  # (N_test,)
    m, chain = data.magnetisation.numpy()[test], data.chain.numpy()[test]
    return {
        "latent_dim": latent_dim,
        "corr_latent": abs(vae_analysis.pearson(axis, m)),
        "corr_pca": abs(vae_analysis.pearson(pca, m)),
        "tc": critical_temperature.bootstrap_tc(t[test], np.abs(axis), groups=chain),
        "tc_loss": critical_temperature.bootstrap_tc(t[test], loss, groups=chain),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--latent-dims", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    config = ising.default_dataset_config()
    began = time.perf_counter()
    data = ising.ising_dataset(**config)
    data_seconds = time.perf_counter() - began
    rows = []
    for latent_dim in args.latent_dims:
        began = time.perf_counter()
        result = experiment(data, latent_dim)
        seconds = time.perf_counter() - began
        print(
            f"latent_dim = {latent_dim}: |corr(latent, m)| = {result['corr_latent']:.3f}, "
            f"T_c = {result['tc']} and {result['tc_loss']}",
            flush=True,
        )
        rows.append((result, seconds))

    print()
    print("## Ising VAE (issue 8)")
    print()
    print(
        f"`{settings.mode()}` mode on {describe(default_device())}: L = {config['L']}, "
        f"{len(data)} configurations at {len(config['temperatures'])} temperatures in "
        f"[{min(config['temperatures']):.1f}, {max(config['temperatures']):.1f}] "
        f"(data set: {data_seconds:.0f} s, or loaded from the cache); 25 % held out for the "
        "analysis; T_c by the steepest change of the curve, +- the bootstrap standard error over "
        f"Markov chains (200 resamples). Onsager: T_c = {ising.T_C:.4f}."
    )
    print()
    print(
        "| latent_dim | \\|corr(latent, m)\\| | \\|corr(PC1, m)\\| | T_c from <\\|latent\\|>(T) "
        "| T_c from loss(T) | train + analyse (s) |"
    )
    print("| --- | --- | --- | --- | --- | --- |")
    for result, seconds in rows:
        print(
            f"| {result['latent_dim']} | {result['corr_latent']:.3f} | {result['corr_pca']:.3f} | "
            f"{result['tc']} ({result['tc'].value - ising.T_C:+.3f}) | "
            f"{result['tc_loss']} ({result['tc_loss'].value - ising.T_C:+.3f}) | {seconds:.0f} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
