"""Grader for exercises/lesson11_lsuv.py (Lesson 11, LSUV initialisation).

Run ``pytest exercises -k lsuv_rescale``. Each of your steps is compared in float64 with one
rescaling by the library's ``foundations.lsuv.lsuv_init`` (``max_iter=1``) of a copy of the same
layer on the same batch: the new weight and bias, and the std it reports afterwards. Then your step
is repeated (up to 10 times) until the layer's output on the batch has std 1 within 1e-3, and mean 0
within 1e-3 where the layer has a bias. During your call ``foundations.lsuv`` is swapped out
(``exercises/_rules.py``).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from types import ModuleType

import pytest
import torch
from torch import Tensor, nn

from exercises._rules import Forbidden, attempt_without
from foundations.lsuv import lsuv_init
from foundations.testing import check_close

pytestmark = pytest.mark.lesson11

F64 = torch.float64
RULES = Forbidden(("foundations.lsuv.*",), "this exercise asks you to write yourself (mean, std and torch.no_grad)")
TOL = {"atol": 1e-12, "rtol": 1e-10, "dtype": "match"}


def attempt(fn, *args):  # noqa: ANN001, ANN002, ANN201
    __tracebackhide__ = True
    try:
        return attempt_without(RULES, fn, *args)
    except RuntimeError as e:
        if "leaf Variable that requires grad" in str(e):
            raise AssertionError(
                "lsuv_rescale: the layer's weight or bias (parameters, requires_grad=True) was changed in place "
                f"while autograd was recording; do it inside `with torch.no_grad():` (PyTorch said: {e})"
            ) from None
        raise


@pytest.fixture(scope="module")
def ex(impl) -> ModuleType:  # noqa: ANN001
    return impl("lesson11_lsuv")


def _randn(*shape: int, seed: int, loc: float = 0.0, scale: float = 1.0) -> Tensor:
    return torch.randn(shape, dtype=F64, generator=torch.Generator().manual_seed(seed)) * scale + loc


def _layer(make: Callable[[], nn.Module], seed: int, weight_scale: float = 1.0) -> nn.Module:
    torch.manual_seed(seed)
    layer = make().double()
    with torch.no_grad():
        layer.weight.mul_(weight_scale)
    return layer


CASES: dict[str, Callable[[], tuple[nn.Module, Tensor]]] = {
    "nn.Linear(20, 30) on a 64x20 batch with mean 3 and std 5":
        lambda: (_layer(lambda: nn.Linear(20, 30), 0), _randn(64, 20, seed=1, loc=3.0, scale=5.0)),
    "nn.Linear(4, 3) on a 64x4 batch":
        lambda: (_layer(lambda: nn.Linear(4, 3), 1), _randn(64, 4, seed=2, scale=5.0)),
    "nn.Linear(10, 8, bias=False) on a 32x10 batch":
        lambda: (_layer(lambda: nn.Linear(10, 8, bias=False), 2), _randn(32, 10, seed=3, loc=1.0)),
    "nn.Linear(16, 5) with weights 100 times too large":
        lambda: (_layer(lambda: nn.Linear(16, 5), 3, weight_scale=100.0), _randn(50, 16, seed=4)),
    "nn.Conv2d(3, 8, 3, padding=1) on a 16x3x8x8 batch with mean 1 and std 2":
        lambda: (_layer(lambda: nn.Conv2d(3, 8, 3, padding=1), 4), _randn(16, 3, 8, 8, seed=5, loc=1.0, scale=2.0)),
    "nn.Conv2d(3, 8, 3, stride=2, bias=False) on a 16x3x8x8 batch":
        lambda: (_layer(lambda: nn.Conv2d(3, 8, 3, stride=2, bias=False), 5), _randn(16, 3, 8, 8, seed=6)),
    "nn.Conv2d(8, 16, 5, padding=2) with weights 1000 times too small":
        lambda: (_layer(lambda: nn.Conv2d(8, 16, 5, padding=2), 6, weight_scale=1e-3), _randn(8, 8, 6, 6, seed=7)),
    "nn.Conv2d(1, 4, 3) on ReLU outputs (all >= 0)":
        lambda: (_layer(lambda: nn.Conv2d(1, 4, 3), 7), _randn(12, 1, 10, 10, seed=8).relu()),
}


def _step(ex: ModuleType, layer: nn.Module, x: Tensor, where: str) -> float:
    weight, bias = layer.weight, layer.bias
    given = x.clone()
    got = attempt(ex.lsuv_rescale, layer, given)
    assert torch.equal(given, x), f"{where}: the batch x changed; leave it alone"
    assert layer.weight is weight and layer.bias is bias, (
        f"{where}: the layer's parameters were replaced by new ones; change their values in place "
        "(layer.weight /= s under torch.no_grad()), an optimizer holds the old ones")
    assert layer.weight.requires_grad and (bias is None or bias.requires_grad), (
        f"{where}: the layer's parameters must still require gradients")
    if isinstance(got, Tensor) and got.numel() == 1:
        got = got.item()
    if isinstance(got, bool) or not isinstance(got, (int, float)):
        raise AssertionError(f"{where}: expected a Python float (the new std), got {type(got).__name__}")
    return float(got)


@pytest.mark.parametrize("name", list(CASES))
def test_lsuv_rescale_one_step_against_lsuv_init(ex: ModuleType, name: str) -> None:
    layer, x = CASES[name]()
    theirs = copy.deepcopy(layer)
    [step] = lsuv_init(theirs, x, max_iter=1, tol=1e-12)
    where = f"lsuv_rescale on {name}, one step"
    got = _step(ex, layer, x, where)
    check_close(layer.weight.detach(), theirs.weight.detach(), what=f"{where}: the new weight", **TOL)
    if layer.bias is not None:
        check_close(layer.bias.detach(), theirs.bias.detach(), what=f"{where}: the new bias", **TOL)
    check_close(got, step.std_after, what=f"{where}: the std you returned", atol=1e-12, rtol=1e-10)


@pytest.mark.parametrize("name", list(CASES))
def test_lsuv_rescale_repeated_gives_unit_std(ex: ModuleType, name: str) -> None:
    layer, x = CASES[name]()
    stds = []
    for k in range(10):
        stds.append(_step(ex, layer, x, f"lsuv_rescale on {name}, step {k + 1}"))
        with torch.no_grad():
            out = layer(x)
        if abs(out.std().item() - 1) <= 1e-4 and (layer.bias is None or abs(out.mean().item()) <= 1e-4):
            break
    with torch.no_grad():
        out = layer(x)
    shown = ", ".join(f"{s:.6g}" for s in stds)
    check_close(stds[-1], out.std().item(), what=f"lsuv_rescale on {name}: the std you returned after step {len(stds)} "
                f"against the layer's output", atol=1e-12, rtol=1e-10)
    assert abs(out.std().item() - 1) <= 1e-3, (
        f"lsuv_rescale on {name}: after {len(stds)} steps the output's std is {out.std().item():.6g}, expected 1 "
        f"within 1e-3 (the stds you returned: {shown})")
    if layer.bias is not None:
        assert abs(out.mean().item()) <= 1e-3, (
            f"lsuv_rescale on {name}: after {len(stds)} steps the output's mean is {out.mean().item():.3g}, expected 0 "
            "within 1e-3 (subtract the output's mean from the bias)")
