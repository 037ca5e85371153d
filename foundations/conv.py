"""A convolutional network for MNIST, the generalised ReLU, and Kaiming initialisation for it.

Derived in Lesson 10, "A CNN and hooks" (lessons/10_cnn_hooks). The course's CNN is a stack of
stride-2 convolutions, each halving the image and followed by an activation, then an average over
what is left of the image and one linear layer:

    (N, 1, 28, 28) -> conv 5x5, stride 2 -> (N, 8, 14, 14) -> conv 3x3, stride 2 -> (N, 16, 7, 7)
    -> ... -> AdaptiveAvgPool2d(1) -> (N, 32, 1, 1) -> Flatten -> (N, 32) -> Linear -> (N, 10)

The convolutions are ``torch.nn.Conv2d``: the course builds a convolution by hand in Lesson 8's
matmul spirit once, and from here uses PyTorch's. What this module adds:

- :class:`Lambda`: any function of a tensor as a layer (``Lambda(flatten)``, a reshape);
- :class:`GeneralRelu`: a ReLU with a leak, a shift down (``sub``) and a ceiling (``maxv``), which
  keeps activations from all collapsing onto zero;
- :func:`conv_layer`: a convolution and its activation (and optionally a normalisation layer);
- :func:`init_cnn`: He et al.'s init of every convolution, with the slope of the leaky ReLU after it.

The whole network from a list of channel counts is a recipe, :func:`foundations.models.get_cnn_model`.

**Base:** ``torch.nn.Module``, like the rest of the library after Lesson 9's hand-written
``foundations.nn.Module`` (the teaching version).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

from foundations import checks
from foundations.init import fan_in_fan_out, kaiming_std, kaiming_uniform_bound

__all__ = ["GeneralRelu", "Lambda", "conv_layer", "flatten", "init_cnn"]


class GeneralRelu(nn.Module):
    """``min(leaky_relu(x, leak) - sub, maxv)``: a ReLU with an optional leak, shift and ceiling.

    - ``leak``: slope for negative inputs (``None`` or 0: a plain ReLU);
    - ``sub``: subtracted from every output, so that the outputs' mean moves back towards 0
      (a ReLU of a standard normal has mean ``1/sqrt(2 pi) ~ 0.4``);
    - ``maxv``: the largest output allowed (``None``: no ceiling).

    ``GeneralRelu()``, that is ``GeneralRelu(leak=None, sub=None, maxv=None)``, is ``torch.nn.ReLU``
    (and Lesson 8's ``foundations.backprop.relu``); ``GeneralRelu(leak=a)`` is
    ``foundations.activations.prelu(x, a)`` with a fixed slope, a leaky ReLU;
    ``GeneralRelu(leak=0.1, sub=0.4, maxv=6.0)`` is the course's choice for MNIST. The library's
    ReLUs are listed in ``foundations.activations``, "The ReLU family".
    Derived in Lesson 10, "A CNN and hooks" (lessons/10_cnn_hooks).

    >>> GeneralRelu(leak=0.1, sub=0.4, maxv=6.0)(torch.tensor([-2.0, 0.0, 1.0, 10.0]))
    tensor([-0.6000, -0.4000,  0.6000,  6.0000])
    """

    def __init__(self, leak: float | None = None, sub: float | None = None, maxv: float | None = None) -> None:
        super().__init__()
        self.leak = checks.real_or_none("GeneralRelu", "leak", leak, min=0.0, max=1.0, max_open=True)
        self.sub = checks.real_or_none("GeneralRelu", "sub", sub)
        self.maxv = checks.real_or_none("GeneralRelu", "maxv", maxv)

    def forward(self, x: Tensor) -> Tensor:
        x = checks.tensor("GeneralRelu", "x", x, floating=True)
        x = nn.functional.leaky_relu(x, self.leak) if self.leak else nn.functional.relu(x)
        if self.sub is not None:
            x = x - self.sub
        if self.maxv is not None:
            x = x.clamp_max(self.maxv)
        return x

    def extra_repr(self) -> str:
        return f"leak={self.leak}, sub={self.sub}, maxv={self.maxv}"


def _func_name(func: Callable[..., Any]) -> str:
    inner = getattr(func, "func", func)  # the function inside a functools.partial
    return getattr(inner, "__name__", None) or type(inner).__name__


class Lambda(nn.Module):
    """A layer that applies ``func`` to its input: ``Lambda(func)(x) == func(x)``.

    Lets a plain function (a reshape, a flatten) sit in an ``nn.Sequential`` among the layers; it
    has no parameters. Its repr names the function: ``Lambda(flatten)``. A ``lambda`` works too, but
    shows as ``Lambda(<lambda>)`` and cannot be pickled, so prefer a named function.
    Derived in Lesson 10, "A CNN and hooks" (lessons/10_cnn_hooks).

    >>> Lambda(flatten)(torch.zeros(2, 3, 1, 1)).shape
    torch.Size([2, 3])
    """

    def __init__(self, func: Callable[[Tensor], Tensor]) -> None:
        super().__init__()
        if not callable(func) or isinstance(func, type) and issubclass(func, nn.Module):
            what = "an nn.Module class (use an instance)" if callable(func) else type(func).__name__
            raise TypeError(f"Lambda: expected a function of a tensor, got {what}")
        self.func = func

    def forward(self, x: Tensor) -> Tensor:
        return self.func(x)

    def __repr__(self) -> str:
        return f"Lambda({_func_name(self.func)})"


def flatten(x: Tensor) -> Tensor:
    """``(N, C, 1, 1) -> (N, C)``, as ``torch.nn.Flatten()`` does: the function for ``Lambda(flatten)``.

    Derived in Lesson 10, "A CNN and hooks" (lessons/10_cnn_hooks).
    """
    x = checks.tensor("flatten", "x", x)
    if x.ndim < 1:
        raise ValueError(checks.message("flatten", "x", "a batch of shape (N, ...)", x))
    return x.reshape(x.shape[0], -1)


def conv_layer(
    ni: int,
    nf: int,
    ks: int = 3,
    stride: int = 2,
    bn: bool = False,
    norm: Callable[[int], nn.Module] | None = None,
    **kwargs: Any,
) -> nn.Sequential:
    """``Conv2d(ni, nf, ks, stride, padding=ks//2)`` then ``GeneralRelu(**kwargs)``, then a norm layer if asked.

    ``kwargs`` go to :class:`GeneralRelu` (``leak``, ``sub``, ``maxv``; none: a plain ReLU). A
    normalisation layer over the ``nf`` channels goes after the activation, as in the course, when
    ``norm`` is given (a factory called as ``norm(nf)``, such as ``torch.nn.BatchNorm2d`` or a page's
    own BatchNorm class) or ``bn=True`` (short for ``norm=torch.nn.BatchNorm2d``). With a norm layer
    the convolution has no bias, as in the course. In this order (conv, activation, norm) that is a
    choice, not an identity: a bias before the nonlinearity moves where it cuts, and the norm layer
    after it does not cancel it (it would in the paper's order, conv, norm, activation).
    lessons/10_batchnorm shows both orders and measures them on the same runs.
    A stride-2 convolution with ``padding = ks//2`` (odd ``ks``) maps ``H x W`` to
    ``ceil(H/2) x ceil(W/2)``. Derived in Lesson 10, "A CNN and hooks" (lessons/10_cnn_hooks).
    """
    ni, nf = checks.positive_int("conv_layer", "ni", ni), checks.positive_int("conv_layer", "nf", nf)
    ks, stride = checks.positive_int("conv_layer", "ks", ks), checks.positive_int("conv_layer", "stride", stride)
    bn = checks.boolean("conv_layer", "bn", bn)
    if norm is not None and not callable(norm):
        raise TypeError(f"conv_layer: expected norm to be a factory such as nn.BatchNorm2d, got {type(norm).__name__}")
    if bn and norm is None:
        norm = nn.BatchNorm2d
    layers: list[nn.Module] = [
        nn.Conv2d(ni, nf, ks, padding=ks // 2, stride=stride, bias=norm is None),
        GeneralRelu(**kwargs),
    ]
    if norm is not None:
        layers.append(norm(nf))
    return nn.Sequential(*layers)


def _slopes_after_convs(model: nn.Module) -> dict[int, float]:
    """For each ``Conv2d`` directly followed by a :class:`GeneralRelu` in a container: that leak."""
    slopes: dict[int, float] = {}
    for parent in model.modules():
        kids = list(parent.children())
        for conv, act in zip(kids, kids[1:]):
            if isinstance(conv, nn.Conv2d) and isinstance(act, GeneralRelu):
                slopes[id(conv)] = act.leak or 0.0
    return slopes


def init_cnn(model: nn.Module, uniform: bool = False, a: float | None = None) -> nn.Module:
    """He et al.'s init for every ``Conv2d`` in ``model``: weights with std ``kaiming_std(fan_in, a)``, zero biases.

    ``a`` is the negative slope of the activation after the convolution; by default (``None``) it is
    read from the :class:`GeneralRelu` that follows each convolution in its block (0 if there is none,
    or if it has no leak). Weights are normal with std ``sqrt(2 / ((1 + a^2) fan_in))``, or, with
    ``uniform=True``, uniform on ``[-b, b]`` with ``b = kaiming_uniform_bound(fan_in, a)`` (the same
    std). ``fan_in = in_channels * kh * kw``. Other layers (the final ``Linear``) keep their init.
    With the same random state this equals ``torch.nn.init.kaiming_normal_(w, a)`` (or
    ``kaiming_uniform_``). Changes ``model`` in place and returns it.
    He, Zhang, Ren & Sun 2015, "Delving Deep into Rectifiers" (book/papers/he2015).
    Derived in Lesson 10, "A CNN and hooks" (lessons/10_cnn_hooks).
    """
    model = checks.instance("init_cnn", "model", model, nn.Module, "a torch.nn.Module")
    uniform = checks.boolean("init_cnn", "uniform", uniform)
    a = checks.real_or_none("init_cnn", "a", a)  # the leaky ReLU's negative slope, or None: read it
    slopes = _slopes_after_convs(model)
    with torch.no_grad():
        for m in model.modules():
            if not isinstance(m, nn.Conv2d):
                continue
            slope = a if a is not None else slopes.get(id(m), 0.0)
            fan_in, _ = fan_in_fan_out(tuple(m.weight.shape))
            if uniform:
                bound = kaiming_uniform_bound(fan_in, slope)
                m.weight.uniform_(-bound, bound)
            else:
                m.weight.normal_(0.0, kaiming_std(fan_in, slope))
            if m.bias is not None:
                m.bias.zero_()
    return model
