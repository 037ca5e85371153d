"""Lesson 9 exercises: the numbers behind initialisation, from PyTorch's defaults to orthogonal matrices.

Generated from solutions/lesson09_init.py by tools/make_stubs.py: edit the solution, not this file.

The first four are exercises of the page "Why sqrt(5)?" (lessons/09_why_sqrt5), the last two of
"Initialising deep networks" (lessons/09_initializing). Replace the ``raise NotImplementedError``
line in a function's body with your code, then grade it:

    .venv/bin/pytest exercises -k uniform_std       # or test_gain, kaiming_uniform_bound,
                                                    # fan_in_fan_out, orthogonal, spectral_norm
    .venv/bin/pytest exercises -m lesson09          # every Lesson 9 exercise

The rules of the game hold: Python's ``math``, tensor creation, indexing and arithmetic, ``@``,
and (for ``orthogonal`` only) ``torch.linalg.qr``. Calling ``torch.nn.init`` defeats the purpose:
it is what the grader checks you against. The grader checks: a call to ``torch.nn.init``, to the
library's own versions in ``foundations.init``, or (in ``spectral_norm``) to a singular value or
eigenvalue routine fails the exercise. Functions documented to return a float must return a Python
float (``.item()`` turns a one-element tensor into one).
"""

from __future__ import annotations

import math

import torch


def uniform_std(a: float, b: float) -> float:
    """The standard deviation of the uniform distribution ``U(a, b)``.

    Formula: the variance of ``U(a, b)`` is ``(b - a)^2 / 12`` (integrate ``(x - (a+b)/2)^2`` over
    ``[a, b]`` against the density ``1/(b - a)``), so the standard deviation is ``(b - a)/sqrt(12)``.
    In particular ``U(-c, c)`` has standard deviation ``c/sqrt(3)``.

    Shapes: ``a`` and ``b`` are floats with ``a < b``; the result is a float. Raise ``ValueError``
    with a message naming both values if ``b <= a``.

    Example::

        >>> round(uniform_std(-1.0, 1.0), 4)    # 1/sqrt(3)
        0.5774
    """
    raise NotImplementedError("your code here")


def gain(a: float) -> float:
    """The factor ``sqrt(2/(1 + a^2))`` that a leaky ReLU with negative slope ``a`` asks of the weights.

    Formula: for a symmetric input ``y``, a leaky ReLU keeps the positive half and multiplies the
    negative half by ``a``, so ``E[f(y)^2] = (1 + a^2)/2 * E[y^2]``. Weights with standard deviation
    ``gain(a)/sqrt(fan_in)`` make up for it: ``gain(a) = sqrt(2/(1 + a^2))``.

    Shapes: ``a`` is a float (any sign); the result is a positive float.

    Example::

        >>> round(gain(0.0), 4)          # a plain ReLU: sqrt(2)
        1.4142
        >>> round(gain(5 ** 0.5), 4)     # the slope hidden in PyTorch's default init
        0.5774
    """
    raise NotImplementedError("your code here")


def kaiming_uniform_bound(fan_in: int, a: float = 0.0) -> float:
    """The bound ``b`` of He et al.'s initialisation in its uniform form ``U(-b, b)``.

    Formula: the target standard deviation is ``std = gain(a)/sqrt(fan_in)`` with
    ``gain(a) = sqrt(2/(1 + a^2))``, and ``U(-b, b)`` has standard deviation ``b/sqrt(3)``, so
    ``b = sqrt(3) * std = gain(a) * sqrt(3/fan_in)``.

    Shapes: ``fan_in`` is a positive int, ``a`` a float; the result is a positive float. Raise
    ``ValueError`` with a message naming ``fan_in`` and its value if ``fan_in`` is not positive.

    Example::

        >>> round(kaiming_uniform_bound(25, 5 ** 0.5), 4)   # PyTorch's default for Conv2d(1, 32, 5)
        0.2
    """
    raise NotImplementedError("your code here")


def fan_in_fan_out(shape: tuple[int, ...]) -> tuple[int, int]:
    """``(fan_in, fan_out)`` of a weight of ``shape`` in PyTorch's layout ``(out, in, *kernel_size)``.

    Formula: ``nn.Linear`` stores its weight as ``(out_features, in_features)`` and ``nn.Conv2d`` as
    ``(out_channels, in_channels, kh, kw)``. One output sums over ``in`` times the receptive field
    ``prod(kernel_size)`` inputs (1 for a linear layer), and one input feeds ``out`` times the
    receptive field outputs: ``fan_in = in * prod(kernel_size)``, ``fan_out = out * prod(kernel_size)``.

    Shapes: ``shape`` is a tuple of at least two positive ints; the result is a tuple of two Python
    ints. Raise ``ValueError`` with a message naming the shape (as a tuple) if it has fewer than two
    dimensions.

    Example::

        >>> fan_in_fan_out((32, 1, 5, 5))     # Conv2d(1, 32, 5)
        (25, 800)
        >>> fan_in_fan_out((10, 50))          # Linear(50, 10)
        (50, 10)
    """
    raise NotImplementedError("your code here")


def orthogonal(
    n_rows: int, n_cols: int | None = None, gain: float = 1.0, generator: torch.Generator | None = None
) -> torch.Tensor:
    """A random ``(n_rows, n_cols)`` matrix with orthonormal rows or columns, drawn uniformly, times ``gain``.

    The signature of the library's ``foundations.init.orthogonal``, with ``n_cols`` defaulting to
    ``n_rows``: ``orthogonal(n)`` is a square orthogonal matrix ``Q`` (``Q @ Q.T`` is the identity).

    Recipe: draw ``A = torch.randn(n_rows, n_cols, generator=generator)``; factor ``A = Q R`` with
    ``torch.linalg.qr`` (for a wide ``A``, ``n_rows < n_cols``, factor ``A.T`` instead and transpose
    the ``Q`` you get back); multiply column ``j`` of ``Q`` by the sign of ``R[j, j]``; multiply by
    ``gain``. Without that sign fix ``Q`` is orthogonal but not uniformly distributed over the
    orthogonal matrices: the QR routine's sign convention biases ``Q``'s diagonal (with LAPACK's
    Householder QR, ``Q[0, 0]`` is never positive), while ``R``'s diagonal signs are evenly split.
    Flipping column ``j`` by the sign of ``R[j, j]`` undoes the routine's choice; you then get
    exactly the matrix that ``torch.nn.init.orthogonal_(w, gain)`` writes into an ``(n_rows,
    n_cols)`` tensor ``w`` from the same generator state.

    Shapes: ``n_rows`` and ``n_cols`` are positive ints (``n_cols=None`` means ``n_rows``), ``gain``
    a float; the result is an ``(n_rows, n_cols)`` float32 tensor (float32 because that is what
    ``torch.randn`` draws, and a float64 draw gives other numbers), whose rows are orthonormal
    times ``gain`` when ``n_rows <= n_cols`` (``Q @ Q.T = gain^2 I``) and whose columns are
    otherwise (``Q.T @ Q = gain^2 I``).

    Example::

        >>> q = orthogonal(4, generator=torch.Generator().manual_seed(0))
        >>> torch.allclose(q @ q.T, torch.eye(4), atol=1e-6)
        True
        >>> tuple(orthogonal(3, 5, generator=torch.Generator().manual_seed(0)).shape)
        (3, 5)
    """
    raise NotImplementedError("your code here")


def spectral_norm(w: torch.Tensor, n_iter: int = 100) -> float:
    """The largest singular value of ``w`` (its spectral norm), by power iteration.

    Formula: ``sigma_max(W) = max_{|v| = 1} |W v|``, the most any unit vector can grow when multiplied
    by ``W``. Start from ``v = torch.ones(w.shape[1])`` normalised to length 1 and repeat ``n_iter``
    times: ``v <- W^T W v`` and normalise ``v`` to length 1. ``v`` turns towards the top right singular
    vector (the one of largest singular value grows fastest); return ``|W v|``.

    Shapes: ``w`` is ``(m, n)``; the result is a Python float. ``n_iter`` is a positive int. No
    singular value or eigenvalue routine (``torch.linalg.svd``, ``svdvals``, ``eig*``,
    ``matrix_norm`` or ``torch.linalg.norm`` with ``ord=2``): the power iteration is the exercise.

    Example::

        >>> round(spectral_norm(torch.tensor([[3.0, 0.0], [0.0, -1.0]])), 4)
        3.0
    """
    raise NotImplementedError("your code here")
