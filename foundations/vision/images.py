"""Images as inputs: open a file as RGB, resize it, make it a tensor; or decode a folder once and keep it.

Derived in Lesson 9, "Mini-batch training" (lessons/09_minibatch), whose Dataset and DataLoader
these feed; Lesson 11 builds them on Imagenette. :class:`ImageList` is an
:class:`~foundations.data.blocks.ItemList` of image files whose items open as RGB ``PIL`` images
(Imagenette has greyscale JPEGs among the colour ones; ``.convert("RGB")`` gives every image three
channels). The transforms run in their ``order``: :class:`ResizeFixed` (10) makes every image the
same size, :func:`to_byte_tensor` (20) makes it a ``(3, h, w)`` uint8 tensor, :func:`to_float_tensor`
(30) scales it to [0, 1].

Decoding a JPEG costs far more than a training step on a small model, so :func:`image_store`
decodes and resizes every image once into one uint8 tensor ``(N, 3, size, size)`` and keeps it in the
data cache (:func:`foundations.data.cache.cache_dir`), keyed by the files, the size and the method;
the next call loads it. Two resize methods cover both copies of Imagenette: the mirror's squares
(160x160) and the public archive's, which keep the aspect ratio (shorter side 160):
``"squish"`` resizes to ``size x size`` whatever the shape, ``"crop"`` resizes the shorter side to
``size`` and cuts the centre square.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import torch
from PIL import Image
from torch import Tensor

from foundations import checks
from foundations.data.blocks import ItemList, get_files
from foundations.data.cache import cache_dir, new_part, remove_stale, say, writing
from foundations.progress import Progress

__all__ = [
    "IMAGE_EXTENSIONS",
    "ImageList",
    "ResizeFixed",
    "image_store",
    "image_store_path",
    "open_image",
    "resize_image",
    "to_byte_tensor",
    "to_float_tensor",
]

IMAGE_EXTENSIONS: frozenset[str] = frozenset({".bmp", ".gif", ".jpeg", ".jpg", ".png", ".tif", ".tiff", ".webp"})
"""The suffixes :meth:`ImageList.from_files` looks for (compared case-insensitively: ``.JPEG`` counts).
A fixed list rather than ``mimetypes``, whose answer depends on the machine. Derived in Lesson 11,
"The data block API" (lessons/11_data_block), on Imagenette."""

METHODS = ("squish", "crop")
_STORE_VERSION = "image_store v1"  # part of every key: a change of format makes new stores


def open_image(fn: str | os.PathLike[str]) -> Image.Image:
    """The image in file ``fn`` as an RGB ``PIL`` image (greyscale, palette and RGBA images converted).

    The file is closed before returning. Derived in Lesson 11, "The data block API"
    (lessons/11_data_block), on Imagenette; it feeds the Dataset and DataLoader of Lesson 9.
    """
    with Image.open(fn) as im:
        return im.convert("RGB")


class ImageList(ItemList):
    """An :class:`~foundations.data.blocks.ItemList` of image files; ``il[i]`` opens file ``i`` as RGB
    (:func:`open_image`), then applies the transforms.

    Derived in Lesson 11, "The data block API" (lessons/11_data_block), on Imagenette; it feeds
    the Dataset and DataLoader of Lesson 9.
    """

    @classmethod
    def from_files(
        cls,
        path: str | os.PathLike[str],
        extensions: Iterable[str] | None = IMAGE_EXTENSIONS,
        recurse: bool = True,
        include: Iterable[str] | None = None,
        **kwargs: Any,
    ) -> ImageList:
        """The images under ``path`` (:func:`~foundations.data.blocks.get_files`, sorted); ``kwargs``
        go to the constructor (``tfms=``)."""
        return cls(get_files(path, extensions, recurse=recurse, include=include), path, **kwargs)

    def get(self, item: Any) -> Image.Image:
        return open_image(item)


def _size(fn: str, size: object) -> int:
    return checks.positive_int(fn, "size", size)


def _method(fn: str, method: object) -> str:
    if method not in METHODS:
        raise ValueError(f"{fn}: expected method 'squish' or 'crop', got {method!r}")
    return str(method)


def resize_image(img: Image.Image, size: int, method: str = "squish") -> Image.Image:
    """``img`` as a ``size x size`` image: ``"squish"`` resizes both sides to ``size`` (a non-square
    image is distorted); ``"crop"`` resizes the shorter side to ``size``, keeping the aspect ratio,
    then cuts the centre square (the longer side loses its edges). Bilinear resampling.

    Derived in Lesson 11, "The data block API" (lessons/11_data_block), on Imagenette; it feeds
    the Dataset and DataLoader of Lesson 9.
    """
    size, method = _size("resize_image", size), _method("resize_image", method)
    w, h = img.size
    if method == "squish" or w == h:
        return img if (w, h) == (size, size) else img.resize((size, size), Image.Resampling.BILINEAR)
    scale = size / min(w, h)
    nw, nh = max(size, round(w * scale)), max(size, round(h * scale))
    img = img.resize((nw, nh), Image.Resampling.BILINEAR)
    left, top = (nw - size) // 2, (nh - size) // 2
    return img.crop((left, top, left + size, top + size))


class ResizeFixed:
    """A transform (``order = 10``, before the tensor conversions): :func:`resize_image` to ``size``.

    Derived in Lesson 11, "The data block API" (lessons/11_data_block), on Imagenette; it feeds
    the Dataset and DataLoader of Lesson 9.
    """

    order = 10

    def __init__(self, size: int, method: str = "squish") -> None:
        self.size, self.method = _size("ResizeFixed", size), _method("ResizeFixed", method)

    def __call__(self, img: Image.Image) -> Image.Image:
        return resize_image(img, self.size, self.method)

    def __repr__(self) -> str:
        return f"ResizeFixed({self.size}, method={self.method!r})"


def to_byte_tensor(img: Image.Image) -> Tensor:
    """An RGB ``PIL`` image as a ``(3, h, w)`` uint8 tensor (channels first, as a conv layer wants).

    A transform with ``order = 20``. Derived in Lesson 11, "The data block API"
    (lessons/11_data_block), on Imagenette.
    """
    if not isinstance(img, Image.Image) or img.mode != "RGB":
        raise TypeError(f"to_byte_tensor: expected an RGB PIL image, got {checks.describe(img)}"
                        + (f" in mode {img.mode}" if isinstance(img, Image.Image) else ""))
    w, h = img.size
    t = torch.frombuffer(bytearray(img.tobytes()), dtype=torch.uint8)
    return t.view(h, w, 3).permute(2, 0, 1).contiguous()


to_byte_tensor.order = 20  # type: ignore[attr-defined]


def to_float_tensor(t: Tensor) -> Tensor:
    """A uint8 image tensor as float32 in [0, 1] (divided by 255).

    A transform with ``order = 30``. Derived in Lesson 11, "The data block API"
    (lessons/11_data_block), on Imagenette.
    """
    if not isinstance(t, Tensor) or t.dtype != torch.uint8:
        raise TypeError(f"to_float_tensor: expected a uint8 tensor, got {checks.describe(t)}")
    return t.float().div_(255.0)


to_float_tensor.order = 30  # type: ignore[attr-defined]


# --------------------------------------------------------------------------------------------------
# The decode store
# --------------------------------------------------------------------------------------------------


def _decode(fn: Path, size: int, method: str) -> Tensor:
    """One file, opened, resized and made a ``(3, size, size)`` uint8 tensor (the store's unit of work)."""
    return to_byte_tensor(resize_image(open_image(fn), size, method))


def _file_list(files: Sequence[Any] | ItemList) -> list[Path]:
    items = files.items if isinstance(files, ItemList) else list(files)
    if not items:
        raise ValueError("image_store: expected at least one image file, got none")
    return [Path(f) for f in items]


def _relative_names(paths: list[Path]) -> tuple[Path, list[str]]:
    absolute = [os.path.abspath(p) for p in paths]
    root = Path(os.path.commonpath([os.path.dirname(a) for a in absolute]))
    return root, [Path(a).relative_to(root).as_posix() for a in absolute]


def image_store_path(
    files: Sequence[Any] | ItemList, size: int, method: str = "squish", key: str | None = None, *, name: str = "images"
) -> Path:
    """Where :func:`image_store` keeps the store of these files: ``<cache>/image_stores/<name>-<size>-<method>-<hash>.pt``.

    The hash covers the format version, ``size``, ``method``, and the file names relative to the
    folder they share (so moving the folder keeps the store) in order; with ``key`` (e.g. the sha256
    of the archive the files came from) that string too, otherwise each file's size in bytes, so
    replacing a file with another of a different size makes a new store.
    Derived in Lesson 11, "The data block API" (lessons/11_data_block), on Imagenette; it feeds
    the Dataset and DataLoader of Lesson 9.
    """
    size, method = _size("image_store", size), _method("image_store", method)
    if key is not None and (not isinstance(key, str) or not key):
        raise TypeError(f"image_store: expected key to be a non-empty string or None, got {checks.describe(key)}")
    paths = _file_list(files)
    _, names = _relative_names(paths)
    h = hashlib.sha256(f"{_STORE_VERSION}\0{size}\0{method}\0{len(paths)}\0".encode())
    if key is not None:
        h.update(f"key\0{key}\0".encode())
        for n in names:
            h.update(f"{n}\0".encode())
    else:
        for n, p in zip(names, paths):
            h.update(f"{n}\0{p.stat().st_size}\0".encode())
    return cache_dir() / "image_stores" / f"{name}-{size}-{method}-{h.hexdigest()[:16]}.pt"


def _load(dest: Path, n: int, size: int) -> Tensor | None:
    """The stored tensor, or ``None`` (and a notice) if it is unreadable or not ``(n, 3, size, size)`` uint8."""
    try:
        t = torch.load(dest, weights_only=True, mmap=True)
    except Exception as exc:  # a truncated or foreign file: decode again
        say(f"image_store: cannot read {dest} ({type(exc).__name__}: {exc}); decoding again")
        return None
    if not isinstance(t, Tensor) or t.dtype != torch.uint8 or tuple(t.shape) != (n, 3, size, size):
        say(f"image_store: {dest} holds {checks.describe(t)}, expected ({n}, 3, {size}, {size}) uint8; decoding again")
        return None
    return t


def image_store(
    files: Sequence[Any] | ItemList, size: int, method: str = "squish", key: str | None = None, *, name: str = "images"
) -> Tensor:
    """Every image of ``files``, decoded and resized to ``size x size`` once: a uint8 tensor ``(N, 3, size, size)``.

    Row ``i`` is ``files[i]`` (an :class:`ImageList`'s items or a list of paths), as
    ``to_byte_tensor(resize_image(open_image(f), size, method))``. The first call decodes them all,
    with a progress bar, and saves the tensor in the data cache at :func:`image_store_path` (written
    to a temporary file in the same folder, then renamed, so an interrupted run leaves no store, only
    a temporary file that the next run removes); later calls with the same files, size and method load
    it (memory-mapped: fast, and shared between processes). A store that cannot be read, or has the
    wrong shape, is rebuilt. ``key`` and ``name``: see :func:`image_store_path`.
    Derived in Lesson 11, "The data block API" (lessons/11_data_block), on Imagenette; it feeds
    the Dataset and DataLoader of Lesson 9.
    """
    paths = _file_list(files)
    dest = image_store_path(paths, size, method, key, name=name)
    size = int(size)
    if dest.exists():
        t = _load(dest, len(paths), size)
        if t is not None:
            return t
    with writing("image_store", dest.parent):
        dest.parent.mkdir(parents=True, exist_ok=True)
    remove_stale("image_store", dest.parent, dest.name)
    out = torch.empty(len(paths), 3, size, size, dtype=torch.uint8)
    bar = Progress(f"image_store: {len(paths)} images to {size}x{size} ({method})", len(paths), unit="images")
    fd, part = -1, None
    try:
        for i, p in enumerate(paths):
            out[i] = _decode(p, size, method)
            bar.update(1)
        fd, part = new_part("image_store", dest)
        with writing("image_store", dest.parent), os.fdopen(fd, "wb") as f:
            fd = -1  # the file object owns it now
            torch.save(out, f)
        os.replace(part, dest)
        part = None
    except BaseException:
        bar.clear()
        if fd >= 0:
            os.close(fd)
        if part is not None:
            try:
                os.unlink(part)
            except OSError:
                pass
        raise
    bar.close(f"image_store: decoded {len(paths)} images to {size}x{size} ({method}), kept in {dest}")
    return out
