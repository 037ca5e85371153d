"""Activation functions beyond the plain ReLU, and the statistics that make SELU self-normalising.

The ReLU itself is written in Lesson 8 (``foundations.backprop.relu``). Lesson 9's papers add:

* :func:`prelu`, the parametric ReLU ``max(0, x) + a min(0, x)`` of He, Zhang, Ren & Sun (2015),
  "Delving Deep into Rectifiers", §2.1, eq. 1 (a fixed ``a`` gives the leaky ReLU);
* :func:`selu`, the scaled exponential linear unit of Klambauer, Unterthiner, Mayr & Hochreiter
  (2017), "Self-Normalizing Neural Networks", with the constants :data:`SELU_ALPHA` and
  :data:`SELU_LAMBDA` that :func:`selu_constants` derives from scratch;
* :func:`selu_mapping`, the paper's map ``g: (mu, nu) -> (mu~, nu~)`` from the mean and variance of
  one layer's activations to the next layer's, in closed form.

Walked through in "Self-Normalizing Neural Networks" (book/papers/klambauer2017) and "Delving Deep
into Rectifiers" (book/papers/he2015).

Functions of tensors: no layers, so no ``Module`` base (a layer that applies one is
``torch.nn.PReLU``/``torch.nn.SELU``, or ``foundations.conv.Lambda``).

**The ReLU family**, each kept for its own lesson: ``foundations.backprop.relu`` (Lesson 8, the
function, with ``relu_grad`` its hand-written gradient) and ``foundations.backprop.Relu`` (the
same as a Lesson 8 layer with a ``bwd``); ``foundations.nn.ReLU`` (Lesson 9, a layer of the
hand-written ``foundations.nn.Module``); ``foundations.conv.GeneralRelu`` (Lesson 10, a
``torch.nn`` layer: ``GeneralRelu()``, that is ``GeneralRelu(leak=None, sub=None, maxv=None)``, is
``torch.nn.ReLU``); and :func:`prelu` here (He et al. 2015: ``prelu(x, 0.0)`` is ``relu(x)``,
``prelu(x, a)`` with a float ``a`` in ``[0, 1)`` is ``GeneralRelu(leak=a)(x)``). The library's own
models use ``torch.nn.ReLU``.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from foundations import checks

__all__ = ["SELU_ALPHA", "SELU_LAMBDA", "prelu", "selu", "selu_constants", "selu_mapping"]

SELU_ALPHA = 1.6732632423543772848170429916717
"""alpha_01 of Klambauer et al. 2017 (§2, "Constructing Self-Normalizing Neural Networks"): the SELU
negative-saturation constant that, with :data:`SELU_LAMBDA`, makes (mean 0, variance 1) a fixed point.
Closed form: ``-sqrt(2/pi) / (erfc(1/sqrt(2)) exp(1/2) - 1)``; :func:`selu_constants` computes it
(book/papers/klambauer2017)."""

SELU_LAMBDA = 1.0507009873554804934193349852946
"""lambda_01 of Klambauer et al. 2017: the SELU scale (slope > 1 for positive inputs)
(book/papers/klambauer2017)."""


def prelu(x: Tensor, a: Tensor | float) -> Tensor:
    """Parametric ReLU: ``max(0, x) + a * min(0, x)``, with one slope per channel or one for all.

    ``a`` is a float (a leaky ReLU with slope ``a``, or a PReLU whose slope is shared by every
    channel) or a tensor of shape ``(1,)`` or ``(C,)`` with ``C = x.shape[1]``, the channel axis of
    ``(N, C)`` or ``(N, C, H, W)`` inputs. He et al. 2015 learn ``a`` by backpropagation, starting
    from 0.25. Equals ``torch.nn.functional.prelu`` (and ``leaky_relu`` for a float ``a``);
    ``prelu(x, 0.0)`` is Lesson 8's ``foundations.backprop.relu(x)``, and for a float ``a`` in
    ``[0, 1)`` it is ``foundations.conv.GeneralRelu(leak=a)(x)`` (see the module's "ReLU family").
    He, Zhang, Ren & Sun 2015, "Delving Deep into Rectifiers", §2.1, eq. 1 (book/papers/he2015).

    >>> prelu(torch.tensor([[-2.0, 3.0]]), 0.25)
    tensor([[-0.5000,  3.0000]])
    """
    x = checks.tensor("prelu", "x", x, floating=True)
    if isinstance(a, Tensor):
        if a.ndim != 1 or (a.numel() != 1 and (x.ndim < 2 or a.numel() != x.shape[1])):
            channels = x.shape[1] if x.ndim >= 2 else None
            raise ValueError(
                f"prelu: expected a of shape (1,) or (C,) with C = x.shape[1] = {channels}, "
                f"got a of shape {tuple(a.shape)} for x of shape {tuple(x.shape)}"
            )
        if a.numel() > 1:
            a = a.view(1, -1, *([1] * (x.ndim - 2)))  # (C,) -> (1, C, 1, 1): one slope per channel
    else:
        a = checks.slope("prelu", a)
    return x.clamp_min(0) + a * x.clamp_max(0)


def selu(x: Tensor, lam: float = SELU_LAMBDA, alpha: float = SELU_ALPHA) -> Tensor:
    """Scaled exponential linear unit: ``lam * x`` for ``x > 0``, ``lam * alpha * (exp(x) - 1)`` otherwise.

    With the default constants, a layer of SELUs fed by weights with ``sum(w) = 0`` and
    ``sum(w^2) = 1`` (LeCun-normal init, ``std = 1/sqrt(fan_in)``) maps activations of mean 0 and
    variance 1 to activations of mean 0 and variance 1, and pulls nearby means and variances
    towards them. Equals ``torch.nn.functional.selu``.
    Klambauer, Unterthiner, Mayr & Hochreiter 2017, "Self-Normalizing Neural Networks", eq. 2
    (book/papers/klambauer2017).

    >>> selu(torch.tensor([1.0, 0.0, -20.0]))
    tensor([ 1.0507,  0.0000, -1.7581])
    """
    x = checks.tensor("selu", "x", x, floating=True)
    lam = checks.real("selu", "lam", lam)
    alpha = checks.real("selu", "alpha", alpha)
    # expm1 on the clamped input: no overflow (and no inf * 0 = nan gradient) for large positive x
    return lam * torch.where(x > 0, x, alpha * torch.expm1(x.clamp_max(0)))


def _phi(x: float) -> float:
    """Standard normal density."""
    return math.exp(-0.5 * x * x) / math.sqrt(2.0 * math.pi)


def _Phi(x: float) -> float:
    """Standard normal cumulative distribution, via erfc so that its far tails stay accurate."""
    return 0.5 * math.erfc(-x / math.sqrt(2.0))


def selu_mapping(
    mu: float,
    nu: float,
    omega: float = 0.0,
    tau: float = 1.0,
    lam: float = SELU_LAMBDA,
    alpha: float = SELU_ALPHA,
) -> tuple[float, float]:
    """The map ``g: (mu, nu) -> (mu~, nu~)``: mean and variance of a SELU unit's output.

    The unit sees ``z = sum_i w_i x_i`` where the ``x_i`` are independent with mean ``mu`` and
    variance ``nu``, and the weights have ``omega = sum_i w_i`` and ``tau = sum_i w_i^2``. For many
    inputs ``z`` is close to normal with mean ``m = mu * omega`` and variance ``s^2 = nu * tau``, and
    for ``z ~ N(m, s^2)``, with ``Phi``/``phi`` the standard normal cdf/density,

    * ``E[selu(z)]   = lam [m Phi(m/s) + s phi(m/s) + alpha (e^(m + s^2/2) Phi(-(m + s^2)/s) - Phi(-m/s))]``
    * ``E[selu(z)^2] = lam^2 [(m^2 + s^2) Phi(m/s) + m s phi(m/s)
      + alpha^2 (e^(2m + 2s^2) Phi(-(m + 2s^2)/s) - 2 e^(m + s^2/2) Phi(-(m + s^2)/s) + Phi(-m/s))]``

    and ``mu~ = E[selu(z)]``, ``nu~ = E[selu(z)^2] - mu~^2``. With the default constants,
    ``omega = 0`` and ``tau = 1``, ``(0, 1)`` is a fixed point: ``selu_mapping(0, 1) == (0, 1)``.
    Klambauer et al. 2017, "Self-Normalizing Neural Networks", §2 (the mapping g, eq. 1, and its
    integrals); the closed forms are derived in "Self-Normalizing Neural Networks" (book/papers/klambauer2017).

    >>> [round(v, 6) for v in selu_mapping(0.0, 1.0)]
    [0.0, 1.0]
    """
    fn = "selu_mapping"
    mu, omega = checks.real(fn, "mu", mu), checks.real(fn, "omega", omega)
    nu, tau = checks.real(fn, "nu", nu, positive=True), checks.real(fn, "tau", tau, positive=True)  # a variance, a sum of squares
    lam, alpha = checks.real(fn, "lam", lam), checks.real(fn, "alpha", alpha)
    m, s2 = mu * omega, nu * tau
    s = math.sqrt(s2)
    pos, neg = _Phi(m / s), _Phi(-m / s)                       # P(z > 0), P(z <= 0)
    e1 = math.exp(m + s2 / 2) * _Phi(-(m + s2) / s)             # E[e^z ; z <= 0]
    e2 = math.exp(2 * m + 2 * s2) * _Phi(-(m + 2 * s2) / s)     # E[e^(2z) ; z <= 0]
    mean = lam * (m * pos + s * _phi(m / s) + alpha * (e1 - neg))
    second = lam**2 * ((m * m + s2) * pos + m * s * _phi(m / s) + alpha**2 * (e2 - 2 * e1 + neg))
    return mean, second - mean * mean


def selu_constants() -> tuple[float, float]:
    """``(alpha_01, lambda_01)``: the SELU constants that make ``(0, 1)`` a fixed point of :func:`selu_mapping`.

    At ``mu = 0``, ``nu = 1``, ``omega = 0``, ``tau = 1`` the unit sees ``z ~ N(0, 1)``. A zero mean
    out, ``E[selu(z)] = 0``, is linear in ``alpha`` and gives
    ``alpha = -sqrt(2/pi) / (erfc(1/sqrt(2)) e^(1/2) - 1)``; a unit second moment out,
    ``E[selu(z)^2] = 1``, then fixes ``lambda = (1/2 + alpha^2 (e^2 Phi(-2) - 2 e^(1/2) Phi(-1) + 1/2))^(-1/2)``.
    They equal :data:`SELU_ALPHA` and :data:`SELU_LAMBDA` to float precision.
    Klambauer et al. 2017, "Self-Normalizing Neural Networks", §2 (book/papers/klambauer2017).

    >>> [round(c, 4) for c in selu_constants()]
    [1.6733, 1.0507]
    """
    alpha = -math.sqrt(2.0 / math.pi) / (math.erfc(1.0 / math.sqrt(2.0)) * math.exp(0.5) - 1.0)
    second_over_lam2 = 0.5 + alpha**2 * (math.exp(2.0) * _Phi(-2.0) - 2.0 * math.exp(0.5) * _Phi(-1.0) + 0.5)
    return alpha, 1.0 / math.sqrt(second_over_lam2)
