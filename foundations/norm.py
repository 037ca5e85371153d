"""Normalisation layers: BatchNorm, LayerNorm, InstanceNorm, GroupNorm and RunningBatchNorm.

Derived in Lesson 10, "BatchNorm and friends" (lessons/10_batchnorm). Every layer here does the same
three things to its input ``x``; they differ only in *which* values share a mean and a variance:

1. compute a mean ``mu`` and a biased variance ``var`` (dividing by the number of values ``n``);
2. normalise: ``x_hat = (x - mu) / sqrt(var + eps)``;
3. scale and shift with learned parameters: ``y = gamma * x_hat + beta`` (``weight``, ``bias``).

For an image batch of shape ``(N, C, H, W)``, the values that share one mean and variance are

- :class:`BatchNorm`: ``(N, H, W)``, for each channel (Ioffe & Szegedy 2015);
- :class:`LayerNorm`: ``(C, H, W)``, for each sample (Ba, Kiros & Hinton 2016);
- :class:`InstanceNorm`: ``(H, W)``, for each sample and channel (Ulyanov, Vedaldi & Lempitsky 2016);
- :class:`GroupNorm`: ``(C/G, H, W)``, for each sample and group of channels (Wu & He 2018).

:class:`BatchNorm` is the only one whose statistics mix samples, so it needs *running* statistics
for evaluation, and it fails when batches are tiny. :class:`RunningBatchNorm` (the course's answer)
uses running statistics in training too.

Each layer equals its PyTorch counterpart in float64, in training and evaluation mode, running
statistics and gradients included (``tests/test_norm.py``); :class:`BatchNorm`'s ``state_dict`` loads
into ``torch.nn.BatchNorm2d``. The papers are read in book/papers/ioffe2015 and book/papers/normalisers.

**Base:** ``torch.nn.Module``, like the rest of the library after Lesson 9's hand-written
``foundations.nn.Module`` (the teaching version): parameters are ``nn.Parameter``, running
statistics are registered buffers, so ``.to``, ``state_dict`` and ``train``/``eval`` work as in PyTorch.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from foundations import checks
from foundations.checks import shape_str

__all__ = ["BatchNorm", "GroupNorm", "InstanceNorm", "LayerNorm", "RunningBatchNorm"]


# ---- argument checks ----------------------------------------------------------------------------


def _check_input(
    layer: str,
    x: object,
    nf: int | None,
    ndims: tuple[int, ...] | None,
    like: dict[str, Tensor | None] | None = None,
) -> Tensor:
    """``x`` if it is a floating-point tensor with ``x.ndim`` in ``ndims`` and ``nf`` channels (dim 1).

    ``ndims=None`` accepts any input of two or more dimensions, ``(N, C, ...)``; ``nf=None`` skips
    the channel check. The error names the shapes expected and the shape that came. ``like`` names
    the layer's parameters and buffers (``{"weight": self.weight, ...}``): ``x`` must have their
    dtype, or a ``TypeError`` names the layer and both dtypes. Without the check a float64 batch
    through float32 buffers fails deep inside ``lerp_`` in training, and in evaluation silently
    comes out in float64.
    """
    x = checks.tensor(layer, "x", x, floating=True)
    for what, t in (like or {}).items():
        if t is not None and t.dtype != x.dtype:
            raise TypeError(
                f"{layer}: expected input of dtype {t.dtype} (the dtype of its {what}), got {x.dtype}; "
                f"convert the input, x.to({t.dtype}), or the layer, layer.to({x.dtype})"
            )
    c = "C" if nf is None else str(nf)
    if ndims is None:
        wanted, ndim_ok = f"(N, {c}, ...) with two or more dimensions", x.ndim >= 2
    else:
        layouts = {2: f"(N, {c})", 4: f"(N, {c}, H, W)"}
        wanted, ndim_ok = " or ".join(layouts[d] for d in ndims), x.ndim in ndims
    if not ndim_ok or (nf is not None and x.shape[1] != nf):
        raise ValueError(f"{layer}: expected input of shape {wanted}, got {shape_str(x)}")
    return x


def _channel_shape(x: Tensor) -> tuple[int, ...]:
    """The shape that broadcasts a per-channel vector against ``x``: ``(1, C, 1, 1)`` for 4-d ``x``."""
    return (1, x.shape[1]) + (1,) * (x.ndim - 2)


# ---- BatchNorm ----------------------------------------------------------------------------------


class BatchNorm(nn.Module):
    """Batch normalisation of ``(N, C)`` or ``(N, C, H, W)`` inputs with ``C = nf`` channels.

    Training mode, for each channel (Algorithm 1 of Ioffe & Szegedy 2015): the batch mean ``mu_B``
    and biased variance ``var_B`` over the ``n = N*H*W`` values of that channel, then
    ``y = gamma * (x - mu_B) / sqrt(var_B + eps) + beta``; gradients flow through ``mu_B`` and
    ``var_B``. The running statistics move towards the batch's:
    ``running_mean <- (1 - mom) * running_mean + mom * mu_B``, and the same for ``running_var`` with
    the *unbiased* variance ``n / (n - 1) * var_B``. Evaluation mode normalises with the running statistics
    instead, so a sample's output no longer depends on the rest of its batch.

    ``mom`` follows PyTorch's convention (the weight of the new batch, 0.1 by default): the 2019
    course wrote ``lerp_(mean, mom)``, which is the same update. Parameters ``weight`` (``gamma``,
    ones) and ``bias`` (``beta``, zeros) and the buffers ``running_mean``, ``running_var`` and
    ``num_batches_tracked`` are named as in ``torch.nn.BatchNorm2d``, so the ``state_dict`` of one
    loads into the other. Training needs more than one value per channel (a batch of one ``(1, C)``
    input has no variance): ``ValueError`` otherwise, as in PyTorch.

    Derived in Lesson 10, "BatchNorm and friends" (lessons/10_batchnorm); Ioffe & Szegedy 2015,
    "Batch normalization: accelerating deep network training by reducing internal covariate shift".
    """

    def __init__(self, nf: int, mom: float = 0.1, eps: float = 1e-5) -> None:
        super().__init__()
        self.nf = checks.positive_int("BatchNorm", "nf", nf)
        self.mom = checks.real("BatchNorm", "mom", mom, min=0.0, max=1.0)
        self.eps = checks.real("BatchNorm", "eps", eps, positive=True)
        self.weight = nn.Parameter(torch.ones(nf))
        self.bias = nn.Parameter(torch.zeros(nf))
        self.register_buffer("running_mean", torch.zeros(nf))
        self.register_buffer("running_var", torch.ones(nf))
        self.register_buffer("num_batches_tracked", torch.tensor(0, dtype=torch.long))

    def update_stats(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """The batch's per-channel mean and biased variance; moves the running statistics towards them."""
        dims = (0,) if x.ndim == 2 else (0, 2, 3)
        n = x.numel() // self.nf  # values per channel
        if n < 2:
            raise ValueError(
                f"BatchNorm: expected more than 1 value per channel in training, got input of shape {shape_str(x)}"
            )
        mean = x.mean(dims)
        var = (x - mean.view(_channel_shape(x))).pow(2).mean(dims)  # biased: divides by n
        with torch.no_grad():
            self.running_mean.lerp_(mean, self.mom)
            self.running_var.lerp_(var * (n / (n - 1)), self.mom)  # unbiased, as PyTorch keeps it
            self.num_batches_tracked += 1
        return mean, var

    def forward(self, x: Tensor) -> Tensor:
        x = _check_input("BatchNorm", x, self.nf, (2, 4), like={"weight": self.weight, "running_mean": self.running_mean})
        if self.training:
            mean, var = self.update_stats(x)
        else:
            mean, var = self.running_mean, self.running_var
        # gamma * (x - mean) / sqrt(var + eps) + beta, as x * scale + shift with per-channel scale and
        # shift: the same numbers, but the big tensor x is read once instead of four times
        scale = self.weight / (var + self.eps).sqrt()
        shift = self.bias - mean * scale
        shape = _channel_shape(x)  # (1, C, 1, 1) for images, (1, C) for features
        return x * scale.view(shape) + shift.view(shape)

    def extra_repr(self) -> str:
        return f"{self.nf}, mom={self.mom:g}, eps={self.eps:g}"


# ---- LayerNorm, InstanceNorm, GroupNorm: statistics per sample ----------------------------------


class LayerNorm(nn.Module):
    """Layer normalisation: each sample normalised over all its values, ``(C, H, W)`` for an image.

    ``y = gamma * (x - mu) / sqrt(var + eps) + beta`` with ``mu`` and ``var`` (biased) the mean and
    variance of one sample's ``C*H*W`` values. As in the 2019 course, ``gamma`` (``weight``) and
    ``beta`` (``bias``) are two learned *scalars*, shape ``(1,)``, shared by every value, so the
    layer needs no ``nf``: it takes any input of two or more dimensions, ``(N, ...)``. This equals ``torch.nn.LayerNorm(x.shape[1:])`` with its
    elementwise ``weight`` and ``bias`` all set to our two scalars. The statistics never involve
    other samples, so training and evaluation mode compute the same thing.

    Derived in Lesson 10, "BatchNorm and friends" (lessons/10_batchnorm); Ba, Kiros & Hinton 2016,
    "Layer normalization".
    """

    def __init__(self, eps: float = 1e-5) -> None:
        super().__init__()
        self.eps = checks.real("LayerNorm", "eps", eps, positive=True)
        self.weight = nn.Parameter(torch.ones(1))
        self.bias = nn.Parameter(torch.zeros(1))

    def forward(self, x: Tensor) -> Tensor:
        x = _check_input("LayerNorm", x, None, None, like={"weight": self.weight})
        dims = tuple(range(1, x.ndim))
        var, mean = torch.var_mean(x, dims, correction=0, keepdim=True)
        return (x - mean) / (var + self.eps).sqrt() * self.weight + self.bias

    def extra_repr(self) -> str:
        return f"eps={self.eps:g}"


class InstanceNorm(nn.Module):
    """Instance normalisation of ``(N, C, H, W)`` images: each channel of each sample over its ``H*W`` pixels.

    ``y[n, c] = gamma[c] * (x[n, c] - mu[n, c]) / sqrt(var[n, c] + eps) + beta[c]``, with
    per-channel ``weight`` and ``bias`` when ``affine`` (else none). Equals
    ``torch.nn.InstanceNorm2d(nf, eps=eps, affine=affine)`` (which keeps no running statistics), in
    training and evaluation mode alike. An image of one pixel has no variance: ``ValueError``.

    Derived in Lesson 10, "BatchNorm and friends" (lessons/10_batchnorm); Ulyanov, Vedaldi &
    Lempitsky 2016, "Instance normalization: the missing ingredient for fast stylization".
    """

    def __init__(self, nf: int, eps: float = 1e-5, affine: bool = True) -> None:
        super().__init__()
        self.nf = checks.positive_int("InstanceNorm", "nf", nf)
        self.eps = checks.real("InstanceNorm", "eps", eps, positive=True)
        self.affine = checks.boolean("InstanceNorm", "affine", affine)
        if affine:
            self.weight = nn.Parameter(torch.ones(nf))
            self.bias = nn.Parameter(torch.zeros(nf))
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)

    def forward(self, x: Tensor) -> Tensor:
        x = _check_input("InstanceNorm", x, self.nf, (4,), like={"weight": self.weight})
        if x.shape[2] * x.shape[3] < 2:
            raise ValueError(
                f"InstanceNorm: expected more than 1 pixel per channel, got input of shape {shape_str(x)}: "
                "a single pixel minus its own mean is 0, so every image would give the same output"
            )
        var, mean = torch.var_mean(x, (2, 3), correction=0, keepdim=True)
        x = (x - mean) / (var + self.eps).sqrt()
        if self.affine:
            shape = _channel_shape(x)
            x = x * self.weight.view(shape) + self.bias.view(shape)
        return x

    def extra_repr(self) -> str:
        return f"{self.nf}, eps={self.eps:g}, affine={self.affine}"


class GroupNorm(nn.Module):
    """Group normalisation: the ``nf`` channels split into ``num_groups`` groups of ``nf // num_groups``;
    each sample normalised over each group's values (``(C/G, H, W)`` for an image).

    Per-channel ``weight`` and ``bias`` then scale and shift. ``num_groups = 1`` is a
    :class:`LayerNorm` with per-channel affine parameters; ``num_groups = nf`` is an
    :class:`InstanceNorm`. Takes ``(N, nf, ...)`` inputs of two or more dimensions; equals
    ``torch.nn.GroupNorm(num_groups, nf, eps)`` in training and evaluation mode alike. ``num_groups``
    must divide ``nf``: ``ValueError`` otherwise.

    Derived in Lesson 10, "BatchNorm and friends" (lessons/10_batchnorm); Wu & He 2018, "Group
    normalization".
    """

    def __init__(self, num_groups: int, nf: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.num_groups = checks.positive_int("GroupNorm", "num_groups", num_groups)
        self.nf = checks.positive_int("GroupNorm", "nf", nf)
        if nf % num_groups:
            raise ValueError(f"GroupNorm: expected num_groups to divide nf, got num_groups={num_groups} and nf={nf}")
        self.eps = checks.real("GroupNorm", "eps", eps, positive=True)
        self.weight = nn.Parameter(torch.ones(nf))
        self.bias = nn.Parameter(torch.zeros(nf))

    def forward(self, x: Tensor) -> Tensor:
        x = _check_input("GroupNorm", x, self.nf, None, like={"weight": self.weight})
        groups = x.reshape(x.shape[0], self.num_groups, -1)  # (N, G, C/G * H * W)
        var, mean = torch.var_mean(groups, 2, correction=0, keepdim=True)
        x = ((groups - mean) / (var + self.eps).sqrt()).reshape(x.shape)
        shape = _channel_shape(x)
        return x * self.weight.view(shape) + self.bias.view(shape)

    def extra_repr(self) -> str:
        return f"{self.num_groups}, {self.nf}, eps={self.eps:g}"


# ---- RunningBatchNorm ---------------------------------------------------------------------------


class RunningBatchNorm(nn.Module):
    """BatchNorm that normalises with running statistics in training too, so tiny batches work.

    Lesson 10's answer to BatchNorm's small-batch failure. Instead of a running mean and variance,
    it keeps exponentially weighted running **sums**, per channel: of the values (``sums``, S), of
    their squares (``sqrs``, Q) and of how many values there were (``count``, K). After a training
    batch with per-channel sum ``s``, sum of squares ``q`` and ``c = N*H*W`` values per channel::

        S <- (1 - m) * S + m * s        Q <- (1 - m) * Q + m * q        K <- (1 - m) * K + m * c

    with a momentum adjusted for the batch size, ``m = 1 - (1 - mom) / sqrt(N - 1)`` (small batches
    move the statistics less). Then, in training *and* evaluation mode::

        mu = S / K        var = Q / K - mu**2        y = gamma * (x - mu) / sqrt(var + eps) + beta

    The sums start at zero, so early on they are biased towards zero, but K is biased by the same
    factor ``1 - prod_t (1 - m_t)``, which cancels in both ratios: the course's separate debiasing
    (dividing all three by ``dbias``) changes nothing, and after the first batch ``mu`` and ``var``
    are exactly that batch's mean and biased variance. In training the current batch enters S and Q
    with weight ``m`` and gradients flow through it (earlier batches are constants). Before any
    training batch the layer uses mean 0, variance 1. ``var`` is clamped at 0 against rounding.
    Training needs batches of at least 2, and ``mom`` must be positive (with ``mom = 0`` a batch of
    2 would never enter the sums).

    **The early clamp** (kept from the 2019 course): until the layer has seen ``warmup_samples``
    samples (20 by default) in training, ``var`` is at least ``warmup_var`` (0.01). Because the
    running count debiases the sums exactly, the first batches are normalised by their own
    statistics, as in BatchNorm; with batches of 2 a channel's variance then comes from two values
    and can be almost 0, which would multiply the output and the gradient by up to
    ``1 / sqrt(eps)``. The clamp caps that factor at ``1 / sqrt(warmup_var)``, 10, for the first
    few batches (nine of 2), and never touches batches of 20 or more. ``warmup_samples=0`` turns it off.

    Parameters ``weight`` (``gamma``) and ``bias`` (``beta``) are per channel; takes
    ``(N, nf)`` or ``(N, nf, H, W)`` inputs. There is no PyTorch counterpart; the tests compare it
    with a direct float64 computation of the formulas above.

    Derived in Lesson 10, "BatchNorm and friends" (lessons/10_batchnorm); the small-batch problem is
    studied in Masters & Luschi 2018, "Revisiting small batch training for deep neural networks".
    """

    def __init__(
        self, nf: int, mom: float = 0.1, eps: float = 1e-5, warmup_samples: int = 20, warmup_var: float = 0.01
    ) -> None:
        super().__init__()
        self.nf = checks.positive_int("RunningBatchNorm", "nf", nf)
        self.mom = checks.real("RunningBatchNorm", "mom", mom, positive=True, max=1.0)
        self.eps = checks.real("RunningBatchNorm", "eps", eps, positive=True)
        self.warmup_samples = checks.integer("RunningBatchNorm", "warmup_samples", warmup_samples, min=0)
        self.warmup_var = checks.real("RunningBatchNorm", "warmup_var", warmup_var, min=0.0)
        self.weight = nn.Parameter(torch.ones(nf))
        self.bias = nn.Parameter(torch.zeros(nf))
        self.register_buffer("sums", torch.zeros(nf))
        self.register_buffer("sqrs", torch.zeros(nf))
        self.register_buffer("count", torch.tensor(0.0))
        self.register_buffer("step", torch.tensor(0, dtype=torch.long))
        self.register_buffer("samples", torch.tensor(0, dtype=torch.long))  # samples seen in training

    def batch_mom(self, bs: int) -> float:
        """The momentum for a batch of ``bs >= 2``: ``1 - (1 - mom) / sqrt(bs - 1)``, from ``mom`` (at
        ``bs = 2``) towards 1 (large batches: mostly this batch's statistics)."""
        return 1.0 - (1.0 - self.mom) / math.sqrt(bs - 1)

    def update_stats(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Fold the batch into the running sums; return the new ``(sums, sqrs, count)``, which carry
        gradients to ``x`` (the buffers keep detached copies)."""
        bs = x.shape[0]
        if bs < 2:
            raise ValueError(f"RunningBatchNorm: expected a batch of at least 2 in training, got input of shape {shape_str(x)}")
        dims = (0,) if x.ndim == 2 else (0, 2, 3)
        m = self.batch_mom(bs)
        sums = self.sums.lerp(x.sum(dims), m)
        sqrs = self.sqrs.lerp((x * x).sum(dims), m)
        count = self.count.lerp(self.count.new_tensor(x.numel() / self.nf), m)
        with torch.no_grad():
            self.sums.copy_(sums)
            self.sqrs.copy_(sqrs)
            self.count.copy_(count)
            self.step += 1
            self.samples += bs
        return sums, sqrs, count

    def forward(self, x: Tensor) -> Tensor:
        x = _check_input("RunningBatchNorm", x, self.nf, (2, 4), like={"weight": self.weight, "sums": self.sums})
        if self.training:
            sums, sqrs, count = self.update_stats(x)
        elif self.step == 0:  # never trained: as if it had seen one value of mean 0 and variance 1
            sums, sqrs, count = torch.zeros_like(self.sums), torch.ones_like(self.sqrs), torch.ones_like(self.count)
        else:
            sums, sqrs, count = self.sums, self.sqrs, self.count
        mean = sums / count
        var = (sqrs / count - mean * mean).clamp_min(0.0)  # E[x^2] - E[x]^2; rounding may dip below 0
        if 0 < self.samples < self.warmup_samples:  # the first few tiny batches: at most 10x amplification
            var = var.clamp_min(self.warmup_var)
        scale = self.weight / (var + self.eps).sqrt()  # as in BatchNorm.forward: x * scale + shift
        shift = self.bias - mean * scale
        shape = _channel_shape(x)
        return x * scale.view(shape) + shift.view(shape)

    def extra_repr(self) -> str:
        return (f"{self.nf}, mom={self.mom:g}, eps={self.eps:g}, "
                f"warmup_samples={self.warmup_samples}, warmup_var={self.warmup_var:g}")
