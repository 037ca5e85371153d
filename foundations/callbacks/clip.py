"""Gradient clipping: rescale the gradients when their global norm exceeds a threshold.

Derived in Lesson 12, "AWD-LSTM" (lessons/12_awd_lstm), where an LSTM's exploding gradients make
it necessary (Pascanu et al. 2013); AWD-LSTM clips at 0.25, the 2019 course at 0.1.
"""

from __future__ import annotations

import torch

from foundations import checks
from foundations.learner import Callback, Order

__all__ = ["GradientClipping"]


class GradientClipping(Callback):
    """After the backward pass, scale every gradient by ``min(1, clip / ||g||)``, where ``||g||`` is the
    2-norm of all the optimizer's gradients together (``torch.nn.utils.clip_grad_norm_``).

    ``norms`` keeps each step's norm before clipping, to see how often it bites. Runs at
    ``Order.CLIP``, after mixed precision has unscaled the gradients.
    Derived in Lesson 12, "AWD-LSTM" (lessons/12_awd_lstm).
    """

    order = Order.CLIP

    def __init__(self, clip: float = 0.1) -> None:
        self.clip = checks.real("GradientClipping", "clip", clip, positive=True)
        self.norms: list[float] = []

    def after_backward(self) -> None:
        params = [p for g in self.opt.param_groups for p in g["params"] if p.grad is not None]
        if params:
            self.norms.append(float(torch.nn.utils.clip_grad_norm_(params, self.clip)))
