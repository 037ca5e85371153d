"""Lesson 13's performance rows: compiled code against eager PyTorch and PyTorch's own kernels.

Derived in Lesson 13 (lessons/13_compiling, lessons/13_cpp, lessons/13_distributed). Each row is
a ratio measured side by side in one run (:func:`benchmarks.suite.race`), reference time / our time:

- Numba's compiled triple loop against ``torch.matmul`` (5x784 @ 784x10 and 512x784 @ 784x512);
- the C++ extension's fused GeneralRelu, forward + backward, against the Python layer;
- the C kernel normalising bytes (through ctypes) against PyTorch's three operations;
- full mode only (each compiles or starts processes): a training step of a Lesson 12 CNN compiled
  against eager, the LSTM layer's forward compiled against eager (compile times in the notes), and
  2 gloo processes training MNIST with DDP against 1 process (training images per second), at
  global batches of 128 and 512.

Compile and build times stay out of the ratios: every contender is called once before timing.
"""

from __future__ import annotations

import copy
import functools
import json
import statistics
from pathlib import Path

import torch
import torch.nn.functional as F

from benchmarks.common import fresh_inductor_cache
from benchmarks.report import Row, row_from_times

__all__ = ["group_perf"]

SCRIPT = Path(__file__).resolve().parent.parent / "lessons" / "ddp_mnist.py"


def _race():  # noqa: ANN202 (the suite's race, imported late: the suite imports this module)
    from benchmarks.suite import race

    return race


def _numba_rows(repeats: int) -> list[Row]:
    from foundations.perf import matmul_numba

    rows = []
    for n, k, m in ((5, 784, 10), (512, 784, 512)):
        g = torch.Generator().manual_seed(0)
        a, b = torch.randn(n, k, generator=g), torch.randn(k, m, generator=g)
        times = _race()({"numba": functools.partial(matmul_numba, a, b), "torch": functools.partial(torch.matmul, a, b)},
                        repeats)
        rows.append(row_from_times("perf", f"Numba matmul {n}x{k}@{k}x{m}", times, "numba", "torch",
                                   note="Lesson 8's triple loop compiled by numba.njit vs torch.matmul, float32, "
                                        "first (compiling) call untimed"))
    return rows


def _relu_row(repeats: int) -> Row:
    from foundations.conv import GeneralRelu
    from foundations.perf import general_relu_cpp

    x = torch.randn(64, 32, 28, 28, requires_grad=True)
    g = torch.randn_like(x)
    py = GeneralRelu(leak=0.1, sub=0.4, maxv=6.0)
    fns = {"cpp": lambda: torch.autograd.grad(general_relu_cpp(x, 0.1, 0.4, 6.0), x, g),
           "python": lambda: torch.autograd.grad(py(x), x, g)}
    times = _race()(fns, repeats)
    return row_from_times("perf", "C++ GeneralRelu fwd+bwd", times, "cpp", "python",
                          note="the C++ extension's fused forward and backward (one pass each) vs "
                               "foundations.conv.GeneralRelu (three ops each way), (64, 32, 28, 28) float32")


def _c_kernel_row(repeats: int) -> Row:
    from foundations.perf import normalize_images_c

    g = torch.Generator().manual_seed(0)
    imgs = torch.randint(0, 256, (256, 64, 64, 3), dtype=torch.uint8, generator=g)
    mean, std = torch.tensor([0.47, 0.46, 0.43]), torch.tensor([0.28, 0.28, 0.30])
    m, s = mean[:, None, None], std[:, None, None]
    fns = {"c": lambda: normalize_images_c(imgs, mean, std),
           "torch": lambda: (imgs.permute(0, 3, 1, 2).float() / 255 - m) / s}
    times = _race()(fns, repeats)
    return row_from_times("perf", "C kernel normalise (ctypes)", times, "c", "torch",
                          note="uint8 (256, 64, 64, 3) -> normalised float32 (256, 3, 64, 64): one C pass "
                               "through ctypes vs PyTorch's float, divide, subtract, divide (a permuted view)")


def _cnn_row(repeats: int) -> Row:
    import time

    from foundations.models import get_stem_cnn

    torch.manual_seed(0)
    xb, yb = torch.randn(64, 3, 64, 64), torch.randint(0, 10, (64,))
    base = get_stem_cnn(10, [32, 64, 128], bn=True)

    eager = copy.deepcopy(base)
    compiled_base = copy.deepcopy(base)
    compiled = torch.compile(compiled_base)
    opts = {k: torch.optim.SGD(m.parameters(), lr=0.1, momentum=0.9) for k, m in (("eager", eager), ("compiled", compiled_base))}

    def step(model: torch.nn.Module, opt: torch.optim.Optimizer) -> None:
        F.cross_entropy(model(xb), yb).backward()
        opt.step()
        opt.zero_grad()

    start = time.perf_counter()
    step(compiled, opts["compiled"])
    first = time.perf_counter() - start
    times = _race()({"compiled": functools.partial(step, compiled, opts["compiled"]),
                     "eager": functools.partial(step, eager, opts["eager"])}, repeats)
    return row_from_times("perf", "CNN train step compiled", times, "compiled", "eager",
                          note=f"torch.compile of Lesson 12's get_stem_cnn(10, [32, 64, 128], bn=True), forward + "
                               f"backward + SGD step, batch 64 at 64 px; first call (compiling) {first:.1f} s")


def _lstm_row(repeats: int) -> Row:
    import time

    from foundations.text import LSTMLayer

    torch.manual_seed(0)
    layer = LSTMLayer(300, 300)
    x, state = torch.randn(64, 70, 300), (torch.zeros(64, 300), torch.zeros(64, 300))
    compiled = torch.compile(copy.deepcopy(layer))
    with torch.no_grad():
        start = time.perf_counter()
        compiled(x, state)
        first = time.perf_counter() - start
        times = _race()({"compiled": lambda: compiled(x, state), "eager": lambda: layer(x, state)}, repeats)
    return row_from_times("perf", "LSTM layer fwd compiled", times, "compiled", "eager",
                          note=f"torch.compile of LSTMLayer (the loop unrolled), 64 x 70 steps x 300, forward; "
                               f"first call (compiling) {first:.1f} s")


def _ddp_rows(repeats: int) -> list[Row]:
    from foundations.perf import launch

    rows = []
    for bs in (128, 512):
        times: dict[str, list[float]] = {"2 processes": [], "1 process": []}
        rates: dict[str, list[float]] = {"2 processes": [], "1 process": []}
        for _ in range(repeats):
            for name, n in (("2 processes", 2), ("1 process", 1)):
                out = json.loads(launch(SCRIPT, n, ["--bs", str(bs), "--n-valid", "1000"]).strip().splitlines()[-1])
                times[name].append(out["train_seconds"])
                rates[name].append(out["images_per_second"])
        rows.append(row_from_times(
            "perf", f"DDP 2 procs vs 1, batch {bs}", times, "2 processes", "1 process",
            note=f"lessons/ddp_mnist.py, one epoch of 50,000 MNIST images, global batch {bs}, one thread per "
                 f"process, gloo on 127.0.0.1: {statistics.median(rates['2 processes']):,.0f} vs "
                 f"{statistics.median(rates['1 process']):,.0f} images/s (training passes only)"))
    return rows


def group_perf(ctx) -> list[Row]:  # noqa: ANN001 (benchmarks.suite.Context)
    """Lesson 13's rows (see the module's docstring); the compiled and DDP rows in full mode only."""
    reps = max(3, ctx.repeats)
    rows = [*_numba_rows(reps), _relu_row(reps), _c_kernel_row(reps)]
    if ctx.quick:
        return rows
    with fresh_inductor_cache("bench_perf_inductor_"):  # first calls are first compiles
        rows += [_cnn_row(reps), _lstm_row(reps)]
    return rows + _ddp_rows(3)
