"""The course's datasets: a registry, a verifying downloader, a safe un-tarrer, and MNIST.

MNIST loading is introduced in Lesson 8, "Matrix multiplication" (lessons/08_matmul): the course reads
the 50,000/10,000 train/validation split with pixels scaled to ``pixel/256``; :func:`get_mnist` gives
exactly those tensors. Later lessons use :func:`fetch` for Imagenette, IMDB and WikiText.

Every file is checked before it is moved into the cache, so a truncated, interrupted or corrupted
download never looks like data. A :class:`DatasetSpec` lists the versions of its file it accepts, as
:class:`Check` values: the course mirror's copy by its size and sha256, and, where the mirror holds a
repackaged copy, the public file by the checks its publishers give (a whole-file md5, fastai's size
and md5 of the first MiB, or a structure check). Which version came is said when it arrives, is
written into the ``.sha256`` marker beside it, and is shown by ``list``.

Environment variables
---------------------
``FOUNDATIONS_DATA``
    The cache folder. Default: ``$XDG_CACHE_HOME/foundations``, or ``~/.cache/foundations`` when
    ``XDG_CACHE_HOME`` is unset. It must be writable.
``FOUNDATIONS_MIRROR``
    A mirror tried *before* the public URL: either a folder or an ``http://``, ``https://`` or
    ``file://`` URL base. A dataset is looked for at ``<mirror>/<mirror path>``, where the mirror path
    is the file name the public URL serves (``mnist_idx/train-images-idx3-ubyte.gz``,
    ``imagenette2-160.tgz``, ...). If the mirror lacks the file, or its copy fails every check, the
    public URL is used instead.
``FOUNDATIONS_PROGRESS``
    ``0`` turns the progress bar off. It is a carriage-return line on stderr in a terminal, and a
    single updating line in a Jupyter notebook.

From the command line::

    python -m foundations.datasets list
    python -m foundations.datasets fetch mnist mnist_pkl
    python -m foundations.datasets fetch --force imdb     # download again, even if cached
    python -m foundations.datasets verify                 # re-check every cached file
"""

from __future__ import annotations

import argparse
import errno
import gzip
import hashlib
import http.client
import os
import pickle
import re
import secrets
import shutil
import socket
import sys
import tarfile
import time
import urllib.error
import urllib.parse
import urllib.request
import zlib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, TYPE_CHECKING, Any, Literal, NamedTuple

if TYPE_CHECKING:  # torch is imported where tensors are made, so the CLI starts in a blink
    import torch

__all__ = [
    "DATA_ENV",
    "GROUPS",
    "MIRROR_ENV",
    "MNIST",
    "MNISTTest",
    "PROGRESS_ENV",
    "REGISTRY",
    "CacheWriteError",
    "Check",
    "DamagedFileError",
    "DatasetSpec",
    "DownloadError",
    "DownloadInterrupted",
    "UnknownDatasetError",
    "UnsafeArchiveError",
    "UnsafePickleError",
    "Verification",
    "VerificationError",
    "cache_dir",
    "download",
    "fetch",
    "get_mnist",
    "get_mnist_test",
    "is_cached",
    "main",
    "normalize",
    "read_idx",
    "untar",
    "verify",
]

DATA_ENV = "FOUNDATIONS_DATA"
MIRROR_ENV = "FOUNDATIONS_MIRROR"
PROGRESS_ENV = "FOUNDATIONS_PROGRESS"

_CHUNK = 1 << 20  # bytes read per step while copying
_MIB = 1 << 20  # fastai's checks.txt hashes the first 2**20 bytes of a file
_TIMEOUT = 30.0  # seconds a network connection may stay silent
_STALE_AFTER = 10 * 60.0  # seconds after which an untouched temporary file is abandoned
_MARKER_SUFFIX = ".sha256"  # sidecar written next to a verified file
_UNTAR_MARKER = ".foundations-complete"  # written inside a fully extracted folder
_REPAIR = "python -m foundations.datasets fetch --force"

MIRROR_COPY = "mirror copy"
PUBLIC_FILE = "public file"
ORIGINAL_FILE = "original file"


# --------------------------------------------------------------------------------------------------
# The registry: which versions of each file are accepted, and by which checks
# --------------------------------------------------------------------------------------------------

CheckKind = Literal["sha256", "md5", "md5-first-MiB", "mnist-pickle"]
_HEX_DIGITS: dict[str, int] = {"sha256": 64, "md5": 32, "md5-first-MiB": 32}
_KIND_WORDS: dict[str, str] = {
    "sha256": "sha256",
    "md5": "md5",
    "md5-first-MiB": "md5 of the first MiB",
    "mnist-pickle": "structure",
}


@dataclass(frozen=True)
class Check:
    """One published fact about one accepted version of a file.

    ``kind`` says what is compared: ``"sha256"`` or ``"md5"`` of the whole file, ``"md5-first-MiB"``
    (fastai's ``checks.txt``: the md5 of the first 2**20 bytes, with the size), or ``"mnist-pickle"``
    (no digest is published: the file is opened after download and must be a gzipped pickle of
    MNIST's three splits with the expected shapes, pixel scale and label counts). ``size`` is the
    exact size in bytes (``None`` only for a structure check). ``label`` names the version the check
    identifies (``"mirror copy"``, ``"public file"``, ``"original file"``): a file is accepted as
    that version when it passes *every* check carrying the label. ``source`` says who publishes the
    value, so a reader can look it up.
    """

    kind: CheckKind
    digest: str | None
    size: int | None
    label: str
    source: str

    def __post_init__(self) -> None:
        what = f"check {self.label!r}"
        if self.kind not in _KIND_WORDS:
            raise ValueError(
                f"{what}: expected kind 'sha256', 'md5', 'md5-first-MiB' or 'mnist-pickle', got {self.kind!r}"
            )
        if self.kind == "mnist-pickle":
            if self.digest is not None:
                raise ValueError(f"{what}: a structure check has no digest, got {self.digest!r}")
        else:
            n = _HEX_DIGITS[self.kind]
            d = self.digest
            if not isinstance(d, str) or len(d) != n or any(c not in "0123456789abcdef" for c in d):
                raise ValueError(f"{what}: expected {self.kind} as {n} lowercase hex digits, got {d!r}")
            if self.size is None:
                raise ValueError(f"{what}: a {self.kind} check needs the file's size in bytes")
        if self.size is not None and (isinstance(self.size, bool) or not isinstance(self.size, int) or self.size <= 0):
            raise ValueError(f"{what}: expected a positive size, got {self.size}")
        if not self.label.strip() or not self.source.strip():
            raise ValueError(f"check {self.label!r}: expected a non-empty label and source")

    @property
    def partial(self) -> bool:
        """True for an md5 of the first MiB of a file larger than 1 MiB: the rest goes unchecked."""
        return self.kind == "md5-first-MiB" and self.size is not None and self.size > _MIB

    def describe(self, alone: bool = True) -> str:
        """What ``list`` shows, e.g. ``md5 of the first MiB c475f8f7617a... (partial: ...) [fastai checks.txt]``.

        ``alone=False``: another check of the same version covers the whole file, so a first-MiB md5
        is not called partial."""
        if self.kind == "mnist-pickle":
            text = "structure checked after download (gzip CRC, numpy-only pickle, shapes, pixel/256, label counts)"
        else:
            text = f"{_KIND_WORDS[self.kind]} {self.digest[:12]}..." if self.digest else _KIND_WORDS[self.kind]
            if self.kind == "md5-first-MiB" and not self.partial:
                text += " (the whole file)"
            elif self.partial and alone:
                text += " (partial: the rest of the file is unchecked)"
        return f"{text} [{self.source}]"


@dataclass(frozen=True)
class DatasetSpec:
    """One downloadable file of the course.

    ``path`` is where the file lives inside a mirror folder and inside the cache; it is the file name
    the public ``url`` serves. ``folder`` (archives only) is the single top-level folder the archive
    holds; :func:`untar` extracts to ``<cache>/<folder>``. ``checks`` lists the accepted versions
    (see :class:`Check`); the first must be the sha256 of the course mirror's copy, which is what
    :attr:`size` and :attr:`sha256` give.
    """

    name: str
    path: str
    url: str | None
    kind: Literal["file", "tgz"]
    note: str
    checks: tuple[Check, ...]
    folder: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in ("file", "tgz"):
            raise ValueError(f"dataset {self.name!r}: expected kind 'file' or 'tgz', got {self.kind!r}")
        if self.kind == "tgz" and not self.folder:
            raise ValueError(f"dataset {self.name!r}: an archive needs the name of its top-level folder")
        parts = PurePosixPath(self.path).parts
        if not parts or PurePosixPath(self.path).is_absolute() or ".." in parts:
            raise ValueError(f"dataset {self.name!r}: expected a relative mirror path, got {self.path!r}")
        if not isinstance(self.checks, tuple) or not self.checks:
            raise ValueError(f"dataset {self.name!r}: expected a non-empty tuple of Check, got {self.checks!r}")
        for c in self.checks:
            if not isinstance(c, Check):
                raise ValueError(f"dataset {self.name!r}: expected every check to be a Check, got {type(c).__name__}")
        if self.checks[0].kind != "sha256":
            raise ValueError(
                f"dataset {self.name!r}: the first check must be the sha256 of the mirror's copy, "
                f"got a {self.checks[0].kind!r} check"
            )
        for label in self.labels:
            sizes = sorted({c.size for c in self.checks_for(label) if c.size is not None})
            if len(sizes) > 1:
                raise ValueError(
                    f"dataset {self.name!r}: the checks labelled {label!r} disagree on the size: "
                    + " vs ".join(f"{s:,}" for s in sizes)
                )

    @property
    def sha256(self) -> str:
        """The sha256 of the course mirror's copy (the first check)."""
        assert self.checks[0].digest is not None  # guaranteed by __post_init__
        return self.checks[0].digest

    @property
    def size(self) -> int:
        """The size in bytes of the course mirror's copy (the first check)."""
        assert self.checks[0].size is not None
        return self.checks[0].size

    @property
    def labels(self) -> tuple[str, ...]:
        """The accepted versions, in the order they are tried."""
        return tuple(dict.fromkeys(c.label for c in self.checks))

    def checks_for(self, label: str) -> tuple[Check, ...]:
        return tuple(c for c in self.checks if c.label == label)

    def size_of(self, label: str) -> int | None:
        """The size of version ``label``, or ``None`` if any size is accepted (a structure check)."""
        return next((c.size for c in self.checks_for(label) if c.size is not None), None)

    @property
    def max_size(self) -> int:
        """The most bytes a download may bring: the largest accepted size, or twice the largest known
        size when a version of unknown size (a structure check) is accepted."""
        known = max(c.size for c in self.checks if c.size is not None)
        return 2 * known if any(self.size_of(label) is None for label in self.labels) else known

    def partial(self, label: str) -> bool:
        """True when version ``label`` has no check covering the whole file (only a first-MiB md5)."""
        group = self.checks_for(label)
        return any(c.partial for c in group) and not any(c.kind in ("sha256", "md5") for c in group)

    def fingerprint(self, label: str) -> str:
        """The checks of ``label`` as one line, written into markers: a marker written under other
        checks (an older registry) is not trusted."""
        return "; ".join(f"{c.kind}:{c.digest or '-'}:{c.size or '-'}" for c in self.checks_for(label))


_MANIFEST = "course mirror MANIFEST.md"
_FASTAI = "fastai checks.txt"
_TORCHVISION_MNIST = "torchvision MNIST"
_MNIST_IDX_URL = "https://ossci-datasets.s3.amazonaws.com/mnist/"


def _idx(name: str, file: str, size: int, sha256: str, md5: str, what: str) -> DatasetSpec:
    """An MNIST IDX file: the mirror's copy is the original, so one version with two checks."""
    return DatasetSpec(
        name, f"mnist_idx/{file}", _MNIST_IDX_URL + file, "file",
        f"LeCun's MNIST {what} (original file, byte-identical in the mirror and at the public URL; "
        "torchvision publishes its md5)",
        (Check("sha256", sha256, size, ORIGINAL_FILE, _MANIFEST), Check("md5", md5, size, ORIGINAL_FILE, _TORCHVISION_MNIST)),
    )


def _entries() -> dict[str, DatasetSpec]:
    items = [
        DatasetSpec(
            "mnist_pkl", "mnist.pkl.gz",
            "https://github.com/mnielsen/neural-networks-and-deep-learning/raw/master/data/mnist.pkl.gz",
            "file",
            "deeplearning.net's pickled MNIST (50k/10k/10k, pixel/256). The mirror's copy is rebuilt from "
            "the IDX files, not byte-identical to the public one. No checksum is published for the public "
            "URL's copy (mnielsen's GitHub); deeplearning.net's own file is quoted as 16,168,813 bytes "
            "(E. Bendersky's loader) and md5 a02cd19f81d51c426d7ca14024243ce9 (borgwang/tinynn and code "
            "copied from it), one source each and not tied to that copy, so the public file is accepted by "
            "a structure check after download instead",
            (
                Check("sha256", "31d9d378fac1e22d453d1357ed8b931e10c470c7d356f97bfd79f5531712e1d7", 16_720_086,
                      MIRROR_COPY, _MANIFEST),
                Check("mnist-pickle", None, None, PUBLIC_FILE, "no published checksum for this copy"),
            ),
        ),
        _idx("mnist_train_images", "train-images-idx3-ubyte.gz", 9_912_422,
             "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
             "f68b3c2dcbeaaa9fbdd348bbdeb94873", "training images, 60,000 x 28 x 28 uint8"),
        _idx("mnist_train_labels", "train-labels-idx1-ubyte.gz", 28_881,
             "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
             "d53e105ee54ea40749a09fcbcd1e9432", "training labels, 60,000 uint8"),
        _idx("mnist_test_images", "t10k-images-idx3-ubyte.gz", 1_648_877,
             "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
             "9fb629c4189551a2d022fa330f9573f3", "test images, 10,000 x 28 x 28 uint8"),
        _idx("mnist_test_labels", "t10k-labels-idx1-ubyte.gz", 4_542,
             "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
             "ec29112dd5afa0611ce80d1b7f02629c", "test labels, 10,000 uint8"),
        DatasetSpec(
            "imagenette2-160", "imagenette2-160.tgz",
            "https://s3.amazonaws.com/fast-ai-imageclas/imagenette2-160.tgz", "tgz",
            "Imagenette v2, 10 ImageNet classes, imagenette2-160/{train,val}/<wnid>/*.JPEG and "
            "noisy_imagenette.csv. The mirror's copy is derived (160x160 squashed, re-encoded JPEGs, "
            "original names and split); the public file keeps each image's aspect ratio (shorter side "
            "160) and is checked by torchvision's whole-file md5 and fastai's size and first-MiB md5",
            (
                Check("sha256", "ae2015df631f5308b8a258b05ec5f99473e1e27ef1ac1d0633549b98516df212", 74_403_930,
                      MIRROR_COPY, _MANIFEST),
                Check("md5", "e793b78cc4c9e9a4ccc0c1155377a412", 99_003_388, PUBLIC_FILE, "torchvision Imagenette"),
                Check("md5-first-MiB", "c475f8f7617a200ba35b9facc48443c3", 99_003_388, PUBLIC_FILE, _FASTAI),
            ),
            folder="imagenette2-160",
        ),
        DatasetSpec(
            "imdb_sample", "imdb_sample.tgz", "https://s3.amazonaws.com/fast-ai-sample/imdb_sample.tgz", "tgz",
            "1,000 IMDB reviews in texts.csv. The mirror's copy is repackaged; the public file is checked "
            "by fastai's size and first-MiB md5, which covers the whole file (571,827 bytes < 1 MiB)",
            (
                Check("sha256", "cfeace2211b6554cb4c1929427188475b4af8ad5facbbc520aad91aefd643b26", 571_808,
                      MIRROR_COPY, _MANIFEST),
                Check("md5-first-MiB", "0842e61a9867caa2e6fbdb14fa703d61", 571_827, PUBLIC_FILE, _FASTAI),
            ),
            folder="imdb_sample",
        ),
        DatasetSpec(
            "imdb", "imdb.tgz", "https://s3.amazonaws.com/fast-ai-nlp/imdb.tgz", "tgz",
            "Large Movie Review Dataset (100,000 reviews) in fast.ai's layout. The mirror's copy is "
            "repackaged; for the public file only fastai's size and md5 of the first MiB are published "
            "(a partial check: 1 MiB of 144 MB), so its gzip CRC is checked over the whole file as well",
            (
                Check("sha256", "acab74c1b9e2614adab628f24947059fe25aebe5c0f78a92ae3020b8571cf175", 56_643_298,
                      MIRROR_COPY, _MANIFEST),
                Check("md5-first-MiB", "90f9b1c4ff43a90d67553c9240dc0249", 144_440_600, PUBLIC_FILE, _FASTAI),
            ),
            folder="imdb",
        ),
        DatasetSpec(
            "wikitext-2-valid-test", "wikitext-2-valid-test.tgz", None, "tgz",
            "WikiText-2 validation and test tokens only (no training split); mirror-only, no public URL",
            (
                Check("sha256", "7259213eebb08709b09714bd20c7f2d8c518b1b2c77b7f1d85e7fbd7f0ca09a2", 787_324,
                      MIRROR_COPY, _MANIFEST),
            ),
            folder="wikitext-2",
        ),
    ]
    return {d.name: d for d in items}


REGISTRY: dict[str, DatasetSpec] = _entries()
"""Every dataset :func:`download` knows, by name."""

GROUPS: dict[str, tuple[str, ...]] = {
    "mnist": ("mnist_train_images", "mnist_train_labels", "mnist_test_images", "mnist_test_labels"),
}
"""Names that stand for several datasets: ``fetch('mnist')`` fetches the four IDX files."""

_MNIST_PKL_SPLITS: tuple[tuple[str, tuple[int, ...]], ...] = (
    ("train", (4932, 5678, 4968, 5101, 4859, 4506, 4951, 5175, 4842, 4988)),
    ("valid", (991, 1064, 990, 1030, 983, 915, 967, 1090, 1009, 961)),
    ("test", (980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009)),
)
"""What the ``mnist-pickle`` structure check expects: the label counts of each split (train = the
first 50,000 of LeCun's training set, valid = the last 10,000, test = t10k)."""


class DownloadError(RuntimeError):
    """A dataset could not be obtained, or what came matched none of the registry's checks."""


class VerificationError(DownloadError):
    """What a source served matched none of the accepted versions; ``what`` says how it differed."""

    def __init__(self, message: str, what: str) -> None:
        super().__init__(message)
        self.what = what


class CacheWriteError(DownloadError):
    """The cache folder cannot be written: no permission, a read-only file system, or a full disk."""


class DamagedFileError(DownloadError):
    """A cached file cannot be decoded (gzip, zlib, tar or pickle errors): it is damaged or incomplete."""


class DownloadInterrupted(KeyboardInterrupt):
    """Ctrl-C during a download or an extraction; the message says what was (not) left behind."""


class UnknownDatasetError(KeyError, ValueError):
    """A name that is neither in the registry nor a group; the message lists the known names."""

    def __str__(self) -> str:  # KeyError would show the message in quotes
        return str(self.args[0]) if self.args else ""


class UnsafeArchiveError(DownloadError):
    """An archive holds a member that could write outside its folder (or a link, device or fifo)."""


def _lookup(name: str | DatasetSpec, registry: Mapping[str, DatasetSpec] | None) -> DatasetSpec:
    if isinstance(name, DatasetSpec):
        return name
    reg = REGISTRY if registry is None else registry
    if not isinstance(name, str):
        raise TypeError(f"expected a dataset name (str) or a DatasetSpec, got {type(name).__name__}")
    if name not in reg:
        known = ", ".join(sorted(reg))
        hint = f" ('{name}' is a group: use fetch('{name}'))" if name in GROUPS else ""
        raise UnknownDatasetError(f"unknown dataset {name!r}{hint}; known datasets: {known}")
    return reg[name]


# --------------------------------------------------------------------------------------------------
# Where things live
# --------------------------------------------------------------------------------------------------


def cache_dir() -> Path:
    """The cache folder: ``$FOUNDATIONS_DATA``, else ``$XDG_CACHE_HOME/foundations``, else
    ``~/.cache/foundations``. Read at every call, so changing the variable takes effect at once."""
    env = os.environ.get(DATA_ENV)
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "foundations"


def _mirror() -> str | None:
    value = os.environ.get(MIRROR_ENV, "").strip()
    return value or None


def _is_url(value: str) -> bool:
    return urllib.parse.urlsplit(value).scheme.lower() in ("http", "https", "file")


def _mirror_url(base: str, rel: str) -> str:
    return base.rstrip("/") + "/" + urllib.parse.quote(rel)


def _say(message: str) -> None:
    """A one-line notice on stderr (not progress: shown even with ``FOUNDATIONS_PROGRESS=0``)."""
    print(message, file=sys.stderr)


# --------------------------------------------------------------------------------------------------
# Writing into the cache: clear errors for read-only or full folders, recognisable temporary names
# --------------------------------------------------------------------------------------------------

_NOT_WRITABLE = {errno.EACCES, errno.EPERM, errno.EROFS}
_FULL = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}


def _cache_error(name: str, folder: Path, exc: OSError) -> CacheWriteError | None:
    """The :class:`CacheWriteError` for a write that failed on permissions or space, else ``None``."""
    env = os.environ.get(DATA_ENV)
    now = f"{DATA_ENV}={env}" if env else f"{DATA_ENV} is unset, so the default {cache_dir()} is used"
    if exc.errno in _NOT_WRITABLE:
        return CacheWriteError(
            f"{name}: cannot write to the cache folder {folder} ({exc.strerror}; {now}). "
            f"Point {DATA_ENV} at a folder you can write to, e.g. export {DATA_ENV}=$HOME/foundations-data, "
            "or make this folder writable, then run the command again."
        )
    if exc.errno in _FULL:
        return CacheWriteError(
            f"{name}: no space left to write into the cache folder {folder} ({exc.strerror}; {now}). "
            f"Free some space, or point {DATA_ENV} at a folder on a disk with room; nothing was kept."
        )
    return None


@contextmanager
def _writing(name: str, folder: Path) -> Iterator[None]:
    """Turn a permission, read-only or disk-full ``OSError`` raised inside into a :class:`CacheWriteError`."""
    try:
        yield
    except OSError as exc:
        err = _cache_error(name, folder, exc)
        if err is None:
            raise
        raise err from None


_HOST = re.sub(r"[^A-Za-z0-9]", "", socket.gethostname())[:32] or "host"
_TEMP_RE = re.compile(r"^\.(?P<base>.+)\.(?P<kind>part|extracting|old)-(?P<host>[A-Za-z0-9]*)-(?P<pid>\d+)-[0-9a-f]+$")
_OLD_TEMP_RE = re.compile(r"^\.(?P<base>.+)\.[A-Za-z0-9_]{8}\.(part|extracting|old)$")  # tempfile's names, before


def _temp_name(base: str, kind: str) -> str:
    """``.<base>.<kind>-<host>-<pid>-<random>``: whose it is can be read off the name."""
    return f".{base}.{kind}-{_HOST}-{os.getpid()}-{secrets.token_hex(4)}"


def _new_part(name: str, dest: Path) -> tuple[int, Path]:
    """Create an empty temporary file beside ``dest`` (mode 0644), open for writing."""
    with _writing(name, dest.parent):
        while True:
            part = dest.with_name(_temp_name(dest.name, "part"))
            try:
                return os.open(part, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o644), part
            except FileExistsError:
                continue


def _writer_alive(pid: int) -> bool | None:
    """Whether process ``pid`` exists (``None``: cannot tell on this system)."""
    if os.name != "posix":  # os.kill(pid, 0) would send Ctrl-C on Windows
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    except OSError:
        return None
    return True


def _stale_reason(name: str, age: float) -> str | None:
    m = _TEMP_RE.match(name)
    if m is not None and m["host"] == _HOST and int(m["pid"]) != os.getpid():
        if _writer_alive(int(m["pid"])) is False:
            return f"process {m['pid']}, which was writing it, is gone"
    if (m is not None or _OLD_TEMP_RE.match(name)) and age > _STALE_AFTER:
        return f"untouched for {age / 60:.0f} minutes"
    return None


def _remove_stale(name: str, folder: Path, base: str) -> None:
    """Remove temporary files and folders that an earlier, killed attempt at ``base`` left in ``folder``.

    A name made by :func:`_temp_name` carries the writer's host and process id: it is stale when that
    process is gone. Any temporary name untouched for ``_STALE_AFTER`` seconds is stale too (a live
    download writes every few seconds, and gives up after 30 silent ones). Each removal is said.
    """
    prefix = f".{base}."
    try:
        entries = [e for e in os.scandir(folder) if e.name.startswith(prefix)]
    except OSError:
        return
    now = time.time()
    for entry in entries:
        try:
            age = now - entry.stat(follow_symlinks=False).st_mtime
            size = entry.stat(follow_symlinks=False).st_size
        except OSError:
            continue
        reason = _stale_reason(entry.name, age)
        if reason is None:
            continue
        try:
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path)
                what = "half-extracted folder"
            else:
                os.unlink(entry.path)
                what = f"partial download ({_human(size)})"
        except OSError:
            continue
        _say(f"{name}: removed the stale {what} {entry.path}: {reason}")


# --------------------------------------------------------------------------------------------------
# Markers: <file>.sha256 beside a verified file, .foundations-complete inside an extracted folder
# --------------------------------------------------------------------------------------------------


class _Marker(NamedTuple):
    sha256: str
    label: str | None  # None: a marker written before markers named the version (sha256 only)
    fingerprint: str | None
    size: int | None


def _marker(path: Path) -> Path:
    return path.with_name(path.name + _MARKER_SUFFIX)


def _marker_text(sha256: str, filename: str, ds: DatasetSpec, label: str, size: int) -> str:
    """``sha256sum`` format on the first line (``sha256sum -c`` reads it; it skips ``#`` lines)."""
    return (
        f"{sha256}  {filename}\n# accepted as: {label}\n# checks: {ds.fingerprint(label)}\n# size: {size}\n"
    )


def _parse_marker(text: str) -> _Marker | None:
    lines = text.splitlines()
    words = lines[0].split() if lines else []
    if not words or len(words[0]) != 64:
        return None
    fields = {}
    for line in lines[1:]:
        if line.startswith("# ") and ": " in line:
            key, value = line[2:].split(": ", 1)
            fields[key] = value.strip()
    size = fields.get("size", "")
    return _Marker(words[0], fields.get("accepted as"), fields.get("checks"), int(size) if size.isdigit() else None)


def _read_marker_file(path: Path) -> _Marker | None:
    try:
        return _parse_marker(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError):
        return None


def _trusted_label(ds: DatasetSpec, m: _Marker | None, size: int | None) -> str | None:
    """The version a marker says was accepted, if the registry still accepts it with the same checks
    (and, given ``size``, the file still has the size it had)."""
    if m is None:
        return None
    if m.label is None:  # an old one-line marker: trusted when it names a sha256 the registry accepts
        for c in ds.checks:
            if c.kind == "sha256" and c.digest == m.sha256 and (size is None or size == c.size):
                return c.label
        return None
    if m.label not in ds.labels or m.fingerprint != ds.fingerprint(m.label):
        return None
    if any(c.kind == "sha256" and c.digest != m.sha256 for c in ds.checks_for(m.label)):
        return None
    if size is not None:
        expected = ds.size_of(m.label)
        if m.size != size or (expected is not None and expected != size):
            return None
    return m.label


def _write_marker(ds: DatasetSpec, path: Path, sha256: str, label: str, size: int) -> None:
    """Write ``<file>.sha256`` atomically, after ``path`` was verified."""
    marker = _marker(path)
    fd, tmp = _new_part(ds.name, marker)
    try:
        with _writing(ds.name, marker.parent):
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(_marker_text(sha256, path.name, ds, label, size))
            os.replace(tmp, marker)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _cached_label(ds: DatasetSpec, path: Path) -> str | None:
    """The accepted version ``path`` holds, when its marker vouches for it (no hashing)."""
    try:
        size = path.stat().st_size
    except OSError:
        return None
    return _trusted_label(ds, _read_marker_file(_marker(path)), size)


def _extracted_label(ds: DatasetSpec) -> str | None:
    """The version an extracted folder came from, when its completion marker vouches for it."""
    if ds.kind != "tgz" or ds.folder is None:
        return None
    return _trusted_label(ds, _read_marker_file(cache_dir() / ds.folder / _UNTAR_MARKER), None)


def is_cached(name: str | DatasetSpec, *, registry: Mapping[str, DatasetSpec] | None = None) -> bool:
    """Whether ``name``'s file is in the cache and marked as verified (no hashing, no I/O to a source)."""
    ds = _lookup(name, registry)
    return _cached_label(ds, cache_dir() / ds.path) is not None


# --------------------------------------------------------------------------------------------------
# Progress bar: a terminal line or one notebook output
# --------------------------------------------------------------------------------------------------


def _in_notebook() -> bool:
    if "ipykernel" not in sys.modules:
        return False
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and type(shell).__name__ == "ZMQInteractiveShell"


def _human(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"  # unreachable; keeps type checkers content


class _Progress:
    """Reports bytes copied, in one of three ways.

    Terminal: one stderr line rewritten with ``\\r``, at most 10 times a second. Notebook (an IPython
    kernel): one display output updated in place at most twice a second, never a log of lines.
    Anything else (a log file, CI): only the final line. ``FOUNDATIONS_PROGRESS=0`` silences it.
    """

    def __init__(self, label: str, total: int, enabled: bool | None = None) -> None:
        self.label, self.total, self.done = label, total, 0
        if enabled is None:
            enabled = os.environ.get(PROGRESS_ENV, "1").strip().lower() not in ("0", "false", "no", "off")
        self.mode = "off"
        self.handle: Any = None
        if enabled:
            if _in_notebook():
                self.mode = "notebook"
            elif getattr(sys.stderr, "isatty", lambda: False)():
                self.mode = "terminal"
            else:
                self.mode = "plain"  # a log or CI: only the final line
        self.interval = {"terminal": 0.1, "notebook": 0.5}.get(self.mode, float("inf"))
        self.last = float("-inf")
        self.width = 0  # length of the terminal line, so the final message can cover it
        self._show(force=True)

    def _text(self) -> str:
        frac = min(self.done / self.total, 1.0) if self.total else 1.0
        width = 30
        bar = "#" * int(frac * width) + "-" * (width - int(frac * width))
        return f"{self.label} [{bar}] {frac:6.1%} {_human(self.done)}/{_human(self.total)}"

    def _show(self, force: bool = False) -> None:
        if self.mode == "off":
            return
        now = time.monotonic()
        if not force and now - self.last < self.interval:
            return
        self.last = now
        text = self._text()
        if self.mode == "terminal":
            self.width = max(self.width, len(text))
            sys.stderr.write("\r" + text)
            sys.stderr.flush()
        elif self.mode == "notebook":
            try:
                from IPython.display import display

                if self.handle is None:
                    self.handle = display({"text/plain": text}, raw=True, display_id=True)
                else:
                    self.handle.update({"text/plain": text}, raw=True)
            except Exception:  # no display machinery after all: print once, then only at the end
                self.mode = "plain"
                print(text, file=sys.stderr)

    def update(self, n: int) -> None:
        self.done += n
        self._show()

    def clear(self) -> None:
        """End without a message (an interrupt, or a check whose result is printed elsewhere)."""
        if self.mode == "terminal":
            sys.stderr.write("\r" + " " * self.width + "\r")
            sys.stderr.flush()
        elif self.mode == "notebook" and self.handle is not None:
            self.handle.update({"text/plain": f"{self.label}: stopped"}, raw=True)

    def close(self, message: str) -> None:
        if self.mode == "terminal":
            sys.stderr.write("\r" + message.ljust(self.width) + "\n")
            sys.stderr.flush()
        elif self.mode == "notebook" and self.handle is not None:
            self.handle.update({"text/plain": message}, raw=True)
        elif self.mode == "plain":
            print(message, file=sys.stderr)


# --------------------------------------------------------------------------------------------------
# Checking a file against the accepted versions
# --------------------------------------------------------------------------------------------------


class _Hashes:
    """Every digest a check may ask for, computed in one pass while the bytes go by."""

    def __init__(self) -> None:
        self.size = 0
        self._sha256 = hashlib.sha256()
        self._md5 = hashlib.md5(usedforsecurity=False)
        self._head = hashlib.md5(usedforsecurity=False)  # of the first 2**20 bytes (fastai's checks.txt)

    def update(self, chunk: bytes) -> None:
        if self.size < _MIB:
            self._head.update(chunk[: _MIB - self.size])
        self._sha256.update(chunk)
        self._md5.update(chunk)
        self.size += len(chunk)

    @property
    def sha256(self) -> str:
        return self._sha256.hexdigest()

    def hexdigest(self, kind: str) -> str:
        return {"sha256": self._sha256, "md5": self._md5, "md5-first-MiB": self._head}[kind].hexdigest()


def _hash_file(path: Path, progress: _Progress | None = None) -> _Hashes:
    hashes = _Hashes()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            hashes.update(chunk)
            if progress is not None:
                progress.update(len(chunk))
    return hashes


class _Accepted(NamedTuple):
    label: str  # which version it is: "mirror copy", "public file", ...
    how: str  # what was checked, for the messages: "sha256 verified", ...


def _how(ds: DatasetSpec, label: str, gzip_checked: bool) -> str:
    """``sha256 verified``; ``md5 (torchvision Imagenette) and md5 of the first MiB (fastai checks.txt)
    verified``; ...: the sha256 is always the course mirror's, the others name their publisher."""
    parts = []
    for c in ds.checks_for(label):
        words = _KIND_WORDS[c.kind]
        if c.kind == "md5-first-MiB" and not c.partial:
            words += f" ({c.source}; the whole file)"
        elif c.kind != "sha256":
            words += f" ({c.source})"
        parts.append(words)
    text = " and ".join(parts) + " verified"
    if ds.partial(label):
        text += ", a partial check"
    if gzip_checked:
        text += ", plus the gzip CRC of the whole file"
    return text


def _is_gzip(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(2) == b"\x1f\x8b"
    except OSError:
        return False


def _gzip_problem(path: Path) -> str | None:
    """Decompress ``path`` to its end, so gzip compares its CRC-32 and length with the trailer's."""
    try:
        with gzip.open(path, "rb") as f:
            while f.read(4 * _CHUNK):
                pass
    except (OSError, EOFError, zlib.error) as exc:
        return f"its gzip stream is damaged ({type(exc).__name__}: {exc})"
    return None


def _identify(ds: DatasetSpec, path: Path, hashes: _Hashes) -> tuple[_Accepted | None, list[tuple[str, str]]]:
    """Which accepted version the file at ``path`` (digests ``hashes``) is, and why it is not the others.

    Sizes and digests are compared first, for every version; the costly checks (a structure check, or
    the gzip CRC that backs a first-MiB md5 of a gzip file) run only for versions that passed them.
    """
    problems: list[tuple[str, str]] = []
    candidates: list[str] = []
    for label in ds.labels:
        problem = None
        for c in ds.checks_for(label):
            if c.size is not None and hashes.size != c.size:
                problem = f"it is {hashes.size:,} bytes, expected {c.size:,}"
                break
            if c.digest is not None and (got := hashes.hexdigest(c.kind)) != c.digest:
                problem = f"got {_KIND_WORDS[c.kind]} {got}, expected {c.digest}"
                break
        if problem is None:
            candidates.append(label)
        else:
            problems.append((label, problem))
    for label in candidates:
        problem, gzip_checked = None, False
        if any(c.kind == "mnist-pickle" for c in ds.checks_for(label)):
            problem = _mnist_pickle_problem(path)
        elif ds.partial(label) and _is_gzip(path):
            problem, gzip_checked = _gzip_problem(path), True
        if problem is None:
            return _Accepted(label, _how(ds, label, gzip_checked)), problems
        problems.append((label, problem))
    return None, problems


def _mismatch(ds: DatasetSpec, hashes: _Hashes, problems: list[tuple[str, str]]) -> str:
    """Why a file is none of the accepted versions, in one clause."""
    if len(ds.labels) == 1:
        size = ds.size_of(ds.labels[0])
        if size is not None and hashes.size < size:
            return f"got only {hashes.size:,} of the expected {size:,} bytes (the transfer was interrupted)"
        return problems[0][1]
    return "it is none of the accepted versions: " + "; ".join(f"not the {lb} ({why})" for lb, why in problems)


def _size_problem(ds: DatasetSpec, length: int | None) -> str | None:
    """Why a file of ``length`` bytes cannot be an accepted version (``None``: it may be one)."""
    if length is None:
        return None
    sizes = [(label, ds.size_of(label)) for label in ds.labels]
    if any(s is None for _, s in sizes):
        return None if length <= ds.max_size else f"it is {length:,} bytes, more than the {ds.max_size:,} accepted"
    if any(length == s for _, s in sizes):
        return None
    if len(sizes) == 1:
        return f"it is {length:,} bytes, expected {sizes[0][1]:,}"
    return f"it is {length:,} bytes, expected " + " or ".join(f"{s:,} ({label})" for label, s in sizes)


# --------------------------------------------------------------------------------------------------
# Downloading
# --------------------------------------------------------------------------------------------------


class _Source(NamedTuple):
    description: str  # what error messages call it
    where: str  # a folder path or a URL
    is_mirror: bool


def _sources(ds: DatasetSpec) -> list[_Source]:
    out = []
    mirror = _mirror()
    if mirror is not None:
        if _is_url(mirror):
            out.append(_Source("mirror", _mirror_url(mirror, ds.path), True))
        else:
            out.append(_Source("mirror", str(Path(mirror).expanduser() / ds.path), True))
    if ds.url is not None:
        out.append(_Source("public URL", ds.url, False))
    return out


def _open(source: _Source) -> tuple[IO[bytes], int | None]:
    """Open a source for reading; raise ``FileNotFoundError``/``OSError``/``URLError`` if it is not there."""
    if not _is_url(source.where):
        f = open(source.where, "rb")
        return f, os.fstat(f.fileno()).st_size
    req = urllib.request.Request(source.where, headers={"User-Agent": "foundations-datasets/0.2"})
    resp = urllib.request.urlopen(req, timeout=_TIMEOUT)  # noqa: S310 (http, https, file only)
    length = resp.headers.get("Content-Length")
    return resp, int(length) if length and length.isdigit() else None


def _verification_error(ds: DatasetSpec, source: _Source, what: str) -> VerificationError:
    advice = (
        f"The mirror's copy is damaged or a different version: replace {source.where} with the "
        f"file from the public URL, or unset {MIRROR_ENV} to download it."
        if source.is_mirror
        else "The download was damaged or the server now serves a different file: try again later, "
        f"or set {MIRROR_ENV} to a folder holding a verified {ds.path}."
    )
    return VerificationError(
        f"{ds.name}: the file from the {source.description} {source.where} failed verification: "
        f"{what}. Nothing was kept in the cache. {advice}",
        what,
    )


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


class _Got(NamedTuple):
    """A verified file in the cache, and which accepted version it is."""

    path: Path
    label: str
    sha256: str
    size: int


def _copy_verified(ds: DatasetSpec, src: IO[bytes], source: _Source, dest: Path, length: int | None) -> _Got:
    """Stream ``src`` into a temporary file beside ``dest``, identify the version, then rename.

    The temporary file is ``.<name>.part-<host>-<pid>-<random>``; it is removed on any failure and on
    Ctrl-C (which becomes :class:`DownloadInterrupted`), and a later call removes one that a killed
    process left behind.
    """
    fd, part = _new_part(ds.name, dest)
    hashes = _Hashes()
    overflow = False
    progress = _Progress(f"{ds.name}", length or ds.size)
    try:
        try:
            while True:
                chunk = src.read(_CHUNK)
                if not chunk:
                    break
                if hashes.size + len(chunk) > ds.max_size:
                    overflow = True  # more than any accepted version: stop reading
                    break
                hashes.update(chunk)
                with _writing(ds.name, dest.parent):
                    _write_all(fd, chunk)
                progress.update(len(chunk))
        finally:
            os.close(fd)
        if overflow:
            single = len(ds.labels) == 1
            raise _verification_error(
                ds, source,
                f"got more than the expected {ds.max_size:,} bytes" if single
                else f"got more than {ds.max_size:,} bytes, the most an accepted version may have",
            )
        if length is not None and hashes.size < length:
            raise _verification_error(
                ds, source, f"got only {hashes.size:,} of the expected {length:,} bytes (the transfer was interrupted)"
            )
        accepted, problems = _identify(ds, part, hashes)
        if accepted is None:
            raise _verification_error(ds, source, _mismatch(ds, hashes, problems))
        with _writing(ds.name, dest.parent):
            os.replace(part, dest)
    except KeyboardInterrupt:
        part.unlink(missing_ok=True)
        progress.clear()
        raise DownloadInterrupted(f"{ds.path} not downloaded; nothing was left in the cache") from None
    except VerificationError:
        part.unlink(missing_ok=True)
        progress.clear()  # the caller says what was wrong: a fallback notice, or the error itself
        raise
    except BaseException:
        part.unlink(missing_ok=True)
        progress.close(f"{ds.name}: failed")
        raise
    _write_marker(ds, dest, hashes.sha256, accepted.label, hashes.size)
    progress.close(
        f"{ds.name}: {_human(hashes.size)} from the {source.description}, {accepted.how} ({accepted.label})"
    )
    return _Got(dest, accepted.label, hashes.sha256, hashes.size)


def _accept_existing(ds: DatasetSpec, dest: Path) -> _Got | None:
    """A file in the cache without a marker it can be trusted by (e.g. copied in by hand): check it."""
    try:
        if _size_problem(ds, dest.stat().st_size) is not None:
            return None
        hashes = _hash_file(dest)
    except OSError:
        return None
    accepted, _ = _identify(ds, dest, hashes)
    if accepted is None:
        return None
    try:
        _write_marker(ds, dest, hashes.sha256, accepted.label, hashes.size)
    except CacheWriteError:
        pass  # a read-only cache: the file is good, it only stays unmarked
    return _Got(dest, accepted.label, hashes.sha256, hashes.size)


def download(
    name: str | DatasetSpec,
    *,
    registry: Mapping[str, DatasetSpec] | None = None,
    force: bool = False,
) -> Path:
    """Return the path of dataset ``name``'s file in the cache, downloading and verifying it if needed.

    ``name`` is a key of ``registry`` (default :data:`REGISTRY`) or a :class:`DatasetSpec`. A cached
    file is trusted without hashing when its ``.sha256`` marker (written only after verification)
    names a version the registry accepts, with the same checks, and its size matches; otherwise it is
    checked again, and replaced if it is wrong. A new copy comes from ``$FOUNDATIONS_MIRROR`` first,
    then the public URL (also when the mirror's copy fails every check: that is said on stderr); it is
    written to a temporary file in the cache, identified as one of the accepted versions, and only
    then renamed into place, so an interrupted or corrupted download leaves nothing behind.
    ``force=True`` downloads again even when the cache holds a verified copy.

    Raises :class:`DownloadError` when no source can provide the file or what came fails every check
    (:class:`CacheWriteError` when the cache folder cannot be written), and
    :class:`DownloadInterrupted` on Ctrl-C. Used from Lesson 8, "Matrix multiplication"
    (lessons/08_matmul), through :func:`get_mnist`.
    """
    return _download(_lookup(name, registry), force=force).path


def _download(ds: DatasetSpec, *, force: bool) -> _Got:
    dest = cache_dir() / ds.path
    if not force:
        label = _cached_label(ds, dest)
        if label is not None:
            m = _read_marker_file(_marker(dest))
            assert m is not None
            return _Got(dest, label, m.sha256, dest.stat().st_size)
        if dest.is_file() and (got := _accept_existing(ds, dest)) is not None:
            return got
    with _writing(ds.name, dest.parent):
        dest.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale(ds.name, dest.parent, dest.name)
    sources = _sources(ds)
    if not sources:
        raise DownloadError(
            f"{ds.name} has no public URL; it is only available from a mirror. "
            f"Set {MIRROR_ENV} to a folder (or URL) holding {ds.path}."
        ) from None
    tried: list[str] = []
    damaged_mirror: str | None = None
    for i, source in enumerate(sources):
        try:
            src, length = _open(source)
        except (OSError, http.client.HTTPException, ValueError) as exc:
            tried.append(f"{source.description} {source.where} ({_reason(exc)})")
            continue
        try:
            with src:
                problem = _size_problem(ds, length)  # wrong before a byte is read: don't fetch it
                if problem is not None:
                    raise _verification_error(ds, source, problem)
                return _copy_verified(ds, src, source, dest, length)
        except VerificationError as exc:
            if source.is_mirror and i + 1 < len(sources):
                _say(f"{ds.name}: the mirror's copy {source.where} is damaged ({exc.what}); "
                     f"downloading the public URL {ds.url} instead")
                damaged_mirror = f"(The mirror's copy {source.where} was damaged too ({exc.what}).)"
                tried.append(f"mirror {source.where} (damaged: {exc.what})")
                continue
            if damaged_mirror is not None:
                raise VerificationError(f"{exc} {damaged_mirror}", exc.what) from None
            raise
        except DownloadError:
            raise
        except (OSError, http.client.HTTPException, EOFError, ValueError) as exc:
            # http.client.IncompleteRead and connection resets land here: nothing was kept.
            tried.append(f"{source.description} {source.where} (interrupted: {_reason(exc)})")
    raise DownloadError(_failure_message(ds, tried, damaged_mirror is not None)) from None


def _reason(exc: BaseException) -> str:
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code} {exc.reason}"
    if isinstance(exc, urllib.error.URLError):
        return str(exc.reason)
    if isinstance(exc, FileNotFoundError):
        return "no such file"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def _failure_message(ds: DatasetSpec, tried: list[str], mirror_damaged: bool = False) -> str:
    lines = "; ".join(tried)
    mirror = _mirror()
    if ds.url is None:
        todo = f"Set {MIRROR_ENV} to a folder (or URL) holding {ds.path}; this dataset has no public URL."
    elif mirror is None:
        todo = (
            f"Connect to the internet, or set {MIRROR_ENV} to a folder (or URL) holding {ds.path} "
            "and try again."
        )
    elif mirror_damaged:
        todo = f"Replace the mirror's damaged {ds.path}, or connect to the internet to download {ds.url}."
    else:
        todo = (
            f"Check that {MIRROR_ENV}={mirror} holds {ds.path}, or connect to the internet "
            f"to download {ds.url}."
        )
    return f"could not download {ds.name} ({ds.url or 'mirror only'}). Tried: {lines}. {todo}"


# --------------------------------------------------------------------------------------------------
# Re-checking what is cached
# --------------------------------------------------------------------------------------------------


class Verification(NamedTuple):
    """What :func:`verify` found for one dataset."""

    name: str
    status: Literal["ok", "damaged", "missing"]
    message: str


def verify(name: str | DatasetSpec, *, registry: Mapping[str, DatasetSpec] | None = None) -> Verification:
    """Recompute the checks of dataset ``name``'s cached file; change nothing.

    A file whose marker vouches for it is hashed again and compared with the sha256 recorded when it
    was accepted (this catches damage anywhere, even in a file accepted by a first-MiB md5); a file
    without a usable marker is checked against every accepted version. ``python -m
    foundations.datasets verify`` runs this for every dataset.
    """
    ds = _lookup(name, registry)
    path = cache_dir() / ds.path
    repair = f"Repair it with: {_REPAIR} {ds.name}"
    try:
        size = path.stat().st_size
    except OSError:
        if (label := _extracted_label(ds)) is not None and ds.folder is not None:
            return Verification(
                ds.name, "missing",
                f"only its extracted folder {cache_dir() / ds.folder} ({label}) is in the cache; the archive "
                "was removed, so there is nothing to check",
            )
        return Verification(ds.name, "missing", "not in the cache")
    progress = _Progress(f"{ds.name} (verifying)", size)
    try:
        hashes = _hash_file(path, progress)
    finally:
        progress.clear()
    marker = _read_marker_file(_marker(path))
    label = _trusted_label(ds, marker, None)
    if label is not None and marker is not None:
        if hashes.sha256 == marker.sha256 and marker.size in (None, hashes.size):
            return Verification(
                ds.name, "ok", f"ok: {path} is the {label} ({_human(size)}), its sha256 unchanged since it was accepted"
            )
        accepted, _ = _identify(ds, path, hashes)
        if accepted is not None and not ds.partial(accepted.label):
            return Verification(ds.name, "ok", f"ok: {path} is the {accepted.label}, {accepted.how} (its marker was out of date)")
        was = f"{marker.sha256} ({marker.size:,} bytes)" if marker.size is not None else marker.sha256
        return Verification(
            ds.name, "damaged",
            f"DAMAGED: {path} changed since it was accepted as the {label}: its sha256 is now {hashes.sha256} "
            f"({hashes.size:,} bytes), the marker recorded {was}. {repair}",
        )
    accepted, problems = _identify(ds, path, hashes)
    if accepted is not None:
        return Verification(ds.name, "ok", f"ok: {path} is the {accepted.label}, {accepted.how} (it had no valid marker)")
    return Verification(ds.name, "damaged", f"DAMAGED: {path}: {_mismatch(ds, hashes, problems)}. {repair}")


# --------------------------------------------------------------------------------------------------
# Extracting archives
# --------------------------------------------------------------------------------------------------


def _check_member(member: tarfile.TarInfo, folder: str, what: str) -> None:
    """Refuse anything that is not a plain file or folder inside the archive's folder ``folder``.

    Plain string checks, no disk access (archives hold up to 100,000 members): a name is refused if
    it is absolute, has a ``..`` component, or does not start with ``folder/``; a member is refused
    if it is a symbolic or hard link, a device, a fifo, or any other special entry.
    """
    name = member.name
    parts = [p for p in name.replace("\\", "/").split("/") if p not in ("", ".")]
    bad: str | None = None
    if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        bad = "an absolute path"
    elif ".." in parts:
        bad = "a '..' component"
    elif member.issym() or member.islnk():
        bad = f"a {'symbolic' if member.issym() else 'hard'} link (to {member.linkname!r})"
    elif member.ischr() or member.isblk():
        bad = "a device"
    elif member.isfifo():
        bad = "a fifo"
    elif not (member.isfile() or member.isdir()):
        bad = f"an entry of unsupported type {member.type!r}"
    elif not parts or parts[0] != folder:
        bad = f"a path outside the archive's folder {folder!r}"
    elif parts[-1] == _UNTAR_MARKER:
        bad = "the name of the completion marker"
    if bad is not None:
        raise UnsafeArchiveError(
            f"{what}: refusing to extract member {name!r}: it is {bad}. Nothing was extracted. "
            "An archive may only hold plain files and folders under its own top-level folder."
        )


def _plain_member(member: tarfile.TarInfo, dest: str) -> tarfile.TarInfo:
    """Extraction filter for members :func:`_check_member` accepted.

    The member must land inside ``dest``; it gets no owner (so running as root never chowns: files
    belong to whoever extracts) and permissions ``rw-r--r--`` (``rwxr-xr-x`` for folders and
    executables). Cheaper than tarfile's ``"data"`` filter, which resolves every path on disk.
    """
    root = os.path.normpath(dest)
    target = os.path.normpath(os.path.join(root, member.name))
    if os.path.commonpath([root, target]) != root:  # unreachable after _check_member; kept as a guard
        raise UnsafeArchiveError(f"refusing to extract member {member.name!r}: it lands outside {dest}")
    mode = 0o755 if member.isdir() or member.mode & 0o100 else 0o644
    return member.replace(uid=None, gid=None, uname=None, gname=None, mode=mode, deep=False)


def _remove_tree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


def _read_to_end(tf: tarfile.TarFile) -> None:
    """Read the rest of a ``r:gz`` archive, so gzip checks the CRC-32 in its trailer: tarfile stops
    at the end-of-archive blocks, and damage inside a member's data would otherwise go unseen."""
    f = tf.fileobj
    if f is not None:
        while f.read(4 * _CHUNK):
            pass


def untar(
    name: str | DatasetSpec,
    *,
    registry: Mapping[str, DatasetSpec] | None = None,
    force: bool = False,
) -> Path:
    """Download (if needed) and extract archive ``name``; return ``<cache>/<folder>``.

    Every member is checked before anything is written: absolute paths, ``..`` components, symbolic
    and hard links, devices, fifos and anything outside the archive's single top-level folder make
    it raise :class:`UnsafeArchiveError` and leave nothing behind. Extraction goes to a temporary
    folder inside the cache; the archive is read to its end (so its gzip CRC is checked), a marker
    naming the accepted version is written last, and the folder is renamed into place, so a
    half-extracted folder never looks complete (and one without the marker is extracted again).
    Nothing here depends on what the members hold: Imagenette's square mirror images and the public
    file's aspect-preserving ones extract the same way. ``force=True`` downloads and extracts again.
    An archive that cannot be decoded raises :class:`DamagedFileError`, naming the command that
    repairs it.
    """
    ds = _lookup(name, registry)
    if ds.kind != "tgz" or ds.folder is None:
        raise ValueError(f"untar: expected an archive (kind 'tgz'), got {ds.name!r} of kind {ds.kind!r}")
    root = cache_dir()
    final = root / ds.folder
    if not force and _extracted_label(ds) is not None:
        return final
    got = _download(ds, force=force)
    archive = got.path
    _remove_stale(ds.name, root, ds.folder)
    with _writing(ds.name, root):
        tmp = root / _temp_name(ds.folder, "extracting")
        tmp.mkdir(mode=0o700)
    try:
        try:
            with tarfile.open(archive, "r:gz") as tf:
                members = tf.getmembers()
                for m in members:  # every member is checked before anything is written
                    _check_member(m, ds.folder, ds.name)
                if not members:
                    raise UnsafeArchiveError(f"{ds.name}: the archive {archive} is empty")
                tf.extractall(tmp, members=members, filter=_plain_member)
                _read_to_end(tf)
        except KeyboardInterrupt:
            raise DownloadInterrupted(
                f"{ds.name} not extracted; the archive {archive} stays in the cache and nothing "
                "half-extracted was left"
            ) from None
        except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:
            if isinstance(exc, OSError) and (err := _cache_error(ds.name, root, exc)) is not None:
                raise err from None
            raise DamagedFileError(
                f"{ds.name}: could not extract {archive}: {type(exc).__name__}: {exc}. Nothing was extracted. "
                f"The archive is damaged or incomplete; repair it with: {_REPAIR} {ds.name}"
            ) from None
        extracted = tmp / ds.folder
        with _writing(ds.name, root):
            (extracted / _UNTAR_MARKER).write_text(
                _marker_text(got.sha256, archive.name, ds, got.label, got.size), encoding="utf-8"
            )
            if final.exists():  # an incomplete or outdated folder: move it aside, then swap in the new one
                if not force and _extracted_label(ds) is not None:
                    return final  # someone else finished first
                trash = root / _temp_name(ds.folder, "old")
                trash.mkdir(mode=0o700)
                os.replace(final, trash / ds.folder)
                _remove_tree(trash)
            os.replace(extracted, final)
    finally:
        _remove_tree(tmp)
    return final


def fetch(name: str, *, registry: Mapping[str, DatasetSpec] | None = None, force: bool = False) -> Path:
    """Make ``name`` available: a file's cached path, or an archive's extracted folder.

    A group name (``'mnist'``) fetches each member and returns the folder holding them.
    ``force=True`` downloads (and extracts) again even when the cache holds a verified copy.
    """
    if name in GROUPS and (registry is None or name not in registry):
        paths = [fetch(member, registry=registry, force=force) for member in GROUPS[name]]
        return paths[0].parent
    ds = _lookup(name, registry)
    if ds.kind == "tgz":
        return untar(ds, registry=registry, force=force)
    return download(ds, registry=registry, force=force)


# --------------------------------------------------------------------------------------------------
# MNIST
# --------------------------------------------------------------------------------------------------


class MNIST(NamedTuple):
    """MNIST as the course uses it: 50,000 training and 10,000 validation images, pixel/256."""

    x_train: torch.Tensor  # (50000, 784) float32 in [0, 255/256]
    y_train: torch.Tensor  # (50000,) int64
    x_valid: torch.Tensor  # (10000, 784) float32
    y_valid: torch.Tensor  # (10000,) int64


class MNISTTest(NamedTuple):
    """MNIST's separate 10,000-image test set (t10k), scaled like :class:`MNIST`."""

    x_test: torch.Tensor  # (10000, 784) float32
    y_test: torch.Tensor  # (10000,) int64


_IDX_UBYTE = 0x08  # the only IDX type code MNIST uses (unsigned byte)


def read_idx(path: str | os.PathLike[str], *, ndim: int | None = None) -> torch.Tensor:
    """Parse a (gzipped) IDX file, the format LeCun's MNIST files use.

    The header is two zero bytes, a type code (``0x08`` = unsigned byte), the number of dimensions,
    then each dimension as a big-endian int32; the data follows in C order. Raises ``ValueError`` if
    the magic number, the expected ``ndim`` or the data length is wrong.
    """
    import torch

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


class UnsafePickleError(pickle.UnpicklingError):
    """The pickle asked for something other than numpy arrays (unpickling can run code)."""


class _MNISTUnpickler(pickle.Unpickler):
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
        import numpy as np

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


_DECODE_ERRORS = (
    EOFError, zlib.error, gzip.BadGzipFile, ValueError, pickle.UnpicklingError,
    KeyError, IndexError, TypeError, AttributeError,
)  # what reading a damaged gzip, IDX or pickle file raises; not OSErrors with an errno (real I/O errors)


@contextmanager
def _reading(name: str, path: Path) -> Iterator[None]:
    """Turn a decode error of the cached file ``path`` into a :class:`DamagedFileError` that names the
    file and the command that repairs it (a refused pickle stays an :class:`UnsafePickleError`)."""
    try:
        yield
    except UnsafePickleError:
        raise
    except _DECODE_ERRORS as exc:
        raise DamagedFileError(
            f"{name}: the cached file {path} cannot be read ({type(exc).__name__}: {exc}); it is damaged or "
            f"incomplete. Repair it with: {_REPAIR} {name}"
        ) from None


def _unpickle_gz(path: Path) -> Any:
    with gzip.open(path, "rb") as f:
        parts = _MNISTUnpickler(f, encoding="latin-1").load()
        f.read()  # to the end of the gzip stream, so its CRC is checked
    return parts


def _describe_array(a: Any) -> str:
    shape, dtype = getattr(a, "shape", None), getattr(a, "dtype", None)
    return f"{type(a).__name__} of shape {shape} and dtype {dtype}" if shape is not None else type(a).__name__


def _mnist_pickle_problem(path: Path) -> str | None:
    """The structure check of an ``mnist.pkl.gz`` that has no published checksum: ``None`` if it is
    a gzip (whose CRC holds) of a numpy-only pickle of three ``(x, y)`` splits with float32 ``x`` of
    shape (N, 784) holding whole 256ths in [0, 255/256] (pixel/256) and integer ``y`` whose label
    counts are :data:`_MNIST_PKL_SPLITS`; otherwise what is wrong."""
    import numpy as np

    try:
        parts = _unpickle_gz(path)
    except UnsafePickleError as exc:
        return str(exc)
    except (OSError, *_DECODE_ERRORS) as exc:
        return f"it is not a readable gzipped pickle ({type(exc).__name__}: {exc})"
    if not (isinstance(parts, (tuple, list)) and len(parts) == len(_MNIST_PKL_SPLITS)):
        return f"expected {len(_MNIST_PKL_SPLITS)} splits (train, valid, test), got {type(parts).__name__}"
    for (split, counts), pair in zip(_MNIST_PKL_SPLITS, parts):
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


def _load_pkl() -> tuple[tuple[Any, Any], ...]:
    path = download("mnist_pkl")  # verified (sha256, or the structure check) before we unpickle
    with _reading("mnist_pkl", path):
        parts = _unpickle_gz(path)
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
    """MNIST as the course reads it in Lesson 8, "Matrix multiplication" (lessons/08_matmul).

    Returns ``MNIST(x_train, y_train, x_valid, y_valid)``: float32 images flattened to 784 values
    scaled as ``pixel/256`` (so the largest is 0.99609375), shapes (50000, 784) and (10000, 784), and
    int64 labels. The split is the course's: the first 50,000 images of LeCun's training set train,
    the last 10,000 validate (the test set is :func:`get_mnist_test`).

    ``source="idx"`` (default) parses the four original IDX files; ``source="pkl"`` unpickles
    ``mnist.pkl.gz`` (the file the course downloads), which holds the same tensors. Either way the
    files are fetched and verified first; a cached file that no longer decodes raises
    :class:`DamagedFileError`, naming the command that repairs it.
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
        import torch

        (xt, yt), (xv, yv), _test = _load_pkl()
        return MNIST(*(torch.from_numpy(a.copy()) for a in (xt, yt, xv, yv)))
    raise ValueError(f"get_mnist: expected source 'idx' or 'pkl', got {source!r}")


def get_mnist_test(source: str = "idx") -> MNISTTest:
    """MNIST's 10,000 test images (t10k) and labels, scaled like :func:`get_mnist`."""
    if source == "idx":
        return MNISTTest(_idx_tensor("mnist_test_images", images=True), _idx_tensor("mnist_test_labels", images=False))
    if source == "pkl":
        import torch

        _train, _valid, (xs, ys) = _load_pkl()
        return MNISTTest(torch.from_numpy(xs.copy()), torch.from_numpy(ys.copy()))
    raise ValueError(f"get_mnist_test: expected source 'idx' or 'pkl', got {source!r}")


def normalize(x: torch.Tensor, mean: float | torch.Tensor, std: float | torch.Tensor) -> torch.Tensor:
    """``(x - mean) / std``: shift and scale inputs to mean 0 and standard deviation 1.

    Introduced in Lesson 8, "Matrix multiplication" (lessons/08_matmul), where the validation set is
    normalised with the *training* set's statistics. ``x`` must be a floating-point tensor; ``std``
    must be positive (every element, if a tensor) and finite; tensors must broadcast against ``x``.
    The statistics are cast to ``x``'s dtype and device, so the result has ``x``'s dtype.
    """
    import torch

    if not isinstance(x, torch.Tensor):
        raise TypeError(f"normalize: expected x to be a torch.Tensor, got {type(x).__name__}")
    if not x.is_floating_point():
        raise TypeError(
            f"normalize: expected a floating-point x, got dtype {x.dtype} (convert it with x.float())"
        )
    stats: dict[str, torch.Tensor] = {}
    for what, v in (("mean", mean), ("std", std)):
        if isinstance(v, bool) or not isinstance(v, (int, float, torch.Tensor)):
            raise TypeError(f"normalize: expected {what} to be a float or a tensor, got {type(v).__name__}")
        t = torch.as_tensor(v).to(dtype=x.dtype, device=x.device)  # the result keeps x's dtype
        if not torch.isfinite(t).all():
            raise ValueError(f"normalize: expected a finite {what}, got {v}")
        try:
            fits = torch.broadcast_shapes(t.shape, x.shape) == x.shape
        except RuntimeError:
            fits = False
        if not fits:
            raise ValueError(
                f"normalize: {what} of shape {tuple(t.shape)} does not broadcast to x's shape {tuple(x.shape)}"
            )
        stats[what] = t
    if (stats["std"] <= 0).any():
        raise ValueError(f"normalize: expected std > 0, got {std}")
    return (x - stats["mean"]) / stats["std"]


# --------------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------------


def _status(ds: DatasetSpec) -> str:
    label = _extracted_label(ds)
    if label is not None:
        return f"extracted ({label})"
    label = _cached_label(ds, cache_dir() / ds.path)
    return f"yes ({label})" if label is not None else "no"


def _iter_rows(registry: Mapping[str, DatasetSpec]) -> Iterator[tuple[str, str, str, str]]:
    mirror = _mirror()
    for ds in registry.values():
        where = []
        if mirror is not None:
            where.append(f"mirror:{ds.path}")
        if ds.url is not None:
            where.append(ds.url)
        elif mirror is None:
            where.append(f"(mirror only: set {MIRROR_ENV})")
        yield ds.name, _human(ds.size), _status(ds), " then ".join(where)


def _accepts(ds: DatasetSpec) -> list[str]:
    """One line per accepted version: its size and its checks, with who publishes each."""
    lines = []
    for label in ds.labels:
        size = ds.size_of(label)
        text = f"{label}: {size:,} bytes" if size is not None else f"{label}: any size up to {ds.max_size:,} bytes"
        text += ", " + "; ".join(c.describe(alone=ds.partial(label)) for c in ds.checks_for(label))
        if ds.partial(label) and ds.kind == "tgz":
            text += "; plus its gzip CRC over the whole file"
        lines.append(text)
    return lines


def _cmd_list(registry: Mapping[str, DatasetSpec]) -> int:
    header = ("name", "size", "in cache", "source")
    rows = list(_iter_rows(registry))
    widths = [max(len(r[i]) for r in (header, *rows)) for i in range(3)]

    def show(r: tuple[str, str, str, str]) -> None:
        print(f"{r[0]:<{widths[0]}}  {r[1]:>{widths[1]}}  {r[2]:<{widths[2]}}  {r[3]}")

    show(header)
    for row, ds in zip(rows, registry.values()):
        show(row)
        for line in _accepts(ds):
            print(f"    accepts {line}")
    print(f"\ncache: {cache_dir()}")
    print(f"mirror: {_mirror() or f'(none; set {MIRROR_ENV})'}")
    for group, members in GROUPS.items():
        print(f"group {group}: {', '.join(members)}")
    return 0


def _cmd_fetch(names: list[str], force: bool) -> int:
    for name in names:
        try:
            path = fetch(name, force=force)
        except (DownloadError, OSError, ValueError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        print(f"{name}: {path}")
    return 0


def _cmd_verify(names: list[str]) -> int:
    targets: list[str] = []
    for name in names or list(REGISTRY):
        for member in (name,) if name in REGISTRY else GROUPS[name]:
            if member not in targets:
                targets.append(member)
    counts = {"ok": 0, "damaged": 0, "missing": 0}
    for name in targets:
        try:
            result = verify(name)
        except OSError as exc:
            result = Verification(name, "damaged", f"DAMAGED: cannot be read ({_reason(exc)}). Repair it with: {_REPAIR} {name}")
        counts[result.status] += 1
        print(f"{result.name}: {result.message}")
    print(f"{counts['ok']} ok, {counts['damaged']} damaged, {counts['missing']} not in the cache ({cache_dir()})")
    return 1 if counts["damaged"] else 0


def main(argv: list[str] | None = None) -> int:
    """``python -m foundations.datasets list|fetch [--force] NAME...|verify [NAME...]``.

    Returns the exit code: 0 on success, 1 when ``verify`` found a damaged file, 2 on an error, 130
    after Ctrl-C (one line says what was left; nothing half-written ever is).
    """
    parser = argparse.ArgumentParser(
        prog="python -m foundations.datasets",
        description="List, download and verify the course's datasets.",
        epilog=f"Environment: {DATA_ENV} (cache folder), {MIRROR_ENV} (mirror folder or URL), "
        f"{PROGRESS_ENV}=0 (no progress bar).",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="show every dataset, its size, whether it is cached, its source and checks")
    p_fetch = sub.add_parser("fetch", help="download, verify (and extract) datasets")
    p_fetch.add_argument("--force", action="store_true",
                         help="download (or copy) again even if the cache holds a verified copy, and extract again")
    p_fetch.add_argument("names", nargs="+", metavar="NAME", help=f"dataset or group ({', '.join(GROUPS)})")
    p_verify = sub.add_parser("verify", help="recompute the checks of cached files; exit 1 if any is damaged")
    p_verify.add_argument("names", nargs="*", metavar="NAME", help="datasets or groups (default: all)")
    args = parser.parse_args(argv)
    try:
        if args.command == "list":
            return _cmd_list(REGISTRY)
        for name in args.names:
            if name not in REGISTRY and name not in GROUPS:
                known = ", ".join([*sorted(REGISTRY), *sorted(GROUPS)])
                print(f"error: unknown dataset {name!r}; known: {known}", file=sys.stderr)
                return 2
        if args.command == "verify":
            return _cmd_verify(args.names)
        return _cmd_fetch(args.names, args.force)
    except KeyboardInterrupt as exc:
        if isinstance(exc, DownloadInterrupted) and str(exc):
            what = str(exc)
        else:
            what = f"{args.command} stopped; nothing was left half-written in the cache"
        print(f"interrupted: {what}", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
