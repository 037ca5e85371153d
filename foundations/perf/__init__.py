"""Beyond Lesson 12: compiling, C and C++ from Python, and training on several processes.

Lesson 13 (lessons/13_compiling, lessons/13_cpp, lessons/13_distributed): the 2019 course's
performance promise (JIT, C/C++, distributed training; Lessons 13-14 in Swift for TensorFlow) with
today's Python tools. Built on the core, ``foundations.data`` and ``foundations.callbacks``;
nothing else in the library imports it.

- :mod:`foundations.perf.jit`: Numba, ``torch.compile``'s graphs and graph breaks, compile time;
- :mod:`foundations.perf.native`: a C kernel through ctypes, a PyTorch C++ extension with autograd;
- :mod:`foundations.perf.distributed`: ``DistributedDataParallel`` through the ``Learner``, the
  all-reduce, and the large-batch rules.
"""

from foundations.perf.distributed import (
    DDPStepTimes, DistributedSampler, DistributedTrainer, bucketed_all_reduce, free_port, gradual_warmup, init_distributed,
    launch, linear_scaling_lr, rank_and_world, ring_all_reduce, spawn, time_ddp_step,
    time_split_all_reduce,
)
from foundations.perf.jit import BreakReport, FirstCall, GraphRecorder, first_call_and_steady, graph_breaks, matmul_numba, numba_matmul_kernel
from foundations.perf.native import (
    CSRC, CompilerNotFoundError, GeneralReluCpp, GeneralReluFunction, build_shared_library, c_kernels, cpp_ops,
    find_compiler, general_relu_cpp, matmul_blocked_cpp, matmul_loops_cpp, normalize_images_c,
)

__all__ = [
    "CSRC", "BreakReport", "CompilerNotFoundError", "DDPStepTimes", "DistributedSampler", "DistributedTrainer", "FirstCall",
    "GeneralReluCpp", "GeneralReluFunction", "GraphRecorder", "bucketed_all_reduce", "build_shared_library",
    "c_kernels", "cpp_ops", "find_compiler", "first_call_and_steady", "free_port", "general_relu_cpp",
    "gradual_warmup", "graph_breaks", "init_distributed", "launch", "linear_scaling_lr", "matmul_blocked_cpp",
    "matmul_loops_cpp", "matmul_numba", "normalize_images_c", "numba_matmul_kernel", "rank_and_world",
    "ring_all_reduce", "spawn", "time_ddp_step", "time_split_all_reduce",
]
