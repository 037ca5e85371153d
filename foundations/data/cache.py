"""The cache folder: where it is, writing into it safely, and the markers that vouch for its files.

Lesson 8, "Matrix multiplication" (lessons/08_matmul), caches MNIST here. Every file is verified before
it is moved into the cache, and a ``<file>.sha256`` marker (``sha256sum`` format, plus the version it
was accepted as and the checks it passed) is written beside it; an extracted archive gets a
``.foundations-complete`` marker inside its folder. A file is trusted without hashing only when its
marker names a version the registry still accepts with the same checks. Temporary files are named
``.<name>.part-<host>-<pid>-<random>`` so that a later call can tell, and remove, what a killed
process left behind. A write refused for permissions or space becomes a :class:`CacheWriteError`
that says which folder and what to do.

``FOUNDATIONS_DATA`` is the cache folder. Default: ``$XDG_CACHE_HOME/foundations``, or
``~/.cache/foundations`` when ``XDG_CACHE_HOME`` is unset. It must be writable.

``__all__`` is what a learner uses: :func:`cache_dir`, :func:`is_cached`, :data:`DATA_ENV`.
Package internals (not in ``__all__``; sibling modules import them by name): :func:`say`; writing
into the cache (:func:`writing`, :func:`cache_error`, :func:`new_part`, :func:`temp_name`,
:data:`HOST`, :func:`remove_stale`); the markers (:class:`Marker`, :data:`UNTAR_MARKER`,
:func:`marker_path`, :func:`marker_text`, :func:`read_marker`, :func:`write_marker`) and the version
labels they vouch for (:func:`trusted_label`, :func:`cached_label`, :func:`extracted_label`).

Imports the core (:mod:`foundations.progress`) and :mod:`foundations.data.registry` and
:mod:`foundations.data.errors`.
"""

from __future__ import annotations

import errno
import os
import re
import secrets
import shutil
import socket
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import NamedTuple

from foundations.data.errors import CacheWriteError
from foundations.data.registry import DatasetSpec, lookup
from foundations.progress import human_bytes

__all__ = ["DATA_ENV", "cache_dir", "is_cached"]

DATA_ENV = "FOUNDATIONS_DATA"
"""The environment variable that names the cache folder (see :func:`cache_dir`). Derived in Lesson 8,
"Matrix multiplication" (lessons/08_matmul), which caches MNIST there."""

_STALE_AFTER = 10 * 60.0  # seconds after which an untouched temporary file is abandoned
_MARKER_SUFFIX = ".sha256"  # sidecar written next to a verified file
UNTAR_MARKER = ".foundations-complete"
"""The marker written last inside a fully extracted folder (a folder without it is extracted again)."""


# --------------------------------------------------------------------------------------------------
# Where things live
# --------------------------------------------------------------------------------------------------


def cache_dir() -> Path:
    """The cache folder: ``$FOUNDATIONS_DATA``, else ``$XDG_CACHE_HOME/foundations``, else
    ``~/.cache/foundations``. Read at every call, so changing the variable takes effect at once.

    Derived in Lesson 8, "Matrix multiplication" (lessons/08_matmul), where MNIST is downloaded
    once and cached here.
    """
    env = os.environ.get(DATA_ENV)
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "foundations"


def say(message: str) -> None:
    """A one-line notice on stderr (not progress: shown even with ``FOUNDATIONS_PROGRESS=0``)."""
    print(message, file=sys.stderr)


# --------------------------------------------------------------------------------------------------
# Writing into the cache: clear errors for read-only or full folders, recognisable temporary names
# --------------------------------------------------------------------------------------------------

_NOT_WRITABLE = {errno.EACCES, errno.EPERM, errno.EROFS}
_FULL = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}


def cache_error(name: str, folder: Path, exc: OSError) -> CacheWriteError | None:
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
def writing(name: str, folder: Path) -> Iterator[None]:
    """Turn a permission, read-only or disk-full ``OSError`` raised inside into a :class:`CacheWriteError`."""
    try:
        yield
    except OSError as exc:
        err = cache_error(name, folder, exc)
        if err is None:
            raise
        raise err from None


HOST = re.sub(r"[^A-Za-z0-9]", "", socket.gethostname())[:32] or "host"
"""This machine's name, letters and digits only, as temporary file names carry it."""
_TEMP_RE = re.compile(r"^\.(?P<base>.+)\.(?P<kind>part|extracting|old)-(?P<host>[A-Za-z0-9]*)-(?P<pid>\d+)-[0-9a-f]+$")
_OLD_TEMP_RE = re.compile(r"^\.(?P<base>.+)\.[A-Za-z0-9_]{8}\.(part|extracting|old)$")  # tempfile's names, before


def temp_name(base: str, kind: str) -> str:
    """``.<base>.<kind>-<host>-<pid>-<random>``: whose it is can be read off the name."""
    return f".{base}.{kind}-{HOST}-{os.getpid()}-{secrets.token_hex(4)}"


def new_part(name: str, dest: Path) -> tuple[int, Path]:
    """Create an empty temporary file beside ``dest`` (mode 0644), open for writing."""
    with writing(name, dest.parent):
        while True:
            part = dest.with_name(temp_name(dest.name, "part"))
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
    if m is not None and m["host"] == HOST and int(m["pid"]) != os.getpid():
        if _writer_alive(int(m["pid"])) is False:
            return f"process {m['pid']}, which was writing it, is gone"
    if (m is not None or _OLD_TEMP_RE.match(name)) and age > _STALE_AFTER:
        return f"untouched for {age / 60:.0f} minutes"
    return None


def remove_stale(name: str, folder: Path, base: str) -> None:
    """Remove temporary files and folders that an earlier, killed attempt at ``base`` left in ``folder``.

    A name made by :func:`temp_name` carries the writer's host and process id: it is stale when that
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
                what = f"partial download ({human_bytes(size)})"
        except OSError:
            continue
        say(f"{name}: removed the stale {what} {entry.path}: {reason}")


# --------------------------------------------------------------------------------------------------
# Markers: <file>.sha256 beside a verified file, .foundations-complete inside an extracted folder
# --------------------------------------------------------------------------------------------------


class Marker(NamedTuple):
    """What a marker file says: the sha256, the accepted version, its checks' fingerprint, the size."""

    sha256: str
    label: str | None  # None: a marker written before markers named the version (sha256 only)
    fingerprint: str | None
    size: int | None


def marker_path(path: Path) -> Path:
    """``<file>.sha256``, beside ``path``."""
    return path.with_name(path.name + _MARKER_SUFFIX)


def marker_text(sha256: str, filename: str, ds: DatasetSpec, label: str, size: int) -> str:
    """``sha256sum`` format on the first line (``sha256sum -c`` reads it; it skips ``#`` lines)."""
    return (
        f"{sha256}  {filename}\n# accepted as: {label}\n# checks: {ds.fingerprint(label)}\n# size: {size}\n"
    )


def _parse_marker(text: str) -> Marker | None:
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
    return Marker(words[0], fields.get("accepted as"), fields.get("checks"), int(size) if size.isdigit() else None)


def read_marker(path: Path) -> Marker | None:
    """What the marker file at ``path`` says, or ``None`` if it is missing, unreadable or malformed."""
    try:
        return _parse_marker(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError):
        return None


def trusted_label(ds: DatasetSpec, m: Marker | None, size: int | None) -> str | None:
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


def write_marker(ds: DatasetSpec, path: Path, sha256: str, label: str, size: int) -> None:
    """Write ``<file>.sha256`` atomically, after ``path`` was verified."""
    marker = marker_path(path)
    fd, tmp = new_part(ds.name, marker)
    try:
        with writing(ds.name, marker.parent):
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(marker_text(sha256, path.name, ds, label, size))
            os.replace(tmp, marker)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def cached_label(ds: DatasetSpec, path: Path) -> str | None:
    """The accepted version ``path`` holds, when its marker vouches for it (no hashing)."""
    try:
        size = path.stat().st_size
    except OSError:
        return None
    return trusted_label(ds, read_marker(marker_path(path)), size)


def extracted_label(ds: DatasetSpec) -> str | None:
    """The version an extracted folder came from, when its completion marker vouches for it."""
    if ds.kind != "tgz" or ds.folder is None:
        return None
    return trusted_label(ds, read_marker(cache_dir() / ds.folder / UNTAR_MARKER), None)


def is_cached(name: str | DatasetSpec, *, registry: Mapping[str, DatasetSpec] | None = None) -> bool:
    """Whether ``name``'s file is in the cache and marked as verified (no hashing, no I/O to a source).

    Derived in Lesson 8, "Matrix multiplication" (lessons/08_matmul), whose first ``get_mnist()``
    downloads what is not cached yet.
    """
    ds = lookup(name, registry)
    return cached_label(ds, cache_dir() / ds.path) is not None
