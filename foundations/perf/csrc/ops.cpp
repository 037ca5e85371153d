// PyTorch C++ operations of the course, built at run time by torch.utils.cpp_extension.load_inline.
//
// Lesson 13, "C and C++ from Python" (lessons/13_cpp) and "Compiling" (lessons/13_compiling).
// - general_relu_forward / general_relu_backward: Lesson 10's GeneralRelu,
//   y = min(leaky_relu(x, leak) - sub, maxv), fused into one pass over the tensor each way (the
//   Python layer makes three passes forward and three backward);
// - matmul_loops: Lesson 8's triple loop, compiled; matmul_blocked: the same sum in tiles that stay
//   in the cache, with the innermost loop over contiguous memory so the compiler vectorises it.
// CPU tensors of float32 or float64; one thread (the comparison is with single-threaded PyTorch).
// Built with -O3 -fno-trapping-math: without the second flag GCC keeps a branch for each comparison
// in the backward loop (a comparison may raise a floating-point exception) and does not vectorise it.
#include <torch/extension.h>

#include <algorithm>
#include <limits>

namespace {

void check_cpu_float(const torch::Tensor &t, const char *name) {
  TORCH_CHECK(t.device().is_cpu(), name, ": expected a CPU tensor, got one on ", t.device());
  TORCH_CHECK(t.scalar_type() == torch::kFloat || t.scalar_type() == torch::kDouble, name,
              ": expected float32 or float64, got ", t.scalar_type());
}

}  // namespace

// y = min(max(x, 0) + leak * min(x, 0) - sub, maxv), elementwise, in one pass. Written without
// branches (max, min and selects), so that the compiler turns the loop into vector instructions and
// the processor never guesses a sign wrong: random signs would cost a mispredicted branch per element.
torch::Tensor general_relu_forward(torch::Tensor x, double leak, double sub, double maxv) {
  check_cpu_float(x, "general_relu_forward");
  auto xc = x.contiguous();
  auto y = torch::empty_like(xc);
  AT_DISPATCH_FLOATING_TYPES(xc.scalar_type(), "general_relu_forward", [&] {
    const scalar_t *__restrict px = xc.data_ptr<scalar_t>();
    scalar_t *__restrict py = y.data_ptr<scalar_t>();
    const scalar_t l = leak, s = sub, m = maxv, zero = 0;
    const int64_t n = xc.numel();
    for (int64_t i = 0; i < n; ++i) {
      const scalar_t v = std::max(px[i], zero) + l * std::min(px[i], zero) - s;
      py[i] = std::min(v, m);
    }
  });
  return y;
}

// dL/dx = dL/dy * (x > 0 ? 1 : leak) * (leaky_relu(x) - sub <= maxv), PyTorch's conventions at the kinks.
torch::Tensor general_relu_backward(torch::Tensor grad, torch::Tensor x, double leak, double sub, double maxv) {
  check_cpu_float(x, "general_relu_backward");
  TORCH_CHECK(grad.sizes() == x.sizes(), "general_relu_backward: expected grad of shape ", x.sizes(),
              ", got ", grad.sizes());
  auto xc = x.contiguous();
  auto gc = grad.contiguous().to(xc.scalar_type());
  auto out = torch::empty_like(xc);
  AT_DISPATCH_FLOATING_TYPES(xc.scalar_type(), "general_relu_backward", [&] {
    const scalar_t *__restrict px = xc.data_ptr<scalar_t>();
    const scalar_t *__restrict pg = gc.data_ptr<scalar_t>();
    scalar_t *__restrict po = out.data_ptr<scalar_t>();
    const scalar_t l = leak, s = sub, m = maxv, zero = 0, one = 1;
    const int64_t n = xc.numel();
    for (int64_t i = 0; i < n; ++i) {
      const scalar_t v = std::max(px[i], zero) + l * std::min(px[i], zero) - s;
      const scalar_t slope = l + (one - l) * scalar_t(px[i] > zero);  // 1 or leak, as arithmetic
      po[i] = pg[i] * slope * scalar_t(v <= m);                        // 0 above the ceiling
    }
  });
  return out;
}

namespace {

void check_matmul(const torch::Tensor &a, const torch::Tensor &b, const char *name) {
  check_cpu_float(a, name);
  TORCH_CHECK(a.dim() == 2 && b.dim() == 2, name, ": expected two matrices, got ", a.dim(), "-d and ",
              b.dim(), "-d tensors");
  TORCH_CHECK(a.size(1) == b.size(0), name, ": expected a (n, k) @ (k, m) product, got ", a.sizes(),
              " @ ", b.sizes());
  TORCH_CHECK(a.scalar_type() == b.scalar_type(), name, ": expected both of one dtype, got ",
              a.scalar_type(), " and ", b.scalar_type());
}

}  // namespace

// c[i][j] = sum_k a[i][k] * b[k][j]: Lesson 8's three loops, in the same order.
torch::Tensor matmul_loops(torch::Tensor a, torch::Tensor b) {
  check_matmul(a, b, "matmul_loops");
  auto ac = a.contiguous(), bc = b.contiguous();
  const int64_t n = ac.size(0), k = ac.size(1), m = bc.size(1);
  auto c = torch::zeros({n, m}, ac.options());
  AT_DISPATCH_FLOATING_TYPES(ac.scalar_type(), "matmul_loops", [&] {
    const scalar_t *pa = ac.data_ptr<scalar_t>(), *pb = bc.data_ptr<scalar_t>();
    scalar_t *pc = c.data_ptr<scalar_t>();
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < m; ++j) {
        scalar_t s = 0;
        for (int64_t p = 0; p < k; ++p) s += pa[i * k + p] * pb[p * m + j];  // b read down a column
        pc[i * m + j] = s;
      }
  });
  return c;
}

// The same sums in tiles of `block` rows x `block` columns x `block` terms; in a tile the loop
// order is i, p, j so that the innermost loop walks along rows of b and c (contiguous memory).
torch::Tensor matmul_blocked(torch::Tensor a, torch::Tensor b, int64_t block) {
  check_matmul(a, b, "matmul_blocked");
  TORCH_CHECK(block > 0, "matmul_blocked: expected a positive block size, got ", block);
  auto ac = a.contiguous(), bc = b.contiguous();
  const int64_t n = ac.size(0), k = ac.size(1), m = bc.size(1);
  auto c = torch::zeros({n, m}, ac.options());
  AT_DISPATCH_FLOATING_TYPES(ac.scalar_type(), "matmul_blocked", [&] {
    const scalar_t *pa = ac.data_ptr<scalar_t>(), *pb = bc.data_ptr<scalar_t>();
    scalar_t *pc = c.data_ptr<scalar_t>();
    for (int64_t i0 = 0; i0 < n; i0 += block)
      for (int64_t p0 = 0; p0 < k; p0 += block)
        for (int64_t j0 = 0; j0 < m; j0 += block) {
          const int64_t i1 = std::min(i0 + block, n), p1 = std::min(p0 + block, k), j1 = std::min(j0 + block, m);
          for (int64_t i = i0; i < i1; ++i)
            for (int64_t p = p0; p < p1; ++p) {
              const scalar_t aip = pa[i * k + p];
              scalar_t *crow = pc + i * m;
              const scalar_t *brow = pb + p * m;
              for (int64_t j = j0; j < j1; ++j) crow[j] += aip * brow[j];
            }
        }
  });
  return c;
}
