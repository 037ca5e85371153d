"""Lesson 13 exercises: a C function through ctypes, and the backward of a C++ operation.

Page: lessons/13_cpp. Replace each ``raise NotImplementedError`` line with your code, then grade it:

    .venv/bin/pytest exercises -k zlib_adler32
    .venv/bin/pytest exercises -k cpp_relu_backward

``zlib_adler32`` must call zlib's C function through ``ctypes`` (Python's ``zlib`` module is refused
during grading). ``CppReluBackward.backward`` must be written with PyTorch operations (the C++
backward, ``general_relu_cpp`` and ``GeneralReluFunction`` are refused); its forward calls the C++
forward of ``foundations.perf.cpp_ops()``, which needs a C++ compiler (the page says which).
"""

from __future__ import annotations

import ctypes
import ctypes.util

import torch
from torch import Tensor

from foundations.perf import cpp_ops


def zlib_adler32(data: bytes) -> int:
    """The Adler-32 checksum of ``data``, computed by zlib's C function through ``ctypes``.

    zlib declares ``uLong adler32(uLong adler, const Bytef *buf, uInt len)``. Load the library
    (``ctypes.CDLL(ctypes.util.find_library("z"))``), declare ``argtypes`` (``ctypes.c_ulong``,
    ``ctypes.c_char_p``, ``ctypes.c_uint``) and ``restype`` (``ctypes.c_ulong``), and return
    ``adler32(1, data, len(data))``, the checksum starting from 1 as zlib's documentation says: a
    Python int in ``[0, 2**32)``, equal to Python's ``zlib.adler32(data)``.

    >>> zlib_adler32(b"abc")
    38600999
    """
    # BEGIN SOLUTION
    lib = ctypes.CDLL(ctypes.util.find_library("z"))
    lib.adler32.argtypes = [ctypes.c_ulong, ctypes.c_char_p, ctypes.c_uint]
    lib.adler32.restype = ctypes.c_ulong
    return int(lib.adler32(1, data, len(data)))
    # END SOLUTION


class CppReluBackward(torch.autograd.Function):
    """GeneralRelu, ``y = min(leaky_relu(x, leak) - sub, maxv)``: forward in C++, backward yours.

    ``CppReluBackward.apply(x, leak, sub, maxv)`` with floats (``maxv`` may be ``float("inf")``).
    The forward (given) saves ``x`` and the three numbers. Write ``backward(ctx, grad)``: return the
    gradient with respect to ``x`` and ``None`` for each number,

        dL/dx = grad * slope * keep,   slope = 1 where x > 0 else leak,
                                       keep  = 1 where leaky_relu(x) - sub <= maxv else 0

    (PyTorch's conventions at the kinks: at ``x = 0`` the slope is ``leak``; at the ceiling the
    gradient passes). Use tensor operations (``torch.where``), of ``x``'s shape and dtype.
    """

    @staticmethod
    def forward(ctx: torch.autograd.function.FunctionCtx, x: Tensor, leak: float, sub: float, maxv: float) -> Tensor:
        ctx.save_for_backward(x)
        ctx.params = (leak, sub, maxv)
        return cpp_ops().general_relu_forward(x, leak, sub, maxv)

    @staticmethod
    def backward(ctx: torch.autograd.function.FunctionCtx, grad: Tensor) -> tuple[Tensor, None, None, None]:
        # BEGIN SOLUTION
        (x,) = ctx.saved_tensors
        leak, sub, maxv = ctx.params
        leaky = torch.where(x > 0, x, x * leak)
        slope = torch.where(x > 0, torch.ones_like(x), torch.full_like(x, leak))
        keep = (leaky - sub <= maxv).to(x.dtype)
        return grad * slope * keep, None, None, None
        # END SOLUTION
