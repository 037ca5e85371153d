"""Imagenette through the data block API, decoded once: tensors, per-channel statistics, a ``DataBunch``.

Derived in Lesson 11, "The data block API" (lessons/11_data_block). Imagenette (Howard, 2019) is
ten easy ImageNet classes; ``imagenette2-160`` is its 160-pixel copy, ``train/`` (9,469 images) and
``val/`` (3,925), one folder per class named by its WordNet id. :func:`imagenette_lists` is the data
block API on it (files, split by grandparent folder, labelled by parent folder, a category vocabulary
built on the training half); :func:`imagenette_tensors` decodes every image once into a cached
uint8 store (:func:`~foundations.vision.images.image_store`, keyed by the archive's sha256, the size
and the resize method); :func:`get_imagenette` wraps the tensors in a ``DataBunch`` whose batches are
uint8 and become normalised floats on the fly (:class:`ByteNormalize`, a batch transform), so a
64-pixel copy of the whole dataset takes a quarter of the memory it would as float32.

``python -m foundations.vision.imagenette`` builds the store of the current setting
(:func:`foundations.settings.by_setting`: 64 px by default, 128 px in the full setting); ``make data``
runs it, so the pages find it ready.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from foundations import checks
from foundations.data import (
    CategoryProcessor,
    DataBunch,
    Dataset,
    SplitData,
    archive_sha256,
    fetch,
    get_dls,
    grandparent_splitter,
    label_by_func,
    parent_labeler,
    split_by_func,
)
from foundations.settings import by_setting
from foundations.vision.images import ImageList, image_store

__all__ = [
    "IMAGENETTE",
    "IMAGENETTE_CLASSES",
    "ByteNormalize",
    "ImageTensors",
    "channel_stats",
    "get_imagenette",
    "imagenette_lists",
    "imagenette_tensors",
]

IMAGENETTE = "imagenette2-160"
"""The registry name of the Imagenette archive the course uses. Derived in Lesson 11, "The data block
API" (lessons/11_data_block)."""

IMAGENETTE_CLASSES: dict[str, str] = {
    "n01440764": "tench",
    "n02102040": "English springer",
    "n02979186": "cassette player",
    "n03000684": "chain saw",
    "n03028079": "church",
    "n03394916": "French horn",
    "n03417042": "garbage truck",
    "n03425413": "gas pump",
    "n03445777": "golf ball",
    "n03888257": "parachute",
}
"""Imagenette's ten WordNet ids (its folder names) and their English names, from the dataset's README.
Derived in Lesson 11, "The data block API" (lessons/11_data_block)."""


def imagenette_lists(path: str | Path | None = None) -> SplitData:
    """The data block API on Imagenette: every image file under ``path`` (default: the fetched
    archive's folder), split by grandparent folder (``val`` is validation), labelled by parent folder
    with a :class:`~foundations.data.CategoryProcessor` whose vocabulary is built on the training half.

    Derived in Lesson 11, "The data block API" (lessons/11_data_block).
    """
    path = fetch(IMAGENETTE) if path is None else Path(path)
    il = ImageList.from_files(path)
    sd = split_by_func(il, lambda fn: grandparent_splitter(fn, valid_name="val"))
    return label_by_func(sd, parent_labeler, proc_y=CategoryProcessor())


@dataclass(frozen=True)
class ImageTensors:
    """A labelled image dataset as tensors: uint8 images ``(N, 3, size, size)`` and int64 labels.

    ``vocab[y]`` is the class (a WordNet id for Imagenette). Derived in Lesson 11, "The data block
    API" (lessons/11_data_block).
    """

    train_x: Tensor
    train_y: Tensor
    valid_x: Tensor
    valid_y: Tensor
    vocab: tuple[str, ...]
    size: int
    method: str

    def __repr__(self) -> str:
        return (f"ImageTensors({len(self.train_x)} training and {len(self.valid_x)} validation images, "
                f"{self.size}x{self.size} ({self.method}), {len(self.vocab)} classes)")


def imagenette_tensors(size: int | None = None, method: str = "squish") -> ImageTensors:
    """Imagenette decoded and resized to ``size x size`` (default: 64 px, 128 in the full setting).

    The first call decodes the 13,394 JPEGs with a progress bar and keeps the result in the data
    cache, keyed by the archive's sha256, ``size`` and ``method`` (``"squish"``, the course's
    ``ResizeFixed``, or ``"crop"``: see :func:`~foundations.vision.images.resize_image`); later calls
    load it in well under a second. Rows follow :func:`imagenette_lists`: training images first.
    Derived in Lesson 11, "The data block API" (lessons/11_data_block).
    """
    size = checks.positive_int("imagenette_tensors", "size", by_setting(64, 128) if size is None else size)
    sd = imagenette_lists()
    files = list(sd.train.x.items) + list(sd.valid.x.items)
    x = image_store(files, size, method, key=archive_sha256(IMAGENETTE), name=IMAGENETTE)
    n = len(sd.train)
    train_y = torch.tensor(sd.train.y.items, dtype=torch.long)
    valid_y = torch.tensor(sd.valid.y.items, dtype=torch.long)
    vocab = tuple(sd.train.proc_y[0].vocab)
    return ImageTensors(x[:n], train_y, x[n:], valid_y, vocab, size, method)


def channel_stats(x: Tensor, chunk: int = 1024) -> tuple[Tensor, Tensor]:
    """The per-channel mean and standard deviation of uint8 images ``x`` ``(N, C, H, W)``, in [0, 1].

    Accumulated in float64 over chunks of ``chunk`` images (a float copy of the whole set is never
    made); the standard deviation is the population one (divided by the count), over every pixel of
    every image. Returns two float32 tensors of shape ``(C,)``.
    Derived in Lesson 11, "The data block API" (lessons/11_data_block).
    """
    checks.tensor("channel_stats", "x", x, ndim=4, dtype=torch.uint8)
    chunk = checks.positive_int("channel_stats", "chunk", chunk)
    s = torch.zeros(x.shape[1], dtype=torch.float64)
    s2 = torch.zeros_like(s)
    for i in range(0, len(x), chunk):
        b = x[i : i + chunk].to(torch.float64).div_(255.0)
        s += b.sum((0, 2, 3))
        s2 += b.pow(2).sum((0, 2, 3))
    count = x.shape[0] * x.shape[2] * x.shape[3]
    mean = s / count
    std = (s2 / count - mean.pow(2)).clamp_min(0).sqrt()
    return mean.float(), std.float()


class ByteNormalize:
    """A batch transform: uint8 images ``(N, C, H, W)`` to float32, scaled to [0, 1], then
    ``(x - mean) / std`` per channel. Use it with
    :class:`~foundations.callbacks.BatchTransformCallback`; float batches pass through unchanged
    except for the normalisation.

    Derived in Lesson 11, "The data block API" (lessons/11_data_block).
    """

    def __init__(self, mean: Tensor, std: Tensor) -> None:
        mean, std = torch.as_tensor(mean, dtype=torch.float32), torch.as_tensor(std, dtype=torch.float32)
        if mean.ndim != 1 or mean.shape != std.shape:
            raise ValueError(f"ByteNormalize: expected mean and std of one shape (C,), got {tuple(mean.shape)} "
                             f"and {tuple(std.shape)}")
        if not bool((std > 0).all()):
            raise ValueError(f"ByteNormalize: expected every std to be positive, got {std.tolist()}")
        self.mean, self.std = mean, std

    def __call__(self, x: Tensor) -> Tensor:
        if x.ndim != 4 or x.shape[1] != len(self.mean):
            raise ValueError(f"ByteNormalize: expected a batch (N, {len(self.mean)}, H, W), got shape "
                             f"{tuple(x.shape)}")
        x = x.float().div_(255.0) if x.dtype == torch.uint8 else x.float()
        mean, std = self.mean.to(x.device)[:, None, None], self.std.to(x.device)[:, None, None]
        return (x - mean) / std

    def __repr__(self) -> str:
        fmt = lambda t: "[" + ", ".join(f"{v:.3f}" for v in t.tolist()) + "]"  # noqa: E731
        return f"ByteNormalize(mean={fmt(self.mean)}, std={fmt(self.std)})"


def get_imagenette(
    bs: int, size: int | None = None, method: str = "squish", generator: torch.Generator | None = None
) -> tuple[DataBunch, ByteNormalize]:
    """Imagenette as a ``DataBunch`` of uint8 batches (training shuffled, validation in order with
    ``2*bs``), and the :class:`ByteNormalize` of its training set's per-channel statistics.

    ``c_in=3``, ``c_out=10``. Pass the transform to a ``BatchTransformCallback``.
    Derived in Lesson 11, "The data block API" (lessons/11_data_block).
    """
    t = imagenette_tensors(size, method)
    train_dl, valid_dl = get_dls(Dataset(t.train_x, t.train_y), Dataset(t.valid_x, t.valid_y), bs, generator=generator)
    return DataBunch(train_dl, valid_dl, c_in=3, c_out=len(t.vocab)), ByteNormalize(*channel_stats(t.train_x))


def main(argv: list[str] | None = None) -> int:
    """``python -m foundations.vision.imagenette [--size N] [--method squish|crop]``: build the store."""
    parser = argparse.ArgumentParser(prog="python -m foundations.vision.imagenette",
                                     description="Decode Imagenette once into the data cache.")
    parser.add_argument("--size", type=int, default=None, help="pixels (default: 64, or 128 with FOUNDATIONS_SETTING=full)")
    parser.add_argument("--method", default="squish", choices=("squish", "crop"))
    args = parser.parse_args(argv)
    print(imagenette_tensors(args.size, args.method))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
