"""Tests for foundations.moments: variance, standard deviation, covariance and correlation by hand.

Oracles in float64: ``torch.var``/``torch.std`` (``correction=1`` and ``0``), ``torch.cov`` and
``torch.corrcoef``; Hypothesis over small bounded samples for the identities between them.
"""

from __future__ import annotations

import pytest
import torch
from conftest import CLOSE64, F64, randn
from hypothesis import given, settings
from hypothesis import strategies as st

from foundations.moments import corr, corr_matrix, cov, cov_matrix, std, var
from foundations.testing import check_close

pytestmark = pytest.mark.lesson10

T = torch.tensor([1.0, 2.0, 4.0, 18.0], dtype=F64)  # the course's example

samples = st.lists(st.floats(-1e3, 1e3, allow_nan=False, allow_subnormal=False), min_size=2, max_size=30)


# ---- var and std ----------------------------------------------------------------------------------------


def test_var_on_the_course_example() -> None:
    check_close(var(T, unbiased=False), 47.1875, what="biased var of [1, 2, 4, 18]")
    check_close(var(T), 47.1875 * 4 / 3, what="unbiased var of [1, 2, 4, 18]")
    check_close(std(T, unbiased=False), 47.1875**0.5, what="biased std of [1, 2, 4, 18]")


@pytest.mark.parametrize("unbiased", [True, False])
@pytest.mark.parametrize("shape", [(7,), (2, 1), (3, 5), (4, 3, 2)])
def test_var_std_match_torch_over_all_elements(shape: tuple[int, ...], unbiased: bool) -> None:
    x = randn(*shape) * 3 + 10
    c = 1 if unbiased else 0
    check_close(var(x, unbiased=unbiased), torch.var(x, correction=c), what=f"var of shape {shape}", **CLOSE64)
    check_close(std(x, unbiased=unbiased), torch.std(x, correction=c), what=f"std of shape {shape}", **CLOSE64)


@pytest.mark.parametrize("unbiased", [True, False])
@pytest.mark.parametrize("dim", [0, 1, -1])
def test_var_std_along_a_dim_match_torch(dim: int, unbiased: bool) -> None:
    x = randn(4, 6, seed=1) - 2
    c = 1 if unbiased else 0
    check_close(var(x, dim, unbiased), torch.var(x, dim, correction=c), what=f"var of (4, 6) along {dim}", **CLOSE64)
    check_close(std(x, dim, unbiased), torch.std(x, dim, correction=c), what=f"std of (4, 6) along {dim}", **CLOSE64)


def test_biased_and_unbiased_differ_by_n_over_n_minus_1() -> None:
    x = randn(5, seed=2)
    check_close(var(x) * 4 / 5, var(x, unbiased=False), what="var ratio for n = 5", **CLOSE64)


def test_var_of_one_sample() -> None:
    check_close(var(torch.tensor([3.0], dtype=F64), unbiased=False), 0.0, what="biased var of one sample")
    with pytest.raises(ValueError, match=r"at least 2 samples.*got 1"):
        var(torch.tensor([3.0]))
    with pytest.raises(ValueError, match=r"at least 2 samples.*got 1"):
        var(randn(1, 4), dim=0)


def test_var_rejects_bad_input() -> None:
    with pytest.raises(TypeError, match=r"var: expected x to be a floating-point tensor, got Tensor of dtype torch\.int64 and shape \(3,\)"):
        var(torch.tensor([1, 2, 3]))
    with pytest.raises(TypeError, match=r"var: expected x to be a floating-point tensor, got list \[1\.0, 2\.0\]"):
        var([1.0, 2.0])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"var: expected dim to be None or an int in \[-2, 2\) for x of shape \(3, 4\), got int 2"):
        var(randn(3, 4), dim=2)


def test_var_shortcut_loses_digits_far_from_zero() -> None:
    """E[X^2] - E[X]^2 equals the variance in exact arithmetic, not in float32 with a large mean."""
    x = (randn(1000, seed=3) + 1e4).float()
    exact = torch.var(x.double(), correction=0)
    two_pass = var(x, unbiased=False).double()
    shortcut = ((x * x).mean() - x.mean() ** 2).double()
    assert (two_pass - exact).abs() < 1e-3 * exact
    assert (shortcut - exact).abs() > 10 * (two_pass - exact).abs()


@settings(max_examples=60)
@given(samples, st.floats(-100, 100), st.floats(0.1, 10))
def test_var_shift_and_scale(xs: list[float], shift: float, scale: float) -> None:
    """var(a x + b) = a^2 var(x): the spread ignores where the data sit."""
    x = torch.tensor(xs, dtype=F64)
    check_close(var(scale * x + shift), scale**2 * var(x), what=f"var(a x + b) for x={xs}", atol=1e-6, rtol=1e-8)
    check_close(var(x), torch.var(x), what=f"var of {xs}", atol=1e-6, rtol=1e-9)


# ---- cov and corr ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("n", [2, 3, 10, 100])
def test_cov_matches_torch_cov(n: int) -> None:
    x, y = randn(n, seed=n), randn(n, seed=n + 1) * 5 - 3
    xy = torch.stack([x, y])
    check_close(cov(x, y), torch.cov(xy)[0, 1], what=f"cov of n={n} pairs", **CLOSE64)
    check_close(cov(x, y, unbiased=False), torch.cov(xy, correction=0)[0, 1], what=f"biased cov, n={n}", **CLOSE64)
    check_close(cov(x, x), var(x), what="cov(x, x) = var(x)", **CLOSE64)


@pytest.mark.parametrize("n", [2, 3, 10, 100])
def test_corr_matches_torch_corrcoef(n: int) -> None:
    x = randn(n, seed=10 + n)
    y = 2 * x + randn(n, seed=20 + n)  # correlated, not perfectly
    check_close(corr(x, y), torch.corrcoef(torch.stack([x, y]))[0, 1], what=f"corr of n={n} pairs", **CLOSE64)


def test_corr_of_exact_lines_is_plus_or_minus_one() -> None:
    x = randn(20, seed=4)
    check_close(corr(x, 3 * x + 7), 1.0, what="corr(x, 3x + 7)", **CLOSE64)
    check_close(corr(x, -0.5 * x), -1.0, what="corr(x, -x/2)", **CLOSE64)


@settings(max_examples=60)
@given(st.integers(2, 20).flatmap(lambda n: st.tuples(*[st.tuples(st.floats(-100, 100), st.floats(-100, 100))] * n)))
def test_cov_and_corr_against_torch_on_random_pairs(pairs: tuple[tuple[float, float], ...]) -> None:
    x = torch.tensor([p[0] for p in pairs], dtype=F64)
    y = torch.tensor([p[1] for p in pairs], dtype=F64)
    check_close(cov(x, y), torch.cov(torch.stack([x, y]))[0, 1], what=f"cov of {pairs}", atol=1e-6, rtol=1e-9)
    check_close(cov(x, y), cov(y, x), what="cov is symmetric", atol=1e-9)
    if var(x) > 1e-6 and var(y) > 1e-6:
        r = corr(x, y)
        check_close(r, torch.corrcoef(torch.stack([x, y]))[0, 1], what=f"corr of {pairs}", atol=1e-7)
        assert -1 - 1e-12 <= r <= 1 + 1e-12


def test_cov_corr_reject_bad_input() -> None:
    with pytest.raises(ValueError, match="same length.*got 3 and 4"):
        cov(randn(3), randn(4))
    with pytest.raises(ValueError, match="same length.*got 5 and 2"):
        corr(randn(5), randn(2))
    with pytest.raises(ValueError, match=r"1-D tensors x and y, got shapes \(2, 3\) and \(6,\)"):
        cov(randn(2, 3), randn(6))
    with pytest.raises(ValueError, match="at least 2 samples.*got 1 pairs"):
        cov(randn(1), randn(1))
    with pytest.raises(ValueError, match="at least 2 samples.*got 1 pairs"):
        corr(randn(1), randn(1))
    check_close(cov(randn(1), randn(1), unbiased=False), 0.0, what="biased cov of one pair")
    with pytest.raises(ValueError, match="expected y to vary, got a constant y"):
        corr(randn(4), torch.ones(4, dtype=F64))
    with pytest.raises(TypeError, match=r"cov: expected x to be a floating-point tensor, got Tensor of dtype torch\.int64 and shape \(3,\)"):
        cov(torch.arange(3), torch.arange(3.0))


# ---- matrices -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(1, 5), (2, 2), (3, 10), (6, 4)])
def test_cov_and_corr_matrix_match_torch(shape: tuple[int, int]) -> None:
    X = randn(*shape, seed=sum(shape)) * torch.arange(1, shape[0] + 1, dtype=F64)[:, None]
    k = shape[0]  # torch squeezes a single row's (1, 1) result to 0-d; ours stays (n_vars, n_vars)
    check_close(cov_matrix(X), torch.cov(X).reshape(k, k), what=f"cov_matrix of shape {shape}", **CLOSE64)
    check_close(
        cov_matrix(X, unbiased=False), torch.cov(X, correction=0).reshape(k, k), what=f"biased cov_matrix {shape}", atol=1e-12
    )
    check_close(corr_matrix(X), torch.corrcoef(X).reshape(k, k), what=f"corr_matrix of shape {shape}", **CLOSE64)
    check_close(cov_matrix(X)[0, -1], cov(X[0], X[-1]), what="cov_matrix entry = cov of the two rows", **CLOSE64)


def test_matrix_versions_reject_bad_input() -> None:
    with pytest.raises(ValueError, match=r"cov_matrix: expected X to be a matrix of shape \(n_vars, n_obs\), got Tensor of dtype torch\.float64 and shape \(5,\)"):
        cov_matrix(randn(5))
    with pytest.raises(ValueError, match="at least 2 samples.*got 1 observations"):
        cov_matrix(randn(3, 1))
    X = randn(3, 4)
    X[1] = 2.0
    with pytest.raises(ValueError, match="every row of X to vary, got a constant row 1"):
        corr_matrix(X)
