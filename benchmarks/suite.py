"""The benchmark suite of ``python -m benchmarks``: every group, each row a ratio measured side by side.

Groups (:data:`GROUPS`, in the order they run):

- ``matmul``: Lesson 8's ladder (three loops, elementwise, broadcasting, einsum, ``torch.matmul``),
  each rung against the one before and the whole ladder, on 5 and on 50,000 MNIST rows times a
  784x10 matrix. The loops and the elementwise version at 50,000 rows are timed on a slice of the
  rows and scaled per row (the table marks them extrapolated);
- ``learner``: one epoch (a training and a validation pass) of our ``Learner`` against a hand-written
  PyTorch loop doing the same work, with and without the stats and progress callbacks;
- ``dataloader``: one shuffled epoch of our ``DataLoader`` against ``torch.utils.data.DataLoader``
  (no workers) on in-memory MNIST and on the Imagenette tensor cache;
- ``augment``: batched tensor augmentation against per-image PIL (:mod:`benchmarks.augment`);
- ``norm``: our normalisation layers against ``torch.nn``'s, forward + backward;
- ``fp16``: a bf16-autocast training step against fp32, and ``MixedPrecision``'s recipe against
  ``torch.amp`` (:mod:`benchmarks.fp16`);
- ``text``: tokenising on 2 processes against 1, with its throughput; the LSTM layer against
  ``nn.LSTM``, and with its cell compiled (:mod:`benchmarks.text`; full mode only: it compiles);
- ``optim``: our optimizer step against ``torch.optim`` (:mod:`benchmarks.optim_step`);
- ``perf``: Lesson 13: Numba's matmul against ``torch.matmul``, the C++ fused GeneralRelu and the C
  normalising kernel against PyTorch; in full mode also a CNN training step and the LSTM layer
  compiled against eager, and 2-process DDP against 1 (:mod:`benchmarks.perf`).

Within a repeat the contenders run one after the other (:func:`race`), so a burst of other work on
the machine slows both sides of a ratio. ``quick`` uses fewer repeats and smaller inputs only where
the row keeps its meaning (an epoch stays an epoch).
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import functools
import io
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from benchmarks.perf import group_perf
from benchmarks.report import Row, row_from_times
from foundations.bench import timeit

__all__ = ["GROUPS", "Context", "race", "run_suite", "select_groups"]

Fn = Callable[[], Any]

DEFAULT_THREADS = 1
"""torch threads while the suite runs. One: with two threads per process on a machine where other
work runs (a book build executes two pages at once), a thread waiting for its descheduled partner
makes times swing several-fold; one thread per process keeps the ratios steady. ``--threads`` changes it."""


def race(fns: Mapping[str, Fn], repeats: int, min_time: float = 0.02) -> dict[str, list[float]]:
    """Seconds per call of each function, ``repeats`` times, the functions taking turns in every repeat.

    Each function is first called once untimed, then given, by :func:`foundations.bench.timeit`'s
    calibration, a number of calls per measurement that lasts at least ``min_time`` (one call for a
    slow function); then every repeat
    times each function in turn with that number. ``times[k][i]`` and ``times[j][i]`` were measured
    back to back, so their ratio is what :func:`benchmarks.report.row_from_times` takes the median of.
    """
    if repeats < 2:
        raise ValueError(f"race: expected repeats >= 2 (for a median and a spread), got {repeats}")
    numbers = {}
    for k, f in fns.items():
        f()  # first-call costs (allocations, lazy initialisation) stay out of the calibration
        numbers[k] = timeit(f, repeat=1, min_time=min_time).number
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(repeats):
        for k, f in fns.items():
            times[k].append(timeit(f, repeat=1, number=numbers[k], warmup=False).best)
    return times


@dataclass
class Context:
    """What the groups share: the mode, the repeats, and data loaded once (MNIST)."""

    quick: bool = False
    repeats: int = 5
    cache: dict[str, Any] = field(default_factory=dict)

    def mnist(self) -> Any:
        if "mnist" not in self.cache:
            from foundations.data import get_mnist

            self.cache["mnist"] = get_mnist()
        return self.cache["mnist"]

    def pick(self, quick: Any, full: Any) -> Any:
        return quick if self.quick else full


# ---- matmul: Lesson 8's ladder ----------------------------------------------------------------


def _ladder() -> dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]]:
    from foundations.matmul import matmul, matmul_einsum, matmul_elementwise, matmul_loops

    return {"loops": matmul_loops, "elementwise": matmul_elementwise, "broadcast": matmul,
            "einsum": matmul_einsum, "torch": torch.matmul}


def group_matmul(ctx: Context) -> list[Row]:
    x = ctx.mnist().x_train  # (50000, 784)
    w = torch.randn(784, 10, generator=torch.Generator().manual_seed(0))
    ladder = _ladder()
    rows: list[Row] = []
    # rows each version is timed on at 50,000: a slice where the full size would take minutes or hours
    slices = {"loops": 2, "elementwise": ctx.pick(50, 500), "broadcast": ctx.pick(10_000, 50_000)}
    for n in (5, len(x)):
        used = {k: min(n, slices.get(k, n)) if n > 5 else n for k in ladder}
        fns = {k: functools.partial(f, x[: used[k]], w) for k, f in ladder.items()}
        times = race(fns, ctx.repeats)
        scale = {k: n / used[k] for k in ladder}
        names = list(ladder)
        where = f"{n:,} rows"
        for prev, k in zip(names, names[1:]):
            note = ""
            sliced = [s for s in (prev, k) if used[s] < n]
            if sliced:
                note = "; ".join(f"{s} timed on {used[s]:,} rows, scaled x{scale[s]:,.0f}" for s in sliced)
            rows.append(row_from_times("matmul", f"{where}: {k}", times, k, prev, scale=scale,
                                       note=f"{k} vs {prev}" + (f"; {note}" if note else "")))
        rows.append(row_from_times("matmul", f"{where}: torch vs loops", times, "torch", "loops", scale=scale))
    return rows


# ---- learner: our Learner against a hand-written loop -------------------------------------------


def _cnn() -> nn.Sequential:
    """The course's MNIST CNN (lessons/10_cnn_hooks) taking flat 784-pixel rows."""
    from foundations.models import get_cnn_layers

    return nn.Sequential(nn.Unflatten(1, (1, 28, 28)), *get_cnn_layers(10, [8, 16, 32, 64, 64]))


def hand_fit(model: nn.Module, opt: Any, train_dl: Any, valid_dl: Any, loss_func: Callable, stats: bool) -> None:
    """One epoch written out: what ``Learner.fit(1)`` does, with ``stats`` what ``AvgStatsCallback``
    (accuracy) and ``ProgressCallback`` (its table line) add."""
    from foundations.losses import accuracy

    totals = {True: [0.0, 0.0, 0], False: [0.0, 0.0, 0]}  # loss * n, accuracy * n, n per pass
    model.train()
    for xb, yb in train_dl:
        pred = model(xb)
        loss = loss_func(pred, yb)
        if stats:
            with torch.no_grad():
                t = totals[True]
                t[0] += loss.item() * len(xb)
                t[1] += float(accuracy(pred, yb)) * len(xb)
                t[2] += len(xb)
        loss.backward()
        opt.step()
        opt.zero_grad()
    model.eval()
    with torch.no_grad():
        for xb, yb in valid_dl:
            pred = model(xb)
            loss = loss_func(pred, yb)
            if stats:
                t = totals[False]
                t[0] += loss.item() * len(xb)
                t[1] += float(accuracy(pred, yb)) * len(xb)
                t[2] += len(xb)
    if stats:
        print(*(f"{v / t[2]:.6f}" for t in totals.values() for v in t[:2]))


def group_learner(ctx: Context) -> list[Row]:
    from foundations.callbacks import AvgStatsCallback, ProgressCallback
    from foundations.data import Dataset, get_dls
    from foundations.learner import Learner, all_params
    from foundations.losses import accuracy, cross_entropy

    m = ctx.mnist()
    n_train, n_valid, bs = ctx.pick(2000, 10000), ctx.pick(500, 2000), 64
    train_ds, valid_ds = Dataset(m.x_train[:n_train], m.y_train[:n_train]), Dataset(m.x_valid[:n_valid], m.y_valid[:n_valid])

    def dls() -> tuple[Any, Any]:  # each contender its own loaders, seeded alike: the same batches
        return get_dls(train_ds, valid_ds, bs, generator=torch.Generator().manual_seed(0))

    torch.manual_seed(0)
    base = _cnn()
    opt_func = functools.partial(torch.optim.SGD, momentum=0.9)
    lr = 0.1

    def hand(stats: bool) -> Fn:
        model = copy.deepcopy(base)
        opt = opt_func(all_params(model), lr)
        train_dl, valid_dl = dls()
        return lambda: hand_fit(model, opt, train_dl, valid_dl, cross_entropy, stats)

    def learner(stats: bool) -> Fn:
        from foundations.data import DataBunch

        cbs = [AvgStatsCallback([accuracy]), ProgressCallback(console=False)] if stats else []
        learn = Learner(copy.deepcopy(base), DataBunch(*dls()), cross_entropy, opt_func=opt_func, lr=lr, cbs=cbs)
        return lambda: learn.fit(1)

    fns = {"hand loop": hand(False), "Learner": learner(False),
           "hand loop + stats": hand(True), "Learner + stats, progress": learner(True)}
    with contextlib.redirect_stdout(io.StringIO()):  # both sides print their epoch's line; not here
        times = race(fns, ctx.repeats)
    what = f"1 epoch: {n_train:,} MNIST training + {n_valid:,} validation images, bs {bs}, SGD, CNN"
    rows = []
    for name, ours, ref, extra in (
        ("Learner, no callbacks", "Learner", "hand loop", "the loop: forward, loss, backward, step, zero_grad"),
        ("Learner + stats, progress", "Learner + stats, progress", "hand loop + stats",
         "AvgStatsCallback(accuracy) + ProgressCallback (table only, output captured) vs the same sums and a "
         "printed line in the loop"),
    ):
        r = row_from_times("learner", name, times, ours, ref, target=1 / 1.03, target_label="ovh<=3%")
        overhead = 100 * (1 / r.ratio - 1)
        rows.append(dataclasses.replace(r, note=f"overhead {overhead:+.1f} % (our time / the loop's - 1); {what}; {extra}"))
    return rows


# ---- dataloader -------------------------------------------------------------------------------


def _epoch(dl: Any) -> int:
    n = 0
    for xb, _ in dl:
        n += len(xb)
    return n


def group_dataloader(ctx: Context) -> list[Row]:
    from torch.utils.data import DataLoader as TorchDataLoader
    from torch.utils.data import TensorDataset

    from foundations.data import DataLoader, Dataset, Sampler
    from foundations.vision.imagenette import imagenette_tensors

    m = ctx.mnist()
    t = imagenette_tensors(64)
    bs = 64
    rows = []
    for name, x, y in (("MNIST in memory, bs 64", m.x_train, m.y_train),
                       ("Imagenette 64px, bs 64", t.train_x, t.train_y)):
        ds = Dataset(x, y)
        ours = DataLoader(ds, Sampler(ds, bs, shuffle=True, generator=torch.Generator().manual_seed(0)))
        theirs = TorchDataLoader(TensorDataset(x, y), batch_size=bs, shuffle=True, num_workers=0,
                                 generator=torch.Generator().manual_seed(0))
        assert _epoch(ours) == _epoch(theirs) == len(x)
        times = race({"ours": lambda dl=ours: _epoch(dl), "torch": lambda dl=theirs: _epoch(dl)}, ctx.repeats)
        rows.append(row_from_times(
            "dataloader", name, times, "ours", "torch", target=1.0, target_label=">=1.0x",
            note=f"one shuffled epoch of {len(x):,} items, no workers; ours indexes each batch at once, torch's "
                 "fetches item by item (TensorDataset) and collates"))
    return rows


# ---- augmentation, fp16, text, optimizer: the existing benchmarks -------------------------------


def group_augment(ctx: Context) -> list[Row]:
    from benchmarks.augment import bench_augment
    from foundations.data import fetch, get_files
    from foundations.vision.images import IMAGE_EXTENSIONS, open_image

    n, size = 64, 128
    files = get_files(fetch("imagenette2-160"), IMAGE_EXTENSIONS)
    images = [open_image(f) for f in files[:: len(files) // n][:n]]
    return [Row("augment", r.name, "batched tensors", "per-image PIL", r.batched, r.per_image, r.ratio,
                r.batched_spread, r.per_image_spread, ctx.pick(3, 7), target=10.0, target_label=">=10x",
                note=f"{n} Imagenette images at {size} px; ratio of the medians")
            for r in bench_augment(n, size, repeats=ctx.pick(3, 7), images=images)]


def group_fp16(ctx: Context) -> list[Row]:
    from benchmarks.fp16 import bench_fp16

    rows = []
    reps = max(3, ctx.repeats)
    for r, name in zip(bench_fp16(repeats=reps, steps=ctx.pick(2, 3)), ("bf16 autocast vs fp32", "MixedPrecision vs amp")):
        rows.append(Row("fp16", name, r.a_name, r.b_name, r.a, r.b, r.ratio, r.a_spread, r.b_spread, reps,
                        note="training step of get_stem_cnn(10, [32, 64, 128]), bs 64, 64 px"))
    return rows


def group_text(ctx: Context) -> list[Row]:
    from benchmarks.text import bench_lstm, bench_tokenize

    reps = max(3, ctx.repeats)
    n = ctx.pick(1000, 2000)
    tok = bench_tokenize(n=n, repeats=reps)
    rows = [Row("text", "tokenise: 2 processes vs 1", "n_workers=2", "n_workers=1", tok["ours_s"], tok["baseline_s"],
                tok["speedup"], tok["spread_ours"], tok["spread_baseline"], reps,
                note=f"tokenize_texts on {n:,} IMDB reviews, process start-up included: "
                     f"{tok['ours_texts_per_s']:,.0f} texts/s on 2, {tok['baseline_texts_per_s']:,.0f} on 1")]
    if ctx.quick:
        return rows
    lstm, info = bench_lstm(repeats=reps)
    short = {"LSTM forward: LSTMLayer (Python loop) vs nn.LSTM": "LSTMLayer fwd vs nn.LSTM",
             "LSTM forward+backward: LSTMLayer (Python loop) vs nn.LSTM": "LSTMLayer f+b vs nn.LSTM",
             "LSTM forward: LSTMLayer, cell compiled vs nn.LSTM": "compiled fwd vs nn.LSTM",
             "LSTM forward+backward: LSTMLayer, cell compiled vs nn.LSTM": "compiled f+b vs nn.LSTM"}
    for r in lstm:
        rows.append(Row("text", short.get(str(r["row"]), str(r["row"])[:26]), str(r["ours"]), str(r["baseline"]),
                        r["ours_s"], r["baseline_s"], r["speedup"], r["spread_ours"], r["spread_baseline"], reps,
                        note=f"{r['row']}; batch 64 x 70 steps x 300 in, 300 hidden; " + (
                            f"compile failed: {info['compile_error']}" if "compile_error" in info else
                            f"first compiled call {info['fwd_first_call_s']:.1f} s / {info['fwd_bwd_first_call_s']:.1f} s")))
    return rows


def group_optim(ctx: Context) -> list[Row]:
    from benchmarks.optim_step import bench_optim_step

    reps = max(3, ctx.repeats)
    return [Row("optim", f"{r.name} step", "ours", "torch.optim", r.ours, r.torch, 1 / r.ratio, r.ours_spread,
                r.torch_spread, reps, note="opt.step() only, get_stem_cnn(10, [32, 64, 128]) with fixed gradients")
            for r in bench_optim_step(repeats=reps, steps=ctx.pick(5, 20))]


def group_norm(ctx: Context) -> list[Row]:
    from foundations.norm import BatchNorm, GroupNorm, InstanceNorm, LayerNorm, RunningBatchNorm

    shape = ctx.pick((32, 16, 28, 28), (64, 32, 28, 28))
    n, c, h, w = shape
    g = torch.Generator().manual_seed(0)
    x = torch.randn(shape, generator=g).requires_grad_()
    grad_out = torch.randn(shape, generator=g)
    pairs = {
        "BatchNorm": (BatchNorm(c), nn.BatchNorm2d(c)),
        "LayerNorm": (LayerNorm(), nn.LayerNorm([c, h, w])),
        "InstanceNorm": (InstanceNorm(c), nn.InstanceNorm2d(c, affine=True)),
        "GroupNorm (4 groups)": (GroupNorm(4, c), nn.GroupNorm(4, c)),
        "RunningBatchNorm": (RunningBatchNorm(c), nn.BatchNorm2d(c)),
    }

    def fwd_bwd(layer: nn.Module) -> Fn:
        def step() -> None:
            layer(x).backward(grad_out)
            x.grad = None
            layer.zero_grad(set_to_none=True)
        return step

    rows = []
    for name, (ours, ref) in pairs.items():
        times = race({"ours": fwd_bwd(ours), "torch": fwd_bwd(ref)}, ctx.repeats)
        rows.append(row_from_times("norm", f"{name} vs nn", times, "ours", "torch",
                                   note=f"forward + backward, training mode, input {tuple(shape)} vs "
                                        f"nn.{type(ref).__name__}"))
    return rows


GROUPS: dict[str, tuple[str, Callable[[Context], list[Row]]]] = {
    "matmul": ("Lesson 8's ladder: each rung vs the one before (x @ w, w 784x10)", group_matmul),
    "learner": ("our Learner vs a hand-written loop, one epoch", group_learner),
    "dataloader": ("our DataLoader vs torch.utils.data.DataLoader, one epoch", group_dataloader),
    "augment": ("batched tensor augmentation vs per-image PIL", group_augment),
    "norm": ("our normalisation layers vs torch.nn's, forward + backward", group_norm),
    "fp16": ("mixed precision training step (Lesson 12)", group_fp16),
    "text": ("tokenising throughput; LSTM layer (full mode)", group_text),
    "optim": ("our optimizer step vs torch.optim", group_optim),
    "perf": ("Lesson 13: Numba, C, C++; compiled vs eager, DDP (full mode)", group_perf),
}
"""name -> (what the group compares, the function that measures it). Run in this order."""


def select_groups(only: Sequence[str] | None) -> list[str]:
    """The groups to run, in :data:`GROUPS` order: all, or those named (comma-separated names allowed).

    An unknown name raises ``ValueError`` naming it and the valid groups.
    """
    if not only:
        return list(GROUPS)
    wanted = [name.strip() for item in only for name in item.split(",") if name.strip()]
    unknown = [name for name in wanted if name not in GROUPS]
    if unknown or not wanted:
        raise ValueError(f"unknown benchmark group {', '.join(map(repr, unknown)) or '(none given)'}; "
                         f"the groups are: {', '.join(GROUPS)}")
    return [name for name in GROUPS if name in wanted]


def run_suite(quick: bool = False, only: Sequence[str] | None = None, repeats: int | None = None,
              threads: int | None = DEFAULT_THREADS, progress: Callable[[str], None] | None = None) -> list[Row]:
    """Run the selected groups (all by default) and return their rows, in order.

    ``repeats``: timed repeats per row (default 3 in quick mode, 5 otherwise; the augmentation,
    fp16, text and optimizer groups take at least 3). ``threads``: torch's intra-op threads while the
    suite runs (restored after; ``None`` leaves torch's setting). ``progress(name)`` is called
    before each group.
    """
    names = select_groups(only)
    ctx = Context(quick=quick, repeats=repeats or (3 if quick else 5))
    before = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    rows: list[Row] = []
    try:
        for name in names:
            if progress is not None:
                progress(name)
            rows += GROUPS[name][1](ctx)
    finally:
        torch.set_num_threads(before)
    return rows
