"""What every benchmark reports beside its medians: the spread of its repeats."""

from __future__ import annotations

import os
import shutil
import statistics
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager


def spread(xs: Sequence[float]) -> float:
    """The interquartile range of ``xs`` divided by their median (0 when all repeats agree)."""
    q1, _, q3 = statistics.quantiles(xs, n=4)
    return (q3 - q1) / statistics.median(xs)


@contextmanager
def fresh_inductor_cache(prefix: str) -> Iterator[None]:
    """A new, empty ``TORCHINDUCTOR_CACHE_DIR`` for the block (removed after, the old value restored),
    so that a first compile timed inside is a first compile, not a hit in a cache an earlier run left."""
    cache = tempfile.mkdtemp(prefix=prefix)
    old = os.environ.get("TORCHINDUCTOR_CACHE_DIR")
    os.environ["TORCHINDUCTOR_CACHE_DIR"] = cache
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("TORCHINDUCTOR_CACHE_DIR", None)
        else:
            os.environ["TORCHINDUCTOR_CACHE_DIR"] = old
        shutil.rmtree(cache, ignore_errors=True)
