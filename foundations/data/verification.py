"""Checking a file against a dataset's accepted versions: as it arrives, and later in the cache.

Lesson 8, "Matrix multiplication" (lessons/08_matmul), trusts MNIST only after these checks. Every
digest a :class:`~foundations.data.registry.Check` may ask for (sha256, md5, the md5 of the first MiB)
is computed in one pass while the bytes go by (:class:`Hashes`); :func:`identify` then says which
accepted version a file is, and why it is not the others. Costly checks run only for versions whose
size and digests already match: the MNIST pickle's structure check, and the gzip CRC over the whole
file that backs a first-MiB md5. :func:`verify` re-checks what is cached and changes nothing.

``__all__`` is what a learner uses: :func:`verify` and the :class:`Verification` it returns.
Package internals (not in ``__all__``; sibling modules import them by name): :class:`Hashes`,
:func:`hash_file`, :data:`CHUNK`, :func:`identify` and the :class:`Accepted` it returns,
:func:`mismatch` and :func:`size_problem`.

Imports the core (:mod:`foundations.progress`) and :mod:`foundations.data.registry`, ``errors``,
``cache`` and ``pickles``.
"""

from __future__ import annotations

import gzip
import hashlib
import zlib
from collections.abc import Mapping
from pathlib import Path
from typing import Literal, NamedTuple

from foundations.data.cache import cache_dir, extracted_label, marker_path, read_marker, trusted_label
from foundations.data.errors import REPAIR
from foundations.data.pickles import mnist_pickle_problem
from foundations.data.registry import KIND_WORDS, MIB, DatasetSpec, lookup
from foundations.progress import Progress, human_bytes

__all__ = ["Verification", "verify"]

CHUNK = 1 << 20
"""Bytes read per step while hashing, copying or decompressing (1 MiB)."""


class Hashes:
    """Every digest a check may ask for, computed in one pass while the bytes go by."""

    def __init__(self) -> None:
        self.size = 0
        self._sha256 = hashlib.sha256()
        self._md5 = hashlib.md5(usedforsecurity=False)
        self._head = hashlib.md5(usedforsecurity=False)  # of the first 2**20 bytes (fastai's checks.txt)

    def update(self, chunk: bytes) -> None:
        """Feed the next bytes of the file to every digest."""
        if self.size < MIB:
            self._head.update(chunk[: MIB - self.size])
        self._sha256.update(chunk)
        self._md5.update(chunk)
        self.size += len(chunk)

    @property
    def sha256(self) -> str:
        """The sha256 of everything so far (what markers record)."""
        return self._sha256.hexdigest()

    def hexdigest(self, kind: str) -> str:
        """The digest a check of ``kind`` ('sha256', 'md5' or 'md5-first-MiB') compares."""
        return {"sha256": self._sha256, "md5": self._md5, "md5-first-MiB": self._head}[kind].hexdigest()


def hash_file(path: Path, progress: Progress | None = None) -> Hashes:
    """Every digest of the file at ``path``, read ``CHUNK`` bytes at a time (``progress`` is told each)."""
    hashes = Hashes()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            hashes.update(chunk)
            if progress is not None:
                progress.update(len(chunk))
    return hashes


class Accepted(NamedTuple):
    """Which accepted version a file is, and what was checked to say so."""

    label: str  # which version it is: "mirror copy", "public file", ...
    how: str  # what was checked, for the messages: "sha256 verified", ...


def _how(ds: DatasetSpec, label: str, gzip_checked: bool) -> str:
    """``sha256 verified``; ``md5 (torchvision Imagenette) and md5 of the first MiB (fastai checks.txt)
    verified``; ...: the sha256 is always the course mirror's, the others name their publisher."""
    parts = []
    for c in ds.checks_for(label):
        words = KIND_WORDS[c.kind]
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
            while f.read(4 * CHUNK):
                pass
    except (OSError, EOFError, zlib.error) as exc:
        return f"its gzip stream is damaged ({type(exc).__name__}: {exc})"
    return None


def identify(ds: DatasetSpec, path: Path, hashes: Hashes) -> tuple[Accepted | None, list[tuple[str, str]]]:
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
                problem = f"got {KIND_WORDS[c.kind]} {got}, expected {c.digest}"
                break
        if problem is None:
            candidates.append(label)
        else:
            problems.append((label, problem))
    for label in candidates:
        problem, gzip_checked = None, False
        if any(c.kind == "mnist-pickle" for c in ds.checks_for(label)):
            problem = mnist_pickle_problem(path)
        elif ds.partial(label) and _is_gzip(path):
            problem, gzip_checked = _gzip_problem(path), True
        if problem is None:
            return Accepted(label, _how(ds, label, gzip_checked)), problems
        problems.append((label, problem))
    return None, problems


def mismatch(ds: DatasetSpec, hashes: Hashes, problems: list[tuple[str, str]]) -> str:
    """Why a file is none of the accepted versions, in one clause."""
    if len(ds.labels) == 1:
        size = ds.size_of(ds.labels[0])
        if size is not None and hashes.size < size:
            return f"got only {hashes.size:,} of the expected {size:,} bytes (the transfer was interrupted)"
        return problems[0][1]
    return "it is none of the accepted versions: " + "; ".join(f"not the {lb} ({why})" for lb, why in problems)


def size_problem(ds: DatasetSpec, length: int | None) -> str | None:
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
# Re-checking what is cached
# --------------------------------------------------------------------------------------------------


class Verification(NamedTuple):
    """What :func:`verify` found for one dataset: ``status`` is ``"ok"``, ``"damaged"`` or
    ``"missing"``, and ``message`` says why (a damaged file's names the command that repairs it).

    Derived in Lesson 8, "Matrix multiplication" (lessons/08_matmul), whose cached MNIST files
    ``python -m foundations.data verify`` re-checks.
    """

    name: str
    status: Literal["ok", "damaged", "missing"]
    message: str


def verify(name: str | DatasetSpec, *, registry: Mapping[str, DatasetSpec] | None = None) -> Verification:
    """Recompute the checks of dataset ``name``'s cached file; change nothing.

    A file whose marker vouches for it is hashed again and compared with the sha256 recorded when it
    was accepted (this catches damage anywhere, even in a file accepted by a first-MiB md5); a file
    without a usable marker is checked against every accepted version. ``python -m
    foundations.data verify`` runs this for every dataset.

    Derived in Lesson 8, "Matrix multiplication" (lessons/08_matmul), which trusts its MNIST
    files only after these checks.
    """
    ds = lookup(name, registry)
    path = cache_dir() / ds.path
    repair = f"Repair it with: {REPAIR} {ds.name}"
    try:
        size = path.stat().st_size
    except OSError:
        if (label := extracted_label(ds)) is not None and ds.folder is not None:
            return Verification(
                ds.name, "missing",
                f"only its extracted folder {cache_dir() / ds.folder} ({label}) is in the cache; the archive "
                "was removed, so there is nothing to check",
            )
        return Verification(ds.name, "missing", "not in the cache")
    progress = Progress(f"{ds.name} (verifying)", size)
    try:
        hashes = hash_file(path, progress)
    finally:
        progress.clear()
    marker = read_marker(marker_path(path))
    label = trusted_label(ds, marker, None)
    if label is not None and marker is not None:
        if hashes.sha256 == marker.sha256 and marker.size in (None, hashes.size):
            return Verification(
                ds.name, "ok", f"ok: {path} is the {label} ({human_bytes(size)}), its sha256 unchanged since it was accepted"
            )
        accepted, _ = identify(ds, path, hashes)
        if accepted is not None and not ds.partial(accepted.label):
            return Verification(ds.name, "ok", f"ok: {path} is the {accepted.label}, {accepted.how} (its marker was out of date)")
        was = f"{marker.sha256} ({marker.size:,} bytes)" if marker.size is not None else marker.sha256
        return Verification(
            ds.name, "damaged",
            f"DAMAGED: {path} changed since it was accepted as the {label}: its sha256 is now {hashes.sha256} "
            f"({hashes.size:,} bytes), the marker recorded {was}. {repair}",
        )
    accepted, problems = identify(ds, path, hashes)
    if accepted is not None:
        return Verification(ds.name, "ok", f"ok: {path} is the {accepted.label}, {accepted.how} (it had no valid marker)")
    return Verification(ds.name, "damaged", f"DAMAGED: {path}: {mismatch(ds, hashes, problems)}. {repair}")

