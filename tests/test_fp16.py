"""Tests for foundations.callbacks.fp16: half models, masters, loss scaling against torch.amp.GradScaler."""

from __future__ import annotations

import copy

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

from conftest import tiny_data
from foundations.callbacks import AutocastCallback, LossScaler, MixedPrecision, Recorder
from foundations.callbacks.fp16 import get_master, has_overflow, model_to_half, to_master_grads, to_model_params
from foundations.learner import Callback, Learner
from foundations.losses import cross_entropy
from foundations.optim import adam_opt, sgd_opt

BS, N_TRAIN = 8, 64  # 8 training batches per epoch


def _mlp(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.BatchNorm1d(16), nn.Linear(16, 4))


class InfLoss:
    """cross_entropy, times inf at the training steps in ``bad`` (counting training batches from 0)."""

    def __init__(self, bad: set[int]) -> None:
        self.bad, self.step, self.learn = bad, 0, None

    def __call__(self, pred: torch.Tensor, yb: torch.Tensor) -> torch.Tensor:
        loss = cross_entropy(pred.float(), yb)
        if self.learn is not None and self.learn.in_train:
            i, self.step = self.step, self.step + 1
            if i in self.bad:
                return loss * float("inf")
        return loss


def _fit(cb: Callback, bad: set[int], opt_func=None, epochs: int = 2, seed: int = 0) -> tuple[Learner, InfLoss]:  # noqa: ANN001
    loss = InfLoss(bad)
    learn = Learner(_mlp(seed), tiny_data(N_TRAIN, 16, 6, 4, BS), loss,
                    opt_func=opt_func or (lambda ps, lr: sgd_opt(ps, lr)), lr=0.1, cbs=[cb, Recorder()])
    loss.learn = learn
    learn.fit(epochs)
    return learn, loss


def _gradscaler_history(bad: set[int], n_steps: int, init_scale: float, interval: int) -> list[tuple[float, bool]]:
    """torch.amp.GradScaler on CPU over the same scripted sequence: (scale used, skipped) per step."""
    p = nn.Parameter(torch.ones(3))
    opt = torch.optim.SGD([p], lr=0.1)
    scaler = torch.amp.GradScaler("cpu", init_scale=init_scale, growth_interval=interval)
    out = []
    for i in range(n_steps):
        opt.zero_grad()
        loss = (p * p).sum() * (float("inf") if i in bad else 1.0)
        scale = scaler.get_scale()
        scaler.scale(loss).backward()
        before = p.detach().clone()
        scaler.step(opt)
        scaler.update()
        out.append((scale, bool(torch.equal(before, p.detach()))))
    return out


def test_gradscaler_works_on_cpu() -> None:
    hist = _gradscaler_history({2}, 5, 8.0, 2)
    assert hist == [(8.0, False), (8.0, False), (16.0, True), (8.0, False), (8.0, False)]


SEQUENCES = [set(), {0}, {3, 4}, {1, 2, 3, 9}, {5, 6, 7, 8, 15}]


@pytest.mark.parametrize("bad", SEQUENCES, ids=str)
@pytest.mark.parametrize("interval", [1, 3])
def test_loss_scaler_equals_gradscaler(bad: set[int], interval: int) -> None:
    ref = _gradscaler_history(bad, 16, 2.0**10, interval)
    scaler, got = LossScaler(2.0**10, growth_interval=interval), []
    for i in range(16):
        scale = scaler.scale
        got.append((scale, scaler.update(i in bad)))
    assert got == ref


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("bad", SEQUENCES[1:], ids=str)
def test_mixed_precision_scale_trajectory_equals_gradscaler(dtype: torch.dtype, bad: set[int]) -> None:
    cb = MixedPrecision(dtype, LossScaler(2.0**10, growth_interval=3))
    _fit(cb, bad)
    assert cb.history == _gradscaler_history(bad, 2 * N_TRAIN // BS, 2.0**10, 3)
    assert cb.scaler.scale == _gradscaler_history(bad, 2 * N_TRAIN // BS + 1, 2.0**10, 3)[-1][0]


def test_autocast_callback_scale_trajectory_equals_gradscaler() -> None:
    bad = {1, 2, 3, 9}
    cb = AutocastCallback(torch.bfloat16, LossScaler(2.0**10, growth_interval=3))
    _fit(cb, bad)
    assert cb.history == _gradscaler_history(bad, 2 * N_TRAIN // BS, 2.0**10, 3)


class Snapshot(Callback):
    """Records the masters and Adam's state before and after each training batch."""

    order = 100

    def begin_fit(self) -> None:
        self.rows = []

    def begin_batch(self) -> None:
        if self.in_train:
            self._before = self._take()

    def after_batch(self) -> None:
        if self.in_train:
            self.rows.append((self._before, self._take()))

    def _take(self) -> tuple[list[torch.Tensor], list[dict]]:
        ps = [p for g in self.opt.param_groups for p in g["params"]]
        model = [p.detach().clone() for p in self.model.parameters()]
        state = [{k: (v.clone() if isinstance(v, torch.Tensor) else v) for k, v in self.opt.state.get(p, {}).items()}
                 for p in ps]
        return [p.detach().clone() for p in ps] + model, state


def _same_state(a: list[dict], b: list[dict]) -> bool:
    return all(x.keys() == y.keys() and all(torch.equal(torch.as_tensor(x[k]), torch.as_tensor(y[k])) for k in x)
               for x, y in zip(a, b))


@pytest.mark.parametrize("kind", ["mixed", "autocast"])
def test_overflow_step_is_skipped(kind: str) -> None:
    """The 2019 callback 'skipped' by returning True, ignored by the loop: here nothing moves."""
    bad = {2, 5}
    cb = (MixedPrecision(torch.float16, LossScaler(2.0**8, growth_interval=100)) if kind == "mixed"
          else AutocastCallback(torch.bfloat16, LossScaler(2.0**8, growth_interval=100)))
    snap = Snapshot()
    learn, _ = _fit(cb, bad, opt_func=lambda ps, lr: adam_opt(ps, 1e-2), epochs=1)
    learn.fit(1, cbs=[snap])  # a second fit: the same masters and optimizer carry on
    learn.loss_func.step = 0
    snap2 = Snapshot()
    learn.fit(1, cbs=[snap2])
    for i, (before, after) in enumerate(snap2.rows):
        params_same = all(torch.equal(a, b) for a, b in zip(before[0], after[0]))
        state_same = _same_state(before[1], after[1])
        if i in bad:
            assert params_same and state_same, f"step {i} overflowed but the weights or Adam's state changed"
        else:
            assert not params_same and not state_same, f"step {i} was clean but nothing moved"
    assert [s for _, s in cb.history[-8:]] == [i in bad for i in range(8)]


def test_no_stale_gradients_after_a_skip() -> None:
    """[clean, overflow, clean] ends where [clean, clean] on the same batches ends (SGD, exact scales)."""
    def run(inject: bool) -> list[torch.Tensor]:
        torch.manual_seed(0)
        model = nn.Sequential(nn.Linear(6, 4))
        xs = [torch.randn(8, 6) for _ in range(2)]
        ys = [torch.randint(0, 4, (8,)) for _ in range(2)]
        batches = [(xs[0], ys[0])] + ([(xs[1], ys[1])] if inject else []) + [(xs[1], ys[1])]
        bad = {1} if inject else set()

        class Data:
            train_dl, valid_dl = batches, []
        loss = InfLoss(bad)
        learn = Learner(model, Data(), loss, opt_func=lambda ps, lr: sgd_opt(ps, lr), lr=0.1,
                        cbs=[MixedPrecision(torch.float16, LossScaler(2.0**6, growth_interval=100))])
        loss.learn = learn
        learn.fit(1)
        return [m.detach() for m in learn.mixed_precision.master]
    for a, b in zip(run(True), run(False)):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-6)


def test_mixed_precision_model_and_masters() -> None:
    cb = MixedPrecision(torch.float16, LossScaler(2.0**10, growth_interval=1000))
    learn, _ = _fit(cb, set(), epochs=1)
    lin, bn = learn.model[0], learn.model[2]
    assert lin.weight.dtype == torch.float16 and bn.weight.dtype == torch.float32
    assert bn.running_mean.dtype == torch.float32
    assert all(m.dtype == torch.float32 for m in cb.master)
    opt_params = [p for g in learn.opt.param_groups for p in g["params"]]
    assert all(a is b for a, b in zip(opt_params, cb.master))
    for p, m in zip(cb.model_params, cb.master):  # the model is the masters, rounded
        assert torch.equal(p.detach(), m.detach().to(p.dtype))
    # the recorder saw the unscaled loss: recompute the last one
    assert 0.5 < learn.recorder.losses[-1] < 5.0


def test_mixed_precision_follows_fp32_training() -> None:
    """With a safe scale, fp16 mixed precision tracks fp32 training of the same model on the same batches."""
    torch.manual_seed(0)
    ref = Learner(_mlp(), tiny_data(N_TRAIN, 16, 6, 4, BS), cross_entropy, opt_func=lambda ps, lr: sgd_opt(ps, lr),
                  lr=0.1)
    ref.fit(2)
    cb = MixedPrecision(torch.float16, LossScaler(2.0**10, growth_interval=1000))
    learn, _ = _fit(cb, set(), epochs=2)
    for m, p in zip(cb.master, ref.model.parameters()):
        torch.testing.assert_close(m.detach(), p.detach(), rtol=0, atol=3e-2)


def test_static_scale_never_changes() -> None:
    cb = MixedPrecision(torch.float16, LossScaler(512.0, dynamic=False))
    _fit(cb, {3}, epochs=1)
    assert [s for s, _ in cb.history] == [512.0] * 8
    assert [k for _, k in cb.history] == [i == 3 for i in range(8)]


def test_model_to_half_keeps_identity_and_batchnorm() -> None:
    m = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Conv2d(4, 2, 1))
    ids = [id(p) for p in m.parameters()]
    model_to_half(m, torch.bfloat16)
    assert [id(p) for p in m.parameters()] == ids
    assert [p.dtype for p in m.parameters()] == [torch.bfloat16, torch.bfloat16, torch.float32, torch.float32,
                                                 torch.bfloat16, torch.bfloat16]
    assert m(torch.randn(1, 3, 5, 5, dtype=torch.bfloat16)).dtype == torch.bfloat16


def test_master_grads_and_params_round_trip() -> None:
    ps = [nn.Parameter(torch.randn(3, 2).half()), nn.Parameter(torch.randn(4).half())]
    master = get_master(ps)
    assert all(m.dtype == torch.float32 and m.is_leaf and m.requires_grad for m in master)
    ps[0].grad = torch.tensor([[1e-4, 2.0], [3.0, 4.0], [5.0, 6.0]]).half() * 1024
    to_master_grads(ps, master, 1024.0)
    torch.testing.assert_close(master[0].grad, ps[0].grad.float() / 1024)
    assert master[1].grad is None
    with torch.no_grad():
        master[0] += 1 / 3
    to_model_params(ps, master)
    assert torch.equal(ps[0].detach(), master[0].detach().half())


@given(st.lists(st.floats(allow_nan=True, allow_infinity=True, width=16), min_size=1, max_size=20))
def test_has_overflow_matches_isfinite(xs: list[float]) -> None:
    t = torch.tensor(xs, dtype=torch.float16)
    expected = not all(torch.isfinite(t).tolist())
    assert has_overflow([None, t.float()[:0], t]) == expected


def test_has_overflow_large_finite_fp16_is_not_an_overflow() -> None:
    t = torch.full((100,), 60000.0, dtype=torch.float16)  # the 2019 sum test would overflow here
    assert not has_overflow([t])
    assert has_overflow([t * 2])


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="expected dtype to be torch.float16 or torch.bfloat16"):
        MixedPrecision(torch.float32)
    with pytest.raises(TypeError, match="expected scaler to be a LossScaler"):
        MixedPrecision(torch.float16, scaler=512.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="growth_interval"):
        LossScaler(growth_interval=0)
    with pytest.raises(ValueError, match="scale"):
        LossScaler(-1.0)
    with pytest.raises(ValueError, match="as many master parameters"):
        to_master_grads([torch.zeros(1)], [], 1.0)
