"""Tests for foundations.text.ulmfit: masked concat pooling, the classifier, layer groups, gradual
unfreezing, discriminative learning rates, loading the language model's encoder.

Oracles: a per-row loop over the real tokens in float64 for the pooling (Hypothesis over the
lengths), each text classified alone for a padded batch, the identity of every parameter for the
groups, and the formula ``lr / 2.6 ** k`` for the learning rates.
"""

from __future__ import annotations


import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from conftest import CLOSE32, CLOSE64, EXACT, F64, gen, randn
from foundations.testing import check_close
from foundations.text.awd_lstm import AWDLSTM, AWDLSTMConfig, get_language_model
from foundations.text.ulmfit import (
    PoolingLinearClassifier,
    TextClassifier,
    discriminative_lrs,
    freeze_to,
    get_text_classifier,
    group_splitter,
    layer_groups,
    load_encoder,
    masked_concat_pool,
)

pytestmark = [pytest.mark.lesson12, pytest.mark.usefixtures("one_thread")]

V = 30
CFG = AWDLSTMConfig(emb_sz=6, n_hid=10, n_layers=3)



# ---- masked concat pooling ----------------------------------------------------------------------


@settings(max_examples=40)
@given(lengths=st.lists(st.integers(1, 9), min_size=1, max_size=6), n=st.integers(1, 4), seed=st.integers(0, 1000))
def test_masked_concat_pool_matches_a_loop_over_rows(lengths: list[int], n: int, seed: int) -> None:
    bs, sl = len(lengths), max(lengths)
    outputs = randn(bs, sl, n, seed=seed)
    mask = torch.arange(sl)[None] < torch.tensor(lengths)[:, None]
    outputs = outputs.masked_fill(~mask[..., None], 1e6)  # padding holds nonsense: it must be ignored
    got = masked_concat_pool(outputs, mask)
    assert got.shape == (bs, 3 * n) and got.dtype == F64
    for i, k in enumerate(lengths):
        real = outputs[i, :k]  # (k, n)
        expected = torch.cat([real[-1], real.max(0).values, real.sum(0) / k])
        check_close(got[i], expected, what=f"row {i} of length {k}", **CLOSE64)


def test_masked_concat_pool_refuses_bad_input() -> None:
    out = randn(2, 3, 4, seed=0)
    with pytest.raises(ValueError, match="masked_concat_pool: a row has no real token"):
        masked_concat_pool(out, torch.tensor([[True, False, False], [False, False, False]]))
    with pytest.raises(ValueError, match=r"masked_concat_pool: expected outputs \(bs, sl, n\) and a bool mask \(bs, sl\), got \(2, 3, 4\)"):
        masked_concat_pool(out, torch.ones(2, 3, dtype=torch.long))
    with pytest.raises(ValueError, match="masked_concat_pool: expected outputs"):
        masked_concat_pool(out, torch.ones(2, 4, dtype=torch.bool))


# ---- the classifier -----------------------------------------------------------------------------


def _classifier(seed: int = 0, n_out: int = 3) -> TextClassifier:
    torch.manual_seed(seed)
    return get_text_classifier(V, n_out, CFG, lin_ftrs=(7,)).double()


def test_classifier_structure() -> None:
    clf = _classifier()
    assert not clf.encoder.stateful
    kinds = [type(m).__name__ for m in clf.head.layers]
    assert kinds == ["BatchNorm1d", "Dropout", "Linear", "ReLU", "BatchNorm1d", "Dropout", "Linear"]
    assert clf.head.layers[1].p == CFG.output_p and clf.head.layers[5].p == 0.1
    assert clf.head.layers[2].in_features == 3 * CFG.emb_sz and clf.head.layers[-1].out_features == 3
    with pytest.raises(ValueError, match="TextClassifier: expected a non-stateful AWDLSTM"):
        TextClassifier(AWDLSTM(V, CFG, stateful=True), clf.head)
    with pytest.raises(ValueError, match=r"PoolingLinearClassifier: expected 2 dropout probabilities \(one per linear layer\), got \[0.1\]"):
        PoolingLinearClassifier(6, 2, (5,), (0.1,))


def test_padded_batch_equals_each_text_alone_in_eval() -> None:
    clf = _classifier()
    clf.train()
    with torch.no_grad():  # give BatchNorm running statistics that are not the defaults
        clf(torch.randint(2, V, (8, 6), generator=gen(0)))
    clf.eval()
    lengths = [9, 3, 1, 6, 9]
    rows = [torch.randint(2, V, (k,), generator=gen(20 + i)) for i, k in enumerate(lengths)]
    xb = torch.full((len(rows), max(lengths)), CFG.pad_token, dtype=torch.long)
    for i, r in enumerate(rows):
        xb[i, : len(r)] = r
    with torch.no_grad():
        batch = clf(xb)
        assert batch.shape == (5, 3)
        for i, r in enumerate(rows):
            check_close(batch[i], clf(r[None])[0], what=f"text {i} (length {len(r)}) in a padded batch", **CLOSE64)


# ---- layer groups, unfreezing, learning rates ---------------------------------------------------


@pytest.mark.parametrize("which", ["classifier", "lm tied", "lm untied"])
def test_layer_groups_cover_every_parameter_once(which: str) -> None:
    torch.manual_seed(0)
    if which == "classifier":
        model = get_text_classifier(V, 2, CFG)
        head = set(map(id, model.head.parameters()))
    else:
        model = get_language_model(V, CFG, tie_weights=(which == "lm tied"))
        head = {id(p) for p in model[1].parameters()} - {id(model[0].encoder.weight)}
    enc = model.encoder if which == "classifier" else model[0]
    groups = layer_groups(model)
    assert len(groups) == 1 + CFG.n_layers + 1
    ids = [id(p) for g in groups for p in g]
    assert len(ids) == len(set(ids))  # no parameter twice
    assert set(ids) == {id(p) for p in model.parameters()}  # and none left out
    assert [id(p) for p in groups[0]] == [id(enc.encoder.weight)]
    for g, rnn in zip(groups[1:-1], enc.rnns):
        assert [id(p) for p in g] == [id(p) for p in rnn.parameters()]
    assert {id(p) for p in groups[-1]} == head
    if which == "lm tied":
        assert [id(p) for p in groups[-1]] == [id(model[1].decoder.bias)]
    assert [list(map(id, d["params"])) for d in group_splitter(model)] == [list(map(id, g)) for g in groups]
    with pytest.raises(TypeError, match="layer_groups: expected model to be a TextClassifier or a language model"):
        layer_groups(nn.Linear(2, 2))


def test_freeze_to_sets_requires_grad_per_group() -> None:
    clf = _classifier()
    groups = layer_groups(clf)
    n = len(groups)
    for k in range(1, n + 1):
        trains = freeze_to(clf, k)
        assert trains == [i >= n - k for i in range(n)]
        for g, t in zip(groups, trains):
            assert all(p.requires_grad == t for p in g)
    for bad in (0, n + 1):
        with pytest.raises(ValueError, match="freeze_to: expected n to be an int"):
            freeze_to(clf, bad)


def test_discriminative_lrs() -> None:
    lrs = discriminative_lrs(1e-2, 4)
    assert lrs == pytest.approx([1e-2 / 2.6**3, 1e-2 / 2.6**2, 1e-2 / 2.6, 1e-2], rel=1e-15)
    assert lrs[-1] == 1e-2 and all(b / a == pytest.approx(2.6) for a, b in zip(lrs, lrs[1:]))
    assert discriminative_lrs(0.5, 1) == [0.5]
    assert discriminative_lrs(0.1, 3, factor=1.0) == [0.1, 0.1, 0.1]
    with pytest.raises(ValueError, match="discriminative_lrs: expected lr"):
        discriminative_lrs(0.0, 3)
    with pytest.raises(ValueError, match="discriminative_lrs: expected factor"):
        discriminative_lrs(0.1, 3, factor=0.5)
    with pytest.raises(ValueError, match="discriminative_lrs: expected n_groups to be a positive int, got int 0"):
        discriminative_lrs(0.1, 0)


def test_load_encoder_copies_the_weights() -> None:
    torch.manual_seed(0)
    lm = get_language_model(V, CFG)
    clf = get_text_classifier(V, 2, CFG)
    head_before = {k: v.clone() for k, v in clf.head.state_dict().items()}
    assert load_encoder(clf, lm) is clf
    src, dst = lm[0].state_dict(), clf.encoder.state_dict()
    assert list(src) == list(dst)
    for k in src:
        check_close(dst[k], src[k], what=f"encoder {k}", **EXACT)
    for k, v in clf.head.state_dict().items():
        assert torch.equal(v, head_before[k])
    with torch.no_grad():
        lm[0].encoder.weight.add_(1.0)
    assert not torch.equal(clf.encoder.encoder.weight, lm[0].encoder.weight)  # a copy, not shared
    # the classifier's encoder then computes what the language model's encoder computes
    load_encoder(clf, lm)
    lm.eval(), clf.eval()
    lm.reset()
    xb = torch.randint(2, V, (2, 5), generator=gen(3))
    check_close(clf.encoder(xb)[1][-1], lm[0](xb)[1][-1], what="encoder outputs after load_encoder", **CLOSE32)
    other = get_text_classifier(V + 1, 2, CFG)
    with pytest.raises(RuntimeError, match="size mismatch"):
        load_encoder(other, lm)


def test_a_classifier_refuses_padding_at_the_start() -> None:
    """Packing and masked pooling assume padding at the end; a batch padded first is refused, not
    silently pooled from the padding (pad_collate(pad_first=True) makes one)."""
    from foundations.text import pad_collate

    torch.manual_seed(0)
    clf = get_text_classifier(30, 2, AWDLSTMConfig(emb_sz=8, n_hid=16, n_layers=2)).eval()
    samples = [(torch.tensor([2, 10, 11, 12]), 1), (torch.tensor([2, 20]), 0)]
    xb, _ = pad_collate(samples, pad_idx=1, pad_first=True)
    with pytest.raises(ValueError, match="expected padding at the end of each row"):
        clf(xb)
    xb_end, _ = pad_collate(samples, pad_idx=1)
    assert clf(xb_end).shape == (2, 2)
