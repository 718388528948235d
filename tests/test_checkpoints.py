"""vaecourse.checkpoints and the trained-model cache (recipes.load_or_train): a checkpoint round-trips
(Bernoulli and Gaussian, MLP and conv), resumes the same run, is written atomically (a failed or killed
write keeps the old one and leaves no temporary file behind), refuses foreign files without unpickling
them; a cached model is served, missed, resumed after Ctrl-C, and rebuilt or refused when damaged.
"""

from __future__ import annotations

import dataclasses
import io
import math
import pickle
import signal
import subprocess
import sys
import textwrap

import pytest
import torch

from tests.training import (
    EncoderSpy,
    config,
    grey_images,
    same_state,
    same_weights,
    tiny_model,
)
from vaecourse import cache, checkpoints, recipes
from vaecourse import train as T
from vaecourse.models import VAE, ConvVAE, ModelConfig

# Tiny models and many small tensor operations: one intra-op thread (see tests/conftest.py).
pytestmark = pytest.mark.usefixtures("one_thread")


# ----------------------------------------------------------------------------- round trip and resume


def test_checkpoint_round_trip(tmp_path, synthetic_data):
    train, test = synthetic_data
    model = tiny_model()
    path = tmp_path / "run" / "ckpt.pt"
    history = T.fit(model, train, config(epochs=2), test, checkpoint=path)
    ckpt = checkpoints.load_checkpoint(path)
    assert ckpt["epoch"] == 2 and ckpt["complete"] and ckpt["model_class"] == "VAE"
    assert ckpt["package_version"] and T.History.from_dict(ckpt["history"]).to_dict() == history.to_dict()
    loaded = checkpoints.model_from_checkpoint(path, "cpu")
    assert same_weights(model, loaded)
    x = test[:5]
    torch.testing.assert_close(model.encode(x).loc, loaded.encode(x).loc)
    assert not list(path.parent.glob(".*.tmp"))  # the temporary file was renamed away


@pytest.mark.parametrize(
    "make",
    [lambda: VAE(64, 16, 2, (1, 8, 8), likelihood="gaussian"), lambda: ConvVAE(2, likelihood="gaussian")],
    ids=["mlp", "conv"],
)
def test_gaussian_models_round_trip_through_a_checkpoint(make, tmp_path):
    """The stored model config keeps the likelihood, and the learned sigma loads."""
    torch.manual_seed(0)
    model = make()
    with torch.no_grad():
        model.log_scale.fill_(-0.7)  # a learned sigma that is not the initial one
    path = checkpoints.save_checkpoint(tmp_path / "gauss.pt", model, config(epochs=2))
    loaded = checkpoints.model_from_checkpoint(path, "cpu")
    assert type(loaded) is type(model) and loaded.likelihood == "gaussian"
    assert same_state(loaded.state_dict(), model.state_dict())
    x = torch.rand(3, *model.data_shape)
    h = torch.randn(3, 2)
    torch.testing.assert_close(loaded.log_likelihood(x, h), model.log_likelihood(x, h), rtol=0, atol=0)
    expected = torch.distributions.Normal(model.decoder_mean(h), math.exp(-0.7)).log_prob(x).flatten(1).sum(1)
    torch.testing.assert_close(loaded.log_likelihood(x, h), expected)


def test_resume_continues_the_same_run(tmp_path, synthetic_data):
    train, test = synthetic_data
    full_model = tiny_model()
    full = T.fit(full_model, train, config(epochs=4), test)
    path = tmp_path / "ckpt.pt"
    T.fit(tiny_model(), train, config(epochs=2), test, checkpoint=path)
    resumed_model = tiny_model(seed=99)  # different start: the checkpoint must overwrite it
    resumed = T.fit(resumed_model, train, config(epochs=4), test, checkpoint=path, resume=True)
    assert resumed.epoch == [1, 2, 3, 4]
    assert resumed.test_elbo == full.test_elbo and resumed.train_elbo == full.train_elbo
    assert same_weights(full_model, resumed_model)
    with pytest.raises(checkpoints.CheckpointError, match="trained with"):
        T.fit(tiny_model(), train, config(epochs=5, lr=1e-2), test, checkpoint=path, resume=True)
    with pytest.raises(checkpoints.CheckpointError, match="another model"):
        T.fit(VAE(64, 16, 2, (1, 8, 8)), train, config(epochs=5), test, checkpoint=path, resume=True)


# ----------------------------------------------------------------------------- atomic writes


def test_a_checkpoint_write_failing_half_way_keeps_the_old_one_and_leaves_no_temp_file(tmp_path, monkeypatch):
    folder = tmp_path / "run"
    old = tiny_model(seed=1, hidden=16)
    path = checkpoints.save_checkpoint(folder / "ckpt.pt", old, config(epochs=2), epoch=3)
    real_save = torch.save

    def half_write(obj, f, *args, **kwargs):
        buffer = io.BytesIO()
        real_save(obj, buffer)
        blob = buffer.getvalue()
        with open(f, "wb") as out:  # the first half reaches the disk, then the disk is full
            out.write(blob[: len(blob) // 2])
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(torch, "save", half_write)
    with pytest.raises(OSError, match="No space left"):
        checkpoints.save_checkpoint(path, tiny_model(seed=2, hidden=16), config(epochs=2), epoch=4)
    monkeypatch.undo()
    assert sorted(p.name for p in folder.iterdir()) == ["ckpt.pt"]  # no temporary file left behind
    ckpt = checkpoints.load_checkpoint(path)
    assert ckpt["epoch"] == 3 and same_state(ckpt["model_state"], old.state_dict())


def test_a_checkpoint_write_killed_by_sigkill_leaves_an_orphan_that_the_next_write_removes(tmp_path):
    path = tmp_path / "ckpt.pt"
    code = f"""
        import os, signal, torch
        from vaecourse import checkpoints
        from vaecourse.models import VAE
        from vaecourse.train import TrainConfig
        real = torch.save
        def killed(obj, f, *a, **k):
            with open(f, "wb") as out:
                out.write(b"half a checkpoint")
            os.kill(os.getpid(), signal.SIGKILL)  # kill -9 in the middle of the write
        torch.save = killed
        checkpoints.save_checkpoint({str(path)!r}, VAE(64, 8, 2, (1, 8, 8)), TrainConfig(epochs=1))
    """
    run = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == -signal.SIGKILL
    orphans = list(tmp_path.glob(".ckpt.pt.*.tmp"))
    assert len(orphans) == 1 and not path.exists()
    from vaecourse.train import TrainConfig

    checkpoints.save_checkpoint(path, VAE(64, 8, 2, (1, 8, 8)), TrainConfig(epochs=1))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt.pt"]
    assert checkpoints.load_checkpoint(path)["epoch"] == 0


# ----------------------------------------------------------------------------- foreign files


class Evil:
    """Unpickling this would create a file: a weights_only loader must refuse it."""

    def __init__(self, target):
        self.target = target

    def __reduce__(self):
        return (open, (str(self.target), "w"))


def test_foreign_files_are_refused(tmp_path, synthetic_data):
    victim = tmp_path / "should-not-exist"
    evil = tmp_path / "evil.pt"
    torch.save({"format": checkpoints.CHECKPOINT_FORMAT, "payload": Evil(victim)}, evil)
    with pytest.raises(checkpoints.CheckpointError, match="not a vaecourse checkpoint"):
        checkpoints.load_checkpoint(evil)
    assert not victim.exists()
    plain = tmp_path / "plain.pt"
    torch.save({"state_dict": {}}, plain)
    with pytest.raises(checkpoints.CheckpointError, match="not a vaecourse checkpoint"):
        checkpoints.load_checkpoint(plain)
    junk = tmp_path / "junk.pt"
    junk.write_bytes(pickle.dumps([1, 2, 3]) + b"garbage")
    with pytest.raises(checkpoints.CheckpointError, match="not a vaecourse checkpoint"):
        checkpoints.load_checkpoint(junk)
    with pytest.raises(checkpoints.CheckpointError, match="does not exist"):
        checkpoints.load_checkpoint(tmp_path / "missing.pt")
    path = checkpoints.save_checkpoint(tmp_path / "mlp.pt", tiny_model(), config())
    with pytest.raises(checkpoints.CheckpointError, match="VAE checkpoint, not a ConvVAE"):
        checkpoints.load_checkpoint(path, expect="ConvVAE")
    with pytest.raises(checkpoints.CheckpointError, match="VAE checkpoint, not a ConvVAE"):
        T.fit(ConvVAE(), torch.rand(4, 1, 28, 28), config(epochs=1), checkpoint=path, resume=True)


# ----------------------------------------------------------------------------- the trained-model cache


def test_cache_hits_and_misses(tmp_path, monkeypatch, synthetic_data):
    monkeypatch.setenv("VAECOURSE_CACHE", str(tmp_path))
    train, test = synthetic_data
    model_config = ModelConfig("mlp", latent_dim=2, hidden=32, data_shape=(1, 8, 8))
    train_config = config(epochs=2)
    first = recipes.load_or_train(model_config, train_config, train, test, name="tiny")
    assert not first.from_cache and first.path.parent == tmp_path / "models"
    calls = []
    real_fit = T.fit
    monkeypatch.setattr(T, "fit", lambda *a, **k: calls.append(1) or real_fit(*a, **k))
    again = recipes.load_or_train(
        model_config, dataclasses.replace(train_config, device=None), train, test, name="tiny"
    )
    assert again.from_cache and calls == [] and same_weights(first.model, again.model)
    assert again.history.to_dict() == first.history.to_dict()
    changed = recipes.load_or_train(model_config, dataclasses.replace(train_config, lr=1e-3), train, test, name="tiny")
    other_data = recipes.load_or_train(model_config, train_config, train[:-1], test, name="tiny")
    assert not changed.from_cache and not other_data.from_cache and len(calls) == 2
    assert len({first.path, changed.path, other_data.path}) == 3
    assert "loaded from the cache" in repr(again)


def test_ctrl_c_in_cached_training_leaves_an_incomplete_entry_that_the_next_call_resumes(tmp_path, monkeypatch, capsys):
    """The interrupted entry is not marked complete, not served as a hit, and resumed, not restarted."""
    monkeypatch.setenv("VAECOURSE_CACHE", str(tmp_path))
    images = grey_images(64)  # 2 batches of 32 per epoch
    model_config = ModelConfig("mlp", latent_dim=2, hidden=16, data_shape=(1, 8, 8))
    train_config = config(epochs=3)
    spy = EncoderSpy(monkeypatch, raise_at=3)  # Ctrl-C at epoch 2, batch 1
    stopped = recipes.load_or_train(model_config, train_config, images, name="tiny", progress=False)
    assert stopped.history.interrupted and stopped.history.epoch == [1] and not stopped.from_cache
    assert "interrupted" in capsys.readouterr().err
    entries = list((tmp_path / "models").glob("tiny-*.pt"))
    assert entries == [stopped.path]
    entry = checkpoints.load_checkpoint(stopped.path)
    assert not entry["complete"] and entry["epoch"] == 1

    before = spy.training_calls()
    resumed = recipes.load_or_train(model_config, train_config, images, name="tiny", progress=False)
    assert not resumed.from_cache and not resumed.history.interrupted
    assert resumed.history.epoch == [1, 2, 3]
    assert spy.training_calls() - before == 2 * 2  # epochs 2 and 3 only: resumed, not restarted
    entry = checkpoints.load_checkpoint(resumed.path)
    assert entry["complete"] and entry["epoch"] == 3 and resumed.path == stopped.path

    before = spy.training_calls()
    hit = recipes.load_or_train(model_config, train_config, images, name="tiny", progress=False)
    assert hit.from_cache and spy.training_calls() == before and hit.history.epoch == [1, 2, 3]
    assert same_state(hit.model.state_dict(), resumed.model.state_dict())


def _tiny_cached(**kw):
    x = torch.rand(60, 1, 4, 4, generator=torch.Generator().manual_seed(0))
    return recipes.load_or_train(
        ModelConfig("mlp", latent_dim=2, hidden=8, data_shape=(1, 4, 4)),
        T.TrainConfig(epochs=1, batch_size=30, binarize="grey"),
        x,
        name="tiny",
        progress=False,
        **kw,
    ), x


def test_a_damaged_trained_model_entry_is_retrained_when_cheap(fresh):
    first, _ = _tiny_cached()
    first.path.write_bytes(first.path.read_bytes()[:100])  # truncated (a full disk, a killed copy)
    with pytest.warns(cache.CacheRebuiltWarning, match="damaged .*; removed and rebuilt"):
        again, _ = _tiny_cached()
    assert not again.from_cache and checkpoints.load_checkpoint(again.path)["complete"]
    assert _tiny_cached()[0].from_cache


def test_a_damaged_expensive_entry_says_what_to_do(fresh, monkeypatch):
    first, _ = _tiny_cached()
    first.path.write_bytes(b"not a checkpoint")
    monkeypatch.setattr(cache, "CHEAP_IMAGES", 10)
    with pytest.raises(checkpoints.CheckpointError, match="force=True, or delete that file"):
        _tiny_cached()
    assert not _tiny_cached(force=True)[0].from_cache


def test_trained_model_repr_shows_no_machine_path(fresh):
    trained, _ = _tiny_cached()
    text = repr(trained)
    assert str(fresh) not in text and trained.path.name in text
