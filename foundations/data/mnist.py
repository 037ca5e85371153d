"""MNIST as the course reads it: the IDX files, the pickle, and the train/validation/test tensors.

Introduced in Lesson 8, "Matrix multiplication" (lessons/08_matmul): the course reads the
50,000/10,000 train/validation split with pixels scaled to ``pixel/256``; :func:`get_mnist` gives
exactly those tensors, parsed from LeCun's IDX files (:func:`read_idx`) or unpickled from
``mnist.pkl.gz`` (with the restricted unpickler of :mod:`foundations.data.pickles`), and
:func:`get_mnist_test` the separate test set. Each file is downloaded and verified first; a cached
file that no longer decodes raises :class:`DamagedFileError`, naming the command that repairs it.

Imports torch and :mod:`foundations.data.errors`, ``pickles`` and ``download``.
"""

from __future__ import annotations

import gzip
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NamedTuple

import torch

from foundations.data.download import download
from foundations.data.errors import REPAIR, DamagedFileError, UnsafePickleError
from foundations.data.pickles import DECODE_ERRORS, unpickle_gz

__all__ = ["MNIST", "MNISTTest", "get_mnist", "get_mnist_test", "read_idx"]


class MNIST(NamedTuple):
    """MNIST as the course uses it: 50,000 training and 10,000 validation images, pixel/256.

    What :func:`get_mnist` returns. Derived in Lesson 8, "Matrix multiplication"
    (lessons/08_matmul), which unpacks it as ``x_train, y_train, x_valid, y_valid``.
    """

    x_train: torch.Tensor  # (50000, 784) float32 in [0, 255/256]
    y_train: torch.Tensor  # (50000,) int64
    x_valid: torch.Tensor  # (10000, 784) float32
    y_valid: torch.Tensor  # (10000,) int64


class MNISTTest(NamedTuple):
    """MNIST's separate 10,000-image test set (t10k), scaled like :class:`MNIST`.

    What :func:`get_mnist_test` returns. Derived in Lesson 8, "Matrix multiplication"
    (lessons/08_matmul), where MNIST is loaded; no page uses the test set yet.
    """

    x_test: torch.Tensor  # (10000, 784) float32
    y_test: torch.Tensor  # (10000,) int64


_IDX_UBYTE = 0x08  # the only IDX type code MNIST uses (unsigned byte)


def read_idx(path: str | os.PathLike[str], *, ndim: int | None = None) -> torch.Tensor:
    """Parse a (gzipped) IDX file, the format LeCun's MNIST files use.

    The header is two zero bytes, a type code (``0x08`` = unsigned byte), the number of dimensions,
    then each dimension as a big-endian int32; the data follows in C order. Raises ``ValueError`` if
    the magic number, the expected ``ndim`` or the data length is wrong.

    Derived in Lesson 8, "Matrix multiplication" (lessons/08_matmul), whose MNIST ``get_mnist()``
    parses from these files.
    """
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        data = f.read()
    if len(data) < 4:
        raise ValueError(f"read_idx: {path.name} is {len(data)} bytes, too short for an IDX header")
    zero, code, nd = int.from_bytes(data[0:2], "big"), data[2], data[3]
    if zero != 0 or code != _IDX_UBYTE:
        raise ValueError(
            f"read_idx: {path.name} has magic number 0x{int.from_bytes(data[0:4], 'big'):08x}; expected "
            "0x000008NN (two zero bytes, type 0x08 = unsigned byte, then the number of dimensions)"
        )
    if ndim is not None and nd != ndim:
        raise ValueError(f"read_idx: expected {ndim} dimensions in {path.name}, got {nd}")
    header = 4 + 4 * nd
    if len(data) < header:
        raise ValueError(f"read_idx: {path.name} ends inside its header ({len(data)} bytes)")
    dims = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(nd))
    count = 1
    for d in dims:
        count *= d
    if len(data) - header != count:
        raise ValueError(
            f"read_idx: {path.name} declares shape {dims} ({count:,} values) but holds "
            f"{len(data) - header:,} bytes of data"
        )
    if count == 0:  # torch.frombuffer refuses an empty buffer
        return torch.empty(dims, dtype=torch.uint8)
    return torch.frombuffer(bytearray(data[header:]), dtype=torch.uint8).reshape(dims)


def _images(path: Path) -> torch.Tensor:
    raw = read_idx(path, ndim=3)
    if tuple(raw.shape[1:]) != (28, 28):
        raise ValueError(
            f"MNIST: expected images of shape (N, 28, 28) in {path.name}, got {tuple(raw.shape)}"
        )
    return raw.reshape(raw.shape[0], 784).float() / 256


def _labels(path: Path) -> torch.Tensor:
    return read_idx(path, ndim=1).long()



@contextmanager
def _reading(name: str, path: Path) -> Iterator[None]:
    """Turn a decode error of the cached file ``path`` into a :class:`DamagedFileError` that names the
    file and the command that repairs it (a refused pickle stays an :class:`UnsafePickleError`)."""
    try:
        yield
    except UnsafePickleError:
        raise
    except DECODE_ERRORS as exc:
        raise DamagedFileError(
            f"{name}: the cached file {path} cannot be read ({type(exc).__name__}: {exc}); it is damaged or "
            f"incomplete. Repair it with: {REPAIR} {name}"
        ) from None


def _load_pkl() -> tuple[tuple[Any, Any], ...]:
    path = download("mnist_pkl")  # verified (sha256, or the structure check) before we unpickle
    with _reading("mnist_pkl", path):
        parts = unpickle_gz(path)
    if not (isinstance(parts, tuple) and len(parts) == 3):
        raise ValueError(
            "mnist.pkl.gz: expected ((x_train, y_train), (x_valid, y_valid), (x_test, y_test)), "
            f"got {type(parts).__name__}"
        )
    return parts


def _idx_tensor(name: str, images: bool) -> torch.Tensor:
    path = download(name)
    with _reading(name, path):
        return _images(path) if images else _labels(path)


def get_mnist(source: str = "idx") -> MNIST:
    """MNIST as the course reads it.

    Returns ``MNIST(x_train, y_train, x_valid, y_valid)``: float32 images flattened to 784 values
    scaled as ``pixel/256`` (so the largest is 0.99609375), shapes (50000, 784) and (10000, 784), and
    int64 labels. The split is the course's: the first 50,000 images of LeCun's training set train,
    the last 10,000 validate (the test set is :func:`get_mnist_test`).

    ``source="idx"`` (default) parses the four original IDX files; ``source="pkl"`` unpickles
    ``mnist.pkl.gz`` (the file the course downloads), which holds the same tensors. Either way the
    files are fetched and verified first; a cached file that no longer decodes raises
    :class:`DamagedFileError`, naming the command that repairs it.

    Derived in Lesson 8, "Matrix multiplication" (lessons/08_matmul), where the course downloads
    MNIST; most later pages start from it.
    """
    if source == "idx":
        x = _idx_tensor("mnist_train_images", images=True)
        y = _idx_tensor("mnist_train_labels", images=False)
        if x.shape[0] != 60_000 or y.shape[0] != 60_000:
            raise ValueError(
                f"MNIST: expected 60,000 training images and labels, got {x.shape[0]} and {y.shape[0]}"
            )
        return MNIST(x[:50_000].clone(), y[:50_000].clone(), x[50_000:].clone(), y[50_000:].clone())
    if source == "pkl":
        (xt, yt), (xv, yv), _test = _load_pkl()
        return MNIST(*(torch.from_numpy(a.copy()) for a in (xt, yt, xv, yv)))
    raise ValueError(f"get_mnist: expected source 'idx' or 'pkl', got {source!r}")


def get_mnist_test(source: str = "idx") -> MNISTTest:
    """MNIST's 10,000 test images (t10k) and labels, scaled like :func:`get_mnist`.

    ``source`` is as for :func:`get_mnist`. Derived in Lesson 8, "Matrix multiplication"
    (lessons/08_matmul), beside :func:`get_mnist`; no page uses the test set yet.
    """
    if source == "idx":
        return MNISTTest(_idx_tensor("mnist_test_images", images=True), _idx_tensor("mnist_test_labels", images=False))
    if source == "pkl":
        _train, _valid, (xs, ys) = _load_pkl()
        return MNISTTest(torch.from_numpy(xs.copy()), torch.from_numpy(ys.copy()))
    raise ValueError(f"get_mnist_test: expected source 'idx' or 'pkl', got {source!r}")

