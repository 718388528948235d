"""The training loop: maximise the ELBO by stochastic gradient ascent (``run_epoch``, ``fit``, history).

Each step draws a mini-batch $\\{\\mathbf{x}_b\\}$, one reparameterised sample
$\\mathbf{h}_b = \\boldsymbol\\mu(\\mathbf{x}_b) + \\boldsymbol\\sigma(\\mathbf{x}_b)\\odot\\boldsymbol\\epsilon$
per image, and takes an Adam step on the loss

.. math:: \\ell = -\\frac{1}{B}\\sum_b \\Big[\\log p(\\mathbf{x}_b\\mid\\mathbf{h}_b)
          - \\mathcal{D}[Q(\\mathbf{h}\\mid\\mathbf{x}_b)\\,\\|\\,\\mathcal{N}(0, I)]\\Big]

(label ``eq:training-objective``; book/pytorch_vae.md; Kingma & Welling 2013, arXiv:1312.6114). The
ELBO and its two terms come from :mod:`vaecourse.elbo`; nothing here re-derives them. One epoch is
:func:`run_epoch`, which :func:`vaecourse.objectives.fit_together` and
:func:`vaecourse.ising.conditional.train_conditional` call too; :func:`fit` adds resume, checkpoints
and Ctrl-C around it. The checkpoint file format is :mod:`vaecourse.checkpoints`, the trained-model
cache and the chapters' named models :mod:`vaecourse.recipes` (on :mod:`vaecourse.cache`), the
command line :mod:`vaecourse.cli`.

Data live in memory as one tensor (``(N, *data_shape)``, values in [0, 1]) and are sliced into
batches by a random permutation -- no per-sample ``Dataset`` in the hot loop. Binarisation is
``"dynamic"`` (a fresh Bernoulli draw each time an image is used; Burda et al. 2015), ``"static"``
(one fixed draw) or ``"grey"`` (grey levels scored with the Bernoulli formula, as the Keras and
pytorch/examples code do -- a number that is *not* a log-likelihood).
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import torch

from vaecourse import settings, validation
from vaecourse.checkpoints import CheckpointError, load_checkpoint, rng_state, save_checkpoint, set_rng_state
from vaecourse.config import BINARIZATIONS, TrainConfig
from vaecourse.data import dynamic_binarize, images_of, static_binarize
from vaecourse.device import default_device
from vaecourse.elbo import elbo_terms
from vaecourse.models import VAEModel

# Seed of the one fixed binarisation of the test set, so test ELBOs compare across runs and seeds.
TEST_BINARIZATION_SEED = 20240423


class NonFiniteLossError(FloatingPointError):
    """The training loss became NaN or infinite (``value``) at ``epoch`` (from 1), ``batch`` (from 0).

    ``note`` adds what the caller knows (the last good checkpoint, the model that diverged); the
    message says what to do.
    """

    def __init__(self, value: float, epoch: int, batch: int, note: str = ""):
        super().__init__(value, epoch, batch, note)  # the arguments, so that the error pickles
        self.value, self.epoch, self.batch, self.note = value, epoch, batch, note

    def __str__(self) -> str:
        return (
            f"the training loss became {self.value} at epoch {self.epoch}, batch {self.batch}{self.note}. "
            "Lower the learning rate (lr) or check the data for extreme values."
        )


@dataclass
class History:
    """Per-epoch record of a training run: ELBO and its two terms (nats per image), on the training
    set (running mean over the epoch's batches) and the test set (after the epoch), and seconds."""

    epoch: list = field(default_factory=list)
    train_elbo: list = field(default_factory=list)
    train_reconstruction: list = field(default_factory=list)
    train_kl: list = field(default_factory=list)
    test_elbo: list = field(default_factory=list)
    test_reconstruction: list = field(default_factory=list)
    test_kl: list = field(default_factory=list)
    seconds: list = field(default_factory=list)
    # True when Ctrl-C stopped the run before its last epoch.
    interrupted: bool = False

    COLUMNS = (
        "epoch",
        "train_elbo",
        "train_reconstruction",
        "train_kl",
        "test_elbo",
        "test_reconstruction",
        "test_kl",
        "seconds",
    )

    def to_dict(self) -> dict:
        return {**{c: list(getattr(self, c)) for c in self.COLUMNS}, "interrupted": self.interrupted}

    @classmethod
    def from_dict(cls, data: dict) -> History:
        return cls(**{c: list(data.get(c, [])) for c in cls.COLUMNS}, interrupted=bool(data.get("interrupted")))

    def to_csv(self) -> str:
        rows = [",".join(self.COLUMNS)]
        for i in range(len(self.epoch)):
            rows.append(
                ",".join("" if getattr(self, c)[i] is None else repr(getattr(self, c)[i]) for c in self.COLUMNS)
            )
        return "\n".join(rows) + "\n"

    def __len__(self) -> int:
        return len(self.epoch)

    def __repr__(self) -> str:
        if not self.epoch:
            return "History(no epochs)"
        lines = [
            f"History({len(self)} epochs{', interrupted' if self.interrupted else ''})",
            "  epoch  train ELBO  test ELBO   recon.     KL   seconds",
        ]
        shown = range(len(self)) if len(self) <= 8 else [*range(3), None, *range(len(self) - 3, len(self))]
        for i in shown:
            if i is None:
                lines.append("    ...")
                continue
            test = self.test_elbo[i]
            test_s = f"{test:10.2f}" if test is not None else "         -"
            lines.append(
                f"  {self.epoch[i]:5d} {self.train_elbo[i]:11.2f} {test_s} "
                f"{self.train_reconstruction[i]:8.2f} {self.train_kl[i]:6.2f} {self.seconds[i]:8.1f}"
            )
        return "\n".join(lines)


# ----------------------------------------------------------------------------- data handling


def _check_images(x: torch.Tensor, model, name: str, config: TrainConfig) -> None:
    if x.ndim < 2 or x.shape[0] == 0:
        raise ValueError(f"{name} must be a non-empty batch of images (N, ...), got shape {tuple(x.shape)}")
    if math.prod(x.shape[1:]) != math.prod(model.data_shape):
        raise ValueError(f"{name} images have shape {tuple(x.shape[1:])}, the model expects {model.data_shape}")
    if not torch.isfinite(x).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    if model.likelihood == "bernoulli" or config.binarize != "grey":
        lo, hi = float(x.min()), float(x.max())
        if lo < 0 or hi > 1:
            raise ValueError(f"{name} values must lie in [0, 1] (got {lo:.3g}..{hi:.3g}); divide raw pixels by 255")


def _prepare(x: torch.Tensor, binarize: str, seed: int, device) -> torch.Tensor:
    """Move to the device as float32; a static binarisation is drawn once here."""
    x = x.to(device=device, dtype=torch.float32)
    if binarize == "static":
        x = static_binarize(x, seed)
    return x


def prepare_test_set(x: torch.Tensor, binarize: str, device) -> torch.Tensor:
    """The test set as scored: one fixed binarisation (seed ``TEST_BINARIZATION_SEED``) unless grey."""
    return _prepare(x, "grey" if binarize == "grey" else "static", TEST_BINARIZATION_SEED, device)


@torch.no_grad()
def dataset_elbo(model: VAEModel, x: torch.Tensor, batch_size: int = 1000, n_samples: int = 1) -> dict:
    """Mean ELBO, reconstruction and KL (nats per image) of images ``x`` ``(N, ...)`` already prepared
    (binarised or grey). Stochastic: the reconstruction term uses sampled h, as an ELBO must."""
    if x.ndim < 2 or x.shape[0] == 0:
        raise ValueError(f"x must be a non-empty batch of images (N, ...), got shape {tuple(x.shape)}")
    was_training = model.training
    model.eval()
    rec_sum = kl_sum = 0.0
    for start in range(0, x.shape[0], batch_size):
        rec, kl = elbo_terms(model, x[start : start + batch_size], n_samples)  # (b,), (b,)
        rec_sum += float(rec.sum())
        kl_sum += float(kl.sum())
    model.train(was_training)
    n = x.shape[0]
    return {"elbo": (rec_sum - kl_sum) / n, "reconstruction": rec_sum / n, "kl": kl_sum / n}


# ----------------------------------------------------------------------------- the training loop


def make_optimizer(model, lr: float) -> torch.optim.Adam:
    """Adam (Kingma & Ba 2014), the fused single-kernel version where this torch and device have it:
    on a CPU it updates the parameters about 5x faster than the default per-tensor loop (see
    benchmarks/RESULTS.md), with the same update rule."""
    try:
        return torch.optim.Adam(model.parameters(), lr=lr, fused=True)
    except (RuntimeError, ValueError, TypeError):  # older torch or a device without the fused kernel
        return torch.optim.Adam(model.parameters(), lr=lr)


def run_epoch(
    loss_fn,
    optimizer,
    x,
    batch_size,
    generator,
    epoch=1,
    on_step=None,
):
    """One pass over ``x`` in a random order, one gradient step per batch.

    ``loss_fn(rows)`` returns ``(loss, terms)``: the scalar to minimise and a
    dict of numbers to add up over the epoch. Returns their sums, and the loss
    summed over the rows as ``"loss"``. ``on_step(epoch, batch, loss)`` runs
    after each step. ``eq:training-objective``; book/pytorch_vae.md.

    Shapes: ``x`` ``(N, ...)``, on the device of ``generator`` (it draws the
    order). Raises :class:`NonFiniteLossError` when the loss becomes NaN or
    infinite.
    """
    order = torch.randperm(x.shape[0], generator=generator, device=x.device)
    sums = {"loss": 0.0}
    for batch, start in enumerate(range(0, x.shape[0], batch_size)):
        rows = x[order[start : start + batch_size]]  # (B, ...)
        loss, terms = loss_fn(rows)
        # the loss as a float, the one CPU-GPU sync of a step: a NaN or inf
        # (diverged weights) is caught at its batch, before a step spreads it
        value = float(loss.detach())
        if not math.isfinite(value):
            raise NonFiniteLossError(value, epoch, batch)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        sums["loss"] += value * rows.shape[0]
        for name, term in terms.items():
            sums[name] = sums.get(name, 0) + term
        if on_step is not None:
            on_step(epoch, batch, value)
    return sums


@contextmanager
def progress_bar(show: bool | None, total: int, name: str, callback: Callable[[int, int, float], None] | None = None):
    """The ``on_step`` hook of :func:`run_epoch` for a whole run: a progress bar, then ``callback``.

    With ``show`` (None: :func:`settings.show_progress`, i.e. not in smoke mode or the website build)
    a ``tqdm.auto`` bar of ``total`` batches named ``name`` advances one batch per step and shows the
    epoch and the loss; ``callback(epoch, batch, loss)`` (if given) runs after it. The bar is closed
    when the ``with`` block ends, however it ends.
    """
    show = settings.show_progress() if show is None else show
    bar = None
    if show and total > 0:
        from tqdm.auto import tqdm

        bar = tqdm(total=total, unit="batch", leave=False, desc=name)

    def on_step(epoch: int, batch: int, loss: float) -> None:
        if bar is not None:
            bar.update(1)
            if batch % 20 == 0:
                bar.set_postfix(epoch=epoch, loss=f"{loss:.2f}", refresh=False)
        if callback is not None:
            callback(epoch, batch, loss)

    try:
        yield on_step
    finally:
        if bar is not None:
            bar.close()


def fit(
    model: VAEModel,
    train,
    config: TrainConfig | None = None,
    test=None,
    *,
    checkpoint=None,
    resume: bool = False,
    progress: bool | None = None,
    callback: Callable[[int, int, float], None] | None = None,
) -> History:
    """Train ``model`` (a :class:`vaecourse.models.VAEModel`) by maximising the ELBO; return the :class:`History`.

    Minimises $\\ell$ of the module docstring (``eq:training-objective``; book/pytorch_vae.md;
    Kingma & Welling 2013) with Adam, one :func:`run_epoch` per epoch. The model moves to
    ``config.device`` (default: the course's device); ``config`` None means ``TrainConfig()``.
    ``checkpoint`` is a path written after every epoch (atomically), on Ctrl-C and at the end;
    ``resume`` continues from it if it exists (same seed: the same history as an uninterrupted run).
    ``progress`` shows a ``tqdm.auto`` bar (default: :func:`settings.show_progress`); ``callback(epoch, batch,
    loss)`` runs after every step (1-based epoch, 0-based batch). The steps run with
    :func:`vaecourse.validation.disabled`: divergence is detected from the loss itself. On
    ``KeyboardInterrupt`` a checkpoint is saved (if ``checkpoint`` is set) and the history so far is
    returned with ``history.interrupted = True``.

    Shapes: ``train``, ``test`` images ``(N, *data_shape)`` in [0, 1] (or ``(images, labels)``);
    ``test`` optional.

    Raises ``ValueError`` on bad data or when training would not fit in the device's memory (weights,
    gradients and Adam's moments), :class:`NonFiniteLossError` when the loss becomes NaN or inf
    (the last good checkpoint is left in place), :class:`vaecourse.checkpoints.CheckpointError` for
    a bad resume file.
    """
    config = config or TrainConfig()
    device = default_device(config.device)
    _require_training_memory(model, device)
    model.to(device)
    x_train = _checked_images(train, model, "train", config)
    x_test = _checked_images(test, model, "test", config) if test is not None else None
    checkpoint = Path(checkpoint) if checkpoint is not None else None

    optimizer = make_optimizer(model, config.lr)
    generator = torch.Generator(device=device)
    history, start_epoch, rng = History(), 0, None
    if resume and checkpoint is not None and checkpoint.exists():
        history, start_epoch, rng = _resume_state(checkpoint, model, optimizer, config)

    def save(epoch: int) -> None:
        if checkpoint is not None:
            save_checkpoint(
                checkpoint,
                model,
                config,
                optimizer=optimizer,
                history=history,
                epoch=epoch,
                rng=rng_state(generator, device),
                complete=epoch == config.epochs,
            )

    def loss_fn(x: torch.Tensor):
        if config.binarize == "dynamic":
            x = dynamic_binarize(x, generator=generator)
        rec, kl = elbo_terms(model, x, config.n_samples)  # (B,), (B,)
        return (kl - rec).mean(), {"reconstruction": rec.detach().sum(), "kl": kl.detach().sum()}

    # The caller's global RNG is left untouched; checks in kl/elbo and torch.distributions are off for
    # the steps (the data were checked above, and a diverged model shows in the loss).
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []), validation.disabled():
        _seed(generator, device, config.seed, rng)
        x_train = _prepare(x_train, config.binarize, config.seed, device)
        x_test = prepare_test_set(x_test, config.binarize, device) if x_test is not None else None
        # The checkpoint always holds an epoch boundary: the start now (unless resumed from it), then
        # the end of every epoch. Ctrl-C mid-epoch leaves it there, so a resume reproduces the
        # uninterrupted run exactly; the history returned is cut back to the same boundary.
        if not rng:
            save(start_epoch)
        saved_epochs = len(history)
        total = (config.epochs - start_epoch) * math.ceil(x_train.shape[0] / config.batch_size)
        try:
            with progress_bar(progress, total, type(model).__name__, callback) as on_step:
                model.train()
                for epoch in range(start_epoch + 1, config.epochs + 1):
                    began = time.perf_counter()
                    sums = run_epoch(loss_fn, optimizer, x_train, config.batch_size, generator, epoch, on_step)
                    _record_epoch(history, epoch, sums, x_train.shape[0], model, x_test, config, began)
                    save(epoch)
                    saved_epochs = len(history)
        except KeyboardInterrupt:
            _stop_at_the_checkpoint(history, saved_epochs, start_epoch, checkpoint)
        except NonFiniteLossError as error:
            last = f"; the last good checkpoint {str(checkpoint)!r} is unchanged" if checkpoint else ""
            raise NonFiniteLossError(error.value, error.epoch, error.batch, last) from None
    model.eval()
    return history


def _seed(generator: torch.Generator, device, seed: int, rng: dict | None) -> None:
    """Set the global RNG and ``generator``: to the checkpoint's state ``rng`` on a resume, else to ``seed``."""
    if rng:
        set_rng_state(rng, generator, device)
    else:
        torch.manual_seed(seed)
        generator.manual_seed(seed)


def _require_training_memory(model, device) -> None:
    """Refuse (``ValueError``) a model whose weights, gradients and Adam's two moments exceed the device's memory."""
    weight_bytes = sum(p.numel() * p.element_size() for p in model.parameters())
    # weights, their gradients and Adam's two moments: four numbers per parameter (activations aside)
    validation.require_memory(
        4 * weight_bytes,
        f"training this {type(model).__name__} (weights, gradients and "
        f"Adam's two moments, 4 x {weight_bytes / 1e9:.2f} GB)",
        device,
    )


def _checked_images(data, model, name: str, config: TrainConfig) -> torch.Tensor:
    """The images of ``data`` (a tensor or ``(images, labels)``), checked by :func:`_check_images`."""
    x = images_of(data)
    _check_images(x, model, name, config)
    return x


def _resume_state(checkpoint: Path, model, optimizer, config: TrainConfig) -> tuple[History, int, dict | None]:
    """Load ``checkpoint`` into ``model`` and ``optimizer``; return ``(history, epoch, rng state)`` to go on from.

    Raises :class:`vaecourse.checkpoints.CheckpointError` when it holds another model or was trained
    with other settings (more ``epochs`` may be asked for).
    """
    ckpt = load_checkpoint(checkpoint, expect=type(model).__name__)
    if ckpt["model_config"] != model.config.to_dict():
        raise CheckpointError(
            f"cannot resume from {str(checkpoint)!r}: it holds another model "
            f"({ckpt['model_config']}, not {model.config.to_dict()})"
        )
    # more epochs may be asked for on resume; every other setting that changes the weights must agree
    saved = {k: v for k, v in TrainConfig(**ckpt["train_config"]).fields_that_change_weights().items() if k != "epochs"}
    mine = {k: v for k, v in config.fields_that_change_weights().items() if k != "epochs"}
    if saved != mine:
        raise CheckpointError(f"cannot resume from {str(checkpoint)!r}: it was trained with {saved}, not {mine}")
    model.load_state_dict(ckpt["model_state"])
    if ckpt["optimizer_state"] is not None:
        optimizer.load_state_dict(ckpt["optimizer_state"])
    history = History.from_dict(ckpt["history"])
    history.interrupted = False
    return history, ckpt["epoch"], ckpt["rng"] or None


def _record_epoch(
    history: History, epoch: int, sums: dict, n: int, model, x_test, config: TrainConfig, began: float
) -> None:
    """Append one epoch to ``history``: the training terms as means per image, the test ELBO, the seconds."""
    rec_mean, kl_mean = float(sums["reconstruction"]) / n, float(sums["kl"]) / n
    history.epoch.append(epoch)
    history.train_elbo.append(rec_mean - kl_mean)
    history.train_reconstruction.append(rec_mean)
    history.train_kl.append(kl_mean)
    scores = {"elbo": None, "reconstruction": None, "kl": None}
    if x_test is not None:
        scores = dataset_elbo(model, x_test, config.eval_batch_size)
        model.train()
    history.test_elbo.append(scores["elbo"])
    history.test_reconstruction.append(scores["reconstruction"])
    history.test_kl.append(scores["kl"])
    history.seconds.append(time.perf_counter() - began)


def _stop_at_the_checkpoint(history: History, saved_epochs: int, start_epoch: int, checkpoint) -> None:
    """After Ctrl-C: mark ``history`` interrupted, cut it back to the checkpoint's epoch, say so on stderr."""
    history.interrupted = True
    for column in History.COLUMNS:  # a half-recorded epoch is dropped
        del getattr(history, column)[saved_epochs:]
    done = history.epoch[-1] if history.epoch else start_epoch
    where = (
        (
            f"; {str(checkpoint)!r} holds the end of epoch {done} (resume=True continues exactly); "
            f"the model in memory holds weights from the middle of epoch {done + 1}"
        )
        if checkpoint
        else ("; no checkpoint was given, so this run cannot be resumed")
    )
    print(f"training interrupted during epoch {done + 1}{where}", file=sys.stderr)


__all__ = [
    "TrainConfig",
    "History",
    "fit",
    "run_epoch",
    "progress_bar",
    "dataset_elbo",
    "NonFiniteLossError",
    "prepare_test_set",
    "make_optimizer",
    "BINARIZATIONS",
    "TEST_BINARIZATION_SEED",
]
