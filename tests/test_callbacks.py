"""Tests for foundations.callbacks: metrics and the recorder, the scheduler, devices, batch transforms, the LR finder.

Averages are checked against the loss and accuracy of the whole dataset in one go; schedules
against the schedule functions evaluated at ``n_epochs / epochs``; the finder's learning rates
against ``torch.logspace`` (an exponential sweep is evenly spaced on a log scale), its stopping
against a scripted sequence of losses, and its restore against the weights and optimizer state from
before the sweep. Devices are checked with PyTorch's ``meta`` device (tensors with shapes but no
data), so the move is visible on a machine without a GPU. The file covers two lessons: metrics,
recorder and scheduler are Lesson 9, devices, transforms and the finder Lesson 10 (a mark per test).
"""

from __future__ import annotations

import importlib
import inspect
import math
import re
import pkgutil
from functools import partial
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from conftest import CLOSE64, EXACT, F64, tiny_data  # noqa: E402
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from torch import Tensor, nn  # noqa: E402

import foundations  # noqa: E402
from foundations.callbacks import (  # noqa: E402
    AvgStats,
    AvgStatsCallback,
    BatchTransformCallback,
    DeviceCallback,
    LRFinder,
    ParamScheduler,
    Recorder,
    default_device,
    lr_finder_should_stop,
    view_tfm,
)
from foundations.data import DataBunch  # noqa: E402
from foundations.learner import Callback, CancelTrainException, Learner, Order  # noqa: E402
from foundations.losses import accuracy, cross_entropy  # noqa: E402
from foundations.schedule import combine_scheds, cos_1cycle_anneal, sched_cos, sched_lin  # noqa: E402
from foundations.testing import check_close  # noqa: E402

lesson09, lesson10 = pytest.mark.lesson09, pytest.mark.lesson10

N_TRAIN, N_VALID, N_IN, N_OUT, BS = 24, 8, 16, 3, 6  # 4 training batches per epoch, 1 validation batch
TRAIN_BATCHES = 4


def make_data(seed: int = 0, bs: int = BS) -> DataBunch:
    return tiny_data(N_TRAIN, N_VALID, N_IN, N_OUT, bs, seed=seed)


def make_model(seed: int = 0) -> nn.Sequential:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(N_IN, 8), nn.ReLU(), nn.Linear(8, N_OUT))


def make_learner(seed: int = 0, lr: float = 0.1, bs: int = BS, model: nn.Module | None = None, **kwargs: Any) -> Learner:
    model = make_model(seed) if model is None else model
    return Learner(model, make_data(seed, bs), cross_entropy, lr=lr, **kwargs)


def two_groups(second_lr: float | None = None) -> Any:
    """A splitter: the first layer in one parameter group, the rest in another (with its own lr)."""

    def split(model: nn.Module) -> list[dict[str, Any]]:
        ps = list(model.parameters())
        rest: dict[str, Any] = {"params": ps[2:]} if second_lr is None else {"params": ps[2:], "lr": second_lr}
        return [{"params": ps[:2]}, rest]

    return split


class Counter(Callback):
    """Counts training and validation batches and optimizer steps."""

    def begin_fit(self) -> None:
        self.train_batches, self.valid_batches, self.steps = 0, 0, 0

    def after_step(self) -> None:
        self.steps += 1

    def after_batch(self) -> None:
        if self.in_train:
            self.train_batches += 1
        else:
            self.valid_batches += 1


class Peek(Callback):
    """At the first begin_batch, records what the model is about to see, then stops training."""

    def __init__(self, order: int) -> None:
        self.order = order  # type: ignore[misc]

    def begin_batch(self) -> None:
        self.seen = {
            "xb": (self.xb.device.type, tuple(self.xb.shape)),
            "yb": self.yb.device.type,
            "params": {p.device.type for p in self.model.parameters()},
        }
        raise CancelTrainException()


class LrSpy(Callback):
    """The learning rate of every parameter group before each training batch (after the schedulers)."""

    order = Order.HYPER + 1

    def __init__(self) -> None:
        self.lrs: list[list[float]] = []

    def begin_batch(self) -> None:
        if self.in_train:
            self.lrs.append([pg["lr"] for pg in self.opt.param_groups])


class OneStep(Callback):
    def after_step(self) -> None:
        raise CancelTrainException()


def library_callbacks() -> list[type[Callback]]:
    """Every Callback subclass defined in a module of foundations."""
    found = set()
    for info in pkgutil.walk_packages(foundations.__path__, "foundations."):
        if info.name.endswith("__main__"):
            continue
        for _, obj in inspect.getmembers(importlib.import_module(info.name), inspect.isclass):
            if issubclass(obj, Callback) and obj.__module__.startswith("foundations."):
                found.add(obj)
    return sorted(found, key=lambda c: c.__name__)


@lesson09
def test_every_library_callback_uses_a_value_of_the_order_table() -> None:
    table = {v: k for k, v in vars(Order).items() if k.isupper()}
    cbs = library_callbacks()
    assert len(cbs) >= 9, [c.__name__ for c in cbs]
    off_table = {c.__name__: c.order for c in cbs if c.order not in table}
    assert not off_table, f"callbacks whose order is not a value of Order: {off_table}"
    placed = {c.__name__: table[c.order] for c in cbs}
    assert {k: placed[k] for k in ("DeviceCallback", "TrainEvalCallback", "AvgStatsCallback", "Recorder",
                                   "ParamScheduler", "LRFinder", "BatchTransformCallback")} == {
        "DeviceCallback": "DEVICE", "TrainEvalCallback": "TRAIN_EVAL", "AvgStatsCallback": "DEFAULT",
        "Recorder": "DEFAULT", "ParamScheduler": "HYPER", "LRFinder": "HYPER", "BatchTransformCallback": "TRANSFORM"}


@lesson09
def test_no_library_callback_has_an_attribute_named_like_learner_state() -> None:
    from foundations.learner import LEARNER_STATE

    clashes = {c.__name__: sorted(n for n in vars(c) if n in LEARNER_STATE) for c in library_callbacks()}
    assert not {k: v for k, v in clashes.items() if v}, clashes


# ---- AvgStats, AvgStatsCallback (Lesson 9) ---------------------------------------------------------------


@lesson09
def test_avg_stats_weights_batches_by_size() -> None:
    class FakeLearner:
        def __init__(self, n: int, loss: float, correct: int) -> None:
            self.xb = torch.zeros(n, 2)
            self.loss = torch.tensor(loss)
            self.pred = torch.zeros(n, 2)
            self.pred[:correct, 1] = 1.0
            self.yb = torch.ones(n, dtype=torch.long)

    stats = AvgStats([accuracy], in_train=True)
    assert repr(stats) == "train: no batches yet"
    assert all(math.isnan(v) for v in stats.averages)
    stats.accumulate(FakeLearner(3, 1.0, 3))
    stats.accumulate(FakeLearner(1, 5.0, 0))
    assert stats.count == 4 and stats.names == ["loss", "accuracy"]
    assert stats.totals == pytest.approx([3 * 1.0 + 1 * 5.0, 3.0])
    assert stats.averages == pytest.approx([(3 * 1.0 + 1 * 5.0) / 4, 3 / 4])  # not (1 + 5)/2 and (1 + 0)/2
    assert repr(stats) == "train: loss 2.0000, accuracy 0.7500"
    stats.reset()
    assert stats.count == 0 and stats.totals == [0.0, 0.0]
    with pytest.raises(TypeError, match=r"AvgStats: expected metrics to be functions of \(pred, yb\), got str"):
        AvgStats(["accuracy"], in_train=False)


@lesson09
@pytest.mark.parametrize("bs", [3, 4, 7])
def test_validation_stats_equal_the_whole_validation_set(bs: int) -> None:
    # the validation pass uses the final weights, so its batch-size-weighted averages must equal the
    # loss and accuracy of the whole validation set in one go (batches of bs*2 with a smaller last one)
    learn = make_learner(seed=1, bs=bs, cbs=[AvgStatsCallback([accuracy], verbose=False)])
    learn.fit(2)
    x, y = learn.data.valid_ds.x, learn.data.valid_ds.y
    with torch.no_grad():
        out = learn.model(x)
    loss, acc = learn.avg_stats.valid_stats.averages
    assert learn.avg_stats.valid_stats.count == N_VALID
    assert loss == pytest.approx(cross_entropy(out, y).item(), rel=1e-6)
    assert acc == pytest.approx(accuracy(out, y).item(), rel=1e-6)
    assert learn.avg_stats.train_stats.count == N_TRAIN


@lesson09
def test_avg_stats_callback_prints_one_line_per_epoch(capsys: pytest.CaptureFixture[str]) -> None:
    learn = make_learner(cbs=[AvgStatsCallback(accuracy)])
    learn.fit(2)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and lines[0].startswith("epoch 1: train: loss ") and " | valid: loss " in lines[1]
    train, valid = learn.avg_stats.train_stats, learn.avg_stats.valid_stats
    assert lines[1] == f"epoch 2: {train} | {valid}"
    assert f"accuracy {valid.averages[1]:.4f}" in lines[1]


# ---- Recorder (Lesson 9) ---------------------------------------------------------------------------------


@lesson09
def test_recorder_records_every_group_and_the_loss_the_step_used() -> None:
    scheds = [sched_cos(0.4, 0.1), sched_lin(0.02, 0.0)]
    losses: list[float] = []

    class LossSpy(Callback):
        def after_loss(self) -> None:
            if self.in_train:
                losses.append(self.loss.item())

    learn = make_learner(seed=6, splitter=two_groups(), cbs=[ParamScheduler("lr", scheds), Recorder(), LossSpy()])
    learn.fit(2)
    total = 2 * TRAIN_BATCHES
    for g, sched in enumerate(scheds):
        check_close(torch.tensor(learn.recorder.group_lrs[g], dtype=F64),
                    torch.tensor([sched(i / total) for i in range(total)], dtype=F64),
                    what=f"lrs of parameter group {g}", **CLOSE64)
    assert learn.recorder.lrs == learn.recorder.group_lrs[-1] and len(learn.recorder.group_lrs) == 2
    assert learn.recorder.losses == losses and len(losses) == total


@lesson09
def test_recorder_starts_afresh_each_fit() -> None:
    learn = make_learner(cbs=[Recorder()])
    learn.fit(2)
    learn.fit(1)
    assert len(learn.recorder.losses) == TRAIN_BATCHES and learn.recorder.lrs == [0.1] * TRAIN_BATCHES


@lesson09
def test_recorder_plots() -> None:
    learn = make_learner(cbs=[ParamScheduler("lr", sched_lin(0.1, 0.0)), Recorder()])
    learn.fit(1)
    rec = learn.recorder
    ax = rec.plot_lr()
    assert (ax.get_title(), ax.get_xlabel(), ax.get_ylabel()) == ("Learning rate during training", "training batch", "learning rate")
    x, y = ax.lines[0].get_data()
    assert list(y) == rec.lrs and len(x) == TRAIN_BATCHES
    assert ax.get_legend().get_texts()[0].get_text() == "parameter group 0"
    ax = rec.plot_loss(label="run 1")
    assert ax.get_ylabel() == "loss" and list(ax.lines[0].get_data()[1]) == rec.losses
    assert ax.get_legend().get_texts()[0].get_text() == "run 1"
    with pytest.raises(ValueError, match=re.escape("Recorder.plot_lr: expected pgid (for 1 parameter groups) to be an int in [-1, 0], got int 1")):
        rec.plot_lr(1)
    for call, name in [(Recorder().plot_loss, "plot_loss"), (Recorder().plot_lr, "plot_lr"), (lambda: Recorder().lrs, "lrs")]:
        with pytest.raises(ValueError, match=rf"Recorder.{name}: nothing recorded yet: run fit first"):
            call()
    plt.close("all")


# ---- ParamScheduler (Lesson 9) ---------------------------------------------------------------------------


@lesson09
@pytest.mark.parametrize("epochs", [1, 3])
def test_param_scheduler_sets_lr_to_sched_of_pos_before_each_batch(epochs: int) -> None:
    sched = combine_scheds([0.3, 0.7], cos_1cycle_anneal(0.3, 0.6, 0.2))
    spy = LrSpy()
    learn = make_learner(cbs=[ParamScheduler("lr", sched), spy, Recorder()])
    learn.fit(epochs)
    total = epochs * TRAIN_BATCHES
    expected = torch.tensor([sched(i / total) for i in range(total)], dtype=F64)
    check_close(torch.tensor([lr for [lr] in spy.lrs], dtype=F64), expected, what="lr before each batch", **CLOSE64)
    check_close(torch.tensor(learn.recorder.lrs, dtype=F64), expected, what="Recorder's lrs", **CLOSE64)


@lesson09
def test_param_scheduler_lr_is_the_one_the_step_uses() -> None:
    # one step of plain SGD moves p by exactly -lr * grad with the scheduled lr
    learn = make_learner(seed=5)
    before = [p.detach().clone() for p in learn.model.parameters()]
    xb, yb = next(iter(make_data(5).train_dl))  # the same first batch, from a twin
    grads = torch.autograd.grad(cross_entropy(learn.model(xb), yb), list(learn.model.parameters()))
    learn.fit(1, cbs=[ParamScheduler("lr", sched_lin(0.7, 0.0)), OneStep()])
    for p, p0, g in zip(learn.model.parameters(), before, grads):
        check_close(p, p0 - 0.7 * g, what="first step with lr sched_lin(0.7, 0)(0)", atol=1e-7)


@lesson09
def test_param_scheduler_leaves_validation_alone() -> None:
    seen: list[tuple[bool, float]] = []

    class Watch(Callback):
        order = Order.HYPER + 1

        def begin_batch(self) -> None:
            seen.append((self.in_train, self.opt.param_groups[0]["lr"]))

    make_learner(cbs=[ParamScheduler("lr", sched_lin(0.8, 0.0)), Watch()]).fit(1)
    assert [lr for t, lr in seen if t] == pytest.approx([0.8, 0.6, 0.4, 0.2])
    assert [lr for t, lr in seen if not t] == pytest.approx([0.2])  # the last training value, unchanged


@lesson09
def test_parameter_groups_get_their_own_schedules_and_errors_name_the_groups() -> None:
    scheds = [sched_cos(0.4, 0.1), sched_lin(0.02, 0.0)]
    learn = make_learner(seed=6, splitter=two_groups(0.01))
    with pytest.raises(ValueError, match=r"ParamScheduler: expected one schedule per parameter group \(2\), got 3"):
        learn.fit(1, cbs=[ParamScheduler("lr", scheds + scheds[:1])])
    with pytest.raises(ValueError, match=r"expected parameter group 0 to have 'mom', got keys \['lr', 'params'\]"):
        learn.fit(1, cbs=[ParamScheduler("mom", sched_lin(0.9, 0.8))])
    with pytest.raises(TypeError, match="ParamScheduler: expected pname to be a str such as 'lr', got int"):
        ParamScheduler(0, sched_lin(1, 0))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"ParamScheduler: expected schedules \(functions of pos\), got float"):
        ParamScheduler("lr", [sched_lin(1, 0), 0.5])  # type: ignore[list-item]


@lesson09
def test_param_scheduler_is_named_after_its_hyper_parameter() -> None:
    learn = make_learner(opt_func=partial(torch.optim.SGD, momentum=0.9),
                         cbs=[ParamScheduler("lr", sched_lin(0.1, 0.0)), ParamScheduler("momentum", sched_lin(0.9, 0.8))])
    assert learn.param_scheduler_lr.pname == "lr" and learn.param_scheduler_momentum.pname == "momentum"


# ---- DeviceCallback (Lesson 10) --------------------------------------------------------------------------


@lesson10
def test_device_callback_moves_model_and_batches() -> None:
    """On PyTorch's ``meta`` device (no GPU needed)."""
    peek = Peek(order=Order.DEFAULT)
    make_learner(cbs=[DeviceCallback("meta"), peek]).fit(1)
    assert peek.seen == {"xb": ("meta", (BS, N_IN)), "yb": "meta", "params": {"meta"}}


@lesson10
def test_device_callback_runs_first() -> None:
    peek = Peek(order=Order.DEVICE - 1)  # before DeviceCallback: sees the batch still on the CPU
    make_learner(model=nn.Linear(N_IN, N_OUT), cbs=[DeviceCallback(torch.device("meta")), peek]).fit(1)
    assert peek.seen["xb"][0] == "cpu" and DeviceCallback.order == Order.DEVICE


@lesson10
def test_device_callback_on_cpu_trains_like_no_callback() -> None:
    a, b = make_learner(seed=3), make_learner(seed=3, cbs=DeviceCallback("cpu"))
    a.fit(2)
    b.fit(2)
    for p, q in zip(a.model.parameters(), b.model.parameters()):
        check_close(q, p, what="weights after 2 epochs with DeviceCallback('cpu')", **EXACT)


@lesson10
def test_device_callback_needs_a_torch_module() -> None:
    from foundations.nn import Linear

    learn = Learner(Linear(N_IN, N_OUT), make_data(), cross_entropy, cbs=[DeviceCallback("cpu")])
    with pytest.raises(TypeError, match="DeviceCallback: expected the model to be a torch.nn.Module, got Linear"):
        learn.fit(1)


@lesson10
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_device_callback_on_cuda() -> None:
    learn = make_learner()
    params = list(learn.model.parameters())
    peek = Peek(order=Order.DEFAULT)
    learn.fit(1, cbs=[DeviceCallback(default_device()), peek])
    assert peek.seen == {"xb": ("cuda", (BS, N_IN)), "yb": "cuda", "params": {"cuda"}}
    # moved in place: the optimizer still holds the model's parameters
    assert all(a is b for a, b in zip(params, learn.model.parameters()))
    assert all(p.device.type == "cuda" for p in learn.opt.param_groups[0]["params"])
    learn.fit(1, cbs=[DeviceCallback("cuda"), Recorder()])  # and it trains there
    assert len(learn.recorder.losses) == TRAIN_BATCHES and all(math.isfinite(v) for v in learn.recorder.losses)


@lesson10
def test_default_device_and_bad_devices() -> None:
    assert default_device() == torch.device("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(TypeError, match="DeviceCallback: expected device to be a str or torch.device, got int"):
        DeviceCallback(0)  # type: ignore[arg-type]
    with pytest.raises(RuntimeError):
        DeviceCallback("gpu")


# ---- BatchTransformCallback and view_tfm (Lesson 10) ----------------------------------------------------


@lesson10
def test_view_tfm_shapes_and_errors() -> None:
    x = torch.arange(2 * 784.0).reshape(2, 784)
    out = view_tfm(1, 28, 28)(x)
    assert out.shape == (2, 1, 28, 28)
    assert torch.equal(out[1, 0, 3], x[1, 3 * 28 : 4 * 28])  # row-major: row 3 of image 1
    assert view_tfm(4, 4)(torch.zeros(5, 16)).shape == (5, 4, 4)
    with pytest.raises(ValueError, match=r"784 elements per sample to view as \(1, 28, 28\), got shape \(3, 100\)"):
        view_tfm(1, 28, 28)(torch.zeros(3, 100))
    with pytest.raises(ValueError, match=re.escape("view_tfm: expected the sizes of one sample, such as view_tfm(1, 28, 28), got none")):
        view_tfm()
    with pytest.raises(ValueError, match=r"view_tfm: expected size\[1\] to be a positive int, got int 0"):
        view_tfm(1, 0)
    with pytest.raises(TypeError, match=r"view_tfm: expected the batch to be a torch\.Tensor, got list \[1, 2\]"):
        view_tfm(2)([1, 2])  # type: ignore[arg-type]


@lesson10
def test_batch_transform_callback_changes_what_the_model_sees() -> None:
    peek = Peek(order=Order.TRANSFORM + 1)
    make_learner(cbs=[BatchTransformCallback(view_tfm(1, 4, 4)), peek]).fit(1)
    assert peek.seen["xb"] == ("cpu", (BS, 1, 4, 4))
    assert BatchTransformCallback.order == Order.TRANSFORM


@lesson10
def test_batch_transform_callback_trains_a_cnn() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 16, N_OUT))
    counter = Counter()
    learn = make_learner(model=model, cbs=[DeviceCallback("cpu"), BatchTransformCallback(view_tfm(1, 4, 4)), counter])
    learn.fit(2)
    assert (counter.train_batches, counter.valid_batches, counter.steps) == (8, 2, 8)
    with pytest.raises(TypeError, match="function of a batch, got int"):
        BatchTransformCallback(3)  # type: ignore[arg-type]


# ---- the stopping rule (Lesson 10) ----------------------------------------------------------------------


@lesson10
@pytest.mark.parametrize(
    ("losses", "iteration", "max_iter", "expected"),
    [
        ([2.3], 0, 100, False),
        ([2.3, 1.0, 9.9], 2, 100, False),  # 9.9 < 10 * 1.0
        ([2.3, 1.0, 10.5], 2, 100, True),  # 10.5 > 10 * 1.0
        ([2.3, 1.0, 0.5], 2, 3, False),
        ([2.3, 1.0, 0.5, 0.4], 3, 3, True),  # the batch at max_lr has run
        ([2.3, float("nan")], 1, 100, True),
        ([2.3, float("inf")], 1, 100, True),
        ([5.0, 4.0, 26.0], 2, 100, False),  # 26 < 10 * 4: only the best counts
    ],
)
def test_lr_finder_should_stop_cases(losses: list[float], iteration: int, max_iter: int, expected: bool) -> None:
    assert lr_finder_should_stop(losses, iteration, max_iter) is expected


@lesson10
@settings(max_examples=80)
@given(st.lists(st.floats(1e-3, 1e3), min_size=1, max_size=20), st.floats(1.5, 20))
def test_lr_finder_should_stop_matches_its_definition(losses: list[float], factor: float) -> None:
    it = len(losses) - 1
    assert lr_finder_should_stop(losses, it, it + 1, factor) is (losses[-1] > factor * min(losses))
    assert lr_finder_should_stop(losses, it, it, factor) is True
    assert lr_finder_should_stop(sorted(losses, reverse=True), it, it + 1, factor) is False


@lesson10
def test_lr_finder_should_stop_rejects_no_losses() -> None:
    with pytest.raises(ValueError, match="lr_finder_should_stop: expected at least one loss, got an empty list"):
        lr_finder_should_stop([], 0, 10)


# ---- LRFinder (Lesson 10) -------------------------------------------------------------------------------


class LateCounter(Counter):
    order = Order.HYPER + 1  # after the finder: misses the after_step in which it stops training


@lesson10
def test_lr_finder_sweeps_exponentially_and_stops_at_max_iter() -> None:
    finder, counter, late = LRFinder(max_iter=9, min_lr=1e-5, max_lr=1e-2), Counter(), LateCounter()
    make_learner(cbs=[finder, counter, late]).fit(10)  # 40 training batches available; the sweep needs 10
    expected = torch.logspace(-5, -2, 10, dtype=F64)
    check_close(torch.tensor(finder.lrs, dtype=F64), expected, what="LRFinder lrs, 1e-5 -> 1e-2", rtol=1e-12)
    assert len(finder.losses) == 10 and all(math.isfinite(l) for l in finder.losses)
    # the finder raises in after_step, so a callback after it misses the last after_step, but every
    # after_batch runs (it is in the loop's `finally`); no validation batches
    assert (counter.train_batches, counter.steps, counter.valid_batches) == (10, 10, 0)
    assert (late.train_batches, late.steps, late.valid_batches) == (10, 9, 0)
    assert finder.sweep_lr == pytest.approx(1e-2)


@lesson10
def test_lr_finder_sets_every_parameter_group() -> None:
    class GroupLrs(Callback):
        def begin_fit(self) -> None:
            self.seen: list[list[float]] = []

        def after_batch(self) -> None:
            self.seen.append([pg["lr"] for pg in self.opt.param_groups])

    spy = GroupLrs()
    finder = LRFinder(max_iter=4, min_lr=1e-4, max_lr=1.0)
    learn = make_learner(splitter=two_groups(0.3), cbs=[finder, spy])
    learn.fit(3)
    assert spy.seen == [[lr, lr] for lr in finder.lrs]
    assert [pg["lr"] for pg in learn.opt.param_groups] == [0.1, 0.3]  # restored


def scripted_loss(values: list[float]):  # noqa: ANN201
    """A loss function giving ``values`` in turn (with a gradient, so the optimizer can step)."""
    it = iter(values)

    def loss(pred: Tensor, yb: Tensor) -> Tensor:
        return pred.sum() * 0 + next(it)

    return loss


@lesson10
def test_lr_finder_stops_when_the_loss_explodes() -> None:
    finder, counter = LRFinder(max_iter=100), Counter()
    learn = Learner(make_model(), make_data(), scripted_loss([5.0, 4.0, 3.0, 2.0, 1.0, 9.0, 25.0, 1.0, 1.0]),
                    cbs=[finder, counter])
    learn.fit(5)
    assert finder.losses == [5.0, 4.0, 3.0, 2.0, 1.0, 9.0, 25.0]  # 25 > 10 * 1: stop after that batch
    assert counter.train_batches == 7 and counter.valid_batches == 0


@lesson10
def test_lr_finder_stops_on_a_real_explosion() -> None:
    finder = LRFinder(max_iter=60, min_lr=1e-4, max_lr=1e6)
    make_learner(seed=1, cbs=finder).fit(20)
    n = len(finder.losses)
    assert n < 61, "a learning rate of 1e6 should make the loss explode before the sweep ends"
    assert lr_finder_should_stop(finder.losses, n - 1, 60)
    assert not any(lr_finder_should_stop(finder.losses[: i + 1], i, 60) for i in range(n - 1))


@lesson10
def test_lr_finder_restores_the_model_and_optimizer() -> None:
    torch.manual_seed(2)
    model = nn.Sequential(nn.Linear(N_IN, 8), nn.BatchNorm1d(8), nn.Linear(8, N_OUT))
    learn = make_learner(seed=2, model=model, opt_func=partial(torch.optim.SGD, momentum=0.9))
    learn.fit(1)  # the optimizer exists, with momentum, before the sweep
    before = {k: v.clone() for k, v in learn.model.state_dict().items()}
    momentum = {i: s["momentum_buffer"].clone() for i, s in enumerate(learn.opt.state.values())}
    learn.fit(5, cbs=[LRFinder(max_iter=10, min_lr=1e-3, max_lr=10.0)])
    for name, value in learn.model.state_dict().items():  # weights and BatchNorm's running statistics
        check_close(value, before[name], what=f"{name} after the sweep (restored)", **EXACT)
    assert learn.opt.param_groups[0]["lr"] == 0.1
    after = {i: s["momentum_buffer"] for i, s in enumerate(learn.opt.state.values())}
    assert after.keys() == momentum.keys() and all(torch.equal(after[i], momentum[i]) for i in after)


@lesson10
def test_lr_finder_restores_a_fresh_optimizer_to_no_state() -> None:
    torch.manual_seed(2)
    model = nn.Sequential(nn.Linear(N_IN, 8), nn.BatchNorm1d(8), nn.Linear(8, N_OUT))
    learn = make_learner(seed=2, model=model, opt_func=partial(torch.optim.SGD, momentum=0.9))
    before = [p.detach().clone() for p in learn.model.parameters()]
    learn.fit(5, cbs=[LRFinder(max_iter=10, min_lr=1e-3, max_lr=10.0)])
    assert all(torch.equal(p, b) for p, b in zip(learn.model.parameters(), before))
    assert learn.opt.state_dict()["state"] == {}  # no momentum left over from the sweep
    assert int(learn.model[1].num_batches_tracked) == 0 and torch.equal(learn.model[1].running_mean, torch.zeros(8))


@lesson10
def test_lr_finder_without_restore_keeps_the_trained_weights() -> None:
    learn = make_learner(seed=2)
    before = [p.detach().clone() for p in learn.model.parameters()]
    learn.fit(5, cbs=[LRFinder(max_iter=5, min_lr=1e-3, max_lr=1.0, restore=False)])
    assert any(not torch.equal(p, b) for p, b in zip(learn.model.parameters(), before))
    assert learn.opt.param_groups[0]["lr"] == pytest.approx(1.0)


@lesson10
def test_lr_finder_plot_and_errors() -> None:
    finder = LRFinder(max_iter=7, min_lr=1e-4, max_lr=1e-1)
    with pytest.raises(ValueError, match="LRFinder.plot: nothing recorded yet: run fit first"):
        finder.plot()
    make_learner(cbs=finder).fit(3)
    ax = finder.plot(skip_last=2)
    (line,) = ax.get_lines()
    assert ax.get_xscale() == "log" and len(line.get_xdata()) == 6
    assert list(line.get_ydata()) == finder.losses[:6]
    plt.close("all")
    with pytest.raises(ValueError, match=re.escape("LRFinder.plot: expected skip_last (8 points recorded) to be an int in [0, 7], got int 8")):
        finder.plot(skip_last=8)
    for kwargs, error, msg in [
        ({"max_iter": 0}, ValueError, "max_iter to be a positive int, got int 0"),
        ({"max_iter": 2.5}, TypeError, "max_iter to be a positive int, got float 2.5"),
        ({"min_lr": 1.0, "max_lr": 0.1}, ValueError, "min_lr < max_lr, got min_lr=1, max_lr=0.1"),
        ({"min_lr": 0.0}, ValueError, "min_lr to be a finite number > 0, got float 0.0"),
        ({"factor": 1.0}, ValueError, "factor to be a finite number > 1, got float 1.0"),
        ({"restore": 1}, TypeError, "restore to be a bool, got int 1"),
    ]:
        with pytest.raises(error, match=re.escape(f"LRFinder: expected {msg}")):
            LRFinder(**kwargs)
