"""Pins of today's behaviour, before the package is reorganised (issue 12, "First: tests that pin today's
behaviour"): one test for each of the twelve seeded bugs that the rest of the suite let through.

Each test names the bug it catches. They use tiny models and data, patch functions with monkeypatch
(a half-way write, Ctrl-C, an infinite loss) and never reach the network.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import io
import math
import os
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.stats import norm

# Every name these tests use from the package, in one place (the reorganisation moves some of them).
from scripts import make_notebooks
from vaecourse import checkpoints, cli, data, evaluate, ising, recipes, settings, train, widgets
from vaecourse.ising import critical_temperature
from vaecourse.models import VAE, ConvVAE, ModelConfig

# Tiny models and many small tensor operations: one intra-op thread (see tests/conftest.py).
pytestmark = pytest.mark.usefixtures("one_thread")

CPU = torch.device("cpu")


def tiny_model(seed: int = 0, likelihood: str = "bernoulli") -> VAE:
    torch.manual_seed(seed)
    return VAE(64, 16, 2, (1, 8, 8), likelihood=likelihood)


def grey_images(n: int, seed: int = 0) -> torch.Tensor:
    """n grey 8x8 images with values strictly inside (0, 1)."""
    g = torch.Generator().manual_seed(seed)
    return 0.05 + 0.9 * torch.rand(n, 1, 8, 8, generator=g)


def config(**kwargs) -> train.TrainConfig:
    return train.TrainConfig(**{"epochs": 2, "batch_size": 32, "lr": 3e-3, "device": "cpu", **kwargs})


def same_state(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


class EncoderSpy:
    """Wraps VAE.encode: records (training?, input) of every call; may raise on the n-th training call."""

    def __init__(self, monkeypatch, raise_at: int | None = None, error=KeyboardInterrupt):
        self.calls: list[tuple[bool, torch.Tensor]] = []
        self.raise_at, self.error = raise_at, error
        real = VAE.encode

        def encode(model, x):
            if model.training:
                if self.raise_at is not None and self.training_calls() == self.raise_at:
                    self.raise_at = None
                    raise self.error
            self.calls.append((model.training, x.detach().clone()))
            return real(model, x)

        monkeypatch.setattr(VAE, "encode", encode)

    def training_calls(self) -> int:
        return sum(training for training, _ in self.calls)

    def inputs(self, training: bool) -> list[torch.Tensor]:
        return [x for t, x in self.calls if t == training]


# ----------------------------------------------------------------------------------------------------
# 1. A checkpoint write that fails half-way leaves the old checkpoint loadable and no temporary file.
#    Catches: writing straight to the target (no temporary file + rename); not removing the temporary file.


def test_a_checkpoint_write_failing_half_way_keeps_the_old_one_and_leaves_no_temp_file(tmp_path, monkeypatch):
    folder = tmp_path / "run"
    old = tiny_model(seed=1)
    path = checkpoints.save_checkpoint(folder / "ckpt.pt", old, config(), epoch=3)
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
        checkpoints.save_checkpoint(path, tiny_model(seed=2), config(), epoch=4)
    monkeypatch.undo()
    assert sorted(p.name for p in folder.iterdir()) == ["ckpt.pt"]  # no temporary file left behind
    ckpt = checkpoints.load_checkpoint(path)
    assert ckpt["epoch"] == 3 and same_state(ckpt["model_state"], old.state_dict())


# ----------------------------------------------------------------------------------------------------
# 2. Every weight-relevant field of both configurations changes the model-cache key; device does not.
#    Catches: a field left out of the key (e.g. n_samples, decoder_activation); the device put in the key.

BASE_MODEL = ModelConfig("mlp", latent_dim=2, hidden=32, data_shape=(1, 28, 28))
MODEL_CHANGES = {  # one changed value per ModelConfig field
    "architecture": "conv", "latent_dim": 3, "hidden": 16, "data_shape": (1, 8, 8),
    "likelihood": "gaussian", "decoder_activation": "tanh",
}
BASE_TRAIN = config()
TRAIN_CHANGES = {  # one changed value per TrainConfig field that changes the trained weights
    "epochs": 3, "batch_size": 16, "lr": 2e-3, "binarize": "static", "n_samples": 2, "seed": 1,
}
TRAIN_NEUTRAL = {"device": "cuda", "eval_batch_size": 7}  # memory and placement only


def test_every_field_is_classified_for_the_cache_key():
    """A new config field must be added above: as changing the weights or not."""
    assert {f.name for f in dataclasses.fields(ModelConfig)} == set(MODEL_CHANGES)
    assert {f.name for f in dataclasses.fields(train.TrainConfig)} == set(TRAIN_CHANGES) | set(TRAIN_NEUTRAL)


@pytest.mark.parametrize("field, value", MODEL_CHANGES.items(), ids=list(MODEL_CHANGES))
def test_every_model_field_changes_the_cache_key(field, value):
    changed = dataclasses.replace(BASE_MODEL, **{field: value})
    assert recipes.cache_key(changed, BASE_TRAIN, "data") != recipes.cache_key(BASE_MODEL, BASE_TRAIN, "data")


@pytest.mark.parametrize("field, value", TRAIN_CHANGES.items(), ids=list(TRAIN_CHANGES))
def test_every_training_field_changes_the_cache_key(field, value):
    changed = dataclasses.replace(BASE_TRAIN, **{field: value})
    assert recipes.cache_key(BASE_MODEL, changed, "data") != recipes.cache_key(BASE_MODEL, BASE_TRAIN, "data")


@pytest.mark.parametrize("field, value", [*TRAIN_NEUTRAL.items(), ("device", None)])
def test_device_and_eval_batch_size_leave_the_cache_key_alone(field, value):
    changed = dataclasses.replace(BASE_TRAIN, **{field: value})
    assert recipes.cache_key(BASE_MODEL, changed, "data") == recipes.cache_key(BASE_MODEL, BASE_TRAIN, "data")
    assert recipes.cache_key(BASE_MODEL, BASE_TRAIN, "other data") != recipes.cache_key(BASE_MODEL, BASE_TRAIN, "data")


# ----------------------------------------------------------------------------------------------------
# 3. Ctrl-C inside the cached-training path leaves an entry not marked complete; the next call resumes
#    it (not restarts it) to the full epoch count.
#    Catches: marking the interrupted entry complete; serving an incomplete entry as a cache hit;
#    retraining from scratch instead of resuming.


def test_ctrl_c_in_cached_training_leaves_an_incomplete_entry_that_the_next_call_resumes(tmp_path, monkeypatch,
                                                                                        capsys):
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


# ----------------------------------------------------------------------------------------------------
# 4. An infinite (not only NaN) loss is reported at its batch; the weights and checkpoint stay finite.
#    Catches: testing the loss with isnan instead of isfinite; taking the step before the test.


def test_an_infinite_loss_is_reported_at_its_batch_and_nothing_becomes_infinite(tmp_path, monkeypatch):
    path = tmp_path / "ckpt.pt"
    model = tiny_model()
    real = VAE.log_likelihood
    calls = []

    def log_likelihood(self, x, h):
        out = real(self, x, h)
        calls.append(1)
        # the 4th training batch (epoch 2, batch 1): log p(x|h) = -inf, still attached to the graph
        return out * math.inf if len(calls) == 4 else out

    monkeypatch.setattr(VAE, "log_likelihood", log_likelihood)
    with pytest.raises(train.NonFiniteLossError, match=r"became inf at epoch 2, batch 1\b"):
        train.fit(model, grey_images(64), config(epochs=3), checkpoint=path, progress=False)
    assert all(bool(torch.isfinite(p).all()) for p in model.parameters())
    ckpt = checkpoints.load_checkpoint(path)
    assert ckpt["epoch"] == 1 and not ckpt["complete"]
    assert all(bool(torch.isfinite(v).all()) for v in ckpt["model_state"].values())


# ----------------------------------------------------------------------------------------------------
# 5. A cached data file replaced by different valid content (with its new pinned hash) is read anew.
#    Catches: an in-memory memo keyed by the path (or by path and size) that serves the old images.


def _write_split(folder: Path, images: np.ndarray, labels: np.ndarray) -> dict[str, str]:
    """The two test-split files, stored uncompressed inside gzip so equal shapes give equal sizes."""
    hashes = {}
    for name, array in (("t10k-images-idx3-ubyte.gz", images), ("t10k-labels-idx1-ubyte.gz", labels)):
        header = bytes([0, 0, 0x08, array.ndim]) + np.asarray(array.shape, dtype=">u4").tobytes()
        blob = gzip.compress(header + array.astype(np.uint8).tobytes(), compresslevel=0, mtime=0)
        (folder / name).write_bytes(blob)
        hashes[name] = hashlib.sha256(blob).hexdigest()
    return hashes


def test_a_replaced_cached_data_file_is_read_anew(tmp_path, monkeypatch):
    monkeypatch.setenv("VAECOURSE_CACHE", str(tmp_path))
    folder = tmp_path / "mnist"
    folder.mkdir()
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 10, 10_000).astype(np.uint8)
    first = rng.integers(0, 256, (10_000, 28, 28)).astype(np.uint8)
    second = 255 - first  # different content, same size
    for name, sha in _write_split(folder, first, labels).items():
        monkeypatch.setitem(data.MNIST_SHA256, name, sha)
    images, _ = data.load_mnist("test")
    np.testing.assert_array_equal((images[:, 0] * 255).round().numpy(), first)

    image_file = folder / "t10k-images-idx3-ubyte.gz"
    stamp = image_file.stat().st_mtime_ns
    size = image_file.stat().st_size
    for name, sha in _write_split(folder, second, labels).items():  # a new download, its hash pinned
        monkeypatch.setitem(data.MNIST_SHA256, name, sha)
    os.utime(image_file, ns=(stamp + 10**9, stamp + 10**9))  # written a second later
    assert image_file.stat().st_size == size
    images, _ = data.load_mnist("test")
    np.testing.assert_array_equal((images[:, 0] * 255).round().numpy(), second)


# ----------------------------------------------------------------------------------------------------
# 6. `evaluate` on a grey-level checkpoint scores the grey images, as `fit` scored its test set.
#    Catches: the evaluate command binarising statically whatever the checkpoint was trained with.


def test_evaluate_on_a_grey_checkpoint_scores_grey_images_as_fit_did(tmp_path, monkeypatch, capsys):
    with warnings.catch_warnings():  # the offline MNIST subset announces itself; not this test's subject
        warnings.simplefilter("ignore", data.OfflineSubsetWarning)
        test_images, _ = recipes.load_dataset("mnist", "test")
    x_test, x_train = test_images[:40], test_images[40:104]
    torch.manual_seed(0)
    model = VAE(784, 16, 3, (1, 28, 28))  # 3-D latent: no quadrature, one encoder pass per image
    spy = EncoderSpy(monkeypatch)
    path = tmp_path / "ckpt.pt"
    train.fit(model, x_train, config(epochs=1, binarize="grey"), x_test, checkpoint=path, progress=False)
    scored_by_fit = torch.cat(spy.inputs(training=False))
    spy.calls.clear()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", data.OfflineSubsetWarning)
        code = cli.evaluate([str(path), "--dataset", "mnist", "--n-test", "40", "--iwae-k", "0", "--device", "cpu"])
    assert code == 0, capsys.readouterr().err
    scored_by_evaluate = torch.cat(spy.inputs(training=False))
    assert ((scored_by_fit > 0) & (scored_by_fit < 1)).any()  # grey levels, not 0/1
    assert torch.equal(scored_by_fit, x_test) and torch.equal(scored_by_evaluate, scored_by_fit)
    assert "grey" in capsys.readouterr().out


# ----------------------------------------------------------------------------------------------------
# 7. Every parameter of the Ising data set changes its cache file.
#    Catches: a parameter (e.g. burn_in, algorithm, temperatures) left out of the file's hash.

ISING_BASE = dict(L=4, temperatures=[1.5, 3.0], n_per_T=4, samples_per_chain=2, burn_in=2, thin=1,
                  algorithm="mixed", seed=0)
ISING_CHANGES = dict(L=6, temperatures=[1.5, 3.5], n_per_T=5, samples_per_chain=3, burn_in=3, thin=2,
                     algorithm="metropolis", seed=1)


def test_every_ising_parameter_changes_the_cache_file(tmp_path, monkeypatch):
    import inspect

    parameters = set(inspect.signature(ising.ising_dataset).parameters) - {"cache", "device"}
    assert parameters == set(ISING_BASE) == set(ISING_CHANGES)
    monkeypatch.setenv("VAECOURSE_CACHE", str(tmp_path))
    ising.ising_dataset(**ISING_BASE, device=CPU)
    ising.ising_dataset(**ISING_BASE, device=CPU)  # the same arguments: the same file
    files = {p.name for p in (tmp_path / "ising").glob("*.pt")}
    assert len(files) == 1
    for name, value in ISING_CHANGES.items():
        samples = ising.ising_dataset(**(ISING_BASE | {name: value}), device=CPU)
        now = {p.name for p in (tmp_path / "ising").glob("*.pt")}
        assert len(now) == len(files) + 1, f"changing {name} did not give a new cache file"
        files = now
        expected = ISING_BASE | {name: value}
        assert samples.spins.shape == (len(expected["temperatures"]) * expected["n_per_T"], expected["L"],
                                       expected["L"])


# ----------------------------------------------------------------------------------------------------
# 8. The T_c estimator's peak refinement agrees with a brute-force argmax on a fine grid (1e-4).
#    Catches: no refinement (grid resolution only); a sign error or a wrong step in the parabola.

TC_GRID = np.concatenate([np.linspace(1.0, 1.9, 5), np.linspace(2.0, 2.6, 25), np.linspace(2.8, 3.5, 4)])


def _brute_force_steepest(t, y, bandwidth, n=100_001):
    """argmax over a fine grid of |slope| of the piecewise-linear interpolant smoothed by N(0, b^2)."""
    s = np.linspace(t[0] + bandwidth, t[-1] - bandwidth, n)[:, None]  # (n, 1)
    slopes = np.diff(y) / np.diff(t)  # (K-1,)
    weight = norm.cdf((t[1:] - s) / bandwidth) - norm.cdf((t[:-1] - s) / bandwidth)  # (n, K-1)
    smoothed = (weight * slopes).sum(1) / weight.sum(1)
    return float(s[np.argmax(np.abs(smoothed)), 0])


@pytest.mark.parametrize("tc", [2.137, 2.2691853, 2.3113, 2.4419])
def test_tc_peak_refinement_agrees_with_a_brute_force_argmax(tc):
    y = 1.0 - np.tanh((TC_GRID - tc) / 0.1)
    bandwidth = 0.12
    expected = _brute_force_steepest(TC_GRID, y, bandwidth)
    assert abs(critical_temperature.tc_from_curve(TC_GRID, y, "steepest", bandwidth=bandwidth) - expected) < 1e-4


# ----------------------------------------------------------------------------------------------------
# 9. A Gaussian-likelihood MLP and conv model round-trip through a checkpoint.
#    Catches: the stored model config losing the likelihood (the Bernoulli model comes back, or the
#    learned sigma does not load).


@pytest.mark.parametrize("make", [lambda: VAE(64, 16, 2, (1, 8, 8), likelihood="gaussian"),
                                  lambda: ConvVAE(2, likelihood="gaussian")], ids=["mlp", "conv"])
def test_gaussian_models_round_trip_through_a_checkpoint(make, tmp_path):
    torch.manual_seed(0)
    model = make()
    with torch.no_grad():
        model.log_scale.fill_(-0.7)  # a learned sigma that is not the initial one
    path = checkpoints.save_checkpoint(tmp_path / "gauss.pt", model, config())
    loaded = checkpoints.model_from_checkpoint(path, "cpu")
    assert type(loaded) is type(model) and loaded.likelihood == "gaussian"
    assert same_state(loaded.state_dict(), model.state_dict())
    x = torch.rand(3, *model.data_shape)
    h = torch.randn(3, 2)
    torch.testing.assert_close(loaded.log_likelihood(x, h), model.log_likelihood(x, h), rtol=0, atol=0)
    expected = torch.distributions.Normal(model.decoder_mean(h), math.exp(-0.7)).log_prob(x).flatten(1).sum(1)
    torch.testing.assert_close(loaded.log_likelihood(x, h), expected)


# ----------------------------------------------------------------------------------------------------
# 10. In smoke mode every chapter recipe, the Ising data set and the command lines use small sizes;
#     is_smoke() and offline() read the usual spellings of yes and no.
#     Catches: a recipe, the Ising defaults or a CLI default that ignores the smoke switch; a truthy
#     parser without strip() or lower(), or missing "on".

RECIPES = ("mlp-mnist-2d", "mlp-mnist-20d", "conv-mnist-keras", "mlp-fashion-2d")


@pytest.mark.parametrize("name", RECIPES)
def test_every_recipe_is_small_in_smoke_mode(name, monkeypatch):
    monkeypatch.setenv("VAECOURSE_SMOKE", "1")
    smoke = recipes.recipe(name)
    assert smoke.n_train is not None and smoke.n_train <= 1000
    assert smoke.n_test is not None and smoke.n_test <= 200
    assert smoke.epochs_for(smoke.n_train) == 1 and smoke.epochs_for(60_000) == 1
    monkeypatch.setenv("VAECOURSE_SMOKE", "0")
    full = recipes.recipe(name)
    assert (full.n_train or 60_000) > smoke.n_train and (full.n_test or 10_000) > smoke.n_test
    assert full.epochs_for(full.n_train or 60_000) > 1


def test_the_ising_data_set_is_small_in_smoke_mode(monkeypatch):
    monkeypatch.setenv("VAECOURSE_SMOKE", "1")
    smoke = ising.default_dataset_config()
    monkeypatch.setenv("VAECOURSE_SMOKE", "0")
    full = ising.default_dataset_config()
    assert full["L"] == 28  # Wetzel 2017's lattice
    assert smoke["L"] <= 16 and len(smoke["temperatures"]) * smoke["n_per_T"] <= 400
    for key in ("L", "n_per_T", "burn_in"):
        assert smoke[key] < full[key], key
    assert len(smoke["temperatures"]) < len(full["temperatures"])


class _Stop(Exception):
    """Raised by a patched function once the command line has shown what it passes on."""


def test_the_train_command_line_defaults_follow_the_smoke_switch(tmp_path, monkeypatch):
    monkeypatch.setattr(recipes, "load_dataset", lambda name, split: (torch.rand(8, 1, 28, 28), torch.zeros(8)))
    seen = []

    def fake_fit(model, data, config, *args, **kwargs):
        seen.append(config.epochs)
        raise _Stop

    monkeypatch.setattr(train, "fit", fake_fit)
    for smoke in ("1", "0"):
        monkeypatch.setenv("VAECOURSE_SMOKE", smoke)
        with pytest.raises(_Stop):
            cli.train(["--out", str(tmp_path / smoke), "--no-figures", "--no-progress"])
    assert seen[0] == 1 and seen[1] > 1


def test_the_evaluate_command_line_defaults_follow_the_smoke_switch(tmp_path, monkeypatch, capsys):
    torch.manual_seed(0)
    path = checkpoints.save_checkpoint(tmp_path / "c.pt", VAE(784, 8, 2, (1, 28, 28)), config(), extra={"dataset": "mnist"})
    monkeypatch.setattr(recipes, "load_dataset", lambda name, split: (torch.rand(300, 1, 28, 28), torch.zeros(300)))
    seen = []

    def fake_evaluate(model, x, *, iwae_k, grey, grid_size, **kwargs):
        seen.append({"n_test": x.shape[0], "iwae_k": iwae_k, "grid_size": grid_size})
        return evaluate.Evaluation(x.shape[0], -1.0, None, None)

    monkeypatch.setattr(evaluate, "evaluate", fake_evaluate)
    for smoke in ("1", "0"):
        monkeypatch.setenv("VAECOURSE_SMOKE", smoke)
        assert cli.evaluate([str(path), "--device", "cpu"]) == 0, capsys.readouterr().err
    smoke, full = seen
    assert smoke["n_test"] <= 100 and smoke["iwae_k"] <= 100 and smoke["grid_size"] <= 61
    assert full["n_test"] == 300 and full["iwae_k"] == 5000  # all images; k of Burda et al. 2015
    assert full["grid_size"] > smoke["grid_size"]


@pytest.mark.parametrize("variable, reader", [("VAECOURSE_SMOKE", settings.is_smoke),
                                              ("VAECOURSE_OFFLINE", settings.offline)], ids=["smoke", "offline"])
def test_the_switches_read_yes_and_no(variable, reader, monkeypatch):
    for text in ("1", "true", "TRUE", " yes ", "On"):
        monkeypatch.setenv(variable, text)
        assert reader() is True, repr(text)
    for text in ("0", "", "no"):
        monkeypatch.setenv(variable, text)
        assert reader() is False, repr(text)
    monkeypatch.delenv(variable)
    assert reader() is False


# ----------------------------------------------------------------------------------------------------
# 11. The notebook generator strips the repository path, the home folder and kernel temp paths.
#     Catches: one of the three replacements dropped or wrong; an output kind (stream, text/plain,
#     text/html) left uncleaned.


def test_the_notebook_generator_strips_machine_paths():
    import nbformat

    root, home = Path(make_notebooks.__file__).resolve().parent.parent, Path.home()
    dirty = (f'File "{root}{os.sep}vaecourse{os.sep}train.py", line 3\n'
             f"cache in {home}{os.sep}.cache{os.sep}vaecourse\n"
             'File "/tmp/ipykernel_4242/1234567.py", line 1\n')
    clean = (f'File "vaecourse{os.sep}train.py", line 3\n'
             f"cache in ~{os.sep}.cache{os.sep}vaecourse\n"
             'File "<cell>", line 1\n')
    assert make_notebooks.strip_machine_paths(dirty) == clean
    cell = nbformat.v4.new_code_cell("1")
    cell.outputs = [
        nbformat.v4.new_output("stream", name="stderr", text=dirty),
        nbformat.v4.new_output("execute_result", data={"text/plain": dirty, "text/html": dirty}, execution_count=1),
        nbformat.v4.new_output("display_data", data={"text/markdown": dirty}),
    ]
    notebook = nbformat.v4.new_notebook(cells=[cell])
    make_notebooks.clean_outputs(notebook)
    out = cell.outputs
    assert [out[0]["text"], out[1]["data"]["text/plain"], out[1]["data"]["text/html"],
            out[2]["data"]["text/markdown"]] == [clean] * 4


# ----------------------------------------------------------------------------------------------------
# 12. `fit` uses every image each epoch (100 images, batch 32: 4 batches), and Interpolation.path([0, 1])
#     returns the two end codes without a browser.
#     Catches: dropping the last, partial batch (or any image) of an epoch; path ends swapped, one index
#     used twice, or codes drawn from Q instead of its means.


def test_fit_uses_every_image_each_epoch(monkeypatch):
    values = (torch.arange(100) + 0.5) / 100  # image i holds the grey level (i + 0.5) / 100 everywhere
    images = values[:, None, None, None].expand(100, 1, 8, 8).contiguous()
    spy = EncoderSpy(monkeypatch)
    train.fit(tiny_model(), images, config(epochs=2, binarize="grey"), progress=False)
    batches = spy.inputs(training=True)
    assert [len(x) for x in batches] == [32, 32, 32, 4] * 2
    for epoch in range(2):
        seen = torch.cat([x.flatten(1)[:, 0] for x in batches[4 * epoch:4 * epoch + 4]])
        torch.testing.assert_close(seen.sort().values, values, rtol=0, atol=1e-7)


def test_interpolation_path_ends_are_the_two_encoder_means():
    torch.manual_seed(0)
    model = VAE(64, 16, 2, (1, 8, 8))
    x = grey_images(10)
    interp = widgets.Interpolation(model, x, index_a=2, index_b=5, n_points=0)
    with torch.no_grad():
        means = model.encoder(x.flatten(1)).loc  # (10, 2)
    ends = interp.path([0.0, 1.0])
    assert ends.shape == (2, 2)
    np.testing.assert_allclose(ends, means[[2, 5]].numpy(), rtol=1e-6, atol=1e-7)
