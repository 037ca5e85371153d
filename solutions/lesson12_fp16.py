"""Lesson 12 exercises: the overflow check and the dynamic loss scale of mixed precision, by hand.

Page: lessons/12_mixed_precision. Replace each ``raise NotImplementedError`` line with your code,
then grade it:

    .venv/bin/pytest exercises -k grads_overflow
    .venv/bin/pytest exercises -k update_loss_scale

The graders compare your answers with ``torch.isfinite`` and with ``torch.amp.GradScaler`` (on the
CPU) over scripted sequences of clean and overflowing steps. Do not call
``foundations.callbacks.fp16`` (the graders check: a call to it fails the exercise).
"""

from __future__ import annotations

import torch
from torch import Tensor


def grads_overflow(grads: list[Tensor | None]) -> bool:
    """True when any gradient in ``grads`` holds an inf or a nan anywhere; ``None`` entries are skipped.

    ``grads`` is a list like ``[p.grad for p in model.parameters()]``: tensors of any shape and any
    floating dtype (float16, bfloat16, float32, ...), some possibly ``None`` (a parameter that got
    no gradient) or empty. Return a Python ``bool``; leave the tensors unchanged.

    Beware of the 2019 shortcut, "the sum is inf or nan": a float16 sum of large finite values can
    overflow by itself (``60000 + 60000`` is inf in float16), which would report an overflow that
    is not there.

    >>> import torch
    >>> grads_overflow([torch.ones(3), None, torch.tensor([1.0, float("nan")])])
    True
    >>> grads_overflow([torch.full((4,), 60000.0, dtype=torch.float16)])
    False
    """
    # BEGIN SOLUTION
    return any(g is not None and not bool(torch.isfinite(g).all()) for g in grads)
    # END SOLUTION


def update_loss_scale(scale: float, clean_steps: int, overflow: bool,
                      growth_interval: int = 2000) -> tuple[float, int, bool]:
    """One step of dynamic loss scaling: returns ``(new_scale, new_clean_steps, skip)``.

    ``scale`` is the loss scale this step's backward pass used, ``clean_steps`` how many steps in a
    row before this one had no overflow (since the scale last changed), ``overflow`` whether this
    step's gradients held an inf or a nan.

    - On an overflow: halve the scale, restart the count at 0, and skip this step (``skip=True``).
    - Otherwise: count this step; when the count reaches ``growth_interval``, double the scale and
      restart the count at 0; do not skip.

    This is ``torch.amp.GradScaler``'s rule (``backoff_factor=0.5``, ``growth_factor=2``).

    >>> update_loss_scale(1024.0, 5, True)
    (512.0, 0, True)
    >>> update_loss_scale(1024.0, 1, False, growth_interval=2)
    (2048.0, 0, False)
    >>> update_loss_scale(1024.0, 0, False, growth_interval=2)
    (1024.0, 1, False)
    """
    # BEGIN SOLUTION
    if overflow:
        return scale / 2, 0, True
    clean_steps += 1
    if clean_steps == growth_interval:
        return scale * 2, 0, False
    return scale, clean_steps, False
    # END SOLUTION
