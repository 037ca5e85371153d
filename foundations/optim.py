"""Optimizers: a base class holding parameter groups, and plain stochastic gradient descent.

Derived in Lesson 9, "Mini-batch training" (lessons/09_minibatch). The training loop's update,

    for p in model.parameters(): p -= lr * p.grad

moves into :meth:`SGD.step`, and resetting the gradients into :meth:`Optimizer.zero_grad`.
Like ``torch.optim``, hyper-parameters live in ``param_groups``: a list of dicts, each with the key
``'params'`` (a list of tensors) and its own ``'lr'``. A scheduler changes the learning rate by
writing ``pg['lr']`` for every ``pg`` in ``opt.param_groups``; giving different groups different
rates is how later lessons train parts of a model at different speeds. :class:`SGD` is checked
step for step against ``torch.optim.SGD`` in the tests.

No ``Module`` base: an optimizer takes tensors, from ``torch.nn.Module.parameters()`` (the library's
models) or from the hand-written ``foundations.nn.Module.parameters()`` of Lesson 9 alike.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from torch import Tensor

from foundations import checks

__all__ = ["SGD", "Optimizer"]


class Optimizer:
    """Holds ``param_groups`` and clears gradients; subclasses define :meth:`step`.

    ``params`` is an iterable of tensors (``model.parameters()``) or a list of dicts, one per group,
    each with ``'params'`` and optionally its own ``'lr'`` (or other keys, which are kept). ``lr`` is
    the default for groups that do not set one. Every parameter must be a leaf tensor that appears
    in only one group.
    Derived in Lesson 9, "Mini-batch training" (lessons/09_minibatch).
    """

    def __init__(self, params: Iterable[Tensor] | Iterable[dict[str, Any]], lr: float) -> None:
        name = type(self).__name__
        self.defaults: dict[str, Any] = {"lr": checks.real(name, "lr", lr, min=0.0)}
        if isinstance(params, Tensor):
            raise TypeError(f"{name}: expected an iterable of tensors or of dicts, got a single tensor; wrap it in a list")
        items = list(params)
        if not items:
            raise ValueError(f"{name}: expected at least one parameter, got an empty list")
        groups = items if isinstance(items[0], dict) else [{"params": items}]
        self.param_groups: list[dict[str, Any]] = []
        seen: set[int] = set()
        for i, group in enumerate(groups):
            self.param_groups.append(self._make_group(name, i, group, seen))

    def _make_group(self, name: str, i: int, group: object, seen: set[int]) -> dict[str, Any]:
        if not isinstance(group, dict) or "params" not in group:
            raise TypeError(f"{name}: expected group {i} to be a dict with a 'params' key, got {type(group).__name__}")
        ps = [group["params"]] if isinstance(group["params"], Tensor) else list(group["params"])
        if not ps:
            raise ValueError(f"{name}: expected at least one parameter in group {i}, got none")
        for p in ps:
            if not isinstance(p, Tensor):
                raise TypeError(f"{name}: expected group {i} to hold tensors, got {type(p).__name__}")
            if not p.is_leaf:
                raise ValueError(f"{name}: expected leaf tensors (parameters), got a computed tensor in group {i}")
            if id(p) in seen:
                raise ValueError(f"{name}: a parameter appears in more than one group (again in group {i})")
            seen.add(id(p))
        out = {**self.defaults, **group, "params": ps}
        out["lr"] = checks.real(name, f"group {i}'s lr", out["lr"], min=0.0)
        return out

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Forget every parameter's gradient: ``p.grad = None`` (default, as in torch) or fill it with 0."""
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if set_to_none:
                    p.grad = None
                else:
                    p.grad.detach_()
                    p.grad.zero_()

    def step(self) -> None:
        raise NotImplementedError(f"{type(self).__name__} is a base class: use SGD, or subclass it and define step")

    def __repr__(self) -> str:
        groups = ", ".join(
            f"{{{len(g['params'])} params, " + ", ".join(f"{k}={v}" for k, v in g.items() if k != "params") + "}"
            for g in self.param_groups
        )
        return f"{type(self).__name__}([{groups}])"


class SGD(Optimizer):
    """Stochastic gradient descent: ``p <- p - lr * p.grad`` for every parameter, with its group's ``lr``.

    Parameters whose ``grad`` is ``None`` are left alone. Equals ``torch.optim.SGD`` without momentum
    or weight decay (Lesson 11 adds those).
    Derived in Lesson 9, "Mini-batch training" (lessons/09_minibatch).
    """

    def step(self) -> None:
        with torch.no_grad():
            for group in self.param_groups:
                for p in group["params"]:
                    if p.grad is not None:
                        p.add_(p.grad, alpha=-group["lr"])
