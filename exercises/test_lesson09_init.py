"""Grader for exercises/lesson09_init.py: each function against PyTorch's own numbers, on several inputs.

Run ``.venv/bin/pytest exercises -m lesson09`` (or ``-k <exercise>``); ``--impl=solutions`` grades the
reference solutions instead of yours.
"""

from __future__ import annotations

import math

import pytest
import torch

from foundations.testing import attempt, check_close

pytestmark = pytest.mark.lesson09


@pytest.fixture(scope="module")
def ex(impl):  # noqa: ANN001, ANN201
    return impl("lesson09_init")


# ---- uniform_std ---------------------------------------------------------------------------------


@pytest.mark.parametrize("a,b", [(-1.0, 1.0), (0.0, 1.0), (-0.2, 0.2), (2.0, 5.0), (-7.5, -3.0), (-1e-3, 4e3)])
def test_uniform_std(ex, a: float, b: float) -> None:  # noqa: ANN001
    expected = torch.distributions.Uniform(torch.tensor(a, dtype=torch.float64), torch.tensor(b, dtype=torch.float64)).stddev
    check_close(attempt(ex.uniform_std, a, b), expected, what=f"uniform_std({a}, {b})", atol=0, rtol=1e-9)


def test_uniform_std_matches_samples(ex) -> None:  # noqa: ANN001
    gen = torch.Generator().manual_seed(0)
    samples = torch.empty(200_000, dtype=torch.float64).uniform_(-0.3, 0.9, generator=gen)
    check_close(attempt(ex.uniform_std, -0.3, 0.9), samples.std(), what="uniform_std(-0.3, 0.9) against 200,000 samples",
                atol=0, rtol=0.01)


@pytest.mark.parametrize("a,b", [(1.0, 1.0), (2.0, -1.0)])
def test_uniform_std_rejects_empty_interval(ex, a: float, b: float) -> None:  # noqa: ANN001
    with pytest.raises(ValueError, match="a < b"):
        attempt(ex.uniform_std, a, b)


# ---- gain ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("a", [0.0, 0.01, 0.25, 1.0, 5**0.5, 3.0, -0.5])
def test_gain(ex, a: float) -> None:  # noqa: ANN001
    expected = torch.nn.init.calculate_gain("leaky_relu", a)
    check_close(attempt(ex.gain, a), torch.tensor(expected, dtype=torch.float64), what=f"gain({a})", atol=0, rtol=1e-9)


def test_gain_of_relu(ex) -> None:  # noqa: ANN001
    expected = torch.nn.init.calculate_gain("relu")
    check_close(attempt(ex.gain, 0.0), torch.tensor(expected, dtype=torch.float64), what="gain(0.0), a plain ReLU", atol=0, rtol=1e-9)


# ---- kaiming_uniform_bound -------------------------------------------------------------------------


def _torch_bound(fan_in: int, a: float) -> float:
    """torch.nn.init.kaiming_uniform_'s bound: calculate_gain("leaky_relu", a) * sqrt(3 / fan_in)."""
    weight = torch.empty(3, fan_in)  # (out, in): torch reads fan_in from dim 1
    fi, _ = torch.nn.init._calculate_fan_in_and_fan_out(weight)
    return torch.nn.init.calculate_gain("leaky_relu", a) * math.sqrt(3.0 / fi)


@pytest.mark.parametrize("fan_in,a", [(25, 5**0.5), (784, 0.0), (1, 0.0), (512, 0.1), (3, -2.0), (10_000, 5**0.5)])
def test_kaiming_uniform_bound(ex, fan_in: int, a: float) -> None:  # noqa: ANN001
    got = attempt(ex.kaiming_uniform_bound, fan_in, a)
    check_close(got, torch.tensor(_torch_bound(fan_in, a), dtype=torch.float64),
                what=f"kaiming_uniform_bound(fan_in={fan_in}, a={a})", atol=0, rtol=1e-9)


def test_kaiming_uniform_bound_default_slope_is_relu(ex) -> None:  # noqa: ANN001
    check_close(attempt(ex.kaiming_uniform_bound, 100), torch.tensor(_torch_bound(100, 0.0), dtype=torch.float64),
                what="kaiming_uniform_bound(100) with the default a", atol=0, rtol=1e-9)


def test_kaiming_uniform_bound_contains_pytorch_default_conv(ex) -> None:  # noqa: ANN001
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(1, 32, 5)  # PyTorch's default: kaiming_uniform_(a=sqrt(5))
    bound = attempt(ex.kaiming_uniform_bound, 25, 5**0.5)
    check_close(conv.weight.abs().max().double(), torch.tensor(bound, dtype=torch.float64),
                what="the largest |weight| of a default Conv2d(1, 32, 5) against kaiming_uniform_bound(25, sqrt(5))",
                atol=0, rtol=0.02)


def test_kaiming_uniform_bound_rejects_bad_fan_in(ex) -> None:  # noqa: ANN001
    with pytest.raises(ValueError, match="fan_in"):
        attempt(ex.kaiming_uniform_bound, 0, 0.0)


# ---- fan_in_fan_out --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "shape", [(32, 1, 5, 5), (10, 50), (1, 1), (8, 3, 3, 3), (16, 4, 7), (2, 3, 4, 5, 6), (50, 784)], ids=str
)
def test_fan_in_fan_out(ex, shape: tuple[int, ...]) -> None:  # noqa: ANN001
    expected = torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(shape))
    got = attempt(ex.fan_in_fan_out, shape)
    check_close(torch.tensor(got), torch.tensor(expected), what=f"fan_in_fan_out({shape}) as (fan_in, fan_out)")


def test_fan_in_fan_out_of_real_layers(ex) -> None:  # noqa: ANN001
    for layer in [torch.nn.Linear(784, 50), torch.nn.Conv2d(8, 16, 3), torch.nn.Conv1d(4, 2, 9)]:
        expected = torch.nn.init._calculate_fan_in_and_fan_out(layer.weight)
        got = attempt(ex.fan_in_fan_out, tuple(layer.weight.shape))
        check_close(torch.tensor(got), torch.tensor(expected), what=f"fan_in_fan_out of {layer}'s weight")


@pytest.mark.parametrize("shape", [(5,), ()], ids=str)
def test_fan_in_fan_out_rejects_vectors(ex, shape: tuple[int, ...]) -> None:  # noqa: ANN001
    with pytest.raises(ValueError, match="dimensions"):
        attempt(ex.fan_in_fan_out, shape)


# ---- orthogonal ------------------------------------------------------------------------------------


@pytest.mark.parametrize("n,seed", [(1, 0), (2, 1), (5, 2), (64, 3), (128, 4)])
def test_orthogonal_matches_torch(ex, n: int, seed: int) -> None:  # noqa: ANN001
    q = attempt(ex.orthogonal, n, torch.Generator().manual_seed(seed))
    expected = torch.nn.init.orthogonal_(torch.empty(n, n), generator=torch.Generator().manual_seed(seed))
    check_close(q, expected, what=f"orthogonal({n}) with generator seed {seed}", atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("n", [3, 50])
def test_orthogonal_is_orthogonal_and_random(ex, n: int) -> None:  # noqa: ANN001
    q = attempt(ex.orthogonal, n, torch.Generator().manual_seed(n)).double()
    check_close(q @ q.T, torch.eye(n, dtype=torch.float64), what=f"Q @ Q.T for orthogonal({n})", atol=1e-5)
    check_close(q.T @ q, torch.eye(n, dtype=torch.float64), what=f"Q.T @ Q for orthogonal({n})", atol=1e-5)
    assert (q - torch.eye(n, dtype=torch.float64)).abs().max() > 0.1, f"orthogonal({n}) returned the identity"
    q2 = attempt(ex.orthogonal, n, torch.Generator().manual_seed(n + 100)).double()
    assert (q - q2).abs().max() > 0.1, f"orthogonal({n}) gave the same matrix for two different seeds"


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
    got = attempt(ex.spectral_norm, w, 500)
    expected = torch.linalg.matrix_norm(w, ord=2)
    check_close(got, expected, what=f"spectral_norm of {name}", atol=1e-8, rtol=1e-6)
