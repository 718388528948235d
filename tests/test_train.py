"""Training: the loss goes down, runs are reproducible, checkpoints round-trip and resume, Ctrl-C and
NaN are handled, the trained-model cache hits and misses, and foreign checkpoints are refused."""

from __future__ import annotations

import dataclasses
import math
import pickle

import pytest
import torch

from vaecourse import checkpoints as C
from vaecourse import recipes as R
from vaecourse import recipes as R
from vaecourse import train as T
from vaecourse.models import VAE, ConvVAE, ModelConfig



# Tiny models and many small tensor operations: one intra-op thread (see tests/conftest.py).
pytestmark = pytest.mark.usefixtures("one_thread")

def synthetic_images(n: int = 320, seed: int = 0) -> torch.Tensor:
    """Grey 8x8 images p = sigmoid(W h + b) from a 2-D latent h ~ N(0, I): structured, learnable."""
    g = torch.Generator().manual_seed(0)  # the same "true decoder" for every seed
    w = 3 * torch.randn(64, 2, generator=g)
    b = torch.randn(64, generator=g)
    h = torch.randn(n, 2, generator=torch.Generator().manual_seed(seed))  # (n, 2)
    return torch.sigmoid(h @ w.T + b).reshape(n, 1, 8, 8)  # (n, 1, 8, 8) in (0, 1)


def tiny_model(seed: int = 0) -> VAE:
    torch.manual_seed(seed)
    return VAE(64, 32, 2, (1, 8, 8))


def config(**kwargs) -> T.TrainConfig:
    return T.TrainConfig(**{"epochs": 3, "batch_size": 32, "lr": 3e-3, "device": "cpu", **kwargs})


@pytest.fixture(scope="module")
def data():
    return synthetic_images(320, seed=0), synthetic_images(100, seed=1)


def same_weights(a, b) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


def test_training_lowers_the_loss(data):
    train, test = data
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


def test_same_seed_same_history_and_caller_rng_untouched(data):
    train, test = data
    models = [tiny_model() for _ in range(3)]
    state = torch.random.get_rng_state()
    runs = [T.fit(m, train, config(seed=s), test) for m, s in zip(models, (5, 5, 6))]
    assert torch.equal(torch.random.get_rng_state(), state)
    strip = [{k: v for k, v in r.to_dict().items() if k != "seconds"} for r in runs]
    assert strip[0] == strip[1]
    assert strip[0] != strip[2]


def test_binarisation_modes(data, monkeypatch):
    """Dynamic: fresh 0/1 draws each use; static: the same 0/1 image every epoch; grey: untouched."""
    train, _ = data
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


def test_checkpoint_round_trip(tmp_path, data):
    train, test = data
    model = tiny_model()
    path = tmp_path / "run" / "ckpt.pt"
    history = T.fit(model, train, config(epochs=2), test, checkpoint=path)
    ckpt = C.load_checkpoint(path)
    assert ckpt["epoch"] == 2 and ckpt["complete"] and ckpt["model_class"] == "VAE"
    assert ckpt["package_version"] and T.History.from_dict(ckpt["history"]).to_dict() == history.to_dict()
    loaded = C.model_from_checkpoint(path, "cpu")
    assert same_weights(model, loaded)
    x = test[:5]
    torch.testing.assert_close(model.encode(x).loc, loaded.encode(x).loc)
    assert not list(path.parent.glob(".*.tmp"))  # the temporary file was renamed away


def test_resume_continues_the_same_run(tmp_path, data):
    train, test = data
    full_model = tiny_model()
    full = T.fit(full_model, train, config(epochs=4), test)
    path = tmp_path / "ckpt.pt"
    T.fit(tiny_model(), train, config(epochs=2), test, checkpoint=path)
    resumed_model = tiny_model(seed=99)  # different start: the checkpoint must overwrite it
    resumed = T.fit(resumed_model, train, config(epochs=4), test, checkpoint=path, resume=True)
    assert resumed.epoch == [1, 2, 3, 4]
    assert resumed.test_elbo == full.test_elbo and resumed.train_elbo == full.train_elbo
    assert same_weights(full_model, resumed_model)
    with pytest.raises(C.CheckpointError, match="trained with"):
        T.fit(tiny_model(), train, config(epochs=5, lr=1e-2), test, checkpoint=path, resume=True)
    with pytest.raises(C.CheckpointError, match="another model"):
        T.fit(VAE(64, 16, 2, (1, 8, 8)), train, config(epochs=5), test, checkpoint=path, resume=True)


def test_keyboard_interrupt_saves_and_returns(tmp_path, data, capsys):
    train, test = data
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


def test_nan_stops_with_epoch_and_batch_and_keeps_last_good_checkpoint(tmp_path, data):
    train, test = data
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


def test_nan_in_the_encoder_is_reported_the_same_way(data):
    train, _ = data
    model = tiny_model()
    with torch.no_grad():
        model.encoder.linear1.weight[0, 0] = float("inf")
    with pytest.raises(T.NonFiniteLossError, match="epoch 1, batch 0"):
        T.fit(model, train, config(epochs=1))


def test_bad_data_and_config_are_refused(data):
    train, _ = data
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        T.fit(tiny_model(), train * 255, config())
    with pytest.raises(ValueError, match="model expects"):
        T.fit(tiny_model(), torch.rand(10, 1, 9, 9), config())
    with pytest.raises(ValueError, match="NaN"):
        T.fit(tiny_model(), torch.full((10, 1, 8, 8), float("nan")), config())
    for bad in ({"epochs": -1}, {"batch_size": 0}, {"lr": float("nan")}, {"binarize": "fuzzy"}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            T.TrainConfig(**bad)


def test_cache_hits_and_misses(tmp_path, monkeypatch, data):
    monkeypatch.setenv("VAECOURSE_CACHE", str(tmp_path))
    train, test = data
    model_config = ModelConfig("mlp", latent_dim=2, hidden=32, data_shape=(1, 8, 8))
    train_config = config(epochs=2)
    first = R.load_or_train(model_config, train_config, train, test, name="tiny")
    assert not first.from_cache and first.path.parent == tmp_path / "models"
    calls = []
    real_fit = T.fit
    monkeypatch.setattr(T, "fit", lambda *a, **k: calls.append(1) or real_fit(*a, **k))
    again = R.load_or_train(model_config, dataclasses.replace(train_config, device=None), train, test, name="tiny")
    assert again.from_cache and calls == [] and same_weights(first.model, again.model)
    assert again.history.to_dict() == first.history.to_dict()
    changed = R.load_or_train(model_config, dataclasses.replace(train_config, lr=1e-3), train, test, name="tiny")
    other_data = R.load_or_train(model_config, train_config, train[:-1], test, name="tiny")
    assert not changed.from_cache and not other_data.from_cache and len(calls) == 2
    assert len({first.path, changed.path, other_data.path}) == 3
    assert "loaded from the cache" in repr(again)


class Evil:
    """Unpickling this would create a file: a weights_only loader must refuse it."""

    def __init__(self, target):
        self.target = target

    def __reduce__(self):
        return (open, (str(self.target), "w"))


def test_foreign_files_are_refused(tmp_path, data):
    victim = tmp_path / "should-not-exist"
    evil = tmp_path / "evil.pt"
    torch.save({"format": C.CHECKPOINT_FORMAT, "payload": Evil(victim)}, evil)
    with pytest.raises(C.CheckpointError, match="not a vaecourse checkpoint"):
        C.load_checkpoint(evil)
    assert not victim.exists()
    plain = tmp_path / "plain.pt"
    torch.save({"state_dict": {}}, plain)
    with pytest.raises(C.CheckpointError, match="not a vaecourse checkpoint"):
        C.load_checkpoint(plain)
    junk = tmp_path / "junk.pt"
    junk.write_bytes(pickle.dumps([1, 2, 3]) + b"garbage")
    with pytest.raises(C.CheckpointError, match="not a vaecourse checkpoint"):
        C.load_checkpoint(junk)
    with pytest.raises(C.CheckpointError, match="does not exist"):
        C.load_checkpoint(tmp_path / "missing.pt")
    path = C.save_checkpoint(tmp_path / "mlp.pt", tiny_model(), config())
    with pytest.raises(C.CheckpointError, match="VAE checkpoint, not a ConvVAE"):
        C.load_checkpoint(path, expect="ConvVAE")
    with pytest.raises(C.CheckpointError, match="VAE checkpoint, not a ConvVAE"):
        T.fit(ConvVAE(), torch.rand(4, 1, 28, 28), config(epochs=1), checkpoint=path, resume=True)


def test_recipe_follows_the_smoke_switch(monkeypatch):
    monkeypatch.setenv("VAECOURSE_SMOKE", "1")
    smoke = R.recipe("mlp-mnist-2d")
    monkeypatch.setenv("VAECOURSE_SMOKE", "0")
    full = R.recipe("mlp-mnist-2d")
    assert smoke.n_train is not None and full.n_train is None
    # Smoke: one epoch whatever the data; full: epochs from the image budget, 10..50.
    assert smoke.epochs_for(1000) == 1 and smoke.epochs_for(60_000) == 1
    assert full.epochs_for(4000) == 50 and full.epochs_for(60_000) == 10
    assert full.epochs_for(4000) > full.epochs_for(10_000) > full.epochs_for(60_000)
    assert R.recipe("conv-mnist-keras").model.architecture == "conv"
    assert R.recipe("conv-mnist-keras").train.binarize == "grey"
    with pytest.raises(ValueError, match="mlp-mnist-2d"):
        R.recipe("nonsense")
    assert math.isfinite(full.train.lr)


def test_load_or_train_recipe_trains_once_per_recipe(tmp_path, monkeypatch):
    """The chapters' route: a named recipe, its data set, the cache (smoke sizes)."""
    monkeypatch.setenv("VAECOURSE_CACHE", str(tmp_path))
    requested = []

    def fake_dataset(name, split):
        requested.append((name, split))
        g = torch.Generator().manual_seed(0 if split == "train" else 1)
        n = 1200 if split == "train" else 300
        return torch.rand(n, 1, 28, 28, generator=g), torch.randint(0, 10, (n,), generator=g)

    monkeypatch.setattr(R, "load_dataset", fake_dataset)
    recipe = R.recipe("mlp-mnist-2d")
    first = R.load_or_train_recipe("mlp-mnist-2d", progress=False)
    second = R.load_or_train_recipe("mlp-mnist-2d", progress=False)
    assert not first.from_cache and second.from_cache and same_weights(first.model, second.model)
    assert len(first.history) == recipe.train.epochs and first.history.test_elbo[-1] is not None
    assert ("mnist", "train") in requested and first.path.name.startswith("mlp-mnist-2d-")


def test_latent_space_and_elbo_chapters_share_one_trained_model(tmp_path, monkeypatch):
    """book/latent_space.md asks for mlp-mnist-2d with hidden=256 under the cache name
    mlp-mnist-2d-h256, book/elbo.md for the recipe mlp-mnist-2d-h256: the same file, trained once."""
    monkeypatch.setenv("VAECOURSE_CACHE", str(tmp_path))
    images = {split: torch.rand(300, 1, 28, 28, generator=torch.Generator().manual_seed(seed))
              for split, seed in (("train", 0), ("test", 1))}
    monkeypatch.setattr(R, "load_dataset", lambda name, split: (images[split], torch.zeros(300, dtype=torch.long)))
    base = R.recipe("mlp-mnist-2d")
    from dataclasses import replace

    latent_space = R.load_or_train_recipe("mlp-mnist-2d", model_config=replace(base.model, hidden=256),
                                          cache_name="mlp-mnist-2d-h256", progress=False)
    elbo_chapter = R.load_or_train_recipe("mlp-mnist-2d-h256", progress=False)
    assert not latent_space.from_cache and elbo_chapter.from_cache
    assert elbo_chapter.path == latent_space.path and same_weights(latent_space.model, elbo_chapter.model)
    assert elbo_chapter.model.hidden == 256 and base.model.hidden == 400


def test_progress_bar_reports_batches(data, capsys):
    train, _ = data
    T.fit(tiny_model(), train[:64], config(epochs=1), progress=True)
    assert "batch" in capsys.readouterr().err
