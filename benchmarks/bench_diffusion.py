"""The MNIST diffusion model of book/diffusion.md with each of the three targets: ELBO and samples.

Run from the repository root (full mode: VAECOURSE_SMOKE unset):

    PYTHONPATH=$PWD VAECOURSE_OFFLINE=1 .venv/bin/python benchmarks/bench_diffusion.py --out benchmarks/diffusion

Trains the chapter's MNIST model (the same configuration and training settings) once per parameterisation
given by --targets (default: x0 and noise), prints the test ELBO and its three terms in nats per image on
the chapter's 300 binarised test digits, the seconds of training, and writes a grid of 16 samples per model
(samples-<target>.png) to --out. With ``--seeds 0 1 2`` it instead trains the chapter's x-target model
and the course's VAE it is compared with once per seed and prints both test ELBOs (the chapter's claim
that the VAE's bound is far higher, over three seeds). Models are cached like the chapter's
(vaecourse.cache).
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

import torch

from vaecourse import diffusion as dm
from vaecourse import recipes, train


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("benchmarks/diffusion"))
    parser.add_argument("--targets", nargs="+", default=["x0", "noise"], choices=dm.PARAMETERISATIONS)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seeds", type=int, nargs="*", default=None)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    mnist_train, _ = recipes.load_dataset("mnist", "train")
    mnist_test, _ = recipes.subset(recipes.load_dataset("mnist", "test"), 300)
    x_pm = 2 * train.prepare_test_set(mnist_test, "dynamic", torch.device("cpu")).reshape(-1, 784) - 1
    base = dm.DiffusionConfig(
        data_dim=784, n_steps=50, hidden=256, layers=3, parameterisation="x0", likelihood="bernoulli", clip=1.0
    )
    training = dm.DiffusionTraining(steps=1500, batch_size=128, binarize="dynamic")
    if args.seeds:
        seeds_table(base, training, mnist_train, x_pm, args.seeds)
        return
    args.out.mkdir(parents=True, exist_ok=True)
    print("| target | test ELBO (nats) | reconstruction | prior matching | denoising matching | training (s) |")
    print("| --- | --- | --- | --- | --- | --- |")
    for target in args.targets:
        config = dataclasses.replace(base, parameterisation=target)
        name = "diffusion-mnist" if target == "x0" else f"diffusion-mnist-{target}"
        started = time.perf_counter()
        trained = dm.load_or_fit(config, training, mnist_train.reshape(-1, 784), name)
        seconds = time.perf_counter() - started
        terms = dm.elbo_terms(trained.model, x_pm, torch.Generator().manual_seed(4))
        se = terms["elbo"].std().item() / len(x_pm) ** 0.5
        print(
            f"| {target} | {terms['elbo'].mean():,.0f} +- {se:,.0f} | {terms['reconstruction'].mean():.1f} "
            f"| {terms['prior'].mean():.1e} | {terms['denoising'].mean():,.0f} | "
            f"{seconds:.0f}{' (cached)' if trained.from_cache else ''} |"
        )
        samples, _ = dm.sample(trained.model, 16, torch.Generator().manual_seed(3))
        fig, ax = plt.subplots(figsize=(3, 3))
        ax.imshow(samples.reshape(4, 4, 28, 28).permute(0, 2, 1, 3).reshape(112, 112), cmap="gray_r")
        ax.set_title(f"target: {target}")
        ax.axis("off")
        fig.savefig(args.out / f"samples-{target}.png", dpi=80, bbox_inches="tight")
        plt.close(fig)


def seeds_table(base, training, mnist_train, x_pm, seeds) -> None:
    """The chapter's MNIST comparison (diffusion with the x target against the VAE) for each seed."""
    from vaecourse.config import TrainConfig
    from vaecourse.elbo import elbo_terms
    from vaecourse.models import ModelConfig

    x01 = (x_pm + 1) / 2
    print("| seed | diffusion ELBO (nats) | VAE ELBO (nats) |")
    print("| --- | --- | --- |")
    for seed in seeds:
        name = "diffusion-mnist" if seed == 0 else f"diffusion-mnist-seed{seed}"
        trained = dm.load_or_fit(base, dataclasses.replace(training, seed=seed), mnist_train.reshape(-1, 784), name)
        diffusion_elbo = dm.elbo_terms(trained.model, x_pm, torch.Generator().manual_seed(4))["elbo"]
        epochs = training.steps * training.batch_size // mnist_train.shape[0]
        vae = recipes.load_or_train(
            ModelConfig("mlp", latent_dim=20, hidden=base.hidden),
            TrainConfig(epochs=epochs, binarize="dynamic", seed=seed),
            mnist_train,
            name="diffusion-vae-baseline",
            progress=False,
        ).model.cpu()
        with torch.no_grad():
            rec, kl = elbo_terms(vae, x01.reshape(-1, 1, 28, 28), 1)
        cells = []
        for values in (diffusion_elbo, rec - kl):
            cells.append(f"{values.mean():,.1f} +- {values.std() / len(values) ** 0.5:,.1f}")
        print(f"| {seed} | {cells[0]} | {cells[1]} |", flush=True)


if __name__ == "__main__":
    main()
