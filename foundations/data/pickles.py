"""Reading ``mnist.pkl.gz`` safely: a restricted unpickler and the structure check of the public copy.

Lesson 8, "Matrix multiplication" (lessons/08_matmul), can read MNIST from the pickle the course
downloads (``get_mnist(source="pkl")``). Unpickling can run code, so :class:`MNISTUnpickler` builds
numpy arrays and nothing else. The public copy of the file has no published checksum, so the
registry accepts it by :func:`mnist_pickle_problem` instead: a gzip whose CRC holds, of a numpy-only
pickle of three splits with the shapes, pixel scale and label counts of :data:`MNIST_PKL_SPLITS`.

This sits below :mod:`foundations.data.verification` (which runs the structure check on every
download of the file) and :mod:`foundations.data.mnist` (which loads it), so neither needs the other.
Everything here is a package internal, so ``__all__`` is empty; those two modules import
:class:`MNISTUnpickler`, :func:`unpickle_gz`, :func:`mnist_pickle_problem`, :data:`MNIST_PKL_SPLITS`
and :data:`DECODE_ERRORS` by name. A learner reads the pickle with ``get_mnist(source="pkl")``.
Imports numpy and :mod:`foundations.data.errors` only.
"""

from __future__ import annotations

import gzip
import pickle
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from foundations.data.errors import UnsafePickleError

__all__: list[str] = []

MNIST_PKL_SPLITS: tuple[tuple[str, tuple[int, ...]], ...] = (
    ("train", (4932, 5678, 4968, 5101, 4859, 4506, 4951, 5175, 4842, 4988)),
    ("valid", (991, 1064, 990, 1030, 983, 915, 967, 1090, 1009, 961)),
    ("test", (980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009)),
)
"""What the ``mnist-pickle`` structure check expects: the label counts of each split (train = the
first 50,000 of LeCun's training set, valid = the last 10,000, test = t10k)."""


class MNISTUnpickler(pickle.Unpickler):
    """Unpickles numpy arrays and nothing else (unpickling can run code).

    The file was written by numpy 1.26, whose ``numpy.core`` is ``numpy._core`` in numpy 2.
    """

    _ALLOWED = {
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "scalar"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("_codecs", "encode"),  # protocol 2 stores bytes as _codecs.encode(text, 'latin1')
    }

    def find_class(self, module: str, name: str) -> Any:
        if module.startswith("numpy.core"):
            module = "numpy._core" + module[len("numpy.core") :]
        if (module, name) not in self._ALLOWED:
            raise UnsafePickleError(
                f"mnist.pkl.gz: refusing to load {module}.{name} (only numpy arrays are expected)"
            )
        if module == "_codecs":
            import codecs

            return codecs.encode
        if module == "numpy._core.multiarray":
            return getattr(np._core.multiarray, name)
        return getattr(np, name)


DECODE_ERRORS = (
    EOFError, zlib.error, gzip.BadGzipFile, ValueError, pickle.UnpicklingError,
    KeyError, IndexError, TypeError, AttributeError,
)
"""What reading a damaged gzip, IDX or pickle file raises; not OSErrors with an errno (real I/O errors)."""


def unpickle_gz(path: Path) -> Any:
    """Unpickle the gzipped file at ``path`` with :class:`MNISTUnpickler`, then read the gzip stream to
    its end so its CRC is checked."""
    with gzip.open(path, "rb") as f:
        parts = MNISTUnpickler(f, encoding="latin-1").load()
        f.read()  # to the end of the gzip stream, so its CRC is checked
    return parts


def _describe_array(a: Any) -> str:
    shape, dtype = getattr(a, "shape", None), getattr(a, "dtype", None)
    return f"{type(a).__name__} of shape {shape} and dtype {dtype}" if shape is not None else type(a).__name__


def mnist_pickle_problem(path: Path) -> str | None:
    """The structure check of an ``mnist.pkl.gz`` that has no published checksum: ``None`` if it is
    a gzip (whose CRC holds) of a numpy-only pickle of three ``(x, y)`` splits with float32 ``x`` of
    shape (N, 784) holding whole 256ths in [0, 255/256] (pixel/256) and integer ``y`` whose label
    counts are :data:`MNIST_PKL_SPLITS`; otherwise what is wrong."""
    try:
        parts = unpickle_gz(path)
    except UnsafePickleError as exc:
        return str(exc)
    except (OSError, *DECODE_ERRORS) as exc:
        return f"it is not a readable gzipped pickle ({type(exc).__name__}: {exc})"
    if not (isinstance(parts, (tuple, list)) and len(parts) == len(MNIST_PKL_SPLITS)):
        return f"expected {len(MNIST_PKL_SPLITS)} splits (train, valid, test), got {type(parts).__name__}"
    for (split, counts), pair in zip(MNIST_PKL_SPLITS, parts):
        n = sum(counts)
        if not (isinstance(pair, (tuple, list)) and len(pair) == 2):
            return f"{split}: expected a pair (x, y), got {type(pair).__name__}"
        x, y = pair
        if not (isinstance(x, np.ndarray) and x.dtype == np.float32 and x.shape == (n, 784)):
            return f"{split}: expected x as float32 of shape ({n}, 784), got {_describe_array(x)}"
        if not (isinstance(y, np.ndarray) and y.dtype.kind in "iu" and y.shape == (n,)):
            return f"{split}: expected y as integers of shape ({n},), got {_describe_array(y)}"
        for start in range(0, n, 10_000):  # in blocks, to keep the memory small
            block = x[start : start + 10_000] * 256
            if not (np.all(block >= 0) and np.all(block <= 255) and np.array_equal(block, np.round(block))):
                return f"{split}: expected pixels scaled as pixel/256 (whole 256ths in [0, 255/256])"
        if n and (int(y.min()) < 0 or int(y.max()) > 9):
            return f"{split}: expected labels 0 to 9, got {int(y.min())} to {int(y.max())}"
        got = np.bincount(y.astype(np.int64), minlength=10).tolist()
        if got != list(counts):
            return f"{split}: expected label counts {list(counts)}, got {got}"
    return None
