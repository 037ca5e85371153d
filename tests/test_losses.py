"""Tests for foundations.losses: every function against torch.nn.functional in float64, extremes included."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from conftest import gen
from hypothesis import given, settings
from hypothesis import strategies as st

from foundations.losses import accuracy, cross_entropy, log_softmax, logsumexp, nll, softmax
from foundations.testing import check_close

pytestmark = pytest.mark.lesson09

INF = float("inf")


@st.composite
def logits_and_targets(draw: st.DrawFn, bound: float = 1000.0) -> tuple[torch.Tensor, torch.Tensor]:
    """A small (N, C) float64 batch of logits in [-bound, bound] and (N,) int64 targets in [0, C)."""
    n = draw(st.integers(1, 8))
    c = draw(st.integers(1, 8))
    vals = draw(st.lists(st.floats(-bound, bound, allow_nan=False), min_size=n * c, max_size=n * c))
    target = draw(st.lists(st.integers(0, c - 1), min_size=n, max_size=n))
    return torch.tensor(vals, dtype=torch.float64).reshape(n, c), torch.tensor(target, dtype=torch.int64)


EXTREMES = {
    "huge positive": torch.tensor([[1000.0, 999.0, 0.0], [1000.0, 1000.0, 1000.0]], dtype=torch.float64),
    "huge negative": torch.tensor([[-1000.0, -999.0, -1001.0], [-1000.0, 0.0, 1000.0]], dtype=torch.float64),
    "float64 overflow range": torch.tensor([[800.0, 710.0, -800.0], [1e300, 0.0, -1e300]], dtype=torch.float64),
    "one class": torch.tensor([[5.0], [-1000.0]], dtype=torch.float64),
}


# ---- against torch on fixed extreme inputs -------------------------------------------------------


@pytest.mark.parametrize("name", EXTREMES)
def test_logsumexp_extremes(name: str) -> None:
    x = EXTREMES[name]
    got = logsumexp(x)
    assert torch.isfinite(got).all(), f"logsumexp overflowed on {name}: {got}"
    check_close(got, torch.logsumexp(x, dim=-1), what=f"logsumexp on {name}", atol=1e-12, rtol=1e-12)


@pytest.mark.parametrize("name", EXTREMES)
def test_log_softmax_and_softmax_extremes(name: str) -> None:
    x = EXTREMES[name]
    check_close(log_softmax(x), F.log_softmax(x, dim=-1), what=f"log_softmax on {name}", atol=1e-12, rtol=1e-12)
    check_close(softmax(x), F.softmax(x, dim=-1), what=f"softmax on {name}", atol=1e-12, rtol=1e-12)


@pytest.mark.parametrize("name", EXTREMES)
def test_cross_entropy_and_nll_extremes(name: str) -> None:
    x = EXTREMES[name]
    target = torch.tensor([x.shape[1] - 1, 0])
    check_close(cross_entropy(x, target), F.cross_entropy(x, target), what=f"cross_entropy on {name}", rtol=1e-12)
    lp = F.log_softmax(x, dim=-1)
    check_close(nll(lp, target), F.nll_loss(lp, target), what=f"nll on {name}", rtol=1e-12)


def test_naive_formula_overflows_where_ours_does_not() -> None:
    # the failure the page shows: exp(1000) is inf in float32, and inf / inf is nan
    x = torch.tensor([[1000.0, 1001.0, 1002.0]])
    naive = x.exp() / x.exp().sum(-1, keepdim=True)
    assert torch.isnan(naive).all()
    check_close(softmax(x), F.softmax(x.double(), dim=-1).float(), what="softmax of [1000, 1001, 1002]", rtol=1e-6)


def test_logsumexp_infinities_like_torch() -> None:
    x = torch.tensor([[-INF, -INF], [INF, 0.0], [-INF, 3.0]], dtype=torch.float64)
    got, expected = logsumexp(x), torch.logsumexp(x, dim=-1)
    assert got.tolist() == expected.tolist() == [-INF, INF, 3.0]


def test_logsumexp_batched_dims_and_float32() -> None:
    x = torch.randn(2, 3, 5, generator=gen(0)) * 50
    check_close(logsumexp(x), torch.logsumexp(x, dim=-1), what="logsumexp of a (2, 3, 5) float32 tensor", rtol=1e-6)
    assert logsumexp(x).dtype == torch.float32


# ---- float32 precision at large logits -------------------------------------------------------------
# A row's logits share one large offset (a model with a huge bias, or unnormalised scores). Computing
# x - (m + log sum) rounds m + log sum to the float32 spacing of m (about 1e-3 at 1e4, 0.06 at 1e6)
# before subtracting; (x - m) - log sum does not. The truth is float64 on the same float32 inputs.

LARGE = [1e4, -1e4, 1e6, -1e6]


def _large_batch(offset: float) -> tuple[torch.Tensor, torch.Tensor]:
    g = gen(int(abs(offset)) % 1000 + (offset < 0))
    x = offset + 3.0 * torch.randn(16, 10, generator=g)  # float32
    return x, torch.randint(0, 10, (16,), generator=g)


@pytest.mark.parametrize("offset", LARGE)
def test_float32_large_logits_match_float64_truth(offset: float) -> None:
    x, t = _large_batch(offset)
    x64 = x.double()  # exact: the same numbers, computed in float64
    assert log_softmax(x).dtype == softmax(x).dtype == cross_entropy(x, t).dtype == torch.float32
    check_close(log_softmax(x), F.log_softmax(x64, dim=-1), what=f"float32 log_softmax at {offset:g}", atol=2e-6, rtol=1e-6)
    check_close(softmax(x), F.softmax(x64, dim=-1), what=f"float32 softmax at {offset:g}", atol=2e-7, rtol=1e-5)
    check_close(cross_entropy(x, t), F.cross_entropy(x64, t), what=f"float32 cross_entropy at {offset:g}", atol=2e-6, rtol=1e-6)
    # logsumexp itself is as large as the logits: within a couple of float32 spacings of the truth
    check_close(logsumexp(x), torch.logsumexp(x64, dim=-1), what=f"float32 logsumexp at {offset:g}", atol=0, rtol=3e-7)
    # and no worse than PyTorch's own float32 result
    ours_err = (log_softmax(x).double() - F.log_softmax(x64, dim=-1)).abs().max()
    torch_err = (F.log_softmax(x, dim=-1).double() - F.log_softmax(x64, dim=-1)).abs().max()
    assert ours_err <= 2 * torch_err + 1e-7, f"log_softmax at {offset:g}: error {ours_err:.3g}, PyTorch's {torch_err:.3g}"


@pytest.mark.parametrize("offset", LARGE)
def test_float32_large_logits_gradient(offset: float) -> None:
    x, t = _large_batch(offset)
    ours = x.clone().requires_grad_()
    truth = x.double().requires_grad_()
    cross_entropy(ours, t).backward()
    F.cross_entropy(truth, t).backward()
    check_close(ours.grad, truth.grad, what=f"float32 d cross_entropy / d logits at {offset:g}", atol=1e-7, rtol=1e-5)


@pytest.mark.parametrize("offset", LARGE)
def test_subtracting_logsumexp_last_is_what_the_test_catches(offset: float) -> None:
    # the example: logits (s, s - 1, s - 2), loss log(1 + e^-1 + e^-2) = 0.40761 for any s
    x, t = torch.tensor([[offset, offset - 1, offset - 2]]), torch.tensor([0])
    expected = math.log(1 + math.exp(-1) + math.exp(-2))
    assert cross_entropy(x, t).item() == pytest.approx(expected, abs=1e-6)
    assert F.cross_entropy(x, t).item() == pytest.approx(expected, abs=1e-6)
    # the rounding-first order, x - (m + log sum), misses by far more than the tolerance above
    rounded_first = -(x - logsumexp(x).unsqueeze(-1))[0, 0].item()
    assert abs(rounded_first - expected) > 1e-4


# ---- Hypothesis: random batches against torch, and invariants -------------------------------------


@settings(max_examples=60)
@given(batch=logits_and_targets())
def test_losses_match_torch(batch: tuple[torch.Tensor, torch.Tensor]) -> None:
    x, t = batch
    check_close(logsumexp(x), torch.logsumexp(x, -1), what="logsumexp", atol=1e-9, rtol=1e-12)
    check_close(log_softmax(x), F.log_softmax(x, -1), what="log_softmax", atol=1e-9, rtol=1e-12)
    check_close(softmax(x), F.softmax(x, -1), what="softmax", atol=1e-12, rtol=1e-12)
    check_close(nll(F.log_softmax(x, -1), t), F.nll_loss(F.log_softmax(x, -1), t), what="nll", atol=1e-9, rtol=1e-12)
    check_close(cross_entropy(x, t), F.cross_entropy(x, t), what="cross_entropy", atol=1e-9, rtol=1e-12)


@settings(max_examples=60)
@given(batch=logits_and_targets(), shift=st.floats(-500, 500))
def test_softmax_invariants(batch: tuple[torch.Tensor, torch.Tensor], shift: float) -> None:
    x, _ = batch
    p = softmax(x)
    assert ((p >= 0) & (p <= 1)).all()
    check_close(p.sum(-1), torch.ones(x.shape[0], dtype=torch.float64), what="softmax row sums", atol=1e-12)
    # adding the same number to every logit of a row changes nothing
    check_close(log_softmax(x + shift), log_softmax(x), what="log_softmax after a shift", atol=1e-9, rtol=1e-9)
    check_close(logsumexp(x + shift), logsumexp(x) + shift, what="logsumexp after a shift", atol=1e-9, rtol=1e-12)


@settings(max_examples=40)
@given(batch=logits_and_targets(bound=30.0))
def test_cross_entropy_gradient_matches_torch(batch: tuple[torch.Tensor, torch.Tensor]) -> None:
    x, t = batch
    ours = x.clone().requires_grad_()
    theirs = x.clone().requires_grad_()
    cross_entropy(ours, t).backward()
    F.cross_entropy(theirs, t).backward()
    check_close(ours.grad, theirs.grad, what="d cross_entropy / d logits", atol=1e-12, rtol=1e-10)


def test_gradcheck_logsumexp_and_log_softmax() -> None:
    x = torch.randn(4, 6, dtype=torch.float64, generator=gen(1), requires_grad=True)
    assert torch.autograd.gradcheck(logsumexp, (x,))
    assert torch.autograd.gradcheck(log_softmax, (x,))


def test_gradient_at_huge_logits_is_finite() -> None:
    x = torch.tensor([[1000.0, -1000.0, 0.0]], dtype=torch.float64, requires_grad=True)
    cross_entropy(x, torch.tensor([1])).backward()
    expected = F.softmax(x.detach(), -1) - torch.tensor([[0.0, 1.0, 0.0]], dtype=torch.float64)
    check_close(x.grad, expected, what="gradient at logits (1000, -1000, 0)", atol=1e-12)


def test_untrained_loss_is_log_of_classes() -> None:
    # equal logits: every class has probability 1/C, so the loss is log C
    x = torch.zeros(5, 10)
    assert cross_entropy(x, torch.arange(5)).item() == pytest.approx(math.log(10), rel=1e-6)


# ---- accuracy ------------------------------------------------------------------------------------


def test_accuracy_counts_argmax_hits() -> None:
    out = torch.tensor([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7], [0.6, 0.4]])
    yb = torch.tensor([1, 1, 1, 0])
    acc = accuracy(out, yb)
    assert acc.dtype == torch.float32 and acc.shape == ()
    assert acc.item() == pytest.approx(0.75)


@settings(max_examples=60)
@given(batch=logits_and_targets())
def test_accuracy_matches_a_loop(batch: tuple[torch.Tensor, torch.Tensor]) -> None:
    x, t = batch
    hits = sum(int(max(range(x.shape[1]), key=lambda j: (x[i, j].item(), -j)) == t[i].item()) for i in range(len(t)))
    assert accuracy(x, t).item() == pytest.approx(hits / len(t), abs=1e-7)


def test_accuracy_ties_go_to_first_index() -> None:
    assert accuracy(torch.tensor([[1.0, 1.0]]), torch.tensor([0])).item() == 1.0
    assert accuracy(torch.tensor([[1.0, 1.0]]), torch.tensor([1])).item() == 0.0


# ---- bad input -----------------------------------------------------------------------------------


@pytest.mark.parametrize("fn", [nll, cross_entropy, accuracy])
def test_labels_must_match_the_batch(fn) -> None:  # noqa: ANN001
    with pytest.raises(ValueError, match=r"expected target of shape \(64,\) to match a batch of 64 inputs, got \(32,\)"):
        fn(torch.randn(64, 10), torch.zeros(32, dtype=torch.int64))


@pytest.mark.parametrize("fn", [nll, cross_entropy, accuracy])
def test_targets_must_be_class_indices(fn) -> None:  # noqa: ANN001
    with pytest.raises(ValueError, match=r"expected target values in \[0, 10\) for 10 classes, got values from 0 to 10"):
        fn(torch.randn(3, 10), torch.tensor([0, 5, 10]))
    with pytest.raises(ValueError, match=r"got values from -1 to 2"):
        fn(torch.randn(3, 10), torch.tensor([-1, 0, 2]))
    with pytest.raises(TypeError, match=rf"{fn.__name__}: expected target to be a torch.int64 tensor of class indices, "
                                        r"got Tensor of dtype torch.float32 and shape \(3,\)"):
        fn(torch.randn(3, 10), torch.tensor([0.0, 1.0, 2.0]))
    with pytest.raises(TypeError, match=rf"{fn.__name__}: expected target to be a torch.int64 tensor of class indices, "
                                        r"got list \[0, 1, 2\]"):
        fn(torch.randn(3, 10), [0, 1, 2])


@pytest.mark.parametrize("fn", [nll, cross_entropy, accuracy])
def test_scores_must_be_a_2d_nonempty_float_batch(fn) -> None:  # noqa: ANN001
    with pytest.raises(ValueError, match=r"of shape \(N, C\), got \(10,\)"):
        fn(torch.randn(10), torch.tensor([1]))
    with pytest.raises(ValueError, match=r"expected a non-empty batch, got .* of shape \(0, 10\)"):
        fn(torch.randn(0, 10), torch.zeros(0, dtype=torch.int64))
    scores = {"nll": "log_probs", "cross_entropy": "logits", "accuracy": "out"}[fn.__name__]
    with pytest.raises(TypeError, match=rf"{fn.__name__}: expected {scores} to be a floating-point tensor, "
                                        r"got Tensor of dtype torch.int64 and shape \(2, 3\)"):
        fn(torch.ones(2, 3, dtype=torch.int64), torch.tensor([0, 1]))


@pytest.mark.parametrize("fn", [softmax, log_softmax, logsumexp])
def test_row_functions_reject_bad_input(fn) -> None:  # noqa: ANN001
    with pytest.raises(ValueError, match=r"expected x of shape \(\.\.\., C\) with C >= 1, got \(\)"):
        fn(torch.tensor(1.0))
    with pytest.raises(ValueError, match=r"got \(3, 0\)"):
        fn(torch.zeros(3, 0))
    with pytest.raises(TypeError, match=rf"{fn.__name__}: expected x to be a floating-point tensor, "
                                        r"got Tensor of dtype torch.int64 and shape \(3,\)"):
        fn(torch.arange(3))
    with pytest.raises(TypeError, match=rf"{fn.__name__}: expected x to be a floating-point tensor, got list \[1\.0, 2\.0\]"):
        fn([1.0, 2.0])
