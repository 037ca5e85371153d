"""What can go wrong getting a dataset, as exception classes (Lesson 8, "Matrix multiplication").

Every failure of :func:`~foundations.data.fetch` and :func:`~foundations.data.get_mnist` is one of
these, with a message that says what was expected, what came, what was (not) left in the cache, and
what to do; a damaged cached file names :data:`REPAIR`, the command that replaces it.

``__all__`` is the exception classes, which a learner may catch. Package internal (not in
``__all__``; sibling modules import it by name): :data:`REPAIR`.

Imports the standard library only; every other module of ``foundations.data`` may import this one.
"""

from __future__ import annotations

import pickle

__all__ = [
    "CacheWriteError",
    "DamagedFileError",
    "DownloadError",
    "DownloadInterrupted",
    "UnknownDatasetError",
    "UnsafeArchiveError",
    "UnsafePickleError",
    "VerificationError",
]

REPAIR = "python -m foundations.data fetch --force"
"""The command that downloads a dataset again; messages end with ``Repair it with: {REPAIR} NAME``."""


class DownloadError(RuntimeError):
    """A dataset could not be obtained, or what came matched none of the registry's checks.

    The base class of :class:`VerificationError`, :class:`CacheWriteError`, :class:`DamagedFileError`
    and :class:`UnsafeArchiveError` (not of :class:`UnknownDatasetError`, :class:`UnsafePickleError`
    or :class:`DownloadInterrupted`).
    Derived in Lesson 8, "Matrix multiplication" (lessons/08_matmul), where the course downloads
    MNIST.
    """


class VerificationError(DownloadError):
    """What a source served matched none of the accepted versions; ``what`` says how it differed.

    Derived in Lesson 8, "Matrix multiplication" (lessons/08_matmul), whose MNIST files are kept
    only after they pass the registry's checks.
    """

    def __init__(self, message: str, what: str) -> None:
        super().__init__(message)
        self.what = what


class CacheWriteError(DownloadError):
    """The cache folder cannot be written: no permission, a read-only file system, or a full disk.

    Derived in Lesson 8, "Matrix multiplication" (lessons/08_matmul), which caches MNIST in the
    folder ``FOUNDATIONS_DATA`` names.
    """


class DamagedFileError(DownloadError):
    """A cached file cannot be decoded (gzip, zlib, tar or pickle errors): it is damaged or incomplete.

    Derived in Lesson 8, "Matrix multiplication" (lessons/08_matmul), where ``get_mnist`` decodes
    the cached MNIST files.
    """


class DownloadInterrupted(KeyboardInterrupt):
    """Ctrl-C during a download or an extraction; the message says what was (not) left behind.

    A ``KeyboardInterrupt``, so it stops a notebook cell as Ctrl-C always does. Derived in Lesson 8,
    "Matrix multiplication" (lessons/08_matmul), whose first cell may download MNIST.
    """


class UnknownDatasetError(KeyError, ValueError):
    """A name that is neither in the registry nor a group; the message lists the known names.

    Derived in Lesson 8, "Matrix multiplication" (lessons/08_matmul), where MNIST is fetched by its
    registry names.
    """

    def __str__(self) -> str:  # KeyError would show the message in quotes
        return str(self.args[0]) if self.args else ""


class UnsafeArchiveError(DownloadError):
    """An archive holds a member that could write outside its folder (or a link, device or fifo).

    Derived in Lesson 8, "Matrix multiplication" (lessons/08_matmul), which introduces the data
    layer; archives (Imagenette, IMDB, WikiText) come in later lessons, through ``fetch``.
    """


class UnsafePickleError(pickle.UnpicklingError):
    """The pickle asked for something other than numpy arrays (unpickling can run code).

    Derived in Lesson 8, "Matrix multiplication" (lessons/08_matmul), whose MNIST can also be read
    from ``mnist.pkl.gz`` (``get_mnist(source="pkl")``), the only place this is raised.
    """
