"""Layer-sequential unit-variance (LSUV) initialisation: rescale each layer until its output has unit variance.

Mishkin & Matas (2015), "All you need is a good init": start from any reasonable init, then, layer by
layer from the input, run a batch through the model, look at the layer's output with a forward hook,
and divide the layer's weights by the output's standard deviation until it is 1 (here also: shift the
bias until the output's mean is 0). Each layer is fixed after the ones before it, so its input
already has the statistics it will see. Built on ``torch.nn`` and the hooks of Lesson 10.

The 2019 course's ``lsuv_module`` read the model from a global variable; :func:`lsuv_init` takes
the model (and the batch) as arguments, and removes every hook it registers, even on an error.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from foundations import checks
from foundations.hooks import Hook

__all__ = ["LSUVStep", "lsuv_init"]


@dataclass(frozen=True)
class LSUVStep:
    """What :func:`lsuv_init` did to one layer: its output's mean and std before and after, and how
    many rescalings it took. Derived in Lesson 11, "LSUV: initialisation by measurement" (lessons/11_lsuv),
    with the hooks of Lesson 10 (Mishkin & Matas 2015, book/papers/mishkin2015).
    """

    name: str
    mean_before: float
    std_before: float
    mean_after: float
    std_after: float
    iterations: int


def _layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    return [(n, m) for n, m in model.named_modules() if isinstance(m, (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d))]


def lsuv_init(
    model: nn.Module,
    xb: Tensor,
    modules: Sequence[nn.Module] | None = None,
    tol: float = 1e-3,
    max_iter: int = 20,
    center: bool = True,
) -> list[LSUVStep]:
    """LSUV-initialise ``model`` in place on the batch ``xb``; return one :class:`LSUVStep` per layer.

    ``modules`` are the layers to rescale, in the order the data meets them (default: every
    ``Linear`` and ``ConvNd`` of ``model``, in ``named_modules`` order). For each: run ``model(xb)``
    under ``torch.no_grad``, read the layer's output mean and std with a forward hook, subtract the
    mean from the bias (``center=True`` and the layer has one) and divide the weight by the std,
    until ``|mean| <= tol`` and ``|std - 1| <= tol`` or ``max_iter`` rescalings were done.
    Derived in Lesson 11, "LSUV: initialisation by measurement" (lessons/11_lsuv),
    with the hooks of Lesson 10 (Mishkin & Matas 2015, "All you need is a good init").
    """
    checks.instance("lsuv_init", "model", model, nn.Module, "a torch.nn.Module")
    checks.tensor("lsuv_init", "xb", xb)
    tol = checks.real("lsuv_init", "tol", tol, positive=True)
    max_iter = checks.positive_int("lsuv_init", "max_iter", max_iter)
    center = checks.boolean("lsuv_init", "center", center)
    names = {id(m): n for n, m in model.named_modules()}
    layers = _layers(model) if modules is None else [(names.get(id(m), ""), m) for m in modules]
    for name, m in layers:
        if id(m) not in names:
            raise ValueError(f"lsuv_init: expected modules of the model, got a {type(m).__name__} that is not in it")
        if not isinstance(getattr(m, "weight", None), Tensor):
            raise ValueError(f"lsuv_init: expected layers with a weight to rescale, got {type(m).__name__} {name!r}")
    steps = []
    for name, m in layers:
        stats: dict[str, float] = {}

        def record(hook: Hook, module: nn.Module, inputs: tuple[Tensor, ...], out: Tensor) -> None:
            stats["mean"], stats["std"] = out.mean().item(), out.std().item()

        hook = Hook(m, record)
        try:
            with torch.no_grad():
                model(xb)
                before = (stats["mean"], stats["std"])
                done = 0
                while done < max_iter and not _settled(stats, tol, center and m.bias is not None):
                    if center and getattr(m, "bias", None) is not None:
                        m.bias -= stats["mean"]
                    m.weight /= stats["std"]
                    model(xb)
                    done += 1
        finally:
            hook.remove()
        steps.append(LSUVStep(name, *before, stats["mean"], stats["std"], done))
    return steps


def _settled(stats: dict[str, float], tol: float, centred: bool) -> bool:
    return abs(stats["std"] - 1) <= tol and (not centred or abs(stats["mean"]) <= tol)
