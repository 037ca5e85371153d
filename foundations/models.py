"""Recipes: the course's models (and a learner for them) built in one call.

The pieces are derived on the pages; these put them together:

- :func:`get_model`: Lesson 9's MNIST MLP, ``Linear(n_in, nh) -> ReLU -> Linear(nh, c_out)``
  (lessons/09_callbacks);
- :func:`get_cnn_layers`, :func:`get_cnn_model`: Lesson 10's CNN from a list of channel counts
  (lessons/10_cnn_hooks);
- :func:`get_cnn_learner`: that CNN, Kaiming-initialised, in a :class:`~foundations.learner.Learner`
  (Lesson 11's form of the 2019 ``get_learn_run``, which returned a learner and a runner).

``data`` is a :class:`foundations.data.DataBunch` (anything with ``train_dl``, ``valid_dl`` and
``c_out``); this module does not import the data package.

**Base:** ``torch.nn`` (``nn.Sequential``, ``nn.Linear``, ``nn.ReLU``, ...), like the rest of the
library after Lesson 9's hand-written ``foundations.nn.Module`` (the teaching version).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

from foundations import checks
from foundations.conv import Lambda, conv_layer, flatten, init_cnn
from foundations.learner import Callback, Learner
from foundations.losses import cross_entropy
from foundations.optim import SGD

__all__ = ["get_cnn_layers", "get_cnn_learner", "get_cnn_model", "get_model", "get_stem_cnn", "get_stem_cnn_layers", "prev_pow_2"]


def _c_out(fn: str, data_or_c_out: Any) -> int:
    if hasattr(data_or_c_out, "train_dl"):
        if getattr(data_or_c_out, "c_out", None) is None:
            raise ValueError(f"{fn}: expected a DataBunch with c_out (how many classes), got c_out=None")
        return data_or_c_out.c_out
    return checks.positive_int(fn, "data_or_c_out (a DataBunch or a number of classes)", data_or_c_out)


def get_model(data: Any, nh: int = 50) -> nn.Sequential:
    """The course's MNIST MLP, ``Linear(n_in, nh) -> ReLU -> Linear(nh, c_out)``, in ``torch.nn``.

    ``n_in`` is the width of the training inputs (``data.train_ds.x.shape[1]``, 784 for MNIST);
    ``c_out`` comes from ``data.c_out``. Derived in Lesson 9, "Callbacks" (lessons/09_callbacks).
    """
    c_out = _c_out("get_model", data)
    nh = checks.positive_int("get_model", "nh", nh)
    x = data.train_ds.x
    if x.ndim != 2:
        raise ValueError(f"get_model: expected flat inputs of shape (N, n_in), got {tuple(x.shape)}")
    return nn.Sequential(nn.Linear(x.shape[1], nh), nn.ReLU(), nn.Linear(nh, c_out))


def get_cnn_layers(
    data_or_c_out: Any,
    nfs: Sequence[int],
    layer: Callable[..., nn.Module] = conv_layer,
    c_in: int = 1,
    **kwargs: Any,
) -> list[nn.Module]:
    """The course's CNN as a list of layers: one ``layer`` per entry of ``nfs``, then pool, flatten, linear.

    ``layer(c_in, nfs[0], 5, stride=2, **kwargs)`` first (a 5x5 kernel, so the first layer sees
    more than the 9 pixels a 3x3 kernel would), then ``layer(nfs[i-1], nfs[i], 3, stride=2, **kwargs)``;
    then ``AdaptiveAvgPool2d(1)``, ``Flatten`` and ``Linear(nfs[-1], c_out)``. ``c_out`` is
    ``data.c_out`` of a :class:`~foundations.data.DataBunch`, or an int. ``c_in`` is the number of
    image channels (1 for MNIST). Derived in Lesson 10, "A CNN and hooks" (lessons/10_cnn_hooks).
    """
    c_out = _c_out("get_cnn_layers", data_or_c_out)
    what = "a non-empty list of channel counts"
    if isinstance(nfs, (str, bytes)) or not isinstance(nfs, Sequence):
        raise TypeError(checks.message("get_cnn_layers", "nfs", what, nfs))
    if len(nfs) == 0:
        raise ValueError(checks.message("get_cnn_layers", "nfs", what, nfs))
    chans = [checks.positive_int("get_cnn_layers", "c_in", c_in)]
    chans += [checks.positive_int("get_cnn_layers", f"nfs[{i}]", nf) for i, nf in enumerate(nfs)]
    if not callable(layer):
        raise TypeError(f"get_cnn_layers: expected layer to be a factory such as conv_layer, got {type(layer).__name__}")
    convs = [layer(chans[i], chans[i + 1], 5 if i == 0 else 3, stride=2, **kwargs) for i in range(len(nfs))]
    return [*convs, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(chans[-1], c_out)]


def get_cnn_model(
    data_or_c_out: Any,
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


def get_cnn_learner(
    data: Any,
    nfs: Sequence[int],
    lr: float,
    layer: Callable[..., nn.Module] = conv_layer,
    cbs: Callback | Sequence[Callback] | None = None,
    uniform: bool = False,
    opt_func: Callable[..., Any] = SGD,
    **kwargs: Any,
) -> Learner:
    """A Kaiming-initialised CNN (:func:`get_cnn_model`, :func:`~foundations.conv.init_cnn`) in a learner.

    Cross-entropy loss, ``opt_func`` (SGD) at ``lr``; ``kwargs`` go to ``layer`` (e.g.
    ``leak=0.1, sub=0.4, maxv=6.0``). Derived in Lesson 10, "A CNN and hooks" (lessons/10_cnn_hooks).
    """
    model = init_cnn(get_cnn_model(data, nfs, layer, **kwargs), uniform=uniform)
    return Learner(model, data, cross_entropy, opt_func=opt_func, lr=lr, cbs=cbs)


def prev_pow_2(x: int) -> int:
    """The largest power of two that is at most ``x`` (``x >= 1``): ``prev_pow_2(27) == 16``.

    Derived in Lesson 11, "The data block API" (lessons/11_data_block), where it sizes the stem.
    """
    x = checks.positive_int("prev_pow_2", "x", x)
    return 1 << (x.bit_length() - 1)


def get_stem_cnn_layers(
    data_or_c_out: Any,
    nfs: Sequence[int],
    c_in: int = 3,
    layer: Callable[..., nn.Module] = conv_layer,
    **kwargs: Any,
) -> list[nn.Module]:
    """The course's Imagenette CNN (Lesson 11): a stem of three 3x3 layers, then one stride-2 layer per ``nfs``.

    The stem follows the Bag of Tricks paper (He et al. 2018): ``c_in -> s -> 2s -> 4s`` channels with
    ``s = prev_pow_2(9 * c_in)`` (16 for colour images: a 3x3 kernel over 3 channels sees 27 numbers,
    so its first layer should not have more outputs than that), strides 1, 2, 2; then
    ``layer(n_i, n_{i+1}, 3, stride=2)`` for ``4s, *nfs``; then average pooling, flatten and a linear
    layer to ``c_out``. ``kwargs`` go to ``layer`` (``bn=True`` for BatchNorm, ``leak=`` ...).
    Derived in Lesson 11, "The data block API" (lessons/11_data_block).
    """
    c_out = _c_out("get_stem_cnn_layers", data_or_c_out)
    c_in = checks.positive_int("get_stem_cnn_layers", "c_in", c_in)
    nfs = [checks.positive_int("get_stem_cnn_layers", f"nfs[{i}]", n) for i, n in enumerate(nfs)]
    if not nfs:
        raise ValueError("get_stem_cnn_layers: expected at least one entry in nfs, got none")
    s = prev_pow_2(9 * c_in)
    stem = [layer(c_in, s, 3, stride=1, **kwargs), layer(s, 2 * s, 3, stride=2, **kwargs),
            layer(2 * s, 4 * s, 3, stride=2, **kwargs)]
    sizes = [4 * s, *nfs]
    body = [layer(sizes[i], sizes[i + 1], 3, stride=2, **kwargs) for i in range(len(nfs))]
    return [*stem, *body, nn.AdaptiveAvgPool2d(1), Lambda(flatten), nn.Linear(sizes[-1], c_out)]


def get_stem_cnn(
    data_or_c_out: Any, nfs: Sequence[int], c_in: int = 3, layer: Callable[..., nn.Module] = conv_layer, **kwargs: Any
) -> nn.Sequential:
    """``nn.Sequential(*get_stem_cnn_layers(...))``, Kaiming-initialised (:func:`~foundations.conv.init_cnn`).

    Derived in Lesson 11, "The data block API" (lessons/11_data_block).

    >>> get_stem_cnn(10, [32, 64], bn=True)(torch.zeros(2, 3, 64, 64)).shape
    torch.Size([2, 10])
    """
    return init_cnn(nn.Sequential(*get_stem_cnn_layers(data_or_c_out, nfs, c_in, layer, **kwargs)))
