"""foundations.perf.jit: Numba's matmul against ``@``, compile timing, graph capture and graph breaks."""

from __future__ import annotations

import time

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from conftest import CLOSE64, randn
from foundations.perf.jit import BreakReport, FirstCall, GraphRecorder, first_call_and_steady, graph_breaks, matmul_numba
from foundations.testing import check_close

pytestmark = pytest.mark.lesson13


@given(st.integers(1, 12), st.integers(1, 40), st.integers(1, 12))
def test_matmul_numba_equals_the_product(n: int, k: int, m: int) -> None:
    a, b = randn(n, k, seed=n), randn(k, m, seed=k)
    check_close(matmul_numba(a, b), a @ b, what=f"matmul_numba {n}x{k} @ {k}x{m}", **CLOSE64)


def test_matmul_numba_mnist_sizes_in_float32() -> None:
    a, b = torch.randn(5, 784), torch.randn(784, 10)
    got = matmul_numba(a, b)
    assert got.dtype == torch.float32 and got.shape == (5, 10)
    check_close(got, a @ b, what="float32", atol=1e-4, rtol=1e-4)


def test_matmul_numba_refuses_bad_input() -> None:
    with pytest.raises(ValueError, match=r"expected a \(n, k\) @ \(k, m\) product, got \(2, 3\) @ \(2, 3\)"):
        matmul_numba(torch.zeros(2, 3), torch.zeros(2, 3))
    with pytest.raises(TypeError, match="both float32 or both float64"):
        matmul_numba(torch.zeros(2, 3), torch.zeros(3, 2, dtype=torch.float64))
    with pytest.raises(ValueError, match="expected a to be a 2-d floating-point tensor"):
        matmul_numba(torch.zeros(3), torch.zeros(3, 2))


def test_first_call_is_timed_apart_from_the_steady_calls() -> None:
    calls = []

    def slow_first() -> None:
        calls.append(1)
        if len(calls) == 1:
            time.sleep(0.2)  # a "compile"

    res = first_call_and_steady(slow_first, repeat=3, min_time=0.001)
    assert isinstance(res, FirstCall) and res.first >= 0.2 and res.steady.best < 0.01
    assert 0.19 < res.compile_s <= res.first
    with pytest.raises(TypeError, match="expected fn to be a function of no arguments"):
        first_call_and_steady(3)


def test_graph_recorder_sees_capture_guards_and_recompilation() -> None:
    torch._dynamo.reset()
    rec = GraphRecorder()

    def f(x: torch.Tensor) -> torch.Tensor:
        return (x.sin() + 1) * 2

    cf = torch.compile(f, backend=rec)
    x = torch.randn(4)
    check_close(cf(x), f(x), what="the recorded graph's result", atol=0, rtol=0)
    assert len(rec.graphs) == 1 and rec.inputs[0] == [(4,)]
    assert rec.ops() == ["sin", "add", "mul"]
    cf(torch.randn(4))                     # same shape: the guards pass, no new graph
    assert len(rec.graphs) == 1
    cf(torch.randn(7))                     # a new shape fails a guard: recompiled, with a dynamic size
    assert len(rec.graphs) == 2
    cf(torch.randn(9))                     # the dynamic graph covers it
    assert len(rec.graphs) == 2
    cf(torch.randn(4, dtype=torch.float64))  # a new dtype: one more graph
    assert len(rec.graphs) == 3
    torch._dynamo.reset()


def test_graph_breaks_counts_and_explains_them() -> None:
    def clean(x: torch.Tensor) -> torch.Tensor:
        return x.relu().sum()

    def branchy(x: torch.Tensor) -> torch.Tensor:
        y = x * 2
        if y.sum() > 0:  # the branch depends on data: Python must see the value
            return y + 1
        return y - 1

    report = graph_breaks(clean, torch.randn(5))
    assert isinstance(report, BreakReport) and (report.graphs, report.breaks) == (1, 0) and report.reasons == []
    report = graph_breaks(branchy, torch.randn(5))
    assert report.graphs == 2 and report.breaks == 1 and len(report.reasons) == 1
    assert all(len(r) <= 68 for r in report.reasons)
    assert str(report).startswith("2 graph(s), 1 graph break(s)") and "break 1:" in str(report)
    with pytest.raises(TypeError, match="expected fn to be a function"):
        graph_breaks(None)
