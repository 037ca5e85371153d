"""Tests for foundations.checks: one rule (type -> TypeError, value -> ValueError), one message form.

Every message reads ``"{fn}: expected {name} to be {what}, got {type} {value!r}"``; the tests
assert whole messages, not fragments, so a change of wording is a decision, not an accident. The
last part checks that the library's functions use these checks (the issue's examples, and a table
across the modules), and that no private copy of them is left in the core or the callbacks.
"""

from __future__ import annotations

import ast
import math
import re
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import torch

from foundations import checks

pytestmark = pytest.mark.lesson08

ROOT = Path(__file__).resolve().parent.parent


def _raises(exc: type[Exception], expected: str, f: Callable[[], Any]) -> None:
    """``f()`` raises ``exc`` with exactly the message ``expected``."""
    with pytest.raises(exc) as info:
        f()
    assert type(info.value) is exc, f"expected {exc.__name__}, got {type(info.value).__name__}: {info.value}"
    assert str(info.value) == expected


# ---- describing what came ----------------------------------------------------------------------


def test_shape_str_prints_plain_tuples() -> None:
    assert checks.shape_str(torch.Size([5, 784])) == "(5, 784)"
    assert checks.shape_str((3,)) == "(3,)"
    assert checks.shape_str(()) == "()"
    assert checks.shape_str([2, 1]) == "(2, 1)"
    assert checks.shape_str(torch.zeros(2, 3, 4)) == "(2, 3, 4)", "a tensor is printed by its shape"


def test_describe_gives_type_and_value() -> None:
    assert checks.describe(2.5) == "float 2.5"
    assert checks.describe(True) == "bool True"
    assert checks.describe("a") == "str 'a'"
    assert checks.describe(None) == "NoneType None"
    assert checks.describe(float("nan")) == "float nan"
    assert checks.describe(torch.zeros(2, 3, dtype=torch.int64)) == "Tensor of dtype torch.int64 and shape (2, 3)"
    assert checks.describe(torch.nn.Parameter(torch.zeros(4))) == "Parameter of dtype torch.float32 and shape (4,)"
    assert checks.describe(torch.nn.ReLU) == "the class ReLU"


def test_describe_cuts_long_reprs() -> None:
    got = checks.describe(list(range(100)))
    assert got.startswith("list [0, 1, 2, ") and got.endswith("...")
    assert len(got) == len("list ") + 60


def test_message_has_the_one_form() -> None:
    assert checks.message("conv_layer", "ks", "a positive int", 2.5) == "conv_layer: expected ks to be a positive int, got float 2.5"


# ---- integers ------------------------------------------------------------------------------------


def test_positive_int_accepts_ints_and_returns_python_ints() -> None:
    assert checks.positive_int("f", "n", 3) == 3
    got = checks.positive_int("f", "n", np.int64(7))
    assert got == 7 and type(got) is int


@pytest.mark.parametrize(
    ("value", "exc", "expected"),
    [
        (True, TypeError, "f: expected n to be a positive int, got bool True"),  # bool is not an int
        (False, TypeError, "f: expected n to be a positive int, got bool False"),
        (2.5, TypeError, "f: expected n to be a positive int, got float 2.5"),
        (2.0, TypeError, "f: expected n to be a positive int, got float 2.0"),  # a whole float is still a float
        ("3", TypeError, "f: expected n to be a positive int, got str '3'"),
        (None, TypeError, "f: expected n to be a positive int, got NoneType None"),
        (torch.tensor(3), TypeError, "f: expected n to be a positive int, got Tensor of dtype torch.int64 and shape ()"),
        (0, ValueError, "f: expected n to be a positive int, got int 0"),
        (-3, ValueError, "f: expected n to be a positive int, got int -3"),
    ],
)
def test_positive_int_refuses(value: object, exc: type[Exception], expected: str) -> None:
    _raises(exc, expected, lambda: checks.positive_int("f", "n", value))


@pytest.mark.parametrize(
    ("kwargs", "value", "expected"),
    [
        ({"min": 0}, -1, "f: expected k to be an int >= 0, got int -1"),
        ({"min": 2}, 1, "f: expected k to be an int >= 2, got int 1"),
        ({"max": 5}, 6, "f: expected k to be an int <= 5, got int 6"),
        ({"min": -2, "max": 1}, 2, "f: expected k to be an int in [-2, 1], got int 2"),
        ({"min": -2, "max": 1}, -3, "f: expected k to be an int in [-2, 1], got int -3"),
    ],
)
def test_integer_bounds_are_value_errors(kwargs: dict[str, int], value: int, expected: str) -> None:
    _raises(ValueError, expected, lambda: checks.integer("f", "k", value, **kwargs))


def test_integer_bounds_are_inclusive_and_wrong_types_say_the_bounds() -> None:
    assert checks.integer("f", "k", -2, min=-2, max=1) == -2
    assert checks.integer("f", "k", 1, min=-2, max=1) == 1
    assert checks.integer("f", "k", -10**30) == -10**30
    _raises(TypeError, "f: expected k to be an int in [-2, 1], got bool True", lambda: checks.integer("f", "k", True, min=-2, max=1))
    _raises(TypeError, "f: expected k to be an int, got float 1.5", lambda: checks.integer("f", "k", 1.5))


def test_int_or_none() -> None:
    assert checks.int_or_none("timeit", "number", None) is None
    assert checks.int_or_none("timeit", "number", 3, min=1) == 3
    _raises(ValueError, "timeit: expected number to be a positive int or None, got int 0",
            lambda: checks.int_or_none("timeit", "number", 0, min=1))
    _raises(TypeError, "timeit: expected number to be a positive int or None, got float 2.0",
            lambda: checks.int_or_none("timeit", "number", 2.0, min=1))


# ---- real numbers --------------------------------------------------------------------------------


def test_real_accepts_ints_and_floats_and_returns_floats() -> None:
    got = checks.real("f", "x", 3)
    assert got == 3.0 and type(got) is float
    assert checks.real("f", "x", np.float32(0.5)) == 0.5
    assert checks.real("f", "x", -1e300) == -1e300


@pytest.mark.parametrize(
    ("value", "exc", "expected"),
    [
        (True, TypeError, "f: expected x to be a finite number, got bool True"),  # bool is not a number
        ("0.1", TypeError, "f: expected x to be a finite number, got str '0.1'"),
        (None, TypeError, "f: expected x to be a finite number, got NoneType None"),
        (1j, TypeError, "f: expected x to be a finite number, got complex 1j"),
        (torch.tensor(0.5), TypeError, "f: expected x to be a finite number, got Tensor of dtype torch.float32 and shape ()"),
        (float("nan"), ValueError, "f: expected x to be a finite number, got float nan"),
        (math.inf, ValueError, "f: expected x to be a finite number, got float inf"),
        (-math.inf, ValueError, "f: expected x to be a finite number, got float -inf"),
        pytest.param(10**400, ValueError, "f: expected x to be a finite number, got int " + "1" + "0" * 56 + "...",
                     id="an int too large for a float"),
    ],
)
def test_real_refuses(value: object, exc: type[Exception], expected: str) -> None:
    _raises(exc, expected, lambda: checks.real("f", "x", value))


def test_real_infinite_allowed_but_never_nan() -> None:
    assert checks.real("f", "x", math.inf, finite=False) == math.inf
    _raises(ValueError, "f: expected x to be a number, got float nan", lambda: checks.real("f", "x", math.nan, finite=False))
    _raises(ValueError, "f: expected x to be a number in [0, 1], got float nan",
            lambda: checks.real("f", "x", math.nan, min=0.0, max=1.0))


@pytest.mark.parametrize(
    ("kwargs", "ok", "bad", "expected"),
    [
        ({"positive": True}, 1e-12, 0.0, "f: expected x to be a finite number > 0, got float 0.0"),
        ({"positive": True}, 1.0, math.inf, "f: expected x to be a finite number > 0, got float inf"),
        ({"min": 0.0}, 0.0, -0.5, "f: expected x to be a finite number >= 0, got float -0.5"),
        ({"min": 1.0, "min_open": True}, 1.5, 1.0, "f: expected x to be a finite number > 1, got float 1.0"),
        ({"max": 1.0}, 1.0, 1.5, "f: expected x to be a finite number <= 1, got float 1.5"),
        ({"min": 0.0, "max": 1.0}, 1.0, 1.5, "f: expected x to be a number in [0, 1], got float 1.5"),
        ({"positive": True, "max": 1.0}, 1.0, 0, "f: expected x to be a number in (0, 1], got int 0"),
        ({"min": 0.0, "max": 1.0, "max_open": True}, 0.0, 1.0, "f: expected x to be a number in [0, 1), got float 1.0"),
    ],
)
def test_real_bounds(kwargs: dict[str, Any], ok: float, bad: float, expected: str) -> None:
    assert checks.real("f", "x", ok, **kwargs) == ok
    _raises(ValueError, expected, lambda: checks.real("f", "x", bad, **kwargs))


def test_real_refuses_positive_and_min_together() -> None:
    with pytest.raises(ValueError, match=r"give positive=True or min, not both"):
        checks.real("f", "x", 1.0, positive=True, min=0.5)


def test_real_or_none() -> None:
    assert checks.real_or_none("f", "leak", None) is None
    assert checks.real_or_none("f", "leak", 0.1) == 0.1
    _raises(TypeError, "f: expected leak to be a finite number or None, got str 'a'", lambda: checks.real_or_none("f", "leak", "a"))
    _raises(ValueError, "f: expected leak to be a number in [0, 1) or None, got float 1.0",
            lambda: checks.real_or_none("f", "leak", 1.0, min=0.0, max=1.0, max_open=True))


def test_slope() -> None:
    what = "a finite number (the negative slope of the leaky ReLU; 0 for a ReLU)"
    assert checks.slope("gain", 0) == 0.0 and checks.slope("gain", -0.5) == -0.5
    _raises(TypeError, f"gain: expected a to be {what}, got str 'x'", lambda: checks.slope("gain", "x"))
    _raises(TypeError, f"gain: expected a to be {what}, got bool False", lambda: checks.slope("gain", False))
    _raises(ValueError, f"gain: expected a to be {what}, got float nan", lambda: checks.slope("gain", math.nan))
    _raises(ValueError, f"prelu: expected leak to be {what}, got float inf", lambda: checks.slope("prelu", math.inf, "leak"))


def test_boolean() -> None:
    assert checks.boolean("train", "mode", True) is True
    _raises(TypeError, "train: expected mode to be a bool, got int 1", lambda: checks.boolean("train", "mode", 1))
    _raises(TypeError, "train: expected mode to be a bool, got str 'no'", lambda: checks.boolean("train", "mode", "no"))
    with pytest.raises(TypeError, match=r"^train: expected mode to be a bool, got bool_? "):  # NumPy's bool is not a bool
        checks.boolean("train", "mode", np.bool_(True))


# ---- objects and tensors -------------------------------------------------------------------------


def test_instance() -> None:
    g = torch.Generator()
    assert checks.instance("f", "generator", g, torch.Generator, "a torch.Generator") is g
    _raises(TypeError, "f: expected generator to be a torch.Generator or None, got int 3",
            lambda: checks.instance("f", "generator", 3, (torch.Generator, type(None)), "a torch.Generator or None"))


def test_tensor_accepts_and_returns_the_tensor() -> None:
    x = torch.zeros(2, 3)
    assert checks.tensor("f", "x", x) is x
    assert checks.tensor("f", "x", x, ndim=2, floating=True) is x
    assert checks.tensor("f", "x", x, ndim=(2, 4)) is x
    y = torch.zeros(3, dtype=torch.int64)
    assert checks.tensor("f", "y", y, dtype=torch.int64) is y
    assert checks.tensor("f", "y", y, floating=False) is y


@pytest.mark.parametrize(
    ("value", "kwargs", "exc", "expected"),
    [
        ([1.0, 2.0], {}, TypeError, "f: expected x to be a torch.Tensor, got list [1.0, 2.0]"),
        (np.zeros(2), {"floating": True}, TypeError, "f: expected x to be a floating-point tensor, got ndarray array([0., 0.])"),
        (torch.arange(3), {"floating": True}, TypeError,
         "f: expected x to be a floating-point tensor, got Tensor of dtype torch.int64 and shape (3,)"),
        (torch.zeros(3), {"floating": False}, TypeError,
         "f: expected x to be a non-floating-point tensor, got Tensor of dtype torch.float32 and shape (3,)"),
        (torch.zeros(3), {"dtype": torch.int64}, TypeError,
         "f: expected x to be a torch.int64 tensor, got Tensor of dtype torch.float32 and shape (3,)"),
        (torch.zeros(3), {"ndim": 2, "floating": True}, ValueError,
         "f: expected x to be a 2-d floating-point tensor, got Tensor of dtype torch.float32 and shape (3,)"),
        (torch.zeros(3), {"ndim": (2, 4)}, ValueError,
         "f: expected x to be a 2-d or 4-d tensor, got Tensor of dtype torch.float32 and shape (3,)"),
        (torch.arange(3), {"ndim": 2, "floating": True}, TypeError,  # the dtype is checked before the shape
         "f: expected x to be a 2-d floating-point tensor, got Tensor of dtype torch.int64 and shape (3,)"),
    ],
)
def test_tensor_refuses(value: object, kwargs: dict[str, Any], exc: type[Exception], expected: str) -> None:
    _raises(exc, expected, lambda: checks.tensor("f", "x", value, **kwargs))


def test_predicates() -> None:
    assert checks.is_int(3) and checks.is_int(np.int32(3))
    assert not checks.is_int(True) and not checks.is_int(3.0) and not checks.is_int(torch.tensor(3))
    assert checks.is_real(3) and checks.is_real(2.5) and checks.is_real(np.float64(2.5)) and checks.is_real(math.nan)
    assert not checks.is_real(False) and not checks.is_real("1") and not checks.is_real(1j)


# ---- the library uses them -----------------------------------------------------------------------


def _data() -> SimpleNamespace:
    """What a recipe reads of a DataBunch, without the data package."""
    x = torch.zeros(4, 6)
    return SimpleNamespace(train_dl=[], valid_dl=[], c_out=3, train_ds=SimpleNamespace(x=x))


def test_the_issues_examples_now_agree() -> None:
    """Issue 10: ``BatchNorm(2.5)`` and ``Linear(2.5, 3)`` raised TypeError, ``conv_layer(2.5, 8)``
    and ``get_model(nh=2.5)`` ValueError. A float where an int belongs is the wrong type: all four
    raise TypeError now, in the same words."""
    from foundations.conv import conv_layer
    from foundations.models import get_model
    from foundations.nn import Linear
    from foundations.norm import BatchNorm

    _raises(TypeError, "BatchNorm: expected nf to be a positive int, got float 2.5", lambda: BatchNorm(2.5))  # type: ignore[arg-type]
    _raises(TypeError, "Linear: expected n_in to be a positive int, got float 2.5", lambda: Linear(2.5, 3))  # type: ignore[arg-type]
    _raises(TypeError, "conv_layer: expected ni to be a positive int, got float 2.5", lambda: conv_layer(2.5, 8))  # type: ignore[arg-type]
    _raises(TypeError, "get_model: expected nh to be a positive int, got float 2.5", lambda: get_model(_data(), nh=2.5))  # type: ignore[arg-type]
    _raises(TypeError, "BatchNorm: expected nf to be a positive int, got bool True", lambda: BatchNorm(True))
    _raises(ValueError, "conv_layer: expected nf to be a positive int, got int 0", lambda: conv_layer(1, 0))


def _library_cases() -> list[tuple[str, Callable[[], Any], type[Exception], str]]:
    from foundations.activations import prelu, selu, selu_mapping
    from foundations.backprop import relu
    from foundations.bench import format_seconds, timeit
    from foundations.callbacks import LRFinder, view_tfm
    from foundations.conv import GeneralRelu, init_cnn
    from foundations.hooks import append_stats
    from foundations.init import gain, init_linear, kaiming_std, lecun_std, orthogonal
    from foundations.learner import Learner
    from foundations.losses import cross_entropy
    from foundations.moments import var
    from foundations.nn import Module
    from foundations.norm import BatchNorm, RunningBatchNorm
    from foundations.optim import SGD
    from foundations.residual import fixup_scale
    from foundations.schedule import sched_lin

    slope = "a finite number (the negative slope of the leaky ReLU; 0 for a ReLU)"
    p = torch.zeros(2, requires_grad=True)
    model = torch.nn.Linear(6, 3)
    return [
        ("lecun_std", lambda: lecun_std(0), ValueError, "lecun_std: expected fan_in to be a positive int, got int 0"),
        ("kaiming_std", lambda: kaiming_std(784, "x"), TypeError, f"kaiming_std: expected a to be {slope}, got str 'x'"),
        ("gain", lambda: gain(math.inf), ValueError, f"gain: expected a to be {slope}, got float inf"),
        ("init_linear", lambda: init_linear(3, 2, -0.1), ValueError,
         "init_linear: expected std to be a finite number >= 0, got float -0.1"),
        ("orthogonal", lambda: orthogonal(3, generator=0), TypeError,
         "orthogonal: expected generator to be a torch.Generator or None, got int 0"),
        ("prelu", lambda: prelu(torch.arange(3), 0.1), TypeError,
         "prelu: expected x to be a floating-point tensor, got Tensor of dtype torch.int64 and shape (3,)"),
        ("selu", lambda: selu(torch.zeros(2), lam="1"), TypeError, "selu: expected lam to be a finite number, got str '1'"),
        ("selu_mapping", lambda: selu_mapping(0.0, 0.0), ValueError,
         "selu_mapping: expected nu to be a finite number > 0, got float 0.0"),
        ("relu", lambda: relu([1.0]), TypeError, "relu: expected x to be a torch.Tensor, got list [1.0]"),
        ("format_seconds", lambda: format_seconds("1 s"), TypeError,
         "format_seconds: expected seconds to be a finite number >= 0, got str '1 s'"),
        ("timeit", lambda: timeit(print, repeat=2.5), TypeError, "timeit: expected repeat to be a positive int, got float 2.5"),
        ("view_tfm", lambda: view_tfm(1, 28.0, 28), TypeError, "view_tfm: expected size[1] to be a positive int, got float 28.0"),
        ("LRFinder", lambda: LRFinder(max_iter=True), TypeError, "LRFinder: expected max_iter to be a positive int, got bool True"),
        ("LRFinder", lambda: LRFinder(factor=1), ValueError, "LRFinder: expected factor to be a finite number > 1, got int 1"),
        ("GeneralRelu", lambda: GeneralRelu(leak=1.0), ValueError,
         "GeneralRelu: expected leak to be a number in [0, 1) or None, got float 1.0"),
        ("init_cnn", lambda: init_cnn(model, uniform=1), TypeError, "init_cnn: expected uniform to be a bool, got int 1"),
        ("append_stats", lambda: append_stats(None, model, (), torch.zeros(2), bins=2.5), TypeError,  # type: ignore[arg-type]
         "append_stats: expected bins to be a positive int, got float 2.5"),
        ("Learner", lambda: Learner(model, _data(), cross_entropy, lr="0.1"), TypeError,
         "Learner: expected lr to be a finite number > 0, got str '0.1'"),
        ("Learner.fit", lambda: Learner(model, _data(), cross_entropy).fit(1.0), TypeError,
         "Learner.fit: expected epochs to be a positive int, got float 1.0"),
        ("var", lambda: var(torch.zeros(3), dim=0.0), TypeError,
         "var: expected dim to be None or an int in [-1, 1) for x of shape (3,), got float 0.0"),
        ("Module.train", lambda: Module().train(1), TypeError, "train: expected mode to be a bool, got int 1"),
        ("BatchNorm", lambda: BatchNorm(3, mom=1.5), ValueError, "BatchNorm: expected mom to be a number in [0, 1], got float 1.5"),
        ("RunningBatchNorm", lambda: RunningBatchNorm(3, warmup_samples=2.5), TypeError,
         "RunningBatchNorm: expected warmup_samples to be an int >= 0, got float 2.5"),
        ("SGD", lambda: SGD([p], lr=-1), ValueError, "SGD: expected lr to be a finite number >= 0, got int -1"),
        ("fixup_scale", lambda: fixup_scale(16, 1), ValueError, "fixup_scale: expected m to be an int >= 2, got int 1"),
        ("sched_lin", lambda: sched_lin(0.0, math.nan), ValueError, "sched_lin: expected end to be a finite number, got float nan"),
        ("schedule pos", lambda: sched_lin(0.0, 1.0)(1.5), ValueError,
         "sched_lin(0, 1): expected pos to be a number in [0, 1], got float 1.5"),
    ]


@pytest.mark.parametrize("case", range(len(_library_cases())), ids=lambda i: _library_cases()[i][0])
def test_library_messages_follow_the_rule(case: int) -> None:
    _, f, exc, expected = _library_cases()[case]
    _raises(exc, expected, f)


# ---- no private copies left ------------------------------------------------------------------------

CORE_AND_CALLBACKS = sorted(
    p for p in [*(ROOT / "foundations").glob("*.py"), *(ROOT / "foundations" / "callbacks").glob("*.py")]
    if p.name not in {"checks.py", "testing.py"}
)
COPY = re.compile(r"isinstance\(\w+, bool\) or not isinstance\(")


@pytest.mark.parametrize("path", CORE_AND_CALLBACKS, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_private_copy_of_a_check(path: Path) -> None:
    """``isinstance(v, bool) or not isinstance(v, int)`` was the mark of a private copy of a check."""
    src = path.read_text()
    copies = [i + 1 for i, line in enumerate(src.splitlines()) if COPY.search(line)]
    assert not copies, f"{path.relative_to(ROOT)}: use foundations.checks instead of the checks on lines {copies}"
    defs = re.findall(r"^def (_shape|_check_tensor|_check_slope|_check_real|_check_int|_positive_int|_check_fan)\b", src, re.M)
    assert not defs, f"{path.relative_to(ROOT)} defines {defs}: foundations.checks has them"


def test_checks_imports_nothing_from_foundations() -> None:
    tree = ast.parse((ROOT / "foundations" / "checks.py").read_text())
    imported = [n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
    imported += [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
    assert not [m for m in imported if m and m.split(".")[0] == "foundations"], imported
