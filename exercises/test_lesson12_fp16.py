"""Grader for exercises/lesson12_fp16.py (Lesson 12, "Mixed precision").

Run ``pytest exercises -k grads_overflow`` or ``-k update_loss_scale``. ``grads_overflow`` is
compared with ``torch.isfinite`` on lists of gradients (float16, bfloat16 and float32; ``None`` and
empty entries; an inf or a nan in one place; large finite float16 values whose sum overflows).
``update_loss_scale`` is run step by step over scripted sequences of clean and overflowing steps,
and its scales and skipped steps compared with those of ``torch.amp.GradScaler("cpu", ...)`` on the
same sequence. During your call ``foundations.callbacks.fp16`` is swapped out (``exercises/_rules.py``).
"""

from __future__ import annotations

from types import ModuleType

import pytest
import torch
from torch import Tensor, nn

from exercises._rules import Forbidden, attempt_without

pytestmark = pytest.mark.lesson12

RULES = Forbidden(("foundations.callbacks.fp16.*",), "this exercise asks you to write yourself")


def attempt(fn, *args):  # noqa: ANN001, ANN002, ANN201
    return attempt_without(RULES, fn, *args)


@pytest.fixture(scope="module")
def ex(impl) -> ModuleType:  # noqa: ANN001
    return impl("lesson12_fp16")


def _g(*shape: int, seed: int, dtype: torch.dtype = torch.float32) -> Tensor:
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed)).to(dtype)


def _poke(t: Tensor, index: int, value: float) -> Tensor:
    t = t.clone()
    t.view(-1)[index] = value
    return t


INF, NAN = float("inf"), float("nan")
CASES: dict[str, list[Tensor | None]] = {
    "three clean float32 gradients": [_g(4, 3, seed=0), _g(3, seed=1), _g(2, 2, 2, seed=2)],
    "clean float16 gradients with a None": [_g(5, seed=3, dtype=torch.float16), None, _g(2, 3, seed=4).half()],
    "an empty list": [],
    "only None": [None, None],
    "an empty tensor and a clean one": [torch.zeros(0), _g(3, seed=5)],
    "+inf in the last entry of the second tensor": [_g(3, seed=6), _poke(_g(4, 4, seed=7), 15, INF)],
    "-inf in a float16 gradient": [_poke(_g(8, seed=8, dtype=torch.float16), 3, -INF)],
    "nan in the first entry of a bfloat16 gradient": [None, _poke(_g(2, 5, seed=9, dtype=torch.bfloat16), 0, NAN)],
    "nan in a float32 gradient after a None": [None, _g(3, seed=10), _poke(_g(6, seed=11), 2, NAN)],
    "4096 float16 values of 60000 (finite; their float16 sum is inf)": [torch.full((4096,), 60000.0).half()],
    "float16 values of 65504, the largest finite": [torch.full((3, 3), 65504.0).half()],
    "float32 values of 3e38 (finite; their sum is inf)": [torch.full((10,), 3e38)],
    "+inf and -inf in one tensor (their sum is nan)": [torch.tensor([INF, -INF, 1.0])],
}


@pytest.mark.parametrize("name", list(CASES))
def test_grads_overflow(ex: ModuleType, name: str) -> None:
    grads = CASES[name]
    copies = [None if g is None else g.clone() for g in grads]
    got = attempt(ex.grads_overflow, list(grads))
    expected = any(g is not None and not bool(torch.isfinite(g).all()) for g in grads)
    if isinstance(got, Tensor) and got.numel() == 1:
        got = bool(got.item())
    assert isinstance(got, bool), f"grads_overflow on {name}: expected a Python bool, got {type(got).__name__}"
    assert got == expected, f"grads_overflow on {name}: got {got}, expected {expected}"
    for g, c in zip(grads, copies):
        assert g is None or torch.equal(g.nan_to_num(), c.nan_to_num()), f"grads_overflow on {name}: a gradient changed"


def _gradscaler(bad: set[int], n: int, init_scale: float, interval: int) -> list[tuple[float, bool]]:
    p = nn.Parameter(torch.ones(2))
    opt = torch.optim.SGD([p], lr=0.1)
    scaler = torch.amp.GradScaler("cpu", init_scale=init_scale, growth_interval=interval)
    out = []
    for i in range(n):
        opt.zero_grad()
        scaler.scale((p * p).sum() * (INF if i in bad else 1.0)).backward()
        before = p.detach().clone()
        scaler.step(opt)
        scaler.update()
        out.append((scaler.get_scale(), bool(torch.equal(before, p.detach()))))
    return out


SEQUENCES = {
    "12 clean steps, growth_interval 3, scale 1024": (set(), 12, 1024.0, 3),
    "overflows at steps 0, 1, 2 (scale 65536, growth_interval 2)": ({0, 1, 2}, 8, 65536.0, 2),
    "overflow at step 4 of 10, growth_interval 4": ({4}, 10, 256.0, 4),
    "overflows at steps 2, 3, 7, 8, 13 of 16, growth_interval 3": ({2, 3, 7, 8, 13}, 16, 2.0**24, 3),
    "alternating clean and overflow, growth_interval 1": ({1, 3, 5, 7}, 9, 16.0, 1),
}


@pytest.mark.parametrize("name", list(SEQUENCES))
def test_update_loss_scale_against_gradscaler(ex: ModuleType, name: str) -> None:
    bad, n, init, interval = SEQUENCES[name]
    ref = _gradscaler(bad, n, init, interval)
    scale, clean = init, 0
    for i, (ref_scale, ref_skip) in enumerate(ref):
        out = attempt(ex.update_loss_scale, scale, clean, i in bad, interval)
        assert isinstance(out, tuple) and len(out) == 3, (
            f"update_loss_scale on {name}, step {i}: expected a tuple (new_scale, new_clean_steps, skip), got {out!r}")
        new_scale, new_clean, skip = out
        assert bool(skip) == ref_skip, (
            f"update_loss_scale on {name}, step {i} (overflow: {i in bad}, scale {scale:g}, {clean} clean steps): "
            f"skip is {skip}, GradScaler {'skipped' if ref_skip else 'stepped'}")
        assert float(new_scale) == ref_scale, (
            f"update_loss_scale on {name}, step {i} (overflow: {i in bad}, scale {scale:g}, {clean} clean steps): "
            f"new scale {new_scale:g}, GradScaler's is {ref_scale:g}")
        scale, clean = float(new_scale), int(new_clean)
