"""Lesson 11 exercise: one step of LSUV initialisation (Mishkin & Matas 2015), by hand.

Page: lessons/11_lsuv. Replace the ``raise NotImplementedError`` line with your code, then grade it:

    .venv/bin/pytest exercises -k lsuv_rescale

The grader compares each step with the library's ``foundations.lsuv.lsuv_init`` (one rescaling of
the same layer on the same batch), and repeats your step to check that the layer's output ends
with standard deviation 1 (and mean 0, with a bias). Use the layer, tensor reductions (``mean``,
``std``) and ``torch.no_grad``; do not call ``foundations.lsuv`` (the grader checks: a call to it
fails the exercise).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


def lsuv_rescale(layer: nn.Linear | nn.Conv2d, x: Tensor) -> float:
    """One LSUV step on ``layer`` (``nn.Linear`` or ``nn.Conv2d``) for the batch ``x`` it sees.

    Run the layer on ``x`` (its input: ``(N, in_features)`` or ``(N, C, H, W)``) and take the mean
    ``m`` and the standard deviation ``s`` of all the output's values (``out.mean()``, ``out.std()``:
    PyTorch's default std, which divides by ``n - 1``). Then, in place and under ``torch.no_grad()``:

        layer.bias   <- layer.bias - m       (only if the layer has a bias: ``layer.bias`` is not None)
        layer.weight <- layer.weight / s

    and return the std of the layer's new output on ``x``, as a Python ``float``. Keep the
    parameters themselves (an optimizer holds them): change their values, do not assign new ones.

    Without a bias, or with a bias that is the same for every output, one step makes the std exactly
    1; a bias that differs between outputs adds a spread of its own that the weights' scaling leaves
    alone, so LSUV repeats the step until ``|std - 1|`` is small. The grader repeats yours up to 10
    times and expects ``|std - 1| <= 1e-3``.

    >>> torch.manual_seed(0)
    >>> layer, x = nn.Linear(4, 3), torch.randn(64, 4) * 5
    >>> [round(lsuv_rescale(layer, x), 5) for _ in range(4)]
    [1.00798, 1.00014, 1.0, 1.0]
    """
    # BEGIN SOLUTION
    with torch.no_grad():
        out = layer(x)
        mean, std = out.mean(), out.std()
        if layer.bias is not None:
            layer.bias -= mean
        layer.weight /= std
        return layer(x).std().item()
    # END SOLUTION
