"""Residual networks without normalisation, and the Fixup initialisation.

From Zhang, Dauphin & Ma, "Fixup Initialization: Residual Learning Without Normalization", ICLR 2019
(arXiv:1901.09321). Derived in the Lesson 8 paper walkthrough (book/papers/fixup2019).

Lesson 8 has no convolutions yet, so the residual network here is built from linear layers: a
*residual MLP*. Each block computes ``x + F(x)``, where the residual branch ``F`` is ``m`` linear
layers, each preceded by a ReLU ("pre-activation" order). With He (Kaiming) initialisation every
branch then keeps the variance of its input, ``Var[F(x)] ≈ Var[x]``, so the variance of ``x``
doubles at each block: the growth the paper's §2 describes. Fixup (§3) removes it.

**Base:** ``torch.nn.Module`` (with ``nn.Linear`` layers). The walkthrough belongs to Lesson 8,
before the hand-written ``foundations.nn.Module`` of Lesson 9, but it trains with autograd, so it
uses PyTorch's modules as the rest of the library does.
"""

from __future__ import annotations

import torch
from torch import nn

from foundations import checks
from foundations.init import kaiming_std

__all__ = ["INITS", "ResidualBlock", "ResidualMLP", "fixup_scale"]

INITS: tuple[str, ...] = ("fixup", "kaiming")
"""The initialisations :class:`ResidualMLP` knows (book/papers/fixup2019)."""


def fixup_scale(n_blocks: int, m: int = 2) -> float:
    """The factor Fixup multiplies the standard initialisation of a residual branch's layers by.

    ``fixup_scale(L, m) = L ** (-1 / (2m - 2))`` for a network of ``L`` residual branches with ``m``
    layers each (Fixup rule 2 in §3 of Zhang, Dauphin & Ma, ICLR 2019). Only the first ``m - 1``
    layers of a branch are scaled; the last one starts at zero (rule 1). The product of the ``m - 1``
    scales is ``L ** (-1/2)``, so that a branch, once its last layer has moved away from zero,
    contributes about ``1/L`` of the variance of its input.

    Derived in the Lesson 8 paper walkthrough (book/papers/fixup2019).

    >>> fixup_scale(16, 2)
    0.25
    """
    checks.integer("fixup_scale", "n_blocks", n_blocks, min=1)
    checks.integer("fixup_scale", "m", m, min=2)
    return float(n_blocks) ** (-1.0 / (2 * m - 2))


class ResidualBlock(nn.Module):
    """One residual block ``x + F(x)`` of width ``width`` whose branch ``F`` has ``m`` linear layers.

    The branch, with Fixup's scalar parameters (rule 3 of §3 in Zhang, Dauphin & Ma, ICLR 2019: a
    scalar bias before every linear layer and every activation, one scalar multiplier per branch)::

        h = x
        for each of the m layers:  h = W_i(relu(h + a_i) + c_i)
        F(x) = s * h + d

    ``biases`` holds ``a_1, c_1, ..., a_m, c_m, d`` (``2m + 1`` scalars, all 0 at the start) and
    ``multiplier`` holds ``s`` (1 at the start). The linear layers have no bias vectors of their own.
    At initialisation the scalars change nothing, whatever the initialisation of the weights.

    Derived in the Lesson 8 paper walkthrough (book/papers/fixup2019).
    """

    def __init__(self, width: int, m: int = 2) -> None:
        super().__init__()
        checks.integer("ResidualBlock", "width", width, min=1)
        checks.integer("ResidualBlock", "m", m, min=2)
        self.width, self.m = width, m
        self.linears = nn.ModuleList(nn.Linear(width, width, bias=False) for _ in range(m))
        self.biases = nn.Parameter(torch.zeros(2 * m + 1))
        self.multiplier = nn.Parameter(torch.ones(()))

    def branch(self, x: torch.Tensor) -> torch.Tensor:
        """The residual branch ``F(x)`` alone, shape (N, width)."""
        h = x
        for i, linear in enumerate(self.linears):
            h = linear(torch.relu(h + self.biases[2 * i]) + self.biases[2 * i + 1])
        return self.multiplier * h + self.biases[2 * self.m]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x + F(x)``: the identity path plus the residual branch, shape (N, width)."""
        return x + self.branch(x)


class ResidualMLP(nn.Module):
    """A deep residual MLP without normalisation: stem, ``n_blocks`` residual blocks, classifier.

    ``x (N, n_in) -> stem Linear(n_in, width) -> n_blocks x ResidualBlock(width, m)
    -> relu, + scalar bias -> head Linear(width, n_out) -> logits (N, n_out)``.

    ``init`` chooses how the weights start (biases vectors start at 0 in both):

    - ``"kaiming"``: every weight ~ N(0, 2/fan_in) (He et al. 2015), the standard initialisation
      the paper's §2 shows to make a residual network's output variance grow exponentially with
      depth (here it doubles per block).
    - ``"fixup"``: the three rules of §3 of Zhang, Dauphin & Ma (ICLR 2019, arXiv:1901.09321):
      (1) the classification layer and the last layer of every branch start at 0; (2) every other
      layer gets He initialisation, and the first ``m - 1`` layers of every branch are scaled by
      :func:`fixup_scale` ``(n_blocks, m)``; (3) scalar biases and multipliers, as in
      :class:`ResidualBlock`. At initialisation every branch is 0, every block is the identity and
      the network's output is 0.

    ``generator`` makes the weights reproducible without touching the global seed.

    Derived in the Lesson 8 paper walkthrough (book/papers/fixup2019).
    """

    def __init__(
        self,
        n_in: int,
        width: int,
        n_out: int,
        n_blocks: int,
        m: int = 2,
        init: str = "fixup",
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        where = "ResidualMLP"
        checks.integer(where, "n_in", n_in, min=1)
        checks.integer(where, "width", width, min=1)
        checks.integer(where, "n_out", n_out, min=1)
        checks.integer(where, "n_blocks", n_blocks, min=1)
        checks.integer(where, "m", m, min=2)
        one_of = f"one of {', '.join(map(repr, INITS))}"
        if not isinstance(init, str):
            raise TypeError(checks.message(where, "init", one_of, init))
        if init not in INITS:
            raise ValueError(checks.message(where, "init", one_of, init))
        self.n_in, self.width, self.n_out, self.n_blocks, self.m, self.init = n_in, width, n_out, n_blocks, m, init
        self.stem = nn.Linear(n_in, width)
        self.blocks = nn.ModuleList(ResidualBlock(width, m) for _ in range(n_blocks))
        self.head_bias = nn.Parameter(torch.zeros(()))
        self.head = nn.Linear(width, n_out)
        self.reset_parameters(generator)

    @torch.no_grad()
    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        """(Re)initialise every parameter according to ``self.init`` (see the class docstring)."""
        scale = fixup_scale(self.n_blocks, self.m) if self.init == "fixup" else 1.0

        def he(linear: nn.Linear, factor: float = 1.0) -> None:
            # W ~ N(0, (factor * sqrt(2 / fan_in))^2); nn.Linear stores W as (out, in), so fan_in = shape[1]
            linear.weight.normal_(0.0, factor * kaiming_std(linear.weight.shape[1]), generator=generator)

        he(self.stem)
        self.stem.bias.zero_()
        for block in self.blocks:
            block.biases.zero_()
            block.multiplier.fill_(1.0)
            for linear in block.linears[:-1]:
                he(linear, scale)  # rule 2: He init times L^(-1/(2m-2)) inside the branch
            if self.init == "fixup":
                block.linears[-1].weight.zero_()  # rule 1: the branch's last layer starts at 0
            else:
                he(block.linears[-1])
        self.head_bias.zero_()
        self.head.bias.zero_()
        if self.init == "fixup":
            self.head.weight.zero_()  # rule 1: the classification layer starts at 0
        else:
            he(self.head)

    def _check_input(self, x: torch.Tensor) -> None:
        what = f"a tensor of shape (N, {self.n_in})"
        checks.instance("ResidualMLP", "x", x, torch.Tensor, what)
        if x.ndim != 2 or x.shape[1] != self.n_in:
            raise ValueError(checks.message("ResidualMLP", "x", what, x))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The activations after the last residual block, ``x_L``, shape (N, width)."""
        self._check_input(x)
        h = self.stem(x)
        for block in self.blocks:
            h = block(h)
        return h

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The logits, shape (N, n_out)."""
        return self.head(torch.relu(self.features(x)) + self.head_bias)

    def extra_repr(self) -> str:
        return f"n_blocks={self.n_blocks}, m={self.m}, init={self.init!r}"

