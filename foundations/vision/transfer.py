"""Transfer learning: keep a trained body, give it a new head, train the two at different speeds.

Derived in Lesson 12, "Transfer learning" (lessons/12_transfer). The pieces:

- :class:`AdaptiveConcatPool2d`: the max and the average over the image, side by side (2 C features);
- :func:`concat_pool_head` and :func:`transfer_model`: a body (e.g. ``xresnet18(...)[:-1]``) with a new
  head ``AdaptiveConcatPool2d, Flatten, Linear(2 C, c_out)``, in an ``nn.Sequential`` named
  ``body`` and ``head``;
- :func:`freeze` / :func:`unfreeze`: stop (restart) gradients to the body's parameters, optionally
  leaving the body's BatchNorm layers trainable (their statistics are those of the old data);
- :func:`bn_splitter`: the parameter groups for discriminative learning rates, ``[body without its
  BatchNorms, body's BatchNorms + head]``, a learner's ``splitter``;
- :func:`save_weights` / :func:`load_weights`: a ``state_dict`` to a file and back, loaded with
  ``torch.load(..., weights_only=True)`` (no pickled code runs).

**Base:** ``torch.nn`` modules and ``torch.save``/``torch.load``.
"""

from __future__ import annotations

from collections import OrderedDict
from os import PathLike
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from foundations import checks

__all__ = [
    "AdaptiveConcatPool2d",
    "BN_TYPES",
    "bn_splitter",
    "concat_pool_head",
    "freeze",
    "load_weights",
    "save_weights",
    "transfer_model",
    "unfreeze",
]

BN_TYPES: tuple[type[nn.Module], ...] = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)
"""The normalisation layers :func:`freeze` can leave trainable and :func:`bn_splitter` puts with the head.

Derived in Lesson 12, "Transfer learning" (lessons/12_transfer).
"""


class AdaptiveConcatPool2d(nn.Module):
    """``cat([AdaptiveMaxPool2d(size)(x), AdaptiveAvgPool2d(size)(x)], dim=1)``: ``(N, C, H, W) -> (N, 2C, size, size)``.

    The maximum says whether a feature is anywhere in the image, the average how much of it there is;
    the head gets both. Derived in Lesson 12, "Transfer learning" (lessons/12_transfer).
    """

    def __init__(self, size: int = 1) -> None:
        super().__init__()
        self.size = checks.positive_int("AdaptiveConcatPool2d", "size", size)
        self.mp, self.ap = nn.AdaptiveMaxPool2d(self.size), nn.AdaptiveAvgPool2d(self.size)

    def forward(self, x: Tensor) -> Tensor:
        x = checks.tensor("AdaptiveConcatPool2d", "x", x, ndim=4, floating=True)
        return torch.cat([self.mp(x), self.ap(x)], dim=1)  # (N, 2C, size, size)

    def extra_repr(self) -> str:
        return f"size={self.size}"


def concat_pool_head(n_features: int, c_out: int) -> nn.Sequential:
    """``AdaptiveConcatPool2d(1), Flatten, Linear(2 * n_features, c_out)``: a new head for a body.

    ``n_features`` is the number of channels the body outputs. The linear layer is Kaiming-initialised
    with a zero bias. Derived in Lesson 12, "Transfer learning" (lessons/12_transfer).
    """
    n_features = checks.positive_int("concat_pool_head", "n_features", n_features)
    c_out = checks.positive_int("concat_pool_head", "c_out", c_out)
    linear = nn.Linear(2 * n_features, c_out)
    nn.init.kaiming_normal_(linear.weight)
    nn.init.zeros_(linear.bias)
    return nn.Sequential(AdaptiveConcatPool2d(1), nn.Flatten(), linear)


def transfer_model(body: nn.Module, n_features: int, c_out: int) -> nn.Sequential:
    """``nn.Sequential(body=body, head=concat_pool_head(n_features, c_out))``: ``model.body``, ``model.head``.

    ``body`` maps images to ``(N, n_features, h, w)`` (for an XResNet ``m``: ``m[:-1]`` and
    ``m.n_features``). The body's modules are shared with ``body``, not copied.
    Derived in Lesson 12, "Transfer learning" (lessons/12_transfer).
    """
    checks.instance("transfer_model", "body", body, nn.Module, "a torch.nn.Module (the body)")
    return nn.Sequential(OrderedDict(body=body, head=concat_pool_head(n_features, c_out)))


def _body_head(fn: str, model: object) -> tuple[nn.Module, nn.Module]:
    if not isinstance(model, nn.Module) or not isinstance(getattr(model, "body", None), nn.Module) \
            or not isinstance(getattr(model, "head", None), nn.Module):
        raise TypeError(
            f"{fn}: expected a model with a body and a head (from transfer_model), got {type(model).__name__}"
            + (f" with children {[n for n, _ in model.named_children()]}" if isinstance(model, nn.Module) else "")
        )
    return model.body, model.head  # type: ignore[return-value]


def freeze(model: nn.Module, bn_trainable: bool = True) -> nn.Module:
    """Stop training ``model.body``: ``requires_grad = False`` on its parameters; the head stays trainable.

    With ``bn_trainable=True`` (the default) the body's BatchNorm layers keep ``requires_grad = True``:
    their scales and shifts can adapt to the new data's statistics, which the course found helps.
    Either way the BatchNorms' running statistics update in training mode. Returns ``model``.
    Derived in Lesson 12, "Transfer learning" (lessons/12_transfer).
    """
    body, head = _body_head("freeze", model)
    bn_trainable = checks.boolean("freeze", "bn_trainable", bn_trainable)
    for m in body.modules():
        trainable = bn_trainable and isinstance(m, BN_TYPES)
        for p in m.parameters(recurse=False):
            p.requires_grad_(trainable)
    for p in head.parameters():
        p.requires_grad_(True)
    return model


def unfreeze(model: nn.Module) -> nn.Module:
    """``requires_grad = True`` on every parameter of ``model`` (body and head). Returns ``model``.

    Derived in Lesson 12, "Transfer learning" (lessons/12_transfer).
    """
    checks.instance("unfreeze", "model", model, nn.Module, "a torch.nn.Module")
    for p in model.parameters():
        p.requires_grad_(True)
    return model


def bn_splitter(model: nn.Module) -> list[dict[str, Any]]:
    """Two parameter groups: ``[body's parameters outside BatchNorm, body's BatchNorm parameters + head]``.

    A learner's ``splitter``: give the groups two learning rates (a list of two schedules to a
    ``ParamScheduler``), small for the pre-trained body, large for the new head and for the
    BatchNorms, which must adapt to the new data. Every parameter is in exactly one group, including
    frozen ones (the optimizer skips those without a gradient).
    Derived in Lesson 12, "Transfer learning" (lessons/12_transfer).
    """
    body, head = _body_head("bn_splitter", model)
    g1: list[nn.Parameter] = []
    g2: list[nn.Parameter] = []
    for m in body.modules():
        (g2 if isinstance(m, BN_TYPES) else g1).extend(m.parameters(recurse=False))
    g2.extend(head.parameters())
    return [{"params": g1}, {"params": g2}]


def save_weights(model: nn.Module, path: str | PathLike[str]) -> Path:
    """``torch.save(model.state_dict(), path)``, making the parent folder; returns the path.

    Derived in Lesson 12, "Transfer learning" (lessons/12_transfer).
    """
    checks.instance("save_weights", "model", model, nn.Module, "a torch.nn.Module")
    path = Path(checks.instance("save_weights", "path", path, (str, PathLike), "a path (str or os.PathLike)"))
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), path)
    return path


def load_weights(model: nn.Module, path: str | PathLike[str], strict: bool = True) -> nn.Module:
    """Load a ``state_dict`` saved by :func:`save_weights` into ``model``, with ``weights_only=True``.

    ``weights_only=True`` only unpickles tensors and plain containers, so a weights file cannot run
    code. With ``strict=True`` every key must match and every shape agree; otherwise only the keys
    both have are loaded (shapes must still agree). A mismatch raises ``ValueError`` naming the keys
    and shapes expected and got. Returns ``model``.
    Derived in Lesson 12, "Transfer learning" (lessons/12_transfer).
    """
    checks.instance("load_weights", "model", model, nn.Module, "a torch.nn.Module")
    path = Path(checks.instance("load_weights", "path", path, (str, PathLike), "a path (str or os.PathLike)"))
    strict = checks.boolean("load_weights", "strict", strict)
    if not path.is_file():
        raise FileNotFoundError(f"load_weights: expected a weights file saved by save_weights, got no file at {path.name!r}")
    state = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(state, dict):
        raise ValueError(f"load_weights: expected a state_dict (a dict of tensors), got {type(state).__name__}")
    own = model.state_dict()
    missing, unexpected = sorted(set(own) - set(state)), sorted(set(state) - set(own))
    if strict and (missing or unexpected):
        raise ValueError(
            f"load_weights: expected the keys of the model's state_dict, got {len(missing)} missing "
            f"{missing[:3]} and {len(unexpected)} unexpected {unexpected[:3]}"
        )
    bad = [(k, tuple(own[k].shape), tuple(v.shape)) for k, v in state.items() if k in own and own[k].shape != v.shape]
    if bad:
        k, want, got = bad[0]
        raise ValueError(f"load_weights: expected {k!r} of shape {want}, got {got} ({len(bad)} shape mismatches)")
    model.load_state_dict({k: v for k, v in state.items() if k in own}, strict=strict)
    return model
