"""Layers that know their parameters: ``Parameter``, ``Module``, ``Linear``, ``ReLU``, ``Sequential``.

**The teaching version.** This hand-written :class:`Module` exists to show how ``torch.nn.Module``
works; after Lesson 9 the library builds on ``torch.nn`` only (``foundations.norm``, ``conv``,
``models``, ``residual`` and ``hooks`` take and make ``torch.nn.Module`` objects), and the two are
not mixed: assigning a ``torch.nn.Module`` to one of ours raises. It is the second of the course's
three bases: Lesson 8's ``foundations.backprop.Module`` (a hand-written backward), this one
(autograd and a parameter registry), then ``torch.nn.Module``. A model built from it still trains
in the ``foundations.learner.Learner``, which needs only ``parameters()``, ``train()`` and ``eval()``.

Derived in Lesson 9, "Mini-batch training" (lessons/09_minibatch). Lesson 8 wrote the backward pass
by hand; from here on autograd computes gradients, and what a layer needs is a way to *list its
parameters*, so that an optimizer can update them without us naming every weight. The trick is
``__setattr__``: when a :class:`Module` is given an attribute that is a sub-module or a parameter, it
also records it in an ordered registry, and :meth:`Module.named_parameters` walks those registries.

The names and the order match ``torch.nn.Module`` exactly (the tests compare them): a module yields
its *own* parameters first, in the order they were assigned, then each sub-module's, recursively,
with dotted names (``"layers.0.weight"``); a parameter reachable twice (tied weights) is yielded
once.

Our :func:`Parameter` is a function, not a class: it returns an ordinary tensor with
``requires_grad=True`` and a marker attribute that :func:`is_parameter` reads. (``torch.nn.Parameter``
is a ``Tensor`` subclass; making one needs private PyTorch hooks, and the marker is all the
bookkeeping needs.) A ``torch.nn.Parameter`` assigned to one of our modules is registered too; a
``torch.nn.Module`` (a torch layer) is refused with a ``TypeError``, not silently left out.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import torch
from torch import Tensor

from foundations import checks

__all__ = ["Linear", "Module", "Parameter", "ReLU", "Sequential", "is_parameter"]

_MARK = "_foundations_parameter"


def Parameter(data: Tensor) -> Tensor:  # noqa: N802 (named like the class it stands for in torch)
    """Mark ``data`` as a learnable parameter: a tensor sharing its storage, with ``requires_grad=True``.

    Assigning the result as an attribute of a :class:`Module` registers it, so it appears in
    :meth:`Module.parameters`. ``data`` must be a floating-point tensor (only those have gradients).
    Derived in Lesson 9, "Mini-batch training" (lessons/09_minibatch).

    >>> p = Parameter(torch.zeros(3))
    >>> p.requires_grad, is_parameter(p), is_parameter(torch.zeros(3))
    (True, True, False)
    """
    data = checks.tensor("Parameter", "data", data, floating=True)
    p = data.detach().requires_grad_(True)
    setattr(p, _MARK, True)
    return p


def is_parameter(x: object) -> bool:
    """True for a tensor made by :func:`Parameter` (or a ``torch.nn.Parameter``).

    Derived in Lesson 9, "Mini-batch training" (lessons/09_minibatch).
    """
    return isinstance(x, torch.nn.Parameter) or (isinstance(x, Tensor) and getattr(x, _MARK, False) is True)


def _torch_module_message(owner: object, name: str, value: object) -> str:
    """Why a ``torch.nn.Module`` cannot be an attribute of our :class:`Module`, and what to do instead."""
    kind = f"{type(value).__module__}.{type(value).__qualname__}"
    return (
        f"cannot assign {type(owner).__name__}.{name}: expected a foundations.nn.Module, got {kind}, "
        f"a torch.nn.Module whose parameters foundations.nn.Module cannot list (they would never be "
        f"trained); use foundations.nn layers (Linear, ReLU, Sequential) instead, or build the "
        f"whole model on torch.nn.Module"
    )


class Module:
    """Base class of a layer or a model: registers sub-modules and parameters as they are assigned.

    Subclasses call ``super().__init__()`` first, assign layers and :func:`Parameter` tensors as
    attributes, and define :meth:`forward`; calling the module calls ``forward``.
    :meth:`named_parameters` gives the same names, in the same order, as ``torch.nn.Module`` would.
    ``training`` is ``True`` after construction; :meth:`train` and :meth:`eval` set it on the whole tree.
    A ``torch.nn.Module`` assigned as an attribute raises ``TypeError`` (as :class:`Sequential` does
    for a torch layer): its parameters, buffers and ``train``/``eval`` state live in torch's own
    registries, which this class does not walk, so keeping it would silently leave it untrained.
    Derived in Lesson 9, "Mini-batch training" (lessons/09_minibatch).
    """

    training: bool

    def __init__(self) -> None:
        object.__setattr__(self, "_modules", {})
        object.__setattr__(self, "_parameters", {})
        self.training = True

    def __setattr__(self, name: str, value: Any) -> None:
        if "_modules" not in self.__dict__:
            raise AttributeError(
                f"cannot assign {name!r} before Module.__init__() has run: "
                f"call super().__init__() at the start of {type(self).__name__}.__init__"
            )
        modules: dict[str, Module] = self.__dict__["_modules"]
        params: dict[str, Tensor] = self.__dict__["_parameters"]
        if isinstance(value, torch.nn.Module) and not isinstance(value, Module):
            raise TypeError(_torch_module_message(self, name, value))
        if isinstance(value, Module):
            params.pop(name, None)
            modules[name] = value  # a name assigned again keeps its place, as in torch
        elif is_parameter(value):
            modules.pop(name, None)
            params[name] = value
        else:
            modules.pop(name, None)
            params.pop(name, None)
        object.__setattr__(self, name, value)

    def __delattr__(self, name: str) -> None:
        self.__dict__["_modules"].pop(name, None)
        self.__dict__["_parameters"].pop(name, None)
        object.__delattr__(self, name)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.forward(*args, **kwargs)

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} has no forward: define forward(self, x) in the class")

    def named_children(self) -> Iterator[tuple[str, Module]]:
        """The registered sub-modules, ``(name, module)``, in assignment order."""
        yield from self._modules.items()

    def children(self) -> Iterator[Module]:
        """The registered sub-modules, in assignment order (not recursive)."""
        for _, m in self.named_children():
            yield m

    def named_modules(self, prefix: str = "") -> Iterator[tuple[str, Module]]:
        """This module and every module below it, depth first, each once: ``("", self)``, ``("0", ...)``."""
        seen: set[int] = set()

        def walk(mod: Module, pre: str) -> Iterator[tuple[str, Module]]:
            if id(mod) in seen:
                return
            seen.add(id(mod))
            yield pre, mod
            for name, child in mod.named_children():
                yield from walk(child, f"{pre}.{name}" if pre else name)

        yield from walk(self, prefix)

    def modules(self) -> Iterator[Module]:
        """This module and every module below it, depth first, each once."""
        for _, m in self.named_modules():
            yield m

    def named_parameters(self) -> Iterator[tuple[str, Tensor]]:
        """Every parameter, once, with its dotted name: each module's own first, then its children's.

        The same names and order as ``torch.nn.Module.named_parameters()``.
        """
        seen: set[int] = set()
        for mod_name, mod in self.named_modules():
            for name, p in mod._parameters.items():
                if id(p) in seen:
                    continue
                seen.add(id(p))
                yield (f"{mod_name}.{name}" if mod_name else name), p

    def parameters(self) -> Iterator[Tensor]:
        """Every parameter, once, in :meth:`named_parameters` order (what an optimizer is given)."""
        for _, p in self.named_parameters():
            yield p

    def train(self, mode: bool = True) -> Module:
        """Set ``training = mode`` on this module and every module below it; returns ``self``."""
        checks.boolean("train", "mode", mode)
        for m in self.modules():
            m.training = mode
        return self

    def eval(self) -> Module:
        """``train(False)``: evaluation mode for the whole tree; returns ``self``."""
        return self.train(False)

    def extra_repr(self) -> str:
        """The text inside this module's parentheses in its ``repr``; empty by default."""
        return ""

    def __repr__(self) -> str:
        lines = [f"({name}): " + repr(child).replace("\n", "\n  ") for name, child in self.named_children()]
        if not lines:
            return f"{type(self).__name__}({self.extra_repr()})"
        return f"{type(self).__name__}(\n  " + "\n  ".join(lines) + "\n)"


class Linear(Module):
    """``x @ weight.T + bias`` for ``x`` of shape ``(N, n_in)``: a fully connected layer.

    ``weight`` is ``(n_out, n_in)`` and ``bias`` ``(n_out,)``, the layout of ``torch.nn.Linear`` (the
    transpose of Lesson 8's ``w``), so weights can be copied between the two. Both are initialised
    like ``torch.nn.Linear``'s default, uniform on ``[-1/sqrt(n_in), 1/sqrt(n_in)]`` (that is
    ``kaiming_uniform_`` with ``a=sqrt(5)``; Lesson 9's "why sqrt(5)" page asks whether it is any
    good). With the same seed the numbers equal ``torch.nn.Linear``'s. Pass a seeded ``generator``
    to draw from it instead of the global random state.
    Derived in Lesson 9, "Mini-batch training" (lessons/09_minibatch).
    """

    def __init__(self, n_in: int, n_out: int, *, generator: torch.Generator | None = None) -> None:
        super().__init__()
        self.n_in = n_in = checks.positive_int("Linear", "n_in", n_in)
        self.n_out = n_out = checks.positive_int("Linear", "n_out", n_out)
        checks.instance("Linear", "generator", generator, (torch.Generator, type(None)), "a torch.Generator or None")
        bound = 1.0 / math.sqrt(n_in)
        self.weight = Parameter(torch.empty(n_out, n_in).uniform_(-bound, bound, generator=generator))
        self.bias = Parameter(torch.empty(n_out).uniform_(-bound, bound, generator=generator))

    def forward(self, x: Tensor) -> Tensor:
        x = checks.tensor("Linear", "x", x)
        if x.ndim != 2 or x.shape[1] != self.n_in:
            raise ValueError(f"Linear: expected input of shape (N, {self.n_in}), got {checks.shape_str(x)}")
        return x @ self.weight.t() + self.bias

    def extra_repr(self) -> str:
        return f"n_in={self.n_in}, n_out={self.n_out}"


class ReLU(Module):
    """The rectified linear unit ``max(x, 0)``, elementwise, as a module (no parameters).

    Lesson 8's ``foundations.backprop.relu`` as a layer of this teaching :class:`Module`, so that it
    can sit in our :class:`Sequential`; in ``torch.nn`` models (the rest of the library) the same
    layer is ``torch.nn.ReLU``, which is also ``foundations.conv.GeneralRelu()``. The library's
    ReLUs are listed in ``foundations.activations``, "The ReLU family".
    Derived in Lesson 9, "Mini-batch training" (lessons/09_minibatch).
    """

    def forward(self, x: Tensor) -> Tensor:
        return checks.tensor("ReLU", "x", x).clamp_min(0.0)


class Sequential(Module):
    """Layers applied one after the other: ``Sequential(l1, l2, l3)(x) == l3(l2(l1(x)))``.

    The layers are registered under the names ``"0"``, ``"1"``, ... as in ``torch.nn.Sequential``, so
    parameters are named ``"0.weight"``, ``"2.bias"``, ...; ``seq[i]``, ``len(seq)`` and iteration
    reach the layers.
    Derived in Lesson 9, "Mini-batch training" (lessons/09_minibatch).
    """

    def __init__(self, *layers: Module) -> None:
        super().__init__()
        for i, layer in enumerate(layers):
            if not isinstance(layer, Module):
                kind = f"{type(layer).__module__}.{type(layer).__qualname__}"
                raise TypeError(f"Sequential: expected layer {i} to be a foundations.nn.Module, got {kind}")
            setattr(self, str(i), layer)

    def __len__(self) -> int:
        return len(self._modules)

    def __getitem__(self, i: int) -> Module:
        layers = list(self._modules.values())
        if not -len(layers) <= i < len(layers):
            raise IndexError(f"Sequential: index {i} out of range for {len(layers)} layers")
        return layers[i]

    def __iter__(self) -> Iterator[Module]:
        return iter(list(self._modules.values()))

    def forward(self, x: Any) -> Any:
        for layer in self._modules.values():
            x = layer(x)
        return x
