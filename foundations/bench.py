"""A small timing helper for comparing versions of a function side by side.

Lesson 8 times a matrix multiply five ways, from three Python loops to ``torch.matmul``, and reads
the speed-ups as ratios measured in one run on one machine. :func:`timeit` does the measuring (like
IPython's ``%timeit``, but returning numbers a page can put in a table) and :func:`format_seconds`
prints a duration in the unit that suits it.

No ``Module`` base: it times any callable.
"""

from __future__ import annotations

import math
import statistics
import time
from dataclasses import dataclass
from typing import Any, Callable

from foundations import checks

__all__ = ["Timing", "format_seconds", "timeit"]


@dataclass(frozen=True)
class Timing:
    """Seconds per call of a timed function: the best and the median of ``repeat`` measurements.

    What :func:`timeit` returns. Derived in Lesson 8, "Matrix multiplication" (lessons/08_matmul).
    """

    best: float
    median: float
    number: int  # calls per measurement
    repeat: int  # measurements

    def __str__(self) -> str:
        return (
            f"{format_seconds(self.best)} best, {format_seconds(self.median)} median "
            f"({self.repeat} runs of {self.number} call{'s' if self.number != 1 else ''})"
        )


def format_seconds(seconds: float) -> str:
    """A duration with three significant figures in a fitting unit: ``'265 ms'``, ``'7.12 µs'``, ``'44.1 min'``.

    Derived in Lesson 8, "Matrix multiplication" (lessons/08_matmul).
    """
    seconds = checks.real("format_seconds", "seconds", seconds, min=0.0)
    seconds = float(f"{seconds:.3g}")  # round first, so that 0.9996 s reads "1 s", not "1e+03 ms"
    for unit, size in (("h", 3600.0), ("min", 60.0), ("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if seconds >= size:
            return f"{seconds / size:.3g} {unit}"
    return f"{seconds / 1e-9:.3g} ns"


def timeit(
    fn: Callable[..., Any],
    *args: Any,
    repeat: int = 5,
    min_time: float = 0.05,
    number: int | None = None,
    warmup: bool = True,
    **kwargs: Any,
) -> Timing:
    """Time ``fn(*args, **kwargs)``: ``repeat`` measurements, each of ``number`` back-to-back calls.

    One untimed call comes first (it warms caches and tells how long a call takes). Unless ``number``
    is given, each measurement makes enough calls to last at least ``min_time`` seconds, so that fast
    functions are not lost in the clock's resolution; a function slower than ``min_time`` gets one
    call per measurement, so timing it costs ``repeat + 1`` calls. For a function so slow that the
    extra call only wastes time (a pure-Python loop has nothing to warm up), ``warmup=False`` skips
    it; each measurement is then one call unless ``number`` says otherwise.
    Report ``best`` for the function's own speed (the least disturbed run) and ``median`` for what a
    caller typically sees.

    Derived in Lesson 8, "Matrix multiplication" (lessons/08_matmul).
    """
    if not callable(fn):
        raise TypeError(f"timeit: expected a callable fn, got {type(fn).__name__}")
    repeat = checks.positive_int("timeit", "repeat", repeat)
    min_time = checks.real("timeit", "min_time", min_time, min=0.0)  # seconds
    number = checks.int_or_none("timeit", "number", number, min=1)
    warmup = checks.boolean("timeit", "warmup", warmup)

    def run(calls: int) -> float:
        start = time.perf_counter()
        for _ in range(calls):
            fn(*args, **kwargs)
        return time.perf_counter() - start

    if warmup:
        elapsed = run(1)  # the warm-up call, also a first estimate of the cost of a call
        if number is None:
            number = 1
            while elapsed < min_time:  # grow the batch of calls until one batch lasts min_time
                number = max(2 * number, math.ceil(1.2 * number * min_time / max(elapsed, 1e-9)))
                elapsed = run(number)
    number = number or 1
    per_call = [run(number) / number for _ in range(repeat)]
    return Timing(best=min(per_call), median=statistics.median(per_call), number=number, repeat=repeat)
