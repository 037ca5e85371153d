"""Grader for exercises/lesson09_init.py: each function against PyTorch's own numbers, on several inputs.

Run ``.venv/bin/pytest exercises -m lesson09`` (or ``-k <exercise>``); ``--impl=solutions`` grades the
reference solutions instead of yours. During your call ``torch.nn.init``, ``foundations.init`` and (for
``spectral_norm``) the singular value routines are swapped out (``exercises/_rules.py``).
"""

from __future__ import annotations

import math

import pytest
import torch

from exercises._rules import Forbidden, attempt_without, matrix_svd_norm
from foundations.testing import check_close

pytestmark = pytest.mark.lesson09

RULES = Forbidden(("torch.nn.init.*", "foundations.init.*"),
                  "this exercise asks you to work out yourself (it is what the grader checks you against)")
NO_SVD = RULES + Forbidden(
    ("torch.linalg.svd", "torch.linalg.svdvals", "torch.linalg.eig", "torch.linalg.eigvals", "torch.linalg.eigh",
     "torch.linalg.eigvalsh", "torch.linalg.matrix_norm", "torch.linalg.norm", "torch.linalg.cond", "torch.svd",
     "torch.svd_lowrank", "torch.lobpcg", "torch.Tensor.svd"),
    "this exercise asks you to replace with a power iteration",
    when={"torch.linalg.matrix_norm": matrix_svd_norm, "torch.linalg.norm": matrix_svd_norm},
)


def attempt(fn, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN201
    return attempt_without(RULES, fn, *args, **kwargs)


def a_float(got: object, what: str) -> float:
    """``got`` if it is a Python float (or int), else fail saying what came."""
    if isinstance(got, bool) or not isinstance(got, (int, float)):
        hint = " (.item() turns a one-element tensor into a float)" if isinstance(got, torch.Tensor) else ""
        raise AssertionError(f"{what}: expected a Python float, got {type(got).__name__} {got!r}{hint}")
    return float(got)


def names(message: str, *values: object) -> list[object]:
    """The values a message does not name (as ``str(v)`` or ``f"{v:g}"``)."""
    return [v for v in values if str(v) not in message and (not isinstance(v, float) or f"{v:g}" not in message)]


@pytest.fixture(scope="module")
def ex(impl):  # noqa: ANN001, ANN201
    return impl("lesson09_init")


# ---- uniform_std ---------------------------------------------------------------------------------


@pytest.mark.parametrize("a,b", [(-1.0, 1.0), (0.0, 1.0), (-0.2, 0.2), (2.0, 5.0), (-7.5, -3.0), (-1e-3, 4e3)])
def test_uniform_std(ex, a: float, b: float) -> None:  # noqa: ANN001
    expected = torch.distributions.Uniform(torch.tensor(a, dtype=torch.float64), torch.tensor(b, dtype=torch.float64)).stddev
    got = a_float(attempt(ex.uniform_std, a, b), f"uniform_std({a}, {b})")
    check_close(got, expected, what=f"uniform_std({a}, {b})", atol=0, rtol=1e-9, dtype="match")


def test_uniform_std_matches_samples(ex) -> None:  # noqa: ANN001
    gen = torch.Generator().manual_seed(0)
    samples = torch.empty(200_000, dtype=torch.float64).uniform_(-0.3, 0.9, generator=gen)
    got = a_float(attempt(ex.uniform_std, -0.3, 0.9), "uniform_std(-0.3, 0.9)")
    check_close(got, samples.std(), what="uniform_std(-0.3, 0.9) against 200,000 samples", atol=0, rtol=0.01, dtype="match")


@pytest.mark.parametrize("a,b", [(1.0, 1.0), (2.0, -1.0)])
def test_uniform_std_rejects_empty_interval(ex, a: float, b: float) -> None:  # noqa: ANN001
    try:
        got = attempt(ex.uniform_std, a, b)
    except ValueError as e:
        missing = names(str(e), a, b)
        assert not missing, f"uniform_std({a}, {b}): the ValueError should name both values; {missing[0]} is missing from {str(e)!r}"
        return
    raise AssertionError(f"uniform_std({a}, {b}): expected a ValueError (b <= a), got {got!r}")


# ---- gain ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("a", [0.0, 0.01, 0.25, 1.0, 5**0.5, 3.0, -0.5])
def test_gain(ex, a: float) -> None:  # noqa: ANN001
    expected = torch.nn.init.calculate_gain("leaky_relu", a)
    got = a_float(attempt(ex.gain, a), f"gain({a})")
    check_close(got, torch.tensor(expected, dtype=torch.float64), what=f"gain({a})", atol=0, rtol=1e-9)


def test_gain_of_relu(ex) -> None:  # noqa: ANN001
    expected = torch.nn.init.calculate_gain("relu")
    got = a_float(attempt(ex.gain, 0.0), "gain(0.0)")
    check_close(got, torch.tensor(expected, dtype=torch.float64), what="gain(0.0), a plain ReLU", atol=0, rtol=1e-9)


# ---- kaiming_uniform_bound -------------------------------------------------------------------------


def _torch_bound(fan_in: int, a: float) -> float:
    """torch.nn.init.kaiming_uniform_'s bound: calculate_gain("leaky_relu", a) * sqrt(3 / fan_in)."""
    weight = torch.empty(3, fan_in)  # (out, in): torch reads fan_in from dim 1
    fi, _ = torch.nn.init._calculate_fan_in_and_fan_out(weight)
    return torch.nn.init.calculate_gain("leaky_relu", a) * math.sqrt(3.0 / fi)


@pytest.mark.parametrize("fan_in,a", [(25, 5**0.5), (784, 0.0), (1, 0.0), (512, 0.1), (3, -2.0), (10_000, 5**0.5)])
def test_kaiming_uniform_bound(ex, fan_in: int, a: float) -> None:  # noqa: ANN001
    got = a_float(attempt(ex.kaiming_uniform_bound, fan_in, a), f"kaiming_uniform_bound(fan_in={fan_in}, a={a})")
    check_close(got, torch.tensor(_torch_bound(fan_in, a), dtype=torch.float64),
                what=f"kaiming_uniform_bound(fan_in={fan_in}, a={a})", atol=0, rtol=1e-9)


def test_kaiming_uniform_bound_default_slope_is_relu(ex) -> None:  # noqa: ANN001
    got = a_float(attempt(ex.kaiming_uniform_bound, 100), "kaiming_uniform_bound(100)")
    check_close(got, torch.tensor(_torch_bound(100, 0.0), dtype=torch.float64),
                what="kaiming_uniform_bound(100) with the default a", atol=0, rtol=1e-9)


def test_kaiming_uniform_bound_contains_pytorch_default_conv(ex) -> None:  # noqa: ANN001
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(1, 32, 5)  # PyTorch's default: kaiming_uniform_(a=sqrt(5))
    bound = a_float(attempt(ex.kaiming_uniform_bound, 25, 5**0.5), "kaiming_uniform_bound(25, sqrt(5))")
    check_close(conv.weight.abs().max().double(), torch.tensor(bound, dtype=torch.float64),
                what="the largest |weight| of a default Conv2d(1, 32, 5) against kaiming_uniform_bound(25, sqrt(5))",
                atol=0, rtol=0.02)


@pytest.mark.parametrize("fan_in", [0, -3])
def test_kaiming_uniform_bound_rejects_bad_fan_in(ex, fan_in: int) -> None:  # noqa: ANN001
    try:
        got = attempt(ex.kaiming_uniform_bound, fan_in, 0.0)
    except ValueError as e:
        missing = names(str(e), "fan_in", fan_in)
        assert not missing, (
            f"kaiming_uniform_bound(fan_in={fan_in}): the ValueError should name fan_in and its value; "
            f"{missing[0]!r} is missing from {str(e)!r}"
        )
        return
    raise AssertionError(f"kaiming_uniform_bound(fan_in={fan_in}): expected a ValueError (fan_in must be positive), got {got!r}")


# ---- fan_in_fan_out --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "shape", [(32, 1, 5, 5), (10, 50), (1, 1), (8, 3, 3, 3), (16, 4, 7), (2, 3, 4, 5, 6), (50, 784)], ids=str
)
def test_fan_in_fan_out(ex, shape: tuple[int, ...]) -> None:  # noqa: ANN001
    expected = torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(shape))
    got = two_ints(attempt(ex.fan_in_fan_out, shape), f"fan_in_fan_out({shape})")
    assert got == expected, f"fan_in_fan_out({shape}): expected (fan_in, fan_out) = {expected}, got {got}"


def two_ints(got: object, what: str) -> tuple[int, int]:
    ok = isinstance(got, tuple) and len(got) == 2 and all(isinstance(v, int) and not isinstance(v, bool) for v in got)
    assert ok, f"{what}: expected a tuple of two Python ints (fan_in, fan_out), got {type(got).__name__} {got!r}"
    return got


def test_fan_in_fan_out_of_real_layers(ex) -> None:  # noqa: ANN001
    for layer in [torch.nn.Linear(784, 50), torch.nn.Conv2d(8, 16, 3), torch.nn.Conv1d(4, 2, 9)]:
        expected = torch.nn.init._calculate_fan_in_and_fan_out(layer.weight)
        shape = tuple(layer.weight.shape)
        got = two_ints(attempt(ex.fan_in_fan_out, shape), f"fan_in_fan_out({shape}), {layer}'s weight")
        assert got == expected, f"fan_in_fan_out({shape}), {layer}'s weight: expected {expected}, got {got}"


@pytest.mark.parametrize("shape", [(5,), ()], ids=str)
def test_fan_in_fan_out_rejects_vectors(ex, shape: tuple[int, ...]) -> None:  # noqa: ANN001
    try:
        got = attempt(ex.fan_in_fan_out, shape)
    except ValueError as e:
        assert str(shape) in str(e), f"fan_in_fan_out({shape}): the ValueError should name the shape {shape}, got {str(e)!r}"
        return
    raise AssertionError(f"fan_in_fan_out({shape}): expected a ValueError (fewer than 2 dimensions), got {got!r}")


# ---- orthogonal ------------------------------------------------------------------------------------


ORTHO_CASES = [  # (n_rows, n_cols or None for the default, gain, seed)
    (1, None, 1.0, 0), (2, None, 1.0, 1), (5, None, 1.0, 2), (64, None, 1.0, 3), (128, None, 1.0, 4),
    (3, 5, 1.0, 5), (5, 3, 1.0, 6), (1, 4, 1.0, 7), (4, 1, 1.0, 8), (50, 20, 2**0.5, 9), (16, 16, 0.5, 10),
]


def _call(n_rows: int, n_cols: int | None, gain: float, seed: int) -> str:
    cols = "" if n_cols is None else f", {n_cols}"
    return f"orthogonal({n_rows}{cols}{'' if gain == 1 else f', gain={gain:.4g}'}) with generator seed {seed}"


@pytest.mark.parametrize("n_rows,n_cols,gain,seed", ORTHO_CASES, ids=lambda v: str(v))
def test_orthogonal_matches_torch(ex, n_rows: int, n_cols: int | None, gain: float, seed: int) -> None:  # noqa: ANN001
    g = torch.Generator().manual_seed(seed)
    if n_cols is None:
        q = attempt(ex.orthogonal, n_rows, generator=g) if gain == 1 else attempt(ex.orthogonal, n_rows, gain=gain, generator=g)
    else:
        q = attempt(ex.orthogonal, n_rows, n_cols, gain, generator=g)
    shape = (n_rows, n_rows if n_cols is None else n_cols)
    expected = torch.nn.init.orthogonal_(torch.empty(shape), gain=gain, generator=torch.Generator().manual_seed(seed))
    check_close(q, expected, what=_call(n_rows, n_cols, gain, seed) + " against torch.nn.init.orthogonal_ (float32)",
                atol=1e-5, rtol=1e-4, dtype="match")


@pytest.mark.parametrize("n_rows,n_cols", [(3, None), (50, None), (4, 9), (9, 4)], ids=str)
def test_orthogonal_is_orthogonal_and_random(ex, n_rows: int, n_cols: int | None) -> None:  # noqa: ANN001
    what = _call(n_rows, n_cols, 1.0, n_rows)
    q = attempt(ex.orthogonal, n_rows, n_cols, generator=torch.Generator().manual_seed(n_rows))
    if not isinstance(q, torch.Tensor):
        raise AssertionError(f"{what}: expected a tensor, got {type(q).__name__}")
    q = q.double()
    k = min(q.shape)
    if q.shape[0] <= q.shape[1]:
        check_close(q @ q.T, torch.eye(k, dtype=torch.float64), what=f"Q @ Q.T for {what} (orthonormal rows)", atol=1e-5)
    if q.shape[0] >= q.shape[1]:
        check_close(q.T @ q, torch.eye(k, dtype=torch.float64), what=f"Q.T @ Q for {what} (orthonormal columns)", atol=1e-5)
    assert (q - torch.eye(*q.shape, dtype=torch.float64)).abs().max() > 0.1, f"{what} returned the identity"
    q2 = attempt(ex.orthogonal, n_rows, n_cols, generator=torch.Generator().manual_seed(n_rows + 100)).double()
    assert (q - q2).abs().max() > 0.1, f"{what} gave the same matrix for seeds {n_rows} and {n_rows + 100}"


# ---- spectral_norm ---------------------------------------------------------------------------------


def _with_singular_values(s: list[float], rows: int, cols: int, seed: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    u, _ = torch.linalg.qr(torch.randn(rows, rows, generator=gen, dtype=torch.float64))
    v, _ = torch.linalg.qr(torch.randn(cols, cols, generator=gen, dtype=torch.float64))
    k = len(s)
    return u[:, :k] @ torch.diag(torch.tensor(s, dtype=torch.float64)) @ v[:, :k].T


SPECTRAL_CASES = {
    "a diagonal 2x2 with a negative entry": lambda: torch.tensor([[3.0, 0.0], [0.0, -1.0]], dtype=torch.float64),
    "a 1x5 row": lambda: torch.tensor([[1.0, -2.0, 0.5, 3.0, 0.0]], dtype=torch.float64),
    "a 6x4 with singular values 5, 2, 1, 0.5": lambda: _with_singular_values([5.0, 2.0, 1.0, 0.5], 6, 4, 0),
    "a 3x7 with singular values 0.9, 0.3, 0.1": lambda: _with_singular_values([0.9, 0.3, 0.1], 3, 7, 1),
    "a 20x20 standard normal": lambda: torch.randn(20, 20, generator=torch.Generator().manual_seed(2), dtype=torch.float64),
}


@pytest.mark.parametrize("name", list(SPECTRAL_CASES))
def test_spectral_norm(ex, name: str) -> None:  # noqa: ANN001
    w = SPECTRAL_CASES[name]()
    got = a_float(attempt_without(NO_SVD, ex.spectral_norm, w, 500), f"spectral_norm of {name}")
    expected = torch.linalg.matrix_norm(w, ord=2)
    check_close(got, expected, what=f"spectral_norm of {name} (n_iter=500)", atol=1e-8, rtol=1e-6, dtype="match")
