"""Tests for foundations.text.vocab: building the vocabulary, numbers and back, the processors.

Oracles: a ``collections.Counter`` and a hand-written ordering for the vocabulary, Hypothesis for
its independence from the order of the texts, and the round trip ``textify(numericalize(t))``.
"""

from __future__ import annotations

import random
from collections import Counter

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from foundations.text.tokens import SPECIAL_TOKENS
from foundations.text.vocab import NumericalizeProcessor, TokenizeProcessor, Vocab

pytestmark = pytest.mark.lesson12

SPECIALS = list(SPECIAL_TOKENS)


def test_build_specials_first_then_by_frequency_ties_alphabetical() -> None:
    texts = [["b", "a", "c", "b", "xxbos"], ["c", "d", "b", "a"], ["e", "xxbos", "xxunk"]]
    v = Vocab.build(texts, min_freq=1)
    # counts: b 3, a 2, c 2, d 1, e 1; specials are not counted again
    assert v.itos == [*SPECIALS, "b", "a", "c", "d", "e"]
    assert v.stoi["xxunk"] == 0 and v.pad_idx == 1 and v.stoi["b"] == 8
    assert len(v) == 13


def test_build_min_freq_and_max_size() -> None:
    texts = [list("aaaabbbccd"), list("eeeee")]
    counts = Counter(t for toks in texts for t in toks)
    for min_freq in (1, 2, 3, 4, 5, 6):
        v = Vocab.build(texts, min_freq=min_freq)
        assert v.itos[8:] == sorted((w for w, n in counts.items() if n >= min_freq), key=lambda w: (-counts[w], w))
    assert Vocab.build(texts, max_size=10, min_freq=1).itos == [*SPECIALS, "e", "a"]
    assert Vocab.build(texts, max_size=8, min_freq=1).itos == SPECIALS  # room for the specials only
    assert Vocab.build([], min_freq=1).itos == SPECIALS


@settings(max_examples=40)
@given(
    texts=st.lists(st.lists(st.sampled_from(["a", "b", "c", "d", "e", "f", "xxbos", "xxeos"]), max_size=12), max_size=8),
    seed=st.integers(0, 2**16),
    min_freq=st.integers(1, 3),
    max_size=st.integers(8, 14),
)
def test_build_does_not_depend_on_the_order_of_the_texts(texts: list[list[str]], seed: int, min_freq: int, max_size: int) -> None:
    shuffled = [list(t) for t in texts]
    rng = random.Random(seed)
    rng.shuffle(shuffled)
    for t in shuffled:
        rng.shuffle(t)
    a = Vocab.build(texts, max_size=max_size, min_freq=min_freq)
    b = Vocab.build(shuffled, max_size=max_size, min_freq=min_freq)
    assert a.itos == b.itos
    assert a.itos[:8] == SPECIALS and len(a) <= max_size


def test_numericalize_unknown_is_zero_and_textify_roundtrip() -> None:
    v = Vocab.build([["the", "film", "the", "film", "is"]], min_freq=2)
    ids = v.numericalize(["xxbos", "the", "film", "is", "zzz", "xxpad"])
    assert v.itos[8:] == ["film", "the"]  # both twice: alphabetical
    assert ids.dtype == torch.long and ids.tolist() == [2, 9, 8, 0, 0, 1]
    toks = ["xxbos", "xxmaj", "the", "film", "xxeos"]
    assert v.textify(v.numericalize(toks)) == " ".join(toks)
    assert v.textify([9, 8], sep="|") == "the|film"
    assert v.numericalize([]).shape == (0,)
    assert repr(v) == "Vocab(10 strings: film the ...)"


def test_vocab_refuses_bad_input() -> None:
    with pytest.raises(ValueError, match=r"Vocab: expected itos to start with the special tokens"):
        Vocab(["a", "b"])
    with pytest.raises(ValueError, match=r"Vocab: expected each string once in itos, got 'a' more than once"):
        Vocab([*SPECIALS, "a", "b", "a"])
    with pytest.raises(TypeError, match=r"Vocab: expected itos to be a list of str, got list"):
        Vocab([*SPECIALS, 3])  # type: ignore[list-item]
    with pytest.raises(TypeError, match=r"Vocab.build: expected token_lists to be lists of tokens"):
        Vocab.build(["not tokenised"])  # type: ignore[list-item]
    with pytest.raises(ValueError, match=r"Vocab.build: expected min_freq to be a positive int, got int 0"):
        Vocab.build([["a"]], min_freq=0)
    with pytest.raises(ValueError, match=r"Vocab.build: expected max_size"):
        Vocab.build([["a"]], max_size=7)
    v = Vocab(SPECIALS)
    with pytest.raises(ValueError, match=r"Vocab.textify: expected indices in \[0, 8\), got 8"):
        v.textify([1, 8])
    with pytest.raises(ValueError, match=r"Vocab.textify: expected indices in \[0, 8\), got -1"):
        v.textify(torch.tensor([-1]))


def test_processors_build_on_the_first_call_only() -> None:
    tok = TokenizeProcessor()
    train = tok(["A good film. A good one.", "Bad film"])
    valid = tok(["A new film"])
    assert train[1] == ["xxbos", "xxmaj", "bad", "film", "xxeos"]
    num = NumericalizeProcessor(min_freq=2)
    ids_train = num(train)
    vocab = num.vocab
    # ".", "a", "film", "good" twice each (alphabetical); "xxmaj" is a special token, counted once only
    assert vocab is not None and vocab.itos[8:] == [".", "a", "film", "good"]
    ids_valid = num(valid)
    assert num.vocab is vocab  # the validation texts add no word
    assert vocab.textify(ids_valid[0]) == "xxbos a xxunk film xxeos"  # "A": one letter, no xxmaj
    assert num.deprocess(ids_train)[1] == ["xxbos", "xxmaj", "xxunk", "film", "xxeos"]
    assert tok.deprocess([["a", "b"]]) == ["a b"]
