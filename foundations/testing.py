"""Comparing tensors with messages a learner can act on.

Lesson 8 starts by writing ``test_near``: a check that two results agree up to floating-point noise.
This is that helper grown up. It is used by the library's tests, by the lesson pages, and by the
exercise graders, so a mismatch always reads the same way: which input, what was expected, what came,
and the largest difference.
"""

from __future__ import annotations

from typing import Any, Callable

import torch

__all__ = ["NotAttempted", "attempt", "check_close", "describe"]


class NotAttempted(AssertionError):
    """Raised by :func:`attempt` when an exercise stub still raises ``NotImplementedError``."""


def describe(x: Any) -> str:
    """A short description of ``x`` for error messages: ``tensor of shape (5, 10), float32``."""
    if isinstance(x, torch.Tensor):
        return f"tensor of shape {tuple(x.shape)}, {str(x.dtype).removeprefix('torch.')}"
    return f"{type(x).__name__} {x!r}"[:200]


def attempt(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call a learner's ``fn``; turn an untouched stub's ``NotImplementedError`` into :class:`NotAttempted`.

    Graders call exercise functions through this, so an exercise that has not been started reads as
    "not attempted yet" instead of as a crash.
    """
    __tracebackhide__ = True
    try:
        return fn(*args, **kwargs)
    except NotImplementedError:
        name = getattr(fn, "__qualname__", repr(fn))
        raise NotAttempted(
            f"Not attempted yet: `{name}` still raises NotImplementedError. "
            "Replace the `raise` in its body with your code."
        ) from None


def check_close(
    got: Any,
    expected: torch.Tensor | float,
    *,
    what: str = "result",
    atol: float = 1e-5,
    rtol: float = 1e-5,
) -> None:
    """Assert that ``got`` equals ``expected`` within ``atol + rtol * |expected|``, elementwise.

    The :class:`AssertionError` names ``what`` was computed (e.g. ``"matmul on a 5x784 @ 784x10
    batch"``), the expected and actual shapes or types, and where the largest difference is.
    """
    __tracebackhide__ = True
    exp = torch.as_tensor(expected)
    if not isinstance(got, torch.Tensor):
        if isinstance(got, (int, float)) and exp.ndim == 0:
            got = torch.tensor(float(got), dtype=exp.dtype if exp.is_floating_point() else torch.float64)
        else:
            raise AssertionError(f"{what}: expected a {describe(exp)}, got {describe(got)}")
    if got.shape != exp.shape:
        raise AssertionError(
            f"{what}: expected shape {tuple(exp.shape)}, got shape {tuple(got.shape)}"
        )
    if got.is_floating_point() != exp.is_floating_point() and not exp.is_floating_point():
        raise AssertionError(f"{what}: expected dtype {exp.dtype}, got dtype {got.dtype}")
    g = got.detach().to(torch.float64)
    e = exp.detach().to(torch.float64)
    bad_nan = torch.isnan(g) & ~torch.isnan(e)
    if bad_nan.any():
        idx = tuple(int(i) for i in bad_nan.nonzero()[0])
        raise AssertionError(f"{what}: got NaN at index {idx} where {e[idx].item():.6g} was expected")
    diff = (g - e).abs().nan_to_num(0.0)
    tol = atol + rtol * e.abs().nan_to_num(0.0)
    if (diff > tol).any():
        flat = int((diff - tol).argmax())
        idx = tuple(int(i) for i in torch.unravel_index(torch.tensor(flat), diff.shape)) if diff.ndim else ()
        n_bad = int((diff > tol).sum())
        raise AssertionError(
            f"{what}: {n_bad} of {diff.numel()} values differ. "
            f"Largest difference {diff[idx].item():.3g} at index {idx}: "
            f"expected {e[idx].item():.6g}, got {g[idx].item():.6g} "
            f"(tolerance {atol:g} + {rtol:g}*|expected|)"
        )
