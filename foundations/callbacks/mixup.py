"""Mixup: train on mixtures of pairs of images, with the loss mixed in the same proportions.

Derived in Lesson 12, "Mixup and label smoothing" (lessons/12_mixup); the paper is Zhang, Cisse,
Dauphin & Lopez-Paz (2017), walked through in book/papers/zhang2017.

For a training batch ``x`` ``(N, ...)`` with labels ``y`` ``(N,)``, a random permutation ``perm``
pairs each image with another of the same batch, and each pair gets its own weight
``lam_i ~ Beta(alpha, alpha)``, folded to ``lam_i = max(lam_i, 1 - lam_i)`` so that image ``i``
stays the larger part of its own mixture::

    x~_i   = lam_i x_i + (1 - lam_i) x_perm(i)
    loss   = reduce_i( lam_i loss(pred_i, y_i) + (1 - lam_i) loss(pred_i, y_perm(i)) )

The loss is mixed **per sample**. The 2019 course's callback multiplied the ``(N,)`` per-sample
losses by a ``lam`` of shape ``(N, 1, 1, 1)``: broadcasting made that an ``(N, 1, 1, N)`` tensor
whose mean is the loss mixed with the *batch-mean* ``lam``, not with each image's own.

- :func:`beta_pdf`: the Beta density from the Γ function (``lgamma``);
- :func:`sample_beta`: Beta samples from a ``torch.Generator`` (two Gamma samples, Marsaglia & Tsang);
- :func:`mixup_lambdas`, :func:`mix_batch`, :func:`mixup_loss`: the three steps above;
- :func:`per_sample_loss`: a loss function's unreduced losses;
- :class:`MixUp`: the callback (training batches only; validation keeps the plain loss).
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from foundations import checks
from foundations.learner import Callback, Order
from foundations.losses import REDUCTIONS, reduce_loss

__all__ = ["MixUp", "beta_pdf", "mix_batch", "mixup_lambdas", "mixup_loss", "per_sample_loss", "sample_beta"]


def beta_pdf(x: Tensor, a: float, b: float) -> Tensor:
    """The Beta(a, b) density ``x^(a-1) (1-x)^(b-1) / B(a, b)`` at ``x`` in ``(0, 1)``, elementwise.

    ``B(a, b) = Γ(a) Γ(b) / Γ(a + b)``, computed in logs with ``torch.lgamma`` (``Γ`` itself
    overflows float64 beyond 171). Shape of ``x``; a float64 ``x`` gives float64.
    Derived in Lesson 12, "Mixup and label smoothing" (lessons/12_mixup).

    >>> beta_pdf(torch.tensor([0.5]), 1.0, 1.0)   # Beta(1, 1) is uniform
    tensor([1.])
    """
    x = checks.tensor("beta_pdf", "x", x, floating=True)
    a = checks.real("beta_pdf", "a", a, positive=True)
    b = checks.real("beta_pdf", "b", b, positive=True)
    log_b = math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b)  # log B(a, b)
    return ((a - 1) * torch.log(x) + (b - 1) * torch.log1p(-x) - log_b).exp()


def _log_gamma_samples(n: int, shape: float, generator: torch.Generator) -> Tensor:
    """``log G`` for ``n`` samples ``G ~ Gamma(shape, 1)`` (float64), by Marsaglia & Tsang (2000).

    For ``shape < 1``: ``G = G' U^(1/shape)`` with ``G' ~ Gamma(shape + 1)``, kept in logs so that
    tiny shapes do not underflow to 0.
    """
    boost = shape < 1
    d = (shape + 1 if boost else shape) - 1 / 3
    c = 1 / math.sqrt(9 * d)
    out = torch.empty(n, dtype=torch.float64)
    todo = torch.arange(n)
    while len(todo):  # rejection sampling, vectorised: each round keeps about 96 % of its draws
        z = torch.randn(len(todo), generator=generator, dtype=torch.float64)
        u = torch.rand(len(todo), generator=generator, dtype=torch.float64)
        v = (1 + c * z) ** 3
        ok = (v > 0) & (torch.log(u) < 0.5 * z**2 + d - d * v + d * torch.log(v.clamp_min(1e-300)))
        out[todo[ok]] = math.log(d) + torch.log(v[ok])
        todo = todo[~ok]
    if boost:
        u = torch.rand(n, generator=generator, dtype=torch.float64)
        out = out + torch.log(u) / shape
    return out


def sample_beta(n: int, a: float, b: float, generator: torch.Generator | None = None) -> Tensor:
    """``n`` samples of Beta(a, b), float64 ``(n,)``, drawn from ``generator`` (reproducible).

    ``X = G_a / (G_a + G_b)`` for independent ``G_a ~ Gamma(a)``, ``G_b ~ Gamma(b)``, written
    ``sigmoid(log G_a - log G_b)``. (``torch.distributions.Beta`` samples from the global random
    state and takes no generator.) Derived in Lesson 12, "Mixup and label smoothing" (lessons/12_mixup).
    """
    n = checks.positive_int("sample_beta", "n", n)
    a = checks.real("sample_beta", "a", a, positive=True)
    b = checks.real("sample_beta", "b", b, positive=True)
    generator = checks.instance("sample_beta", "generator", generator, (torch.Generator, type(None)),
                                "a torch.Generator or None")
    if generator is None:
        generator = torch.Generator().manual_seed(int(torch.randint(0, 2**62, ()).item()))
    log_ga = _log_gamma_samples(n, a, generator)
    log_gb = _log_gamma_samples(n, b, generator)
    return torch.sigmoid(log_ga - log_gb)


def mixup_lambdas(n: int, alpha: float = 0.4, generator: torch.Generator | None = None) -> Tensor:
    """One mixing weight per image: ``lam ~ Beta(alpha, alpha)``, then ``max(lam, 1 - lam)``; ``(n,)`` float64.

    The fold keeps each weight in ``[0.5, 1]``: image ``i`` is the larger part of its own mixture.
    Derived in Lesson 12, "Mixup and label smoothing" (lessons/12_mixup).
    """
    alpha = checks.real("mixup_lambdas", "alpha", alpha, positive=True)
    lam = sample_beta(n, alpha, alpha, generator)
    return torch.maximum(lam, 1 - lam)


def mix_batch(x: Tensor, lam: Tensor, perm: Tensor) -> Tensor:
    """``lam_i x_i + (1 - lam_i) x_perm(i)`` for a batch ``x`` ``(N, ...)``, ``lam`` ``(N,)``, ``perm`` ``(N,)``.

    ``lam`` is reshaped to ``(N, 1, ..., 1)`` to broadcast over each image; the result has
    ``x``'s shape and dtype. Derived in Lesson 12, "Mixup and label smoothing" (lessons/12_mixup).
    """
    x = checks.tensor("mix_batch", "x", x, floating=True)
    lam = checks.tensor("mix_batch", "lam", lam, ndim=1, floating=True)
    perm = checks.tensor("mix_batch", "perm", perm, ndim=1, dtype=torch.int64)
    n = x.shape[0] if x.ndim else 0
    if x.ndim == 0 or lam.shape != (n,) or perm.shape != (n,):
        raise ValueError(
            f"mix_batch: expected lam and perm of shape ({n},) for a batch x of shape {checks.shape_str(x)}, "
            f"got {checks.shape_str(lam)} and {checks.shape_str(perm)}"
        )
    lam = lam.to(x.dtype).view(n, *([1] * (x.ndim - 1)))  # (N, 1, ..., 1)
    return lam * x + (1 - lam) * x[perm]


def per_sample_loss(loss_func: Callable[..., Tensor], pred: Tensor, target: Tensor) -> Tensor:
    """The unreduced losses ``(N,)`` of ``loss_func(pred, target)``, however ``loss_func`` offers them.

    - an object with a ``reduction`` attribute (``torch.nn.CrossEntropyLoss``,
      :class:`foundations.losses.LabelSmoothingCrossEntropy`): set to ``"none"`` for this call and
      restored after (the 2019 course's ``NoneReduce``);
    - a function with a ``reduction`` parameter (``F.cross_entropy``,
      :func:`foundations.losses.label_smoothing_cross_entropy`): called with ``reduction="none"``;
    - otherwise (:func:`foundations.losses.cross_entropy`, which returns the mean): called on each
      row alone, which is right for any loss that averages over the batch, and slower.

    Derived in Lesson 12, "Mixup and label smoothing" (lessons/12_mixup).
    """
    if not callable(loss_func):
        raise TypeError(checks.message("per_sample_loss", "loss_func", "a loss function", loss_func))
    if isinstance(getattr(loss_func, "reduction", None), str):
        old = loss_func.reduction
        loss_func.reduction = "none"
        try:
            out = loss_func(pred, target)
        finally:
            loss_func.reduction = old
    elif _takes_reduction(loss_func):
        out = loss_func(pred, target, reduction="none")
    else:
        out = torch.stack([loss_func(pred[i : i + 1], target[i : i + 1]) for i in range(len(target))])
    if out.shape != target.shape[:1]:
        raise ValueError(
            f"per_sample_loss: expected {getattr(loss_func, '__name__', type(loss_func).__name__)} to give "
            f"one loss per sample, shape ({len(target)},), got {checks.shape_str(out)}"
        )
    return out


def _takes_reduction(f: Callable[..., Any]) -> bool:
    try:
        return "reduction" in inspect.signature(f).parameters
    except (TypeError, ValueError):  # builtins without a signature
        return False


def mixup_loss(
    loss_func: Callable[..., Tensor], pred: Tensor, y1: Tensor, y2: Tensor, lam: Tensor, reduction: str = "mean"
) -> Tensor:
    """``reduce_i( lam_i l(pred_i, y1_i) + (1 - lam_i) l(pred_i, y2_i) )``: the loss mixed per sample.

    ``pred`` ``(N, C)``; ``y1``, ``y2`` ``(N,)`` (the labels and the shuffled labels); ``lam`` ``(N,)``;
    ``l`` the per-sample losses of ``loss_func`` (:func:`per_sample_loss`); ``reduction`` as
    :func:`foundations.losses.reduce_loss`. Derived in Lesson 12, "Mixup and label smoothing"
    (lessons/12_mixup).
    """
    lam = checks.tensor("mixup_loss", "lam", lam, ndim=1, floating=True)
    if reduction not in REDUCTIONS:
        raise ValueError(checks.message("mixup_loss", "reduction", "one of 'mean', 'sum', 'none'", reduction))
    l1 = per_sample_loss(loss_func, pred, y1)  # (N,)
    l2 = per_sample_loss(loss_func, pred, y2)  # (N,)
    if lam.shape != l1.shape:
        raise ValueError(
            f"mixup_loss: expected lam of shape {checks.shape_str(l1)}, one weight per sample, "
            f"got {checks.shape_str(lam)}"
        )
    lam = lam.to(l1.dtype)
    return reduce_loss(lam * l1 + (1 - lam) * l2, reduction)  # (N,) mixed, then reduced


class MixUp(Callback):
    """Mixup (Zhang et al. 2017) on every training batch; validation batches and their loss are untouched.

    At ``begin_fit`` the learner's ``loss_func`` is replaced by one that mixes per sample on
    training batches (:func:`mixup_loss`, reduced by its mean) and calls the original on validation
    batches; ``after_fit`` (which runs even when training fails) puts the original back. At each
    training ``begin_batch`` it draws ``lam`` (:func:`mixup_lambdas`) and a permutation from
    ``generator`` and sets ``learn.xb`` to :func:`mix_batch` of them; ``self.lam``, ``self.perm``,
    ``self.yb2`` keep the batch's draws.

    ``order = Order.MIXUP``: after :class:`~foundations.callbacks.BatchTransformCallback`,
    so the batch is already floating point and normalised (mixing weights sum to 1, so mixing
    commutes with a per-channel normalisation). ``alpha=0.4`` is the course's default.
    Derived in Lesson 12, "Mixup and label smoothing" (lessons/12_mixup).
    """

    order = Order.MIXUP

    def __init__(self, alpha: float = 0.4, generator: torch.Generator | None = None) -> None:
        self.alpha = checks.real("MixUp", "alpha", alpha, positive=True)
        self.generator = checks.instance("MixUp", "generator", generator, (torch.Generator, type(None)),
                                         "a torch.Generator or None")
        if self.generator is None:
            self.generator = torch.Generator().manual_seed(int(torch.randint(0, 2**62, ()).item()))
        self.lam: Tensor | None = None
        self.perm: Tensor | None = None
        self.yb2: Tensor | None = None
        self.old_loss_func: Callable[..., Tensor] | None = None

    def begin_fit(self) -> None:
        self.old_loss_func = self.learn.loss_func
        self.learn.loss_func = self.mixed_loss

    def after_fit(self) -> None:
        if self.old_loss_func is not None:
            self.learn.loss_func = self.old_loss_func
            self.old_loss_func = None

    def begin_batch(self) -> None:
        if not self.in_train:
            return
        x = self.xb
        if not (isinstance(x, Tensor) and x.is_floating_point()):
            raise TypeError(
                f"MixUp: expected a floating-point batch (put a normalising BatchTransformCallback before it), "
                f"got {checks.describe(x)}"
            )
        n = x.shape[0]
        self.lam = mixup_lambdas(n, self.alpha, self.generator).to(x.device)  # (N,)
        self.perm = torch.randperm(n, generator=self.generator).to(x.device)  # (N,)
        self.yb2 = self.yb[self.perm]
        self.learn.xb = mix_batch(x, self.lam, self.perm)

    def mixed_loss(self, pred: Tensor, yb: Tensor) -> Tensor:
        """The loss during ``fit``: mixed per sample on training batches, the original otherwise."""
        assert self.old_loss_func is not None
        if not self.in_train:
            return self.old_loss_func(pred, yb)
        return mixup_loss(self.old_loss_func, pred, yb, self.yb2, self.lam)
