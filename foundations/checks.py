"""Checking arguments: one set of checks for the whole library, one rule, one kind of message.

Every public function of the library checks what it is given before it computes anything, so that
a mistake is reported where it was made, in words that say what to change. Before Issue 10 each
module had its own private copies of these checks, and they disagreed (``BatchNorm(2.5)`` raised a
``TypeError`` and ``conv_layer(2.5, 8)`` a ``ValueError``); now they all call this module.

**The rule.** The wrong *type* raises ``TypeError``; the right type with a wrong *value* raises
``ValueError``. A ``bool`` is not a number here, although Python's ``True == 1``: ``BatchNorm(True)``
is a mistake, not one channel. A tensor's dtype counts as part of its type (``TypeError``), its
shape as part of its value (``ValueError``).

**The message** names the function, the argument, what was expected and what came, its type and
its value, always in this form::

    {fn}: expected {name} to be {what}, got {type} {value!r}

for example ``BatchNorm: expected nf to be a positive int, got float 2.5``. :func:`describe` writes
the ``{type} {value!r}`` part (a tensor is described by its dtype and shape rather than its numbers).

Checks that involve several arguments at once (two shapes that must match, a target for every row
of scores) stay in their own modules, because only there can the message name every shape
involved; they print shapes with :func:`shape_str` and check each argument alone with these.

Core: this module imports nothing from ``foundations``, so every other module may import it.
Lesson 8 sets the form of the library's error messages (``matmul: expected a of shape (n, k) and b
of shape (k, m), got (5, 784) and (10, 784)``); each function below is "derived" there.
"""

from __future__ import annotations

import math
import numbers
from typing import Any, TypeVar

import torch  # noqa: F401 (the examples in the docstrings use it)
from torch import Size, Tensor

__all__ = [
    "boolean",
    "describe",
    "instance",
    "int_or_none",
    "integer",
    "is_int",
    "is_real",
    "message",
    "positive_int",
    "real",
    "real_or_none",
    "shape_str",
    "slope",
    "tensor",
]

T = TypeVar("T")

_REPR_LIMIT = 60  # characters of a value's repr shown in a message


# ---- describing what came ------------------------------------------------------------------------


def shape_str(shape: tuple[int, ...] | Size | list[int] | Tensor) -> str:
    """A shape (or a tensor's shape) as Python prints a tuple: ``"(5, 784)"``, ``"(3,)"``, ``"()"``.

    ``torch.Size`` prints as ``torch.Size([5, 784])``; messages show the plain tuple.
    Derived in Lesson 8, "Matrix multiplication" (lessons/08_matmul).

    >>> shape_str(torch.Size([5, 784])), shape_str((3,)), shape_str(torch.zeros(2, 1))
    ('(5, 784)', '(3,)', '(2, 1)')
    """
    if isinstance(shape, Tensor):
        shape = shape.shape
    return str(tuple(int(d) for d in shape))


def describe(value: object) -> str:
    """What came, for a message: its type and its value, ``"float 2.5"``, ``"str 'a'"``, ``"NoneType None"``.

    A tensor is described by its dtype and shape, ``"Tensor of dtype torch.int64 and shape (3,)"``
    (its numbers rarely help and can be many); a class is named as a class (``"the class Recorder"``:
    a common slip is passing ``Recorder`` for ``Recorder()``); a repr longer than 60 characters is
    cut with ``...``.
    Derived in Lesson 8, "Matrix multiplication" (lessons/08_matmul).

    >>> describe(2.5), describe("a"), describe(torch.zeros(2, 3, dtype=torch.int64))
    ('float 2.5', "str 'a'", 'Tensor of dtype torch.int64 and shape (2, 3)')
    """
    if isinstance(value, Tensor):
        return f"{type(value).__name__} of dtype {value.dtype} and shape {shape_str(value.shape)}"
    if isinstance(value, type):
        return f"the class {value.__qualname__}"
    text = repr(value)
    if len(text) > _REPR_LIMIT:
        text = text[: _REPR_LIMIT - 3] + "..."
    return f"{type(value).__name__} {text}"


def message(fn: str, name: str, what: str, value: object) -> str:
    """The library's one message form: ``"{fn}: expected {name} to be {what}, got {describe(value)}"``.

    For checks written in their own module (a combination of arguments, a dispatch on the type), so
    that they read like the ones here.
    Derived in Lesson 8, "Matrix multiplication" (lessons/08_matmul).

    >>> message("conv_layer", "ks", "a positive int", 2.5)
    'conv_layer: expected ks to be a positive int, got float 2.5'
    """
    return f"{fn}: expected {name} to be {what}, got {describe(value)}"


# ---- predicates ------------------------------------------------------------------------------------


def is_int(value: object) -> bool:
    """True for a Python or NumPy integer, False for a ``bool`` (and for a float such as ``2.0``).

    Derived in Lesson 8, "Matrix multiplication" (lessons/08_matmul).
    """
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def is_real(value: object) -> bool:
    """True for an int or a float (Python's or NumPy's), False for a ``bool``, a complex or a tensor.

    Derived in Lesson 8, "Matrix multiplication" (lessons/08_matmul).
    """
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


# ---- numbers ---------------------------------------------------------------------------------------


def _int_what(min: int | None, max: int | None) -> str:  # noqa: A002
    if min is not None and max is not None:
        return f"an int in [{min}, {max}]"
    if min == 1:
        return "a positive int"
    if min is not None:
        return f"an int >= {min}"
    if max is not None:
        return f"an int <= {max}"
    return "an int"


def _integer(fn: str, name: str, value: object, min: int | None, max: int | None, what: str) -> int:  # noqa: A002
    if not is_int(value):
        raise TypeError(message(fn, name, what, value))
    v = int(value)  # type: ignore[call-overload]
    if (min is not None and v < min) or (max is not None and v > max):
        raise ValueError(message(fn, name, what, value))
    return v


def integer(fn: str, name: str, value: object, *, min: int | None = None, max: int | None = None) -> int:  # noqa: A002
    """``value`` as an ``int`` if it is an integer in ``[min, max]`` (either bound may be left out).

    Not an integer (a float, a ``bool``, a string): ``TypeError``; outside the bounds: ``ValueError``.
    The expectation reads ``an int``, ``a positive int`` (``min=1``), ``an int >= 0``, ``an int in [-2, 1]``.
    Derived in Lesson 8, "Matrix multiplication" (lessons/08_matmul).

    >>> integer("fit", "epochs", 3, min=1)
    3
    """
    return _integer(fn, name, value, min, max, _int_what(min, max))


def int_or_none(fn: str, name: str, value: object, *, min: int | None = None, max: int | None = None) -> int | None:  # noqa: A002
    """``None`` if ``value`` is ``None``, else :func:`integer` of it; the expectation ends in ``or None``.

    Derived in Lesson 8, "Matrix multiplication" (lessons/08_matmul).

    >>> int_or_none("timeit", "number", None) is None
    True
    """
    if value is None:
        return None
    return _integer(fn, name, value, min, max, _int_what(min, max) + " or None")


def positive_int(fn: str, name: str, value: object) -> int:
    """``value`` if it is an int ``>= 1`` (a size, a count, a number of channels): ``integer(..., min=1)``.

    Derived in Lesson 8, "Matrix multiplication" (lessons/08_matmul).

    >>> positive_int("BatchNorm", "nf", 8)
    8
    """
    return integer(fn, name, value, min=1)


def _real_what(
    finite: bool, min: float | None, max: float | None, min_open: bool, max_open: bool  # noqa: A002
) -> str:
    if min is not None and max is not None:
        return f"a number in {'(' if min_open else '['}{min:g}, {max:g}{')' if max_open else ']'}"
    base = "a finite number" if finite else "a number"
    if min is not None:
        return f"{base} {'>' if min_open else '>='} {min:g}"
    if max is not None:
        return f"{base} {'<' if max_open else '<='} {max:g}"
    return base


def _real(
    fn: str,
    name: str,
    value: object,
    *,
    finite: bool,
    positive: bool,
    min: float | None,  # noqa: A002
    max: float | None,  # noqa: A002
    min_open: bool,
    max_open: bool,
    or_none: bool,
) -> float:
    if positive:
        if min is not None:
            raise ValueError(f"checks.real: give positive=True or min, not both (got min={min})")
        min, min_open = 0.0, True
    what = _real_what(finite, min, max, min_open, max_open) + (" or None" if or_none else "")
    if not is_real(value):
        raise TypeError(message(fn, name, what, value))
    try:
        v = float(value)  # type: ignore[arg-type]
    except OverflowError:  # an int too large for a float
        raise ValueError(message(fn, name, what, value)) from None
    bad = (
        math.isnan(v)  # not a number, whatever the bounds
        or (finite and math.isinf(v))
        or (min is not None and (v <= min if min_open else v < min))
        or (max is not None and (v >= max if max_open else v > max))
    )
    if bad:
        raise ValueError(message(fn, name, what, value))
    return v


def real(
    fn: str,
    name: str,
    value: object,
    *,
    finite: bool = True,
    positive: bool = False,
    min: float | None = None,  # noqa: A002
    max: float | None = None,  # noqa: A002
    min_open: bool = False,
    max_open: bool = False,
) -> float:
    """``value`` as a ``float`` if it is a real number within the bounds; NaN never passes.

    ``finite`` refuses ``inf`` (the default); ``positive=True`` means ``> 0`` (short for ``min=0,
    min_open=True``); ``min`` and ``max`` are inclusive unless ``min_open``/``max_open``. Not a real
    number (a string, a ``bool``, a tensor, ``None``): ``TypeError``; NaN, infinite or out of bounds:
    ``ValueError``. The expectation reads ``a finite number``, ``a finite number > 0``,
    ``a finite number >= 0``, ``a number in [0, 1)``.
    Derived in Lesson 8, "Matrix multiplication" (lessons/08_matmul).

    >>> real("SGD", "lr", 1, min=0.0)
    1.0
    """
    return _real(fn, name, value, finite=finite, positive=positive, min=min, max=max,
                 min_open=min_open, max_open=max_open, or_none=False)


def real_or_none(
    fn: str,
    name: str,
    value: object,
    *,
    finite: bool = True,
    positive: bool = False,
    min: float | None = None,  # noqa: A002
    max: float | None = None,  # noqa: A002
    min_open: bool = False,
    max_open: bool = False,
) -> float | None:
    """``None`` if ``value`` is ``None``, else :func:`real` of it; the expectation ends in ``or None``.

    Derived in Lesson 8, "Matrix multiplication" (lessons/08_matmul).

    >>> real_or_none("GeneralRelu", "leak", None) is None
    True
    """
    if value is None:
        return None
    return _real(fn, name, value, finite=finite, positive=positive, min=min, max=max,
                 min_open=min_open, max_open=max_open, or_none=True)


def slope(fn: str, value: object, name: str = "a") -> float:
    """The negative slope ``a`` of a (leaky) ReLU, as a ``float``: any finite number (0 for a plain ReLU).

    One check for every function that takes the slope (``kaiming_std``, ``gain``,
    ``kaiming_uniform_bound``), so they all say the same thing.
    Derived in Lesson 8, "Matrix multiplication" (lessons/08_matmul).

    >>> slope("gain", 0)
    0.0
    """
    what = "a finite number (the negative slope of the leaky ReLU; 0 for a ReLU)"
    if not is_real(value):
        raise TypeError(message(fn, name, what, value))
    v = float(value)  # type: ignore[arg-type]
    if not math.isfinite(v):
        raise ValueError(message(fn, name, what, value))
    return v


def boolean(fn: str, name: str, value: object) -> bool:
    """``value`` if it is ``True`` or ``False``; anything else (``1``, ``"no"``, ``None``): ``TypeError``.

    Derived in Lesson 8, "Matrix multiplication" (lessons/08_matmul).

    >>> boolean("train", "mode", False)
    False
    """
    if not isinstance(value, bool):
        raise TypeError(message(fn, name, "a bool", value))
    return value


# ---- objects and tensors ---------------------------------------------------------------------------


def instance(fn: str, name: str, value: object, types: type[T] | tuple[type, ...], what: str) -> T:
    """``value`` if it is an instance of ``types``, else ``TypeError`` saying ``what`` it should be.

    Derived in Lesson 8, "Matrix multiplication" (lessons/08_matmul).

    >>> instance("orthogonal", "generator", None, (torch.Generator, type(None)), "a torch.Generator or None")
    """
    if not isinstance(value, types):
        raise TypeError(message(fn, name, what, value))
    return value  # type: ignore[return-value]


def tensor(
    fn: str,
    name: str,
    x: object,
    *,
    ndim: int | tuple[int, ...] | None = None,
    floating: bool | None = None,
    dtype: Any = None,
) -> Tensor:
    """``x`` if it is a ``torch.Tensor`` with the dtype and number of dimensions asked for.

    ``floating=True`` asks for a floating-point dtype (``False``: anything but), ``dtype`` for one
    dtype exactly, ``ndim`` for a number of dimensions (or one of a tuple of them). Not a tensor, or
    the wrong dtype: ``TypeError``; the wrong number of dimensions: ``ValueError``. The expectation
    reads ``a torch.Tensor``, ``a floating-point tensor``, ``a 2-d floating-point tensor``,
    ``a torch.int64 tensor``.
    Derived in Lesson 8, "Matrix multiplication" (lessons/08_matmul).

    >>> tensor("relu", "x", torch.zeros(2), floating=True).shape
    torch.Size([2])
    """
    words = []
    if ndim is not None:
        dims = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        words.append(" or ".join(f"{d}-d" for d in dims))
    if dtype is not None:
        words.append(str(dtype))
    elif floating is True:
        words.append("floating-point")
    elif floating is False:
        words.append("non-floating-point")
    what = f"a {' '.join(words)} tensor" if words else "a torch.Tensor"
    if not isinstance(x, Tensor):
        raise TypeError(message(fn, name, what, x))
    if (dtype is not None and x.dtype != dtype) or (floating is not None and x.is_floating_point() != floating):
        raise TypeError(message(fn, name, what, x))
    if ndim is not None and x.ndim not in dims:
        raise ValueError(message(fn, name, what, x))
    return x
