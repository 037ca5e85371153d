"""Tests for foundations.learner: the Learner's events, stopping, state, order, hyper-parameters, per-call callbacks.

The oracle for the loop itself is a hand-written PyTorch training loop: with the same seed and the
same batches, the learner must end with exactly the same weights (``torch.equal``) and see exactly
the same losses. Skipping (a batch, a step) is checked against a hand loop that leaves that work out.
The library's callbacks (metrics, schedules, devices, the LR finder) are tested in test_callbacks.py.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import partial
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from conftest import EXACT, F64, tiny_data
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from foundations.callbacks import AvgStatsCallback, LRFinder, ParamScheduler, Recorder
from foundations.data import DataBunch
from foundations.learner import (
    EVENTS,
    LEARNER_STATE,
    Callback,
    CancelBatchException,
    CancelEpochException,
    CancelStepException,
    CancelTrainException,
    Learner,
    Order,
    TrainEvalCallback,
    all_params,
    camel2snake,
    listify,
)
from foundations.losses import accuracy, cross_entropy
from foundations.optim import SGD
from foundations.schedule import sched_cos, sched_lin
from foundations.testing import check_close

pytestmark = pytest.mark.lesson09

N_TRAIN, N_VALID, N_IN, N_OUT = 20, 10, 4, 3
BS = 6  # training batches of 6, 6, 6, 2; validation batches of 12 -> one batch of 10
TRAIN_BATCHES = 4


def make_data(seed: int = 0, bs: int = BS, dtype: torch.dtype = torch.float32) -> DataBunch:
    return tiny_data(N_TRAIN, N_VALID, N_IN, N_OUT, bs, seed=seed, dtype=dtype)


def make_model(seed: int = 0, dtype: torch.dtype = torch.float32) -> nn.Sequential:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(N_IN, 5), nn.ReLU(), nn.Linear(5, N_OUT)).to(dtype)


def make_learner(seed: int = 0, lr: float = 0.1, bs: int = BS, cbs: Any = None, **kwargs: Any) -> Learner:
    return Learner(make_model(seed), make_data(seed, bs), cross_entropy, lr=lr, cbs=cbs, **kwargs)


def weights(learn: Learner) -> list[torch.Tensor]:
    return [p.detach().clone() for p in learn.model.parameters()]


class Spy(Callback):
    """Records every event with the learner's state at that moment."""

    def __init__(self) -> None:
        self.log: list[tuple[str, bool, bool, bool]] = []

    @property
    def events(self) -> list[str]:
        return [e for e, *_ in self.log]


def _spy_method(event: str) -> Callable[[Spy], None]:
    def method(self: Spy) -> None:
        self.log.append((event, self.in_train, self.model.training, torch.is_grad_enabled()))

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


def hand_loop(
    model: nn.Module, data: DataBunch, opt: Any, epochs: int, loss_func: Callable = cross_entropy,
    skip: Callable[[int], bool] = lambda i: False,
) -> list[float]:
    """The loop of lessons/09_minibatch, written out: the oracle. Batches ``i`` with ``skip(i)``
    (counted over all epochs) are left out entirely: no step, and their gradients go nowhere."""
    losses, i = [], 0
    for _ in range(epochs):
        model.train()
        for xb, yb in data.train_dl:
            if not skip(i):
                loss = loss_func(model(xb), yb)
                loss.backward()
                opt.step()
                opt.zero_grad()
                losses.append(loss.item())
            i += 1
        model.eval()
        with torch.no_grad():
            for xb, yb in data.valid_dl:
                loss_func(model(xb), yb)
    return losses


def assert_same_weights(got: nn.Module, expected: nn.Module, what: str) -> None:
    for (name, p), q in zip(expected.named_parameters(), got.parameters()):
        check_close(q, p, what=f"{name} {what}", **EXACT)


# ---- the loop ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("epochs", [1, 2])
def test_learner_fires_events_in_documented_order(epochs: int) -> None:
    spy = Spy()
    make_learner(cbs=[spy]).fit(epochs)
    assert spy.events == expected_events(epochs, TRAIN_BATCHES, 1)
    # training batches run in training mode with gradients; validation ones in eval mode without
    for event, in_train, training, grad in spy.log:
        if event in ("after_backward", "after_step"):
            assert in_train and training and grad
    validating = False
    for event, in_train, training, grad in spy.log:
        validating = (validating or event == "begin_validate") and event != "after_epoch"
        if event in ("begin_batch", "after_loss", "after_batch"):
            assert (in_train, training, grad) == ((False, False, False) if validating else (True, True, True)), event


def test_every_event_is_documented_in_the_module_docstring() -> None:
    import foundations.learner as learner

    missing = [e for e in EVENTS if e not in learner.__doc__]
    assert not missing, f"foundations.learner's docstring does not name the events {missing}"
    assert len(set(EVENTS)) == len(EVENTS) == 15


def test_no_backward_or_step_during_validation() -> None:
    learn = make_learner()
    learn.fit(1)  # makes the optimizer, which is kept for the next fit
    states: list[str] = []
    for p in learn.model.parameters():
        p.register_hook(lambda g: states.append(f"backward in_train={learn.in_train}"))
    step = learn.opt.step

    def counting_step() -> None:
        states.append(f"step in_train={learn.in_train}")
        step()

    learn.opt.step = counting_step
    learn.fit(3)
    n_params = len(list(learn.model.parameters()))
    assert states.count("step in_train=True") == 3 * TRAIN_BATCHES
    assert states.count("backward in_train=True") == 3 * TRAIN_BATCHES * n_params
    assert not [s for s in states if s.endswith("False")]


@pytest.mark.parametrize("opt_func", [SGD, torch.optim.SGD], ids=["foundations.SGD", "torch.SGD"])
@pytest.mark.parametrize("epochs,seed", [(1, 0), (2, 3)])
def test_learner_trains_exactly_like_a_hand_written_pytorch_loop(opt_func: Any, epochs: int, seed: int) -> None:
    # float64 throughout, so that "the same" means the same operations, bit for bit
    by_hand = make_model(seed, dtype=F64)
    losses = hand_loop(by_hand, make_data(seed, dtype=F64), opt_func(by_hand.parameters(), 0.1), epochs, F.cross_entropy)
    learn = Learner(make_model(seed, dtype=F64), make_data(seed, dtype=F64), F.cross_entropy, opt_func=opt_func,
                    lr=0.1, cbs=[Recorder()])
    learn.fit(epochs)
    assert all(p.dtype == F64 for p in learn.model.parameters())
    for p, q in zip(by_hand.parameters(), learn.model.parameters()):
        assert torch.equal(p, q), f"after {epochs} epoch(s) the learner's weights differ from the hand loop's"
    assert learn.recorder.losses == losses, "per-batch training losses"
    assert len(learn.recorder.losses) == epochs * TRAIN_BATCHES


def test_learner_on_an_mnist_sized_mlp_matches_the_hand_loop() -> None:
    # the course's 784-50-10 MLP on MNIST-shaped data: weights equal after one epoch
    data = [tiny_data(200, 100, 784, 10, 32, seed=7) for _ in range(2)]
    torch.manual_seed(0)
    by_hand = nn.Sequential(nn.Linear(784, 50), nn.ReLU(), nn.Linear(50, 10))
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(784, 50), nn.ReLU(), nn.Linear(50, 10))
    hand_loop(by_hand, data[0], SGD(by_hand.parameters(), 0.5), 1)
    Learner(model, data[1], cross_entropy, lr=0.5).fit(1)
    assert_same_weights(model, by_hand, "of the MLP after one epoch")


def test_a_foundations_nn_model_trains_too() -> None:
    from foundations.nn import Linear, ReLU, Sequential

    torch.manual_seed(1)
    ours = Sequential(Linear(N_IN, 5), ReLU(), Linear(5, N_OUT))
    theirs = nn.Sequential(nn.Linear(N_IN, 5), nn.ReLU(), nn.Linear(5, N_OUT))
    with torch.no_grad():
        for p, q in zip(theirs.parameters(), ours.parameters()):
            p.copy_(q)
    Learner(ours, make_data(1), cross_entropy, lr=0.1).fit(2)
    hand_loop(theirs, make_data(1), SGD(theirs.parameters(), 0.1), 2)
    for p, q in zip(theirs.parameters(), ours.parameters()):
        check_close(q, p, what="Lesson 9's hand-written Module trained by the Learner", atol=1e-6)


def test_train_eval_callback_tracks_progress() -> None:
    seen: list[tuple[float, int]] = []

    class Progress(Callback):
        def begin_batch(self) -> None:
            if self.in_train:
                seen.append((self.n_epochs, self.n_iter))

    learn = make_learner(cbs=[Progress()])
    learn.fit(2)
    assert [n for _, n in seen] == list(range(2 * TRAIN_BATCHES))
    assert [e for e, _ in seen] == pytest.approx([i / TRAIN_BATCHES for i in range(2 * TRAIN_BATCHES)], abs=1e-12)
    assert learn.n_epochs == 2.0 and learn.n_iter == 2 * TRAIN_BATCHES
    assert (learn.epoch, learn.epochs, learn.iters) == (1, 2, 1)  # the last pass was validation: 1 batch
    assert learn.model.training is False and all(m.training is False for m in learn.model.modules())
    assert isinstance(learn.train_eval, TrainEvalCallback)
    learn.fit(1)  # a second fit counts from 0 again
    assert learn.n_epochs == 1.0 and learn.n_iter == TRAIN_BATCHES


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
    learn.fit(1, cbs=[StopAfter(0)])  # make the optimizer (stops after its first step)
    step = learn.opt.step
    learn.opt.step = lambda: (steps.append(1), step())
    learn.fit(3, cbs=[StopAfter(n), spy])
    events = spy.events
    assert len(steps) == n and events.count("after_backward") == n
    assert learn.n_iter == n  # after_batch still ran for the batch that stopped training
    assert events.count("after_cancel_train") == 1 and events[-2:] == ["after_cancel_train", "after_fit"]
    assert events.count("begin_validate") == n // TRAIN_BATCHES - (n % TRAIN_BATCHES == 0)


def test_stopping_leaves_the_weights_of_the_last_step() -> None:
    # stopping after 3 steps gives the weights of a hand loop that runs 3 steps
    learn = make_learner(seed=2, cbs=[StopAfter(3)])
    learn.fit(5)
    ref, data = make_model(2), make_data(2)
    opt = SGD(ref.parameters(), 0.1)
    for i, (xb, yb) in enumerate(data.train_dl):
        if i == 3:
            break
        cross_entropy(ref(xb), yb).backward()
        opt.step()
        opt.zero_grad()
    assert_same_weights(learn.model, ref, "after stopping at 3 batches")


@pytest.mark.parametrize("event", ["begin_batch", "after_pred", "after_loss", "after_backward"])
def test_cancel_batch_skips_the_update_and_leaks_no_gradient(event: str) -> None:
    class SkipOddBatches(Callback):
        pass

    def skip(self: Callback) -> None:
        if self.in_train and self.iter % 2 == 1:
            raise CancelBatchException()

    setattr(SkipOddBatches, event, skip)
    grads_at_start: list[bool] = []

    class GradsAtStart(Callback):
        order = Order.DEFAULT - 1  # before SkipOddBatches, which may cancel begin_batch

        def begin_batch(self) -> None:
            if self.in_train:
                grads_at_start.append(all(p.grad is None for p in self.model.parameters()))

    spy = Spy()
    learn = make_learner(seed=4, cbs=[SkipOddBatches(), GradsAtStart(), spy])
    learn.fit(2)
    events = spy.events
    assert events.count("after_step") == 2 * TRAIN_BATCHES // 2
    assert events.count("after_cancel_batch") == 2 * TRAIN_BATCHES // 2
    assert events.count("after_batch") == 2 * (TRAIN_BATCHES + 1)
    assert grads_at_start == [True] * 2 * TRAIN_BATCHES, "every training batch starts without gradients"
    # oracle: a hand loop that simply leaves out the odd batches
    ref = make_model(4)
    hand_loop(ref, make_data(4), SGD(ref.parameters(), 0.1), 2, skip=lambda i: i % 2 == 1)
    assert_same_weights(learn.model, ref, f"after skipping odd batches in {event}")


def test_cancel_epoch_skips_a_pass() -> None:
    class SkipTraining(Callback):
        def begin_epoch(self) -> None:
            raise CancelEpochException()

    class SkipValidation(Callback):
        def begin_validate(self) -> None:
            raise CancelEpochException()

    spy = Spy()
    learn = make_learner(cbs=[SkipTraining(), spy])
    before = weights(learn)
    learn.fit(2)
    events = spy.events
    assert "after_step" not in events and events.count("after_cancel_epoch") == 2
    assert events.count("after_loss") == 2  # the validation batch of each epoch still runs
    for p, q in zip(before, learn.model.parameters()):
        check_close(q, p, what="weights when every training pass is cancelled", **EXACT)

    spy = Spy()
    make_learner(cbs=[SkipValidation(), spy]).fit(2)
    events = spy.events
    assert events.count("after_step") == 2 * TRAIN_BATCHES and events.count("after_loss") == 2 * TRAIN_BATCHES
    assert events.count("after_epoch") == 2 and events.count("after_cancel_epoch") == 2


def test_cancel_epoch_in_the_middle_of_a_pass() -> None:
    class HalfEpochs(Callback):
        def after_batch(self) -> None:
            if self.in_train and self.iter == 1:
                raise CancelEpochException()

    spy = Spy()
    learn = make_learner(seed=5, cbs=[HalfEpochs(), spy])
    learn.fit(2)
    assert spy.events.count("after_step") == 2 * 2 and spy.events.count("after_cancel_epoch") == 2
    assert learn.n_iter == 4 and learn.n_epochs == pytest.approx(1 + 2 / TRAIN_BATCHES)
    ref = make_model(5)
    hand_loop(ref, make_data(5), SGD(ref.parameters(), 0.1), 2, skip=lambda i: i % TRAIN_BATCHES >= 2)
    assert_same_weights(learn.model, ref, "after two batches of each epoch")


# ---- CancelStepException --------------------------------------------------------------------------------


class SkipStep(Callback):
    """Skips the optimizer's step of the training batches numbered ``skipped`` (counted over the fit)."""

    def __init__(self, skipped: set[int]) -> None:
        self.skipped, self.cancelled = skipped, []

    def after_backward(self) -> None:
        if self.n_iter in self.skipped:
            raise CancelStepException()

    def after_cancel_step(self) -> None:
        self.cancelled.append(self.n_iter)


class WeightsPerBatch(Callback):
    """Weights at the start and end of every training batch, and whether gradients were there at its start."""

    order = Order.DEFAULT + 1  # after SkipStep

    def begin_fit(self) -> None:
        self.start: list[list[torch.Tensor]] = []
        self.end: list[list[torch.Tensor]] = []
        self.clean_start: list[bool] = []

    def begin_batch(self) -> None:
        if self.in_train:
            self.start.append([p.detach().clone() for p in self.model.parameters()])
            self.clean_start.append(all(p.grad is None for p in self.model.parameters()))

    def after_batch(self) -> None:
        if self.in_train:
            self.end.append([p.detach().clone() for p in self.model.parameters()])


@pytest.mark.parametrize("opt_func", [SGD, partial(torch.optim.SGD, momentum=0.9)], ids=["SGD", "torch.SGD-momentum"])
def test_cancel_step_skips_the_step_and_clears_the_gradients(opt_func: Any) -> None:
    skipped = {1, 2, 5}
    spy, skip, per_batch = Spy(), SkipStep(skipped), WeightsPerBatch()
    learn = make_learner(seed=6, cbs=[skip, per_batch, spy], opt_func=opt_func)
    learn.fit(2)
    # the step of each skipped batch did not happen: the weights are those the batch started with
    for i in range(2 * TRAIN_BATCHES):
        same = all(torch.equal(a, b) for a, b in zip(per_batch.start[i], per_batch.end[i]))
        assert same is (i in skipped), f"batch {i}: weights {'unchanged' if same else 'changed'}"
    assert skip.cancelled == sorted(skipped)
    events = spy.events
    assert events.count("after_cancel_step") == len(skipped)
    assert events.count("after_step") == 2 * TRAIN_BATCHES - len(skipped)
    assert events.count("after_batch") == 2 * (TRAIN_BATCHES + 1), "after_batch runs for every batch"
    assert "after_cancel_batch" not in events  # skipping the step is not cancelling the batch
    # the gradients of a skipped step were cleared: the next batch starts clean, and the weights
    # are those of a hand loop that leaves the skipped batches out (the 2019 bug stepped the next
    # batch with the stale gradients added to its own)
    assert per_batch.clean_start == [True] * 2 * TRAIN_BATCHES
    ref = make_model(6)
    hand_loop(ref, make_data(6), opt_func(ref.parameters(), 0.1), 2, skip=lambda i: i in skipped)
    assert_same_weights(learn.model, ref, "with steps 1, 2 and 5 skipped")


@pytest.mark.parametrize("event", ["begin_batch", "after_step"])
def test_cancel_step_anywhere_but_after_backward_is_an_error_that_says_where_it_belongs(event: str) -> None:
    class Misplaced(Callback):
        pass

    setattr(Misplaced, event, lambda self: (_ for _ in ()).throw(CancelStepException()))
    learn = make_learner(seed=6, cbs=[Misplaced()])
    with pytest.raises(RuntimeError, match="CancelStepException skips the optimizer step, so it belongs in after_backward"):
        learn.fit(1)


def test_cancel_step_events_come_in_the_documented_order() -> None:
    spy = Spy()
    make_learner(cbs=[spy, SkipStep({0})]).fit(1)  # the spy first: it sees after_backward before the skip
    first_batch = spy.events[2:8]
    assert first_batch == ["begin_batch", "after_pred", "after_loss", "after_backward", "after_cancel_step", "after_batch"]
    assert EVENTS.index("after_backward") < EVENTS.index("after_cancel_step") < EVENTS.index("after_step")


def test_stale_gradients_would_have_been_caught() -> None:
    # the check above has teeth: keeping the skipped batch's gradient for the next step (the bug)
    # gives other weights than leaving that batch out
    data = make_data(6)
    leaky, clean = make_model(6), make_model(6)
    opt = SGD(leaky.parameters(), 0.1)
    for i, (xb, yb) in enumerate(data.train_dl):
        cross_entropy(leaky(xb), yb).backward()
        if i != 1:
            opt.step()
            opt.zero_grad()
    hand_loop(clean, make_data(6), SGD(clean.parameters(), 0.1), 1, skip=lambda i: i == 1)
    assert not all(torch.equal(p, q) for p, q in zip(leaky.parameters(), clean.parameters()))


# ---- return values, events, names, arguments ------------------------------------------------------------


def test_returning_true_is_an_error_not_a_silent_no_op() -> None:
    class OldStyleStop(Callback):
        def after_step(self) -> bool:
            return True

    with pytest.raises(TypeError, match=r"OldStyleStop\.after_step: expected callbacks to return None, got True.*"
                                        r"CancelTrainException, CancelEpochException, CancelBatchException or CancelStepException"):
        make_learner(cbs=[OldStyleStop()]).fit(1)


def test_misspelt_events_are_refused() -> None:
    class Typo(Callback):
        def after_bacth(self) -> None: ...

    with pytest.raises(ValueError, match=r"Typo defines \['after_bacth'\], which are not events; the events are \['begin_fit'"):
        make_learner(cbs=[Typo()])
    learn = make_learner()
    with pytest.raises(ValueError, match=r"Typo defines \['after_bacth'\]"):
        learn.fit(1, cbs=[Typo()])
    assert [type(cb).__name__ for cb in learn.cbs] == ["TrainEvalCallback"]


def test_name_clashes_are_refused() -> None:
    with pytest.raises(ValueError, match=r"a callback named 'avg_stats' \(AvgStatsCallback\) clashes with an attribute "
                                         r"of the learner or another callback"):
        make_learner(cbs=[AvgStatsCallback(accuracy), AvgStatsCallback(accuracy)])

    class Loss(Callback): ...

    class Fit(Callback): ...

    with pytest.raises(ValueError, match=r"a callback named 'loss' \(Loss\) clashes"):
        make_learner(cbs=[Loss()])
    with pytest.raises(ValueError, match=r"a callback named 'fit' \(Fit\) clashes"):
        make_learner(cbs=[Fit()])
    learn = make_learner(cbs=[Recorder()])
    with pytest.raises(ValueError, match=r"a callback named 'recorder' \(Recorder\) clashes"):
        learn.fit(1, cbs=[Recorder()])
    assert len(learn.cbs) == 2 and isinstance(learn.recorder, Recorder)


def test_the_same_callback_twice_runs_once() -> None:
    rec = Recorder()
    learn = make_learner(cbs=[rec])
    learn.fit(1, cbs=[rec])  # already the learner's: adding it again for one call must not run it twice
    assert len(rec.losses) == TRAIN_BATCHES
    assert learn.recorder is rec and learn.cbs.count(rec) == 1


def test_a_refused_fit_leaves_no_callback_behind() -> None:
    class Typo(Callback):
        def after_bacth(self) -> None: ...

    learn = make_learner()
    with pytest.raises(ValueError, match="which are not events"):
        learn.fit(1, cbs=[Recorder(), Typo()])
    assert [type(cb).__name__ for cb in learn.cbs] == ["TrainEvalCallback"] and not hasattr(learn, "recorder")


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"model": 3}, TypeError, "expected model to be a module (callable, with parameters()), got int"),
        ({"data": (1, 2)}, TypeError, "expected data to have train_dl and valid_dl (a DataBunch), got tuple"),
        ({"loss_func": "ce"}, TypeError, "expected loss_func to be callable, got str"),
        ({"opt_func": None}, TypeError, "expected opt_func to be callable, got NoneType"),
        ({"splitter": 1}, TypeError, "expected splitter to be callable, got int"),
        ({"lr": 0}, ValueError, "expected lr to be a finite number > 0, got int 0"),
        ({"lr": float("inf")}, ValueError, "expected lr to be a finite number > 0, got float inf"),
        ({"lr": True}, TypeError, "expected lr to be a finite number > 0, got bool True"),
        ({"cbs": [Recorder]}, TypeError, "expected cbs to hold Callback objects, got the class Recorder: call it"),
        ({"cbs": [lambda: None]}, TypeError, "expected cbs to hold Callback objects, got function"),
    ],
)
def test_bad_arguments_are_explained(kwargs: dict[str, Any], error: type[Exception], message: str) -> None:
    args = {"model": make_model(), "data": make_data(), "loss_func": cross_entropy, **kwargs}
    with pytest.raises(error, match=re.escape(f"Learner: {message}")):
        Learner(**args)


@pytest.mark.parametrize("epochs, error", [(0, ValueError), (-1, ValueError), (1.0, TypeError), (True, TypeError)])
def test_fit_needs_a_positive_int(epochs: Any, error: type[Exception]) -> None:
    expected = f"Learner.fit: expected epochs to be a positive int, got {type(epochs).__name__} {epochs!r}"
    with pytest.raises(error, match=re.escape(expected)):
        make_learner().fit(epochs)
    with pytest.raises(TypeError, match=re.escape("Learner.fit: expected reset_opt to be a bool, got int 1")):
        make_learner().fit(1, reset_opt=1)


def test_the_train_eval_callback_stays() -> None:
    learn = make_learner()
    with pytest.raises(ValueError, match="the TrainEvalCallback is part of every learner; it cannot be removed"):
        learn.remove_cbs(learn.train_eval)
    assert repr(learn) == "Learner(model=Sequential, loss_func=cross_entropy, lr=0.1, cbs=[TrainEvalCallback])"


# ---- state: read through self, written through self.learn ---------------------------------------------


@pytest.mark.parametrize("name", sorted(LEARNER_STATE))
def test_writing_learner_state_on_the_callback_is_refused(name: str) -> None:
    class Careless(Callback):
        def begin_batch(self) -> None:
            setattr(self, name, None)

    learn = make_learner(cbs=[Careless()])
    message = (f"Careless: `self.{name} = ...` would set an attribute of the callback, which the training loop "
               f"never reads; to change the learner's {name}, write `self.learn.{name} = ...`")
    with pytest.raises(AttributeError, match=re.escape(message)):
        learn.fit(1)
    with pytest.raises(AttributeError, match=re.escape(f"write `self.learn.{name} = ...`")):
        setattr(Careless(), name, 1)  # in __init__ too, before there is a learner


def test_self_learn_xb_is_what_the_model_sees() -> None:
    class Double(Callback):
        def begin_batch(self) -> None:
            self.learn.xb = self.xb * 2

    class Peek(Callback):
        order = Order.DEFAULT + 1

        def begin_fit(self) -> None:
            self.preds: list[tuple[torch.Tensor, torch.Tensor]] = []

        def after_pred(self) -> None:
            assert self.xb is self.learn.xb  # reading through self is reading the learner's
            with torch.no_grad():
                self.preds.append((self.pred.detach().clone(), self.model(self.xb)))

    seen: list[torch.Tensor] = []
    peek, learn = Peek(), make_learner(cbs=[Double()])
    learn.model.register_forward_pre_hook(lambda mod, args: seen.append(args[0].detach().clone()))
    learn.fit(1, cbs=[peek, CancelAfterFirstBatch()])
    xb, _ = next(iter(make_data().train_dl))  # the same first batch, from a twin
    assert torch.equal(seen[0], xb * 2), "the model was given the batch a callback wrote to self.learn.xb"
    pred, model_of_xb = peek.preds[0]
    assert torch.equal(pred, model_of_xb)


class CancelAfterFirstBatch(Callback):
    def after_batch(self) -> None:
        raise CancelTrainException()


def test_a_callback_reads_the_learners_state_and_explains_when_there_is_none() -> None:
    with pytest.raises(AttributeError, match=r"Recorder has no attribute 'loss' \(and no Learner yet\)"):
        _ = Recorder().loss
    rec = Recorder()
    learn = make_learner(cbs=[rec])
    assert rec.learn is learn and rec.model is learn.model and rec.lr == 0.1
    with pytest.raises(AttributeError, match="no_such_thing"):
        _ = rec.no_such_thing


# ---- order ----------------------------------------------------------------------------------------------


def test_order_table_is_sorted_and_named() -> None:
    table = {k: v for k, v in vars(Order).items() if k.isupper()}
    assert table == {"DEVICE": -20, "DISTRIBUTED": -15, "TRAIN_EVAL": -10, "DEFAULT": 0, "HYPER": 10, "REGULARIZE": 15, "TRANSFORM": 20, "MIXUP": 22, "PRECISION": 25, "CLIP": 27, "PROGRESS": 30}
    assert Order.DEVICE < Order.DISTRIBUTED < Order.TRAIN_EVAL < Order.DEFAULT < Order.HYPER < Order.TRANSFORM
    assert Callback.order == Order.DEFAULT and TrainEvalCallback.order == Order.TRAIN_EVAL


def test_events_fire_in_order_then_in_the_order_added() -> None:
    calls: list[str] = []

    def make(label: str, order: int) -> Callback:
        cls = type(f"Cb{label}", (Callback,), {"order": order, "begin_batch": lambda self: calls.append(label)})
        return cls()

    cbs = [make("hyper", Order.HYPER), make("a", Order.DEFAULT), make("device", Order.DEVICE),
           make("tfm", Order.TRANSFORM), make("b", Order.DEFAULT)]
    learn = make_learner(cbs=cbs)
    learn.fit(1, cbs=[make("c", Order.DEFAULT), CancelAfterFirstBatch()])
    assert calls == ["device", "a", "b", "c", "hyper", "tfm"]


def test_train_eval_runs_before_default_callbacks() -> None:
    seen: list[tuple[bool, bool]] = []

    class Early(Callback):
        order = Order.DEVICE

        def begin_validate(self) -> None:
            seen.append(("early", self.in_train))

    class Late(Callback):
        def begin_validate(self) -> None:
            seen.append(("late", self.in_train))

    make_learner(cbs=[Late(), Early()]).fit(1)
    assert seen == [("early", True), ("late", False)]  # TrainEvalCallback switched in between


# ---- hyper-parameters: one setter each ------------------------------------------------------------------


@pytest.mark.parametrize(
    "first, second, message",
    [
        (LRFinder, partial(ParamScheduler, "lr", sched_lin(0.1, 0.0)), "LRFinder and ParamScheduler both set 'lr'"),
        (partial(ParamScheduler, "lr", sched_lin(0.1, 0.0)), LRFinder, "ParamScheduler and LRFinder both set 'lr'"),
        (partial(ParamScheduler, "lr", sched_lin(0.1, 0.0)), partial(ParamScheduler, "lr", sched_cos(0.1, 0.0)),
         "ParamScheduler and ParamScheduler both set 'lr'"),
    ],
    ids=["finder+scheduler", "scheduler+finder", "two-schedulers"],
)
def test_two_setters_of_one_hyper_parameter_are_refused_before_training(first: Any, second: Any, message: str) -> None:
    full = re.escape(f"Learner: {message}; use one of them per fit (e.g. run the LRFinder in its own fit, then schedule)")
    spy, learn = Spy(), make_learner(cbs=[first()])
    before = weights(learn)
    with pytest.raises(ValueError, match=full):
        learn.fit(1, cbs=[second(), spy])
    assert spy.log == [], "refused before any event"
    assert learn.opt is None and all(torch.equal(p, q) for p, q in zip(before, learn.model.parameters()))
    assert len(learn.cbs) == 2 and spy not in learn.cbs, "the refused fit's callbacks are gone"
    with pytest.raises(ValueError, match=full):
        make_learner(cbs=[first(), second(), spy]).fit(1)
    assert spy.log == []


def test_schedulers_of_different_hyper_parameters_work_together() -> None:
    lr_sched, mom_sched = sched_cos(0.3, 0.05), sched_lin(0.95, 0.85)
    seen: list[tuple[float, float]] = []

    class Hypers(Callback):
        order = Order.HYPER + 1

        def begin_batch(self) -> None:
            if self.in_train:
                pg = self.opt.param_groups[0]
                seen.append((pg["lr"], pg["momentum"]))

    learn = make_learner(opt_func=partial(torch.optim.SGD, momentum=0.9),
                         cbs=[ParamScheduler("lr", lr_sched), ParamScheduler("momentum", mom_sched), Hypers()])
    learn.fit(2)
    total = 2 * TRAIN_BATCHES
    assert seen == [(lr_sched(i / total), mom_sched(i / total)) for i in range(total)]
    # the course's spelling, 'mom', on a parameter group that has it
    with_mom = make_learner(splitter=lambda m: [{"params": list(m.parameters()), "mom": 0.9}],
                            cbs=[ParamScheduler("lr", lr_sched), ParamScheduler("mom", mom_sched), Recorder()])
    with_mom.fit(1)
    assert with_mom.opt.param_groups[0]["mom"] == mom_sched((TRAIN_BATCHES - 1) / TRAIN_BATCHES)
    assert with_mom.recorder.lrs == [lr_sched(i / TRAIN_BATCHES) for i in range(TRAIN_BATCHES)]


def test_callback_sets() -> None:
    assert Callback().sets == () and Recorder().sets == ()
    assert LRFinder().sets == ("lr",) and ParamScheduler("mom", sched_lin(0.9, 0.8)).sets == ("mom",)


# ---- per-call callbacks, the optimizer, the splitter ----------------------------------------------------


def test_per_call_callbacks_are_removed_after_the_call() -> None:
    own = AvgStatsCallback([accuracy], verbose=False)
    learn = make_learner(cbs=[own])
    rec, during = Recorder(), []

    class Check(Callback):
        def begin_fit(self) -> None:
            during.append((self.learn.recorder is rec, self.learn.avg_stats is own))

    learn.fit(1, cbs=[rec, Check()])
    assert during == [(True, True)]
    assert len(rec.losses) == TRAIN_BATCHES
    assert not hasattr(learn, "recorder") and not hasattr(learn, "check")
    assert learn.avg_stats is own and learn.cbs == [learn.train_eval, own]
    learn.fit(1)
    assert len(rec.losses) == TRAIN_BATCHES, "a removed callback sees nothing of the next fit"


def test_per_call_callbacks_are_removed_when_training_fails() -> None:
    class Boom(Callback):
        def after_loss(self) -> None:
            raise RuntimeError("boom")

    learn = make_learner()
    with pytest.raises(RuntimeError, match="boom"):
        learn.fit(1, cbs=[Boom(), Recorder()])
    assert not hasattr(learn, "boom") and not hasattr(learn, "recorder") and len(learn.cbs) == 1


def test_the_optimizer_is_made_once_and_kept_unless_reset() -> None:
    learn = make_learner(opt_func=partial(torch.optim.SGD, momentum=0.9))
    assert learn.opt is None
    learn.fit(1, cbs=[ParamScheduler("lr", sched_lin(0.5, 0.4))])
    opt = learn.opt
    assert isinstance(opt, torch.optim.SGD) and len(opt.state) == 4  # a momentum buffer per parameter
    assert opt.param_groups[0]["lr"] == pytest.approx(sched_lin(0.5, 0.4)(3 / 4))  # as the scheduler left it
    learn.fit(1)
    assert learn.opt is opt, "a second fit keeps the optimizer (its momentum and its hyper-parameters)"
    learn.fit(1, reset_opt=True)
    assert learn.opt is not opt and learn.opt.param_groups[0]["lr"] == 0.1, "reset_opt: a new one at the learner's lr"


def test_opt_func_and_splitter_are_used() -> None:
    calls: list[tuple[list[int], float]] = []

    def opt_func(groups: list[dict[str, Any]], lr: float) -> SGD:
        calls.append(([len(g["params"]) for g in groups], lr))
        return SGD(groups, lr)

    def weights_and_biases(model: nn.Module) -> list[dict[str, Any]]:
        named = list(model.named_parameters())
        return [{"params": [p for n, p in named if n.endswith("weight")]},
                {"params": [p for n, p in named if n.endswith("bias")]}]

    learn = make_learner(lr=0.25, opt_func=opt_func, splitter=weights_and_biases, cbs=[Recorder()])
    learn.fit(1)
    assert calls == [([2, 2], 0.25)]
    assert [pg["lr"] for pg in learn.opt.param_groups] == [0.25, 0.25]
    assert learn.recorder.group_lrs == [[0.25] * TRAIN_BATCHES] * 2
    assert all_params(learn.model) == [{"params": list(learn.model.parameters())}]


def test_parameter_groups_step_with_their_own_lr() -> None:
    def split(model: nn.Module) -> list[dict[str, Any]]:
        named = list(model.named_parameters())
        return [{"params": [p for n, p in named if n.endswith("weight")], "lr": 0.5},
                {"params": [p for n, p in named if n.endswith("bias")], "lr": 0.05}]

    learn = make_learner(seed=8, splitter=split)
    named = dict(learn.model.named_parameters())
    before = {n: p.detach().clone() for n, p in named.items()}
    xb, yb = next(iter(make_data(8).train_dl))  # the same first batch, from a twin
    grads = dict(zip(named, torch.autograd.grad(cross_entropy(learn.model(xb), yb), list(named.values()))))
    learn.fit(1, cbs=[CancelAfterFirstBatch()])
    for n, p in named.items():
        lr = 0.5 if n.endswith("weight") else 0.05
        check_close(p, before[n] - lr * grads[n], what=f"{n} after one step at lr {lr}", atol=1e-7)


@settings(max_examples=15)
@given(epochs=st.integers(min_value=1, max_value=3), seed=st.integers(min_value=0, max_value=100))
def test_losses_seen_by_callbacks_are_the_losses_computed(epochs: int, seed: int) -> None:
    class LossSpy(Callback):
        def __init__(self) -> None:
            self.losses: list[float] = []

        def after_loss(self) -> None:
            if self.in_train:
                # recompute from the batch the model just saw (before its step)
                self.losses.append(cross_entropy(self.pred, self.yb).item())

    spy = LossSpy()
    learn = make_learner(seed, cbs=[Recorder(), spy])
    learn.fit(epochs)
    assert learn.recorder.losses == spy.losses
    assert learn.recorder.group_lrs == [[0.1] * (epochs * TRAIN_BATCHES)]


# ---- the pieces ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name,snake",
    [("TrainEvalCallback", "train_eval_callback"), ("AvgStats", "avg_stats"), ("Recorder", "recorder"),
     ("HTTPServer", "http_server"), ("LR_Find", "lr_find"), ("Conv2dBlock", "conv2d_block"), ("x", "x")],
)
def test_camel2snake(name: str, snake: str) -> None:
    assert camel2snake(name) == snake


def test_camel2snake_refuses_a_non_string() -> None:
    with pytest.raises(TypeError, match="camel2snake: expected a str, got int"):
        camel2snake(3)  # type: ignore[arg-type]


def test_callback_names() -> None:
    assert AvgStatsCallback(accuracy).name == "avg_stats"
    assert TrainEvalCallback().name == "train_eval"
    assert Recorder().name == "recorder" and LRFinder().name == "lr_finder"

    class Callback2(Callback): ...

    assert Callback2().name == "callback2" and Callback().name == "callback"
    learn = make_learner(cbs=[Recorder(), AvgStatsCallback([accuracy])])
    assert isinstance(learn.recorder, Recorder) and isinstance(learn.avg_stats, AvgStatsCallback)
    assert [type(cb).__name__ for cb in learn.cbs] == ["TrainEvalCallback", "Recorder", "AvgStatsCallback"]


def test_listify() -> None:
    assert listify(None) == [] and listify([1]) == [1] and listify((1, 2)) == [1, 2]
    assert listify("ab") == ["ab"] and listify(accuracy) == [accuracy]
    t = torch.zeros(3)
    assert listify(t)[0] is t
    assert listify(x for x in range(3)) == [0, 1, 2]
