"""The datasets' command line: ``python -m foundations.data list|fetch|verify``.

Lesson 8, "Matrix multiplication" (lessons/08_matmul), gets MNIST with ``get_mnist()``; from a
shell, the same files can be fetched (or checked) ahead of time::

    python -m foundations.data list                      # every dataset, cached or not, its checks
    python -m foundations.data fetch mnist mnist_pkl
    python -m foundations.data fetch --force imdb        # download again, even if cached
    python -m foundations.data verify                    # re-check every cached file

Exit codes: 0 on success, 1 when ``verify`` found a damaged file, 2 on an error, 130 after Ctrl-C
(one line says what was left; nothing half-written ever is).

Environment variables
---------------------
``FOUNDATIONS_DATA``
    The cache folder (:func:`~foundations.data.cache.cache_dir`).
``FOUNDATIONS_MIRROR``
    A folder or URL base tried before the public URL (:mod:`foundations.data.download`).
``FOUNDATIONS_PROGRESS``
    ``0`` turns the progress bar off (:class:`foundations.progress.Progress`).

``__all__`` is :func:`main`, which a notebook may call (``main(["list"])``). Package internals (not
in ``__all__``): :data:`PROG` and :func:`cache_status`.

Imports the core (:mod:`foundations.progress`) and every other data module it runs; nothing in
``foundations.data`` imports this one (``__main__`` calls :func:`main`).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator, Mapping

from foundations.data.archives import fetch
from foundations.data.cache import DATA_ENV, cache_dir, cached_label, extracted_label
from foundations.data.verification import Verification, verify
from foundations.data.download import MIRROR_ENV, mirror_base, reason
from foundations.data.errors import REPAIR, DownloadError, DownloadInterrupted
from foundations.data.registry import GROUPS, REGISTRY, DatasetSpec
from foundations.progress import PROGRESS_ENV, human_bytes

__all__ = ["main"]

PROG = "python -m foundations.data"
"""How the usage and help lines name the command."""


def cache_status(ds: DatasetSpec) -> str:
    """What ``list`` shows under "in cache": ``no``, ``yes (mirror copy)``, ``extracted (public file)``."""
    label = extracted_label(ds)
    if label is not None:
        return f"extracted ({label})"
    label = cached_label(ds, cache_dir() / ds.path)
    return f"yes ({label})" if label is not None else "no"


def _iter_rows(registry: Mapping[str, DatasetSpec]) -> Iterator[tuple[str, str, str, str]]:
    mirror = mirror_base()
    for ds in registry.values():
        where = []
        if mirror is not None:
            where.append(f"mirror:{ds.path}")
        if ds.url is not None:
            where.append(ds.url)
        elif mirror is None:
            where.append(f"(mirror only: set {MIRROR_ENV})")
        yield ds.name, human_bytes(ds.size), cache_status(ds), " then ".join(where)


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
    print(f"mirror: {mirror_base() or f'(none; set {MIRROR_ENV})'}")
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
            result = Verification(name, "damaged", f"DAMAGED: cannot be read ({reason(exc)}). Repair it with: {REPAIR} {name}")
        counts[result.status] += 1
        print(f"{result.name}: {result.message}")
    print(f"{counts['ok']} ok, {counts['damaged']} damaged, {counts['missing']} not in the cache ({cache_dir()})")
    return 1 if counts["damaged"] else 0


def main(argv: list[str] | None = None) -> int:
    """``python -m foundations.data list|fetch [--force] NAME...|verify [NAME...]``.

    Returns the exit code: 0 on success, 1 when ``verify`` found a damaged file, 2 on an error, 130
    after Ctrl-C (one line says what was left; nothing half-written ever is).

    Derived in Lesson 8, "Matrix multiplication" (lessons/08_matmul), whose MNIST files
    ``python -m foundations.data fetch mnist`` downloads ahead of time, from a shell.
    """
    parser = argparse.ArgumentParser(
        prog=PROG,
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
