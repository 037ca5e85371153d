"""Tests for foundations.text.awd_lstm: the LSTM by hand, the dropouts, the AWD-LSTM encoder and decoder.

Oracles: ``nn.LSTMCell`` and ``nn.LSTM`` in float64 with the same weights (outputs and gradients
through autograd), ``torch.autograd.gradcheck`` on a tiny cell, the 2019 course's cell (gate order
i, f, o, g) rebuilt, counting for the dropout masks, an ``nn.LSTM`` holding the dropped weight for
:class:`WeightDropout`, the sequence run in one piece for the stateful encoder, and each text run
alone for the padded batch.
"""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from conftest import CLOSE64, EXACT, F64, gen, randn
from foundations.testing import check_close
from foundations.text.awd_lstm import (
    AWDLSTM,
    AWDLSTMConfig,
    EmbeddingDropout,
    LinearDecoder,
    LSTMCell,
    LSTMLayer,
    RNNDropout,
    WeightDropout,
    dropout_mask,
    get_language_model,
    to_detach,
)

pytestmark = [pytest.mark.lesson12, pytest.mark.usefixtures("one_thread")]


CFG = AWDLSTMConfig(emb_sz=6, n_hid=10, n_layers=3)  # the course's dropouts, tiny sizes
V = 30


# ---- the LSTM, by hand ----------------------------------------------------------------------------


def _cell_pair(ni: int, nh: int, seed: int = 0) -> tuple[LSTMCell, nn.LSTMCell]:
    torch.manual_seed(seed)
    ours = LSTMCell(ni, nh).double()
    ref = nn.LSTMCell(ni, nh).double()
    ref.load_state_dict(ours.state_dict())  # the same names, the same layout
    return ours, ref


def test_lstm_cell_init_and_names() -> None:
    cell = LSTMCell(3, 5)
    shapes = {n: tuple(p.shape) for n, p in cell.named_parameters()}
    assert shapes == {"weight_ih": (20, 3), "weight_hh": (20, 5), "bias_ih": (20,), "bias_hh": (20,)}
    assert all(p.abs().max() <= 1 / 5**0.5 for p in cell.parameters())
    with pytest.raises(ValueError, match="LSTMCell: expected nh to be a positive int, got int 0"):
        LSTMCell(3, 0)


def test_lstm_cell_matches_torch_outputs_and_gradients() -> None:
    ours, ref = _cell_pair(4, 5)
    x, h, c = randn(3, 4, seed=1), randn(3, 5, seed=2), randn(3, 5, seed=3)
    w_h, w_c = randn(3, 5, seed=4), randn(3, 5, seed=5)  # random cotangents

    def run(cell: nn.Module) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor]]:
        xs = [t.clone().requires_grad_() for t in (x, h, c)]
        if isinstance(cell, LSTMCell):
            out, (h1, c1) = cell(xs[0], (xs[1], xs[2]))
            assert out is h1
        else:
            h1, c1 = cell(xs[0], (xs[1], xs[2]))
        loss = (h1 * w_h).sum() + (c1 * w_c).sum()
        grads = torch.autograd.grad(loss, [*xs, cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh])
        return h1, c1, list(grads)

    h_o, c_o, g_o = run(ours)
    h_r, c_r, g_r = run(ref)
    check_close(h_o, h_r, what="LSTMCell h", **CLOSE64)
    check_close(c_o, c_r, what="LSTMCell c", **CLOSE64)
    for name, a, b in zip(["x", "h", "c", "weight_ih", "weight_hh", "bias_ih", "bias_hh"], g_o, g_r):
        check_close(a, b, what=f"LSTMCell gradient wrt {name}", **CLOSE64)


def test_lstm_cell_gradcheck() -> None:
    cell = LSTMCell(2, 3).double()
    names = [n for n, _ in cell.named_parameters()]
    params = [p.detach().clone().requires_grad_() for p in cell.parameters()]
    x, h, c = (randn(2, k, seed=s).requires_grad_() for k, s in ((2, 0), (3, 1), (3, 2)))

    def f(x, h, c, *ps):  # noqa: ANN001, ANN202
        out, (h1, c1) = functional_call(cell, dict(zip(names, ps)), (x, (h, c)))
        return out, c1

    assert torch.autograd.gradcheck(f, (x, h, c, *params), eps=1e-6, atol=1e-7)


def test_lstm_layer_matches_nn_lstm() -> None:
    torch.manual_seed(0)
    ours = LSTMLayer(4, 5).double()
    ref = nn.LSTM(4, 5, batch_first=True).double()
    with torch.no_grad():
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(ref, f"{name}_l0").copy_(getattr(ours.cell, name))
    x = randn(3, 7, 4, seed=1).requires_grad_()
    h0, c0 = randn(3, 5, seed=2), randn(3, 5, seed=3)
    out, (h, c) = ours(x, (h0, c0))
    out_r, (h_r, c_r) = ref(x, (h0[None], c0[None]))
    assert out.shape == (3, 7, 5) and h.shape == (3, 5)
    check_close(out, out_r, what="LSTMLayer output", **CLOSE64)
    check_close(h, h_r[0], what="LSTMLayer h", **CLOSE64)
    check_close(c, c_r[0], what="LSTMLayer c", **CLOSE64)
    w = randn(3, 7, 5, seed=4)
    (g,) = torch.autograd.grad((out * w).sum(), x)
    (g_r,) = torch.autograd.grad((out_r * w).sum(), x)
    check_close(g, g_r, what="LSTMLayer gradient wrt x", **CLOSE64)
    (gw,) = torch.autograd.grad((ours(x, (h0, c0))[0] * w).sum(), ours.cell.weight_hh)
    (gw_r,) = torch.autograd.grad((ref(x, (h0[None], c0[None]))[0] * w).sum(), ref.weight_hh_l0)
    check_close(gw, gw_r, what="LSTMLayer gradient wrt weight_hh", **CLOSE64)


class LSTMCell2019(nn.Module):
    """The 2019 course's cell (notebook 12a_awd_lstm): gates split as i, f, o, g."""

    def __init__(self, ni: int, nh: int) -> None:
        super().__init__()
        self.ih = nn.Linear(ni, 4 * nh)
        self.hh = nn.Linear(nh, 4 * nh)

    def forward(self, input, state):  # noqa: ANN001, ANN201, A002
        h, c = state
        gates = (self.ih(input) + self.hh(h)).chunk(4, 1)
        ingate, forgetgate, outgate = map(torch.sigmoid, gates[:3])
        cellgate = gates[3].tanh()
        c = (forgetgate * c) + (ingate * cellgate)
        h = outgate * c.tanh()
        return h, (h, c)


def test_2019_gate_order_differs_unless_permuted() -> None:
    ours, ref = _cell_pair(3, 4, seed=1)
    old = LSTMCell2019(3, 4).double()
    x, h, c = randn(5, 3, seed=0), randn(5, 4, seed=1), randn(5, 4, seed=2)

    def load(perm: torch.Tensor) -> None:
        with torch.no_grad():
            old.ih.weight.copy_(ref.weight_ih[perm])
            old.ih.bias.copy_(ref.bias_ih[perm])
            old.hh.weight.copy_(ref.weight_hh[perm])
            old.hh.bias.copy_(ref.bias_hh[perm])

    h_ref, c_ref = ref(x, (h, c))
    check_close(ours(x, (h, c))[0], h_ref, what="our cell against nn.LSTMCell", **CLOSE64)
    load(torch.arange(16))  # PyTorch's rows (i, f, g, o) read as (i, f, o, g)
    assert (old(x, (h, c))[0] - h_ref).abs().max() > 1e-2
    nh = 4
    perm = torch.cat([torch.arange(k * nh, (k + 1) * nh) for k in (0, 1, 3, 2)])  # i, f, o, g
    load(perm)
    h_old, (_, c_old) = old(x, (h, c))
    check_close(h_old, h_ref, what="2019 cell with permuted gates, h", **CLOSE64)
    check_close(c_old, c_ref, what="2019 cell with permuted gates, c", **CLOSE64)


# ---- dropouts -------------------------------------------------------------------------------------


@pytest.mark.parametrize("p", [0.0, 0.1, 0.5, 0.9])
def test_dropout_mask_statistics(p: float) -> None:
    torch.manual_seed(0)
    n = 200_000
    m = dropout_mask(torch.zeros(1, dtype=F64), (n,), p)
    assert m.shape == (n,) and m.dtype == F64
    values = set(m.unique().tolist())
    assert values <= {0.0, 1 / (1 - p)}
    frac = (m == 0).double().mean().item()
    assert abs(frac - p) < 5 * (p * (1 - p) / n) ** 0.5 + 1e-12
    assert abs(m.mean().item() - 1) < 5 * (p / (1 - p) / n) ** 0.5 + 1e-12  # E[mask] = 1
    assert dropout_mask(torch.zeros(2, dtype=torch.float16), (3, 4), p).dtype == torch.float16
    with pytest.raises(ValueError, match="dropout_mask: expected p"):
        dropout_mask(torch.zeros(1), (2,), 1.0)


def test_rnn_dropout_one_mask_for_every_time_step() -> None:
    torch.manual_seed(0)
    rd = RNNDropout(0.5)
    x = randn(6, 9, 5, seed=1)
    out = rd(x)
    ratio = out / x  # the mask, (6, 9, 5)
    assert torch.equal(ratio, ratio[:, :1].expand_as(ratio))  # the same at every time step
    assert set(ratio.unique().tolist()) == {0.0, 2.0}
    assert not torch.equal(ratio[0], ratio[1])  # but one per sequence
    rd.eval()
    assert rd(x) is x
    rd.train()
    assert RNNDropout(0.0)(x) is x
    with pytest.raises(ValueError, match=r"RNNDropout: expected x of shape \(bs, sl, n\), got \(6, 5\)"):
        rd(x[:, 0])
    with pytest.raises(ValueError, match="RNNDropout: expected p"):
        RNNDropout(1.0)


def test_embedding_dropout_drops_whole_words() -> None:
    torch.manual_seed(0)
    emb = nn.Embedding(20, 4).double()
    ed = EmbeddingDropout(emb, 0.4)
    words = torch.randint(0, 20, (8, 25), generator=gen(1))
    out = ed(words)
    assert out.shape == (8, 25, 4) and out.dtype == F64
    dropped = set()
    for w in words.unique().tolist():
        rows = out[words == w]  # every position of word w
        if bool((rows == 0).all()):
            dropped.add(w)
        else:
            check_close(rows, (emb.weight[w] / 0.6).expand_as(rows), what=f"kept word {w}", **CLOSE64)
    assert 0 < len(dropped) < len(words.unique())
    (out.sum()).backward()
    assert emb.weight.grad is not None and bool((emb.weight.grad[list(dropped)] == 0).all())
    ed.eval()
    assert torch.equal(ed(words), emb(words))


def test_embedding_dropout_expectation() -> None:
    torch.manual_seed(1)
    emb = nn.Embedding(10, 3).double()
    ed = EmbeddingDropout(emb, 0.5)
    words = torch.arange(10)[None]
    n = 4000
    with torch.no_grad():
        mean = sum(ed(words) for _ in range(n)) / n
    # each word's mask has mean 1 and standard deviation 1 (p = 0.5): 5 sigma over n draws
    assert ((mean[0] - emb.weight).abs() <= 5 * emb.weight.abs() / n**0.5 + 1e-12).all()
    with pytest.raises(TypeError, match="EmbeddingDropout: expected emb to be an nn.Embedding, got Linear"):
        EmbeddingDropout(nn.Linear(2, 2), 0.1)  # type: ignore[arg-type]


def _weight_dropout(p: float = 0.5, seed: int = 0) -> WeightDropout:
    torch.manual_seed(seed)
    return WeightDropout(nn.LSTM(3, 4, batch_first=True).double(), p)


def _lstm_with(wd: WeightDropout, weight_hh: torch.Tensor) -> nn.LSTM:
    """A plain nn.LSTM with wd's weights and ``weight_hh`` as its hidden-to-hidden matrix."""
    ref = nn.LSTM(3, 4, batch_first=True).double()
    with torch.no_grad():
        ref.weight_ih_l0.copy_(wd.module.weight_ih_l0)
        ref.bias_ih_l0.copy_(wd.module.bias_ih_l0)
        ref.bias_hh_l0.copy_(wd.module.bias_hh_l0)
        ref.weight_hh_l0.copy_(weight_hh)
    return ref


def test_weight_dropout_parameters_are_leaves_and_get_gradients() -> None:
    wd = _weight_dropout()
    names = [n for n, _ in wd.named_parameters()]
    assert names == ["weight_hh_l0_raw", "module.weight_ih_l0", "module.bias_ih_l0", "module.bias_hh_l0"]
    assert all(p.is_leaf for p in wd.parameters())
    out, _ = wd(randn(2, 5, 3, seed=1))
    out.sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in wd.parameters())
    assert [n for n, _ in wd.named_parameters()] == names and all(p.is_leaf for p in wd.parameters())
    with pytest.raises(ValueError, match=r"WeightDropout: expected LSTM to have a parameter 'weight_hh_l1'"):
        WeightDropout(nn.LSTM(3, 4), 0.5, ("weight_hh_l1",))
    with pytest.raises(TypeError, match="WeightDropout: expected module to be an nn.Module"):
        WeightDropout(3, 0.5)  # type: ignore[arg-type]


@pytest.mark.parametrize("opt_cls", [torch.optim.SGD, torch.optim.Adam])
def test_torch_optimizers_accept_the_parameters_and_step(opt_cls: type) -> None:
    torch.manual_seed(0)
    model = get_language_model(V, CFG)
    opt = opt_cls(model.parameters(), lr=0.1)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    xb = torch.randint(0, V, (2, 5), generator=gen(0))
    for _ in range(2):
        logits, _, _ = model(xb)
        F.cross_entropy(logits.reshape(-1, V), xb.flatten()).backward()
        opt.step()
        opt.zero_grad()
    changed = {n for n, p in model.named_parameters() if not torch.equal(p, before[n])}
    assert "0.rnns.0.weight_hh_l0_raw" in changed and "0.encoder.weight" in changed
    assert changed == set(before)


def test_weight_dropout_eval_uses_the_raw_weight_exactly() -> None:
    wd = _weight_dropout().eval()
    x = randn(2, 6, 3, seed=2)
    out, (h, c) = wd(x)
    out_r, (h_r, c_r) = _lstm_with(wd, wd.weight_hh_l0_raw)(x)
    check_close(out, out_r, what="WeightDropout in eval", **EXACT)
    check_close(c, c_r, what="WeightDropout in eval, c", **EXACT)


def test_weight_dropout_train_one_mask_for_every_time_step() -> None:
    wd = _weight_dropout(p=0.5)
    x = randn(2, 6, 3, seed=2)
    torch.manual_seed(7)
    out, _ = wd(x)
    torch.manual_seed(7)
    dropped = F.dropout(wd.weight_hh_l0_raw.detach(), 0.5)  # the draw the forward made first
    assert 0 < int((dropped == 0).sum()) < dropped.numel()
    check_close(out, _lstm_with(wd, dropped)(x)[0], what="WeightDropout in training", **EXACT)
    # the same matrix at every step: a cell stepped by hand with it gives the same outputs
    cell = nn.LSTMCell(3, 4).double()
    ref = _lstm_with(wd, dropped)
    cell.load_state_dict({k[:-3]: v for k, v in ref.state_dict().items()})
    h = c = torch.zeros(2, 4, dtype=F64)
    for t in range(6):
        h, c = cell(x[:, t], (h, c))
        check_close(out[:, t], h, what=f"WeightDropout at step {t}", **CLOSE64)
    torch.manual_seed(8)
    assert not torch.equal(wd(x)[0], out)  # a new mask at the next forward


def test_weight_dropout_state_dict_round_trip() -> None:
    wd = _weight_dropout(seed=0)
    x = randn(2, 5, 3, seed=3)
    wd(x)[0].sum().backward()  # after a training forward
    fresh = _weight_dropout(seed=1)
    fresh.load_state_dict(wd.state_dict())
    assert list(wd.state_dict()) == ["weight_hh_l0_raw", "module.weight_ih_l0", "module.bias_ih_l0", "module.bias_hh_l0"]
    wd.eval(), fresh.eval()
    check_close(fresh(x)[0], wd(x)[0], what="WeightDropout after load_state_dict", **EXACT)


def test_weight_dropout_eval_then_train_keeps_one_parameter_set() -> None:
    # regression: in eval the layer was given the raw Parameter itself, and nn.LSTM registered it
    # as its own parameter again; the next training forward then failed
    wd = _weight_dropout()
    names = [n for n, _ in wd.named_parameters()]
    x = randn(2, 5, 3, seed=4)
    wd.eval()
    with torch.no_grad():
        wd(x)
    wd(x)  # eval with gradients on
    assert "weight_hh_l0" not in dict(wd.module.named_parameters())
    assert [n for n, _ in wd.named_parameters()] == names
    wd.train()
    out, _ = wd(x)
    out.sum().backward()
    assert wd.weight_hh_l0_raw.grad is not None
    opt = torch.optim.SGD(wd.parameters(), lr=0.1)
    opt.step()
    assert [n for n, _ in wd.named_parameters()] == names


def test_models_deep_copy_after_a_training_forward() -> None:
    # regression: the layer kept the dropped weight, a non-leaf tensor, which deepcopy refuses
    torch.manual_seed(0)
    model = get_language_model(V, CFG)
    xb = torch.randint(0, V, (2, 5), generator=gen(0))
    model(xb)[0].sum().backward()
    twin = copy.deepcopy(model)
    model.eval(), twin.eval()
    model.reset(), twin.reset()
    check_close(twin(xb)[0], model(xb)[0], what="a deep copy of the language model", **EXACT)


# ---- the model --------------------------------------------------------------------------------------


def test_to_detach_nested() -> None:
    a = torch.ones(2, requires_grad=True) * 2
    out = to_detach([(a, a), (a, [a])])
    assert isinstance(out, list) and isinstance(out[0], tuple) and isinstance(out[1][1], list)
    assert not out[0][0].requires_grad and not out[1][1][0].requires_grad
    assert to_detach(None) is None


def test_config_scaled_and_checks() -> None:
    cfg = AWDLSTMConfig().scaled(0.5)
    assert (cfg.embed_p, cfg.input_p, cfg.weight_p, cfg.hidden_p, cfg.output_p) == (0.05, 0.3, 0.25, 0.1, 0.2)
    assert cfg.emb_sz == 400 and cfg.as_dict()["n_hid"] == 1152
    with pytest.raises(ValueError, match="AWDLSTMConfig: expected input_p"):
        AWDLSTMConfig(input_p=1.0)
    with pytest.raises(ValueError, match="AWDLSTMConfig: expected n_layers to be a positive int, got int 0"):
        AWDLSTMConfig(n_layers=0)


def _encoder(stateful: bool, seed: int = 0) -> AWDLSTM:
    torch.manual_seed(seed)
    return AWDLSTM(V, CFG, stateful=stateful).double().eval()


def test_stateful_hidden_carries_over() -> None:
    enc = _encoder(True)
    xb = torch.randint(2, V, (3, 8), generator=gen(1))
    enc.reset()
    whole_raw, whole = enc(xb)
    enc.reset()
    first = enc(xb[:, :5])
    second = enc(xb[:, 5:])
    for i in range(CFG.n_layers):
        check_close(torch.cat([first[0][i], second[0][i]], 1), whole_raw[i], what=f"layer {i} in two pieces", **CLOSE64)
        check_close(torch.cat([first[1][i], second[1][i]], 1), whole[i], what=f"layer {i} after dropout", **CLOSE64)
    enc.reset()
    fresh = enc(xb[:, 5:])
    assert (fresh[0][-1] - second[0][-1]).abs().max() > 1e-6  # reset forgets
    assert all(not t.requires_grad for h in enc.hidden for t in h)  # the state is detached


def test_stateful_resets_on_a_new_batch_size() -> None:
    enc = _encoder(True)
    a = torch.randint(2, V, (3, 4), generator=gen(2))
    b = torch.randint(2, V, (2, 4), generator=gen(3))
    enc(a)
    got = enc(b)[0][-1]
    assert enc.hidden[0][0].shape == (1, 2, CFG.n_hid)
    enc.reset()
    check_close(got, enc(b)[0][-1], what="after a change of batch size", **EXACT)


def test_non_stateful_padding_is_skipped() -> None:
    enc = _encoder(False)
    lengths = [7, 4, 1, 6]
    rows = [torch.randint(2, V, (n,), generator=gen(10 + i)) for i, n in enumerate(lengths)]
    xb = torch.full((4, 7), CFG.pad_token, dtype=torch.long)
    for i, r in enumerate(rows):
        xb[i, : len(r)] = r
    raw_outputs, outputs = enc(xb)
    for i, r in enumerate(rows):
        alone_raw, alone = enc(r[None])
        n = len(r)
        for k in range(CFG.n_layers):
            check_close(raw_outputs[k][i, :n], alone_raw[k][0], what=f"row {i}, layer {k}", **CLOSE64)
            check_close(outputs[k][i, :n], alone[k][0], what=f"row {i}, layer {k}, after dropout", **CLOSE64)
            assert bool((raw_outputs[k][i, n:] == 0).all()) and bool((outputs[k][i, n:] == 0).all())
    assert enc.hidden is None  # nothing carried
    xb[2] = CFG.pad_token
    with pytest.raises(ValueError, match="AWDLSTM: a row of the batch is all padding"):
        enc(xb)


def test_awd_lstm_refuses_bad_input() -> None:
    enc = _encoder(True)
    with pytest.raises(ValueError, match=r"AWDLSTM: expected token ids of shape \(bs, sl\), int64, got"):
        enc(torch.zeros(2, 3))
    with pytest.raises(ValueError, match=r"AWDLSTM: expected token ids of shape \(bs, sl\), int64, got"):
        enc(torch.zeros(3, dtype=torch.long))
    with pytest.raises(ValueError, match="AWDLSTM: expected pad_token < vocab_sz 1, got 1"):
        AWDLSTM(1, CFG)
    with pytest.raises(TypeError, match="AWDLSTM: expected config to be an AWDLSTMConfig"):
        AWDLSTM(V, {"emb_sz": 4})  # type: ignore[arg-type]


def test_language_model_shapes_and_tied_weights() -> None:
    torch.manual_seed(0)
    lm = get_language_model(V, CFG)
    enc, dec = lm[0], lm[1]
    assert isinstance(dec, LinearDecoder)
    assert dec.decoder.weight is enc.encoder.weight  # one tensor, not a copy
    assert sum(1 for p in lm.parameters() if p is enc.encoder.weight) == 1
    logits, raw_outputs, outputs = lm(torch.randint(0, V, (2, 5), generator=gen(0)))
    assert logits.shape == (2, 5, V)
    expected = [(2, 5, CFG.n_hid)] * (CFG.n_layers - 1) + [(2, 5, CFG.emb_sz)]
    assert [tuple(t.shape) for t in raw_outputs] == expected == [tuple(t.shape) for t in outputs]
    # the decoder drops the last layer's output (output_p) and returns that version, which AR penalises
    lm.eval()
    _, raw_e, out_e = lm(torch.randint(0, V, (2, 5), generator=gen(0)))
    assert torch.equal(raw_e[-1], out_e[-1])  # no dropout in eval
    lm.train()
    if CFG.output_p > 0:
        assert not torch.equal(raw_outputs[-1], outputs[-1])
    assert enc.encoder.weight[CFG.pad_token].abs().sum() == 0
    untied = get_language_model(V, CFG, tie_weights=False)
    assert untied[1].decoder.weight is not untied[0].encoder.weight
    lm.reset()
    assert enc.hidden is None
    with pytest.raises(ValueError, match=r"LinearDecoder: expected an embedding of shape \(30, 5\) to tie, got \(30, 6\)"):
        LinearDecoder(V, 5, 0.1, enc.encoder)
