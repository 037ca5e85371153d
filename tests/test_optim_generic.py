"""Tests for Lesson 11's generic optimizer: sgd_opt, adam_opt, lamb_opt against torch and the LAMB paper.

Every comparison runs 100 float64 steps on a small MLP with a fixed sequence of random batches and
asserts that the largest difference from the reference stays at or below 1e-10.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable

import pytest
import torch
import torch.nn.functional as F
from conftest import gen

from foundations.optim import (
    SGD,
    AverageGrad,
    L2Reg,
    Optimizer,
    StepCount,
    adam_opt,
    debias,
    lamb_opt,
    sgd_opt,
    sgd_step,
)

TOL = 1e-10
STEPS = 100


def _mlp(seed: int) -> torch.nn.Sequential:
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(12, 6), torch.nn.ReLU(), torch.nn.Linear(6, 3)).double()


def _twins(seed: int) -> tuple[torch.nn.Sequential, torch.nn.Sequential]:
    a = _mlp(seed)
    b = copy.deepcopy(a)
    return a, b


def _batches(seed: int, steps: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    g = gen(seed)
    return [(torch.randn(8, 12, dtype=torch.float64, generator=g), torch.randint(0, 3, (8,), generator=g))
            for _ in range(steps)]


def _train(model: torch.nn.Module, opt, batches, between: Callable[[int], None] | None = None) -> None:  # noqa: ANN001
    for i, (xb, yb) in enumerate(batches):
        F.cross_entropy(model(xb), yb).backward()
        opt.step()
        opt.zero_grad()
        if between is not None:
            between(i)


def _max_diff(a: torch.nn.Module, b: torch.nn.Module) -> float:
    return max(float((p - q).detach().abs().max()) for p, q in zip(a.parameters(), b.parameters()))


def _moved(a: torch.nn.Module, seed: int) -> float:
    return _max_diff(a, _mlp(seed))


def _compare(ours_factory, theirs_factory, seed: int = 0, steps: int = STEPS) -> float:  # noqa: ANN001
    a, b = _twins(seed)
    batches = _batches(seed, steps)
    _train(a, ours_factory(a.parameters()), batches)
    _train(b, theirs_factory(b.parameters()), batches)
    assert _moved(a, seed) > 1e-2, "the test must move the weights"
    return _max_diff(a, b)


SGD_CASES = {
    "plain": ({}, {}),
    "momentum": ({"mom": 0.9}, {"momentum": 0.9}),
    "dampening": ({"mom": 0.8, "dampening": 0.3}, {"momentum": 0.8, "dampening": 0.3}),
    "nesterov": ({"mom": 0.9, "nesterov": True}, {"momentum": 0.9, "nesterov": True}),
    "l2": ({"wd": 0.05}, {"weight_decay": 0.05}),
    "all": ({"mom": 0.9, "nesterov": True, "wd": 0.01}, {"momentum": 0.9, "nesterov": True, "weight_decay": 0.01}),
    "damp-l2": ({"mom": 0.7, "dampening": 0.5, "wd": 0.02}, {"momentum": 0.7, "dampening": 0.5, "weight_decay": 0.02}),
}


@pytest.mark.parametrize("case", list(SGD_CASES))
def test_sgd_opt_equals_torch_sgd(case: str) -> None:
    ours, theirs = SGD_CASES[case]
    diff = _compare(lambda ps: sgd_opt(ps, 0.1, **ours), lambda ps: torch.optim.SGD(ps, lr=0.1, **theirs), seed=1)
    print(f"sgd_opt[{case}] vs torch.optim.SGD: max |diff| = {diff:.2e}")
    assert diff <= TOL


@pytest.mark.parametrize("wd", [0.0, 0.1])
def test_adam_opt_with_l2_equals_torch_adam(wd: float) -> None:
    diff = _compare(lambda ps: adam_opt(ps, 1e-2, beta1=0.8, beta2=0.99, eps=1e-7, wd=wd, decouple_wd=False),
                    lambda ps: torch.optim.Adam(ps, lr=1e-2, betas=(0.8, 0.99), eps=1e-7, weight_decay=wd), seed=2)
    print(f"adam_opt(wd={wd}, L2) vs torch.optim.Adam: max |diff| = {diff:.2e}")
    assert diff <= TOL


def test_adam_opt_decoupled_equals_torch_adamw() -> None:
    diff = _compare(lambda ps: adam_opt(ps, 1e-2, wd=0.1),
                    lambda ps: torch.optim.AdamW(ps, lr=1e-2, weight_decay=0.1), seed=3)
    print(f"adam_opt(wd=0.1, decoupled) vs torch.optim.AdamW: max |diff| = {diff:.2e}")
    assert diff <= TOL


class _PaperLamb:
    """You et al. 2019, Algorithm 2, written out layer by layer with plain tensors (no steppers).

    m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2; m^ = m/(1-b1^t); v^ = v/(1-b2^t);
    r = m^/(sqrt(v^)+eps); x <- x - lr * phi(||x||)/||r + wd x|| * (r + wd x), phi the identity,
    and the ratio taken as 1 where a norm is 0.
    """

    def __init__(self, params, lr: float, b1: float, b2: float, eps: float, wd: float) -> None:  # noqa: ANN001
        self.layers = list(params)
        self.lr, self.b1, self.b2, self.eps, self.wd, self.t = lr, b1, b2, eps, wd, 0
        self.m = [torch.zeros_like(x) for x in self.layers]
        self.v = [torch.zeros_like(x) for x in self.layers]

    def step(self) -> None:
        self.t += 1
        with torch.no_grad():
            for i, x in enumerate(self.layers):
                g = x.grad
                self.m[i] = self.b1 * self.m[i] + (1 - self.b1) * g
                self.v[i] = self.b2 * self.v[i] + (1 - self.b2) * g * g
                m_hat = self.m[i] / (1 - self.b1**self.t)
                v_hat = self.v[i] / (1 - self.b2**self.t)
                update = m_hat / (torch.sqrt(v_hat) + self.eps) + self.wd * x
                x_norm = math.sqrt(float((x * x).sum()))
                u_norm = math.sqrt(float((update * update).sum()))
                ratio = x_norm / u_norm if x_norm > 0 and u_norm > 0 else 1.0
                x -= self.lr * ratio * update

    def zero_grad(self) -> None:
        for x in self.layers:
            x.grad = None


@pytest.mark.parametrize("wd", [0.0, 0.01])
def test_lamb_opt_equals_the_papers_algorithm(wd: float) -> None:
    diff = _compare(lambda ps: lamb_opt(ps, 1e-2, beta1=0.9, beta2=0.99, eps=1e-6, wd=wd),
                    lambda ps: _PaperLamb(ps, 1e-2, 0.9, 0.99, 1e-6, wd), seed=4)
    print(f"lamb_opt(wd={wd}) vs Algorithm 2: max |diff| = {diff:.2e}")
    assert diff <= TOL


def test_lamb_moves_each_layer_by_lr_times_its_norm() -> None:
    w = torch.tensor([[3.0, 4.0]], dtype=torch.float64, requires_grad=True)  # ||w|| = 5
    opt = lamb_opt([w], 0.1)
    w.grad = torch.tensor([[1.0, -2.0]], dtype=torch.float64)
    before = w.detach().clone()
    opt.step()
    assert abs(float((w.detach() - before).norm()) - 0.1 * 5.0) < 1e-12


@pytest.mark.parametrize("make", ["sgd", "adam", "lamb"])
def test_param_groups_with_different_lrs(make: str) -> None:
    a, b = _twins(5)

    def groups(m: torch.nn.Sequential) -> list[dict]:
        return [{"params": m[0].parameters(), "lr": 1e-3}, {"params": m[2].parameters()}]

    ours = {"sgd": lambda ps: sgd_opt(ps, 0.1, mom=0.9), "adam": lambda ps: adam_opt(ps, 0.01, wd=0.1),
            "lamb": lambda ps: lamb_opt(ps, 0.01)}[make](groups(a))
    assert [pg["lr"] for pg in ours.param_groups] == [1e-3, 0.1 if make == "sgd" else 0.01]
    batches = _batches(5, STEPS)
    _train(a, ours, batches)
    if make == "lamb":
        ref = _TwoLambs(b)
    else:
        ref = (torch.optim.SGD(groups(b), lr=0.1, momentum=0.9) if make == "sgd"
               else torch.optim.AdamW(groups(b), lr=0.01, weight_decay=0.1))
    _train(b, ref, batches)
    assert _max_diff(a, b) <= TOL


class _TwoLambs:
    """The paper's LAMB with lr 1e-3 on the first layer and 1e-2 on the last."""

    def __init__(self, m: torch.nn.Sequential) -> None:
        self.parts = [_PaperLamb(m[0].parameters(), 1e-3, 0.9, 0.999, 1e-6, 0.0),
                      _PaperLamb(m[2].parameters(), 1e-2, 0.9, 0.999, 1e-6, 0.0)]

    def step(self) -> None:
        for p in self.parts:
            p.step()

    def zero_grad(self) -> None:
        for p in self.parts:
            p.zero_grad()


@pytest.mark.parametrize("make", ["sgd", "adam", "lamb"])
def test_state_dict_round_trip_continues_exactly(make: str) -> None:
    factory = {"sgd": lambda ps: sgd_opt(ps, 0.1, mom=0.9, wd=0.01), "adam": lambda ps: adam_opt(ps, 0.01, wd=0.1),
               "lamb": lambda ps: lamb_opt(ps, 0.01, wd=0.01)}[make]
    batches = _batches(6, 100)
    straight = _mlp(6)
    _train(straight, factory(straight.parameters()), batches)

    first = _mlp(6)
    opt = factory(first.parameters())
    _train(first, opt, batches[:50])
    saved_weights, saved_opt = copy.deepcopy(first.state_dict()), opt.state_dict()
    _train(first, opt, batches[50:60])  # steps after the save must not change what was saved
    restored = _mlp(99)
    restored.load_state_dict(saved_weights)
    opt2 = factory(restored.parameters())
    opt2.load_state_dict(saved_opt)
    assert len(opt2.state) == 4 and all(any(s is t for t in restored.parameters()) for s in opt2.state)
    _train(restored, opt2, batches[50:])
    assert _max_diff(restored, straight) == 0.0


def test_load_state_dict_restores_hyper_parameters_and_refuses_other_shapes() -> None:
    m = _mlp(0)
    opt = adam_opt(m.parameters(), 0.01)
    saved = opt.state_dict()
    assert saved["param_groups"][0]["params"] == [0, 1, 2, 3] and saved["state"] == {}
    opt.param_groups[0]["lr"] = 5.0
    opt.load_state_dict(saved)
    assert opt.param_groups[0]["lr"] == 0.01
    other = adam_opt([{"params": m[0].parameters()}, {"params": m[2].parameters()}], 0.01)
    with pytest.raises(ValueError, match=r"Optimizer.load_state_dict: expected groups of sizes \[2, 2\], got \[4\]"):
        other.load_state_dict(saved)


@pytest.mark.parametrize("key, ours, theirs", [("lr", "sgd", "lr"), ("mom", "sgd", "momentum"),
                                                ("lr", "adam", "lr"), ("mom", "adam", "betas")])
def test_schedulers_change_hyper_parameters_between_steps(key: str, ours: str, theirs: str) -> None:
    a, b = _twins(7)
    opt = sgd_opt(a.parameters(), 0.1, mom=0.9) if ours == "sgd" else adam_opt(a.parameters(), 0.01)
    ref = (torch.optim.SGD(b.parameters(), lr=0.1, momentum=0.9) if ours == "sgd"
           else torch.optim.AdamW(b.parameters(), lr=0.01, weight_decay=0.0))

    def value(i: int) -> float:
        if key == "lr":
            return (0.1 if ours == "sgd" else 0.01) * (1 + math.cos(math.pi * i / STEPS)) / 2 + 1e-4
        return 0.95 - 0.2 * i / STEPS

    def schedule(i: int) -> None:
        for pg in opt.param_groups:
            pg[key] = value(i)
        for pg in ref.param_groups:
            pg[theirs] = (value(i), pg["betas"][1]) if theirs == "betas" else value(i)

    batches = _batches(7, STEPS)
    for i, (xb, yb) in enumerate(batches):  # both step, then the schedule sets the next step's value
        for model, o in ((a, opt), (b, ref)):
            F.cross_entropy(model(xb), yb).backward()
            o.step()
            o.zero_grad()
        schedule(i)
    assert opt.param_groups[0][key] == value(STEPS - 1)
    assert _max_diff(a, b) <= TOL
    unscheduled = _mlp(7)
    _train(unscheduled, sgd_opt(unscheduled.parameters(), 0.1, mom=0.9) if ours == "sgd"
           else adam_opt(unscheduled.parameters(), 0.01), batches)
    assert _max_diff(a, unscheduled) > 1e-3, "the schedule must change the result"


def test_weight_decay_and_l2_agree_for_plain_sgd_and_differ_with_momentum_or_adam() -> None:
    batches = _batches(8, STEPS)

    def run(factory) -> torch.nn.Sequential:  # noqa: ANN001
        m = _mlp(8)
        _train(m, factory(m.parameters()), batches)
        return m

    plain = _max_diff(run(lambda ps: sgd_opt(ps, 0.1, wd=0.05)), run(lambda ps: sgd_opt(ps, 0.1, wd=0.05, decouple_wd=True)))
    mom = _max_diff(run(lambda ps: sgd_opt(ps, 0.1, mom=0.9, wd=0.05)),
                    run(lambda ps: sgd_opt(ps, 0.1, mom=0.9, wd=0.05, decouple_wd=True)))
    adam = _max_diff(run(lambda ps: adam_opt(ps, 0.01, wd=0.05, decouple_wd=False)),
                     run(lambda ps: adam_opt(ps, 0.01, wd=0.05)))
    print(f"L2 vs decoupled wd, max |diff|: plain SGD {plain:.1e}, momentum {mom:.1e}, Adam {adam:.1e}")
    assert plain <= 1e-12
    assert mom > 1e-3 and adam > 1e-3


def test_optimizer_merges_defaults_and_runs_stats_before_steppers() -> None:
    order: list[str] = []

    class Spy(StepCount):
        def update(self, p, state, **hyper) -> None:  # noqa: ANN001
            order.append(f"stat step={state['step']}")
            super().update(p, state, **hyper)

    def stepper(p, lr, step, **_) -> None:  # noqa: ANN001
        order.append(f"stepper step={step}")

    w = torch.ones(2, dtype=torch.float64, requires_grad=True)
    opt = Optimizer([w], [stepper], [Spy(), L2Reg(), AverageGrad()], lr=0.5, wd=0.1)
    assert {k: v for k, v in opt.param_groups[0].items() if k != "params"} == {
        "lr": 0.5, "wd": 0.1, "mom": 0.9, "dampening": 0.0}
    w.grad = torch.tensor([1.0, 2.0], dtype=torch.float64)
    opt.step()
    assert order == ["stat step=0", "stepper step=1"]
    assert opt.state[w]["grad_avg"].tolist() == [1.1, 2.1]  # the average saw grad + wd * w
    assert debias(0.9, 1) == pytest.approx(0.1) and debias(0.9, 2, dampening=1.0) == pytest.approx(1.9)


def test_factories_are_learner_opt_funcs() -> None:
    from conftest import tiny_data

    from foundations.learner import Learner

    for opt_func in (sgd_opt, adam_opt, lamb_opt, SGD):
        torch.manual_seed(0)
        model = torch.nn.Linear(4, 3)
        before = model.weight.detach().clone()
        learn = Learner(model, tiny_data(32, 16, 4, 3, 8), F.cross_entropy, opt_func=opt_func, lr=1e-2)
        learn.fit(1)
        assert float((model.weight.detach() - before).abs().max()) > 0
        assert isinstance(learn.opt, Optimizer)
        assert learn.opt.state_dict()["param_groups"][0]["lr"] == 1e-2


def test_sgd_is_still_the_lesson_9_optimizer() -> None:
    w = torch.tensor([1.0, 2.0], dtype=torch.float64, requires_grad=True)
    opt = SGD([w], 0.25)
    w.grad = torch.tensor([4.0, -8.0], dtype=torch.float64)
    opt.step()
    assert w.tolist() == [0.0, 4.0] and repr(opt) == "SGD([{1 params, lr=0.25}])"
    assert opt.steppers == [sgd_step] and opt.state_dict() == {"state": {}, "param_groups": [{"lr": 0.25, "params": [0]}]}


@pytest.mark.parametrize(
    "call, error, message",
    [
        (lambda w: sgd_opt([w], -1), ValueError, "sgd_opt: expected lr to be a finite number >= 0, got int -1"),
        (lambda w: sgd_opt([w], 0.1, mom=1.0), ValueError, "sgd_opt: expected mom to be a number in [0, 1), got float 1.0"),
        (lambda w: sgd_opt([w], 0.1, mom="0.9"), TypeError, "sgd_opt: expected mom to be a number in [0, 1), got str '0.9'"),
        (lambda w: sgd_opt([w], 0.1, nesterov=1), TypeError, "sgd_opt: expected nesterov to be a bool, got int 1"),
        (lambda w: sgd_opt([w], 0.1, nesterov=True), ValueError,
         "sgd_opt: expected mom > 0 and dampening == 0 with nesterov=True, got mom=0, dampening=0"),
        (lambda w: sgd_opt([w], 0.1, wd=-0.1), ValueError, "sgd_opt: expected wd to be a finite number >= 0, got float -0.1"),
        (lambda w: adam_opt([w], 0.1, beta2=1), ValueError, "adam_opt: expected beta2 to be a number in [0, 1), got int 1"),
        (lambda w: adam_opt([w], 0.1, eps=None), TypeError, "adam_opt: expected eps to be a finite number >= 0, got NoneType None"),
        (lambda w: adam_opt([w], 0.1, decouple_wd="yes"), TypeError, "adam_opt: expected decouple_wd to be a bool, got str 'yes'"),
        (lambda w: lamb_opt([w], float("nan")), ValueError, "lamb_opt: expected lr to be a finite number >= 0, got float nan"),
        (lambda w: Optimizer([w], [3]), TypeError, "Optimizer: expected steppers[0] to be a function (p, **hyper), got int 3"),
        (lambda w: Optimizer([w], [sgd_step], [StepCount], lr=0.1), TypeError,
         "Optimizer: expected stats[0] to be a statistic with init_state and update, got the class StepCount"),
        (lambda w: Optimizer([w], [sgd_step]), ValueError, "Optimizer: expected an lr, in the arguments or in group 0, got none"),
        (lambda w: AverageGrad(dampened=0), TypeError, "AverageGrad: expected dampened to be a bool, got int 0"),
    ],
)
def test_bad_arguments_are_explained(call, error, message) -> None:  # noqa: ANN001
    w = torch.ones(2, requires_grad=True)
    with pytest.raises(error) as info:
        call(w)
    assert str(info.value) == message
