"""Training throughput of vaecourse.train.fit against a pytorch/examples-style loop, and against the
machine's measured float32 matrix-multiply rate (issue 4).

    python benchmarks/bench_train.py                      # MLP 784-400-400-20 and the ConvVAE
    python benchmarks/bench_train.py --rounds 5 --images 6400 --budget 60

For each model, in one process and alternating round by round (so that a noisy, shared machine hurts
both the same way):

- package: ``vaecourse.train.fit`` on an in-memory tensor (grey levels, as the reference, and with the
  package's default dynamic binarisation);
- reference: the pytorch/examples ``vae/main.py`` pattern -- a per-sample ``Dataset`` (uint8 image ->
  float tensor per ``__getitem__``), ``DataLoader(batch_size=128, shuffle=True)``, the same model,
  BCE (sum) + KL, Adam 1e-3.

Training FLOPs per image come from ``torch.utils.flop_counter.FlopCounterMode`` over one forward and
backward step; the matmul rate is the best of several float32 ``(128 x 784) @ (784 x 400)``-like and
``1024^3`` products. ``--budget S`` also trains on the full Fashion-MNIST for S seconds with the
package's defaults and with the reference configuration and reports the test log p(x) (IWAE).
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from vaecourse import train as T  # noqa: E402
from vaecourse.models import VAE, ConvVAE  # noqa: E402

# ----------------------------------------------------------------------------- the reference loop


class PerSampleMNIST(torch.utils.data.Dataset):
    """What torchvision's MNIST + transforms.ToTensor() do per item, without torchvision: the uint8
    image becomes a PIL image, then a float tensor in [0, 1] of shape (1, 28, 28)."""

    def __init__(self, images_uint8: torch.Tensor, labels: torch.Tensor):
        self.images, self.labels = images_uint8[:, 0].numpy(), labels  # (N, 28, 28) uint8

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        import numpy as np
        from PIL import Image

        img = Image.fromarray(self.images[i], mode="L")  # torchvision.datasets.MNIST.__getitem__
        tensor = torch.from_numpy(np.array(img, np.uint8, copy=True)).view(1, 28, 28)  # ToTensor
        return tensor.float().div(255), self.labels[i]


def reference_epoch(model, loader, optimizer, deadline: float = math.inf) -> int:
    """One epoch of the pytorch/examples loop (its loss_function, its reparameterize); stops early
    once ``time.perf_counter()`` passes ``deadline``."""
    model.train()
    seen = 0
    for data, _ in loader:
        if time.perf_counter() > deadline:
            break
        optimizer.zero_grad()
        q = model.encode(data)
        mu, logvar = q.loc, 2 * torch.log(q.scale)
        std = torch.exp(0.5 * logvar)
        h = mu + torch.randn_like(std) * std
        recon = model.decoder_mean(h)
        bce = F.binary_cross_entropy(recon.view(-1, 784), data.view(-1, 784), reduction="sum")
        kld = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
        loss = bce + kld
        loss.backward()
        optimizer.step()
        seen += data.shape[0]
    return seen


# ----------------------------------------------------------------------------- measurements


def training_flops_per_image(model, batch: int = 128) -> float:
    """FLOPs of one training step (forward + backward) divided by the batch size."""
    from torch.utils.flop_counter import FlopCounterMode

    x = torch.rand(batch, 1, 28, 28)
    with FlopCounterMode(display=False) as counter:
        q = model.encode(x)
        h = q.rsample()
        loss = (-model.log_likelihood(x, h) + 0.5 * (q.scale**2 + q.loc**2 - 1 - 2 * q.scale.log()).sum(-1)).mean()
        loss.backward()
    model.zero_grad(set_to_none=True)
    return counter.get_total_flops() / batch


def matmul_rate() -> dict:
    """Best float32 matmul rate (FLOP/s) for the model's shapes and for a large square product."""
    out = {}
    for name, (m, k, n) in {
        "128x784x400": (128, 784, 400),
        "128x400x400": (128, 400, 400),
        "1024^3": (1024, 1024, 1024),
    }.items():
        a, b = torch.randn(m, k), torch.randn(k, n)
        reps = max(3, int(2e9 / (2 * m * k * n)))
        best = math.inf
        for _ in range(5):
            began = time.perf_counter()
            for _ in range(reps):
                torch.mm(a, b)
            best = min(best, (time.perf_counter() - began) / reps)
        out[name] = 2 * m * k * n / best
    return out


def bare_rate(make_model, batch: int = 128, steps: int = 20, rounds: int = 3) -> float:
    """Images/s of a bare forward + backward pass of the same model and batch (the ELBO of
    ``vaecourse.elbo.elbo_terms``; no optimiser step, no data handling): the ceiling of the loop."""
    from vaecourse import validation
    from vaecourse.elbo import elbo_terms

    torch.manual_seed(0)
    model = make_model()
    x = torch.bernoulli(torch.rand(batch, 1, 28, 28))
    best = math.inf
    with validation.disabled():
        for r in range(rounds + 1):
            began = time.perf_counter()
            for _ in range(steps):
                rec, kl = elbo_terms(model, x)
                (kl - rec).mean().backward()
                model.zero_grad(set_to_none=True)
            if r:  # the first round warms up
                best = min(best, (time.perf_counter() - began) / steps)
    return batch / best


def throughput(make_model, images_uint8, labels, rounds: int, n_images: int) -> dict:
    """Alternate package (grey), package (dynamic) and reference runs over ``n_images`` images."""
    x = images_uint8[:n_images].float().div(255)
    grey = T.TrainConfig(epochs=1, batch_size=128, binarize="grey", device="cpu")
    dynamic = T.TrainConfig(epochs=1, batch_size=128, binarize="dynamic", device="cpu")
    loader = torch.utils.data.DataLoader(
        PerSampleMNIST(images_uint8[:n_images], labels[:n_images]), batch_size=128, shuffle=True
    )
    rates = {"package_grey": [], "package_dynamic": [], "reference": []}
    torch.manual_seed(0)
    models = {name: make_model() for name in rates}
    ref_opt = torch.optim.Adam(models["reference"].parameters(), lr=1e-3)  # as pytorch/examples
    # warm-up (first-call costs: allocator, lazy imports in the optimiser)
    T.fit(models["package_grey"], x[:256], grey, progress=False)
    reference_epoch(
        models["reference"],
        torch.utils.data.DataLoader(PerSampleMNIST(images_uint8[:256], labels[:256]), batch_size=128),
        ref_opt,
    )
    for _ in range(rounds):
        for name in rates:
            began = time.perf_counter()
            if name == "reference":
                seen = reference_epoch(models[name], loader, ref_opt)
            else:
                T.fit(models[name], x, grey if name == "package_grey" else dynamic, progress=False)
                seen = x.shape[0]
            rates[name].append(seen / (time.perf_counter() - began))
    return {name: statistics.median(values) for name, values in rates.items()} | {"all": rates}


def budget_run(
    budget_s: float, make_model, train_x, test_x, config: T.TrainConfig, reference: bool, iwae_k: int, n_eval: int
) -> dict:
    """Train for ``budget_s`` seconds (both loops stop at the first batch past it), then score the test
    set: ELBO and IWAE log p(x) on dynamically binarised test images."""
    from vaecourse import evaluate as E

    torch.manual_seed(0)
    model = make_model()
    began = time.perf_counter()
    epochs = 0
    if reference:
        u8 = (train_x * 255).round().to(torch.uint8)
        loader = torch.utils.data.DataLoader(PerSampleMNIST(u8, torch.zeros(len(u8))), batch_size=128, shuffle=True)
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
        while time.perf_counter() - began < budget_s:
            seen = reference_epoch(model, loader, optimizer, deadline=began + budget_s)
            epochs += seen / len(train_x)
    else:
        progress = [0.0]

        def stop(epoch, batch, loss):
            progress[0] = epoch - 1 + min(1.0, (batch + 1) * config.batch_size / len(train_x))
            if time.perf_counter() - began > budget_s:
                raise KeyboardInterrupt

        import contextlib
        import io

        with contextlib.redirect_stderr(io.StringIO()):
            T.fit(model, train_x, T.TrainConfig(**{**config.to_dict(), "epochs": 1000}), progress=False, callback=stop)
        epochs = progress[0]  # epochs trained, the one the budget cut short included
    seconds = time.perf_counter() - began
    x = T.prepare_test_set(test_x[:n_eval], "dynamic", torch.device("cpu"))  # scored on binarised images
    torch.manual_seed(1)
    return {
        "epochs": epochs,
        "seconds": seconds,
        "elbo": float(E.elbo_per_image(model, x).mean()),
        "log_px": float(E.iwae_per_image(model, x, iwae_k).mean()),
    }


# ----------------------------------------------------------------------------- main


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--images", type=int, default=3840, help="images per timed run (multiple of 128)")
    parser.add_argument("--conv-images", type=int, default=1280)
    parser.add_argument("--budget", type=float, default=0, help="seconds per Fashion-MNIST budget run (0: skip)")
    parser.add_argument("--iwae-k", type=int, default=1000)
    parser.add_argument("--n-eval", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=0, help="torch intra-op threads (0: torch's default)")
    parser.add_argument("--skip-conv", action="store_true")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    from vaecourse import data

    images, labels = data.load_mnist("train")
    u8 = (images * 255).round().to(torch.uint8)
    while u8.shape[0] < args.images:  # the offline subset is small: repeat it (timing only)
        u8, labels = torch.cat([u8, u8]), torch.cat([labels, labels])
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs, "
        f"load average {os.getloadavg()[0]:.1f} at start"
    )
    rate = matmul_rate()
    peak = max(rate.values())
    print("float32 matmul: " + ", ".join(f"{k} {v / 1e9:.1f} GFLOP/s" for k, v in rate.items()))

    runs = [
        ("MLP 784-400-400-20 (lecture Encoder + mirrored decoder)", lambda: VAE(784, 400, 20, (1, 28, 28)), args.images)
    ]
    if not args.skip_conv:
        runs.append(("ConvVAE (Keras example, latent 2)", lambda: ConvVAE(2), args.conv_images))
    for label, make, n in runs:
        flops = training_flops_per_image(make())
        result = throughput(make, u8, labels, args.rounds, n)
        bare = bare_rate(make)
        print(f"\n{label}: {flops / 1e6:.2f} MFLOP per training image (forward + backward)")
        print(
            f"  {'bare fwd+bwd':16s} {bare:8.0f} images/s  ({bare * flops / 1e9:6.1f} GFLOP/s = "
            f"{100 * bare * flops / peak:5.1f}% of the best matmul rate; no optimiser, no data handling)"
        )
        for name in ("package_grey", "package_dynamic", "reference"):
            r = result[name]
            print(
                f"  {name:16s} {r:8.0f} images/s  ({r * flops / 1e9:6.1f} GFLOP/s = "
                f"{100 * r * flops / peak:5.1f}% of the best matmul rate)   runs: "
                + ", ".join(f"{v:.0f}" for v in result["all"][name])
            )
        print(
            f"  package / reference: grey {result['package_grey'] / result['reference']:.2f}x, "
            f"dynamic {result['package_dynamic'] / result['reference']:.2f}x"
        )

    if args.budget > 0:
        train_x, _ = data.load_fashion_mnist("train")
        test_x, _ = data.load_fashion_mnist("test")
        make = lambda: VAE(784, 400, 20, (1, 28, 28))  # noqa: E731
        print(
            f"\nFashion-MNIST, {args.budget:.0f} s budget each, test log p(x) by IWAE k={args.iwae_k} "
            f"on {args.n_eval} dynamically binarised test images:"
        )
        for name, reference in (
            ("package defaults (dynamic binarisation)", False),
            ("reference (grey levels, per-sample DataLoader)", True),
        ):
            out = budget_run(args.budget, make, train_x, test_x, T.TrainConfig(), reference, args.iwae_k, args.n_eval)
            print(
                f"  {name:48s} {out['epochs']:5.2f} epochs in {out['seconds']:.0f} s: "
                f"test ELBO {out['elbo']:.2f}, log p(x) {out['log_px']:.2f} nats"
            )
    print(f"\nload average {os.getloadavg()[0]:.1f} at the end")
    return 0


if __name__ == "__main__":
    sys.exit(main())
