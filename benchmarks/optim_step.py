"""How long one optimizer step takes: Lesson 11's generic ``Optimizer`` against ``torch.optim``.

Derived in Lesson 11, "A generic optimizer" (lessons/11_optimizers). Both optimizers step the
parameters of the same model (two copies of the course's Imagenette CNN, with the same fixed random
gradients), taking turns within each repeat so that whatever else the machine does slows them
alike. Only ``opt.step()`` is timed: the forward and backward passes, the same for both, are left
out, so the ratio is the optimizer's own overhead, the most it can cost a training step.

    python -m benchmarks.optim_step [--repeats N] [--steps N]
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from foundations import checks
from foundations.models import get_stem_cnn
from foundations.optim import adam_opt, sgd_opt
from benchmarks.common import spread

__all__ = ["StepBench", "bench_optim_step", "main"]

Factory = Callable[[Any], Any]  # parameters -> optimizer

PAIRS: dict[str, tuple[Factory, Factory]] = {
    "SGD, momentum 0.9": (lambda ps: sgd_opt(ps, 0.1, mom=0.9),
                          lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9)),
    "Adam": (lambda ps: adam_opt(ps, 1e-3, wd=0.0, decouple_wd=False),
             lambda ps: torch.optim.Adam(ps, lr=1e-3)),
}
"""The optimizers compared: name -> (ours, torch's), each a function of the parameters."""


@dataclass(frozen=True)
class StepBench:
    """One row: seconds per step (medians over the repeats) of ours and torch's, and their ratio.

    ``ours_spread`` and ``torch_spread`` are the interquartile ranges of the repeats divided by their
    medians. Unpacks as ``name, ours, torch, ratio``.
    Derived in Lesson 11, "A generic optimizer" (lessons/11_optimizers).
    """

    name: str
    ours: float
    torch: float
    ratio: float  # the median over the repeats of ours / torch, each pair timed back to back
    ours_spread: float
    torch_spread: float

    def __iter__(self) -> Iterator[Any]:
        return iter((self.name, self.ours, self.torch, self.ratio))



def _with_grads(model: nn.Module, seed: int) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    params = [p for p in model.parameters() if p.requires_grad]
    for p in params:
        p.grad = torch.randn(p.shape, generator=g, dtype=p.dtype).to(p.device) * 1e-3
    return params


def bench_optim_step(repeats: int = 21, steps: int = 20, nfs: tuple[int, ...] = (32, 64, 128),
                     device: str | torch.device = "cpu") -> list[StepBench]:
    """Time ``steps`` calls of ``opt.step()`` per repeat, ours and torch's in turn, ``repeats`` times.

    The model is ``get_stem_cnn(10, nfs, bn=True)`` (the default setting's Imagenette CNN), its
    gradients fixed random numbers (the step does not care where they came from). Returns one
    :class:`StepBench` per pair in :data:`PAIRS`, seconds per single step. The ratio is the median
    of the repeats' ratios: ours and torch's are timed back to back within a repeat, so a burst of
    other work on the machine slows both sides of one ratio rather than one side of the medians.
    Derived in Lesson 11, "A generic optimizer" (lessons/11_optimizers).
    """
    repeats = checks.positive_int("bench_optim_step", "repeats", repeats)
    if repeats < 3:
        raise ValueError(f"bench_optim_step: expected repeats >= 3 (for a median and a spread), got {repeats}")
    steps = checks.positive_int("bench_optim_step", "steps", steps)
    torch.manual_seed(0)
    base = get_stem_cnn(10, list(nfs), bn=True).to(device)
    sync = torch.cuda.synchronize if torch.device(device).type == "cuda" else (lambda: None)
    rows = []
    for name, (ours_f, torch_f) in PAIRS.items():
        models = {"ours": base, "torch": copy.deepcopy(base)}
        opts = {"ours": ours_f(_with_grads(models["ours"], 1)), "torch": torch_f(_with_grads(models["torch"], 1))}
        for opt in opts.values():  # one untimed step each: the state (momentum, moments) is made here
            opt.step()
        times: dict[str, list[float]] = {"ours": [], "torch": []}
        for _ in range(repeats):
            for who, opt in opts.items():
                sync()
                start = time.perf_counter()
                for _ in range(steps):
                    opt.step()
                sync()
                times[who].append((time.perf_counter() - start) / steps)
        ours, theirs = statistics.median(times["ours"]), statistics.median(times["torch"])
        ratio = statistics.median(a / b for a, b in zip(times["ours"], times["torch"]))
        rows.append(StepBench(name, ours, theirs, ratio, spread(times["ours"]), spread(times["torch"])))
        base = get_stem_cnn(10, list(nfs), bn=True).to(device)  # fresh weights for the next pair
    return rows


def main(argv: list[str] | None = None) -> int:
    """Print the table of :func:`bench_optim_step`. Derived in Lesson 11, "A generic optimizer" (lessons/11_optimizers)."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.optim_step", description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=21)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    print(f"{'optimizer':18s} {'ours':>10s} {'torch.optim':>12s} {'ratio':>7s}  spread (IQR/median)")
    for r in bench_optim_step(args.repeats, args.steps):
        print(f"{r.name:18s} {1e3 * r.ours:8.3f} ms {1e3 * r.torch:10.3f} ms {r.ratio:6.2f}x"
              f"  {100 * r.ours_spread:.0f} % / {100 * r.torch_spread:.0f} %")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
