"""Lesson 10 exercises: covariance and correlation by hand, and the learning-rate finder's two rules.

Generated from solutions/lesson10_foundations.py by tools/make_stubs.py: edit the solution, not this file.

The exercises come from the pages "Python foundations" (lessons/10_python_foundations) and "Early
stopping and the learning-rate finder" (lessons/10_lr_finder). In each body, replace
the line that raises ``NotImplementedError`` with your code, then grade it:

    .venv/bin/pytest exercises -k cov            # or corr, exp_lr, lr_finder_should_stop
    .venv/bin/pytest exercises -m lesson10       # every Lesson 10 exercise

The grader compares ``cov`` and ``corr`` with ``torch.cov`` and ``torch.corrcoef`` in float64,
``exp_lr`` with ``torch.optim.lr_scheduler.ExponentialLR``, and ``lr_finder_should_stop`` with the
rule as the page states it, on many sequences of losses. Use plain tensor arithmetic (``mean``,
``sum``, ``sqrt``) for the statistics, not ``torch.cov``/``torch.var`` themselves (nor
``torch.corrcoef``, ``torch.std``, ``var_mean``/``std_mean``, the ``Tensor`` methods ``.var()`` and
``.std()``, NumPy's versions, or the library's ``foundations.moments``); and write the learning-rate
finder's rule yourself, not with ``foundations.callbacks``. The grader checks: a call to one of those
fails the exercise. ``cov`` and ``corr`` are about the formulas, not the dtype: the grader passes
float64 samples and accepts a float32 result at float32 precision.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from torch import Tensor


def cov(x: Tensor, y: Tensor) -> Tensor:
    """The (unbiased) covariance of paired samples ``x`` and ``y``, as a 0-d tensor.

    Formula: ``sum_i (x_i - mean(x)) * (y_i - mean(y)) / (n - 1)``, for 1-D ``x`` and ``y`` of the
    same length ``n``. This is ``torch.cov(torch.stack([x, y]))[0, 1]``. Raise ``ValueError`` (saying
    what was expected and what came: the grader looks for both lengths, or for ``n``) when the
    lengths differ or ``n < 2``.

    Example::

        >>> cov(torch.tensor([1.0, 2.0, 3.0]), torch.tensor([2.0, 4.0, 7.0]))
        tensor(2.5000)
    """
    raise NotImplementedError("your code here")


def corr(x: Tensor, y: Tensor) -> Tensor:
    """Pearson's correlation of paired samples ``x`` and ``y``, a 0-d tensor in ``[-1, 1]`` (up to rounding).

    Formula: ``cov(x, y) / (std(x) * std(y))``; whether all three divide by ``n - 1`` or ``n`` does
    not matter, it cancels. This is ``torch.corrcoef(torch.stack([x, y]))[0, 1]``. Raise
    ``ValueError`` (saying what was expected and what came: the grader looks for both lengths, or
    for ``n``) when the lengths differ or ``n < 2``.

    Example::

        >>> corr(torch.tensor([1.0, 2.0, 3.0]), torch.tensor([2.0, 4.0, 6.0]))
        tensor(1.)
    """
    raise NotImplementedError("your code here")


def exp_lr(i: int, n: int, min_lr: float, max_lr: float) -> float:
    """The learning-rate finder's learning rate at batch ``i`` of a sweep of ``n`` steps.

    Formula: ``min_lr * (max_lr / min_lr) ** (i / n)``: ``min_lr`` at ``i = 0``, ``max_lr`` at
    ``i = n``, and each batch's rate a constant factor ``(max_lr / min_lr) ** (1 / n)`` times the
    previous one (a straight line on a log scale). Returns a Python float.

    Example::

        >>> exp_lr(0, 100, 1e-6, 10.0), exp_lr(50, 100, 1e-6, 10.0), exp_lr(100, 100, 1e-6, 10.0)
        (1e-06, 0.0031622776601683794, 10.0)
    """
    raise NotImplementedError("your code here")


def lr_finder_should_stop(losses: Sequence[float], iteration: int, max_iter: int, factor: float = 10.0) -> bool:
    """Should the learning-rate finder stop after training batch number ``iteration`` (from 0)?

    ``losses`` holds the losses of batches ``0, 1, ..., iteration`` (at least one). Return ``True``
    when the sweep is done, ``iteration >= max_iter``, or when the loss has exploded: the latest
    loss ``losses[-1]`` is NaN or infinite, or larger than ``factor`` times the smallest loss so far.
    Otherwise return ``False``. The result is a Python ``bool``.

    Example::

        >>> lr_finder_should_stop([2.3, 1.0, 9.0], iteration=2, max_iter=100)    # 9 < 10 * 1
        False
        >>> lr_finder_should_stop([2.3, 1.0, 10.5], iteration=2, max_iter=100)   # 10.5 > 10 * 1
        True
        >>> lr_finder_should_stop([2.3, 2.0, 1.9], iteration=100, max_iter=100)
        True
    """
    raise NotImplementedError("your code here")
