"""Lesson 10's callbacks: the learning-rate finder, moving batches to a device, transforming batches.

Derived in Lesson 10, "Early stopping and the learning-rate finder" (lessons/10_lr_finder), and used
by Lesson 10's convolutional network. Each is a small :class:`foundations.learner.Callback`; none of
them changes :class:`foundations.learner.Runner`, which is the point of callbacks.

- :class:`LRFinder` raises the learning rate exponentially, batch after batch, records the loss,
  and stops training (``CancelTrainException``) when the loss explodes. Plotted against the learning
  rate on a log scale, the losses show which learning rates train and which blow up.
- :class:`DeviceCallback` moves the model to a device when training starts and every batch to the
  same device before the model sees it (``"cuda"`` when there is a GPU; :func:`default_device`).
- :class:`BatchTransformCallback` applies a function to every input batch, e.g. :func:`view_tfm`
  turning MNIST's flat 784-vectors into ``1x28x28`` images for a convolutional network.

How a callback changes the runner's state: the runner stores the current batch as ``run.xb`` and
``run.yb`` *before* firing ``begin_batch``, and calls ``model(run.xb)`` *after* it, so a callback
replaces the batch by assigning ``self.run.xb = ...`` in ``begin_batch``.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Sequence
from typing import Any

import matplotlib.pyplot as plt
import torch
from matplotlib.axes import Axes
from torch import Tensor

from foundations.learner import Callback, CancelEpochException, CancelTrainException
from foundations.schedule import sched_exp

__all__ = [
    "BatchTransformCallback",
    "DeviceCallback",
    "LRFinder",
    "default_device",
    "lr_finder_should_stop",
    "view_tfm",
]


# ---- devices ------------------------------------------------------------------------------------


def default_device() -> torch.device:
    """``cuda`` when PyTorch sees a GPU, else ``cpu``.

    Derived in Lesson 10, "Early stopping and the learning-rate finder" (lessons/10_lr_finder).
    """
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _move_model(model: Any, device: torch.device) -> None:
    """Move ``model``'s parameters (and buffers) to ``device`` in place, keeping the same tensors.

    A ``torch.nn.Module`` has ``.to``; our own :class:`foundations.nn.Module` does not, so its
    parameters are moved by swapping each one's ``.data``, which keeps the tensor objects the
    optimizer holds.
    """
    if isinstance(model, torch.nn.Module):
        model.to(device)
        return
    if not hasattr(model, "parameters"):
        raise TypeError(f"DeviceCallback: expected a model with parameters(), got {type(model).__name__}")
    for p in model.parameters():
        p.data = p.data.to(device)
        if p.grad is not None:
            p.grad.data = p.grad.data.to(device)


class DeviceCallback(Callback):
    """Puts the model on ``device`` at ``begin_fit`` and each batch's ``xb`` and ``yb`` at ``begin_batch``.

    ``DeviceCallback(default_device())`` trains on the GPU when there is one. It runs before the
    other callbacks (``_order = -1``), so they see the batch already on the device.
    Derived in Lesson 10, "Early stopping and the learning-rate finder" (lessons/10_lr_finder).
    """

    _order = -1

    def __init__(self, device: str | torch.device) -> None:
        if not isinstance(device, (str, torch.device)):
            raise TypeError(
                f"DeviceCallback: expected device to be a str or torch.device, got {type(device).__name__}"
            )
        self.device = torch.device(device)  # raises on a name that is not a device, e.g. "gpu"

    def begin_fit(self) -> None:
        _move_model(self.model, self.device)

    def begin_batch(self) -> None:
        self.run.xb, self.run.yb = self.xb.to(self.device), self.yb.to(self.device)


# ---- transforming batches -----------------------------------------------------------------------


class BatchTransformCallback(Callback):
    """Replaces each input batch ``run.xb`` by ``tfm(run.xb)`` at ``begin_batch`` (``yb`` is kept).

    ``_order = 2``: after :class:`DeviceCallback` (the transform runs on the device) and after
    schedulers. Derived in Lesson 10, "Early stopping and the learning-rate finder"
    (lessons/10_lr_finder).
    """

    _order = 2

    def __init__(self, tfm: Callable[[Tensor], Tensor]) -> None:
        if not callable(tfm):
            raise TypeError(f"BatchTransformCallback: expected tfm to be a function of a batch, got {type(tfm).__name__}")
        self.tfm = tfm

    def begin_batch(self) -> None:
        self.run.xb = self.tfm(self.xb)


def view_tfm(*size: int) -> Callable[[Tensor], Tensor]:
    """A transform that reshapes a batch to ``(-1, *size)``: ``view_tfm(1, 28, 28)`` gives MNIST images.

    The returned function checks that each batch has the right number of elements per sample.
    Derived in Lesson 10, "Early stopping and the learning-rate finder" (lessons/10_lr_finder).

    >>> view_tfm(1, 28, 28)(torch.zeros(64, 784)).shape
    torch.Size([64, 1, 28, 28])
    """
    if not size or any(isinstance(s, bool) or not isinstance(s, int) or s < 1 for s in size):
        raise ValueError(f"view_tfm: expected positive int sizes such as view_tfm(1, 28, 28), got {size!r}")
    per_sample = math.prod(size)

    def _inner(x: Tensor) -> Tensor:
        if not isinstance(x, Tensor):
            raise TypeError(f"view_tfm: expected a tensor batch, got {type(x).__name__}")
        if x.ndim == 0 or x[0].numel() != per_sample:
            raise ValueError(
                f"view_tfm: expected a batch with {per_sample} elements per sample to view as {size}, "
                f"got shape {tuple(x.shape)}"
            )
        return x.view(-1, *size)

    _inner.__qualname__ = f"view_tfm{size}"
    return _inner


# ---- the learning-rate finder -------------------------------------------------------------------


def lr_finder_should_stop(losses: Sequence[float], iteration: int, max_iter: int, factor: float = 10.0) -> bool:
    """The learning-rate finder's stopping rule, after the training batch number ``iteration`` (from 0).

    Stop when the sweep is done (``iteration >= max_iter``: the batch at ``max_lr`` has run), or when
    the loss has exploded: the latest loss ``losses[-1]`` is not finite, or is more than ``factor``
    times the best (smallest) loss so far. ``losses`` are the losses of batches ``0..iteration``.
    Derived in Lesson 10, "Early stopping and the learning-rate finder" (lessons/10_lr_finder).

    >>> lr_finder_should_stop([2.3, 1.0, 10.5], iteration=2, max_iter=100)
    True
    """
    if len(losses) == 0:
        raise ValueError("lr_finder_should_stop: expected at least one loss, got an empty list")
    if iteration >= max_iter:
        return True
    last = float(losses[-1])
    return not math.isfinite(last) or last > factor * min(float(l) for l in losses)


class LRFinder(Callback):
    """Sweeps the learning rate exponentially from ``min_lr`` to ``max_lr``; stops when the loss explodes.

    Before training batch ``i`` every parameter group gets ``lr = min_lr * (max_lr / min_lr) ** (i /
    max_iter)``; after its step, ``lrs`` and ``losses`` get the learning rate and the loss, and
    :func:`lr_finder_should_stop` decides whether to raise ``CancelTrainException``. Validation is
    skipped. When training ends, the model's weights and the optimizer's hyper-parameters are put
    back as they were at ``begin_fit`` (``restore=True``), so the finder can be run on the model you
    are about to train. ``_order = 1``: it sets the learning rate like a scheduler; do not use both.
    Derived in Lesson 10, "Early stopping and the learning-rate finder" (lessons/10_lr_finder).
    """

    _order = 1

    def __init__(
        self,
        max_iter: int = 100,
        min_lr: float = 1e-6,
        max_lr: float = 10.0,
        factor: float = 10.0,
        restore: bool = True,
    ) -> None:
        if isinstance(max_iter, bool) or not isinstance(max_iter, int) or max_iter < 1:
            raise ValueError(f"LRFinder: expected max_iter to be a positive int, got {max_iter!r}")
        if not (isinstance(min_lr, (int, float)) and isinstance(max_lr, (int, float)) and 0 < min_lr < max_lr):
            raise ValueError(f"LRFinder: expected 0 < min_lr < max_lr, got min_lr={min_lr!r}, max_lr={max_lr!r}")
        if not isinstance(factor, (int, float)) or not factor > 1:
            raise ValueError(f"LRFinder: expected factor > 1, got {factor!r}")
        self.max_iter, self.min_lr, self.max_lr = max_iter, float(min_lr), float(max_lr)
        self.factor, self.restore = float(factor), restore
        self.sched = sched_exp(self.min_lr, self.max_lr)

    def begin_fit(self) -> None:
        self.lrs: list[float] = []
        self.losses: list[float] = []
        self.lr = self.min_lr
        if self.restore:
            self._saved = _snapshot(self.model, self.opt)

    def begin_batch(self) -> None:
        if not self.in_train:
            return
        self.lr = self.sched(min(self.n_iter / self.max_iter, 1.0))
        for pg in self.opt.param_groups:
            pg["lr"] = self.lr

    def after_step(self) -> None:
        # after_step, not after_batch: the batch's after_batch still runs for every callback (it runs
        # in the Runner's `finally`), and then fit stops
        self.lrs.append(self.lr)
        self.losses.append(self.loss.detach().item())
        # len(losses) - 1, not run.n_iter: TrainEvalCallback (_order 0) has already counted this batch
        if lr_finder_should_stop(self.losses, len(self.losses) - 1, self.max_iter, self.factor):
            raise CancelTrainException()

    def begin_validate(self) -> None:
        raise CancelEpochException()  # the finder only needs training batches

    def after_fit(self) -> None:
        if self.restore and hasattr(self, "_saved"):
            _restore(self.model, self.opt, self._saved)
            del self._saved

    def plot(self, skip_last: int = 0, ax: Axes | None = None) -> Axes:
        """Loss against learning rate (log scale), leaving out the last ``skip_last`` points."""
        if not getattr(self, "losses", None):
            raise ValueError("LRFinder.plot: nothing recorded yet: run fit first")
        if isinstance(skip_last, bool) or not isinstance(skip_last, int) or not 0 <= skip_last < len(self.losses):
            raise ValueError(
                f"LRFinder.plot: expected 0 <= skip_last < {len(self.losses)} (points recorded), got {skip_last!r}"
            )
        n = len(self.losses) - skip_last
        if ax is None:
            _, ax = plt.subplots(figsize=(6, 3.5))
        ax.plot(self.lrs[:n], self.losses[:n], label="training loss (per batch)")
        ax.set_xscale("log")
        ax.set(title="Learning-rate finder", xlabel="learning rate (log scale)", ylabel="loss")
        ax.legend()
        return ax


def _snapshot(model: Any, opt: Any) -> dict[str, Any]:
    """Copies of what a learning-rate sweep changes: the weights and the optimizer's settings."""
    if hasattr(model, "state_dict"):
        weights: Any = copy.deepcopy(model.state_dict())
    else:
        weights = [p.detach().clone() for p in model.parameters()]
    groups = [{k: copy.deepcopy(v) for k, v in pg.items() if k != "params"} for pg in opt.param_groups]
    opt_state = copy.deepcopy(opt.state_dict()) if hasattr(opt, "state_dict") else None
    return {"weights": weights, "groups": groups, "opt_state": opt_state}


def _restore(model: Any, opt: Any, saved: dict[str, Any]) -> None:
    if hasattr(model, "load_state_dict"):
        model.load_state_dict(saved["weights"])
    else:
        with torch.no_grad():
            for p, w in zip(model.parameters(), saved["weights"]):
                p.copy_(w)
    if saved["opt_state"] is not None:
        opt.load_state_dict(saved["opt_state"])
    for pg, kept in zip(opt.param_groups, saved["groups"]):
        pg.update(kept)
