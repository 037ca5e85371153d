"""C and C++ from Python: a C kernel through ``ctypes``, a PyTorch C++ extension with autograd.

Derived in Lesson 13, "C and C++ from Python" (lessons/13_cpp), the Python form of the 2019
course's Lesson 14 (Swift calling C libraries directly). Two ways in:

- **A shared library called through** ``ctypes``: :func:`build_shared_library` compiles a C file with
  the system's C compiler into ``lib<name>-<hash>.so`` (cached: the hash covers the source, the
  flags and the compiler's version), and :func:`c_kernels` loads ``csrc/kernels.c`` with every
  function's signature declared (``argtypes``, ``restype``); :func:`normalize_images_c` calls its
  one-pass image kernel on tensors.
- **A PyTorch C++ extension**: :func:`cpp_ops` builds ``csrc/ops.cpp`` with
  ``torch.utils.cpp_extension.load_inline`` (the system's C++ compiler and ninja), once per source:
  a rebuild finds the same folder and loads in milliseconds. :class:`GeneralReluFunction` gives its
  fused GeneralRelu an autograd backward; :func:`matmul_loops_cpp` and :func:`matmul_blocked_cpp` are
  Lesson 8's matmul compiled.

No compiler: :class:`CompilerNotFoundError`, which names what to install.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import platform
import shutil
import subprocess
import sys
from functools import cache
from pathlib import Path
from types import ModuleType

import torch
from torch import Tensor

from foundations import checks
from foundations.data.artifacts import locked
from foundations.data.cache import cache_dir

__all__ = [
    "CSRC",
    "CompilerNotFoundError",
    "GeneralReluCpp",
    "GeneralReluFunction",
    "build_shared_library",
    "c_kernels",
    "cpp_ops",
    "find_compiler",
    "general_relu_cpp",
    "matmul_blocked_cpp",
    "matmul_loops_cpp",
    "normalize_images_c",
]

CSRC = Path(__file__).resolve().parent / "csrc"
"""The folder of the library's C and C++ sources (``kernels.c``, ``ops.cpp``), ``foundations/perf/csrc``.
Derived in Lesson 13, "C and C++ from Python" (lessons/13_cpp).

:meta hide-value:
"""

_INSTALL = {
    "Linux": "install one with your package manager: `sudo apt install build-essential` (Debian, Ubuntu), "
    "`sudo dnf install gcc-c++` (Fedora)",
    "Darwin": "install Apple's command-line tools: `xcode-select --install`",
    "Windows": "install the Build Tools for Visual Studio (C++ workload) and run from its developer prompt",
}


class CompilerNotFoundError(RuntimeError):
    """No C or C++ compiler (or no ninja) was found: the message says which, where it looked, and what to install.

    Derived in Lesson 13, "C and C++ from Python" (lessons/13_cpp).
    """


def find_compiler(language: str = "c") -> str:
    """The path of the system's C (``language="c"``) or C++ (``"c++"``) compiler.

    ``$CC`` / ``$CXX`` first, then ``cc``, ``gcc``, ``clang`` (``c++``, ``g++``, ``clang++``).
    Raises :class:`CompilerNotFoundError` naming what to install on this system.
    Derived in Lesson 13, "C and C++ from Python" (lessons/13_cpp).
    """
    if language not in ("c", "c++"):
        raise ValueError(checks.message("find_compiler", "language", "'c' or 'c++'", language))
    env, names = ("CC", ("cc", "gcc", "clang")) if language == "c" else ("CXX", ("c++", "g++", "clang++"))
    wanted = [os.environ[env]] if os.environ.get(env) else list(names)
    for name in wanted:
        found = shutil.which(name)
        if found:
            return found
    how = _INSTALL.get(platform.system(), "install a C/C++ compiler for your system")
    raise CompilerNotFoundError(
        f"find_compiler: no {language.upper()} compiler found (looked for {', '.join(wanted)} on PATH); "
        f"Lesson 13's C and C++ pages compile code with it: {how}"
    )


def _compiler_version(compiler: str) -> str:
    out = subprocess.run([compiler, "--version"], capture_output=True, text=True, check=False)
    return (out.stdout or out.stderr).strip()


def _digest(*parts: str | bytes) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(part.encode() if isinstance(part, str) else part)
        h.update(b"\0")
    return h.hexdigest()[:16]


def build_shared_library(name: str, source: str | os.PathLike[str], flags: tuple[str, ...] = ("-O3",)) -> Path:
    """Compile the C file ``source`` into a shared library and return its path; cached.

    The library is ``<cache>/builds/lib<name>-<hash>.so`` (``<cache>`` is the data cache,
    ``foundations.data.cache_dir()``), where the hash covers the source text, the flags and the
    compiler's ``--version``: an unchanged source is never compiled twice, and a changed one gets a
    new file (a loaded library cannot be replaced under a running process). The compiler writes to a
    temporary name that is renamed into place, under a lock, so two processes never see half a file.
    Derived in Lesson 13, "C and C++ from Python" (lessons/13_cpp).
    """
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(checks.message("build_shared_library", "name", "a name of letters, digits and _", name))
    path = Path(source)
    if not path.is_file():
        raise FileNotFoundError(f"build_shared_library: expected source to be a C file, got {str(source)!r} (not found)")
    flags = tuple(flags)
    compiler = find_compiler("c")
    text = path.read_bytes()
    out = cache_dir() / "builds" / f"lib{name}-{_digest(text, ' '.join(flags), _compiler_version(compiler))}.so"
    if out.exists():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    with locked(out.with_suffix(".lock")):
        if out.exists():  # built by another process while this one waited
            return out
        part = out.with_name(f"{out.stem}.{os.getpid()}.part")
        cmd = [compiler, *flags, "-shared", "-fPIC", "-std=c99", str(path), "-o", str(part)]
        res = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if res.returncode != 0:
            part.unlink(missing_ok=True)
            raise RuntimeError(f"build_shared_library: {Path(compiler).name} failed on {path.name}:\n{res.stderr.strip()}")
        os.replace(part, out)
    return out


@cache
def c_kernels() -> ctypes.CDLL:
    """``csrc/kernels.c`` compiled and loaded, with each function's C signature declared.

    ctypes cannot read a C header: without ``argtypes`` it would pass Python ints as 32-bit ``int``
    and read every result as ``int``. Declared here: ``normalize_u8_hwc(const uint8_t*, float*,
    int64_t n, int64_t h, int64_t w, int64_t c, const float* mean, const float* std) -> void`` and
    ``sum_floats(const float*, int64_t) -> double``.
    Derived in Lesson 13, "C and C++ from Python" (lessons/13_cpp).
    """
    lib = ctypes.CDLL(str(build_shared_library("kernels", CSRC / "kernels.c")))
    ptr, i64 = ctypes.c_void_p, ctypes.c_int64
    lib.normalize_u8_hwc.argtypes = [ptr, ptr, i64, i64, i64, i64, ptr, ptr]
    lib.normalize_u8_hwc.restype = None
    lib.sum_floats.argtypes = [ptr, i64]
    lib.sum_floats.restype = ctypes.c_double
    return lib


def normalize_images_c(images: Tensor, mean: Tensor, std: Tensor) -> Tensor:
    """``(images / 255 - mean) / std`` moved to channel-first order, in one pass of C.

    ``images`` is a ``(N, H, W, C)`` uint8 tensor (decoded images as PIL gives them), ``mean`` and
    ``std`` ``(C,)``; returns ``(N, C, H, W)`` float32, equal (to float32 rounding) to
    ``(images.permute(0, 3, 1, 2).float() / 255 - mean[:, None, None]) / std[:, None, None]``.
    The tensors' memory is handed to C as raw pointers, so each is made contiguous first and kept
    alive until the call returns. Derived in Lesson 13, "C and C++ from Python" (lessons/13_cpp).
    """
    images = checks.tensor("normalize_images_c", "images", images, ndim=4, dtype=torch.uint8)
    n, h, w, c = images.shape
    stats = []
    for label, t in (("mean", mean), ("std", std)):
        t = checks.tensor("normalize_images_c", label, t, ndim=1, floating=True)
        if t.numel() != c:
            raise ValueError(f"normalize_images_c: expected {label} of shape ({c},) for {c}-channel images, got {tuple(t.shape)}")
        stats.append(t.detach().to(torch.float32).contiguous())
    if not bool((stats[1] > 0).all()):
        raise ValueError("normalize_images_c: expected every std to be positive, got " + str(stats[1].tolist()))
    src = images.contiguous()
    out = torch.empty(n, c, h, w, dtype=torch.float32)
    c_kernels().normalize_u8_hwc(src.data_ptr(), out.data_ptr(), n, h, w, c, stats[0].data_ptr(), stats[1].data_ptr())
    return out


def _ninja_on_path() -> None:
    """Make ``ninja`` findable: the one pip installs lies beside this Python, which need not be on PATH."""
    if shutil.which("ninja"):
        return
    here = Path(sys.executable).parent
    if (here / "ninja").exists():
        os.environ["PATH"] = f"{here}{os.pathsep}{os.environ.get('PATH', '')}"
        return
    raise CompilerNotFoundError(
        "cpp_ops: PyTorch builds C++ extensions with ninja, which was not found on PATH: "
        "`pip install ninja` (requirements.txt pins it; `make setup` installs it)"
    )


_CPP_FUNCTIONS: tuple[str, ...] = ("general_relu_forward", "general_relu_backward", "matmul_loops", "matmul_blocked")


@cache
def cpp_ops() -> ModuleType:
    """``csrc/ops.cpp`` built as a PyTorch extension with ``load_inline``, and imported.

    Its functions: ``general_relu_forward(x, leak, sub, maxv)``, ``general_relu_backward(grad, x,
    leak, sub, maxv)``, ``matmul_loops(a, b)``, ``matmul_blocked(a, b, block)``. The build folder is
    ``<cache>/builds/ops-<hash>`` (the hash covers the source, the compiler, PyTorch's version and
    install folder, and the flags), so the first call compiles (tens of seconds) and every later one, in any process, finds
    the built module (milliseconds). Needs a C++ compiler and ninja: :class:`CompilerNotFoundError`
    says what to install.
    Derived in Lesson 13, "C and C++ from Python" (lessons/13_cpp).
    """
    from torch.utils.cpp_extension import load_inline  # imports setuptools: only when building

    compiler = find_compiler("c++")
    _ninja_on_path()
    source = (CSRC / "ops.cpp").read_text()
    flags = ["-O3", "-fno-trapping-math"]  # the latter lets GCC compute the selects of a loop as vectors
    # the PyTorch install is in the key: another environment compiles against other headers, so it
    # gets its own folder instead of making ninja rebuild this one's
    digest = _digest(source, _compiler_version(compiler), torch.__version__, str(Path(torch.__file__).parent),
                     " ".join(flags))
    build = cache_dir() / "builds" / f"ops-{digest}"
    build.mkdir(parents=True, exist_ok=True)
    env_cxx = os.environ.get("CXX")
    os.environ["CXX"] = compiler  # the compiler found above is the one PyTorch uses
    try:
        with locked(build / "build.lock"):  # two pages executing at once build once
            return load_inline(
                name=f"foundations_ops_{digest}", cpp_sources=[source], functions=list(_CPP_FUNCTIONS),
                extra_cflags=flags, build_directory=str(build), verbose=False,
            )
    finally:
        if env_cxx is None:
            os.environ.pop("CXX", None)
        else:
            os.environ["CXX"] = env_cxx


def _relu_params(fn: str, leak: float | None, sub: float | None, maxv: float | None) -> tuple[float, float, float]:
    leak = checks.real_or_none(fn, "leak", leak, min=0.0, max=1.0, max_open=True)
    sub = checks.real_or_none(fn, "sub", sub)
    maxv = checks.real_or_none(fn, "maxv", maxv)
    return leak or 0.0, sub or 0.0, float("inf") if maxv is None else maxv


class GeneralReluFunction(torch.autograd.Function):
    """Lesson 10's GeneralRelu as one C++ pass forward and one backward, with autograd.

    ``GeneralReluFunction.apply(x, leak, sub, maxv)`` (floats; ``maxv`` may be ``inf``). ``forward``
    saves the input; ``backward`` hands ``(grad, x)`` to C++, which recomputes which branch each
    element took. The three numbers get no gradient (``None``).
    Derived in Lesson 13, "C and C++ from Python" (lessons/13_cpp).
    """

    @staticmethod
    def forward(ctx: torch.autograd.function.FunctionCtx, x: Tensor, leak: float, sub: float, maxv: float) -> Tensor:
        """``general_relu_forward(x, leak, sub, maxv)`` in C++; keeps ``x`` and the numbers for the backward."""
        ctx.save_for_backward(x)
        ctx.params = (leak, sub, maxv)
        return cpp_ops().general_relu_forward(x, leak, sub, maxv)

    @staticmethod
    def backward(ctx: torch.autograd.function.FunctionCtx, grad: Tensor) -> tuple[Tensor, None, None, None]:
        """The gradient with respect to ``x`` from ``general_relu_backward`` in C++; none for the numbers."""
        (x,) = ctx.saved_tensors
        return cpp_ops().general_relu_backward(grad, x, *ctx.params), None, None, None


def general_relu_cpp(x: Tensor, leak: float | None = None, sub: float | None = None, maxv: float | None = None) -> Tensor:
    """``min(leaky_relu(x, leak) - sub, maxv)`` by the C++ extension, differentiable.

    The same function as ``foundations.conv.GeneralRelu(leak, sub, maxv)(x)`` (``None``: no leak, no
    shift, no ceiling), for float32 or float64 CPU tensors. Derived in Lesson 13, "C and C++ from
    Python" (lessons/13_cpp).
    """
    x = checks.tensor("general_relu_cpp", "x", x, floating=True)
    if x.device.type != "cpu" or x.dtype not in (torch.float32, torch.float64):
        raise TypeError(f"general_relu_cpp: expected a float32 or float64 CPU tensor, got {x.dtype} on {x.device}")
    return GeneralReluFunction.apply(x, *_relu_params("general_relu_cpp", leak, sub, maxv))


class GeneralReluCpp(torch.nn.Module):
    """A layer computing :func:`general_relu_cpp`: a drop-in for ``foundations.conv.GeneralRelu`` on the CPU.

    Derived in Lesson 13, "C and C++ from Python" (lessons/13_cpp).
    """

    def __init__(self, leak: float | None = None, sub: float | None = None, maxv: float | None = None) -> None:
        super().__init__()
        self.leak, self.sub, self.maxv = leak, sub, maxv
        _relu_params("GeneralReluCpp", leak, sub, maxv)  # refuse bad numbers now, not at the first batch

    def forward(self, x: Tensor) -> Tensor:
        return general_relu_cpp(x, self.leak, self.sub, self.maxv)

    def extra_repr(self) -> str:
        return f"leak={self.leak}, sub={self.sub}, maxv={self.maxv}"


def _matmul_args(fn: str, a: Tensor, b: Tensor) -> None:
    a = checks.tensor(fn, "a", a, ndim=2, floating=True)
    b = checks.tensor(fn, "b", b, ndim=2, floating=True)
    if a.shape[1] != b.shape[0]:
        raise ValueError(f"{fn}: expected a (n, k) @ (k, m) product, got {tuple(a.shape)} @ {tuple(b.shape)}")
    if a.dtype != b.dtype or a.dtype not in (torch.float32, torch.float64):
        raise TypeError(f"{fn}: expected a and b both float32 or both float64, got {a.dtype} and {b.dtype}")


def matmul_loops_cpp(a: Tensor, b: Tensor) -> Tensor:
    """Lesson 8's three loops (``c[i, j] = sum_k a[i, k] b[k, j]``), compiled C++: ``(n, k) @ (k, m) -> (n, m)``.

    Derived in Lesson 13, "Compiling" (lessons/13_compiling).
    """
    _matmul_args("matmul_loops_cpp", a, b)
    return cpp_ops().matmul_loops(a, b)


def matmul_blocked_cpp(a: Tensor, b: Tensor, block: int = 64) -> Tensor:
    """The same product in ``block``-sized tiles, the inner loop over contiguous rows (vectorised).

    Derived in Lesson 13, "Compiling" (lessons/13_compiling).
    """
    _matmul_args("matmul_blocked_cpp", a, b)
    block = checks.positive_int("matmul_blocked_cpp", "block", block)
    return cpp_ops().matmul_blocked(a, b, block)
