"""foundations.perf.native: the C kernel through ctypes (and cffi), the C++ extension, compilers, caching.

Oracles: ``foundations.conv.GeneralRelu`` (values and autograd gradients, float64), ``gradcheck``
(finite differences), ``@`` and PyTorch's own permute/normalise. The C++ extension is built once
into the data cache (the pages share it); the C library tests build into a temporary cache.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import sys
from pathlib import Path

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from conftest import CLOSE64, F64, randn
from foundations.conv import GeneralRelu
from foundations.perf import native
from foundations.perf.native import (
    CSRC, CompilerNotFoundError, GeneralReluCpp, build_shared_library, c_kernels, cpp_ops, find_compiler,
    general_relu_cpp, matmul_blocked_cpp, matmul_loops_cpp, normalize_images_c,
)
from foundations.testing import check_close

pytestmark = pytest.mark.lesson13

RELU_PARAMS = [(None, None, None), (0.1, None, None), (None, 0.4, None), (0.1, 0.4, 6.0), (0.2, -0.3, 0.5), (0.0, 0.0, 0.0)]


@pytest.fixture(scope="module")
def ops():  # noqa: ANN201
    return cpp_ops()


@pytest.mark.parametrize("leak, sub, maxv", RELU_PARAMS)
def test_general_relu_cpp_equals_the_python_layer_values_and_gradients(ops, leak, sub, maxv) -> None:  # noqa: ANN001
    x = (randn(40, 30, seed=1) * 3).requires_grad_()
    x_ref = x.detach().clone().requires_grad_()
    got, expected = general_relu_cpp(x, leak, sub, maxv), GeneralRelu(leak, sub, maxv)(x_ref)
    check_close(got, expected, what=f"general_relu_cpp{(leak, sub, maxv)}", **CLOSE64)
    w = randn(40, 30, seed=2)
    (got * w).sum().backward()
    (expected * w).sum().backward()
    check_close(x.grad, x_ref.grad, what="its gradient", **CLOSE64)


@pytest.mark.parametrize("leak, sub, maxv", RELU_PARAMS[:4])
def test_general_relu_cpp_passes_gradcheck(ops, leak, sub, maxv) -> None:  # noqa: ANN001
    x = randn(6, 7, seed=3)
    x = torch.where(x.abs() < 0.05, x + 0.1, x).requires_grad_()  # away from the kinks, where h straddles them
    assert torch.autograd.gradcheck(lambda t: general_relu_cpp(t, leak, sub, maxv), (x,), eps=1e-6, atol=1e-7)


@given(st.integers(1, 5), st.integers(1, 40), st.floats(0, 0.9), st.floats(-1, 1), st.floats(-2, 8))
def test_general_relu_cpp_any_shape_float32(ops, d0, d1, leak, sub, maxv) -> None:  # noqa: ANN001
    x = torch.randn(d0, d1, 3, generator=torch.Generator().manual_seed(d0 * d1))
    check_close(general_relu_cpp(x, leak, sub, maxv), GeneralRelu(leak, sub, maxv)(x), what="float32", atol=1e-6, rtol=1e-6)


def test_general_relu_cpp_layer_trains_in_a_model(ops) -> None:  # noqa: ANN001
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(5, 8), GeneralReluCpp(0.1, 0.4, 6.0), torch.nn.Linear(8, 2))
    ref = torch.nn.Sequential(torch.nn.Linear(5, 8), GeneralRelu(0.1, 0.4, 6.0), torch.nn.Linear(8, 2))
    ref.load_state_dict(model.state_dict())
    x = torch.randn(16, 5)
    for m in (model, ref):
        m(x).square().mean().backward()
    check_close(model[0].weight.grad, ref[0].weight.grad, what="first layer's gradient", atol=1e-6, rtol=1e-5)
    assert "leak=0.1, sub=0.4, maxv=6.0" in repr(model)


def test_general_relu_cpp_refuses_bad_input(ops) -> None:  # noqa: ANN001
    with pytest.raises(TypeError, match="general_relu_cpp: expected x to be a floating-point tensor, got"):
        general_relu_cpp(torch.arange(3))
    with pytest.raises(TypeError, match="float32 or float64 CPU tensor, got torch.float16"):
        general_relu_cpp(torch.zeros(3, dtype=torch.float16))
    with pytest.raises(ValueError, match="leak"):
        general_relu_cpp(torch.zeros(3), leak=1.5)
    with pytest.raises(ValueError, match="GeneralReluCpp: expected leak"):
        GeneralReluCpp(leak=-0.1)
    with pytest.raises(RuntimeError, match="general_relu_backward: expected grad of shape"):
        ops.general_relu_backward(torch.zeros(2), torch.zeros(3), 0.0, 0.0, 1.0)


@pytest.mark.parametrize("n, k, m, block", [(5, 784, 10, 64), (1, 1, 1, 1), (33, 17, 65, 16), (64, 64, 64, 7), (3, 200, 2, 500)])
def test_cpp_matmuls_equal_the_product(ops, n, k, m, block) -> None:  # noqa: ANN001
    a, b = randn(n, k, seed=n), randn(k, m, seed=m)
    check_close(matmul_loops_cpp(a, b), a @ b, what=f"matmul_loops_cpp {n}x{k} @ {k}x{m}", **CLOSE64)
    check_close(matmul_blocked_cpp(a, b, block), a @ b, what=f"matmul_blocked_cpp block {block}", **CLOSE64)
    a32, b32 = a.float(), b.float()
    check_close(matmul_blocked_cpp(a32, b32), a32 @ b32, what="float32", atol=1e-4, rtol=1e-4)


def test_cpp_matmuls_refuse_bad_shapes_and_dtypes(ops) -> None:  # noqa: ANN001
    with pytest.raises(ValueError, match=r"matmul_loops_cpp: expected a \(n, k\) @ \(k, m\) product, got \(2, 3\) @ \(4, 5\)"):
        matmul_loops_cpp(torch.zeros(2, 3), torch.zeros(4, 5))
    with pytest.raises(TypeError, match="both float32 or both float64, got torch.float32 and torch.float64"):
        matmul_blocked_cpp(torch.zeros(2, 3), torch.zeros(3, 5, dtype=F64))
    with pytest.raises(ValueError, match="block"):
        matmul_blocked_cpp(torch.zeros(2, 3), torch.zeros(3, 5), block=0)
    with pytest.raises(RuntimeError, match=r"matmul_loops: expected a \(n, k\) @ \(k, m\) product"):
        ops.matmul_loops(torch.zeros(2, 3), torch.zeros(4, 5))  # the C++ checks hold without the Python ones


def test_cpp_ops_second_call_is_the_built_module(ops) -> None:  # noqa: ANN001
    assert cpp_ops() is ops
    cpp_ops.cache_clear()
    try:
        again = cpp_ops()  # loads from the build folder: no compile (a compile takes tens of seconds)
    finally:
        cpp_ops.cache_clear()
    assert again.__name__ == ops.__name__ and Path(again.__file__).parent.parent.name == "builds"


# ---- the C library --------------------------------------------------------------------------------


@pytest.fixture
def tmp_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("FOUNDATIONS_DATA", str(tmp_path))
    c_kernels.cache_clear()
    yield tmp_path
    c_kernels.cache_clear()


def test_normalize_images_c_equals_torch(tmp_cache: Path) -> None:
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (3, 17, 9, 3), dtype=torch.uint8, generator=g)
    mean, std = torch.tensor([0.485, 0.456, 0.406]), torch.tensor([0.229, 0.224, 0.225])
    expected = (images.permute(0, 3, 1, 2).float() / 255 - mean[:, None, None]) / std[:, None, None]
    got = normalize_images_c(images, mean, std)
    assert got.shape == (3, 3, 17, 9) and got.dtype == torch.float32
    check_close(got, expected, what="normalize_images_c", atol=2e-6, rtol=1e-6)
    one = normalize_images_c(images[:, :, :, :1].contiguous(), mean[:1], std[:1])  # one channel
    check_close(one, expected[:, :1], what="one channel", atol=2e-6, rtol=1e-6)
    strided = images.transpose(1, 2)  # not contiguous: copied before C reads it
    check_close(normalize_images_c(strided, mean, std), expected.transpose(2, 3), what="strided", atol=2e-6, rtol=1e-6)


def test_normalize_images_c_refuses_bad_input(tmp_cache: Path) -> None:
    x = torch.zeros(1, 2, 2, 3, dtype=torch.uint8)
    with pytest.raises(TypeError, match="expected images to be a 4-d torch.uint8 tensor, got"):
        normalize_images_c(x.float(), torch.zeros(3), torch.ones(3))
    with pytest.raises(ValueError, match=r"expected mean of shape \(3,\) for 3-channel images, got \(2,\)"):
        normalize_images_c(x, torch.zeros(2), torch.ones(3))
    with pytest.raises(ValueError, match="every std to be positive"):
        normalize_images_c(x, torch.zeros(3), torch.tensor([1.0, 0.0, 1.0]))


def test_ctypes_signatures_are_declared_and_cffi_reads_the_same_library(tmp_cache: Path) -> None:
    lib = c_kernels()
    x = torch.arange(10, dtype=torch.float32)
    assert lib.sum_floats.restype is ctypes.c_double
    assert lib.sum_floats(x.data_ptr(), x.numel()) == 45.0
    cffi = pytest.importorskip("cffi")
    ffi = cffi.FFI()
    ffi.cdef("double sum_floats(const float *x, int64_t n);")
    clib = ffi.dlopen(str(build_shared_library("kernels", CSRC / "kernels.c")))
    assert clib.sum_floats(ffi.cast("float *", x.data_ptr()), x.numel()) == 45.0


def test_build_shared_library_caches_and_rebuilds_on_change(tmp_cache: Path) -> None:
    src = tmp_cache / "twice.c"
    src.write_text("int twice(int x) { return 2 * x; }\n")
    first = build_shared_library("twice", src)
    assert first.parent == tmp_cache / "builds" and first.name.startswith("libtwice-")
    stamp = first.stat().st_mtime_ns
    assert build_shared_library("twice", src) == first and first.stat().st_mtime_ns == stamp  # not rebuilt
    assert ctypes.CDLL(str(first)).twice(21) == 42
    src.write_text("int twice(int x) { return x + x; }\n")
    second = build_shared_library("twice", src)
    assert second != first and second.exists()
    assert not list((tmp_cache / "builds").glob("*.part"))  # nothing half-written left behind


def test_build_shared_library_reports_compile_errors_and_bad_arguments(tmp_cache: Path) -> None:
    src = tmp_cache / "bad.c"
    src.write_text("int broken( { }\n")
    with pytest.raises(RuntimeError, match="build_shared_library: .* failed on bad.c:\n.*error"):
        build_shared_library("bad", src)
    with pytest.raises(FileNotFoundError, match="expected source to be a C file, got 'nowhere.c'"):
        build_shared_library("x", "nowhere.c")
    with pytest.raises(ValueError, match="expected name to be a name of letters"):
        build_shared_library("no-dash", src)


def test_a_missing_compiler_says_what_to_install(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("CC", raising=False)
    monkeypatch.delenv("CXX", raising=False)
    with pytest.raises(CompilerNotFoundError, match=r"no C\+\+ compiler found \(looked for c\+\+, g\+\+, clang\+\+ on PATH\).*apt install build-essential"):
        find_compiler("c++")
    monkeypatch.setenv("CC", "my-cc")
    with pytest.raises(CompilerNotFoundError, match=r"no C compiler found \(looked for my-cc on PATH\)"):
        find_compiler("c")
    with pytest.raises(ValueError, match="expected language to be 'c' or 'c\\+\\+'"):
        find_compiler("rust")


def test_ninja_is_found_beside_python_or_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.setattr(sys, "executable", str(tmp_path / "python"))
    with pytest.raises(CompilerNotFoundError, match="ninja, which was not found on PATH: `pip install ninja`"):
        native._ninja_on_path()
    (tmp_path / "ninja").write_text("#!/bin/sh\n")
    (tmp_path / "ninja").chmod(0o755)
    native._ninja_on_path()
    assert os.environ["PATH"].split(os.pathsep)[0] == str(tmp_path) and shutil.which("ninja")
