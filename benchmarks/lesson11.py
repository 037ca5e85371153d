"""Lesson 11's benchmark: one run, side by side, printed as one table and written as JSON.

``make bench`` (or ``python -m benchmarks.lesson11 [--json FILE]``). Not a test: timings belong to
the machine that measures them. Rows:

- ``get_files`` on the 13,394 Imagenette files vs a naive ``pathlib`` walk (same list, checked);
- batched tensor augmentation vs per-image PIL on the same 64 real Imagenette images at 128 px
  (:func:`benchmarks.augment.bench_augment`; target at least 10x on a CPU);
- our optimizer step vs ``torch.optim`` on the default setting's CNN
  (:func:`benchmarks.optim_step.bench_optim_step`).

Each ratio is measured within one run, the two sides timed in turn, median over repeats, with the
spread (interquartile range over median) of each side.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch

from foundations.data import fetch, get_files
from foundations.vision.images import IMAGE_EXTENSIONS, open_image

from benchmarks.augment import bench_augment
from benchmarks.optim_step import bench_optim_step
from benchmarks.common import spread



def bench_get_files(repeats: int = 7) -> dict[str, float | str]:
    path = fetch("imagenette2-160")

    def naive() -> list[Path]:
        return sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)

    assert naive() == get_files(path, IMAGE_EXTENSIONS)
    times: dict[str, list[float]] = {"naive": [], "ours": []}
    for _ in range(repeats):
        for k, f in (("naive", naive), ("ours", lambda: get_files(path, IMAGE_EXTENSIONS))):
            t = time.perf_counter()
            f()
            times[k].append(time.perf_counter() - t)
    a, b = statistics.median(times["naive"]), statistics.median(times["ours"])
    return {"row": "get_files vs naive pathlib walk (13,394 files)", "baseline_s": a, "ours_s": b,
            "speedup": a / b, "spread_baseline": spread(times["naive"]), "spread_ours": spread(times["ours"])}


def run() -> list[dict[str, float | str]]:
    rows = [bench_get_files()]
    files = get_files(fetch("imagenette2-160"), IMAGE_EXTENSIONS)
    images = [open_image(f) for f in files[:: len(files) // 64][:64]]
    for r in bench_augment(64, 128, images=images):
        rows.append({"row": f"augmentation, {r.name}: batched tensors vs per-image PIL (64 images, 128 px)",
                     "baseline_s": r.per_image, "ours_s": r.batched, "speedup": r.ratio,
                     "spread_baseline": r.per_image_spread, "spread_ours": r.batched_spread})
    for r in bench_optim_step():
        rows.append({"row": f"optimizer step, {r.name}: ours vs torch.optim (time ratio, 1 = equal)",
                     "baseline_s": r.torch, "ours_s": r.ours, "speedup": 1 / r.ratio,
                     "spread_baseline": r.torch_spread, "spread_ours": r.ours_spread})
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.lesson11", description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, default=Path("_build/bench/lesson11.json"))
    args = parser.parse_args(argv)
    rows = run()
    print(f"torch threads: {torch.get_num_threads()} (PIL runs on one); set with OMP_NUM_THREADS")
    print(f"{'benchmark':<78} {'baseline':>9} {'ours':>9} {'speed-up':>9}")
    for r in rows:
        print(f"{r['row']:<78} {1e3 * r['baseline_s']:>7.2f}ms {1e3 * r['ours_s']:>7.2f}ms {r['speedup']:>8.2f}x")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(rows, indent=2))
    print(f"written: {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
