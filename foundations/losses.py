"""Classification losses and metrics: softmax, log-softmax, log-sum-exp, NLL, cross-entropy, accuracy.

Derived in Lesson 9, "Mini-batch training" (lessons/09_minibatch). The page first writes softmax
straight from its formula, watches ``exp`` overflow to ``inf`` (and the softmax turn into ``nan``) on
large logits, and fixes it with the log-sum-exp trick,

    logsumexp(x) = m + log(sum_j exp(x_j - m)),   m = max_j x_j,

which never exponentiates anything larger than ``exp(0) = 1``. Every function here reduces over the
last dimension and is checked against ``torch.nn.functional`` in float64 in the tests, including
logits of +-1000.

Shapes: logits are ``(N, C)`` (a batch of ``N`` rows of ``C`` class scores), targets are ``(N,)``
int64 class indices in ``[0, C)``. The losses return 0-d tensors (the mean over the batch).

Functions of tensors: no ``Module`` base (``torch.nn.CrossEntropyLoss`` is the layer form; the
``Learner`` takes the function, ``loss_func=cross_entropy``).
"""

from __future__ import annotations

import torch
from torch import Tensor

from foundations import checks
from foundations.checks import shape_str

__all__ = [
    "LabelSmoothingCrossEntropy",
    "accuracy",
    "cross_entropy",
    "label_smoothing_cross_entropy",
    "log_softmax",
    "logsumexp",
    "nll",
    "reduce_loss",
    "softmax",
]


def _check_scores(fn: str, name: str, x: object) -> Tensor:
    """``x`` must be a floating-point tensor with at least one dimension and a non-empty last one."""
    x = checks.tensor(fn, name, x, floating=True)
    if x.ndim == 0 or x.shape[-1] == 0:
        raise ValueError(f"{fn}: expected {name} of shape (..., C) with C >= 1, got {shape_str(x)}")
    return x


def _check_batch(fn: str, name: str, scores: object, target: object) -> tuple[Tensor, Tensor]:
    """``scores`` must be ``(N, C)`` floats with ``N >= 1``; ``target`` ``(N,)`` int64 in ``[0, C)``."""
    scores = _check_scores(fn, name, scores)
    if scores.ndim != 2:
        raise ValueError(f"{fn}: expected {name} of shape (N, C), got {shape_str(scores)}")
    n, c = scores.shape
    if n == 0:
        raise ValueError(f"{fn}: expected a non-empty batch, got {name} of shape {shape_str(scores)}")
    if not isinstance(target, Tensor) or target.dtype != torch.int64:
        raise TypeError(checks.message(fn, "target", "a torch.int64 tensor of class indices", target))
    if target.shape != (n,):
        raise ValueError(
            f"{fn}: expected target of shape ({n},) to match a batch of {n} inputs, got {shape_str(target)}"
        )
    lo, hi = int(target.min()), int(target.max())
    if lo < 0 or hi >= c:
        raise ValueError(
            f"{fn}: expected target values in [0, {c}) for {c} classes, got values from {lo} to {hi}"
        )
    return scores, target


def _max_shift(x: Tensor) -> tuple[Tensor, Tensor]:
    """``(x - m, m)`` with ``m`` each row's detached maximum, kept as ``(..., 1)``.

    An infinite (or nan) ``m`` is replaced by 0, so that a row of ``-inf`` gives ``-inf`` and a row
    holding ``+inf`` gives ``+inf`` downstream, as ``torch.logsumexp`` does. ``m`` is detached: the
    gradient through it cancels exactly.
    Derived in Lesson 9, "Mini-batch training" (lessons/09_minibatch).
    """
    m = x.detach().amax(dim=-1, keepdim=True).nan_to_num(nan=0.0, posinf=0.0, neginf=0.0)
    return x - m, m


def logsumexp(x: Tensor) -> Tensor:
    """``log(sum_j exp(x_j))`` over the last dimension, computed as ``m + log(sum_j exp(x_j - m))``.

    ``m`` is the row's maximum, so the largest term exponentiated is ``exp(0) = 1``: nothing
    overflows, and at least one term is 1, so the log never sees 0. ``m`` is detached (the gradient
    through it cancels exactly), and an infinite ``m`` is replaced by 0 so that a row of ``-inf``
    gives ``-inf`` and a row holding ``+inf`` gives ``+inf``, as ``torch.logsumexp`` does.
    Shape ``(..., C) -> (...)``.
    Derived in Lesson 9, "Mini-batch training" (lessons/09_minibatch).

    >>> round(logsumexp(torch.tensor([1000.0, 1000.0])).item(), 3)  # 1000 + log(2)
    1000.693
    """
    x = _check_scores("logsumexp", "x", x)
    shifted, m = _max_shift(x)
    return shifted.exp().sum(dim=-1).log() + m.squeeze(-1)


def log_softmax(x: Tensor) -> Tensor:
    """``x_i - logsumexp(x)`` over the last dimension, computed as ``(x_i - m) - log(sum_j exp(x_j - m))``.

    The log of :func:`softmax`, without overflow. The order of the subtractions matters in
    float32: ``x_i - logsumexp(x)`` first rounds ``m + log(sum)`` to the precision of ``m`` (for
    logits near ``1e4`` the float32 spacing is about ``1e-3``, near ``1e6`` about ``0.06``) and that
    rounding error lands in every log-probability; ``x_i - m`` is exact for logits of one row's
    magnitude, so subtracting the small ``log(sum)`` from it loses nothing. This is what
    ``torch.log_softmax`` does. Shape ``(..., C) -> (..., C)``; each row's ``exp`` sums to 1.
    Derived in Lesson 9, "Mini-batch training" (lessons/09_minibatch).
    """
    x = _check_scores("log_softmax", "x", x)
    shifted, _ = _max_shift(x)
    return shifted - shifted.exp().sum(dim=-1, keepdim=True).log()


def softmax(x: Tensor) -> Tensor:
    """``exp(x_i) / sum_j exp(x_j)`` over the last dimension, computed as ``exp(log_softmax(x))``.

    Going through :func:`log_softmax` keeps it finite for any finite logits (the naive formula
    gives ``inf / inf = nan`` once a logit passes about 88.7 in float32), and as accurate as
    :func:`log_softmax` for large logits. Shape ``(..., C) -> (..., C)``.
    Derived in Lesson 9, "Mini-batch training" (lessons/09_minibatch).
    """
    x = _check_scores("softmax", "x", x)
    return log_softmax(x).exp()


def nll(log_probs: Tensor, target: Tensor) -> Tensor:
    """Negative log likelihood ``-(1/N) sum_n log_probs[n, target[n]]``: a 0-d tensor.

    ``log_probs`` is ``(N, C)`` (usually :func:`log_softmax` of logits), ``target`` is ``(N,)`` int64
    class indices. The picking is integer-array indexing: row ``n``, column ``target[n]``.
    Equals ``torch.nn.functional.nll_loss``.
    Derived in Lesson 9, "Mini-batch training" (lessons/09_minibatch).
    """
    log_probs, target = _check_batch("nll", "log_probs", log_probs, target)
    n = log_probs.shape[0]
    return -log_probs[torch.arange(n, device=log_probs.device), target].mean()


def cross_entropy(logits: Tensor, target: Tensor) -> Tensor:
    """Cross-entropy of ``(N, C)`` logits against ``(N,)`` int64 targets: ``nll(log_softmax(logits), target)``.

    Per row this is ``logsumexp(x) - x[target]``, averaged over the batch; a 0-d tensor equal to
    ``torch.nn.functional.cross_entropy``. Going through :func:`log_softmax` keeps float32 logits
    of any size accurate (it subtracts the row's maximum before anything is rounded).
    Derived in Lesson 9, "Mini-batch training" (lessons/09_minibatch).
    """
    logits, target = _check_batch("cross_entropy", "logits", logits, target)
    return nll(log_softmax(logits), target)


def accuracy(out: Tensor, yb: Tensor) -> Tensor:
    """The fraction of rows whose largest score is at the target's index: a 0-d float32 tensor.

    ``out`` is ``(N, C)`` (logits, probabilities or log-probabilities: the argmax is the same),
    ``yb`` is ``(N,)`` int64. Ties go to the first largest score, as ``torch.argmax`` does.
    Derived in Lesson 9, "Mini-batch training" (lessons/09_minibatch).
    """
    out, yb = _check_batch("accuracy", "out", out, yb)
    return (out.argmax(dim=-1) == yb).float().mean()


# ---- Lesson 12: reductions and label smoothing --------------------------------------------------

REDUCTIONS = ("mean", "sum", "none")


def reduce_loss(loss: Tensor, reduction: str = "mean") -> Tensor:
    """Per-sample losses ``(N,)`` reduced as PyTorch's losses do: ``"mean"``, ``"sum"`` or ``"none"``.

    ``"none"`` returns ``loss`` itself (shape ``(N,)``); the others a 0-d tensor. Mixup mixes the
    per-sample losses before reducing them, label smoothing offers the same three reductions.
    Derived in Lesson 12, "Mixup and label smoothing" (lessons/12_mixup).

    >>> reduce_loss(torch.tensor([1.0, 2.0, 6.0]), "mean")
    tensor(3.)
    """
    loss = checks.tensor("reduce_loss", "loss", loss, floating=True)
    if reduction not in REDUCTIONS:
        raise ValueError(checks.message("reduce_loss", "reduction", "one of 'mean', 'sum', 'none'", reduction))
    if reduction == "mean":
        return loss.mean()
    return loss.sum() if reduction == "sum" else loss


def label_smoothing_cross_entropy(pred: Tensor, target: Tensor, eps: float = 0.1, reduction: str = "mean") -> Tensor:
    """Cross-entropy against smoothed targets ``q'(k) = (1 - eps) [k = y] + eps / K``.

    Per row ``n`` with log-probabilities ``log p = log_softmax(pred[n])`` over ``K`` classes::

        loss_n = -sum_k q'(k) log p_k = (1 - eps) (-log p_y) + eps * mean_k (-log p_k)

    (Szegedy et al. 2016, §7). ``pred`` is ``(N, K)`` logits, ``target`` ``(N,)`` int64; ``eps`` in
    ``[0, 1]`` (0 is plain :func:`cross_entropy`); ``reduction`` as :func:`reduce_loss`. Equals
    ``torch.nn.functional.cross_entropy(pred, target, label_smoothing=eps, reduction=reduction)``.
    Derived in Lesson 12, "Mixup and label smoothing" (lessons/12_mixup); the paper is walked
    through in "Szegedy et al. (2016): label smoothing" (book/papers/szegedy2016).
    """
    fn = "label_smoothing_cross_entropy"
    pred, target = _check_batch(fn, "pred", pred, target)
    eps = checks.real(fn, "eps", eps, min=0.0, max=1.0)
    if reduction not in REDUCTIONS:
        raise ValueError(checks.message(fn, "reduction", "one of 'mean', 'sum', 'none'", reduction))
    log_p = log_softmax(pred)                                                  # (N, K)
    n = pred.shape[0]
    nll_y = -log_p[torch.arange(n, device=pred.device), target]               # (N,)  -log p_y
    uniform = -log_p.mean(dim=-1)                                              # (N,)  mean_k -log p_k
    return reduce_loss((1 - eps) * nll_y + eps * uniform, reduction)          # q'(k) = (1-eps)δ_ky + eps/K


class LabelSmoothingCrossEntropy:
    """:func:`label_smoothing_cross_entropy` as a loss object: ``LabelSmoothingCrossEntropy(eps=0.1)``.

    Called as ``loss_func(pred, target)``; ``eps`` and ``reduction`` are attributes, so code that
    needs per-sample losses (:class:`foundations.callbacks.MixUp`) can set ``reduction = "none"``
    for one call. Not a ``torch.nn.Module``: it has no parameters or state.
    Derived in Lesson 12, "Mixup and label smoothing" (lessons/12_mixup).
    """

    def __init__(self, eps: float = 0.1, reduction: str = "mean") -> None:
        self.eps = checks.real("LabelSmoothingCrossEntropy", "eps", eps, min=0.0, max=1.0)
        if reduction not in REDUCTIONS:
            raise ValueError(
                checks.message("LabelSmoothingCrossEntropy", "reduction", "one of 'mean', 'sum', 'none'", reduction)
            )
        self.reduction = reduction

    def __call__(self, pred: Tensor, target: Tensor) -> Tensor:
        return label_smoothing_cross_entropy(pred, target, self.eps, self.reduction)

    def __repr__(self) -> str:
        return f"LabelSmoothingCrossEntropy(eps={self.eps:g}, reduction={self.reduction!r})"
