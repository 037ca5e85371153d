"""Grader for the Lesson 9 exercises of "Callbacks" (lessons/09_callbacks) and "Annealing" (lessons/09_annealing).

Run ``pytest exercises -m lesson09`` (or ``-k sched_cos``, ``-k combine_scheds``,
``-k stop_after_n_batches``). The schedules are compared with ``torch.optim.lr_scheduler``
(``CosineAnnealingLR``, ``OneCycleLR``) and with ``numpy.interp`` at many positions; the callback runs
inside ``foundations.learner.Learner`` on a tiny data set while the grader counts optimizer steps.
The schedules ``combine_scheds`` is given are the grader's own: they accept float noise around [0, 1]
(a position of -7e-17 is 0) and refuse a position clearly outside it, naming it. During your call
``foundations.schedule`` is swapped out (``exercises/_rules.py``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from types import ModuleType

import numpy as np
import pytest
import torch

from foundations.data import Dataset, get_dls
from foundations.data import DataBunch
from foundations.learner import EVENTS, Callback, Learner, Order
from foundations.losses import cross_entropy
from foundations.nn import Linear, ReLU, Sequential
from foundations.optim import SGD
from exercises._rules import Forbidden, attempt_without
from foundations.testing import attempt, check_close

pytestmark = pytest.mark.lesson09

F64 = torch.float64
RULES = Forbidden(("foundations.schedule.*",), "this exercise asks you to write yourself (with Python's math)")
NOISE = 1e-5  # how far outside [0, 1] rounding, and pcts that sum to 1 within 1e-6, may put a schedule's own position


class Misuse(AssertionError):
    """One of the grader's schedules was called with something that is not a position in [0, 1]."""


class Sched:
    """One of the grader's schedules: ``formula(pos)``, for ``pos`` within ``NOISE`` of [0, 1].

    Unlike ``foundations.schedule``'s, it takes ``-7e-17`` as 0 (rounding in the learner's
    arithmetic is no error) and refuses a position clearly outside [0, 1] with a message naming it.
    """

    def __init__(self, name: str, formula: Callable[[float], float]) -> None:
        self.name, self.formula = name, formula

    def __call__(self, pos: object) -> float:
        if isinstance(pos, torch.Tensor) and pos.numel() == 1:
            pos = pos.item()
        if isinstance(pos, bool) or not isinstance(pos, (int, float)):
            raise Misuse(f"{self.name} was called with {type(pos).__name__} {pos!r}, not a position (a float)")
        if not -NOISE <= pos <= 1 + NOISE:
            raise Misuse(f"{self.name} was called with pos={pos!r}, outside [0, 1]: each schedule must see its own "
                         "position from 0 to 1")
        return self.formula(min(max(float(pos), 0.0), 1.0))

    def __repr__(self) -> str:
        return self.name


def cos(start: float, end: float) -> Sched:
    return Sched(f"cos({start:g}, {end:g})", lambda p: start + (1 - math.cos(math.pi * p)) / 2 * (end - start))


def lin(start: float, end: float) -> Sched:
    return Sched(f"lin({start:g}, {end:g})", lambda p: start + p * (end - start))


def const(value: float) -> Sched:
    return Sched(f"const({value:g})", lambda p: value)


@pytest.fixture(scope="module")
def ex(impl) -> ModuleType:  # noqa: ANN001
    return impl("lesson09_training")


def torch_lrs(make_scheduler, base_lr: float, steps: int) -> list[float]:  # noqa: ANN001
    """The oracle: the learning rate a torch scheduler gives at steps 0, 1, ..., steps - 1."""
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=base_lr)
    sched = make_scheduler(opt)
    lrs = []
    for _ in range(steps):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return lrs


def values(f, positions: list[float], what: str) -> torch.Tensor:  # noqa: ANN001
    """Call the learner's schedule at each position (through ``attempt``), as a float64 tensor."""
    out = []
    for p in positions:
        try:
            v = attempt(f, p)
        except Misuse as e:
            raise AssertionError(f"{what} at pos={p:.6g}: {e}") from None
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise AssertionError(f"{what}: expected a float at pos={p:.6g}, got {type(v).__name__} {v!r}")
        out.append(float(v))
    return torch.tensor(out, dtype=F64)


def at_pos(positions: list[float]) -> Callable[[tuple[int, ...]], str]:
    """For check_close: the position a difference is at, by value."""
    return lambda i: f"pos={positions[i[0]]:.6g}"


# ---- sched_cos -------------------------------------------------------------------------------------------

COS_CASES = [
    ("annealing down 0.6 -> 0.2", 0.6, 0.2),
    ("warming up 0.3 -> 0.6", 0.3, 0.6),
    ("down to zero 1.0 -> 0.0", 1.0, 0.0),
    ("a constant 0.5 -> 0.5", 0.5, 0.5),
    ("a tiny range 1e-4 -> 1e-6", 1e-4, 1e-6),
]


@pytest.mark.parametrize(("what", "start", "end"), COS_CASES, ids=[c[0] for c in COS_CASES])
def test_sched_cos_against_cosine_annealing(ex: ModuleType, what: str, start: float, end: float) -> None:
    steps = 64
    # CosineAnnealingLR: lr at step t is eta_min + (base_lr - eta_min) * (1 + cos(pi t / T_max)) / 2
    expected = torch_lrs(lambda opt: torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps, eta_min=end), start, steps + 1)
    f = attempt_without(RULES, ex.sched_cos, start, end)
    got = values(f, [t / steps for t in range(steps + 1)], f"sched_cos({start}, {end})")
    check_close(got, torch.tensor(expected, dtype=F64), what=f"sched_cos({start}, {end}), {what}", atol=1e-9, rtol=1e-7,
                at=lambda i: f"pos={i[0]}/64")


def test_sched_cos_negative_values_and_odd_positions(ex: ModuleType) -> None:
    positions = [0.0, 0.001, 1 / 3, 0.5, 0.777, 0.999, 1.0]
    f = attempt_without(RULES, ex.sched_cos, -2.0, 3.0)
    got = values(f, positions, "sched_cos(-2.0, 3.0)")
    expected = torch.tensor([3.0 + (-2.0 - 3.0) * (1 + np.cos(np.pi * p)) / 2 for p in positions], dtype=F64)
    check_close(got, expected, what="sched_cos(-2.0, 3.0) (negative start)", atol=1e-12, at=at_pos(positions), dtype="match")


def test_sched_cos_docstring_example(ex: ModuleType) -> None:
    f = attempt_without(RULES, ex.sched_cos, 1.0, 3.0)
    got = values(f, [0.0, 0.5, 1.0], "sched_cos(1.0, 3.0)")
    check_close(got, torch.tensor([1.0, 2.0, 3.0], dtype=F64), what="sched_cos(1.0, 3.0), the docstring's example",
                atol=1e-12, at=at_pos([0.0, 0.5, 1.0]))


# ---- combine_scheds ----------------------------------------------------------------------------------------

ONECYCLE_CASES = [
    ("the course's 0.3 -> 0.6 -> 0.2 over 30/70 %", 0.3, 0.6, 0.2, 0.3, 100),
    ("a short warm-up 0.04 -> 1.0 -> 4e-6 over 25/75 %", 0.04, 1.0, 4e-6, 0.25, 40),
    ("half and half 0.1 -> 0.5 -> 0.1", 0.1, 0.5, 0.1, 0.5, 11),
]


@pytest.mark.parametrize(("what", "start", "high", "end", "pct", "steps"), ONECYCLE_CASES, ids=[c[0] for c in ONECYCLE_CASES])
def test_combine_scheds_is_one_cycle(ex: ModuleType, what: str, start: float, high: float, end: float, pct: float, steps: int) -> None:
    # OneCycleLR warms up over steps 0 .. pct*T - 1 and anneals over the rest up to T - 1, both with
    # cosines: at pos = t / (T - 1) that is two cosines combined with shares p1 and 1 - p1
    expected = torch_lrs(
        lambda opt: torch.optim.lr_scheduler.OneCycleLR(
            opt, max_lr=high, total_steps=steps, pct_start=pct, anneal_strategy="cos", cycle_momentum=False,
            div_factor=high / start, final_div_factor=start / end, three_phase=False,
        ),
        start, steps,
    )
    p1 = (pct * steps - 1) / (steps - 1)
    pcts, scheds = [p1, 1 - p1], [cos(start, high), cos(high, end)]
    f = attempt_without(RULES, ex.combine_scheds, pcts, scheds)
    positions = [t / (steps - 1) for t in range(steps)]
    what = f"combine_scheds({[round(p, 6) for p in pcts]}, {scheds}), {what}"
    got = values(f, positions, what)
    check_close(got, torch.tensor(expected, dtype=F64), what=f"{what}, against OneCycleLR", atol=1e-9, rtol=1e-7,
                at=at_pos(positions))


PIECEWISE_CASES = [
    ("three linear pieces 20/50/30 %", [0.2, 0.5, 0.3], [0.0, 1.0, -1.0, 2.0]),
    ("one piece [1.0]", [1.0], [3.0, 5.0]),
    ("ten pieces of 0.1 (float sum 0.9999999999999999)", [0.1] * 10, [float(i % 3) for i in range(11)]),
    ("a zero share in the middle", [0.4, 0.0, 0.6], [0.0, 1.0, 1.0, 0.0]),
    ("a zero share first", [0.0, 1.0], [7.0, 1.0, 2.0]),
    ("a zero share last", [0.5, 0.5, 0.0], [0.0, 1.0, 0.0, 5.0]),
]


@pytest.mark.parametrize(("what", "pcts", "points"), PIECEWISE_CASES, ids=[c[0] for c in PIECEWISE_CASES])
def test_combine_scheds_linear_pieces(ex: ModuleType, what: str, pcts: list[float], points: list[float]) -> None:
    # linear pieces from points[i] to points[i+1] over share i: exactly numpy.interp through the joins
    scheds = [lin(points[i], points[i + 1]) for i in range(len(pcts))]
    f = attempt_without(RULES, ex.combine_scheds, pcts, scheds)
    positions = [i / 97 for i in range(98)] + [0.2, 0.7, 0.4]
    bounds = [0.0, *np.cumsum(pcts)]
    xs = [b for i, p in enumerate(pcts) if p > 0 for b in (bounds[i], bounds[i + 1])]  # the shares that count
    ys = [v for i, p in enumerate(pcts) if p > 0 for v in (points[i], points[i + 1])]
    expected = torch.tensor(np.interp(positions, xs, ys), dtype=F64)
    call = f"combine_scheds({pcts}, {scheds})" if len(pcts) < 10 else "combine_scheds([0.1] * 10, ten lin pieces)"
    got = values(f, positions, f"{call}, {what}")
    check_close(got, expected, what=f"{call}, {what}", atol=1e-9, at=at_pos(positions), dtype="match")


def test_combine_scheds_ends_with_the_last_schedule_that_has_a_share(ex: ModuleType) -> None:
    # at pos = 1 a zero share at the end is skipped, like every zero share: scheds[1](1.0), not scheds[2]
    scheds = [lin(0.0, 1.0), lin(1.0, 0.0), const(5.0)]
    call = f"combine_scheds([0.5, 0.5, 0.0], {scheds})"
    got = values(attempt_without(RULES, ex.combine_scheds, [0.5, 0.5, 0.0], scheds), [1.0], call)
    check_close(got, torch.tensor([0.0], dtype=F64), what=f"{call} (the last share is 0: scheds[1](1.0) is expected)",
                atol=1e-9, at=at_pos([1.0]))


def test_combine_scheds_constant_pieces_switch_at_the_joins(ex: ModuleType) -> None:
    scheds = [const(1), const(2), const(3)]
    f = attempt_without(RULES, ex.combine_scheds, [0.25, 0.25, 0.5], scheds)
    positions = [0.0, 0.2499, 0.25, 0.4999, 0.5, 0.9, 1.0]
    what = f"combine_scheds([0.25, 0.25, 0.5], {scheds}) around the joins 0.25 and 0.5"
    got = values(f, positions, what)
    check_close(got, torch.tensor([1, 1, 2, 2, 3, 3, 3], dtype=F64), what=what, at=at_pos(positions))


# (what, pcts, number of schedules, what the message must name: all of ``every``, or one of ``any_of``)
BAD_PCTS = [
    ("pcts summing to 0.9", [0.3, 0.6], 2, [], ["0.9", "[0.3, 0.6]"]),
    ("pcts summing to 1.1", [0.5, 0.6], 2, [], ["1.1", "[0.5, 0.6]"]),
    ("pcts summing to 1.00001 (more than 1e-6 off)", [0.5, 0.50001], 2, [], ["1.00001", "[0.5, 0.50001]"]),
    ("a negative pct", [1.2, -0.2], 2, ["-0.2"], []),
    ("two pcts for three schedules", [0.3, 0.7], 3, ["2", "3"], []),
    ("three pcts for two schedules", [0.3, 0.3, 0.4], 2, ["3", "2"], []),
    ("no schedules at all", [], 0, ["0"], []),
]


@pytest.mark.parametrize(("what", "pcts", "n", "every", "any_of"), BAD_PCTS, ids=[c[0] for c in BAD_PCTS])
def test_combine_scheds_rejects_bad_pcts(
    ex: ModuleType, what: str, pcts: list[float], n: int, every: list[str], any_of: list[str]
) -> None:
    call = f"combine_scheds({pcts}, {n} schedules) ({what})"
    try:
        attempt_without(RULES, ex.combine_scheds, pcts, [cos(0.1, 0.5)] * n)
    except ValueError as e:
        named = all(v in str(e) for v in every) and (not any_of or any(v in str(e) for v in any_of))
        wanted = " and ".join(every) if every else " or ".join(any_of)
        assert named, f"{call}: the ValueError should say what came ({wanted}); got {str(e)!r}"
        return
    raise AssertionError(f"{call}: expected a ValueError, got none")


def test_combine_scheds_accepts_pcts_within_1e_6_of_one(ex: ModuleType) -> None:
    pcts, scheds = [0.5, 0.4999995], [lin(0.0, 1.0), lin(1.0, 3.0)]
    call = f"combine_scheds({pcts}, {scheds}) (sum 0.9999995, within 1e-6 of 1)"
    got = values(attempt_without(RULES, ex.combine_scheds, pcts, scheds), [0.0, 0.25, 1.0], call)
    check_close(got, torch.tensor([0.0, 0.5, 3.0], dtype=F64), what=call, atol=1e-5, at=at_pos([0.0, 0.25, 1.0]))


# ---- StopAfterNBatches -----------------------------------------------------------------------------------------

N_TRAIN, BS, EPOCHS = 22, 4, 3  # 6 training batches an epoch (the last of 2), 18 in all


class Counter(Callback):
    """The grader's eyes: every event, and every optimizer step, in order."""

    order = Order.DEVICE - 1  # before every library callback, so it sees each event before anything can stop it

    def __init__(self) -> None:
        self.events: list[str] = []


for _event in EVENTS:
    setattr(Counter, _event, lambda self, _e=_event: self.events.append(_e))


def run_with(cb: Callback) -> tuple[int, list[str]]:
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(N_TRAIN + 8, 5, generator=g), torch.randint(0, 3, (N_TRAIN + 8,), generator=g)
    data = DataBunch(*get_dls(Dataset(x[:N_TRAIN], y[:N_TRAIN]), Dataset(x[N_TRAIN:], y[N_TRAIN:]), BS,
                              generator=torch.Generator().manual_seed(1)), c_in=5, c_out=3)
    torch.manual_seed(0)
    model = Sequential(Linear(5, 4), ReLU(), Linear(4, 3))
    steps = []

    def counted_sgd(params, lr: float) -> SGD:  # noqa: ANN001
        opt = SGD(params, lr)
        step = opt.step
        opt.step = lambda: (steps.append(1), step())
        return opt

    counter = Counter()
    learn = Learner(model, data, cross_entropy, opt_func=counted_sgd, lr=0.1, cbs=[counter])
    attempt(learn.fit, EPOCHS, cbs=[cb])
    return len(steps), counter.events


@pytest.mark.parametrize("n", [1, 2, 6, 7, 13, 18])
def test_stop_after_n_batches_steps_exactly_n_times(ex: ModuleType, n: int) -> None:
    # n = 6 ends the first epoch and n = 18 the whole fit: the validation after it must not run either
    cb = attempt(ex.StopAfterNBatches, n)
    steps, events = run_with(cb)
    assert steps == n, f"StopAfterNBatches({n}): expected exactly {n} optimizer steps, got {steps}"
    last_step = len(events) - 1 - events[::-1].index("after_step")
    later = [e for e in events[last_step + 1:] if e in ("begin_batch", "begin_epoch", "begin_validate")]
    assert not later, f"StopAfterNBatches({n}): after the {n}-th step training should stop, but the Learner went on with {later}"
    assert "after_cancel_train" in events, (
        f"StopAfterNBatches({n}): expected training to be cancelled (raise CancelTrainException), "
        f"but the Learner never fired after_cancel_train"
    )


@pytest.mark.parametrize("n", [19, 50])
def test_stop_after_n_batches_lets_a_short_fit_finish(ex: ModuleType, n: int) -> None:
    # 3 epochs of 6 batches: with n > 18 the whole fit runs, validation included
    cb = attempt(ex.StopAfterNBatches, n)
    steps, events = run_with(cb)
    assert steps == EPOCHS * 6, f"StopAfterNBatches({n}) on a fit of {EPOCHS * 6} batches: expected {EPOCHS * 6} steps, got {steps}"
    epochs, validations = events.count("after_epoch"), events.count("begin_validate")
    assert epochs == validations == EPOCHS, (
        f"StopAfterNBatches({n}) on a fit of {EPOCHS * 6} batches: expected all {EPOCHS} epochs, each validated, "
        f"got {epochs} complete epochs and {validations} validations"
    )
