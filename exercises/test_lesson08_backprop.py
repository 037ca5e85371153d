"""Grader for the Lesson 8 exercises of "Forward and backward passes" (lessons/08_backprop).

Run ``pytest exercises -m lesson08`` (or ``-k mse_grad``, ``-k relu_grad``, ``-k lin_grad``,
``-k kaiming_std``). Each gradient is checked on several inputs against PyTorch's autograd in
float64 (a float32 answer passes at float32 precision); ``kaiming_std`` against ``torch.nn.init``'s
gain. During your call autograd, ``torch.nn`` and the library's versions are swapped out
(``exercises/_rules.py``): using them fails the exercise.
"""

from __future__ import annotations

import math
from types import ModuleType

import pytest
import torch

from exercises._rules import Forbidden, attempt_without
from foundations.testing import check_close

pytestmark = pytest.mark.lesson08

F64 = torch.float64
RULES = Forbidden(
    ("torch.Tensor.backward", "torch.autograd.grad", "torch.autograd.backward", "torch.autograd.functional.*",
     "torch.func.grad", "torch.func.grad_and_value", "torch.func.vjp", "torch.func.jacrev", "torch.func.jacfwd",
     "torch.nn.functional.*", "torch.nn.init.*", "foundations.backprop.*", "foundations.init.*"),
    "the rules of these exercises leave out (no autograd, no torch.nn, not the library's version)",
)


@pytest.fixture(scope="module")
def ex(impl) -> ModuleType:  # noqa: ANN001
    return impl("lesson08_backprop")


def randn(*shape: int, seed: int, scale: float = 1.0, shift: float = 0.0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g, dtype=F64) * scale + shift


def autograd_grads(f, *inputs: torch.Tensor) -> tuple[torch.Tensor, ...]:  # noqa: ANN001
    """The oracle: d f(*inputs) / d input for each input, by PyTorch's autograd."""
    leaves = [t.detach().clone().requires_grad_(True) for t in inputs]
    f(*leaves).backward()
    return tuple(leaf.grad for leaf in leaves)


# ---- mse_grad ----------------------------------------------------------------------------------

MSE_CASES = [
    ("a batch of 1", 1, 0.0),
    ("a batch of 2", 2, 0.0),
    ("a batch of 64 digit-like targets", 64, 4.5),
    ("a batch of 1000", 1000, 0.0),
    ("negative outputs and targets", 10, -7.0),
]


@pytest.mark.parametrize(("what", "n", "shift"), MSE_CASES, ids=[c[0] for c in MSE_CASES])
def test_mse_grad(ex: ModuleType, what: str, n: int, shift: float) -> None:
    output = randn(n, 1, seed=n, scale=3.0, shift=shift)
    target = randn(n, seed=n + 1, scale=3.0, shift=shift)
    (expected,) = autograd_grads(lambda o: (o[:, 0] - target).pow(2).mean(), output)
    got = attempt_without(RULES, ex.mse_grad, output, target)
    check_close(got, expected, what=f"mse_grad on {what} (output ({n}, 1), target ({n},), float64)",
                atol=1e-10, rtol=1e-8, dtype="any")


def test_mse_grad_hand_example(ex: ModuleType) -> None:
    output = torch.tensor([[1.0], [3.0]], dtype=F64)
    target = torch.tensor([0.0, 3.0], dtype=F64)
    got = attempt_without(RULES, ex.mse_grad, output, target)
    check_close(got, torch.tensor([[1.0], [0.0]], dtype=F64), what="mse_grad([[1], [3]], [0, 3]), the docstring's example",
                atol=1e-12, dtype="any")


# ---- relu_grad ---------------------------------------------------------------------------------

RELU_CASES = [
    ("a batch of 1 (1, 5)", (1, 5)),
    ("a wide batch (8, 500)", (8, 500)),
    ("a column (7, 1)", (7, 1)),
    ("a 3-d tensor (2, 3, 4)", (2, 3, 4)),
]


@pytest.mark.parametrize(("what", "shape"), RELU_CASES, ids=[c[0] for c in RELU_CASES])
def test_relu_grad(ex: ModuleType, what: str, shape: tuple[int, ...]) -> None:
    x = randn(*shape, seed=len(shape) * 10 + shape[-1])  # about half negative
    out_grad = randn(*shape, seed=shape[0], scale=2.0)  # negative upstream gradients too
    (expected,) = autograd_grads(lambda t: (torch.relu(t) * out_grad).sum(), x)
    got = attempt_without(RULES, ex.relu_grad, x, out_grad)
    check_close(got, expected, what=f"relu_grad on {what}, float64", atol=1e-12, rtol=0, dtype="any")


def test_relu_grad_at_zero_and_all_negative(ex: ModuleType) -> None:
    x = torch.tensor([[-3.0, -0.5, 0.0, 0.5, 3.0]], dtype=F64)
    out_grad = torch.tensor([[1.0, -2.0, 3.0, -4.0, 5.0]], dtype=F64)
    (expected,) = autograd_grads(lambda t: (torch.relu(t) * out_grad).sum(), x)
    got = attempt_without(RULES, ex.relu_grad, x, out_grad)
    check_close(got, expected, what="relu_grad on x = [[-3, -0.5, 0, 0.5, 3]] (0 counts as not positive)",
                atol=0, rtol=0, dtype="any", at=lambda i: f"x = {x[i].item():g}")
    neg = -randn(4, 6, seed=9).abs() - 0.1
    got = attempt_without(RULES, ex.relu_grad, neg, torch.ones_like(neg))
    check_close(got, torch.zeros_like(neg), what="relu_grad on an all-negative (4, 6) input", atol=0, rtol=0, dtype="any")


# ---- lin_grad ----------------------------------------------------------------------------------

LIN_CASES = [
    ("a batch of 1: (1, 784) @ (784, 50)", 1, 784, 50),
    ("the model's output layer: (64, 50) @ (50, 1)", 64, 50, 1),
    ("a wide layer: (16, 20) @ (20, 300)", 16, 20, 300),
    ("non-square: (3, 5) @ (5, 2)", 3, 5, 2),
    ("one input feature: (10, 1) @ (1, 4)", 10, 1, 4),
]


@pytest.mark.parametrize(("what", "n", "n_in", "n_out"), LIN_CASES, ids=[c[0] for c in LIN_CASES])
def test_lin_grad(ex: ModuleType, what: str, n: int, n_in: int, n_out: int) -> None:
    x = randn(n, n_in, seed=n)
    w = randn(n_in, n_out, seed=n_in, scale=n_in**-0.5)
    b = randn(n_out, seed=n_out)
    out_grad = randn(n, n_out, seed=n + n_out, shift=-0.3)
    ex_x, ex_w, ex_b = autograd_grads(lambda x_, w_, b_: ((x_ @ w_ + b_) * out_grad).sum(), x, w, b)
    got = attempt_without(RULES, ex.lin_grad, x, w, out_grad)
    if not isinstance(got, (tuple, list)) or len(got) != 3:
        raise AssertionError(
            f"lin_grad on {what}: expected a tuple (x_grad, w_grad, b_grad), got {type(got).__name__}"
            + (f" of length {len(got)}" if isinstance(got, (tuple, list)) else "")
        )
    got_x, got_w, got_b = got
    check_close(got_x, ex_x, what=f"lin_grad x_grad on {what}", atol=1e-10, rtol=1e-8, dtype="any")
    check_close(got_w, ex_w, what=f"lin_grad w_grad on {what}", atol=1e-10, rtol=1e-8, dtype="any")
    check_close(got_b, ex_b, what=f"lin_grad b_grad on {what}", atol=1e-10, rtol=1e-8, dtype="any")


# ---- kaiming_std -------------------------------------------------------------------------------

KAIMING_CASES = [(784, 0.0), (50, 0.0), (1, 0.0), (100, 0.1), (300, 5**0.5), (64, 1.0), (10, -0.2)]


@pytest.mark.parametrize(("fan_in", "a"), KAIMING_CASES, ids=[f"fan_in={f}, a={a:g}" for f, a in KAIMING_CASES])
def test_kaiming_std(ex: ModuleType, fan_in: int, a: float) -> None:
    # torch.nn.init.kaiming_normal_ uses std = gain / sqrt(fan_in), with gain sqrt(2 / (1 + a^2))
    expected = torch.nn.init.calculate_gain("leaky_relu", a) / math.sqrt(fan_in)
    got = attempt_without(RULES, ex.kaiming_std, fan_in, a)
    if not isinstance(got, (int, float)) or isinstance(got, bool):
        raise AssertionError(f"kaiming_std(fan_in={fan_in}, a={a:g}): expected a Python float, got {type(got).__name__}")
    check_close(got, torch.tensor(expected, dtype=F64), what=f"kaiming_std(fan_in={fan_in}, a={a:g})", atol=0, rtol=1e-12)


def test_kaiming_std_default_is_relu(ex: ModuleType) -> None:
    got = attempt_without(RULES, ex.kaiming_std, 784)
    if not isinstance(got, (int, float)) or isinstance(got, bool):
        raise AssertionError(f"kaiming_std(784): expected a Python float, got {type(got).__name__} {got!r}")
    expected = torch.nn.init.calculate_gain("relu") / math.sqrt(784)
    check_close(got, torch.tensor(expected, dtype=F64), what="kaiming_std(784) with the default a", atol=0, rtol=1e-12)


def test_kaiming_std_matches_kaiming_normal_samples(ex: ModuleType) -> None:
    torch.manual_seed(0)
    w = torch.nn.init.kaiming_normal_(torch.empty(400, 300, dtype=F64), mode="fan_in", nonlinearity="relu")
    got = attempt_without(RULES, ex.kaiming_std, 300)
    assert isinstance(got, (int, float)) and not isinstance(got, bool), (
        f"kaiming_std(300): expected a Python float, got {type(got).__name__}"
    )
    assert abs(w.std().item() - got) < 0.015 * got, (
        f"kaiming_std(300): torch.nn.init.kaiming_normal_ draws weights with std {w.std().item():.5f}, "
        f"your std is {got:.5f}"
    )
