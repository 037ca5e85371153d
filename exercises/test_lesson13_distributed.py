"""Grader for exercises/lesson13_distributed.py (Lesson 13, training on several processes).

Run ``pytest exercises -k shard_indices`` (or ``large_batch_lr``).

- ``shard_indices``: against ``torch.utils.data.DistributedSampler`` for datasets of 1 to 1,000
  items, 1 to 8 ranks (fewer items than ranks too), several epochs and seeds, shuffled or not;
- ``large_batch_lr``: against the docstring's formulas at the start, middle and end of the warm-up
  and after it, for several batch sizes (including the base one and a smaller one).

The library's ``DistributedSampler``, ``linear_scaling_lr`` and ``gradual_warmup``, and PyTorch's
sampler, are swapped out during your call.
"""

from __future__ import annotations

import math
from types import ModuleType

import pytest
from torch.utils.data import DistributedSampler

from exercises._rules import Forbidden, attempt_without

pytestmark = pytest.mark.lesson13

SHARD_RULES = Forbidden(
    ("foundations.perf.distributed.DistributedSampler", "foundations.perf.DistributedSampler",
     "torch.utils.data.DistributedSampler", "torch.utils.data.distributed.DistributedSampler"),
    "this exercise asks you to write the shard yourself (torch.randperm and list slicing)",
)
LR_RULES = Forbidden(
    ("foundations.perf.distributed.linear_scaling_lr", "foundations.perf.distributed.gradual_warmup",
     "foundations.perf.linear_scaling_lr", "foundations.perf.gradual_warmup"),
    "this exercise asks you to write the rule yourself (plain arithmetic)",
)


@pytest.fixture(scope="module")
def ex(impl) -> ModuleType:  # noqa: ANN001
    return impl("lesson13_distributed")


SHARD_CASES = {
    "10 items, rank 0 of 2, epoch 0": (10, 0, 2, 0, 0, True),
    "10 items, rank 1 of 2, epoch 3": (10, 1, 2, 3, 0, True),
    "7 items, rank 2 of 3 (padded), seed 5": (7, 2, 3, 1, 5, True),
    "1,000 items, rank 5 of 8, epoch 2": (1000, 5, 8, 2, 0, True),
    "3 items, rank 4 of 8 (fewer items than ranks)": (3, 4, 8, 0, 0, True),
    "1 item, rank 0 of 1": (1, 0, 1, 0, 0, True),
    "9 items in order, rank 1 of 4": (9, 1, 4, 0, 0, False),
}


@pytest.mark.parametrize("name", list(SHARD_CASES))
def test_shard_indices_against_pytorchs_sampler(ex: ModuleType, name: str) -> None:
    n, rank, world, epoch, seed, shuffle = SHARD_CASES[name]
    sampler = DistributedSampler(range(n), num_replicas=world, rank=rank, shuffle=shuffle, seed=seed)
    sampler.set_epoch(epoch)
    expected = list(sampler)
    got = attempt_without(SHARD_RULES, ex.shard_indices, n, rank, world, epoch, seed, shuffle)
    where = f"shard_indices with {name}"
    assert isinstance(got, list) and all(isinstance(i, int) for i in got), (
        f"{where}: expected a list of ints, got {type(got).__name__} {got!r:.80}")
    assert len(got) == math.ceil(n / world), f"{where}: expected {math.ceil(n / world)} indices (every rank as many), got {len(got)}"
    assert got == expected, f"{where}: expected {expected[:12]}{' ...' if len(expected) > 12 else ''}, got {got[:12]}"


LR_CASES = {
    "base 0.1 at 256, batch 8192, 100 warm-up steps": (0.1, 256, 8192, 100),
    "base 0.4 at 128, batch 1024, 10 warm-up steps": (0.4, 128, 1024, 10),
    "the base batch itself (k = 1)": (0.05, 64, 64, 20),
    "a smaller batch, 32 at base 256 (k = 1/8)": (0.2, 256, 32, 8),
    "no warm-up": (0.1, 256, 2048, 0),
}


@pytest.mark.parametrize("name", list(LR_CASES))
def test_large_batch_lr_against_the_rules(ex: ModuleType, name: str) -> None:
    base_lr, base_bs, bs, warm = LR_CASES[name]
    target = base_lr * bs / base_bs
    for step in sorted({0, warm // 2, max(warm - 1, 0), warm, warm + 1, 10 * warm + 7}):
        expected = base_lr + (target - base_lr) * step / warm if step < warm else target
        got = attempt_without(LR_RULES, ex.large_batch_lr, step, base_lr, base_bs, bs, warm)
        assert isinstance(got, (int, float)) and math.isclose(got, expected, rel_tol=1e-12, abs_tol=1e-15), (
            f"large_batch_lr with {name}, at step {step}: expected {expected:.6g}, got {got!r:.40}")
