"""Grader for the Lesson 10 exercises of "A CNN and hooks" (lessons/10_cnn_hooks).

Run ``pytest exercises -m lesson10`` (or ``-k general_relu``, ``-k record_stats``,
``-k near_zero_share``). ``general_relu`` is compared with ``torch.nn.functional`` in float64,
values and gradients; ``record_stats`` with the layers run one at a time, and the grader counts the
forward hooks left on the model afterwards; ``near_zero_share`` with a count made elementwise. During
your call ``foundations.conv`` and ``foundations.hooks`` are swapped out (``exercises/_rules.py``).
"""

from __future__ import annotations

from types import ModuleType

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from exercises._rules import Forbidden, attempt_without
from foundations.testing import check_close

pytestmark = pytest.mark.lesson10

F64 = torch.float64
RULES = Forbidden(("foundations.conv.*", "foundations.hooks.*"),
                  "this exercise asks you to write yourself (plain PyTorch, not foundations)")


def attempt(fn, *args):  # noqa: ANN001, ANN002, ANN201
    return attempt_without(RULES, fn, *args)


@pytest.fixture(scope="module")
def ex(impl) -> ModuleType:  # noqa: ANN001
    return impl("lesson10_hooks")


def randn(*shape: int, seed: int, scale: float = 1.0) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=F64) * scale


# ---- general_relu ----------------------------------------------------------------------------------


def oracle_general_relu(x: torch.Tensor, leak: float | None, sub: float | None, maxv: float | None) -> torch.Tensor:
    y = F.leaky_relu(x, leak) if leak else F.relu(x)
    if sub is not None:
        y = y - sub
    if maxv is not None:
        y = torch.clamp(y, max=maxv)
    return y


RELU_CASES = [
    ("a plain ReLU on a vector", (50,), None, None, None),
    ("the course's setting (leak .1, sub .4, maxv 6) on a batch of images", (4, 3, 5, 5), 0.1, 0.4, 6.0),
    ("a leak only, on a 1-row matrix", (1, 30), 0.3, None, None),
    ("a shift up (sub -0.2) and a low ceiling (maxv 0.5)", (6, 7), 0.05, -0.2, 0.5),
    ("a ceiling only", (40,), None, None, 1.0),
    ("leak 0 is a plain ReLU, with a shift", (3, 4, 2), 0.0, 0.4, None),
]


@pytest.mark.parametrize(("what", "shape", "leak", "sub", "maxv"), RELU_CASES, ids=[c[0] for c in RELU_CASES])
def test_general_relu_values(ex: ModuleType, what: str, shape: tuple, leak, sub, maxv) -> None:  # noqa: ANN001
    x = randn(*shape, seed=len(what), scale=4.0)
    x_before = x.clone()
    got = attempt(ex.general_relu, x, leak, sub, maxv)
    call = f"general_relu(x, leak={leak}, sub={sub}, maxv={maxv}) on {what}, x float64 of shape {shape}"
    check_close(got, oracle_general_relu(x, leak, sub, maxv), what=call, atol=1e-12, dtype="match")  # dtype: float64, like x
    check_close(x, x_before, what=f"the input x after general_relu on {what} (it must not change)", atol=0, dtype="match")


@pytest.mark.parametrize(("what", "shape", "leak", "sub", "maxv"), RELU_CASES, ids=[c[0] for c in RELU_CASES])
def test_general_relu_gradients(ex: ModuleType, what: str, shape: tuple, leak, sub, maxv) -> None:  # noqa: ANN001
    x = randn(*shape, seed=len(what) + 1, scale=4.0)
    # keep away from the kinks (at 0, and where the output meets maxv), where the derivative jumps
    x = torch.where(x.abs() < 0.05, x + 0.1, x)
    if maxv is not None:
        kink = maxv + (sub or 0.0)
        x = torch.where((x - kink).abs() < 0.05, x + 0.1, x)
    x = x.requires_grad_()
    x_ref = x.detach().clone().requires_grad_()
    w = randn(*shape, seed=7)
    got = attempt(ex.general_relu, x, leak, sub, maxv)
    if not isinstance(got, torch.Tensor):
        raise AssertionError(f"general_relu on {what}: expected a tensor, got {type(got).__name__}")
    if not got.requires_grad:
        raise AssertionError(f"general_relu on {what}: the result has no gradient; did you detach it?")
    (got * w).sum().backward()
    (oracle_general_relu(x_ref, leak, sub, maxv) * w).sum().backward()
    check_close(x.grad, x_ref.grad, what=f"the gradient of general_relu on {what}", atol=1e-12, dtype="match")


def test_general_relu_docstring_example(ex: ModuleType) -> None:
    got = attempt(ex.general_relu, torch.tensor([-2.0, 0.0, 1.0, 10.0], dtype=F64), 0.1, 0.4, 6.0)
    check_close(got, torch.tensor([-0.6, -0.4, 0.6, 6.0], dtype=F64), what="general_relu([-2, 0, 1, 10], .1, .4, 6)", atol=1e-12,
                at=lambda i: f"x = {[-2, 0, 1, 10][i[0]]}")


# ---- record_stats ----------------------------------------------------------------------------------


def n_hooks(model: nn.Module) -> int:
    return sum(len(m._forward_hooks) for m in model.modules())


def direct_stats(model: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The oracle: run the children one at a time and measure each output."""
    means, stds = [], []
    with torch.no_grad():
        for layer in model.children():
            x = layer(x)
            means.append(x.mean())
            stds.append(x.std())
    return torch.stack(means), torch.stack(stds)


def mlp() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(20, 12), nn.ReLU(), nn.Linear(12, 8), nn.ReLU(), nn.Linear(8, 3)).double()


def cnn() -> nn.Module:
    torch.manual_seed(1)
    return nn.Sequential(
        nn.Sequential(nn.Conv2d(1, 4, 5, stride=2, padding=2), nn.ReLU()),
        nn.Sequential(nn.Conv2d(4, 8, 3, stride=2, padding=1), nn.ReLU()),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(8, 10),
    ).double()


STATS_CASES = [
    ("an MLP on a batch of 16", mlp, (16, 20)),
    ("an MLP on a single row", mlp, (1, 20)),
    ("a small CNN (nested blocks: one entry per block) on 3 images", cnn, (3, 1, 12, 12)),
]


@pytest.mark.parametrize(("what", "make", "shape"), STATS_CASES, ids=[c[0] for c in STATS_CASES])
def test_record_stats_values_and_no_hooks_left(ex: ModuleType, what: str, make, shape: tuple) -> None:  # noqa: ANN001
    model = make()
    x = randn(*shape, seed=3, scale=2.0)
    expected_means, expected_stds = direct_stats(model, x)
    got = attempt(ex.record_stats, model, x)
    if not (isinstance(got, tuple) and len(got) == 2):
        raise AssertionError(f"record_stats on {what}: expected a pair (means, stds), got {type(got).__name__}")
    means, stds = got
    for name, vals in (("means", means), ("stds", stds)):
        if not (isinstance(vals, list) and all(isinstance(v, float) for v in vals)):
            kinds = sorted({type(v).__name__ for v in vals}) if isinstance(vals, (list, tuple)) else []
            raise AssertionError(
                f"record_stats on {what}: expected {name} to be a list of Python floats, got {type(vals).__name__}"
                + (f" of {', '.join(kinds)}" if kinds else "") + " (.item() turns a one-element tensor into a float)"
            )
    children = [type(c).__name__ for c in model.children()]
    at = lambda i: f"child {i[0]} ({children[i[0]]})"  # noqa: E731
    check_close(torch.tensor(means, dtype=F64), expected_means, what=f"record_stats means on {what}", atol=1e-10, at=at)
    check_close(torch.tensor(stds, dtype=F64), expected_stds, what=f"record_stats stds on {what}", atol=1e-10, at=at)
    left = n_hooks(model)
    assert left == 0, f"record_stats on {what}: {left} forward hook(s) left on the model; remove them before returning"


class Explodes(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raise RuntimeError("this layer fails on purpose")


def test_record_stats_removes_hooks_when_the_forward_pass_raises(ex: ModuleType) -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 4), nn.ReLU(), Explodes(), nn.Linear(4, 2))
    with pytest.raises(RuntimeError, match="this layer fails on purpose"):
        attempt(ex.record_stats, model, torch.randn(3, 5))
    left = n_hooks(model)
    assert left == 0, (
        f"record_stats left {left} forward hook(s) on the model after the forward pass raised: "
        "remove them in a `finally:` block"
    )


def test_record_stats_keeps_other_hooks(ex: ModuleType) -> None:
    model = mlp()
    calls = []
    other = model[0].register_forward_hook(lambda m, i, o: calls.append(torch.is_grad_enabled()))
    attempt(ex.record_stats, model, randn(4, 20, seed=5))
    assert other.id in model[0]._forward_hooks, "record_stats removed a hook it did not register"
    assert len(calls) == 1, f"record_stats should run the model once; it ran {len(calls)} times"
    assert calls == [False], "record_stats ran the model with gradients on: run it inside `with torch.no_grad():`"
    left = n_hooks(model) - 1
    assert left == 0, f"record_stats left {left} of its own forward hook(s) on the model; remove them before returning"


# ---- near_zero_share -------------------------------------------------------------------------------


NEAR_ZERO_CASES = [
    ("ReLU outputs (many exact zeros)", lambda: F.relu(randn(64, 8, 4, 4, seed=1)), 0.35),
    ("GeneralRelu-like outputs shifted by -0.4", lambda: F.leaky_relu(randn(500, seed=2), 0.1) - 0.4, 0.35),
    ("a single element, below the threshold", lambda: torch.tensor([-0.1], dtype=F64), 0.5),
    ("a single element, exactly at the threshold (not below)", lambda: torch.tensor([[0.5]], dtype=F64), 0.5),
    ("wide values, a tiny threshold", lambda: randn(30, 30, seed=3, scale=10.0), 1e-2),
]


@pytest.mark.parametrize(("what", "make", "threshold"), NEAR_ZERO_CASES, ids=[c[0] for c in NEAR_ZERO_CASES])
def test_near_zero_share(ex: ModuleType, what: str, make, threshold: float) -> None:  # noqa: ANN001
    acts = make()
    expected = (acts.abs() < threshold).sum().item() / acts.numel()
    got = attempt(ex.near_zero_share, acts, threshold)
    if not isinstance(got, float):
        raise AssertionError(f"near_zero_share on {what}: expected a float, got {type(got).__name__} {got!r}")
    check_close(got, torch.tensor(expected, dtype=F64), what=f"near_zero_share on {what}, threshold {threshold:g}", atol=1e-12)


@pytest.mark.parametrize("threshold", [0.0, -0.5])
def test_near_zero_share_rejects_a_threshold_that_is_not_positive(ex: ModuleType, threshold: float) -> None:
    call = f"near_zero_share(torch.zeros(3), {threshold})"
    try:
        got = attempt(ex.near_zero_share, torch.zeros(3), threshold)
    except ValueError as e:
        assert str(threshold) in str(e) or f"{threshold:g}" in str(e), (
            f"{call}: the ValueError should name the threshold it got ({threshold}); got {str(e)!r}"
        )
        return
    raise AssertionError(f"{call}: expected a ValueError (the threshold must be positive), got {got!r}")
