"""Downloading one dataset file into the cache: the sources, the verifying copy, the fallbacks.

Lesson 8, "Matrix multiplication" (lessons/08_matmul), downloads MNIST this way; later lessons fetch
Imagenette, IMDB and WikiText. A new copy comes from ``FOUNDATIONS_MIRROR`` first, then the public
URL (also when the mirror's copy fails every check: that is said on stderr). It is streamed into a
temporary file in the cache with a :class:`~foundations.progress.Progress` bar, identified as one of
the accepted versions (:mod:`foundations.data.verification`), and only then renamed into place and marked,
so a truncated, interrupted or corrupted download never looks like data.

``FOUNDATIONS_MIRROR``
    A mirror tried *before* the public URL: either a folder or an ``http://``, ``https://`` or
    ``file://`` URL base. A dataset is looked for at ``<mirror>/<mirror path>``, where the mirror path
    is the file name the public URL serves (``mnist_idx/train-images-idx3-ubyte.gz``,
    ``imagenette2-160.tgz``, ...). If the mirror lacks the file, or its copy fails every check, the
    public URL is used instead.

``__all__`` is what a learner uses: :func:`download` and :data:`MIRROR_ENV`. Package internals (not
in ``__all__``; sibling modules import them by name): :func:`download_verified` and what it returns
(:class:`Got`), the sources (:class:`Source`, :func:`sources_for`, :func:`mirror_base`) and
:func:`reason`, which words a failed source for messages.

Imports the core (:mod:`foundations.progress`) and :mod:`foundations.data.registry`, ``errors``,
``cache`` and ``verification``.
"""

from __future__ import annotations

import http.client
import os
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import IO, NamedTuple

from foundations.data.cache import (
    cache_dir,
    cached_label,
    marker_path,
    new_part,
    read_marker,
    remove_stale,
    say,
    write_marker,
    writing,
)
from foundations.data.verification import CHUNK, Hashes, hash_file, identify, mismatch, size_problem
from foundations.data.errors import CacheWriteError, DownloadError, DownloadInterrupted, VerificationError
from foundations.data.registry import DatasetSpec, lookup
from foundations.progress import Progress, human_bytes

__all__ = ["MIRROR_ENV", "download"]

MIRROR_ENV = "FOUNDATIONS_MIRROR"
"""The environment variable naming a mirror (a folder or a URL base) tried before the public URL.
Derived in Lesson 8, "Matrix multiplication" (lessons/08_matmul), whose MNIST files the course
mirror holds."""

_TIMEOUT = 30.0  # seconds a network connection may stay silent


def mirror_base() -> str | None:
    """``$FOUNDATIONS_MIRROR``, or ``None`` when it is unset or blank (read at every call)."""
    value = os.environ.get(MIRROR_ENV, "").strip()
    return value or None


def _is_url(value: str) -> bool:
    return urllib.parse.urlsplit(value).scheme.lower() in ("http", "https", "file")


def _mirror_url(base: str, rel: str) -> str:
    return base.rstrip("/") + "/" + urllib.parse.quote(rel)


class Source(NamedTuple):
    """One place to copy a dataset file from: the mirror, or the public URL."""

    description: str  # what error messages call it
    where: str  # a folder path or a URL
    is_mirror: bool


def sources_for(ds: DatasetSpec) -> list[Source]:
    """Where ``ds`` may come from, in the order they are tried: the mirror (if set), the public URL."""
    out = []
    mirror = mirror_base()
    if mirror is not None:
        if _is_url(mirror):
            out.append(Source("mirror", _mirror_url(mirror, ds.path), True))
        else:
            out.append(Source("mirror", str(Path(mirror).expanduser() / ds.path), True))
    if ds.url is not None:
        out.append(Source("public URL", ds.url, False))
    return out


def _open(source: Source) -> tuple[IO[bytes], int | None]:
    """Open a source for reading; raise ``FileNotFoundError``/``OSError``/``URLError`` if it is not there."""
    if not _is_url(source.where):
        f = open(source.where, "rb")
        return f, os.fstat(f.fileno()).st_size
    req = urllib.request.Request(source.where, headers={"User-Agent": "foundations-datasets/0.2"})
    resp = urllib.request.urlopen(req, timeout=_TIMEOUT)  # noqa: S310 (http, https, file only)
    length = resp.headers.get("Content-Length")
    return resp, int(length) if length and length.isdigit() else None


def _verification_error(ds: DatasetSpec, source: Source, what: str) -> VerificationError:
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


class Got(NamedTuple):
    """A verified file in the cache, and which accepted version it is."""

    path: Path
    label: str
    sha256: str
    size: int


def _copy_verified(ds: DatasetSpec, src: IO[bytes], source: Source, dest: Path, length: int | None) -> Got:
    """Stream ``src`` into a temporary file beside ``dest``, identify the version, then rename.

    The temporary file is ``.<name>.part-<host>-<pid>-<random>``; it is removed on any failure and on
    Ctrl-C (which becomes :class:`DownloadInterrupted`), and a later call removes one that a killed
    process left behind (:func:`~foundations.data.cache.remove_stale`).
    """
    fd, part = new_part(ds.name, dest)
    hashes = Hashes()
    overflow = False
    progress = Progress(f"{ds.name}", length or ds.size)
    try:
        try:
            while True:
                chunk = src.read(CHUNK)
                if not chunk:
                    break
                if hashes.size + len(chunk) > ds.max_size:
                    overflow = True  # more than any accepted version: stop reading
                    break
                hashes.update(chunk)
                with writing(ds.name, dest.parent):
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
        accepted, problems = identify(ds, part, hashes)
        if accepted is None:
            raise _verification_error(ds, source, mismatch(ds, hashes, problems))
        with writing(ds.name, dest.parent):
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
    write_marker(ds, dest, hashes.sha256, accepted.label, hashes.size)
    progress.close(
        f"{ds.name}: {human_bytes(hashes.size)} from the {source.description}, {accepted.how} ({accepted.label})"
    )
    return Got(dest, accepted.label, hashes.sha256, hashes.size)


def _accept_existing(ds: DatasetSpec, dest: Path) -> Got | None:
    """A file in the cache without a marker it can be trusted by (e.g. copied in by hand): check it."""
    try:
        if size_problem(ds, dest.stat().st_size) is not None:
            return None
        hashes = hash_file(dest)
    except OSError:
        return None
    accepted, _ = identify(ds, dest, hashes)
    if accepted is None:
        return None
    try:
        write_marker(ds, dest, hashes.sha256, accepted.label, hashes.size)
    except CacheWriteError:
        pass  # a read-only cache: the file is good, it only stays unmarked
    return Got(dest, accepted.label, hashes.sha256, hashes.size)


def download(
    name: str | DatasetSpec,
    *,
    registry: Mapping[str, DatasetSpec] | None = None,
    force: bool = False,
) -> Path:
    """Return the path of dataset ``name``'s file in the cache, downloading and verifying it if needed.

    ``name`` is a key of ``registry`` (default :data:`~foundations.data.registry.REGISTRY`) or a
    :class:`~foundations.data.registry.DatasetSpec`. A cached file is trusted without hashing when its
    ``.sha256`` marker (written only after verification) names a version the registry accepts, with
    the same checks, and its size matches; otherwise it is checked again, and replaced if it is wrong.
    A new copy comes from ``$FOUNDATIONS_MIRROR`` first, then the public URL (also when the mirror's
    copy fails every check: that is said on stderr); it is written to a temporary file in the cache,
    identified as one of the accepted versions, and only then renamed into place, so an interrupted or
    corrupted download leaves nothing behind.
    ``force=True`` downloads again even when the cache holds a verified copy.

    Raises :class:`DownloadError` when no source can provide the file or what came fails every check
    (:class:`CacheWriteError` when the cache folder cannot be written), and
    :class:`DownloadInterrupted` on Ctrl-C.

    Derived in Lesson 8, "Matrix multiplication" (lessons/08_matmul), where
    :func:`~foundations.data.mnist.get_mnist` downloads MNIST through it.
    """
    return download_verified(lookup(name, registry), force=force).path


def download_verified(ds: DatasetSpec, *, force: bool) -> Got:
    """:func:`download`, returning which version was accepted and its sha256 (what ``untar`` marks)."""
    dest = cache_dir() / ds.path
    if not force:
        label = cached_label(ds, dest)
        if label is not None:
            m = read_marker(marker_path(dest))
            assert m is not None
            return Got(dest, label, m.sha256, dest.stat().st_size)
        if dest.is_file() and (got := _accept_existing(ds, dest)) is not None:
            return got
    with writing(ds.name, dest.parent):
        dest.parent.mkdir(parents=True, exist_ok=True)
    remove_stale(ds.name, dest.parent, dest.name)
    sources = sources_for(ds)
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
            tried.append(f"{source.description} {source.where} ({reason(exc)})")
            continue
        try:
            with src:
                problem = size_problem(ds, length)  # wrong before a byte is read: don't fetch it
                if problem is not None:
                    raise _verification_error(ds, source, problem)
                return _copy_verified(ds, src, source, dest, length)
        except VerificationError as exc:
            if source.is_mirror and i + 1 < len(sources):
                say(f"{ds.name}: the mirror's copy {source.where} is damaged ({exc.what}); "
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
            tried.append(f"{source.description} {source.where} (interrupted: {reason(exc)})")
    raise DownloadError(_failure_message(ds, tried, damaged_mirror is not None)) from None


def reason(exc: BaseException) -> str:
    """Why opening or reading a source failed, in a few words: ``HTTP 404 Not Found``, ``no such file``."""
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code} {exc.reason}"
    if isinstance(exc, urllib.error.URLError):
        return str(exc.reason)
    if isinstance(exc, FileNotFoundError):
        return "no such file"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def _failure_message(ds: DatasetSpec, tried: list[str], mirror_damaged: bool = False) -> str:
    lines = "; ".join(tried)
    mirror = mirror_base()
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

