"""Tests for foundations.vision.xresnet: shapes, parameter counts computed from the architecture, the tweaks."""

from __future__ import annotations

import pytest
import torch
from conftest import F64, randn
from torch import nn

from foundations.vision.xresnet import (
    XRESNET_DEPTHS,
    XResBlock,
    XResNet,
    conv_bn,
    count_params,
    model_summary,
    xresnet18,
    xresnet34,
    xresnet50,
    xresnet101,
)


def conv_bn_count(ni: int, nf: int, ks: int) -> int:
    """A bias-free ks x ks convolution and its BatchNorm (gamma and beta)."""
    return ni * nf * ks * ks + 2 * nf


def block_count(expansion: int, ni: int, nh: int) -> int:
    nf = nh * expansion
    if expansion == 1:
        convs = conv_bn_count(ni, nh, 3) + conv_bn_count(nh, nf, 3)
    else:
        convs = conv_bn_count(ni, nh, 1) + conv_bn_count(nh, nh, 3) + conv_bn_count(nh, nf, 1)
    return convs + (conv_bn_count(ni, nf, 1) if ni != nf else 0)


def body_count(expansion: int, layers: tuple[int, ...], ni: int, widths=(64, 128, 256, 512)) -> int:
    total = 0
    for n, nh in zip(layers, widths):
        for j in range(n):
            total += block_count(expansion, ni if j == 0 else nh * expansion, nh)
        ni = nh * expansion
    return total


def xresnet_count(depth: int, c_in: int = 3, c_out: int = 1000, stem=(32, 32, 64), widths=(64, 128, 256, 512)) -> int:
    expansion, layers = XRESNET_DEPTHS[depth]
    sizes = [c_in, *stem]
    stem_count = sum(conv_bn_count(sizes[i], sizes[i + 1], 3) for i in range(3))
    head = widths[-1] * expansion * c_out + c_out
    return stem_count + body_count(expansion, layers, stem[-1], widths) + head


def torchvision_resnet_count(depth: int) -> int:
    """torchvision's ResNet: a 7x7 stem 3 -> 64 and BatchNorm, then the same stages (1x1 stride-2 shortcut)."""
    expansion, layers = XRESNET_DEPTHS[depth]
    return conv_bn_count(3, 64, 7) + body_count(expansion, layers, 64) + 512 * expansion * 1000 + 1000


def test_the_count_formula_gives_torchvision_published_counts() -> None:
    # torchvision.models.resnet18().parameters() and resnet50(): 11,689,512 and 25,557,032
    # (torchvision is not installed here; these are its documented numbers)
    assert torchvision_resnet_count(18) == 11_689_512
    assert torchvision_resnet_count(50) == 25_557_032


@pytest.mark.parametrize("depth", [18, 34, 50])
def test_parameter_counts_equal_the_architecture(depth: int) -> None:
    model = {18: xresnet18, 34: xresnet34, 50: xresnet50, 101: xresnet101}[depth]()
    assert count_params(model) == xresnet_count(depth)
    # only the stem differs from torchvision's: three 3x3 convolutions instead of one 7x7
    stem_gain = xresnet_count(depth) - torchvision_resnet_count(depth)
    assert stem_gain == 28_768 - 9_536


def test_counts_of_a_narrow_model_and_the_course_stem() -> None:
    kw = {"c_in": 1, "c_out": 7, "stem": (32, 64, 64), "widths": (16, 32, 64, 128)}
    model = xresnet18(**kw)
    assert count_params(model) == xresnet_count(18, **kw)


def test_summary_shapes_per_stage_and_counts() -> None:
    torch.manual_seed(0)
    model = xresnet18(c_out=10)
    rows = model_summary(model, torch.randn(2, 3, 64, 64))
    assert [r.name for r in rows] == ["stem", "stage1", "stage2", "stage3", "stage4", "head"]
    assert [r.out_shape for r in rows] == [(2, 64, 16, 16), (2, 64, 16, 16), (2, 128, 8, 8), (2, 256, 4, 4),
                                          (2, 512, 2, 2), (2, 10)]
    assert sum(r.n_params for r in rows) == count_params(model) == xresnet_count(18, c_out=10)
    assert rows[0].n_params == 28_768
    assert model.training  # restored


def test_xresnet50_shapes_at_128_px() -> None:
    model = xresnet50(c_out=10)
    rows = model_summary(model, torch.randn(1, 3, 128, 128))
    assert [r.out_shape[1:] for r in rows] == [(64, 32, 32), (256, 32, 32), (512, 16, 16), (1024, 8, 8),
                                              (2048, 4, 4), (10,)]
    assert model.n_features == 2048


def test_zero_gamma_on_the_last_batchnorm_of_every_branch() -> None:
    model = xresnet34()
    blocks = [m for m in model.modules() if isinstance(m, XResBlock)]
    assert len(blocks) == 16
    for b in blocks:
        bns = [m for m in b.convs.modules() if isinstance(m, nn.BatchNorm2d)]
        assert torch.equal(bns[-1].weight, torch.zeros_like(bns[-1].weight))
        for bn in bns[:-1]:
            assert torch.equal(bn.weight, torch.ones_like(bn.weight))
    stem_bns = [m for m in model.stem.modules() if isinstance(m, nn.BatchNorm2d)]
    assert all(torch.equal(bn.weight, torch.ones_like(bn.weight)) for bn in stem_bns)


@pytest.mark.parametrize(("expansion", "ni", "nh", "stride"), [(1, 8, 8, 1), (1, 8, 16, 2), (4, 16, 4, 1), (4, 16, 8, 2)])
def test_a_fresh_block_is_its_shortcut(expansion: int, ni: int, nh: int, stride: int) -> None:
    torch.manual_seed(0)
    block = XResBlock(expansion, ni, nh, stride).double().eval()
    x = randn(2, ni, 9, 9, seed=1)
    out = block(x)
    assert out.shape == (2, nh * expansion, 5 if stride == 2 else 9, 5 if stride == 2 else 9)
    torch.testing.assert_close(out, torch.relu(block.idconv(block.pool(x))), atol=0.0, rtol=0.0)
    if ni == nh * expansion and stride == 1:
        torch.testing.assert_close(out, torch.relu(x), atol=0.0, rtol=0.0)


def test_resnet_d_shortcut_and_resnet_b_stride() -> None:
    block = XResBlock(4, 64, 32, stride=2)
    assert isinstance(block.pool, nn.AvgPool2d) and block.pool.kernel_size == 2
    idconv = block.idconv[0]
    assert isinstance(idconv, nn.Conv2d) and idconv.kernel_size == (1, 1) and idconv.stride == (1, 1)
    strides = [m.stride for m in block.convs.modules() if isinstance(m, nn.Conv2d)]
    assert strides == [(1, 1), (2, 2), (1, 1)]  # ResNet-B: the stride on the 3x3


def test_stem_is_three_3x3_convolutions_then_max_pool() -> None:
    model = xresnet18()
    convs = [m for m in model.stem.modules() if isinstance(m, nn.Conv2d)]
    assert [(c.in_channels, c.out_channels, c.kernel_size, c.stride) for c in convs] == [
        (3, 32, (3, 3), (2, 2)), (32, 32, (3, 3), (1, 1)), (32, 64, (3, 3), (1, 1))]
    assert isinstance(model.stem[-1], nn.MaxPool2d)


def test_kaiming_init_of_convolutions() -> None:
    torch.manual_seed(0)
    conv = conv_bn(256, 256, 3)[0]
    expected = (2 / (256 * 9)) ** 0.5
    assert abs(conv.weight.std().item() / expected - 1) < 0.02
    assert conv.bias is None


def test_float64_forward_and_backward() -> None:
    torch.manual_seed(0)
    model = xresnet18(c_in=1, c_out=3, widths=(4, 8, 8, 8), stem=(4, 4, 4)).to(F64)
    out = model(randn(2, 1, 32, 32, seed=0))
    out.sum().backward()
    assert out.dtype == F64 and out.shape == (2, 3)
    assert all(p.grad is not None for p in model.parameters())


def test_errors_name_expected_and_got() -> None:
    with pytest.raises(ValueError, match=r"expected expansion to be 1 \(basic\) or 4 \(bottleneck\), got 2"):
        XResNet(2, (2, 2))
    with pytest.raises(ValueError, match=r"expected widths to be a non-empty list of positive ints of length 4"):
        XResNet(1, (2, 2, 2, 2), widths=(64, 128))
    with pytest.raises(ValueError, match=r"XResBlock: expected x with 8 channels, got shape \(1, 3, 4, 4\)"):
        XResBlock(1, 8, 8)(torch.zeros(1, 3, 4, 4))
    with pytest.raises(ValueError, match=r"expected stride to be 1 or 2, got 3"):
        XResBlock(1, 8, 8, stride=3)
    with pytest.raises(TypeError, match=r"model_summary: expected model to be an nn.Sequential"):
        model_summary(nn.Linear(2, 2), torch.zeros(1, 2))
