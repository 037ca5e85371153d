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
- :func:`get_cnn_layers`, :func:`get_cnn_model`: the whole network from a list of channel counts;
- :func:`init_cnn`: He et al.'s init of every convolution, with the slope of the leaky ReLU after it;
- :func:`get_learn_run`: a model, its optimizer, a :class:`~foundations.learner.Learner` and a
  :class:`~foundations.learner.Runner` in one call.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from foundations.init import fan_in_fan_out, kaiming_std, kaiming_uniform_bound
from foundations.learner import Callback, DataBunch, Learner, Runner
from foundations.losses import cross_entropy
from foundations.optim import SGD

__all__ = [
    "Flatten",
    "Lambda",
    "flatten",
    "GeneralRelu",
    "conv_layer",
    "get_cnn_layers",
    "get_cnn_model",
    "get_learn_run",
    "init_cnn",
]


def _check_optional_real(fn: str, name: str, value: object) -> float | None:
    """``value`` as a float (or ``None``); raise if it is not a finite real number."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{fn}: expected {name} to be a float or None, got {type(value).__name__} {value!r}")
    if not math.isfinite(value):
        raise ValueError(f"{fn}: expected a finite {name}, got {value}")
    return float(value)


def _check_channels(fn: str, name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{fn}: expected {name} to be a positive int, got {value!r}")
    return value


class GeneralRelu(nn.Module):
    """``min(leaky_relu(x, leak) - sub, maxv)``: a ReLU with an optional leak, shift and ceiling.

    - ``leak``: slope for negative inputs (``None`` or 0: a plain ReLU);
    - ``sub``: subtracted from every output, so that the outputs' mean moves back towards 0
      (a ReLU of a standard normal has mean ``1/sqrt(2 pi) ~ 0.4``);
    - ``maxv``: the largest output allowed (``None``: no ceiling).

    ``GeneralRelu()`` is ``torch.relu``; ``GeneralRelu(leak=0.1, sub=0.4, maxv=6.0)`` is the course's
    choice for MNIST. Derived in Lesson 10, "A CNN and hooks" (lessons/10_cnn_hooks).

    >>> GeneralRelu(leak=0.1, sub=0.4, maxv=6.0)(torch.tensor([-2.0, 0.0, 1.0, 10.0]))
    tensor([-0.6000, -0.4000,  0.6000,  6.0000])
    """

    def __init__(self, leak: float | None = None, sub: float | None = None, maxv: float | None = None) -> None:
        super().__init__()
        self.leak = _check_optional_real("GeneralRelu", "leak", leak)
        self.sub = _check_optional_real("GeneralRelu", "sub", sub)
        self.maxv = _check_optional_real("GeneralRelu", "maxv", maxv)
        if self.leak is not None and not 0 <= self.leak < 1:
            raise ValueError(f"GeneralRelu: expected leak in [0, 1) or None, got {self.leak}")

    def forward(self, x: Tensor) -> Tensor:
        if not isinstance(x, Tensor) or not x.is_floating_point():
            got = f"dtype {x.dtype}" if isinstance(x, Tensor) else type(x).__name__
            raise TypeError(f"GeneralRelu: expected a floating-point tensor, got {got}")
        x = nn.functional.leaky_relu(x, self.leak) if self.leak else nn.functional.relu(x)
        if self.sub is not None:
            x = x - self.sub
        if self.maxv is not None:
            x = x.clamp_max(self.maxv)
        return x

    def extra_repr(self) -> str:
        return f"leak={self.leak}, sub={self.sub}, maxv={self.maxv}"


class Flatten(nn.Module):
    """``(N, C, 1, 1) -> (N, C)``: keeps the batch dimension, flattens the rest.

    Equals ``torch.nn.Flatten()``. Derived in Lesson 10, "A CNN and hooks" (lessons/10_cnn_hooks).
    """

    def forward(self, x: Tensor) -> Tensor:
        if not isinstance(x, Tensor) or x.ndim < 1:
            raise ValueError(f"Flatten: expected a batch of shape (N, ...), got {x!r:.60}")
        return x.reshape(x.shape[0], -1)


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
    """``(N, C, 1, 1) -> (N, C)``: the function behind :class:`Flatten`, for ``Lambda(flatten)``.

    Derived in Lesson 10, "A CNN and hooks" (lessons/10_cnn_hooks).
    """
    if not isinstance(x, Tensor) or x.ndim < 1:
        raise ValueError(f"flatten: expected a batch of shape (N, ...), got {x!r:.60}")
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
    for name, v in (("ni", ni), ("nf", nf), ("ks", ks), ("stride", stride)):
        _check_channels("conv_layer", name, v)
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


def _c_out(fn: str, data_or_c_out: DataBunch | int) -> int:
    if isinstance(data_or_c_out, DataBunch):
        if data_or_c_out.c_out is None:
            raise ValueError(f"{fn}: expected a DataBunch with c_out (how many classes), got c_out=None")
        return data_or_c_out.c_out
    return _check_channels(fn, "data_or_c_out (a DataBunch or a number of classes)", data_or_c_out)


def get_cnn_layers(
    data_or_c_out: DataBunch | int,
    nfs: Sequence[int],
    layer: Callable[..., nn.Module] = conv_layer,
    c_in: int = 1,
    **kwargs: Any,
) -> list[nn.Module]:
    """The course's CNN as a list of layers: one ``layer`` per entry of ``nfs``, then pool, flatten, linear.

    ``layer(c_in, nfs[0], 5, stride=2, **kwargs)`` first (a 5x5 kernel, so the first layer sees
    more than the 9 pixels a 3x3 kernel would), then ``layer(nfs[i-1], nfs[i], 3, stride=2, **kwargs)``;
    then ``AdaptiveAvgPool2d(1)``, :class:`Flatten` and ``Linear(nfs[-1], c_out)``. ``c_out`` is
    ``data.c_out`` of a :class:`~foundations.learner.DataBunch`, or an int. ``c_in`` is the number of
    image channels (1 for MNIST). Derived in Lesson 10, "A CNN and hooks" (lessons/10_cnn_hooks).
    """
    c_out = _c_out("get_cnn_layers", data_or_c_out)
    if isinstance(nfs, (str, bytes)) or not isinstance(nfs, Sequence) or len(nfs) == 0:
        raise ValueError(f"get_cnn_layers: expected nfs to be a non-empty list of channel counts, got {nfs!r}")
    chans = [_check_channels("get_cnn_layers", "c_in", c_in)]
    chans += [_check_channels("get_cnn_layers", f"nfs[{i}]", nf) for i, nf in enumerate(nfs)]
    if not callable(layer):
        raise TypeError(f"get_cnn_layers: expected layer to be a factory such as conv_layer, got {type(layer).__name__}")
    convs = [layer(chans[i], chans[i + 1], 5 if i == 0 else 3, stride=2, **kwargs) for i in range(len(nfs))]
    return [*convs, nn.AdaptiveAvgPool2d(1), Flatten(), nn.Linear(chans[-1], c_out)]


def get_cnn_model(
    data_or_c_out: DataBunch | int,
    nfs: Sequence[int],
    layer: Callable[..., nn.Module] = conv_layer,
    c_in: int = 1,
    **kwargs: Any,
) -> nn.Sequential:
    """``nn.Sequential(*get_cnn_layers(...))``: the course's CNN, with PyTorch's default init.

    Derived in Lesson 10, "A CNN and hooks" (lessons/10_cnn_hooks).

    >>> get_cnn_model(10, [8, 16, 32, 32])(torch.zeros(2, 1, 28, 28)).shape
    torch.Size([2, 10])
    """
    return nn.Sequential(*get_cnn_layers(data_or_c_out, nfs, layer, c_in, **kwargs))


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
    if not isinstance(model, nn.Module):
        raise TypeError(f"init_cnn: expected a torch.nn.Module, got {type(model).__name__}")
    a = _check_optional_real("init_cnn", "a", a)
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


def get_learn_run(
    data: DataBunch,
    nfs: Sequence[int],
    lr: float,
    layer: Callable[..., nn.Module] = conv_layer,
    cbs: Callback | Sequence[Callback] | None = None,
    cb_funcs: Callable[[], Callback] | Sequence[Callable[[], Callback]] | None = None,
    uniform: bool = False,
    **kwargs: Any,
) -> tuple[Learner, Runner]:
    """A Kaiming-initialised CNN (:func:`get_cnn_model`, :func:`init_cnn`) with SGD at ``lr``, as a learner and runner.

    ``kwargs`` go to ``layer`` (e.g. ``leak=0.1, sub=0.4, maxv=6.0``); the loss is cross-entropy.
    Derived in Lesson 10, "A CNN and hooks" (lessons/10_cnn_hooks).
    """
    if not isinstance(data, DataBunch):
        raise TypeError(f"get_learn_run: expected data to be a DataBunch, got {type(data).__name__}")
    model = init_cnn(get_cnn_model(data, nfs, layer, **kwargs), uniform=uniform)
    learn = Learner(model, SGD(model.parameters(), lr), cross_entropy, data)
    return learn, Runner(cbs, cb_funcs)
