"""``foundations.testing.check_close``: what its messages say, number for number.

A learner reads these messages when an exercise fails, so the tests pin their wording: a dtype
mismatch is named first, two different numbers never print alike, and a difference is placed by
the input it came from when the caller says how (``at=``).
"""

from __future__ import annotations

import re

import pytest
import torch

from foundations.testing import check_close, describe

F32, F64 = torch.float32, torch.float64


def message(got: object, expected: object, **kwargs: object) -> str:
    with pytest.raises(AssertionError) as info:
        check_close(got, expected, **kwargs)
    return str(info.value)


# ---- dtype ------------------------------------------------------------------------------------------


def test_a_float32_answer_to_a_float64_question_says_so_first() -> None:
    got = torch.tensor([[-0.2487151]], dtype=F32)
    expected = torch.tensor([[-0.24871512345]], dtype=F64)
    text = message(got, expected, what="mse_grad on a batch of 2", dtype="match")
    first, rest = text.split(". ", 1)
    assert first == "mse_grad on a batch of 2: expected a float64 tensor, got float32"
    assert "torch.zeros(n)" in rest and ".float()" in rest and "dtype=x.dtype" in rest
    assert "differ" not in text  # no numbers that would look alike


def test_the_dtype_is_named_before_the_shape() -> None:
    text = message(torch.zeros(3, dtype=F32), torch.zeros(2, 1, dtype=F64), what="lin_grad x_grad", dtype="match")
    assert text.startswith("lin_grad x_grad: expected a float64 tensor, got float32.")


@pytest.mark.parametrize(
    ("got", "expected", "first"),
    [
        (torch.zeros(2), torch.zeros(2, dtype=torch.int64), "expected an int64 tensor, got float32"),
        (torch.zeros(2, dtype=torch.int64), torch.zeros(2), "expected a float32 tensor, got int64"),
        (torch.zeros(2) > 0, torch.zeros(2, dtype=F64), "expected a float64 tensor, got bool"),
        (torch.zeros(2, dtype=F64), torch.zeros(2), "expected a float32 tensor, got float64"),
    ],
    ids=["float for int", "int for float", "bool", "float64 for float32"],
)
def test_every_dtype_mismatch_reads_expected_then_got(got: torch.Tensor, expected: torch.Tensor, first: str) -> None:
    text = message(got, expected, what="f", dtype="match")
    assert text.startswith(f"f: {first}. "), text
    assert text.endswith(".")


def test_dtype_any_accepts_a_float32_answer_at_float32_precision() -> None:
    expected = torch.randn(1000, generator=torch.Generator().manual_seed(0), dtype=F64) * 3
    check_close(expected.float(), expected, what="x", atol=1e-10, rtol=1e-8, dtype="any")
    check_close(expected, expected.float(), what="x", atol=1e-10, rtol=1e-8, dtype="any")  # either way round


def test_dtype_any_still_refuses_a_wrong_float32_answer() -> None:
    expected = torch.linspace(1.0, 2.0, 5, dtype=F64)
    wrong = (expected * (1 + 1e-4)).float()  # 1e-4 relative: far above float32's rounding
    text = message(wrong, expected, what="x", atol=1e-10, rtol=1e-8, dtype="any")
    assert text.startswith("x: 5 of 5 values differ. Largest difference 0.0002 at index (4,): expected 2, got 2.0002")
    eps = torch.finfo(F32).eps
    assert text.endswith(f"(tolerance {64 * eps * 2:.3g} + {64 * eps:.3g}*|expected|, widened for float32)"), text


def test_dtype_any_keeps_the_tolerance_between_two_float64_tensors() -> None:
    e = torch.tensor([1.0], dtype=F64)
    text = message(e + 1e-7, e, what="x", atol=0, rtol=1e-8, dtype="any")
    assert text.endswith("(tolerance 0 + 1e-08*|expected|)")


def test_python_numbers_have_no_dtype_to_match() -> None:
    check_close(0.5, torch.tensor(0.5, dtype=F64), what="a float result")
    check_close(torch.tensor([0.5, 1.0], dtype=F64), [0.5, 1.0], what="against a Python list")
    check_close(torch.tensor(2.0, dtype=F32), 2.0, what="against a Python float")


def test_by_default_values_are_compared_and_a_dtype_difference_is_named_first() -> None:
    check_close(torch.tensor([0.5], dtype=F32), torch.tensor([0.5], dtype=F64), what="x")  # same value: fine
    text = message(torch.tensor([0.25], dtype=F32), torch.tensor([0.5], dtype=F64), what="x")
    assert text.startswith("x (got float32 where float64 was expected): 1 of 1 values differ. Largest difference 0.25"), text


def test_an_unknown_dtype_mode_is_an_error() -> None:
    with pytest.raises(ValueError, match='expected dtype="value", "match" or "any", got \'float\''):
        check_close(torch.zeros(1), torch.zeros(1), dtype="float")


# ---- numbers ----------------------------------------------------------------------------------------


def test_two_numbers_that_differ_never_print_alike() -> None:
    e, g = torch.tensor([-0.248715123], dtype=F64), torch.tensor([-0.248715118], dtype=F64)
    assert f"{e.item():.6g}" == f"{g.item():.6g}"  # what the old message printed for both
    text = message(g, e, what="mse_grad", atol=0, rtol=1e-9)
    assert "expected -0.248715123, got -0.248715118" in text, text


def test_numbers_that_differ_in_the_last_bit_print_all_17_digits() -> None:
    e = torch.tensor([0.1 + 0.2], dtype=F64)
    g = torch.tensor([0.3], dtype=F64)
    text = message(g, e, what="sum", atol=0, rtol=0)
    assert "expected 0.30000000000000004, got 0.29999999999999999" in text, text


def test_a_scalar_says_expected_got_difference_and_tolerance() -> None:
    text = message(torch.tensor(0.30000001, dtype=F64), torch.tensor(0.3, dtype=F64), what="x", atol=0, rtol=0)
    assert text == "x: expected 0.3, got 0.30000001 (difference 1e-08; tolerance 0 + 0*|expected|)"


def test_the_largest_difference_is_placed_by_the_input_when_at_is_given() -> None:
    positions = [0.0, 0.5, 0.75, 1.0]
    got = torch.tensor([1.0, 2.0, 2.6, 3.0], dtype=F64)
    expected = torch.tensor([1.0, 2.0, 2.5, 3.0], dtype=F64)
    text = message(got, expected, what="combine_scheds", at=lambda i: f"pos={positions[i[0]]}")
    assert text == (
        "combine_scheds: 1 of 4 values differ. Largest difference 0.1 at pos=0.75: expected 2.5, got 2.6 "
        "(tolerance 1e-05 + 1e-05*|expected|)"
    )


def test_without_at_the_place_is_an_index() -> None:
    got, expected = torch.zeros(2, 3, dtype=F64), torch.zeros(2, 3, dtype=F64)
    got[1, 2] = 0.5
    assert "Largest difference 0.5 at index (1, 2): expected 0, got 0.5" in message(got, expected, what="y")


def test_nan_where_a_number_is_expected_and_the_other_way_round() -> None:
    t = torch.tensor([1.0, 2.0], dtype=F64)
    nan = torch.tensor([1.0, float("nan")], dtype=F64)
    assert message(nan, t, what="y") == "y: got NaN at index (1,) where 2 was expected"
    assert message(t, nan, what="y") == "y: got 2 at index (1,) where NaN was expected"
    check_close(nan, nan.clone(), what="NaN where NaN is expected")


def test_none_and_other_non_tensors() -> None:
    assert message(None, torch.zeros(2, 1), what="mse_grad") == (
        "mse_grad: expected a tensor of shape (2, 1), float32, got None (did the function return its result?)"
    )
    assert message([1.0, 2.0], torch.zeros(2), what="f") == "f: expected a tensor of shape (2,), float32, got list of 2: [float 1.0, float 2.0]"


def test_shape_message() -> None:
    assert message(torch.zeros(10, 5), torch.zeros(5, 10), what="einsum_matmul") == (
        "einsum_matmul: expected shape (5, 10), got shape (10, 5)"
    )


def test_describe() -> None:
    assert describe(torch.zeros(5, 10)) == "tensor of shape (5, 10), float32"
    assert describe(None) == "None"
    assert describe(0.5) == "float 0.5"
    assert describe((torch.zeros(3, dtype=F64), 4)) == "tuple of 2: (tensor of shape (3,), float64, int 4)"
    assert re.fullmatch(r"list of 5: \[int 0, int 1, int 2, \.\.\.\]", describe(list(range(5))))
