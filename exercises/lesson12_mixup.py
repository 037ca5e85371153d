"""Lesson 12 exercises: mixup of a batch, label-smoothed cross-entropy, the Beta density, by hand.

Generated from solutions/lesson12_mixup.py by tools/make_stubs.py: edit the solution, not this file.

Page: lessons/12_mixup. Replace each ``raise NotImplementedError`` line with your code, then grade it:

    .venv/bin/pytest exercises -k mixup_batch
    .venv/bin/pytest exercises -k label_smoothed_ce
    .venv/bin/pytest exercises -k beta_density

The graders compare with PyTorch (``F.cross_entropy(..., label_smoothing=eps)``,
``torch.distributions.Beta``) and with the library's mixup, in float64. Use tensor operations,
``torch.lgamma`` or ``math.lgamma``, ``torch.log_softmax`` and, for the Beta draws of
``mixup_batch``, ``foundations.callbacks.sample_beta``; do not call the library's ``mix_batch``,
``mixup_lambdas``, ``MixUp``, ``beta_pdf``, its label smoothing, or ``torch.distributions`` (the
graders check).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from foundations.callbacks import sample_beta


def mixup_batch(xb: Tensor, yb: Tensor, alpha: float, generator: torch.Generator) -> tuple[Tensor, Tensor, Tensor]:
    """Mix a batch with a shuffled copy of itself, one weight per image (Zhang et al. 2017).

    ``xb`` is ``(N, ...)`` floating point, ``yb`` ``(N,)`` int64. Draw, in this order, from ``generator``:

    1. ``lam = sample_beta(N, alpha, alpha, generator)``, ``(N,)`` float64, then fold it:
       ``lam_i <- max(lam_i, 1 - lam_i)`` (each image stays the larger part of its mixture);
    2. ``perm = torch.randperm(N, generator=generator)``: image ``i``'s partner is ``perm[i]``.

    Return ``(mixed, yb[perm], lam)`` with ``mixed_i = lam_i * xb_i + (1 - lam_i) * xb[perm[i]]``,
    of ``xb``'s shape and dtype (reshape ``lam`` to ``(N, 1, ..., 1)`` so it broadcasts over each
    image, and cast it to ``xb``'s dtype).

    >>> xb = torch.arange(6.0).view(3, 2)
    >>> mixed, y2, lam = mixup_batch(xb, torch.tensor([0, 1, 2]), 0.4, torch.Generator().manual_seed(0))
    >>> mixed.shape, bool((lam >= 0.5).all())
    (torch.Size([3, 2]), True)
    """
    raise NotImplementedError("your code here")


def label_smoothed_ce(pred: Tensor, target: Tensor, eps: float = 0.1) -> Tensor:
    """Cross-entropy against smoothed targets ``q'(k) = (1 - eps) [k = y] + eps / K``, mean over the batch.

    ``pred`` is ``(N, K)`` logits, ``target`` ``(N,)`` int64 class indices. With
    ``log p = log_softmax(pred)`` (stable for logits of any size) the loss of row ``n`` is

        -sum_k q'(k) log p[n, k] = (1 - eps) * (-log p[n, y_n]) + eps * mean_k(-log p[n, k])

    Return the mean over the ``N`` rows, a 0-d tensor; it equals
    ``F.cross_entropy(pred, target, label_smoothing=eps)``.

    >>> round(label_smoothed_ce(torch.zeros(2, 4), torch.tensor([0, 3]), 0.1).item(), 4)  # log 4
    1.3863
    """
    raise NotImplementedError("your code here")


def beta_density(x: Tensor, a: float, b: float) -> Tensor:
    """The Beta(a, b) density at ``x`` in ``(0, 1)``: ``x^(a-1) (1-x)^(b-1) / B(a, b)``, elementwise.

    ``B(a, b) = Γ(a) Γ(b) / Γ(a + b)``. Compute it in logs, ``log B = lgamma(a) + lgamma(b) -
    lgamma(a + b)`` (``math.lgamma``), and the whole density as ``exp`` of a sum of logs: ``Γ(200)``
    overflows float64, ``lgamma(200)`` is about 857. ``a, b > 0`` are Python floats; the result has
    ``x``'s shape and dtype.

    >>> beta_density(torch.tensor([0.25, 0.5]), 2.0, 2.0)   # 6 x (1 - x)
    tensor([1.1250, 1.5000])
    """
    raise NotImplementedError("your code here")
