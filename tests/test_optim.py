"""Tests for foundations.optim: SGD step for step against torch.optim.SGD, parameter groups, errors."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from conftest import gen
from hypothesis import given, settings
from hypothesis import strategies as st

from foundations.optim import SGD, Optimizer, sgd_step
from foundations.testing import check_close

pytestmark = pytest.mark.lesson09


def _twin_mlps(seed: int) -> tuple[torch.nn.Sequential, torch.nn.Sequential]:
    """Two float64 784-50-10 MLPs (small: 12-6-3) with identical weights."""
    torch.manual_seed(seed)
    a = torch.nn.Sequential(torch.nn.Linear(12, 6), torch.nn.ReLU(), torch.nn.Linear(6, 3)).double()
    b = torch.nn.Sequential(torch.nn.Linear(12, 6), torch.nn.ReLU(), torch.nn.Linear(6, 3)).double()
    b.load_state_dict(a.state_dict())
    return a, b


def _train_side_by_side(ours_model, theirs_model, ours_opt, theirs_opt, steps: int, seed: int, between=None) -> None:  # noqa: ANN001
    g = gen(seed)
    for step in range(steps):
        xb = torch.randn(8, 12, dtype=torch.float64, generator=g)
        yb = torch.randint(0, 3, (8,), generator=g)
        for model, opt in ((ours_model, ours_opt), (theirs_model, theirs_opt)):
            F.cross_entropy(model(xb), yb).backward()
            opt.step()
            opt.zero_grad()
        for (name, p), (_, q) in zip(ours_model.named_parameters(), theirs_model.named_parameters()):
            check_close(p, q, what=f"{name} after step {step + 1}", atol=1e-14, rtol=1e-12)
        if between is not None:
            between(step)


@settings(max_examples=15)
@given(seed=st.integers(0, 2**16), lr=st.floats(0.0, 2.0))
def test_sgd_equals_torch_over_several_steps(seed: int, lr: float) -> None:
    ours_model, theirs_model = _twin_mlps(seed)
    ours = SGD(ours_model.parameters(), lr=lr)
    theirs = torch.optim.SGD(theirs_model.parameters(), lr=lr)
    _train_side_by_side(ours_model, theirs_model, ours, theirs, steps=4, seed=seed)


def test_two_param_groups_with_different_lrs_equal_torch() -> None:
    ours_model, theirs_model = _twin_mlps(3)

    def groups(m: torch.nn.Sequential) -> list[dict]:
        return [{"params": m[0].parameters(), "lr": 0.01}, {"params": m[2].parameters()}]

    ours = SGD(groups(ours_model), lr=0.5)
    theirs = torch.optim.SGD(groups(theirs_model), lr=0.5)
    assert [pg["lr"] for pg in ours.param_groups] == [pg["lr"] for pg in theirs.param_groups] == [0.01, 0.5]
    assert [len(pg["params"]) for pg in ours.param_groups] == [2, 2]
    _train_side_by_side(ours_model, theirs_model, ours, theirs, steps=3, seed=3)


def test_changing_lr_in_param_groups_like_a_scheduler() -> None:
    ours_model, theirs_model = _twin_mlps(5)
    ours = SGD(ours_model.parameters(), lr=0.1)
    theirs = torch.optim.SGD(theirs_model.parameters(), lr=0.1)

    def schedule(step: int) -> None:
        for opt in (ours, theirs):
            for pg in opt.param_groups:
                pg["lr"] = 0.1 * (step + 2)

    _train_side_by_side(ours_model, theirs_model, ours, theirs, steps=4, seed=5, between=schedule)


def test_step_is_p_minus_lr_grad_and_skips_missing_grads() -> None:
    w = torch.tensor([1.0, 2.0], dtype=torch.float64, requires_grad=True)
    unused = torch.tensor([7.0], requires_grad=True)
    opt = SGD([w, unused], lr=0.25)
    (w * torch.tensor([4.0, -8.0], dtype=torch.float64)).sum().backward()
    opt.step()
    assert w.tolist() == [0.0, 4.0]
    assert unused.tolist() == [7.0] and unused.grad is None
    assert not w.grad_fn, "the update must not be recorded by autograd"


def test_zero_grad_like_torch() -> None:
    w = torch.ones(3, requires_grad=True)
    opt = SGD([w], lr=0.1)
    w.sum().backward()
    opt.zero_grad(set_to_none=False)
    assert w.grad is not None and w.grad.tolist() == [0.0, 0.0, 0.0]
    w.sum().backward()
    opt.zero_grad()
    assert w.grad is None


def test_param_groups_keep_extra_keys() -> None:
    w = torch.ones(1, requires_grad=True)
    opt = SGD([{"params": [w], "mom": 0.9}], lr=0.3)
    assert opt.param_groups[0]["mom"] == 0.9 and opt.param_groups[0]["lr"] == 0.3
    assert opt.param_groups[0]["params"][0] is w


def test_base_optimizer_with_the_sgd_stepper_steps_like_sgd() -> None:
    ours_model, theirs_model = _twin_mlps(7)
    ours = Optimizer(ours_model.parameters(), [sgd_step], lr=0.3)
    theirs = SGD(theirs_model.parameters(), lr=0.3)
    assert repr(ours) == "Optimizer([{4 params, lr=0.3}])"
    _train_side_by_side(ours_model, theirs_model, ours, theirs, steps=3, seed=7)


def test_bad_input_is_explained() -> None:
    w = torch.ones(2, requires_grad=True)
    with pytest.raises(ValueError, match="SGD: expected at least one parameter, got an empty list"):
        SGD([], lr=0.1)
    with pytest.raises(ValueError, match="SGD: expected at least one parameter, got an empty list"):
        SGD(iter([]), lr=0.1)
    with pytest.raises(ValueError, match=r"SGD: expected lr to be a finite number >= 0, got float -0\.5"):
        SGD([w], lr=-0.5)
    with pytest.raises(TypeError, match=r"SGD: expected lr to be a finite number >= 0, got str '0\.1'"):
        SGD([w], lr="0.1")
    with pytest.raises(ValueError, match=r"SGD: expected group 0's lr to be a finite number >= 0, got int -1"):
        SGD([{"params": [w], "lr": -1}], lr=0.1)
    with pytest.raises(ValueError, match="a parameter appears in more than one group"):
        SGD([{"params": [w]}, {"params": [w]}], lr=0.1)
    with pytest.raises(ValueError, match="expected leaf tensors"):
        SGD([w * 2], lr=0.1)
    with pytest.raises(TypeError, match="got a single tensor; wrap it in a list"):
        SGD(w, lr=0.1)
    with pytest.raises(TypeError, match="expected group 0 to hold tensors, got float"):
        SGD([{"params": [1.0]}], lr=0.1)
