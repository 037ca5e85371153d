"""Lesson 10 exercises: BatchNorm's training step, LayerNorm, GroupNorm and RunningBatchNorm's statistics.

Page: lessons/10_batchnorm ("BatchNorm and friends"). Grade with
``pytest exercises/test_lesson10_norm.py`` (one exercise: add ``-k group_norm``).
Use tensor arithmetic and reductions (``mean``, ``sum``, ``sqrt``, ``reshape``, ...); not
``F.batch_norm``, ``F.layer_norm``, ``F.group_norm``, ``F.instance_norm`` (nor ``torch``'s functions of
those names, nor ``torch.nn``'s normalisation layers, which call them), ``torch.var``/``var_mean``,
``torch.std``/``std_mean``, the ``Tensor`` methods ``.var()`` and ``.std()``, or the layers of
``foundations.norm``: the grader checks, and a call to one of them fails the exercise. It compares
your answers with PyTorch's in float64, and accepts float32 answers at float32 precision: the maths
is the point here, not the dtype.

Variances here are *biased*: the mean of the squared deviations, dividing by the number of values
``n`` (not ``n - 1``), which is what the normalisers divide by.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor


def batchnorm_train_forward(x: Tensor, gamma: Tensor, beta: Tensor, eps: float = 1e-5) -> tuple[Tensor, Tensor, Tensor]:
    """BatchNorm in training mode (Algorithm 1 of Ioffe & Szegedy 2015) on an ``(N, C, H, W)`` batch.

    For each channel ``c``, over its ``N*H*W`` values:

        mean_c = average of x[:, c]
        var_c  = average of (x[:, c] - mean_c) ** 2            (biased)
        y[:, c] = gamma_c * (x[:, c] - mean_c) / sqrt(var_c + eps) + beta_c

    Shapes: ``x`` ``(N, C, H, W)``, ``gamma`` and ``beta`` ``(C,)``; returns ``(y, mean, var)`` with
    ``y`` shaped like ``x`` and ``mean``, ``var`` of shape ``(C,)``. Hint: reduce over ``dim=(0, 2, 3)``
    and reshape the ``(C,)`` vectors to ``(1, C, 1, 1)`` so they broadcast. Written with tensor
    operations it is differentiable: the grader also checks its gradients with respect to ``x``,
    ``gamma`` and ``beta`` against ``F.batch_norm``'s.

    >>> x = torch.tensor([[[[1.0]], [[10.0]]], [[[3.0]], [[30.0]]]])  # N=2, C=2, 1x1 images
    >>> y, mean, var = batchnorm_train_forward(x, torch.ones(2), torch.zeros(2), eps=0.0)
    >>> mean, var, y[:, :, 0, 0]
    (tensor([ 2., 20.]), tensor([  1., 100.]), tensor([[-1., -1.],
            [ 1.,  1.]]))
    """
    # BEGIN SOLUTION
    dims = (0, 2, 3)
    mean = x.mean(dims)
    shape = (1, -1, 1, 1)
    centred = x - mean.view(shape)
    var = (centred * centred).mean(dims)
    y = centred / (var.view(shape) + eps).sqrt() * gamma.view(shape) + beta.view(shape)
    return y, mean, var
    # END SOLUTION


def layer_norm(x: Tensor, eps: float = 1e-5) -> Tensor:
    """LayerNorm without learned parameters: each sample normalised over all of its values.

    For an input of shape ``(N, ...)`` (two or more dimensions), each ``x[n]`` gets its own mean and
    biased variance over every one of its values (``C*H*W`` of them for an image), and

        y[n] = (x[n] - mean_n) / sqrt(var_n + eps).

    Returns a tensor shaped like ``x``. Unlike BatchNorm, nothing mixes samples: ``layer_norm(x)[n]``
    depends on ``x[n]`` alone. Hint: reduce over ``dim=tuple(range(1, x.ndim))`` with ``keepdim=True``.

    >>> layer_norm(torch.tensor([[1.0, 3.0], [10.0, 30.0]]), eps=0.0)
    tensor([[-1.,  1.],
            [-1.,  1.]])
    """
    # BEGIN SOLUTION
    dims = tuple(range(1, x.ndim))
    mean = x.mean(dims, keepdim=True)
    var = ((x - mean) ** 2).mean(dims, keepdim=True)
    return (x - mean) / (var + eps).sqrt()
    # END SOLUTION


def group_norm(x: Tensor, num_groups: int, eps: float = 1e-5) -> Tensor:
    """GroupNorm without learned parameters (Wu & He 2018) on an ``(N, C, ...)`` input.

    The ``C`` channels are split into ``num_groups`` consecutive groups of ``C // num_groups``
    channels; each sample is normalised over each group's values (``C/G * H * W`` of them for an
    image) with that group's mean and biased variance. ``num_groups = 1`` is :func:`layer_norm`;
    ``num_groups = C`` normalises every channel of every sample on its own (InstanceNorm).

    If ``num_groups`` does not divide ``C``, raise ``ValueError`` with a message that names both,
    e.g. ``"group_norm: expected num_groups to divide the 6 channels, got num_groups=4"``.
    Returns a tensor shaped like ``x``. Hint: ``x.reshape(N, num_groups, -1)``, normalise along the
    last dimension, reshape back.

    >>> x = torch.tensor([[1.0, 3.0, 10.0, 30.0]])  # N=1, C=4
    >>> group_norm(x, 2, eps=0.0)                   # groups [1, 3] and [10, 30]
    tensor([[-1.,  1., -1.,  1.]])
    """
    # BEGIN SOLUTION
    n, c = x.shape[0], x.shape[1]
    if num_groups < 1 or c % num_groups:
        raise ValueError(f"group_norm: expected num_groups to divide the {c} channels, got num_groups={num_groups}")
    groups = x.reshape(n, num_groups, -1)
    mean = groups.mean(-1, keepdim=True)
    var = ((groups - mean) ** 2).mean(-1, keepdim=True)
    return ((groups - mean) / (var + eps).sqrt()).reshape(x.shape)
    # END SOLUTION


def running_batchnorm_update(
    sums: Tensor, sqrs: Tensor, count: Tensor, x: Tensor, mom: float = 0.1
) -> tuple[Tensor, Tensor, Tensor]:
    """One training step of RunningBatchNorm's statistics: fold the batch ``x`` into the running sums.

    ``x`` is ``(N, C, H, W)`` with ``N >= 2``; ``sums`` and ``sqrs`` are ``(C,)``, ``count`` a 0-d
    tensor (all zeros before the first batch). With the momentum adjusted for the batch size,
    ``m = 1 - (1 - mom) / sqrt(N - 1)``, and per channel ``c``:

        s_c = sum of x[:, c]         q_c = sum of x[:, c] ** 2         k = N * H * W

        new_sums = (1 - m) * sums + m * s       (one value per channel)
        new_sqrs = (1 - m) * sqrs + m * q
        new_count = (1 - m) * count + m * k

    Return ``(new_sums, new_sqrs, new_count)`` (shapes ``(C,)``, ``(C,)``, ``()``); do not change the
    inputs. The layer then normalises with ``mean = sums / count`` and
    ``var = sqrs / count - mean ** 2``; after the first batch these are exactly that batch's mean and
    biased variance, although the sums started at zero (the zeros bias ``count`` just as much).

    >>> x = torch.tensor([[[[1.0]]], [[[3.0]]]])   # N=2, C=1, one pixel: m = mom = 0.1
    >>> s, q, k = running_batchnorm_update(torch.zeros(1), torch.zeros(1), torch.tensor(0.0), x)
    >>> s, q, k, s / k
    (tensor([0.4000]), tensor([1.]), tensor(0.2000), tensor([2.]))
    """
    # BEGIN SOLUTION
    n, c = x.shape[0], x.shape[1]
    m = 1 - (1 - mom) / math.sqrt(n - 1)
    s = x.sum((0, 2, 3))
    q = (x * x).sum((0, 2, 3))
    k = x.numel() / c
    return (1 - m) * sums + m * s, (1 - m) * sqrs + m * q, (1 - m) * count + m * k
    # END SOLUTION
