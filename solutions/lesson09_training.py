"""Lesson 9 exercises: a cosine schedule, combining schedules, and a callback that stops training.

The exercises come from the pages "Callbacks" (lessons/09_callbacks) and "Annealing"
(lessons/09_annealing). Replace the ``raise NotImplementedError`` line(s) in each body with your
code, then grade it:

    .venv/bin/pytest exercises -k sched_cos           # or combine_scheds, stop_after_n_batches
    .venv/bin/pytest exercises -m lesson09            # every Lesson 9 exercise

A *schedule* is a function of ``pos``, the fraction of training done: ``pos = 0`` at the first
training batch, ``pos -> 1`` at the end. The grader compares your schedules with PyTorch's
``torch.optim.lr_scheduler`` (``CosineAnnealingLR``, ``OneCycleLR``) at many positions, and runs your
callback inside ``foundations.learner.Learner`` on a tiny data set, counting the optimizer's steps.
Use Python's ``math`` for the schedules, not the library's ``foundations.schedule`` (the grader
checks: a call to it fails the exercise); the callback needs only what ``foundations.learner`` offers.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from foundations.learner import Callback, CancelTrainException


def sched_cos(start: float, end: float) -> Callable[[float], float]:
    """A cosine schedule from ``start`` (at ``pos = 0``) to ``end`` (at ``pos = 1``).

    Formula: ``f(pos) = start + (1 - cos(pi * pos)) / 2 * (end - start)``. The factor
    ``(1 - cos(pi * pos)) / 2`` rises from 0 to 1 like half a cosine wave, flat at both ends.

    Returns a function of one float ``pos`` in [0, 1] that returns a float. ``start`` may be
    larger or smaller than ``end`` (annealing down, or warming up).

    Example::

        >>> f = sched_cos(1.0, 3.0)
        >>> f(0.0), f(0.5), f(1.0)
        (1.0, 2.0, 3.0)
    """
    # BEGIN SOLUTION
    return lambda pos: start + (1 - math.cos(math.pi * pos)) / 2 * (end - start)
    # END SOLUTION


def combine_scheds(pcts: Sequence[float], scheds: Sequence[Callable[[float], float]]) -> Callable[[float], float]:
    """Glue schedules end to end: ``scheds[i]`` runs over the fraction ``pcts[i]`` of training.

    Formula: with the boundaries ``b_0 = 0`` and ``b_{i+1} = b_i + pcts[i]``, for ``pos`` in
    ``[b_i, b_{i+1})`` the combined schedule returns ``scheds[i]((pos - b_i) / pcts[i])``: each
    schedule sees its own position from 0 to 1. A share of 0 is skipped: its interval is empty, and
    no schedule is ever called for it. At ``pos = 1`` the last schedule *with a share* ends: the
    result is ``scheds[j](1.0)`` for the last ``j`` with ``pcts[j] > 0`` (with ``pcts = [0.5, 0.5,
    0.0]`` that is ``scheds[1](1.0)``, not ``scheds[2]``). Rounding may put a schedule's own position a
    hair outside [0, 1] (``-7e-17`` at a join, ``1.0000000000000009`` at the end of ``[0.1] * 10``,
    ``1.000001`` at the end of pcts that sum to ``0.9999995``): the grader's schedules accept
    positions within ``1e-5`` of [0, 1], so you need not clamp, though the library's schedules
    (``foundations.schedule``) refuse them, so clamping is good practice.

    Checks, each raising ``ValueError`` with a message saying what was expected and what came
    (the grader looks for the values: the two lengths, the negative pct, or the sum): ``pcts`` and
    ``scheds`` have the same length (at least 1); no pct is negative; the pcts sum to 1 within
    ``1e-6`` (so ``[0.1] * 10``, whose float sum is 0.9999999999999999, is fine).

    Returns a function of one float ``pos`` in [0, 1] that returns a float.

    Example::

        >>> up, down = (lambda p: p), (lambda p: 1 - p)   # 0 -> 1, then 1 -> 0
        >>> f = combine_scheds([0.25, 0.75], [up, down])
        >>> f(0.125), f(0.25), f(0.625), f(1.0)
        (0.5, 1.0, 0.5, 0.0)
        >>> combine_scheds([0.3, 0.6], [up, down])
        Traceback (most recent call last):
        ValueError: combine_scheds: expected pcts summing to 1, got [0.3, 0.6] (sum 0.9)
    """
    # BEGIN SOLUTION
    pcts = [float(p) for p in pcts]
    if not pcts or len(pcts) != len(scheds):
        raise ValueError(f"combine_scheds: expected one pct per schedule, got {len(pcts)} pcts and {len(scheds)} schedules")
    if any(p < 0 for p in pcts):
        raise ValueError(f"combine_scheds: expected non-negative pcts, got {pcts}")
    if abs(math.fsum(pcts) - 1.0) > 1e-6:
        raise ValueError(f"combine_scheds: expected pcts summing to 1, got {pcts} (sum {math.fsum(pcts):.6g})")
    starts = [math.fsum(pcts[:i]) for i in range(len(pcts))]
    ends = [s + p for s, p in zip(starts, pcts)]
    used = [i for i, p in enumerate(pcts) if p > 0]  # the schedules with a share of training
    # which(pos): the first schedule (with a share) that ends after pos; pos = 1, or a hair below
    # after rounding, belongs to the last one. local(pos, i): pos rescaled to [0, 1] inside share i.
    which = lambda pos: next((i for i in used if pos < ends[i]), used[-1])  # noqa: E731
    local = lambda pos, i: min(max((pos - starts[i]) / pcts[i], 0.0), 1.0)  # noqa: E731
    return lambda pos: scheds[(i := which(pos))](local(pos, i))
    # END SOLUTION


class StopAfterNBatches(Callback):
    """A callback that stops training once ``n`` training batches have been trained on (``n >= 1``).

    The optimizer must take exactly ``min(n, total)`` steps, where ``total`` is the number of training
    batches that ``fit`` would run without it; after the ``n``-th step, nothing else trains or
    validates (also when ``n`` is exactly ``total``: the last epoch's validation does not run). Count
    the batches yourself (in ``__init__`` and an event method such as ``after_step``), and stop the
    way ``foundations.learner`` expects: by raising ``CancelTrainException`` (returning ``True`` is
    an error there). With ``n > total`` the fit runs to its end, validation included.

    Example::

        learn = Learner(model, data, cross_entropy, lr=0.1, cbs=[StopAfterNBatches(3)])
        learn.fit(2)           # three optimizer steps, then training stops
    """

    def __init__(self, n: int) -> None:
        # BEGIN SOLUTION
        self.n, self.seen = n, 0
        # END SOLUTION

    def after_step(self) -> None:
        # BEGIN SOLUTION
        self.seen += 1
        if self.seen >= self.n:
            raise CancelTrainException()
        # END SOLUTION
