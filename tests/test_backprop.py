"""Tests for foundations.backprop: forwards against PyTorch, every gradient against autograd (float64)
and against central finite differences, the layer classes against an equal torch.nn model."""

from __future__ import annotations

from typing import Callable

import pytest
import torch
import torch.nn.functional as F
from conftest import F64
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import Tensor, nn

from foundations.backprop import (
    Lin,
    Model,
    Module,
    Mse,
    Relu,
    lin,
    lin_grad,
    mse,
    mse_grad,
    relu,
    relu_grad,
)
from foundations.testing import check_close

pytestmark = pytest.mark.lesson08

batch = st.integers(min_value=1, max_value=9)
width = st.integers(min_value=1, max_value=12)
seeds = st.integers(min_value=0, max_value=2**31 - 1)


def randn(*shape: int, gen: torch.Generator, scale: float = 1.0, shift: float = 0.0) -> Tensor:
    return torch.randn(*shape, generator=gen, dtype=F64) * scale + shift


def away_from_zero(x: Tensor, margin: float = 1e-3) -> Tensor:
    """Push entries out of (-margin, margin), where ReLU's kink would spoil a finite difference."""
    return torch.where(x.abs() < margin, torch.where(x < 0, x - 2 * margin, x + 2 * margin), x)


def central_difference(f: Callable[[], Tensor], x: Tensor, eps: float = 1e-6) -> Tensor:
    """d f()/d x by central differences, nudging each entry of ``x`` in place (float64)."""
    grad = torch.empty_like(x)
    flat, gflat = x.view(-1), grad.view(-1)
    for i in range(flat.numel()):
        old = flat[i].item()
        flat[i] = old + eps
        up = f().item()
        flat[i] = old - eps
        down = f().item()
        flat[i] = old
        gflat[i] = (up - down) / (2 * eps)
    return grad


def autograd(f: Callable[..., Tensor], *inputs: Tensor) -> tuple[Tensor, ...]:
    leaves = [t.detach().clone().requires_grad_(True) for t in inputs]
    f(*leaves).backward()
    return tuple(leaf.grad for leaf in leaves)


# ---- forward functions against PyTorch ---------------------------------------------------------


@settings(max_examples=40)
@given(n=batch, n_in=width, n_out=width, seed=seeds)
def test_lin_matches_torch_linear(n: int, n_in: int, n_out: int, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    x, w, b = randn(n, n_in, gen=g), randn(n_in, n_out, gen=g), randn(n_out, gen=g)
    out = lin(x, w, b)
    assert out.shape == (n, n_out)
    check_close(out, F.linear(x, w.T, b), what="lin vs F.linear", atol=1e-12, rtol=1e-12)


def test_relu_matches_torch_relu() -> None:
    x = torch.linspace(-3, 3, 61, dtype=F64)[:60].reshape(3, 20, 1)  # includes an exact 0
    check_close(relu(x), torch.relu(x), what="relu vs torch.relu", atol=0, rtol=0)
    assert relu(x).shape == x.shape


@settings(max_examples=40)
@given(n=batch, seed=seeds)
def test_mse_matches_torch_mse_loss(n: int, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    out, targ = randn(n, 1, gen=g, scale=3), randn(n, gen=g, scale=3)
    got = mse(out, targ)
    assert got.shape == ()
    check_close(got, F.mse_loss(out[:, 0], targ), what="mse vs F.mse_loss", atol=1e-12, rtol=1e-12)


def test_mse_does_not_broadcast_to_n_by_n() -> None:
    out = torch.tensor([[1.0], [2.0], [3.0]], dtype=F64)
    targ = torch.tensor([1.0, 2.0, 5.0], dtype=F64)
    # the right answer is (0 + 0 + 4) / 3; the (N, N) broadcast would give a different number
    check_close(mse(out, targ), torch.tensor(4 / 3, dtype=F64), what="mse on a hand example", atol=1e-15)
    assert ((out - targ) ** 2).mean().item() != pytest.approx(4 / 3)


def test_mse_accepts_integer_labels() -> None:
    out = torch.tensor([[0.5], [2.0]], dtype=torch.float32)
    targ = torch.tensor([1, 2])
    check_close(mse(out, targ), torch.tensor(0.125), what="mse with int64 targets", atol=1e-7)


# ---- gradients against autograd (float64) ------------------------------------------------------


@settings(max_examples=40)
@given(n=batch, seed=seeds)
def test_mse_grad_matches_autograd(n: int, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    out, targ = randn(n, 1, gen=g, scale=5), randn(n, gen=g, scale=5)
    (expected,) = autograd(lambda o: mse(o, targ), out)
    got = mse_grad(out, targ)
    assert got.shape == (n, 1)
    check_close(got, expected, what=f"mse_grad, batch of {n}", atol=1e-12, rtol=1e-10)


@settings(max_examples=40)
@given(n=batch, d=width, seed=seeds)
def test_relu_grad_matches_autograd(n: int, d: int, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    x, out_grad = randn(n, d, gen=g), randn(n, d, gen=g)
    (expected,) = autograd(lambda t: (torch.relu(t) * out_grad).sum(), x)
    got = relu_grad(x, out_grad)
    assert got.shape == (n, d)
    check_close(got, expected, what=f"relu_grad on ({n}, {d})", atol=0, rtol=0)


def test_relu_grad_is_zero_at_zero_like_torch() -> None:
    x = torch.tensor([[-1.0, 0.0, 1.0]], dtype=F64)
    (expected,) = autograd(lambda t: torch.relu(t).sum(), x)
    check_close(relu_grad(x, torch.ones_like(x)), expected, what="relu_grad at the kink", atol=0, rtol=0)


@settings(max_examples=40)
@given(n=batch, n_in=width, n_out=width, seed=seeds)
def test_lin_grad_matches_autograd(n: int, n_in: int, n_out: int, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    x, w, b = randn(n, n_in, gen=g), randn(n_in, n_out, gen=g), randn(n_out, gen=g)
    out_grad = randn(n, n_out, gen=g)
    ex, ew, eb = autograd(lambda x_, w_, b_: (lin(x_, w_, b_) * out_grad).sum(), x, w, b)
    gx, gw, gb = lin_grad(x, w, out_grad)
    assert (gx.shape, gw.shape, gb.shape) == ((n, n_in), (n_in, n_out), (n_out,))
    check_close(gx, ex, what="lin_grad: x_grad", atol=1e-12, rtol=1e-10)
    check_close(gw, ew, what="lin_grad: w_grad", atol=1e-12, rtol=1e-10)
    check_close(gb, eb, what="lin_grad: b_grad", atol=1e-12, rtol=1e-10)


# ---- gradients against central finite differences ----------------------------------------------


@pytest.mark.parametrize("n", [1, 2, 7])
def test_mse_grad_matches_finite_differences(n: int) -> None:
    g = torch.Generator().manual_seed(n)
    out, targ = randn(n, 1, gen=g, scale=4), randn(n, gen=g, scale=4)
    check_close(
        mse_grad(out, targ), central_difference(lambda: mse(out, targ), out),
        what=f"mse_grad vs finite differences, batch of {n}", atol=1e-7, rtol=1e-6,
    )


def test_relu_grad_matches_finite_differences() -> None:
    g = torch.Generator().manual_seed(1)
    x, out_grad = away_from_zero(randn(4, 5, gen=g)), randn(4, 5, gen=g)
    check_close(
        relu_grad(x, out_grad), central_difference(lambda: (relu(x) * out_grad).sum(), x),
        what="relu_grad vs finite differences", atol=1e-7, rtol=1e-6,
    )


@pytest.mark.parametrize("n,n_in,n_out", [(1, 3, 2), (5, 4, 1), (3, 1, 6)])
def test_lin_grad_matches_finite_differences(n: int, n_in: int, n_out: int) -> None:
    g = torch.Generator().manual_seed(n * 100 + n_in * 10 + n_out)
    x, w, b = randn(n, n_in, gen=g), randn(n_in, n_out, gen=g), randn(n_out, gen=g)
    out_grad = randn(n, n_out, gen=g)

    def loss() -> Tensor:
        return (lin(x, w, b) * out_grad).sum()

    gx, gw, gb = lin_grad(x, w, out_grad)
    check_close(gx, central_difference(loss, x), what="lin_grad x_grad vs finite differences", atol=1e-7, rtol=1e-6)
    check_close(gw, central_difference(loss, w), what="lin_grad w_grad vs finite differences", atol=1e-7, rtol=1e-6)
    check_close(gb, central_difference(loss, b), what="lin_grad b_grad vs finite differences", atol=1e-7, rtol=1e-6)


def test_model_grads_match_finite_differences() -> None:
    g = torch.Generator().manual_seed(7)
    n, n_in, nh = 6, 5, 4
    x, targ = randn(n, n_in, gen=g), randn(n, gen=g, scale=3)
    w1, b1 = randn(n_in, nh, gen=g), randn(nh, gen=g, scale=0.1)
    w2, b2 = randn(nh, 1, gen=g), randn(1, gen=g)
    model = Model(w1, b1, w2, b2)
    # keep every hidden pre-activation away from ReLU's kink so the finite difference is smooth
    assert (lin(x, w1, b1).abs() > 1e-3).all()
    model(x, targ)
    model.backward()
    for name, t in (("x", x), ("w1", w1), ("b1", b1), ("w2", w2), ("b2", b2)):
        check_close(
            t.g, central_difference(lambda: Model(w1, b1, w2, b2)(x, targ), t),
            what=f"Model {name}.g vs finite differences", atol=1e-7, rtol=1e-6,
        )


# ---- the layer classes and the Model against torch.nn ------------------------------------------


def _torch_twin(w1: Tensor, b1: Tensor, w2: Tensor, b2: Tensor) -> nn.Sequential:
    n_in, nh = w1.shape
    net = nn.Sequential(nn.Linear(n_in, nh), nn.ReLU(), nn.Linear(nh, 1)).to(F64)
    with torch.no_grad():
        net[0].weight.copy_(w1.T)  # nn.Linear stores (n_out, n_in)
        net[0].bias.copy_(b1)
        net[2].weight.copy_(w2.T)
        net[2].bias.copy_(b2)
    return net


@settings(max_examples=25)
@given(n=batch, n_in=width, nh=width, seed=seeds)
def test_model_grads_match_torch_nn(n: int, n_in: int, nh: int, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    x, targ = randn(n, n_in, gen=g), randn(n, gen=g, scale=3, shift=4)
    w1, b1 = randn(n_in, nh, gen=g), randn(nh, gen=g)
    w2, b2 = randn(nh, 1, gen=g), randn(1, gen=g)
    model = Model(w1, b1, w2, b2)
    loss = model(x, targ)
    model.backward()

    net = _torch_twin(w1, b1, w2, b2)
    xt = x.clone().requires_grad_(True)
    expected = F.mse_loss(net(xt)[:, 0], targ)
    expected.backward()

    check_close(loss, expected.detach(), what="Model loss vs torch.nn", atol=1e-12, rtol=1e-10)
    check_close(x.g, xt.grad, what="x.g vs torch.nn", atol=1e-12, rtol=1e-10)
    check_close(w1.g, net[0].weight.grad.T, what="w1.g vs torch.nn", atol=1e-12, rtol=1e-10)
    check_close(b1.g, net[0].bias.grad, what="b1.g vs torch.nn", atol=1e-12, rtol=1e-10)
    check_close(w2.g, net[2].weight.grad.T, what="w2.g vs torch.nn", atol=1e-12, rtol=1e-10)
    check_close(b2.g, net[2].bias.grad, what="b2.g vs torch.nn", atol=1e-12, rtol=1e-10)


def test_model_at_lesson_size_matches_torch_nn() -> None:
    g = torch.Generator().manual_seed(0)
    x, targ = randn(64, 784, gen=g), torch.randint(0, 10, (64,), generator=g).to(F64)
    w1, b1 = randn(784, 50, gen=g, scale=(2 / 784) ** 0.5), torch.zeros(50, dtype=F64)
    w2, b2 = randn(50, 1, gen=g, scale=(1 / 50) ** 0.5), torch.zeros(1, dtype=F64)
    model = Model(w1, b1, w2, b2)
    model(x, targ)
    model.backward()
    net = _torch_twin(w1, b1, w2, b2)
    F.mse_loss(net(x)[:, 0], targ).backward()
    check_close(w1.g, net[0].weight.grad.T, what="784-50-1 w1.g", atol=1e-12, rtol=1e-10)
    check_close(w2.g, net[2].weight.grad.T, what="784-50-1 w2.g", atol=1e-12, rtol=1e-10)


def test_layers_store_inputs_outputs_and_grads() -> None:
    g = torch.Generator().manual_seed(2)
    x, w, b = randn(3, 4, gen=g), randn(4, 2, gen=g), randn(2, gen=g)
    layer = Lin(w, b)
    out = layer(x)
    assert layer.args[0] is x and layer.out is out
    out.g = torch.ones_like(out)
    layer.backward()
    ex, ew, eb = lin_grad(x, w, out.g)
    check_close(x.g, ex, what="Lin x.g", atol=0, rtol=0)
    check_close(w.g, ew, what="Lin w.g", atol=0, rtol=0)
    check_close(b.g, eb, what="Lin b.g", atol=0, rtol=0)

    r = Relu()
    h = r(x)
    h.g = torch.full_like(h, 2.0)
    r.backward()
    check_close(x.g, 2.0 * (x > 0).to(F64), what="Relu x.g", atol=0, rtol=0)

    loss_layer = Mse()
    o, t = randn(3, 1, gen=g), randn(3, gen=g)
    check_close(loss_layer(o, t), mse(o, t), what="Mse forward", atol=0, rtol=0)
    loss_layer.backward()
    check_close(o.g, mse_grad(o, t), what="Mse o.g", atol=0, rtol=0)


def test_model_fills_every_intermediate_grad() -> None:
    g = torch.Generator().manual_seed(3)
    model = Model(randn(4, 3, gen=g), randn(3, gen=g), randn(3, 1, gen=g), randn(1, gen=g))
    model(randn(2, 4, gen=g), randn(2, gen=g))
    model.backward()
    for layer in model.layers:
        assert layer.out.g.shape == layer.out.shape
        assert layer.args[0].g.shape == layer.args[0].shape


# ---- errors ------------------------------------------------------------------------------------


def test_lin_shape_mismatch_names_expected_and_actual() -> None:
    with pytest.raises(ValueError, match=r"lin: expected x of shape \(N, n_in\), w of shape \(n_in, n_out\) "
                       r"and b of shape \(n_out,\), got \(5, 784\), \(10, 784\) and \(784,\)"):
        lin(torch.zeros(5, 784), torch.zeros(10, 784), torch.zeros(784))
    with pytest.raises(ValueError, match=r"got \(784,\), \(784, 50\) and \(50,\)"):
        lin(torch.zeros(784), torch.zeros(784, 50), torch.zeros(50))
    with pytest.raises(TypeError, match=r"lin: expected w to be a torch.Tensor, got list"):
        lin(torch.zeros(2, 2), [[1.0, 0.0], [0.0, 1.0]], torch.zeros(2))  # type: ignore[arg-type]


@pytest.mark.parametrize("fn", [mse, mse_grad])
def test_mse_shape_mismatch_names_expected_and_actual(fn: Callable[[Tensor, Tensor], Tensor]) -> None:
    name = fn.__name__
    with pytest.raises(ValueError, match=rf"{name}: expected output of shape \(N, 1\) and target of shape \(N,\), "
                       r"got \(10,\) and \(10,\)"):
        fn(torch.zeros(10), torch.zeros(10))
    with pytest.raises(ValueError, match=r"got \(10, 1\) and \(9,\)"):
        fn(torch.zeros(10, 1), torch.zeros(9))
    with pytest.raises(ValueError, match=r"got \(10, 10\) and \(10,\)"):
        fn(torch.zeros(10, 10), torch.zeros(10))
    with pytest.raises(ValueError, match=rf"{name}: expected a non-empty batch"):
        fn(torch.zeros(0, 1), torch.zeros(0))
    with pytest.raises(TypeError, match=rf"{name}: expected target to be a torch.Tensor, got list"):
        fn(torch.zeros(2, 1), [1.0, 2.0])  # type: ignore[arg-type]


def test_relu_grad_shape_mismatch() -> None:
    with pytest.raises(ValueError, match=r"relu_grad: expected out_grad of the same shape as x \(3, 4\), got \(4, 3\)"):
        relu_grad(torch.zeros(3, 4), torch.zeros(4, 3))
    with pytest.raises(TypeError, match=r"relu: expected x to be a torch.Tensor, got float"):
        relu(1.0)  # type: ignore[arg-type]


def test_lin_grad_shape_mismatch() -> None:
    with pytest.raises(ValueError, match=r"lin_grad: expected x of shape \(N, n_in\), w of shape \(n_in, n_out\) "
                       r"and out_grad of shape \(N, n_out\), got \(8, 784\), \(784, 50\) and \(8, 1\)"):
        lin_grad(torch.zeros(8, 784), torch.zeros(784, 50), torch.zeros(8, 1))
    with pytest.raises(ValueError, match=r"got \(8, 784\), \(50, 784\) and \(8, 50\)"):
        lin_grad(torch.zeros(8, 784), torch.zeros(50, 784), torch.zeros(8, 50))


def test_layer_and_model_construction_errors() -> None:
    with pytest.raises(ValueError, match=r"Lin: expected w of shape \(n_in, n_out\) and b of shape \(n_out,\), "
                       r"got \(784, 50\) and \(784,\)"):
        Lin(torch.zeros(784, 50), torch.zeros(784))
    with pytest.raises(ValueError, match=r"Model: expected w1 \(n_in, nh\), b1 \(nh,\), w2 \(nh, 1\) and b2 \(1,\), "
                       r"got \(784, 50\), \(50,\), \(50, 10\) and \(10,\)"):
        Model(torch.zeros(784, 50), torch.zeros(50), torch.zeros(50, 10), torch.zeros(10))


def test_backward_in_the_wrong_order_says_what_to_do() -> None:
    layer = Lin(torch.zeros(3, 2), torch.zeros(2))
    with pytest.raises(RuntimeError, match=r"Lin.backward: call the layer on an input first"):
        layer.backward()
    layer(torch.zeros(4, 3))
    with pytest.raises(RuntimeError, match=r"Lin.backward: its output has no gradient .g yet"):
        layer.backward()


def test_module_base_requires_forward() -> None:
    class Nothing(Module):
        pass

    with pytest.raises(NotImplementedError, match=r"Nothing must define forward"):
        Nothing()(torch.zeros(1))
