"""Matrix multiplication from indexing and broadcasting, and the shape rules that make it work.

Lesson 8 builds a matrix multiply in four steps: three Python loops (:func:`matmul_loops`), then an
elementwise inner product (:func:`matmul_elementwise`), then broadcasting over a whole row
(:func:`matmul`, the version the lesson keeps), then ``einsum`` (:func:`matmul_einsum`). All four
are here so that the benchmarks (``make bench``) time the same code the lesson shows, with the
broadcasting rules themselves (:func:`broadcast_shape`) and the Frobenius norm the lesson uses to
talk about the size of a matrix.

Functions of tensors: no ``Module`` base.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from foundations import checks
from foundations.checks import shape_str

__all__ = ["broadcast_shape", "frobenius_norm", "matmul", "matmul_einsum", "matmul_elementwise", "matmul_loops"]


def matmul(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Multiply an ``(n, k)`` matrix by a ``(k, m)`` one: ``c[i, j] = sum_p a[i, p] * b[p, j]``.

    One Python loop over the ``n`` rows of ``a``; inside it, row ``i`` becomes a ``(k, 1)``
    column that broadcasts against ``b`` ``(k, m)``, and summing over the ``k`` axis gives
    row ``i`` of the result.

    Derived in Lesson 8, "Matrix multiplication" (lessons/08_matmul).

    >>> matmul(torch.tensor([[1., 2.]]), torch.tensor([[3.], [4.]]))
    tensor([[11.]])
    """
    _check_operands("matmul", a, b)
    n, m = a.shape[0], b.shape[1]
    c = torch.zeros(n, m, dtype=a.dtype, device=a.device)
    for i in range(n):
        # (k, 1) * (k, m) -> (k, m): row i of a, stretched across the m columns of b
        c[i] = (a[i, :, None] * b).sum(dim=0)
    return c


def _check_operands(fn: str, a: torch.Tensor, b: torch.Tensor) -> None:
    """The argument checks every version of the lesson's matrix multiply shares."""
    if not isinstance(a, torch.Tensor) or not isinstance(b, torch.Tensor):
        raise TypeError(
            f"{fn}: expected a and b to be torch.Tensor, "
            f"got {type(a).__name__} and {type(b).__name__}"
        )
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[0]:
        raise ValueError(
            f"{fn}: expected a of shape (n, k) and b of shape (k, m), "
            f"got {shape_str(a)} and {shape_str(b)}"
        )
    if a.dtype != b.dtype:
        raise TypeError(f"{fn}: expected a and b of the same dtype, got {a.dtype} and {b.dtype}")
    if a.dtype == torch.bool:
        raise TypeError(f"{fn}: expected numeric tensors, got torch.bool")


def matmul_loops(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """The first rung of the ladder: ``c[i, j] += a[i, p] * b[p, j]`` in three Python loops.

    Every multiply-add is a Python step on one-element tensors, which is why it is the slowest
    version by four to five orders of magnitude. Derived in Lesson 8, "Matrix multiplication"
    (lessons/08_matmul).
    """
    _check_operands("matmul_loops", a, b)
    (n, k), m = a.shape, b.shape[1]
    c = torch.zeros(n, m, dtype=a.dtype, device=a.device)
    for i in range(n):
        for j in range(m):
            for p in range(k):
                c[i, j] += a[i, p] * b[p, j]
    return c


def matmul_elementwise(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """The second rung: ``c[i, j] = (a[i, :] * b[:, j]).sum()``, the inner loop done by PyTorch.

    Derived in Lesson 8, "Matrix multiplication" (lessons/08_matmul).
    """
    _check_operands("matmul_elementwise", a, b)
    n, m = a.shape[0], b.shape[1]
    c = torch.zeros(n, m, dtype=a.dtype, device=a.device)
    for i in range(n):
        for j in range(m):
            c[i, j] = (a[i, :] * b[:, j]).sum()
    return c


def matmul_einsum(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """The fourth rung: ``torch.einsum("ik,kj->ij", a, b)``, no Python loop left.

    Derived in Lesson 8, "Matrix multiplication" (lessons/08_matmul).
    """
    _check_operands("matmul_einsum", a, b)
    return torch.einsum("ik,kj->ij", a, b)


def broadcast_shape(*shapes: Sequence[int]) -> tuple[int, ...]:
    """The shape that tensors of the given ``shapes`` broadcast to, by the broadcasting rules.

    Line the shapes up from the right (a missing leading dimension counts as 1). In every position
    the sizes must be equal, or 1: a size-1 dimension is stretched to match the others.
    ``broadcast_shape((5, 3, 1), (4,))`` is ``(5, 3, 4)``; ``(5, 3)`` with ``(4,)`` is an error.

    Derived in Lesson 8, "Matrix multiplication" (lessons/08_matmul).
    """
    for s in shapes:
        if isinstance(s, (str, bytes)) or not isinstance(s, Sequence):
            raise TypeError(
                "broadcast_shape: expected each shape to be a tuple of ints, "
                f"got {type(s).__name__} {s!r}"
            )
        if not all(checks.is_int(d) for d in s):
            raise TypeError(
                f"broadcast_shape: expected each shape to be a tuple of ints, got {tuple(s)!r}"
            )
        if any(d < 0 for d in s):
            raise ValueError(f"broadcast_shape: expected sizes >= 0, got shape {tuple(s)}")
    ndim = max((len(s) for s in shapes), default=0)
    out: list[int] = []
    for axis in range(-1, -ndim - 1, -1):  # from the rightmost dimension leftwards
        size, owner = 1, None
        for s in shapes:
            d = s[axis] if len(s) >= -axis else 1  # a missing dimension counts as 1
            if d == 1:
                continue
            if owner is None:
                size, owner = d, s
            elif d != size:
                raise ValueError(
                    f"broadcast_shape: cannot broadcast {tuple(owner)} with {tuple(s)}: "
                    f"dimension {axis} has size {size} in {tuple(owner)} and {d} in "
                    f"{tuple(s)} (expected equal sizes, or a 1)"
                )
        out.append(size)
    return tuple(reversed(out))


def frobenius_norm(m: torch.Tensor) -> torch.Tensor:
    """The Frobenius norm of a matrix, ``sqrt(sum_ij m[i, j]**2)``, as a 0-d tensor.

    Derived in Lesson 8, "Matrix multiplication" (lessons/08_matmul).

    >>> frobenius_norm(torch.tensor([[3., 0.], [0., 4.]]))
    tensor(5.)
    """
    m = checks.tensor("frobenius_norm", "m", m, ndim=2, floating=True)
    return (m * m).sum().sqrt()
