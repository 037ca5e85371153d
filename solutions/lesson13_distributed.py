"""Lesson 13 exercises: one rank's shard of an epoch, and Goyal et al.'s learning rate for large batches.

Page: lessons/13_distributed. Replace each ``raise NotImplementedError`` line with your code, then
grade it:

    .venv/bin/pytest exercises -k shard_indices
    .venv/bin/pytest exercises -k large_batch_lr

The graders compare ``shard_indices`` with ``torch.utils.data.DistributedSampler`` and
``large_batch_lr`` with the formulas of the docstring. Use ``torch.randperm`` and list slicing, and
plain arithmetic; ``foundations.perf``'s ``DistributedSampler``, ``linear_scaling_lr`` and
``gradual_warmup`` (and PyTorch's sampler) are refused during grading.
"""

from __future__ import annotations

import torch


def shard_indices(n: int, rank: int, world_size: int, epoch: int, seed: int = 0, shuffle: bool = True) -> list[int]:
    """The indices of ``range(n)`` that rank ``rank`` of ``world_size`` trains on in epoch ``epoch``.

    1. The epoch's order, the same on every rank: ``torch.randperm(n, generator=g)`` with
       ``g = torch.Generator().manual_seed(seed + epoch)`` (``shuffle=False``: ``0, 1, ..., n-1``),
       as a list;
    2. padded by repeating its start until its length is ``world_size * ceil(n / world_size)``
       (when ``n < world_size`` the start may repeat more than once), so every rank gets as many;
    3. rank ``rank`` keeps every ``world_size``-th index from position ``rank``.

    Equals ``list(torch.utils.data.DistributedSampler(range(n), world_size, rank, shuffle, seed))``
    after ``set_epoch(epoch)``.

    >>> shard_indices(5, 1, 2, 0, shuffle=False)
    [1, 3, 0]
    """
    # BEGIN SOLUTION
    if shuffle:
        g = torch.Generator().manual_seed(seed + epoch)
        order = torch.randperm(n, generator=g).tolist()
    else:
        order = list(range(n))
    total = world_size * -(-n // world_size)
    while len(order) < total:
        order += order[: total - len(order)]
    return order[rank::world_size]
    # END SOLUTION


def large_batch_lr(step: int, base_lr: float, base_bs: int, bs: int, warmup_steps: int) -> float:
    """The learning rate at ``step`` (0, 1, ...) for a batch of ``bs``, by Goyal et al. 2017's rules.

    Linear scaling: with ``k = bs / base_bs``, the target rate is ``k * base_lr``. Gradual warm-up:
    for ``step < warmup_steps`` the rate rises in a straight line from ``base_lr`` at step 0 towards
    the target, ``base_lr + (k * base_lr - base_lr) * step / warmup_steps``; from ``warmup_steps``
    on it is the target. ``warmup_steps = 0`` means no warm-up.

    >>> [round(large_batch_lr(t, 0.1, 256, 8192, 100), 6) for t in (0, 50, 100, 500)]
    [0.1, 1.65, 3.2, 3.2]
    """
    # BEGIN SOLUTION
    target = base_lr * bs / base_bs
    if step < warmup_steps:
        return base_lr + (target - base_lr) * step / warmup_steps
    return target
    # END SOLUTION
