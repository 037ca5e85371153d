"""LSUV initialisation (Mishkin & Matas 2015): every layer's output ends at mean 0 and std 1."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from foundations.lsuv import lsuv_init
from foundations.models import get_cnn_model

pytestmark = pytest.mark.lesson10


def deep_mlp(seed: int, depth: int = 8, width: int = 64) -> nn.Sequential:
    torch.manual_seed(seed)
    layers: list[nn.Module] = []
    for i in range(depth):
        layers += [nn.Linear(20 if i == 0 else width, width), nn.ReLU()]
    return nn.Sequential(*layers, nn.Linear(width, 10))


def output_stats(model: nn.Module, layer: nn.Module, xb: torch.Tensor) -> tuple[float, float]:
    got = {}
    handle = layer.register_forward_hook(lambda m, i, o: got.update(mean=o.mean().item(), std=o.std().item()))
    with torch.no_grad():
        model(xb)
    handle.remove()
    return got["mean"], got["std"]


def test_every_layer_ends_at_mean_zero_and_unit_std_measured_independently() -> None:
    model = deep_mlp(0)
    xb = torch.randn(256, 20, generator=torch.Generator().manual_seed(1)) * 3 + 1
    steps = lsuv_init(model, xb, tol=1e-3)
    linears = [m for m in model if isinstance(m, nn.Linear)]
    assert [s.name for s in steps] == [str(i) for i, m in enumerate(model) if isinstance(m, nn.Linear)]
    for layer, step in zip(linears, steps):
        mean, std = output_stats(model, layer, xb)  # a fresh hook of ours, not lsuv's record
        assert abs(mean) <= 1e-3 and abs(std - 1) <= 1e-3, (step.name, mean, std)
        assert (step.mean_after, step.std_after) == pytest.approx((mean, std), abs=1e-6)
    # the default init shrinks the signal with depth; LSUV undid that
    assert steps[-2].std_before < 0.5 and all(s.iterations >= 1 for s in steps)


def test_the_model_is_an_argument_and_no_hook_is_left_behind() -> None:
    a, b = deep_mlp(0, depth=3), deep_mlp(0, depth=3)
    xb = torch.randn(128, 20, generator=torch.Generator().manual_seed(2))
    lsuv_init(a, xb)
    assert not torch.equal(a[0].weight, b[0].weight), "lsuv_init changed the model it was given"
    b_before = [p.clone() for p in b.parameters()]
    lsuv_init(b, xb, modules=[b[2]])  # only the second layer
    assert torch.equal(b[0].weight, b_before[0]), "a layer not listed was changed"
    assert all(not m._forward_hooks for m in a.modules()) and all(not m._forward_hooks for m in b.modules())


def test_convolutions_of_the_course_cnn_and_without_centering() -> None:
    torch.manual_seed(0)
    model = get_cnn_model(10, [8, 16, 32])
    xb = torch.randn(64, 1, 28, 28, generator=torch.Generator().manual_seed(3))
    steps = lsuv_init(model, xb, center=False)
    assert len(steps) == 4  # three convolutions and the final linear layer
    assert all(abs(s.std_after - 1) <= 1e-3 for s in steps)


def test_a_hook_is_removed_even_when_the_model_fails() -> None:
    model = deep_mlp(0, depth=2)
    with pytest.raises(RuntimeError):
        lsuv_init(model, torch.randn(4, 7))  # wrong width: the forward pass fails
    assert all(not m._forward_hooks for m in model.modules())


def test_bad_arguments() -> None:
    model = deep_mlp(0, depth=1)
    xb = torch.randn(8, 20)
    with pytest.raises(TypeError, match="lsuv_init: expected model to be a torch.nn.Module"):
        lsuv_init("model", xb)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="lsuv_init: expected tol to be a finite number > 0, got int 0"):
        lsuv_init(model, xb, tol=0)
    with pytest.raises(ValueError, match="expected modules of the model, got a Linear that is not in it"):
        lsuv_init(model, xb, modules=[nn.Linear(2, 2)])
    with pytest.raises(ValueError, match="expected layers with a weight to rescale, got ReLU"):
        lsuv_init(model, xb, modules=[model[1]])
