"""foundations.perf.distributed: the sampler against PyTorch's, the ring all-reduce against a sum,
bucketed all-reduces on two real processes, the large-batch rules, and the check that matters:
two processes with DDP end with the weights one process gets from the same global batches.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch.utils.data import DistributedSampler as TorchDistributedSampler

from _dist_workers import bucket_worker
from conftest import CLOSE64, tiny_data
from foundations.learner import Learner
from foundations.losses import cross_entropy
from foundations.perf import distributed as D
from foundations.perf.distributed import (
    DistributedSampler, DistributedTrainer, gradual_warmup, launch, linear_scaling_lr, ring_all_reduce, spawn,
)
from foundations.schedule import sched_cos
from foundations.testing import check_close

pytestmark = pytest.mark.lesson13

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "lessons" / "ddp_mnist.py"


@given(st.integers(1, 60), st.integers(1, 5), st.data(), st.integers(0, 3), st.booleans(), st.booleans(), st.integers(1, 9))
def test_sampler_equals_pytorchs(n: int, world: int, data: st.DataObject, epoch: int, shuffle: bool, drop_last: bool, bs: int) -> None:
    if drop_last and n < world:
        return
    rank = data.draw(st.integers(0, world - 1))
    ours = DistributedSampler(n, bs, rank, world, shuffle=shuffle, seed=3, drop_last=drop_last)
    theirs = TorchDistributedSampler(range(n), num_replicas=world, rank=rank, shuffle=shuffle, seed=3, drop_last=drop_last)
    ours.set_epoch(epoch)
    theirs.set_epoch(epoch)
    assert ours.indices() == list(theirs)
    batches = list(ours)
    assert len(batches) == len(ours) == math.ceil(len(theirs) / bs)
    assert sum(batches, []) == list(theirs) and all(len(b) == bs for b in batches[:-1])


@given(st.integers(2, 40), st.integers(1, 4))
def test_shards_are_disjoint_and_cover_the_epoch(n: int, world: int) -> None:
    shards = [DistributedSampler(n, 4, r, world, seed=1).indices() for r in range(world)]
    assert len({len(s) for s in shards}) == 1  # the same number of steps on every rank
    flat = sum(shards, [])
    assert sorted(set(flat)) == list(range(n)) and len(flat) - n < world  # padding only to divide by world


def test_global_batch_k_is_the_union_of_the_ranks_batch_k() -> None:
    one = list(DistributedSampler(48, 12, 0, 1, seed=5))
    two = [list(DistributedSampler(48, 6, r, 2, seed=5)) for r in range(2)]
    for k, batch in enumerate(one):
        assert sorted(batch) == sorted(two[0][k] + two[1][k])


def test_sampler_refuses_bad_arguments() -> None:
    with pytest.raises(ValueError, match=r"expected rank to be an int in \[0, 1\], got int 2"):
        DistributedSampler(10, 2, rank=2, world_size=2)
    with pytest.raises(ValueError, match="at least world_size=4 items with drop_last, got 3"):
        DistributedSampler(3, 1, 0, 4, drop_last=True)
    with pytest.raises(ValueError, match="expected epoch"):
        DistributedSampler(3, 1).set_epoch(-1)


@given(st.integers(1, 7), st.integers(1, 30), st.integers(0, 10_000))
def test_ring_all_reduce_gives_every_rank_the_sum(world: int, size: int, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    tensors = [torch.randn(size, 2, generator=g, dtype=torch.float64) for _ in range(world)]
    results, sent = ring_all_reduce(tensors)
    total = torch.stack(tensors).sum(0)
    assert len(results) == world
    for r, res in enumerate(results):
        check_close(res, total, what=f"rank {r}'s result", **CLOSE64)
    if (2 * size) % world == 0:  # equal chunks: each rank sends 2 (W - 1) / W of the tensor
        assert sent == 2 * (world - 1) * (2 * size) // world
    assert all(torch.equal(t, t0) for t, t0 in zip(tensors, [t.clone() for t in tensors]))  # inputs untouched


def test_ring_all_reduce_refuses_mismatched_ranks() -> None:
    with pytest.raises(ValueError, match=r"expected every rank's tensor of shape \(3,\), got \(4,\) at rank 1"):
        ring_all_reduce([torch.zeros(3), torch.zeros(4)])
    with pytest.raises(ValueError, match="a non-empty list of tensors"):
        ring_all_reduce([])


def test_bucketed_all_reduce_on_two_processes_averages_in_buckets() -> None:
    results = spawn(bucket_worker, 2, (16,))  # float32: 4 bytes each; 16 bytes hold 4 numbers
    for tensors, count in results:
        assert all(v == 1.5 for t in tensors for v in t)  # (1 + 2) / 2 on both ranks
        assert count == 4  # 7 | 2 | 5 | 3 numbers: none fit together in 16 bytes
    assert [c for _, c in spawn(bucket_worker, 2, (1 << 20,))] == [1, 1]


def test_spawn_refuses_a_function_it_cannot_import() -> None:
    def local() -> None: ...
    local.__module__ = "__main__"
    with pytest.raises(ValueError, match="expected fn to be a function importable from a module"):
        spawn(local)


def test_linear_scaling_and_gradual_warmup() -> None:
    assert linear_scaling_lr(0.1, 256, 8192) == pytest.approx(3.2)  # the paper's k = 32
    sched = gradual_warmup(0.1, 3.2, 0.1)
    assert sched(0.0) == pytest.approx(0.1) and sched(0.05) == pytest.approx(1.65) and sched(0.5) == 3.2
    cos = gradual_warmup(0.1, 3.2, 0.2, then=sched_cos(3.2, 0.0))
    assert cos(0.2) == pytest.approx(3.2) and cos(0.6) == pytest.approx(1.6) and cos(1.0) == pytest.approx(0.0)
    with pytest.raises(ValueError, match="expected base_lr"):
        linear_scaling_lr(0.0, 256, 512)
    with pytest.raises(ValueError, match=r"expected pos to be"):
        sched(1.5)


def test_init_distributed_without_torchrun_is_one_process(monkeypatch: pytest.MonkeyPatch) -> None:
    for v in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(v, raising=False)
    assert D.init_distributed() == (0, 1) and D.rank_and_world() == (0, 1)
    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(RuntimeError, match="RANK, LOCAL_RANK, MASTER_ADDR, MASTER_PORT are not: start the script with `torchrun"):
        D.init_distributed()


def test_trainer_on_one_process_shards_nothing_and_puts_everything_back() -> None:
    data = tiny_data(64, 16, 5, 3, bs=16, seed=0, dtype=torch.float64)
    model = torch.nn.Linear(5, 3).double()
    learn = Learner(model, data, cross_entropy, lr=0.1, cbs=[DistributedTrainer(seed=1)])
    seen = []
    learn.add_cbs(_Spy(seen))
    learn.fit(2)
    assert learn.model is model and learn.data is data
    assert [len(b) for b in seen] == [16] * 8 and sorted(sum(seen[:4], [])) == list(range(64))
    assert seen[:4] != seen[4:]  # set_epoch: a new order each epoch


class _Spy(D.Callback):
    def __init__(self, seen: list) -> None:
        self.seen = seen

    def begin_epoch(self) -> None:
        self.seen.extend(list(self.data.train_dl.sampler))


def test_trainer_refuses_a_batch_that_does_not_divide() -> None:
    data = tiny_data(30, 6, 4, 2, bs=15)
    learn = Learner(torch.nn.Linear(4, 2), data, cross_entropy, cbs=[DistributedTrainer()])
    learn.add_cbs(_FakeWorld())
    with pytest.raises(ValueError, match="expected the global batch size to divide by the 2 processes, got 15"):
        learn.fit(1)


class _FakeWorld(D.Callback):
    order = D.Order.DEVICE

    def begin_fit(self) -> None:
        D.rank_and_world = lambda: (0, 2)  # noqa: ARG005

    def after_fit(self) -> None:
        D.rank_and_world = _REAL_RANK_AND_WORLD


_REAL_RANK_AND_WORLD = D.rank_and_world


def test_two_processes_end_with_the_weights_of_one(tmp_path: Path) -> None:
    """The issue's check: DDP on 2 gloo processes vs 1 process, same global batch 64, float64."""
    args = ["--n-train", "2048", "--n-valid", "256", "--bs", "64", "--epochs", "2", "--float64"]
    out1 = launch(SCRIPT, 1, [*args, "--save", str(tmp_path / "one.pt")])
    out2 = launch(SCRIPT, 2, [*args, "--save", str(tmp_path / "two.pt")])
    assert '"processes": 1' in out1 and '"processes": 2' in out2
    one, two = torch.load(tmp_path / "one.pt"), torch.load(tmp_path / "two.pt")
    assert one.keys() == two.keys()
    for k in one:
        check_close(two[k], one[k], what=f"parameter {k} after 2 epochs on 2 processes", atol=1e-10, rtol=1e-8)


def test_launch_reports_a_failing_script(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("raise SystemExit('rank failed on purpose')\n")
    with pytest.raises(RuntimeError, match=r"launch: torchrun exited with 1 running bad.py:\n(.|\n)*rank failed on purpose"):
        launch(bad, 2)
    with pytest.raises(FileNotFoundError, match="expected script to be a Python file"):
        launch(tmp_path / "none.py")


def test_time_split_all_reduce_sends_the_same_numbers_in_more_or_fewer_calls() -> None:
    """Li et al. 2020's Figure 2 measurement (book/papers/li2020): the number of calls is ceil(total / k)."""
    results = spawn(D.time_split_all_reduce, 2, (200, [200, 30, 1], 2))
    for out in results:
        assert {k: calls for k, (_, calls) in out.items()} == {200: 1, 30: 7, 1: 200}
        assert all(seconds > 0 for seconds, _ in out.values())


def test_time_ddp_step_averages_like_bucketed_all_reduce() -> None:
    """DDP's gradients equal backward-then-bucketed_all_reduce's; cap 0 means a bucket per tensor."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(5, 7), torch.nn.ReLU(), torch.nn.Linear(7, 3))
    xb, yb = torch.randn(8, 5), torch.randint(0, 3, (8,))  # rank r takes rows r, r + 2, ...
    results = spawn(D.time_ddp_step, 2, (model, xb, yb, [0, 1], 2))
    for r in results:
        assert isinstance(r, D.DDPStepTimes)
        assert r.max_grad_diff <= 1e-6
        assert r.after[0][1] == r.ddp[0][1] == 4  # 4 parameter tensors, one all-reduce each
        assert r.after[1][1] == r.ddp[1][1] == 1  # all of them fit in 1 MB
        assert r.local > 0 and all(t > 0 for t, _ in [*r.after.values(), *r.ddp.values()])
    assert results[0].ddp.keys() == results[1].ddp.keys() == {0.0, 1.0}
    with pytest.raises(TypeError, match="expected model to be a torch.nn.Module"):
        D.time_ddp_step(None, xb, yb, [0])  # type: ignore[arg-type]
