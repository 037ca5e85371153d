"""foundations.vision.augment: PIL transforms against PIL oracles, batched transforms against PyTorch's.

Crops through ``EXTENT`` equal ``crop`` + ``resize`` where both are exact (integer boxes, nearest
neighbour, whole scale factors); ``find_coeffs`` maps its four points exactly; the identity warp
returns the image; ``RandomResizedCrop`` draws each try's area afresh and falls back, on any image
shape, to a valid centre box. Batched: the hand-written grid equals ``F.affine_grid`` in float64, a
rotation by 0 is the identity and by 90 degrees ``torch.rot90``, ``flip_batch`` is ``torch.flip``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import F64, gen, randn
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from foundations.callbacks import BatchTransformCallback
from foundations.testing import check_close
from foundations.vision.augment import (
    BatchAugment,
    CenterCrop,
    GeneralCrop,
    PilRandomDihedral,
    PilRandomFlip,
    PilTiltRandomCrop,
    RandomResizedCrop,
    affine_grid,
    crop_resize,
    dihedral,
    find_coeffs,
    flip_batch,
    perspective_grid,
    rotate_batch,
    rotation_matrix,
    warp,
    warp_batch,
)

pytestmark = pytest.mark.lesson11

NEAREST, BILINEAR = Image.Resampling.NEAREST, Image.Resampling.BILINEAR


def noise_image(w: int, h: int, seed: int = 0) -> Image.Image:
    return Image.fromarray(np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8))


def arr(img: Image.Image) -> np.ndarray:
    return np.asarray(img).astype(np.int64)


# ---- PIL: flips and the dihedral group -----------------------------------------------------------


def test_random_flip_flips_with_probability_p_and_replays_with_a_seed() -> None:
    img = noise_image(7, 5)
    flipped = arr(img)[:, ::-1]
    outs = [arr(PilRandomFlip(generator=gen(0))(img)) for _ in range(3)]
    assert all(np.array_equal(o, outs[0]) for o in outs), "the same seed must give the same flip"
    tfm = PilRandomFlip(p=0.5, generator=1)
    n_flipped = sum(np.array_equal(arr(tfm(img)), flipped) for _ in range(400))
    assert 160 < n_flipped < 240, n_flipped
    assert np.array_equal(arr(PilRandomFlip(p=1.0)(img)), flipped)
    assert np.array_equal(arr(PilRandomFlip(p=0.0)(img)), arr(img))
    assert PilRandomFlip.order == 11


def test_dihedral_gives_the_eight_distinct_symmetries() -> None:
    img = noise_image(6, 6, seed=1)
    a = torch.from_numpy(arr(img))  # (H, W, 3)
    outs = [torch.from_numpy(arr(dihedral(img, k))) for k in range(8)]
    expected = [torch.rot90(a, r, (0, 1)) for r in range(4)] + [torch.rot90(a.flip(1), r, (0, 1)) for r in range(4)]
    for o in outs:
        assert sum(torch.equal(o, e) for e in expected) == 1
    assert len({o.numpy().tobytes() for o in outs}) == 8
    assert torch.equal(outs[0], a)


def test_random_dihedral_draws_all_eight_uniformly() -> None:
    img = noise_image(5, 5, seed=2)
    keys = {arr(dihedral(img, k)).tobytes(): k for k in range(8)}
    tfm = PilRandomDihedral(generator=3)
    counts = np.bincount([keys[arr(tfm(img)).tobytes()] for _ in range(800)], minlength=8)
    assert counts.min() > 60 and counts.max() < 140, counts


# ---- PIL: crops via EXTENT -------------------------------------------------------------------------


@pytest.mark.parametrize(("box", "size"), [((2, 3, 8, 7), (6, 4)), ((2, 3, 8, 7), (3, 2)), ((0, 0, 16, 12), (8, 6)),
                                           ((4, 2, 10, 8), (12, 12)), ((1, 1, 5, 9), (4, 8))])
def test_extent_crop_equals_crop_then_resize_on_exact_cases(box: tuple, size: tuple) -> None:
    img = noise_image(16, 12, seed=4)
    got = crop_resize(img, box, size, NEAREST)
    assert np.array_equal(arr(got), arr(img.crop(box).resize(size, NEAREST)))


@pytest.mark.parametrize("resample", [NEAREST, BILINEAR, Image.Resampling.BICUBIC])
def test_extent_crop_at_the_same_size_is_the_crop(resample: Image.Resampling) -> None:
    img = noise_image(16, 12, seed=5)
    assert np.array_equal(arr(crop_resize(img, (3, 2, 11, 9), (8, 7), resample)), arr(img.crop((3, 2, 11, 9))))
    assert np.array_equal(arr(GeneralCrop((16, 12), resample)(img)), arr(img))


def test_center_crop_takes_the_centre_box() -> None:
    img = noise_image(16, 16, seed=6)
    assert CenterCrop(8, scale=2.0).get_box(16, 16) == (4.0, 4.0, 12.0, 12.0)
    assert np.array_equal(arr(CenterCrop(8, scale=2.0, resample=NEAREST)(img)), arr(img.crop((4, 4, 12, 12))))
    assert CenterCrop(128).get_box(160, 160) == pytest.approx((9.8246, 9.8246, 150.1754, 150.1754), abs=1e-4)


def test_crop_resize_rejects_bad_boxes_and_sizes() -> None:
    img = noise_image(8, 8)
    with pytest.raises(ValueError, match=r"crop_resize: expected box to be a finite box with right > left.*got tuple \(4, 4, 2, 8\)"):
        crop_resize(img, (4, 4, 2, 8), 4)
    with pytest.raises(TypeError, match="crop_resize: expected box to be a .left, top, right, bottom. tuple"):
        crop_resize(img, (1, 2, 3), 4)
    with pytest.raises(ValueError, match="crop_resize: expected size to be a positive int, got int 0"):
        crop_resize(img, (0, 0, 4, 4), 0)
    with pytest.raises(ValueError, match="crop_resize: expected resample to be Resampling.NEAREST, BILINEAR or BICUBIC .*got Resampling <Resampling.LANCZOS: 1>"):
        crop_resize(img, (0, 0, 4, 4), 4, Image.Resampling.LANCZOS)
    with pytest.raises(TypeError, match="crop_resize: expected img to be a PIL image, got Tensor"):
        crop_resize(torch.zeros(3, 4, 4), (0, 0, 4, 4), 4)


# ---- RandomResizedCrop: the two 2019 bugs ---------------------------------------------------------


def shrinking_box(w: int, h: int, scale: tuple, ratio: tuple, g: torch.Generator, tries: int = 10) -> tuple | None:
    """The 2019 retry loop, for contrast: each try multiplies the *previous* area by a new fraction."""
    area = w * h
    for _ in range(tries):
        area = area * (scale[0] + (scale[1] - scale[0]) * float(torch.rand(1, generator=g)))
        r = math.exp(math.log(ratio[0]) + (math.log(ratio[1]) - math.log(ratio[0])) * float(torch.rand(1, generator=g)))
        cw, ch = math.sqrt(area * r), math.sqrt(area / r)
        if cw <= w and ch <= h:
            return 0.0, 0.0, cw, ch
    return None


def area_fractions(get_box, n: int = 3000) -> np.ndarray:  # noqa: ANN001
    out = []
    for _ in range(n):
        box = get_box()
        if box is not None:
            out.append((box[2] - box[0]) * (box[3] - box[1]) / 4000)
    return np.array(out)


def test_random_resized_crop_draws_the_area_afresh_on_every_try() -> None:
    """Square crops (ratio 1) of a 100x40 image fit only up to 40 % of its area, so about two tries
    in three fail. Drawn afresh, the accepted fractions are uniform on [0.08, 0.4] (mean 0.24); the
    2019 loop, which shrinks the area on each retry, accepts fractions below the 8 % minimum. The
    same statistics are computed for both, so this test can fail."""
    scale, ratio = (0.08, 1.0), (1.0, 1.0)
    tfm = RandomResizedCrop(8, scale=scale, ratio=ratio, tries=50, generator=0)
    ours = area_fractions(lambda: tfm.get_box(100, 40))
    assert len(ours) == 3000 and ours.min() >= 0.08 - 1e-12 and ours.max() <= 0.4 + 1e-12
    assert abs(ours.mean() - 0.24) < 0.01, ours.mean()
    g = gen(1)
    theirs = area_fractions(lambda: shrinking_box(100, 40, scale, ratio, g, tries=50))
    assert (theirs < 0.08).mean() > 0.03  # about 6 % below the minimum: what the first check rejects


def test_random_resized_crop_areas_follow_the_scale_range() -> None:
    """On a square image the accepted areas are the uniform draws that fit: their fractions fill
    [0.08, 1] (the large ones are rejected more often at extreme ratios), none below 0.08."""
    tfm = RandomResizedCrop(8, generator=1)
    fracs = []
    for _ in range(2000):
        l, t, r, b = tfm.get_box(100, 100)
        fracs.append((r - l) * (b - t) / 1e4)
    fracs = np.array(fracs)
    assert fracs.min() >= 0.08 - 1e-9 and fracs.max() <= 1 + 1e-9
    assert 0.45 < fracs.mean() < 0.56, fracs.mean()
    assert (fracs < 0.2).mean() < 0.2  # the shrinking loop put far more mass here


@settings(max_examples=150)
@given(w=st.one_of(st.integers(1, 600), st.sampled_from([1, 2, 500])),
       h=st.one_of(st.integers(1, 600), st.sampled_from([1, 2, 500])),
       lo=st.floats(0.01, 1.0), span=st.floats(0.0, 1.0),
       rlo=st.floats(0.2, 2.0), rspan=st.floats(1.0, 4.0), tries=st.integers(0, 12), seed=st.integers(0, 2**31))
def test_random_resized_crop_never_fails_and_stays_inside(w: int, h: int, lo: float, span: float, rlo: float,
                                                          rspan: float, tries: int, seed: int) -> None:
    scale = (lo, lo + (1 - lo) * span)
    ratio = (rlo, rlo * rspan)
    tfm = RandomResizedCrop((5, 3), scale=scale, ratio=ratio, tries=tries, generator=seed)
    left, top, right, bottom = tfm.get_box(w, h)
    eps = 1e-9 * max(w, h)
    assert -eps <= left < right <= w + eps and -eps <= top < bottom <= h + eps
    r = (right - left) / (bottom - top)
    fell_back = (left, top, right, bottom) == tfm.fallback_box(w, h)
    if not fell_back:  # a drawn box: its ratio and area are in range
        assert ratio[0] * (1 - 1e-9) <= r <= ratio[1] * (1 + 1e-9)
        assert scale[0] * (1 - 1e-9) <= (right - left) * (bottom - top) / (w * h) <= scale[1] * (1 + 1e-9)
    assert tfm(noise_image(w, h, seed=seed % 7)).size == (5, 3)


@pytest.mark.parametrize(("w", "h", "expected"), [(1, 500, (0.0, 249.3333, 1.0, 250.6667)),
                                                  (500, 1, (249.3333, 0.0, 250.6667, 1.0)),
                                                  (100, 90, (0.0, 0.0, 100.0, 90.0))])
def test_random_resized_crop_falls_back_to_the_centre_at_the_nearest_allowed_ratio(w: int, h: int,
                                                                                   expected: tuple) -> None:
    tfm = RandomResizedCrop(16, tries=0)
    assert tfm.get_box(w, h) == pytest.approx(expected, abs=1e-4)
    assert tfm(noise_image(w, h)).size == (16, 16)
    assert RandomResizedCrop(16, tries=10, generator=0)(noise_image(w, h)).size == (16, 16)


def test_random_resized_crop_rejects_bad_ranges() -> None:
    with pytest.raises(ValueError, match=r"RandomResizedCrop: expected scale to be a \(low, high\) pair in \(0, 1\], got tuple \(0.5, 1.5\)"):
        RandomResizedCrop(8, scale=(0.5, 1.5))
    with pytest.raises(ValueError, match="RandomResizedCrop: expected ratio to be .* low <= high, both > 0, got tuple"):
        RandomResizedCrop(8, ratio=(2.0, 1.0))
    with pytest.raises(TypeError, match="RandomResizedCrop: expected generator to be a torch.Generator, an int seed or None, got str"):
        RandomResizedCrop(8, generator="seed")


# ---- the perspective warp -------------------------------------------------------------------------


def apply_projective(c: torch.Tensor, pts: torch.Tensor) -> torch.Tensor:
    a, b, cc, d, e, f, g, h = c.tolist()
    x, y = pts[:, 0], pts[:, 1]
    z = g * x + h * y + 1
    return torch.stack([(a * x + b * y + cc) / z, (d * x + e * y + f) / z], 1)


def test_find_coeffs_of_the_identity_is_the_identity() -> None:
    sq = [[0, 0], [7, 0], [7, 5], [0, 5]]
    check_close(find_coeffs(sq, sq), torch.tensor([1, 0, 0, 0, 1, 0, 0, 0], dtype=F64), what="identity", atol=1e-12, rtol=0)


def test_find_coeffs_recovers_a_known_projective_map() -> None:
    known = torch.tensor([1.2, 0.1, 3.0, -0.2, 0.9, 1.5, 0.01, -0.02], dtype=F64)
    src = torch.tensor([[0, 0], [10, 1], [12, 9], [1, 8]], dtype=F64)
    dst = apply_projective(known, src)
    got = find_coeffs(src, dst)
    check_close(got, known, what="coefficients of a known map", atol=1e-12, rtol=1e-10)
    check_close(apply_projective(got, src), dst, what="the four corners mapped", atol=1e-12, rtol=0)
    more = randn(20, 2, seed=3) * 5 + 5  # and every other point follows the same map
    check_close(apply_projective(got, more), apply_projective(known, more), what="other points", atol=1e-10, rtol=1e-10)


def test_find_coeffs_batched_equals_one_at_a_time_and_maps_the_corners() -> None:
    src = torch.tensor([[0.0, 0], [1, 0], [1, 1], [0, 1]], dtype=F64).repeat(5, 1, 1)
    dst = src + 0.2 * randn(5, 4, 2, seed=4)
    got = find_coeffs(src, dst)
    assert got.shape == (5, 8)
    for i in range(5):
        check_close(got[i], find_coeffs(src[i], dst[i]), what=f"system {i}", atol=1e-13, rtol=0)
        check_close(apply_projective(got[i], src[i]), dst[i], what=f"corners of system {i}", atol=1e-12, rtol=0)


def test_find_coeffs_rejects_bad_points() -> None:
    with pytest.raises(ValueError, match=r"find_coeffs: expected src_pts of shape \(\.\.\., 4, 2\) \(four \(x, y\) points\), got \(3, 2\)"):
        find_coeffs([[0, 0], [1, 0], [1, 1]], [[0, 0], [1, 0], [1, 1]])
    with pytest.raises(ValueError, match=r"find_coeffs: expected src_pts and dst_pts of the same shape, got \(4, 2\) and \(2, 4, 2\)"):
        find_coeffs(torch.zeros(4, 2), torch.zeros(2, 4, 2))
    with pytest.raises(torch.linalg.LinAlgError):  # three points on a line
        find_coeffs([[0, 0], [1, 1], [2, 2], [0, 1]], [[0, 0], [1, 0], [1, 1], [0, 1]])


@pytest.mark.parametrize("resample", [NEAREST, BILINEAR, Image.Resampling.BICUBIC])
def test_identity_warp_returns_the_image(resample: Image.Resampling) -> None:
    img = noise_image(16, 12, seed=7)
    assert np.array_equal(arr(warp(img, (16, 12), [[0, 0], [16, 0], [16, 12], [0, 12]], resample)), arr(img))


@pytest.mark.parametrize(("box", "size"), [((2, 3, 8, 7), (6, 4)), ((2, 3, 8, 7), (3, 2)), ((4, 2, 10, 8), (12, 12))])
def test_warp_of_a_rectangle_equals_the_extent_crop(box: tuple, size: tuple) -> None:
    img = noise_image(16, 12, seed=8)
    l, t, r, b = box
    got = warp(img, size, [[l, t], [r, t], [r, b], [l, b]], NEAREST)
    assert np.array_equal(arr(got), arr(img.crop(box).resize(size, NEAREST)))


@settings(max_examples=60)
@given(w=st.integers(8, 300), h=st.integers(8, 300), mag=st.floats(0.0, 0.5), crop=st.one_of(st.none(), st.integers(1, 400)),
       seed=st.integers(0, 2**31))
def test_tilt_crop_corners_stay_inside_the_image(w: int, h: int, mag: float, crop: int | None, seed: int) -> None:
    tfm = PilTiltRandomCrop(16, crop_size=crop, magnitude=mag, generator=seed)
    pts = torch.tensor(tfm.get_corners(w, h))
    assert pts.shape == (4, 2)
    eps = 1e-9 * max(w, h)
    assert (pts[:, 0] >= -eps).all() and (pts[:, 0] <= w + eps).all()
    assert (pts[:, 1] >= -eps).all() and (pts[:, 1] <= h + eps).all()


def test_tilt_crop_with_zero_magnitude_is_a_square_crop() -> None:
    tfm = PilTiltRandomCrop(16, crop_size=40, magnitude=0.0, generator=0)
    (x0, y0), (x1, y1), (x2, y2), (x3, y3) = tfm.get_corners(100, 60)
    assert (x1 - x0, y3 - y0) == pytest.approx((40, 40)) and (x2, y2) == pytest.approx((x1, y3))
    assert PilTiltRandomCrop(16, magnitude=0.3, generator=1)(noise_image(50, 40)).size == (16, 16)


# ---- batched: flips, grids, rotations -------------------------------------------------------------


def test_flip_batch_flips_exactly_the_masked_images() -> None:
    x = randn(5, 3, 4, 6, seed=10)
    mask = torch.tensor([True, False, True, True, False])
    got = flip_batch(x, mask)
    for i in range(5):
        assert torch.equal(got[i], torch.flip(x[i], (-1,)) if mask[i] else x[i])
    assert torch.equal(flip_batch(x, torch.ones(5, dtype=torch.bool)), torch.flip(x, (-1,)))


def test_flip_batch_errors_name_what_was_expected() -> None:
    x = randn(5, 3, 4, 6, seed=10)
    with pytest.raises(ValueError, match=r"flip_batch: expected mask of shape \(5,\), one per image, got \(4,\)"):
        flip_batch(x, torch.ones(4, dtype=torch.bool))
    with pytest.raises(TypeError, match="flip_batch: expected mask to be a 1-d torch.bool tensor, got Tensor of dtype torch.int64"):
        flip_batch(x, torch.ones(5, dtype=torch.int64))
    with pytest.raises(ValueError, match=r"flip_batch: expected x to be a 4-d floating-point tensor, got Tensor .*\(3, 4, 6\)"):
        flip_batch(x[0], torch.ones(3, dtype=torch.bool))
    with pytest.raises(TypeError, match="flip_batch: expected x to be a 4-d floating-point tensor, got Tensor of dtype torch.uint8"):
        flip_batch(torch.zeros(5, 3, 4, 6, dtype=torch.uint8), torch.ones(5, dtype=torch.bool))


@pytest.mark.parametrize("align_corners", [False, True])
@pytest.mark.parametrize("size", [(3, 2, 5, 7), (2, 1, 8, 8), (1, 3, 1, 6), (4, 1, 9, 1), (2, 1, 1, 1)])
def test_affine_grid_equals_torchs_in_float64(size: tuple, align_corners: bool) -> None:
    theta = randn(size[0], 2, 3, seed=11)
    with pytest.warns(UserWarning) if align_corners and 1 in size[2:] else _no_warning():
        expected = F.affine_grid(theta, list(size), align_corners=align_corners)
    check_close(affine_grid(theta, size, align_corners), expected, what=f"affine_grid {size} {align_corners}",
                atol=1e-12, rtol=0)


class _no_warning:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> bool:
        return False


def test_affine_grid_errors_name_what_was_expected() -> None:
    with pytest.raises(ValueError, match=r"affine_grid: expected theta of shape \(2, 2, 3\) for size \(2, 1, 4, 4\), got \(2, 3, 3\)"):
        affine_grid(randn(2, 3, 3), (2, 1, 4, 4))
    with pytest.raises(TypeError, match="affine_grid: expected theta to be a 3-d floating-point tensor, got Tensor of dtype torch.int64"):
        affine_grid(torch.zeros(2, 2, 3, dtype=torch.int64), (2, 1, 4, 4))
    with pytest.raises(ValueError, match=r"affine_grid: expected size to be an \(N, C, H, W\) size of positive ints, got tuple \(2, 4, 4\)"):
        affine_grid(randn(2, 2, 3), (2, 4, 4))


def test_rotation_matrix_is_a_rotation() -> None:
    m = rotation_matrix(torch.tensor([0.0, 90.0, 30.0, -45.0], dtype=F64))
    assert m.shape == (4, 2, 3) and m.dtype == F64
    check_close(m[0], torch.tensor([[1.0, 0, 0], [0, 1, 0]], dtype=F64), what="0 degrees", atol=0, rtol=0)
    check_close(m[1, :, :2], torch.tensor([[0.0, -1], [1, 0]], dtype=F64), what="90 degrees", atol=1e-16, rtol=0)
    r = m[:, :, :2]
    check_close(r @ r.transpose(1, 2), torch.eye(2, dtype=F64).expand(4, 2, 2), what="R R^T", atol=1e-15, rtol=0)
    check_close(torch.linalg.det(r), torch.ones(4, dtype=F64), what="det R", atol=1e-15, rtol=0)
    assert rotation_matrix(torch.tensor([10])).dtype == torch.float32


@pytest.mark.parametrize("align_corners", [False, True])
@pytest.mark.parametrize("dtype", [torch.float32, F64])
def test_rotation_by_zero_is_the_identity(align_corners: bool, dtype: torch.dtype) -> None:
    x = randn(3, 2, 7, 5, seed=12, dtype=dtype)
    check_close(rotate_batch(x, 0.0, align_corners), x, what="rotation by 0", atol=1e-6, rtol=0)


@pytest.mark.parametrize("size", [2, 8, 16, 64, 128])
def test_rotation_by_90_degrees_is_rot90_bit_for_bit_on_power_of_two_squares(size: int) -> None:
    """With align_corners=False pixel i of n sits at (2i + 1) / n - 1: for n a power of two every
    such coordinate is exact in float32, a quarter turn sends centres onto centres, and the result
    is ``torch.rot90`` bit for bit (and the rotation by 0 the batch itself). With align_corners=True
    (centres at linspace(-1, 1, n)) the rounding of linspace shows: checked close, not equal."""
    x = torch.rand(3, 2, size, size, generator=gen(13))
    assert torch.equal(rotate_batch(x, 90.0, align_corners=False), torch.rot90(x, 1, (-2, -1)))
    assert torch.equal(rotate_batch(x, -90.0, align_corners=False), torch.rot90(x, -1, (-2, -1)))
    assert torch.equal(rotate_batch(x, 0.0, align_corners=False), x)
    check_close(rotate_batch(x, 90.0, align_corners=True), torch.rot90(x, 1, (-2, -1)), what="align_corners=True",
                atol=2e-5, rtol=0)


@pytest.mark.parametrize("align_corners", [False, True])
@pytest.mark.parametrize("size", [7, 100, 160])
def test_rotation_by_90_degrees_is_rot90_up_to_coordinate_rounding(size: int, align_corners: bool) -> None:
    """Otherwise the float32 grid coordinate lands on i + d with d ~ n * eps: an error ~1e-5 at
    160 px, in either convention; in float64 it is gone."""
    x = torch.rand(3, 2, size, size, generator=gen(13))
    check_close(rotate_batch(x, 90.0, align_corners), torch.rot90(x, 1, (-2, -1)),
                what=f"float32, align_corners={align_corners}", atol=2e-5, rtol=0)
    xd = x.double()
    check_close(rotate_batch(xd, 90.0, align_corners), torch.rot90(xd, 1, (-2, -1)),
                what=f"float64, align_corners={align_corners}", atol=1e-12, rtol=0)
    check_close(rotate_batch(xd, -90.0, align_corners), torch.rot90(xd, -1, (-2, -1)),
                what=f"-90 degrees in float64, align_corners={align_corners}", atol=1e-12, rtol=0)


def test_rotation_angles_are_per_image() -> None:
    x = torch.rand(1, 1, 8, 8, generator=gen(14)).expand(3, 1, 8, 8).contiguous()
    out = rotate_batch(x, torch.tensor([0.0, 90.0, 180.0]))
    assert torch.equal(out[0], x[0]) and torch.equal(out[1], torch.rot90(x[1], 1, (-2, -1)))
    check_close(out[2], torch.rot90(x[2], 2, (-2, -1)), what="180 degrees", atol=1e-6, rtol=0)
    assert not torch.allclose(out[0], out[1]) and not torch.allclose(out[1], out[2])


def test_align_corners_changes_a_small_rotation() -> None:
    x = torch.rand(1, 1, 8, 8, generator=gen(15))
    diff = (rotate_batch(x, 10.0, align_corners=False) - rotate_batch(x, 10.0, align_corners=True)).abs().max()
    assert diff > 1e-3


def test_rotate_batch_errors_name_what_was_expected() -> None:
    x = torch.rand(3, 1, 4, 4)
    with pytest.raises(ValueError, match=r"rotate_batch: expected degrees of shape \(3,\), one per image, got \(2,\)"):
        rotate_batch(x, torch.zeros(2))
    with pytest.raises(ValueError, match="rotate_batch: expected padding_mode to be 'zeros', 'border' or 'reflection', got str 'wrap'"):
        rotate_batch(x, 0.0, padding_mode="wrap")
    with pytest.raises(TypeError, match="rotate_batch: expected align_corners to be a bool, got int 1"):
        rotate_batch(x, 0.0, align_corners=1)


# ---- batched: perspective warps and the composed augmentation ------------------------------------


@pytest.mark.parametrize("align_corners", [False, True])
def test_perspective_grid_of_an_affine_matrix_is_the_affine_grid(align_corners: bool) -> None:
    m = torch.eye(3, dtype=F64).repeat(3, 1, 1)
    m[:, :2] = randn(3, 2, 3, seed=16)
    check_close(perspective_grid(m, (3, 1, 5, 6), align_corners), F.affine_grid(m[:, :2], [3, 1, 5, 6], align_corners=align_corners),
                what="perspective grid of an affine map", atol=1e-12, rtol=0)


def test_perspective_grid_divides_by_the_third_coordinate() -> None:
    m = torch.eye(3, dtype=F64).unsqueeze(0).clone()
    m[0, 2, 0] = 0.3  # z = 0.3 x + 1
    grid = perspective_grid(m, (1, 1, 3, 4))
    xs = torch.tensor([-0.75, -0.25, 0.25, 0.75], dtype=F64)
    check_close(grid[0, 0, :, 0], xs / (0.3 * xs + 1), what="x / z on the first row", atol=1e-15, rtol=0)


def test_warp_batch_with_the_flip_matrix_is_torch_flip() -> None:
    x = torch.rand(2, 3, 5, 6, generator=gen(17))
    m = torch.diag(torch.tensor([-1.0, 1.0, 1.0])).repeat(2, 1, 1)
    for ac in (False, True):
        check_close(warp_batch(x, m, align_corners=ac), torch.flip(x, (-1,)), what=f"flip, align_corners={ac}",
                    atol=1e-6, rtol=0)


def test_batch_augment_is_reproducible_per_image_and_plugs_into_a_callback() -> None:
    x = torch.rand(6, 3, 16, 16, generator=gen(18))
    a, b = BatchAugment(generator=5)(x), BatchAugment(generator=5)(x)
    assert a.shape == x.shape and a.dtype == x.dtype and torch.equal(a, b)
    m = BatchAugment(generator=5).matrices(6)
    assert m.shape == (6, 3, 3) and len({tuple(r.flatten().tolist()) for r in m}) == 6  # a different map per image
    still = BatchAugment(p_flip=0.0, max_rotate=0.0, max_zoom=1.0, max_tilt=0.0)
    check_close(still(x), x, what="BatchAugment that changes nothing", atol=1e-6, rtol=0)
    flip = BatchAugment(p_flip=1.0, max_rotate=0.0, max_zoom=1.0, max_tilt=0.0)
    check_close(flip(x), torch.flip(x, (-1,)), what="BatchAugment that always flips", atol=1e-6, rtol=0)
    cb = BatchTransformCallback(BatchAugment(generator=5))
    assert callable(cb.tfm) and torch.equal(cb.tfm(x), a)


def test_batch_augment_zoom_stays_inside_the_image() -> None:
    aug = BatchAugment(p_flip=0.0, max_rotate=0.0, max_zoom=3.0, max_tilt=0.0, generator=6)
    m = aug.matrices(500)
    corners = torch.tensor([[-1.0, -1, 1], [1, -1, 1], [1, 1, 1], [-1, 1, 1]], dtype=F64)
    q = corners @ m.transpose(1, 2)  # (500, 4, 3)
    assert (q[..., :2].abs() <= 1 + 1e-12).all()


def test_batch_augment_rejects_bad_settings() -> None:
    with pytest.raises(ValueError, match=r"BatchAugment: expected max_zoom to be a finite number >= 1, got float 0.5"):
        BatchAugment(max_zoom=0.5)
    with pytest.raises(ValueError, match=r"BatchAugment: expected x to be a 4-d floating-point tensor, got Tensor"):
        BatchAugment()(torch.rand(3, 8, 8))
    assert math.isclose(BatchAugment().p_flip, 0.5)
