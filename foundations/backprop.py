"""A two-layer network's forward and backward passes, written by hand.

Derived in Lesson 8, "Forward and backward passes" (lessons/08_backprop). The page builds these in
three steps: functions (``lin``, ``relu``, ``mse``) and their gradients from the chain rule
(``lin_grad``, ``relu_grad``, ``mse_grad``); layer classes that remember their inputs so that
``backward()`` can fill a ``.g`` gradient on every tensor; and the same model in ``torch.nn``.
Everything is checked against PyTorch's autograd in the tests.

Shapes: a batch ``x`` is ``(N, n_in)``; a weight matrix is ``(n_in, n_out)`` (we compute
``x @ w + b``, the transpose of ``torch.nn.Linear.weight``); a bias is ``(n_out,)``; the network's
output is ``(N, 1)`` and the targets are ``(N,)``.

**Base:** its own :class:`Module`, the first of the course's three: a layer that keeps its inputs
and writes a hand-derived ``bwd``. Lesson 9's ``foundations.nn.Module`` replaces ``bwd`` by
autograd and registers parameters; the rest of the library builds on ``torch.nn.Module``.
:func:`relu` and :class:`Relu` are the first of the library's ReLUs (see ``foundations.activations``,
"The ReLU family").
"""

from __future__ import annotations

import torch
from torch import Tensor

from foundations import checks
from foundations.checks import shape_str

__all__ = [
    "Lin",
    "Model",
    "Module",
    "Mse",
    "Relu",
    "lin",
    "lin_grad",
    "mse",
    "mse_grad",
    "relu",
    "relu_grad",
]


def _check_same_shape(fn: str, a_name: str, a: Tensor, b_name: str, b: Tensor) -> None:
    if a.shape != b.shape:
        raise ValueError(
            f"{fn}: expected {b_name} of the same shape as {a_name} {shape_str(a.shape)}, got {shape_str(b.shape)}"
        )


def _check_output_target(fn: str, output: object, target: object) -> tuple[Tensor, Tensor]:
    output = checks.tensor(fn, "output", output)
    target = checks.tensor(fn, "target", target)
    if output.ndim != 2 or output.shape[1] != 1 or target.ndim != 1 or output.shape[0] != target.shape[0]:
        raise ValueError(
            f"{fn}: expected output of shape (N, 1) and target of shape (N,), "
            f"got {shape_str(output.shape)} and {shape_str(target.shape)}"
        )
    if output.shape[0] == 0:
        raise ValueError(f"{fn}: expected a non-empty batch, got output of shape {shape_str(output.shape)}")
    return output, target


# ---------------------------------------------------------------------------------------------
# Forward functions
# ---------------------------------------------------------------------------------------------


def lin(x: Tensor, w: Tensor, b: Tensor) -> Tensor:
    """A linear layer, ``x @ w + b``: ``(N, n_in) @ (n_in, n_out) + (n_out,) -> (N, n_out)``.

    Derived in Lesson 8, "Forward and backward passes" (lessons/08_backprop).
    """
    for name, t in (("x", x), ("w", w), ("b", b)):
        checks.tensor("lin", name, t)
    if x.ndim != 2 or w.ndim != 2 or b.ndim != 1 or x.shape[1] != w.shape[0] or w.shape[1] != b.shape[0]:
        raise ValueError(
            "lin: expected x of shape (N, n_in), w of shape (n_in, n_out) and b of shape (n_out,), "
            f"got {shape_str(x.shape)}, {shape_str(w.shape)} and {shape_str(b.shape)}"
        )
    return x @ w + b


def relu(x: Tensor) -> Tensor:
    """The rectified linear unit, ``max(x, 0)`` elementwise; any shape.

    The same numbers as ``torch.relu``; :func:`relu_grad` is its gradient. The library's other
    ReLUs (``foundations.nn.ReLU``, ``foundations.conv.GeneralRelu``, ``foundations.activations.prelu``)
    are listed in ``foundations.activations``, "The ReLU family".
    Derived in Lesson 8, "Forward and backward passes" (lessons/08_backprop).
    """
    return checks.tensor("relu", "x", x).clamp_min(0.0)


def mse(output: Tensor, target: Tensor) -> Tensor:
    """Mean squared error ``(1/N) sum_i (output_i - target_i)^2`` of an ``(N, 1)`` output and ``(N,)`` targets.

    The output's trailing 1 is dropped *before* subtracting: ``(N, 1) - (N,)`` would broadcast to
    ``(N, N)`` and silently compute the wrong loss. Returns a 0-d tensor.
    Derived in Lesson 8, "Forward and backward passes" (lessons/08_backprop).
    """
    output, target = _check_output_target("mse", output, target)
    return (output[:, 0] - target).pow(2).mean()


# ---------------------------------------------------------------------------------------------
# Gradients (the chain rule, one step per function)
# ---------------------------------------------------------------------------------------------


def mse_grad(output: Tensor, target: Tensor) -> Tensor:
    """Gradient of :func:`mse` with respect to ``output``: ``2 (output - target) / N``, shape ``(N, 1)``.

    Derived in Lesson 8, "Forward and backward passes" (lessons/08_backprop).
    """
    output, target = _check_output_target("mse_grad", output, target)
    return 2.0 * (output[:, 0] - target).unsqueeze(-1) / output.shape[0]


def relu_grad(x: Tensor, out_grad: Tensor) -> Tensor:
    """Gradient of the loss with respect to :func:`relu`'s input: ``out_grad`` where ``x > 0``, else 0.

    ``x`` is the ReLU's input and ``out_grad`` the gradient with respect to its output; both have the
    same shape, and so does the result. At ``x == 0`` we take the derivative to be 0, as PyTorch does.
    Derived in Lesson 8, "Forward and backward passes" (lessons/08_backprop).
    """
    checks.tensor("relu_grad", "x", x)
    checks.tensor("relu_grad", "out_grad", out_grad)
    _check_same_shape("relu_grad", "x", x, "out_grad", out_grad)
    return (x > 0).to(out_grad.dtype) * out_grad


def lin_grad(x: Tensor, w: Tensor, out_grad: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Gradients of the loss through :func:`lin`, given ``out_grad`` = dloss/d(x @ w + b).

    With ``x`` ``(N, n_in)``, ``w`` ``(n_in, n_out)`` and ``out_grad`` ``(N, n_out)``, returns

    * ``x_grad = out_grad @ w.T``, shape ``(N, n_in)``;
    * ``w_grad = x.T @ out_grad``, shape ``(n_in, n_out)`` (a sum over the batch of outer products);
    * ``b_grad = out_grad.sum(0)``, shape ``(n_out,)``.

    Derived in Lesson 8, "Forward and backward passes" (lessons/08_backprop).
    """
    for name, t in (("x", x), ("w", w), ("out_grad", out_grad)):
        checks.tensor("lin_grad", name, t)
    if (
        x.ndim != 2
        or w.ndim != 2
        or out_grad.ndim != 2
        or x.shape[1] != w.shape[0]
        or out_grad.shape != (x.shape[0], w.shape[1])
    ):
        raise ValueError(
            "lin_grad: expected x of shape (N, n_in), w of shape (n_in, n_out) and out_grad of shape "
            f"(N, n_out), got {shape_str(x.shape)}, {shape_str(w.shape)} and {shape_str(out_grad.shape)}"
        )
    return out_grad @ w.T, x.T @ out_grad, out_grad.sum(0)


# ---------------------------------------------------------------------------------------------
# Layers that remember their inputs
# ---------------------------------------------------------------------------------------------


def _grad_of(layer: Module, out: Tensor) -> Tensor:
    g = getattr(out, "g", None)
    if g is None:
        raise RuntimeError(
            f"{type(layer).__name__}.backward: its output has no gradient .g yet; call backward() on "
            "the layers after it first (the loss, then the layers in reverse order)"
        )
    return g


class Module:
    """Base class for a layer with a hand-written backward pass.

    Calling a layer runs :meth:`forward` and keeps its inputs
    (``self.args``) and output (``self.out``). :meth:`backward` hands them
    to :meth:`bwd`, which reads the output's gradient ``self.out.g`` and
    stores the gradients of the inputs (and weights) as ``.g`` attributes.
    Derived in Lesson 8, "Forward and backward passes" (lessons/08_backprop).
    """

    args: tuple[Tensor, ...]
    out: Tensor

    def __call__(self, *args: Tensor) -> Tensor:
        self.args = args
        self.out = self.forward(*args)
        return self.out

    def forward(self, *args: Tensor) -> Tensor:
        raise NotImplementedError(f"{type(self).__name__} must define forward")

    def backward(self) -> None:
        if not hasattr(self, "out"):
            msg = "backward: call the layer on an input first"
            raise RuntimeError(f"{type(self).__name__}.{msg}")
        self.bwd(self.out, *self.args)

    def bwd(self, out: Tensor, *args: Tensor) -> None:
        raise NotImplementedError(f"{type(self).__name__} must define bwd")


class Relu(Module):
    """ReLU layer: :func:`relu` forward; backward sets ``inp.g`` with :func:`relu_grad`.

    A layer of this module's hand-written :class:`Module`; Lesson 9's ``foundations.nn.ReLU`` is the
    same layer with autograd doing the backward pass.

    Derived in Lesson 8, "Forward and backward passes" (lessons/08_backprop).
    """

    def forward(self, inp: Tensor) -> Tensor:
        return relu(inp)

    def bwd(self, out: Tensor, inp: Tensor) -> None:
        inp.g = relu_grad(inp, _grad_of(self, out))


class Lin(Module):
    """Linear layer ``inp @ w + b``.

    Backward sets ``inp.g``, ``w.g`` and ``b.g`` with :func:`lin_grad`.
    Derived in Lesson 8, "Forward and backward passes" (lessons/08_backprop).
    """

    def __init__(self, w: Tensor, b: Tensor) -> None:
        checks.tensor("Lin", "w", w)
        checks.tensor("Lin", "b", b)
        if w.ndim != 2 or b.shape != (w.shape[1],):
            raise ValueError(
                "Lin: expected w of shape (n_in, n_out) and b of shape "
                f"(n_out,), got {shape_str(w.shape)} and {shape_str(b.shape)}"
            )
        self.w, self.b = w, b

    def forward(self, inp: Tensor) -> Tensor:
        return lin(inp, self.w, self.b)

    def bwd(self, out: Tensor, inp: Tensor) -> None:
        out_grad = _grad_of(self, out)
        inp.g, self.w.g, self.b.g = lin_grad(inp, self.w, out_grad)


class Mse(Module):
    """Mean-squared-error loss layer; backward sets ``inp.g`` (the loss's own gradient is 1).

    Derived in Lesson 8, "Forward and backward passes" (lessons/08_backprop).
    """

    def forward(self, inp: Tensor, targ: Tensor) -> Tensor:
        return mse(inp, targ)

    def bwd(self, out: Tensor, inp: Tensor, targ: Tensor) -> None:
        inp.g = mse_grad(inp, targ)


class Model:
    """The lesson's MLP, ``Lin(w1, b1) -> Relu -> Lin(w2, b2)``, with an :class:`Mse` loss.

    ``model(x, targ)`` returns the loss; ``model.backward()`` then fills ``.g`` on ``x``, ``w1``,
    ``b1``, ``w2`` and ``b2`` (and on every intermediate activation). Shapes: ``w1`` ``(n_in, nh)``,
    ``b1`` ``(nh,)``, ``w2`` ``(nh, 1)``, ``b2`` ``(1,)``; 784-50-1 on MNIST.
    Derived in Lesson 8, "Forward and backward passes" (lessons/08_backprop).
    """

    def __init__(self, w1: Tensor, b1: Tensor, w2: Tensor, b2: Tensor) -> None:
        for name, t in (("w1", w1), ("b1", b1), ("w2", w2), ("b2", b2)):
            checks.tensor("Model", name, t)
        if (
            w1.ndim != 2
            or b1.shape != (w1.shape[1],)
            or w2.shape != (w1.shape[1], 1)
            or b2.shape != (1,)
        ):
            raise ValueError(
                "Model: expected w1 (n_in, nh), b1 (nh,), w2 (nh, 1) and b2 (1,), "
                f"got {shape_str(w1.shape)}, {shape_str(b1.shape)}, {shape_str(w2.shape)} and {shape_str(b2.shape)}"
            )
        self.layers: list[Module] = [Lin(w1, b1), Relu(), Lin(w2, b2)]
        self.loss = Mse()

    def __call__(self, x: Tensor, targ: Tensor) -> Tensor:
        for layer in self.layers:
            x = layer(x)
        return self.loss(x, targ)

    def backward(self) -> None:
        self.loss.backward()
        for layer in reversed(self.layers):
            layer.backward()
