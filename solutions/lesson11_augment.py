"""Lesson 11 exercises: a batched random flip, and the sampling grid of a rotation.

Page: lessons/11_augmentation ("Data augmentation"). Grade with
``pytest exercises/test_lesson11_augment.py`` (one exercise: add ``-k rotation_grid``).
Work on the whole batch at once with tensor operations (indexing, broadcasting, ``torch.where``,
``torch.flip``, ``cos``/``sin``, ``stack``, ...); not ``F.affine_grid`` (nor
``torch.affine_grid_generator``, which it calls) or the functions of ``foundations.vision.augment``:
the grader checks, and a call to one of them fails the exercise. It compares your answers with
PyTorch's in float64, and accepts float32 answers at float32 precision.

Coordinates are ``F.grid_sample``'s: ``x`` runs from -1 (left edge) to 1 (right edge), ``y`` from
-1 (top) to 1 (bottom).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor


def flip_batch(x: Tensor, mask: Tensor) -> Tensor:
    """Flip image ``i`` of the batch left to right where ``mask[i]`` is True; keep the others.

    ``x``: ``(N, C, H, W)``; ``mask``: ``(N,)`` bool. Returns a new ``(N, C, H, W)`` tensor (do not
    change ``x``) whose image ``i`` is ``x[i].flip(-1)`` (the columns reversed) if ``mask[i]``, else
    ``x[i]``. No Python loop over the images: view the mask as ``(N, 1, 1, 1)`` so that it
    broadcasts over channels and pixels, and choose with ``torch.where``.

    >>> x = torch.tensor([[[[1.0, 2.0, 3.0]]], [[[4.0, 5.0, 6.0]]]])  # N=2, C=1, H=1, W=3
    >>> flip_batch(x, torch.tensor([True, False]))[:, 0, 0]
    tensor([[3., 2., 1.],
            [4., 5., 6.]])
    """
    # BEGIN SOLUTION
    return torch.where(mask.view(-1, 1, 1, 1), x.flip(-1), x)
    # END SOLUTION


def rotation_grid(degrees: Tensor, h: int, w: int, align_corners: bool = False) -> Tensor:
    """The ``(N, H, W, 2)`` grid that ``F.affine_grid(theta, (N, C, h, w), align_corners)`` gives for
    the rotations ``theta[i] = [[cos t_i, -sin t_i, 0], [sin t_i, cos t_i, 0]]``, ``t_i`` being
    ``degrees[i]`` in radians (``degrees`` has shape ``(N,)``).

    Output pixel ``(row j, column k)`` sits at ``(x_k, y_j)`` with, for a side of ``n`` pixels,

        align_corners=False:  x_k = (2k + 1) / n - 1     (pixel centres; the image spans [-1, 1])
        align_corners=True:   x_k = -1 + 2k / (n - 1)    (first and last centres at -1 and 1;
                                                           0 when n = 1)

    and likewise ``y_j`` with ``h``. Its grid entry is where the rotation sends it:
    ``grid[i, j, k] = (cos t x_k - sin t y_j,  sin t x_k + cos t y_j)``. Return the dtype of
    ``degrees`` (float64 in, float64 out).

    >>> g = rotation_grid(torch.tensor([90.0], dtype=torch.float64), 1, 2)  # x = -0.5, 0.5; y = 0
    >>> g[0, 0].round(decimals=6) + 0  # (cos 90 is 6e-17 in floating point, not 0)
    tensor([[ 0.0000, -0.5000],
            [ 0.0000,  0.5000]], dtype=torch.float64)
    """
    # BEGIN SOLUTION
    dt = degrees.dtype
    if align_corners:  # first and last centres at -1 and 1 (a single pixel at 0)
        xs = torch.linspace(-1, 1, w, dtype=dt) if w > 1 else torch.zeros(1, dtype=dt)
        ys = torch.linspace(-1, 1, h, dtype=dt) if h > 1 else torch.zeros(1, dtype=dt)
    else:  # pixel centres, the image spanning [-1, 1]
        xs = (torch.arange(w, dtype=dt) * 2 + 1) / w - 1
        ys = (torch.arange(h, dtype=dt) * 2 + 1) / h - 1
    t = degrees * (math.pi / 180)
    c, s = t.cos().view(-1, 1, 1), t.sin().view(-1, 1, 1)  # (N, 1, 1)
    x, y = xs.view(1, 1, w), ys.view(1, h, 1)
    return torch.stack([c * x - s * y, s * x + c * y], -1)  # (N, 1, W) with (N, H, 1) -> (N, H, W, 2)
    # END SOLUTION
