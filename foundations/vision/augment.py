"""Data augmentation: random changes to training images, per image with PIL or per batch with tensors.

Derived in Lesson 11, "Data augmentation" (lessons/11_augmentation). Two families:

- **Per-image PIL transforms**, run in a dataset's transform pipeline before
  :func:`~foundations.vision.images.to_byte_tensor` (``order`` 11 < 20): :class:`PilRandomFlip`,
  :class:`PilRandomDihedral` (the 8 symmetries of a square), crops through PIL's ``EXTENT`` transform
  (:func:`crop_resize`, :class:`GeneralCrop`, :class:`CenterCrop`, :class:`RandomResizedCrop`) and a
  perspective warp (:func:`find_coeffs`, :func:`warp`, :class:`PilTiltRandomCrop`). Each random one
  takes a ``torch.Generator`` or an int seed, so a run can be replayed.
- **Batched tensor transforms** on ``(N, C, H, W)`` float batches, for
  :class:`~foundations.callbacks.BatchTransformCallback`: :func:`flip_batch`, :func:`affine_grid`
  (written out, checked against ``F.affine_grid``), :func:`rotation_matrix`, :func:`rotate_batch`,
  :func:`perspective_grid` and :func:`warp_batch`, and :class:`BatchAugment`, which composes a flip,
  a rotation, a zoom and a tilt per image into one 3x3 matrix and samples the batch once.

Coordinates: PIL's are pixels, ``(x, y)`` with ``x`` to the right and ``y`` down, the image spanning
``[0, w] x [0, h]``. The batched transforms use ``F.grid_sample``'s: ``[-1, 1]`` across each side,
``-1`` the left (top) edge. A matrix maps an *output* position to the *input* position it samples.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor

from foundations import checks

__all__ = [
    "BatchAugment",
    "CenterCrop",
    "GeneralCrop",
    "PilRandomDihedral",
    "PilRandomFlip",
    "PilTiltRandomCrop",
    "PilTransform",
    "RandomResizedCrop",
    "affine_grid",
    "crop_resize",
    "dihedral",
    "find_coeffs",
    "flip_batch",
    "perspective_grid",
    "rotate_batch",
    "rotation_matrix",
    "warp",
    "warp_batch",
]

Resample = Image.Resampling
Box = tuple[float, float, float, float]  # (left, top, right, bottom) in pixels


# --------------------------------------------------------------------------------------------------
# Checks shared by the transforms
# --------------------------------------------------------------------------------------------------


def _generator(fn: str, generator: object) -> torch.Generator | None:
    """A ``torch.Generator`` from ``generator`` (a generator, an int seed, or None: torch's global one)."""
    if generator is None or isinstance(generator, torch.Generator):
        return generator
    if checks.is_int(generator):
        return torch.Generator().manual_seed(int(generator))
    raise TypeError(checks.message(fn, "generator", "a torch.Generator, an int seed or None", generator))


def _uniform(g: torch.Generator | None, lo: float, hi: float, n: int | None = None) -> float | Tensor:
    """One number (or ``n``, float64) uniform in ``[lo, hi)`` from ``g``."""
    u = torch.rand(1 if n is None else n, generator=g, dtype=torch.float64)
    u = lo + (hi - lo) * u
    return float(u) if n is None else u


def _size(fn: str, size: object) -> tuple[int, int]:
    """``size`` as ``(w, h)``: an int ``s`` is ``(s, s)``."""
    if checks.is_int(size):
        s = checks.positive_int(fn, "size", size)
        return s, s
    if isinstance(size, (tuple, list)) and len(size) == 2 and all(checks.is_int(s) and s > 0 for s in size):
        return int(size[0]), int(size[1])
    raise (TypeError if not isinstance(size, (tuple, list, int)) else ValueError)(
        checks.message(fn, "size", "a positive int or a (width, height) pair of them", size))


_TRANSFORM_FILTERS = (Resample.NEAREST, Resample.BILINEAR, Resample.BICUBIC)  # what Image.transform accepts


def _resample(fn: str, resample: object) -> Resample:
    what = "Resampling.NEAREST, BILINEAR or BICUBIC (the filters Image.transform accepts)"
    if not checks.is_int(resample):
        raise TypeError(checks.message(fn, "resample", what, resample))
    if resample not in _TRANSFORM_FILTERS:
        raise ValueError(checks.message(fn, "resample", what, resample))
    return Resample(resample)


def _pil(fn: str, img: object) -> Image.Image:
    if not isinstance(img, Image.Image):
        raise TypeError(checks.message(fn, "img", "a PIL image", img))
    return img


def _range(fn: str, name: str, value: object, positive: bool = False) -> tuple[float, float]:
    """A ``(lo, hi)`` pair of finite numbers with ``lo <= hi`` (both > 0 if ``positive``)."""
    what = "a (low, high) pair of numbers with low <= high" + (", both > 0" if positive else "")
    if not isinstance(value, (tuple, list)) or len(value) != 2 or not all(checks.is_real(v) for v in value):
        raise TypeError(checks.message(fn, name, what, value))
    lo, hi = float(value[0]), float(value[1])
    if not (math.isfinite(lo) and math.isfinite(hi)) or lo > hi or (positive and lo <= 0):
        raise ValueError(checks.message(fn, name, what, value))
    return lo, hi


# --------------------------------------------------------------------------------------------------
# Per-image PIL transforms
# --------------------------------------------------------------------------------------------------


class PilTransform:
    """Base of the PIL transforms: ``order = 11``, after resizing (10), before ``to_byte_tensor`` (20).

    ``generator``: a ``torch.Generator``, an int seed (a generator of its own, seeded with it), or
    None (torch's global generator, so ``torch.manual_seed`` replays it).
    Derived in Lesson 11, "Data augmentation" (lessons/11_augmentation).
    """

    order = 11

    def __init__(self, generator: torch.Generator | int | None = None) -> None:
        self.generator = _generator(type(self).__name__, generator)

    def __call__(self, img: Image.Image) -> Image.Image:  # pragma: no cover - every subclass has one
        raise NotImplementedError


class PilRandomFlip(PilTransform):
    """Flip the image left to right with probability ``p``.

    Derived in Lesson 11, "Data augmentation" (lessons/11_augmentation).
    """

    def __init__(self, p: float = 0.5, generator: torch.Generator | int | None = None) -> None:
        super().__init__(generator)
        self.p = checks.real("PilRandomFlip", "p", p, min=0.0, max=1.0)

    def __call__(self, img: Image.Image) -> Image.Image:
        img = _pil("PilRandomFlip", img)
        return img.transpose(Image.Transpose.FLIP_LEFT_RIGHT) if _uniform(self.generator, 0, 1) < self.p else img


def dihedral(img: Image.Image, k: int) -> Image.Image:
    """Symmetry ``k`` of the 8 of a square (the dihedral group): 0 is the identity, ``1..7`` PIL's
    seven ``Image.Transpose`` operations (flips, rotations by 90, 180, 270 degrees, transpositions).

    Derived in Lesson 11, "Data augmentation" (lessons/11_augmentation).
    """
    img = _pil("dihedral", img)
    k = checks.integer("dihedral", "k", k, min=0, max=7)
    return img if k == 0 else img.transpose(Image.Transpose(k - 1))


class PilRandomDihedral(PilTransform):
    """With probability ``p``, one of the 7 symmetries other than the identity, uniformly (:func:`dihedral`).

    The default ``p = 7/8`` makes all 8 symmetries, the identity included, equally likely.
    Derived in Lesson 11, "Data augmentation" (lessons/11_augmentation).
    """

    def __init__(self, p: float = 7 / 8, generator: torch.Generator | int | None = None) -> None:
        super().__init__(generator)
        self.p = checks.real("PilRandomDihedral", "p", p, min=0.0, max=1.0)

    def __call__(self, img: Image.Image) -> Image.Image:
        img = _pil("PilRandomDihedral", img)
        if _uniform(self.generator, 0, 1) >= self.p:
            return img
        return dihedral(img, int(torch.randint(1, 8, (1,), generator=self.generator)))


def crop_resize(img: Image.Image, box: Sequence[float], size: int | tuple[int, int],
                resample: Resample = Resample.BILINEAR) -> Image.Image:
    """The region ``box = (left, top, right, bottom)`` of ``img`` (pixels, floats allowed) resized to
    ``size`` in one resampling: PIL's ``Image.transform(size, EXTENT, box)``.

    Cropping then resizing would resample twice (and treat the crop's edge as the image's edge);
    ``EXTENT`` reads the source pixels directly. On an integer box with ``NEAREST`` and a whole
    scale factor it equals ``img.crop(box).resize(size, NEAREST)``.
    Derived in Lesson 11, "Data augmentation" (lessons/11_augmentation).
    """
    img = _pil("crop_resize", img)
    size = _size("crop_resize", size)
    if not isinstance(box, (tuple, list)) or len(box) != 4 or not all(checks.is_real(v) for v in box):
        raise TypeError(checks.message("crop_resize", "box", "a (left, top, right, bottom) tuple of numbers", box))
    left, top, right, bottom = (float(v) for v in box)
    if not (right > left and bottom > top) or not all(math.isfinite(v) for v in (left, top, right, bottom)):
        raise ValueError(checks.message("crop_resize", "box", "a finite box with right > left and bottom > top", box))
    return img.transform(size, Image.Transform.EXTENT, (left, top, right, bottom),
                         resample=_resample("crop_resize", resample))


class GeneralCrop(PilTransform):
    """Crop a box of the image and resize it to ``size`` in one step (:func:`crop_resize`).

    Subclasses choose the box in :meth:`get_box`; this one takes the whole image (a plain resize).
    Derived in Lesson 11, "Data augmentation" (lessons/11_augmentation).
    """

    def __init__(self, size: int | tuple[int, int], resample: Resample = Resample.BILINEAR,
                 generator: torch.Generator | int | None = None) -> None:
        super().__init__(generator)
        name = type(self).__name__
        self.size, self.resample = _size(name, size), _resample(name, resample)

    def get_box(self, w: int, h: int) -> Box:
        """The box to crop from a ``w x h`` image: here the whole image."""
        return 0.0, 0.0, float(w), float(h)

    def __call__(self, img: Image.Image) -> Image.Image:
        img = _pil(type(self).__name__, img)
        return crop_resize(img, self.get_box(*img.size), self.size, self.resample)


class CenterCrop(GeneralCrop):
    """The centre of the image, ``1/scale`` of each side (``scale = 1.14``, the course's: ~88 %),
    resized to ``size``. The usual validation transform after a random crop in training.

    Derived in Lesson 11, "Data augmentation" (lessons/11_augmentation).
    """

    def __init__(self, size: int | tuple[int, int], scale: float = 1.14, resample: Resample = Resample.BILINEAR) -> None:
        super().__init__(size, resample)
        self.scale = checks.real("CenterCrop", "scale", scale, min=1.0)

    def get_box(self, w: int, h: int) -> Box:
        cw, ch = w / self.scale, h / self.scale
        return (w - cw) / 2, (h - ch) / 2, (w + cw) / 2, (h + ch) / 2


class RandomResizedCrop(GeneralCrop):
    """A random box of ``scale`` times the image's area with aspect ratio (width / height) in ``ratio``,
    resized to ``size`` (Szegedy et al. 2015, GoogLeNet's training crops; torchvision's semantics).

    Each of ``tries`` attempts draws the area fraction afresh, uniformly in ``scale``, and the aspect
    ratio log-uniformly in ``ratio``; the first box that fits in the image is placed uniformly at
    random. If none fits (a very thin image), the fallback is the largest centred box whose aspect
    ratio is allowed, the one nearest the image's (``clamp(w / h, *ratio)``, as torchvision does):
    the whole image if its own ratio is allowed. It never fails, whatever the image's shape. (The 2019 course shrank the area on every retry and its fallback crashed; see the page.)
    Derived in Lesson 11, "Data augmentation" (lessons/11_augmentation).
    """

    def __init__(self, size: int | tuple[int, int], scale: tuple[float, float] = (0.08, 1.0),
                 ratio: tuple[float, float] = (3 / 4, 4 / 3), tries: int = 10,
                 resample: Resample = Resample.BILINEAR, generator: torch.Generator | int | None = None) -> None:
        super().__init__(size, resample, generator)
        self.scale = _range("RandomResizedCrop", "scale", scale, positive=True)
        if self.scale[1] > 1:
            raise ValueError(checks.message("RandomResizedCrop", "scale", "a (low, high) pair in (0, 1]", scale))
        self.ratio = _range("RandomResizedCrop", "ratio", ratio, positive=True)
        self.tries = checks.integer("RandomResizedCrop", "tries", tries, min=0)

    def get_box(self, w: int, h: int) -> Box:
        area = w * h
        log_lo, log_hi = math.log(self.ratio[0]), math.log(self.ratio[1])
        for _ in range(self.tries):
            target = area * _uniform(self.generator, *self.scale)  # drawn afresh on every try
            r = math.exp(_uniform(self.generator, log_lo, log_hi))
            cw, ch = math.sqrt(target * r), math.sqrt(target / r)
            if cw <= w and ch <= h:
                left = _uniform(self.generator, 0.0, w - cw)
                top = _uniform(self.generator, 0.0, h - ch)
                return left, top, left + cw, top + ch
        return self.fallback_box(w, h)

    def fallback_box(self, w: int, h: int) -> Box:
        """The centre box of the largest area with an allowed aspect ratio (the one nearest ``w / h``)."""
        lo, hi = self.ratio
        if w / h < lo:  # too tall: full width, the height of ratio lo
            cw, ch = float(w), w / lo
        elif w / h > hi:  # too wide: full height
            cw, ch = h * hi, float(h)
        else:
            return 0.0, 0.0, float(w), float(h)
        return (w - cw) / 2, (h - ch) / 2, (w + cw) / 2, (h + ch) / 2


def _points(fn: str, name: str, pts: object) -> Tensor:
    """``pts`` as a float64 tensor of shape ``(..., 4, 2)``."""
    if isinstance(pts, Tensor):
        t = pts.detach().to(torch.float64)
    else:
        try:
            t = torch.as_tensor(pts, dtype=torch.float64)
        except (TypeError, ValueError, RuntimeError):
            raise TypeError(checks.message(fn, name, "four (x, y) points", pts)) from None
    if t.ndim < 2 or tuple(t.shape[-2:]) != (4, 2):
        raise ValueError(f"{fn}: expected {name} of shape (..., 4, 2) (four (x, y) points), got {checks.shape_str(t)}")
    if not torch.isfinite(t).all():
        raise ValueError(f"{fn}: expected {name} to be finite, got {t.tolist()}")
    return t


def find_coeffs(src_pts: Sequence[Sequence[float]] | Tensor, dst_pts: Sequence[Sequence[float]] | Tensor) -> Tensor:
    """The 8 coefficients ``(a, b, c, d, e, f, g, h)`` of the projective map taking each of the four
    points ``src_pts[i]`` to ``dst_pts[i]``:

        u = (a x + b y + c) / (g x + h y + 1),     v = (d x + e y + f) / (g x + h y + 1).

    Multiplying out gives two linear equations per pair of points, 8 in all, in the 8 unknowns:
    ``a x + b y + c - g x u - h y u = u`` and ``d x + e y + f - g x v - h y v = v``, solved with
    ``torch.linalg.solve`` in float64 (the 2019 course used ``torch.solve``, since removed). Points
    have shape ``(4, 2)`` or ``(N, 4, 2)`` (then ``N`` systems at once, result ``(N, 8)``). Three of
    the four points on a line make the system singular (``torch.linalg.LinAlgError``).
    PIL's ``PERSPECTIVE`` wants the map from *output* to *input*: see :func:`warp`.
    Derived in Lesson 11, "Data augmentation" (lessons/11_augmentation).

    >>> find_coeffs([[0, 0], [1, 0], [1, 1], [0, 1]], [[0, 0], [1, 0], [1, 1], [0, 1]])
    tensor([1., 0., 0., 0., 1., 0., 0., 0.], dtype=torch.float64)
    """
    src, dst = _points("find_coeffs", "src_pts", src_pts), _points("find_coeffs", "dst_pts", dst_pts)
    if src.shape != dst.shape:
        raise ValueError(f"find_coeffs: expected src_pts and dst_pts of the same shape, got "
                         f"{checks.shape_str(src)} and {checks.shape_str(dst)}")
    x, y = src[..., 0], src[..., 1]  # (..., 4)
    u, v = dst[..., 0], dst[..., 1]
    one, zero = torch.ones_like(x), torch.zeros_like(x)
    rows_u = torch.stack([x, y, one, zero, zero, zero, -u * x, -u * y], -1)  # (..., 4, 8)
    rows_v = torch.stack([zero, zero, zero, x, y, one, -v * x, -v * y], -1)
    a = torch.stack([rows_u, rows_v], -2).flatten(-3, -2)  # (..., 8, 8): rows u0, v0, u1, v1, ...
    b = torch.stack([u, v], -1).flatten(-2)  # (..., 8)
    return torch.linalg.solve(a, b)


def warp(img: Image.Image, size: int | tuple[int, int], src_pts: Sequence[Sequence[float]] | Tensor,
         resample: Resample = Resample.BILINEAR) -> Image.Image:
    """The quadrilateral ``src_pts`` of ``img`` (corners top-left, top-right, bottom-right,
    bottom-left, in pixels) mapped onto a ``size`` image, with PIL's ``PERSPECTIVE`` transform.

    PIL asks, for each output pixel, where to read in the input, so the coefficients are those of the
    map from the output's corners to ``src_pts``: ``find_coeffs(corners, src_pts)``. With ``src_pts``
    the image's own corners and ``size`` its size the map is the identity and the image comes back
    unchanged.
    Derived in Lesson 11, "Data augmentation" (lessons/11_augmentation).
    """
    img = _pil("warp", img)
    w, h = _size("warp", size)
    corners = [[0, 0], [w, 0], [w, h], [0, h]]
    coeffs = find_coeffs(corners, src_pts)
    if coeffs.ndim != 1:
        raise ValueError(f"warp: expected src_pts of shape (4, 2), got {checks.shape_str(_points('warp', 'src_pts', src_pts))}")
    return img.transform((w, h), Image.Transform.PERSPECTIVE, coeffs.tolist(), resample=_resample("warp", resample))


class PilTiltRandomCrop(PilTransform):
    """A random crop seen from a random slant: a perspective warp (:func:`warp`) of a random box.

    A square box of side ``crop_size`` (default: the shorter side divided by ``1 + 2 magnitude``,
    which leaves room for the whole tilt) is placed at random; its corners then move apart along one
    pair of edges and together along the other, by up to ``magnitude`` of the box's side
    horizontally and vertically (two tilts, each uniform in ``[-magnitude, magnitude]``). Each tilt
    is clamped so that every corner stays inside the image: no pixel is read from outside it.
    Derived in Lesson 11, "Data augmentation" (lessons/11_augmentation).
    """

    def __init__(self, size: int | tuple[int, int], crop_size: int | None = None, magnitude: float = 0.2,
                 resample: Resample = Resample.BILINEAR, generator: torch.Generator | int | None = None) -> None:
        super().__init__(generator)
        self.size, self.resample = _size("PilTiltRandomCrop", size), _resample("PilTiltRandomCrop", resample)
        self.crop_size = None if crop_size is None else checks.positive_int("PilTiltRandomCrop", "crop_size", crop_size)
        self.magnitude = checks.real("PilTiltRandomCrop", "magnitude", magnitude, min=0.0, max=0.5)

    def get_corners(self, w: int, h: int) -> list[list[float]]:
        """The four source corners (top-left, top-right, bottom-right, bottom-left) for a ``w x h`` image."""
        m = self.magnitude
        side = min(w, h) / (1 + 2 * m) if self.crop_size is None else min(self.crop_size, w, h)
        left, top = _uniform(self.generator, 0.0, w - side), _uniform(self.generator, 0.0, h - side)
        room_x = min(left, w - left - side) / side  # how far (in box sides) a corner may move and stay inside
        room_y = min(top, h - top - side) / side
        tx = min(max(_uniform(self.generator, -m, m), -room_x), room_x)
        ty = min(max(_uniform(self.generator, -m, m), -room_y), room_y)
        unit = [[-tx, -ty], [1 + tx, ty], [1 - tx, 1 - ty], [tx, 1 + ty]]  # in box sides
        return [[left + side * ux, top + side * uy] for ux, uy in unit]

    def __call__(self, img: Image.Image) -> Image.Image:
        img = _pil("PilTiltRandomCrop", img)
        return warp(img, self.size, self.get_corners(*img.size), self.resample)


# --------------------------------------------------------------------------------------------------
# Batched tensor transforms
# --------------------------------------------------------------------------------------------------


def _batch(fn: str, x: object) -> Tensor:
    return checks.tensor(fn, "x", x, ndim=4, floating=True)


def _per_image(fn: str, name: str, value: object, n: int, dtype: torch.dtype = torch.float64) -> Tensor:
    """A number or a ``(n,)`` tensor as a ``(n,)`` tensor of ``dtype``."""
    if checks.is_real(value):
        return torch.full((n,), float(value), dtype=dtype)
    t = checks.tensor(fn, name, value, ndim=1)
    if t.shape[0] != n:
        raise ValueError(f"{fn}: expected {name} of shape ({n},), one per image, got {checks.shape_str(t)}")
    return t.to(dtype)


def flip_batch(x: Tensor, mask: Tensor) -> Tensor:
    """The batch ``x`` ``(N, C, H, W)`` with image ``i`` flipped left to right where ``mask[i]`` is True.

    ``mask``: a ``(N,)`` bool tensor. One ``torch.where`` over the whole batch: the mask, viewed as
    ``(N, 1, 1, 1)``, broadcasts over the channels and pixels.
    Derived in Lesson 11, "Data augmentation" (lessons/11_augmentation).
    """
    x = _batch("flip_batch", x)
    mask = checks.tensor("flip_batch", "mask", mask, ndim=1, dtype=torch.bool)
    if mask.shape[0] != x.shape[0]:
        raise ValueError(f"flip_batch: expected mask of shape ({x.shape[0]},), one per image, got {checks.shape_str(mask)}")
    return torch.where(mask.view(-1, 1, 1, 1).to(x.device), x.flip(-1), x)


def _coords(n: int, align_corners: bool, dtype: torch.dtype, device: torch.device | None = None) -> Tensor:
    """The ``n`` pixel positions along one side in ``[-1, 1]``: centres ``(2i + 1) / n - 1``
    (``align_corners=False``), or ``-1 .. 1`` through the first and last centres (True)."""
    if align_corners:
        return torch.linspace(-1, 1, n, dtype=dtype, device=device) if n > 1 else torch.zeros(1, dtype=dtype, device=device)
    return (torch.arange(n, dtype=dtype, device=device) * 2 + 1) / n - 1


def _grid_size(fn: str, size: object) -> tuple[int, int, int, int]:
    if not isinstance(size, (tuple, list, torch.Size)) or len(size) != 4 or not all(checks.is_int(s) and s > 0 for s in size):
        raise ValueError(checks.message(fn, "size", "an (N, C, H, W) size of positive ints", size))
    return tuple(int(s) for s in size)  # type: ignore[return-value]


def _map_grid(m: Tensor, h: int, w: int, align_corners: bool) -> Tensor:
    """``(N, H, W, R)``: ``m @ (x, y, 1)`` for every output pixel, ``m`` of shape ``(N, R, 3)``.

    Written as broadcast sums, ``m[:, r, 0] x + m[:, r, 1] y + m[:, r, 2]`` with ``x`` of shape
    ``(1, W)`` and ``y`` ``(H, 1)``, rather than a matmul with a ``(H*W, 3)`` grid of positions:
    the same numbers, without building the positions, and faster on a CPU than the matmul or
    ``F.affine_grid`` (Lesson 11 times them).
    """
    xs = _coords(w, align_corners, m.dtype, m.device).view(1, 1, w)  # (1, 1, W)
    ys = _coords(h, align_corners, m.dtype, m.device).view(1, h, 1)  # (1, H, 1)
    rows = []
    for r in range(m.shape[1]):
        a, b, c = (m[:, r, k].view(-1, 1, 1) for k in range(3))  # (N, 1, 1) each
        rows.append(a * xs + (b * ys + c))  # (N, 1, W) + (N, H, 1) -> (N, H, W)
    return torch.stack(rows, -1)  # (N, H, W, R)


def affine_grid(theta: Tensor, size: Sequence[int], align_corners: bool = False) -> Tensor:
    """``F.affine_grid``, written out: the ``(N, H, W, 2)`` sampling grid of the affine maps ``theta``.

    ``theta`` ``(N, 2, 3)`` maps each output position ``(x, y, 1)`` (in ``[-1, 1]``, see
    ``align_corners``) to the input position ``theta @ (x, y, 1)`` that ``F.grid_sample`` reads.
    ``size`` is the output's ``(N, C, H, W)``. Equal to ``F.affine_grid(theta, size, align_corners)``
    to float64 rounding (tested).
    Derived in Lesson 11, "Data augmentation" (lessons/11_augmentation).
    """
    theta = checks.tensor("affine_grid", "theta", theta, ndim=3, floating=True)
    n, _, h, w = _grid_size("affine_grid", size)
    if tuple(theta.shape) != (n, 2, 3):
        raise ValueError(f"affine_grid: expected theta of shape ({n}, 2, 3) for size {tuple(size)}, "
                         f"got {checks.shape_str(theta)}")
    align_corners = checks.boolean("affine_grid", "align_corners", align_corners)
    return _map_grid(theta, h, w, align_corners)  # (N, H, W, 2)


def rotation_matrix(degrees: Tensor) -> Tensor:
    """``(N, 2, 3)`` affine matrices rotating image ``i`` by ``degrees[i]`` about its centre.

    ``[[cos, -sin, 0], [sin, cos, 0]]`` as an output-to-input map in ``grid_sample``'s coordinates
    (``y`` down): a positive angle turns the picture counter-clockwise on screen, as ``torch.rot90``
    does with ``k = 1`` (tested: 90 degrees on a square image is ``rot90``). Computed in float64, then
    returned in ``degrees``' floating dtype (float32 for an integer tensor).
    Derived in Lesson 11, "Data augmentation" (lessons/11_augmentation).
    """
    degrees = checks.tensor("rotation_matrix", "degrees", degrees, ndim=1)
    dtype = degrees.dtype if degrees.is_floating_point() else torch.float32
    rad = degrees.to(torch.float64) * (math.pi / 180)
    c, s, z = rad.cos(), rad.sin(), torch.zeros_like(rad)
    return torch.stack([torch.stack([c, -s, z], -1), torch.stack([s, c, z], -1)], 1).to(dtype)


def _padding(fn: str, padding_mode: object) -> str:
    if padding_mode not in ("zeros", "border", "reflection"):
        raise ValueError(checks.message(fn, "padding_mode", "'zeros', 'border' or 'reflection'", padding_mode))
    return str(padding_mode)


def rotate_batch(x: Tensor, degrees: Tensor | float, align_corners: bool = False,
                 padding_mode: str = "reflection", mode: str = "bilinear") -> Tensor:
    """Rotate image ``i`` of ``x`` ``(N, C, H, W)`` by ``degrees[i]`` (or all by one number) about its
    centre: :func:`rotation_matrix`, :func:`affine_grid` (``F.affine_grid``'s grid, faster on a CPU),
    ``F.grid_sample``, one call each for the whole batch.

    Corners that come from outside the image are filled by ``padding_mode`` (``"reflection"``, the
    course's choice, mirrors the image; ``"zeros"`` leaves black corners). ``align_corners`` is passed
    to both ``affine_grid`` and ``grid_sample`` explicitly (PyTorch warns when it is left out).
    Derived in Lesson 11, "Data augmentation" (lessons/11_augmentation).
    """
    x = _batch("rotate_batch", x)
    align_corners = checks.boolean("rotate_batch", "align_corners", align_corners)
    padding_mode = _padding("rotate_batch", padding_mode)
    theta = rotation_matrix(_per_image("rotate_batch", "degrees", degrees, x.shape[0])).to(x.dtype).to(x.device)
    grid = affine_grid(theta, x.shape, align_corners)  # (N, H, W, 2), as F.affine_grid's
    return F.grid_sample(x, grid, mode=mode, padding_mode=padding_mode, align_corners=align_corners)


def perspective_grid(m: Tensor, size: Sequence[int], align_corners: bool = False) -> Tensor:
    """The ``(N, H, W, 2)`` sampling grid of the projective maps ``m`` ``(N, 3, 3)``: each output
    position ``p = (x, y, 1)`` reads the input at ``(q_x / q_z, q_y / q_z)`` where ``q = m @ p``.

    With ``m``'s last row ``(0, 0, 1)`` this is :func:`affine_grid` of ``m[:, :2]``.
    Derived in Lesson 11, "Data augmentation" (lessons/11_augmentation).
    """
    m = checks.tensor("perspective_grid", "m", m, ndim=3, floating=True)
    n, _, h, w = _grid_size("perspective_grid", size)
    if tuple(m.shape) != (n, 3, 3):
        raise ValueError(f"perspective_grid: expected m of shape ({n}, 3, 3) for size {tuple(size)}, got {checks.shape_str(m)}")
    align_corners = checks.boolean("perspective_grid", "align_corners", align_corners)
    q = _map_grid(m, h, w, align_corners)  # (N, H, W, 3)
    return q[..., :2] / q[..., 2:]


def warp_batch(x: Tensor, m: Tensor, align_corners: bool = False, padding_mode: str = "reflection",
               mode: str = "bilinear") -> Tensor:
    """Each image of ``x`` ``(N, C, H, W)`` resampled through its own 3x3 projective map ``m[i]``
    (:func:`perspective_grid`, then ``F.grid_sample``): flips, rotations, zooms and tilts at once.

    Derived in Lesson 11, "Data augmentation" (lessons/11_augmentation).
    """
    x = _batch("warp_batch", x)
    align_corners = checks.boolean("warp_batch", "align_corners", align_corners)
    grid = perspective_grid(m.to(x.dtype).to(x.device), list(x.shape), align_corners)
    return F.grid_sample(x, grid, mode=mode, padding_mode=_padding("warp_batch", padding_mode), align_corners=align_corners)


class BatchAugment:
    """A random flip, rotation, zoom and tilt for every image of a batch, in one ``grid_sample``.

    For each image it draws: a left-right flip with probability ``p_flip``; a rotation uniform in
    ``[-max_rotate, max_rotate]`` degrees; a zoom uniform in ``[1, max_zoom]`` (1/zoom of each side is
    kept) centred at a random point that keeps the view inside the image; a tilt of up to ``max_tilt``
    in each direction (the bottom row of a 3x3 matrix: one side of the picture comes nearer, the
    other moves away). The four are 3x3 matrices, multiplied into one per image
    (:meth:`matrices`), and the batch is sampled once (:func:`warp_batch`). A callable of a batch:
    ``BatchTransformCallback(BatchAugment(...))`` augments every training batch on its device.
    Derived in Lesson 11, "Data augmentation" (lessons/11_augmentation).
    """

    def __init__(self, p_flip: float = 0.5, max_rotate: float = 10.0, max_zoom: float = 1.2, max_tilt: float = 0.1,
                 align_corners: bool = False, padding_mode: str = "reflection",
                 generator: torch.Generator | int | None = None) -> None:
        self.p_flip = checks.real("BatchAugment", "p_flip", p_flip, min=0.0, max=1.0)
        self.max_rotate = checks.real("BatchAugment", "max_rotate", max_rotate, min=0.0, max=180.0)
        self.max_zoom = checks.real("BatchAugment", "max_zoom", max_zoom, min=1.0)
        self.max_tilt = checks.real("BatchAugment", "max_tilt", max_tilt, min=0.0, max=0.5)
        self.align_corners = checks.boolean("BatchAugment", "align_corners", align_corners)
        self.padding_mode = _padding("BatchAugment", padding_mode)
        self.generator = _generator("BatchAugment", generator)

    def matrices(self, n: int) -> Tensor:
        """``n`` random ``(3, 3)`` float64 output-to-input maps, ``(n, 3, 3)``: flip @ rotation @ zoom @ tilt."""
        n = checks.positive_int("BatchAugment.matrices", "n", n)
        g = self.generator
        eye = torch.eye(3, dtype=torch.float64).repeat(n, 1, 1)
        flip = eye.clone()
        flip[:, 0, 0] = torch.where(torch.rand(n, generator=g, dtype=torch.float64) < self.p_flip, -1.0, 1.0)
        rot = eye.clone()
        rot[:, :2] = rotation_matrix(_uniform(g, -self.max_rotate, self.max_rotate, n))
        zoom = eye.clone()
        s = 1 / _uniform(g, 1.0, self.max_zoom, n)  # the kept fraction of each side
        zoom[:, 0, 0] = zoom[:, 1, 1] = s
        zoom[:, 0, 2] = _uniform(g, -1.0, 1.0, n) * (1 - s)  # centre: the view stays inside
        zoom[:, 1, 2] = _uniform(g, -1.0, 1.0, n) * (1 - s)
        tilt = eye.clone()
        tilt[:, 2, 0] = _uniform(g, -self.max_tilt, self.max_tilt, n)
        tilt[:, 2, 1] = _uniform(g, -self.max_tilt, self.max_tilt, n)
        return flip @ rot @ zoom @ tilt

    def __call__(self, x: Tensor) -> Tensor:
        x = _batch("BatchAugment", x)
        return warp_batch(x, self.matrices(x.shape[0]), self.align_corners, self.padding_mode)

    def __repr__(self) -> str:
        return (f"BatchAugment(p_flip={self.p_flip}, max_rotate={self.max_rotate}, max_zoom={self.max_zoom}, "
                f"max_tilt={self.max_tilt}, align_corners={self.align_corners}, padding_mode={self.padding_mode!r})")
