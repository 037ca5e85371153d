"""Compiling Python: Numba for loops, ``torch.compile`` for tensor programs, and what each costs.

Derived in Lesson 13, "Compiling" (lessons/13_compiling), the Python form of the 2019 course's
Lessons 13-14 (Swift's compiler making Lesson 8's matmul fast, and its promise of fast loops):

- :func:`matmul_numba`: Lesson 8's three loops, compiled to machine code by Numba's ``njit`` at the
  first call for each pair of dtypes (:func:`numba_matmul_kernel` is the compiled kernel);
- :func:`first_call_and_steady`: the first call of a compiled function (compiling included) timed
  apart from the steady cost of a call, so a speed-up is never quoted with its compile time hidden;
- :class:`GraphRecorder`: a ``torch.compile`` backend that keeps every graph Dynamo captures and runs
  it eagerly, to watch capture, guards and recompilation without paying for code generation;
- :func:`graph_breaks`: ``torch._dynamo.explain`` summarised: how many graphs, where and why it broke.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import torch
from torch import Tensor

from foundations import checks
from foundations.bench import Timing, timeit

__all__ = ["BreakReport", "FirstCall", "GraphRecorder", "first_call_and_steady", "graph_breaks", "matmul_numba", "numba_matmul_kernel"]


@cache
def numba_matmul_kernel() -> Callable[[Any, Any, Any], None]:
    """The Numba-compiled kernel ``kernel(a, b, c)``: writes ``a @ b`` into ``c`` (NumPy arrays).

    The body is Lesson 8's triple loop, unchanged; ``numba.njit`` ("no Python") compiles it through
    LLVM at the first call for each combination of argument types, then calls the machine code.
    Imported lazily: Numba is only needed by the pages that use it.
    Derived in Lesson 13, "Compiling" (lessons/13_compiling).
    """
    try:
        from numba import njit
    except ImportError:
        raise ImportError("numba_matmul_kernel: Numba is not installed: `pip install numba` (requirements.txt pins it)") from None

    @njit(cache=False)
    def kernel(a, b, c):  # noqa: ANN001, ANN202 (Numba infers the types)
        n, k = a.shape
        m = b.shape[1]
        for i in range(n):
            for j in range(m):
                s = 0.0
                for p in range(k):
                    s += a[i, p] * b[p, j]
                c[i, j] = s

    return kernel


def matmul_numba(a: Tensor, b: Tensor) -> Tensor:
    """``a @ b`` by :func:`numba_matmul_kernel`: ``(n, k) @ (k, m) -> (n, m)``, float32 or float64 CPU tensors.

    The tensors are shared with NumPy (``.numpy()`` copies nothing) and the result is written in place.
    Derived in Lesson 13, "Compiling" (lessons/13_compiling).
    """
    a = checks.tensor("matmul_numba", "a", a, ndim=2, floating=True)
    b = checks.tensor("matmul_numba", "b", b, ndim=2, floating=True)
    if a.shape[1] != b.shape[0]:
        raise ValueError(f"matmul_numba: expected a (n, k) @ (k, m) product, got {tuple(a.shape)} @ {tuple(b.shape)}")
    if a.dtype != b.dtype or a.dtype not in (torch.float32, torch.float64) or a.device.type != "cpu":
        raise TypeError(f"matmul_numba: expected a and b both float32 or both float64 on the CPU, got {a.dtype} and {b.dtype}")
    c = torch.empty(a.shape[0], b.shape[1], dtype=a.dtype)
    numba_matmul_kernel()(a.detach().contiguous().numpy(), b.detach().contiguous().numpy(), c.numpy())
    return c


@dataclass(frozen=True)
class FirstCall:
    """The first call of a compiled function (``first``, seconds: compiling and one run) and its steady cost.

    What :func:`first_call_and_steady` returns. ``compile_s`` estimates the compiling alone:
    ``first - steady.best``. Derived in Lesson 13, "Compiling" (lessons/13_compiling).
    """

    first: float
    steady: Timing

    @property
    def compile_s(self) -> float:
        return max(self.first - self.steady.best, 0.0)


def first_call_and_steady(fn: Callable[[], Any], repeat: int = 5, min_time: float = 0.05) -> FirstCall:
    """Time ``fn()``'s first call on its own, then its later calls with :func:`foundations.bench.timeit`.

    For a compiled function the first call pays for compiling; a speed-up quoted from the steady
    times must say how many calls it takes to win the compile time back.
    Derived in Lesson 13, "Compiling" (lessons/13_compiling).
    """
    if not callable(fn):
        raise TypeError(checks.message("first_call_and_steady", "fn", "a function of no arguments", fn))
    start = time.perf_counter()
    fn()
    first = time.perf_counter() - start
    return FirstCall(first=first, steady=timeit(fn, repeat=repeat, min_time=min_time))


class GraphRecorder:
    """A ``torch.compile`` backend that records each captured graph and runs it as it is (no code generation).

    ``rec = GraphRecorder(); f = torch.compile(fn, backend=rec)``: every time Dynamo captures a graph
    (the first call, a graph break, a recompilation when a guard fails) ``rec.graphs`` gains the
    ``torch.fx.GraphModule`` and ``rec.inputs`` the shapes it was captured for.
    Derived in Lesson 13, "Compiling" (lessons/13_compiling).
    """

    def __init__(self) -> None:
        self.graphs: list[torch.fx.GraphModule] = []
        self.inputs: list[list[tuple[int, ...]]] = []

    def __call__(self, gm: torch.fx.GraphModule, example_inputs: list[Any]) -> Callable[..., Any]:
        self.graphs.append(gm)
        self.inputs.append([tuple(t.shape) for t in example_inputs if isinstance(t, Tensor)])
        return gm.forward

    def ops(self, k: int = -1) -> list[str]:
        """The operations (``call_function`` / ``call_method`` / ``call_module`` targets) of graph ``k``."""
        return [_target_name(n.target) for n in self.graphs[k].graph.nodes if n.op.startswith("call_")]


def _target_name(target: Any) -> str:
    return getattr(target, "__name__", None) or str(target)


@dataclass(frozen=True)
class BreakReport:
    """What ``torch._dynamo.explain`` found: graphs captured, graph breaks, and each break's reason.

    Derived in Lesson 13, "Compiling" (lessons/13_compiling).
    """

    graphs: int
    breaks: int
    reasons: list[str] = field(default_factory=list)
    ops_per_graph: list[int] = field(default_factory=list)

    def __str__(self) -> str:
        lines = [f"{self.graphs} graph(s), {self.breaks} graph break(s); ops per graph: {self.ops_per_graph}"]
        lines += [f"  break {i + 1}: {r}" for i, r in enumerate(self.reasons)]
        return "\n".join(lines)


def _short_reason(reason: str, width: int = 68) -> str:
    first = next((ln.strip() for ln in reason.splitlines() if ln.strip()), reason.strip())
    return first if len(first) <= width else first[: width - 1] + "…"


def graph_breaks(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> BreakReport:
    """Run ``torch._dynamo.explain(fn)(*args, **kwargs)`` and summarise it in a :class:`BreakReport`.

    Each reason is the first line of Dynamo's explanation, cut to fit a page's column; Dynamo's own
    warnings about what it could not trace are silenced while it runs (the reasons say it).
    Derived in Lesson 13, "Compiling" (lessons/13_compiling).
    """
    if not callable(fn):
        raise TypeError(checks.message("graph_breaks", "fn", "a function", fn))
    import torch._dynamo as dynamo

    dynamo.reset()
    with warnings.catch_warnings():  # Dynamo also warns about what it skips; the report says it once
        warnings.simplefilter("ignore", UserWarning)
        out = dynamo.explain(fn)(*args, **kwargs)
    reasons = [_short_reason(getattr(b, "reason", str(b))) for b in out.break_reasons]
    ops = [sum(1 for n in g.graph.nodes if n.op.startswith("call_")) for g in out.graphs]
    return BreakReport(graphs=out.graph_count, breaks=out.graph_break_count, reasons=reasons, ops_per_graph=ops)
