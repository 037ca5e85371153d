"""Grader for the Lesson 10 exercises of "Python foundations" (lessons/10_python_foundations) and
"Early stopping and the learning-rate finder" (lessons/10_lr_finder).

Run ``pytest exercises -m lesson10`` (or ``-k cov``, ``-k corr``, ``-k exp_lr``,
``-k lr_finder_should_stop``). ``cov`` and ``corr`` are compared with ``torch.cov`` and
``torch.corrcoef`` in float64; ``exp_lr`` with the learning rates ``torch.optim.lr_scheduler.ExponentialLR``
produces; ``lr_finder_should_stop`` with the rule written out on many sequences of losses. During
your call the library's and PyTorch's own statistics are swapped out (``exercises/_rules.py``).
"""

from __future__ import annotations

import math
from types import ModuleType

import pytest
import torch

from exercises._rules import Forbidden, attempt_without
from foundations.testing import attempt, check_close

pytestmark = pytest.mark.lesson10

F64 = torch.float64
STATS = Forbidden(
    ("torch.cov", "torch.corrcoef", "torch.var", "torch.std", "torch.var_mean", "torch.std_mean", "torch.Tensor.var",
     "torch.Tensor.std", "numpy.cov", "numpy.corrcoef", "numpy.var", "numpy.std", "foundations.moments.*"),
    "this exercise asks you to write yourself (mean, sum and sqrt)",
)
RULE = Forbidden(("foundations.callbacks.lr_finder_should_stop", "foundations.callbacks.LRFinder",
                  "foundations.callbacks.lr_finder.*"),
                 "this exercise asks you to write yourself")


@pytest.fixture(scope="module")
def ex(impl) -> ModuleType:  # noqa: ANN001
    return impl("lesson10_foundations")


def g(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def tensor_result(v: object, what: str) -> torch.Tensor:
    if not isinstance(v, torch.Tensor):
        raise AssertionError(f"{what}: expected a 0-d tensor, got {type(v).__name__} {v!r}")
    return v


PAIRS = [
    ("the course's t = [1, 2, 4, 18] against 2t + noise", torch.tensor([1.0, 2, 4, 18], dtype=F64),
     torch.tensor([2.5, 3.0, 9.0, 35.0], dtype=F64)),
    ("two pairs (the fewest)", torch.tensor([0.0, 1.0], dtype=F64), torch.tensor([3.0, -1.0], dtype=F64)),
    ("50 correlated normals", torch.randn(50, generator=g(0), dtype=F64),
     0.5 * torch.randn(50, generator=g(0), dtype=F64) + torch.randn(50, generator=g(1), dtype=F64)),
    ("negatives, far from zero (mean -1000)", torch.randn(20, generator=g(2), dtype=F64) - 1000,
     -3 * torch.randn(20, generator=g(3), dtype=F64)),
    ("an exact decreasing line y = 7 - 2x", torch.arange(9, dtype=F64), 7 - 2 * torch.arange(9, dtype=F64)),
    ("independent samples of 1000", torch.rand(1000, generator=g(4), dtype=F64),
     torch.rand(1000, generator=g(5), dtype=F64)),
]
IDS = [p[0] for p in PAIRS]


# ---- cov ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("what", "x", "y"), PAIRS, ids=IDS)
def test_cov_against_torch_cov(ex: ModuleType, what: str, x: torch.Tensor, y: torch.Tensor) -> None:
    got = tensor_result(attempt_without(STATS, ex.cov, x, y), f"cov on {what}")
    check_close(got, torch.cov(torch.stack([x, y]))[0, 1], what=f"cov on {what} (float64, n={len(x)})", atol=1e-9, rtol=1e-9,
                dtype="any")


def test_cov_of_x_with_itself_is_the_variance(ex: ModuleType) -> None:
    x = torch.randn(30, generator=g(6), dtype=F64) * 4
    check_close(attempt_without(STATS, ex.cov, x, x), torch.var(x), what="cov(x, x) for 30 normals (should be torch.var(x))",
                atol=1e-9, dtype="any")


def rejects(fn, x: torch.Tensor, y: torch.Tensor, what: str, named: list[str]) -> None:  # noqa: ANN001
    """``fn(x, y)`` raises a ValueError whose message contains each of ``named``."""
    try:
        got = attempt_without(STATS, fn, x, y)
    except ValueError as e:
        missing = [v for v in named if v not in str(e)]
        assert not missing, f"{what}: the ValueError should say what came ({' and '.join(named)}); got {str(e)!r}"
        return
    raise AssertionError(f"{what}: expected a ValueError, got {got!r}")


def test_cov_rejects_mismatched_or_too_few(ex: ModuleType) -> None:
    rejects(ex.cov, torch.zeros(3, dtype=F64), torch.zeros(4, dtype=F64), "cov of lengths 3 and 4", ["3", "4"])
    rejects(ex.cov, torch.ones(1, dtype=F64), torch.ones(1, dtype=F64), "cov of a single pair (n = 1)", ["1"])


# ---- corr ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("what", "x", "y"), PAIRS, ids=IDS)
def test_corr_against_torch_corrcoef(ex: ModuleType, what: str, x: torch.Tensor, y: torch.Tensor) -> None:
    got = tensor_result(attempt_without(STATS, ex.corr, x, y), f"corr on {what}")
    check_close(got, torch.corrcoef(torch.stack([x, y]))[0, 1], what=f"corr on {what} (float64, n={len(x)})", atol=1e-9,
                dtype="any")


def test_corr_ignores_units(ex: ModuleType) -> None:
    x = torch.randn(40, generator=g(7), dtype=F64)
    y = x + torch.randn(40, generator=g(8), dtype=F64)
    r = tensor_result(attempt_without(STATS, ex.corr, x, y), "corr on 40 normals")
    check_close(attempt_without(STATS, ex.corr, 100 * x + 5, 0.01 * y - 3), r, what="corr of (100x + 5, y/100 - 3) vs corr(x, y)",
                atol=1e-9, dtype="any")
    check_close(attempt_without(STATS, ex.corr, x, -y), -r, what="corr(x, -y) vs -corr(x, y)", atol=1e-9, dtype="any")


def test_corr_rejects_mismatched_or_too_few(ex: ModuleType) -> None:
    rejects(ex.corr, torch.zeros(5, dtype=F64), torch.zeros(2, dtype=F64), "corr of lengths 5 and 2", ["5", "2"])
    rejects(ex.corr, torch.ones(1, dtype=F64), torch.ones(1, dtype=F64), "corr of a single pair (n = 1)", ["1"])


# ---- exp_lr -------------------------------------------------------------------------------------------------

SWEEPS = [
    ("the course's 1e-6 -> 10 over 100 batches", 1e-6, 10.0, 100),
    ("1e-4 -> 1 over 7 batches", 1e-4, 1.0, 7),
    ("one step 0.01 -> 0.1", 0.01, 0.1, 1),
    ("downwards 1 -> 1e-3 over 30 batches", 1.0, 1e-3, 30),
]


@pytest.mark.parametrize(("what", "lo", "hi", "n"), SWEEPS, ids=[s[0] for s in SWEEPS])
def test_exp_lr_against_exponential_lr(ex: ModuleType, what: str, lo: float, hi: float, n: int) -> None:
    # ExponentialLR multiplies the rate by gamma every step; gamma = (hi / lo) ** (1 / n) sweeps lo -> hi
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=lo)
    sched = torch.optim.lr_scheduler.ExponentialLR(opt, gamma=(hi / lo) ** (1 / n))
    expected, got = [], []
    for i in range(n + 1):
        expected.append(opt.param_groups[0]["lr"])
        v = attempt(ex.exp_lr, i, n, lo, hi)
        if not isinstance(v, (int, float)):
            raise AssertionError(f"exp_lr({i}, {n}, {lo}, {hi}): expected a float, got {type(v).__name__} {v!r}")
        got.append(float(v))
        opt.step()
        sched.step()
    check_close(torch.tensor(got, dtype=F64), torch.tensor(expected, dtype=F64), what=f"exp_lr(i, {n}, {lo:g}, {hi:g}), {what}",
                atol=0, rtol=1e-9, at=lambda i: f"i={i[0]}")


# ---- lr_finder_should_stop ----------------------------------------------------------------------------------


def rule(losses: list[float], iteration: int, max_iter: int, factor: float) -> bool:
    """The page's rule, written out: done, or the latest loss is not finite or > factor x best."""
    last = losses[-1]
    return iteration >= max_iter or not math.isfinite(last) or last > factor * min(losses)


CASES = [
    ("the first batch", [2.3], 0, 100, 10.0),
    ("9 < 10 x best 1.0", [2.3, 1.0, 9.0], 2, 100, 10.0),
    ("10.5 > 10 x best 1.0", [2.3, 1.0, 10.5], 2, 100, 10.0),
    ("exactly 10 x best (not more)", [2.0, 1.0, 10.0], 2, 100, 10.0),
    ("the last batch of the sweep", [2.3, 2.0, 1.9], 100, 100, 10.0),
    ("one before the last", [2.3, 2.0, 1.9], 99, 100, 10.0),
    ("a NaN loss", [2.3, 1.5, float("nan")], 2, 100, 10.0),
    ("an infinite loss", [2.3, float("inf")], 1, 100, 10.0),
    ("factor 4: 4.1 > 4 x 1.0", [3.0, 1.0, 4.1], 2, 50, 4.0),
    ("factor 4: 3.9 < 4 x 1.0", [3.0, 1.0, 3.9], 2, 50, 4.0),
    ("the best is not the first loss", [5.0, 0.2, 1.0, 2.1], 3, 50, 10.0),
]


@pytest.mark.parametrize(("what", "losses", "it", "max_iter", "factor"), CASES, ids=[c[0] for c in CASES])
def test_lr_finder_should_stop_cases(
    ex: ModuleType, what: str, losses: list[float], it: int, max_iter: int, factor: float
) -> None:
    got = a_bool(attempt_without(RULE, ex.lr_finder_should_stop, losses, it, max_iter, factor),
                 f"lr_finder_should_stop({losses}, iteration={it}, max_iter={max_iter}, factor={factor})")
    expected = rule(losses, it, max_iter, factor)
    assert got == expected, (
        f"lr_finder_should_stop({losses}, iteration={it}, max_iter={max_iter}, factor={factor}) ({what}): "
        f"expected {expected}, got {got!r}"
    )


def test_lr_finder_should_stop_on_random_sweeps(ex: ModuleType) -> None:
    gen = torch.Generator().manual_seed(9)
    for _ in range(200):
        n = int(torch.randint(1, 30, (1,), generator=gen))
        losses = (torch.rand(n, generator=gen, dtype=F64) * 20 + 0.01).tolist()
        it, max_iter = n - 1, int(torch.randint(1, 40, (1,), generator=gen))
        call = f"lr_finder_should_stop({losses!r}, iteration={it}, max_iter={max_iter})"
        got = a_bool(attempt_without(RULE, ex.lr_finder_should_stop, losses, it, max_iter), call)
        expected = rule(losses, it, max_iter, 10.0)
        assert got == expected, f"{call} (the default factor 10, largest loss {max(losses):.6g}, best {min(losses):.6g}): expected {expected}, got {got!r}"


def a_bool(got: object, what: str) -> bool:
    if not isinstance(got, bool):
        raise AssertionError(f"{what}: expected True or False, got {type(got).__name__} {got!r} (bool(...) turns it into one)")
    return got
