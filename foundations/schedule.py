"""Hyper-parameter schedules: functions of the position ``pos`` in [0, 1] through training.

Derived in Lesson 9, "Annealing" (lessons/09_annealing). A schedule answers one question: at this
point of training (``pos = 0`` at the first batch, ``pos -> 1`` at the last), what should the
learning rate (or momentum, or any other hyper-parameter) be? The page builds them in steps:

* :func:`annealer` turns a formula ``f(start, end, pos)`` into a factory ``sched(start, end)``
  that returns a :class:`Schedule`, a function of ``pos`` alone;
* :func:`sched_lin`, :func:`sched_cos`, :func:`sched_no` and :func:`sched_exp` are the four formulas
  of the course (linear, cosine, constant, exponential);
* :func:`combine_scheds` glues several schedules end to end, each over its share of training, and
  :func:`cos_1cycle_anneal` gives the two cosine halves of a "1cycle" schedule (Smith 2018, "A
  disciplined approach to neural network hyper-parameters").

:class:`foundations.callbacks.ParamScheduler` calls a schedule before every training batch.
The tests check the cosine and 1cycle shapes against ``torch.optim.lr_scheduler.CosineAnnealingLR``
and ``OneCycleLR``.

Functions of numbers: no ``Module`` base. (The callback that applies a schedule during training is
``foundations.callbacks.ParamScheduler``.)
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from foundations import checks

__all__ = [
    "Schedule",
    "annealer",
    "combine_scheds",
    "cos_1cycle_anneal",
    "sched_cos",
    "sched_exp",
    "sched_lin",
    "sched_no",
]

Formula = Callable[[float, float, float], float]


def _pos(where: str, pos: object) -> float:
    """``pos`` as a float in [0, 1]; a one-element tensor (``n_epochs / epochs`` computed in torch) counts."""
    if isinstance(pos, torch.Tensor) and pos.numel() == 1 and not pos.dtype == torch.bool:
        pos = pos.item()
    return checks.real(where, "pos", pos, min=0.0, max=1.0)


@dataclass(frozen=True)
class Schedule:
    """A hyper-parameter schedule from ``start`` to ``end``: call it with ``pos`` in [0, 1].

    Made by the factories that :func:`annealer` builds (``sched_cos(0.3, 0.6)``), so that it prints
    as what it is. Derived in Lesson 9, "Annealing" (lessons/09_annealing).

    >>> sched_lin(1.0, 2.0)(0.25)
    1.25
    """

    name: str
    start: float
    end: float
    formula: Formula

    def __call__(self, pos: float) -> float:
        return self.formula(self.start, self.end, _pos(repr(self), pos))

    def __repr__(self) -> str:
        return f"{self.name}({self.start:g}, {self.end:g})"


def annealer(f: Formula) -> Callable[[float, float], Schedule]:
    """Decorator: turn a formula ``f(start, end, pos)`` into a factory ``f(start, end) -> Schedule``.

    The course writes each schedule as a formula with three arguments and lets this decorator
    "partially apply" the first two, so ``sched_lin(0.1, 0.5)`` is a function of ``pos`` alone.
    The factory checks that ``start`` and ``end`` are finite numbers; the schedule checks that
    ``pos`` lies in [0, 1]. The factory evaluates the schedule once at ``pos = 0``, so a formula that
    rejects its ``start`` or ``end`` fails when the schedule is made. Derived in Lesson 9,
    "Annealing" (lessons/09_annealing).
    """

    def make(start: float, end: float) -> Schedule:
        start = checks.real(f.__name__, "start", start)
        end = checks.real(f.__name__, "end", end)
        sched = Schedule(f.__name__, start, end, f)
        sched(0.0)  # a formula that rejects start or end (sched_exp's start <= 0) says so now, not mid-training
        return sched

    make.__name__ = make.__qualname__ = f.__name__
    make.__doc__ = f.__doc__
    make.__module__ = f.__module__
    return make


@annealer
def sched_lin(start: float, end: float, pos: float) -> float:
    """Linear: ``start + pos * (end - start)``. Derived in Lesson 9, "Annealing" (lessons/09_annealing)."""
    return start + pos * (end - start)


@annealer
def sched_cos(start: float, end: float, pos: float) -> float:
    """Cosine: ``start + (1 - cos(pi * pos)) / 2 * (end - start)``, flat at both ends.

    Equals ``end + (start - end) * (1 + cos(pi * pos)) / 2``, the formula of
    ``torch.optim.lr_scheduler.CosineAnnealingLR`` (with ``eta_max = start``, ``eta_min = end``).
    Derived in Lesson 9, "Annealing" (lessons/09_annealing).
    """
    return start + (1 - math.cos(math.pi * pos)) / 2 * (end - start)


@annealer
def sched_no(start: float, end: float, pos: float) -> float:
    """Constant: always ``start`` (``end`` is ignored). Derived in Lesson 9, "Annealing" (lessons/09_annealing)."""
    return start


@annealer
def sched_exp(start: float, end: float, pos: float) -> float:
    """Exponential: ``start * (end / start) ** pos``, a straight line on a log scale.

    Needs ``start > 0`` and ``end > 0``. Derived in Lesson 9, "Annealing" (lessons/09_annealing).
    """
    if start <= 0 or end <= 0:
        raise ValueError(f"sched_exp: expected start > 0 and end > 0, got start={start:g}, end={end:g}")
    return start * (end / start) ** pos


def cos_1cycle_anneal(start: float, high: float, end: float) -> list[Schedule]:
    """The two halves of a cosine 1cycle: ``[sched_cos(start, high), sched_cos(high, end)]``.

    Give them to :func:`combine_scheds` with the share of training each half takes, e.g.
    ``combine_scheds([0.3, 0.7], cos_1cycle_anneal(0.3, 0.6, 0.2))``.
    Derived in Lesson 9, "Annealing" (lessons/09_annealing).
    """
    return [sched_cos(start, high), sched_cos(high, end)]


def _check_pcts(pcts: object, scheds: object) -> tuple[list[float], list[Callable[[float], float]]]:
    """Validate ``combine_scheds``' arguments; return them as lists."""
    where = "combine_scheds"
    if isinstance(pcts, torch.Tensor):
        pcts = pcts.tolist()
    if not isinstance(pcts, Sequence) or isinstance(pcts, str):
        raise TypeError(f"{where}: expected pcts to be a list of numbers, got {type(pcts).__name__} {pcts!r}")
    if not isinstance(scheds, Sequence) or isinstance(scheds, str):
        raise TypeError(f"{where}: expected scheds to be a list of schedules, got {type(scheds).__name__}")
    pcts = [checks.real(where, f"pcts[{i}]", p) for i, p in enumerate(pcts)]
    scheds = list(scheds)
    for i, s in enumerate(scheds):
        if not callable(s):
            raise TypeError(f"{where}: expected scheds[{i}] to be a schedule (a function of pos), got {type(s).__name__}")
    if not pcts or len(pcts) != len(scheds):
        raise ValueError(
            f"{where}: expected one pct per schedule (at least one), got {len(pcts)} pcts and {len(scheds)} schedules"
        )
    if any(p < 0 for p in pcts):
        raise ValueError(f"{where}: expected non-negative pcts, got {pcts}")
    total = math.fsum(pcts)
    if abs(total - 1.0) > 1e-6:
        raise ValueError(f"{where}: expected pcts summing to 1, got {pcts} (sum {total:.6g})")
    return pcts, scheds


def combine_scheds(pcts: Sequence[float], scheds: Sequence[Callable[[float], float]]) -> Callable[[float], float]:
    """Run ``scheds[i]`` over the fraction ``pcts[i]`` of training, one after another.

    ``pcts`` must be non-negative, one per schedule, and sum to 1 (within 1e-6); a schedule given
    ``0`` is skipped. Inside its share, each schedule sees its own position rescaled to [0, 1]:
    with boundaries ``b_i = pcts[0] + ... + pcts[i-1]``, the combined schedule at ``pos`` in
    ``[b_i, b_{i+1})`` is ``scheds[i]((pos - b_i) / pcts[i])``; ``pos = 1`` ends the last one.
    Derived in Lesson 9, "Annealing" (lessons/09_annealing).

    >>> f = combine_scheds([0.25, 0.75], [sched_lin(0.0, 1.0), sched_lin(1.0, 0.0)])
    >>> f(0.125), f(0.25), f(1.0)
    (0.5, 1.0, 0.0)
    """
    pcts, scheds = _check_pcts(pcts, scheds)
    bounds = [0.0]
    for p in pcts:
        bounds.append(bounds[-1] + p)
    last = max(i for i, p in enumerate(pcts) if p > 0)  # the last schedule with a share
    for j in range(last + 1, len(bounds)):
        bounds[j] = 1.0  # the sum is 1 within 1e-6: make the end exactly 1

    def combined(pos: float) -> float:
        pos = _pos("combine_scheds", pos)
        # bisect_right skips the zero-width shares: their two boundaries are equal
        i = min(bisect.bisect_right(bounds, pos) - 1, last)
        width = bounds[i + 1] - bounds[i]
        return scheds[i](min(max((pos - bounds[i]) / width, 0.0), 1.0))

    return combined
