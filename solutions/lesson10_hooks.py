"""Lesson 10 exercises: a generalised ReLU, layer statistics through forward hooks, and near-zero activations.

The exercises come from the page "A CNN and hooks" (lessons/10_cnn_hooks). In each body, replace
the line that raises ``NotImplementedError`` with your code, then grade it:

    .venv/bin/pytest exercises -k general_relu       # or record_stats, near_zero_share
    .venv/bin/pytest exercises -m lesson10           # every Lesson 10 exercise

The grader compares your results with PyTorch in float64 (``torch.nn.functional.leaky_relu``,
``relu``, ``clamp``, and autograd for gradients), with statistics computed layer by layer, and it
checks that ``record_stats`` leaves no hook behind on the model, even when the forward pass fails.
Use plain PyTorch tensor operations and ``Module.register_forward_hook``; not ``foundations`` (the
grader checks: a call to ``foundations.conv`` or ``foundations.hooks``, whose ``GeneralRelu`` and
``Hooks`` are the library's answers, fails the exercise).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


def general_relu(x: Tensor, leak: float | None = None, sub: float | None = None, maxv: float | None = None) -> Tensor:
    """The generalised ReLU as a function: ``min(leaky_relu(x, leak) - sub, maxv)``.

    Formula, elementwise: ``y = x`` where ``x > 0``, else ``leak * x`` (``0`` when ``leak`` is
    ``None``); then ``y - sub`` (when ``sub`` is not ``None``); then at most ``maxv`` (when ``maxv``
    is not ``None``). Returns a new tensor of the same shape and dtype as ``x``, any shape; ``x``
    itself must not change. Gradients must flow through it (no ``.detach()``, no in-place changes to
    ``x``).

    Example::

        >>> general_relu(torch.tensor([-2.0, 0.0, 1.0, 10.0]), leak=0.1, sub=0.4, maxv=6.0)
        tensor([-0.6000, -0.4000,  0.6000,  6.0000])
    """
    # BEGIN SOLUTION
    y = torch.where(x > 0, x, x * (leak or 0.0))
    if sub is not None:
        y = y - sub
    if maxv is not None:
        y = y.clamp_max(maxv)
    return y
    # END SOLUTION


def record_stats(model: nn.Module, x: Tensor) -> tuple[list[float], list[float]]:
    """Run ``model(x)`` once and return the mean and the std of each direct child's output.

    Register a forward hook (``child.register_forward_hook(fn)``, where ``fn(module, inputs,
    output)``) on every direct child of ``model`` (``model.children()``; for an ``nn.Sequential``,
    its layers in order), run the model once without gradients (``torch.no_grad()``; the grader
    checks both), and return two lists of Python floats, ``(means, stds)``, one entry per child in the
    order the children ran: ``output.mean()`` and ``output.std()`` (PyTorch's default, unbiased std).

    Every hook you registered must be removed before the function returns, *also* when the forward
    pass raises (the exception must still reach the caller). Hooks someone else registered stay.
    Careful: a forward hook that returns anything but ``None`` *replaces* the module's output.

    Example::

        >>> model = nn.Sequential(nn.Linear(784, 50), nn.ReLU(), nn.Linear(50, 10))
        >>> means, stds = record_stats(model, torch.randn(64, 784))
        >>> len(means), len(stds)
        (3, 3)
    """
    # BEGIN SOLUTION
    outs: list[Tensor] = []
    # the hook must return None: a forward hook that returns a value replaces the module's output
    # (list.append returns None)
    handles = [child.register_forward_hook(lambda mod, inp, out: outs.append(out)) for child in model.children()]
    try:
        with torch.no_grad():
            model(x)
    finally:
        for h in handles:
            h.remove()
    means = [o.mean().item() for o in outs]
    stds = [o.std().item() for o in outs]
    return means, stds
    # END SOLUTION


def near_zero_share(acts: Tensor, threshold: float) -> float:
    """The share of the elements of ``acts`` whose absolute value is below ``threshold``.

    Formula: ``(number of elements with |a| < threshold) / (number of elements)``, a float in
    ``[0, 1]``. ``acts`` is a floating-point tensor of any shape with at least one element.
    ``threshold`` must be positive: raise ``ValueError`` saying so, with the value you got, otherwise
    (e.g. ``"near_zero_share: expected a positive threshold, got -0.5"``; the grader looks for the
    value, as ``str(threshold)`` or ``f"{threshold:g}"``).

    Example::

        >>> near_zero_share(torch.tensor([[0.0, 0.2], [-0.1, 3.0]]), 0.35)
        0.75
    """
    # BEGIN SOLUTION
    if not threshold > 0:
        raise ValueError(f"near_zero_share: expected a positive threshold, got {threshold}")
    return (acts.abs() < threshold).double().mean().item()
    # END SOLUTION
