"""Tests for foundations.hooks: Hook, ListContainer, Hooks, append_stats, get_hist, get_min.

Hooks must come off their modules: after ``remove()``, after the ``with`` block (also when the
block, or a training run inside it, raises), and when a hook is dropped. The statistics are checked
against direct computation on the layers' outputs: ``Tensor.mean``/``std`` and ``torch.histogram``
(float64), and the share of near-zero values counted elementwise.
"""

from __future__ import annotations

import gc
from functools import partial

import pytest
import torch
from conftest import CLOSE64, F64, gen, randn
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from foundations.data import DataBunch, Dataset, get_dls
from foundations.hooks import (ActivationStats, Hook, Hooks, ListContainer, ParamHook, ParamHooks, RecordSteps,
                              append_stats, get_hist, get_min)
from foundations.learner import Callback, CancelStepException, Learner
from foundations.losses import cross_entropy
from foundations.models import get_cnn_model
from foundations.optim import SGD
from foundations.testing import check_close

pytestmark = pytest.mark.lesson10


def n_hooks(model: nn.Module) -> int:
    """How many forward hooks are registered on ``model`` and all its sub-modules."""
    return sum(len(m._forward_hooks) for m in model.modules())


def small_model() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(6, 5), nn.ReLU(), nn.Linear(5, 4), nn.ReLU(), nn.Linear(4, 3))


# ---- Hook ------------------------------------------------------------------------------------------


def test_hook_sees_module_input_and_output_then_comes_off() -> None:
    model = small_model()
    seen = []

    def fn(hook: Hook, mod: nn.Module, inp: tuple, outp: torch.Tensor) -> None:
        seen.append((hook, mod, inp[0].clone(), outp.clone()))

    h = Hook(model[0], fn)
    x = torch.randn(7, 6)
    model(x)
    assert len(seen) == 1
    hook, mod, inp, outp = seen[0]
    assert hook is h and mod is model[0]
    check_close(inp, x, what="the input the hook saw", atol=0)
    check_close(outp, model[0](x), what="the output the hook saw", atol=0)
    assert n_hooks(model) == 1
    assert len(seen) == 2  # calling model[0](x) directly, for the check above, ran the hook too
    h.remove()
    h.remove()  # twice is harmless
    assert h.removed and n_hooks(model) == 0
    model(x)
    assert len(seen) == 2, "a removed hook must not be called"


def test_dropping_a_hook_removes_it() -> None:
    model = small_model()
    h = Hook(model[2], append_stats)
    assert len(model[2]._forward_hooks) == 1
    del h
    gc.collect()
    assert len(model[2]._forward_hooks) == 0


def test_hook_rejects_bad_arguments() -> None:
    with pytest.raises(TypeError, match="Hook: expected a torch.nn.Module, got function"):
        Hook(lambda x: x, append_stats)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"expected fn\(hook, module, inputs, output\) to be callable, got int"):
        Hook(nn.ReLU(), 3)  # type: ignore[arg-type]


# ---- ListContainer ---------------------------------------------------------------------------------


def test_list_container_indexing() -> None:
    lc = ListContainer(range(10))
    assert lc[3] == 3 and lc[-1] == 9 and lc[2:5] == [2, 3, 4] and lc[[0, 9, 9]] == [0, 9, 9]
    mask = [i % 3 == 0 for i in range(10)]
    assert lc[mask] == [0, 3, 6, 9] == lc[torch.tensor(mask)]
    assert len(lc) == 10 and list(lc) == list(range(10))
    lc[0] = "zero"
    del lc[1]
    assert lc[0] == "zero" and lc[1] == 2 and len(lc) == 9
    assert repr(ListContainer(range(12))).startswith("ListContainer (12 items)\n[0, 1, 2")
    assert repr(ListContainer(range(12))).endswith(", ...]")


def test_list_container_rejects_bad_indices() -> None:
    lc = ListContainer("abc" for _ in range(3))
    with pytest.raises(IndexError, match="expected a mask of 3 bools, got 2"):
        lc[[True, False]]
    with pytest.raises(TypeError, match="expected a list of ints or of bools"):
        lc[[0, True]]
    with pytest.raises(TypeError, match="got float"):
        lc[1.0]
    with pytest.raises(TypeError, match="ListContainer: expected an iterable of items, got int"):
        ListContainer(3)  # type: ignore[arg-type]


# ---- Hooks -----------------------------------------------------------------------------------------


def test_hooks_on_a_model_hook_each_child_and_come_off_at_exit() -> None:
    model = small_model()
    with Hooks(model, append_stats) as hooks:
        assert len(hooks) == 5 and n_hooks(model) == 5
        assert [h.module for h in hooks] == list(model.children())
        model(torch.randn(4, 6))
        assert all(len(h.stats.means) == 1 for h in hooks)
    assert n_hooks(model) == 0 and all(h.removed for h in hooks)


def test_hooks_come_off_when_the_block_raises() -> None:
    model = small_model()
    with pytest.raises(RuntimeError, match="boom"):
        with Hooks(model[::2], append_stats):
            assert n_hooks(model) == 3
            raise RuntimeError("boom")
    assert n_hooks(model) == 0


class FailAfter(Callback):
    """Raises an ordinary error (not a Cancel* exception) after ``n`` training batches."""

    def __init__(self, n: int) -> None:
        self.n = n

    def after_batch(self) -> None:
        if self.in_train and self.n_iter >= self.n:
            raise ValueError(f"simulated failure after {self.n} batches")



def _tiny_cnn_learner() -> tuple[nn.Module, Learner]:
    """A two-conv CNN on 40 random 8x8 images of 3 classes, with SGD at lr 0.1 (seeded)."""
    g = gen(0)
    x, y = torch.randn(40, 1, 8, 8, generator=g), torch.randint(0, 3, (40,), generator=g)
    ds = Dataset(x, y)
    data = DataBunch(*get_dls(ds, ds, 8), c_in=64, c_out=3)
    torch.manual_seed(0)
    model = get_cnn_model(data, [4, 8])
    return model, Learner(model, data, cross_entropy, lr=0.1)


def test_hooks_come_off_when_training_raises() -> None:
    model, learn = _tiny_cnn_learner()
    with pytest.raises(ValueError, match="simulated failure after 3 batches"):
        with Hooks(model[:2], append_stats) as hooks:
            learn.fit(2, cbs=[FailAfter(3)])
    assert n_hooks(model) == 0
    assert [len(h.stats.means) for h in hooks] == [3, 3], "each hook should have recorded the 3 batches before the failure"


def test_hooks_delitem_and_remove() -> None:
    model = small_model()
    hooks = Hooks([model[0], model[2]], append_stats)
    first = hooks[0]
    del hooks[0]
    assert first.removed and len(hooks) == 1 and len(model[0]._forward_hooks) == 0
    assert len(model[2]._forward_hooks) == 1
    hooks.remove()
    assert n_hooks(model) == 0


def test_hooks_reject_bad_arguments() -> None:
    with pytest.raises(TypeError, match="expected torch.nn.Module objects, got str at position 1"):
        Hooks([nn.ReLU(), "relu"], append_stats)  # type: ignore[list-item]
    with pytest.raises(ValueError, match="expected at least one module to hook, got none"):
        Hooks([], append_stats)


# ---- append_stats, get_hist, get_min ---------------------------------------------------------------


def test_append_stats_against_direct_computation() -> None:
    model = small_model().double()
    stats = partial(append_stats, bins=12, hist_range=(-1.5, 2.5))
    xs = [randn(9, 6, seed=s) * 3 for s in range(4)]
    with Hooks(model, stats) as hooks:
        for x in xs:
            model(x)
    for i, h in enumerate(hooks):
        outs = []
        for x in xs:
            a = x
            for layer in list(model)[: i + 1]:
                a = layer(a)
            outs.append(a.detach())
        what = f"layer {i} ({type(model[i]).__name__})"
        st_ = h.stats
        assert isinstance(st_, ActivationStats) and (st_.bins, st_.lo, st_.hi) == (12, -1.5, 2.5)
        check_close(torch.tensor(st_.means, dtype=F64), torch.stack([o.mean() for o in outs]), what=f"means of {what}", **CLOSE64)
        check_close(torch.tensor(st_.stds, dtype=F64), torch.stack([o.std() for o in outs]), what=f"stds of {what}", **CLOSE64)
        expected_hists = torch.stack([torch.histogram(o, 12, range=(-1.5, 2.5)).hist for o in outs])
        check_close(torch.stack(st_.hists), expected_hists, what=f"histograms of {what}", atol=0)
        assert st_.numels == [o.numel() for o in outs]
        check_close(get_hist(h), expected_hists.t(), what=f"get_hist of {what}", atol=0)
        assert tuple(get_hist(h).shape) == (12, len(xs))


def test_append_stats_skips_evaluation_mode() -> None:
    model = small_model()
    with Hooks(model, append_stats) as hooks:
        model(torch.randn(3, 6))
        model.eval()
        with torch.no_grad():
            model(torch.randn(3, 6))
        model.train()
        model(torch.randn(3, 6))
    assert [len(h.stats.means) for h in hooks] == [2] * 5


def test_relu_zeros_fall_in_the_bin_starting_at_zero() -> None:
    relu = nn.ReLU()
    h = Hook(relu, partial(append_stats, bins=40, hist_range=(-7.0, 7.0)))
    relu(torch.tensor([-3.0, -1.0, 0.0, 0.1, 0.5, 8.0]))
    hist = get_hist(h)[:, 0]
    assert hist[20] == 4  # three zeros and 0.1 in [0, 0.35)
    assert hist[21] == 1 and hist.sum() == 5  # 0.5 in [0.35, 0.7); 8.0 is out of range
    check_close(get_min(h, slice(19, 21)), torch.tensor([4 / 6]), what="share near zero", atol=1e-7)


@settings(max_examples=40)
@given(
    n=st.integers(1, 50), batches=st.integers(1, 4), threshold_bins=st.integers(1, 5), seed=st.integers(0, 2**16),
)
def test_get_min_is_the_share_of_small_activations(n: int, batches: int, threshold_bins: int, seed: int) -> None:
    g = gen(seed)
    relu = nn.ReLU()
    h = Hook(relu, append_stats)  # the course's 40 bins over [0, 10]: width 0.25
    outs = [relu(torch.randn(n, 3, generator=g, dtype=F64) * 2) for _ in range(batches)]
    limit = 0.25 * threshold_bins
    expected = torch.tensor([((o >= 0) & (o < limit)).double().mean().item() for o in outs])
    check_close(get_min(h, threshold_bins), expected, what=f"share of activations in [0, {limit})", atol=1e-6)
    check_close(get_min(h, slice(0, threshold_bins)), expected, what="the same share with a slice", atol=1e-6)


@settings(max_examples=30)
@given(shape=st.lists(st.integers(1, 6), min_size=1, max_size=4), seed=st.integers(0, 2**16))
def test_append_stats_mean_std_on_any_shape(shape: list[int], seed: int) -> None:
    x = randn(*shape, seed=seed)
    ident = nn.Identity()
    h = Hook(ident, append_stats)
    ident(x)
    check_close(torch.tensor(h.stats.means[0], dtype=F64), x.mean(), what=f"mean of {tuple(shape)}", **CLOSE64)
    expected_std = x.std() if x.numel() > 1 else torch.tensor(float("nan"), dtype=F64)
    check_close(torch.tensor(h.stats.stds[0], dtype=F64), expected_std, what=f"std of {tuple(shape)}", **CLOSE64)


def test_stats_helpers_reject_bad_input() -> None:
    relu = nn.ReLU()
    h = Hook(relu, append_stats)
    with pytest.raises(ValueError, match="get_hist: expected a hook that recorded with append_stats"):
        get_hist(h)
    relu.eval()
    relu(torch.randn(3))
    with pytest.raises(ValueError, match="get_min: expected at least one recorded training batch, got none"):
        get_min(h, 2)
    relu.train()
    relu(torch.randn(3))
    with pytest.raises(ValueError, match="get_min: expected between 1 and 40 bins, got 41"):
        get_min(h, 41)
    with pytest.raises(ValueError, match="selects none of the 40 bins"):
        get_min(h, slice(40, 50))
    with pytest.raises(TypeError, match="expected bins to be a slice of bin indices or an int, got list"):
        get_min(h, [0, 1])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"this hook records 40 bins over \(0.0, 10.0\), got 10 over \(0.0, 10.0\)"):
        append_stats(h, relu, (), torch.randn(3), bins=10)
    with pytest.raises(ValueError, match=r"append_stats: expected hist_range to be a pair \(lo, hi\) of finite numbers with lo < hi, got tuple \(1\.0, 1\.0\)"):
        append_stats(Hook(nn.ReLU(), append_stats), relu, (), torch.randn(3), hist_range=(1.0, 1.0))


# ---- backward telemetry: ParamHook, ParamHooks, RecordSteps ------------------------------------------


def n_tensor_hooks(model: nn.Module) -> int:
    """How many tensor (backward) hooks are registered on the model's parameters."""
    return sum(len(p._backward_hooks or {}) for p in model.parameters())


def test_param_hook_after_one_manual_step_equals_direct_computation() -> None:
    model = small_model()
    lr = 0.3
    opt = SGD(model.parameters(), lr)
    h = ParamHook(model[2])
    assert n_tensor_hooks(model) == 2  # weight and bias of model[2]
    x, y = torch.randn(9, 6), torch.randint(0, 3, (9,))
    old = [p.detach().clone() for p in model[2].parameters()]
    cross_entropy(model(x), y).backward()
    grads = [p.grad.detach().clone() for p in model[2].parameters()]
    opt.step()
    assert h.step() is True
    new = [p.detach().clone() for p in model[2].parameters()]
    flat = lambda ts: torch.cat([t.reshape(-1).double() for t in ts])  # noqa: E731
    w_old, w_new, g = flat(old), flat(new), flat(grads)
    st = h.stats
    assert len(st.grad_norms) == len(st.weight_norms) == len(st.update_norms) == 1
    check_close(torch.tensor(st.grad_norms[0], dtype=F64), g.norm(), what="gradient norm", rtol=1e-6)
    check_close(torch.tensor(st.weight_norms[0], dtype=F64), w_old.norm(), what="weight norm before the step", rtol=1e-6)
    check_close(st.update_ratios()[0], (w_new - w_old).norm() / w_old.norm(), what="update ratio", rtol=1e-6)
    check_close(st.grad_ratios()[0], g.norm() / w_old.norm(), what="gradient ratio", rtol=1e-6)
    # plain SGD: the step is lr * g
    check_close(st.update_ratios()[0], lr * st.grad_ratios()[0], what="SGD update ratio = lr * grad ratio", rtol=1e-5)
    h.remove()
    assert h.removed and n_tensor_hooks(model) == 0
    h.remove()  # harmless twice


def test_param_hook_measures_the_actual_step_with_momentum() -> None:
    model = small_model()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    h = ParamHook(model[0])
    x, y = torch.randn(9, 6), torch.randint(0, 3, (9,))
    for _ in range(3):
        old = torch.cat([p.detach().reshape(-1).clone() for p in model[0].parameters()]).double()
        cross_entropy(model(x), y).backward()
        opt.step()
        h.step()
        opt.zero_grad()
    new = torch.cat([p.detach().reshape(-1) for p in model[0].parameters()]).double()
    check_close(h.stats.update_ratios()[-1], (new - old).norm() / old.norm(), what="update ratio with momentum", rtol=1e-6)
    assert len(h.stats.update_norms) == 3
    # with momentum the step is no longer lr * g
    assert not torch.allclose(h.stats.update_ratios()[-1], 0.1 * h.stats.grad_ratios()[-1], rtol=1e-3)


def test_param_hook_step_without_backward_and_reset_record_nothing() -> None:
    model = small_model()
    h = ParamHook(model[0])
    assert h.step() is False
    cross_entropy(model(torch.randn(4, 6)), torch.tensor([0, 1, 2, 0])).backward()
    h.reset()
    assert h.step() is False and h.stats.grad_norms == []


def test_dropping_a_param_hook_removes_it() -> None:
    model = small_model()
    h = ParamHook(model[0])
    assert n_tensor_hooks(model) == 2
    del h
    gc.collect()
    assert n_tensor_hooks(model) == 0


def test_param_hooks_record_every_step_and_come_off_when_training_raises() -> None:
    model, learn = _tiny_cnn_learner()
    with pytest.raises(ValueError, match="simulated failure after 3 batches"):
        with ParamHooks(model) as ph:
            assert len(ph) == 3  # two conv blocks and the linear layer; pool and flatten have no parameters
            assert n_tensor_hooks(model) == 2 + 2 + 2
            learn.fit(2, cbs=[RecordSteps(ph), FailAfter(3)])
    assert n_tensor_hooks(model) == 0
    assert [len(h.stats.update_norms) for h in ph] == [3, 3, 3]
    assert all(0 < r < 10 for h in ph for r in h.stats.update_ratios().tolist())


def test_record_steps_forgets_the_gradients_of_a_skipped_step() -> None:
    model, learn = _tiny_cnn_learner()  # 5 training batches of 8
    skipped = {1, 3}
    norms: list[float] = []  # the gradient norm of the last layer at every training batch

    class GradNormsThenSkip(Callback):
        def after_backward(self) -> None:
            g = torch.cat([p.grad.reshape(-1).double() for p in model[-1].parameters()])
            norms.append(g.norm().item())
            if self.n_iter in skipped:
                raise CancelStepException()

    with ParamHooks([model[-1]]) as ph:
        learn.fit(1, cbs=[RecordSteps(ph), GradNormsThenSkip()])
    stepped = [n for i, n in enumerate(norms) if i not in skipped]
    assert len(norms) == 5 and len(ph[0].stats.grad_norms) == 3
    # each record is one stepped batch's gradient, not the skipped batch's added to the next
    check_close(torch.tensor(ph[0].stats.grad_norms, dtype=F64), torch.tensor(stepped, dtype=F64),
                what="gradient norms recorded for the stepped batches", rtol=1e-6)


def test_param_hooks_reject_bad_arguments() -> None:
    model = small_model()
    with pytest.raises(ValueError, match="trainable parameters, got ReLU"):
        ParamHook(model[1])
    with pytest.raises(TypeError, match="expected a torch.nn.Module, got int"):
        ParamHook(3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="trainable parameters, got ReLU"):
        ParamHooks([model[0], model[1]])
    assert n_tensor_hooks(model) == 0, "hooks registered before the bad module must come off"
    with pytest.raises(ValueError, match="at least one module"):
        ParamHooks([])
    with pytest.raises(TypeError, match="expected ParamHooks"):
        RecordSteps([])  # type: ignore[arg-type]
