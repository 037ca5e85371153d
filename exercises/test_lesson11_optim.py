"""Grader for exercises/lesson11_optim.py (Lesson 11, the generic optimizer).

Run ``pytest exercises/test_lesson11_optim.py`` (add ``-k debias_factor`` for one exercise). Every
answer is compared in float64 with PyTorch (``torch.optim.AdamW`` for the weight decay, the momentum
buffer of ``torch.optim.SGD`` and the first moment of ``torch.optim.Adam`` for the averaged
gradient) and with the library's ``foundations.optim`` (``weight_decay``, ``AverageGrad``,
``debias``, ``lamb_step``), whose own tests check it against PyTorch and the papers. During your
call ``foundations.optim`` and ``torch.optim``'s optimizers are swapped out (``exercises/_rules.py``).
"""

from __future__ import annotations

import math
import random
from types import ModuleType

import pytest
import torch
from torch import Tensor

from exercises._rules import Forbidden, attempt_without
from foundations.optim import AverageGrad, debias, lamb_step, weight_decay
from foundations.testing import check_close

pytestmark = pytest.mark.lesson11

F64 = torch.float64
RULES = Forbidden(
    ("foundations.optim.*", "torch.optim.SGD", "torch.optim.Adam", "torch.optim.AdamW"),
    "this exercise asks you to write yourself (tensor arithmetic and math)",
)


def attempt(fn, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN201
    __tracebackhide__ = True
    try:
        return attempt_without(RULES, fn, *args, **kwargs)
    except RuntimeError as e:
        if "leaf Variable that requires grad" in str(e):
            raise AssertionError(
                f"{fn.__name__}: a parameter (requires_grad=True) was changed in place while autograd was "
                f"recording; do it inside `with torch.no_grad():` (PyTorch said: {e})"
            ) from None
        raise


@pytest.fixture(scope="module")
def ex(impl) -> ModuleType:  # noqa: ANN001
    return impl("lesson11_optim")


def _randn(*shape: int, seed: int, scale: float = 1.0) -> Tensor:
    return torch.randn(shape, dtype=F64, generator=torch.Generator().manual_seed(seed)) * scale


PARAMS = {  # name -> a float64 tensor, the values of a parameter
    "a 5x4 weight": _randn(5, 4, seed=0),
    "a bias of 7": _randn(7, seed=1, scale=0.1),
    "a 8x3x3x3 conv weight": _randn(8, 3, 3, 3, seed=2, scale=3.0),
    "a single number (0-d)": torch.tensor(-2.5, dtype=F64),
    "large values (1e6)": _randn(3, 3, seed=3, scale=1e6),
}


def _param(values: Tensor, grad_seed: int) -> Tensor:
    p = values.clone().requires_grad_(True)
    p.grad = _randn(*values.shape, seed=grad_seed)
    return p


# ---- weight_decay_step ---------------------------------------------------------------------------

DECAYS = [(0.1, 0.01), (1e-3, 0.1), (0.5, 1.0), (0.0, 0.1), (0.1, 0.0), (2.0, 1.5)]  # (lr, wd); the last flips the sign


@pytest.mark.parametrize(("lr", "wd"), DECAYS, ids=[f"lr={lr:g},wd={wd:g}" for lr, wd in DECAYS])
def test_weight_decay_step_against_adamw_and_the_library(ex: ModuleType, lr: float, wd: float) -> None:
    for k, (name, values) in enumerate(PARAMS.items()):
        p = _param(values, grad_seed=10 + k)
        grad, before, ptr = p.grad.clone(), p.detach().clone(), p.data_ptr()
        call = f"weight_decay_step on {name}, lr={lr:g}, wd={wd:g}"
        got = attempt(ex.weight_decay_step, p, lr, wd)
        assert got is None, f"{call}: expected None (change p in place), got {type(got).__name__}"
        assert p.dtype == F64 and p.data_ptr() == ptr, f"{call}: p must keep its storage and dtype (change it in place)"
        assert p.requires_grad and p.is_leaf, f"{call}: p must stay a parameter (a leaf with requires_grad=True)"
        assert p.grad is not None and torch.equal(p.grad, grad), (
            f"{call}: p.grad changed; decoupled weight decay acts on the weights, not on the gradient")
        # the oracles: the library's stepper, and torch's AdamW with a zero gradient (its Adam part is then 0)
        lib = values.clone()
        weight_decay(lib, lr=lr, wd=wd)
        q = values.clone().requires_grad_(True)
        q.grad = torch.zeros_like(q)
        torch.optim.AdamW([q], lr=lr, weight_decay=wd).step()
        expected = q.detach()
        check_close(lib, expected, what="(grader check) the library's weight_decay against AdamW", atol=0, rtol=1e-15)
        if lr * wd != 0 and torch.equal(p.detach(), before):
            raise AssertionError(f"{call}: p did not change; shrink it in place (p.mul_(...)), a new tensor "
                                 "(p = p * ...) is not seen by the caller")
        check_close(p.detach(), expected, what=call, atol=1e-300, rtol=1e-15, dtype="match")


def test_weight_decay_step_over_many_steps(ex: ModuleType) -> None:
    p, lib = _param(PARAMS["a 5x4 weight"], grad_seed=20), PARAMS["a 5x4 weight"].clone()
    for _ in range(100):
        attempt(ex.weight_decay_step, p, 0.05, 0.2)
        weight_decay(lib, lr=0.05, wd=0.2)
    check_close(p.detach(), lib, what="weight_decay_step after 100 steps, lr=0.05, wd=0.2 (a factor 0.99 each)",
                atol=1e-300, rtol=1e-13, dtype="match")


# ---- momentum_stat -------------------------------------------------------------------------------

MOMENTA = [(0.9, 0.0), (0.9, 0.1), (0.5, 0.5), (0.99, 0.0), (0.3, 0.9)]  # (mom, dampening)
STEPS = 6


def _grads(shape: tuple[int, ...], seed: int) -> list[Tensor]:
    return [_randn(*shape, seed=seed + t, scale=1.0 + t) for t in range(STEPS)]


def _torch_buffers(grads: list[Tensor], mom: float, dampening: float, dampened: bool) -> list[Tensor]:
    """The oracle: torch's average after each step, SGD's momentum buffer or Adam's exp_avg."""
    p = torch.zeros_like(grads[0], requires_grad=True)
    if dampened:
        opt = torch.optim.Adam([p], lr=0.0, betas=(mom, 0.999))
        key = "exp_avg"
    else:
        opt = torch.optim.SGD([p], lr=0.0, momentum=mom, dampening=dampening)
        key = "momentum_buffer"
    out = []
    for g in grads:
        p.grad = g.clone()
        opt.step()
        out.append(opt.state[p][key].clone())
    return out


def _library_buffers(grads: list[Tensor], mom: float, dampening: float, dampened: bool) -> list[Tensor]:
    stat, p = AverageGrad(dampened=dampened), torch.zeros_like(grads[0])
    state, out = stat.init_state(p), []
    for g in grads:
        p.grad = g.clone()
        stat.update(p, state, mom=mom, dampening=dampening)
        out.append(state["grad_avg"].clone())
    return out


MOMENTUM_CASES = [(m, d, False) for m, d in MOMENTA] + [(m, 0.0, True) for m in (0.9, 0.5, 0.99, 0.3)]


@pytest.mark.parametrize(("mom", "dampening", "dampened"), MOMENTUM_CASES,
                         ids=[f"{'Adam' if a else 'SGD'},mom={m:g}" + ("" if a else f",dampening={d:g}")
                              for m, d, a in MOMENTUM_CASES])
def test_momentum_stat_over_several_steps(ex: ModuleType, mom: float, dampening: float, dampened: bool) -> None:
    for k, (name, values) in enumerate(list(PARAMS.items())[:4]):
        grads = _grads(tuple(values.shape), seed=100 + 10 * k)
        theirs = _torch_buffers(grads, mom, dampening, dampened)
        lib = _library_buffers(grads, mom, dampening, dampened)
        avg = None
        for t, g in enumerate(grads):
            given = g.clone()
            got = attempt(ex.momentum_stat, avg, given, mom, dampening, dampened)
            where = f"momentum_stat on {name}, mom={mom:g}, dampening={dampening:g}, dampened={dampened}, step {t + 1}"
            assert torch.equal(given, g), f"{where}: grad changed; leave the gradient alone"
            assert isinstance(got, Tensor), f"{where}: expected a tensor (the new average), got {type(got).__name__}"
            if t == 0 and not dampened:
                assert got.data_ptr() != given.data_ptr(), (
                    f"{where}: the first average must be a copy of the gradient (grad.clone()), not the gradient "
                    "itself: the next backward pass, or zero_grad, would change it")
            check_close(lib[t], theirs[t], what="(grader check) the library's AverageGrad against torch", atol=1e-14,
                        rtol=1e-12)
            check_close(got, theirs[t], what=where, atol=1e-12, rtol=1e-12, dtype="any")
            avg = got


# ---- debias_factor -------------------------------------------------------------------------------

GRID_MOMS = [0.0, 0.1, 0.5, 0.8, 0.9, 0.95, 0.99, 0.999, 0.9999, 1 - 1e-6, 1 - 1e-9]
GRID_STEPS = [1, 2, 3, 5, 10, 50, 100, 250, 999, 1000]


def _sweep(seed: int, n: int) -> list[tuple[float, int]]:
    """A seeded sweep over mom in [0, 1) (uniform, and 1 - 10**-u for moms near 1) and step in 1..1000."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        mom = rng.random() if i % 2 else 1 - 10 ** -rng.uniform(0.5, 9)
        out.append((mom, rng.randint(1, 1000)))
    return out


CASES = [(m, s) for m in GRID_MOMS for s in GRID_STEPS] + _sweep(0, 600)


def _check_debias(ex: ModuleType, dampening: float | None) -> None:
    worst, misses = None, 0  # worst: (how many tolerances off, message)
    for mom, step in CASES:
        call = f"debias_factor({mom!r}, {step}" + ("" if dampening is None else f", dampening={dampening!r}") + ")"
        got = attempt(ex.debias_factor, mom, step, dampening)
        if isinstance(got, Tensor) and got.numel() == 1:
            got = got.item()
        if isinstance(got, bool) or not isinstance(got, (int, float)):
            raise AssertionError(f"{call}: expected a Python float, got {type(got).__name__} {got!r}")
        expected = debias(mom, step, dampening)
        # what a float64 evaluation of the formula may get wrong: ~1e-15 in 1 - mom**step, magnified by
        # dampening / (1 - mom) in the dampened factor
        scale = 1.0 if dampening is None else dampening / (1 - mom)
        tol = 1e-15 * scale + 1e-12 * abs(expected)
        diff = abs(float(got) - expected)
        if not diff <= tol:
            misses += 1
            off = diff / tol if math.isfinite(diff) else math.inf
            if worst is None or off > worst[0]:
                worst = (off, f"{call}: expected {expected!r}, got {float(got)!r} (difference {diff:.3g}, "
                              f"tolerance {tol:.3g})")
    if worst is not None:
        raise AssertionError(f"{worst[1]}; the largest miss, {misses} of {len(CASES)} (mom, step) pairs are off")


def test_debias_factor_adam(ex: ModuleType) -> None:
    _check_debias(ex, None)


@pytest.mark.parametrize("dampening", [0.1, 0.5, 1.0])
def test_debias_factor_dampened(ex: ModuleType, dampening: float) -> None:
    _check_debias(ex, dampening)


def test_debias_factor_is_exact_where_the_formula_is(ex: ModuleType) -> None:
    for mom, step, damp, expected in [(0.0, 1, None, 1.0), (0.5, 1, None, 0.5), (0.5, 2, None, 0.75),
                                      (0.5, 2, 0.5, 0.75), (0.9, 1, 0.1, 0.1), (0.0, 7, 0.3, 0.3)]:
        got = attempt(ex.debias_factor, mom, step, damp)
        got = got.item() if isinstance(got, Tensor) else got
        check_close(float(got), expected, what=f"debias_factor({mom}, {step}, dampening={damp})", atol=1e-15, rtol=1e-15)


# ---- lamb_trust_ratio ----------------------------------------------------------------------------


def _library_ratio(p: Tensor, r: Tensor) -> float:
    """The oracle: the ratio lamb_step scales its step by, read off one float64 step of it.

    With mom = sqr_mom = 0 at step 1 (both debias factors 1), sqr_avg = 1, eps = 0 and wd = 0,
    lamb_step's direction is exactly ``grad_avg = r``; with lr = 1 it moves p by ``ratio * r``.
    Where r is 0 the step is 0 whatever the ratio, and lamb_step's source takes 1.
    """
    q = p.clone()
    lamb_step(q, lr=1.0, mom=0.0, sqr_mom=0.0, eps=0.0, wd=0.0, step=1, grad_avg=r.clone(), sqr_avg=torch.ones_like(r))
    rr = float((r * r).sum())
    return float(((p - q) * r).sum()) / rr if rr > 0 else 1.0


def _pairs() -> dict[str, tuple[Tensor, Tensor]]:
    out = {}
    for k, (name, values) in enumerate(PARAMS.items()):
        out[f"{name} and a step of about its size"] = (values, _randn(*values.shape, seed=200 + k))
        out[f"{name} and a tiny step (1e-8)"] = (values, _randn(*values.shape, seed=300 + k, scale=1e-8))
    w = PARAMS["a 5x4 weight"]
    out.update({
        "a zero bias (||p|| = 0)": (torch.zeros(7, dtype=F64), _randn(7, seed=400)),
        "a zero step (||r|| = 0)": (w, torch.zeros_like(w)),
        "both zero": (torch.zeros(3, dtype=F64), torch.zeros(3, dtype=F64)),
        "one nonzero value in each": (torch.tensor([0.0, 3.0, 0.0], dtype=F64), torch.tensor([0.0, 0.0, -0.25], dtype=F64)),
        "values of 1e-100": (_randn(4, 4, seed=401, scale=1e-100), _randn(4, 4, seed=402, scale=1e-100)),
        "values of 1e100 and a step of 1e-100": (_randn(6, seed=403, scale=1e100), _randn(6, seed=404, scale=1e-100)),
        "negative values only": (-_randn(9, seed=405).abs(), -_randn(9, seed=406).abs()),
    })
    return out


PAIRS = _pairs()


@pytest.mark.parametrize("name", list(PAIRS))
def test_lamb_trust_ratio_against_lamb_step(ex: ModuleType, name: str) -> None:
    values, r = PAIRS[name]
    p = values.clone().requires_grad_(True)  # a parameter, as the optimizer has it
    given = r.clone()
    got = attempt(ex.lamb_trust_ratio, p, given)
    call = f"lamb_trust_ratio on {name}"
    assert torch.equal(p.detach(), values) and torch.equal(given, r), f"{call}: p or r changed; leave them alone"
    if isinstance(got, Tensor) and got.numel() == 1:
        got = got.item()
    if isinstance(got, bool) or not isinstance(got, (int, float)):
        raise AssertionError(f"{call}: expected a Python float, got {type(got).__name__}")
    check_close(float(got), _library_ratio(values, r), what=call, atol=0, rtol=1e-12)
