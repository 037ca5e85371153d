"""Lesson 12 exercises: an XResNet block's forward pass, adaptive concat pooling, freezing a body.

Generated from solutions/lesson12_xresnet.py by tools/make_stubs.py: edit the solution, not this file.

Page: lessons/12_xresnet. Replace each ``raise NotImplementedError`` line with your code, then grade:

    .venv/bin/pytest exercises -k xres_block
    .venv/bin/pytest exercises -k concat_pool
    .venv/bin/pytest exercises -k freeze_body

The graders compare with ``foundations.vision.xresnet.XResBlock`` and
``foundations.vision.transfer.AdaptiveConcatPool2d`` and ``freeze``. Use tensor operations and the
modules you are given; do not call ``foundations.vision`` (the graders check: a call to it fails
the exercise).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def xres_block(x: Tensor, convs: nn.Module, idconv: nn.Module | None, stride: int) -> Tensor:
    """The forward pass of an XResNet block: ``relu(convs(x) + idconv(pool(x)))``.

    ``x`` is ``(N, C, H, W)``; ``convs`` is the residual branch (it already holds the stride, so it
    maps ``x`` to ``(N, nf, ceil(H/stride), ceil(W/stride))``). The shortcut (ResNet-D):

    - ``pool``: when ``stride == 2``, a 2x2 average pool with ``ceil_mode=True``
      (``F.avg_pool2d(x, 2, ceil_mode=True)``), so odd sizes round up like the branch's; when
      ``stride == 1``, nothing;
    - ``idconv``: when it is not ``None``, the 1x1 convolution (and BatchNorm) that changes the number
      of channels to ``nf``; when ``None``, nothing.

    Add the two paths and apply a ReLU.

    >>> convs = nn.Conv2d(2, 2, 3, padding=1, bias=False)
    >>> _ = nn.init.zeros_(convs.weight)
    >>> xres_block(torch.tensor([[[[-1.0]], [[2.0]]]]), convs, None, 1).flatten().tolist()
    [0.0, 2.0]
    """
    raise NotImplementedError("your code here")


def concat_pool(x: Tensor) -> Tensor:
    """Adaptive concat pooling to one pixel: ``(N, C, H, W) -> (N, 2C, 1, 1)``.

    Channels ``0 .. C-1`` of the result hold the maximum of each channel over the image, channels
    ``C .. 2C-1`` its mean (max first, as in ``AdaptiveConcatPool2d``). Keep ``x``'s dtype.

    >>> concat_pool(torch.tensor([[[[1.0, 3.0]], [[0.0, -2.0]]]])).flatten().tolist()
    [3.0, 0.0, 2.0, -1.0]
    """
    raise NotImplementedError("your code here")


def freeze_body(model: nn.Module, bn_trainable: bool = True) -> None:
    """Freeze ``model.body`` for transfer learning; leave ``model.head`` trainable.

    Set ``requires_grad = False`` on every parameter of ``model.body``, except, when ``bn_trainable``
    is true, the parameters of its BatchNorm layers (``nn.BatchNorm1d``, ``nn.BatchNorm2d``), which
    get ``requires_grad = True``. Set ``requires_grad = True`` on every parameter of ``model.head``.
    Change the flags in place (``p.requires_grad_(...)``); return nothing.

    >>> model = nn.Sequential()
    >>> model.body = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4))
    >>> model.head = nn.Linear(4, 2)
    >>> freeze_body(model)
    >>> [p.requires_grad for p in model.parameters()]
    [False, False, True, True, True, True]
    """
    raise NotImplementedError("your code here")
