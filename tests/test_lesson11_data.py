"""Lesson 11's settings, archive keys, Imagenette tensors and statistics, the stem CNN.

Imagenette itself comes from the mirror (``FOUNDATIONS_MIRROR``, as ``make test`` sets it); the
store built from it is the one the pages use. The small pieces are checked on folders of tiny
images made here, against computations written out independently.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from PIL import Image
from torch import nn

from conftest import gen
from foundations.data import archive_sha256
from foundations.models import get_stem_cnn, get_stem_cnn_layers, prev_pow_2
from foundations.settings import SETTING_ENV, by_setting, current_setting
from foundations.vision.imagenette import (
    IMAGENETTE,
    IMAGENETTE_CLASSES,
    ByteNormalize,
    channel_stats,
    get_imagenette,
    imagenette_lists,
    imagenette_tensors,
)


# -- settings ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("value, expected", [(None, "default"), ("", "default"), ("default", "default"),
                                             ("full", "full"), (" full ", "full")])
def test_setting_from_the_environment(monkeypatch: pytest.MonkeyPatch, value: str | None, expected: str) -> None:
    if value is None:
        monkeypatch.delenv(SETTING_ENV, raising=False)
    else:
        monkeypatch.setenv(SETTING_ENV, value)
    assert current_setting() == expected
    assert by_setting(default=64, full=128) == (128 if expected == "full" else 64)


@pytest.mark.parametrize("value", ["ful", "FULL", "fast", "1"])
def test_a_mistyped_setting_is_an_error(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv(SETTING_ENV, value)
    with pytest.raises(ValueError, match=f"FOUNDATIONS_SETTING: expected 'default' or 'full' \\(or unset\\), got '{value}'"):
        by_setting(1, 2)


# -- archive_sha256 ---------------------------------------------------------------------------------


def test_archive_sha256_is_the_verified_archives(monkeypatch: pytest.MonkeyPatch) -> None:
    import hashlib

    from foundations.data.registry import lookup

    ds = lookup(IMAGENETTE)
    digest = archive_sha256(IMAGENETTE)
    assert digest == ds.checks[0].digest or digest in {c.digest for c in ds.checks if c.kind == "sha256"}
    mirror = os.environ.get("FOUNDATIONS_MIRROR")
    if mirror and Path(mirror, ds.path).exists():
        h = hashlib.sha256(Path(mirror, ds.path).read_bytes()).hexdigest()
        assert digest == h, "the marker's sha256 is the archive's, hashed independently here"
    with pytest.raises(ValueError, match="archive_sha256: expected the name of an archive dataset, got 'mnist_pkl'"):
        archive_sha256("mnist_pkl")


# -- Imagenette ---------------------------------------------------------------------------------------


def test_imagenette_lists_match_the_folders() -> None:
    sd = imagenette_lists()
    root = sd.train.x.path
    assert len(sd.train) == 9469 and len(sd.valid) == 3925 and sd.dropped == 0
    vocab = sd.train.proc_y[0].vocab
    assert list(vocab) == sorted(IMAGENETTE_CLASSES), "every class has its English name, and only those"
    assert sorted(os.listdir(root / "train")) == sorted(os.listdir(root / "val")) == list(vocab)
    for split, half in (("train", sd.train), ("val", sd.valid)):
        for i in (0, len(half) // 2, len(half) - 1):
            fn = Path(half.x.items[i])
            assert fn.parts[-3] == split and vocab[half.y.items[i]] == fn.parent.name


def test_imagenette_tensors_are_the_decoded_images() -> None:
    from foundations.vision.images import open_image, resize_image, to_byte_tensor

    t = imagenette_tensors(64)
    sd = imagenette_lists()
    assert t.train_x.shape == (9469, 3, 64, 64) and t.valid_x.shape == (3925, 3, 64, 64)
    assert t.train_x.dtype == t.valid_x.dtype == torch.uint8 and t.train_y.dtype == torch.long
    assert t.train_y.tolist() == list(sd.train.y.items) and t.valid_y.tolist() == list(sd.valid.y.items)
    assert torch.bincount(t.valid_y).tolist() == [387, 395, 357, 386, 409, 394, 389, 419, 399, 390]
    for x, items, i in ((t.train_x, sd.train.x.items, 1234), (t.valid_x, sd.valid.x.items, 77)):
        assert torch.equal(x[i], to_byte_tensor(resize_image(open_image(items[i]), 64, "squish")))
    assert "9469 training and 3925 validation images, 64x64 (squish), 10 classes" in repr(t)


def test_get_imagenette_batches_and_normalisation() -> None:
    data, norm = get_imagenette(32, 64, generator=gen(0))
    assert (data.c_in, data.c_out, len(data.train_dl), len(data.valid_dl)) == (3, 10, 296, 62)
    xb, yb = next(iter(data.train_dl))
    assert xb.shape == (32, 3, 64, 64) and xb.dtype == torch.uint8 and yb.shape == (32,)
    x = norm(xb)
    manual = (xb.double() / 255 - norm.mean.double()[:, None, None]) / norm.std.double()[:, None, None]
    torch.testing.assert_close(x.double(), manual, rtol=1e-6, atol=1e-6)
    assert x.dtype == torch.float32


def test_channel_stats_equal_float64_statistics() -> None:
    x = torch.randint(0, 256, (37, 3, 5, 7), dtype=torch.uint8, generator=gen(1))
    mean, std = channel_stats(x, chunk=8)
    xf = x.double().div(255).permute(1, 0, 2, 3).reshape(3, -1)
    torch.testing.assert_close(mean.double(), xf.mean(1), rtol=0, atol=1e-7)
    torch.testing.assert_close(std.double(), xf.std(1, correction=0), rtol=0, atol=1e-7)
    assert channel_stats(x, chunk=1000)[0].tolist() == mean.tolist()
    with pytest.raises(TypeError, match="channel_stats: expected x to be"):
        channel_stats(x.float())
    with pytest.raises(ValueError, match="channel_stats"):
        channel_stats(x, chunk=0)


def test_byte_normalize_checks_its_inputs() -> None:
    with pytest.raises(ValueError, match=r"ByteNormalize: expected mean and std of one shape \(C,\), got \(3,\) and \(2,\)"):
        ByteNormalize(torch.zeros(3), torch.ones(2))
    with pytest.raises(ValueError, match="ByteNormalize: expected every std to be positive"):
        ByteNormalize(torch.zeros(3), torch.tensor([1.0, 0.0, 1.0]))
    norm = ByteNormalize(torch.tensor([0.5, 0.5, 0.5]), torch.tensor([0.25, 0.5, 1.0]))
    with pytest.raises(ValueError, match=r"ByteNormalize: expected a batch \(N, 3, H, W\), got shape \(2, 1, 4, 4\)"):
        norm(torch.zeros(2, 1, 4, 4, dtype=torch.uint8))
    x = torch.full((1, 3, 1, 1), 255, dtype=torch.uint8)
    assert norm(x).flatten().tolist() == [2.0, 1.0, 0.5]
    assert norm(x.float() / 255).flatten().tolist() == [2.0, 1.0, 0.5], "float batches: normalised only"


# -- the stem CNN ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("x, expected", [(1, 1), (2, 2), (3, 2), (27, 16), (32, 32), (33, 32), (1000, 512)])
def test_prev_pow_2(x: int, expected: int) -> None:
    assert prev_pow_2(x) == expected


def test_prev_pow_2_refuses_non_positive() -> None:
    with pytest.raises(ValueError, match="prev_pow_2: expected x to be"):
        prev_pow_2(0)


def test_stem_cnn_shapes_and_parameter_count() -> None:
    nfs = [32, 64, 128]
    model = get_stem_cnn(10, nfs, bn=True)
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert [(c.in_channels, c.out_channels, c.stride[0]) for c in convs] == [
        (3, 16, 1), (16, 32, 2), (32, 64, 2), (64, 32, 2), (32, 64, 2), (64, 128, 2)]
    # parameters counted from the architecture: conv weights (no bias with BatchNorm), BN's two per
    # channel, and the linear layer
    sizes = [(3, 16), (16, 32), (32, 64), (64, 32), (32, 64), (64, 128)]
    expected = sum(9 * i * o + 2 * o for i, o in sizes) + 128 * 10 + 10
    assert sum(p.numel() for p in model.parameters()) == expected == 136_026
    x = torch.zeros(2, 3, 64, 64)
    assert model(x).shape == (2, 10)
    assert get_stem_cnn(10, nfs, c_in=1)(torch.zeros(2, 1, 64, 64)).shape == (2, 10)
    assert [m.out_channels for m in get_stem_cnn_layers(5, [8], c_in=1)[:3] for m in m if isinstance(m, nn.Conv2d)] == [8, 16, 32]


def test_stem_cnn_refuses_empty_channels() -> None:
    with pytest.raises(ValueError, match="get_stem_cnn_layers: expected at least one entry in nfs, got none"):
        get_stem_cnn_layers(10, [])
