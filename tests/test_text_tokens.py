"""Tests for foundations.text.tokens: the rules, the split, the tokenizer, tokenising in parallel.

Oracles: hand-written expected token lists for crafted strings (each rule alone, then the
tokenizer as the composition of its rules in order), the single-process result for the
multi-process one, and the modules' own doctests (tokens, vocab, corpus), run from here.
"""

from __future__ import annotations

import doctest
import re

import pytest

import foundations.text.corpus
import foundations.text.tokens
import foundations.text.vocab
from foundations.text.tokens import (
    POST_RULES,
    PRE_RULES,
    SPECIAL_TOKENS,
    Tokenizer,
    add_eos_bos,
    deal_caps,
    fix_html,
    replace_all_caps,
    replace_rep,
    replace_wrep,
    rm_useless_spaces,
    spec_add_spaces,
    split_words,
    tokenize_texts,
)

pytestmark = pytest.mark.lesson12


@pytest.mark.parametrize("module", [foundations.text.tokens, foundations.text.vocab, foundations.text.corpus])
def test_doctests(module) -> None:  # noqa: ANN001
    res = doctest.testmod(module)
    assert res.attempted > 0, f"{module.__name__} has no doctest"
    assert res.failed == 0


def test_special_tokens_order() -> None:
    assert SPECIAL_TOKENS == ("xxunk", "xxpad", "xxbos", "xxeos", "xxrep", "xxwrep", "xxup", "xxmaj")


# ---- rules on the raw string ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text,expected",
    [
        ("a<br />b", "a\nb"),
        ("a<br/>b<BR>c< br / >d<Br  />e", "a\nb\nc\nd\ne"),
        ("x<br /><br />y", "x\n\ny"),
        ("Tom &amp; Jerry &quot;hi&quot; &lt;3", 'Tom & Jerry "hi" <3'),
        ("no tags", "no tags"),
        ("<b>bold</b> stays", "<b>bold</b> stays"),  # only line breaks are tags we rewrite
    ],
)
def test_fix_html(text: str, expected: str) -> None:
    assert fix_html(text) == expected


@pytest.mark.parametrize(
    "text,expected",
    [
        ("aaa", "aaa"),  # three is not a run
        ("aaaa", " xxrep 4 a "),
        ("!!!!!!", " xxrep 6 ! "),
        ("cooool", "c xxrep 4 o l"),
        ("zzzzzzzzzz!!!!", " xxrep 10 z  xxrep 4 ! "),
        ("1111 22", " xxrep 4 1  22"),
        ("a  b", "a  b"),  # spaces are not repeated characters
    ],
)
def test_replace_rep_counts_the_whole_run(text: str, expected: str) -> None:
    assert replace_rep(text) == expected


@pytest.mark.parametrize(
    "text,expected",
    [
        ("so so so so good", " xxwrep 4 so  good"),
        ("very very very very very good", " xxwrep 5 very  good"),
        ("the the the end", "the the the end"),  # three is not a run
        ("no, no, no, no, stop", " xxwrep 4 no , stop"),
        ("I said no no no no no!", "I said  xxwrep 5 no !"),  # a run that ends a sentence (2019 missed the last "no")
        ("it was so so so so.", "it was  xxwrep 4 so ."),
        ("hello hello hello hellos", "hello hello hello hellos"),  # "hellos" is another word
    ],
)
def test_replace_wrep_counts_the_repeated_word(text: str, expected: str) -> None:
    assert replace_wrep(text) == expected


def test_spec_add_spaces_and_rm_useless_spaces() -> None:
    assert spec_add_spaces("good/bad #1 a\\b") == "good / bad  # 1 a \\ b"
    assert rm_useless_spaces("a    b  c d") == "a b c d"
    assert rm_useless_spaces("a\n\nb") == "a\n\nb"  # only spaces collapse
    assert rm_useless_spaces(spec_add_spaces("a/b")) == "a / b"


# ---- the split ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text,expected",
    [
        ("don't", ["do", "n't"]),
        ("can't won't", ["ca", "n't", "wo", "n't"]),
        ("I'm they're we've you'll he'd it's", ["I", "'m", "they", "'re", "we", "'ve", "you", "'ll", "he", "'d", "it", "'s"]),
        ("DON'T", ["DO", "N'T"]),
        ("3.5/10 is 7.", ["3.5", "/", "10", "is", "7", "."]),
        ("in 2019, 42%", ["in", "2019", ",", "42", "%"]),
        ("well-made, low-budget", ["well-made", ",", "low-budget"]),
        ("Wow!?...", ["Wow", "!", "?", ".", ".", "."]),
        ("(great) \"film\"", ["(", "great", ")", '"', "film", '"']),
        ("  spaced\tout\nlines ", ["spaced", "out", "lines"]),
        ("", []),
    ],
)
def test_split_words(text: str, expected: list[str]) -> None:
    assert split_words(text) == expected


def test_split_words_drops_only_whitespace() -> None:
    text = "It's 3.5/10: don't (ever) watch it -- e.g. twice!!"
    assert "".join(split_words(text)) == re.sub(r"\s", "", text)


# ---- rules on the token list --------------------------------------------------------------------


def test_replace_all_caps() -> None:
    assert replace_all_caps(["I", "LOVED", "it", "A", "OK", "McD", "TV1"]) == [
        "I", "xxup", "loved", "it", "A", "xxup", "ok", "McD", "xxup", "tv1"]
    assert replace_all_caps([]) == []


def test_deal_caps_single_letters_and_mixed_case() -> None:
    got = deal_caps(["The", "I", "A", "McDonald", "iPhone", "Great", "x", "HELLO", "3"])
    # single capitals: lower-cased without xxmaj; mixed case: lower-cased without xxmaj
    assert got == ["xxmaj", "the", "i", "a", "mcdonald", "iphone", "xxmaj", "great", "x", "hello", "3"]
    assert all(t == t.lower() for t in got)


def test_add_eos_bos() -> None:
    assert add_eos_bos([]) == ["xxbos", "xxeos"]
    assert add_eos_bos(["a", "b"]) == ["xxbos", "a", "b", "xxeos"]


# ---- the tokenizer ------------------------------------------------------------------------------


def test_tokenizer_is_its_rules_in_order() -> None:
    text = "<br />I LOVED it!!!! so so so so Good. 3.5/10, didn't hate it"
    t = text
    for rule in PRE_RULES:
        t = rule(t)
    toks = split_words(t)
    for rule in POST_RULES:
        toks = rule(toks)
    assert Tokenizer()(text) == toks
    assert toks == ["xxbos", "i", "xxup", "loved", "it", "xxrep", "4", "!", "xxwrep", "4", "so", "xxmaj", "good",
                    ".", "3.5", "/", "10", ",", "did", "n't", "hate", "it", "xxeos"]


def test_tokenizer_order_matters_and_is_pre_split_post() -> None:
    calls: list[str] = []

    def pre(name: str):  # noqa: ANN202
        def rule(t: str) -> str:
            calls.append(name)
            return t + name
        rule.__name__ = name
        return rule

    def post(name: str):  # noqa: ANN202
        def rule(toks: list[str]) -> list[str]:
            calls.append(name)
            return [*toks, name]
        rule.__name__ = name
        return rule

    def split(t: str) -> list[str]:
        calls.append("split")
        return t.split("_")

    tok = Tokenizer([pre("_p1"), pre("_p2")], split, [post("q1"), post("q2")])
    assert tok("x") == ["x", "p1", "p2", "q1", "q2"]
    assert calls == ["_p1", "_p2", "split", "q1", "q2"]
    assert repr(tok) == "Tokenizer(pre_rules=[_p1, _p2], split=split, post_rules=[q1, q2])"
    # all caps are marked before deal_caps lower-cases them; with the rules swapped the marker is lost
    assert Tokenizer()("HELLO") == ["xxbos", "xxup", "hello", "xxeos"]
    swapped = Tokenizer(post_rules=(deal_caps, replace_all_caps, add_eos_bos))
    assert swapped("HELLO") == ["xxbos", "hello", "xxeos"]
    # the text markers are added last, so they are never treated as words
    assert Tokenizer()("") == ["xxbos", "xxeos"]


def test_tokenizer_refuses_bad_arguments() -> None:
    with pytest.raises(TypeError, match=r"Tokenizer: expected text to be a str, got int 3"):
        Tokenizer()(3)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"Tokenizer: expected pre_rules to be a sequence of functions, got str"):
        Tokenizer(pre_rules="abc")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"Tokenizer: expected post_rules to be a sequence of functions, got list"):
        Tokenizer(post_rules=[deal_caps, 3])  # type: ignore[list-item]
    with pytest.raises(TypeError, match=r"Tokenizer: expected split to be a function str -> list\[str\], got NoneType None"):
        Tokenizer(split=None)  # type: ignore[arg-type]


# ---- tokenising many texts ----------------------------------------------------------------------

TEXTS = [f"Review {i}: this is {'VERY ' * (i % 3)}good{'!' * (i % 6)} <br />I'd watch it {i} times." for i in range(23)]


def test_tokenize_texts_one_process_is_the_tokenizer_in_order() -> None:
    tok = Tokenizer()
    expected = [tok(t) for t in TEXTS]
    assert tokenize_texts(TEXTS, n_workers=1, chunksize=4, progress=False) == expected
    assert tokenize_texts(iter(TEXTS), chunksize=1000, progress=False) == expected  # any iterable
    assert tokenize_texts([], progress=False) == []


def test_tokenize_texts_two_processes_equal_one_and_keep_order() -> None:
    one = tokenize_texts(TEXTS, n_workers=1, progress=False)
    two = tokenize_texts(TEXTS, n_workers=2, chunksize=3, progress=False)  # 8 chunks over 2 workers
    assert two == one
    assert [t[3] for t in two] == [f"{i}" for i in range(len(TEXTS))]  # "xxbos xxmaj review <i>" in order


def test_tokenize_texts_custom_tokenizer_in_workers() -> None:
    tok = Tokenizer(pre_rules=(), post_rules=())
    assert tokenize_texts(["a b", "c"], tok, n_workers=2, chunksize=1, progress=False) == [["a", "b"], ["c"]]


def test_tokenize_texts_refuses_bad_arguments() -> None:
    with pytest.raises(TypeError, match=r"tokenize_texts: expected texts to be an iterable of str, got int 3"):
        tokenize_texts([3, "a"], progress=False)  # type: ignore[list-item]
    with pytest.raises(TypeError, match=r"tokenize_texts: expected texts to be an iterable of str, got bytes"):
        tokenize_texts(["a", b"b"], progress=False)  # type: ignore[list-item]
    with pytest.raises(TypeError, match="expected text to be a str"):  # one in the middle: the tokenizer refuses it
        tokenize_texts(["a", None, "b"], progress=False)  # type: ignore[list-item]
    with pytest.raises(TypeError, match=r"tokenize_texts: expected tokenizer to be a Tokenizer or None, got function"):
        tokenize_texts(["a"], split_words, progress=False)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"tokenize_texts: expected n_workers to be a positive int, got int 0"):
        tokenize_texts(["a"], n_workers=0, progress=False)
    with pytest.raises(TypeError, match=r"tokenize_texts: expected chunksize to be a positive int, got float 2.5"):
        tokenize_texts(["a"], chunksize=2.5, progress=False)  # type: ignore[arg-type]
