"""Tests for foundations.schedule: end points, shapes against torch's schedulers, invariants, errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from foundations.schedule import (
    Schedule,
    annealer,
    combine_scheds,
    cos_1cycle_anneal,
    sched_cos,
    sched_exp,
    sched_lin,
    sched_no,
)
from foundations.testing import check_close

pytestmark = pytest.mark.lesson09

values = st.floats(min_value=-10.0, max_value=10.0, allow_nan=False)
positive = st.floats(min_value=1e-4, max_value=10.0, allow_nan=False)
positions = st.floats(min_value=0.0, max_value=1.0, allow_nan=False)


def _torch_lrs(make_scheduler, base_lr: float, steps: int) -> list[float]:
    """The learning rate a torch scheduler gives at steps 0, 1, ..., steps - 1."""
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=base_lr)
    sched = make_scheduler(opt)
    lrs = []
    for _ in range(steps):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return lrs


# ---- the four formulas -------------------------------------------------------------------------------


@settings(max_examples=60)
@given(start=values, end=values)
def test_schedules_hit_start_and_end(start: float, end: float) -> None:
    for sched in (sched_lin, sched_cos):
        assert sched(start, end)(0.0) == pytest.approx(start, abs=1e-12)
        assert sched(start, end)(1.0) == pytest.approx(end, abs=1e-12)
    assert sched_no(start, end)(0.0) == sched_no(start, end)(1.0) == start


@settings(max_examples=60)
@given(start=positive, end=positive)
def test_sched_exp_hits_start_and_end(start: float, end: float) -> None:
    assert sched_exp(start, end)(0.0) == pytest.approx(start, rel=1e-12)
    assert sched_exp(start, end)(1.0) == pytest.approx(end, rel=1e-12)


@settings(max_examples=60)
@given(start=values, end=values, pos=st.lists(positions, min_size=2, max_size=20))
def test_lin_and_cos_are_monotone(start: float, end: float, pos: list[float]) -> None:
    pos = sorted(pos)
    for sched in (sched_lin(start, end), sched_cos(start, end)):
        ys = [sched(p) for p in pos]
        steps = np.diff(ys)
        if end >= start:
            assert (steps >= -1e-12).all(), (sched, pos, ys)
        else:
            assert (steps <= 1e-12).all(), (sched, pos, ys)
        # and they never leave [min(start, end), max(start, end)]
        assert min(ys) >= min(start, end) - 1e-12 and max(ys) <= max(start, end) + 1e-12


@settings(max_examples=60)
@given(start=positive, end=positive, pos=st.lists(positions, min_size=2, max_size=20))
def test_exp_is_monotone_and_linear_in_log_space(start: float, end: float, pos: list[float]) -> None:
    pos = sorted(pos)
    ys = [sched_exp(start, end)(p) for p in pos]
    steps = np.diff(ys)
    assert (steps >= -1e-12).all() if end >= start else (steps <= 1e-12).all()
    # log of an exponential schedule is the linear schedule between the logs
    for p, y in zip(pos, ys):
        assert math.log(y) == pytest.approx(sched_lin(math.log(start), math.log(end))(p), abs=1e-9)


@settings(max_examples=60)
@given(start=values, end=values, pos=positions)
def test_cos_is_half_cosine_interpolation(start: float, end: float, pos: float) -> None:
    # end + (start - end) * (1 + cos(pi pos)) / 2: the weight on start falls from 1 to 0 like a half cosine
    expected = end + (start - end) * 0.5 * (1 + math.cos(math.pi * pos))
    assert sched_cos(start, end)(pos) == pytest.approx(expected, abs=1e-12)
    # and it is symmetric: running it backwards swaps start and end
    assert sched_cos(start, end)(pos) == pytest.approx(sched_cos(end, start)(1 - pos), abs=1e-9)


@pytest.mark.parametrize("start,end,steps", [(0.6, 0.2, 50), (0.1, 0.0, 7), (0.3, 0.6, 33), (1.0, 1.0, 5)])
def test_cos_equals_torch_cosine_annealing(start: float, end: float, steps: int) -> None:
    # CosineAnnealingLR at step t of T_max is eta_min + (base_lr - eta_min)(1 + cos(pi t / T_max))/2
    lrs = _torch_lrs(lambda opt: torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps, eta_min=end), start, steps + 1)
    ours = [sched_cos(start, end)(t / steps) for t in range(steps + 1)]
    check_close(torch.tensor(ours, dtype=torch.float64), torch.tensor(lrs, dtype=torch.float64),
                what=f"sched_cos({start}, {end}) against CosineAnnealingLR(T_max={steps})", atol=1e-9, rtol=1e-7)


def test_lin_and_no_against_torch_linear_and_constant() -> None:
    steps = 20
    lrs = _torch_lrs(lambda opt: torch.optim.lr_scheduler.LinearLR(opt, start_factor=1.0, end_factor=0.25, total_iters=steps), 0.4, steps + 1)
    check_close(torch.tensor([sched_lin(0.4, 0.1)(t / steps) for t in range(steps + 1)], dtype=torch.float64),
                torch.tensor(lrs, dtype=torch.float64), what="sched_lin(0.4, 0.1) against LinearLR", atol=1e-9, rtol=1e-7)
    lrs = _torch_lrs(lambda opt: torch.optim.lr_scheduler.ExponentialLR(opt, gamma=0.5 ** (1 / steps)), 0.4, steps + 1)
    check_close(torch.tensor([sched_exp(0.4, 0.2)(t / steps) for t in range(steps + 1)], dtype=torch.float64),
                torch.tensor(lrs, dtype=torch.float64), what="sched_exp(0.4, 0.2) against ExponentialLR", atol=1e-9, rtol=1e-7)


def test_annealer_makes_named_schedules() -> None:
    @annealer
    def sched_square(start: float, end: float, pos: float) -> float:
        return start + pos**2 * (end - start)

    s = sched_square(1, 3)
    assert isinstance(s, Schedule) and repr(s) == "sched_square(1, 3)"
    assert s(0.5) == pytest.approx(1.5)
    assert sched_square.__name__ == "sched_square"
    assert repr(sched_cos(0.3, 0.6)) == "sched_cos(0.3, 0.6)"
    # pos given as a one-element tensor, as when plotting over torch.linspace
    assert sched_lin(0.0, 2.0)(torch.tensor(0.25)) == pytest.approx(0.5)


# ---- combining: 1cycle ---------------------------------------------------------------------------------


@pytest.mark.parametrize("start,high,end,pct,steps", [(0.3, 0.6, 0.2, 0.3, 100), (0.04, 1.0, 4e-6, 0.25, 40), (0.1, 0.5, 0.1, 0.5, 11)])
def test_1cycle_equals_torch_one_cycle(start: float, high: float, end: float, pct: float, steps: int) -> None:
    # OneCycleLR warms up over steps 0..pct*T-1 and anneals over the rest up to T-1: the same curve as
    # combine_scheds at pos = t / (T - 1) with the first share (pct*T - 1) / (T - 1)
    lrs = _torch_lrs(
        lambda opt: torch.optim.lr_scheduler.OneCycleLR(
            opt, max_lr=high, total_steps=steps, pct_start=pct, anneal_strategy="cos", cycle_momentum=False,
            div_factor=high / start, final_div_factor=start / end, three_phase=False,
        ),
        start, steps,
    )
    p1 = (pct * steps - 1) / (steps - 1)
    sched = combine_scheds([p1, 1 - p1], cos_1cycle_anneal(start, high, end))
    ours = [sched(t / (steps - 1)) for t in range(steps)]
    check_close(torch.tensor(ours, dtype=torch.float64), torch.tensor(lrs, dtype=torch.float64),
                what=f"1cycle {start}->{high}->{end} against OneCycleLR", atol=1e-9, rtol=1e-7)


def test_cos_1cycle_anneal_is_two_cosines() -> None:
    a, b = cos_1cycle_anneal(0.3, 0.6, 0.2)
    assert (repr(a), repr(b)) == ("sched_cos(0.3, 0.6)", "sched_cos(0.6, 0.2)")


@settings(max_examples=60)
@given(
    weights=st.lists(st.integers(min_value=0, max_value=10), min_size=1, max_size=6).filter(lambda w: sum(w) > 0),
    data=st.data(),
)
def test_combined_linear_pieces_equal_np_interp(weights: list[int], data: st.DataObject) -> None:
    # linear pieces through the points (b_i, v_i) are exactly np.interp through those points
    pcts = [w / sum(weights) for w in weights]
    vals = data.draw(st.lists(values, min_size=len(pcts) + 1, max_size=len(pcts) + 1))
    sched = combine_scheds(pcts, [sched_lin(vals[i], vals[i + 1]) for i in range(len(pcts))])
    bounds = [0.0, *np.cumsum(pcts)]
    xs = [b for i, p in enumerate(pcts) if p > 0 for b in (bounds[i], bounds[i + 1])]  # zero shares add nothing
    ys = [v for i, p in enumerate(pcts) if p > 0 for v in (vals[i], vals[i + 1])]
    for pos in data.draw(st.lists(positions, min_size=1, max_size=10)) + [0.0, 1.0]:
        expected = np.interp(pos, xs, ys)
        assert sched(pos) == pytest.approx(expected, abs=1e-9), (pcts, vals, pos)


def test_combine_scheds_is_continuous_at_the_joins() -> None:
    sched = combine_scheds([0.3, 0.7], cos_1cycle_anneal(0.3, 0.6, 0.2))
    eps = 1e-9
    assert sched(0.3 - eps) == pytest.approx(0.6, abs=1e-6)
    assert sched(0.3) == pytest.approx(0.6, abs=1e-12)
    assert sched(0.3 + eps) == pytest.approx(0.6, abs=1e-6)
    assert (sched(0.0), sched(1.0)) == pytest.approx((0.3, 0.2), abs=1e-12)
    three = combine_scheds([0.2, 0.5, 0.3], [sched_lin(0, 1), sched_no(1, 1), sched_cos(1, 0)])
    for join in (0.2, 0.7):
        assert three(join - eps) == pytest.approx(three(join), abs=1e-6)


def test_combine_scheds_skips_zero_shares_and_accepts_rounding() -> None:
    sched = combine_scheds([0.0, 1.0, 0.0], [sched_no(5, 5), sched_lin(0, 1), sched_no(7, 7)])
    assert [sched(p) for p in (0.0, 0.5, 1.0)] == pytest.approx([0.0, 0.5, 1.0])
    thirds = combine_scheds([1 / 3] * 3, [sched_no(1, 1), sched_no(2, 2), sched_no(3, 3)])
    assert [thirds(p) for p in (0.0, 0.34, 0.67, 1.0)] == [1, 2, 3, 3]
    assert combine_scheds([0.5, 0.5 - 5e-7], [sched_lin(0, 1), sched_lin(1, 2)])(1.0) == pytest.approx(2.0)


# ---- errors -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "pcts,n,match",
    [
        ([0.3, 0.6], 2, r"expected pcts summing to 1, got \[0\.3, 0\.6\] \(sum 0\.9\)"),
        ([0.5, 0.6], 2, r"summing to 1, got \[0\.5, 0\.6\] \(sum 1\.1\)"),
        ([1.2, -0.2], 2, r"expected non-negative pcts, got \[1\.2, -0\.2\]"),
        ([0.3, 0.7], 3, r"expected one pct per schedule .* got 2 pcts and 3 schedules"),
        ([], 0, r"got 0 pcts and 0 schedules"),
        ([0.0, 0.0], 2, r"summing to 1"),
        ([float("nan"), 1.0], 2, r"combine_scheds: expected pcts\[0\] to be a finite number, got float nan"),
    ],
)
def test_combine_scheds_rejects_bad_pcts(pcts: list[float], n: int, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        combine_scheds(pcts, [sched_lin(0, 1)] * n)


def test_combine_scheds_rejects_bad_types() -> None:
    with pytest.raises(TypeError, match=r"expected pcts to be a list of numbers, got float"):
        combine_scheds(1.0, [sched_lin(0, 1)])
    with pytest.raises(TypeError, match=r"expected scheds\[1\] to be a schedule .* got float"):
        combine_scheds([0.5, 0.5], [sched_lin(0, 1), 0.5])
    with pytest.raises(TypeError, match=r"combine_scheds: expected pcts\[0\] to be a finite number, got str '0\.5'"):
        combine_scheds(["0.5", 0.5], [sched_lin(0, 1)] * 2)


@pytest.mark.parametrize("pos", [-0.1, 1.0000001, float("nan"), float("inf")])
def test_positions_outside_0_1_raise(pos: float) -> None:
    with pytest.raises(ValueError, match=rf"sched_cos\(0\.3, 0\.6\): expected pos to be a number in \[0, 1\], got float {pos}"):
        sched_cos(0.3, 0.6)(pos)
    with pytest.raises(ValueError, match=rf"combine_scheds: expected pos to be a number in \[0, 1\], got float {pos}"):
        combine_scheds([0.5, 0.5], [sched_lin(0, 1)] * 2)(pos)


def test_bad_start_end_and_pos_types_raise() -> None:
    with pytest.raises(TypeError, match=r"sched_lin: expected start to be a finite number, got str '0\.1'"):
        sched_lin("0.1", 0.5)
    with pytest.raises(ValueError, match=r"sched_cos: expected end to be a finite number, got float inf"):
        sched_cos(0.1, float("inf"))
    with pytest.raises(TypeError, match=r"expected pos to be a number in \[0, 1\], got str"):
        sched_lin(0, 1)("0.5")
    with pytest.raises(TypeError, match=r"sched_lin\(0, 1\): expected pos to be a number in \[0, 1\], got Tensor of dtype torch\.float32 and shape \(2,\)"):
        sched_lin(0, 1)(torch.tensor([0.1, 0.2]))
    with pytest.raises(ValueError, match=r"sched_exp: expected start > 0 and end > 0, got start=0, end=1"):
        sched_exp(0, 1)
    with pytest.raises(ValueError, match=r"sched_exp: expected start > 0 and end > 0, got start=0.5, end=-1"):
        sched_exp(0.5, -1)
