"""Spread and co-movement by hand: variance, standard deviation, covariance and correlation.

Derived in Lesson 10, "Python foundations" (lessons/10_python_foundations). Lesson 8 measured the
scale of activations with ``.mean()`` and ``.std()``; later lessons (BatchNorm, LayerNorm,
telemetry) normalise by them. Here they are written from their definitions and checked against
``torch.var``, ``torch.std``, ``torch.cov`` and ``torch.corrcoef``.

For samples :math:`x_1, \\dots, x_n` with mean :math:`\\bar x`,

- variance :math:`\\frac{1}{n - c} \\sum_i (x_i - \\bar x)^2`, with :math:`c = 1` ("unbiased",
  Bessel's correction, torch's default) or :math:`c = 0` (the population formula);
- standard deviation: its square root, in the units of :math:`x`;
- covariance of paired samples :math:`\\frac{1}{n - c} \\sum_i (x_i - \\bar x)(y_i - \\bar y)`;
- Pearson correlation: covariance divided by both standard deviations, a number in :math:`[-1, 1]`
  (:math:`c` cancels).

Every function subtracts the mean first. The shortcut :math:`E[X^2] - E[X]^2` is the same number in
exact arithmetic but loses digits in floating point when the mean is large next to the spread.

Functions of tensors: no ``Module`` base.
"""

from __future__ import annotations

from torch import Tensor

from foundations import checks
from foundations.checks import shape_str

__all__ = ["corr", "corr_matrix", "cov", "cov_matrix", "std", "var"]


def _check_n(fn: str, n: int, unbiased: bool, what: str) -> None:
    need = 2 if unbiased else 1
    if n < need:
        kind = "unbiased (divides by n - 1)" if unbiased else "biased (divides by n)"
        raise ValueError(f"{fn}: expected at least {need} samples for the {kind} estimate, got {n} {what}")


def _check_pair(fn: str, x: object, y: object) -> tuple[Tensor, Tensor]:
    x, y = checks.tensor(fn, "x", x, floating=True), checks.tensor(fn, "y", y, floating=True)
    if x.ndim != 1 or y.ndim != 1:
        raise ValueError(f"{fn}: expected 1-D tensors x and y, got shapes {shape_str(x)} and {shape_str(y)}")
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"{fn}: expected x and y of the same length (paired samples), got {x.shape[0]} and {y.shape[0]}")
    return x, y


def var(x: Tensor, dim: int | None = None, unbiased: bool = True) -> Tensor:
    """Variance: the mean squared distance from the mean, ``((x - x.mean())**2).sum() / (n - 1)``.

    Over all elements (``dim=None``, a 0-d result) or along ``dim``. ``unbiased=True`` divides by
    ``n - 1`` like ``torch.var``'s default; ``unbiased=False`` by ``n``. Needs a floating-point
    tensor and at least 2 samples (1 if biased). Derived in Lesson 10, "Python foundations"
    (lessons/10_python_foundations).

    >>> float(var(torch.tensor([1.0, 2.0, 4.0, 18.0]), unbiased=False))
    47.1875
    """
    x = checks.tensor("var", "x", x, floating=True)
    unbiased = checks.boolean("var", "unbiased", unbiased)
    if dim is None:
        x, dim = x.reshape(-1), 0
    else:
        what = f"None or an int in [{-x.ndim}, {max(x.ndim, 1)}) for x of shape {shape_str(x)}"
        if not checks.is_int(dim):
            raise TypeError(checks.message("var", "dim", what, dim))
        if not -x.ndim <= dim < max(x.ndim, 1):
            raise ValueError(checks.message("var", "dim", what, dim))
        dim = int(dim)
    n = x.shape[dim] if x.ndim else 1
    _check_n("var", n, unbiased, f"along dim {dim} of shape {shape_str(x)}")
    dev = x - x.mean(dim, keepdim=True)
    return (dev * dev).sum(dim) / (n - 1 if unbiased else n)


def std(x: Tensor, dim: int | None = None, unbiased: bool = True) -> Tensor:
    """Standard deviation: ``var(x, dim, unbiased).sqrt()``, in the same units as ``x``.

    Derived in Lesson 10, "Python foundations" (lessons/10_python_foundations).
    """
    return var(x, dim, unbiased).sqrt()


def cov(x: Tensor, y: Tensor, unbiased: bool = True) -> Tensor:
    """Covariance of paired samples: ``((x - x.mean()) * (y - y.mean())).sum() / (n - 1)``.

    ``x`` and ``y`` are 1-D of the same length ``n``; a 0-d result. Positive when ``x`` and ``y``
    tend to be above their means together; ``cov(x, x) == var(x)``. Derived in Lesson 10,
    "Python foundations" (lessons/10_python_foundations).
    """
    x, y = _check_pair("cov", x, y)
    unbiased = checks.boolean("cov", "unbiased", unbiased)
    n = x.shape[0]
    _check_n("cov", n, unbiased, "pairs")
    return ((x - x.mean()) * (y - y.mean())).sum() / (n - 1 if unbiased else n)


def corr(x: Tensor, y: Tensor) -> Tensor:
    """Pearson correlation: ``cov(x, y) / (std(x) * std(y))``, in ``[-1, 1]``.

    The ``n - 1`` or ``n`` cancels, so there is no ``unbiased`` switch. Undefined (an error) when
    ``x`` or ``y`` is constant. Derived in Lesson 10, "Python foundations"
    (lessons/10_python_foundations).
    """
    x, y = _check_pair("corr", x, y)
    _check_n("corr", x.shape[0], True, "pairs")
    dx, dy = x - x.mean(), y - y.mean()
    sx, sy = (dx * dx).sum().sqrt(), (dy * dy).sum().sqrt()
    for name, s in (("x", sx), ("y", sy)):
        if s == 0:
            raise ValueError(f"corr: expected {name} to vary, got a constant {name} (standard deviation 0)")
    return (dx * dy).sum() / (sx * sy)


def cov_matrix(X: Tensor, unbiased: bool = True) -> Tensor:  # noqa: N803 (a matrix)
    """Covariance matrix of ``X`` of shape ``(n_vars, n_obs)``: entry ``(i, j)`` is ``cov(X[i], X[j])``.

    Rows are variables and columns observations, as in ``torch.cov`` and ``numpy.cov`` (which
    squeeze a single row's result to 0-d; here it stays ``(1, 1)``). With the
    rows centred, ``D = X - X.mean(1, keepdim=True)``, it is ``D @ D.T / (n_obs - 1)``.
    Derived in Lesson 10, "Python foundations" (lessons/10_python_foundations).
    """
    X = checks.tensor("cov_matrix", "X", X, floating=True)
    unbiased = checks.boolean("cov_matrix", "unbiased", unbiased)
    if X.ndim != 2:
        raise ValueError(checks.message("cov_matrix", "X", "a matrix of shape (n_vars, n_obs)", X))
    n = X.shape[1]
    _check_n("cov_matrix", n, unbiased, "observations (columns)")
    D = X - X.mean(1, keepdim=True)
    return D @ D.T / (n - 1 if unbiased else n)


def corr_matrix(X: Tensor) -> Tensor:  # noqa: N803 (a matrix)
    """Correlation matrix of ``X`` of shape ``(n_vars, n_obs)``, like ``torch.corrcoef``.

    ``C[i, j] / sqrt(C[i, i] * C[j, j])`` for ``C = cov_matrix(X)``; ones on the diagonal.
    A constant row is an error. Derived in Lesson 10, "Python foundations"
    (lessons/10_python_foundations).
    """
    C = cov_matrix(X)
    d = C.diagonal()
    if (d == 0).any():
        i = int((d == 0).nonzero()[0])
        raise ValueError(f"corr_matrix: expected every row of X to vary, got a constant row {i}")
    s = d.sqrt()
    return (C / s[:, None] / s[None, :]).clamp(-1.0, 1.0)
