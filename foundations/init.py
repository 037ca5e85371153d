"""Weight initialisation: the standard deviations that keep activations at a sensible scale.

Derived in Lesson 8, "Forward and backward passes" (lessons/08_backprop), where a deep stack of
linear layers and ReLUs shows activations exploding under a naive ``randn`` init, fading under
``1/sqrt(fan_in)`` and holding steady under Kaiming's ``sqrt(2/fan_in)``.

Names, because the literature and the libraries disagree:

* :func:`lecun_std` is ``1/sqrt(fan_in)`` (LeCun, Bottou, Orr & Müller 1998, "Efficient BackProp").
  The 2019 course calls this "Xavier init".
* :func:`xavier_std` and :func:`xavier_uniform_bound` are Glorot & Bengio's (2010) "normalised
  initialisation", ``Var(w) = 2/(fan_in + fan_out)``, in its normal and uniform forms; they equal
  ``torch.nn.init.xavier_normal_`` / ``xavier_uniform_``.
* :func:`kaiming_std` is He, Zhang, Ren & Sun (2015), "Delving Deep into Rectifiers",
  ``Var(w) = 2/((1 + a^2) fan_in)`` for a (leaky) ReLU with negative slope ``a``; it equals
  ``torch.nn.init.kaiming_normal_(mode="fan_in", nonlinearity="leaky_relu", a=a)``.

**One layout.** A weight is read in PyTorch's layout, ``(out_features, in_features)`` for
``nn.Linear`` and ``(out_channels, in_channels, *kernel_size)`` for ``nn.Conv1d/2d/3d``
(:func:`fan_in_fan_out`), as everywhere in the library after Lesson 8. Most functions here take the
fans as numbers and have no layout. The one exception is :func:`init_linear`, which exists for
Lesson 8's hand-written ``x @ w + b`` (``foundations.backprop``) and returns ``w`` of shape
``(n_in, n_out)``, the transpose of ``torch.nn.Linear.weight``; its docstring says so.

Functions of numbers and tensors: no ``Module`` base (``foundations.conv.init_cnn`` applies these
to a ``torch.nn`` model).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from foundations import checks

__all__ = ["init_linear", "kaiming_std", "lecun_std", "xavier_std", "xavier_uniform_bound"]

_GENERATOR = (torch.Generator, type(None))  # a seeded generator, or None for the global random state


def lecun_std(fan_in: int) -> float:
    """``1/sqrt(fan_in)``: keeps the variance of a linear layer's output equal to its input's.

    If the inputs have unit variance and the ``fan_in`` weights are independent with variance
    ``1/fan_in``, each output is a sum of ``fan_in`` terms of variance ``1/fan_in``: variance 1.
    LeCun et al. 1998 ("Efficient BackProp"); what the 2019 course calls "Xavier init".
    Derived in Lesson 8, "Forward and backward passes" (lessons/08_backprop).

    >>> round(lecun_std(784), 4)
    0.0357
    """
    return 1.0 / math.sqrt(checks.positive_int("lecun_std", "fan_in", fan_in))


def xavier_std(fan_in: int, fan_out: int) -> float:
    """``sqrt(2/(fan_in + fan_out))``: Glorot & Bengio's normalised init, normal form.

    A compromise between keeping the forward variance (``1/fan_in``) and the backward variance
    (``1/fan_out``). Glorot & Bengio 2010, "Understanding the difficulty of training deep
    feedforward neural networks", eq. 16. Equals ``torch.nn.init.xavier_normal_``'s std.
    Derived in Lesson 8, "Forward and backward passes" (lessons/08_backprop).

    >>> round(xavier_std(784, 50), 4)
    0.049
    """
    fan_in = checks.positive_int("xavier_std", "fan_in", fan_in)
    fan_out = checks.positive_int("xavier_std", "fan_out", fan_out)
    return math.sqrt(2.0 / (fan_in + fan_out))


def xavier_uniform_bound(fan_in: int, fan_out: int) -> float:
    """``sqrt(6/(fan_in + fan_out))``: the bound ``b`` of Glorot & Bengio's ``U(-b, b)`` init.

    ``U(-b, b)`` has variance ``b^2/3``, so this bound gives variance ``2/(fan_in + fan_out)``,
    the same as :func:`xavier_std` squared. Glorot & Bengio 2010, eq. 16.
    Derived in Lesson 8, "Forward and backward passes" (lessons/08_backprop).

    >>> round(xavier_uniform_bound(784, 50), 4)
    0.0848
    """
    fan_in = checks.positive_int("xavier_uniform_bound", "fan_in", fan_in)
    fan_out = checks.positive_int("xavier_uniform_bound", "fan_out", fan_out)
    return math.sqrt(6.0 / (fan_in + fan_out))


def kaiming_std(fan_in: int, a: float = 0.0) -> float:
    """``sqrt(2/((1 + a^2) fan_in))``: He et al.'s init for a layer followed by a (leaky) ReLU.

    A ReLU zeroes half of a symmetric input, halving its mean square; doubling the weight variance
    makes up for it. ``a`` is the leaky ReLU's negative slope (0 for a plain ReLU).
    He, Zhang, Ren & Sun 2015, "Delving Deep into Rectifiers", §2.2: eq. 10, the forward condition
    ``(1/2) n_l Var[w_l] = 1`` with ``n_l = fan_in``, and eq. 15, its form ``(1/2)(1 + a^2) n_l
    Var[w_l] = 1`` for a slope ``a`` (eq. 14, the backward condition, uses the fan-out instead).
    Derived in Lesson 8, "Forward and backward passes" (lessons/08_backprop).

    >>> round(kaiming_std(784), 4)
    0.0505
    """
    fan_in = checks.positive_int("kaiming_std", "fan_in", fan_in)
    a = checks.slope("kaiming_std", a)
    return math.sqrt(2.0 / ((1.0 + a * a) * fan_in))


def init_linear(
    n_in: int, n_out: int, std: float, generator: torch.Generator | None = None
) -> tuple[Tensor, Tensor]:
    """``(w, b)`` for Lesson 8's ``x @ w + b``: ``w`` of shape ``(n_in, n_out)`` from ``N(0, std^2)``, ``b = 0``.

    **Layout:** ``(n_in, n_out)``, **Lesson 8's, the transpose of PyTorch's.** This function exists for
    the Lesson 8 pages that multiply ``x @ w`` by hand (``foundations.backprop.lin``, ``Lin``,
    ``Model``), where ``x`` is ``(N, n_in)`` and a row of ``w`` belongs to an input; the arguments
    come in the order of ``w``'s shape, and the weight is ``w`` (Lesson 8's name), not ``weight``.
    Everything else in the library uses PyTorch's ``(n_out, n_in)``: to put this ``w`` in an
    ``nn.Linear``, copy ``w.T`` into ``linear.weight``. Pass ``std`` from :func:`lecun_std`,
    :func:`xavier_std` or :func:`kaiming_std`, and a seeded ``generator`` for reproducible weights.
    Derived in Lesson 8, "Forward and backward passes" (lessons/08_backprop).

    >>> w, b = init_linear(784, 50, kaiming_std(784), torch.Generator().manual_seed(0))
    >>> tuple(w.shape), tuple(b.shape)
    ((784, 50), (50,))
    """
    n_in = checks.positive_int("init_linear", "n_in", n_in)
    n_out = checks.positive_int("init_linear", "n_out", n_out)
    std = checks.real("init_linear", "std", std, min=0.0)
    checks.instance("init_linear", "generator", generator, _GENERATOR, "a torch.Generator or None")
    w = torch.randn(n_in, n_out, generator=generator) * std
    b = torch.zeros(n_out)
    return w, b


# ---- Lesson 9: PyTorch's defaults, fan-in/fan-out of any weight, orthogonal matrices ------------
# Appended for Lesson 9, "Why sqrt(5)?" (lessons/09_why_sqrt5) and "Initialising deep networks"
# (lessons/09_initializing). These read weights in PyTorch's layout, ``(out_features, in_features)``
# for ``nn.Linear`` and ``(out_channels, in_channels, *kernel_size)`` for ``nn.Conv1d/2d/3d``.

__all__ += ["fan_in_fan_out", "gain", "kaiming_uniform_bound", "orthogonal"]


def gain(a: float = 0.0) -> float:
    """``sqrt(2/(1 + a^2))``: the factor a leaky ReLU with negative slope ``a`` asks of the weights' std.

    A leaky ReLU keeps the positive half of a symmetric input and scales the negative half by ``a``,
    so it multiplies the mean square by ``(1 + a^2)/2``; weights with std ``gain(a)/sqrt(fan_in)``
    make up for it. ``gain(0) = sqrt(2)`` (ReLU), ``gain(1) = 1`` (no nonlinearity), and
    ``gain(sqrt(5)) = sqrt(1/3)``, the value hidden in PyTorch's default init.
    Equals ``torch.nn.init.calculate_gain("leaky_relu", a)``. He et al. 2015, "Delving Deep into
    Rectifiers", eq. 15 (eq. 10 with the leaky slope).
    Derived in Lesson 9, "Why sqrt(5)?" (lessons/09_why_sqrt5).

    >>> round(gain(5 ** 0.5), 4)
    0.5774
    """
    a = checks.slope("gain", a)
    return math.sqrt(2.0 / (1.0 + a * a))


def fan_in_fan_out(shape: tuple[int, ...] | torch.Size) -> tuple[int, int]:
    """``(fan_in, fan_out)`` of a weight of ``shape`` in PyTorch's layout ``(out, in, *kernel_size)``.

    Each output of a linear layer sums over its ``in`` inputs; each output pixel of a convolution
    sums over ``in`` channels times the receptive field, the product of the kernel sizes. So
    ``fan_in = in * prod(kernel_size)`` and, for the backward pass, ``fan_out = out * prod(kernel_size)``.
    Equals ``torch.nn.init._calculate_fan_in_and_fan_out``.
    Derived in Lesson 9, "Why sqrt(5)?" (lessons/09_why_sqrt5).

    >>> fan_in_fan_out((32, 1, 5, 5))
    (25, 800)
    """
    fn, what = "fan_in_fan_out", "(out, in, *kernel_size), 2 or more positive ints"
    if not isinstance(shape, (tuple, list, torch.Size)) or not all(checks.is_int(d) for d in shape):
        raise TypeError(checks.message(fn, "shape", what, shape))
    dims = tuple(int(d) for d in shape)
    if len(dims) < 2 or not all(d > 0 for d in dims):
        raise ValueError(checks.message(fn, "shape", what, shape))
    receptive_field = math.prod(dims[2:])
    return dims[1] * receptive_field, dims[0] * receptive_field


def kaiming_uniform_bound(fan_in: int, a: float = 0.0) -> float:
    """``gain(a) * sqrt(3/fan_in)``: the bound ``b`` of He et al.'s init in its uniform form ``U(-b, b)``.

    ``U(-b, b)`` has standard deviation ``b/sqrt(3)``, so this bound gives the std
    ``gain(a)/sqrt(fan_in)`` of :func:`kaiming_std`. PyTorch initialises ``nn.Linear`` and
    ``nn.Conv2d`` weights with ``kaiming_uniform_(w, a=sqrt(5))``, whose bound is
    ``kaiming_uniform_bound(fan_in, sqrt(5)) = 1/sqrt(fan_in)``: a std of ``1/sqrt(3 fan_in)``.
    Equals the bound of ``torch.nn.init.kaiming_uniform_(mode="fan_in", nonlinearity="leaky_relu")``.
    Derived in Lesson 9, "Why sqrt(5)?" (lessons/09_why_sqrt5).

    >>> round(kaiming_uniform_bound(25, 5 ** 0.5), 4)
    0.2
    """
    fan_in = checks.positive_int("kaiming_uniform_bound", "fan_in", fan_in)
    return gain(checks.slope("kaiming_uniform_bound", a)) * math.sqrt(3.0 / fan_in)


def orthogonal(
    n_rows: int, n_cols: int | None = None, gain: float = 1.0, generator: torch.Generator | None = None
) -> Tensor:
    """A random ``(n_rows, n_cols)`` matrix with orthonormal rows (or columns, if taller than wide), times ``gain``.

    ``n_cols`` defaults to ``n_rows``: a square orthogonal matrix.

    Draw a standard normal matrix and take the ``Q`` of its QR decomposition, flipping each column's
    sign to make ``R``'s diagonal positive so that ``Q`` is uniformly (Haar) distributed (Mezzadri
    2007, "How to generate random matrices from the classical compact groups"). A square ``Q``
    preserves every vector's length, so a product of any number of them does too: the property
    Saxe, McClelland & Ganguli (2013, "Exact solutions to the nonlinear dynamics of learning in deep
    linear neural networks") use for depth-independent learning. With the same ``generator`` state
    it returns exactly what ``torch.nn.init.orthogonal_`` writes into an ``(n_rows, n_cols)`` tensor.
    Derived in Lesson 9, "Initialising deep networks" (lessons/09_initializing).

    >>> q = orthogonal(3, 5, generator=torch.Generator().manual_seed(0))
    >>> torch.allclose(q @ q.T, torch.eye(3), atol=1e-6)
    True
    """
    n_rows = checks.positive_int("orthogonal", "n_rows", n_rows)
    n_cols = checks.int_or_none("orthogonal", "n_cols", n_cols, min=1) or n_rows
    gain = checks.real("orthogonal", "gain", gain)
    checks.instance("orthogonal", "generator", generator, _GENERATOR, "a torch.Generator or None")
    w = torch.randn(n_rows, n_cols, generator=generator)
    wide = n_rows < n_cols
    q, r = torch.linalg.qr(w.T if wide else w)  # q: (max, min) with orthonormal columns
    q = q * torch.diagonal(r).sign()           # column j times sign(R_jj): Haar-distributed
    return (q.T if wide else q) * gain
