"""Lesson 13 exercises: a loop for Numba to compile, and a function rewritten to compile whole.

Page: lessons/13_compiling. Replace each ``raise NotImplementedError`` line with your code, then grade it:

    .venv/bin/pytest exercises -k numba_dot_rows
    .venv/bin/pytest exercises -k branch_free

The graders compile ``numba_dot_rows`` with ``numba.njit`` themselves and compare it with
``(a * b).sum(1)``; ``branch_free`` is compared with the page's ``data_branch`` and must compile into
one graph (``torch._dynamo.explain``). Write ``numba_dot_rows`` as plain loops over NumPy arrays
(no NumPy or torch calls inside: Numba compiles loops); in ``branch_free`` use tensor operations.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor


def numba_dot_rows(a: Any, b: Any, out: Any) -> None:
    """Write ``out[i] = sum_j a[i, j] * b[i, j]`` for every row ``i``: the dot product of matching rows.

    ``a`` and ``b`` are NumPy arrays of shape ``(n, d)`` (float32 or float64), ``out`` one of shape
    ``(n,)``; return nothing. Two loops, as in Lesson 8: over ``i`` in ``range(a.shape[0])``, then a
    running sum over ``j``. The grader compiles this function with ``numba.njit`` (so only what Numba
    compiles may be used: loops, arithmetic, indexing, ``range``, ``.shape``).

    >>> import numpy as np
    >>> out = np.zeros(2); numba_dot_rows(np.ones((2, 3)), np.full((2, 3), 2.0), out); out
    array([6., 6.])
    """
    # BEGIN SOLUTION
    n, d = a.shape
    for i in range(n):
        s = 0.0
        for j in range(d):
            s += a[i, j] * b[i, j]
        out[i] = s
    # END SOLUTION


def branch_free(x: Tensor) -> Tensor:
    """``y + 1`` if ``y.sum() > 0`` else ``y - 1``, where ``y = 2 * x``, without a Python ``if`` on a tensor.

    The page's ``data_branch`` computes this with ``if y.sum() > 0:``, which breaks
    ``torch.compile``'s graph (Python must see the value to choose a branch). Compute both results
    and let ``torch.where`` pick one with the 0-d condition ``y.sum() > 0``: the result has ``x``'s
    shape and dtype, and the function compiles into one graph.

    >>> branch_free(torch.tensor([1.0, -0.5]))
    tensor([3., 0.])
    """
    # BEGIN SOLUTION
    y = x * 2
    return torch.where(y.sum() > 0, y + 1, y - 1)
    # END SOLUTION
