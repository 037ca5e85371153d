"""Tests for foundations.conv: GeneralRelu, Lambda and flatten, conv_layer, init_cnn.

Oracles: ``torch.nn.functional`` in float64 for the activation (values and gradients, and
``torch.autograd.gradcheck``), ``torch.nn.functional.conv2d`` for a block, ``torch.nn.init``'s
Kaiming functions (same random state, same numbers) and :func:`foundations.init.kaiming_std` for the
initialisation, and the convolution output-size formula for shapes. The CNN recipes built from
these (``get_cnn_model``, ``get_cnn_learner``) are tested in test_models.py.
"""

from __future__ import annotations

import math
from functools import partial

import pytest
import torch
import torch.nn.functional as F
from conftest import CLOSE64, EXACT, F64, randn
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from foundations.conv import GeneralRelu, Lambda, conv_layer, flatten, init_cnn
from foundations.init import kaiming_std
from foundations.models import get_cnn_layers, get_cnn_model
from foundations.testing import check_close

pytestmark = pytest.mark.lesson10


def oracle_general_relu(x: torch.Tensor, leak: float | None, sub: float | None, maxv: float | None) -> torch.Tensor:
    y = F.leaky_relu(x, leak) if leak else F.relu(x)
    if sub is not None:
        y = y - sub
    if maxv is not None:
        y = torch.clamp(y, max=maxv)
    return y


# ---- GeneralRelu -----------------------------------------------------------------------------------


@settings(max_examples=60)
@given(
    shape=st.lists(st.integers(1, 5), min_size=1, max_size=4),
    leak=st.one_of(st.none(), st.floats(0.0, 0.5)),
    sub=st.one_of(st.none(), st.floats(-1.0, 1.0)),
    maxv=st.one_of(st.none(), st.floats(0.5, 8.0)),
    seed=st.integers(0, 2**16),
)
def test_general_relu_matches_torch_values_and_gradients(shape, leak, sub, maxv, seed) -> None:  # noqa: ANN001
    x = (randn(*shape, seed=seed) * 4).requires_grad_()
    x_ref = x.detach().clone().requires_grad_()
    got = GeneralRelu(leak, sub, maxv)(x)
    expected = oracle_general_relu(x_ref, leak, sub, maxv)
    what = f"GeneralRelu(leak={leak}, sub={sub}, maxv={maxv}) on {tuple(shape)}"
    check_close(got, expected, what=what, **CLOSE64)
    w = randn(*shape, seed=seed + 1)
    (got * w).sum().backward()
    (expected * w).sum().backward()
    check_close(x.grad, x_ref.grad, what=f"gradient of {what}", **CLOSE64)


def test_general_relu_defaults_are_relu_and_the_course_setting() -> None:
    x = torch.linspace(-10, 10, 201, dtype=F64)
    check_close(GeneralRelu()(x), F.relu(x), what="GeneralRelu() is relu", atol=0)
    check_close(GeneralRelu(leak=0.0)(x), F.relu(x), what="GeneralRelu(leak=0) is relu", atol=0)
    course = GeneralRelu(leak=0.1, sub=0.4, maxv=6.0)(torch.tensor([-2.0, 0.0, 1.0, 10.0], dtype=F64))
    check_close(course, torch.tensor([-0.6, -0.4, 0.6, 6.0], dtype=F64), what="the course's GeneralRelu", **CLOSE64)


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
    with pytest.raises(ValueError, match=r"GeneralRelu: expected leak to be a number in \[0, 1\) or None, got float 1\.5"):
        GeneralRelu(leak=1.5)
    with pytest.raises(TypeError, match=r"GeneralRelu: expected sub to be a finite number or None, got str '0\.4'"):
        GeneralRelu(sub="0.4")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"GeneralRelu: expected maxv to be a finite number or None, got float inf"):
        GeneralRelu(maxv=math.inf)
    with pytest.raises(TypeError, match=r"GeneralRelu: expected x to be a floating-point tensor, got Tensor of dtype torch\.int64 and shape \(3,\)"):
        GeneralRelu()(torch.arange(3))


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
    check_close(block(x), expected, what="conv_layer(3, 5, leak=.1, sub=.4, maxv=6) on (2, 3, 9, 7)", **CLOSE64)


@settings(max_examples=30)
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
    with pytest.raises(ValueError, match=r"conv_layer: expected nf to be a positive int, got int 0"):
        conv_layer(1, 0)
    with pytest.raises(TypeError, match="expected norm to be a factory such as nn.BatchNorm2d, got str"):
        conv_layer(1, 4, norm="batchnorm")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="unexpected keyword argument"):
        conv_layer(1, 4, leek=0.1)


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
    with pytest.raises(TypeError, match=r"init_cnn: expected model to be a torch\.nn\.Module, got list \[Conv2d\(1, 1, kernel_size=\(3, 3\), stride=\(1, 1\)\)\]"):
        init_cnn([nn.Conv2d(1, 1, 3)])  # type: ignore[arg-type]


# ---- Lambda -------------------------------------------------------------------------------------------


def mnist_resize(x: torch.Tensor) -> torch.Tensor:
    return x.view(-1, 1, 28, 28)


def test_lambda_applies_its_function_and_names_it() -> None:
    x = randn(3, 784)
    layer = Lambda(mnist_resize)
    check_close(layer(x), x.view(-1, 1, 28, 28), what="Lambda(mnist_resize) on (3, 784)", atol=0)
    assert repr(layer) == "Lambda(mnist_resize)"
    assert repr(Lambda(flatten)) == "Lambda(flatten)"
    assert repr(Lambda(partial(torch.clamp, min=0))) == "Lambda(clamp)"
    assert repr(Lambda(lambda t: t)) == "Lambda(<lambda>)"
    assert list(layer.parameters()) == []
    assert "Lambda(flatten)" in repr(nn.Sequential(nn.Linear(2, 2), Lambda(flatten)))


@pytest.mark.parametrize("shape", [(4, 5, 1, 1), (2, 3, 4, 5), (3, 7)])
def test_lambda_passes_gradients_and_flatten_matches_nn_flatten(shape: tuple[int, ...]) -> None:
    x = randn(*shape, seed=3).requires_grad_()
    check_close(Lambda(flatten)(x), nn.Flatten()(x), what=f"Lambda(flatten) on {shape}", **EXACT)
    assert Lambda(flatten)(x).shape == (shape[0], x[0].numel())
    assert torch.autograd.gradcheck(Lambda(lambda t: t.tanh() * 2), (x,))


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
    with pytest.raises(ValueError, match=r"flatten: expected x to be a batch of shape \(N, \.\.\.\), got Tensor of dtype torch\.float32 and shape \(\)"):
        flatten(torch.tensor(1.0))
