"""foundations.matmul against PyTorch in float64, the broadcasting rules against torch.broadcast_shapes,
and the timing helper foundations.bench (numbers and validation only: no timing assertions)."""

from __future__ import annotations

import math
import re

import pytest
import torch
from conftest import randn
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from foundations.bench import Timing, format_seconds, timeit
from foundations.matmul import broadcast_shape, frobenius_norm, matmul, matmul_einsum, matmul_elementwise, matmul_loops
from foundations.testing import check_close

pytestmark = pytest.mark.lesson08

SETTINGS = settings(max_examples=60)


def _re(shape: tuple[int, ...]) -> str:
    """A shape as a regular expression matching its printed tuple: ``(2, 3)`` -> ``\\(2, 3\\)``."""
    return "\\" + str(tuple(shape)).replace(")", "\\)")


# ---------------------------------------------------------------------------------------------- matmul


@pytest.mark.parametrize(
    ("n", "k", "m"),
    [(5, 784, 10), (3, 7, 2), (1, 6, 4), (4, 6, 1), (1, 1, 1), (1, 9, 1), (8, 1, 8), (2, 3, 2)],
)
def test_matmul_matches_torch_float64(n: int, k: int, m: int) -> None:
    a, b = randn(n, k, seed=n * 100 + k), randn(k, m, seed=m)  # standard normal: about half negative
    got = matmul(a, b)
    assert got.dtype == torch.float64
    check_close(got, a @ b, what=f"matmul of ({n}, {k}) @ ({k}, {m})", atol=1e-12, rtol=1e-12)


def test_matmul_float32_on_mnist_sized_batch_agrees_with_float64_oracle() -> None:
    a, b = randn(5, 784, seed=1, dtype=torch.float32).abs(), randn(784, 10, seed=2, dtype=torch.float32)
    got = matmul(a, b)
    assert got.dtype == torch.float32 and got.shape == (5, 10)
    check_close(got, a.double() @ b.double(), what="float32 matmul vs float64 oracle", atol=1e-4, rtol=1e-4)


def test_matmul_known_values_negative_and_integer() -> None:
    a = torch.tensor([[1, -2, 3], [-4, 5, -6]])
    b = torch.tensor([[7, -8], [-9, 10], [11, -12]])
    got = matmul(a, b)
    assert got.dtype == torch.int64
    assert got.tolist() == [[58, -64], [-139, 154]]


def test_matmul_with_an_empty_inner_dimension_is_zeros() -> None:
    got = matmul(torch.ones(3, 0, dtype=torch.float64), torch.ones(0, 2, dtype=torch.float64))
    check_close(got, torch.zeros(3, 2, dtype=torch.float64), what="(3, 0) @ (0, 2)")


@SETTINGS
@given(st.integers(1, 8), st.integers(1, 8), st.integers(1, 8), st.data())
def test_matmul_hypothesis_shapes_and_values(n: int, k: int, m: int, data: st.DataObject) -> None:
    values = st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False)
    a = torch.tensor(data.draw(st.lists(values, min_size=n * k, max_size=n * k)), dtype=torch.float64).reshape(n, k)
    b = torch.tensor(data.draw(st.lists(values, min_size=k * m, max_size=k * m)), dtype=torch.float64).reshape(k, m)
    check_close(matmul(a, b), a @ b, what=f"matmul of ({n}, {k}) @ ({k}, {m})", atol=1e-9, rtol=1e-9)


@pytest.mark.parametrize(
    ("a_shape", "b_shape"),
    [((5, 784), (10, 784)), ((3, 4), (5, 2)), ((4,), (4, 2)), ((2, 4), (4,)), ((2, 3, 4), (4, 5)), ((), (1, 1))],
)
def test_matmul_rejects_bad_shapes_naming_both(a_shape: tuple[int, ...], b_shape: tuple[int, ...]) -> None:
    expected = (
        r"matmul: expected a of shape \(n, k\) and b of shape \(k, m\), "
        + rf"got {_re(a_shape)} and {_re(b_shape)}$"
    )
    with pytest.raises(ValueError, match=expected):
        matmul(torch.zeros(a_shape), torch.zeros(b_shape))


def test_matmul_error_message_is_the_documented_one() -> None:
    with pytest.raises(ValueError) as info:
        matmul(torch.zeros(5, 784), torch.zeros(10, 784))
    assert str(info.value) == (
        "matmul: expected a of shape (n, k) and b of shape (k, m), got (5, 784) and (10, 784)"
    )


def test_matmul_rejects_mixed_dtypes_and_non_tensors() -> None:
    with pytest.raises(TypeError, match=r"same dtype, got torch.float32 and torch.float64"):
        matmul(torch.zeros(2, 3), torch.zeros(3, 2, dtype=torch.float64))
    with pytest.raises(TypeError, match=r"torch.Tensor, got list and Tensor"):
        matmul([[1.0, 2.0]], torch.zeros(2, 1))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"numeric tensors, got torch.bool"):
        matmul(torch.ones(2, 2, dtype=torch.bool), torch.ones(2, 2, dtype=torch.bool))


# ------------------------------------------------------------------------------------- broadcast_shape


@pytest.mark.parametrize(
    ("shapes", "expected"),
    [
        (((5, 3, 1), (4,)), (5, 3, 4)),
        (((3, 4), (4,)), (3, 4)),
        (((3, 1), (1, 4)), (3, 4)),
        (((8, 1, 6, 1), (7, 1, 5)), (8, 7, 6, 5)),
        (((2, 1), (1, 0)), (2, 0)),  # a 1 stretches to 0, as in torch
        (((), (3,)), (3,)),
        (((1,), (1, 1), (1, 1, 1)), (1, 1, 1)),
        (((), ()), ()),
        ((torch.Size([2, 1]), [1, 3]), (2, 3)),  # any sequence of ints is a shape
    ],
)
def test_broadcast_shape_examples(shapes: tuple, expected: tuple[int, ...]) -> None:
    assert broadcast_shape(*shapes) == expected
    assert broadcast_shape(*shapes) == tuple(torch.broadcast_shapes(*(tuple(s) for s in shapes)))


def test_broadcast_shape_of_no_shapes_is_a_scalar() -> None:
    assert broadcast_shape() == ()


def test_broadcast_shape_error_names_the_shapes_and_the_dimension() -> None:
    with pytest.raises(ValueError, match=r"cannot broadcast \(5, 3\) with \(4,\): dimension -1 has size 3 in \(5, 3\) and 4"):
        broadcast_shape((5, 3), (4,))
    with pytest.raises(ValueError, match=r"dimension -3 has size 2 in \(2, 1, 1\) and 4 in \(3, 4, 1, 1\)"):
        broadcast_shape((2, 1, 1), (1, 1, 1), (3, 4, 1, 1))


def test_broadcast_shape_rejects_things_that_are_not_shapes() -> None:
    with pytest.raises(TypeError, match=r"tuple of ints, got str 'ab'"):
        broadcast_shape((2,), "ab")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"tuple of ints, got int 3"):
        broadcast_shape(3)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"tuple of ints, got \(2.0, 1\)"):
        broadcast_shape((2.0, 1))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"sizes >= 0, got shape \(2, -1\)"):
        broadcast_shape((2, -1))


shape_st = st.lists(st.integers(1, 8), min_size=0, max_size=4).map(tuple)


@st.composite
def compatible_shapes(draw: st.DrawFn) -> list[tuple[int, ...]]:
    """Shapes made from one target by dropping leading dimensions and turning sizes into 1."""
    target = draw(st.lists(st.integers(1, 8), min_size=0, max_size=4))
    shapes = []
    for _ in range(draw(st.integers(1, 3))):
        drop = draw(st.integers(0, len(target)))
        shapes.append(tuple(1 if draw(st.booleans()) else d for d in target[drop:]))
    return shapes


@SETTINGS
@given(compatible_shapes())
def test_broadcast_shape_hypothesis_compatible(shapes: list[tuple[int, ...]]) -> None:
    expected = tuple(torch.broadcast_shapes(*shapes))
    assert broadcast_shape(*shapes) == expected
    # and it is the shape real tensors get when added
    total = sum((torch.zeros(s) for s in shapes), torch.zeros(()))
    assert tuple(total.shape) == expected


@SETTINGS
@given(st.lists(shape_st, min_size=1, max_size=3))
def test_broadcast_shape_hypothesis_agrees_with_torch_or_both_fail(shapes: list[tuple[int, ...]]) -> None:
    try:
        expected = tuple(torch.broadcast_shapes(*shapes))
    except RuntimeError:
        with pytest.raises(ValueError, match="cannot broadcast"):
            broadcast_shape(*shapes)
    else:
        assert broadcast_shape(*shapes) == expected


@SETTINGS
@given(shape_st, st.integers(0, 4), st.integers(2, 8), st.integers(2, 8))
def test_broadcast_shape_hypothesis_incompatible(base: tuple[int, ...], pos: int, p: int, q: int) -> None:
    assume(p != q)
    pos = min(pos, len(base))
    s1 = (*base[:pos], p, *base[pos:])  # sizes p != q, neither 1, in the same place: never broadcastable
    s2 = (*base[:pos], q, *base[pos:])
    with pytest.raises(RuntimeError):
        torch.broadcast_shapes(s1, s2)
    with pytest.raises(ValueError, match=rf"dimension {pos - len(s1)} has size {p} in {_re(s1)} and {q} in {_re(s2)}"):
        broadcast_shape(s1, s2)


# -------------------------------------------------------------------------------------- frobenius_norm


def test_frobenius_norm_known_value() -> None:
    m = torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0]], dtype=torch.float64)
    check_close(frobenius_norm(m), torch.tensor(math.sqrt(285.0), dtype=torch.float64), what="norm of 1..9", atol=1e-12)


@pytest.mark.parametrize("shape", [(1, 1), (1, 7), (7, 1), (5, 784), (3, 3)])
def test_frobenius_norm_matches_torch(shape: tuple[int, int]) -> None:
    m = randn(*shape, seed=sum(shape))
    got = frobenius_norm(m)
    assert got.shape == () and got.dtype == torch.float64
    check_close(got, torch.linalg.norm(m), what=f"Frobenius norm of a {shape} matrix", atol=1e-12, rtol=1e-12)


def test_frobenius_norm_rejects_non_matrices() -> None:
    with pytest.raises(ValueError, match=r"frobenius_norm: expected m to be a 2-d floating-point tensor, got Tensor of dtype torch\.float32 and shape \(3,\)"):
        frobenius_norm(torch.ones(3))
    with pytest.raises(TypeError, match=r"frobenius_norm: expected m to be a 2-d floating-point tensor, got Tensor of dtype torch\.int64 and shape \(2, 2\)"):
        frobenius_norm(torch.ones(2, 2, dtype=torch.int64))
    with pytest.raises(TypeError, match=r"frobenius_norm: expected m to be a 2-d floating-point tensor, got list \[\[1\.0\]\]"):
        frobenius_norm([[1.0]])  # type: ignore[arg-type]


# ----------------------------------------------------------------------------------------------- bench


def test_timeit_returns_positive_seconds_and_counts_calls() -> None:
    calls = []
    t = timeit(calls.append, 1, repeat=3, number=4)
    assert isinstance(t, Timing)
    assert (t.repeat, t.number) == (3, 4)
    assert len(calls) == 1 + 3 * 4  # one warm-up call, then repeat x number
    assert 0 < t.best <= t.median


def test_timeit_grows_number_for_fast_functions_and_passes_kwargs() -> None:
    seen = []
    t = timeit(lambda x, *, y: seen.append(x + y), 1, y=2, repeat=2, min_time=0.01)
    assert t.number > 1  # a list append is far quicker than 10 ms
    assert set(seen) == {3}
    assert 0 < t.best <= t.median


def test_timeit_without_warmup_makes_only_the_timed_calls() -> None:
    calls = []
    t = timeit(calls.append, 1, repeat=2, min_time=10.0, warmup=False)  # min_time needs a warm-up to act
    assert (t.repeat, t.number, len(calls)) == (2, 1, 2)
    t = timeit(calls.append, 1, repeat=2, number=3, warmup=False)
    assert (t.number, len(calls)) == (3, 2 + 6)
    with pytest.raises(TypeError, match=r"timeit: expected warmup to be a bool, got int 0"):
        timeit(calls.append, 1, warmup=0)  # type: ignore[arg-type]


def test_timeit_times_a_real_matmul() -> None:
    a, b = randn(5, 20), randn(20, 3)
    t = timeit(matmul, a, b, repeat=2, min_time=0)
    assert t.number == 1 and 0 < t.best <= t.median


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"repeat": 0}, r"timeit: expected repeat to be a positive int, got int 0"),

        ({"min_time": -1}, r"timeit: expected min_time to be a finite number >= 0, got int -1"),
        ({"min_time": float("nan")}, r"timeit: expected min_time to be a finite number >= 0, got float nan"),
        ({"number": 0}, r"timeit: expected number to be a positive int or None, got int 0"),
    ],
)
def test_timeit_validates_arguments(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        timeit(lambda: None, **kwargs)


def test_timeit_rejects_the_wrong_types() -> None:
    with pytest.raises(TypeError, match=r"timeit: expected repeat to be a positive int, got float 2\.5"):
        timeit(lambda: None, repeat=2.5)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="callable fn, got int"):
        timeit(3)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0.265, "265 ms"), (7.123e-6, "7.12 µs"), (3.9e-5, "39 µs"), (2.5, "2.5 s"), (2650.0, "44.2 min"),
     (36000.0, "10 h"), (4e-8, "40 ns"), (0.99996, "1 s"), (0, "0 ns")],
)
def test_format_seconds(seconds: float, text: str) -> None:
    assert format_seconds(seconds) == text


@pytest.mark.parametrize(
    "bad, error", [(-1.0, ValueError), (float("inf"), ValueError), (float("nan"), ValueError), ("1 s", TypeError), (True, TypeError)]
)
def test_format_seconds_rejects_bad_input(bad: object, error: type[Exception]) -> None:
    expected = f"format_seconds: expected seconds to be a finite number >= 0, got {type(bad).__name__} {bad!r}"
    with pytest.raises(error, match=re.escape(expected)):
        format_seconds(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("fn", [matmul_loops, matmul_elementwise, matmul_einsum])
def test_every_rung_of_the_ladder_equals_torch_in_float64(fn) -> None:  # noqa: ANN001
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(3, 7, generator=g, dtype=torch.float64), torch.randn(7, 4, generator=g, dtype=torch.float64)
    got = fn(a, b)
    assert got.dtype == torch.float64 and got.shape == (3, 4)
    torch.testing.assert_close(got, a @ b, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("fn", [matmul_loops, matmul_elementwise, matmul_einsum])
def test_every_rung_refuses_mismatched_shapes_by_name(fn) -> None:  # noqa: ANN001
    with pytest.raises(ValueError, match=rf"{fn.__name__}: expected a of shape \(n, k\) and b of shape \(k, m\), got \(2, 3\) and \(4, 5\)"):
        fn(torch.zeros(2, 3), torch.zeros(4, 5))
    with pytest.raises(TypeError, match=f"{fn.__name__}: expected a and b to be torch.Tensor, got list and Tensor"):
        fn([[1.0]], torch.zeros(1, 1))
