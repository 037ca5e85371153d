"""Transforms of input tensors: :func:`normalize` (Lesson 8, "Forward and backward passes").

Lesson 8 (lessons/08_backprop) normalises the training and validation images with the *training*
set's mean and standard deviation, before the first layer sees them.

Imports torch only (no other module of ``foundations``).
"""

from __future__ import annotations

import torch

__all__ = ["normalize"]


def normalize(x: torch.Tensor, mean: float | torch.Tensor, std: float | torch.Tensor) -> torch.Tensor:
    """``(x - mean) / std``: shift and scale inputs to mean 0 and standard deviation 1.

    ``x`` must be a floating-point tensor; ``std`` must be positive (every element, if a tensor) and
    finite; tensors must broadcast against ``x``. The statistics are cast to ``x``'s dtype and
    device, so the result has ``x``'s dtype.

    Derived in Lesson 8, "Forward and backward passes" (lessons/08_backprop), where the validation
    set is normalised with the *training* set's statistics.
    """
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"normalize: expected x to be a torch.Tensor, got {type(x).__name__}")
    if not x.is_floating_point():
        raise TypeError(
            f"normalize: expected a floating-point x, got dtype {x.dtype} (convert it with x.float())"
        )
    stats: dict[str, torch.Tensor] = {}
    for what, v in (("mean", mean), ("std", std)):
        if isinstance(v, bool) or not isinstance(v, (int, float, torch.Tensor)):
            raise TypeError(f"normalize: expected {what} to be a float or a tensor, got {type(v).__name__}")
        t = torch.as_tensor(v).to(dtype=x.dtype, device=x.device)  # the result keeps x's dtype
        if not torch.isfinite(t).all():
            raise ValueError(f"normalize: expected a finite {what}, got {v}")
        try:
            fits = torch.broadcast_shapes(t.shape, x.shape) == x.shape
        except RuntimeError:
            fits = False
        if not fits:
            raise ValueError(
                f"normalize: {what} of shape {tuple(t.shape)} does not broadcast to x's shape {tuple(x.shape)}"
            )
        stats[what] = t
    if (stats["std"] <= 0).any():
        raise ValueError(f"normalize: expected std > 0, got {std}")
    return (x - stats["mean"]) / stats["std"]

