"""Grader for exercises/lesson12_mixup.py (Lesson 12, mixup and label smoothing).

Run ``pytest exercises -k mixup_batch`` (or ``label_smoothed_ce``, ``beta_density``).

- ``mixup_batch``: the grader replays your generator's draws (``sample_beta``, then ``randperm``)
  and compares the mixture, the shuffled labels and the weights with its own, in float64, on
  batches of vectors and of images, α from 0.1 to 5;
- ``label_smoothed_ce``: values and gradients against ``F.cross_entropy(..., label_smoothing=eps)``
  in float64, for ε from 0 to 1, logits up to ±1000;
- ``beta_density``: against ``torch.distributions.Beta(a, b).log_prob(x).exp()`` for shapes from
  0.05 to 300.

During your call the library's mixup and label smoothing, and ``torch.distributions``, are swapped
out (``exercises/_rules.py``).
"""

from __future__ import annotations

from types import ModuleType

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor

from exercises._rules import Forbidden, attempt_without
from foundations.callbacks import sample_beta
from foundations.testing import check_close

pytestmark = pytest.mark.lesson12

F64 = torch.float64
TOL = {"atol": 1e-12, "rtol": 1e-10}

MIXUP_RULES = Forbidden(
    ("foundations.callbacks.mixup.mix_batch", "foundations.callbacks.mixup.mixup_lambdas",
     "foundations.callbacks.mixup.MixUp", "foundations.callbacks.mix_batch", "foundations.callbacks.mixup_lambdas",
     "foundations.callbacks.MixUp"),
    "this exercise asks you to write yourself (sample_beta, torch.maximum, torch.randperm)",
)
LS_RULES = Forbidden(
    ("foundations.losses.label_smoothing_cross_entropy", "foundations.losses.LabelSmoothingCrossEntropy",
     "torch.nn.functional.cross_entropy", "torch.nn.CrossEntropyLoss"),
    "this exercise asks you to write yourself (log_softmax, a gather and a mean)",
)
BETA_RULES = Forbidden(
    ("torch.distributions.Beta", "torch.distributions.beta.Beta", "foundations.callbacks.mixup.beta_pdf",
     "foundations.callbacks.beta_pdf"),
    "this exercise asks you to write yourself (math.lgamma, torch.log, exp)",
)


@pytest.fixture(scope="module")
def ex(impl) -> ModuleType:  # noqa: ANN001
    return impl("lesson12_mixup")


def _randn(*shape: int, seed: int, scale: float = 1.0) -> Tensor:
    return torch.randn(shape, dtype=F64, generator=torch.Generator().manual_seed(seed)) * scale


# ---- mixup_batch ------------------------------------------------------------------------------------

MIX_CASES = {
    "a batch of 8 vectors of length 5, alpha 0.4": ((8, 5), 0.4, 0),
    "a batch of 6 images 3x4x4, alpha 0.4": ((6, 3, 4, 4), 0.4, 1),
    "a batch of 16 images 1x2x2, alpha 0.1": ((16, 1, 2, 2), 0.1, 2),
    "a batch of 5 vectors of length 3, alpha 5": ((5, 3), 5.0, 3),
    "a batch of 1 vector of length 4, alpha 1": ((1, 4), 1.0, 4),
}


@pytest.mark.parametrize("name", list(MIX_CASES))
def test_mixup_batch_against_replayed_draws(ex: ModuleType, name: str) -> None:
    shape, alpha, seed = MIX_CASES[name]
    xb = _randn(*shape, seed=seed)
    yb = torch.randint(0, 10, (shape[0],), generator=torch.Generator().manual_seed(seed + 100))
    given = xb.clone()
    got = attempt_without(MIXUP_RULES, ex.mixup_batch, given, yb, alpha, torch.Generator().manual_seed(seed))
    where = f"mixup_batch on {name}"
    assert torch.equal(given, xb), f"{where}: the batch xb changed; return a new tensor"
    assert isinstance(got, tuple) and len(got) == 3, f"{where}: expected a tuple (mixed, yb[perm], lam), got {got!r:.80}"
    mixed, y2, lam = got
    g = torch.Generator().manual_seed(seed)
    exp_lam = sample_beta(shape[0], alpha, alpha, g)
    exp_lam = torch.maximum(exp_lam, 1 - exp_lam)
    perm = torch.randperm(shape[0], generator=g)
    w = exp_lam.view(shape[0], *([1] * (len(shape) - 1)))
    check_close(lam, exp_lam, what=f"{where}: the weights lam (sample_beta, then max(lam, 1 - lam))", **TOL)
    assert isinstance(y2, Tensor) and torch.equal(y2, yb[perm]), (
        f"{where}: expected the shuffled labels yb[perm] = {yb[perm].tolist()}, got {y2!r:.80}")
    check_close(mixed, w * xb + (1 - w) * xb[perm], what=f"{where}: the mixed batch", dtype="match", **TOL)


def test_mixup_batch_keeps_float32(ex: ModuleType) -> None:
    xb = _randn(4, 3, 2, 2, seed=9).float()
    mixed, _, _ = attempt_without(MIXUP_RULES, ex.mixup_batch, xb, torch.arange(4), 0.4, torch.Generator().manual_seed(0))
    assert isinstance(mixed, Tensor) and mixed.dtype == torch.float32 and mixed.shape == xb.shape, (
        f"mixup_batch on a float32 batch (4, 3, 2, 2): expected a float32 result of the same shape, got "
        f"{getattr(mixed, 'dtype', type(mixed).__name__)} {tuple(getattr(mixed, 'shape', ()))}")


# ---- label_smoothed_ce ------------------------------------------------------------------------------

LS_CASES = {
    "8x10 logits, eps 0.1": ((8, 10), 1.0, 0.1, 0),
    "4x3 logits, eps 0 (plain cross-entropy)": ((4, 3), 1.0, 0.0, 1),
    "5x7 logits, eps 1 (uniform target)": ((5, 7), 2.0, 1.0, 2),
    "3x4 logits of size 1000, eps 0.2": ((3, 4), 1000.0, 0.2, 3),
    "1x2 logits, eps 0.5": ((1, 2), 3.0, 0.5, 4),
}


@pytest.mark.parametrize("name", list(LS_CASES))
def test_label_smoothed_ce_against_torch(ex: ModuleType, name: str) -> None:
    shape, scale, eps, seed = LS_CASES[name]
    pred = _randn(*shape, seed=seed, scale=scale).requires_grad_()
    target = torch.randint(0, shape[1], (shape[0],), generator=torch.Generator().manual_seed(seed))
    got = attempt_without(LS_RULES, ex.label_smoothed_ce, pred, target, eps)
    expected = F.cross_entropy(pred, target, label_smoothing=eps)
    where = f"label_smoothed_ce on {name}"
    check_close(got, expected, what=where, dtype="match", **TOL)
    assert isinstance(got, Tensor) and got.requires_grad, f"{where}: the loss must carry a gradient (keep it a tensor)"
    (g,) = torch.autograd.grad(got, pred)
    (g_ref,) = torch.autograd.grad(expected, pred)
    check_close(g, g_ref, what=f"{where}: the gradient with respect to pred", **TOL)


# ---- beta_density -----------------------------------------------------------------------------------

BETA_CASES = {
    "Beta(0.4, 0.4)": (0.4, 0.4),
    "Beta(1, 1), the uniform": (1.0, 1.0),
    "Beta(2, 5)": (2.0, 5.0),
    "Beta(0.05, 3)": (0.05, 3.0),
    "Beta(300, 300), where Gamma overflows": (300.0, 300.0),
}


@pytest.mark.parametrize("name", list(BETA_CASES))
def test_beta_density_against_torch_distributions(ex: ModuleType, name: str) -> None:
    a, b = BETA_CASES[name]
    x = torch.linspace(0.01, 0.99, 99, dtype=F64)
    if a > 100:
        x = torch.linspace(0.45, 0.55, 51, dtype=F64)  # where the density is not negligible
    expected = torch.distributions.Beta(torch.tensor(a, dtype=F64), torch.tensor(b, dtype=F64)).log_prob(x).exp()
    got = attempt_without(BETA_RULES, ex.beta_density, x.clone(), a, b)
    check_close(got, expected, what=f"beta_density of {name} at 0.01, ..., 0.99", dtype="match", atol=1e-10, rtol=1e-9)
