"""XResNet: the ResNet of He et al. (2016) with the tweaks of He et al. (2019), "Bag of Tricks".

Derived in Lesson 12, "XResNet: the Bag of Tricks ResNet" (lessons/12_xresnet); the tweaks are read
in book/papers/he2019. The network, for a 64 px image and :func:`xresnet18`:

    (N, 3, 64, 64) -> stem: three 3x3 convs (the first stride 2), max pool -> (N, 64, 16, 16)
    -> stage1 (stride 1) -> (N, 64, 16, 16) -> stage2 -> (N, 128, 8, 8) -> stage3 -> (N, 256, 4, 4)
    -> stage4 -> (N, 512, 2, 2) -> head: average pool, flatten, linear -> (N, c_out)

The tweaks against torchvision's ResNet:

- **ResNet-C** (the stem): three 3x3 convolutions ``c_in -> 32 -> 32 -> 64`` instead of one 7x7;
  the paper's widths. The 2019 course used ``c_in -> (c_in+1)*8 -> 64 -> 64`` (``stem=(32, 64, 64)``
  for RGB); pass ``stem=`` to get it.
- **ResNet-B** (bottleneck blocks): the stride sits on the 3x3 convolution, not on the first 1x1,
  which would skip three quarters of its input.
- **ResNet-D** (the shortcut): where a block halves the image, the identity path is a 2x2 average
  pool and then a 1x1 convolution (stride 1), not a 1x1 convolution with stride 2 (which also skips
  three quarters of its input). Same parameters, more of the input seen.
- **Zero gamma**: the last BatchNorm of each residual branch starts with ``weight = 0``, so every
  block starts as the identity (plus a ReLU) and the network starts as a shallow one.

**Base:** ``torch.nn`` (``Conv2d``, ``BatchNorm2d``, ``AvgPool2d``, ...). The model is an
``nn.Sequential`` of named parts ``stem, stage1 .. stageK, head``, so ``model[:-1]`` is the body that
transfer learning keeps (:mod:`foundations.vision.transfer`).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from foundations import checks

__all__ = [
    "XResBlock",
    "XResNet",
    "StageSummary",
    "conv_bn",
    "count_params",
    "model_summary",
    "xresnet18",
    "xresnet34",
    "xresnet50",
    "xresnet101",
    "xresnet152",
    "XRESNET_DEPTHS",
]

_BACKLINK = 'Derived in Lesson 12, "XResNet: the Bag of Tricks ResNet" (lessons/12_xresnet).'

XRESNET_DEPTHS: dict[int, tuple[int, tuple[int, ...]]] = {
    18: (1, (2, 2, 2, 2)),
    34: (1, (3, 4, 6, 3)),
    50: (4, (3, 4, 6, 3)),
    101: (4, (3, 4, 23, 3)),
    152: (4, (3, 8, 36, 3)),
}
"""Depth -> (expansion, blocks per stage), as in He et al. (2016), Table 1.

Derived in Lesson 12, "XResNet: the Bag of Tricks ResNet" (lessons/12_xresnet).
"""


def _positive_ints(fn: str, name: str, xs: object, length: int | None = None) -> tuple[int, ...]:
    what = "a non-empty list of positive ints" + (f" of length {length}" if length else "")
    if isinstance(xs, (str, bytes)) or not isinstance(xs, Sequence):
        raise TypeError(checks.message(fn, name, what, xs))
    if len(xs) == 0 or (length is not None and len(xs) != length):
        raise ValueError(checks.message(fn, name, what, xs))
    return tuple(checks.positive_int(fn, f"{name}[{i}]", x) for i, x in enumerate(xs))


def conv_bn(ni: int, nf: int, ks: int = 3, stride: int = 1, zero_bn: bool = False, act: bool = True) -> nn.Sequential:
    """``Conv2d(ni, nf, ks, stride, padding=ks//2, bias=False)``, ``BatchNorm2d(nf)``, then a ReLU if ``act``.

    The convolution is Kaiming-initialised (normal, fan in, gain for a ReLU); ``zero_bn=True`` starts
    the BatchNorm's scale gamma at 0 (the last layer of a residual branch), else at 1. No bias: the
    BatchNorm's beta is one. Derived in Lesson 12, "XResNet: the Bag of Tricks ResNet" (lessons/12_xresnet).
    """
    ni, nf = checks.positive_int("conv_bn", "ni", ni), checks.positive_int("conv_bn", "nf", nf)
    ks, stride = checks.positive_int("conv_bn", "ks", ks), checks.positive_int("conv_bn", "stride", stride)
    zero_bn, act = checks.boolean("conv_bn", "zero_bn", zero_bn), checks.boolean("conv_bn", "act", act)
    conv = nn.Conv2d(ni, nf, ks, stride=stride, padding=ks // 2, bias=False)
    nn.init.kaiming_normal_(conv.weight, nonlinearity="relu")
    bn = nn.BatchNorm2d(nf)
    nn.init.constant_(bn.weight, 0.0 if zero_bn else 1.0)
    layers: list[nn.Module] = [conv, bn]
    if act:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class XResBlock(nn.Module):
    """A residual block, ``relu(convs(x) + idconv(pool(x)))``, with ResNet-B and ResNet-D.

    ``expansion=1`` (xresnet18/34): two 3x3 convolutions ``ni -> nh -> nh``. ``expansion=4``
    (xresnet50 and deeper): the bottleneck ``1x1 (ni -> nh), 3x3 (nh -> nh, stride), 1x1 (nh -> 4 nh)``,
    the stride on the 3x3 (ResNet-B). The last BatchNorm of ``convs`` starts at gamma = 0.
    The shortcut: ``pool`` is a 2x2 average pool when ``stride == 2`` (else the identity), ``idconv``
    a 1x1 ``conv_bn`` without ReLU when the channels change (else the identity): ResNet-D.
    ``ni`` is the number of input channels, ``nh`` the width inside the block; the output has
    ``nh * expansion`` channels and ``ceil(H / stride)`` rows.
    Derived in Lesson 12, "XResNet: the Bag of Tricks ResNet" (lessons/12_xresnet).
    """

    def __init__(self, expansion: int, ni: int, nh: int, stride: int = 1) -> None:
        super().__init__()
        if expansion not in (1, 4):
            raise ValueError(f"XResBlock: expected expansion to be 1 (basic) or 4 (bottleneck), got {expansion!r}")
        ni, nh = checks.positive_int("XResBlock", "ni", ni), checks.positive_int("XResBlock", "nh", nh)
        if stride not in (1, 2):
            raise ValueError(f"XResBlock: expected stride to be 1 or 2, got {stride!r}")
        nf = nh * expansion
        if expansion == 1:
            convs = [conv_bn(ni, nh, 3, stride), conv_bn(nh, nf, 3, zero_bn=True, act=False)]
        else:
            convs = [conv_bn(ni, nh, 1), conv_bn(nh, nh, 3, stride), conv_bn(nh, nf, 1, zero_bn=True, act=False)]
        self.expansion, self.ni, self.nf, self.stride = expansion, ni, nf, stride
        self.convs = nn.Sequential(*convs)
        self.idconv: nn.Module = nn.Identity() if ni == nf else conv_bn(ni, nf, 1, act=False)
        self.pool: nn.Module = nn.Identity() if stride == 1 else nn.AvgPool2d(2, ceil_mode=True)

    def forward(self, x: Tensor) -> Tensor:
        x = checks.tensor("XResBlock", "x", x, ndim=4, floating=True)
        if x.shape[1] != self.ni:
            raise ValueError(f"XResBlock: expected x with {self.ni} channels, got shape {tuple(x.shape)}")
        # (N, ni, H, W) -> (N, nf, ceil(H/stride), ceil(W/stride)) on both paths
        return torch.relu(self.convs(x) + self.idconv(self.pool(x)))


class XResNet(nn.Sequential):
    """The XResNet: ``stem, stage1 .. stageK, head`` in an ``nn.Sequential`` with those names.

    - ``expansion``: 1 (basic blocks) or 4 (bottlenecks); ``layers``: blocks per stage
      (``(2, 2, 2, 2)`` for xresnet18, see :data:`XRESNET_DEPTHS`);
    - ``stem``: the widths of the stem's three 3x3 convolutions (the paper's ``(32, 32, 64)``;
      the 2019 course's ``(32, 64, 64)``), the first with stride 2, then ``MaxPool2d(3, 2, 1)``;
    - ``widths``: the width ``nh`` inside each stage's blocks (``(64, 128, 256, 512)``; a stage outputs
      ``nh * expansion`` channels); the first stage keeps the size, each later one halves it;
    - ``head``: ``AdaptiveAvgPool2d(1)``, ``Flatten``, ``Linear(widths[-1] * expansion, c_out)``.

    Derived in Lesson 12, "XResNet: the Bag of Tricks ResNet" (lessons/12_xresnet).
    """

    def __init__(
        self,
        expansion: int,
        layers: Sequence[int],
        c_in: int = 3,
        c_out: int = 1000,
        stem: Sequence[int] = (32, 32, 64),
        widths: Sequence[int] = (64, 128, 256, 512),
    ) -> None:
        if expansion not in (1, 4):
            raise ValueError(f"XResNet: expected expansion to be 1 (basic) or 4 (bottleneck), got {expansion!r}")
        layers = _positive_ints("XResNet", "layers", layers)
        widths = _positive_ints("XResNet", "widths", widths, length=len(layers))
        stem = _positive_ints("XResNet", "stem", stem, length=3)
        c_in = checks.positive_int("XResNet", "c_in", c_in)
        c_out = checks.positive_int("XResNet", "c_out", c_out)
        sizes = [c_in, *stem]
        parts: OrderedDict[str, nn.Module] = OrderedDict()
        parts["stem"] = nn.Sequential(
            *[conv_bn(sizes[i], sizes[i + 1], 3, stride=2 if i == 0 else 1) for i in range(3)],
            nn.MaxPool2d(3, stride=2, padding=1),
        )
        ni = stem[-1]
        for i, (n, nh) in enumerate(zip(layers, widths)):
            blocks = [XResBlock(expansion, ni if j == 0 else nh * expansion, nh, stride=2 if (i > 0 and j == 0) else 1)
                      for j in range(n)]
            parts[f"stage{i + 1}"] = nn.Sequential(*blocks)
            ni = nh * expansion
        linear = nn.Linear(ni, c_out)
        nn.init.kaiming_normal_(linear.weight)
        nn.init.zeros_(linear.bias)
        parts["head"] = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), linear)
        super().__init__(parts)
        self.expansion, self.layers, self.stem_sizes, self.widths = expansion, layers, stem, widths
        self.c_in, self.c_out, self.n_features = c_in, c_out, ni

    def __getitem__(self, idx: int | slice | str) -> nn.Module:  # type: ignore[override]
        """``model[:-1]`` is a plain ``nn.Sequential`` of the same (shared) named parts: the body."""
        if isinstance(idx, slice):
            return nn.Sequential(OrderedDict(list(self._modules.items())[idx]))
        if isinstance(idx, str):
            return self._modules[idx]
        return super().__getitem__(idx)


def _xresnet(depth: int, c_in: int, c_out: int, **kwargs: object) -> XResNet:
    expansion, layers = XRESNET_DEPTHS[depth]
    return XResNet(expansion, layers, c_in=c_in, c_out=c_out, **kwargs)  # type: ignore[arg-type]


def xresnet18(c_in: int = 3, c_out: int = 1000, **kwargs: object) -> XResNet:
    """``XResNet(1, (2, 2, 2, 2))``; ``kwargs`` (``stem``, ``widths``) go to :class:`XResNet`.

    Derived in Lesson 12, "XResNet: the Bag of Tricks ResNet" (lessons/12_xresnet).
    """
    return _xresnet(18, c_in, c_out, **kwargs)


def xresnet34(c_in: int = 3, c_out: int = 1000, **kwargs: object) -> XResNet:
    """``XResNet(1, (3, 4, 6, 3))``. Derived in Lesson 12, "XResNet: the Bag of Tricks ResNet" (lessons/12_xresnet)."""
    return _xresnet(34, c_in, c_out, **kwargs)


def xresnet50(c_in: int = 3, c_out: int = 1000, **kwargs: object) -> XResNet:
    """``XResNet(4, (3, 4, 6, 3))``. Derived in Lesson 12, "XResNet: the Bag of Tricks ResNet" (lessons/12_xresnet)."""
    return _xresnet(50, c_in, c_out, **kwargs)


def xresnet101(c_in: int = 3, c_out: int = 1000, **kwargs: object) -> XResNet:
    """``XResNet(4, (3, 4, 23, 3))``. Derived in Lesson 12, "XResNet: the Bag of Tricks ResNet" (lessons/12_xresnet)."""
    return _xresnet(101, c_in, c_out, **kwargs)


def xresnet152(c_in: int = 3, c_out: int = 1000, **kwargs: object) -> XResNet:
    """``XResNet(4, (3, 8, 36, 3))``. Derived in Lesson 12, "XResNet: the Bag of Tricks ResNet" (lessons/12_xresnet)."""
    return _xresnet(152, c_in, c_out, **kwargs)


def count_params(module: nn.Module, trainable_only: bool = False) -> int:
    """The number of parameter values in ``module`` (only those with ``requires_grad`` if ``trainable_only``).

    Derived in Lesson 12, "XResNet: the Bag of Tricks ResNet" (lessons/12_xresnet).
    """
    checks.instance("count_params", "module", module, nn.Module, "a torch.nn.Module")
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)


@dataclass(frozen=True)
class StageSummary:
    """One row of :func:`model_summary`: a part's name, its output shape, its parameter count.

    Derived in Lesson 12, "XResNet: the Bag of Tricks ResNet" (lessons/12_xresnet).
    """

    name: str
    out_shape: tuple[int, ...]
    n_params: int


def model_summary(model: nn.Sequential, xb: Tensor) -> list[StageSummary]:
    """Run ``xb`` through each named child of ``model`` in turn: its output shape and its parameter count.

    The model is put in eval mode for the pass (no BatchNorm statistics change) and restored after.
    Derived in Lesson 12, "XResNet: the Bag of Tricks ResNet" (lessons/12_xresnet).
    """
    checks.instance("model_summary", "model", model, nn.Sequential, "an nn.Sequential of named parts (an XResNet)")
    xb = checks.tensor("model_summary", "xb", xb, floating=True)
    was_training = model.training
    rows: list[StageSummary] = []
    try:
        model.eval()
        with torch.no_grad():
            x = xb
            for name, child in model.named_children():
                x = child(x)
                rows.append(StageSummary(name, tuple(x.shape), count_params(child)))
    finally:
        model.train(was_training)
    return rows
