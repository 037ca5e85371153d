"""Lesson 9 exercises: the classification loss from scratch, and a shuffling sampler.

Generated from solutions/lesson09_minibatch.py by tools/make_stubs.py: edit the solution, not this file.

Page: lessons/09_minibatch ("Mini-batch training"). Grade with
``pytest exercises/test_lesson09_minibatch.py`` (one exercise: add ``-k logsumexp``).
Use only tensor arithmetic, indexing and reductions (``exp``, ``log``, ``max``, ``sum``, ``argmax``,
``torch.randperm``); not ``torch.logsumexp``, ``torch.softmax``, ``F.cross_entropy`` or their kin
(``log_softmax``, ``nll_loss``, ``torch.special``'s versions, the ``Tensor`` methods of the same
names, the library's ``foundations.losses``): the grader checks, and a call to one fails the exercise.

The grader's logits are float64, plus one float32 batch; a result keeps the dtype of the logits,
but a float32 result for float64 logits is accepted at float32 precision: the numerics of large
logits are the point here, not the dtype.
"""

from __future__ import annotations

import torch
from torch import Tensor


def logsumexp(x: Tensor) -> Tensor:
    """``log(sum_j exp(x_j))`` over the last dimension, without overflow.

    Use the trick ``logsumexp(x) = m + log(sum_j exp(x_j - m))`` with ``m = max_j x_j`` (per row):
    the largest term is then ``exp(0) = 1``. Shapes: ``(N, C) -> (N,)``. It must stay finite for
    logits like ``[1000, -1000]``, where ``exp(1000)`` is ``inf``.

    >>> logsumexp(torch.tensor([[0.0, 0.0], [1000.0, 1000.0]]))  # log 2 and 1000 + log 2
    tensor([6.9315e-01, 1.0007e+03])
    """
    raise NotImplementedError("your code here")


def log_softmax(x: Tensor) -> Tensor:
    """``log(softmax(x))_i = x_i - logsumexp(x)`` over the last dimension; ``(N, C) -> (N, C)``.

    Subtract each row's log-sum-exp from every entry of the row. Each row of
    ``log_softmax(x).exp()`` sums to 1; no ``nan`` or ``inf`` for large logits. In float32 with
    logits near 1e4, ``x - (m + log sum exp(x - m))`` rounds ``m + log ...`` before subtracting;
    ``(x - m) - log sum exp(x - m)`` (``m`` the row's maximum) keeps the small differences exact.

    >>> log_softmax(torch.tensor([[0.0, 0.0]]))  # two equal classes: log(1/2) each
    tensor([[-0.6931, -0.6931]])
    """
    raise NotImplementedError("your code here")


def cross_entropy(logits: Tensor, target: Tensor) -> Tensor:
    """Mean cross-entropy of ``(N, C)`` logits against ``(N,)`` int64 class indices: a 0-d tensor.

    ``-(1/N) sum_n log_softmax(logits)[n, target[n]]``: the negative log likelihood of the right
    class. Pick one entry per row with integer-array indexing, ``lp[torch.arange(N), target]``.
    It must equal ``torch.nn.functional.cross_entropy``, also for logits of +-1000.

    >>> cross_entropy(torch.zeros(4, 10), torch.tensor([0, 3, 9, 1]))  # uniform: log(10)
    tensor(2.3026)
    """
    raise NotImplementedError("your code here")


def accuracy(out: Tensor, yb: Tensor) -> Tensor:
    """Fraction of rows of ``out`` (``(N, C)`` scores) whose largest score is at ``yb`` (``(N,)``).

    Return a 0-d floating-point tensor in ``[0, 1]``; ties go to the first largest score, as
    ``argmax`` does.

    >>> accuracy(torch.tensor([[0.1, 0.9], [0.8, 0.2]]), torch.tensor([1, 1]))
    tensor(0.5000)
    """
    raise NotImplementedError("your code here")


def shuffled_batches(n: int, bs: int, generator: torch.Generator) -> list[Tensor]:
    """The index batches of one shuffled epoch over ``n`` items: a list of int64 tensors.

    Each batch is a 1-D int64 tensor (what ``torch.randperm`` gives). Draw one permutation
    ``torch.randperm(n, generator=generator)`` and cut it into consecutive chunks of ``bs`` (the
    last chunk holds what is left, so it may be smaller). Every index in ``0 .. n-1`` appears
    exactly once. The grader checks that the batches equal ``torch.randperm(n, generator=g)`` split
    into chunks of ``bs`` for a generator ``g`` with the same seed, which is also the order
    ``torch.utils.data.RandomSampler`` uses.

    >>> [b.tolist() for b in shuffled_batches(5, 2, torch.Generator().manual_seed(0))]
    [[4, 0], [1, 3], [2]]
    """
    raise NotImplementedError("your code here")
