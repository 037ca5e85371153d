"""Tests for foundations.norm: every normaliser against PyTorch in float64, in both modes.

Oracles: ``torch.nn.BatchNorm2d``/``BatchNorm1d``, ``torch.nn.functional.layer_norm``,
``torch.nn.InstanceNorm2d`` and ``torch.nn.GroupNorm``, with the same weights, on the same batches:
outputs, running statistics after several steps, and gradients (autograd through our layer vs
autograd through PyTorch's kernels, plus ``torch.autograd.gradcheck``). ``RunningBatchNorm`` has no
PyTorch counterpart: it is compared with a direct float64 computation of its definition, and with
``F.batch_norm``'s batch statistics after its first batch (the debiasing property).
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from conftest import F64, gen
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import Tensor, nn

from foundations.norm import BatchNorm, GroupNorm, InstanceNorm, LayerNorm, RunningBatchNorm
from foundations.testing import check_close

pytestmark = pytest.mark.lesson10

TOL = {"atol": 1e-10, "rtol": 1e-10}


def batch(shape: tuple[int, ...], seed: int, loc: float = 0.5, scale: float = 2.0) -> Tensor:
    """A float64 batch with mean ``loc`` and spread ``scale`` (not standardised: the layers must work)."""
    g = gen(seed)
    return torch.randn(*shape, generator=g, dtype=F64) * scale + loc


def randomise(*modules: nn.Module, seed: int = 0) -> None:
    """Give the modules the same random affine parameters (the defaults, ones and zeros, hide bugs)."""
    g = gen(seed)
    params = [dict(m.named_parameters()) for m in modules]
    with torch.no_grad():
        for name, p in params[0].items():
            value = torch.randn(p.shape, generator=g, dtype=F64) * 0.5 + (1.0 if name == "weight" else 0.0)
            for ps in params:
                ps[name].copy_(value.reshape(ps[name].shape))


def forward_backward(module: nn.Module, x: Tensor, seed: int) -> tuple[Tensor, Tensor, dict[str, Tensor]]:
    """Output, gradient of the input, and gradients of the parameters for a random upstream gradient."""
    x = x.detach().clone().requires_grad_(True)
    module.zero_grad(set_to_none=True)
    y = module(x)
    g = gen(seed + 1000)
    (y * torch.randn(y.shape, generator=g, dtype=F64)).sum().backward()
    grads = {n: p.grad.detach().clone() for n, p in module.named_parameters()}
    return y.detach(), x.grad.detach(), grads


def compare(ours: nn.Module, theirs: nn.Module, x: Tensor, seed: int, what: str) -> None:
    """Outputs and all gradients of ``ours`` and ``theirs`` (same parameter names) on ``x``."""
    y1, gx1, gp1 = forward_backward(ours, x, seed)
    y2, gx2, gp2 = forward_backward(theirs, x, seed)
    check_close(y1, y2, what=f"{what}: output", **TOL)
    check_close(gx1, gx2, what=f"{what}: gradient of the input", **TOL)
    assert set(gp1) == set(gp2), f"{what}: parameters {sorted(gp1)} vs {sorted(gp2)}"
    for name in gp1:
        check_close(gp1[name], gp2[name], what=f"{what}: gradient of {name}", **TOL)


# ---- BatchNorm ----------------------------------------------------------------------------------

BN_CASES = [
    ("images (N, C, H, W)", (6, 4, 5, 5), nn.BatchNorm2d),
    ("images of one pixel (8, 3, 1, 1)", (8, 3, 1, 1), nn.BatchNorm2d),
    ("features (N, C)", (7, 5), nn.BatchNorm1d),
    ("a batch of two (2, 3, 2, 3)", (2, 3, 2, 3), nn.BatchNorm2d),
]


@pytest.mark.parametrize(("what", "shape", "torch_cls"), BN_CASES, ids=[c[0] for c in BN_CASES])
@pytest.mark.parametrize(("mom", "eps"), [(0.1, 1e-5), (0.35, 1e-3)])
def test_batchnorm_matches_torch_in_training_then_evaluation(
    what: str, shape: tuple[int, ...], torch_cls: type, mom: float, eps: float
) -> None:
    nf = shape[1]
    ours, theirs = BatchNorm(nf, mom=mom, eps=eps).double(), torch_cls(nf, momentum=mom, eps=eps).double()
    randomise(ours, theirs)
    for step in range(4):  # training: batch statistics, and running statistics after every step
        x = batch(shape, seed=step, loc=step - 1.0, scale=1.0 + step)
        compare(ours, theirs, x, seed=step, what=f"BatchNorm training step {step} on {what}")
        check_close(ours.running_mean, theirs.running_mean, what=f"running_mean after step {step} on {what}", **TOL)
        check_close(ours.running_var, theirs.running_var, what=f"running_var after step {step} on {what}", **TOL)
        assert int(ours.num_batches_tracked) == int(theirs.num_batches_tracked) == step + 1
    ours.eval()
    theirs.eval()
    x = batch(shape, seed=99, loc=-2.0)
    compare(ours, theirs, x, seed=99, what=f"BatchNorm evaluation on {what}")
    assert int(ours.num_batches_tracked) == 4, "evaluation must not move the running statistics"


def test_batchnorm_running_stats_use_unbiased_variance() -> None:
    x = batch((4, 2, 3, 3), seed=5)
    bn = BatchNorm(2, mom=1.0).double()  # mom 1: the running statistics become this batch's
    bn(x)
    check_close(bn.running_mean, x.mean((0, 2, 3)), what="running_mean with mom=1", **TOL)
    check_close(bn.running_var, x.var((0, 2, 3), correction=1), what="running_var with mom=1 (unbiased)", **TOL)


def test_batchnorm_training_output_is_normalised() -> None:
    x = batch((16, 3, 4, 4), seed=1, loc=5.0, scale=3.0)
    y = BatchNorm(3).double()(x)  # default weight 1, bias 0
    check_close(y.mean((0, 2, 3)), torch.zeros(3, dtype=F64), what="per-channel mean after BatchNorm", atol=1e-12)
    check_close(y.var((0, 2, 3), correction=0), torch.ones(3, dtype=F64), what="per-channel variance", atol=1e-5)


def test_batchnorm_gradcheck() -> None:
    x = batch((3, 2, 2, 2), seed=2).requires_grad_(True)
    bn = BatchNorm(2).double()
    randomise(bn)
    assert torch.autograd.gradcheck(bn, (x,))  # training: the batch statistics depend on x too
    bn.eval()
    assert torch.autograd.gradcheck(bn, (x,))


def test_batchnorm_state_dict_loads_into_torch_and_back() -> None:
    ours = BatchNorm(4, mom=0.2).double()
    randomise(ours)
    for step in range(3):
        ours(batch((5, 4, 3, 3), seed=step, loc=step))
    theirs = nn.BatchNorm2d(4, momentum=0.2).double()
    theirs.load_state_dict(ours.state_dict())  # strict: the same keys, shapes and dtypes
    ours.eval()
    theirs.eval()
    x = batch((2, 4, 3, 3), seed=10)
    check_close(ours(x), theirs(x), what="evaluation after loading our state_dict into nn.BatchNorm2d", **TOL)
    back = BatchNorm(4).double()
    back.load_state_dict(theirs.state_dict())
    back.eval()
    check_close(back(x), theirs(x), what="evaluation after loading nn.BatchNorm2d's state_dict into ours", **TOL)


def test_batchnorm_eval_output_does_not_depend_on_the_batch() -> None:
    bn = BatchNorm(3).double()
    for step in range(3):
        bn(batch((4, 3, 2, 2), seed=step))
    bn.eval()
    x = batch((5, 3, 2, 2), seed=7)
    check_close(bn(x)[:1], bn(x[:1]), what="a sample's output alone vs in a batch (evaluation)", **TOL)
    bn.train()
    assert not torch.allclose(bn(x)[:2], bn(x[:2])), "in training, a sample's output depends on its batch"


@settings(max_examples=25)
@given(
    n=st.integers(2, 5), c=st.integers(1, 4), h=st.integers(1, 4), w=st.integers(1, 4),
    seed=st.integers(0, 2**16), mom=st.floats(0.0, 1.0),
)
def test_batchnorm_matches_torch_on_any_image_shape(n: int, c: int, h: int, w: int, seed: int, mom: float) -> None:
    ours, theirs = BatchNorm(c, mom=mom).double(), nn.BatchNorm2d(c, momentum=mom).double()
    randomise(ours, theirs, seed=seed)
    x = batch((n, c, h, w), seed=seed)
    compare(ours, theirs, x, seed=seed, what=f"BatchNorm on shape {(n, c, h, w)}")
    check_close(ours.running_var, theirs.running_var, what="running_var", **TOL)


def test_batchnorm_float32_matches_torch() -> None:
    ours, theirs = BatchNorm(4), nn.BatchNorm2d(4)
    x = batch((8, 4, 6, 6), seed=3).float()
    check_close(ours(x), theirs(x), what="BatchNorm in float32", atol=1e-5, rtol=1e-5)
    check_close(ours.running_var, theirs.running_var, what="running_var in float32", atol=1e-6, rtol=1e-6)


@pytest.mark.parametrize(
    ("shape", "message"),
    [
        ((2, 3, 4, 4), r"BatchNorm: expected input of shape \(N, 4\) or \(N, 4, H, W\), got \(2, 3, 4, 4\)"),
        ((2, 4, 5), r"expected input of shape \(N, 4\) or \(N, 4, H, W\), got \(2, 4, 5\)"),
        ((4,), r"got \(4,\)"),
        ((1, 4), r"expected more than 1 value per channel in training, got input of shape \(1, 4\)"),
        ((1, 4, 1, 1), r"more than 1 value per channel"),
    ],
)
def test_batchnorm_rejects_bad_input(shape: tuple[int, ...], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        BatchNorm(4)(torch.zeros(shape))


def test_batchnorm_one_sample_is_fine_in_evaluation() -> None:
    bn = BatchNorm(4).eval()
    assert bn(torch.zeros(1, 4)).shape == (1, 4)


def test_batchnorm_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match=r"BatchNorm: expected nf to be a positive int, got int 0"):
        BatchNorm(0)
    with pytest.raises(TypeError, match=r"expected nf to be a positive int, got float 2.5"):
        BatchNorm(2.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"BatchNorm: expected mom to be a number in \[0, 1\], got float 1\.5"):
        BatchNorm(3, mom=1.5)
    with pytest.raises(ValueError, match=r"BatchNorm: expected eps to be a finite number > 0, got int 0"):
        BatchNorm(3, eps=0)
    with pytest.raises(TypeError, match=r"BatchNorm: expected x to be a floating-point tensor, got Tensor of dtype torch\.int64 and shape \(2, 3\)"):
        BatchNorm(3)(torch.zeros(2, 3, dtype=torch.long))


# ---- LayerNorm ----------------------------------------------------------------------------------


class TorchLayerNorm(nn.Module):
    """The oracle: ``F.layer_norm`` over all but the batch dimension, elementwise affine parameters
    all equal to two learned scalars (``expand`` sums their gradients back into the scalars)."""

    def __init__(self, eps: float = 1e-5) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(1))
        self.bias = nn.Parameter(torch.zeros(1))

    def forward(self, x: Tensor) -> Tensor:
        shape = x.shape[1:]
        return F.layer_norm(x, shape, self.weight.expand(shape), self.bias.expand(shape), self.eps)


@pytest.mark.parametrize("shape", [(4, 3, 5, 5), (6, 7), (3, 2, 9), (2, 1, 1, 1)], ids=str)
@pytest.mark.parametrize("eps", [1e-5, 0.1])
def test_layernorm_matches_torch_in_both_modes(shape: tuple[int, ...], eps: float) -> None:
    ours, theirs = LayerNorm(eps).double(), TorchLayerNorm(eps).double()
    randomise(ours, theirs, seed=len(shape))
    for mode in ("training", "evaluation"):
        ours.train(mode == "training")
        theirs.train(mode == "training")
        compare(ours, theirs, batch(shape, seed=3, loc=4.0), seed=3, what=f"LayerNorm ({mode}) on {shape}")


def test_layernorm_equals_torch_layernorm_module_with_default_parameters() -> None:
    x = batch((3, 4, 5, 5), seed=4)
    check_close(LayerNorm().double()(x), nn.LayerNorm([4, 5, 5]).double()(x), what="nn.LayerNorm([C, H, W])", **TOL)


def test_layernorm_normalises_each_sample_and_gradchecks() -> None:
    x = batch((4, 3, 2, 2), seed=6, loc=3.0)
    y = LayerNorm().double()(x)
    check_close(y.mean((1, 2, 3)), torch.zeros(4, dtype=F64), what="per-sample mean after LayerNorm", atol=1e-12)
    ln = LayerNorm().double()
    randomise(ln)
    assert torch.autograd.gradcheck(ln, (batch((2, 3, 2, 2), seed=1).requires_grad_(True),))


def test_layernorm_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match=r"LayerNorm: expected input of shape \(N, C, \.\.\.\) with two or more dimensions, got \(5,\)"):
        LayerNorm()(torch.zeros(5))
    with pytest.raises(ValueError, match=r"LayerNorm: expected eps to be a finite number > 0, got int -1"):
        LayerNorm(eps=-1)


# ---- InstanceNorm -------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(4, 3, 5, 5), (1, 2, 3, 1), (2, 5, 2, 2)], ids=str)
@pytest.mark.parametrize("affine", [True, False])
def test_instancenorm_matches_torch_in_both_modes(shape: tuple[int, ...], affine: bool) -> None:
    nf = shape[1]
    ours = InstanceNorm(nf, eps=1e-4, affine=affine).double()
    theirs = nn.InstanceNorm2d(nf, eps=1e-4, affine=affine).double()
    if affine:
        randomise(ours, theirs, seed=nf)
    else:
        assert list(ours.parameters()) == []
    for mode in ("training", "evaluation"):
        ours.train(mode == "training")
        theirs.train(mode == "training")
        compare(ours, theirs, batch(shape, seed=8, loc=-1.0), seed=8, what=f"InstanceNorm ({mode}) on {shape}")


def test_instancenorm_normalises_each_channel_of_each_image() -> None:
    x = batch((3, 2, 4, 4), seed=9, loc=2.0)
    y = InstanceNorm(2).double()(x)
    check_close(y.mean((2, 3)), torch.zeros(3, 2, dtype=F64), what="mean of each image channel", atol=1e-12)
    assert torch.autograd.gradcheck(InstanceNorm(2).double(), (batch((2, 2, 2, 2), seed=1).requires_grad_(True),))


def test_instancenorm_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match=r"InstanceNorm: expected input of shape \(N, 3, H, W\), got \(2, 3\)"):
        InstanceNorm(3)(torch.zeros(2, 3))
    with pytest.raises(ValueError, match=r"expected input of shape \(N, 3, H, W\), got \(2, 4, 5, 5\)"):
        InstanceNorm(3)(torch.zeros(2, 4, 5, 5))
    with pytest.raises(ValueError, match=r"expected more than 1 pixel per channel, got input of shape \(2, 3, 1, 1\): "
                       r"a single pixel minus its own mean is 0, so every image would give the same output"):
        InstanceNorm(3)(torch.zeros(2, 3, 1, 1))
    with pytest.raises(TypeError, match=r"expected affine to be a bool, got int"):
        InstanceNorm(3, affine=1)  # type: ignore[arg-type]


# ---- GroupNorm ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("groups", "shape"),
    [(1, (3, 4, 5, 5)), (2, (3, 4, 5, 5)), (4, (3, 4, 5, 5)), (3, (2, 6, 3, 2)), (2, (5, 4)), (2, (2, 6, 7))],
    ids=["G=1 (a LayerNorm)", "G=2", "G=C (an InstanceNorm)", "G=3 of 6 channels", "features (N, C)", "sequences (N, C, L)"],
)
def test_groupnorm_matches_torch_in_both_modes(groups: int, shape: tuple[int, ...]) -> None:
    nf = shape[1]
    ours, theirs = GroupNorm(groups, nf, eps=1e-4).double(), nn.GroupNorm(groups, nf, eps=1e-4).double()
    randomise(ours, theirs, seed=groups)
    for mode in ("training", "evaluation"):
        ours.train(mode == "training")
        theirs.train(mode == "training")
        compare(ours, theirs, batch(shape, seed=11, loc=3.0), seed=11, what=f"GroupNorm({groups}, {nf}) ({mode}) on {shape}")


def test_groupnorm_extremes_equal_instancenorm_and_layernorm() -> None:
    x = batch((3, 4, 3, 3), seed=12)
    check_close(GroupNorm(4, 4).double()(x), InstanceNorm(4).double()(x), what="GroupNorm(C, C) vs InstanceNorm", **TOL)
    check_close(GroupNorm(1, 4).double()(x), LayerNorm().double()(x), what="GroupNorm(1, C) vs LayerNorm", **TOL)
    assert torch.autograd.gradcheck(GroupNorm(2, 4).double(), (batch((2, 4, 2, 2), seed=1).requires_grad_(True),))


def test_groupnorm_rejects_bad_arguments_and_input() -> None:
    with pytest.raises(ValueError, match=r"GroupNorm: expected num_groups to divide nf, got num_groups=3 and nf=8"):
        GroupNorm(3, 8)
    with pytest.raises(ValueError, match=r"GroupNorm: expected num_groups to be a positive int, got int 0"):
        GroupNorm(0, 8)
    with pytest.raises(ValueError, match=r"GroupNorm: expected input of shape \(N, 8, \.\.\.\) with two or more dimensions, got \(2, 4, 3, 3\)"):
        GroupNorm(2, 8)(torch.zeros(2, 4, 3, 3))
    with pytest.raises(ValueError, match=r"got \(8,\)"):
        GroupNorm(2, 8)(torch.zeros(8))


# ---- RunningBatchNorm ---------------------------------------------------------------------------


def rbn_reference(batches: list[Tensor], mom: float, eps: float, weight: Tensor, bias: Tensor) -> tuple[list[Tensor], dict[str, Tensor]]:
    """RunningBatchNorm's definition, computed directly in float64, batch by batch.

    S, Q, K: exponentially weighted sums of the values, their squares and the count per channel,
    with momentum m = 1 - (1 - mom) / sqrt(N - 1); then mean = S / K, var = Q / K - mean^2, and
    var at least 0.01 while fewer than 20 samples have been seen (the early clamp).
    The current batch's contribution keeps its gradient; the past is a constant.
    """
    c = weight.shape[0]
    s_run, q_run, k_run = torch.zeros(c, dtype=F64), torch.zeros(c, dtype=F64), 0.0
    outs = []
    seen = 0
    for x in batches:
        seen += x.shape[0]
        dims = [0] + list(range(2, x.ndim))
        m = 1 - (1 - mom) / math.sqrt(x.shape[0] - 1)
        s_run = (1 - m) * s_run.detach() + m * x.sum(dims)
        q_run = (1 - m) * q_run.detach() + m * (x**2).sum(dims)
        k_run = (1 - m) * k_run + m * (x.numel() / c)
        mean, var = s_run / k_run, q_run / k_run - (s_run / k_run) ** 2
        if seen < 20:
            var = var.clamp_min(0.01)
        shape = (1, c) + (1,) * (x.ndim - 2)
        outs.append((x - mean.view(shape)) / torch.sqrt(var.view(shape) + eps) * weight.view(shape) + bias.view(shape))
    return outs, {"sums": s_run.detach(), "sqrs": q_run.detach(), "count": torch.tensor(k_run, dtype=F64)}


@pytest.mark.parametrize(
    "shapes",
    [
        [(4, 3, 5, 5), (4, 3, 5, 5), (2, 3, 5, 5), (8, 3, 5, 5), (3, 3, 5, 5)],
        [(2, 5), (2, 5), (2, 5), (7, 5), (2, 5)],
        [(32, 2, 2, 2)] * 3,
    ],
    ids=["images, varying batch sizes", "features, batches of 2", "images, batches of 32"],
)
@pytest.mark.parametrize("mom", [0.1, 0.5])
def test_running_batchnorm_matches_its_definition(shapes: list[tuple[int, ...]], mom: float) -> None:
    c = shapes[0][1]
    rbn = RunningBatchNorm(c, mom=mom, eps=1e-4).double()
    randomise(rbn, seed=c)
    batches = [batch(s, seed=i, loc=1.0 + i, scale=1.0 + 0.5 * i).requires_grad_(True) for i, s in enumerate(shapes)]
    expected, stats = rbn_reference(batches, mom, 1e-4, rbn.weight.detach(), rbn.bias.detach())
    for i, (x, e) in enumerate(zip(batches, expected)):
        g = batch(tuple(x.shape), seed=100 + i)
        y = rbn(x)
        check_close(y, e, what=f"RunningBatchNorm training output at step {i}, shape {tuple(x.shape)}", **TOL)
        (gx,) = torch.autograd.grad((y * g).sum(), x)
        (gx_ref,) = torch.autograd.grad((e * g).sum(), x)
        check_close(gx, gx_ref, what=f"RunningBatchNorm gradient of the input at step {i}", **TOL)
    for name, value in stats.items():
        check_close(getattr(rbn, name), value, what=f"RunningBatchNorm buffer {name} after {len(shapes)} batches", **TOL)
    assert int(rbn.step) == len(shapes)
    # evaluation: the same running statistics, no update
    rbn.eval()
    x = batch(shapes[0], seed=50)
    mean = stats["sums"] / stats["count"]
    var = stats["sqrs"] / stats["count"] - mean**2
    shape = (1, c) + (1,) * (x.ndim - 2)
    w, b = rbn.weight.detach().view(shape), rbn.bias.detach().view(shape)
    e = (x - mean.view(shape)) / torch.sqrt(var.view(shape) + 1e-4) * w + b
    check_close(rbn(x), e, what="RunningBatchNorm evaluation output", **TOL)
    check_close(rbn.sums, stats["sums"], what="sums after evaluation (unchanged)", **TOL)


@pytest.mark.parametrize("shape", [(2, 3, 4, 4), (5, 4), (16, 2, 3, 3)], ids=str)
@pytest.mark.parametrize("mom", [0.1, 0.9])
def test_running_batchnorm_first_batch_uses_exactly_the_batch_statistics(shape: tuple[int, ...], mom: float) -> None:
    """The debiasing property: the running sums start at zero, yet the first batch is normalised by
    its own mean and biased variance, as BatchNorm in training mode does."""
    x = batch(shape, seed=13, loc=7.0, scale=0.5)
    rbn = RunningBatchNorm(shape[1], mom=mom).double()
    randomise(rbn)
    expected = F.batch_norm(x, None, None, rbn.weight.detach(), rbn.bias.detach(), training=True, eps=1e-5)
    check_close(rbn(x), expected, what=f"RunningBatchNorm's first batch (mom={mom}) vs F.batch_norm", **TOL)


def test_running_batchnorm_statistics_converge_at_batch_size_2() -> None:
    """Fed batches of two from N(3, 2^2), the running mean and variance approach 3 and 4."""
    g = gen(0)
    rbn = RunningBatchNorm(2).double()
    for _ in range(300):
        rbn(torch.randn(2, 2, 4, 4, generator=g, dtype=F64) * 2.0 + 3.0)
    mean = rbn.sums / rbn.count
    var = rbn.sqrs / rbn.count - mean**2
    check_close(mean, torch.full((2,), 3.0, dtype=F64), what="running mean after 300 batches of 2", atol=0.3)
    check_close(var, torch.full((2,), 4.0, dtype=F64), what="running variance after 300 batches of 2", atol=1.0)


def test_running_batchnorm_batch_momentum() -> None:
    rbn = RunningBatchNorm(3, mom=0.1)
    assert rbn.batch_mom(2) == pytest.approx(0.1)
    assert rbn.batch_mom(32) == pytest.approx(1 - 0.9 / math.sqrt(31))
    assert rbn.batch_mom(512) > 0.95


def test_running_batchnorm_gradcheck_and_untrained_evaluation() -> None:
    rbn = RunningBatchNorm(2).double()
    randomise(rbn)
    x = batch((3, 2, 2, 2), seed=3)
    rbn.eval()  # never trained: mean 0, variance 1
    w, b = rbn.weight.detach().view(1, 2, 1, 1), rbn.bias.detach().view(1, 2, 1, 1)
    check_close(rbn(x), x / math.sqrt(1 + 1e-5) * w + b, what="untrained RunningBatchNorm in evaluation", **TOL)
    rbn.train()
    rbn(batch((4, 2, 2, 2), seed=4))  # some history, so the past and the present both count

    def fresh_copy_forward(x: Tensor) -> Tensor:  # gradcheck calls many times: same state each call
        m = RunningBatchNorm(2).double()
        m.load_state_dict(rbn.state_dict())
        return m(x)

    assert torch.autograd.gradcheck(fresh_copy_forward, (x.clone().requires_grad_(True),))


def test_running_batchnorm_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match=r"RunningBatchNorm: expected a batch of at least 2 in training, got input of shape \(1, 3, 4, 4\)"):
        RunningBatchNorm(3)(torch.zeros(1, 3, 4, 4))
    with pytest.raises(ValueError, match=r"RunningBatchNorm: expected input of shape \(N, 3\) or \(N, 3, H, W\), got \(2, 5\)"):
        RunningBatchNorm(3)(torch.zeros(2, 5))
    with pytest.raises(ValueError, match=r"RunningBatchNorm: expected mom to be a number in \(0, 1\], got int 0"):
        RunningBatchNorm(3, mom=0)
    assert RunningBatchNorm(3).eval()(torch.zeros(1, 3)).shape == (1, 3), "evaluation takes a batch of one"


def test_running_batchnorm_early_clamp_limits_the_first_tiny_batches() -> None:
    """While fewer than 20 samples have been seen, the variance is at least 0.01 (the course's clamp):
    two nearly equal values come out at most 10x their difference from the mean, not +-1."""
    x = torch.tensor([[1.0], [1.02]], dtype=F64)  # a batch of 2, one channel: biased variance 1e-4
    clamped = RunningBatchNorm(1).double()(x)
    check_close(clamped, (x - 1.01) / math.sqrt(0.01 + 1e-5), what="first batch of 2, clamped", **TOL)
    free = RunningBatchNorm(1, warmup_samples=0).double()(x)
    check_close(free, F.batch_norm(x, None, None, training=True), what="first batch of 2, no clamp", **TOL)
    rbn = RunningBatchNorm(1).double()
    for _ in range(9):  # 18 samples: still clamped
        y = rbn(x)
    assert y.abs().max() < 0.2
    y = rbn(x)  # the 10th batch of 2: 20 samples seen, no clamp
    assert int(rbn.samples) == 20 and y.abs().max() > 0.9
    big = torch.tensor([[1.0], [1.02]], dtype=F64).repeat(10, 1)  # a first batch of 20: never clamped
    check_close(RunningBatchNorm(1).double()(big), F.batch_norm(big, None, None, training=True),
                what="first batch of 20", **TOL)
    with pytest.raises(ValueError, match=r"RunningBatchNorm: expected warmup_samples to be an int >= 0, got int -1"):
        RunningBatchNorm(1, warmup_samples=-1)


# ---- dtypes: input and layer must agree ---------------------------------------------------------

DTYPE_LAYERS = {
    "BatchNorm": lambda: BatchNorm(3),
    "RunningBatchNorm": lambda: RunningBatchNorm(3),
    "LayerNorm": lambda: LayerNorm(),
    "InstanceNorm": lambda: InstanceNorm(3),
    "GroupNorm": lambda: GroupNorm(3, 3),
}


@pytest.mark.parametrize("mode", ["training", "evaluation"])
@pytest.mark.parametrize("name", list(DTYPE_LAYERS))
def test_layers_reject_an_input_of_another_dtype(name: str, mode: str) -> None:
    """A float64 batch through a float32 layer (and the reverse): one clear error in both modes,
    naming the layer and both dtypes; not a failure inside lerp_, nor a silent float64 output."""
    for layer_dtype, x_dtype in ((torch.float32, F64), (F64, torch.float32)):
        layer = DTYPE_LAYERS[name]().to(layer_dtype).train(mode == "training")
        expected = (rf"{name}: expected input of dtype {layer_dtype} \(the dtype of its weight\), "
                    rf"got {x_dtype}; convert the input, x.to\({layer_dtype}\), or the layer, layer.to\({x_dtype}\)")
        with pytest.raises(TypeError, match=expected):
            layer(torch.randn(4, 3, 2, 2, dtype=x_dtype))
        assert layer(torch.randn(4, 3, 2, 2, dtype=layer_dtype)).dtype == layer_dtype


def test_batchnorm_rejects_buffers_of_another_dtype_than_the_input() -> None:
    bn = BatchNorm(3)
    bn.running_mean = bn.running_mean.double()  # a half-converted layer: the buffers are named
    with pytest.raises(TypeError, match=r"BatchNorm: expected input of dtype torch.float64 \(the dtype of its running_mean\), got torch.float32"):
        bn(torch.randn(4, 3))
