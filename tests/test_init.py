"""Tests for foundations.init: each std against torch.nn.init, both its formula and its samples."""

from __future__ import annotations

import math
import re

import pytest
import torch
from conftest import gen
from hypothesis import given, settings
from hypothesis import strategies as st

from foundations.init import init_linear, kaiming_std, lecun_std, xavier_std, xavier_uniform_bound
from foundations.testing import check_close

pytestmark = pytest.mark.lesson08

fans = st.integers(min_value=1, max_value=5000)
slopes = st.floats(min_value=-10.0, max_value=10.0, allow_nan=False)


def _torch_weight(fan_in: int, fan_out: int) -> torch.Tensor:
    """An empty weight in torch.nn.Linear's layout (fan_out, fan_in): torch reads fan_in from dim 1."""
    return torch.empty(fan_out, fan_in, dtype=torch.float64)


# ---- the formulas, against torch.nn.init's own bookkeeping --------------------------------------


@settings(max_examples=50)
@given(fan_in=fans)
def test_lecun_std_formula(fan_in: int) -> None:
    # torch's "linear" gain is 1, so kaiming_normal_ with it has std gain/sqrt(fan_in) = 1/sqrt(fan_in)
    expected = torch.nn.init.calculate_gain("linear") / math.sqrt(fan_in)
    assert lecun_std(fan_in) == pytest.approx(expected, rel=1e-12)


@settings(max_examples=50)
@given(fan_in=fans, fan_out=fans)
def test_xavier_std_formula(fan_in: int, fan_out: int) -> None:
    # Glorot & Bengio average the forward (1/fan_in) and backward (1/fan_out) conditions:
    # 1/Var(w) is the mean of fan_in and fan_out, times torch's "linear" gain (1) squared
    gain = torch.nn.init.calculate_gain("linear")
    assert 1 / xavier_std(fan_in, fan_out) ** 2 == pytest.approx(
        (1 / lecun_std(fan_in) ** 2 + 1 / lecun_std(fan_out) ** 2) / 2 / gain**2, rel=1e-12
    )
    assert xavier_std(fan_in, fan_out) == xavier_std(fan_out, fan_in)


@settings(max_examples=50)
@given(fan_in=fans, fan_out=fans)
def test_xavier_uniform_bound_formula(fan_in: int, fan_out: int) -> None:
    bound = xavier_uniform_bound(fan_in, fan_out)
    # U(-b, b) has variance b^2 / 3: the same variance as the normal form
    assert bound**2 / 3 == pytest.approx(xavier_std(fan_in, fan_out) ** 2, rel=1e-12)
    # and torch's xavier_uniform_ never leaves [-b, b] for a small weight
    w = torch.nn.init.xavier_uniform_(_torch_weight(min(fan_in, 64), min(fan_out, 64)))
    assert w.abs().max().item() <= xavier_uniform_bound(min(fan_in, 64), min(fan_out, 64))


@settings(max_examples=50)
@given(fan_in=fans, a=slopes)
def test_kaiming_std_formula(fan_in: int, a: float) -> None:
    gain = torch.nn.init.calculate_gain("leaky_relu", a)
    assert kaiming_std(fan_in, a) == pytest.approx(gain / math.sqrt(fan_in), rel=1e-12)


def test_kaiming_std_relu_default() -> None:
    assert kaiming_std(784) == pytest.approx(torch.nn.init.calculate_gain("relu") / math.sqrt(784), rel=1e-12)
    assert kaiming_std(784) == pytest.approx(math.sqrt(2) * lecun_std(784), rel=1e-12)


def test_known_values() -> None:
    assert lecun_std(784) == pytest.approx(1 / 28)
    assert xavier_std(784, 50) == pytest.approx(math.sqrt(2 / 834))
    assert xavier_uniform_bound(784, 50) == pytest.approx(math.sqrt(6 / 834))
    assert kaiming_std(50) == pytest.approx(0.2)
    assert kaiming_std(100, a=1.0) == pytest.approx(0.1)


# ---- the samples: empirical std of torch.nn.init on large tensors -------------------------------


def _empirical_std(init_fn, fan_in: int, fan_out: int, **kwargs) -> float:  # noqa: ANN001
    torch.manual_seed(0)
    w = init_fn(_torch_weight(fan_in, fan_out), **kwargs)
    return w.std().item()


@pytest.mark.parametrize("fan_in,fan_out", [(784, 50), (512, 512), (50, 1000)])
def test_xavier_std_matches_xavier_normal_samples(fan_in: int, fan_out: int) -> None:
    got = _empirical_std(torch.nn.init.xavier_normal_, fan_in, fan_out)
    # >= 50,000 samples: the sample std is within 1.5% of the true std with overwhelming probability
    assert got == pytest.approx(xavier_std(fan_in, fan_out), rel=0.015)


@pytest.mark.parametrize("fan_in,fan_out", [(784, 50), (512, 512)])
def test_xavier_uniform_bound_matches_xavier_uniform_samples(fan_in: int, fan_out: int) -> None:
    torch.manual_seed(0)
    w = torch.nn.init.xavier_uniform_(_torch_weight(fan_in, fan_out))
    bound = xavier_uniform_bound(fan_in, fan_out)
    assert w.abs().max().item() <= bound
    assert w.abs().max().item() == pytest.approx(bound, rel=0.01)  # the samples reach the edge


@pytest.mark.parametrize("fan_in,fan_out,a", [(784, 50, 0.0), (512, 512, 0.0), (200, 300, 0.1), (300, 200, 5**0.5)])
def test_kaiming_std_matches_kaiming_normal_samples(fan_in: int, fan_out: int, a: float) -> None:
    got = _empirical_std(
        torch.nn.init.kaiming_normal_, fan_in, fan_out, a=a, mode="fan_in", nonlinearity="leaky_relu"
    )
    assert got == pytest.approx(kaiming_std(fan_in, a), rel=0.015)


def test_lecun_std_matches_kaiming_normal_linear_samples() -> None:
    got = _empirical_std(torch.nn.init.kaiming_normal_, 784, 100, mode="fan_in", nonlinearity="linear")
    assert got == pytest.approx(lecun_std(784), rel=0.015)


# ---- init_linear -------------------------------------------------------------------------------


def test_init_linear_shapes_and_stats() -> None:
    w, b = init_linear(784, 500, kaiming_std(784), gen(1))
    assert w.shape == (784, 500) and b.shape == (500,)
    assert w.dtype == torch.float32 and b.dtype == torch.float32
    check_close(b, torch.zeros(500), what="bias")
    assert w.std().item() == pytest.approx(kaiming_std(784), rel=0.01)
    assert abs(w.mean().item()) < 4 * kaiming_std(784) / math.sqrt(w.numel())


def test_init_linear_is_reproducible_with_a_generator() -> None:
    w1, _ = init_linear(20, 30, 0.1, gen(3))
    w2, _ = init_linear(20, 30, 0.1, gen(3))
    w3, _ = init_linear(20, 30, 0.1, gen(4))
    assert torch.equal(w1, w2)
    assert not torch.equal(w1, w3)


def test_init_linear_scales_a_standard_normal() -> None:
    w, _ = init_linear(7, 5, 0.25, gen(5))
    check_close(w, torch.randn(7, 5, generator=gen(5)) * 0.25, what="w", atol=0, rtol=1e-6)


def test_init_linear_zero_std_gives_zeros() -> None:
    w, _ = init_linear(3, 4, 0.0)
    assert torch.count_nonzero(w).item() == 0


# ---- bad arguments -------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", [0, -3])
def test_non_positive_fans_raise_value_error(bad: int) -> None:
    with pytest.raises(ValueError, match=rf"lecun_std: expected fan_in to be a positive int, got int {bad}"):
        lecun_std(bad)
    with pytest.raises(ValueError, match=rf"xavier_std: expected fan_out to be a positive int, got int {bad}"):
        xavier_std(10, bad)
    with pytest.raises(ValueError, match=rf"xavier_uniform_bound: expected fan_in to be a positive int, got int {bad}"):
        xavier_uniform_bound(bad, 10)
    with pytest.raises(ValueError, match=rf"kaiming_std: expected fan_in to be a positive int, got int {bad}"):
        kaiming_std(bad)
    with pytest.raises(ValueError, match=rf"init_linear: expected n_out to be a positive int, got int {bad}"):
        init_linear(3, bad, 0.1)


@pytest.mark.parametrize("bad", [784.0, "784", True, None])
def test_non_int_fans_raise_type_error(bad: object) -> None:
    with pytest.raises(TypeError, match=rf"lecun_std: expected fan_in to be a positive int, got {type(bad).__name__} {re.escape(repr(bad))}"):
        lecun_std(bad)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=rf"xavier_std: expected fan_in to be a positive int, got {type(bad).__name__} {re.escape(repr(bad))}"):
        xavier_std(bad, 5)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=rf"kaiming_std: expected fan_in to be a positive int, got {type(bad).__name__} {re.escape(repr(bad))}"):
        kaiming_std(bad)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=rf"init_linear: expected n_in to be a positive int, got {type(bad).__name__} {re.escape(repr(bad))}"):
        init_linear(bad, 3, 0.1)  # type: ignore[arg-type]


def test_bad_slope_raises() -> None:
    with pytest.raises(TypeError, match=r"kaiming_std: expected a to be a finite number \(the negative slope of the leaky ReLU; 0 for a ReLU\), got str '0\.1'"):
        kaiming_std(10, "0.1")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"kaiming_std: expected a to be a finite number \(the negative slope of the leaky ReLU; 0 for a ReLU\), got float nan"):
        kaiming_std(10, float("nan"))


@pytest.mark.parametrize("bad", [-0.1, float("inf"), float("nan")])
def test_bad_std_raises_value_error(bad: float) -> None:
    with pytest.raises(ValueError, match=rf"init_linear: expected std to be a finite number >= 0, got float {bad}"):
        init_linear(3, 4, bad)


def test_bad_std_and_generator_types_raise_type_error() -> None:
    with pytest.raises(TypeError, match=r"init_linear: expected std to be a finite number >= 0, got Tensor of dtype torch\.float32 and shape \(\)"):
        init_linear(3, 4, torch.tensor(0.1))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"init_linear: expected generator to be a torch.Generator or None, got int"):
        init_linear(3, 4, 0.1, generator=0)  # type: ignore[arg-type]
