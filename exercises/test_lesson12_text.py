"""Grader for exercises/lesson12_text.py (Lesson 12, text: tokens, AWD-LSTM, ULMFiT).

Run ``pytest exercises -k replace_rep_rule`` (or ``caps_rule``, ``build_text_vocab``, ``lm_batches``,
``lstm_cell``, ``embedding_dropout``, ``dropconnect_rnn``, ``temporal_activation_reg``,
``masked_pool``), or ``pytest exercises/test_lesson12_text.py`` for all of them.

- ``replace_rep_rule``, ``caps_rule``: against ``foundations.text.tokens``' ``replace_rep`` and
  ``deal_caps(replace_all_caps(...))`` on named strings and token lists, then on many random ones;
- ``build_text_vocab``: against ``Vocab.build(...).itos`` (ties, cuts inside a tie, special tokens
  in the texts, only the specials);
- ``lm_batches``: against ``list(LMDataLoader([stream], bs, bptt))``, batch by batch (one row,
  ``bptt`` 1, an exact fit, a stream too short for one batch);
- ``lstm_cell``: values and gradients against ``nn.LSTMCell`` in float64;
- ``embedding_dropout``, ``dropconnect_rnn``: the grader replays your generator's draws; a dropped
  word must be zero everywhere, the kept rows and entries scaled by ``1/(1-p)``, the gradient must
  reach the weights; the RNN's outputs and gradients against ``nn.RNN`` in float64;
- ``temporal_activation_reg``: values and gradients against the formula in float64 (``sl == 1``
  gives 0, not NaN);
- ``masked_pool``: each part (last, max, mean) against ``masked_concat_pool``, with padded outputs
  of 0 among negative ones, and a padded text pooled as if alone.

During your call the library's versions, ``nn.LSTMCell``, ``nn.LSTM``, ``nn.RNN`` and their
functions are swapped out (``exercises/_rules.py``).
"""

from __future__ import annotations

import itertools
import random
import string
from types import ModuleType

import pytest
import torch
from torch import Tensor, nn
from torch.func import functional_call

from exercises._rules import Forbidden, attempt_without
from foundations.testing import check_close, describe
from foundations.text import LMDataLoader, Vocab, masked_concat_pool
from foundations.text.tokens import deal_caps, replace_all_caps, replace_rep, split_words

pytestmark = pytest.mark.lesson12

F64 = torch.float64
TOL = {"atol": 1e-12, "rtol": 1e-10}


def _both(*names: str) -> tuple[str, ...]:
    """``foundations.text.<module>.<name>`` and, where the package re-exports it, ``foundations.text.<name>``."""
    import foundations.text as text

    out = []
    for path in names:
        out.append(f"foundations.text.{path}")
        name = path.rsplit(".", 1)[-1]
        if hasattr(text, name):
            out.append(f"foundations.text.{name}")
    return tuple(out)


REP_RULES = Forbidden(_both("tokens.replace_rep", "tokens.Tokenizer"),
                      "this exercise asks you to write yourself (re.sub with a back-reference)")
CAPS_RULES = Forbidden(_both("tokens.replace_all_caps", "tokens.deal_caps", "tokens.Tokenizer"),
                       "this exercise asks you to write yourself (str.isupper, str.islower, str.lower)")
# Vocab.build, not the class: a class swapped out for a function has no .build to refuse
VOCAB_RULES = Forbidden(("foundations.text.vocab.Vocab.build", *_both("vocab.NumericalizeProcessor")),
                        "this exercise asks you to write yourself (collections.Counter and sorted)")
LM_RULES = Forbidden(_both("loaders.LMDataLoader", "loaders.lm_data"),
                     "this exercise asks you to write yourself (view and slicing)")
LSTM_RULES = Forbidden(
    (*_both("awd_lstm.LSTMCell", "awd_lstm.LSTMLayer"), "torch.nn.LSTMCell", "torch.nn.LSTM",
     "torch.nn.modules.rnn.LSTMCell", "torch.nn.modules.rnn.LSTM", "torch.lstm_cell", "torch.lstm"),
    "this exercise asks you to write yourself (matrix products, chunk, sigmoid and tanh)",
)
EMB_RULES = Forbidden(_both("awd_lstm.EmbeddingDropout", "awd_lstm.dropout_mask"),
                      "this exercise asks you to write yourself (bernoulli_ with the generator, F.embedding)")
RNN_RULES = Forbidden(
    (*_both("awd_lstm.WeightDropout", "awd_lstm.dropout_mask"), "torch.nn.RNN", "torch.nn.RNNCell",
     "torch.nn.modules.rnn.RNN", "torch.nn.modules.rnn.RNNCell", "torch.rnn_tanh", "torch.rnn_tanh_cell"),
    "this exercise asks you to write yourself (bernoulli_ with the generator, a loop over time, tanh)",
)
TAR_RULES = Forbidden(_both("train.temporal_activation_reg", "train.RNNRegularizer"),
                      "this exercise asks you to write yourself (slicing, pow and mean)")
POOL_RULES = Forbidden(_both("ulmfit.masked_concat_pool", "ulmfit.PoolingLinearClassifier"),
                       "this exercise asks you to write yourself (masked_fill, sum, max and indexing)")
RULES = {
    "replace_rep_rule": REP_RULES, "caps_rule": CAPS_RULES, "build_text_vocab": VOCAB_RULES, "lm_batches": LM_RULES,
    "lstm_cell": LSTM_RULES, "embedding_dropout": EMB_RULES, "dropconnect_rnn": RNN_RULES,
    "temporal_activation_reg": TAR_RULES, "masked_pool": POOL_RULES,
}


def attempt(fn, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN201
    return attempt_without(RULES[fn.__name__], fn, *args, **kwargs)


@pytest.fixture(scope="module")
def ex(impl) -> ModuleType:  # noqa: ANN001
    return impl("lesson12_text")


def _randn(*shape: int, seed: int, scale: float = 1.0) -> Tensor:
    return torch.randn(shape, dtype=F64, generator=torch.Generator().manual_seed(seed)) * scale


def _same_list(got: object, expected: list, what: str) -> None:
    """``got`` is a list equal to ``expected``; else the first index where they differ, by value."""
    if not isinstance(got, list):
        raise AssertionError(f"{what}: expected a list, got {describe(got)}")
    for i, (g, e) in enumerate(zip(got, expected)):
        if g != e:
            raise AssertionError(f"{what}: first difference at index {i}: expected {e!r}, got {g!r} "
                                 f"(expected {expected[max(0, i - 2) : i + 3]!r} there, got {got[max(0, i - 2) : i + 3]!r})")
    if len(got) != len(expected):
        extra = "the extra ones: " + repr(got[len(expected) :][:5]) if len(got) > len(expected) else (
            "missing: " + repr(expected[len(got) :][:5]))
        raise AssertionError(f"{what}: expected {len(expected)} items, got {len(got)} ({extra})")


# ---- replace_rep_rule ---------------------------------------------------------------------------------

REP_CASES = {
    "the docstring's example": "cooool!!!!",
    "three repeats: left alone": "!!! ok",
    "exactly four": "aaaa",
    "twelve": "zzzzzzzzzzzz",
    "several runs in a sentence": "hmmmm... sooooo goooood",
    "two runs side by side": "aaaabbbb",
    "four spaces: whitespace is left alone": "a    b",
    "five newlines and a tab run": "x\n\n\n\n\ny\t\t\t\t",
    "digits": "10000000 stars",
    "not ASCII": "ééééé ñññ",
    "alternating, not a run": "abababab",
    "the empty string": "",
}


@pytest.mark.parametrize("name", list(REP_CASES))
def test_replace_rep_rule_against_replace_rep(ex: ModuleType, name: str) -> None:
    t = REP_CASES[name]
    got = attempt(ex.replace_rep_rule, t)
    expected = replace_rep(t)
    assert isinstance(got, str) and got == expected, (
        f"replace_rep_rule({t!r}), {name}: expected {expected!r}, got {got!r}")


def test_replace_rep_rule_on_random_strings(ex: ModuleType) -> None:
    rng = random.Random(12)
    alphabet = "ab !.\n\t"
    texts = ["".join(rng.choice(alphabet) * rng.choice([1, 1, 2, 3, 4, 5, 7]) for _ in range(rng.randint(0, 8)))
             for _ in range(300)]
    for t in texts:
        got = attempt(ex.replace_rep_rule, t)
        expected = replace_rep(t)
        assert got == expected, f"replace_rep_rule({t!r}) (a random string): expected {expected!r}, got {got!r}"


# ---- caps_rule ----------------------------------------------------------------------------------------

CAPS_CASES = {
    "the docstring's example": ["The", "film", "is", "GREAT", "I", "say"],
    "all caps: LOVED": ["I", "LOVED", "it"],
    "one capital letter alone: no marker": ["A", "I", "X", "b"],
    "mixed case: lower, no marker": ["McDonald", "iPhone", "eBay", "DVDs"],
    "all caps with dots and digits": ["U.S.", "3D", "OK", "Ok", "ok"],
    "special tokens and punctuation": ["xxbos", "Hello", "WORLD", "!", "xxeos"],
    "not ASCII": ["Élan", "ÉTÉ", "ça", "Ça"],
    "an empty text": [],
}


@pytest.mark.parametrize("name", list(CAPS_CASES))
def test_caps_rule_against_deal_caps_of_replace_all_caps(ex: ModuleType, name: str) -> None:
    tokens = CAPS_CASES[name]
    given = list(tokens)
    got = attempt(ex.caps_rule, given)
    assert given == tokens, f"caps_rule({tokens!r}): the list you were given changed to {given!r}; return a new list"
    _same_list(got, deal_caps(replace_all_caps(tokens)), f"caps_rule({tokens!r}), {name}")


def test_caps_rule_on_split_reviews(ex: ModuleType) -> None:
    reviews = [
        "This movie is GREAT!!! I LOVED it, the U.S. version is Ok.",
        "McDonald's ad in 3D? NO. Never. Don't WATCH it; it's BAD-ish.",
        "Élan, ÇA and Über: NOT ASCII, Still Fine.",
    ]
    for text in reviews:
        tokens = split_words(text)
        _same_list(attempt(ex.caps_rule, tokens), deal_caps(replace_all_caps(tokens)), f"caps_rule on split_words({text!r})")


# ---- build_text_vocab ---------------------------------------------------------------------------------

VOCAB_CASES = {
    "the docstring's example, min_freq 2": ([["xxbos", "a", "b", "a"], ["a", "c", "b"]], 60_000, 2),
    "ties in alphabetical order, min_freq 1": ([["b", "a", "c", "b"], ["a", "c", "d", "e"]], 60_000, 1),
    "upper case sorts first among ties": ([["the", "The", "b", "B", "the", "The"]], 60_000, 1),
    "min_freq above every count: only the specials": ([["a", "a", "b"]], 60_000, 3),
    "max_size 8: only the specials": ([["a", "a", "b", "b"]], 8, 1),
    "max_size cuts inside a tie": ([["a", "a", "a", "d", "d", "c", "c", "b", "b", "e"]], 10, 1),
    "special tokens in the texts are not added twice": (
        [["xxbos", "xxmaj", "hi", "xxeos"], ["xxbos", "hi", "xxunk", "xxeos"]], 60_000, 1),
    "an empty text among them": ([[], ["x", "y", "x"], []], 60_000, 1),
    "one text of one token": ([["solo"]], 60_000, 1),
}


@pytest.mark.parametrize("name", list(VOCAB_CASES))
def test_build_text_vocab_against_vocab_build(ex: ModuleType, name: str) -> None:
    texts, max_size, min_freq = VOCAB_CASES[name]
    given = [list(t) for t in texts]
    got = attempt(ex.build_text_vocab, given, max_size, min_freq)
    assert given == texts, f"build_text_vocab on {name}: the texts you were given changed; do not change them"
    expected = Vocab.build(texts, max_size, min_freq).itos
    _same_list(got, expected, f"build_text_vocab on {name} ({texts!r}, max_size={max_size}, min_freq={min_freq})")


def test_build_text_vocab_on_random_texts_in_any_order(ex: ModuleType) -> None:
    rng = random.Random(5)
    words = ["".join(rng.choice(string.ascii_letters[:6]) for _ in range(rng.randint(1, 2))) for _ in range(60)]
    texts = [[rng.choice(words) for _ in range(rng.randint(0, 30))] for _ in range(40)]
    for max_size, min_freq in ((60_000, 2), (20, 1), (12, 3)):
        expected = Vocab.build(texts, max_size, min_freq).itos
        what = f"build_text_vocab on 40 random texts, max_size={max_size}, min_freq={min_freq}"
        _same_list(attempt(ex.build_text_vocab, texts, max_size, min_freq), expected, what)
        _same_list(attempt(ex.build_text_vocab, texts[::-1], max_size, min_freq), expected, what + ", the texts reversed")


# ---- lm_batches ---------------------------------------------------------------------------------------

LM_CASES = {
    "100 tokens, bs=4, bptt=5": (100, 4, 5, "perm"),
    "103 tokens, bs=4, bptt=5 (3 left over)": (103, 4, 5, "perm"),
    "one row: 23 tokens, bs=1, bptt=7": (23, 1, 7, "perm"),
    "bptt=1: 30 tokens, bs=3": (30, 3, 1, "perm"),
    "an exact fit: 26 tokens, bs=2, bptt=4": (26, 2, 4, "arange"),
    "repeated ids: 64 tokens of 5 ids, bs=3, bptt=6": (64, 3, 6, "few"),
    "one batch: 18 tokens, bs=3, bptt=5": (18, 3, 5, "perm"),
}


def _stream(n: int, kind: str, seed: int = 0) -> Tensor:
    g = torch.Generator().manual_seed(seed)
    if kind == "arange":
        return torch.arange(n)
    if kind == "few":
        return torch.randint(0, 5, (n,), generator=g)
    return torch.randperm(n, generator=g) + 10


def _check_batches(got: object, expected: list[tuple[Tensor, Tensor]], what: str) -> None:
    if not isinstance(got, (list, tuple)):
        raise AssertionError(f"{what}: expected a list of (x, y) batches, got {describe(got)}")
    assert len(got) == len(expected), f"{what}: expected {len(expected)} batches, got {len(got)}"
    for k, (item, (ex_x, ex_y)) in enumerate(zip(got, expected)):
        assert isinstance(item, (tuple, list)) and len(item) == 2, (
            f"{what}: batch {k}: expected a pair (x, y), got {describe(item)}")
        for part, g, e in (("x", item[0], ex_x), ("y", item[1], ex_y)):
            where = f"{what}: batch {k}, {part}"
            if not isinstance(g, Tensor):
                raise AssertionError(f"{where}: expected a {describe(e)}, got {describe(g)}")
            assert g.dtype == torch.long, f"{where}: expected an int64 tensor of token ids, got {describe(g)}"
            assert g.shape == e.shape, f"{where}: expected shape {tuple(e.shape)}, got shape {tuple(g.shape)}"
            bad = (g != e).nonzero()
            if len(bad):
                r, c = bad[0].tolist()
                raise AssertionError(f"{where}: {len(bad)} of {e.numel()} tokens differ; at row {r}, column {c} "
                                     f"expected {e[r, c].item()}, got {g[r, c].item()} (expected row {r}: "
                                     f"{e[r].tolist()[:10]}, got {g[r].tolist()[:10]})")


@pytest.mark.parametrize("name", list(LM_CASES))
def test_lm_batches_against_lm_data_loader(ex: ModuleType, name: str) -> None:
    n, bs, bptt, kind = LM_CASES[name]
    stream = _stream(n, kind)
    given = stream.clone()
    got = attempt(ex.lm_batches, given, bs, bptt)
    assert torch.equal(given, stream), f"lm_batches on {name}: the stream changed; do not write into it"
    expected = list(LMDataLoader([stream], bs, bptt))
    m = n // bs
    count = f"{len(expected)} batch{'es' * (len(expected) != 1)}"
    _check_batches(got, expected, f"lm_batches on {name} (m = {m} tokens per row, so (m - 1) // bptt = {count})")


@pytest.mark.parametrize("n", [9, 2])
def test_lm_batches_too_short_for_one_batch(ex: ModuleType, n: int) -> None:
    stream = torch.arange(n)  # bs=2, bptt=4 needs 2 * (4 + 1) = 10 tokens
    got = attempt(ex.lm_batches, stream, 2, 4)
    assert isinstance(got, (list, tuple)) and len(got) == 0, (
        f"lm_batches on {n} tokens, bs=2, bptt=4 (one batch needs 2 * (4 + 1) = 10): expected no batch, []; "
        f"got {describe(got)}")


# ---- lstm_cell ----------------------------------------------------------------------------------------

LSTM_CASES = {
    "bs 3, ni 5, nh 4": (3, 5, 4, 1.0, 0),
    "one row: bs 1, ni 2, nh 3": (1, 2, 3, 1.0, 1),
    "nh 1: bs 4, ni 3, nh 1": (4, 3, 1, 1.0, 2),
    "weights of size 3 (saturated gates): bs 2, ni 10, nh 6": (2, 10, 6, 3.0, 3),
    "a zero state: bs 2, ni 4, nh 4": (2, 4, 4, 1.0, 4),
}
LSTM_ARGS = ("x", "h", "c", "w_ih", "w_hh", "b_ih", "b_hh")


@pytest.mark.parametrize("name", list(LSTM_CASES))
def test_lstm_cell_values_and_gradients_against_nn_lstmcell(ex: ModuleType, name: str) -> None:
    bs, ni, nh, scale, seed = LSTM_CASES[name]
    zero_state = "zero state" in name
    args = [
        _randn(bs, ni, seed=seed),
        _randn(bs, nh, seed=seed + 10) * (0 if zero_state else 1),
        _randn(bs, nh, seed=seed + 20) * (0 if zero_state else 2),
        _randn(4 * nh, ni, seed=seed + 30, scale=scale / ni**0.5),
        _randn(4 * nh, nh, seed=seed + 40, scale=scale / nh**0.5),
        _randn(4 * nh, seed=seed + 50, scale=scale / 2),
        _randn(4 * nh, seed=seed + 60, scale=scale / 2),
    ]
    args = [a.requires_grad_() for a in args]
    saved = [a.detach().clone() for a in args]
    got = attempt(ex.lstm_cell, *args)
    where = f"lstm_cell on {name}"
    for a, s, label in zip(args, saved, LSTM_ARGS):
        assert torch.equal(a.detach(), s), f"{where}: the input {label} changed; do not write into your inputs"
    assert isinstance(got, tuple) and len(got) == 2, f"{where}: expected a tuple (h', c'), got {describe(got)}"
    cell = nn.LSTMCell(ni, nh).double()
    x, h, c, w_ih, w_hh, b_ih, b_hh = args
    params = {"weight_ih": w_ih, "weight_hh": w_hh, "bias_ih": b_ih, "bias_hh": b_hh}
    exp_h, exp_c = functional_call(cell, params, (x, (h, c)))
    check_close(got[1], exp_c, what=f"{where}: the new cell state c' (gates i, f, g, o in that order)", dtype="match", **TOL)
    check_close(got[0], exp_h, what=f"{where}: the new hidden state h'", dtype="match", **TOL)
    gh, gc = _randn(bs, nh, seed=seed + 70), _randn(bs, nh, seed=seed + 80)
    assert got[0].requires_grad and got[1].requires_grad, f"{where}: h' and c' must carry gradients (tensor operations only)"
    grads = torch.autograd.grad((got[0] * gh).sum() + (got[1] * gc).sum(), args, allow_unused=True)
    exp_grads = torch.autograd.grad((exp_h * gh).sum() + (exp_c * gc).sum(), args)
    for g, e, label in zip(grads, exp_grads, LSTM_ARGS):
        assert g is not None, f"{where}: no gradient reaches {label}"
        check_close(g, e, what=f"{where}: the gradient with respect to {label}", **TOL)


# ---- embedding_dropout --------------------------------------------------------------------------------

EMB_CASES = {
    "V 10, emb 4, words 2x6 with repeats, p 0.5": (10, 4, (2, 6), 0.5, 0),
    "V 10, emb 3, words 3x5, p 0.3": (10, 3, (3, 5), 0.3, 1),
    "p 0: every word kept, unscaled": (8, 3, (2, 5), 0.0, 2),
    "p 0.9: most words dropped": (12, 2, (2, 8), 0.9, 3),
    "one word: words 1x1, V 1, p 0.5": (1, 5, (1, 1), 0.5, 4),
    "V 1000, emb 3, words 4x20, p 0.1": (1000, 3, (4, 20), 0.1, 5),
}


def _words(V: int, shape: tuple[int, int], seed: int) -> Tensor:
    g = torch.Generator().manual_seed(seed + 100)
    pool = torch.randint(0, V, (max(1, V // 2),), generator=g)  # about half the vocabulary: words repeat
    return pool[torch.randint(0, len(pool), shape, generator=g)]


@pytest.mark.parametrize("name", list(EMB_CASES))
def test_embedding_dropout_drops_whole_words_with_replayed_draws(ex: ModuleType, name: str) -> None:
    V, emb, shape, p, seed = EMB_CASES[name]
    weight = (_randn(V, emb, seed=seed) + 0.1).requires_grad_()  # no zero entries: a zero is a drop
    words = _words(V, shape, seed)
    saved_w, saved_words = weight.detach().clone(), words.clone()
    got = attempt(ex.embedding_dropout, weight, words, p, torch.Generator().manual_seed(seed))
    where = f"embedding_dropout on {name}"
    assert torch.equal(weight.detach(), saved_w) and torch.equal(words, saved_words), (
        f"{where}: the weight or the words changed; do not write into your inputs")
    if not isinstance(got, Tensor) or got.shape != (*shape, emb):
        raise AssertionError(f"{where}: expected a tensor of shape {(*shape, emb)} (bs, sl, emb_sz), got {describe(got)}")
    assert got.dtype == F64, f"{where}: expected a float64 result, weight's dtype, got {describe(got)}"
    g = torch.Generator().manual_seed(seed)
    keep = torch.empty(V, 1, dtype=F64).bernoulli_(1 - p, generator=g)[:, 0].bool()   # (V,)
    scale = 1 / (1 - p)
    # a whole word is dropped or kept, the same everywhere it appears
    verdict: dict[int, tuple[str, tuple[int, int]]] = {}
    for pos in itertools.product(range(shape[0]), range(shape[1])):
        w = int(words[pos])
        row = got[pos].detach()
        if bool((row == 0).all()):
            state = "dropped"
        elif torch.allclose(row, weight[w].detach() * scale, atol=1e-12, rtol=1e-10):
            state = "kept"
        elif bool((row == 0).any()):
            raise AssertionError(f"{where}: word {w} at {pos} is partly zero ({row.tolist()}): drop whole words, "
                                 "one draw per word of the vocabulary, a mask of shape (V, 1)")
        else:
            raise AssertionError(f"{where}: word {w} at {pos} is neither 0 nor its row of weight times 1/(1-p) = "
                                 f"{scale:.6g}: expected {(weight[w].detach() * scale).tolist()}, got {row.tolist()}")
        if w in verdict and verdict[w][0] != state:
            raise AssertionError(f"{where}: word {w} is {verdict[w][0]} at {verdict[w][1]} but {state} at {pos}: a "
                                 "dropped word is absent everywhere in the batch (one draw per word of the vocabulary, "
                                 "not per position)")
        verdict[w] = (state, pos)
    for w, (state, pos) in sorted(verdict.items()):
        want = "kept" if keep[w] else "dropped"
        assert state == want, (
            f"{where}: word {w} (at {pos}) is {state}, but the generator's draws have it {want}: draw the mask once, "
            "weight.new_empty((V, 1)).bernoulli_(1 - p, generator=generator), before anything else")
    mask = keep.to(F64)[:, None] * scale
    expected = (weight * mask)[words]
    check_close(got, expected, what=where, dtype="match", **TOL)
    up = _randn(*shape, emb, seed=seed + 7)
    assert got.requires_grad, f"{where}: the result must carry a gradient to weight (tensor operations only)"
    (grad,) = torch.autograd.grad((got * up).sum(), weight)
    (exp_grad,) = torch.autograd.grad((expected * up).sum(), weight)
    check_close(grad, exp_grad, what=f"{where}: the gradient with respect to weight", **TOL)


# ---- dropconnect_rnn ----------------------------------------------------------------------------------

RNN_CASES = {
    "bs 3, sl 5, ni 4, nh 6, p 0.5": (3, 5, 4, 6, 0.5, 0),
    "one row: bs 1, sl 4, ni 3, nh 3, p 0.3": (1, 4, 3, 3, 0.3, 1),
    "sl 1: one step": (2, 1, 3, 4, 0.5, 2),
    "p 0: nothing dropped": (2, 3, 2, 5, 0.0, 3),
    "nh 1: bs 2, sl 6, ni 2, p 0.2": (2, 6, 2, 1, 0.2, 4),
    "p 0.8, nh 8, sl 7": (2, 7, 3, 8, 0.8, 5),
}
RNN_ARGS = ("x", "h0", "w_ih", "w_hh_raw")


@pytest.mark.parametrize("name", list(RNN_CASES))
def test_dropconnect_rnn_against_replayed_mask_and_nn_rnn(ex: ModuleType, name: str) -> None:
    bs, sl, ni, nh, p, seed = RNN_CASES[name]
    x, h0 = _randn(bs, sl, ni, seed=seed), _randn(bs, nh, seed=seed + 10, scale=0.5)
    w_ih = _randn(nh, ni, seed=seed + 20, scale=1 / ni**0.5)
    raw = (_randn(nh, nh, seed=seed + 30, scale=1 / nh**0.5) + 0.01)
    leaves = [t.requires_grad_() for t in (x, h0, w_ih, raw)]
    saved = [t.detach().clone() for t in leaves]
    got = attempt(ex.dropconnect_rnn, x, h0, w_ih, raw, p, torch.Generator().manual_seed(seed))
    where = f"dropconnect_rnn on {name}"
    for t, s, label in zip(leaves, saved, RNN_ARGS):
        assert torch.equal(t.detach(), s), (
            f"{where}: the input {label} changed; compute w_hh from w_hh_raw, do not write into it")
    assert raw.is_leaf and raw.grad_fn is None, f"{where}: w_hh_raw is no longer a leaf"
    assert isinstance(got, tuple) and len(got) == 2, f"{where}: expected a tuple (out, w_hh), got {describe(got)}"
    out, w_hh = got
    keep = raw.detach().new_empty(raw.shape).bernoulli_(1 - p, generator=torch.Generator().manual_seed(seed))
    if not isinstance(w_hh, Tensor) or w_hh.shape != raw.shape:
        raise AssertionError(f"{where}: expected w_hh, a tensor of shape {tuple(raw.shape)}, got {describe(w_hh)}")
    dropped = w_hh.detach() == 0
    if not torch.equal(dropped, keep == 0):
        r, c = (dropped != (keep == 0)).nonzero()[0].tolist()
        raise AssertionError(
            f"{where}: the dropped matrix w_hh: entry ({r}, {c}) is {'dropped' if dropped[r, c] else 'kept'}, but the "
            f"generator's draw has it {'kept' if keep[r, c] else 'dropped'} ({int((dropped != (keep == 0)).sum())} of "
            f"{raw.numel()} entries differ): draw the mask once, w_hh_raw.new_empty(w_hh_raw.shape).bernoulli_(1 - p, "
            "generator=generator)")
    exp_w = raw * keep / (1 - p)
    check_close(w_hh, exp_w, what=f"{where}: the dropped matrix w_hh, kept entries times 1/(1-p)", dtype="match", **TOL)
    rnn = nn.RNN(ni, nh, bias=False, batch_first=True).double()
    exp_out, _ = functional_call(rnn, {"weight_ih_l0": w_ih, "weight_hh_l0": exp_w}, (x, h0[None]))
    check_close(out, exp_out, what=f"{where}: the outputs out (bs, sl, nh)", dtype="match", **TOL)
    up = _randn(bs, sl, nh, seed=seed + 40)
    assert isinstance(out, Tensor) and out.requires_grad, f"{where}: out must carry gradients (tensor operations only)"
    grads = torch.autograd.grad((out * up).sum(), leaves, allow_unused=True)
    exp_grads = torch.autograd.grad((exp_out * up).sum(), leaves)
    for g, e, label in zip(grads, exp_grads, RNN_ARGS):
        if g is None:
            hint = " (no .data, .detach() or torch.no_grad() between w_hh_raw and w_hh)" if label == "w_hh_raw" else ""
            raise AssertionError(f"{where}: no gradient reaches {label}{hint}")
        check_close(g, e, what=f"{where}: the gradient with respect to {label}", **TOL)


# ---- temporal_activation_reg --------------------------------------------------------------------------

TAR_CASES = {
    "bs 4, sl 6, nh 5, beta 1": (4, 6, 5, 1.0, 0),
    "one row: bs 1, sl 5, nh 3, beta 2": (1, 5, 3, 2.0, 1),
    "sl 2, nh 1, beta 0.5": (3, 2, 1, 0.5, 2),
    "bs 6, sl 3, nh 4, beta 1": (6, 3, 4, 1.0, 3),
    "beta 0": (2, 4, 3, 0.0, 4),
}


@pytest.mark.parametrize("name", list(TAR_CASES))
def test_temporal_activation_reg_against_the_formula(ex: ModuleType, name: str) -> None:
    bs, sl, nh, beta, seed = TAR_CASES[name]
    raw_out = _randn(bs, sl, nh, seed=seed).cumsum(1).requires_grad_()  # a walk over time: steps matter
    saved = raw_out.detach().clone()
    got = attempt(ex.temporal_activation_reg, raw_out, beta)
    where = f"temporal_activation_reg on {name} (raw_out {bs}x{sl}x{nh}, time is axis 1)"
    assert torch.equal(raw_out.detach(), saved), f"{where}: raw_out changed; do not write into it"
    diffs = raw_out[:, 1:] - raw_out[:, :-1]
    expected = beta * (diffs * diffs).sum() / diffs.numel()
    check_close(got, expected, what=where, dtype="match", **TOL)
    if beta:
        assert isinstance(got, Tensor) and got.requires_grad, f"{where}: the penalty must carry a gradient (keep it a tensor)"
        (g,) = torch.autograd.grad(got, raw_out)
        (e,) = torch.autograd.grad(expected, raw_out)
        check_close(g, e, what=f"{where}: the gradient with respect to raw_out", **TOL)


@pytest.mark.parametrize("bs", [3, 1])
def test_temporal_activation_reg_is_zero_for_one_step(ex: ModuleType, bs: int) -> None:
    raw_out = _randn(bs, 1, 4, seed=bs).requires_grad_()
    got = attempt(ex.temporal_activation_reg, raw_out, 1.0)
    what = f"temporal_activation_reg on a sequence of one step, raw_out {bs}x1x4 (no difference: 0, not NaN)"
    check_close(got, torch.zeros((), dtype=F64), what=what, dtype="match", **TOL)


# ---- masked_pool --------------------------------------------------------------------------------------

POOL_CASES = {
    "2 texts of 5 and 3 tokens, padding outputs 0, real outputs negative": ((2, 5, 4), [5, 3], "negative", 0),
    "no padding: 3 texts of 4 tokens": ((3, 4, 2), [4, 4, 4], "any", 1),
    "one text, no padding": ((1, 6, 3), [6], "any", 2),
    "a text of one token among longer ones": ((3, 6, 3), [1, 6, 4], "any", 3),
    "padding outputs of 100 (the max must not see them)": ((3, 7, 2), [7, 2, 5], "large pad", 4),
    "one text of one token in a row of 4": ((1, 4, 5), [1], "negative", 5),
}
POOL_PARTS = ("last (the output at each text's last real token)", "max (over the real tokens only)",
              "mean (over the real tokens only)")


def _pool_input(shape: tuple[int, int, int], lengths: list[int], kind: str, seed: int) -> tuple[Tensor, Tensor]:
    bs, sl, n = shape
    mask = torch.arange(sl)[None] < torch.tensor(lengths)[:, None]               # (bs, sl)
    out = _randn(bs, sl, n, seed=seed)
    if kind == "negative":
        out = -out.abs() - 0.1
    pad = 100.0 if kind == "large pad" else 0.0
    return out.masked_fill(~mask[..., None], pad), mask


def _check_pool(got: object, expected: Tensor, n: int, what: str) -> None:
    if not isinstance(got, Tensor) or got.shape != expected.shape:
        raise AssertionError(f"{what}: expected a tensor of shape {tuple(expected.shape)} (bs, 3n), "
                             f"[last, max, mean], got {describe(got)}")
    for k, part in enumerate(POOL_PARTS):
        check_close(got[:, k * n : (k + 1) * n], expected[:, k * n : (k + 1) * n],
                    what=f"{what}: the {part}, columns {k * n} to {(k + 1) * n - 1}", dtype="match", **TOL)


@pytest.mark.parametrize("name", list(POOL_CASES))
def test_masked_pool_parts_against_the_library(ex: ModuleType, name: str) -> None:
    shape, lengths, kind, seed = POOL_CASES[name]
    outputs, mask = _pool_input(shape, lengths, kind, seed)
    outputs.requires_grad_()
    saved = outputs.detach().clone()
    got = attempt(ex.masked_pool, outputs, mask.clone())
    where = f"masked_pool on {name} (lengths {lengths})"
    assert torch.equal(outputs.detach(), saved), f"{where}: outputs changed; use masked_fill, not masked_fill_"
    expected = masked_concat_pool(outputs, mask)
    _check_pool(got, expected, shape[2], where)
    up = _randn(shape[0], 3 * shape[2], seed=seed + 9)
    assert got.requires_grad, f"{where}: the result must carry gradients to outputs (tensor operations only)"
    (g,) = torch.autograd.grad((got * up).sum(), outputs)
    (e,) = torch.autograd.grad((expected * up).sum(), outputs)
    check_close(g, e, what=f"{where}: the gradient with respect to outputs", **TOL)


def test_masked_pool_a_padded_text_pools_as_if_alone(ex: ModuleType) -> None:
    lengths = [6, 2, 4, 1]
    outputs, mask = _pool_input((4, 6, 3), lengths, "negative", 11)
    batch = attempt(ex.masked_pool, outputs, mask)
    for b, length in enumerate(lengths):
        alone = attempt(ex.masked_pool, outputs[b : b + 1, :length].clone(), torch.ones(1, length, dtype=torch.bool))
        _check_pool(batch[b : b + 1] if isinstance(batch, Tensor) else batch, alone, 3,
                    f"masked_pool: text {b} ({length} tokens) in a 4x6 batch padded with zero outputs, against the same "
                    "text pooled alone")
