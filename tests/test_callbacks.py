"""Tests for foundations.callbacks: the learning-rate finder, DeviceCallback, BatchTransformCallback.

The finder's learning rates are checked against ``torch.logspace`` (an exponential sweep is evenly
spaced on a log scale), its stopping against a scripted sequence of losses, and its restore against
the weights and optimizer state from before the sweep. Devices are checked with PyTorch's ``meta``
device (tensors with shapes but no data), so the move is visible on a machine without a GPU.
"""

from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from torch import Tensor  # noqa: E402

from foundations.callbacks import (  # noqa: E402
    BatchTransformCallback,
    DeviceCallback,
    LRFinder,
    default_device,
    lr_finder_should_stop,
    view_tfm,
)
from foundations.data import Dataset, get_dls  # noqa: E402
from foundations.learner import Callback, CancelTrainException, DataBunch, Learner, Runner  # noqa: E402
from foundations.losses import cross_entropy  # noqa: E402
from foundations.nn import Linear, ReLU, Sequential  # noqa: E402
from foundations.optim import SGD  # noqa: E402
from foundations.testing import check_close  # noqa: E402

pytestmark = pytest.mark.lesson10

N_TRAIN, N_VALID, N_IN, N_OUT, BS = 24, 8, 16, 3, 6  # 4 training batches per epoch


def make_data(seed: int = 0) -> DataBunch:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(N_TRAIN + N_VALID, N_IN, generator=g)
    y = torch.randint(0, N_OUT, (N_TRAIN + N_VALID,), generator=g)
    dls = get_dls(Dataset(x[:N_TRAIN], y[:N_TRAIN]), Dataset(x[N_TRAIN:], y[N_TRAIN:]), BS,
                  generator=torch.Generator().manual_seed(seed + 1))
    return DataBunch(*dls, c_in=N_IN, c_out=N_OUT)


def make_learner(seed: int = 0, lr: float = 0.1) -> Learner:
    torch.manual_seed(seed)
    model = Sequential(Linear(N_IN, 8), ReLU(), Linear(8, N_OUT))
    return Learner(model, SGD(model.parameters(), lr), cross_entropy, make_data(seed))


class Counter(Callback):
    """Counts training and validation batches and optimizer steps."""

    _order = 10

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
        self._order = order  # type: ignore[misc]

    def begin_batch(self) -> None:
        self.seen = {
            "xb": (self.xb.device.type, tuple(self.xb.shape)),
            "yb": self.yb.device.type,
            "params": {p.device.type for p in self.model.parameters()},
        }
        raise CancelTrainException()


# ---- DeviceCallback -------------------------------------------------------------------------------------


def test_device_callback_moves_model_and_batches() -> None:
    """On PyTorch's ``meta`` device (no GPU needed); a torch.nn model, as ``.to("meta")`` replaces
    parameters (meta tensors cannot share a CPU tensor's storage type)."""
    learn = make_learner()
    learn.model = torch.nn.Sequential(torch.nn.Linear(N_IN, 8), torch.nn.ReLU(), torch.nn.Linear(8, N_OUT))
    peek = Peek(order=0)
    Runner(cbs=[DeviceCallback("meta"), peek]).fit(1, learn)
    assert peek.seen == {"xb": ("meta", (BS, N_IN)), "yb": "meta", "params": {"meta"}}


def test_device_callback_runs_first() -> None:
    learn = make_learner()
    learn.model = torch.nn.Linear(N_IN, N_OUT)
    peek = Peek(order=-5)  # before DeviceCallback's _order = -1: sees the batch still on the CPU
    Runner(cbs=[DeviceCallback(torch.device("meta")), peek]).fit(1, learn)
    assert peek.seen["xb"][0] == "cpu"


def test_device_callback_on_cpu_trains_like_no_callback() -> None:
    a, b = make_learner(seed=3), make_learner(seed=3)
    Runner().fit(2, a)
    Runner(cbs=DeviceCallback("cpu")).fit(2, b)
    for p, q in zip(a.model.parameters(), b.model.parameters()):
        check_close(q, p, what="weights after 2 epochs with DeviceCallback('cpu')", atol=0, rtol=0)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
@pytest.mark.parametrize("torch_model", [False, True], ids=["foundations.nn", "torch.nn"])
def test_device_callback_on_cuda(torch_model: bool) -> None:
    learn = make_learner()
    if torch_model:
        learn.model = torch.nn.Sequential(torch.nn.Linear(N_IN, 8), torch.nn.ReLU(), torch.nn.Linear(8, N_OUT))
        learn.opt = SGD(learn.model.parameters(), 0.1)
    params = list(learn.model.parameters())
    peek = Peek(order=0)
    Runner(cbs=[DeviceCallback(default_device()), peek]).fit(1, learn)
    assert peek.seen == {"xb": ("cuda", (BS, N_IN)), "yb": "cuda", "params": {"cuda"}}
    # moved in place: the optimizer still holds the model's parameters
    assert all(a is b for a, b in zip(params, learn.model.parameters()))
    assert all(p.device.type == "cuda" for p in learn.opt.param_groups[0]["params"])
    Runner(cbs=DeviceCallback("cuda")).fit(1, learn)  # and it trains there


def test_default_device_and_bad_devices() -> None:
    assert default_device() == torch.device("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(TypeError, match="str or torch.device, got int"):
        DeviceCallback(0)  # type: ignore[arg-type]
    with pytest.raises(RuntimeError):
        DeviceCallback("gpu")


# ---- BatchTransformCallback and view_tfm ----------------------------------------------------------------


def test_view_tfm_shapes_and_errors() -> None:
    x = torch.arange(2 * 784.0).reshape(2, 784)
    out = view_tfm(1, 28, 28)(x)
    assert out.shape == (2, 1, 28, 28)
    assert torch.equal(out[1, 0, 3], x[1, 3 * 28 : 4 * 28])  # row-major: row 3 of image 1
    assert view_tfm(4, 4)(torch.zeros(5, 16)).shape == (5, 4, 4)
    with pytest.raises(ValueError, match=r"784 elements per sample to view as \(1, 28, 28\), got shape \(3, 100\)"):
        view_tfm(1, 28, 28)(torch.zeros(3, 100))
    with pytest.raises(ValueError, match=r"positive int sizes.*got \(\)"):
        view_tfm()
    with pytest.raises(ValueError, match=r"positive int sizes.*got \(1, 0\)"):
        view_tfm(1, 0)
    with pytest.raises(TypeError, match="tensor batch, got list"):
        view_tfm(2)([1, 2])  # type: ignore[arg-type]


def test_batch_transform_callback_changes_what_the_model_sees() -> None:
    learn = make_learner()
    peek = Peek(order=5)
    Runner(cbs=[BatchTransformCallback(view_tfm(1, 4, 4)), peek]).fit(1, learn)
    assert peek.seen["xb"] == ("cpu", (BS, 1, 4, 4))
    assert BatchTransformCallback._order == 2


def test_batch_transform_callback_trains_a_cnn() -> None:
    learn = make_learner()
    torch.manual_seed(0)
    learn.model = torch.nn.Sequential(
        torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.Linear(4 * 16, N_OUT)
    )
    learn.opt = SGD(learn.model.parameters(), 0.1)
    counter = Counter()
    Runner(cbs=[DeviceCallback("cpu"), BatchTransformCallback(view_tfm(1, 4, 4)), counter]).fit(2, learn)
    assert (counter.train_batches, counter.valid_batches, counter.steps) == (8, 2, 8)
    with pytest.raises(TypeError, match="function of a batch, got int"):
        BatchTransformCallback(3)  # type: ignore[arg-type]


# ---- the stopping rule ----------------------------------------------------------------------------------


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


@settings(deadline=None, max_examples=80)
@given(st.lists(st.floats(1e-3, 1e3), min_size=1, max_size=20), st.floats(1.5, 20))
def test_lr_finder_should_stop_matches_its_definition(losses: list[float], factor: float) -> None:
    it = len(losses) - 1
    assert lr_finder_should_stop(losses, it, it + 1, factor) is (losses[-1] > factor * min(losses))
    assert lr_finder_should_stop(losses, it, it, factor) is True
    assert lr_finder_should_stop(sorted(losses, reverse=True), it, it + 1, factor) is False


def test_lr_finder_should_stop_rejects_no_losses() -> None:
    with pytest.raises(ValueError, match="at least one loss, got an empty list"):
        lr_finder_should_stop([], 0, 10)


# ---- LRFinder -------------------------------------------------------------------------------------------


def test_lr_finder_sweeps_exponentially_and_stops_at_max_iter() -> None:
    learn = make_learner()
    finder, counter = LRFinder(max_iter=9, min_lr=1e-5, max_lr=1e-2), Counter()
    Runner(cbs=[finder, counter]).fit(10, learn)  # 40 training batches available; the sweep needs 10
    expected = torch.logspace(-5, -2, 10, dtype=torch.float64)
    check_close(torch.tensor(finder.lrs, dtype=torch.float64), expected, what="LRFinder lrs, 1e-5 -> 1e-2", rtol=1e-12)
    assert len(finder.losses) == 10 and all(math.isfinite(l) for l in finder.losses)
    # the finder raises in after_step (_order 1), so a later callback misses the last after_step,
    # but every after_batch runs (it is in the Runner's `finally`); no validation batches
    assert (counter.train_batches, counter.steps, counter.valid_batches) == (10, 9, 0)


def test_lr_finder_sets_every_parameter_group() -> None:
    learn = make_learner()
    ps = list(learn.model.parameters())
    learn.opt = SGD([{"params": ps[:2]}, {"params": ps[2:], "lr": 0.3}], 0.1)

    class GroupLrs(Callback):
        _order = 5

        def begin_fit(self) -> None:
            self.seen: list[list[float]] = []

        def after_batch(self) -> None:
            self.seen.append([pg["lr"] for pg in self.opt.param_groups])

    spy = GroupLrs()
    finder = LRFinder(max_iter=4, min_lr=1e-4, max_lr=1.0)
    Runner(cbs=[finder, spy]).fit(3, learn)
    assert spy.seen == [[lr, lr] for lr in finder.lrs]
    assert [pg["lr"] for pg in learn.opt.param_groups] == [0.1, 0.3]  # restored


def scripted_loss(values: list[float]):  # noqa: ANN201
    """A loss function giving ``values`` in turn (with a gradient, so the optimizer can step)."""
    it = iter(values)

    def loss(pred: Tensor, yb: Tensor) -> Tensor:
        return pred.sum() * 0 + next(it)

    return loss


def test_lr_finder_stops_when_the_loss_explodes() -> None:
    learn = make_learner()
    learn.loss_func = scripted_loss([5.0, 4.0, 3.0, 2.0, 1.0, 9.0, 25.0, 1.0, 1.0])
    finder, counter = LRFinder(max_iter=100), Counter()
    Runner(cbs=[finder, counter]).fit(5, learn)
    assert finder.losses == [5.0, 4.0, 3.0, 2.0, 1.0, 9.0, 25.0]  # 25 > 10 * 1: stop after that batch
    assert counter.train_batches == 7 and counter.valid_batches == 0


def test_lr_finder_stops_on_a_real_explosion() -> None:
    learn = make_learner(seed=1)
    finder = LRFinder(max_iter=60, min_lr=1e-4, max_lr=1e6)
    Runner(cbs=finder).fit(20, learn)
    n = len(finder.losses)
    assert n < 61, "a learning rate of 1e6 should make the loss explode before the sweep ends"
    assert lr_finder_should_stop(finder.losses, n - 1, 60)
    assert not any(lr_finder_should_stop(finder.losses[: i + 1], i, 60) for i in range(n - 1))


@pytest.mark.parametrize("torch_parts", [False, True], ids=["foundations", "torch"])
def test_lr_finder_restores_the_model_and_optimizer(torch_parts: bool) -> None:
    learn = make_learner(seed=2)
    if torch_parts:
        torch.manual_seed(2)
        learn.model = torch.nn.Sequential(torch.nn.Linear(N_IN, 8), torch.nn.BatchNorm1d(8), torch.nn.Linear(8, N_OUT))
        learn.opt = torch.optim.SGD(learn.model.parameters(), lr=0.1, momentum=0.9)
    before = [p.detach().clone() for p in learn.model.parameters()]
    finder = LRFinder(max_iter=10, min_lr=1e-3, max_lr=10.0)
    Runner(cbs=finder).fit(5, learn)
    for i, (p, b) in enumerate(zip(learn.model.parameters(), before)):
        check_close(p, b, what=f"parameter {i} after the sweep (restored)", atol=0, rtol=0)
    assert learn.opt.param_groups[0]["lr"] == 0.1
    if torch_parts:
        assert learn.opt.state_dict()["state"] == {}  # no momentum left over from the sweep
        assert int(learn.model[1].num_batches_tracked) == 0 and torch.equal(learn.model[1].running_mean, torch.zeros(8))


def test_lr_finder_without_restore_keeps_the_trained_weights() -> None:
    learn = make_learner(seed=2)
    before = [p.detach().clone() for p in learn.model.parameters()]
    finder = LRFinder(max_iter=5, min_lr=1e-3, max_lr=1.0, restore=False)
    Runner(cbs=finder).fit(5, learn)
    assert any(not torch.equal(p, b) for p, b in zip(learn.model.parameters(), before))
    assert learn.opt.param_groups[0]["lr"] == pytest.approx(1.0)


def test_lr_finder_plot_and_errors() -> None:
    finder = LRFinder(max_iter=7, min_lr=1e-4, max_lr=1e-1)
    with pytest.raises(ValueError, match="nothing recorded yet"):
        finder.plot()
    Runner(cbs=finder).fit(3, make_learner())
    ax = finder.plot(skip_last=2)
    (line,) = ax.get_lines()
    assert ax.get_xscale() == "log" and len(line.get_xdata()) == 6
    assert list(line.get_ydata()) == finder.losses[:6]
    plt.close("all")
    with pytest.raises(ValueError, match=r"0 <= skip_last < 8.*got 8"):
        finder.plot(skip_last=8)
    for kwargs, msg in [
        ({"max_iter": 0}, "max_iter to be a positive int, got 0"),
        ({"min_lr": 1.0, "max_lr": 0.1}, "0 < min_lr < max_lr, got min_lr=1.0, max_lr=0.1"),
        ({"min_lr": 0.0}, "0 < min_lr < max_lr"),
        ({"factor": 1.0}, "factor > 1, got 1.0"),
    ]:
        with pytest.raises(ValueError, match=msg):
            LRFinder(**kwargs)
