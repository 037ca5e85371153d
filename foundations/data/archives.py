"""Extracting the course's archives safely, and :func:`fetch`: a file, or an archive's folder.

Lesson 8, "Matrix multiplication" (lessons/08_matmul), introduces :func:`fetch` with MNIST; later
lessons fetch Imagenette, IMDB and WikiText archives with it. Every member of an archive is checked
before anything is written (:func:`check_member`): only plain files and folders under the archive's
single top-level folder are extracted, never links, devices or paths that climb out. Extraction goes
to a temporary folder in the cache, the archive is read to its end (so its gzip CRC is checked), a
completion marker is written last, and the folder is renamed into place: a half-extracted folder
never looks complete.

``__all__`` is what a learner uses: :func:`fetch` and :func:`untar`. Package internals (not in
``__all__``): :func:`check_member` and :func:`plain_member`, the member checks and extraction
filter that :func:`untar` applies.

Imports :mod:`foundations.data.registry`, ``errors``, ``cache``, ``verification`` and ``download``.
"""

from __future__ import annotations

import os
import shutil
import tarfile
import zlib
from collections.abc import Mapping
from pathlib import Path

from foundations.data.cache import (
    UNTAR_MARKER,
    read_marker,
    cache_dir,
    cache_error,
    extracted_label,
    marker_text,
    remove_stale,
    temp_name,
    writing,
)
from foundations.data.verification import CHUNK
from foundations.data.download import download, download_verified
from foundations.data.errors import REPAIR, DamagedFileError, DownloadInterrupted, UnsafeArchiveError
from foundations.data.registry import GROUPS, DatasetSpec, lookup

__all__ = ["archive_sha256", "fetch", "untar"]

def check_member(member: tarfile.TarInfo, folder: str, what: str) -> None:
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
    elif parts[-1] == UNTAR_MARKER:
        bad = "the name of the completion marker"
    if bad is not None:
        raise UnsafeArchiveError(
            f"{what}: refusing to extract member {name!r}: it is {bad}. Nothing was extracted. "
            "An archive may only hold plain files and folders under its own top-level folder."
        )


def plain_member(member: tarfile.TarInfo, dest: str) -> tarfile.TarInfo:
    """Extraction filter for members :func:`check_member` accepted.

    The member must land inside ``dest``; it gets no owner (so running as root never chowns: files
    belong to whoever extracts) and permissions ``rw-r--r--`` (``rwxr-xr-x`` for folders and
    executables). Cheaper than tarfile's ``"data"`` filter, which resolves every path on disk.
    """
    root = os.path.normpath(dest)
    target = os.path.normpath(os.path.join(root, member.name))
    if os.path.commonpath([root, target]) != root:  # unreachable after check_member; kept as a guard
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
        while f.read(4 * CHUNK):
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

    Derived in Lesson 8, "Matrix multiplication" (lessons/08_matmul), which introduces the data
    layer; no page extracts an archive yet (Imagenette, IMDB and WikiText are for later lessons).
    """
    ds = lookup(name, registry)
    if ds.kind != "tgz" or ds.folder is None:
        raise ValueError(f"untar: expected an archive (kind 'tgz'), got {ds.name!r} of kind {ds.kind!r}")
    root = cache_dir()
    final = root / ds.folder
    if not force and extracted_label(ds) is not None:
        return final
    got = download_verified(ds, force=force)
    archive = got.path
    remove_stale(ds.name, root, ds.folder)
    with writing(ds.name, root):
        tmp = root / temp_name(ds.folder, "extracting")
        tmp.mkdir(mode=0o700)
    try:
        try:
            with tarfile.open(archive, "r:gz") as tf:
                members = tf.getmembers()
                for m in members:  # every member is checked before anything is written
                    check_member(m, ds.folder, ds.name)
                if not members:
                    raise UnsafeArchiveError(f"{ds.name}: the archive {archive} is empty")
                tf.extractall(tmp, members=members, filter=plain_member)
                _read_to_end(tf)
        except KeyboardInterrupt:
            raise DownloadInterrupted(
                f"{ds.name} not extracted; the archive {archive} stays in the cache and nothing "
                "half-extracted was left"
            ) from None
        except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:
            if isinstance(exc, OSError) and (err := cache_error(ds.name, root, exc)) is not None:
                raise err from None
            raise DamagedFileError(
                f"{ds.name}: could not extract {archive}: {type(exc).__name__}: {exc}. Nothing was extracted. "
                f"The archive is damaged or incomplete; repair it with: {REPAIR} {ds.name}"
            ) from None
        extracted = tmp / ds.folder
        with writing(ds.name, root):
            (extracted / UNTAR_MARKER).write_text(
                marker_text(got.sha256, archive.name, ds, got.label, got.size), encoding="utf-8"
            )
            if final.exists():  # an incomplete or outdated folder: move it aside, then swap in the new one
                if not force and extracted_label(ds) is not None:
                    return final  # someone else finished first
                trash = root / temp_name(ds.folder, "old")
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

    Derived in Lesson 8, "Matrix multiplication" (lessons/08_matmul), whose MNIST files
    ``fetch('mnist')`` downloads (``get_mnist()`` does it for you).
    """
    if name in GROUPS and (registry is None or name not in registry):
        paths = [fetch(member, registry=registry, force=force) for member in GROUPS[name]]
        return paths[0].parent
    ds = lookup(name, registry)
    if ds.kind == "tgz":
        return untar(ds, registry=registry, force=force)
    return download(ds, registry=registry, force=force)



def archive_sha256(name: str, *, registry: Mapping[str, DatasetSpec] | None = None) -> str:
    """The sha256 of the archive that ``name``'s extracted folder came from (fetched first if needed).

    Read from the folder's completion marker, written when the archive was verified and extracted,
    so nothing is hashed again. Caches derived from an archive (decoded images, tokenised text) put
    it in their key: a different version of the archive makes a different cache.
    Derived in Lesson 11, "The data block API" (lessons/11_data_block).
    """
    ds = lookup(name, registry)
    if ds.kind != "tgz" or ds.folder is None:
        raise ValueError(f"archive_sha256: expected the name of an archive dataset, got {name!r} ({ds.kind} file)")
    folder = fetch(name, registry=registry)
    marker = read_marker(folder / UNTAR_MARKER)
    if marker is None:
        raise DamagedFileError(f"archive_sha256: {folder} has no readable completion marker; run `{REPAIR} {name}`")
    return marker.sha256
