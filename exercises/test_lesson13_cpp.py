"""Grader for exercises/lesson13_cpp.py (Lesson 13, C and C++ from Python).

Run ``pytest exercises -k zlib_adler32`` (or ``cpp_relu_backward``).

- ``zlib_adler32``: against Python's ``zlib.adler32`` on empty, short, binary and megabyte-long
  inputs (a missing ``restype`` or ``argtypes`` gives wrong numbers there); Python's ``zlib`` and
  ``binascii`` are swapped out during your call;
- ``cpp_relu_backward``: ``gradcheck`` in float64 (finite differences), and your gradients
  against autograd's through ``foundations.conv.GeneralRelu``, with and without a leak, a shift and
  a ceiling; the C++ backward is swapped out during your call.
"""

from __future__ import annotations

import zlib
from types import ModuleType

import pytest
import torch

from exercises._rules import Forbidden, attempt_without
from foundations.conv import GeneralRelu
from foundations.testing import attempt, check_close

pytestmark = pytest.mark.lesson13

F64 = torch.float64

ZLIB_RULES = Forbidden(
    ("zlib.adler32", "zlib.crc32", "binascii.crc32"),
    "this exercise asks you to call the C library through ctypes (ctypes.CDLL, argtypes, restype)",
)
BACKWARD_RULES = Forbidden(
    ("foundations.perf.native.general_relu_cpp", "foundations.perf.native.GeneralReluFunction",
     "foundations.perf.general_relu_cpp", "foundations.perf.GeneralReluFunction"),
    "this exercise asks you to write the backward yourself (torch.where, comparisons, products)",
)


@pytest.fixture(scope="module")
def ex(impl) -> ModuleType:  # noqa: ANN001
    return impl("lesson13_cpp")


# ---- zlib_adler32 -----------------------------------------------------------------------------------

ADLER_CASES = {
    "b'' (empty)": b"",
    "b'abc'": b"abc",
    "the 256 byte values": bytes(range(256)),
    "a megabyte of pseudo-random bytes": bytes(torch.randint(0, 256, (1 << 20,), generator=torch.Generator().manual_seed(0)).tolist()),
}


@pytest.mark.parametrize("name", list(ADLER_CASES))
def test_zlib_adler32_against_pythons_zlib(ex: ModuleType, name: str) -> None:
    data = ADLER_CASES[name]
    expected = zlib.adler32(data)
    got = attempt_without(ZLIB_RULES, ex.zlib_adler32, data)
    assert isinstance(got, int), f"zlib_adler32 on {name}: expected a Python int, got {type(got).__name__} {got!r:.60}"
    assert got == expected, (
        f"zlib_adler32 on {name}: expected {expected:#010x}, got {got:#x} "
        "(is restype ctypes.c_ulong, and are the arguments declared in argtypes?)")


# ---- cpp_relu_backward -----------------------------------------------------------------------------

RELU_CASES = {
    "leak 0.1, sub 0.4, maxv 6 (the course's)": (0.1, 0.4, 6.0),
    "a plain ReLU (leak 0, sub 0, no ceiling)": (0.0, 0.0, float("inf")),
    "leak 0.2, sub -0.3, maxv 0.5 (many at the ceiling)": (0.2, -0.3, 0.5),
}


def _as_exercise(fn):  # noqa: ANN001, ANN202
    """``fn`` named as the exercise, so that a stub's NotImplementedError reads "not attempted"."""
    fn.__qualname__ = "CppReluBackward"
    return fn


def _build_now() -> None:
    """Build (or load) the C++ extension while the graders are collected: a first build takes tens of
    seconds, which must not count against an exercise's time limit. Without a compiler, the ``ops``
    fixture reports it when the exercise runs."""
    from foundations.perf import CompilerNotFoundError, cpp_ops

    try:
        cpp_ops()
    except CompilerNotFoundError:
        pass


_build_now()


@pytest.fixture(scope="module")
def ops():  # noqa: ANN201
    from foundations.perf import cpp_ops

    return cpp_ops()


@pytest.mark.parametrize("name", list(RELU_CASES))
def test_cpp_relu_backward_against_autograd(ex: ModuleType, ops, name: str) -> None:  # noqa: ANN001
    leak, sub, maxv = RELU_CASES[name]
    g = torch.Generator().manual_seed(len(name))
    x = (torch.randn(8, 7, dtype=F64, generator=g) * 3).requires_grad_()
    w = torch.randn(8, 7, dtype=F64, generator=g)
    (got,) = attempt_without(BACKWARD_RULES, _as_exercise(lambda: torch.autograd.grad(
        (ex.CppReluBackward.apply(x, leak, sub, maxv) * w).sum(), x)))
    x_ref = x.detach().clone().requires_grad_()
    ref = GeneralRelu(leak or None, sub or None, None if maxv == float("inf") else maxv)(x_ref)
    (expected,) = torch.autograd.grad((ref * w).sum(), x_ref)
    check_close(got, expected, what=f"CppReluBackward's gradient with {name}", dtype="match", atol=1e-12, rtol=1e-10)


def test_cpp_relu_backward_passes_gradcheck(ex: ModuleType, ops) -> None:  # noqa: ANN001
    x = torch.tensor([[-2.0, -0.7, 0.3], [1.1, 2.5, -0.2]], dtype=F64, requires_grad=True)
    ok = attempt_without(BACKWARD_RULES, _as_exercise(lambda: torch.autograd.gradcheck(
        lambda t: ex.CppReluBackward.apply(t, 0.1, 0.4, 1.5), (x,), raise_exception=False)))
    assert ok, ("CppReluBackward: torch.autograd.gradcheck found your gradient differs from finite "
                "differences on x = [[-2, -0.7, 0.3], [1.1, 2.5, -0.2]] with leak 0.1, sub 0.4, maxv 1.5")
