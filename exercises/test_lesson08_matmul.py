"""Grader for the Lesson 8 exercises of "Matrix multiplication" (lessons/08_matmul).

Run ``pytest exercises -m lesson08`` (or ``-k matmul_broadcast``, ``-k einsum_matmul``,
``-k broadcast_shape``). Each exercise is checked on several inputs against PyTorch in float64, with
``@``, ``torch.matmul`` and their kin swapped out during your call (``exercises/_rules.py``).
"""

from __future__ import annotations

from types import ModuleType

import pytest
import torch

from exercises._rules import Forbidden, attempt_without
from foundations.testing import check_close

pytestmark = pytest.mark.lesson08

WHY = "the rules of these exercises leave out (elementwise arithmetic, sum and indexing only)"
_PRODUCTS = (
    "torch.Tensor.__matmul__", "torch.Tensor.__rmatmul__", "torch.matmul", "torch.mm", "torch.bmm", "torch.mv",
    "torch.dot", "torch.vdot", "torch.inner", "torch.tensordot", "torch.addmm", "torch.chain_matmul",
    "torch.linalg.matmul", "torch.linalg.multi_dot", "torch.Tensor.matmul", "torch.Tensor.mm",
    "torch.Tensor.mv", "torch.Tensor.dot", "torch.Tensor.bmm", "foundations.matmul.*",
)
NO_PRODUCTS = Forbidden(_PRODUCTS, WHY)
NO_EINSUM = Forbidden(("torch.einsum",), "this exercise asks you to leave for einsum_matmul (one loop, broadcasting inside)")
ONLY_EINSUM = Forbidden(_PRODUCTS, "this exercise asks you to replace with one torch.einsum call", needs=("torch.einsum",))
NO_ORACLE = Forbidden(
    ("torch.broadcast_shapes", "torch.broadcast_tensors", "torch.broadcast_to", "torch.Tensor.expand",
     "numpy.broadcast_shapes", "foundations.matmul.*"),
    "this exercise asks you to write yourself, from the rules",
)


@pytest.fixture(scope="module")
def ex(impl) -> ModuleType:  # noqa: ANN001
    return impl("lesson08_matmul")


def randn(*shape: int, seed: int) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


# (description, shape of a, shape of b): awkward shapes on purpose
MATMUL_CASES = [
    ("a 5x784 @ 784x10 batch (MNIST-sized)", (5, 784), (784, 10)),
    ("a single row: 1x7 @ 7x3", (1, 7), (7, 3)),
    ("a single output column: 4x6 @ 6x1", (4, 6), (6, 1)),
    ("non-square: 3x2 @ 2x5", (3, 2), (2, 5)),
    ("an outer product: 4x1 @ 1x3", (4, 1), (1, 3)),
    ("1x1 @ 1x1", (1, 1), (1, 1)),
]
IDS = [f"{a[0]}x{a[1]}@{b[0]}x{b[1]}" for _, a, b in MATMUL_CASES]


@pytest.mark.parametrize(("what", "a_shape", "b_shape"), MATMUL_CASES, ids=IDS)
def test_matmul_broadcast(ex: ModuleType, what: str, a_shape: tuple[int, int], b_shape: tuple[int, int]) -> None:
    a, b = randn(*a_shape, seed=1), randn(*b_shape, seed=2)  # standard normal: negative values too
    got = attempt_without(NO_PRODUCTS + NO_EINSUM, ex.matmul_broadcast, a, b)
    check_close(got, a @ b, what=f"matmul_broadcast on {what} (float64)", atol=1e-10, rtol=1e-10, dtype="match")


def test_matmul_broadcast_exact_integers(ex: ModuleType) -> None:
    a = torch.tensor([[1, -2, 3], [-4, 5, -6]])
    b = torch.tensor([[7, -8], [-9, 10], [11, -12]])
    got = attempt_without(NO_PRODUCTS + NO_EINSUM, ex.matmul_broadcast, a, b)
    check_close(got, torch.tensor([[58, -64], [-139, 154]]), what="matmul_broadcast on 2x3 @ 3x2 int64 integers",
                atol=0, rtol=0, dtype="match")


@pytest.mark.parametrize(("what", "a_shape", "b_shape"), MATMUL_CASES, ids=IDS)
def test_einsum_matmul(ex: ModuleType, what: str, a_shape: tuple[int, int], b_shape: tuple[int, int]) -> None:
    a, b = randn(*a_shape, seed=3), randn(*b_shape, seed=4)
    got = attempt_without(ONLY_EINSUM, ex.einsum_matmul, a, b)
    check_close(got, a @ b, what=f"einsum_matmul on {what}", atol=1e-10, rtol=1e-10, dtype="any")


BROADCAST_CASES = [
    ((5, 3, 1), (4,)),
    ((3, 4), (4,)),
    ((4,), (3, 4)),
    ((3, 1), (1, 4)),
    ((8, 1, 6, 1), (7, 1, 5)),
    ((2, 1), (1, 0)),  # 1 stretches to 0
    ((), (3, 2)),  # a scalar broadcasts to anything
    ((), ()),
    ((1, 1), (1,)),
    ((6,), (6,)),
]


@pytest.mark.parametrize(("s1", "s2"), BROADCAST_CASES, ids=str)
def test_broadcast_shape(ex: ModuleType, s1: tuple[int, ...], s2: tuple[int, ...]) -> None:
    got = attempt_without(NO_ORACLE, ex.broadcast_shape, s1, s2)
    expected = tuple(torch.broadcast_shapes(s1, s2))
    assert isinstance(got, tuple) and all(isinstance(d, int) for d in got), (
        f"broadcast_shape{(s1, s2)}: expected a tuple of ints like {expected}, got {type(got).__name__} {got!r}"
    )
    assert got == expected, f"broadcast_shape{(s1, s2)}: expected {expected}, got {got}"


@pytest.mark.parametrize(("s1", "s2"), [((5, 3), (4,)), ((2, 3), (3, 2)), ((2, 1, 3), (2, 4)), ((0,), (2,))], ids=str)
def test_broadcast_shape_raises_when_incompatible(ex: ModuleType, s1: tuple[int, ...], s2: tuple[int, ...]) -> None:
    with pytest.raises(RuntimeError):  # the oracle agrees these cannot broadcast
        torch.broadcast_shapes(s1, s2)
    try:
        got = attempt_without(NO_ORACLE, ex.broadcast_shape, s1, s2)
    except ValueError as e:
        named = [s for s in (s1, s2) if str(tuple(s)) not in str(e) and str(list(s)) not in str(e)]
        assert not named, f"broadcast_shape{(s1, s2)}: the ValueError should name both shapes; {named[0]} is missing from {str(e)!r}"
        return
    pytest.fail(
        f"broadcast_shape{(s1, s2)}: expected a ValueError (two sizes differ and neither is 1), "
        f"got {got!r}"
    )
