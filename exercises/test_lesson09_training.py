"""Grader for the Lesson 9 exercises of "Callbacks" (lessons/09_callbacks) and "Annealing" (lessons/09_annealing).

Run ``pytest exercises -m lesson09`` (or ``-k sched_cos``, ``-k combine_scheds``,
``-k stop_after_n_batches``). The schedules are compared with ``torch.optim.lr_scheduler``
(``CosineAnnealingLR``, ``OneCycleLR``) and with ``numpy.interp`` at many positions; the callback runs
inside ``foundations.learner.Runner`` on a tiny data set while the grader counts optimizer steps.
"""

from __future__ import annotations

from types import ModuleType

import numpy as np
import pytest
import torch

from foundations.data import Dataset, get_dls
from foundations.learner import EVENTS, Callback, DataBunch, Learner, Runner
from foundations.losses import cross_entropy
from foundations.nn import Linear, ReLU, Sequential
from foundations.optim import SGD
from foundations.schedule import sched_cos as lib_sched_cos
from foundations.schedule import sched_lin, sched_no
from foundations.testing import attempt, check_close

pytestmark = pytest.mark.lesson09

F64 = torch.float64


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
        v = attempt(f, p)
        if not isinstance(v, (int, float)):
            raise AssertionError(f"{what}: expected a float at pos={p}, got {type(v).__name__} {v!r}")
        out.append(float(v))
    return torch.tensor(out, dtype=F64)


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
    f = attempt(ex.sched_cos, start, end)
    got = values(f, [t / steps for t in range(steps + 1)], f"sched_cos({start}, {end})")
    check_close(got, torch.tensor(expected, dtype=F64), what=f"sched_cos on {what} at pos = t/64", atol=1e-9, rtol=1e-7)


def test_sched_cos_negative_values_and_odd_positions(ex: ModuleType) -> None:
    positions = [0.0, 0.001, 1 / 3, 0.5, 0.777, 0.999, 1.0]
    f = attempt(ex.sched_cos, -2.0, 3.0)
    got = values(f, positions, "sched_cos(-2.0, 3.0)")
    expected = torch.tensor([3.0 + (-2.0 - 3.0) * (1 + np.cos(np.pi * p)) / 2 for p in positions], dtype=F64)
    check_close(got, expected, what="sched_cos(-2.0, 3.0) (negative start) at odd positions", atol=1e-12)


def test_sched_cos_docstring_example(ex: ModuleType) -> None:
    f = attempt(ex.sched_cos, 1.0, 3.0)
    got = values(f, [0.0, 0.5, 1.0], "sched_cos(1.0, 3.0)")
    check_close(got, torch.tensor([1.0, 2.0, 3.0], dtype=F64), what="sched_cos(1.0, 3.0) at 0, 0.5, 1", atol=1e-12)


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
    f = attempt(ex.combine_scheds, [p1, 1 - p1], [lib_sched_cos(start, high), lib_sched_cos(high, end)])
    got = values(f, [t / (steps - 1) for t in range(steps)], "combine_scheds")
    check_close(got, torch.tensor(expected, dtype=F64), what=f"combine_scheds on {what} against OneCycleLR", atol=1e-9, rtol=1e-7)


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
    scheds = [sched_lin(points[i], points[i + 1]) for i in range(len(pcts))]
    f = attempt(ex.combine_scheds, pcts, scheds)
    positions = [i / 97 for i in range(98)] + [0.2, 0.7, 0.4]
    bounds = [0.0, *np.cumsum(pcts)]
    xs = [b for i, p in enumerate(pcts) if p > 0 for b in (bounds[i], bounds[i + 1])]  # the shares that count
    ys = [v for i, p in enumerate(pcts) if p > 0 for v in (points[i], points[i + 1])]
    expected = torch.tensor(np.interp(positions, xs, ys), dtype=F64)
    got = values(f, positions, f"combine_scheds on {what}")
    check_close(got, expected, what=f"combine_scheds on {what}", atol=1e-9)


def test_combine_scheds_constant_pieces_switch_at_the_joins(ex: ModuleType) -> None:
    f = attempt(ex.combine_scheds, [0.25, 0.25, 0.5], [sched_no(1, 1), sched_no(2, 2), sched_no(3, 3)])
    positions = [0.0, 0.2499, 0.25, 0.4999, 0.5, 0.9, 1.0]
    got = values(f, positions, "combine_scheds of constants")
    check_close(got, torch.tensor([1, 1, 2, 2, 3, 3, 3], dtype=F64), what="combine_scheds of constants 1, 2, 3 around the joins 0.25 and 0.5")


BAD_PCTS = [
    ("pcts summing to 0.9", [0.3, 0.6], 2),
    ("pcts summing to 1.1", [0.5, 0.6], 2),
    ("a negative pct", [1.2, -0.2], 2),
    ("two pcts for three schedules", [0.3, 0.7], 3),
    ("three pcts for two schedules", [0.3, 0.3, 0.4], 2),
]


@pytest.mark.parametrize(("what", "pcts", "n"), BAD_PCTS, ids=[c[0] for c in BAD_PCTS])
def test_combine_scheds_rejects_bad_pcts(ex: ModuleType, what: str, pcts: list[float], n: int) -> None:
    scheds = [lib_sched_cos(0.1, 0.5)] * n
    try:
        attempt(ex.combine_scheds, pcts, scheds)
    except ValueError as e:
        assert str(e), f"combine_scheds with {what}: the ValueError should say what was expected and what came"
        return
    raise AssertionError(f"combine_scheds with {what} ({pcts} for {n} schedules): expected a ValueError, got none")


# ---- StopAfterNBatches -----------------------------------------------------------------------------------------

N_TRAIN, BS, EPOCHS = 22, 4, 3  # 6 training batches an epoch (the last of 2), 18 in all


class Counter(Callback):
    """The grader's eyes: every event, and every optimizer step, in order."""

    _order = -10  # before the learner's callback, so it sees each event before anything can stop it

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
    opt = SGD(model.parameters(), 0.1)
    steps = []
    step = opt.step
    opt.step = lambda: (steps.append(1), step())
    counter = Counter()
    attempt(Runner(cbs=[cb, counter]).fit, EPOCHS, Learner(model, opt, cross_entropy, data))
    return len(steps), counter.events


@pytest.mark.parametrize("n", [1, 2, 6, 7, 13])
def test_stop_after_n_batches_steps_exactly_n_times(ex: ModuleType, n: int) -> None:
    cb = attempt(ex.StopAfterNBatches, n)
    steps, events = run_with(cb)
    assert steps == n, f"StopAfterNBatches({n}): expected exactly {n} optimizer steps, got {steps}"
    last_step = len(events) - 1 - events[::-1].index("after_step")
    later = [e for e in events[last_step + 1:] if e in ("begin_batch", "begin_epoch", "begin_validate")]
    assert not later, f"StopAfterNBatches({n}): after the {n}-th step training should stop, but the Runner went on with {later}"
    assert "after_cancel_train" in events, (
        f"StopAfterNBatches({n}): expected training to be cancelled (raise CancelTrainException), "
        f"but the Runner never fired after_cancel_train"
    )


@pytest.mark.parametrize("n", [18, 50])
def test_stop_after_n_batches_lets_a_short_fit_finish(ex: ModuleType, n: int) -> None:
    # 3 epochs of 6 batches: with n >= 18 the whole fit runs, validation included
    cb = attempt(ex.StopAfterNBatches, n)
    steps, events = run_with(cb)
    assert steps == EPOCHS * 6, f"StopAfterNBatches({n}) on a fit of {EPOCHS * 6} batches: expected {EPOCHS * 6} steps, got {steps}"
    assert events.count("after_epoch") == EPOCHS - (n == 18), (
        f"StopAfterNBatches({n}): expected {EPOCHS - (n == 18)} complete epochs, got {events.count('after_epoch')}"
    )
