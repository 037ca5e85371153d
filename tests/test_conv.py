"""Tests for foundations.conv: GeneralRelu, conv_layer, the course's CNN, init_cnn, get_learn_run.

Oracles: ``torch.nn.functional`` in float64 for the activation (values and gradients, and
``torch.autograd.gradcheck``), ``torch.nn.functional.conv2d`` for a block, ``torch.nn.init``'s
Kaiming functions (same random state, same numbers) and :func:`foundations.init.kaiming_std` for the
initialisation, and the convolution output-size formula for shapes.
"""

from __future__ import annotations

import math
from functools import partial

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from foundations.conv import (
    Lambda,
    flatten,
    Flatten,
    GeneralRelu,
    conv_layer,
    get_cnn_layers,
    get_cnn_model,
    get_learn_run,
    init_cnn,
)
from foundations.data import Dataset, get_dls
from foundations.init import kaiming_std
from foundations.learner import DataBunch, Learner, Runner
from foundations.optim import SGD
from foundations.testing import check_close

pytestmark = pytest.mark.lesson10

F64 = torch.float64


def oracle_general_relu(x: torch.Tensor, leak: float | None, sub: float | None, maxv: float | None) -> torch.Tensor:
    y = F.leaky_relu(x, leak) if leak else F.relu(x)
    if sub is not None:
        y = y - sub
    if maxv is not None:
        y = torch.clamp(y, max=maxv)
    return y


# ---- GeneralRelu -----------------------------------------------------------------------------------


@settings(deadline=None, max_examples=60)
@given(
    shape=st.lists(st.integers(1, 5), min_size=1, max_size=4),
    leak=st.one_of(st.none(), st.floats(0.0, 0.5)),
    sub=st.one_of(st.none(), st.floats(-1.0, 1.0)),
    maxv=st.one_of(st.none(), st.floats(0.5, 8.0)),
    seed=st.integers(0, 2**16),
)
def test_general_relu_matches_torch_values_and_gradients(shape, leak, sub, maxv, seed) -> None:  # noqa: ANN001
    x = (torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=F64) * 4).requires_grad_()
    x_ref = x.detach().clone().requires_grad_()
    got = GeneralRelu(leak, sub, maxv)(x)
    expected = oracle_general_relu(x_ref, leak, sub, maxv)
    what = f"GeneralRelu(leak={leak}, sub={sub}, maxv={maxv}) on {tuple(shape)}"
    check_close(got, expected, what=what, atol=1e-12)
    w = torch.randn(*shape, generator=torch.Generator().manual_seed(seed + 1), dtype=F64)
    (got * w).sum().backward()
    (expected * w).sum().backward()
    check_close(x.grad, x_ref.grad, what=f"gradient of {what}", atol=1e-12)


def test_general_relu_defaults_are_relu_and_the_course_setting() -> None:
    x = torch.linspace(-10, 10, 201, dtype=F64)
    check_close(GeneralRelu()(x), F.relu(x), what="GeneralRelu() is relu", atol=0)
    check_close(GeneralRelu(leak=0.0)(x), F.relu(x), what="GeneralRelu(leak=0) is relu", atol=0)
    course = GeneralRelu(leak=0.1, sub=0.4, maxv=6.0)(torch.tensor([-2.0, 0.0, 1.0, 10.0], dtype=F64))
    check_close(course, torch.tensor([-0.6, -0.4, 0.6, 6.0], dtype=F64), what="the course's GeneralRelu", atol=1e-12)


def test_general_relu_gradcheck() -> None:
    # keep away from the kinks at 0 and at the ceiling, where the derivative jumps
    x = torch.tensor([-3.0, -1.2, -0.3, 0.25, 0.8, 2.0, 5.0, 9.0], dtype=F64, requires_grad=True)
    assert torch.autograd.gradcheck(GeneralRelu(leak=0.1, sub=0.4, maxv=6.0), (x,))
    assert torch.autograd.gradcheck(GeneralRelu(), (x,))


def test_general_relu_is_a_module_without_parameters() -> None:
    act = GeneralRelu(leak=0.1, sub=0.4, maxv=6.0)
    assert isinstance(act, nn.Module) and list(act.parameters()) == []
    assert "leak=0.1" in repr(act) and "maxv=6.0" in repr(act)


def test_general_relu_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match=r"expected leak in \[0, 1\) or None, got 1.5"):
        GeneralRelu(leak=1.5)
    with pytest.raises(TypeError, match="expected sub to be a float or None, got str"):
        GeneralRelu(sub="0.4")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="expected a finite maxv, got inf"):
        GeneralRelu(maxv=math.inf)
    with pytest.raises(TypeError, match="expected a floating-point tensor, got dtype torch.int64"):
        GeneralRelu()(torch.arange(3))


def test_flatten_matches_nn_flatten() -> None:
    x = torch.randn(4, 3, 1, 1)
    check_close(Flatten()(x), nn.Flatten()(x), what="Flatten on (4, 3, 1, 1)", atol=0)
    assert Flatten()(torch.randn(2, 3, 4, 5)).shape == (2, 60)


# ---- conv_layer ------------------------------------------------------------------------------------


def test_conv_layer_is_conv_then_general_relu_against_functional() -> None:
    torch.manual_seed(0)
    block = conv_layer(3, 5, ks=3, stride=2, leak=0.1, sub=0.4, maxv=6.0).double()
    conv, act = block
    assert isinstance(conv, nn.Conv2d) and isinstance(act, GeneralRelu) and len(block) == 2
    assert (conv.kernel_size, conv.stride, conv.padding) == ((3, 3), (2, 2), (1, 1))
    assert conv.bias is not None
    x = torch.randn(2, 3, 9, 7, dtype=F64)
    expected = oracle_general_relu(F.conv2d(x, conv.weight, conv.bias, stride=2, padding=1), 0.1, 0.4, 6.0)
    check_close(block(x), expected, what="conv_layer(3, 5, leak=.1, sub=.4, maxv=6) on (2, 3, 9, 7)", atol=1e-12)


@settings(deadline=None, max_examples=30)
@given(
    h=st.integers(1, 20), w=st.integers(1, 20), ks=st.sampled_from([1, 3, 5]), stride=st.integers(1, 3),
    ni=st.integers(1, 4), nf=st.integers(1, 4),
)
def test_conv_layer_output_shape(h: int, w: int, ks: int, stride: int, ni: int, nf: int) -> None:
    out = conv_layer(ni, nf, ks, stride)(torch.randn(2, ni, h, w))
    # (H + 2p - k) // s + 1 with p = k // 2 and odd k is ceil(H / s)
    assert tuple(out.shape) == (2, nf, -(-h // stride), -(-w // stride))


class RecordingNorm(nn.Module):
    """A stand-in for a page's own BatchNorm: remembers the channel count it was built for."""

    def __init__(self, nf: int) -> None:
        super().__init__()
        self.nf = nf
        self.scale = nn.Parameter(torch.full((1, nf, 1, 1), 2.0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.scale


def test_conv_layer_with_a_custom_norm_factory() -> None:
    torch.manual_seed(0)
    block = conv_layer(2, 6, norm=RecordingNorm)
    conv, act, norm = block
    assert isinstance(norm, RecordingNorm) and norm.nf == 6
    assert conv.bias is None, "with a norm layer the convolution should have no bias"
    x = torch.randn(3, 2, 8, 8)
    check_close(block(x), 2.0 * F.relu(conv(x)), what="conv_layer(2, 6, norm=RecordingNorm)", atol=1e-6)


def test_conv_layer_bn_flag_uses_batchnorm2d_and_norm_wins() -> None:
    conv, _, bn = conv_layer(1, 4, bn=True)
    assert isinstance(bn, nn.BatchNorm2d) and bn.num_features == 4 and conv.bias is None
    assert isinstance(conv_layer(1, 4, bn=True, norm=RecordingNorm)[2], RecordingNorm)
    assert len(conv_layer(1, 4, bn=False)) == 2


def test_conv_layer_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="conv_layer: expected nf to be a positive int, got 0"):
        conv_layer(1, 0)
    with pytest.raises(TypeError, match="expected norm to be a factory such as nn.BatchNorm2d, got str"):
        conv_layer(1, 4, norm="batchnorm")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="unexpected keyword argument"):
        conv_layer(1, 4, leek=0.1)


# ---- the CNN ---------------------------------------------------------------------------------------


def test_course_cnn_shapes_layer_by_layer() -> None:
    torch.manual_seed(0)
    model = get_cnn_model(10, [8, 16, 32, 32])
    x = torch.randn(5, 1, 28, 28)
    shapes = []
    for layer in model:
        x = layer(x)
        shapes.append(tuple(x.shape))
    assert shapes == [(5, 8, 14, 14), (5, 16, 7, 7), (5, 32, 4, 4), (5, 32, 2, 2), (5, 32, 1, 1), (5, 32), (5, 10)]
    assert model[0][0].kernel_size == (5, 5) and all(model[i][0].kernel_size == (3, 3) for i in (1, 2, 3))
    assert isinstance(model[4], nn.AdaptiveAvgPool2d) and isinstance(model[-1], nn.Linear)


@settings(deadline=None, max_examples=20)
@given(
    nfs=st.lists(st.integers(1, 8), min_size=1, max_size=5), n=st.integers(1, 4),
    c_in=st.integers(1, 3), c_out=st.integers(1, 12), size=st.integers(4, 32),
)
def test_cnn_output_shape(nfs: list[int], n: int, c_in: int, c_out: int, size: int) -> None:
    model = get_cnn_model(c_out, nfs, c_in=c_in)
    assert tuple(model(torch.randn(n, c_in, size, size)).shape) == (n, c_out)
    assert len(model) == len(nfs) + 3


def test_cnn_reads_c_out_from_a_databunch_and_passes_kwargs() -> None:
    ds = Dataset(torch.randn(6, 784), torch.arange(6) % 3)
    data = DataBunch(*get_dls(ds, ds, 2), c_in=784, c_out=3)
    layers = get_cnn_layers(data, [4, 4], leak=0.1, sub=0.4)
    assert layers[-1].out_features == 3
    assert all(layers[i][1].leak == 0.1 and layers[i][1].sub == 0.4 for i in (0, 1))
    with pytest.raises(ValueError, match="expected a DataBunch with c_out"):
        get_cnn_layers(DataBunch(*get_dls(ds, ds, 2)), [4])
    with pytest.raises(ValueError, match=r"expected nfs to be a non-empty list of channel counts, got \[\]"):
        get_cnn_layers(10, [])
    with pytest.raises(ValueError, match=r"expected nfs\[1\] to be a positive int, got -2"):
        get_cnn_layers(10, [4, -2])


# ---- init_cnn --------------------------------------------------------------------------------------


@pytest.mark.parametrize("uniform", [False, True], ids=["normal", "uniform"])
def test_init_cnn_equals_torch_kaiming_with_the_leak(uniform: bool) -> None:
    torch.manual_seed(0)
    model = get_cnn_model(10, [8, 16, 32], leak=0.1, sub=0.4, maxv=6.0)
    reference = get_cnn_model(10, [8, 16, 32], leak=0.1, sub=0.4, maxv=6.0)
    reference.load_state_dict(model.state_dict())
    torch.manual_seed(1)
    init_cnn(model, uniform=uniform)
    torch.manual_seed(1)
    f = nn.init.kaiming_uniform_ if uniform else nn.init.kaiming_normal_
    for block in reference[:3]:
        f(block[0].weight, a=0.1)
        nn.init.zeros_(block[0].bias)
    for (name, got), (_, expected) in zip(model.state_dict().items(), reference.state_dict().items()):
        check_close(got, expected, what=f"init_cnn(uniform={uniform}): {name}", atol=0)


@pytest.mark.parametrize("uniform", [False, True], ids=["normal", "uniform"])
@pytest.mark.parametrize("leak", [None, 0.1, 0.5])
def test_init_cnn_std_is_kaiming_std(uniform: bool, leak: float | None) -> None:
    torch.manual_seed(0)
    model = nn.Sequential(conv_layer(64, 128, 3, leak=leak), conv_layer(128, 8, 5, leak=leak))
    init_cnn(model, uniform=uniform)
    for block in model:
        w = block[0].weight
        fan_in = w.shape[1] * w.shape[2] * w.shape[3]
        expected = kaiming_std(fan_in, leak or 0.0)
        check_close(w.std().item(), expected, what=f"std of a {tuple(w.shape)} conv weight", rtol=0.03, atol=0)
        assert abs(w.mean().item()) < 0.05 * expected
        assert torch.count_nonzero(block[0].bias) == 0


def test_init_cnn_explicit_a_and_leaves_linear_alone() -> None:
    torch.manual_seed(0)
    model = get_cnn_model(10, [64, 64])
    linear_before = model[-1].weight.detach().clone()
    torch.manual_seed(2)
    init_cnn(model, a=1.0)  # gain 1: std 1/sqrt(fan_in)
    torch.manual_seed(2)
    w0 = torch.empty_like(model[0][0].weight)
    nn.init.kaiming_normal_(w0, a=1.0)
    check_close(model[0][0].weight, w0, what="init_cnn(a=1.0), first conv", atol=0)
    check_close(model[-1].weight, linear_before, what="the final Linear is left as it was", atol=0)
    with pytest.raises(TypeError, match="init_cnn: expected a torch.nn.Module, got list"):
        init_cnn([nn.Conv2d(1, 1, 3)])  # type: ignore[arg-type]


# ---- get_learn_run ---------------------------------------------------------------------------------


def test_get_learn_run_builds_an_initialised_trainable_cnn() -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(40, 1, 8, 8, generator=g)
    y = (x.mean((1, 2, 3)) > 0).long()  # a learnable two-class problem
    ds = Dataset(x, y)
    data = DataBunch(*get_dls(ds, ds, 8, generator=torch.Generator().manual_seed(1)), c_in=64, c_out=2)
    torch.manual_seed(0)
    learn, run = get_learn_run(data, [4, 8], 0.3, leak=0.1, sub=0.4, maxv=6.0)
    assert isinstance(learn, Learner) and isinstance(run, Runner) and isinstance(learn.opt, SGD)
    assert learn.opt.param_groups[0]["lr"] == 0.3
    assert torch.count_nonzero(learn.model[0][0].bias) == 0
    with torch.no_grad():
        before = F.cross_entropy(learn.model(x), y).item()
    run.fit(3, learn)
    with torch.no_grad():
        after = F.cross_entropy(learn.model(x), y).item()
    assert after < before, f"training should lower the loss: {before:.4f} -> {after:.4f}"
    with pytest.raises(TypeError, match="expected data to be a DataBunch, got int"):
        get_learn_run(3, [4], 0.1)  # type: ignore[arg-type]


# ---- Lambda -------------------------------------------------------------------------------------------


def mnist_resize(x: torch.Tensor) -> torch.Tensor:
    return x.view(-1, 1, 28, 28)


def test_lambda_applies_its_function_and_names_it() -> None:
    x = torch.randn(3, 784, dtype=torch.float64)
    layer = Lambda(mnist_resize)
    check_close(layer(x), x.view(-1, 1, 28, 28), what="Lambda(mnist_resize) on (3, 784)", atol=0)
    assert repr(layer) == "Lambda(mnist_resize)"
    assert repr(Lambda(flatten)) == "Lambda(flatten)"
    assert repr(Lambda(partial(torch.clamp, min=0))) == "Lambda(clamp)"
    assert repr(Lambda(lambda t: t)) == "Lambda(<lambda>)"
    assert list(layer.parameters()) == []
    assert "Lambda(flatten)" in repr(nn.Sequential(nn.Linear(2, 2), Lambda(flatten)))


def test_lambda_passes_gradients_and_flatten_matches_nn_flatten() -> None:
    x = torch.randn(4, 5, 1, 1, dtype=torch.float64, requires_grad=True)
    check_close(Lambda(flatten)(x), nn.Flatten()(x), what="Lambda(flatten) on (4, 5, 1, 1)", atol=0)
    torch.autograd.gradcheck(Lambda(lambda t: t.tanh() * 2), (x,))


def test_lambda_in_a_cnn_replaces_the_batch_transform() -> None:
    torch.manual_seed(0)
    body = get_cnn_layers(10, [4, 8])
    model = nn.Sequential(Lambda(mnist_resize), *body)
    x = torch.randn(6, 784)
    check_close(model(x), nn.Sequential(*body)(x.view(-1, 1, 28, 28)), what="CNN on flat MNIST rows", atol=0)


def test_lambda_rejects_non_functions() -> None:
    with pytest.raises(TypeError, match="expected a function of a tensor, got int"):
        Lambda(3)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="nn.Module class"):
        Lambda(nn.ReLU)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="flatten: expected a batch"):
        flatten(torch.tensor(1.0))
