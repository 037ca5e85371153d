"""Lesson 8 exercises: the gradients of a small network, and Kaiming's initialisation scale.

Generated from solutions/lesson08_backprop.py by tools/make_stubs.py: edit the solution, not this file.

Each function below is an exercise from the page "Forward and backward passes" (lessons/08_backprop).
Replace the line in a function's body that raises ``NotImplementedError`` with your code, then grade it:

    .venv/bin/pytest exercises -k mse_grad        # or relu_grad, lin_grad, kaiming_std
    .venv/bin/pytest exercises -m lesson08        # every Lesson 8 exercise

The rules of the game: tensor arithmetic, indexing, ``@`` and ``sum``; no autograd (``.backward()``,
``torch.autograd``, ``torch.func``) and no ``torch.nn`` (``torch.nn.functional``, ``torch.nn.init``, the
layers), nor the library's own versions in ``foundations.backprop`` and ``foundations.init``. The
grader uses autograd to check you, not the other way round, and a call to any of those fails the
exercise.
The shapes follow the page: a batch ``x`` is ``(N, n_in)``, a weight ``w`` is ``(n_in, n_out)`` (the
layer computes ``x @ w + b``), the network's output is ``(N, 1)`` and the targets are ``(N,)``.
"""

from __future__ import annotations

import math

import torch


def mse_grad(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Gradient of the mean squared error with respect to the network's output.

    Formula: the loss is ``L = (1/N) sum_i (output[i, 0] - target[i])^2``, so
    ``dL/doutput[i, 0] = 2 (output[i, 0] - target[i]) / N``.

    Shapes: ``output`` is ``(N, 1)``, ``target`` is ``(N,)``; the result has the shape of
    ``output``, ``(N, 1)``. Careful: ``output - target`` broadcasts to ``(N, N)``. The grader passes
    float64 tensors and accepts a float32 result at float32 precision (the maths is the point here).

    Example::

        >>> mse_grad(torch.tensor([[1.0], [3.0]]), torch.tensor([0.0, 3.0]))
        tensor([[1.],
                [0.]])
    """
    raise NotImplementedError("your code here")


def relu_grad(x: torch.Tensor, out_grad: torch.Tensor) -> torch.Tensor:
    """Gradient of the loss with respect to a ReLU's input ``x``, given ``out_grad`` = dL/d relu(x).

    Formula: ``relu(x) = max(x, 0)`` has derivative 1 where ``x > 0`` and 0 where ``x < 0`` (take 0
    at ``x == 0``, as PyTorch does); by the chain rule ``dL/dx = out_grad * (x > 0)``, elementwise.

    Shapes: ``x`` and ``out_grad`` have the same (any) shape; so does the result, with the dtype of
    ``out_grad``. The grader passes float64 tensors and accepts a float32 result at float32 precision.

    Example::

        >>> relu_grad(torch.tensor([[-1.0, 0.0, 2.0]]), torch.tensor([[5.0, 5.0, 5.0]]))
        tensor([[0., 0., 5.]])
    """
    raise NotImplementedError("your code here")


def lin_grad(
    x: torch.Tensor, w: torch.Tensor, out_grad: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Gradients through a linear layer ``out = x @ w + b``, given ``out_grad`` = dL/dout.

    The maths to derive: write the layer entry by entry, ``out[i, j] = sum_k x[i, k] w[k, j] + b[j]``,
    and use the chain rule, ``dL/dt = sum_{i, j} out_grad[i, j] * d out[i, j] / dt``, for each entry
    ``t`` of ``x``, of ``w`` and of ``b`` in turn. Most ``d out[i, j] / dt`` are 0: ask which entries
    of ``out`` a given ``x[i, k]`` appears in (one row), which a given ``w[k, j]`` appears in (one
    column, once per sample) and which a given ``b[j]`` does, and with what factor. Each gradient
    is then a sum you can write as one tensor expression.

    Shapes: ``x`` is ``(N, n_in)``, ``w`` is ``(n_in, n_out)``, ``out_grad`` is ``(N, n_out)``;
    returns the tuple ``(x_grad, w_grad, b_grad)`` of shapes ``(N, n_in)``, ``(n_in, n_out)`` and
    ``(n_out,)``: each gradient has the shape of the thing it is the gradient of, a check on your
    derivation. (``b`` itself is not needed.) The grader passes float64 tensors and accepts float32
    results at float32 precision.

    Example::

        >>> x_grad, w_grad, b_grad = lin_grad(torch.tensor([[1.0, 2.0]]), torch.tensor([[3.0], [4.0]]),
        ...                                   torch.tensor([[10.0]]))
        >>> x_grad, w_grad, b_grad
        (tensor([[30., 40.]]), tensor([[10.],
                [20.]]), tensor([10.]))
    """
    raise NotImplementedError("your code here")


def kaiming_std(fan_in: int, a: float = 0.0) -> float:
    """The standard deviation of He et al.'s (2015) "Kaiming" initialisation, as a Python float.

    Formula: ``std = sqrt(2 / ((1 + a^2) * fan_in))``. A layer with ``fan_in`` inputs followed by a
    leaky ReLU of negative slope ``a`` (``a = 0``: a plain ReLU) then keeps the mean square of its
    activations from layer to layer. With ``a = 1`` (no non-linearity at all) it is ``1/sqrt(fan_in)``.

    Shapes: ``fan_in`` is a positive int (the number of inputs of the layer), ``a`` a float; returns
    a Python float (not a tensor).

    Example::

        >>> kaiming_std(50)
        0.2
        >>> round(kaiming_std(784, a=0.1), 5)
        0.05026
    """
    raise NotImplementedError("your code here")
