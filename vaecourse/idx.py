"""The IDX file format of MNIST and Fashion-MNIST: a strict reader and a writer.

An IDX file (LeCun et al. 1998, the format MNIST is distributed in; book/pytorch_vae.md loads it)
is a header followed by raw big-endian numbers:

    bytes 0-1   zero
    byte  2     type code: 0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32, 0x0D float32, 0x0E float64
    byte  3     number of dimensions d
    then        d big-endian uint32 sizes n_1 ... n_d
    then        n_1 * ... * n_d values, row-major, big-endian

The four MNIST files are gzip-compressed IDX files (``*.gz``). :func:`read_idx` checks every part of
that layout -- the magic number, the dimensions, the exact length -- and raises
:class:`DataFileError` naming the file and the problem, so that a truncated download, a corrupt
archive or a label file passed where images were expected never turns into silent garbage.
Decoding is one ``np.frombuffer`` call: no per-sample Python.
"""

from __future__ import annotations

import gzip
import math
import zlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from vaecourse.cache import write_atomically

__all__ = ["DataFileError", "IDX_TYPES", "read_idx", "write_idx"]

#: IDX type code -> NumPy dtype (big-endian, as the format stores it).
IDX_TYPES: dict[int, np.dtype] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_GZIP_MAGIC = b"\x1f\x8b"


class DataFileError(ValueError):
    """A data file is truncated, corrupt, of the wrong kind, or failed its checksum.

    The message always names the file and says what is wrong with it.
    """


def _raw_bytes(path: Path) -> bytes:
    """The file's content, decompressed when it is gzip (detected from its first two bytes)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise
    except OSError as error:
        raise DataFileError(f"{path}: cannot be read ({error})") from error
    if data[:2] != _GZIP_MAGIC:
        return data
    try:
        return gzip.decompress(data)
    except (OSError, EOFError, zlib.error) as error:
        raise DataFileError(
            f"{path}: corrupt or truncated gzip archive ({error}); delete it and fetch it again"
        ) from error


def _check_expected(path: Path, dims: tuple[int, ...], file_dtype: np.dtype, shape, dtype) -> None:
    """Raise :class:`DataFileError` unless the file's shape and type are the ones the caller expects.

    ``shape`` has ``None`` for any size along an axis (``shape=None`` accepts any shape); ``dtype`` is
    compared by kind and size, ignoring byte order (``dtype=None`` accepts any type).
    """
    if shape is not None:
        shape = tuple(shape)
        if len(shape) != len(dims) or any(s is not None and s != n for s, n in zip(shape, dims)):
            wanted = "(" + ", ".join("*" if s is None else str(s) for s in shape) + ")"
            raise DataFileError(f"{path}: holds an array of shape {dims}, expected {wanted}")
    if dtype is not None:
        want = np.dtype(dtype)
        if (want.kind, want.itemsize) != (file_dtype.kind, file_dtype.itemsize):
            raise DataFileError(f"{path}: holds {file_dtype.newbyteorder('=').name} values, expected {want.name}")


def read_idx(path, shape: Sequence[int | None] | None = None, dtype=None) -> np.ndarray:
    """Read an IDX file (optionally gzip-compressed) into a NumPy array of its declared shape.

    The layout is validated: two zero bytes, a known type code, ``d >= 1`` dimensions, and exactly
    $4 + 4d + \\text{itemsize}\\cdot\\prod_i n_i$ bytes. ``shape`` (``None`` entries are wildcards),
    and ``dtype`` state what the caller expects, e.g. ``shape=(None, 28, 28), dtype=np.uint8`` for an
    image file -- a label file given in its place is refused as mislabelled. ``path`` is the
    ``.idx``/``-ubyte`` file or its ``.gz`` archive; ``shape`` has ``None`` for any size along an axis
    (``shape=None`` accepts any shape); ``dtype`` is compared by kind and size, ignoring byte order.
    :func:`vaecourse.data.load_mnist` reads the book's MNIST with it (book/pytorch_vae.md).

    Shapes: the result is a read-only array ``(n_1, ..., n_d)`` in native byte order.
    Raises ``FileNotFoundError`` when the file does not exist, and :class:`DataFileError` (a
    ``ValueError``, naming the file) for a bad magic number, an unknown type, truncated or overlong
    data, or a shape/type other than the expected one.
    """
    path = Path(path)
    data = _raw_bytes(path)
    if len(data) < 4:
        raise DataFileError(f"{path}: only {len(data)} bytes, too short for an IDX header")
    if data[0] != 0 or data[1] != 0:
        raise DataFileError(f"{path}: bad magic number 0x{data[:4].hex()} (an IDX file starts with two zero bytes)")
    type_code, ndim = data[2], data[3]
    if type_code not in IDX_TYPES:
        raise DataFileError(f"{path}: unknown IDX type code 0x{type_code:02x} in the magic number")
    if ndim == 0:
        raise DataFileError(f"{path}: the magic number declares zero dimensions")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataFileError(f"{path}: truncated header ({len(data)} bytes, {header} needed for {ndim} dimensions)")
    dims = tuple(int(n) for n in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    file_dtype = IDX_TYPES[type_code]
    expected = header + file_dtype.itemsize * math.prod(dims)  # Python ints: no overflow for forged headers
    if len(data) < expected:
        raise DataFileError(f"{path}: truncated: dimensions {dims} need {expected} bytes, the file has {len(data)}")
    if len(data) > expected:
        raise DataFileError(f"{path}: corrupt: {len(data) - expected} unexpected bytes after the data of shape {dims}")
    _check_expected(path, dims, file_dtype, shape, dtype)
    array = np.frombuffer(data, dtype=file_dtype, offset=header).reshape(dims)
    if file_dtype.itemsize > 1:
        array = array.astype(file_dtype.newbyteorder("="))
        array.flags.writeable = False
    return array


def write_idx(path, array) -> Path:
    """Write ``array`` as an IDX file, gzip-compressed when ``path`` ends in ``.gz``.

    The inverse of :func:`read_idx`. The gzip stream carries no time stamp, so the same array always
    gives the same bytes (and the same SHA-256 sum). Returns ``path``.

    Shapes: ``array`` any shape with at least one dimension, of a dtype listed in :data:`IDX_TYPES`.
    Written atomically (:func:`vaecourse.cache.write_atomically`): ``FileExistsError`` for a symbolic
    link at ``path``. Raises ``ValueError`` for a zero-dimensional array or a dtype the format cannot store.
    """
    path = Path(path)
    array = np.asarray(array)
    if array.ndim == 0 or array.ndim > 255:
        raise ValueError(f"array: IDX stores 1 to 255 dimensions, got shape {array.shape}")
    codes = {(dt.kind, dt.itemsize): code for code, dt in IDX_TYPES.items()}
    code = codes.get((array.dtype.kind, array.dtype.itemsize))
    if code is None:
        raise ValueError(
            f"array: dtype {array.dtype} cannot be stored in IDX; use uint8, int8, int16, int32, float32 or float64"
        )
    header = bytes([0, 0, code, array.ndim]) + np.asarray(array.shape, dtype=">u4").tobytes()
    payload = header + np.ascontiguousarray(array, dtype=IDX_TYPES[code]).tobytes()
    if path.name.endswith(".gz"):
        payload = gzip.compress(payload, mtime=0)
    return write_atomically(path, lambda tmp: tmp.write_bytes(payload))
