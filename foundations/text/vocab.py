"""Tokens to numbers: a vocabulary built on the training texts, and the data block processors.

Derived in Lesson 12, "Text for a model" (lessons/12_text). The vocabulary keeps the special tokens
first (:data:`foundations.text.tokens.SPECIAL_TOKENS`, so ``xxunk`` is 0 and ``xxpad`` is 1), then
the words seen at least ``min_freq`` times in the training texts, most frequent first, at most
``max_size`` in all. Every other word, in any text, becomes ``xxunk``: a validation text never adds
a word (the vocabulary is built on training texts only, the same rule as Lesson 11's
``CategoryProcessor``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence

import torch
from torch import Tensor

from foundations import checks
from foundations.data.blocks import Processor
from foundations.text.tokens import SPECIAL_TOKENS, Tokenizer, tokenize_texts

__all__ = ["NumericalizeProcessor", "TokenizeProcessor", "Vocab"]


class Vocab:
    """Index to string (``itos``) and back (``stoi``); unknown strings map to ``xxunk`` (index 0).

    Build one from tokenised training texts with :meth:`build`, or from a list of strings
    (``Vocab(itos)``, which must start with the special tokens).

    >>> v = Vocab.build([["xxbos", "a", "b", "a"], ["a", "c"]], min_freq=2)
    >>> v.itos[8:], v.numericalize(["a", "b", "zzz"]).tolist()
    (['a'], [8, 0, 0])

    Derived in Lesson 12, "Text for a model" (lessons/12_text).
    """

    def __init__(self, itos: Sequence[str]) -> None:
        itos = list(itos)
        if not all(isinstance(s, str) for s in itos):
            raise TypeError(checks.message("Vocab", "itos", "a list of str", itos[:5]))
        if tuple(itos[: len(SPECIAL_TOKENS)]) != SPECIAL_TOKENS:
            raise ValueError(f"Vocab: expected itos to start with the special tokens {list(SPECIAL_TOKENS)}, got {itos[:8]}")
        if len(set(itos)) != len(itos):
            dup = next(s for s, n in Counter(itos).items() if n > 1)
            raise ValueError(f"Vocab: expected each string once in itos, got {dup!r} more than once")
        self.itos = itos
        self.stoi = {s: i for i, s in enumerate(itos)}

    @classmethod
    def build(cls, token_lists: Iterable[Sequence[str]], max_size: int = 60_000, min_freq: int = 2) -> Vocab:
        """The special tokens, then the words of ``token_lists`` seen ``>= min_freq`` times, most frequent
        first (ties in alphabetical order, so the vocabulary does not depend on the texts' order),
        ``max_size`` strings in all at most (the course: 60,000 and 2)."""
        max_size = checks.integer("Vocab.build", "max_size", max_size, min=len(SPECIAL_TOKENS))
        min_freq = checks.positive_int("Vocab.build", "min_freq", min_freq)
        counts: Counter[str] = Counter()
        for toks in token_lists:
            if isinstance(toks, str):
                raise TypeError(checks.message("Vocab.build", "token_lists", "lists of tokens (tokenise the texts first)", toks))
            counts.update(toks)
        words = sorted((w for w, n in counts.items() if n >= min_freq and w not in SPECIAL_TOKENS), key=lambda w: (-counts[w], w))
        return cls([*SPECIAL_TOKENS, *words[: max_size - len(SPECIAL_TOKENS)]])

    def __len__(self) -> int:
        return len(self.itos)

    @property
    def pad_idx(self) -> int:
        """The index of ``xxpad`` (1)."""
        return self.stoi["xxpad"]

    def numericalize(self, tokens: Sequence[str]) -> Tensor:
        """The tokens' indices, an int64 tensor ``(len(tokens),)``; unknown tokens are 0 (``xxunk``)."""
        get = self.stoi.get
        return torch.tensor([get(t, 0) for t in tokens], dtype=torch.long)

    def textify(self, idxs: Sequence[int] | Tensor, sep: str = " ") -> str:
        """The strings of ``idxs`` joined by ``sep``: numbers back to a readable text."""
        ids = idxs.tolist() if isinstance(idxs, Tensor) else list(idxs)
        for i in ids:
            if not (isinstance(i, int) and 0 <= i < len(self.itos)):
                raise ValueError(f"Vocab.textify: expected indices in [0, {len(self.itos)}), got {i!r}")
        return sep.join(self.itos[i] for i in ids)

    def __repr__(self) -> str:
        return f"Vocab({len(self)} strings: {' '.join(self.itos[8:16])} ...)"


class TokenizeProcessor(Processor):
    """The data block processor for texts: a list of strings -> a list of token lists.

    Runs :func:`foundations.text.tokens.tokenize_texts` on ``n_workers`` processes.
    Derived in Lesson 12, "Text for a model" (lessons/12_text).
    """

    def __init__(self, tokenizer: Tokenizer | None = None, n_workers: int = 1, chunksize: int = 1000) -> None:
        self.tokenizer = tokenizer or Tokenizer()
        self.n_workers, self.chunksize = n_workers, chunksize

    def __call__(self, items: Sequence[str]) -> list[list[str]]:
        return tokenize_texts(items, self.tokenizer, self.n_workers, self.chunksize)

    def deprocess(self, items: Sequence[Sequence[str]]) -> list[str]:
        return [" ".join(toks) for toks in items]


class NumericalizeProcessor(Processor):
    """The data block processor for token lists: the first call (the training set) builds the
    :class:`Vocab`; every call maps token lists to int64 tensors.

    Derived in Lesson 12, "Text for a model" (lessons/12_text).
    """

    def __init__(self, vocab: Vocab | None = None, max_size: int = 60_000, min_freq: int = 2) -> None:
        self.vocab, self.max_size, self.min_freq = vocab, max_size, min_freq

    def __call__(self, items: Sequence[Sequence[str]]) -> list[Tensor]:
        if self.vocab is None:
            self.vocab = Vocab.build(items, self.max_size, self.min_freq)
        return [self.vocab.numericalize(toks) for toks in items]

    def deprocess(self, items: Sequence[Tensor]) -> list[list[str]]:
        assert self.vocab is not None
        return [self.vocab.textify(t).split(" ") for t in items]

    def __repr__(self) -> str:
        return f"NumericalizeProcessor({self.vocab!r})"
