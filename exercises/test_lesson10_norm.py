"""Grader for exercises/lesson10_norm.py (Lesson 10, "BatchNorm and friends").

Run ``pytest exercises/test_lesson10_norm.py`` (add ``-k group_norm`` for one exercise).
Every answer is compared in float64 with PyTorch (``F.batch_norm``, ``F.layer_norm``,
``F.group_norm``, ``torch.var_mean``) or, for RunningBatchNorm's statistics, with the library's
``foundations.norm.RunningBatchNorm``, whose own tests check it against its definition. A float32
answer passes at float32 precision. During your call the normalisation functions and layers of
PyTorch and ``foundations.norm``, and ``var``/``std``, are swapped out (``exercises/_rules.py``).
"""

from __future__ import annotations

from types import ModuleType

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor

from exercises._rules import Forbidden, attempt_without
from foundations.norm import RunningBatchNorm
from foundations.testing import check_close

pytestmark = pytest.mark.lesson10

F64 = torch.float64
TOL = {"atol": 1e-10, "rtol": 1e-10, "dtype": "any"}
RULES = Forbidden(
    ("torch.nn.functional.batch_norm", "torch.nn.functional.layer_norm", "torch.nn.functional.group_norm",
     "torch.nn.functional.instance_norm", "torch.batch_norm", "torch.layer_norm", "torch.group_norm",
     "torch.instance_norm", "torch.native_batch_norm", "torch.native_layer_norm", "torch.native_group_norm",
     "torch.var", "torch.var_mean", "torch.std", "torch.std_mean", "torch.Tensor.var", "torch.Tensor.std",
     "foundations.norm.*"),
    "this exercise asks you to write yourself (mean, sum, sqrt and reshape)",
)


def attempt(fn, *args):  # noqa: ANN001, ANN002, ANN201
    return attempt_without(RULES, fn, *args)


@pytest.fixture(scope="module")
def ex(impl) -> ModuleType:  # noqa: ANN001
    return impl("lesson10_norm")


def _randn(*shape: int, seed: int, loc: float = 0.0, scale: float = 1.0) -> Tensor:
    return torch.randn(*shape, dtype=F64, generator=torch.Generator().manual_seed(seed)) * scale + loc


# name -> (N, C, H, W) float64 batch; not standardised, some awkward
IMAGES = {
    "a 16x3x5x5 batch with mean 4 and std 3": _randn(16, 3, 5, 5, seed=0, loc=4.0, scale=3.0),
    "a batch of 2 (2x4x3x3)": _randn(2, 4, 3, 3, seed=1),
    "one-pixel images (8x2x1x1)": _randn(8, 2, 1, 1, seed=2, loc=-1.0),
    "negative values only (3x2x4x2)": -_randn(3, 2, 4, 2, seed=3).abs() - 5.0,
    "a single image (1x3x4x4)": _randn(1, 3, 4, 4, seed=4, scale=0.1),
    "6 channels of non-square images (2x6x2x5)": _randn(2, 6, 2, 5, seed=5, loc=2.0),
}


def _tuple_of(got: object, n: int, what: str) -> tuple:
    assert isinstance(got, tuple) and len(got) == n, (
        f"{what}: expected a tuple of {n} tensors, got {type(got).__name__}"
        + (f" of length {len(got)}" if isinstance(got, tuple) else "")
    )
    return got


# ---- batchnorm_train_forward -------------------------------------------------------------------


@pytest.mark.parametrize("eps", [1e-5, 0.5])
def test_batchnorm_train_forward(ex: ModuleType, eps: float) -> None:
    for k, (what, x) in enumerate(IMAGES.items()):
        c = x.shape[1]
        gamma, beta = _randn(c, seed=10 + k, loc=1.0), _randn(c, seed=20 + k)
        got = attempt(ex.batchnorm_train_forward, x.clone(), gamma.clone(), beta.clone(), eps)
        y, mean, var = _tuple_of(got, 3, f"batchnorm_train_forward on {what}")
        var_t, mean_t = torch.var_mean(x, (0, 2, 3), correction=0)
        check_close(mean, mean_t, what=f"batchnorm_train_forward's mean on {what}", **TOL)
        check_close(var, var_t, what=f"batchnorm_train_forward's variance (biased) on {what}", **TOL)
        check_close(y, F.batch_norm(x, None, None, gamma, beta, training=True, eps=eps),
                    what=f"batchnorm_train_forward's output on {what}, eps={eps}", **TOL)


def test_batchnorm_train_forward_gradients(ex: ModuleType) -> None:
    """Written with tensor operations, the function is differentiable: its gradients match PyTorch's."""
    x = IMAGES["a 16x3x5x5 batch with mean 4 and std 3"]
    gamma, beta = _randn(3, seed=30, loc=1.0), _randn(3, seed=31)
    up = _randn(*x.shape, seed=32)
    ins = [t.clone().requires_grad_(True) for t in (x, gamma, beta)]
    y, _, _ = _tuple_of(attempt(ex.batchnorm_train_forward, *ins, 1e-5), 3, "batchnorm_train_forward")
    got = torch.autograd.grad((y * up).sum(), ins)
    ref = [t.clone().requires_grad_(True) for t in (x, gamma, beta)]
    expected = torch.autograd.grad((F.batch_norm(ref[0], None, None, ref[1], ref[2], training=True) * up).sum(), ref)
    for name, g, e in zip(("x", "gamma", "beta"), got, expected):
        check_close(g, e, what=f"gradient of batchnorm_train_forward with respect to {name}", **TOL)


# ---- layer_norm --------------------------------------------------------------------------------


@pytest.mark.parametrize("eps", [1e-5, 0.5])
def test_layer_norm(ex: ModuleType, eps: float) -> None:
    cases = {**IMAGES, "a 5x7 matrix (N, C)": _randn(5, 7, seed=6, loc=3.0), "a 3x2x9 sequence batch": _randn(3, 2, 9, seed=7)}
    for what, x in cases.items():
        got = attempt(ex.layer_norm, x.clone(), eps)
        check_close(got, F.layer_norm(x, x.shape[1:], eps=eps), what=f"layer_norm on {what}, eps={eps}", **TOL)


def test_layer_norm_does_not_mix_samples(ex: ModuleType) -> None:
    x = IMAGES["a 16x3x5x5 batch with mean 4 and std 3"]
    alone = attempt(ex.layer_norm, x[:1].clone(), 1e-5)
    check_close(alone, F.layer_norm(x[:1], x.shape[1:]), what="layer_norm on the first image alone", **TOL)


# ---- group_norm --------------------------------------------------------------------------------


@pytest.mark.parametrize("eps", [1e-5, 0.5])
def test_group_norm(ex: ModuleType, eps: float) -> None:
    for what, x in IMAGES.items():
        c = x.shape[1]
        for g in [d for d in range(1, c + 1) if c % d == 0]:
            got = attempt(ex.group_norm, x.clone(), g, eps)
            check_close(got, F.group_norm(x, g, eps=eps), what=f"group_norm with {g} groups on {what}, eps={eps}", **TOL)
    x = _randn(4, 6, seed=8, loc=-2.0)
    got = attempt(ex.group_norm, x.clone(), 3, eps)
    check_close(got, F.group_norm(x, 3, eps=eps), what="group_norm with 3 groups on a 4x6 matrix (N, C)", **TOL)


@pytest.mark.parametrize(("c", "g"), [(6, 4), (4, 3), (5, 2)])
def test_group_norm_rejects_groups_that_do_not_divide(ex: ModuleType, c: int, g: int) -> None:
    x = _randn(2, c, 3, 3, seed=9)
    with pytest.raises(ValueError) as info:
        attempt(ex.group_norm, x, g, 1e-5)
    message = str(info.value)
    assert str(c) in message and str(g) in message, (
        f"group_norm with {g} groups of {c} channels: expected a message naming both numbers, got {message!r}"
    )


# ---- running_batchnorm_update ------------------------------------------------------------------


def _library_step(state: tuple[Tensor, Tensor, Tensor], x: Tensor, mom: float) -> tuple[Tensor, Tensor, Tensor]:
    """The oracle: one training batch through foundations.norm.RunningBatchNorm, from ``state``."""
    rbn = RunningBatchNorm(x.shape[1], mom=mom).double()
    with torch.no_grad():
        rbn.sums.copy_(state[0])
        rbn.sqrs.copy_(state[1])
        rbn.count.copy_(state[2])
        rbn(x)
    return rbn.sums.clone(), rbn.sqrs.clone(), rbn.count.clone()


@pytest.mark.parametrize("mom", [0.1, 0.6])
def test_running_batchnorm_update_over_several_batches(ex: ModuleType, mom: float) -> None:
    c = 3
    shapes = [(2, c, 4, 4), (32, c, 2, 2), (5, c, 3, 1), (2, c, 4, 4)]
    zeros = (torch.zeros(c, dtype=F64), torch.zeros(c, dtype=F64), torch.tensor(0.0, dtype=F64))
    mine, theirs = zeros, zeros
    for k, shape in enumerate(shapes):
        x = _randn(*shape, seed=40 + k, loc=1.0 + k, scale=2.0)
        inputs = tuple(t.clone() for t in mine)
        got = _tuple_of(attempt(ex.running_batchnorm_update, *inputs, x.clone(), mom), 3, "running_batchnorm_update")
        for before, after in zip(mine, inputs):
            assert torch.equal(before, after), "running_batchnorm_update must not change its inputs in place"
        theirs = _library_step(theirs, x, mom)
        where = f"after batch {k + 1} of shape {shape}, mom={mom}"
        for name, g, e in zip(("sums", "sqrs", "count"), got, theirs):
            check_close(g, e, what=f"running_batchnorm_update's {name} {where}", **TOL)
        mine = tuple(g.detach() for g in got)


@pytest.mark.parametrize("what", list(IMAGES)[:4])
def test_running_batchnorm_update_first_batch_gives_the_batch_statistics(ex: ModuleType, what: str) -> None:
    x = IMAGES[what]
    c = x.shape[1]
    zeros = (torch.zeros(c, dtype=F64), torch.zeros(c, dtype=F64), torch.tensor(0.0, dtype=F64))
    sums, sqrs, count = _tuple_of(attempt(ex.running_batchnorm_update, *zeros, x.clone(), 0.1), 3, "running_batchnorm_update")
    mean = sums / count
    var_t, mean_t = torch.var_mean(x, (0, 2, 3), correction=0)
    check_close(mean, mean_t, what=f"sums / count after the first batch ({what})", **TOL)
    check_close(sqrs / count - mean**2, var_t, what=f"sqrs / count - mean^2 after the first batch ({what})", atol=1e-9, rtol=1e-9,
                dtype="any")
