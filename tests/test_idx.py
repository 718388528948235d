"""The IDX reader and writer: byte layout, round trips, and refusal of damaged files."""

from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest

from vaecourse.idx import DataFileError, read_idx, write_idx


def handmade_idx(values, type_code: int, fmt: str, dims) -> bytes:
    """IDX bytes built with struct, independently of write_idx."""
    header = struct.pack(">BBBB", 0, 0, type_code, len(dims)) + struct.pack(f">{len(dims)}I", *dims)
    return header + struct.pack(f">{len(values)}{fmt}", *values)


def test_reads_handmade_files_of_every_type(tmp_path):
    cases = [
        (0x08, "B", np.uint8, [0, 7, 255, 1, 2, 3]),
        (0x09, "b", np.int8, [-128, -1, 0, 1, 5, 127]),
        (0x0B, "h", np.int16, [-30000, -2, 0, 3, 1000, 30000]),
        (0x0C, "i", np.int32, [-(2**31), -5, 0, 9, 123456, 2**31 - 1]),
        (0x0D, "f", np.float32, [-1.5, 0.0, 0.25, 3.0, 1e10, -2.0]),
        (0x0E, "d", np.float64, [-1.5, 0.0, 0.1, 3.0, 1e100, -2.0]),
    ]
    for code, fmt, dtype, values in cases:
        path = tmp_path / f"t{code}.idx"
        path.write_bytes(handmade_idx(values, code, fmt, (2, 3)))
        array = read_idx(path)
        assert array.shape == (2, 3) and array.dtype == np.dtype(dtype)
        np.testing.assert_array_equal(array.ravel(), np.array(values, dtype=dtype))


def test_writer_produces_the_documented_bytes_and_round_trips(tmp_path):
    labels = np.array([3, 1, 4, 1, 5], dtype=np.uint8)
    write_idx(tmp_path / "labels.idx", labels)
    assert (tmp_path / "labels.idx").read_bytes() == handmade_idx(labels.tolist(), 0x08, "B", (5,))

    images = np.random.default_rng(0).integers(0, 256, size=(4, 28, 28), dtype=np.uint8)
    path = write_idx(tmp_path / "images-idx3-ubyte.gz", images)
    assert path.read_bytes()[:2] == b"\x1f\x8b"  # gzip
    assert gzip.decompress(path.read_bytes())[:4] == bytes([0, 0, 0x08, 3])
    np.testing.assert_array_equal(read_idx(path, shape=(None, 28, 28), dtype=np.uint8), images)
    # no time stamp in the gzip stream: the same array always gives the same bytes
    again = write_idx(tmp_path / "again.gz", images)
    assert again.read_bytes() == path.read_bytes()

    floats = np.linspace(-1, 1, 12).reshape(3, 4)
    np.testing.assert_array_equal(read_idx(write_idx(tmp_path / "f.idx", floats)), floats)


def damaged(tmp_path, name: str, content: bytes, compress: bool = False):
    path = tmp_path / name
    path.write_bytes(gzip.compress(content, mtime=0) if compress else content)
    return path


@pytest.mark.parametrize("compress", [False, True])
def test_truncated_files_are_refused(tmp_path, compress):
    good = handmade_idx(list(range(60)), 0x08, "B", (3, 4, 5))
    path = damaged(tmp_path, "cut.idx", good[:-7], compress)
    with pytest.raises(DataFileError, match=r"cut\.idx.*truncated.*need 76 bytes.*has 69"):
        read_idx(path)
    header_only = damaged(tmp_path, "header.idx", good[:9], compress)
    with pytest.raises(DataFileError, match=r"header\.idx.*truncated header"):
        read_idx(header_only)


def test_truncated_gzip_archive_is_refused(tmp_path):
    archive = gzip.compress(handmade_idx(list(range(200)), 0x08, "B", (200,)), mtime=0)
    path = damaged(tmp_path, "half.gz", archive[: len(archive) // 2])
    with pytest.raises(DataFileError, match=r"half\.gz.*gzip"):
        read_idx(path)


def test_corrupt_gzip_archive_is_refused(tmp_path):
    archive = bytearray(gzip.compress(handmade_idx(list(range(200)), 0x08, "B", (200,)), mtime=0))
    archive[20:30] = b"\xff" * 10
    path = damaged(tmp_path, "bad.gz", bytes(archive))
    with pytest.raises(DataFileError, match=r"bad\.gz.*corrupt"):
        read_idx(path)


@pytest.mark.parametrize(
    "content, message",
    [
        (b"\x1f\x00\x08\x01" + struct.pack(">I", 1) + b"\x00", "bad magic number"),
        (b"\x00\x00\x07\x01" + struct.pack(">I", 1) + b"\x00", "unknown IDX type code 0x07"),
        (b"\x00\x00\x08\x00", "zero dimensions"),
        (b"\x00\x00", "too short"),
        (handmade_idx([1, 2, 3], 0x08, "B", (3,)) + b"junk", "4 unexpected bytes"),
    ],
)
def test_corrupt_headers_and_lengths_are_refused(tmp_path, content, message):
    path = damaged(tmp_path, "corrupt-ubyte", content)
    with pytest.raises(DataFileError, match=message) as info:
        read_idx(path)
    assert "corrupt-ubyte" in str(info.value)


def test_mislabelled_files_are_refused(tmp_path):
    labels = write_idx(tmp_path / "train-labels-idx1-ubyte.gz", np.zeros(10, dtype=np.uint8))
    with pytest.raises(DataFileError, match=r"train-labels.*shape \(10,\), expected \(\*, 28, 28\)"):
        read_idx(labels, shape=(None, 28, 28))
    small = write_idx(tmp_path / "images.gz", np.zeros((10, 14, 14), dtype=np.uint8))
    with pytest.raises(DataFileError, match=r"expected \(\*, 28, 28\)"):
        read_idx(small, shape=(None, 28, 28))
    ints = write_idx(tmp_path / "ints.idx", np.zeros((2, 28, 28), dtype=np.int32))
    with pytest.raises(DataFileError, match="holds int32 values, expected uint8"):
        read_idx(ints, shape=(None, 28, 28), dtype=np.uint8)


def test_error_is_a_value_error_and_missing_files_are_not_disguised(tmp_path):
    assert issubclass(DataFileError, ValueError)
    with pytest.raises(FileNotFoundError):
        read_idx(tmp_path / "nothing.gz")


def test_writer_refuses_what_idx_cannot_hold(tmp_path):
    with pytest.raises(ValueError, match="dimensions"):
        write_idx(tmp_path / "x.idx", np.array(3, dtype=np.uint8))
    with pytest.raises(ValueError, match="dtype"):
        write_idx(tmp_path / "x.idx", np.zeros(3, dtype=np.complex64))


def test_an_idx_header_whose_dimensions_overflow_names_the_file(tmp_path):
    path = tmp_path / "forged-idx1-ubyte"
    path.write_bytes(bytes([0, 0, 0x08, 4]) + (0xFFFFFFFF).to_bytes(4, "big") * 4 + b"\0" * 16)
    with pytest.raises(DataFileError, match="forged-idx1-ubyte: truncated"):
        read_idx(path)


def test_write_idx_refuses_a_link_at_its_path_and_keeps_the_target(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    (tmp_path / "a.idx").symlink_to(victim)
    with pytest.raises(FileExistsError, match=r"a\.idx' is a symbolic link"):
        write_idx(tmp_path / "a.idx", np.arange(3, dtype=np.uint8))
    assert victim.read_text() == "keep me"
