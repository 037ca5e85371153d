"""Comparing tensors with messages a learner can act on, and grading exercises that are still stubs.

Lesson 8, "Matrix multiplication" (lessons/08_matmul), needs a check that two results agree up to
floating-point noise (fast.ai's ``test_near``; the page's ``agree`` helper). :func:`check_close` is
that check grown up. It is used by the library's tests, by the lesson pages, and by the exercise
graders, so a mismatch always reads the same way: which input, what was expected, what came, and the
largest difference; :func:`describe` words the values in its messages.

The exercise graders of every lesson, from Lesson 8's on, call a learner's function through
:func:`attempt`, so a stub that still raises ``NotImplementedError(STUB_MESSAGE)`` reads as
:class:`NotAttempted` (or :class:`StubCalled`, when it waits on another stub: :func:`stub_verdict`
tells them apart) instead of as a crash.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import torch

__all__ = [
    "STUB_MESSAGE",
    "NotAttempted",
    "StubCalled",
    "attempt",
    "check_close",
    "describe",
    "stub_verdict",
]

STUB_MESSAGE = "your code here"
"""What an exercise stub raises ``NotImplementedError`` with (``tools/make_stubs.py`` writes it).
Derived in Lesson 8, "Matrix multiplication" (lessons/08_matmul), whose exercises are the first
stubs; every later lesson's are written the same way."""


class NotAttempted(AssertionError):
    """The exercise's own stub still raises ``NotImplementedError``: the learner has not started it.

    Derived in Lesson 8, "Matrix multiplication" (lessons/08_matmul), whose exercises are the
    first graded this way; every later lesson's exercise graders use it too.
    """


class StubCalled(AssertionError):
    """An exercise was attempted, but it calls another exercise that is still a stub.

    ``cross_entropy`` written over an unfinished ``log_softmax`` is work in progress, not "not
    attempted": the message names the stub that raised, so the learner knows what to finish first.

    Derived in Lesson 8, "Matrix multiplication" (lessons/08_matmul), whose exercises are the
    first graded this way; every later lesson's exercise graders use it too.
    """


def describe(x: Any) -> str:
    """A short description of ``x`` for error messages.

    ``tensor of shape (5, 10), float32``; ``float 0.5``; ``None``; for a tuple or list, its length
    and its first items: ``tuple of 2: (tensor of shape (3,), float64, int 4)``.

    Derived in Lesson 8, "Matrix multiplication" (lessons/08_matmul), where :func:`check_close`'s
    messages, which use it, first appear.
    """
    if isinstance(x, torch.Tensor):
        return f"tensor of shape {tuple(x.shape)}, {str(x.dtype).removeprefix('torch.')}"
    if x is None:
        return "None"
    if isinstance(x, (tuple, list)):
        items = ", ".join(describe(v) for v in x[:3]) + (", ..." if len(x) > 3 else "")
        return f"{type(x).__name__} of {len(x)}: {'(' if isinstance(x, tuple) else '['}{items}{')' if isinstance(x, tuple) else ']'}"[:200]
    return f"{type(x).__name__} {x!r}"[:200]


def _raising_frame(exc: BaseException) -> tuple[str, str, int] | None:
    """(qualified name, short file name, line) of the function that raised ``exc``."""
    tb = exc.__traceback__
    if tb is None:
        return None
    while tb.tb_next is not None:
        tb = tb.tb_next
    code = tb.tb_frame.f_code
    path = Path(code.co_filename)
    return code.co_qualname, f"{path.parent.name}/{path.name}", tb.tb_lineno


def stub_verdict(exc: NotImplementedError, exercise: str) -> AssertionError | None:
    """What a ``NotImplementedError`` met while grading ``exercise`` means, as the error to report.

    - :class:`NotAttempted` when it comes from ``exercise``'s own stub (or a method of it, for a
      class): the learner has not started;
    - :class:`StubCalled` when it comes from the stub of another function: the exercise is
      attempted and waits on that one, which the message names with its file and line;
    - ``None`` when it does not come from a stub at all (a ``NotImplementedError`` the learner's code
      raised or met some other way): the caller reports it as an ordinary failure.

    Derived in Lesson 8, "Matrix multiplication" (lessons/08_matmul), whose exercises are the
    first graded this way; every later lesson's exercise graders use it too.
    """
    where = _raising_frame(exc)
    if str(exc) != STUB_MESSAGE or where is None:
        return None
    stub, file, line = where
    if stub == exercise or stub.startswith(exercise + "."):
        return NotAttempted(
            f"Not attempted yet: `{exercise}` still raises NotImplementedError. "
            "Replace the `raise` in its body with your code."
        )
    return StubCalled(
        f"`{exercise}` is attempted but calls `{stub}`, which is still a stub ({file}:{line}): "
        f"finish `{stub}` first"
    )


def attempt(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call a learner's ``fn``, turning a stub's ``NotImplementedError`` into a grader's verdict.

    Graders call exercise functions through this, so an exercise that has not been started reads as
    "not attempted yet" (:class:`NotAttempted`) instead of as a crash, and one that waits on another
    unfinished exercise says which (:class:`StubCalled`).

    Derived in Lesson 8, "Matrix multiplication" (lessons/08_matmul), whose exercises are the
    first graded this way; every later lesson's exercise graders use it too.
    """
    __tracebackhide__ = True
    try:
        return fn(*args, **kwargs)
    except NotImplementedError as exc:
        name = getattr(fn, "__qualname__", None) or repr(fn)
        verdict = stub_verdict(exc, name)
        if verdict is None:
            raise
        raise verdict from None


def check_close(
    got: Any,
    expected: torch.Tensor | float,
    *,
    what: str = "result",
    atol: float = 1e-5,
    rtol: float = 1e-5,
    dtype: str = "value",
    at: Callable[[tuple[int, ...]], str] | None = None,
) -> None:
    """Assert that ``got`` equals ``expected`` within ``atol + rtol * |expected|``, elementwise.

    Every :class:`AssertionError` starts with ``what`` was computed (e.g. ``"matmul on a 5x784 @
    784x10 batch"``) and reports the first of these checks that fails:

    1. ``got`` is a tensor (a Python int or float is accepted where ``expected`` is a single value);
    2. its dtype, by the policy ``dtype`` names:

       - ``"value"`` (the default, for the library's tests and the pages): the values are compared
         at the given tolerances whatever the dtypes (a float32 result against a float64 oracle is
         the usual case); when they differ and so do the dtypes, the message says so first;
       - ``"match"``: a tensor ``got`` must have ``expected``'s dtype, and the message says so
         first (``"...: expected a float64 tensor, got float32"``): numbers of another precision
         can differ in digits that no short printout shows. Graders use it where the docstring
         promises the dtype;
       - ``"any"``: compared by value, and when either side is a floating type less precise than
         float64 the tolerances widen to that type's precision: ``rtol`` becomes at least
         ``64 * eps`` and ``atol`` at least ``64 * eps * max|expected|`` (float32's ``eps`` is
         1.19e-7: about 7.6e-6 of the largest expected value). Graders use it where an exercise is
         about the maths, not the dtype.

       A Python number, or a Python ``expected``, has no dtype to check;
    3. the shape;
    4. NaN where a number is expected, or a number where NaN is;
    5. the values: how many differ, and the largest difference, where it is (``at(index)`` when
       given, e.g. ``at=lambda i: f"pos={positions[i[0]]}"``, else ``index (3,)``), the expected and
       the actual value with as many significant digits as it takes to tell them apart (at least 6),
       and the tolerance.

    Derived in Lesson 8, "Matrix multiplication" (lessons/08_matmul), where each faster matmul is
    checked against the loops with it (fast.ai's ``test_near``, grown up).
    """
    __tracebackhide__ = True
    if dtype not in ("value", "match", "any"):
        raise ValueError(f'check_close: expected dtype="value", "match" or "any", got {dtype!r}')
    typed = isinstance(expected, torch.Tensor)  # a Python expected has no dtype to match
    if typed:
        exp = expected
    else:
        exp = torch.as_tensor(expected, dtype=torch.float64 if isinstance(expected, float) else None)
    if not isinstance(got, torch.Tensor):
        if isinstance(got, (int, float)) and exp.ndim == 0:
            got = torch.tensor(float(got), dtype=exp.dtype if exp.is_floating_point() else torch.float64)
            typed = False  # a Python number: compared by value
        else:
            hint = " (did the function return its result?)" if got is None else ""
            raise AssertionError(f"{what}: expected a {describe(exp)}, got {describe(got)}{hint}")
    if typed and dtype == "match" and got.dtype != exp.dtype:
        raise AssertionError(_dtype_message(what, got.dtype, exp.dtype))
    if got.shape != exp.shape:
        raise AssertionError(f"{what}: expected shape {tuple(exp.shape)}, got shape {tuple(got.shape)}")
    g = got.detach().to(torch.float64)
    e = exp.detach().to(torch.float64)
    widened = ""
    low = _least_precise(got.dtype, exp.dtype)
    if dtype == "any" and low is not None:
        eps = torch.finfo(low).eps
        finite = e[torch.isfinite(e)].abs()
        scale = float(finite.max()) if finite.numel() else 0.0
        if 64 * eps > rtol or 64 * eps * scale > atol:
            widened = f", widened for {_dtype_name(low)}"
        rtol, atol = max(rtol, 64 * eps), max(atol, 64 * eps * scale)

    def where(idx: tuple[int, ...]) -> str:
        return at(idx) if at is not None else f"index {idx}"

    nan_g, nan_e = torch.isnan(g), torch.isnan(e)
    if (nan_g != nan_e).any():
        idx = tuple(int(i) for i in (nan_g != nan_e).nonzero()[0])
        if nan_g[idx]:
            raise AssertionError(f"{what}: got NaN at {where(idx)} where {e[idx].item():.6g} was expected")
        raise AssertionError(f"{what}: got {g[idx].item():.6g} at {where(idx)} where NaN was expected")
    diff = (g - e).abs().nan_to_num(0.0)  # NaN where both are NaN (or inf - inf of the same sign): equal
    tol = atol + rtol * e.abs().nan_to_num(0.0)
    if not (diff > tol).any():
        return
    flat = int((diff - tol).argmax())
    idx = tuple(int(i) for i in torch.unravel_index(torch.tensor(flat), diff.shape)) if diff.ndim else ()
    want, came = _apart(e[idx].item(), g[idx].item())
    tolerance = f"tolerance {atol:.3g} + {rtol:.3g}*|expected|{widened}"
    if dtype == "value" and typed and got.dtype != exp.dtype:  # the dtypes differ: say so before the numbers
        what = f"{what} (got {_dtype_name(got.dtype)} where {_dtype_name(exp.dtype)} was expected)"
    if diff.ndim == 0:
        raise AssertionError(
            f"{what}: expected {want}, got {came} (difference {diff.item():.3g}; {tolerance})"
        )
    n_bad = int((diff > tol).sum())
    raise AssertionError(
        f"{what}: {n_bad} of {diff.numel()} values differ. "
        f"Largest difference {diff[idx].item():.3g} at {where(idx)}: expected {want}, got {came} ({tolerance})"
    )


# ---- check_close's helpers ---------------------------------------------------------------------


def _dtype_name(dt: torch.dtype) -> str:
    return str(dt).removeprefix("torch.")


def _least_precise(a: torch.dtype, b: torch.dtype) -> torch.dtype | None:
    """The less precise of two dtypes if it is a floating type coarser than float64, else None."""
    floats = [d for d in (a, b) if d.is_floating_point]
    if not floats:
        return None
    low = max(floats, key=lambda d: torch.finfo(d).eps)
    return low if torch.finfo(low).eps > torch.finfo(torch.float64).eps else None


def _dtype_message(what: str, got: torch.dtype, exp: torch.dtype) -> str:
    """``"<what>: expected a float64 tensor, got float32. <how that happens>"``."""
    g, e = _dtype_name(got), _dtype_name(exp)
    first = f"{what}: expected {'an' if e.startswith('int') else 'a'} {e} tensor, got {g}"
    if got == torch.bool:
        hint = f"a comparison gives a bool tensor: convert it (.to(torch.{e})) or multiply it by a {e} tensor"
    elif exp.is_floating_point and got.is_floating_point and torch.finfo(got).eps > torch.finfo(exp).eps:
        hint = (
            f"a {g} result usually comes from a new tensor made without dtype= (torch.zeros(n) and "
            f"torch.tensor([1.0]) are float32) or from .float(): make new tensors with dtype=x.dtype, "
            f"x an input"
        )
    elif exp.is_floating_point and got.is_floating_point:
        hint = f"a {g} result usually comes from .double() or dtype=torch.{g}: make new tensors with dtype=x.dtype, x an input"
    elif exp.is_floating_point:
        hint = f"an integer result: make new tensors with dtype=x.dtype, x an input, not from Python ints"
    elif got.is_floating_point:
        hint = (
            "integer inputs give an integer result: make new tensors with dtype=x.dtype (torch.zeros(n) "
            "is float32), and note that / always gives floats (// does not)"
        )
    else:
        hint = "make new tensors with dtype=x.dtype, x an input"
    return f"{first}. {hint[0].upper()}{hint[1:]}."


def _apart(want: float, came: float) -> tuple[str, str]:
    """``want`` and ``came`` with the fewest significant digits (6 to 17) that tell them apart."""
    for digits in range(6, 18):
        a, b = f"{want:.{digits}g}", f"{came:.{digits}g}"
        if a != b:
            return a, b
    return repr(want), repr(came)
