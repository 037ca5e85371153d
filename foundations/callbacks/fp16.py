"""Mixed precision training: a half-precision model, fp32 master weights, loss scaling.

Derived in Lesson 12, "Mixed precision" (lessons/12_mixed_precision), after Micikevicius et al.
2017, *Mixed Precision Training* (book/papers/micikevicius2017). Two ways to train in half
precision with a :class:`~foundations.learner.Learner`:

- :class:`MixedPrecision`, the course's 2019 recipe written again: the model itself is converted to
  half precision (``float16`` on a GPU; ``bfloat16`` where float16 arithmetic is slow, as on a CPU),
  except its BatchNorm layers; the optimizer steps **fp32 master copies** of the weights; the loss
  is multiplied by a **loss scale** before the backward pass so that small gradients do not
  underflow, and the gradients divided by it again in fp32. With dynamic scaling
  (:class:`LossScaler`) an overflow halves the scale and **skips** the step (by
  :class:`~foundations.learner.CancelStepException`: the 2019 callback returned ``True`` to a loop
  that ignored it, and stepped anyway); ``growth_interval`` clean steps in a row double it.
- :class:`AutocastCallback`, the modern one: the weights stay fp32 and ``torch.autocast`` runs each
  operation in the precision that suits it; with a :class:`LossScaler` for float16.

:class:`LossScaler` follows ``torch.amp.GradScaler``'s rule step for step (same scale, same skipped
steps; the tests check it). The helpers :func:`model_to_half`, :func:`get_master`,
:func:`to_master_grads`, :func:`to_model_params` and :func:`has_overflow` are the pieces, usable
in a hand-written loop (``benchmarks/fp16.py`` does).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from foundations import checks
from foundations.learner import Callback, CancelStepException, Order

__all__ = [
    "AutocastCallback",
    "LossScaler",
    "MixedPrecision",
    "get_master",
    "has_overflow",
    "model_to_half",
    "to_master_grads",
    "to_model_params",
]

_HALF = (torch.float16, torch.bfloat16)
_BN = (nn.modules.batchnorm._BatchNorm,)


def _check_half(fn: str, dtype: object) -> torch.dtype:
    if dtype not in _HALF:
        raise ValueError(checks.message(fn, "dtype", "torch.float16 or torch.bfloat16", dtype))
    return dtype  # type: ignore[return-value]


def model_to_half(model: nn.Module, dtype: torch.dtype = torch.float16) -> nn.Module:
    """Convert ``model``'s parameters and buffers to ``dtype`` in place, except in BatchNorm layers.

    BatchNorm keeps fp32 weights, biases and running statistics: its mean and variance are sums over
    a whole batch, which float16 represents poorly, and PyTorch's batch norm takes a half input with
    fp32 parameters and returns a half output. The parameters stay the same objects (their ``data``
    changes dtype), so whatever holds them still does. Returns ``model``.
    Derived in Lesson 12, "Mixed precision" (lessons/12_mixed_precision).
    """
    checks.instance("model_to_half", "model", model, nn.Module, "a torch.nn.Module")
    dtype = _check_half("model_to_half", dtype)
    for m in model.modules():
        if isinstance(m, _BN):
            continue
        for p in m.parameters(recurse=False):
            p.data = p.data.to(dtype)
        for name, b in m.named_buffers(recurse=False):
            if b is not None and b.is_floating_point():
                setattr(m, name, b.to(dtype))
    return model


def get_master(params: Iterable[Tensor]) -> list[Tensor]:
    """An fp32 master copy of each parameter: a detached clone, a leaf that requires a gradient.

    Derived in Lesson 12, "Mixed precision" (lessons/12_mixed_precision).
    """
    return [nn.Parameter(p.detach().clone().float(), requires_grad=p.requires_grad) for p in params]


def to_master_grads(model_params: Sequence[Tensor], master_params: Sequence[Tensor], scale: float = 1.0) -> None:
    """Copy the model's (half) gradients into the masters' ``.grad`` in fp32, divided by ``scale``.

    Dividing in fp32 keeps the small gradients that the scale lifted above float16's underflow.
    A model parameter without a gradient leaves its master's ``.grad`` as ``None``.
    Derived in Lesson 12, "Mixed precision" (lessons/12_mixed_precision).
    """
    if len(model_params) != len(master_params):
        raise ValueError(f"to_master_grads: expected as many master parameters as model parameters, got "
                         f"{len(master_params)} and {len(model_params)}")
    scale = checks.real("to_master_grads", "scale", scale, positive=True)
    for p, m in zip(model_params, master_params):
        m.grad = None if p.grad is None else p.grad.detach().float() / scale


def to_model_params(model_params: Sequence[Tensor], master_params: Sequence[Tensor]) -> None:
    """Copy the masters' values into the model's parameters, rounding to each one's dtype.

    Derived in Lesson 12, "Mixed precision" (lessons/12_mixed_precision).
    """
    if len(model_params) != len(master_params):
        raise ValueError(f"to_model_params: expected as many master parameters as model parameters, got "
                         f"{len(master_params)} and {len(model_params)}")
    with torch.no_grad():
        for p, m in zip(model_params, master_params):
            p.copy_(m)


def has_overflow(tensors: Iterable[Tensor | None]) -> bool:
    """True when any of ``tensors`` (gradients; ``None`` entries are skipped) holds an inf or a nan.

    ``isfinite(...).all()`` per tensor: the 2019 ``test_overflow`` summed each tensor and looked at
    the sum, which is fast on a GPU but can itself overflow a float16 sum of large finite values.
    Derived in Lesson 12, "Mixed precision" (lessons/12_mixed_precision).
    """
    return any(t is not None and not bool(torch.isfinite(t).all()) for t in tensors)


@dataclass
class LossScaler:
    """The loss scale, and the rule that changes it: ``torch.amp.GradScaler``'s, step for step.

    ``update(overflow)`` after each backward pass: an overflow multiplies the scale by
    ``backoff_factor`` (½), resets the count of clean steps and returns ``True`` (skip this step);
    otherwise the count grows and, at ``growth_interval``, the scale is multiplied by
    ``growth_factor`` (2) and the count restarts. With ``dynamic=False`` the scale never changes
    (static loss scaling), but an overflowing step is still reported, and skipped.
    The 2019 course started at 2**24 and grew every 500 steps; GradScaler's defaults are 2**16 and 2000.
    Derived in Lesson 12, "Mixed precision" (lessons/12_mixed_precision).
    """

    scale: float = 2.0**16
    growth_interval: int = 2000
    dynamic: bool = True
    growth_factor: float = 2.0
    backoff_factor: float = 0.5
    clean_steps: int = 0

    def __post_init__(self) -> None:
        self.scale = checks.real("LossScaler", "scale", self.scale, positive=True)
        self.growth_interval = checks.positive_int("LossScaler", "growth_interval", self.growth_interval)
        self.dynamic = checks.boolean("LossScaler", "dynamic", self.dynamic)
        self.growth_factor = checks.real("LossScaler", "growth_factor", self.growth_factor, min=1.0)
        self.backoff_factor = checks.real("LossScaler", "backoff_factor", self.backoff_factor, positive=True, max=1.0)

    def update(self, overflow: bool) -> bool:
        """One step of the rule; returns whether to skip this step (it overflowed)."""
        if overflow:
            if self.dynamic:
                self.scale *= self.backoff_factor
                self.clean_steps = 0
            return True
        if self.dynamic:
            self.clean_steps += 1
            if self.clean_steps == self.growth_interval:
                self.scale *= self.growth_factor
                self.clean_steps = 0
        return False


def _unscale_and_check(scaler: LossScaler, model_params: Sequence[Tensor], master: Sequence[Tensor]) -> bool:
    to_master_grads(model_params, master, scaler.scale)
    return scaler.update(has_overflow(m.grad for m in master))


class MixedPrecision(Callback):
    """Train a half-precision model with fp32 master weights and a loss scale (the 2019 recipe).

    At ``begin_fit`` the model becomes ``dtype`` (:func:`model_to_half`, BatchNorm left in fp32) and
    the optimizer's parameter groups get fp32 masters in place of the model's parameters (any state
    the optimizer already holds moves to them). Each training batch: the input becomes ``dtype``,
    the prediction fp32, the loss is multiplied by the scale before ``backward``; after it the
    gradients are divided again in fp32 into the masters (:func:`to_master_grads`), checked
    (:func:`has_overflow`) and, on an overflow, the step is skipped by raising
    :class:`~foundations.learner.CancelStepException` (weights and optimizer state untouched);
    after a step the masters are copied into the model (:func:`to_model_params`). The metrics see
    the unscaled loss. ``scaler`` is the :class:`LossScaler` (``LossScaler(512.0, dynamic=False)``
    for the course's static scale); its ``history`` of (scale, skipped) per step is kept in
    ``self.history``. The model stays in ``dtype`` after ``fit``; ``self.master`` holds the fp32 weights.

    Runs just after :class:`~foundations.callbacks.BatchTransformCallback` (the batch is normalised
    before it is rounded) and after the metrics in ``after_loss``.
    Derived in Lesson 12, "Mixed precision" (lessons/12_mixed_precision).
    """

    order = Order.PRECISION

    def __init__(self, dtype: torch.dtype = torch.float16, scaler: LossScaler | None = None) -> None:
        self.dtype = _check_half("MixedPrecision", dtype)
        self.scaler = LossScaler() if scaler is None else checks.instance(
            "MixedPrecision", "scaler", scaler, LossScaler, "a LossScaler")
        self.history: list[tuple[float, bool]] = []
        self._to_master: dict[Tensor, Tensor] = {}  # model parameter -> its fp32 master
        self._opt: Any = None

    def begin_fit(self) -> None:
        if self.opt is not self._opt:  # a new optimizer (first fit, or reset_opt): give it masters
            for group in self.opt.param_groups:
                ps = list(group["params"])
                new = [p for p in ps if p not in self._to_master]
                for p, m in zip(new, get_master(new)):
                    self._to_master[p] = m
                group["params"] = [self._to_master[p] for p in ps]
            state = getattr(self.opt, "state", None)
            if state:
                for p in [p for p in list(state) if p in self._to_master]:
                    state[self._to_master[p]] = state.pop(p)
            self._opt = self.opt
            model_to_half(self.model, self.dtype)
        self.model_params = list(self._to_master)
        self.master = [self._to_master[p] for p in self.model_params]

    def begin_batch(self) -> None:
        if self.xb.is_floating_point():
            self.learn.xb = self.xb.to(self.dtype)

    def after_pred(self) -> None:
        self.learn.pred = self.pred.float()

    def after_loss(self) -> None:
        if self.in_train:
            self._loss = self.loss
            self.learn.loss = self.loss * self.scaler.scale

    def after_backward(self) -> None:
        self.learn.loss = self._loss
        scale = self.scaler.scale
        skip = _unscale_and_check(self.scaler, self.model_params, self.master)
        self.history.append((scale, skip))
        for p in self.model_params:
            p.grad = None
        if skip:
            for m in self.master:
                m.grad = None
            raise CancelStepException()

    def after_step(self) -> None:
        to_model_params(self.model_params, self.master)

    def after_batch(self) -> None:
        if self.in_train:
            for p in self.model_params:
                p.grad = None


class AutocastCallback(Callback):
    """Run the forward pass and the loss under ``torch.autocast(device_type, dtype)``.

    The weights stay fp32 (they are their own masters); autocast casts each operation's inputs to
    ``dtype`` where that is safe (matrix products, convolutions) and keeps reductions, softmax and
    losses in fp32. With ``scaler`` (a :class:`LossScaler`; needed for float16, not for bfloat16,
    whose range is fp32's) the loss is scaled, the gradients unscaled in place and checked, and an
    overflowing step skipped, as by ``torch.amp.GradScaler``. ``device_type`` defaults to the
    model's. ``history`` holds (scale, skipped) per step when scaling.
    Derived in Lesson 12, "Mixed precision" (lessons/12_mixed_precision).
    """

    order = Order.PRECISION

    def __init__(self, dtype: torch.dtype = torch.bfloat16, scaler: LossScaler | None = None,
                 device_type: str | None = None) -> None:
        self.dtype = _check_half("AutocastCallback", dtype)
        self.scaler = None if scaler is None else checks.instance(
            "AutocastCallback", "scaler", scaler, LossScaler, "a LossScaler")
        self.device_type = device_type
        self.history: list[tuple[float, bool]] = []
        self._ctx: contextlib.AbstractContextManager[Any] | None = None

    def begin_fit(self) -> None:
        if self.device_type is None:
            self.device_type = next(self.model.parameters()).device.type

    def _exit(self) -> None:
        if self._ctx is not None:
            self._ctx.__exit__(None, None, None)
            self._ctx = None

    def begin_batch(self) -> None:
        self._ctx = torch.autocast(self.device_type, dtype=self.dtype)
        self._ctx.__enter__()

    def after_loss(self) -> None:
        self._exit()  # the backward pass runs outside autocast, as PyTorch advises
        if self.in_train and self.scaler is not None:
            self._loss = self.loss
            self.learn.loss = self.loss.float() * self.scaler.scale

    def after_backward(self) -> None:
        if self.scaler is None:
            return
        self.learn.loss = self._loss
        scale = self.scaler.scale
        params = [p for g in self.opt.param_groups for p in g["params"] if p.grad is not None]
        with torch.no_grad():
            for p in params:
                p.grad.div_(scale)
        skip = self.scaler.update(has_overflow(p.grad for p in params))
        self.history.append((scale, skip))
        if skip:
            raise CancelStepException()

    def after_batch(self) -> None:
        self._exit()

    def after_fit(self) -> None:
        self._exit()
