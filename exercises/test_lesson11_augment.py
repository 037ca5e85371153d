"""Grader for exercises/lesson11_augment.py (Lesson 11, "Data augmentation").

Run ``pytest exercises/test_lesson11_augment.py`` (add ``-k rotation_grid`` for one exercise).
``flip_batch`` is compared with ``torch.flip`` image by image, on batches of every shape the
docstring allows (one image, one column, all or none flipped); ``rotation_grid`` with
``F.affine_grid`` of the rotation matrices, in float64, for both values of ``align_corners``,
odd and even sides, a side of one pixel, and angles of every sign. A float32 answer passes at
float32 precision. During your call ``F.affine_grid``, ``torch.affine_grid_generator`` and the
functions of ``foundations.vision.augment`` are swapped out (``exercises/_rules.py``).
"""

from __future__ import annotations

import math
import warnings
from types import ModuleType

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor

from exercises._rules import Forbidden, attempt_without
from foundations.testing import check_close

pytestmark = pytest.mark.lesson11

F64 = torch.float64
TOL = {"atol": 1e-12, "rtol": 1e-12, "dtype": "any"}
RULES = Forbidden(
    ("torch.nn.functional.affine_grid", "torch.affine_grid_generator", "foundations.vision.augment.*"),
    "this exercise asks you to write yourself (coordinates, cos and sin, broadcasting)",
)


def attempt(fn, *args):  # noqa: ANN001, ANN002, ANN201
    return attempt_without(RULES, fn, *args)


@pytest.fixture(scope="module")
def ex(impl) -> ModuleType:  # noqa: ANN001
    return impl("lesson11_augment")


def _rand(*shape: int, seed: int) -> Tensor:
    return torch.rand(*shape, dtype=F64, generator=torch.Generator().manual_seed(seed))


# ---- flip_batch ---------------------------------------------------------------------------------

FLIPS = {
    "a 6x3x4x5 batch, images 0, 2 and 3 flipped": (_rand(6, 3, 4, 5, seed=0), [True, False, True, True, False, False]),
    "a single image, flipped": (_rand(1, 3, 4, 4, seed=1), [True]),
    "a single image, not flipped": (_rand(1, 3, 4, 4, seed=2), [False]),
    "one-column images (4x2x3x1)": (_rand(4, 2, 3, 1, seed=3), [True, False, True, False]),
    "all flipped (3x1x2x7)": (_rand(3, 1, 2, 7, seed=4), [True, True, True]),
    "none flipped (3x1x2x7)": (_rand(3, 1, 2, 7, seed=5), [False, False, False]),
}


@pytest.mark.parametrize("what", list(FLIPS))
def test_flip_batch(ex: ModuleType, what: str) -> None:
    x, flags = FLIPS[what]
    mask = torch.tensor(flags)
    before = x.clone()
    got = attempt(ex.flip_batch, x, mask.clone())
    assert torch.equal(x, before), f"flip_batch on {what}: the input batch was changed; return a new tensor"
    assert isinstance(got, Tensor) and got.shape == x.shape, (
        f"flip_batch on {what}: expected a tensor of shape {tuple(x.shape)}, got "
        + (f"shape {tuple(got.shape)}" if isinstance(got, Tensor) else type(got).__name__))
    for i, flip in enumerate(flags):
        expected = torch.flip(x[i], (-1,)) if flip else x[i]
        check_close(got[i], expected, what=f"flip_batch on {what}: image {i} ({'flipped' if flip else 'kept'})", **TOL)


# ---- rotation_grid ------------------------------------------------------------------------------


def _theta(degrees: Tensor) -> Tensor:
    t = degrees.to(F64) * (math.pi / 180)
    c, s, z = t.cos(), t.sin(), torch.zeros_like(t)
    return torch.stack([torch.stack([c, -s, z], -1), torch.stack([s, c, z], -1)], 1)


ANGLES = torch.tensor([0.0, 90.0, -30.0, 17.5, 180.0], dtype=F64)


@pytest.mark.parametrize("align_corners", [False, True])
@pytest.mark.parametrize(("h", "w"), [(4, 4), (5, 7), (8, 3), (1, 6), (6, 1), (1, 1)])
def test_rotation_grid(ex: ModuleType, h: int, w: int, align_corners: bool) -> None:
    with warnings.catch_warnings():  # torch warns about one-pixel sides with align_corners=True
        warnings.simplefilter("ignore", UserWarning)
        expected = F.affine_grid(_theta(ANGLES), [len(ANGLES), 1, h, w], align_corners=align_corners)
    got = attempt(ex.rotation_grid, ANGLES.clone(), h, w, align_corners)
    what = f"rotation_grid for {h}x{w} images, align_corners={align_corners}, degrees {ANGLES.tolist()}"
    check_close(got, expected, what=what, **TOL)


def test_rotation_grid_one_angle_per_image(ex: ModuleType) -> None:
    """Each image gets its own angle: the grid of a batch is the grids of its images stacked."""
    degrees = torch.tensor([10.0, -75.0, 33.0], dtype=F64)
    together = attempt(ex.rotation_grid, degrees.clone(), 5, 6, False)
    for i in range(3):
        alone = F.affine_grid(_theta(degrees[i : i + 1]), [1, 1, 5, 6], align_corners=False)
        check_close(together[i : i + 1], alone, what=f"rotation_grid: image {i} of 3 (angle {degrees[i].item()})", **TOL)
