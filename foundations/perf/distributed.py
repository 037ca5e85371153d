"""Training on several processes: data parallelism with ``DistributedDataParallel`` through our ``Learner``.

Derived in Lesson 13, "Training on several processes" (lessons/13_distributed); the papers are read
in (book/papers/goyal2017) (large batches: linear scaling and warm-up) and (book/papers/li2020)
(PyTorch's DDP: gradient buckets, overlapping communication with the backward pass).

Data parallelism: ``W`` processes (*ranks*) each hold a copy of the model, each takes a different
shard of every global batch, and after each backward pass the gradients are averaged across the
ranks by an **all-reduce**, so every copy takes the same step and stays identical.

- :class:`DistributedSampler`: rank ``r``'s share of each epoch's permutation, in batches of
  ``bs / W`` (the same indices as ``torch.utils.data.DistributedSampler``);
- :class:`DistributedTrainer`: a callback that wraps the model in ``DistributedDataParallel`` and
  gives the training loader that sampler for one ``fit``; with one process it only changes the
  sampler, so one script runs the same way on 1 or ``W`` processes;
- :func:`init_distributed`: the process group from the variables ``torchrun`` sets (gloo on CPUs,
  NCCL on GPUs); :func:`launch` runs a script under ``torchrun``; :func:`spawn` runs a library
  function on ``W`` processes and returns what each returned (for experiments and tests);
- :func:`ring_all_reduce`: the ring algorithm, simulated in one process, to see what moves;
  :func:`bucketed_all_reduce`: gradients flattened into buckets, one all-reduce per bucket (DDP's
  reducer, Li et al. 2020);
- :func:`linear_scaling_lr` and :func:`gradual_warmup`: Goyal et al. 2017's rules for large batches.
"""

from __future__ import annotations

import copy
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor, nn

from foundations import checks
from foundations.data.loaders import DataLoader
from foundations.learner import Callback, Order

__all__ = [
    "DDPStepTimes",
    "DistributedSampler",
    "DistributedTrainer",
    "bucketed_all_reduce",
    "free_port",
    "gradual_warmup",
    "init_distributed",
    "launch",
    "linear_scaling_lr",
    "rank_and_world",
    "ring_all_reduce",
    "spawn",
    "time_ddp_step",
    "time_split_all_reduce",
]


# ---- which process am I ---------------------------------------------------------------------------


def rank_and_world() -> tuple[int, int]:
    """``(rank, world_size)`` of this process: from the process group when there is one, else ``(0, 1)``.

    Derived in Lesson 13, "Training on several processes" (lessons/13_distributed).
    """
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


_TORCHRUN_VARS = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")


def init_distributed(backend: str | None = None) -> tuple[int, int]:
    """Join the process group ``torchrun`` set up; returns ``(rank, world_size)``.

    ``torchrun`` starts the processes with ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR``
    and ``MASTER_PORT`` set; every process calls this, and the call returns once all have joined.
    The backend is ``nccl`` when this machine has a GPU for each of its processes (process
    ``LOCAL_RANK`` takes GPU ``LOCAL_RANK``), else ``gloo`` on the CPUs.
    Without those variables (a plain ``python script.py``) nothing is initialised and it returns
    ``(0, 1)``: the same script then trains on one process.
    Derived in Lesson 13, "Training on several processes" (lessons/13_distributed).
    """
    if "WORLD_SIZE" not in os.environ:
        return 0, 1
    missing = [v for v in _TORCHRUN_VARS if v not in os.environ]
    if missing:
        raise RuntimeError(
            f"init_distributed: WORLD_SIZE is set but {', '.join(missing)} are not: start the script with "
            "`torchrun --nproc-per-node N script.py`, which sets them all"
        )
    if backend is None:
        local_world = int(os.environ.get("LOCAL_WORLD_SIZE", os.environ["WORLD_SIZE"]))
        backend = "nccl" if torch.cuda.is_available() and torch.cuda.device_count() >= local_world else "gloo"
    if backend not in ("gloo", "nccl"):
        raise ValueError(checks.message("init_distributed", "backend", "'gloo', 'nccl' or None", backend))
    if backend == "nccl":
        torch.cuda.set_device(int(os.environ["LOCAL_RANK"]))
    if not dist.is_initialized():
        dist.init_process_group(backend)  # reads the variables (the env:// rendezvous)
    return dist.get_rank(), dist.get_world_size()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now (the OS picks it).

    Derived in Lesson 13, "Training on several processes" (lessons/13_distributed).
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch(
    script: str | os.PathLike[str], nproc: int = 2, args: Sequence[str] = (), timeout: float = 600.0,
    threads: int = 1,
) -> str:
    """Run ``torchrun --nproc-per-node nproc script args`` on this machine and return what rank 0 printed.

    The processes meet at ``127.0.0.1`` on a free port; each gets ``threads`` torch threads
    (``OMP_NUM_THREADS``). A process that fails makes this raise ``RuntimeError`` with the end of its
    output. ``nproc=1`` still goes through ``torchrun`` (a process group of one).
    Derived in Lesson 13, "Training on several processes" (lessons/13_distributed).
    """
    path = Path(script)
    if not path.is_file():
        raise FileNotFoundError(f"launch: expected script to be a Python file, got {str(script)!r} (not found)")
    nproc = checks.positive_int("launch", "nproc", nproc)
    threads = checks.positive_int("launch", "threads", threads)
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--nnodes=1", f"--nproc-per-node={nproc}",
        "--master-addr=127.0.0.1", f"--master-port={free_port()}", "--tee=3", "--local-ranks-filter=0",
        str(path), *map(str, args),
    ]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "PYTHONUNBUFFERED": "1"}
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, check=False)
    if res.returncode != 0:
        lines = (res.stdout + res.stderr).strip().splitlines()
        own = [ln for ln in lines if ln.startswith("[default")]  # the processes' own output, not torchrun's
        tail = _strip_rank_prefix("\n".join((own or lines)[-25:]))
        raise RuntimeError(f"launch: torchrun exited with {res.returncode} running {path.name}:\n{tail}")
    return _strip_rank_prefix(res.stdout)


def _strip_rank_prefix(text: str) -> str:
    """``--tee`` prefixes each line with ``[default0]:``; the reader wants the lines."""
    out = []
    for line in text.splitlines():
        head, sep, rest = line.partition("]:")
        out.append(rest if sep and head.startswith("[default") else line)
    return "\n".join(out)


def _spawned(rank: int, fn: Callable[..., Any], world: int, port: int, args: tuple[Any, ...], queue: Any) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        queue.put((rank, fn(*args)))
    finally:
        dist.destroy_process_group()


def spawn(fn: Callable[..., Any], nproc: int = 2, args: Sequence[Any] = ()) -> list[Any]:
    """Run ``fn(*args)`` on ``nproc`` new processes joined in a gloo group; returns each rank's result, by rank.

    ``fn`` must be importable (a function of a module, not of a notebook: the processes are started
    fresh and import it) and its result picklable. One torch thread per process.
    Derived in Lesson 13, "Training on several processes" (lessons/13_distributed).
    """
    if not callable(fn) or fn.__module__ in ("__main__", "__mp_main__"):
        raise ValueError(checks.message("spawn", "fn", "a function importable from a module", fn))
    nproc = checks.positive_int("spawn", "nproc", nproc)
    import torch.multiprocessing as mp

    ctx = mp.get_context("spawn")
    queue = ctx.SimpleQueue()
    mp.start_processes(_spawned, args=(fn, nproc, free_port(), tuple(args), queue), nprocs=nproc, start_method="spawn")
    results = dict(queue.get() for _ in range(nproc))
    return [results[r] for r in range(nproc)]


# ---- the sampler and the callback ------------------------------------------------------------------


class DistributedSampler:
    """Rank ``rank``'s batches of each epoch: its shard of a shared permutation, ``bs`` indices at a time.

    Every rank draws the same permutation of ``range(n)`` (``torch.randperm`` seeded with
    ``seed + epoch``; ``shuffle=False``: ``0 .. n-1``), pads it by repeating its start until its
    length divides by ``world_size`` (``drop_last=True``: cuts the tail instead), and keeps every
    ``world_size``-th index from position ``rank``: the shards are disjoint, of equal length (so every
    rank takes the same number of steps, as the all-reduces require), and their union is the epoch.
    Batch ``k`` of every rank together is the global batch ``k`` of ``world_size * bs`` indices.
    The indices equal ``torch.utils.data.DistributedSampler``'s; :meth:`set_epoch` must be called at
    each epoch (:class:`DistributedTrainer` does) or every epoch repeats the first one's order.
    Derived in Lesson 13, "Training on several processes" (lessons/13_distributed).
    """

    def __init__(
        self, n: int, bs: int, rank: int = 0, world_size: int = 1, shuffle: bool = True, seed: int = 0,
        drop_last: bool = False,
    ) -> None:
        self.n = checks.positive_int("DistributedSampler", "n", n)
        self.bs = checks.positive_int("DistributedSampler", "bs", bs)
        self.world_size = checks.positive_int("DistributedSampler", "world_size", world_size)
        self.rank = checks.integer("DistributedSampler", "rank", rank, min=0, max=self.world_size - 1)
        self.seed = checks.integer("DistributedSampler", "seed", seed)
        self.shuffle = checks.boolean("DistributedSampler", "shuffle", shuffle)
        self.drop_last = checks.boolean("DistributedSampler", "drop_last", drop_last)
        if self.drop_last and self.n < self.world_size:
            raise ValueError(f"DistributedSampler: expected at least world_size={self.world_size} items with drop_last, got {self.n}")
        self.epoch = 0

    @property
    def num_samples(self) -> int:
        """How many indices this rank gets per epoch."""
        return self.n // self.world_size if self.drop_last else -(-self.n // self.world_size)

    def set_epoch(self, epoch: int) -> None:
        """Use epoch ``epoch``'s permutation from now on (the same on every rank)."""
        self.epoch = checks.integer("DistributedSampler.set_epoch", "epoch", epoch, min=0)

    def indices(self) -> list[int]:
        """This rank's indices for the current epoch, in order."""
        if self.shuffle:
            g = torch.Generator().manual_seed(self.seed + self.epoch)
            order = torch.randperm(self.n, generator=g).tolist()
        else:
            order = list(range(self.n))
        total = self.num_samples * self.world_size
        if total > len(order):  # pad by repeating from the start (several times if n < world_size)
            order += (order * (-(-total // len(order))))[: total - len(order)]
        return order[:total][self.rank :: self.world_size]

    def __len__(self) -> int:
        return -(-self.num_samples // self.bs)

    def __iter__(self) -> Iterator[list[int]]:
        idxs = self.indices()
        for i in range(0, len(idxs), self.bs):
            yield idxs[i : i + self.bs]

    def __repr__(self) -> str:
        return f"DistributedSampler(n={self.n}, bs={self.bs}, rank={self.rank}, world_size={self.world_size})"


class DistributedTrainer(Callback):
    """Data-parallel training for one ``fit``: the model in ``DistributedDataParallel``, the data sharded.

    At ``begin_fit``: the training loader (a :class:`foundations.data.DataLoader` whose sampler has a
    batch size ``bs``, the **global** batch) is replaced by one over the same dataset with a
    :class:`DistributedSampler` of ``bs / world_size`` per rank; when a process group is initialised
    (:func:`init_distributed`), the model is wrapped in ``torch.nn.parallel.DistributedDataParallel``,
    which broadcasts rank 0's weights and, during each backward pass, averages the gradients across
    the ranks. Everything else, optimizer and callbacks included, runs as it is on every rank, so the
    copies take identical steps. The validation loader is left whole: every rank evaluates the whole
    validation set (the same numbers on every rank). At ``after_fit`` model and data are put back.
    With one process and no group it only changes the sampler, so the script is the same on 1 or
    ``W`` processes; with the same global batch and seed the weights after training agree (to
    rounding) whatever ``W`` (``tests/test_distributed.py``). ``bucket_cap_mb`` is DDP's bucket size;
    ``None`` keeps DDP's default (25 MB buckets, the first one 1 MB so communication starts early).
    Its order comes after
    :class:`~foundations.callbacks.DeviceCallback` (the model is wrapped once it is on its device).
    Derived in Lesson 13, "Training on several processes" (lessons/13_distributed).
    """

    order = Order.DISTRIBUTED

    def __init__(self, seed: int = 0, bucket_cap_mb: float | None = None) -> None:
        self.seed = checks.integer("DistributedTrainer", "seed", seed)
        self.bucket_cap_mb = checks.real_or_none("DistributedTrainer", "bucket_cap_mb", bucket_cap_mb, min=0.0)
        self.sampler: DistributedSampler | None = None

    def begin_fit(self) -> None:
        rank, world = rank_and_world()
        dl = self.data.train_dl
        bs = getattr(getattr(dl, "sampler", None), "bs", None)
        if not isinstance(dl, DataLoader) or not checks.is_int(bs):
            raise TypeError(
                f"DistributedTrainer: expected data.train_dl to be a foundations DataLoader with a batch size, "
                f"got {type(dl).__name__}"
            )
        if bs % world:
            raise ValueError(f"DistributedTrainer: expected the global batch size to divide by the {world} processes, got {bs}")
        self.sampler = DistributedSampler(len(dl.ds), bs // world, rank, world, shuffle=True, seed=self.seed)
        self._data, self._model = self.data, self.model
        data = copy.copy(self.data)
        data.train_dl = DataLoader(dl.ds, self.sampler, dl.collate_fn)
        self.learn.data = data
        if world > 1:
            if not isinstance(self.model, nn.Module):
                raise TypeError(f"DistributedTrainer: expected the model to be a torch.nn.Module, got {type(self.model).__name__}")
            device_ids = [torch.cuda.current_device()] if next(self.model.parameters()).is_cuda else None
            self.learn.model = nn.parallel.DistributedDataParallel(
                self.model, device_ids=device_ids, bucket_cap_mb=self.bucket_cap_mb
            )

    def begin_epoch(self) -> None:
        if self.sampler is not None:
            self.sampler.set_epoch(self.epoch)

    def after_fit(self) -> None:
        if self.sampler is not None:
            self.learn.model, self.learn.data, self.sampler = self._model, self._data, None


# ---- what the all-reduce does ----------------------------------------------------------------------


def ring_all_reduce(tensors: Sequence[Tensor], steps: list[list[Tensor]] | None = None) -> tuple[list[Tensor], int]:
    """The ring all-reduce of ``W`` ranks' tensors, simulated in one process: ``(each rank's result, elements each sent)``.

    Each rank's tensor is cut into ``W`` chunks. **Reduce-scatter**, ``W - 1`` steps: at step ``s``
    rank ``r`` sends chunk ``(r - s) mod W`` to rank ``r + 1``, which adds it to its own; then rank
    ``r`` holds the full sum of chunk ``(r + 1) mod W``. **All-gather**, ``W - 1`` steps: each rank
    passes on the summed chunk it last completed or received, which the next one copies. Every rank
    ends with the sum of all ``W`` tensors, having sent ``2 (W - 1) / W`` of a tensor: the traffic per
    rank does not grow with ``W``. Sends of one step are computed from the state before the step,
    as if they happened at once. ``steps``, a list, receives every rank's tensor after each of the
    ``2 (W - 1)`` steps (to draw them).
    Derived in Lesson 13, "Training on several processes" (lessons/13_distributed).
    """
    if not isinstance(tensors, Sequence) or len(tensors) == 0:
        raise ValueError(checks.message("ring_all_reduce", "tensors", "a non-empty list of tensors, one per rank", tensors))
    shape = tensors[0].shape
    for r, t in enumerate(tensors):
        checks.tensor("ring_all_reduce", f"tensors[{r}]", t)
        if t.shape != shape:
            raise ValueError(f"ring_all_reduce: expected every rank's tensor of shape {tuple(shape)}, got {tuple(t.shape)} at rank {r}")
    w = len(tensors)
    chunks = [list(t.detach().clone().flatten().tensor_split(w)) for t in tensors]  # chunks[rank][c]
    sent = 0
    for s in range(w - 1):  # reduce-scatter
        msgs = [((r - s) % w, chunks[r][(r - s) % w].clone()) for r in range(w)]
        for r, (c, data) in enumerate(msgs):
            chunks[(r + 1) % w][c] += data
        sent += msgs[0][1].numel()
        if steps is not None:
            steps.append([torch.cat(c).view(shape) for c in chunks])
    for s in range(w - 1):  # all-gather
        msgs = [((r + 1 - s) % w, chunks[r][(r + 1 - s) % w].clone()) for r in range(w)]
        for r, (c, data) in enumerate(msgs):
            chunks[(r + 1) % w][c] = data
        sent += msgs[0][1].numel()
        if steps is not None:
            steps.append([torch.cat(c).view(shape) for c in chunks])
    return [torch.cat(c).view(shape) for c in chunks], sent


def bucketed_all_reduce(tensors: Sequence[Tensor], bucket_cap_bytes: int) -> int:
    """Average ``tensors`` across the process group in place, in buckets; returns the number of all-reduces.

    Tensors are taken in reverse order (the order a backward pass produces gradients: last layer
    first) and packed into flat buckets of at most ``bucket_cap_bytes`` (a tensor larger than the cap
    is a bucket alone; ``0``: one all-reduce per tensor). Each bucket is one ``all_reduce`` of the
    concatenation, then divided by the world size and copied back: DDP's reducer (Li et al. 2020,
    §3.2.3), without the overlap with the backward pass.
    Derived in Lesson 13, "Training on several processes" (lessons/13_distributed).
    """
    bucket_cap_bytes = checks.integer("bucketed_all_reduce", "bucket_cap_bytes", bucket_cap_bytes, min=0)
    _, world = rank_and_world()
    buckets: list[list[Tensor]] = []
    size = 0
    for t in reversed(list(tensors)):
        nbytes = t.numel() * t.element_size()
        if not buckets or size + nbytes > bucket_cap_bytes:
            buckets.append([])
            size = 0
        buckets[-1].append(t)
        size += nbytes
    for bucket in buckets:
        flat = torch.cat([t.detach().flatten() for t in bucket])
        dist.all_reduce(flat)
        flat /= world
        for t, part in zip(bucket, flat.split([t.numel() for t in bucket])):
            t.detach().copy_(part.view_as(t))
    return len(buckets)


# ---- large batches (Goyal et al. 2017) -------------------------------------------------------------


def linear_scaling_lr(base_lr: float, base_bs: int, bs: int) -> float:
    """Goyal et al. 2017's linear scaling rule: multiply the batch size by ``k``, the learning rate by ``k``.

    ``base_lr * bs / base_bs``: with ``k`` times the batch, ``k`` times fewer steps each average
    ``k`` times as many gradients, so a ``k`` times larger step keeps the sum of updates per epoch
    (their §2.1). Derived in Lesson 13, "Training on several processes" (lessons/13_distributed).
    """
    base_lr = checks.real("linear_scaling_lr", "base_lr", base_lr, positive=True)
    base_bs = checks.positive_int("linear_scaling_lr", "base_bs", base_bs)
    bs = checks.positive_int("linear_scaling_lr", "bs", bs)
    return base_lr * bs / base_bs


def gradual_warmup(start_lr: float, peak_lr: float, warmup_pct: float, then: Callable[[float], float] | None = None) -> Callable[[float], float]:
    """Goyal et al. 2017's gradual warm-up as a schedule of ``pos`` in [0, 1] (a :class:`ParamScheduler` function).

    From ``start_lr`` (the small batch's rate) up in a straight line to ``peak_lr`` (the scaled rate)
    over the first ``warmup_pct`` of training, then ``then`` rescaled to the rest (its ``pos`` 0 to 1);
    ``then=None`` stays at ``peak_lr``. The paper warms up over 5 of 90 epochs (§2.2).
    Derived in Lesson 13, "Training on several processes" (lessons/13_distributed).
    """
    start_lr = checks.real("gradual_warmup", "start_lr", start_lr, min=0.0)
    peak_lr = checks.real("gradual_warmup", "peak_lr", peak_lr, min=0.0)
    warmup_pct = checks.real("gradual_warmup", "warmup_pct", warmup_pct, min=0.0, max=1.0)
    if then is not None and not callable(then):
        raise TypeError(checks.message("gradual_warmup", "then", "a schedule (a function of pos) or None", then))

    def _sched(pos: float) -> float:
        pos = checks.real("gradual_warmup", "pos", pos, min=0.0, max=1.0)
        if pos < warmup_pct:
            return start_lr + (peak_lr - start_lr) * pos / warmup_pct
        if then is None:
            return peak_lr
        return then((pos - warmup_pct) / (1 - warmup_pct) if warmup_pct < 1 else 1.0)

    _sched.__qualname__ = f"gradual_warmup({start_lr:g}->{peak_lr:g} over {warmup_pct:g})"
    return _sched


# ---- DDP's design, measured (Li et al. 2020) -------------------------------------------------------


def time_split_all_reduce(total: int, per_call: Sequence[int], repeats: int = 5) -> dict[int, tuple[float, int]]:
    """On every rank of a group: ``{k: (seconds, all-reduces)}`` to all-reduce ``total`` float32 numbers, ``k`` per call.

    The numbers are one flat tensor (of zeros, so that repeated sums stay finite); for each ``k`` of
    ``per_call`` it is cut into consecutive views of ``k`` numbers (the last may be shorter), which are
    all-reduced in place one after the other: the same bytes in more or fewer calls, nothing copied,
    so only the communication is timed. The seconds are the fastest of ``repeats`` after a warm-up,
    a barrier before each (on a shared machine, other work only ever adds time). Li et al. 2020's
    Figure 2 (a, b) at a smaller scale; run it on several processes with :func:`spawn`.
    Measured in the walkthrough of Li et al. 2020 (book/papers/li2020).
    """
    total = checks.positive_int("time_split_all_reduce", "total", total)
    ks = [checks.positive_int("time_split_all_reduce", "per_call[i]", k) for k in per_call]
    repeats = checks.positive_int("time_split_all_reduce", "repeats", repeats)
    flat = torch.zeros(total)
    out = {}
    for k in ks:
        views = flat.split(k)  # ceil(total / k) views of (k,), no copies
        for v in views:  # warm-up
            dist.all_reduce(v)
        times = []
        for _ in range(repeats):
            dist.barrier()
            start = time.perf_counter()
            for v in views:
                dist.all_reduce(v)
            times.append(time.perf_counter() - start)
        out[k] = (min(times), len(views))
    return out


@dataclass(frozen=True)
class DDPStepTimes:
    """What :func:`time_ddp_step` measured on one rank; the seconds are the fastest of the timed steps.

    ``local``: a forward and backward pass without averaging (the computation alone);
    ``after[cap]``: ``(seconds, all-reduces)`` of the pass followed by :func:`bucketed_all_reduce` with
    buckets of ``cap`` MB (averaging after the backward pass: no overlap);
    ``ddp[cap]``: ``(seconds, buckets)`` of the pass through ``DistributedDataParallel(bucket_cap_mb=cap)``,
    whose buckets are all-reduced during the backward pass;
    ``max_grad_diff``: the largest difference between the gradients the two ways averaged.
    Measured in the walkthrough of Li et al. 2020 (book/papers/li2020).
    """

    local: float
    after: dict[float, tuple[float, int]]
    ddp: dict[float, tuple[float, int]]
    max_grad_diff: float


def time_ddp_step(
    model: nn.Module, xb: Tensor, yb: Tensor, bucket_caps_mb: Sequence[float], steps: int = 5,
    loss_func: Callable[[Tensor, Tensor], Tensor] | None = None,
) -> DDPStepTimes:
    """On every rank of a group: a training step's forward and backward pass with gradient averaging, timed two ways.

    Rank ``r`` of ``W`` takes ``xb[r::W]``, ``yb[r::W]``, its shard of the global batch, and the loss
    ``loss_func`` (default cross-entropy). For each cap (MB, as DDP's ``bucket_cap_mb``), ``steps``
    rounds of: a pass through ``DistributedDataParallel`` (a copy of ``model``,
    ``forward_sync_buffers=False``), whose autograd hooks launch each bucket's all-reduce during the
    backward pass, after two warm-up steps in which DDP rebuilds its buckets in the order the gradients
    came; a pass through another copy followed by :func:`bucketed_all_reduce` with the same cap (cap
    ``0``: one all-reduce per gradient, the paper's naive solution); and the pass alone (``local``).
    Each time is the fastest of its steps (other work on the machine only adds time), a barrier
    before each; the weights never change, and the two ways' averaged gradients are compared.
    Li et al. 2020's §3.2 and §5.1-5.2 at a small scale; run it on several processes with :func:`spawn`.
    Measured in the walkthrough of Li et al. 2020 (book/papers/li2020).
    """
    if not isinstance(model, nn.Module):
        raise TypeError(checks.message("time_ddp_step", "model", "a torch.nn.Module", model))
    checks.tensor("time_ddp_step", "xb", xb)
    checks.tensor("time_ddp_step", "yb", yb)
    caps = [checks.real("time_ddp_step", "bucket_caps_mb[i]", c, min=0.0) for c in bucket_caps_mb]
    steps = checks.positive_int("time_ddp_step", "steps", steps)
    loss_func = loss_func or nn.functional.cross_entropy
    rank, world = rank_and_world()
    x, y = xb[rank::world], yb[rank::world]  # this rank's shard

    def timed(run: Callable[[], Any]) -> tuple[float, Any]:
        dist.barrier()
        start = time.perf_counter()
        result = run()
        return time.perf_counter() - start, result

    net = copy.deepcopy(model)
    params = [p for p in net.parameters() if p.requires_grad]

    def local() -> None:
        loss_func(net(x), y).backward()

    def averaged_after(cap_bytes: int) -> int:
        loss_func(net(x), y).backward()
        return bucketed_all_reduce([p.grad for p in params if p.grad is not None], cap_bytes)

    local()
    net.zero_grad(set_to_none=True)
    local_times = []
    after: dict[float, tuple[float, int]] = {}
    ddp_out: dict[float, tuple[float, int]] = {}
    max_diff = 0.0
    for cap in caps:
        ddp = nn.parallel.DistributedDataParallel(  # buffers (BatchNorm's statistics) not re-sent at each step
            copy.deepcopy(model), bucket_cap_mb=cap, forward_sync_buffers=False
        )
        for _ in range(2):  # the first step uses one bucket; then DDP rebuilds them in the order gradients came
            loss_func(ddp(x), y).backward()
            ddp.zero_grad(set_to_none=True)
        ddp_times, after_times, count = [], [], 0
        for s in range(steps):
            ddp_times.append(timed(lambda: loss_func(ddp(x), y).backward())[0])  # noqa: B023
            seconds, count = timed(lambda: averaged_after(int(cap * 2**20)))  # noqa: B023
            after_times.append(seconds)
            if s == steps - 1:
                for p, q in zip(ddp.module.parameters(), net.parameters()):
                    if p.grad is not None and q.grad is not None:
                        max_diff = max(max_diff, (p.grad - q.grad).abs().max().item())
            ddp.zero_grad(set_to_none=True)
            net.zero_grad(set_to_none=True)
            local_times.append(timed(local)[0])  # the computation alone, in the same rounds
            net.zero_grad(set_to_none=True)
        buckets = int(ddp._get_ddp_logging_data().get("num_buckets_reduced", -1))
        ddp_out[cap] = (min(ddp_times), buckets)
        after[cap] = (min(after_times), count)
    return DDPStepTimes(min(local_times), after, ddp_out, max_diff)
