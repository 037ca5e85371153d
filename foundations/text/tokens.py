"""Text to tokens: the course's rules, a tokenizer of our own, and tokenising many texts in parallel.

Derived in Lesson 12, "Text for a model" (lessons/12_text). A model reads numbers, so a text goes
through three steps: **rules** that rewrite the raw string (``<br />`` tags, repeated characters and
words), a **split** into tokens (words, punctuation, the pieces of contractions), and rules on the
token list (capitals become a marker token before the lower-cased word, ``xxbos``/``xxeos`` around
the text). The 2019 course split with spaCy's English tokenizer; ours is one regular expression
(:data:`TOKEN_RE`) that splits the same way on the cases the page shows, so the library needs no
language model download.

The special tokens are the course's, in the course's order (:data:`SPECIAL_TOKENS`), so that
``xxunk`` is 0 and ``xxpad`` is 1 in every vocabulary.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor

from foundations import checks
from foundations.progress import Progress

__all__ = [
    "BOS",
    "EOS",
    "MAJ",
    "PAD",
    "POST_RULES",
    "PRE_RULES",
    "REP",
    "SPECIAL_TOKENS",
    "TOKEN_RE",
    "UNK",
    "UP",
    "WREP",
    "Tokenizer",
    "add_eos_bos",
    "deal_caps",
    "fix_html",
    "replace_all_caps",
    "replace_rep",
    "replace_wrep",
    "rm_useless_spaces",
    "spec_add_spaces",
    "split_words",
    "tokenize_texts",
]

UNK, PAD, BOS, EOS, REP, WREP, UP, MAJ = "xxunk xxpad xxbos xxeos xxrep xxwrep xxup xxmaj".split()
SPECIAL_TOKENS: tuple[str, ...] = (UNK, PAD, BOS, EOS, REP, WREP, UP, MAJ)
"""The course's special tokens, in its order: unknown word, padding, beginning and end of a text,
a repeated character, a repeated word, an all-caps word, a capitalised word. Every vocabulary starts
with them, so ``xxunk`` is 0 and ``xxpad`` is 1. Derived in Lesson 12, "Text for a model" (lessons/12_text)."""


# ---- rules on the raw string --------------------------------------------------------------------

_BR = re.compile(r"<\s*br\s*/?\s*>", re.IGNORECASE)
_SPEC = re.compile(r"([/#\\])")
_SPACES = re.compile(r" {2,}")
_REP = re.compile(r"(\S)(\1{3,})")
_WREP = re.compile(r"\b(\w+)((?:\W+\1\b){3,})")


def fix_html(t: str) -> str:
    """``<br />`` tags (IMDB's line breaks) become a newline; HTML entities (``&amp;``) their character.

    >>> fix_html("Great.<br /><br />Really &amp; truly")
    'Great.\\n\\nReally & truly'

    Derived in Lesson 12, "Text for a model" (lessons/12_text).
    """
    return html.unescape(_BR.sub("\n", t))


def spec_add_spaces(t: str) -> str:
    """Spaces around ``/``, ``#`` and ``\\``, so ``"good/bad"`` splits into three tokens.

    >>> spec_add_spaces("good/bad #1")
    'good / bad  # 1'

    Derived in Lesson 12, "Text for a model" (lessons/12_text).
    """
    return _SPEC.sub(r" \1 ", t)


def rm_useless_spaces(t: str) -> str:
    """Runs of spaces become one space.

    >>> rm_useless_spaces("a   b  c")
    'a b c'

    Derived in Lesson 12, "Text for a model" (lessons/12_text).
    """
    return _SPACES.sub(" ", t)


def replace_rep(t: str) -> str:
    """A character repeated four times or more becomes ``xxrep n c``: ``"!!!!!!"`` -> ``" xxrep 6 ! "``.

    The model then learns one token for "a long run of" instead of a rare word per length.

    >>> replace_rep("cooool!!!!")
    'c xxrep 4 o l xxrep 4 ! '

    Derived in Lesson 12, "Text for a model" (lessons/12_text).
    """

    def _rep(m: re.Match[str]) -> str:
        c, cc = m.groups()
        return f" {REP} {len(cc) + 1} {c} "

    return _REP.sub(_rep, t)


def replace_wrep(t: str) -> str:
    """A word repeated four times or more (separated by spaces or punctuation) becomes ``xxwrep n word``.

    >>> replace_wrep("this is very very very very good")
    'this is  xxwrep 4 very  good'
    >>> replace_wrep("it was so so so so.")
    'it was  xxwrep 4 so .'

    The 2019 rule required the separator after every repeat, so it missed a run that ends a text or
    a sentence (``"so so so so."``). Derived in Lesson 12, "Text for a model" (lessons/12_text).
    """

    def _wrep(m: re.Match[str]) -> str:
        word = m.group(1)
        n = 1 + len(re.findall(r"\W+" + re.escape(word) + r"\b", m.group(2)))
        return f" {WREP} {n} {word} "

    return _WREP.sub(_wrep, t)


PRE_RULES: tuple[Callable[[str], str], ...] = (fix_html, replace_rep, replace_wrep, spec_add_spaces, rm_useless_spaces)
"""The rules applied to the raw string, in order. Derived in Lesson 12, "Text for a model" (lessons/12_text)."""


# ---- the split ----------------------------------------------------------------------------------

TOKEN_RE = re.compile(
    r"""
    \w+(?=n't\b)          # "do" of "don't", "ca" of "can't" (the negation is its own token)
  | n't\b                 # the negation
  | '(?:s|re|ve|m|ll|d)\b # the clitics of "it's", "they're", "we've", "I'm", "you'll", "he'd"
  | \w+(?:[-.]\w+)*       # words, numbers, "well-made", "e.g", "3.5"
  | [^\w\s]               # any other character (punctuation) on its own
    """,
    re.VERBOSE | re.IGNORECASE,
)
"""The split: words, numbers, contractions split as spaCy's English tokenizer splits them (``do n't``,
``it 's``), and every other non-space character alone. Derived in Lesson 12, "Text for a model"
(lessons/12_text).

:meta hide-value:
"""


def split_words(t: str) -> list[str]:
    """Split a string into tokens with :data:`TOKEN_RE` (whitespace is dropped).

    >>> split_words("I didn't like it: 3.5/10, it's well-made though.")
    ['I', 'did', "n't", 'like', 'it', ':', '3.5', '/', '10', ',', 'it', "'s", 'well-made', 'though', '.']

    Derived in Lesson 12, "Text for a model" (lessons/12_text).
    """
    return TOKEN_RE.findall(t)


# ---- rules on the token list --------------------------------------------------------------------


def replace_all_caps(tokens: Sequence[str]) -> list[str]:
    """An all-caps word of two letters or more becomes ``xxup`` and the word in lower case.

    >>> replace_all_caps(["I", "LOVED", "it"])
    ['I', 'xxup', 'loved', 'it']

    Derived in Lesson 12, "Text for a model" (lessons/12_text).
    """
    res: list[str] = []
    for t in tokens:
        if t.isupper() and len(t) > 1:
            res += [UP, t.lower()]
        else:
            res.append(t)
    return res


def deal_caps(tokens: Sequence[str]) -> list[str]:
    """A capitalised word of two letters or more (``"Great"``) becomes ``xxmaj great``; every token ends in lower case.

    >>> deal_caps(["The", "film", "is", "Great", "I"])
    ['xxmaj', 'the', 'film', 'is', 'xxmaj', 'great', 'i']

    Derived in Lesson 12, "Text for a model" (lessons/12_text).
    """
    res: list[str] = []
    for t in tokens:
        if len(t) > 1 and t[0].isupper() and t[1:].islower():
            res.append(MAJ)
        res.append(t.lower())
    return res


def add_eos_bos(tokens: Sequence[str]) -> list[str]:
    """``xxbos`` before the text and ``xxeos`` after it, so a stream of texts shows where each starts.

    >>> add_eos_bos(["hi"])
    ['xxbos', 'hi', 'xxeos']

    Derived in Lesson 12, "Text for a model" (lessons/12_text).
    """
    return [BOS, *tokens, EOS]


POST_RULES: tuple[Callable[[Sequence[str]], list[str]], ...] = (replace_all_caps, deal_caps, add_eos_bos)
"""The rules applied to the token list, in order. Derived in Lesson 12, "Text for a model" (lessons/12_text)."""


# ---- the tokenizer ------------------------------------------------------------------------------


class Tokenizer:
    """Pre-rules, split, post-rules: ``Tokenizer()(text)`` is the text's list of tokens.

    ``pre_rules`` rewrite the string (default :data:`PRE_RULES`), ``split`` cuts it (default
    :func:`split_words`), ``post_rules`` rewrite the token list (default :data:`POST_RULES`). A
    tokenizer made only of module-level functions can be sent to worker processes
    (:func:`tokenize_texts`).

    >>> Tokenizer()("This movie is GREAT!!!!")
    ['xxbos', 'xxmaj', 'this', 'movie', 'is', 'xxup', 'great', 'xxrep', '4', '!', 'xxeos']

    Derived in Lesson 12, "Text for a model" (lessons/12_text).
    """

    def __init__(
        self,
        pre_rules: Sequence[Callable[[str], str]] = PRE_RULES,
        split: Callable[[str], list[str]] = split_words,
        post_rules: Sequence[Callable[[Sequence[str]], list[str]]] = POST_RULES,
    ) -> None:
        for name, fs in (("pre_rules", pre_rules), ("post_rules", post_rules)):
            if isinstance(fs, str) or not all(callable(f) for f in fs):
                raise TypeError(checks.message("Tokenizer", name, "a sequence of functions", fs))
        if not callable(split):
            raise TypeError(checks.message("Tokenizer", "split", "a function str -> list[str]", split))
        self.pre_rules, self.split, self.post_rules = tuple(pre_rules), split, tuple(post_rules)

    def __call__(self, text: str) -> list[str]:
        if not isinstance(text, str):
            raise TypeError(checks.message("Tokenizer", "text", "a str", text))
        for rule in self.pre_rules:
            text = rule(text)
        tokens = self.split(text)
        for rule in self.post_rules:
            tokens = rule(tokens)
        return tokens

    def __repr__(self) -> str:
        names = lambda fs: ", ".join(getattr(f, "__name__", type(f).__name__) for f in fs)  # noqa: E731
        return f"Tokenizer(pre_rules=[{names(self.pre_rules)}], split={self.split.__name__}, post_rules=[{names(self.post_rules)}])"


def _tokenize_chunk(args: tuple[Tokenizer, list[str]]) -> list[list[str]]:
    tok, texts = args
    return [tok(t) for t in texts]


def _chunks(texts: Sequence[str], size: int) -> Iterator[list[str]]:
    for i in range(0, len(texts), size):
        yield list(texts[i : i + size])


def tokenize_texts(
    texts: Iterable[str],
    tokenizer: Tokenizer | None = None,
    n_workers: int = 1,
    chunksize: int = 1000,
    progress: bool | None = None,
) -> list[list[str]]:
    """Tokenise every text, in order, on ``n_workers`` processes, with a progress bar counting texts.

    The texts are cut into chunks of ``chunksize``; each worker process tokenises whole chunks (so
    the cost of sending a chunk is paid once per ``chunksize`` texts) and the results come back in
    the texts' order. ``n_workers=1`` runs in this process. ``progress``: see
    :class:`foundations.progress.Progress`.
    Derived in Lesson 12, "Text for a model" (lessons/12_text), where 1 and 2 processes are timed.
    """
    texts = list(texts)
    for i, t in enumerate(texts[:1] + texts[-1:]):
        if not isinstance(t, str):
            raise TypeError(checks.message("tokenize_texts", "texts", "an iterable of str", t))
    tok = Tokenizer() if tokenizer is None else tokenizer
    if not isinstance(tok, Tokenizer):
        raise TypeError(checks.message("tokenize_texts", "tokenizer", "a Tokenizer or None", tokenizer))
    n_workers = checks.positive_int("tokenize_texts", "n_workers", n_workers)
    chunksize = checks.positive_int("tokenize_texts", "chunksize", chunksize)
    bar = Progress(f"tokenize_texts: {len(texts)} texts on {n_workers} process{'es' * (n_workers > 1)}",
                   len(texts), progress, unit="texts")
    out: list[list[str]] = []
    try:
        if n_workers == 1:
            for chunk in _chunks(texts, chunksize):
                out += _tokenize_chunk((tok, chunk))
                bar.update(len(chunk))
        else:
            with ProcessPoolExecutor(max_workers=n_workers) as ex:
                for res in ex.map(_tokenize_chunk, ((tok, c) for c in _chunks(texts, chunksize))):
                    out += res
                    bar.update(len(res))
    except BaseException:
        bar.clear()
        raise
    bar.close(f"tokenize_texts: {len(texts)} texts, {sum(map(len, out))} tokens")
    return out
