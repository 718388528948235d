"""Training throughput of the package's ConvVAE against the same network in Keras 3 on the torch back end (issue 16).

    python benchmarks/bench_keras.py --threads 1 --rounds 3            # batch sizes 32 (book/keras_vae.md) and 128
    python benchmarks/bench_keras.py --threads 2 --batch-sizes 32 128 --images 2048
    python benchmarks/bench_keras.py --threads 1 --profile             # one ConvVAE step under torch.profiler

Same network (the Keras example's, 69,076 + 65,089 parameters), same grey-level images, same batch size,
Adam 1e-3, one epoch per timed run; the two alternate round by round in one process, so a noisy,
shared machine slows both the same way:

- Keras: ``vaecourse.keras_vae.KerasVAE`` compiled with ``keras.optimizers.Adam`` and trained by
  ``keras.Model.fit(images, batch_size=B, shuffle=True)``, exactly as ``keras_vae.train`` does;
- package: ``vaecourse.train.fit`` on the ``vaecourse.models.ConvVAE`` with ``binarize="grey"``
  (weights channels-last, the model's default since issue 16);
- channels-first: the same with the weights in torch's default layout (the ConvVAE before issue 16).

The ratio printed is package / Keras in images per second (median over the rounds).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from vaecourse import keras_vae as kv  # noqa: E402 -- chooses Keras's torch back end before keras is imported

# isort: split
import keras  # noqa: E402
import torch  # noqa: E402

from vaecourse import train as T  # noqa: E402
from vaecourse.models import ConvVAE  # noqa: E402


def keras_epoch(model, images, batch_size: int) -> float:
    """Seconds for one ``keras.Model.fit`` epoch over ``images`` ``(N, 28, 28, 1)``."""
    began = time.perf_counter()
    model.fit(images, epochs=1, batch_size=batch_size, shuffle=True, verbose=0)
    return time.perf_counter() - began


def package_epoch(model, x, batch_size: int, seed: int) -> float:
    """Seconds for one ``vaecourse.train.fit`` epoch over ``x`` ``(N, 1, 28, 28)`` (grey levels)."""
    config = T.TrainConfig(epochs=1, batch_size=batch_size, binarize="grey", seed=seed, device="cpu")
    began = time.perf_counter()
    T.fit(model, x, config, progress=False)
    return time.perf_counter() - began


def compare(x, batch_size: int, rounds: int) -> dict:
    """Images per second of both, alternating; ``x`` ``(N, 1, 28, 28)`` in [0, 1]."""
    images = kv.to_keras_images(x)  # (N, 28, 28, 1)
    keras_model = kv.build_vae(2, seed=0)
    keras_model.compile(optimizer=keras.optimizers.Adam(learning_rate=1e-3))
    torch.manual_seed(0)
    torch_model = ConvVAE(2)
    # the ConvVAE as it was before issue 16: weights in torch's default channels-first layout
    first_model = ConvVAE(2).to(memory_format=torch.contiguous_format)
    # warm-up: Keras builds its train function, torch allocates its buffers
    keras_epoch(keras_model, images[: 4 * batch_size], batch_size)
    for model in (torch_model, first_model):
        package_epoch(model, x[: 4 * batch_size], batch_size, seed=0)
    rates = {"keras": [], "package": [], "channels_first": []}
    for r in range(rounds):
        rates["keras"].append(len(x) / keras_epoch(keras_model, images, batch_size))
        rates["package"].append(len(x) / package_epoch(torch_model, x, batch_size, seed=r + 1))
        rates["channels_first"].append(len(x) / package_epoch(first_model, x, batch_size, seed=r + 1))
    return {name: statistics.median(v) for name, v in rates.items()} | {"all": rates}


def profile_step(batch_size: int) -> None:
    """torch.profiler table of a few ConvVAE training steps (the loop of ``train.fit``)."""
    from torch.profiler import profile

    from vaecourse import validation
    from vaecourse.elbo import elbo_terms

    torch.manual_seed(0)
    model = ConvVAE(2)
    optimizer = T.make_optimizer(model, 1e-3)
    x = torch.rand(batch_size, 1, 28, 28)

    def step():
        rec, kl = elbo_terms(model, x)
        loss = (kl - rec).mean()
        float(loss.detach())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    with validation.disabled():
        for _ in range(3):
            step()
        with profile() as prof:
            for _ in range(5):
                step()
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=15))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=0, help="torch intra-op threads (0: torch's default)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--images", type=int, default=1024, help="images per timed epoch")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[32, 128])
    parser.add_argument("--profile", action="store_true", help="profile ConvVAE steps instead of comparing")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.profile:
        for b in args.batch_sizes:
            print(f"ConvVAE, batch {b}, {torch.get_num_threads()} threads")
            profile_step(b)
        return 0

    from vaecourse import data

    images, _ = data.load_mnist("train")
    x = images[torch.randperm(len(images), generator=torch.Generator().manual_seed(0))[: args.images]]
    print(
        f"torch {torch.__version__}, Keras {keras.__version__} ({keras.backend.backend()} back end), "
        f"{torch.get_num_threads()} threads, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at start; "
        f"{len(x)} images per epoch"
    )
    for b in args.batch_sizes:
        out = compare(x, b, args.rounds)
        runs = {name: ", ".join(f"{v:.0f}" for v in out["all"][name]) for name in out["all"]}
        print(
            f"batch {b:4d}: Keras {out['keras']:6.0f} images/s (runs {runs['keras']}), package ConvVAE "
            f"{out['package']:6.0f} images/s (runs {runs['package']}): package / Keras "
            f"{out['package'] / out['keras']:.2f}x; channels-first ConvVAE {out['channels_first']:6.0f} "
            f"images/s (runs {runs['channels_first']}): {out['channels_first'] / out['keras']:.2f}x"
        )
    print(f"load average {os.getloadavg()[0]:.1f} at the end")
    return 0


if __name__ == "__main__":
    sys.exit(main())
