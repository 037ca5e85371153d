"""Lesson 8 exercises: matrix multiplication with broadcasting, with einsum, and the broadcasting rules.

Each function below is an exercise from the page "Matrix multiplication" (lessons/08_matmul).
In the stubs, each body raises ``NotImplementedError`` until you replace that line with your code;
then grade it:

    .venv/bin/pytest exercises -k matmul_broadcast     # or einsum_matmul, broadcast_shape
    .venv/bin/pytest exercises -m lesson08             # every Lesson 8 exercise

The rules of the game hold: Python, tensor creation and indexing, elementwise arithmetic, ``sum``,
and (for ``einsum_matmul`` only) ``torch.einsum``. Using ``@`` or ``torch.matmul`` defeats the purpose,
and the grader checks: a call to ``@``, ``torch.matmul`` or one of its kin (``mm``, ``bmm``, ``mv``,
``dot``, ``inner``, ``tensordot``, ``torch.linalg.matmul``), to ``torch.einsum`` outside
``einsum_matmul``, to ``torch.broadcast_shapes`` (or ``broadcast_tensors``, ``broadcast_to``) in
``broadcast_shape``, or to the library's own versions in ``foundations.matmul`` fails the exercise.
"""

from __future__ import annotations

import torch


def matmul_broadcast(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Matrix product with one Python loop over the rows of ``a`` and broadcasting inside it.

    Formula: ``c[i, j] = sum_k a[i, k] * b[k, j]``. Row ``i`` of ``c`` is row ``i`` of ``a`` made
    into a column of shape ``(k, 1)``, multiplied by ``b`` (broadcast to ``(k, m)``), summed over
    the ``k`` axis.

    Shapes: ``a`` is ``(n, k)``, ``b`` is ``(k, m)``; the result is ``(n, m)``, with the dtype of
    ``a``: the grader passes float64 and int64 inputs and expects float64 and int64 results (a result
    made with ``torch.zeros(n, m)`` is float32 whatever ``a`` is; pass ``dtype=a.dtype``).

    Example::

        >>> matmul_broadcast(torch.tensor([[1., 2.], [3., 4.]]), torch.tensor([[5.], [6.]]))
        tensor([[17.],
                [39.]])
    """
    # BEGIN SOLUTION
    n, m = a.shape[0], b.shape[1]
    c = torch.zeros(n, m, dtype=a.dtype)
    for i in range(n):
        c[i] = (a[i].unsqueeze(-1) * b).sum(dim=0)
    return c
    # END SOLUTION


def einsum_matmul(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Matrix product written as one ``torch.einsum`` call (Einstein summation).

    Formula: ``c[i, j] = sum_k a[i, k] * b[k, j]``. An index that appears in both inputs but not in
    the output (here ``k``) is summed over.

    Shapes: ``a`` is ``(n, k)``, ``b`` is ``(k, m)``; the result is ``(n, m)``. The grader passes
    float64 inputs and accepts a float32 result at float32 precision: this exercise is about the
    indices, not the dtype.

    Example::

        >>> einsum_matmul(torch.tensor([[1., 2., 3.]]), torch.tensor([[1.], [0.], [-1.]]))
        tensor([[-2.]])
    """
    # BEGIN SOLUTION
    return torch.einsum("ik,kj->ij", a, b)
    # END SOLUTION


def broadcast_shape(s1: tuple[int, ...], s2: tuple[int, ...]) -> tuple[int, ...]:
    """The shape two tensors of shapes ``s1`` and ``s2`` broadcast to, as a tuple of ints.

    The rules: line the shapes up from the right; a shape that runs out of dimensions counts as
    having size 1 there. In each position the two sizes must be equal (the result has that size) or
    one of them must be 1 (the result has the other size; note that 1 with 0 gives 0). Otherwise
    raise ``ValueError`` whose message names both shapes, as tuples (or lists). Work it out from the
    rules, not with ``torch.broadcast_shapes``, ``torch.broadcast_tensors`` or ``torch.broadcast_to``.

    Shapes: ``s1`` and ``s2`` are tuples of non-negative ints (possibly empty: a scalar); the result
    has ``max(len(s1), len(s2))`` entries.

    Example::

        >>> broadcast_shape((5, 3, 1), (4,))
        (5, 3, 4)
        >>> broadcast_shape((5, 3), (4,))
        Traceback (most recent call last):
        ...
        ValueError: cannot broadcast (5, 3) with (4,): sizes 3 and 4 differ and neither is 1
    """
    # BEGIN SOLUTION
    ndim = max(len(s1), len(s2))
    p1 = (1,) * (ndim - len(s1)) + tuple(s1)  # pad on the left with 1s: the shapes now line up
    p2 = (1,) * (ndim - len(s2)) + tuple(s2)
    out = []
    for d1, d2 in zip(p1, p2):
        if d1 == d2 or d2 == 1:
            out.append(d1)
        elif d1 == 1:
            out.append(d2)
        else:
            raise ValueError(
                f"cannot broadcast {tuple(s1)} with {tuple(s2)}: "
                f"sizes {d1} and {d2} differ and neither is 1"
            )
    return tuple(out)
    # END SOLUTION
