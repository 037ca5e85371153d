"""The texts of Lesson 12: IMDB reviews and WikiText-2 articles, read, subsetted and tokenised once.

Derived in Lesson 12, "Text for a model" (lessons/12_text). IMDB (Maas et al. 2011) is 25,000
training and 25,000 test reviews, half positive and half negative, and 50,000 unlabelled ones
(``unsup``); WikiText-2 (Merity et al. 2016) is Wikipedia articles, of which only the validation and
test files are on hand here (``wikitext-2-valid-test``). Subsets are drawn with a seeded generator,
balanced between the classes, so every reader gets the same ones; tokenised corpora are kept in the
data cache (:func:`foundations.data.artifacts.cached_artifact`), keyed by the archive's sha256, the
subset and the tokenizer's version.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import torch

from foundations import checks
from foundations.data.archives import archive_sha256, fetch
from foundations.data.artifacts import cached_artifact
from foundations.text.tokens import tokenize_texts

__all__ = [
    "IMDB_CLASSES",
    "TOKENIZER_VERSION",
    "imdb_files",
    "read_imdb",
    "read_wikitext",
    "tokenized",
    "wikitext_to_plain",
]

IMDB_CLASSES: tuple[str, str] = ("neg", "pos")
"""IMDB's two classes, in label order (0 negative, 1 positive). Derived in Lesson 12, "Text for a
model" (lessons/12_text)."""

TOKENIZER_VERSION = "tokens-v2"
"""Part of every cached corpus's key: change it when a rule of :mod:`foundations.text.tokens`
changes, so that corpora tokenised by the old rules are not reused. Derived in Lesson 12, "Text for
a model" (lessons/12_text)."""

_SPLITS = ("train", "test", "unsup")


def imdb_files(split: str) -> list[Path]:
    """The review files of one IMDB split (``"train"``, ``"test"`` or ``"unsup"``), sorted by path.

    ``train`` and ``test`` list ``neg/`` then ``pos/``; fetches ``imdb`` (verified, cached) the first time.
    Derived in Lesson 12, "Text for a model" (lessons/12_text).
    """
    if split not in _SPLITS:
        raise ValueError(checks.message("imdb_files", "split", f"one of {list(_SPLITS)}", split))
    root = fetch("imdb")
    folders = [root / split / c for c in IMDB_CLASSES] if split != "unsup" else [root / "unsup"]
    return [p for folder in folders for p in sorted(folder.glob("*.txt"))]


def read_imdb(split: str, n: int | None = None, seed: int = 0) -> tuple[list[str], torch.Tensor]:
    """``(texts, labels)`` of an IMDB split: all of it, or ``n`` reviews drawn at random with ``seed``.

    For ``train`` and ``test`` the draw is balanced (``n // 2`` negative, the rest positive) and the
    result is shuffled; labels are 0 (neg) and 1 (pos). ``unsup`` reviews have label -1.
    Derived in Lesson 12, "Text for a model" (lessons/12_text).
    """
    files = imdb_files(split)
    n = checks.int_or_none("read_imdb", "n", n, min=1)
    labels = torch.tensor([IMDB_CLASSES.index(p.parent.name) if split != "unsup" else -1 for p in files])
    g = torch.Generator().manual_seed(seed)
    if n is not None:
        if n > len(files):
            raise ValueError(f"read_imdb: expected n <= {len(files)} reviews in {split!r}, got {n}")
        if split == "unsup":
            idx = torch.randperm(len(files), generator=g)[:n]
        else:
            neg, pos = (labels == 0).nonzero().flatten(), (labels == 1).nonzero().flatten()
            pick = [neg[torch.randperm(len(neg), generator=g)[: n // 2]], pos[torch.randperm(len(pos), generator=g)[: n - n // 2]]]
            idx = torch.cat(pick)
            idx = idx[torch.randperm(len(idx), generator=g)]
        files, labels = [files[i] for i in idx.tolist()], labels[idx]
    return [p.read_text(encoding="utf-8") for p in files], labels


_HEADING = re.compile(r"^ = [^=].* = $")
_AT = re.compile(r" @([-.,])@ ")


def wikitext_to_plain(line: str) -> str:
    """Undo WikiText's own tokenising, so our tokenizer sees ordinary text: ``3 @.@ 5`` -> ``3.5``,
    ``well @-@ known`` -> ``well-known``, ``<unk>`` -> ``xxunk``.

    >>> wikitext_to_plain(" The <unk> was 3 @.@ 5 m long , well @-@ known . ")
    'The xxunk was 3.5 m long , well-known .'

    Derived in Lesson 12, "Pre-training a language model" (lessons/12_lm_pretrain).
    """
    return _AT.sub(r"\1", line).replace("<unk>", "xxunk").strip()


def read_wikitext(part: str) -> list[str]:
    """WikiText-2's ``"valid"`` or ``"test"`` file as a list of articles (plain text, see
    :func:`wikitext_to_plain`); an article starts at each top-level heading, a line like
    ``= Title =``.
    Derived in Lesson 12, "Pre-training a language model" (lessons/12_lm_pretrain).
    """
    if part not in ("valid", "test"):
        raise ValueError(checks.message("read_wikitext", "part", "'valid' or 'test' (the train file is not available)", part))
    lines = (fetch("wikitext-2-valid-test") / f"wiki.{part}.tokens").read_text(encoding="utf-8").splitlines()
    articles: list[list[str]] = []
    for line in lines:
        if _HEADING.match(line):
            articles.append([])
        if line.strip() and articles:
            articles[-1].append(wikitext_to_plain(line))
    return ["\n".join(a) for a in articles]


def tokenized(name: str, texts: Sequence[str], key: dict, n_workers: int = 2) -> list[list[str]]:
    """The texts tokenised (:func:`~foundations.text.tokens.tokenize_texts`), kept in the data cache
    under ``key`` (which must name where the texts came from: archive sha256, split, subset, seed).

    The cache stores each text's tokens joined by spaces (tokens never hold a space).
    Derived in Lesson 12, "Text for a model" (lessons/12_text).
    """
    full_key = {"what": name, "tokenizer": TOKENIZER_VERSION, "n_texts": len(texts), **key}

    def build() -> list[str]:
        return [" ".join(t) for t in tokenize_texts(texts, n_workers=n_workers)]

    return [s.split(" ") for s in cached_artifact("tokens", full_key, build)]


def imdb_key(split: str, n: int | None, seed: int) -> dict:
    """The part of a cache key that names an IMDB subset (archive sha256, split, size, seed)."""
    return {"archive": archive_sha256("imdb"), "split": split, "n": n, "seed": seed}
