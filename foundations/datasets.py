"""The course's datasets: a registry, a verifying downloader, a safe un-tarrer, and MNIST.

MNIST loading is introduced in Lesson 8, "Matrix multiplication" (lessons/08_matmul): the course reads
the 50,000/10,000 train/validation split with pixels scaled to ``pixel/256``; :func:`get_mnist` gives
exactly those tensors. Later lessons use :func:`fetch` for Imagenette, IMDB and WikiText.

Every file is checked against the byte size and sha256 recorded in :data:`REGISTRY` before it is
moved into the cache, so a truncated, interrupted or corrupted download never looks like data.

Environment variables
---------------------
``FOUNDATIONS_DATA``
    The cache folder. Default: ``$XDG_CACHE_HOME/foundations``, or ``~/.cache/foundations`` when
    ``XDG_CACHE_HOME`` is unset.
``FOUNDATIONS_MIRROR``
    A mirror tried *before* the public URL: either a folder or an ``http://``, ``https://`` or
    ``file://`` URL base. A dataset is looked for at ``<mirror>/<mirror path>``, where the mirror path
    is the file name the public URL serves (``mnist_idx/train-images-idx3-ubyte.gz``,
    ``imagenette2-160.tgz``, ...). If the mirror lacks the file the public URL is used instead.
``FOUNDATIONS_PROGRESS``
    ``0`` turns the progress bar off. It is a carriage-return line on stderr in a terminal, and a
    single updating line in a Jupyter notebook.

From the command line::

    python -m foundations.datasets list
    python -m foundations.datasets fetch mnist mnist_pkl
"""

from __future__ import annotations

import argparse
import http.client
import gzip
import hashlib
import os
import pickle
import shutil
import sys
import tarfile
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping
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
    "DatasetSpec",
    "DownloadError",
    "UnknownDatasetError",
    "UnsafeArchiveError",
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
]

DATA_ENV = "FOUNDATIONS_DATA"
MIRROR_ENV = "FOUNDATIONS_MIRROR"
PROGRESS_ENV = "FOUNDATIONS_PROGRESS"

_CHUNK = 1 << 20  # bytes read per step while copying
_TIMEOUT = 30.0  # seconds a network connection may stay silent
_MARKER_SUFFIX = ".sha256"  # sidecar written next to a verified file
_UNTAR_MARKER = ".foundations-complete"  # written inside a fully extracted folder


# --------------------------------------------------------------------------------------------------
# The registry
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DatasetSpec:
    """One downloadable file of the course.

    ``path`` is where the file lives inside a mirror folder and inside the cache; it is the file name
    the public ``url`` serves. ``folder`` (archives only) is the single top-level folder the archive
    holds; :func:`untar` extracts to ``<cache>/<folder>``.
    """

    name: str
    path: str
    size: int
    sha256: str
    url: str | None
    kind: Literal["file", "tgz"]
    note: str
    folder: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in ("file", "tgz"):
            raise ValueError(f"dataset {self.name!r}: expected kind 'file' or 'tgz', got {self.kind!r}")
        if self.kind == "tgz" and not self.folder:
            raise ValueError(f"dataset {self.name!r}: an archive needs the name of its top-level folder")
        if len(self.sha256) != 64 or any(c not in "0123456789abcdef" for c in self.sha256):
            raise ValueError(
                f"dataset {self.name!r}: expected sha256 as 64 lowercase hex digits, got {self.sha256!r}"
            )
        if self.size <= 0:
            raise ValueError(f"dataset {self.name!r}: expected a positive size, got {self.size}")
        parts = PurePosixPath(self.path).parts
        if not parts or PurePosixPath(self.path).is_absolute() or ".." in parts:
            raise ValueError(f"dataset {self.name!r}: expected a relative mirror path, got {self.path!r}")


_MNIST_IDX_URL = "https://ossci-datasets.s3.amazonaws.com/mnist/"


def _entries() -> dict[str, DatasetSpec]:
    items = [
        DatasetSpec(
            "mnist_pkl", "mnist.pkl.gz", 16_720_086,
            "31d9d378fac1e22d453d1357ed8b931e10c470c7d356f97bfd79f5531712e1d7",
            "https://github.com/mnielsen/neural-networks-and-deep-learning/raw/master/data/mnist.pkl.gz",
            "file",
            "deeplearning.net's pickled MNIST (50k/10k/10k, pixel/256); the mirror's copy is rebuilt from "
            "the IDX files, not byte-identical to the public one, so the public file fails this sha256",
        ),
        DatasetSpec(
            "mnist_train_images", "mnist_idx/train-images-idx3-ubyte.gz", 9_912_422,
            "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
            _MNIST_IDX_URL + "train-images-idx3-ubyte.gz", "file",
            "LeCun's MNIST training images, 60,000 x 28 x 28 uint8 (original file, byte-identical)",
        ),
        DatasetSpec(
            "mnist_train_labels", "mnist_idx/train-labels-idx1-ubyte.gz", 28_881,
            "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
            _MNIST_IDX_URL + "train-labels-idx1-ubyte.gz", "file",
            "LeCun's MNIST training labels, 60,000 uint8 (original file, byte-identical)",
        ),
        DatasetSpec(
            "mnist_test_images", "mnist_idx/t10k-images-idx3-ubyte.gz", 1_648_877,
            "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
            _MNIST_IDX_URL + "t10k-images-idx3-ubyte.gz", "file",
            "LeCun's MNIST test images, 10,000 x 28 x 28 uint8 (original file, byte-identical)",
        ),
        DatasetSpec(
            "mnist_test_labels", "mnist_idx/t10k-labels-idx1-ubyte.gz", 4_542,
            "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
            _MNIST_IDX_URL + "t10k-labels-idx1-ubyte.gz", "file",
            "LeCun's MNIST test labels, 10,000 uint8 (original file, byte-identical)",
        ),
        DatasetSpec(
            "imagenette2-160", "imagenette2-160.tgz", 74_403_930,
            "ae2015df631f5308b8a258b05ec5f99473e1e27ef1ac1d0633549b98516df212",
            "https://s3.amazonaws.com/fast-ai-imageclas/imagenette2-160.tgz", "tgz",
            "Imagenette v2, 10 ImageNet classes; the mirror's copy is derived (160x160 squashed, "
            "re-encoded JPEGs, original names and split), so the public file fails this sha256",
            folder="imagenette2-160",
        ),
        DatasetSpec(
            "imdb_sample", "imdb_sample.tgz", 571_808,
            "cfeace2211b6554cb4c1929427188475b4af8ad5facbbc520aad91aefd643b26",
            "https://s3.amazonaws.com/fast-ai-sample/imdb_sample.tgz", "tgz",
            "1,000 IMDB reviews in texts.csv; the mirror's copy is repackaged, so the public file "
            "fails this sha256",
            folder="imdb_sample",
        ),
        DatasetSpec(
            "imdb", "imdb.tgz", 56_643_298,
            "acab74c1b9e2614adab628f24947059fe25aebe5c0f78a92ae3020b8571cf175",
            "https://s3.amazonaws.com/fast-ai-nlp/imdb.tgz", "tgz",
            "Large Movie Review DatasetSpec (100,000 reviews) in fast.ai's layout; the mirror's copy is "
            "repackaged, so the public file fails this sha256",
            folder="imdb",
        ),
        DatasetSpec(
            "wikitext-2-valid-test", "wikitext-2-valid-test.tgz", 787_324,
            "7259213eebb08709b09714bd20c7f2d8c518b1b2c77b7f1d85e7fbd7f0ca09a2",
            None, "tgz",
            "WikiText-2 validation and test tokens only (no training split); mirror-only, no public URL",
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


class DownloadError(RuntimeError):
    """A dataset could not be obtained, or what came did not match the registry's size and sha256."""


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


def _marker(path: Path) -> Path:
    return path.with_name(path.name + _MARKER_SUFFIX)


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _read_marker(path: Path) -> str | None:
    try:
        text = _marker(path).read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError):
        return None
    words = text.split()
    return words[0] if words else None


def _write_marker(path: Path, sha256: str) -> None:
    """Write ``<file>.sha256`` (``sha256sum`` format) atomically, after ``path`` was verified."""
    marker = _marker(path)
    fd, tmp = tempfile.mkstemp(dir=marker.parent, prefix=f".{marker.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "w", encoding="ascii") as f:
            f.write(f"{sha256}  {path.name}\n")
        os.chmod(tmp, 0o644)
        os.replace(tmp, marker)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _cached_ok(ds: DatasetSpec, path: Path) -> bool:
    """True when ``path`` was verified before: its marker names the expected hash and the size matches."""
    try:
        size = path.stat().st_size
    except OSError:
        return False
    return size == ds.size and _read_marker(path) == ds.sha256


def is_cached(name: str | DatasetSpec, *, registry: Mapping[str, DatasetSpec] | None = None) -> bool:
    """Whether ``name``'s file is in the cache and marked as verified (no hashing, no I/O to a source)."""
    ds = _lookup(name, registry)
    return _cached_ok(ds, cache_dir() / ds.path)


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

    def close(self, message: str) -> None:
        if self.mode == "terminal":
            sys.stderr.write("\r" + message.ljust(self.width) + "\n")
            sys.stderr.flush()
        elif self.mode == "notebook" and self.handle is not None:
            self.handle.update({"text/plain": message}, raw=True)
        elif self.mode == "plain":
            print(message, file=sys.stderr)


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
    req = urllib.request.Request(source.where, headers={"User-Agent": "foundations-datasets/0.1"})
    resp = urllib.request.urlopen(req, timeout=_TIMEOUT)  # noqa: S310 (http, https, file only)
    length = resp.headers.get("Content-Length")
    return resp, int(length) if length and length.isdigit() else None


def _verification_error(ds: DatasetSpec, source: _Source, what: str) -> DownloadError:
    advice = (
        f"The mirror's copy is damaged or a different version: replace {source.where} with the "
        f"file from the public URL, or unset {MIRROR_ENV} to download it."
        if source.is_mirror
        else "The download was damaged or the server now serves a different file: try again later, "
        f"or set {MIRROR_ENV} to a folder holding a verified {ds.path}."
    )
    return DownloadError(
        f"{ds.name}: the file from the {source.description} {source.where} failed verification: "
        f"{what}. Nothing was kept in the cache. {advice}"
    )


def _copy_verified(ds: DatasetSpec, src: IO[bytes], source: _Source, dest: Path) -> None:
    """Stream ``src`` into a temporary file beside ``dest``, check size and sha256, then rename."""
    fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    tmp = Path(tmp_name)
    h = hashlib.sha256()
    size = 0
    progress = _Progress(f"{ds.name}", ds.size)
    try:
        with os.fdopen(fd, "wb") as out:
            while True:
                chunk = src.read(_CHUNK)
                if not chunk:
                    break
                size += len(chunk)
                if size > ds.size:
                    break  # more than expected: stop reading, the size check below reports it
                h.update(chunk)
                out.write(chunk)
                progress.update(len(chunk))
        got = h.hexdigest()
        if size > ds.size:
            raise _verification_error(ds, source, f"got more than the expected {ds.size:,} bytes")
        if size < ds.size:
            raise _verification_error(
                ds, source, f"got only {size:,} of the expected {ds.size:,} bytes (the transfer was interrupted)"
            )
        if got != ds.sha256:
            raise _verification_error(ds, source, f"got sha256 {got}, expected {ds.sha256}")
        os.chmod(tmp, 0o644)  # mkstemp makes it private; a cache is readable like any download
        os.replace(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        progress.close(f"{ds.name}: failed")
        raise
    _write_marker(dest, ds.sha256)
    progress.close(f"{ds.name}: {_human(ds.size)} from the {source.description}, sha256 verified")


def download(
    name: str | DatasetSpec,
    *,
    registry: Mapping[str, DatasetSpec] | None = None,
    force: bool = False,
) -> Path:
    """Return the path of dataset ``name``'s file in the cache, downloading and verifying it if needed.

    ``name`` is a key of ``registry`` (default :data:`REGISTRY`) or a :class:`DatasetSpec`. A cached file is
    trusted without hashing when its ``.sha256`` sidecar (written only after verification) names the
    expected hash and its size matches; otherwise it is hashed again, and replaced if it is wrong. A new
    copy comes from ``$FOUNDATIONS_MIRROR`` first, then the public URL; it is written to a temporary
    file in the cache, checked against the registered size and sha256, and only then renamed into
    place, so an interrupted or corrupted download leaves nothing behind. ``force=True`` re-downloads.

    Raises :class:`DownloadError` when no source can provide the file or what came fails verification.
    Used from Lesson 8, "Matrix multiplication" (lessons/08_matmul), through :func:`get_mnist`.
    """
    ds = _lookup(name, registry)
    dest = cache_dir() / ds.path
    if not force:
        if _cached_ok(ds, dest):
            return dest
        if dest.is_file() and dest.stat().st_size == ds.size and _sha256_file(dest) == ds.sha256:
            _write_marker(dest, ds.sha256)  # a verified file without its marker (e.g. copied in by hand)
            return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    sources = _sources(ds)
    if not sources:
        raise DownloadError(
            f"{ds.name} has no public URL; it is only available from a mirror. "
            f"Set {MIRROR_ENV} to a folder (or URL) holding {ds.path}."
        ) from None
    tried: list[str] = []
    for source in sources:
        try:
            src, length = _open(source)
        except (OSError, http.client.HTTPException, ValueError) as exc:
            tried.append(f"{source.description} {source.where} ({_reason(exc)})")
            continue
        if length is not None and length != ds.size:  # wrong before a byte is read: don't fetch it
            src.close()
            raise _verification_error(ds, source, f"it is {length:,} bytes, expected {ds.size:,}")
        try:
            with src:
                _copy_verified(ds, src, source, dest)
            return dest
        except DownloadError:
            raise
        except (OSError, http.client.HTTPException, EOFError, ValueError) as exc:
            # http.client.IncompleteRead and connection resets land here: nothing was kept.
            tried.append(f"{source.description} {source.where} (interrupted: {_reason(exc)})")
    raise DownloadError(_failure_message(ds, tried)) from None


def _reason(exc: BaseException) -> str:
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code} {exc.reason}"
    if isinstance(exc, urllib.error.URLError):
        return str(exc.reason)
    if isinstance(exc, FileNotFoundError):
        return "no such file"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def _failure_message(ds: DatasetSpec, tried: list[str]) -> str:
    lines = "; ".join(tried)
    mirror = _mirror()
    if ds.url is None:
        todo = f"Set {MIRROR_ENV} to a folder (or URL) holding {ds.path}; this dataset has no public URL."
    elif mirror is None:
        todo = (
            f"Connect to the internet, or set {MIRROR_ENV} to a folder (or URL) holding {ds.path} "
            "and try again."
        )
    else:
        todo = (
            f"Check that {MIRROR_ENV}={mirror} holds {ds.path}, or connect to the internet "
            f"to download {ds.url}."
        )
    return f"could not download {ds.name} ({ds.url or 'mirror only'}). Tried: {lines}. {todo}"


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
    folder inside the cache; a marker is written last, and the folder is renamed into place, so a
    half-extracted folder never looks complete (and one without the marker is extracted again).
    """
    ds = _lookup(name, registry)
    if ds.kind != "tgz" or ds.folder is None:
        raise ValueError(f"untar: expected an archive (kind 'tgz'), got {ds.name!r} of kind {ds.kind!r}")
    root = cache_dir()
    final = root / ds.folder
    marker = final / _UNTAR_MARKER
    if not force and _read_text(marker) == ds.sha256:
        return final
    archive = download(ds, registry=registry)
    tmp = Path(tempfile.mkdtemp(dir=root, prefix=f".{ds.folder}.", suffix=".extracting"))
    try:
        try:
            with tarfile.open(archive, "r:gz") as tf:
                members = tf.getmembers()
                for m in members:  # every member is checked before anything is written
                    _check_member(m, ds.folder, ds.name)
                if not members:
                    raise UnsafeArchiveError(f"{ds.name}: the archive {archive} is empty")
                tf.extractall(tmp, members=members, filter=_plain_member)
        except (tarfile.TarError, EOFError, OSError) as exc:
            raise DownloadError(
                f"{ds.name}: could not extract {archive}: {type(exc).__name__}: {exc}. Nothing was kept. "
                f"If the disk is not full, the archive is damaged: delete it and fetch {ds.name!r} again."
            ) from None
        extracted = tmp / ds.folder
        (extracted / _UNTAR_MARKER).write_text(ds.sha256 + "\n", encoding="ascii")
        if final.exists():  # an incomplete or outdated folder: move it aside, then swap in the new one
            if not force and _read_text(marker) == ds.sha256:
                return final  # someone else finished first
            trash = Path(tempfile.mkdtemp(dir=root, prefix=f".{ds.folder}.", suffix=".old"))
            os.replace(final, trash / ds.folder)
            _remove_tree(trash)
        os.replace(extracted, final)
    finally:
        _remove_tree(tmp)
    return final


def _read_text(path: Path) -> str | None:
    try:
        return path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None


def fetch(name: str, *, registry: Mapping[str, DatasetSpec] | None = None) -> Path:
    """Make ``name`` available: a file's cached path, or an archive's extracted folder.

    A group name (``'mnist'``) fetches each member and returns the folder holding them.
    """
    if name in GROUPS and (registry is None or name not in registry):
        paths = [fetch(member, registry=registry) for member in GROUPS[name]]
        return paths[0].parent
    ds = _lookup(name, registry)
    return untar(ds, registry=registry) if ds.kind == "tgz" else download(ds, registry=registry)


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
            raise pickle.UnpicklingError(
                f"mnist.pkl.gz: refusing to load {module}.{name} (only numpy arrays are expected)"
            )
        if module == "_codecs":
            import codecs

            return codecs.encode
        if module == "numpy._core.multiarray":
            return getattr(np._core.multiarray, name)
        return getattr(np, name)


def _load_pkl() -> tuple[tuple[Any, Any], ...]:
    path = download("mnist_pkl")  # verified against the registry's sha256 before we unpickle
    with gzip.open(path, "rb") as f:
        parts = _MNISTUnpickler(f, encoding="latin-1").load()
    if not (isinstance(parts, tuple) and len(parts) == 3):
        raise ValueError(
            "mnist.pkl.gz: expected ((x_train, y_train), (x_valid, y_valid), (x_test, y_test)), "
            f"got {type(parts).__name__}"
        )
    return parts


def get_mnist(source: str = "idx") -> MNIST:
    """MNIST as the course reads it in Lesson 8, "Matrix multiplication" (lessons/08_matmul).

    Returns ``MNIST(x_train, y_train, x_valid, y_valid)``: float32 images flattened to 784 values
    scaled as ``pixel/256`` (so the largest is 0.99609375), shapes (50000, 784) and (10000, 784), and
    int64 labels. The split is the course's: the first 50,000 images of LeCun's training set train,
    the last 10,000 validate (the test set is :func:`get_mnist_test`).

    ``source="idx"`` (default) parses the four original IDX files; ``source="pkl"`` unpickles
    ``mnist.pkl.gz`` (the file the course downloads), which holds the same tensors. Either way the
    files are fetched and sha256-verified first.
    """
    if source == "idx":
        x = _images(download("mnist_train_images"))
        y = _labels(download("mnist_train_labels"))
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
        return MNISTTest(_images(download("mnist_test_images")), _labels(download("mnist_test_labels")))
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
    if ds.kind == "tgz" and ds.folder is not None:
        if _read_text(cache_dir() / ds.folder / _UNTAR_MARKER) == ds.sha256:
            return "extracted"
    return "yes" if _cached_ok(ds, cache_dir() / ds.path) else "no"


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


def _cmd_list(registry: Mapping[str, DatasetSpec]) -> int:
    rows = [("name", "size", "in cache", "source"), *_iter_rows(registry)]
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    for r in rows:
        print(f"{r[0]:<{widths[0]}}  {r[1]:>{widths[1]}}  {r[2]:<{widths[2]}}  {r[3]}")
    print(f"\ncache: {cache_dir()}")
    print(f"mirror: {_mirror() or f'(none; set {MIRROR_ENV})'}")
    for group, members in GROUPS.items():
        print(f"group {group}: {', '.join(members)}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m foundations.datasets list|fetch NAME...``; returns the exit code (2 on error)."""
    parser = argparse.ArgumentParser(
        prog="python -m foundations.datasets",
        description="List, download and verify the course's datasets.",
        epilog=f"Environment: {DATA_ENV} (cache folder), {MIRROR_ENV} (mirror folder or URL), "
        f"{PROGRESS_ENV}=0 (no progress bar).",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="show every dataset, its size, whether it is cached, and its source")
    p_fetch = sub.add_parser("fetch", help="download, verify (and extract) datasets")
    p_fetch.add_argument("names", nargs="+", metavar="NAME", help=f"dataset or group ({', '.join(GROUPS)})")
    args = parser.parse_args(argv)
    if args.command == "list":
        return _cmd_list(REGISTRY)
    for name in args.names:
        if name not in REGISTRY and name not in GROUPS:
            known = ", ".join([*sorted(REGISTRY), *sorted(GROUPS)])
            print(f"error: unknown dataset {name!r}; known: {known}", file=sys.stderr)
            return 2
    for name in args.names:
        try:
            path = fetch(name)
        except (DownloadError, OSError, ValueError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        print(f"{name}: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
