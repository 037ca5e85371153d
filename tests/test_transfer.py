"""Tests for foundations.vision.transfer: concat pooling, freezing, parameter groups, saving and loading."""

from __future__ import annotations

import pickle

import pytest
import torch
from conftest import F64, randn
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

from foundations.optim import adam_opt
from foundations.vision.transfer import (
    AdaptiveConcatPool2d,
    bn_splitter,
    concat_pool_head,
    freeze,
    load_weights,
    save_weights,
    transfer_model,
    unfreeze,
)
from foundations.vision.xresnet import count_params, xresnet18


def small_model(c_out: int = 5, seed: int = 0) -> nn.Sequential:
    torch.manual_seed(seed)
    base = xresnet18(c_out=10, widths=(4, 8, 8, 8), stem=(4, 4, 4))
    return transfer_model(base[:-1], base.n_features, c_out)


def test_concat_pool_is_max_then_mean() -> None:
    x = randn(3, 4, 5, 7, seed=0)
    out = AdaptiveConcatPool2d()(x)
    assert out.shape == (3, 8, 1, 1) and out.dtype == F64
    torch.testing.assert_close(out[:, :4, 0, 0], x.amax(dim=(2, 3)), atol=0.0, rtol=0.0)
    torch.testing.assert_close(out[:, 4:, 0, 0], x.mean(dim=(2, 3)), atol=1e-15, rtol=1e-14)


def test_concat_pool_size_2() -> None:
    x = randn(1, 2, 4, 4, seed=1)
    out = AdaptiveConcatPool2d(2)(x)
    assert out.shape == (1, 4, 2, 2)
    torch.testing.assert_close(out[0, 0, 0, 0], x[0, 0, :2, :2].max(), atol=0.0, rtol=0.0)


def test_head_shapes_and_counts() -> None:
    head = concat_pool_head(8, 5)
    assert head(randn(2, 8, 3, 3, seed=2).float()).shape == (2, 5)
    assert count_params(head) == 2 * 8 * 5 + 5
    model = small_model()
    assert [n for n, _ in model.named_children()] == ["body", "head"]
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 5)


def _bn_params(module: nn.Module) -> set[int]:
    return {id(p) for m in module.modules() if isinstance(m, nn.BatchNorm2d) for p in m.parameters(recurse=False)}


def test_freeze_leaves_batchnorm_trainable() -> None:
    model = freeze(small_model())
    bn = _bn_params(model.body)
    assert bn
    for p in model.body.parameters():
        assert p.requires_grad == (id(p) in bn)
    assert all(p.requires_grad for p in model.head.parameters())
    n_bn = sum(p.numel() for p in model.body.parameters() if id(p) in bn)
    assert count_params(model, trainable_only=True) == n_bn + count_params(model.head)


def test_freeze_with_batchnorm_frozen_and_unfreeze() -> None:
    model = freeze(small_model(), bn_trainable=False)
    assert not any(p.requires_grad for p in model.body.parameters())
    assert count_params(model, trainable_only=True) == count_params(model.head)
    unfreeze(model)
    assert all(p.requires_grad for p in model.parameters())


def test_a_step_with_a_frozen_body_changes_only_batchnorm_and_head() -> None:
    model = freeze(small_model())
    before = {k: v.clone() for k, v in model.state_dict().items()}
    opt = adam_opt(bn_splitter(model), lr=1e-2, wd=0.1, decouple_wd=True)
    nn.functional.cross_entropy(model(torch.randn(4, 3, 32, 32)), torch.tensor([0, 1, 2, 3])).backward()
    opt.step()
    bn_names = {n for n, m in model.named_modules() if isinstance(m, nn.BatchNorm2d)}
    for name, p in model.named_parameters():
        owner = name.rpartition(".")[0]
        changed = not torch.equal(p.detach(), before[name])
        if name.startswith("head.") or owner in bn_names:
            continue
        assert not changed, f"{name} changed although frozen (weight decay must skip it too)"
    assert not torch.equal(model.head[2].weight.detach(), before["head.2.weight"])


@given(st.integers(1, 3), st.integers(1, 6), st.booleans())
def test_groups_cover_all_params_exactly_once(n_blocks: int, c_out: int, frozen: bool) -> None:
    base = xresnet18(c_out=3, widths=(4, 4, 4, 4), stem=(2, 2, 4))
    base = type(base)(1, (n_blocks, 1, 1, 1), c_out=3, widths=(4, 4, 4, 4), stem=(2, 2, 4))
    model = transfer_model(base[:-1], base.n_features, c_out)
    if frozen:
        freeze(model)
    g1, g2 = (g["params"] for g in bn_splitter(model))
    ids = [id(p) for p in g1 + g2]
    assert len(ids) == len(set(ids))
    assert set(ids) == {id(p) for p in model.parameters()}
    bn = _bn_params(model.body)
    assert bn <= {id(p) for p in g2} and not (bn & {id(p) for p in g1})
    assert {id(p) for p in model.head.parameters()} <= {id(p) for p in g2}


def test_save_load_round_trip(tmp_path) -> None:  # noqa: ANN001
    model = small_model(seed=0)
    model(torch.randn(4, 3, 32, 32))  # training mode: running statistics move
    path = save_weights(model, tmp_path / "models" / "w.pt")
    other = small_model(seed=1)
    assert not torch.equal(other.head[2].weight, model.head[2].weight)
    load_weights(other, path)
    for (k, a), (k2, b) in zip(model.state_dict().items(), other.state_dict().items()):
        assert k == k2 and torch.equal(a, b), k
    model.eval(), other.eval()
    x = torch.randn(2, 3, 32, 32)
    assert torch.equal(model(x), other(x))


def test_load_body_only_with_strict_false(tmp_path) -> None:  # noqa: ANN001
    model = small_model(c_out=5)
    path = save_weights(model, tmp_path / "w.pt")
    other = small_model(c_out=7, seed=3)
    with pytest.raises(ValueError, match=r"expected 'head.2.weight' of shape \(7, 16\), got \(5, 16\)"):
        load_weights(other, path, strict=False)
    torch.save(model.body.state_dict(), tmp_path / "body.pt")
    load_weights(other.body, tmp_path / "body.pt")
    assert torch.equal(other.body[0][0][0].weight, model.body[0][0][0].weight)


def test_load_errors_name_expected_and_got(tmp_path) -> None:  # noqa: ANN001
    model = small_model()
    torch.save(model.body.state_dict(), tmp_path / "body.pt")
    with pytest.raises(ValueError, match=r"expected the keys of the model's state_dict, got \d+ missing \['body"):
        load_weights(model, tmp_path / "body.pt")
    with pytest.raises(FileNotFoundError, match=r"expected a weights file saved by save_weights, got no file at 'nope.pt'"):
        load_weights(model, tmp_path / "nope.pt")
    with pytest.raises(TypeError, match=r"expected a model with a body and a head \(from transfer_model\), got Linear"):
        freeze(nn.Linear(2, 2))
    with pytest.raises(TypeError, match=r"freeze: expected bn_trainable to be"):
        freeze(model, bn_trainable="yes")


class Payload:
    def __reduce__(self):  # noqa: ANN204
        return (print, ("this ran",))


def test_weights_only_refuses_pickled_code(tmp_path) -> None:  # noqa: ANN001
    with open(tmp_path / "evil.pt", "wb") as f:
        pickle.dump({"w": Payload()}, f, protocol=2)
    with pytest.raises(pickle.UnpicklingError, match="Weights only load failed"):
        load_weights(small_model(), tmp_path / "evil.pt")
