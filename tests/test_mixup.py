"""Mixup and label smoothing (Lesson 12): the Beta distribution, mixing, the per-sample loss, the callback.

Oracles: ``torch.distributions.Beta`` for the density, the Beta moments and a numerically integrated
CDF for the sampler, an explicit loop over the batch for mixing and the mixed loss,
``F.cross_entropy(..., label_smoothing=eps)`` in float64 for label smoothing (values, reductions and
gradients). The mixed loss is also checked against the 2019 course's broadcasting formula, which it
must *not* equal.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from conftest import CLOSE64, F64, gen, randn, tiny_data
from foundations.callbacks import (
    MixUp,
    beta_pdf,
    mix_batch,
    mixup_lambdas,
    mixup_loss,
    per_sample_loss,
    sample_beta,
)
from foundations.learner import Callback, Learner, Order
from foundations.losses import (
    LabelSmoothingCrossEntropy,
    cross_entropy,
    label_smoothing_cross_entropy,
    reduce_loss,
)
from foundations.optim import SGD
from foundations.testing import check_close

pytestmark = pytest.mark.lesson12


# ---- the Beta distribution ------------------------------------------------------------------------


@settings(max_examples=40)
@given(a=st.floats(0.05, 20.0), b=st.floats(0.05, 20.0))
def test_beta_pdf_matches_torch_distributions(a: float, b: float) -> None:
    x = torch.linspace(0.001, 0.999, 101, dtype=F64)
    expected = torch.distributions.Beta(torch.tensor(a, dtype=F64), torch.tensor(b, dtype=F64)).log_prob(x).exp()
    check_close(beta_pdf(x, a, b), expected, what=f"beta_pdf(x, {a}, {b})", atol=1e-12, rtol=1e-9)


def test_beta_pdf_integrates_to_one_and_is_uniform_for_one_one() -> None:
    x = torch.linspace(0, 1, 200_001, dtype=F64)[1:-1]
    for a, b in ((2.0, 2.0), (2.0, 5.0), (3.0, 1.5)):
        assert torch.trapezoid(beta_pdf(x, a, b), x).item() == pytest.approx(1.0, abs=1e-6)
    assert torch.equal(beta_pdf(torch.tensor([0.1, 0.5, 0.9], dtype=F64), 1.0, 1.0), torch.ones(3, dtype=F64))


def test_beta_pdf_refuses_bad_arguments() -> None:
    with pytest.raises(ValueError, match=r"beta_pdf: expected a to be a finite number > 0, got float -1.0"):
        beta_pdf(torch.tensor([0.5]), -1.0, 1.0)
    with pytest.raises(TypeError, match="beta_pdf: expected x"):
        beta_pdf(torch.tensor([1, 2]), 1.0, 1.0)


@pytest.mark.parametrize("a,b", [(0.4, 0.4), (2.0, 5.0), (1.0, 1.0), (0.1, 3.0)])
def test_sample_beta_moments_and_cdf(a: float, b: float) -> None:
    n = 100_000
    x = sample_beta(n, a, b, gen(3))
    assert x.dtype == F64 and x.shape == (n,) and bool(((x >= 0) & (x <= 1)).all())
    mean, var = a / (a + b), a * b / ((a + b) ** 2 * (a + b + 1))
    assert abs(x.mean().item() - mean) < 5 * math.sqrt(var / n)
    assert x.var().item() == pytest.approx(var, rel=0.03)
    # Kolmogorov-Smirnov distance to the CDF integrated from the density; 1.63/sqrt(n) is the 1 % level
    probe = torch.linspace(0.01, 0.99, 99, dtype=F64)
    model = torch.stack([beta_cdf(p, a, b) for p in probe.tolist()])
    empirical = (x[None, :] <= probe[:, None]).double().mean(1)
    assert (empirical - model).abs().max().item() < 1.63 / math.sqrt(n)


def beta_cdf(p: float, a: float, b: float) -> torch.Tensor:
    """P(X <= p) for X ~ Beta(a, b), integrating the density after x = u^(1/a) (smooth at 0 for any a)."""
    if p > 0.5:
        return 1 - beta_cdf(1 - p, b, a)
    u = torch.linspace(0, p**a, 20_001, dtype=F64)
    x = u ** (1 / a)
    log_b = math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b)
    g = (1 - x) ** (b - 1) / (a * math.exp(log_b))  # pdf(x) dx/du
    return torch.trapezoid(g, u)


def test_sample_beta_is_reproducible_from_its_generator_and_survives_tiny_shapes() -> None:
    assert torch.equal(sample_beta(50, 0.4, 0.4, gen(1)), sample_beta(50, 0.4, 0.4, gen(1)))
    assert not torch.equal(sample_beta(50, 0.4, 0.4, gen(1)), sample_beta(50, 0.4, 0.4, gen(2)))
    tiny = sample_beta(2000, 0.01, 0.01, gen(0))  # Gamma(0.01) samples underflow outside logs
    assert not tiny.isnan().any()
    assert ((tiny < 1e-3) | (tiny > 1 - 1e-3)).double().mean().item() > 0.9  # mass at the ends


def test_mixup_lambdas_fold_to_the_upper_half() -> None:
    lam = mixup_lambdas(10_000, 0.4, gen(0))
    raw = sample_beta(10_000, 0.4, 0.4, gen(0))
    assert torch.equal(lam, torch.maximum(raw, 1 - raw))
    assert lam.min().item() >= 0.5 and lam.max().item() <= 1.0
    with pytest.raises(ValueError, match="mixup_lambdas: expected alpha to be a finite number > 0"):
        mixup_lambdas(4, 0.0)


# ---- mixing ---------------------------------------------------------------------------------------


def test_mix_batch_is_one_lambda_per_image() -> None:
    x = randn(6, 3, 4, 4, seed=1)
    lam = torch.tensor([0.5, 0.6, 0.7, 0.8, 0.9, 1.0], dtype=F64)
    perm = torch.tensor([3, 0, 5, 1, 2, 4])
    expected = torch.stack([lam[i] * x[i] + (1 - lam[i]) * x[perm[i]] for i in range(6)])
    check_close(mix_batch(x, lam, perm), expected, what="mix_batch", **CLOSE64)
    assert torch.equal(mix_batch(x, lam, perm)[5], x[5])  # lam = 1 keeps the image


def test_mix_batch_refuses_mismatched_shapes_and_integer_images() -> None:
    x = randn(4, 3, seed=0)
    with pytest.raises(ValueError, match=r"expected lam and perm of shape \(4,\) .* got \(3,\) and \(4,\)"):
        mix_batch(x, torch.ones(3, dtype=F64), torch.arange(4))
    with pytest.raises(TypeError, match="mix_batch: expected x"):
        mix_batch(torch.zeros(4, 3, dtype=torch.uint8), torch.ones(4), torch.arange(4))


# ---- the loss, mixed per sample ---------------------------------------------------------------


def loss_2019(pred, y1, y2, lam):  # noqa: ANN001, ANN201
    """The 2019 course's formula: per-sample losses (N,) times a lam of shape (N, 1, 1, 1), then mean."""
    l1 = F.cross_entropy(pred, y1, reduction="none")
    l2 = F.cross_entropy(pred, y2, reduction="none")
    lam4 = lam.view(-1, 1, 1, 1)
    return (l1 * lam4 + l2 * (1 - lam4)).mean()  # broadcasts to (N, 1, 1, N)


def test_mixup_loss_mixes_per_sample_not_with_the_batch_mean_lambda() -> None:
    pred = randn(8, 5, seed=2) * 3
    y1 = torch.randint(0, 5, (8,), generator=gen(0))
    y2 = y1[torch.randperm(8, generator=gen(1))]
    lam = torch.tensor([0.5, 1.0, 0.55, 0.95, 0.6, 0.9, 0.7, 0.99], dtype=F64)
    per_sample = [lam[i] * F.cross_entropy(pred[i], y1[i]) + (1 - lam[i]) * F.cross_entropy(pred[i], y2[i])
                  for i in range(8)]
    expected = torch.stack(per_sample)
    for red, exp in (("none", expected), ("mean", expected.mean()), ("sum", expected.sum())):
        check_close(mixup_loss(F.cross_entropy, pred, y1, y2, lam, red), exp, what=f"mixup_loss {red}", **CLOSE64)
    # the 2019 formula is the mix with the batch-mean lambda of the mean losses: not ours
    old = loss_2019(pred, y1, y2, lam)
    l1, l2 = F.cross_entropy(pred, y1), F.cross_entropy(pred, y2)
    check_close(old, lam.mean() * l1 + (1 - lam.mean()) * l2, what="2019 formula", **CLOSE64)
    assert abs(old.item() - expected.mean().item()) > 1e-2


def test_mixup_loss_gradient_matches_the_explicit_mix() -> None:
    pred = randn(6, 4, seed=5).requires_grad_()
    y1, y2 = torch.tensor([0, 1, 2, 3, 0, 1]), torch.tensor([3, 2, 1, 0, 1, 0])
    lam = torch.tensor([0.5, 0.6, 0.7, 0.8, 0.9, 1.0], dtype=F64)
    (g,) = torch.autograd.grad(mixup_loss(cross_entropy, pred, y1, y2, lam), pred)
    ref = (lam * F.cross_entropy(pred, y1, reduction="none") + (1 - lam) * F.cross_entropy(pred, y2, reduction="none"))
    (g_ref,) = torch.autograd.grad(ref.mean(), pred)
    check_close(g, g_ref, what="gradient of mixup_loss", **CLOSE64)


def test_per_sample_loss_three_ways_and_reduction_restored() -> None:
    pred, y = randn(5, 3, seed=0), torch.tensor([0, 2, 1, 1, 0])
    expected = F.cross_entropy(pred, y, reduction="none")
    module = nn.CrossEntropyLoss()
    for f in (module, F.cross_entropy, cross_entropy, LabelSmoothingCrossEntropy(0.0)):
        check_close(per_sample_loss(f, pred, y), expected, what=f"per_sample_loss({f})", **CLOSE64)
    assert module.reduction == "mean"
    ls = LabelSmoothingCrossEntropy(0.1)
    with pytest.raises(ValueError):
        per_sample_loss(ls, pred, torch.tensor([0, 2, 1, 1, 7]))  # the loss fails mid-call
    assert ls.reduction == "mean"
    with pytest.raises(ValueError, match=r"one loss per sample, shape \(5,\), got \(\)"):
        per_sample_loss(lambda p, t, reduction="mean": p.sum(), pred, y)


# ---- label smoothing --------------------------------------------------------------------------------


@settings(max_examples=30)
@given(eps=st.floats(0.0, 1.0), n=st.integers(1, 6), k=st.integers(1, 7), seed=st.integers(0, 1000),
       reduction=st.sampled_from(["mean", "sum", "none"]))
def test_label_smoothing_equals_torch(eps: float, n: int, k: int, seed: int, reduction: str) -> None:
    pred = (randn(n, k, seed=seed) * 4).requires_grad_()
    y = torch.randint(0, k, (n,), generator=gen(seed))
    got = label_smoothing_cross_entropy(pred, y, eps, reduction)
    exp = F.cross_entropy(pred, y, label_smoothing=eps, reduction=reduction)
    check_close(got, exp, what=f"label_smoothing_cross_entropy eps={eps} {reduction}", **CLOSE64)
    w = torch.randn(exp.shape, generator=gen(seed + 1), dtype=F64)  # a random cotangent, so "none" is checked row by row
    (g,) = torch.autograd.grad((got * w).sum(), pred)
    (g_ref,) = torch.autograd.grad((exp * w).sum(), pred)
    check_close(g, g_ref, what="gradient of label_smoothing_cross_entropy", **CLOSE64)


def test_label_smoothing_zero_is_cross_entropy_and_class_form() -> None:
    pred, y = randn(7, 4, seed=1), torch.tensor([0, 1, 2, 3, 3, 2, 1])
    check_close(label_smoothing_cross_entropy(pred, y, 0.0), cross_entropy(pred, y), what="eps=0", **CLOSE64)
    loss = LabelSmoothingCrossEntropy(0.2, "sum")
    check_close(loss(pred, y), F.cross_entropy(pred, y, label_smoothing=0.2, reduction="sum"), what="class", **CLOSE64)
    assert repr(loss) == "LabelSmoothingCrossEntropy(eps=0.2, reduction='sum')"


def test_label_smoothing_refuses_bad_arguments() -> None:
    pred, y = randn(2, 3, seed=0), torch.tensor([0, 1])
    with pytest.raises(ValueError, match=r"expected eps to be a number in \[0, 1\], got float 1.5"):
        label_smoothing_cross_entropy(pred, y, 1.5)
    with pytest.raises(ValueError, match="expected reduction to be one of 'mean', 'sum', 'none', got str 'avg'"):
        LabelSmoothingCrossEntropy(0.1, "avg")
    with pytest.raises(ValueError, match=r"expected target values in \[0, 3\)"):
        label_smoothing_cross_entropy(pred, torch.tensor([0, 3]))
    with pytest.raises(ValueError, match="reduce_loss: expected reduction"):
        reduce_loss(torch.ones(2), "max")


# ---- the callback -----------------------------------------------------------------------------------


class Spy(Callback):
    """Records each batch before the transforms, after them, and the loss."""

    def __init__(self, order: int, into: list) -> None:
        self.order, self.into = order, into

    def begin_batch(self) -> None:
        self.into.append((self.in_train, self.xb.clone(), self.yb.clone()))

    def after_loss(self) -> None:
        self.into.append(("loss", self.in_train, self.pred.detach().clone(), self.loss.detach().clone()))


class SpyAfter(Spy):
    """The same, under another name (a learner holds one callback per name)."""


def _learner(seed: int = 0):  # noqa: ANN202
    torch.manual_seed(seed)
    data = tiny_data(48, 16, 5, 3, bs=16, seed=seed, dtype=F64)
    model = nn.Linear(5, 3).double()
    return Learner(model, data, F.cross_entropy, opt_func=SGD, lr=0.1)


def test_mixup_callback_mixes_training_batches_only_and_mixes_the_loss_per_sample() -> None:
    learn = _learner()
    raw, mixed = [], []
    mix = MixUp(0.4, generator=gen(7))
    learn.fit(1, cbs=[Spy(Order.DEVICE - 1, raw), mix, SpyAfter(Order.TRANSFORM + 2, mixed)])
    # replay the callback's draws from the same generator: lam then perm per training batch
    replay = gen(7)
    raw = [r for r in raw if r[0] != "loss"]
    assert [r[0] for r in raw] == [True] * 3 + [False]  # 48 training samples in 3 batches, 16 to validate
    batches = [m for m in mixed if m[0] != "loss"]
    losses = [m for m in mixed if m[0] == "loss"]
    for (_, x, y), (_, xm, ym), (_, in_train, pred, loss) in zip(raw, batches, losses):
        if in_train:
            lam = mixup_lambdas(len(y), 0.4, replay)
            perm = torch.randperm(len(y), generator=replay)
            assert len(set(lam.tolist())) == len(y)  # one lambda per image
            check_close(xm, mix_batch(x, lam, perm), what="mixed batch", **CLOSE64)
            per = lam * F.cross_entropy(pred, y, reduction="none") + (1 - lam) * F.cross_entropy(
                pred, y[perm], reduction="none")
            check_close(loss, per.mean(), what="training loss", **CLOSE64)
            assert abs(loss.item() - loss_2019(pred, y, y[perm], lam).item()) > 1e-6
        else:
            assert torch.equal(xm, x)
            check_close(loss, F.cross_entropy(pred, y), what="validation loss", **CLOSE64)
    assert learn.loss_func is F.cross_entropy




def test_mixup_restores_the_loss_function_after_an_error() -> None:
    learn = _learner()

    class Boom(Callback):
        def after_pred(self) -> None:
            if self.in_train and self.iter == 1:
                raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        learn.fit(1, cbs=[MixUp(), Boom()])
    assert learn.loss_func is F.cross_entropy
    assert not any(isinstance(cb, MixUp) for cb in learn.cbs)


def test_mixup_is_reproducible_and_checks_its_batch() -> None:
    def run() -> list[float]:
        learn = _learner(1)
        rec: list = []
        learn.fit(2, cbs=[MixUp(0.4, gen(3)), Spy(Order.PROGRESS, rec)])
        return [r[3].item() for r in rec if r[0] == "loss"]

    assert run() == run()
    learn = _learner()
    learn.data.train_dl = [(torch.zeros(4, 5, dtype=torch.uint8), torch.zeros(4, dtype=torch.int64))]
    with pytest.raises(TypeError, match="MixUp: expected a floating-point batch"):
        learn.fit(1, cbs=[MixUp()])
    assert learn.loss_func is F.cross_entropy
    with pytest.raises(ValueError, match="MixUp: expected alpha to be a finite number > 0"):
        MixUp(-1.0)
    with pytest.raises(TypeError, match="MixUp: expected generator to be a torch.Generator or None"):
        MixUp(0.4, generator=3)
