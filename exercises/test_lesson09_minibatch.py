"""Grader for exercises/lesson09_minibatch.py (Lesson 9, "Mini-batch training").

Run ``pytest exercises/test_lesson09_minibatch.py`` (add ``-k cross_entropy`` for one exercise).
Every answer is compared with PyTorch computing in float64 (a float32 answer for float64 logits passes
at float32 precision). During your call ``torch.logsumexp``, the softmaxes, ``F.cross_entropy`` and
their kin are swapped out (``exercises/_rules.py``): using them fails the exercise.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from exercises._rules import Forbidden, attempt_without
from foundations.testing import check_close

pytestmark = pytest.mark.lesson09

RULES = Forbidden(
    ("torch.logsumexp", "torch.Tensor.logsumexp", "torch.special.logsumexp", "torch.softmax", "torch.Tensor.softmax",
     "torch.log_softmax", "torch.Tensor.log_softmax", "torch.special.softmax", "torch.special.log_softmax",
     "torch.nn.functional.softmax", "torch.nn.functional.log_softmax", "torch.nn.functional.softmin",
     "torch.nn.functional.cross_entropy", "torch.nn.functional.nll_loss", "foundations.losses.*"),
    "this exercise asks you to write yourself (exp, log, max and sum)",
)


def attempt(fn, *args):  # noqa: ANN001, ANN002, ANN201
    return attempt_without(RULES, fn, *args)


def _randn(*shape: int, seed: int, scale: float = 1.0) -> torch.Tensor:
    return torch.randn(*shape, dtype=torch.float64, generator=torch.Generator().manual_seed(seed)) * scale


# name -> (N, C) float64 logits
LOGITS = {
    "a 64x10 batch of random logits": _randn(64, 10, seed=0, scale=3.0),
    "a single row": _randn(1, 10, seed=1),
    "a 5x3 batch of negative logits": -_randn(5, 3, seed=2).abs() - 2.0,
    "a 4x1 batch (one class)": _randn(4, 1, seed=3),
}

# logits whose naive exp() overflows (or underflows to a log of 0)
EXTREME = {
    "logits of +1000 and -1000": torch.tensor([[1000.0, -1000.0, 0.0], [-1000.0, 1000.0, 999.0]], dtype=torch.float64),
    "logits all near +1000": torch.tensor([[1000.0, 1001.0, 1002.0]], dtype=torch.float64),
    "logits all near -1000": torch.tensor([[-1000.0, -1001.0, -1002.0], [-1000.0, -1000.0, -1000.0]], dtype=torch.float64),
    "float32 logits of 100 (exp overflows float32)": torch.tensor([[100.0, 90.0, -100.0]], dtype=torch.float32),
}

HINT = "hint: subtract each row's maximum before exp(), then add it back after log()"


def _targets(logits: torch.Tensor, seed: int) -> torch.Tensor:
    return torch.randint(0, logits.shape[1], (logits.shape[0],), generator=torch.Generator().manual_seed(seed))


def _tol(x: torch.Tensor) -> dict[str, object]:
    """float64 logits: 1e-9, widened to float32's precision for a float32 answer; float32 logits: 1e-4."""
    tol = {"atol": 1e-9, "rtol": 1e-9} if x.dtype == torch.float64 else {"atol": 1e-4, "rtol": 1e-5}
    return {**tol, "dtype": "any"}


def _assert_finite(got: object, what: str) -> None:
    assert isinstance(got, torch.Tensor), f"{what}: expected a tensor, got {type(got).__name__}"
    assert torch.isfinite(got).all(), f"{what}: got {got.tolist()}, which holds inf or nan ({HINT})"


# ---- logsumexp -----------------------------------------------------------------------------------


def test_logsumexp(impl) -> None:  # noqa: ANN001
    mod = impl("lesson09_minibatch")
    for what, x in LOGITS.items():
        got = attempt(mod.logsumexp, x.clone())
        check_close(got, torch.logsumexp(x, dim=-1), what=f"logsumexp on {what}", **_tol(x))


def test_logsumexp_extreme_logits(impl) -> None:  # noqa: ANN001
    mod = impl("lesson09_minibatch")
    for what, x in EXTREME.items():
        got = attempt(mod.logsumexp, x.clone())
        _assert_finite(got, f"logsumexp on {what}")
        check_close(got, torch.logsumexp(x.double(), dim=-1), what=f"logsumexp on {what}", **_tol(x))


# ---- log_softmax ---------------------------------------------------------------------------------


def test_log_softmax(impl) -> None:  # noqa: ANN001
    mod = impl("lesson09_minibatch")
    for what, x in LOGITS.items():
        got = attempt(mod.log_softmax, x.clone())
        check_close(got, F.log_softmax(x, dim=-1), what=f"log_softmax on {what}", **_tol(x))


def test_log_softmax_extreme_logits(impl) -> None:  # noqa: ANN001
    mod = impl("lesson09_minibatch")
    for what, x in EXTREME.items():
        got = attempt(mod.log_softmax, x.clone())
        _assert_finite(got, f"log_softmax on {what}")
        check_close(got, F.log_softmax(x.double(), dim=-1), what=f"log_softmax on {what}", **_tol(x))


# ---- cross_entropy -------------------------------------------------------------------------------


def test_cross_entropy(impl) -> None:  # noqa: ANN001
    mod = impl("lesson09_minibatch")
    for k, (what, x) in enumerate(LOGITS.items()):
        t = _targets(x, seed=10 + k)
        got = attempt(mod.cross_entropy, x.clone(), t.clone())
        check_close(got, F.cross_entropy(x, t), what=f"cross_entropy on {what}", **_tol(x))
    uniform = attempt(mod.cross_entropy, torch.zeros(3, 10, dtype=torch.float64), torch.tensor([0, 4, 9]))
    check_close(uniform, torch.tensor(math.log(10), dtype=torch.float64),
                what="cross_entropy on equal (3, 10) float64 logits (every class 1/10: the loss is log 10)", atol=1e-9,
                dtype="any")


def test_cross_entropy_extreme_logits(impl) -> None:  # noqa: ANN001
    mod = impl("lesson09_minibatch")
    for k, (what, x) in enumerate(EXTREME.items()):
        # aim at the least likely class: the loss is large but finite (2000 for the first input)
        t = x.argmin(dim=-1) if k % 2 == 0 else _targets(x, seed=20 + k)
        got = attempt(mod.cross_entropy, x.clone(), t.clone())
        _assert_finite(got, f"cross_entropy on {what}")
        check_close(got, F.cross_entropy(x.double(), t), what=f"cross_entropy on {what}", **_tol(x))


# ---- accuracy ------------------------------------------------------------------------------------


def _accuracy_by_counting(out: torch.Tensor, yb: torch.Tensor) -> float:
    rows = out.tolist()
    return sum(row.index(max(row)) == y for row, y in zip(rows, yb.tolist())) / len(rows)


def test_accuracy(impl) -> None:  # noqa: ANN001
    mod = impl("lesson09_minibatch")
    x = LOGITS["a 64x10 batch of random logits"]
    cases = {
        "a 64x10 batch with random targets": (x, _targets(x, seed=30)),
        "a 64x10 batch where every prediction is right": (x, x.argmax(dim=-1)),
        "a 64x10 batch where every prediction is wrong": (x, (x.argmax(dim=-1) + 1) % 10),
        "a single row": (LOGITS["a single row"], LOGITS["a single row"].argmax(dim=-1)),
        "a 5x3 batch of negative scores": (LOGITS["a 5x3 batch of negative logits"], torch.tensor([0, 1, 2, 0, 1])),
        "ties, where the first largest score counts": (torch.tensor([[1.0, 1.0, 0.0], [0.0, 2.0, 2.0]], dtype=torch.float64),
                                                       torch.tensor([0, 2])),
    }
    for what, (out, yb) in cases.items():
        got = attempt(mod.accuracy, out.clone(), yb.clone())
        what = f"{what} (targets {yb.tolist()})" if len(yb) <= 5 else what
        assert isinstance(got, torch.Tensor) and got.is_floating_point(), (
            f"accuracy on {what}: expected a floating-point tensor, got {got!r}"
        )
        check_close(got.double(), torch.tensor(_accuracy_by_counting(out, yb), dtype=torch.float64),
                    what=f"accuracy on {what}", atol=1e-6)


# ---- shuffled_batches ----------------------------------------------------------------------------


@pytest.mark.parametrize("n,bs,seed", [(10, 3, 0), (64, 64, 1), (5, 10, 2), (100, 7, 3), (1, 1, 4), (50, 16, 5)])
def test_shuffled_batches(impl, n: int, bs: int, seed: int) -> None:  # noqa: ANN001
    mod = impl("lesson09_minibatch")
    what = f"shuffled_batches(n={n}, bs={bs}) with seed {seed}"
    got = attempt(mod.shuffled_batches, n, bs, torch.Generator().manual_seed(seed))
    assert isinstance(got, list), f"{what}: expected a list of tensors, got {type(got).__name__}"
    sizes = [len(b) for b in got]
    expected_sizes = [bs] * (n // bs) + ([n % bs] if n % bs else [])
    assert sizes == expected_sizes, f"{what}: expected batch sizes {expected_sizes}, got {sizes}"
    kinds = [f"{type(b).__name__}" if not isinstance(b, torch.Tensor) else str(b.dtype).removeprefix("torch.") for b in got]
    assert all(k == "int64" for k in kinds), f"{what}: expected int64 tensors, got batches of {sorted(set(kinds))}"
    flat = torch.cat(got)
    assert sorted(flat.tolist()) == list(range(n)), f"{what}: every index 0..{n - 1} must appear exactly once"
    expected = torch.randperm(n, generator=torch.Generator().manual_seed(seed)).split(bs)
    for k, (b, e) in enumerate(zip(got, expected)):
        check_close(b, e, what=f"{what}, batch {k} (use torch.randperm with the generator)", atol=0, rtol=0, dtype="match")
