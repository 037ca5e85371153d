"""Lesson 11 exercises: the pieces of the generic optimizer, a stepper, a statistic and two formulas.

Generated from solutions/lesson11_optim.py by tools/make_stubs.py: edit the solution, not this file.

Page: lessons/11_optimizers. Replace the ``raise NotImplementedError`` line in each body with your
code, then grade it:

    .venv/bin/pytest exercises -k weight_decay_step      # or momentum_stat, debias_factor, lamb_trust_ratio
    .venv/bin/pytest exercises/test_lesson11_optim.py    # every exercise of this file

The grader compares your answers in float64 with PyTorch's optimizers (``torch.optim.AdamW``,
``SGD``, ``Adam``) and with the library's ``foundations.optim`` (``weight_decay``, ``AverageGrad``,
``debias``, ``lamb_step``), whose own tests check it step for step against PyTorch and the papers.
Use tensor arithmetic and Python's ``math``; do not call ``foundations.optim`` or ``torch.optim``
(the grader checks: a call to one of them fails the exercise).

A parameter is a leaf tensor with ``requires_grad=True``: PyTorch refuses to change one in place
while it records operations for autograd, so an optimizer changes parameters inside
``with torch.no_grad():``.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor


def weight_decay_step(p: Tensor, lr: float, wd: float) -> None:
    """Decoupled weight decay (Loshchilov & Hutter's AdamW), a stepper: ``p <- p * (1 - lr * wd)``.

    Shrink the parameter ``p`` (any shape) in place, under ``torch.no_grad()``, and return ``None``:
    the optimizer holds ``p`` itself, so a new tensor (``p = p * ...``) would change nothing it sees.
    Leave ``p.grad`` alone: *decoupled* means the decay acts on the weights, not on the gradient (that
    would be L2 regularisation). ``lr = 0`` or ``wd = 0`` leaves ``p`` as it was.

    >>> p = torch.tensor([1.0, -2.0], requires_grad=True)
    >>> weight_decay_step(p, lr=0.1, wd=0.5)   # 1 - 0.1 * 0.5 = 0.95
    >>> p
    tensor([ 0.9500, -1.9000], requires_grad=True)
    """
    raise NotImplementedError("your code here")


def momentum_stat(
    grad_avg: Tensor | None, grad: Tensor, mom: float, dampening: float = 0.0, dampened: bool = False
) -> Tensor:
    """A statistic: one update of the running average of the gradients, ``grad_avg``; return the new one.

    ``grad_avg`` is the average so far (shaped like ``grad``), or ``None`` before the first step.

    - ``dampened=False`` (SGD's momentum buffer, as ``torch.optim.SGD``): the first average is a
      *copy* of the first gradient (``grad.clone()``, not ``grad`` itself, which the training loop
      will overwrite), then ``grad_avg <- mom * grad_avg + (1 - dampening) * grad``;
    - ``dampened=True`` (Adam's first moment, as ``torch.optim.Adam``): the average starts at zeros,
      then ``grad_avg <- mom * grad_avg + (1 - mom) * grad`` (``dampening`` is not used).

    You may update ``grad_avg`` in place and return it, or return a new tensor; do not change
    ``grad``. The grader feeds your result back in at the next step, as an optimizer would.

    >>> g = torch.tensor([1.0, 2.0])
    >>> a = momentum_stat(None, g, mom=0.9)            # SGD: starts at the gradient
    >>> momentum_stat(a, g, mom=0.9)                   # 0.9 * a + g
    tensor([1.9000, 3.8000])
    >>> momentum_stat(None, g, mom=0.9, dampened=True) # Adam: 0.9 * 0 + 0.1 * g
    tensor([0.1000, 0.2000])
    """
    raise NotImplementedError("your code here")


def debias_factor(mom: float, step: int, dampening: float | None = None) -> float:
    """What a running average that starts at 0 has summed after ``step`` steps: divide by it to debias.

    With ``avg <- mom * avg + damp * x`` from ``avg = 0``, after ``t = step`` steps of a constant ``x``
    the average is ``damp * (1 + mom + ... + mom**(t-1)) * x = damp * (1 - mom**t) / (1 - mom) * x``.
    Return the factor:

    - ``dampening=None`` (Adam's moments, ``damp = 1 - mom``): ``1 - mom**step``;
    - otherwise (``damp = dampening``): ``dampening * (1 - mom**step) / (1 - mom)``.

    ``mom`` is in [0, 1) and ``step >= 1``; return a Python ``float``. Compute in float64 (Python's
    floats, ``math``), not in float32 tensors: the grader sweeps ``mom`` up to ``1 - 1e-9`` and
    ``step`` up to 1000 and allows what a float64 evaluation of the formula gets wrong (about
    ``1e-15`` in ``1 - mom**step``), not float32's ``1e-7``.

    >>> debias_factor(0.9, 1), debias_factor(0.5, 2), debias_factor(0.5, 2, dampening=0.5)
    (0.09999999999999998, 0.75, 0.75)
    """
    raise NotImplementedError("your code here")


def lamb_trust_ratio(p: Tensor, r: Tensor) -> float:
    """LAMB's layer-wise trust ratio (You et al. 2019): ``||p|| / ||r||``, with the paper's convention.

    ``p`` is one parameter tensor (a layer's weight or bias, any shape) and ``r`` its step direction
    before scaling (Adam's direction plus ``wd * p``), shaped like ``p``; ``||.||`` is the Euclidean
    norm of all the values. LAMB moves ``p`` by ``lr * ratio * r``, so each layer moves by ``lr``
    times its own norm. When either norm is 0 the ratio is ``1.0`` (a bias that starts at zero must
    still move), as in ``foundations.optim.lamb_step``. Return a Python ``float``, computed in float64.

    >>> lamb_trust_ratio(torch.tensor([3.0, 4.0]), torch.tensor([0.0, 0.5]))   # 5 / 0.5
    10.0
    >>> lamb_trust_ratio(torch.zeros(3), torch.ones(3))
    1.0
    """
    raise NotImplementedError("your code here")
