"""What every benchmark reports beside its medians: the spread of its repeats."""

from __future__ import annotations

import statistics
from collections.abc import Sequence


def spread(xs: Sequence[float]) -> float:
    """The interquartile range of ``xs`` divided by their median (0 when all repeats agree)."""
    q1, _, q3 = statistics.quantiles(xs, n=4)
    return (q3 - q1) / statistics.median(xs)
