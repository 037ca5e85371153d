"""The rules of the game, checked: what an exercise's docstring asks you not to use.

A grader calls your function through :func:`attempt_without`. For the length of that call, every
function the exercise rules out (``F.group_norm``, ``torch.var``, ``@``, ...) is swapped for one that
notes the use and raises; afterwards the originals are back. Using one fails the exercise with a
message that names it, e.g. ``group_norm: you used F.group_norm, which this exercise asks you to
write yourself``, even if your code caught the error. A rule may also name a function the exercise
is about (``einsum_matmul`` must call ``torch.einsum``); not calling it fails the same way.

This is grader plumbing, not an exercise: nothing here needs changing.
"""

from __future__ import annotations

import importlib
import sys
import types
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from foundations.testing import attempt

__all__ = ["Forbidden", "attempt_without", "expand", "matrix_svd_norm", "resolve"]

_MISSING = object()
_SHOWN = {"torch.nn.functional.": "F.", "numpy.": "np."}
_OPERATORS = {"__matmul__": "@", "__rmatmul__": "@", "__imatmul__": "@="}
# helpers that torch.nn.functional re-exports and that torch itself calls: never swapped out
_PLUMBING = {"boolean_dispatch", "handle_torch_function", "has_torch_function", "has_torch_function_unary",
             "has_torch_function_variadic", "Optional"}


def matrix_svd_norm(*args: Any, **kwargs: Any) -> bool:
    """True for a call of ``torch.linalg.norm``/``matrix_norm`` that computes a singular value.

    ``ord`` 2, -2 or ``"nuc"`` on an input with two or more dimensions; a vector norm, or the
    Frobenius norm of a matrix, stays allowed.
    """
    x = args[0] if args else kwargs.get("input", kwargs.get("A"))
    ord_ = args[1] if len(args) > 1 else kwargs.get("ord")
    return getattr(x, "ndim", 0) >= 2 and ord_ in (2, -2, "nuc")


@dataclass(frozen=True)
class Forbidden:
    """What an exercise may not call, and why; ``needs``: what it must call.

    ``names`` are dotted paths: ``"torch.nn.functional.group_norm"``, ``"torch.Tensor.var"`` (the
    method ``x.var()``), ``"torch.Tensor.__matmul__"`` (the operator ``@``), or ``"module.*"`` for
    every function and class that ``module`` defines. ``when`` maps a name to a predicate on the
    call's arguments: the call is refused only when it returns True.
    """

    names: tuple[str, ...]
    why: str
    needs: tuple[str, ...] = ()
    when: dict[str, Callable[..., bool]] = field(default_factory=dict)
    also: tuple[Forbidden, ...] = ()  # rules added with ``+``, each keeping its own ``why``

    def __add__(self, other: Forbidden) -> Forbidden:
        return Forbidden(self.names, self.why, self.needs, self.when, (*self.also, other, *other.also))

    def parts(self) -> list[Forbidden]:
        """This rule and the ones added to it, each on its own."""
        return [Forbidden(self.names, self.why, self.needs, self.when), *self.also]

    def paths(self) -> list[str]:
        """Every dotted path the rules swap out or spy on, ``*`` expanded."""
        return [p for rule in self.parts() for name in (*rule.names, *rule.needs) for p in expand(name)]


def resolve(path: str) -> tuple[Any, str] | None:
    """``"torch.nn.functional.relu"`` -> (the module or class holding it, ``"relu"``).

    None when this install of torch (or numpy) has no such function: an older or newer version may
    lack one of the names a rule lists, and there is nothing to swap out then.
    """
    parts = path.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        try:
            owner: Any = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for attr in parts[cut:]:
            if not hasattr(owner, attr):
                return None
            owner, last = getattr(owner, attr), owner
        return last, parts[-1]
    return None


def expand(path: str) -> list[str]:
    """``"torch.nn.functional.*"`` -> the public functions and classes that module defines."""
    if not path.endswith(".*"):
        return [path]
    module = importlib.import_module(path[:-2])
    out = []
    for name, value in vars(module).items():
        if name.startswith("_") or name in _PLUMBING or isinstance(value, types.ModuleType) or not callable(value):
            continue
        home = getattr(value, "__module__", None) or ""
        # what the module defines; and, for torch's modules, the functions it re-exports from torch's
        # core (F.conv2d is torch.conv2d, F.gelu comes from torch._C._nn), though not classes (Tensor)
        reexport = module.__name__.startswith("torch") and home.startswith("torch") and not isinstance(value, type)
        if home == module.__name__ or reexport:
            out.append(f"{module.__name__}.{name}")
    return out


def _shown(path: str) -> str:
    attr = path.rsplit(".", 1)[-1]
    if attr in _OPERATORS:
        return _OPERATORS[attr]
    if path.startswith("torch.Tensor."):
        return f"the method .{attr}()"
    for prefix, short in _SHOWN.items():
        if path.startswith(prefix):
            return short + path[len(prefix):]
    return path


def _where(module: types.ModuleType | None) -> str:
    """`` (in log_softmax, line 52)``: the learner's function that made the call being refused."""
    path = getattr(module, "__file__", None)
    frame = sys._getframe(2)  # the caller of refuse()
    while frame is not None and path is not None and frame.f_code.co_filename != path:
        frame = frame.f_back  # through torch's own code: nn.GroupNorm.forward calls F.group_norm
    if frame is None or path is None:
        return ""
    return f" (in {frame.f_code.co_qualname}, line {frame.f_lineno})"


@contextmanager
def _swapped(exercise: str, rules: Forbidden, module: types.ModuleType | None) -> Iterator[None]:
    used: list[str] = []
    called: set[str] = set()
    saved: list[tuple[Any, str, Any]] = []
    blocked_for: dict[int, Any] = {}

    def swap(owner: Any, attr: str, new: Any) -> None:
        saved.append((owner, attr, vars(owner).get(attr, _MISSING)))
        setattr(owner, attr, new)

    def blocker(rule: Forbidden, path: str, original: Any) -> Callable[..., Any]:
        shown, when = _shown(path), rule.when.get(path)

        def refuse(*args: Any, **kwargs: Any) -> Any:
            if when is not None and not when(*args, **kwargs):
                return original(*args, **kwargs)
            message = f"{exercise}: you used {shown}{_where(module)}, which {rule.why}"
            used.append(message)
            raise AssertionError(message)

        return refuse

    def spy(rule: Forbidden, path: str, original: Any) -> Callable[..., Any]:
        def note(*args: Any, **kwargs: Any) -> Any:
            called.add(path)
            return original(*args, **kwargs)

        return note

    try:
        paths = [(rule, p, make) for rule in rules.parts()
                 for names, make in ((rule.names, blocker), (rule.needs, spy)) for name in names for p in expand(name)]
        for rule, path, make in paths:
            found = resolve(path)
            if found is None:
                continue
            owner, attr = found
            original = getattr(owner, attr)
            replacement = make(rule, path, original)
            swap(owner, attr, replacement)
            blocked_for[id(original)] = replacement
        if module is not None:  # `from torch.nn.functional import group_norm` in the learner's file
            for name, value in list(vars(module).items()):
                if id(value) in blocked_for and not isinstance(value, types.ModuleType):
                    swap(module, name, blocked_for[id(value)])
        try:
            yield
        except BaseException:
            if used:
                raise AssertionError(used[0]) from None
            raise
    finally:
        for owner, attr, before in reversed(saved):
            if before is _MISSING:
                delattr(owner, attr)
            else:
                setattr(owner, attr, before)
    if used:  # the learner's code caught the error: still a use
        raise AssertionError(used[0])
    needs = [p for rule in rules.parts() for p in rule.needs]
    missing = [_shown(p) for p in needs if p not in called and resolve(p) is not None]
    if missing:
        raise AssertionError(f"{exercise}: expected a call to {' and '.join(missing)}, found none")


def attempt_without(rules: Forbidden, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """:func:`foundations.testing.attempt` ``fn(*args, **kwargs)`` with the functions ``rules`` names swapped out."""
    __tracebackhide__ = True
    name = getattr(fn, "__qualname__", None) or repr(fn)
    module = sys.modules.get(getattr(fn, "__module__", None) or "")
    with _swapped(name, rules, module):
        return attempt(fn, *args, **kwargs)
