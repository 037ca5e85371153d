"""Grader for exercises/lesson12_xresnet.py (Lesson 12, XResNet and transfer learning).

Run ``pytest exercises -k xres_block`` (or ``concat_pool``, ``freeze_body``). ``xres_block`` is compared
in float64 with ``foundations.vision.xresnet.XResBlock`` (its branch and shortcut handed to you);
``concat_pool`` with ``foundations.vision.transfer.AdaptiveConcatPool2d``; ``freeze_body`` parameter by
parameter with ``foundations.vision.transfer.freeze``. During your call ``foundations.vision`` is
swapped out (``exercises/_rules.py``).
"""

from __future__ import annotations

from types import ModuleType

import pytest
import torch
from torch import nn

from exercises._rules import Forbidden, attempt_without
from foundations.testing import check_close
from foundations.vision.transfer import AdaptiveConcatPool2d, freeze, transfer_model
from foundations.vision.xresnet import XResBlock, xresnet18

pytestmark = pytest.mark.lesson12

F64 = torch.float64
RULES = Forbidden(("foundations.vision.*",), "this exercise asks you to write yourself")
TOL = {"atol": 1e-12, "rtol": 1e-10, "dtype": "match"}


@pytest.fixture(scope="module")
def ex(impl) -> ModuleType:  # noqa: ANN001
    return impl("lesson12_xresnet")


def _randn(*shape: int, seed: int) -> torch.Tensor:
    return torch.randn(shape, dtype=F64, generator=torch.Generator().manual_seed(seed))


BLOCKS = {
    "XResBlock(1, 8, 8) (no shortcut convolution) on 2x8x6x6": ((1, 8, 8, 1), (2, 8, 6, 6)),
    "XResBlock(1, 8, 16, stride=2) on 2x8x6x6": ((1, 8, 16, 2), (2, 8, 6, 6)),
    "XResBlock(1, 4, 8, stride=2) on an odd 3x4x7x7": ((1, 4, 8, 2), (3, 4, 7, 7)),
    "XResBlock(4, 8, 4) (bottleneck, 8 -> 16 channels) on 2x8x5x5": ((4, 8, 4, 1), (2, 8, 5, 5)),
}


@pytest.mark.parametrize("name", list(BLOCKS))
def test_xres_block_against_xresblock(ex: ModuleType, name: str) -> None:
    args, shape = BLOCKS[name]
    torch.manual_seed(0)
    block = XResBlock(*args).double().eval()
    with torch.no_grad():  # a trained block: gamma no longer 0, so the branch counts
        for m in block.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.5, 0.5)
    x = _randn(*shape, seed=1)
    idconv = None if isinstance(block.idconv, nn.Identity) else block.idconv
    with torch.no_grad():
        expected = block(x)
        got = attempt_without(RULES, ex.xres_block, x, block.convs, idconv, args[3])
    check_close(got, expected, what=f"xres_block on {name}", **TOL)


@pytest.mark.parametrize("shape", [(2, 3, 4, 4), (1, 5, 3, 7), (4, 1, 1, 1)])
def test_concat_pool_against_adaptive_concat_pool(ex: ModuleType, shape: tuple[int, ...]) -> None:
    x = _randn(*shape, seed=sum(shape))
    got = attempt_without(RULES, ex.concat_pool, x)
    check_close(got, AdaptiveConcatPool2d()(x), what=f"concat_pool on an input of shape {shape}", **TOL)


def _model(seed: int) -> nn.Sequential:
    torch.manual_seed(seed)
    base = xresnet18(c_out=3, widths=(4, 4, 8, 8), stem=(4, 4, 4))
    model = transfer_model(base[:-1], base.n_features, 3)
    for i, p in enumerate(model.parameters()):
        p.requires_grad_(i % 3 != 0)  # start from a mixed state: every flag must be set
    return model


@pytest.mark.parametrize("bn_trainable", [True, False])
def test_freeze_body_against_freeze(ex: ModuleType, bn_trainable: bool) -> None:
    mine, theirs = _model(0), _model(0)
    attempt_without(RULES, ex.freeze_body, mine, bn_trainable)
    freeze(theirs, bn_trainable=bn_trainable)
    for (name, p), q in zip(mine.named_parameters(), theirs.parameters()):
        assert p.requires_grad == q.requires_grad, (
            f"freeze_body(model, bn_trainable={bn_trainable}): parameter {name} has requires_grad={p.requires_grad}, "
            f"expected {q.requires_grad}")
