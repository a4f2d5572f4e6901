"""Reader of the idx format of (Fashion-)MNIST, plain or gzipped, into a numpy array."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

from ssl_app.errors import DataError

# idx type codes → big-endian numpy dtypes (http://yann.lecun.com/exdb/mnist/)
IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: str | Path) -> np.ndarray:
    """The array stored in idx file `path` (`.gz` is decompressed); DataError if malformed."""
    path = Path(path)
    try:
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as err:
        raise DataError(
            f"cannot read idx file '{path}': {err}; re-download or reinstall it"
        ) from None
    return parse_idx(raw, str(path))


def parse_idx(raw: bytes, name: str = "<bytes>") -> np.ndarray:
    """Decode idx bytes: magic 00 00 <type> <ndim>, ndim big-endian uint32 sizes, then data."""
    if len(raw) < 4 or raw[:2] != b"\0\0" or raw[2] not in IDX_DTYPES:
        raise DataError(f"'{name}' is not an idx file (bad magic number); re-download it")
    ndim, dtype = raw[3], np.dtype(IDX_DTYPES[raw[2]])
    header = 4 + 4 * ndim
    shape = tuple(int(s) for s in np.frombuffer(raw[4:header], dtype=">u4"))
    expected = header + int(np.prod(shape)) * dtype.itemsize
    if len(raw) != expected:
        raise DataError(
            f"idx file '{name}' has {len(raw)} bytes, expected {expected}; re-download it"
        )
    return (
        np.frombuffer(raw, dtype=dtype, offset=header)
        .reshape(shape)
        .astype(dtype.newbyteorder("="))
    )
