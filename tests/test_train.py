"""vaecourse.train.fit: the loss goes down, runs are reproducible, every image is used each epoch, the
three binarisations, Ctrl-C (raised or a real SIGINT) and a non-finite loss are handled, and bad data,
settings or a model too large for memory are refused before the first step."""

from __future__ import annotations

import math
import subprocess
import sys
import textwrap

import pytest
import torch

from tests.training import EncoderSpy, config, grey_images, tiny_model
from vaecourse import checkpoints as C
from vaecourse import train as T
from vaecourse.models import VAE

# Tiny models and many small tensor operations: one intra-op thread (see tests/conftest.py).
pytestmark = pytest.mark.usefixtures("one_thread")


def test_training_lowers_the_loss(synthetic_data):
    train, test = synthetic_data
    model = tiny_model()
    scored = T.prepare_test_set(test, "dynamic", torch.device("cpu"))
    torch.manual_seed(0)
    before = T.dataset_elbo(model, scored)["elbo"]
    history = T.fit(model, train, config(epochs=6), test)
    assert len(history) == 6 and not history.interrupted
    assert history.test_elbo[-1] > before + 5  # nats per image
    assert history.train_elbo[-1] > history.train_elbo[0]
    for i in range(6):  # ELBO = reconstruction - KL, KL >= 0
        assert history.train_elbo[i] == pytest.approx(history.train_reconstruction[i] - history.train_kl[i])
        assert history.test_kl[i] >= 0
    assert "train ELBO" in repr(history)


def test_same_seed_same_history_and_caller_rng_untouched(synthetic_data):
    train, test = synthetic_data
    models = [tiny_model() for _ in range(3)]
    state = torch.random.get_rng_state()
    runs = [T.fit(m, train, config(seed=s), test) for m, s in zip(models, (5, 5, 6))]
    assert torch.equal(torch.random.get_rng_state(), state)
    strip = [{k: v for k, v in r.to_dict().items() if k != "seconds"} for r in runs]
    assert strip[0] == strip[1]
    assert strip[0] != strip[2]


def test_binarisation_modes(synthetic_data, monkeypatch):
    """Dynamic: fresh 0/1 draws each use; static: the same 0/1 image every epoch; grey: untouched."""
    train, _ = synthetic_data
    seen = []
    real_terms = T.elbo_terms

    def spy(model, x, n_samples=1):
        seen.append(x.clone())
        return real_terms(model, x, n_samples)

    monkeypatch.setattr(T, "elbo_terms", spy)
    one_batch = train[:32]
    for mode in ("dynamic", "static", "grey"):
        seen.clear()
        T.fit(tiny_model(), one_batch, config(epochs=2, binarize=mode))
        first, second = seen
        binary = bool(((first == 0) | (first == 1)).all())
        if mode == "grey":
            assert not binary and torch.equal(first.sort(0).values, one_batch.sort(0).values)
        else:
            assert binary
            # sorted over the batch dim removes the shuffling of the batch order
            same = torch.equal(first.sum((1, 2, 3)).sort().values, second.sum((1, 2, 3)).sort().values)
            assert same == (mode == "static")


def test_keyboard_interrupt_saves_and_returns(tmp_path, synthetic_data, capsys):
    train, test = synthetic_data
    path = tmp_path / "ckpt.pt"

    def ctrl_c(epoch, batch, loss):
        if epoch == 2 and batch == 3:
            raise KeyboardInterrupt

    history = T.fit(tiny_model(), train, config(epochs=4), test, checkpoint=path, callback=ctrl_c)
    assert history.interrupted and history.epoch == [1]
    assert "interrupted" in capsys.readouterr().err
    ckpt = C.load_checkpoint(path)
    assert ckpt["epoch"] == 1 and not ckpt["complete"]
    finished = T.fit(tiny_model(), train, config(epochs=4), test, checkpoint=path, resume=True)
    assert finished.epoch == [1, 2, 3, 4] and not finished.interrupted
    assert C.load_checkpoint(path)["complete"]


def test_nan_stops_with_epoch_and_batch_and_keeps_last_good_checkpoint(tmp_path, synthetic_data):
    train, test = synthetic_data
    path = tmp_path / "ckpt.pt"
    model = tiny_model()

    def poison(epoch, batch, loss):
        if epoch == 2 and batch == 4:
            with torch.no_grad():
                model.decoder.net[-1].bias.fill_(float("nan"))

    with pytest.raises(T.NonFiniteLossError, match=r"epoch 2, batch 5.*last good checkpoint"):
        T.fit(model, train, config(epochs=3), test, checkpoint=path, callback=poison)
    ckpt = C.load_checkpoint(path)
    assert ckpt["epoch"] == 1
    assert all(torch.isfinite(v).all() for v in ckpt["model_state"].values())


def test_nan_in_the_encoder_is_reported_the_same_way(synthetic_data):
    train, _ = synthetic_data
    model = tiny_model()
    with torch.no_grad():
        model.encoder.linear1.weight[0, 0] = float("inf")
    with pytest.raises(T.NonFiniteLossError, match="epoch 1, batch 0"):
        T.fit(model, train, config(epochs=1))


def test_bad_data_and_config_are_refused(synthetic_data):
    train, _ = synthetic_data
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        T.fit(tiny_model(), train * 255, config())
    with pytest.raises(ValueError, match="model expects"):
        T.fit(tiny_model(), torch.rand(10, 1, 9, 9), config())
    with pytest.raises(ValueError, match="NaN"):
        T.fit(tiny_model(), torch.full((10, 1, 8, 8), float("nan")), config())
    for bad in ({"epochs": -1}, {"batch_size": 0}, {"lr": float("nan")}, {"binarize": "fuzzy"}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            T.TrainConfig(**bad)


def test_progress_bar_reports_batches(synthetic_data, capsys):
    train, _ = synthetic_data
    T.fit(tiny_model(), train[:64], config(epochs=1), progress=True)
    assert "batch" in capsys.readouterr().err


def test_fit_uses_every_image_each_epoch(monkeypatch):
    """100 images in batches of 32: 4 batches, the last one partial, and every image once per epoch."""
    values = (torch.arange(100) + 0.5) / 100  # image i holds the grey level (i + 0.5) / 100 everywhere
    images = values[:, None, None, None].expand(100, 1, 8, 8).contiguous()
    spy = EncoderSpy(monkeypatch)
    train_config = config(epochs=2, binarize="grey")
    T.fit(tiny_model(hidden=16), images, train_config, progress=False)
    batches = spy.inputs(training=True)
    assert [len(x) for x in batches] == [32, 32, 32, 4] * 2
    for epoch in range(2):
        seen = torch.cat([x.flatten(1)[:, 0] for x in batches[4 * epoch : 4 * epoch + 4]])
        torch.testing.assert_close(seen.sort().values, values, rtol=0, atol=1e-7)


def test_an_infinite_loss_is_reported_at_its_batch_and_nothing_becomes_infinite(tmp_path, monkeypatch):
    """Not only NaN: an infinite loss stops training at its batch, before the step."""
    path = tmp_path / "ckpt.pt"
    model = tiny_model(hidden=16)
    real = VAE.log_likelihood
    calls = []

    def log_likelihood(self, x, h):
        out = real(self, x, h)
        calls.append(1)
        # the 4th training batch (epoch 2, batch 1): log p(x|h) = -inf, still attached to the graph
        return out * math.inf if len(calls) == 4 else out

    monkeypatch.setattr(VAE, "log_likelihood", log_likelihood)
    with pytest.raises(T.NonFiniteLossError, match=r"became inf at epoch 2, batch 1\b"):
        T.fit(model, grey_images(64), config(epochs=3), checkpoint=path, progress=False)
    assert all(bool(torch.isfinite(p).all()) for p in model.parameters())
    ckpt = C.load_checkpoint(path)
    assert ckpt["epoch"] == 1 and not ckpt["complete"]
    assert all(bool(torch.isfinite(v).all()) for v in ckpt["model_state"].values())


def test_training_that_would_not_fit_in_memory_is_refused_before_the_first_step(monkeypatch):
    """fit() counts weights, gradients and Adam's two moments (4x the weights), not the weights only:
    with memory for twice the weights the model builds, and training is refused with its size."""
    from vaecourse import resources, validation

    model = VAE(hidden=16, latent_dim=2)
    weight_bytes = sum(p.numel() * p.element_size() for p in model.parameters())
    monkeypatch.setattr(validation, "memory_limit", lambda device=None: resources.Limit(2 * weight_bytes, "host RAM"))
    VAE(hidden=16, latent_dim=2)  # building checks the weights alone: it fits
    before = [p.detach().clone() for p in model.parameters()]
    with pytest.raises(ValueError, match=r"training this VAE \(weights, gradients and Adam's two moments"):
        T.fit(model, torch.rand(8, 1, 28, 28), T.TrainConfig(epochs=1, batch_size=4))
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))  # not a step taken


def _fit(path, resume=False):
    """The run the child process below makes, in this process (the same data, model and seed)."""
    x = torch.rand(200, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    torch.manual_seed(0)
    model = VAE(64, 16, 2, (1, 8, 8))
    return T.fit(
        model,
        x,
        T.TrainConfig(epochs=3, batch_size=40, lr=1e-2, binarize="grey"),
        x[:40],
        checkpoint=path,
        resume=resume,
        progress=False,
    )


INTERRUPTED = """
    import os, signal, sys, torch
    # Ctrl-C as in a terminal: a job started in the background (CI) may begin with SIGINT ignored.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    from vaecourse import train as T
    from vaecourse.models import VAE
    for stop_epoch, path in ((1, sys.argv[1]), (2, sys.argv[2])):
        x = torch.rand(200, 1, 8, 8, generator=torch.Generator().manual_seed(0))
        torch.manual_seed(0)
        model = VAE(64, 16, 2, (1, 8, 8))
        def ctrl_c(epoch, batch, loss):
            if epoch == stop_epoch and batch == 2:
                os.kill(os.getpid(), signal.SIGINT)  # a real Ctrl-C, in the middle of an epoch
        h = T.fit(model, x, T.TrainConfig(epochs=3, batch_size=40, lr=1e-2, binarize="grey"), x[:40],
                  checkpoint=path, progress=False, callback=ctrl_c)
        print(h.interrupted, h.epoch)
"""


def test_sigint_mid_epoch_leaves_the_last_epoch_boundary_and_resume_is_exact(tmp_path):
    whole = tmp_path / "whole.pt"
    _fit(whole)
    paths = [tmp_path / "stop1.pt", tmp_path / "stop2.pt"]
    run = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", textwrap.dedent(INTERRUPTED), *map(str, paths)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0 and run.stdout.split() == ["True", "[]", "True", "[1]"], (run.stdout, run.stderr)
    for stop_epoch, path in zip((1, 2), paths):
        assert f"holds the end of epoch {stop_epoch - 1}" in run.stderr
        stopped = C.load_checkpoint(path)
        assert stopped["epoch"] == stop_epoch - 1 and stopped["history"]["epoch"] == list(range(1, stop_epoch))
        resumed = _fit(path, resume=True)
        a, b = C.load_checkpoint(whole), C.load_checkpoint(path)
        assert resumed.epoch == [1, 2, 3] and a["history"]["train_elbo"] == b["history"]["train_elbo"]
        assert all(torch.equal(a["model_state"][k], b["model_state"][k]) for k in a["model_state"])
