"""Moving batches to a device and transforming them on the way to the model.

Derived in Lesson 10, "Early stopping and the learning-rate finder" (lessons/10_lr_finder).

- :class:`DeviceCallback` moves the model to a device when training starts and every batch to the
  same device before the model sees it (``"cuda"`` when there is a GPU; :func:`default_device`).
- :class:`BatchTransformCallback` applies a function to every input batch, e.g. :func:`view_tfm`
  turning MNIST's flat 784-vectors into ``1x28x28`` images for a convolutional network.

The learner stores the current batch as ``learn.xb``/``learn.yb`` *before* firing ``begin_batch``
and calls ``model(learn.xb)`` *after* it, so a callback replaces the batch by assigning
``self.learn.xb = ...`` in ``begin_batch``.

**Base:** the model is a ``torch.nn.Module`` (moved with ``.to``), like every model of the library
after Lesson 9's hand-written ``foundations.nn.Module`` (the teaching version).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

from foundations import checks
from foundations.learner import Callback, Order

__all__ = ["BatchTransformCallback", "DeviceCallback", "default_device", "view_tfm"]


def default_device() -> torch.device:
    """``cuda`` when PyTorch sees a GPU, else ``cpu``.

    Derived in Lesson 10, "Early stopping and the learning-rate finder" (lessons/10_lr_finder).
    """
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


class DeviceCallback(Callback):
    """Puts the model on ``device`` at ``begin_fit`` and each batch's ``xb`` and ``yb`` at ``begin_batch``.

    ``DeviceCallback(default_device())`` trains on the GPU when there is one. It runs first
    (``Order.DEVICE``), so the other callbacks see the batch already on the device. The model must be
    a ``torch.nn.Module`` (moved in place with ``.to``, so the optimizer keeps its tensors).
    Derived in Lesson 10, "Early stopping and the learning-rate finder" (lessons/10_lr_finder).
    """

    order = Order.DEVICE

    def __init__(self, device: str | torch.device) -> None:
        if not isinstance(device, (str, torch.device)):
            raise TypeError(
                f"DeviceCallback: expected device to be a str or torch.device, got {type(device).__name__}"
            )
        self.device = torch.device(device)  # raises on a name that is not a device, e.g. "gpu"

    def begin_fit(self) -> None:
        if not isinstance(self.model, torch.nn.Module):
            raise TypeError(f"DeviceCallback: expected the model to be a torch.nn.Module, got {type(self.model).__name__}")
        self.model.to(self.device)

    def begin_batch(self) -> None:
        self.learn.xb, self.learn.yb = self.xb.to(self.device), self.yb.to(self.device)


class BatchTransformCallback(Callback):
    """Replaces each input batch ``learn.xb`` by ``tfm(learn.xb)`` at ``begin_batch`` (``yb`` is kept).

    ``Order.TRANSFORM``: after :class:`DeviceCallback` (the transform runs on the device) and after
    the schedulers. Derived in Lesson 10, "Early stopping and the learning-rate finder"
    (lessons/10_lr_finder).
    """

    order = Order.TRANSFORM

    def __init__(self, tfm: Callable[[Tensor], Tensor]) -> None:
        if not callable(tfm):
            raise TypeError(f"BatchTransformCallback: expected tfm to be a function of a batch, got {type(tfm).__name__}")
        self.tfm = tfm

    def begin_batch(self) -> None:
        self.learn.xb = self.tfm(self.xb)


def view_tfm(*size: int) -> Callable[[Tensor], Tensor]:
    """A transform that reshapes a batch to ``(-1, *size)``: ``view_tfm(1, 28, 28)`` gives MNIST images.

    The returned function checks that each batch has the right number of elements per sample.
    Derived in Lesson 10, "Early stopping and the learning-rate finder" (lessons/10_lr_finder).

    >>> view_tfm(1, 28, 28)(torch.zeros(64, 784)).shape
    torch.Size([64, 1, 28, 28])
    """
    if not size:
        raise ValueError("view_tfm: expected the sizes of one sample, such as view_tfm(1, 28, 28), got none")
    size = tuple(checks.positive_int("view_tfm", f"size[{i}]", s) for i, s in enumerate(size))
    per_sample = math.prod(size)

    def _inner(x: Tensor) -> Tensor:
        x = checks.tensor("view_tfm", "the batch", x)
        if x.ndim == 0 or x[0].numel() != per_sample:
            raise ValueError(
                f"view_tfm: expected a batch with {per_sample} elements per sample to view as {size}, "
                f"got shape {tuple(x.shape)}"
            )
        return x.view(-1, *size)

    _inner.__qualname__ = f"view_tfm{size}"
    return _inner
