"""Tests for foundations.text.train and foundations.callbacks.clip: flat losses, AR and TAR, the
regulariser and the hidden-state reset in a learner, gradient clipping, generation.

Oracles: ``F.cross_entropy`` on the flattened tensors, AR and TAR written out as loops over time,
the 2019 course's TAR rebuilt (NaN for one-step sequences), spies around the callbacks in a tiny
``Learner`` fit (the loss before and after :class:`RNNRegularizer`, the gradients before and after
:class:`GradientClipping`, against ``min(1, clip / (norm + 1e-6))`` by hand), and for greedy
generation the argmax of the model re-run on the whole sequence.
"""

from __future__ import annotations


import pytest
import torch
import torch.nn.functional as F
from torch import nn

from conftest import CLOSE32, CLOSE64, F64, gen, randn, tiny_data
from foundations.callbacks import GradientClipping
from foundations.learner import Callback, Learner, Order
from foundations.losses import cross_entropy
from foundations.testing import check_close
from foundations.text.awd_lstm import AWDLSTMConfig, get_language_model
from foundations.text.loaders import lm_data
from foundations.text.train import (
    RNNRegularizer,
    ResetHidden,
    accuracy_flat,
    activation_reg,
    cross_entropy_flat,
    generate,
    temporal_activation_reg,
)

pytestmark = [pytest.mark.lesson12, pytest.mark.usefixtures("one_thread")]


V = 25
CFG = AWDLSTMConfig(emb_sz=6, n_hid=8, n_layers=2)


# ---- flat losses --------------------------------------------------------------------------------


def test_cross_entropy_flat_and_accuracy_flat() -> None:
    pred = randn(3, 4, V, seed=0) * 3
    target = torch.randint(0, V, (3, 4), generator=gen(1))
    expected = F.cross_entropy(pred.reshape(-1, V), target.reshape(-1))
    got = cross_entropy_flat(pred, target)
    assert got.shape == () and got.dtype == torch.float32  # computed in float32, like fastai's
    check_close(got, expected, what="cross_entropy_flat", **CLOSE32)
    check_close(cross_entropy_flat(pred.float(), target), F.cross_entropy(pred.float().reshape(-1, V), target.flatten()),
                what="cross_entropy_flat in float32", atol=0.0, rtol=0.0)
    target[0, :2] = pred[0, :2].argmax(-1)
    hits = sum(int(pred[b, t].argmax() == target[b, t]) for b in range(3) for t in range(4))
    assert accuracy_flat(pred, target).item() == pytest.approx(hits / 12)
    with pytest.raises(ValueError, match=r"cross_entropy_flat: expected scores \(\.\.\., V\) for targets \(\.\.\.\), got \(3, 4, 25\) and \(3, 5\)"):
        cross_entropy_flat(pred, torch.zeros(3, 5, dtype=torch.long))
    with pytest.raises(ValueError, match="accuracy_flat: expected scores"):
        accuracy_flat(pred, target.flatten())


# ---- AR and TAR ---------------------------------------------------------------------------------


def test_activation_reg_is_alpha_times_the_mean_square() -> None:
    out = randn(2, 5, 3, seed=0)
    hand = sum(float(v) ** 2 for v in out.flatten()) / out.numel()
    assert activation_reg(out, 2.0).item() == pytest.approx(2 * hand, rel=1e-6)
    assert activation_reg(out, 0.0).item() == 0.0


def tar_by_hand(h: torch.Tensor, beta: float) -> float:
    bs, sl, n = h.shape
    total = sum(float(h[b, t, k] - h[b, t - 1, k]) ** 2 for b in range(bs) for t in range(1, sl) for k in range(n))
    return beta * total / (bs * (sl - 1) * n)


def tar_2019(h: torch.Tensor, beta: float) -> torch.Tensor:
    """The 2019 course's TAR (``RNNTrainer.after_loss``): it tests ``len(h)``, the batch size."""
    loss = torch.tensor(0.0)
    if len(h) > 1:
        loss = loss + beta * (h[:, 1:] - h[:, :-1]).float().pow(2).mean()
    return loss


@pytest.mark.parametrize("bs,sl,n", [(2, 5, 3), (1, 4, 2), (3, 2, 1)])
def test_temporal_activation_reg_is_over_the_time_axis(bs: int, sl: int, n: int) -> None:
    h = randn(bs, sl, n, seed=bs + sl)
    got = temporal_activation_reg(h, 1.5)
    assert got.item() == pytest.approx(tar_by_hand(h, 1.5), rel=1e-6)
    # not over the batch axis, not over the features
    if bs > 1:
        assert got.item() != pytest.approx(1.5 * (h[1:] - h[:-1]).pow(2).mean().item(), rel=1e-3)


def test_temporal_activation_reg_one_step_is_zero_where_2019_gave_nan() -> None:
    h = randn(4, 1, 3, seed=0)  # bs 4, a single time step
    ours = temporal_activation_reg(h, 1.0)
    assert ours.item() == 0.0 and ours.dtype == torch.float32
    assert torch.isnan(tar_2019(h, 1.0))  # the mean of nothing
    one_row = randn(1, 6, 3, seed=1)  # bs 1: 2019 skipped TAR altogether
    assert tar_2019(one_row, 1.0).item() == 0.0
    expected = tar_by_hand(one_row, 1.0)
    assert expected > 0 and temporal_activation_reg(one_row, 1.0).item() == pytest.approx(expected, rel=1e-6)
    with pytest.raises(ValueError, match=r"temporal_activation_reg: expected raw_out of shape \(bs, sl, n\), got \(4, 3\)"):
        temporal_activation_reg(h[:, 0], 1.0)


# ---- the regulariser and the reset in a learner -------------------------------------------------


class PredSpy(Callback):
    """Before the regulariser: keeps the last layer's outputs and the plain loss of each batch."""

    order = Order.REGULARIZE - 1

    def __init__(self) -> None:
        self.rows: list[dict] = []

    def after_pred(self) -> None:
        _, raw_outputs, outputs = self.pred
        self.rows.append({"raw": raw_outputs[-1].detach().clone(), "out": outputs[-1].detach().clone()})

    def after_loss(self) -> None:
        self.rows[-1].update(plain=self.loss.item(), in_train=self.in_train)


class LossSpy(Callback):
    """After the regulariser: the loss the backward pass sees, and what the prediction became."""

    order = Order.REGULARIZE + 1

    def __init__(self) -> None:
        self.rows: list[dict] = []

    def after_loss(self) -> None:
        self.rows.append({"loss": self.loss.item(), "pred_shape": tuple(self.pred.shape)})


def _lm_learner(seed: int = 0, cbs: list | None = None) -> Learner:
    torch.manual_seed(seed)
    docs = [torch.randint(0, V, (n,), generator=gen(seed + n)) for n in (30, 25, 20)]
    data = lm_data(docs, docs[:2], bs=2, bptt=5, generator=gen(seed))
    return Learner(get_language_model(V, CFG), data, cross_entropy_flat, lr=0.1, cbs=cbs)


def test_rnn_regularizer_adds_alpha_ar_plus_beta_tar_to_the_training_loss_only() -> None:
    alpha, beta = 2.0, 1.0
    pred_spy, loss_spy = PredSpy(), LossSpy()
    learn = _lm_learner(cbs=[RNNRegularizer(alpha, beta), pred_spy, loss_spy])
    learn.fit(1)
    assert len(pred_spy.rows) == len(loss_spy.rows) == len(learn.data.train_dl) + len(learn.data.valid_dl)
    n_train = 0
    for before, after in zip(pred_spy.rows, loss_spy.rows):
        assert after["pred_shape"] == (2, 5, V)  # the loss and the metrics see the scores alone
        if before["in_train"]:
            n_train += 1
            ar = alpha * before["out"].pow(2).mean().item()
            h = before["raw"]
            tar = beta * (h[:, 1:] - h[:, :-1]).pow(2).mean().item()
            assert after["loss"] == pytest.approx(before["plain"] + ar + tar, rel=1e-6, abs=1e-7)
            assert ar > 0 and tar > 0
        else:
            assert after["loss"] == before["plain"]
    assert n_train == len(learn.data.train_dl)


def test_rnn_regularizer_zero_coefficients_and_checks() -> None:
    pred_spy, loss_spy = PredSpy(), LossSpy()
    _lm_learner(cbs=[RNNRegularizer(0.0, 0.0), pred_spy, loss_spy]).fit(1)
    assert [r["loss"] for r in loss_spy.rows] == [r["plain"] for r in pred_spy.rows]
    with pytest.raises(ValueError, match="RNNRegularizer: expected alpha"):
        RNNRegularizer(-1.0)
    learn = Learner(nn.Linear(5, 3), tiny_data(8, 4, 5, 3, bs=4), cross_entropy, cbs=[RNNRegularizer()])
    with pytest.raises(TypeError, match=r"RNNRegularizer: expected the model to return \(scores, raw_outputs, outputs\)"):
        learn.fit(1)


class HiddenSpy(Callback):
    order = Order.DEFAULT + 1

    def __init__(self) -> None:
        self.seen: list[tuple[str, bool]] = []

    def begin_epoch(self) -> None:
        self.seen.append(("epoch", self._hidden() is None))

    def begin_validate(self) -> None:
        self.seen.append(("validate", self._hidden() is None))

    def _hidden(self):  # noqa: ANN202
        m = self.model
        return (m.model if hasattr(m, "model") else m)[0].hidden


class Wrapped(nn.Module):
    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, xb: torch.Tensor) -> torch.Tensor:
        return self.model(xb)


def test_reset_hidden_before_each_pass() -> None:
    spy = HiddenSpy()
    _lm_learner(cbs=[RNNRegularizer(), ResetHidden(), spy]).fit(2)
    assert spy.seen == [("epoch", True), ("validate", True)] * 2
    spy = HiddenSpy()
    _lm_learner(cbs=[RNNRegularizer(), spy]).fit(1)  # without it, validation starts from training's state
    assert spy.seen == [("epoch", True), ("validate", False)]
    spy = HiddenSpy()
    learn = _lm_learner(cbs=[RNNRegularizer(), ResetHidden(), spy])
    learn.model = Wrapped(learn.model)  # found through a wrapper's .model
    learn.fit(1)
    assert spy.seen == [("epoch", True), ("validate", True)]


# ---- gradient clipping --------------------------------------------------------------------------


class GradsBefore(Callback):
    """The gradients just before the clipping."""

    order = Order.CLIP - 1

    def __init__(self) -> None:
        self.grads: list[list[torch.Tensor]] = []

    def after_backward(self) -> None:
        self.grads.append([p.grad.detach().clone() for g in self.opt.param_groups for p in g["params"]])


class GradsAfter(GradsBefore):
    """The gradients just after it (the step uses these)."""

    order = Order.CLIP + 1


@pytest.mark.parametrize("clip", [0.01, 1e6])
def test_gradient_clipping_scales_to_the_norm(clip: float) -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 7), nn.ReLU(), nn.Linear(7, 3)).double()
    before, after = GradsBefore(), GradsAfter()
    gc = GradientClipping(clip)
    learn = Learner(model, tiny_data(32, 8, 5, 3, bs=8, dtype=F64), cross_entropy, lr=0.1, cbs=[gc, before, after])
    learn.fit(1)
    assert len(gc.norms) == len(before.grads) == 4
    for norm, g0, g1 in zip(gc.norms, before.grads, after.grads):
        hand = torch.sqrt(sum((g**2).sum() for g in g0)).item()
        assert norm == pytest.approx(hand, rel=1e-12)
        coef = min(1.0, clip / (hand + 1e-6))  # clip_grad_norm_'s formula
        for a, b in zip(g0, g1):
            check_close(b, a * coef, what=f"clipped gradient (clip={clip})", **CLOSE64)
        if clip < hand:
            assert torch.sqrt(sum((g**2).sum() for g in g1)).item() == pytest.approx(clip, rel=1e-4)
    with pytest.raises(ValueError, match="GradientClipping: expected clip"):
        GradientClipping(0.0)


# ---- generation ---------------------------------------------------------------------------------


def _lm(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return get_language_model(V, CFG).double()


def test_generate_greedy_is_the_argmax_of_the_whole_sequence() -> None:
    lm = _lm()
    prompt = torch.tensor([2, 9, 4, 11])
    out = generate(lm, prompt, 8, temperature=0.0)
    assert out.dtype == torch.long and out.shape == (8,)
    lm.eval()
    seq = prompt.clone()
    for k in range(8):
        lm.reset()
        scores = lm(seq[None])[0][0, -1].clone()
        scores[[0, 1]] = -float("inf")
        assert int(scores.argmax()) == int(out[k]), f"token {k}"
        seq = torch.cat([seq, out[k : k + 1]])


def test_generate_never_banned_reproducible_and_restores_the_model() -> None:
    lm = _lm()
    with torch.no_grad():
        lm[1].decoder.bias[[0, 1, 5]] = 30.0  # the banned tokens are by far the most likely
    lm.train()
    prompt = torch.tensor([3, 4])
    a = generate(lm, prompt, 30, generator=gen(0))
    assert len(a) == 30 and not any(t in (0, 1) for t in a.tolist())
    assert (a == 5).all()  # allowed, and most likely
    b = generate(lm, prompt, 30, temperature=1.0, generator=gen(0), banned=(0, 1, 5))
    assert not any(t in (0, 1, 5) for t in b.tolist())
    assert torch.equal(b, generate(lm, prompt, 30, generator=gen(0), banned=(0, 1, 5)))  # seeded: the same
    assert not torch.equal(b, generate(lm, prompt, 30, generator=gen(1), banned=(0, 1, 5)))
    assert lm.training and lm[0].hidden is None  # training mode back, state forgotten
    with pytest.raises(ValueError, match="generate: expected prompt to be a non-empty 1-d int64 tensor"):
        generate(lm, torch.tensor([], dtype=torch.long), 3)
    with pytest.raises(ValueError, match="generate: expected n_tokens to be a positive int, got int 0"):
        generate(lm, prompt, 0)
    with pytest.raises(ValueError, match="generate: expected temperature"):
        generate(lm, prompt, 2, temperature=-1.0)
