"""Tests for the Lesson 9 part of foundations.init: gain, fan_in_fan_out, kaiming_uniform_bound and
orthogonal, against torch.nn.init's own bookkeeping and samples, and against PyTorch's default layers."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from foundations.init import fan_in_fan_out, gain, kaiming_std, kaiming_uniform_bound, orthogonal
from foundations.testing import check_close

pytestmark = pytest.mark.lesson09

slopes = st.floats(min_value=-10.0, max_value=10.0, allow_nan=False)
fans = st.integers(min_value=1, max_value=5000)
weight_shapes = st.lists(st.integers(min_value=1, max_value=9), min_size=2, max_size=5).map(tuple)


# ---- gain -----------------------------------------------------------------------------------------


@settings(max_examples=50)
@given(a=slopes)
def test_gain_is_torchs_leaky_relu_gain(a: float) -> None:
    assert gain(a) == pytest.approx(torch.nn.init.calculate_gain("leaky_relu", a), rel=1e-12)


def test_gain_special_values() -> None:
    assert gain() == pytest.approx(torch.nn.init.calculate_gain("relu"), rel=1e-15)
    assert gain(1.0) == pytest.approx(torch.nn.init.calculate_gain("linear"), rel=1e-15)
    assert gain(math.sqrt(5)) == pytest.approx(math.sqrt(1 / 3), rel=1e-15)


def test_gain_bad_slope() -> None:
    with pytest.raises(TypeError, match=r"gain: expected a to be a finite number \(the negative slope of the leaky ReLU; 0 for a ReLU\), got str '0\.1'"):
        gain("0.1")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"gain: expected a to be a finite number \(the negative slope of the leaky ReLU; 0 for a ReLU\), got float inf"):
        gain(float("inf"))


# ---- fan_in_fan_out ---------------------------------------------------------------------------------


@settings(max_examples=60)
@given(shape=weight_shapes)
def test_fan_in_fan_out_is_torchs(shape: tuple[int, ...]) -> None:
    assert fan_in_fan_out(shape) == torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(shape))


@pytest.mark.parametrize(
    "layer,expected",
    [
        (torch.nn.Linear(784, 50), (784, 50)),
        (torch.nn.Conv2d(1, 32, 5), (25, 800)),
        (torch.nn.Conv2d(8, 16, (3, 2)), (48, 96)),
        (torch.nn.Conv1d(4, 2, 9), (36, 18)),
        (torch.nn.Conv3d(2, 3, 2), (16, 24)),
    ],
    ids=str,
)
def test_fan_in_fan_out_of_layers(layer: torch.nn.Module, expected: tuple[int, int]) -> None:
    assert fan_in_fan_out(layer.weight.shape) == expected
    assert fan_in_fan_out(tuple(layer.weight.shape)) == expected


def test_fan_in_fan_out_bad_shapes() -> None:
    with pytest.raises(ValueError, match=r"fan_in_fan_out: expected shape to be \(out, in, \*kernel_size\), 2 or more positive ints, got tuple \(5,\)"):
        fan_in_fan_out((5,))
    with pytest.raises(ValueError, match=r"fan_in_fan_out: expected shape to be \(out, in, \*kernel_size\), 2 or more positive ints, got tuple \(3, 0, 2\)"):
        fan_in_fan_out((3, 0, 2))
    with pytest.raises(TypeError, match=r"fan_in_fan_out: expected shape to be \(out, in, \*kernel_size\), 2 or more positive ints, got tuple \(3, 2\.0\)"):
        fan_in_fan_out((3, 2.0))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"fan_in_fan_out: expected shape to be \(out, in, \*kernel_size\), 2 or more positive ints, got Tensor of dtype torch\.float32 and shape \(3, 2\)"):
        fan_in_fan_out(torch.empty(3, 2))  # type: ignore[arg-type]


# ---- kaiming_uniform_bound ----------------------------------------------------------------------------


@settings(max_examples=50)
@given(fan_in=fans, a=slopes)
def test_kaiming_uniform_bound_formula(fan_in: int, a: float) -> None:
    expected = torch.nn.init.calculate_gain("leaky_relu", a) * math.sqrt(3.0 / fan_in)
    assert kaiming_uniform_bound(fan_in, a) == pytest.approx(expected, rel=1e-12)
    # U(-b, b) has std b / sqrt(3): the std of the normal form
    assert kaiming_uniform_bound(fan_in, a) / math.sqrt(3) == pytest.approx(kaiming_std(fan_in, a), rel=1e-12)


@pytest.mark.parametrize("fan_in,a", [(25, math.sqrt(5)), (512, 0.0), (300, 0.1)])
def test_kaiming_uniform_bound_matches_samples(fan_in: int, a: float) -> None:
    torch.manual_seed(0)
    w = torch.nn.init.kaiming_uniform_(torch.empty(400, fan_in, dtype=torch.float64), a=a)
    bound = kaiming_uniform_bound(fan_in, a)
    assert w.abs().max().item() <= bound
    assert w.abs().max().item() == pytest.approx(bound, rel=0.01)
    assert w.std().item() == pytest.approx(bound / math.sqrt(3), rel=0.02)


@pytest.mark.parametrize(
    "make", [lambda: torch.nn.Conv2d(1, 32, 5), lambda: torch.nn.Linear(784, 100), lambda: torch.nn.Conv2d(16, 32, 3)],
    ids=["Conv2d(1,32,5)", "Linear(784,100)", "Conv2d(16,32,3)"],
)
def test_pytorch_default_init_is_kaiming_uniform_with_sqrt5(make) -> None:  # noqa: ANN001
    torch.manual_seed(1)
    layer = make()
    fan_in, _ = fan_in_fan_out(layer.weight.shape)
    bound = kaiming_uniform_bound(fan_in, math.sqrt(5))
    assert bound == pytest.approx(1 / math.sqrt(fan_in), rel=1e-12)  # sqrt(5) was chosen to give 1/sqrt(fan_in)
    w = layer.weight.detach()
    assert w.abs().max().item() <= bound
    assert w.abs().max().item() == pytest.approx(bound, rel=0.02)
    assert w.std().item() == pytest.approx(1 / math.sqrt(3 * fan_in), rel=0.06)
    # the bias is U(-1/sqrt(fan_in), 1/sqrt(fan_in)) too
    assert layer.bias.detach().abs().max().item() <= 1 / math.sqrt(fan_in)


def test_kaiming_uniform_bound_bad_inputs() -> None:
    with pytest.raises(ValueError, match=r"kaiming_uniform_bound: expected fan_in to be a positive int, got int 0"):
        kaiming_uniform_bound(0)
    with pytest.raises(TypeError, match=r"kaiming_uniform_bound: expected a to be a finite number \(the negative slope of the leaky ReLU; 0 for a ReLU\), got NoneType None"):
        kaiming_uniform_bound(10, None)  # type: ignore[arg-type]


# ---- orthogonal -------------------------------------------------------------------------------------------


@settings(max_examples=40)
@given(n_rows=st.integers(1, 40), n_cols=st.integers(1, 40), g=st.floats(0.1, 3.0), seed=st.integers(0, 10_000))
def test_orthogonal_equals_torchs_orthogonal_(n_rows: int, n_cols: int, g: float, seed: int) -> None:
    got = orthogonal(n_rows, n_cols, gain=g, generator=torch.Generator().manual_seed(seed))
    expected = torch.nn.init.orthogonal_(torch.empty(n_rows, n_cols), gain=g, generator=torch.Generator().manual_seed(seed))
    check_close(got, expected, what=f"orthogonal({n_rows}, {n_cols}, gain={g:.3g})", atol=1e-6, rtol=1e-6)


@pytest.mark.parametrize("n_rows,n_cols", [(5, 5), (3, 8), (8, 3), (1, 4), (64, 64)])
def test_orthogonal_rows_or_columns_are_orthonormal(n_rows: int, n_cols: int) -> None:
    q = orthogonal(n_rows, n_cols, gain=2.0, generator=torch.Generator().manual_seed(0)).double() / 2.0
    k = min(n_rows, n_cols)
    gram = q @ q.T if n_rows <= n_cols else q.T @ q
    check_close(gram, torch.eye(k, dtype=torch.float64), what=f"Gram matrix of orthogonal({n_rows}, {n_cols})", atol=1e-5)


def test_orthogonal_products_preserve_length_and_gaussians_do_not() -> None:
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(128, generator=gen, dtype=torch.float64)
    y, z = x.clone(), x.clone()
    for _ in range(100):
        y = orthogonal(128, 128, generator=gen).double() @ y
        z = (torch.randn(128, 128, generator=gen, dtype=torch.float64) / math.sqrt(128)) @ z
    assert y.norm().item() == pytest.approx(x.norm().item(), rel=1e-4)
    # a product of Gaussian matrices keeps the length only on average: log |z|^2/|x|^2 has std ~ sqrt(2 * 100 / 128)
    assert abs(math.log(z.norm().item() / x.norm().item())) > 1e-3


def test_orthogonal_is_reproducible_and_random() -> None:
    a = orthogonal(6, 6, generator=torch.Generator().manual_seed(1))
    b = orthogonal(6, 6, generator=torch.Generator().manual_seed(1))
    c = orthogonal(6, 6, generator=torch.Generator().manual_seed(2))
    assert torch.equal(a, b)
    assert (a - c).abs().max() > 0.1
    assert (a - torch.eye(6)).abs().max() > 0.1


def test_orthogonal_haar_sign_fix() -> None:
    # Without the sign fix, Q's first column would be biased by the QR routine's convention.
    # With it, the mean of Q over many draws is the zero matrix (Haar measure is invariant under -I).
    gen = torch.Generator().manual_seed(0)
    mean = sum(orthogonal(3, 3, generator=gen).double() for _ in range(4000)) / 4000
    check_close(mean, torch.zeros(3, 3, dtype=torch.float64), what="mean of 4000 random 3x3 orthogonal matrices", atol=0.05)


def test_orthogonal_bad_inputs() -> None:
    with pytest.raises(ValueError, match=r"orthogonal: expected n_cols to be a positive int or None, got int 0"):
        orthogonal(3, 0)
    with pytest.raises(TypeError, match=r"orthogonal: expected n_rows to be a positive int, got float 3\.0"):
        orthogonal(3.0, 3)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"orthogonal: expected gain to be a finite number, got str '1'"):
        orthogonal(3, 3, gain="1")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"orthogonal: expected gain to be a finite number, got float nan"):
        orthogonal(3, 3, gain=float("nan"))
    with pytest.raises(TypeError, match=r"orthogonal: expected generator to be a torch.Generator or None, got int"):
        orthogonal(3, 3, generator=0)  # type: ignore[arg-type]
