"""Tests for foundations.activations: PReLU and SELU against torch.nn.functional in float64, and SELU's
mean/variance map against numerical integration and against a real wide layer."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from conftest import randn
from hypothesis import given, settings
from hypothesis import strategies as st

from foundations.activations import SELU_ALPHA, SELU_LAMBDA, prelu, selu, selu_constants, selu_mapping
from foundations.testing import check_close

pytestmark = pytest.mark.lesson09

shapes = st.lists(st.integers(min_value=1, max_value=5), min_size=2, max_size=4).map(tuple)
scales = st.floats(min_value=0.01, max_value=30.0)
slopes = st.floats(min_value=-3.0, max_value=3.0, allow_nan=False)


# ---- prelu ----------------------------------------------------------------------------------------


@settings(max_examples=40)
@given(shape=shapes, a=slopes, seed=st.integers(0, 1000))
def test_prelu_scalar_slope_is_leaky_relu(shape: tuple[int, ...], a: float, seed: int) -> None:
    x = randn(*shape, seed=seed) * 3.0
    check_close(prelu(x, a), F.leaky_relu(x, a), what=f"prelu(x of shape {shape}, a={a})", atol=1e-12, rtol=1e-12)


@settings(max_examples=40)
@given(shape=shapes, seed=st.integers(0, 1000))
def test_prelu_per_channel_matches_torch(shape: tuple[int, ...], seed: int) -> None:
    x = randn(*shape, seed=seed) * 3.0
    a = randn(shape[1], seed=seed + 1) * 0.5
    check_close(prelu(x, a), F.prelu(x, a), what=f"prelu(x of shape {shape}, a of shape {(shape[1],)})", atol=1e-12, rtol=1e-12)
    one = a[:1]
    check_close(prelu(x, one), F.prelu(x, one), what="prelu with one shared slope", atol=1e-12, rtol=1e-12)


def test_prelu_gradients_match_autograd_of_torch() -> None:
    x = (randn(4, 3, 2, 2, seed=0) * 2.0).requires_grad_()
    a = torch.tensor([0.25, -0.1, 0.7], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x_, a_: prelu(x_, a_), (x, a))
    gx, ga = torch.autograd.grad(prelu(x, a).pow(2).sum(), (x, a))
    tx, ta = torch.autograd.grad(F.prelu(x, a).pow(2).sum(), (x, a))
    check_close(gx, tx, what="d/dx of prelu", atol=1e-12)
    check_close(ga, ta, what="d/da of prelu (He et al. §2.1: a sum of y over the negative y)", atol=1e-12)


def test_prelu_bad_inputs() -> None:
    x = torch.zeros(2, 3, 4)
    with pytest.raises(ValueError, match=r"prelu: expected a of shape \(1,\) or \(C,\) with C = x.shape\[1\] = 3, got a of shape \(4,\)"):
        prelu(x, torch.zeros(4))
    with pytest.raises(ValueError, match=r"got a of shape \(3, 1\)"):
        prelu(x, torch.zeros(3, 1))
    with pytest.raises(TypeError, match=r"prelu: expected x to be a floating-point tensor, got list \[1.0, -1.0\]"):
        prelu([1.0, -1.0], 0.1)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"prelu: expected x to be a floating-point tensor, got Tensor of dtype torch\.int64 and shape \(2,\)"):
        prelu(torch.tensor([1, -1]), 0.1)
    with pytest.raises(ValueError, match=r"prelu: expected a to be a finite number \(the negative slope of the leaky ReLU; 0 for a ReLU\), got float nan"):
        prelu(x, float("nan"))


# ---- selu -----------------------------------------------------------------------------------------


@settings(max_examples=40)
@given(shape=shapes, scale=scales, seed=st.integers(0, 1000))
def test_selu_matches_torch(shape: tuple[int, ...], scale: float, seed: int) -> None:
    x = randn(*shape, seed=seed) * scale
    check_close(selu(x), F.selu(x), what=f"selu(x of shape {shape}, std {scale:.3g})", atol=1e-12, rtol=1e-12)


def test_selu_constants_are_torchs() -> None:
    one, very_negative = torch.tensor([1.0, -1000.0], dtype=torch.float64)
    # selu(1) = lambda; selu(-inf) = -lambda * alpha: read PyTorch's constants off its function
    assert F.selu(one).item() == pytest.approx(SELU_LAMBDA, rel=1e-15)
    assert -F.selu(very_negative).item() / SELU_LAMBDA == pytest.approx(SELU_ALPHA, rel=1e-15)


def test_selu_constants_are_derived_from_the_fixed_point() -> None:
    alpha, lam = selu_constants()
    assert alpha == pytest.approx(SELU_ALPHA, rel=1e-14)
    assert lam == pytest.approx(SELU_LAMBDA, rel=1e-14)
    mean, var = selu_mapping(0.0, 1.0, 0.0, 1.0, lam=lam, alpha=alpha)
    assert abs(mean) < 1e-14 and var == pytest.approx(1.0, abs=1e-14)


def test_selu_gradients() -> None:
    x = torch.tensor([-30.0, -2.0, -0.1, 0.1, 2.0, 50.0, 800.0], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(selu, (x[:6].detach().requires_grad_(),))
    (g,) = torch.autograd.grad(selu(x).sum(), x)
    (t,) = torch.autograd.grad(F.selu(x).sum(), x)
    assert torch.isfinite(g).all(), f"selu's gradient is not finite for large inputs: {g}"
    check_close(g, t, what="d/dx of selu, including x = 800 where exp overflows", atol=1e-12)


def test_selu_bad_inputs() -> None:
    with pytest.raises(TypeError, match=r"selu: expected x to be a floating-point tensor, got float 1.0"):
        selu(1.0)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"selu: expected x to be a floating-point tensor, got Tensor of dtype torch\.int64 and shape \(3,\)"):
        selu(torch.arange(3))
    with pytest.raises(TypeError, match=r"selu: expected lam to be a finite number, got str '1'"):
        selu(torch.zeros(2), lam="1")  # type: ignore[arg-type]


# ---- selu_mapping: the map g ----------------------------------------------------------------------


def _moments_by_quadrature(mu: float, nu: float, omega: float, tau: float) -> tuple[float, float]:
    """Mean and variance of selu(z) for z ~ N(mu * omega, nu * tau), by the trapezoidal rule in float64."""
    m, s = mu * omega, math.sqrt(nu * tau)
    z = torch.linspace(m - 12 * s, m + 12 * s, 200_001, dtype=torch.float64)
    density = torch.exp(-0.5 * ((z - m) / s) ** 2) / (s * math.sqrt(2 * math.pi))
    f = F.selu(z)
    mean = torch.trapezoid(f * density, z).item()
    return mean, torch.trapezoid(f * f * density, z).item() - mean**2


@settings(max_examples=30)
@given(
    mu=st.floats(-3.0, 3.0),
    nu=st.floats(0.01, 10.0),
    omega=st.floats(-1.0, 1.0),
    tau=st.floats(0.1, 3.0),
)
def test_selu_mapping_matches_numerical_integration(mu: float, nu: float, omega: float, tau: float) -> None:
    got = torch.tensor(selu_mapping(mu, nu, omega, tau), dtype=torch.float64)
    expected = torch.tensor(_moments_by_quadrature(mu, nu, omega, tau), dtype=torch.float64)
    check_close(got, expected, what=f"selu_mapping({mu}, {nu}, {omega}, {tau}) as (mean, var)", atol=1e-7, rtol=1e-6)


def test_selu_mapping_predicts_a_real_wide_layer() -> None:
    # 2000 units of mean 0.3 and variance 2.0 through 500 SELU units with LeCun-normal weights
    gen = torch.Generator().manual_seed(0)
    n_in, n_out, n = 1000, 500, 2000
    x = 0.3 + math.sqrt(2.0) * torch.randn(n, n_in, generator=gen, dtype=torch.float64)
    w = torch.randn(n_in, n_out, generator=gen, dtype=torch.float64) / math.sqrt(n_in)
    y = selu(x @ w)
    # each unit has its own omega, tau: compare unit by unit, then on average
    omega, tau = w.sum(0), w.pow(2).sum(0)
    pred = torch.tensor([selu_mapping(0.3, 2.0, o.item(), t.item()) for o, t in zip(omega, tau)], dtype=torch.float64)
    check_close(y.mean(0), pred[:, 0], what="per-unit mean of a SELU layer against g", atol=0.1)
    check_close(y.var(0), pred[:, 1], what="per-unit variance of a SELU layer against g", atol=0.2, rtol=0.1)
    check_close(y.mean(0).mean(), pred[:, 0].mean(), what="mean over units against g", atol=0.01)
    check_close(y.var(0).mean(), pred[:, 1].mean(), what="variance over units against g", atol=0.02, rtol=0.02)


def test_selu_mapping_fixed_point_attracts() -> None:
    # Klambauer et al., Theorem 1: iterating g from near (0, 1) converges to (0, 1)
    for mu, nu in [(0.1, 0.8), (-0.1, 1.5), (0.5, 3.0), (-0.4, 0.3)]:
        for _ in range(100):
            mu, nu = selu_mapping(mu, nu)
        assert abs(mu) < 1e-6 and abs(nu - 1) < 1e-6, f"g did not converge to (0, 1): ({mu}, {nu})"


def test_selu_mapping_with_other_constants_moves_the_fixed_point() -> None:
    # With lambda = 1, alpha = 1 (an ELU) the variance shrinks: (0, 1) is not a fixed point
    mean, var = selu_mapping(0.0, 1.0, lam=1.0, alpha=1.0)
    assert var < 0.9, f"an ELU should shrink the variance, got {var}"


@pytest.mark.parametrize("kwargs,match", [
    ({"mu": 0.0, "nu": 0.0}, r"selu_mapping: expected nu to be a finite number > 0, got float 0.0"),
    ({"mu": 0.0, "nu": 1.0, "tau": -1.0}, r"selu_mapping: expected tau to be a finite number > 0, got float -1.0"),
    ({"mu": float("inf"), "nu": 1.0}, r"selu_mapping: expected mu to be a finite number, got float inf"),
])
def test_selu_mapping_bad_values(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        selu_mapping(**kwargs)


def test_selu_mapping_bad_types() -> None:
    with pytest.raises(TypeError, match=r"selu_mapping: expected mu to be a finite number, got Tensor of dtype torch.float32 and shape \(\)"):
        selu_mapping(torch.tensor(0.0), 1.0)  # type: ignore[arg-type]
