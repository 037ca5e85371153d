"""Images (foundations.vision.images): opening as RGB, resizing both ways, tensors, the decode store.

A few tiny JPEGs made in ``tmp_path`` stand in for Imagenette: some square (like our mirror's
160x160 copy), some not (like the public archive's, shorter side kept), one greyscale. The cache
folder is ``tmp_path`` too (``FOUNDATIONS_DATA``), so no test touches the real cache.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from PIL import Image

import foundations.vision.images as images
from foundations.data.blocks import CategoryProcessor, grandparent_splitter, label_by_func, parent_labeler, split_by_func, to_databunch
from foundations.vision import (
    ImageList,
    ResizeFixed,
    image_store,
    image_store_path,
    open_image,
    resize_image,
    to_byte_tensor,
    to_float_tensor,
)

# (folder, name, (width, height), mode)
IMAGES = [
    ("train/n01", "a.JPEG", (40, 40), "RGB"),
    ("train/n01", "b.jpg", (60, 40), "RGB"),  # landscape
    ("train/n02", "c.JPEG", (40, 56), "L"),  # greyscale portrait
    ("train/n02", "d.png", (32, 32), "RGB"),
    ("val/n01", "e.JPEG", (40, 40), "RGB"),
    ("val/n02", "f.jpeg", (48, 40), "RGB"),
]


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("FOUNDATIONS_DATA", str(tmp_path / "cache"))
    monkeypatch.setenv("FOUNDATIONS_PROGRESS", "0")
    root = tmp_path / "imgs"
    for k, (sub, name, size, mode) in enumerate(IMAGES):
        (root / sub).mkdir(parents=True, exist_ok=True)
        colour = 40 * k if mode == "L" else (40 * k, 255 - 40 * k, 128)
        Image.new(mode, size, colour).save(root / sub / name)
    (root / "train" / "n01" / "notes.txt").write_text("not an image")
    return root


def test_from_files_finds_images_only_and_opens_rgb(folder: Path) -> None:
    il = ImageList.from_files(folder)
    assert [f.relative_to(folder).as_posix() for f in il.items] == [f"{a}/{b}" for a, b, _, _ in IMAGES]
    grey = il[2]
    assert isinstance(grey, Image.Image) and grey.mode == "RGB" and grey.size == (40, 56)
    assert open_image(il.items[0]).size == (40, 40)
    assert len(ImageList.from_files(folder, include=["val"])) == 2


def test_resize_squish_and_crop() -> None:
    img = Image.new("RGB", (80, 40))
    img.paste((255, 0, 0), (0, 0, 10, 40))  # a red strip on the left edge
    assert resize_image(img, 20, "squish").size == (20, 20)
    cropped = resize_image(img, 20, "crop")  # 80x40 -> 40x20 -> centre 20x20: the strip is cut off
    assert cropped.size == (20, 20) and cropped.getpixel((0, 10)) == (0, 0, 0)
    assert resize_image(img, 20, "squish").getpixel((0, 10))[0] > 200  # squished, it survives
    assert resize_image(Image.new("RGB", (40, 56)), 16, "crop").size == (16, 16)
    with pytest.raises(ValueError, match="resize_image: expected method 'squish' or 'crop', got 'pad'"):
        resize_image(img, 20, "pad")


def test_transforms_make_float_tensors_in_order(folder: Path) -> None:
    il = ImageList.from_files(folder, tfms=[to_float_tensor, to_byte_tensor, ResizeFixed(16, "crop")])
    x = il[1]
    assert x.shape == (3, 16, 16) and x.dtype == torch.float32 and 0.0 <= x.min() and x.max() <= 1.0
    b = to_byte_tensor(Image.new("RGB", (3, 2), (1, 2, 3)))
    assert b.shape == (3, 2, 3) and b.dtype == torch.uint8 and b[:, 0, 0].tolist() == [1, 2, 3]
    with pytest.raises(TypeError, match="to_byte_tensor: expected an RGB PIL image, got .* in mode L"):
        to_byte_tensor(Image.new("L", (2, 2)))


def test_an_image_databunch(folder: Path) -> None:
    il = ImageList.from_files(folder, tfms=[ResizeFixed(16), to_byte_tensor, to_float_tensor])
    sd = split_by_func(il, lambda f: grandparent_splitter(f, valid_name="val"))
    ll = label_by_func(sd, parent_labeler, proc_y=CategoryProcessor())
    db = to_databunch(ll, bs=4, c_in=3)
    xb, yb = next(iter(db.valid_dl))
    assert xb.shape == (2, 3, 16, 16) and xb.dtype == torch.float32 and yb.tolist() == [0, 1] and yb.dtype == torch.int64
    assert db.c_out == 2 and ll.train.proc_y[0].vocab == ["n01", "n02"]


# ---- the decode store -----------------------------------------------------------------------------


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    calls: list[Path] = []
    real = images._decode

    def decode(fn: Path, size: int, method: str) -> torch.Tensor:
        calls.append(fn)
        return real(fn, size, method)

    monkeypatch.setattr(images, "_decode", decode)
    return calls


def test_the_store_decodes_once(folder: Path, counted: list[Path]) -> None:
    files = ImageList.from_files(folder)
    first = image_store(files, 16)
    assert first.shape == (6, 3, 16, 16) and first.dtype == torch.uint8 and len(counted) == 6
    second = image_store(files, 16)
    assert len(counted) == 6 and torch.equal(first, second)  # a cache hit: nothing decoded
    assert torch.equal(first[2], to_byte_tensor(resize_image(open_image(files.items[2]), 16, "squish")))
    path = image_store_path(files, 16)
    assert path.parent == folder.parent / "cache" / "image_stores" and path.name.startswith("images-16-squish-")
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary file left


def test_the_key_changes_with_size_method_and_files(folder: Path) -> None:
    files = ImageList.from_files(folder).items
    paths = {image_store_path(files, 16), image_store_path(files, 24), image_store_path(files, 16, "crop"),
             image_store_path(files[:-1], 16), image_store_path(files, 16, key="abc"), image_store_path(files, 16, key="abd")}
    assert len(paths) == 6
    before = image_store_path(files, 16)
    Image.new("RGB", (40, 40), (1, 1, 1)).save(files[0], quality=10)  # same name, other bytes (other size)
    assert image_store_path(files, 16) != before and image_store_path(files, 16, key="abc") == image_store_path(files, 16, key="abc")


@pytest.mark.parametrize("method", ["squish", "crop"])
def test_both_layouts_give_square_uint8(folder: Path, tmp_path: Path, method: str) -> None:
    square = [folder / "train/n01/a.JPEG", folder / "val/n01/e.JPEG"]
    kept = [folder / "train/n01/b.jpg", folder / "train/n02/c.JPEG", folder / "val/n02/f.jpeg"]
    for files in (square, kept):
        t = image_store(files, 20, method)
        assert t.shape == (len(files), 3, 20, 20) and t.dtype == torch.uint8


def test_an_interrupted_write_leaves_no_store(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    files = ImageList.from_files(folder).items
    real = images._decode
    calls = []

    def flaky(fn: Path, size: int, method: str) -> torch.Tensor:
        calls.append(fn)
        if len(calls) == 4:
            raise KeyboardInterrupt
        return real(fn, size, method)

    monkeypatch.setattr(images, "_decode", flaky)
    with pytest.raises(KeyboardInterrupt):
        image_store(files, 16)
    dest = image_store_path(files, 16)
    assert not dest.exists() and list(dest.parent.iterdir()) == []

    def broken_save(obj: object, f: object) -> None:
        f.write(b"half a tensor")  # type: ignore[attr-defined]
        raise OSError("disk went away")

    real_save = torch.save
    monkeypatch.setattr(images, "_decode", real)
    monkeypatch.setattr(images.torch, "save", broken_save)
    with pytest.raises(OSError, match="disk went away"):
        image_store(files, 16)
    assert list(dest.parent.iterdir()) == []  # the partial file is removed too
    monkeypatch.setattr(images.torch, "save", real_save)
    assert image_store(files, 16).shape == (6, 3, 16, 16) and dest.exists()  # the next run starts clean


def test_a_damaged_store_is_rebuilt(folder: Path, counted: list[Path], capsys: pytest.CaptureFixture[str]) -> None:
    files = ImageList.from_files(folder).items
    image_store(files, 16)
    dest = image_store_path(files, 16)
    torch.save(torch.zeros(2, 3, 16, 16, dtype=torch.uint8), dest)
    assert image_store(files, 16).shape == (6, 3, 16, 16) and len(counted) == 12
    assert capsys.readouterr().err == (
        f"image_store: {dest} holds Tensor of dtype torch.uint8 and shape (2, 3, 16, 16), "
        "expected (6, 3, 16, 16) uint8; decoding again\n"
    )
    dest.write_bytes(b"not a tensor")
    assert image_store(files, 16).shape == (6, 3, 16, 16) and len(counted) == 18
    assert capsys.readouterr().err.startswith(f"image_store: cannot read {dest} (")
