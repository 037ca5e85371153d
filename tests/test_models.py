"""Tests for foundations.models: the recipes (the MNIST MLP, the course's CNN, a learner for the CNN).

Oracles: the layer list and shapes written out by hand (the convolution output-size formula), the
parameter shapes of ``torch.nn`` layers, and training lowering the loss of a learnable problem.
The file covers two lessons: the MLP is Lesson 9, the CNN Lesson 10 (a mark per test).
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from conftest import gen, tiny_data
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from foundations.conv import GeneralRelu, conv_layer
from foundations.data import DataBunch, Dataset, get_dls
from foundations.learner import Learner
from foundations.losses import cross_entropy
from foundations.models import get_cnn_layers, get_cnn_learner, get_cnn_model, get_model
from foundations.optim import SGD

lesson09, lesson10 = pytest.mark.lesson09, pytest.mark.lesson10


def image_data(n: int = 6, c_out: int | None = 3) -> DataBunch:
    ds = Dataset(torch.randn(n, 784, generator=gen(0)), torch.arange(n) % 3)
    return DataBunch(*get_dls(ds, ds, 2), c_in=784, c_out=c_out)


# ---- get_model (Lesson 9) ---------------------------------------------------------------------------


@lesson09
def test_get_model_is_the_course_mlp() -> None:
    data = tiny_data(20, 10, 4, 3, 6)
    torch.manual_seed(0)
    model = get_model(data, nh=7)
    assert isinstance(model, nn.Sequential) and [type(m) for m in model] == [nn.Linear, nn.ReLU, nn.Linear]
    assert [tuple(p.shape) for p in model.parameters()] == [(7, 4), (7,), (3, 7), (3,)]
    assert model(torch.zeros(2, 4)).shape == (2, 3)
    assert [tuple(p.shape) for p in get_model(data).parameters()][0] == (50, 4), "nh=50 by default"
    torch.manual_seed(0)
    twin = nn.Sequential(nn.Linear(4, 7), nn.ReLU(), nn.Linear(7, 3))
    assert all(torch.equal(p, q) for p, q in zip(model.parameters(), twin.parameters())), "PyTorch's default init"


@lesson09
def test_get_model_trains_in_a_learner() -> None:
    data = tiny_data(64, 32, 4, 3, 16, seed=2)
    torch.manual_seed(0)
    learn = Learner(get_model(data, nh=16), data, cross_entropy, lr=0.5)
    x, y = data.train_ds.x, data.train_ds.y
    before = cross_entropy(learn.model(x), y).item()
    learn.fit(5)
    after = cross_entropy(learn.model(x), y).item()
    assert after < before, f"training should lower the loss: {before:.4f} -> {after:.4f}"


@lesson09
def test_get_model_explains_what_it_needs() -> None:
    data = tiny_data(20, 10, 4, 3, 6)
    with pytest.raises(ValueError, match=r"get_model: expected a DataBunch with c_out \(how many classes\), got c_out=None"):
        get_model(DataBunch(data.train_dl, data.valid_dl))
    with pytest.raises(ValueError, match=r"get_model: expected flat inputs of shape \(N, n_in\), got \(6, 1, 28, 28\)"):
        ds = Dataset(torch.zeros(6, 1, 28, 28), torch.zeros(6, dtype=torch.long))
        get_model(DataBunch(*get_dls(ds, ds, 2), c_out=10))
    with pytest.raises(ValueError, match="get_model: expected nh to be a positive int, got int 0"):
        get_model(data, nh=0)


# ---- get_cnn_layers, get_cnn_model (Lesson 10) ----------------------------------------------------------


@lesson10
def test_course_cnn_shapes_layer_by_layer() -> None:
    torch.manual_seed(0)
    model = get_cnn_model(10, [8, 16, 32, 32])
    x = torch.randn(5, 1, 28, 28)
    shapes = []
    for layer in model:
        x = layer(x)
        shapes.append(tuple(x.shape))
    assert shapes == [(5, 8, 14, 14), (5, 16, 7, 7), (5, 32, 4, 4), (5, 32, 2, 2), (5, 32, 1, 1), (5, 32), (5, 10)]
    assert model[0][0].kernel_size == (5, 5) and all(model[i][0].kernel_size == (3, 3) for i in (1, 2, 3))
    assert all(model[i][0].stride == (2, 2) for i in range(4))
    assert [type(m) for m in model[4:]] == [nn.AdaptiveAvgPool2d, nn.Flatten, nn.Linear]


@lesson10
@settings(max_examples=20)
@given(
    nfs=st.lists(st.integers(1, 8), min_size=1, max_size=5), n=st.integers(1, 4),
    c_in=st.integers(1, 3), c_out=st.integers(1, 12), size=st.integers(4, 32),
)
def test_cnn_output_shape(nfs: list[int], n: int, c_in: int, c_out: int, size: int) -> None:
    model = get_cnn_model(c_out, nfs, c_in=c_in)
    assert tuple(model(torch.randn(n, c_in, size, size)).shape) == (n, c_out)
    assert len(model) == len(nfs) + 3
    assert [m[0].out_channels for m in model[: len(nfs)]] == nfs and model[0][0].in_channels == c_in


@lesson10
def test_cnn_reads_c_out_from_a_databunch_and_passes_kwargs() -> None:
    layers = get_cnn_layers(image_data(), [4, 4], leak=0.1, sub=0.4)
    assert layers[-1].out_features == 3
    assert all(isinstance(layers[i][1], GeneralRelu) and (layers[i][1].leak, layers[i][1].sub) == (0.1, 0.4) for i in (0, 1))


@lesson10
def test_cnn_with_another_layer_factory() -> None:
    calls: list[tuple[int, int, int, int]] = []

    def layer(ni: int, nf: int, ks: int, stride: int) -> nn.Module:
        calls.append((ni, nf, ks, stride))
        return conv_layer(ni, nf, ks, stride, bn=True)

    model = get_cnn_model(10, [8, 16], layer=layer, c_in=3)
    assert calls == [(3, 8, 5, 2), (8, 16, 3, 2)]
    assert isinstance(model[0][2], nn.BatchNorm2d) and model(torch.randn(2, 3, 16, 16)).shape == (2, 10)


@lesson10
def test_cnn_recipes_explain_bad_arguments() -> None:
    with pytest.raises(ValueError, match="get_cnn_layers: expected a DataBunch with c_out"):
        get_cnn_layers(image_data(c_out=None), [4])
    with pytest.raises(ValueError, match=r"get_cnn_layers: expected nfs to be a non-empty list of channel counts, got list \[\]"):
        get_cnn_layers(10, [])
    with pytest.raises(TypeError, match="get_cnn_layers: expected nfs to be a non-empty list of channel counts, got str '48'"):
        get_cnn_layers(10, "48")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"get_cnn_layers: expected nfs\[1\] to be a positive int, got int -2"):
        get_cnn_layers(10, [4, -2])
    with pytest.raises(ValueError, match=r"get_cnn_layers: expected data_or_c_out \(a DataBunch or a number of classes\) "
                                         r"to be a positive int, got int 0"):
        get_cnn_layers(0, [4])
    with pytest.raises(TypeError, match="get_cnn_layers: expected layer to be a factory such as conv_layer, got str"):
        get_cnn_layers(10, [4], layer="conv")  # type: ignore[arg-type]


# ---- get_cnn_learner (Lesson 10) ------------------------------------------------------------------------


@lesson10
def test_get_cnn_learner_builds_an_initialised_trainable_cnn() -> None:
    x = torch.randn(40, 1, 8, 8, generator=gen(0))
    y = (x.mean((1, 2, 3)) > 0).long()  # a learnable two-class problem
    ds = Dataset(x, y)
    data = DataBunch(*get_dls(ds, ds, 8, generator=gen(1)), c_in=64, c_out=2)
    torch.manual_seed(0)
    learn = get_cnn_learner(data, [4, 8], 0.3, leak=0.1, sub=0.4, maxv=6.0)
    assert isinstance(learn, Learner) and learn.opt is None and learn.lr == 0.3 and learn.opt_func is SGD
    assert learn.loss_func is cross_entropy and learn.data is data
    assert torch.count_nonzero(learn.model[0][0].bias) == 0, "init_cnn zeroes the convolutions' biases"
    with torch.no_grad():
        before = F.cross_entropy(learn.model(x), y).item()
    learn.fit(3)
    assert isinstance(learn.opt, SGD) and learn.opt.param_groups[0]["lr"] == 0.3
    with torch.no_grad():
        after = F.cross_entropy(learn.model(x), y).item()
    assert after < before, f"training should lower the loss: {before:.4f} -> {after:.4f}"


@lesson10
def test_get_cnn_learner_passes_callbacks_opt_func_and_init() -> None:
    from foundations.callbacks import Recorder

    torch.manual_seed(0)
    learn = get_cnn_learner(image_data(), [4], 0.1, cbs=[Recorder()], opt_func=torch.optim.SGD, uniform=True)
    assert isinstance(learn.recorder, Recorder) and learn.opt_func is torch.optim.SGD
    w = learn.model[0][0].weight
    bound = (6 / (1 * 5 * 5)) ** 0.5  # kaiming_uniform with a = 0: sqrt(6 / fan_in)
    assert w.abs().max().item() <= bound and w.abs().max().item() > 0.8 * bound
    with pytest.raises(TypeError, match=r"Learner: expected data to have train_dl and valid_dl \(a DataBunch\)"):
        get_cnn_learner(3, [4], 0.1)
