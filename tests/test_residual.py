"""Tests for foundations.residual: the residual MLP and Fixup (Zhang, Dauphin & Ma, ICLR 2019).

Oracles: the Fixup scale against float64 PyTorch arithmetic, the forward pass against the same
network written out with float64 matrix products, gradients against ``torch.autograd.gradcheck``,
and the variance claims of the paper (§2, §3) as statistical checks with fixed seeds.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from conftest import gen
from hypothesis import given, settings
from hypothesis import strategies as st

from foundations.init import kaiming_std
from foundations.residual import INITS, ResidualBlock, ResidualMLP, fixup_scale
from foundations.testing import check_close

pytestmark = pytest.mark.lesson08


# --- fixup_scale -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n_blocks", "m", "expected"),
    [(16, 2, 0.25), (4, 2, 0.5), (1, 2, 1.0), (1, 5, 1.0), (81, 3, 1 / 3), (1024, 6, 0.5)],
)
def test_fixup_scale_known_values(n_blocks: int, m: int, expected: float) -> None:
    check_close(fixup_scale(n_blocks, m), torch.tensor(expected, dtype=torch.float64),
                what=f"fixup_scale({n_blocks}, {m})", atol=0, rtol=1e-12)


@pytest.mark.parametrize(("n_blocks", "m"), [(8, 3), (110, 2), (3, 4), (10_000, 2), (54, 3)])
def test_fixup_scale_matches_float64_power(n_blocks: int, m: int) -> None:
    # L^(-1/(2m-2)) computed by PyTorch in float64
    expected = torch.tensor(float(n_blocks), dtype=torch.float64).pow(-1.0 / (2 * m - 2))
    check_close(fixup_scale(n_blocks, m), expected, what=f"fixup_scale({n_blocks}, {m})", atol=0, rtol=1e-12)


def test_fixup_scale_8_blocks_of_3_layers() -> None:
    assert fixup_scale(8, 3) == pytest.approx(8 ** -0.25, rel=1e-12)
    assert fixup_scale(8, 3) == pytest.approx(0.5946035575, rel=1e-9)


def test_fixup_scale_default_m_is_2() -> None:
    assert fixup_scale(9) == pytest.approx(1 / 3, rel=1e-12)


def test_fixup_scale_shrinks_the_branch_product_to_one_over_sqrt_l() -> None:
    # the m - 1 scaled layers of a branch multiply to L^(-1/2), whatever m is
    for m in (2, 3, 4, 5):
        assert fixup_scale(64, m) ** (m - 1) == pytest.approx(1 / 8, rel=1e-12)


@pytest.mark.parametrize(
    ("args", "exc", "match"),
    [
        ((0, 2), ValueError, r"fixup_scale: expected n_blocks to be a positive int, got int 0"),
        ((-3, 2), ValueError, r"fixup_scale: expected n_blocks to be a positive int, got int -3"),
        ((16, 1), ValueError, r"fixup_scale: expected m to be an int >= 2, got int 1"),
        ((16.0, 2), TypeError, r"fixup_scale: expected n_blocks to be a positive int, got float 16\.0"),
        ((16, True), TypeError, r"fixup_scale: expected m to be an int >= 2, got bool True"),
        (("16", 2), TypeError, r"fixup_scale: expected n_blocks to be a positive int, got str '16'"),
    ],
)
def test_fixup_scale_rejects_bad_arguments(args: tuple, exc: type, match: str) -> None:
    with pytest.raises(exc, match=match):
        fixup_scale(*args)


# --- construction and shapes -------------------------------------------------------------------


@settings(max_examples=25)
@given(
    n=st.integers(1, 6),
    n_in=st.integers(1, 12),
    width=st.integers(1, 12),
    n_out=st.integers(1, 6),
    n_blocks=st.integers(1, 4),
    m=st.integers(2, 4),
    init=st.sampled_from(INITS),
)
def test_output_shapes(n: int, n_in: int, width: int, n_out: int, n_blocks: int, m: int, init: str) -> None:
    net = ResidualMLP(n_in, width, n_out, n_blocks, m=m, init=init, generator=gen(0))
    x = torch.randn(n, n_in, generator=gen(1))
    assert tuple(net(x).shape) == (n, n_out)
    assert tuple(net.features(x).shape) == (n, width)
    assert len(net.blocks) == n_blocks
    assert all(len(b.linears) == m for b in net.blocks)
    # Fixup rule 3: 2m + 1 scalar biases and one scalar multiplier per branch
    assert all(tuple(b.biases.shape) == (2 * m + 1,) and b.multiplier.ndim == 0 for b in net.blocks)


def test_parameter_count() -> None:
    n_in, width, n_out, n_blocks, m = 784, 50, 10, 3, 2
    net = ResidualMLP(n_in, width, n_out, n_blocks, m=m)
    expected = (n_in * width + width) + n_blocks * (m * width * width + (2 * m + 1) + 1) + 1 + (width * n_out + n_out)
    assert sum(p.numel() for p in net.parameters()) == expected


def test_generator_makes_weights_reproducible() -> None:
    a = ResidualMLP(20, 16, 3, 4, init="kaiming", generator=gen(7))
    b = ResidualMLP(20, 16, 3, 4, init="kaiming", generator=gen(7))
    c = ResidualMLP(20, 16, 3, 4, init="kaiming", generator=gen(8))
    for (name, pa), pb, pc in zip(a.named_parameters(), b.parameters(), c.parameters()):
        check_close(pa, pb, what=f"{name} with the same generator seed", atol=0, rtol=0)
    assert not torch.equal(a.stem.weight, c.stem.weight)


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        (dict(init="xavier"), ValueError, r"ResidualMLP: expected init to be one of 'fixup', 'kaiming', got str 'xavier'"),
        (dict(m=1), ValueError, r"ResidualMLP: expected m to be an int >= 2, got int 1"),
        (dict(n_blocks=0), ValueError, r"ResidualMLP: expected n_blocks to be a positive int, got int 0"),
        (dict(width=2.5), TypeError, r"ResidualMLP: expected width to be a positive int, got float 2\.5"),
        (dict(n_in=0), ValueError, r"ResidualMLP: expected n_in to be a positive int, got int 0"),
        (dict(n_out=-1), ValueError, r"ResidualMLP: expected n_out to be a positive int, got int -1"),
    ],
)
def test_residual_mlp_rejects_bad_arguments(kwargs: dict, exc: type, match: str) -> None:
    args = dict(n_in=784, width=32, n_out=10, n_blocks=4) | kwargs
    with pytest.raises(exc, match=match):
        ResidualMLP(**args)


def test_residual_block_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match=r"ResidualBlock: expected m to be an int >= 2, got int 1"):
        ResidualBlock(8, m=1)
    with pytest.raises(TypeError, match=r"ResidualBlock: expected width to be a positive int, got str '8'"):
        ResidualBlock("8")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("x", "exc", "match"),
    [
        (torch.zeros(784), ValueError, r"ResidualMLP: expected x to be a tensor of shape \(N, 784\), got Tensor of dtype torch\.float32 and shape \(784,\)"),
        (torch.zeros(5, 28, 28), ValueError, r"ResidualMLP: expected x to be a tensor of shape \(N, 784\), got Tensor of dtype torch\.float32 and shape \(5, 28, 28\)"),
        (torch.zeros(5, 10), ValueError, r"ResidualMLP: expected x to be a tensor of shape \(N, 784\), got Tensor of dtype torch\.float32 and shape \(5, 10\)"),
        ([[0.0] * 784], TypeError, r"expected x to be a tensor of shape \(N, 784\), got list"),
    ],
)
def test_forward_rejects_bad_input(x: object, exc: type, match: str) -> None:
    net = ResidualMLP(784, 16, 10, 2)
    with pytest.raises(exc, match=match):
        net(x)  # type: ignore[arg-type]


# --- the forward pass against an oracle ---------------------------------------------------------


def reference_forward(net: ResidualMLP, x: torch.Tensor) -> torch.Tensor:
    """The network written out with float64 matrix products (``nn.Linear`` stores W as (out, in))."""
    h = x @ net.stem.weight.T + net.stem.bias
    for block in net.blocks:
        t, m = h, block.m
        for i, linear in enumerate(block.linears):
            a, c = block.biases[2 * i], block.biases[2 * i + 1]
            t = (t + a).clamp_min(0) + c
            t = t @ linear.weight.T
        h = h + block.multiplier * t + block.biases[2 * m]
    return ((h.clamp_min(0) + net.head_bias) @ net.head.weight.T) + net.head.bias


@pytest.mark.parametrize("init", INITS)
@pytest.mark.parametrize("m", [2, 3])
def test_forward_matches_float64_reference(init: str, m: int) -> None:
    net = ResidualMLP(7, 5, 3, 3, m=m, init=init, generator=gen(0)).double()
    with torch.no_grad():  # move every parameter off its initial value, so every term is exercised
        for p in net.parameters():
            p.add_(0.3 * torch.randn(p.shape, generator=gen(p.numel()), dtype=torch.float64))
    x = torch.randn(4, 7, generator=gen(1), dtype=torch.float64)
    check_close(net(x), reference_forward(net, x), what=f"ResidualMLP({init}, m={m}) logits", atol=1e-12, rtol=1e-12)


def test_gradients_match_finite_differences() -> None:
    net = ResidualMLP(6, 4, 3, 2, m=2, init="kaiming", generator=gen(2)).double()
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.1 * torch.randn(p.shape, generator=gen(3), dtype=torch.float64))
    # random float64 inputs land on a ReLU kink with probability 0, so finite differences apply
    x = torch.randn(3, 6, generator=gen(4), dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(net, (x,), eps=1e-6, atol=1e-5)
    params = dict(net.named_parameters())

    def as_function(*flat: torch.Tensor) -> torch.Tensor:
        out = torch.func.functional_call(net, dict(zip(params, flat)), (x.detach(),))
        return F.cross_entropy(out, torch.tensor([0, 2, 1]))

    assert torch.autograd.gradcheck(as_function, tuple(p.detach().requires_grad_() for p in params.values()),
                                    eps=1e-6, atol=1e-5)


# --- Fixup at initialisation (rules 1-3) --------------------------------------------------------


def test_fixup_branches_are_zero_and_blocks_identity_at_init() -> None:
    net = ResidualMLP(30, 24, 10, 6, m=3, init="fixup", generator=gen(0))
    x = torch.randn(64, 30, generator=gen(1))
    with torch.no_grad():
        h = net.stem(x)
        for i, block in enumerate(net.blocks):
            check_close(block.branch(h), torch.zeros_like(h), what=f"branch {i} at init", atol=0, rtol=0)
            check_close(block(h), h, what=f"block {i} at init (identity)", atol=0, rtol=0)
        check_close(net.features(x), net.stem(x), what="features x_L = x_0 at init", atol=0, rtol=0)
        check_close(net(x), torch.zeros(64, 10), what="logits at init", atol=0, rtol=0)


def test_fixup_zero_layers_and_scaled_layers() -> None:
    width, n_blocks, m = 256, 27, 4
    net = ResidualMLP(100, width, 10, n_blocks, m=m, init="fixup", generator=gen(0))
    assert torch.count_nonzero(net.head.weight) == 0 and torch.count_nonzero(net.head.bias) == 0
    expected_std = kaiming_std(width) * fixup_scale(n_blocks, m)  # sqrt(2/width) * 27^(-1/6)
    for block in net.blocks:
        assert torch.count_nonzero(block.linears[-1].weight) == 0
        for linear in block.linears[:-1]:
            std = linear.weight.std().item()
            assert std == pytest.approx(expected_std, rel=0.03), f"scaled branch layer std {std}"
        assert torch.count_nonzero(block.biases) == 0 and block.multiplier.item() == 1.0
    assert net.stem.weight.std().item() == pytest.approx(kaiming_std(100), rel=0.03)


def test_kaiming_init_weights() -> None:
    net = ResidualMLP(100, 256, 10, 3, init="kaiming", generator=gen(0))
    for block in net.blocks:
        for linear in block.linears:
            assert linear.weight.std().item() == pytest.approx(kaiming_std(256), rel=0.03)
            assert abs(linear.weight.mean().item()) < 0.01 * kaiming_std(256)
    assert net.head.weight.std().item() == pytest.approx(kaiming_std(256), rel=0.05)


def test_reset_parameters_restores_init() -> None:
    net = ResidualMLP(10, 8, 3, 2, init="fixup", generator=gen(0))
    with torch.no_grad():
        for p in net.parameters():
            p.fill_(1.0)
    net.reset_parameters(gen(0))
    assert torch.count_nonzero(net.head.weight) == 0
    assert all(b.multiplier.item() == 1.0 and torch.count_nonzero(b.biases) == 0 for b in net.blocks)


# --- the paper's variance claims, statistically ------------------------------------------------


def variance_ratio(net: ResidualMLP, x: torch.Tensor) -> float:
    """Var[x_L] / Var[x_0]: how much the residual blocks multiply the variance of the stem's output."""
    with torch.no_grad():
        return (net.features(x).var() / net.stem(x).var()).item()


def test_kaiming_variance_doubles_per_block() -> None:
    # §2: Var[x_{l+1}] = Var[x_l] + Var[F(x_l)] and He init keeps Var[F(x_l)] ≈ Var[x_l], so 2^L
    x = torch.randn(1024, 64, generator=gen(0))
    for n_blocks in (1, 4, 8):
        net = ResidualMLP(64, 256, 10, n_blocks, init="kaiming", generator=gen(n_blocks))
        growth = math.log2(variance_ratio(net, x)) / n_blocks
        assert 0.7 < growth < 1.3, f"{n_blocks} blocks: variance grew by 2^{growth:.2f} per block, expected ~2^1"


def test_output_variance_grows_with_depth_for_kaiming_and_stays_bounded_for_fixup() -> None:
    x = torch.randn(512, 64, generator=gen(0))

    def logit_var(init: str, n_blocks: int) -> float:
        net = ResidualMLP(64, 128, 10, n_blocks, init=init, generator=gen(n_blocks))
        with torch.no_grad():
            return net(x).var().item()

    kaiming = [logit_var("kaiming", n) for n in (2, 8, 16)]
    assert kaiming[0] < kaiming[1] < kaiming[2]
    assert kaiming[2] / kaiming[0] > 2.0 ** 10  # expected about 2^14; generous bound
    assert all(logit_var("fixup", n) == 0.0 for n in (2, 8, 16))


@pytest.mark.parametrize("n_blocks", [4, 16, 64])
def test_fixup_rescaling_bounds_the_variance_once_last_layers_move(n_blocks: int) -> None:
    # §3: with the first m-1 layers scaled by L^(-1/(2m-2)), a branch whose last layer has moved to a
    # standard (He) scale adds only ~1/L of its input's variance, so Var[x_L]/Var[x_0] ≈ (1 + 1/L)^L < e.
    net = ResidualMLP(64, 256, 10, n_blocks, m=2, init="fixup", generator=gen(n_blocks))
    g = gen(100 + n_blocks)
    with torch.no_grad():
        for block in net.blocks:
            block.linears[-1].weight.normal_(0.0, kaiming_std(256), generator=g)
    ratio = variance_ratio(net, torch.randn(1024, 64, generator=gen(0)))
    expected = (1 + 1 / n_blocks) ** n_blocks
    assert 0.6 * expected < ratio < 1.6 * expected, f"Var[x_L]/Var[x_0] = {ratio:.3f}, expected ~{expected:.3f}"


def test_without_rescaling_the_same_network_explodes() -> None:
    # the control for the test above: same zero-then-He last layers, but no L^(-1/2) scale
    net = ResidualMLP(64, 256, 10, 16, m=2, init="kaiming", generator=gen(16))
    assert variance_ratio(net, torch.randn(1024, 64, generator=gen(0))) > 2.0 ** 12


# --- training dynamics of Fixup ----------------------------------------------------------------


def test_fixup_first_steps_move_the_classifier_then_the_branches() -> None:
    # with the classifier at 0, no gradient reaches the blocks on the first step; after it, it does
    net = ResidualMLP(20, 16, 4, 3, init="fixup", generator=gen(0))
    x, y = torch.randn(32, 20, generator=gen(1)), torch.randint(0, 4, (32,), generator=gen(2))
    opt = torch.optim.SGD(net.parameters(), lr=0.5)

    def step() -> None:
        opt.zero_grad()
        F.cross_entropy(net(x), y).backward()
        opt.step()

    step()
    assert torch.count_nonzero(net.head.weight) > 0
    assert all(torch.count_nonzero(b.linears[-1].weight) == 0 for b in net.blocks)
    step()
    assert all(torch.count_nonzero(b.linears[-1].weight) > 0 for b in net.blocks)
    assert all(b.multiplier.grad is not None for b in net.blocks)


@pytest.fixture
def one_thread():
    """Tiny matrices train faster on one thread than on several competing for a busy machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_fixup_trains_a_deep_residual_mlp_where_kaiming_diverges(one_thread: None) -> None:
    # a tiny version of the page's experiment: 32 blocks, no normalisation, same SGD learning rate
    x = torch.randn(256, 20, generator=gen(0))
    y = (x[:, 0] > 0).long() + 2 * (x[:, 1] > 0).long()

    def final_loss(init: str) -> float:
        torch.manual_seed(0)
        net = ResidualMLP(20, 32, 4, 32, init=init, generator=gen(1))
        opt = torch.optim.SGD(net.parameters(), lr=0.1)
        for _ in range(40):
            loss = F.cross_entropy(net(x), y)
            if not torch.isfinite(loss):
                return math.inf
            opt.zero_grad()
            loss.backward()
            opt.step()
        return loss.item()

    assert final_loss("fixup") < 0.6  # chance level is log(4) = 1.39
    assert not final_loss("kaiming") < 10.0
