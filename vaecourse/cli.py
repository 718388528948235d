"""The command line, ``python -m vaecourse COMMAND [ARGS]``: one parser class and one error style.

    info       version, run mode and device
    check      run every derivation check of the lecture (vaecourse.checks)
    train      train a VAE, write checkpoint, history and figures (vaecourse.train)
    evaluate   test ELBO and importance-weighted log p(x) of a checkpoint (vaecourse.evaluate)
    grade      grade a folder of submitted notebooks into a CSV table (vaecourse.exercises.grade)

Each command is a function ``argv -> exit code``. A mistake the user can fix prints one line,
``vaecourse COMMAND: error: ...``, on stderr and never a traceback: exit code 2 for a bad argument
or an unusable checkpoint (:class:`UsageError`), 1 for a failure while running (missing data, a
diverged run, failed checks). A command imports torch and the module it runs only when called, so
``info`` and ``--help`` answer at once.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import sys
from pathlib import Path

from vaecourse import cache, settings, validation


class UsageError(Exception):
    """A bad command line (or a checkpoint that cannot be used): one line on stderr, exit code 2."""


class _Parser(argparse.ArgumentParser):
    """argparse, with a mistake raised as :class:`UsageError` instead of a usage dump and SystemExit."""

    def error(self, message):
        raise UsageError(message)


def _error(command: str, error: BaseException, code: int) -> int:
    """Print ``error``'s first line as ``vaecourse COMMAND: error: ...`` and return ``code``."""
    text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    print(f"vaecourse{' ' + command if command else ''}: error: {text}", file=sys.stderr)
    return code


def _count(minimum: int):
    """An argparse type: a whole number >= ``minimum``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        try:
            return validation.require_count(value, "the number", minimum)
        except ValueError as error:
            raise argparse.ArgumentTypeError(str(error)) from None

    return parse


# ----------------------------------------------------------------------------- info


def info(argv: list[str]) -> int:
    """``python -m vaecourse info``: version, run mode, device and cache folder."""
    import vaecourse
    from vaecourse import device, resources

    try:
        _Parser(prog="python -m vaecourse info", description="Version, run mode and device.").parse_args(argv)
        where, folder = device.describe(), cache.folder()  # a bad VAECOURSE_DEVICE, a cache that is a file
    except (UsageError, ValueError) as error:
        return _error("info", error, 2)
    except OSError as error:
        return _error("info", error, 1)
    memory = resources.memory_limit()
    print(f"vaecourse {vaecourse.__version__}")
    print(f"mode:   {settings.mode()}")
    print(f"device: {where}")
    print(f"cpus:   {resources.threads()}")
    print(f"memory: {memory.value / 1e9:.1f} GB ({memory.source})")
    print(f"cache:  {folder}")
    return 0


# ----------------------------------------------------------------------------- check


def check(argv: list[str]) -> int:
    """``python -m vaecourse check [--only KEY ...] [--float32] [--seed N] [--list] [-v]``.

    Prints the results table; 0 when every check passes, 1 otherwise, 2 for bad usage.
    """
    import time

    import torch

    from vaecourse import checks

    parser = _Parser(prog="python -m vaecourse check", description="Run the lecture's derivation checks.")
    parser.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="KEY",
        help="run only this check name or equation label (repeatable)",
    )
    parser.add_argument("--float32", action="store_true", help="run in float32 instead of float64")
    parser.add_argument("--seed", type=int, default=0, help="seed of every random draw (default 0)")
    parser.add_argument("--device", default=None, help="device (default: the course's automatic choice)")
    parser.add_argument("--list", action="store_true", help="list the check names and labels and exit")
    parser.add_argument("-v", "--verbose", action="store_true", help="print each statement and tolerance rule")
    try:
        args = parser.parse_args(argv)
    except UsageError as error:
        return _error("check", error, 2)
    if args.list:
        for one in checks.CHECKS:
            print(f"{one.label:<26} {one.name:<38} {one.statement}")
        return 0
    dtype = torch.float32 if args.float32 else torch.float64
    start = time.perf_counter()
    try:
        if args.only:
            results = [r for key in args.only for r in checks.run(key, dtype=dtype, device=args.device, seed=args.seed)]
        else:
            results = checks.run_all(dtype=dtype, device=args.device, seed=args.seed)
    except ValueError as error:  # an unknown key, an unavailable device
        return _error("check", error, 2)
    print(checks.results_table(results, verbose=args.verbose))
    failed = [r.name for r in results if not r.passed]
    seconds = time.perf_counter() - start
    print(
        f"\n{len(results) - len(failed)}/{len(results)} checks passed in {seconds:.1f} s "
        f"({settings.mode()} mode, {str(dtype).replace('torch.', '')}, seed {args.seed})"
    )
    if failed:
        print("FAILED: " + ", ".join(failed))
        return 1
    return 0


# ----------------------------------------------------------------------------- train


def _train_parser() -> _Parser:
    from vaecourse.recipes import DATASETS
    from vaecourse.train import BINARIZATIONS

    p = _Parser(prog="python -m vaecourse train", description="Train a VAE; write checkpoint, history, figures.")
    p.add_argument("--model", choices=["mlp", "conv"], default="mlp")
    p.add_argument("--dataset", choices=list(DATASETS), default="mnist")
    p.add_argument("--latent-dim", type=_count(1), default=2)
    p.add_argument("--hidden", type=_count(1), default=400)
    p.add_argument("--epochs", type=_count(0), default=settings.pick(full=10, smoke=1))
    p.add_argument("--batch-size", type=_count(1), default=128)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument(
        "--binarize",
        choices=list(BINARIZATIONS),
        default=None,
        help="default: dynamic for the MLP, grey for the ConvVAE (as in the Keras example)",
    )
    p.add_argument("--n-train", type=_count(1), default=None, help="use a fixed random subset of N training images")
    p.add_argument("--n-test", type=_count(1), default=None, help="use a fixed random subset of N test images")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default=None)
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt")
    p.add_argument("--force", action="store_true", help="overwrite a run already in OUT")
    p.add_argument("--no-figures", action="store_true")
    p.add_argument("--no-progress", action="store_true")
    return p


def _usable_out(out: Path, resume: bool, force: bool) -> Path:
    """The one check of ``--out``, before anything is written or trained; returns the checkpoint path.

    Refuses (:class:`UsageError`) a file in place of a folder, a folder that cannot be written, a
    finished or unfinished run without ``--force`` (or ``--resume``), and a ``--resume`` with nothing
    to resume.
    """
    from vaecourse.checkpoints import CheckpointError, load_checkpoint

    if resume and force:
        raise UsageError("--resume continues the run in --out and --force overwrites it: choose one")
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {str(out)!r} is a file, not a folder; choose another --out")
    checkpoint = out / "checkpoint.pt"
    if checkpoint.exists() and not force:
        try:
            ckpt = load_checkpoint(checkpoint)
        except CheckpointError as error:
            raise UsageError(f"{error}; pass --force to overwrite it, or choose another --out") from None
        if not resume:
            state = (
                f"a finished run ({ckpt['epoch']} epochs)"
                if ckpt["complete"]
                else f"an unfinished run (stopped after epoch {ckpt['epoch']})"
            )
            raise UsageError(
                f"--out {str(out)!r} already holds {state}; pass --resume to continue it "
                "(with a larger --epochs), --force to overwrite it, or choose another --out"
            )
    elif resume and not force:
        raise UsageError(f"--resume: there is no {str(checkpoint)!r} to continue; drop --resume to start a run")
    try:  # a read-only or full disk is found now, not after an epoch of training
        cache.write_atomically(out / ".write-test", lambda tmp: tmp.write_bytes(b"vaecourse" * 1024))
        (out / ".write-test").unlink()
    except OSError as error:
        raise UsageError(f"cannot write to --out {str(out)!r}: {error}") from None
    return checkpoint


def train(argv: list[str]) -> int:
    """``python -m vaecourse train --out DIR [...]``: 0 when done, 130 when interrupted, 2 bad usage, 1 failure.

    Nothing is written before the arguments and the output folder are known to be usable; a run
    already in ``--out`` is continued only with ``--resume`` and overwritten only with ``--force``.
    """
    import torch

    from vaecourse.checkpoints import update_checkpoint
    from vaecourse.device import default_device
    from vaecourse.models import ModelConfig, build_model
    from vaecourse.recipes import load_dataset, subset
    from vaecourse.train import NonFiniteLossError, TrainConfig, fit

    try:
        args = _train_parser().parse_args(argv)
        binarize = args.binarize or ("grey" if args.model == "conv" else "dynamic")
        train_config = TrainConfig(
            epochs=args.epochs,
            batch_size=args.batch_size,
            lr=args.lr,
            binarize=binarize,
            seed=args.seed,
            device=args.device,
        )
        default_device(args.device)
        # Every data set of the command line holds 28x28 grey images: the model is sized (and refused
        # when too large for memory) before any data is loaded or file written.
        model_config = ModelConfig(args.model, latent_dim=args.latent_dim, hidden=args.hidden, data_shape=(1, 28, 28))
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(args.seed)
            model = build_model(model_config)
        out = Path(args.out)
        checkpoint = _usable_out(out, args.resume, args.force)
    except (UsageError, ValueError) as error:
        return _error("train", error, 2)
    try:
        train_set = subset(load_dataset(args.dataset, "train"), args.n_train)
        test_set = subset(load_dataset(args.dataset, "test"), args.n_test)
        history = fit(
            model,
            train_set[0],
            train_config,
            test_set[0],
            checkpoint=checkpoint,
            resume=args.resume,
            progress=not args.no_progress,
        )
        # Remember which data the checkpoint was trained on, for `vaecourse evaluate` (keeping the
        # optimiser and RNG states: a later --resume continues exactly).
        update_checkpoint(checkpoint, extra={"dataset": args.dataset, "n_test": args.n_test})
        cache.write_atomically(
            out / "history.json", lambda tmp: tmp.write_text(json.dumps(history.to_dict(), indent=1))
        )
        cache.write_atomically(out / "history.csv", lambda tmp: tmp.write_text(history.to_csv()))
        figures = []
        if not args.no_figures:
            from vaecourse import plotting

            figures = plotting.write_figures(model, history, test_set, out)
    except (ValueError, OSError, NonFiniteLossError) as error:  # also a --resume of another model
        return _error("train", error, 1)
    except KeyboardInterrupt:
        return _error(
            "train",
            KeyboardInterrupt(
                "interrupted; the checkpoint in --out holds the last finished epoch (--resume continues)"
            ),
            130,
        )
    last = len(history) - 1
    print(
        f"trained {type(model).__name__} ({args.model}, latent_dim={args.latent_dim}) on {args.dataset}: "
        f"{len(history)} epochs, {sum(history.seconds):.1f} s"
    )
    if last >= 0:
        test_elbo = history.test_elbo[last]
        print(
            f"train ELBO {history.train_elbo[last]:.2f} nats/image"
            + (f", test ELBO {test_elbo:.2f}" if test_elbo is not None else "")
            + (" (grey levels: not a log-likelihood)" if binarize == "grey" else "")
        )
    print(f"wrote {checkpoint}, history.json, history.csv" + (f", {len(figures)} figures" if figures else ""))
    return 130 if history.interrupted else 0


# ----------------------------------------------------------------------------- evaluate


def evaluate(argv: list[str]) -> int:
    """``python -m vaecourse evaluate CHECKPOINT [--iwae-k K] [--n-test N] [--expect VAE|ConvVAE]``.

    Prints the test ELBO and log p(x); exit code 2 for bad arguments or a checkpoint that is missing,
    not ours, or of another model than ``--expect``; 1 for a failure while evaluating.
    """
    from vaecourse import device
    from vaecourse.checkpoints import load_checkpoint, model_from_checkpoint
    from vaecourse.evaluate import evaluate as score
    from vaecourse.recipes import DATASETS, load_dataset
    from vaecourse.train import prepare_test_set

    parser = _Parser(prog="python -m vaecourse evaluate", description="Test ELBO and IWAE log p(x) of a checkpoint.")
    parser.add_argument("checkpoint")
    parser.add_argument("--iwae-k", type=_count(0), default=settings.pick(full=5000, smoke=50))
    parser.add_argument(
        "--n-test",
        type=_count(1),
        default=settings.pick(full=None, smoke=100),
        help="evaluate on the first N test images (default: all)",
    )
    parser.add_argument(
        "--expect", choices=["VAE", "ConvVAE"], default=None, help="refuse a checkpoint of another model"
    )
    parser.add_argument(
        "--dataset", choices=list(DATASETS), default=None, help="default: the data set recorded in the checkpoint"
    )
    parser.add_argument(
        "--grid-size",
        type=_count(3),
        default=settings.pick(full=201, smoke=61),
        help="quadrature points per latent axis (2-D latents only)",
    )
    parser.add_argument("--device", default=None)
    try:
        args = parser.parse_args(argv)
        ckpt = load_checkpoint(args.checkpoint, expect=args.expect)
        dataset = args.dataset or ckpt.get("extra", {}).get("dataset")
        if dataset is None:
            raise UsageError(f"the checkpoint does not record its data set; pass --dataset {'|'.join(DATASETS)}")
        model = model_from_checkpoint(ckpt, args.device)
    except (UsageError, ValueError) as error:
        return _error("evaluate", error, 2)
    try:
        images, _ = load_dataset(dataset, "test")
        if args.n_test is not None:
            images = images[: args.n_test]
        binarize = ckpt["train_config"]["binarize"]
        x = prepare_test_set(images, binarize, device.of(model))
        result = score(model, x, iwae_k=args.iwae_k, grey=binarize == "grey", grid_size=args.grid_size)
    except (ValueError, OSError) as error:
        return _error("evaluate", error, 1)
    except KeyboardInterrupt:
        return _error("evaluate", KeyboardInterrupt("interrupted; nothing was written"), 130)
    print(f"{ckpt['model_class']} from {Path(args.checkpoint)} on {dataset} ({binarize} test images)")
    print(result)
    return 0


def grade(argv: list[str]) -> int:
    """``grade FOLDER --out scores.csv``: grade a folder of submitted notebooks (vaecourse.exercises.grade)."""
    parser = _Parser(
        prog="python -m vaecourse grade",
        description="Grade every notebook under FOLDER: its answer cells run in a sandboxed process "
        "each, the checks judge in this one; writes one row per student and exercise.",
    )
    parser.add_argument("folder", type=Path, help="the submissions: FOLDER/<student>/<chapter>.ipynb or FOLDER/*.ipynb")
    parser.add_argument("--out", type=Path, default=Path("scores.csv"), help="the table to write (CSV)")
    parser.add_argument("--seconds", type=float, default=120.0, help="time limit per submission (default 120)")
    parser.add_argument("--cell-seconds", type=float, default=30.0, help="time limit per answer cell (default 30)")
    parser.add_argument("--memory-gb", type=float, default=3.0, help="memory limit per submission (default 3)")
    try:
        args = parser.parse_args(argv)
        if not args.folder.is_dir():
            raise UsageError(f"{args.folder} is not a folder of notebooks")
    except UsageError as error:
        return _error("grade", error, 2)
    from vaecourse.exercises import grade as grader

    limits = grader.Limits(
        seconds=args.seconds,
        cell_seconds=args.cell_seconds,
        memory_bytes=int(args.memory_gb * 2**30),
        cpu_seconds=int(2 * args.seconds) + 10,
    )
    rows = grader.grade_folder(args.folder, limits, log=lambda line: print(line, file=sys.stderr))
    grader.write_csv(rows, args.out)
    students = {row.student for row in rows}
    print(
        f"graded {len({row.notebook for row in rows})} notebooks of {len(students)} students: "
        f"{sum(row.score for row in rows)} of {len(rows)} answers right; table in {args.out}"
    )
    return 0


# ----------------------------------------------------------------------------- dispatch

# command -> (function, one-line help). Each function takes argv and returns an exit code.
COMMANDS = {
    "info": (info, "version, run mode and device"),
    "check": (check, "run every derivation check; non-zero exit on failure"),
    "train": (train, "train a VAE and write checkpoint, history and figures"),
    "evaluate": (evaluate, "test ELBO and IWAE log p(x) of a checkpoint"),
    "grade": (grade, "grade a folder of submitted notebooks into a CSV table"),
}


def usage() -> str:
    lines = ["usage: python -m vaecourse COMMAND [ARGS]", "", "commands:"]
    lines += [f"  {name:<10} {help_}" for name, (_, help_) in COMMANDS.items()]
    return "\n".join(lines)


@contextlib.contextmanager
def _printable_streams():
    """Within the block, characters stdout or stderr cannot encode are printed as escapes (``\\xe9``).

    An ASCII-only stdout (``PYTHONIOENCODING=ascii``, a C locale without UTF-8 mode) would otherwise
    raise ``UnicodeEncodeError`` on printing a non-ASCII path, after the work was done: a finished
    ``train`` would exit 1 and ``info``/``evaluate`` would lose their results. The streams' error
    handlers are restored on leaving (``main`` may run inside a notebook's process).
    """
    changed = []
    for stream in (sys.stdout, sys.stderr):
        errors = getattr(stream, "errors", None)
        if errors in ("strict", "surrogateescape") and hasattr(stream, "reconfigure"):
            try:
                stream.reconfigure(errors="backslashreplace")
                changed.append((stream, errors))
            except (ValueError, OSError):  # a stream that cannot change now: leave it
                pass
    try:
        yield
    finally:
        for stream, errors in changed:
            with contextlib.suppress(ValueError, OSError):
                stream.reconfigure(errors=errors)


def main(argv: list[str] | None = None) -> int:
    """Run ``python -m vaecourse`` with ``argv`` (default: ``sys.argv[1:]``); return the exit code.

    Whatever stdout's encoding, the results are printed (characters it cannot show as escapes).
    """
    with _printable_streams():
        return _main(argv)


def _main(argv: list[str] | None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in {"-h", "--help"}:
        print(usage())
        return 0 if argv else 2
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        return _error("", UsageError(f"unknown command {name!r}; choose one of {', '.join(COMMANDS)}"), 2)
    try:
        return int(COMMANDS[name][0](rest) or 0)
    except KeyboardInterrupt:
        return _error(name, KeyboardInterrupt("interrupted"), 130)
    except (ValueError, OSError) as error:  # one a command did not expect (a bad device in a check, ...)
        return _error(name, error, 1)
    except (MemoryError, RuntimeError) as error:  # torch.OutOfMemoryError is a RuntimeError
        message = out_of_memory(error)
        if message is None:
            raise
        return _error(name, MemoryError(message), 1)


_ALLOCATION = re.compile(r"tried to allocate (\d+) bytes|tried to allocate ([\d.]+) ([KMGT]i?B)", re.IGNORECASE)
_UNITS = {"KiB": 2**10, "MiB": 2**20, "GiB": 2**30, "TiB": 2**40, "KB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12}


def out_of_memory(error: BaseException) -> str | None:
    """The README's one line for an allocator failure, or None when ``error`` is not one.

    An allocator failure is a ``MemoryError``, a ``torch.OutOfMemoryError`` (the GPU's) or torch's
    ``RuntimeError`` "DefaultCPUAllocator: can't allocate memory: you tried to allocate N bytes". The
    line gives the size asked for (when the error says it) and the limit met
    (:func:`vaecourse.validation.memory_limit`): ``"... would need about N GB, more than the M GB
    this container may use (cgroup memory.max); choose smaller sizes"``.
    """
    text = str(error)
    gpu = type(error).__name__ == "OutOfMemoryError" or "CUDA out of memory" in text
    if not (isinstance(error, MemoryError) or gpu or "can't allocate memory" in text):
        return None
    limit = validation.memory_limit("cuda" if gpu else "cpu")
    where = f"of memory of this {'cuda' if gpu else 'cpu'}" if limit.source in ("host RAM", "cuda") else limit.phrase()
    found = _ALLOCATION.search(text)
    if found is None:
        return f"ran out of memory within the {limit.value / 1e9:.1f} GB {where}; choose smaller sizes"
    nbytes = int(found[1]) if found[1] else float(found[2]) * _UNITS[found[3]]
    if nbytes > limit.value:
        return validation.memory_message(int(nbytes), "this run", "cuda" if gpu else "cpu", limit)
    return (
        f"ran out of memory: one more allocation of about {nbytes / 1e9:.1f} GB did not fit in the "
        f"{limit.value / 1e9:.1f} GB {where}; choose smaller sizes"
    )


__all__ = ["COMMANDS", "UsageError", "check", "evaluate", "grade", "info", "main", "out_of_memory", "train", "usage"]
