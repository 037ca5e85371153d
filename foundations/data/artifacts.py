"""Expensive results kept in the data cache, keyed by everything they were made from.

Derived in Lesson 12, "Pre-training a language model" (lessons/12_lm_pretrain): a pre-trained model
(or a tokenised corpus) is an **artifact**, not a page's private state. :func:`cached_artifact`
builds it once and keeps it in ``<cache>/artifacts/<kind>/<hash>.pt``, where the hash covers a
``key`` naming everything it depends on (the data's sha256, the vocabulary's size, the
hyper-parameters, the library's format version). The next caller with the same key loads it,
whichever page asks first and whatever order the pages execute in.

- **One builder at a time.** The build runs under an exclusive lock on ``<hash>.lock`` (``fcntl``
  where the system has it), so two pages executing at once do not both train the same model: the
  second waits, then loads what the first kept.
- **Atomic.** The result is written to a temporary file beside its place and renamed, so an
  interrupted build leaves no artifact (and the next build removes its temporary file).
- **Safe to load.** Artifacts are saved with ``torch.save`` and read with
  ``torch.load(..., weights_only=True)``: tensors and plain containers (dicts, lists, str, numbers)
  only, onto the CPU (``map_location``). An unreadable artifact is built again.
- **Readable key.** ``<hash>.json`` beside it holds the key, so ``ls`` tells what each one is.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import torch

from foundations import checks
from foundations.data.cache import cache_dir, new_part, remove_stale, say, writing

__all__ = ["artifact_path", "cached_artifact"]

T = TypeVar("T")

_KIND_OK = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_-")


def _key_json(fn: str, key: Mapping[str, Any]) -> str:
    if not isinstance(key, Mapping):
        raise TypeError(checks.message(fn, "key", "a dict of what the artifact depends on", key))
    try:
        return json.dumps(dict(key), sort_keys=True, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{fn}: expected key to hold only str, numbers, bools, None, lists and dicts ({exc})") from None


def artifact_path(kind: str, key: Mapping[str, Any]) -> Path:
    """Where :func:`cached_artifact` keeps the artifact of ``kind`` made from ``key``:
    ``<cache>/artifacts/<kind>/<first 16 hex digits of sha256(key as sorted JSON)>.pt``.

    Derived in Lesson 12, "Pre-training a language model" (lessons/12_lm_pretrain).
    """
    if not isinstance(kind, str) or not kind or not set(kind) <= _KIND_OK:
        error = ValueError if isinstance(kind, str) else TypeError  # a wrong type is a TypeError (checks' rule)
        raise error(checks.message("artifact_path", "kind", "a lower-case name (letters, digits, _ and -)", kind))
    digest = hashlib.sha256(_key_json("artifact_path", key).encode()).hexdigest()[:16]
    return cache_dir() / "artifacts" / kind / f"{digest}.pt"


@contextmanager
def locked(path: Path) -> Iterator[None]:
    """An exclusive lock on ``path`` (created if missing) while the block runs; no lock where the
    system has no ``fcntl`` (one builder at a time is then the caller's business)."""
    try:
        import fcntl
    except ImportError:  # Windows
        yield
        return
    with open(path, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _load(path: Path) -> Any:
    try:
        return torch.load(path, weights_only=True, map_location="cpu")  # trained on a GPU, read anywhere
    except Exception as exc:  # truncated, foreign or from an older format: build again
        say(f"cached_artifact: cannot read {path.name} ({type(exc).__name__}: {exc}); building it again")
        return None


def cached_artifact(kind: str, key: Mapping[str, Any], build: Callable[[], T]) -> T:
    """The artifact of ``kind`` for ``key``: loaded from the cache, or made by ``build()`` and kept.

    ``build`` returns what ``torch.save`` can write and ``torch.load(weights_only=True)`` can read:
    tensors, dicts, lists, tuples, str, numbers, bools, None. ``key`` (a JSON-able dict) must name
    everything the result depends on; two keys that differ in anything make two artifacts.
    A caller that finds another process building the same artifact waits for it and loads its result.
    Derived in Lesson 12, "Pre-training a language model" (lessons/12_lm_pretrain).
    """
    if not callable(build):
        raise TypeError(checks.message("cached_artifact", "build", "a function of no arguments", build))
    path = artifact_path(kind, key)
    if path.exists():
        obj = _load(path)
        if obj is not None:
            return obj
    with writing(kind, path.parent):
        path.parent.mkdir(parents=True, exist_ok=True)
    with locked(path.with_suffix(".lock")):
        if path.exists():  # built by another process while this one waited
            obj = _load(path)
            if obj is not None:
                return obj
        remove_stale(kind, path.parent, path.name)
        obj = build()
        fd, part = new_part(kind, path)
        try:
            with writing(kind, path.parent), os.fdopen(fd, "wb") as f:
                fd = -1
                torch.save(obj, f)
            os.replace(part, path)
        except BaseException:
            if fd >= 0:
                os.close(fd)
            part.unlink(missing_ok=True)
            raise
        with writing(kind, path.parent):
            path.with_suffix(".json").write_text(json.dumps(dict(key), sort_keys=True, indent=1) + "\n")
    return obj
