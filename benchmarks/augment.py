"""How long augmenting a batch takes: per-image PIL transforms against one batched ``grid_sample``.

Derived in Lesson 11, "Data augmentation" (lessons/11_augmentation). The same ``n`` images are
augmented two ways, in turn within each repeat so that whatever else the machine does slows both
alike:

- **per image**: each ``PIL`` image goes through the transforms of ``foundations.vision.augment``
  (or PIL's own ``rotate``), then ``to_byte_tensor`` and ``to_float_tensor``, and the results are
  stacked into a batch: what a ``DataLoader`` with PIL transforms does for every batch;
- **batched**: the same images, already an ``(n, 3, size, size)`` float batch (as a ``DataLoader``
  of decoded tensors gives it), go through :class:`~foundations.vision.augment.BatchAugment` once.

Two pairs: a flip and a rotation (up to 10 degrees), and a flip, a random resized crop and a tilt
(the PIL path resamples twice, the batched one once: it composes the maps first).

    python -m benchmarks.augment [--n 64] [--size 128] [--repeats 7] [--threads 1]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from foundations import checks
from foundations.vision.augment import BatchAugment, PilRandomFlip, PilTiltRandomCrop, RandomResizedCrop
from foundations.vision.images import resize_image, to_byte_tensor, to_float_tensor
from benchmarks.common import spread

__all__ = ["AugmentBench", "bench_augment", "main"]


@dataclass(frozen=True)
class AugmentBench:
    """One row: seconds to augment the ``n`` images (medians over the repeats) per image with PIL and
    as one batch, and their ratio (per image / batched: how many times faster the batch is).

    ``per_image_spread`` and ``batched_spread`` are the interquartile ranges of the repeats divided
    by their medians. Unpacks as ``name, per_image, batched, ratio``.
    Derived in Lesson 11, "Data augmentation" (lessons/11_augmentation).
    """

    name: str
    per_image: float
    batched: float
    ratio: float  # per_image / batched
    per_image_spread: float
    batched_spread: float

    def __iter__(self) -> Iterator[Any]:
        return iter((self.name, self.per_image, self.batched, self.ratio))



class _PilRandomRotate:
    """PIL's own rotation by a random angle in ``[-max_deg, max_deg]`` (bilinear; corners black)."""

    def __init__(self, max_deg: float, generator: torch.Generator) -> None:
        self.max_deg, self.generator = max_deg, generator

    def __call__(self, img: Image.Image) -> Image.Image:
        deg = (2 * float(torch.rand(1, generator=self.generator)) - 1) * self.max_deg
        return img.rotate(deg, resample=Image.Resampling.BILINEAR)


def _noise_images(n: int, size: int, seed: int) -> list[Image.Image]:
    rng = np.random.default_rng(seed)
    return [Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)) for _ in range(n)]


def pipelines(size: int, seed: int = 0) -> dict[str, tuple[list[Callable[[Image.Image], Image.Image]], BatchAugment]]:
    """The pairs compared: name -> (the PIL transforms, applied in order; the equivalent ``BatchAugment``).

    Derived in Lesson 11, "Data augmentation" (lessons/11_augmentation).
    """
    g = torch.Generator().manual_seed(seed)
    return {
        "flip + rotate": ([PilRandomFlip(generator=g), _PilRandomRotate(10.0, g)],
                          BatchAugment(p_flip=0.5, max_rotate=10.0, max_zoom=1.0, max_tilt=0.0, generator=seed)),
        "flip + resized crop + tilt": (
            [PilRandomFlip(generator=g), RandomResizedCrop(size, scale=(0.35, 1.0), generator=g),
             PilTiltRandomCrop(size, magnitude=0.1, generator=g)],
            BatchAugment(p_flip=0.5, max_rotate=0.0, max_zoom=1.7, max_tilt=0.1, generator=seed)),
    }


def bench_augment(n: int = 64, size: int = 128, repeats: int = 7, images: Sequence[Image.Image] | None = None,
                  seed: int = 0) -> list[AugmentBench]:
    """Time both ways of augmenting ``n`` images of ``size x size``, ``repeats`` times, in turn.

    ``images``: at least ``n`` PIL images (Imagenette's, say), resized to ``size`` first (untimed);
    default: ``n`` images of random noise (the transforms' cost does not depend on the content). The
    batched input is the same images as one float batch, made before timing. Returns one
    :class:`AugmentBench` per pair of :func:`pipelines`, in seconds for the whole batch.
    Derived in Lesson 11, "Data augmentation" (lessons/11_augmentation).
    """
    n = checks.positive_int("bench_augment", "n", n)
    size = checks.positive_int("bench_augment", "size", size)
    repeats = checks.positive_int("bench_augment", "repeats", repeats)
    if repeats < 3:
        raise ValueError(f"bench_augment: expected repeats >= 3 (for a median and a spread), got {repeats}")
    if images is None:
        pil = _noise_images(n, size, seed)
    else:
        if len(images) < n:
            raise ValueError(f"bench_augment: expected at least n={n} images, got {len(images)}")
        pil = [resize_image(im, size) for im in images[:n]]
    batch = torch.stack([to_float_tensor(to_byte_tensor(im)) for im in pil])  # (n, 3, size, size)

    rows = []
    for name, (tfms, aug) in pipelines(size, seed).items():

        def per_image(tfms: list = tfms) -> Tensor:
            out = []
            for im in pil:
                for t in tfms:
                    im = t(im)
                out.append(to_float_tensor(to_byte_tensor(im)))
            return torch.stack(out)

        def batched(aug: BatchAugment = aug) -> Tensor:
            return aug(batch)

        fns = {"per_image": per_image, "batched": batched}
        times: dict[str, list[float]] = {k: [] for k in fns}
        for f in fns.values():  # one untimed call each: warm-up
            f()
        for _ in range(repeats):
            for k, f in fns.items():
                start = time.perf_counter()
                f()
                times[k].append(time.perf_counter() - start)
        a, b = statistics.median(times["per_image"]), statistics.median(times["batched"])
        rows.append(AugmentBench(name, a, b, a / b, spread(times["per_image"]), spread(times["batched"])))
    return rows


def main(argv: list[str] | None = None) -> int:
    """Print the table of :func:`bench_augment`. Derived in Lesson 11, "Data augmentation" (lessons/11_augmentation)."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.augment", description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=64)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    print(f"{'pipeline':28s} {'per image':>10s} {'batched':>10s} {'ratio':>7s}  spread (IQR/median)")
    for r in bench_augment(args.n, args.size, args.repeats):
        print(f"{r.name:28s} {1e3 * r.per_image:7.1f} ms {1e3 * r.batched:7.1f} ms {r.ratio:6.2f}x"
              f"  {100 * r.per_image_spread:.0f} % / {100 * r.batched_spread:.0f} %")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
