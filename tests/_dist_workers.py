"""Functions ``tests/test_distributed.py`` runs on new processes with ``foundations.perf.spawn``.

They live in their own module, which imports nothing from the tests' ``conftest``: a spawned process
imports the function's module afresh, and which ``conftest`` it would find depends on ``sys.path``.
"""

from __future__ import annotations

import torch

from foundations.perf import distributed as D


def bucket_worker(cap: int) -> tuple[list[list[float]], int]:
    """On each rank: tensors holding the rank's number, averaged in buckets."""
    rank, world = D.rank_and_world()
    tensors = [torch.full((n,), float(rank + 1)) for n in (3, 5, 2, 7)]
    count = D.bucketed_all_reduce(tensors, cap)
    return [t.tolist() for t in tensors], count
