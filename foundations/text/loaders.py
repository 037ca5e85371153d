"""Batches of text: the language model's stream, and sorted, padded batches for the classifier.

Derived in Lesson 12, "Text for a model" (lessons/12_text).

- :class:`LMDataLoader`: the texts (shuffled each epoch) concatenated into one stream of token ids,
  cut into ``bs`` rows, read ``bptt`` columns at a time; the target is the input shifted by one.
  Row ``r`` of batch ``k + 1`` continues row ``r`` of batch ``k``, which is what lets a stateful
  LSTM carry its hidden state from one batch to the next.
- :class:`SortSampler` (validation: longest first), :class:`SortishSampler` (training: shuffled, but
  texts of similar lengths in a batch, so little padding), :func:`pad_collate` (pad at the end with
  ``xxpad``) and :func:`text_classifier_data`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import torch
from torch import Tensor

from foundations import checks
from foundations.data.loaders import DataBunch, DataLoader, Dataset

__all__ = ["LMDataLoader", "SortSampler", "SortishSampler", "pad_collate", "text_classifier_data", "lm_data"]


def _check_docs(fn: str, docs: Sequence[Tensor]) -> list[Tensor]:
    docs = list(docs)
    if not docs:
        raise ValueError(f"{fn}: expected at least one text, got none")
    for i, d in enumerate(docs):
        if not isinstance(d, Tensor) or d.ndim != 1 or d.dtype != torch.long:
            raise TypeError(f"{fn}: expected each text to be a 1-d int64 tensor of token ids, got text {i}: {checks.describe(d)}")
    return docs


class LMDataLoader:
    """Language-model batches ``(x, y)``, both ``(bs, bptt)`` int64; ``y[:, j]`` is the token after ``x[:, j]``.

    Each epoch: the texts, in a new random order if ``shuffle`` (seeded by ``generator``), are
    concatenated into one stream of ``n`` tokens; its first ``bs * (n // bs)`` tokens are laid out as
    ``bs`` rows (row ``r`` is the ``r``-th consecutive piece of the stream), and batch ``k`` is
    columns ``[k*bptt, (k+1)*bptt)`` of the rows, ``y`` one column further. Only whole batches are
    made: ``len(dl) == (n // bs - 1) // bptt``.
    Derived in Lesson 12, "Text for a model" (lessons/12_text).
    """

    def __init__(
        self, docs: Sequence[Tensor], bs: int = 64, bptt: int = 70, shuffle: bool = False, generator: torch.Generator | None = None
    ) -> None:
        self.docs = _check_docs("LMDataLoader", docs)
        self.bs, self.bptt = checks.positive_int("LMDataLoader", "bs", bs), checks.positive_int("LMDataLoader", "bptt", bptt)
        self.shuffle, self.generator = checks.boolean("LMDataLoader", "shuffle", shuffle), generator
        self.n_tokens = sum(len(d) for d in self.docs)
        self.n_batch = self.n_tokens // self.bs  # tokens per row
        if len(self) == 0:
            raise ValueError(
                f"LMDataLoader: expected at least bs * (bptt + 1) = {self.bs * (self.bptt + 1)} tokens for one batch, "
                f"got {self.n_tokens}"
            )

    def __len__(self) -> int:
        return (self.n_batch - 1) // self.bptt

    def rows(self) -> Tensor:
        """This epoch's stream laid out as ``(bs, n // bs)`` (a new text order each call if shuffling)."""
        order = torch.randperm(len(self.docs), generator=self.generator) if self.shuffle else torch.arange(len(self.docs))
        stream = torch.cat([self.docs[i] for i in order.tolist()])
        return stream[: self.bs * self.n_batch].view(self.bs, self.n_batch)

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:
        rows = self.rows()
        for k in range(len(self)):
            i = k * self.bptt
            yield rows[:, i : i + self.bptt], rows[:, i + 1 : i + 1 + self.bptt]

    def __repr__(self) -> str:
        return f"LMDataLoader({len(self.docs)} texts, {self.n_tokens} tokens, bs={self.bs}, bptt={self.bptt}, shuffle={self.shuffle})"


def _lengths(fn: str, lengths: Sequence[int] | Tensor) -> list[int]:
    ls = lengths.tolist() if isinstance(lengths, Tensor) else list(lengths)
    if not ls:
        raise ValueError(f"{fn}: expected the lengths of at least one text, got none")
    return ls


class SortSampler:
    """Batches of indices, longest texts first: for validation, where order does not matter and
    sorting keeps padding small. ``lengths[i]`` is text ``i``'s length; the last batch may be smaller.
    Derived in Lesson 12, "Text for a model" (lessons/12_text).
    """

    def __init__(self, lengths: Sequence[int] | Tensor, bs: int) -> None:
        self.lengths = _lengths("SortSampler", lengths)
        self.bs = checks.positive_int("SortSampler", "bs", bs)

    def __len__(self) -> int:
        return -(-len(self.lengths) // self.bs)

    def __iter__(self) -> Iterator[list[int]]:
        order = sorted(range(len(self.lengths)), key=lambda i: -self.lengths[i])
        for i in range(0, len(order), self.bs):
            yield order[i : i + self.bs]


class SortishSampler:
    """Training batches that are random, yet hold texts of similar lengths.

    Each epoch: shuffle the indices; cut them into *megabatches* of ``bs * mega`` (the course: 50);
    sort each megabatch by length, longest first, and cut it into batches of ``bs``; then put the
    batch holding the longest text first (a batch too big for memory fails at once, not an hour in)
    and shuffle the others. Every index appears exactly once per epoch, in ``len(self)`` batches,
    whatever the number of texts (one text, fewer than ``bs``, an exact multiple, ...). The 2019
    version drew ``randperm(n_batches - 2)`` and crashed when there was a single batch.
    Derived in Lesson 12, "Text for a model" (lessons/12_text).
    """

    def __init__(self, lengths: Sequence[int] | Tensor, bs: int, mega: int = 50, generator: torch.Generator | None = None) -> None:
        self.lengths = _lengths("SortishSampler", lengths)
        self.bs = checks.positive_int("SortishSampler", "bs", bs)
        self.mega = checks.positive_int("SortishSampler", "mega", mega)
        self.generator = generator

    def __len__(self) -> int:
        return -(-len(self.lengths) // self.bs)

    def __iter__(self) -> Iterator[list[int]]:
        n, bs, g = len(self.lengths), self.bs, self.generator
        idxs = torch.randperm(n, generator=g).tolist()
        mega = bs * self.mega
        batches: list[list[int]] = []
        for i in range(0, n, mega):
            chunk = sorted(idxs[i : i + mega], key=lambda j: -self.lengths[j])
            batches += [chunk[k : k + bs] for k in range(0, len(chunk), bs)]
        first = max(range(len(batches)), key=lambda b: self.lengths[batches[b][0]])
        rest = [b for k, b in enumerate(batches) if k != first]
        order = torch.randperm(len(rest), generator=g).tolist()
        yield batches[first]
        for k in order:
            yield rest[k]


def pad_collate(samples: Sequence[tuple[Tensor, Any]], pad_idx: int = 1, pad_first: bool = False) -> tuple[Tensor, Tensor]:
    """``[(ids, label), ...] -> (xb (bs, max_len), yb (bs,))``: texts padded with ``pad_idx`` to the
    longest one, at the end (default) or at the start.
    Derived in Lesson 12, "Text for a model" (lessons/12_text).
    """
    if not samples:
        raise ValueError("pad_collate: expected a non-empty list of (ids, label) samples, got none")
    xs = [s[0] for s in samples]
    _check_docs("pad_collate", xs)
    max_len = max(len(x) for x in xs)
    xb = torch.full((len(xs), max_len), pad_idx, dtype=torch.long)
    for i, x in enumerate(xs):
        if pad_first:
            xb[i, max_len - len(x) :] = x
        else:
            xb[i, : len(x)] = x
    return xb, torch.as_tensor([s[1] for s in samples])


def text_classifier_data(
    train: tuple[Sequence[Tensor], Tensor],
    valid: tuple[Sequence[Tensor], Tensor],
    bs: int,
    pad_idx: int = 1,
    generator: torch.Generator | None = None,
    c_out: int = 2,
) -> DataBunch:
    """A :class:`~foundations.data.DataBunch` for text classification: training batches from a
    :class:`SortishSampler`, validation batches (``2 * bs``) from a :class:`SortSampler`, both padded
    at the end by :func:`pad_collate`. ``train`` and ``valid`` are ``(texts as id tensors, labels)``.
    Derived in Lesson 12, "Text for a model" (lessons/12_text).
    """
    bs = checks.positive_int("text_classifier_data", "bs", bs)

    def collate(s: Sequence[tuple[Tensor, Any]]) -> tuple[Tensor, Tensor]:
        return pad_collate(s, pad_idx)

    dls = []
    for (x, y), sampler in ((train, SortishSampler), (valid, SortSampler)):
        ds = Dataset(list(x), y)
        lengths = [len(t) for t in x]
        smp = sampler(lengths, bs, generator=generator) if sampler is SortishSampler else sampler(lengths, 2 * bs)
        dls.append(DataLoader(ds, smp, collate_fn=collate))  # type: ignore[arg-type]
    return DataBunch(dls[0], dls[1], c_in=None, c_out=c_out)


def lm_data(train: Sequence[Tensor], valid: Sequence[Tensor], bs: int, bptt: int, generator: torch.Generator | None = None) -> DataBunch:
    """A :class:`~foundations.data.DataBunch` of :class:`LMDataLoader` s: the training stream shuffled
    each epoch (seeded by ``generator``), the validation stream in order.
    Derived in Lesson 12, "Text for a model" (lessons/12_text).
    """
    return DataBunch(LMDataLoader(train, bs, bptt, shuffle=True, generator=generator), LMDataLoader(valid, bs, bptt), c_in=None, c_out=None)
