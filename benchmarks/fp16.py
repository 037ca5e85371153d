"""Mixed precision, timed: bf16 autocast against fp32, and our ``MixedPrecision`` against ``torch.amp``.

Derived in Lesson 12, "Mixed precision" (lessons/12_mixed_precision). Two tables, each from one
run in which the contenders take turns within every repeat (so that whatever else the machine does
slows them alike), a full training step each (forward, loss, backward, optimizer step) of the
course's Imagenette CNN (``get_stem_cnn(10, [32, 64, 128], bn=True)``) on a batch of 64 images of
64 pixels:

1. fp32 against ``torch.autocast(dtype=bfloat16)`` (the speed-up the lesson reports);
2. our half-model recipe (``model_to_half``, fp32 masters, ``LossScaler``, the pieces of
   :class:`foundations.callbacks.MixedPrecision`) against ``torch.autocast`` + ``torch.amp.GradScaler``,
   both with a dynamic loss scale, in bf16 on a CPU and fp16 on a GPU.

Each row gives the medians of the repeats, their spread (interquartile range over median) and the
median of the per-repeat ratios.

    python -m benchmarks.fp16 [--repeats N] [--steps N] [--device cpu|cuda] [--threads N]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from benchmarks.common import spread
from foundations import checks
from foundations.callbacks.fp16 import LossScaler, get_master, has_overflow, model_to_half, to_master_grads, to_model_params
from foundations.losses import cross_entropy
from foundations.models import get_stem_cnn

__all__ = ["PairBench", "bench_fp16", "main"]

Step = Callable[[], None]


@dataclass(frozen=True)
class PairBench:
    """One row: seconds per training step of ``a`` and ``b`` (medians), ``ratio`` = median of b/a per repeat.

    A ratio above 1 means ``a`` is faster. ``a_spread``, ``b_spread``: interquartile range / median.
    Derived in Lesson 12, "Mixed precision" (lessons/12_mixed_precision).
    """

    a_name: str
    b_name: str
    a: float
    b: float
    ratio: float
    a_spread: float
    b_spread: float


def _model(device: str) -> nn.Module:
    torch.manual_seed(0)
    return get_stem_cnn(10, [32, 64, 128], bn=True).to(device)


def _fp32_step(device: str, x: torch.Tensor, y: torch.Tensor, autocast: torch.dtype | None) -> Step:
    model = _model(device)
    opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)

    def step() -> None:
        with torch.autocast(device, dtype=autocast or torch.bfloat16, enabled=autocast is not None):
            loss = cross_entropy(model(x).float(), y)
        loss.backward()
        opt.step()
        opt.zero_grad()
    return step


def _amp_step(device: str, x: torch.Tensor, y: torch.Tensor, dtype: torch.dtype) -> Step:
    model = _model(device)
    opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
    scaler = torch.amp.GradScaler(device, init_scale=2.0**16, growth_interval=2000)

    def step() -> None:
        with torch.autocast(device, dtype=dtype):
            loss = cross_entropy(model(x).float(), y)
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
        opt.zero_grad()
    return step


def _ours_step(device: str, x: torch.Tensor, y: torch.Tensor, dtype: torch.dtype) -> Step:
    model = _model(device)
    params = list(model.parameters())
    master = get_master(params)
    model_to_half(model, dtype)
    opt = torch.optim.SGD(master, lr=1e-3, momentum=0.9)
    scaler = LossScaler(2.0**16, growth_interval=2000)
    xh = x.to(dtype)

    def step() -> None:
        loss = cross_entropy(model(xh).float(), y)
        (loss * scaler.scale).backward()
        to_master_grads(params, master, scaler.scale)
        for p in params:
            p.grad = None
        if not scaler.update(has_overflow(m.grad for m in master)):
            opt.step()
            to_model_params(params, master)
        opt.zero_grad()
    return step


def _race(steps: dict[str, Step], repeats: int, n: int, sync: Callable[[], None]) -> dict[str, list[float]]:
    for s in steps.values():  # warm up: allocations, kernels chosen, optimizer state made
        s()
    times: dict[str, list[float]] = {k: [] for k in steps}
    for _ in range(repeats):
        for k, s in steps.items():
            sync()
            t0 = time.perf_counter()
            for _ in range(n):
                s()
            sync()
            times[k].append((time.perf_counter() - t0) / n)
    return times


def _row(times: dict[str, list[float]], a: str, b: str) -> PairBench:
    return PairBench(a, b, statistics.median(times[a]), statistics.median(times[b]),
                     statistics.median(tb / ta for ta, tb in zip(times[a], times[b])),
                     spread(times[a]), spread(times[b]))


def bench_fp16(repeats: int = 11, steps: int = 3, device: str = "cpu", bs: int = 64, size: int = 64) -> list[PairBench]:
    """The two comparisons of the module docstring; returns ``[bf16 autocast vs fp32, ours vs amp]``.

    The half dtype is bfloat16 on a CPU, float16 on a GPU. Derived in Lesson 12, "Mixed precision"
    (lessons/12_mixed_precision).
    """
    repeats = checks.positive_int("bench_fp16", "repeats", repeats)
    if repeats < 3:
        raise ValueError(f"bench_fp16: expected repeats >= 3 (for a median and a spread), got {repeats}")
    steps = checks.positive_int("bench_fp16", "steps", steps)
    half = torch.float16 if device.startswith("cuda") else torch.bfloat16
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(bs, 3, size, size, generator=g).to(device)
    y = torch.randint(0, 10, (bs,), generator=g).to(device)
    name = "bf16" if half == torch.bfloat16 else "fp16"
    t1 = _race({f"{name} autocast": _fp32_step(device, x, y, half), "fp32": _fp32_step(device, x, y, None)},
               repeats, steps, sync)
    t2 = _race({f"MixedPrecision {name}": _ours_step(device, x, y, half),
                f"autocast+GradScaler {name}": _amp_step(device, x, y, half)}, repeats, steps, sync)
    return [_row(t1, f"{name} autocast", "fp32"), _row(t2, f"MixedPrecision {name}", f"autocast+GradScaler {name}")]


def main(argv: list[str] | None = None) -> int:
    """Print the tables of :func:`bench_fp16`. Derived in Lesson 12, "Mixed precision" (lessons/12_mixed_precision)."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.fp16", description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=11)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.device == "cpu":
        print("CPU capability:", torch.backends.cpu.get_cpu_capability())
    print(f"{'A':26s} {'B':26s} {'A ms':>8s} {'B ms':>8s} {'B/A':>6s}  spread A / B (IQR/median)")
    for r in bench_fp16(args.repeats, args.steps, args.device):
        print(f"{r.a_name:26s} {r.b_name:26s} {1e3 * r.a:8.1f} {1e3 * r.b:8.1f} {r.ratio:5.2f}x"
              f"  {100 * r.a_spread:.0f} % / {100 * r.b_spread:.0f} %")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
