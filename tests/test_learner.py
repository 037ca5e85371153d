"""Tests for foundations.learner: the Runner's events, stopping, metrics, recording and scheduling.

The oracle for the loop itself is a hand-written training loop: with the same seed and the same
batches, the Runner must end with exactly the same weights and see exactly the same losses.
"""

from __future__ import annotations

from functools import partial

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from foundations.data import DataLoader, Dataset, Sampler, get_dls  # noqa: E402
from foundations.learner import (  # noqa: E402
    EVENTS,
    AvgStats,
    AvgStatsCallback,
    Callback,
    CancelBatchException,
    CancelEpochException,
    CancelTrainException,
    DataBunch,
    Learner,
    ParamScheduler,
    Recorder,
    Runner,
    TrainEvalCallback,
    camel2snake,
    get_model,
    listify,
)
from foundations.losses import accuracy, cross_entropy  # noqa: E402
from foundations.nn import Linear, ReLU, Sequential  # noqa: E402
from foundations.optim import SGD  # noqa: E402
from foundations.schedule import combine_scheds, cos_1cycle_anneal, sched_cos, sched_lin  # noqa: E402
from foundations.testing import check_close  # noqa: E402

pytestmark = pytest.mark.lesson09

N_TRAIN, N_VALID, N_IN, N_OUT = 20, 10, 4, 3
BS = 6  # training batches of 6, 6, 6, 2; validation batches of 12 -> one batch of 10
TRAIN_BATCHES = 4


def make_data(seed: int = 0, bs: int = BS) -> DataBunch:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(N_TRAIN + N_VALID, N_IN, generator=g)
    y = torch.randint(0, N_OUT, (N_TRAIN + N_VALID,), generator=g)
    train_ds, valid_ds = Dataset(x[:N_TRAIN], y[:N_TRAIN]), Dataset(x[N_TRAIN:], y[N_TRAIN:])
    return DataBunch(*get_dls(train_ds, valid_ds, bs, generator=torch.Generator().manual_seed(seed + 1)), c_in=N_IN, c_out=N_OUT)


def make_learner(seed: int = 0, lr: float = 0.1, bs: int = BS) -> Learner:
    torch.manual_seed(seed)
    model = Sequential(Linear(N_IN, 5), ReLU(), Linear(5, N_OUT))
    return Learner(model, SGD(model.parameters(), lr), cross_entropy, make_data(seed, bs))


class Spy(Callback):
    """Records every event with the runner's state at that moment."""

    _order = 5

    def __init__(self) -> None:
        self.log: list[tuple[str, bool, bool, bool]] = []


def _spy_method(event: str):  # noqa: ANN202
    def method(self: Spy) -> None:
        self.log.append((event, self.run.in_train, self.model.training, torch.is_grad_enabled()))

    return method


for _event in EVENTS:
    setattr(Spy, _event, _spy_method(_event))


def expected_events(epochs: int, train_batches: int, valid_batches: int) -> list[str]:
    """The documented order of events for an uninterrupted fit."""
    train = ["begin_batch", "after_pred", "after_loss", "after_backward", "after_step", "after_batch"]
    valid = ["begin_batch", "after_pred", "after_loss", "after_batch"]
    out = ["begin_fit"]
    for _ in range(epochs):
        out += ["begin_epoch"] + train * train_batches + ["begin_validate"] + valid * valid_batches + ["after_epoch"]
    return out + ["after_fit"]


# ---- the loop ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("epochs", [1, 2])
def test_runner_fires_events_in_documented_order(epochs: int) -> None:
    spy = Spy()
    Runner(cbs=[spy]).fit(epochs, make_learner())
    assert [e for e, *_ in spy.log] == expected_events(epochs, TRAIN_BATCHES, 1)
    # training batches run in training mode with gradients; validation ones in eval mode without
    for event, in_train, training, grad in spy.log:
        if event in ("after_backward", "after_step"):
            assert in_train and training and grad
    validating = False
    for event, in_train, training, grad in spy.log:
        validating = (validating or event == "begin_validate") and event != "after_epoch"
        if event in ("begin_batch", "after_loss", "after_batch"):
            assert (in_train, training, grad) == ((False, False, False) if validating else (True, True, True)), event


def test_no_backward_or_step_during_validation() -> None:
    learn = make_learner()
    states: list[str] = []
    run = Runner()
    for p in learn.model.parameters():
        p.register_hook(lambda g: states.append(f"backward in_train={run.in_train}"))
    step = learn.opt.step

    def counting_step() -> None:
        states.append(f"step in_train={run.in_train}")
        step()

    learn.opt.step = counting_step
    run.fit(3, learn)
    n_params = len(list(learn.model.parameters()))
    assert states.count("step in_train=True") == 3 * TRAIN_BATCHES
    assert states.count("backward in_train=True") == 3 * TRAIN_BATCHES * n_params
    assert not [s for s in states if s.endswith("False")]


def _hand_loop(learn: Learner, epochs: int) -> list[float]:
    """The loop of lessons/09_minibatch, written out: the oracle for the Runner."""
    losses = []
    for _ in range(epochs):
        learn.model.train()
        for xb, yb in learn.data.train_dl:
            loss = learn.loss_func(learn.model(xb), yb)
            loss.backward()
            learn.opt.step()
            learn.opt.zero_grad()
            losses.append(loss.item())
        learn.model.eval()
        with torch.no_grad():
            for xb, yb in learn.data.valid_dl:
                learn.loss_func(learn.model(xb), yb)
    return losses


@pytest.mark.parametrize("epochs,seed", [(1, 0), (2, 3)])
def test_runner_trains_exactly_like_a_hand_written_loop(epochs: int, seed: int) -> None:
    by_hand, by_runner = make_learner(seed), make_learner(seed)
    losses = _hand_loop(by_hand, epochs)
    run = Runner(cb_funcs=Recorder)
    run.fit(epochs, by_runner)
    for (name, p), q in zip(by_hand.model.named_parameters(), by_runner.model.parameters()):
        check_close(q, p, what=f"{name} after {epochs} epoch(s) with the Runner vs by hand", atol=0, rtol=0)
    check_close(torch.tensor(run.recorder.losses), torch.tensor(losses), what="per-batch training losses", atol=0, rtol=0)
    assert len(run.recorder.losses) == epochs * TRAIN_BATCHES


def test_runner_on_mnist_sized_mlp_matches_hand_loop() -> None:
    # get_model's 784-50-10 MLP on a slice of MNIST-shaped data: weights equal after one epoch
    g = torch.Generator().manual_seed(7)
    x, y = torch.rand(300, 784, generator=g), torch.randint(0, 10, (300,), generator=g)
    learners = []
    for _ in range(2):
        data = DataBunch(*get_dls(Dataset(x[:200], y[:200]), Dataset(x[200:], y[200:]), 32,
                                  generator=torch.Generator().manual_seed(1)), c_in=784, c_out=10)
        torch.manual_seed(0)
        model, opt = get_model(data, lr=0.5, nh=50)
        learners.append(Learner(model, opt, cross_entropy, data))
    _hand_loop(learners[0], 1)
    Runner().fit(1, learners[1])
    for (name, p), q in zip(learners[0].model.named_parameters(), learners[1].model.parameters()):
        check_close(q, p, what=f"MLP {name}", atol=0, rtol=0)


def test_train_eval_callback_tracks_progress() -> None:
    seen: list[tuple[float, int]] = []

    class Progress(Callback):
        _order = 1

        def begin_batch(self) -> None:
            if self.in_train:
                seen.append((self.n_epochs, self.n_iter))

    run = Runner(cb_funcs=Progress)
    learn = make_learner()
    run.fit(2, learn)
    assert [n for _, n in seen] == list(range(2 * TRAIN_BATCHES))
    assert [e for e, _ in seen] == pytest.approx([i / TRAIN_BATCHES for i in range(2 * TRAIN_BATCHES)], abs=1e-12)
    assert run.n_epochs == 2.0 and run.n_iter == 2 * TRAIN_BATCHES
    assert learn.model.training is False and all(m.training is False for m in learn.model.modules())
    assert isinstance(run.train_eval, TrainEvalCallback)


# ---- stopping -------------------------------------------------------------------------------------------


class StopAfter(Callback):
    def __init__(self, n: int) -> None:
        self.n, self.seen = n, 0

    def after_step(self) -> None:
        self.seen += 1
        if self.seen >= self.n:
            raise CancelTrainException()


@pytest.mark.parametrize("n", [1, 2, TRAIN_BATCHES, TRAIN_BATCHES + 1, 3 * TRAIN_BATCHES - 1])
def test_a_callback_stops_training_after_exactly_n_batches(n: int) -> None:
    spy, learn, steps = Spy(), make_learner(), []
    step = learn.opt.step
    learn.opt.step = lambda: (steps.append(1), step())
    run = Runner(cbs=[StopAfter(n), spy])
    run.fit(3, learn)
    events = [e for e, *_ in spy.log]
    assert len(steps) == n and events.count("after_backward") == n
    assert run.n_iter == n  # after_batch still ran for the batch that stopped training
    assert events.count("after_cancel_train") == 1 and events[-2:] == ["after_cancel_train", "after_fit"]
    assert events.count("begin_validate") == n // TRAIN_BATCHES - (n % TRAIN_BATCHES == 0)


def test_stopping_leaves_the_weights_of_the_last_step() -> None:
    # stopping after 3 steps gives the weights of a hand loop that runs 3 steps
    learn = make_learner(seed=2)
    Runner(cbs=[StopAfter(3)]).fit(5, learn)
    ref = make_learner(seed=2)
    for i, (xb, yb) in enumerate(ref.data.train_dl):
        if i == 3:
            break
        ref.loss_func(ref.model(xb), yb).backward()
        ref.opt.step()
        ref.opt.zero_grad()
    for p, q in zip(ref.model.parameters(), learn.model.parameters()):
        check_close(q, p, what="weights after stopping at 3 batches", atol=0, rtol=0)


def test_cancel_batch_skips_the_update_and_leaks_no_gradient() -> None:
    class SkipOddBatches(Callback):
        def after_backward(self) -> None:
            if self.iter % 2 == 1:
                raise CancelBatchException()

    spy = Spy()
    learn = make_learner(seed=4)
    Runner(cbs=[SkipOddBatches(), spy]).fit(1, learn)
    events = [e for e, *_ in spy.log]
    assert events.count("after_step") == TRAIN_BATCHES // 2
    assert events.count("after_cancel_batch") == TRAIN_BATCHES // 2
    assert events.count("after_batch") == TRAIN_BATCHES + 1
    # oracle: a hand loop that simply leaves out the odd batches
    ref = make_learner(seed=4)
    for i, (xb, yb) in enumerate(ref.data.train_dl):
        if i % 2 == 0:
            ref.loss_func(ref.model(xb), yb).backward()
            ref.opt.step()
            ref.opt.zero_grad()
    for p, q in zip(ref.model.parameters(), learn.model.parameters()):
        check_close(q, p, what="weights after skipping odd batches", atol=0, rtol=0)


def test_cancel_epoch_skips_a_pass() -> None:
    class SkipTraining(Callback):
        def begin_epoch(self) -> None:
            raise CancelEpochException()

    class SkipValidation(Callback):
        def begin_validate(self) -> None:
            raise CancelEpochException()

    spy = Spy()
    learn = make_learner()
    before = [p.clone() for p in learn.model.parameters()]
    Runner(cbs=[SkipTraining(), spy]).fit(2, learn)
    events = [e for e, *_ in spy.log]
    assert "after_step" not in events and events.count("after_cancel_epoch") == 2
    assert events.count("after_loss") == 2  # the validation batch of each epoch still runs
    for p, q in zip(before, learn.model.parameters()):
        check_close(q, p, what="weights when every training pass is cancelled", atol=0, rtol=0)

    spy = Spy()
    Runner(cbs=[SkipValidation(), spy]).fit(2, make_learner())
    events = [e for e, *_ in spy.log]
    assert events.count("after_step") == 2 * TRAIN_BATCHES and events.count("after_loss") == 2 * TRAIN_BATCHES
    assert events.count("after_epoch") == 2


def test_returning_true_is_an_error_not_a_silent_no_op() -> None:
    class OldStyleStop(Callback):
        def after_step(self) -> bool:
            return True

    with pytest.raises(TypeError, match=r"OldStyleStop\.after_step: expected callbacks to return None, got True.*CancelTrainException"):
        Runner(cbs=[OldStyleStop()]).fit(1, make_learner())


def test_misspelt_events_and_name_clashes_are_rejected() -> None:
    class Typo(Callback):
        def after_bacth(self) -> None: ...

    with pytest.raises(ValueError, match=r"Typo defines \['after_bacth'\], which are not events"):
        Runner(cbs=[Typo()])
    with pytest.raises(ValueError, match=r"a callback named 'avg_stats'"):
        Runner(cb_funcs=[partial(AvgStatsCallback, accuracy)] * 2)
    with pytest.raises(TypeError, match=r"expected cbs to give Callback objects, got function"):
        Runner(cbs=[lambda: None])
    with pytest.raises(ValueError, match=r"expected epochs to be a positive int, got 0"):
        Runner().fit(0, make_learner())
    with pytest.raises(TypeError, match=r"expected learn to be a Learner, got tuple"):
        Runner().fit(1, (1, 2))


# ---- metrics ----------------------------------------------------------------------------------------------


def test_avg_stats_weights_batches_by_size() -> None:
    class FakeRun:
        def __init__(self, n: int, loss: float, correct: int) -> None:
            self.xb = torch.zeros(n, 2)
            self.loss = torch.tensor(loss)
            self.pred = torch.zeros(n, 2)
            self.pred[:correct, 1] = 1.0
            self.yb = torch.ones(n, dtype=torch.long)

    stats = AvgStats([accuracy], in_train=True)
    assert repr(stats) == "train: no batches yet"
    stats.accumulate(FakeRun(3, 1.0, 3))
    stats.accumulate(FakeRun(1, 5.0, 0))
    assert stats.count == 4
    assert stats.avg_stats == pytest.approx([(3 * 1.0 + 1 * 5.0) / 4, 3 / 4])  # not (1 + 5)/2 and (1 + 0)/2
    assert repr(stats) == "train: loss 2.0000, accuracy 0.7500"
    stats.reset()
    assert stats.count == 0 and stats.all_stats == [0.0, 0.0]


@pytest.mark.parametrize("bs", [3, 4, 7])
def test_validation_stats_equal_the_whole_validation_set(bs: int) -> None:
    # the validation pass uses the final weights, so its batch-size-weighted averages must equal the
    # loss and accuracy of the whole validation set in one go (batches of bs*2 with a smaller last one)
    learn = make_learner(seed=1, bs=bs)
    run = Runner(cb_funcs=partial(AvgStatsCallback, [accuracy], verbose=False))
    run.fit(2, learn)
    x, y = learn.data.valid_ds.x, learn.data.valid_ds.y
    with torch.no_grad():
        out = learn.model(x)
    loss, acc = run.avg_stats.valid_stats.avg_stats
    assert run.avg_stats.valid_stats.count == N_VALID
    assert loss == pytest.approx(cross_entropy(out, y).item(), rel=1e-6)
    assert acc == pytest.approx(accuracy(out, y).item(), rel=1e-6)
    assert run.avg_stats.train_stats.count == N_TRAIN


def test_avg_stats_callback_prints_one_line_per_epoch(capsys: pytest.CaptureFixture[str]) -> None:
    Runner(cb_funcs=partial(AvgStatsCallback, accuracy)).fit(2, make_learner())
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and lines[0].startswith("epoch 1: train: loss ") and " | valid: loss " in lines[1]


# ---- recording and scheduling --------------------------------------------------------------------------------


class LrSpy(Callback):
    _order = 2  # after ParamScheduler (1)

    def __init__(self) -> None:
        self.lrs: list[list[float]] = []

    def begin_batch(self) -> None:
        if self.in_train:
            self.lrs.append([pg["lr"] for pg in self.opt.param_groups])


@pytest.mark.parametrize("epochs", [1, 3])
def test_param_scheduler_sets_lr_to_sched_of_pos_before_each_batch(epochs: int) -> None:
    sched = combine_scheds([0.3, 0.7], cos_1cycle_anneal(0.3, 0.6, 0.2))
    spy = LrSpy()
    run = Runner(cbs=[ParamScheduler("lr", sched), spy, Recorder()])
    run.fit(epochs, make_learner())
    total = epochs * TRAIN_BATCHES
    expected = torch.tensor([sched(i / total) for i in range(total)], dtype=torch.float64)
    check_close(torch.tensor([lr for [lr] in spy.lrs], dtype=torch.float64), expected, what="lr before each batch", atol=1e-12)
    check_close(torch.tensor(run.recorder.lrs[0], dtype=torch.float64), expected, what="Recorder's lrs", atol=1e-12)


def test_param_scheduler_lr_is_the_one_the_step_uses() -> None:
    # one step of plain SGD moves p by exactly -lr * grad with the scheduled lr
    learn = make_learner(seed=5)
    before = [p.detach().clone() for p in learn.model.parameters()]
    xb, yb = next(iter(make_learner(seed=5).data.train_dl))  # the same first batch, from a twin
    grads = torch.autograd.grad(learn.loss_func(learn.model(xb), yb), list(learn.model.parameters()))

    class OneStep(Callback):
        def after_step(self) -> None:
            raise CancelTrainException()

    Runner(cbs=[ParamScheduler("lr", sched_lin(0.7, 0.0)), OneStep()]).fit(1, learn)
    for p, p0, g in zip(learn.model.parameters(), before, grads):
        check_close(p, p0 - 0.7 * g, what="first step with lr sched_lin(0.7, 0)(0)", atol=1e-7)


def test_parameter_groups_get_their_own_schedules() -> None:
    learn = make_learner(seed=6)
    weights = [p for name, p in learn.model.named_parameters() if name.endswith("weight")]
    biases = [p for name, p in learn.model.named_parameters() if name.endswith("bias")]
    learn.opt = SGD([{"params": weights}, {"params": biases, "lr": 0.01}], lr=0.1)
    scheds = [sched_cos(0.4, 0.1), sched_lin(0.02, 0.0)]
    run = Runner(cbs=[ParamScheduler("lr", scheds), Recorder()])
    run.fit(2, learn)
    total = 2 * TRAIN_BATCHES
    for g, sched in enumerate(scheds):
        check_close(torch.tensor(run.recorder.lrs[g], dtype=torch.float64),
                    torch.tensor([sched(i / total) for i in range(total)], dtype=torch.float64),
                    what=f"lrs of parameter group {g}", atol=1e-12)
    assert run.recorder.lrs[0] != run.recorder.lrs[1]
    with pytest.raises(ValueError, match=r"expected one schedule per parameter group \(2\), got 3"):
        Runner(cbs=[ParamScheduler("lr", scheds + scheds[:1])]).fit(1, learn)
    with pytest.raises(ValueError, match=r"expected parameter group 0 to have 'mom', got keys \['lr', 'params'\]"):
        Runner(cbs=[ParamScheduler("mom", sched_lin(0.9, 0.8))]).fit(1, learn)


def test_parameter_groups_step_with_their_own_lr() -> None:
    learn = make_learner(seed=8)
    named = dict(learn.model.named_parameters())
    learn.opt = SGD([{"params": [p for n, p in named.items() if n.endswith("weight")], "lr": 0.5},
                     {"params": [p for n, p in named.items() if n.endswith("bias")], "lr": 0.05}], lr=0.1)
    before = {n: p.detach().clone() for n, p in named.items()}
    xb, yb = next(iter(make_learner(seed=8).data.train_dl))  # the same first batch, from a twin
    grads = dict(zip(named, torch.autograd.grad(learn.loss_func(learn.model(xb), yb), list(named.values()))))

    class OneStep(Callback):
        def after_step(self) -> None:
            raise CancelTrainException()

    Runner(cbs=[OneStep()]).fit(1, learn)
    for n, p in named.items():
        lr = 0.5 if n.endswith("weight") else 0.05
        check_close(p, before[n] - lr * grads[n], what=f"{n} after one step at lr {lr}", atol=1e-7)


@settings(deadline=None, max_examples=15)
@given(epochs=st.integers(min_value=1, max_value=3), seed=st.integers(min_value=0, max_value=100))
def test_recorder_losses_are_the_losses_computed(epochs: int, seed: int) -> None:
    class LossSpy(Callback):
        def __init__(self) -> None:
            self.losses: list[float] = []

        def after_loss(self) -> None:
            if self.in_train:
                # recompute from the batch the model just saw (before its step)
                self.losses.append(cross_entropy(self.pred, self.yb).item())

    spy = LossSpy()
    run = Runner(cbs=[Recorder(), spy])
    run.fit(epochs, make_learner(seed))
    assert run.recorder.losses == spy.losses
    assert len(run.recorder.lrs) == 1 and run.recorder.lrs[0] == [0.1] * (epochs * TRAIN_BATCHES)


def test_recorder_plots() -> None:
    run = Runner(cbs=[ParamScheduler("lr", sched_lin(0.1, 0.0)), Recorder()])
    run.fit(1, make_learner())
    ax = run.recorder.plot_lr()
    assert ax.get_xlabel() == "training batch" and ax.get_ylabel() == "learning rate" and ax.get_title()
    x, y = ax.lines[0].get_data()
    assert list(y) == run.recorder.lrs[-1] and len(x) == TRAIN_BATCHES
    ax = run.recorder.plot_loss()
    assert ax.get_ylabel() == "loss" and list(ax.lines[0].get_data()[1]) == run.recorder.losses
    with pytest.raises(ValueError, match=r"expected pgid in \[-1, 1\) for 1 parameter groups, got 1"):
        run.recorder.plot_lr(1)
    with pytest.raises(ValueError, match="nothing recorded yet"):
        Recorder().plot_loss()
    plt.close("all")


# ---- the pieces ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name,snake",
    [("TrainEvalCallback", "train_eval_callback"), ("AvgStats", "avg_stats"), ("Recorder", "recorder"),
     ("HTTPServer", "http_server"), ("LR_Find", "lr_find"), ("Conv2dBlock", "conv2d_block"), ("x", "x")],
)
def test_camel2snake(name: str, snake: str) -> None:
    assert camel2snake(name) == snake


def test_callback_names_and_delegation() -> None:
    assert AvgStatsCallback(accuracy).name == "avg_stats"
    assert TrainEvalCallback().name == "train_eval"
    assert Recorder().name == "recorder" and ParamScheduler("lr", sched_lin(1, 0)).name == "param_scheduler"

    class Callback2(Callback): ...

    assert Callback2().name == "callback2"
    with pytest.raises(AttributeError, match="no Runner yet"):
        _ = Recorder().loss
    run = Runner(cb_funcs=[Recorder, partial(AvgStatsCallback, [accuracy])])
    assert isinstance(run.recorder, Recorder) and isinstance(run.avg_stats, AvgStatsCallback)
    assert [type(cb).__name__ for cb in run.cbs] == ["TrainEvalCallback", "Recorder", "AvgStatsCallback"]
    with pytest.raises(AttributeError, match="no Learner outside fit"):
        _ = run.model


def test_listify() -> None:
    assert listify(None) == [] and listify([1]) == [1] and listify((1, 2)) == [1, 2]
    assert listify("ab") == ["ab"] and listify(accuracy) == [accuracy]
    t = torch.zeros(3)
    assert listify(t)[0] is t


def test_get_model_and_containers() -> None:
    data = make_data()
    torch.manual_seed(0)
    model, opt = get_model(data, lr=0.3, nh=7)
    assert [tuple(p.shape) for p in model.parameters()] == [(7, N_IN), (7,), (N_OUT, 7), (N_OUT,)]
    assert opt.param_groups[0]["lr"] == 0.3
    assert model(torch.zeros(2, N_IN)).shape == (2, N_OUT)
    assert repr(data) == "DataBunch(4 training batches, 1 validation batches, c_in=4, c_out=3)"
    with pytest.raises(ValueError, match=r"expected a DataBunch with c_out .* got c_out=None"):
        get_model(DataBunch(data.train_dl, data.valid_dl))
    with pytest.raises(ValueError, match=r"expected c_out to be a positive int or None, got 0"):
        DataBunch(data.train_dl, data.valid_dl, c_out=0)
    with pytest.raises(TypeError, match=r"expected data to be a DataBunch, got tuple"):
        Learner(model, opt, cross_entropy, (data.train_dl, data.valid_dl))
    with pytest.raises(TypeError, match=r"expected valid_dl to be a DataLoader .* got int"):
        DataBunch(data.train_dl, 3)
    dl = DataLoader(data.train_ds, Sampler(data.train_ds, 5))
    assert DataBunch(dl, dl).train_ds is data.train_ds
