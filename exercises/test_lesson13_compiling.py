"""Grader for exercises/lesson13_compiling.py (Lesson 13, compiling).

Run ``pytest exercises -k numba_dot_rows`` (or ``branch_free``).

- ``numba_dot_rows``: your function is first run as plain Python on a small input (so an unfinished
  stub reads "not attempted"), then compiled by the grader with ``numba.njit`` and compared with
  ``(a * b).sum(1)`` on float32 and float64 arrays, one row to a thousand (NumPy's ``dot``, ``sum``,
  ``einsum``, ... are swapped out during the first, plain-Python call);
- ``branch_free``: compared with the page's ``data_branch`` on inputs whose sum is positive,
  negative and zero, then ``torch._dynamo.explain`` must find one graph and no graph break.
"""

from __future__ import annotations

from types import ModuleType

import numpy as np
import pytest
import torch
from torch import Tensor

from exercises._rules import Forbidden, attempt_without
from foundations.testing import attempt, check_close

pytestmark = pytest.mark.lesson13


DOT_RULES = Forbidden(
    ("numpy.dot", "numpy.vdot", "numpy.inner", "numpy.einsum", "numpy.sum", "numpy.matmul"),
    "this exercise asks for the loops themselves, which Numba compiles (range, indexing, +=)",
)


@pytest.fixture(scope="module")
def ex(impl) -> ModuleType:  # noqa: ANN001
    return impl("lesson13_compiling")


# ---- numba_dot_rows ----------------------------------------------------------------------------------

DOT_CASES = {
    "3 rows of 4, float64": (3, 4, np.float64, 0),
    "1 row of 1, float64": (1, 1, np.float64, 1),
    "1000 rows of 16, float32": (1000, 16, np.float32, 2),
    "7 rows of 300, float64": (7, 300, np.float64, 3),
}


def _compiled(ex: ModuleType):  # noqa: ANN202
    from numba import njit
    from numba.core.errors import NumbaError

    a, b, out = np.ones((2, 3)), np.ones((2, 3)), np.zeros(2)
    attempt_without(DOT_RULES, ex.numba_dot_rows, a, b, out)  # as Python first: a stub reads "not attempted"
    kernel = njit(ex.numba_dot_rows)
    try:
        kernel(a, b, out)
    except NumbaError as e:
        first = str(e).strip().splitlines()[0][:200]
        raise AssertionError(f"numba_dot_rows: Numba could not compile it in nopython mode: {first}") from None
    return kernel


@pytest.mark.parametrize("name", list(DOT_CASES))
def test_numba_dot_rows_compiled_against_numpy(ex: ModuleType, name: str) -> None:
    n, d, dtype, seed = DOT_CASES[name]
    kernel = _compiled(ex)
    rng = np.random.default_rng(seed)
    a, b = rng.standard_normal((n, d)).astype(dtype), rng.standard_normal((n, d)).astype(dtype)
    out = np.full(n, np.nan, dtype=dtype)
    res = kernel(a, b, out)
    where = f"numba_dot_rows (compiled) on {name}"
    assert res is None, f"{where}: expected it to write into out and return None, got {type(res).__name__}"
    tol = {"atol": 1e-12, "rtol": 1e-10} if dtype == np.float64 else {"atol": 1e-4, "rtol": 1e-4}
    check_close(torch.from_numpy(out), torch.from_numpy((a * b).sum(1)), what=where, **tol)
    assert len(kernel.signatures) >= 1, f"{where}: Numba compiled nothing"


# ---- branch_free ------------------------------------------------------------------------------------


def data_branch(x: Tensor) -> Tensor:
    y = x * 2
    if y.sum() > 0:
        return y + 1
    return y - 1


BRANCH_CASES = {
    "a positive sum, float32 (5,)": torch.tensor([1.0, -0.5, 2.0, 0.0, 3.0]),
    "a negative sum, float64 (2, 3)": -torch.arange(6, dtype=torch.float64).view(2, 3),
    "a zero sum (3,)": torch.tensor([1.0, -1.0, 0.0]),
    "one element": torch.tensor([0.25]),
}


@pytest.mark.parametrize("name", list(BRANCH_CASES))
def test_branch_free_equals_data_branch(ex: ModuleType, name: str) -> None:
    x = BRANCH_CASES[name]
    got = attempt(ex.branch_free, x.clone())
    check_close(got, data_branch(x), what=f"branch_free on {name}", dtype="match", atol=0, rtol=0)


def test_branch_free_compiles_into_one_graph(ex: ModuleType) -> None:
    import torch._dynamo as dynamo

    x = torch.randn(6, generator=torch.Generator().manual_seed(0))
    attempt(ex.branch_free, x)
    dynamo.reset()
    report = dynamo.explain(ex.branch_free)(x)
    reasons = "; ".join(str(getattr(b, "reason", b)).splitlines()[0] for b in report.break_reasons)
    assert report.graph_break_count == 0 and report.graph_count == 1, (
        f"branch_free: expected one graph and no graph break, got {report.graph_count} graph(s) and "
        f"{report.graph_break_count} break(s): {reasons}")
