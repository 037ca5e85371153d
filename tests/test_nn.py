"""Tests for foundations.nn: registration against torch.nn.Module (names, order, shapes), layers against torch."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from conftest import gen
from hypothesis import given, settings
from hypothesis import strategies as st

from foundations.nn import Linear, Module, Parameter, ReLU, Sequential, is_parameter
from foundations.testing import check_close

pytestmark = pytest.mark.lesson09


def _names_and_shapes(model: Any) -> list[tuple[str, tuple[int, ...]]]:
    return [(name, tuple(p.shape)) for name, p in model.named_parameters()]


def _build(base: type, param: Any, linear: Any, relu: Any, seq: Any) -> Any:
    """The same model written against either library: ours, or torch.nn.

    It mixes everything registration must handle: a parameter assigned between sub-modules, a nested
    container, a plain tensor and a plain list (neither registered), a module attribute assigned twice
    (keeps its first place), and a parameter shared by two modules (yielded once).
    """

    class Block(base):
        def __init__(self) -> None:
            super().__init__()
            self.scale = param(torch.ones(3))
            self.inner = linear(3, 3)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.inner(x) * self.scale

    class Model(base):
        def __init__(self) -> None:
            super().__init__()
            self.body = seq(linear(4, 3), relu(), Block())
            self.temperature = param(torch.tensor(2.0))
            self.not_a_param = torch.zeros(5)
            self.plain_list = [linear(2, 2)]
            self.head = linear(3, 2)
            self.body = seq(linear(4, 3), relu(), Block())  # assigned again: keeps its place
            self.extra = linear(3, 3)
            self.extra.weight = self.body[2].inner.weight  # tied: registered once, at its first place

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.head(self.body(x)) / self.temperature

    return Model()


def _ours() -> Any:
    return _build(Module, Parameter, Linear, ReLU, Sequential)


def _torch() -> Any:
    nn = torch.nn
    return _build(nn.Module, nn.Parameter, nn.Linear, nn.ReLU, nn.Sequential)


def test_named_parameters_match_torch() -> None:
    ours, theirs = _ours(), _torch()
    assert _names_and_shapes(ours) == _names_and_shapes(theirs)
    # spelled out, so a reader sees the rule: own parameters first, then each child's, depth first
    assert [n for n, _ in ours.named_parameters()] == [
        "temperature",
        "body.0.weight", "body.0.bias",
        "body.2.scale", "body.2.inner.weight", "body.2.inner.bias",
        "head.weight", "head.bias",
        "extra.bias",
    ]


def test_parameters_are_the_named_ones() -> None:
    model = _ours()
    assert [id(p) for p in model.parameters()] == [id(p) for _, p in model.named_parameters()]
    assert all(p.requires_grad and is_parameter(p) for p in model.parameters())


def test_children_and_modules_match_torch() -> None:
    ours, theirs = _ours(), _torch()
    assert [n for n, _ in ours.named_children()] == [n for n, _ in theirs.named_children()] == ["body", "head", "extra"]
    assert [n for n, _ in ours.named_modules()] == [n for n, _ in theirs.named_modules()]
    assert [type(m).__name__ for m in ours.children()] == ["Sequential", "Linear", "Linear"]


def test_sequential_names_match_torch() -> None:
    ours = Sequential(Linear(784, 50), ReLU(), Linear(50, 10))
    theirs = torch.nn.Sequential(torch.nn.Linear(784, 50), torch.nn.ReLU(), torch.nn.Linear(50, 10))
    assert _names_and_shapes(ours) == _names_and_shapes(theirs) == [
        ("0.weight", (50, 784)), ("0.bias", (50,)), ("2.weight", (10, 50)), ("2.bias", (10,))
    ]
    assert len(ours) == 3 and isinstance(ours[1], ReLU) and ours[-1] is list(ours)[2]
    with pytest.raises(IndexError, match="index 3 out of range for 3 layers"):
        ours[3]


def test_reassigning_and_deleting_unregisters() -> None:
    m = Module()
    m.a = Linear(2, 2)
    m.b = Parameter(torch.zeros(1))
    m.a = torch.zeros(1)  # no longer a module
    assert [n for n, _ in m.named_parameters()] == ["b"]
    del m.b
    assert list(m.named_parameters()) == []
    assert not hasattr(m, "b")


def test_torch_parameter_is_registered() -> None:
    m = Module()
    m.w = torch.nn.Parameter(torch.zeros(2))
    assert [n for n, _ in m.named_parameters()] == ["w"]


def test_parameter_shares_storage_and_requires_grad() -> None:
    data = torch.zeros(3)
    p = Parameter(data)
    assert p.requires_grad and is_parameter(p) and not is_parameter(data)
    data[0] = 5.0  # like torch.nn.Parameter, no copy is made
    assert p[0].item() == 5.0
    assert not is_parameter(p * 2), "the result of an operation is not a parameter"
    with pytest.raises(TypeError, match=r"Parameter: expected data to be a floating-point tensor, got Tensor of dtype torch\.int64 and shape \(3,\)"):
        Parameter(torch.arange(3))
    with pytest.raises(TypeError, match=r"Parameter: expected data to be a floating-point tensor, got list \[1\.0\]"):
        Parameter([1.0])


# ---- Linear and ReLU against torch ---------------------------------------------------------------


@pytest.mark.parametrize("n_in,n_out", [(784, 50), (50, 10), (1, 1), (3, 7)])
def test_linear_init_equals_torch_default(n_in: int, n_out: int) -> None:
    torch.manual_seed(123)
    ours = Linear(n_in, n_out)
    torch.manual_seed(123)
    theirs = torch.nn.Linear(n_in, n_out)
    check_close(ours.weight, theirs.weight, what=f"Linear({n_in}, {n_out}).weight after seed 123", atol=1e-7, rtol=0)
    check_close(ours.bias, theirs.bias, what=f"Linear({n_in}, {n_out}).bias after seed 123", atol=1e-7, rtol=0)


def test_linear_init_bound_and_generator() -> None:
    g = gen(0)
    lin = Linear(100, 400, generator=g)
    bound = 1 / 100**0.5
    assert lin.weight.abs().max().item() <= bound and lin.bias.abs().max().item() <= bound
    # the uniform distribution on [-b, b] has standard deviation b / sqrt(3)
    assert lin.weight.std().item() == pytest.approx(bound / 3**0.5, rel=0.02)
    again = Linear(100, 400, generator=gen(0))
    assert torch.equal(lin.weight, again.weight) and torch.equal(lin.bias, again.bias)


@settings(max_examples=30)
@given(n=st.integers(1, 6), n_in=st.integers(1, 6), n_out=st.integers(1, 6), seed=st.integers(0, 2**16))
def test_linear_forward_and_backward_match_torch(n: int, n_in: int, n_out: int, seed: int) -> None:
    g = gen(seed)
    ours = Linear(n_in, n_out, generator=g)
    # float64 weights for a tight comparison (a unit-scale weight, not the small default init)
    ours.weight = Parameter(torch.randn(n_out, n_in, dtype=torch.float64, generator=g))
    ours.bias = Parameter(ours.bias.detach().double())
    theirs = torch.nn.Linear(n_in, n_out).double()
    with torch.no_grad():
        theirs.weight.copy_(ours.weight)
        theirs.bias.copy_(ours.bias)
    x = torch.randn(n, n_in, dtype=torch.float64, generator=g)
    out_ours, out_theirs = ours(x), theirs(x)
    check_close(out_ours, out_theirs, what="Linear forward", atol=1e-12)
    out_ours.sum().backward()
    out_theirs.sum().backward()
    check_close(ours.weight.grad, theirs.weight.grad, what="Linear weight gradient", atol=1e-12)
    check_close(ours.bias.grad, theirs.bias.grad, what="Linear bias gradient", atol=1e-12)


def test_relu_matches_torch() -> None:
    x = torch.tensor([[-2.0, -0.0, 0.0, 3.5, -1e30, 1e30]], dtype=torch.float64)
    check_close(ReLU()(x), torch.relu(x), what="ReLU", atol=0)
    assert list(ReLU().parameters()) == []


def test_mlp_equals_torch_mlp_with_copied_weights() -> None:
    torch.manual_seed(0)
    ours = Sequential(Linear(784, 50), ReLU(), Linear(50, 10))
    torch.manual_seed(0)
    theirs = torch.nn.Sequential(torch.nn.Linear(784, 50), torch.nn.ReLU(), torch.nn.Linear(50, 10))
    x = torch.rand(64, 784)
    check_close(ours(x), theirs(x), what="784-50-10 MLP on a batch of 64", atol=1e-6)


# ---- train / eval ---------------------------------------------------------------------------------


def test_train_and_eval_recurse_like_torch() -> None:
    ours, theirs = _ours(), _torch()
    assert ours.eval() is ours
    theirs.eval()
    assert [m.training for m in ours.modules()] == [m.training for m in theirs.modules()]
    assert not any(m.training for m in ours.modules())
    ours.train()
    assert all(m.training for m in ours.modules())
    with pytest.raises(TypeError, match="expected mode to be a bool, got str 'no'"):
        ours.train("no")


# ---- mistakes a learner makes ---------------------------------------------------------------------


def test_forgetting_super_init_is_explained() -> None:
    class Forgetful(Module):
        def __init__(self) -> None:
            self.lin = Linear(2, 2)

    with pytest.raises(AttributeError, match=r"call super\(\).__init__\(\) at the start of Forgetful.__init__"):
        Forgetful()


def test_missing_forward_is_explained() -> None:
    class NoForward(Module):
        pass

    with pytest.raises(NotImplementedError, match="NoForward has no forward"):
        NoForward()(torch.zeros(1))


def test_layer_errors_name_expected_and_actual() -> None:
    with pytest.raises(ValueError, match=r"Linear: expected input of shape \(N, 784\), got \(32, 100\)"):
        Linear(784, 50)(torch.zeros(32, 100))
    with pytest.raises(ValueError, match=r"Linear: expected n_in to be a positive int, got int 0"):
        Linear(0, 5)
    with pytest.raises(TypeError, match="expected n_out to be a positive int, got float 2.5"):
        Linear(3, 2.5)
    with pytest.raises(TypeError, match="expected layer 1 to be a foundations.nn.Module, got torch.nn.modules.activation.ReLU"):
        Sequential(Linear(2, 2), torch.nn.ReLU())


def test_repr_lists_layers() -> None:
    text = repr(Sequential(Linear(784, 50), ReLU(), Linear(50, 10)))
    assert text == "Sequential(\n  (0): Linear(n_in=784, n_out=50)\n  (1): ReLU()\n  (2): Linear(n_in=50, n_out=10)\n)"


def test_torch_layer_as_attribute_is_refused_by_name_and_type() -> None:
    # Our registry cannot see inside a torch.nn.Module (its parameters, buffers and train/eval state
    # live in torch's own dicts), so keeping one would leave it silently untrained: refuse it.
    class Mixed(Module):
        def __init__(self) -> None:
            super().__init__()
            self.hidden = Linear(4, 3)
            self.out = torch.nn.Linear(3, 2)

    with pytest.raises(
        TypeError,
        match=r"cannot assign Mixed\.out: expected a foundations\.nn\.Module, "
        r"got torch\.nn\.modules\.linear\.Linear, .*would never be trained",
    ):
        Mixed()

    m = Module()
    m.layer = Linear(2, 2)
    for value in (torch.nn.Sequential(torch.nn.ReLU()), torch.nn.ModuleList([torch.nn.Linear(2, 2)])):
        with pytest.raises(TypeError, match=rf"cannot assign Module\.layer: .*got torch\.nn\.modules\.container\.{type(value).__name__}"):
            m.layer = value
    # the refused assignment leaves the earlier value in place
    assert isinstance(m.layer, Linear)
    assert [n for n, _ in m.named_parameters()] == ["layer.weight", "layer.bias"]


def test_every_parameter_of_our_model_is_trained() -> None:
    # the guarantee the refusal protects: one SGD step moves every parameter the forward pass uses
    class Net(Module):
        def __init__(self) -> None:
            super().__init__()
            self.body = Sequential(Linear(4, 3), ReLU(), Linear(3, 3))
            self.scale = Parameter(torch.ones(3))
            self.head = Linear(3, 2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.head(self.body(x) * self.scale)

    torch.manual_seed(0)
    model = Net()
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    assert len(before) == 7
    model(torch.randn(8, 4)).pow(2).mean().backward()
    with torch.no_grad():
        for p in model.parameters():
            p -= 0.1 * p.grad
    moved = {n for n, p in model.named_parameters() if not torch.equal(p, before[n])}
    assert moved == set(before)
