"""Tests for foundations.text.loaders: the language-model stream, the samplers, padding, the classifier's data.

Oracles: the stream laid out by hand (a Python list cut into rows, read ``bptt`` columns at a
time), properties of every epoch for the samplers (Hypothesis: each index once, the number and
sizes of batches, the longest text first), padding written out row by row, and the 2019 course's
``SortishSampler`` rebuilt to show where it fails and ours does not.
"""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import Tensor

from conftest import gen
from foundations.text.loaders import (
    LMDataLoader,
    SortishSampler,
    SortSampler,
    lm_data,
    pad_collate,
    text_classifier_data,
)

pytestmark = pytest.mark.lesson12


def docs_of(lengths: list[int]) -> list[Tensor]:
    """Texts whose token ids are all different (consecutive numbers), so any token's place is known."""
    out, start = [], 0
    for n in lengths:
        out.append(torch.arange(start, start + n))
        start += n
    return out


# ---- the language-model stream ------------------------------------------------------------------


@pytest.mark.parametrize("lengths,bs,bptt", [([7, 5, 11, 3], 3, 2), ([40], 4, 3), ([5, 5, 5, 5, 5, 5], 2, 7), ([10, 10], 5, 3)])
def test_lm_loader_matches_a_hand_layout(lengths: list[int], bs: int, bptt: int) -> None:
    docs = docs_of(lengths)
    stream = [t for d in docs for t in d.tolist()]
    n_batch = len(stream) // bs
    rows = [stream[r * n_batch : (r + 1) * n_batch] for r in range(bs)]
    expected = []
    k = 0
    while (k + 1) * bptt + 1 <= n_batch:  # y needs one column past x
        x = [row[k * bptt : (k + 1) * bptt] for row in rows]
        y = [row[k * bptt + 1 : (k + 1) * bptt + 1] for row in rows]
        expected.append((x, y))
        k += 1
    dl = LMDataLoader(docs, bs, bptt)
    assert len(dl) == len(expected) == (n_batch - 1) // bptt
    got = list(dl)
    assert len(got) == len(dl)
    for (x, y), (ex, ey) in zip(got, expected):
        assert x.dtype == torch.long and x.shape == (bs, bptt) and y.shape == (bs, bptt)
        assert x.tolist() == ex and y.tolist() == ey


def test_lm_loader_y_is_x_shifted_and_rows_continue() -> None:
    docs = docs_of([13, 9, 30, 4])  # 56 tokens, bs 4: rows of 14, bptt 3: 4 batches
    dl = LMDataLoader(docs, bs=4, bptt=3)
    batches = list(dl)
    assert len(batches) == 4
    for x, y in batches:
        assert torch.equal(x[:, 1:], y[:, :-1])  # y is x shifted by one
        assert torch.equal(y, x + 1)  # ids are consecutive within each row: the next token is +1
    for (x0, y0), (x1, _) in zip(batches, batches[1:]):
        assert torch.equal(x1[:, 0], y0[:, -1])  # row r of batch k+1 continues row r of batch k
        assert torch.equal(x1[:, 0], x0[:, -1] + 1)


def test_lm_loader_shuffles_texts_each_epoch_and_keeps_every_token() -> None:
    lengths = [3, 4, 5, 6, 7, 8, 9, 10]  # 52 tokens: 4 rows of 13, nothing cut off
    docs = docs_of(lengths)
    dl = LMDataLoader(docs, bs=4, bptt=3, shuffle=True, generator=gen(0))
    starts = {int(d[0]): i for i, d in enumerate(docs)}
    orders = []
    for _ in range(4):
        stream = dl.rows().flatten()
        assert sorted(stream.tolist()) == list(range(52))  # every token, once
        # the stream is whole texts one after another: recover their order from each text's first id
        order, i = [], 0
        while i < len(stream):
            k = starts[int(stream[i])]
            assert torch.equal(stream[i : i + lengths[k]], docs[k])
            order.append(k)
            i += lengths[k]
        orders.append(order)
    assert all(sorted(o) == list(range(8)) for o in orders)
    assert len({tuple(o) for o in orders}) > 1  # a new order per epoch
    # the same generator seed gives the same epochs; no shuffle keeps the texts' order
    again = LMDataLoader(docs, bs=4, bptt=3, shuffle=True, generator=gen(0))
    assert [x.tolist() for x, _ in again] == [x.tolist() for x, _ in LMDataLoader(docs, 4, 3, True, gen(0))]
    assert LMDataLoader(docs, bs=4, bptt=3).rows().flatten().tolist() == list(range(52))


def test_lm_data_bunch() -> None:
    docs = docs_of([20, 20, 20])
    data = lm_data(docs, docs[:2], bs=2, bptt=4, generator=gen(1))
    assert data.train_dl.shuffle and not data.valid_dl.shuffle
    assert len(data.train_dl) == (30 - 1) // 4 and len(data.valid_dl) == (20 - 1) // 4


def test_lm_loader_refuses_bad_input() -> None:
    with pytest.raises(ValueError, match=r"LMDataLoader: expected at least bs \* \(bptt \+ 1\) = 12 tokens for one batch, got 11"):
        LMDataLoader(docs_of([11]), bs=3, bptt=3)
    assert len(LMDataLoader(docs_of([12]), bs=3, bptt=3)) == 1
    with pytest.raises(ValueError, match="LMDataLoader: expected at least one text, got none"):
        LMDataLoader([], bs=2, bptt=2)
    with pytest.raises(TypeError, match=r"LMDataLoader: expected each text to be a 1-d int64 tensor of token ids, got text 1"):
        LMDataLoader([torch.arange(5), torch.arange(5.0)], bs=1, bptt=2)
    with pytest.raises(ValueError, match="LMDataLoader: expected bs to be a positive int, got int 0"):
        LMDataLoader(docs_of([50]), bs=0, bptt=2)
    with pytest.raises(TypeError, match="LMDataLoader: expected shuffle to be a bool"):
        LMDataLoader(docs_of([50]), bs=2, bptt=2, shuffle=1)  # type: ignore[arg-type]


# ---- samplers -----------------------------------------------------------------------------------


def test_sort_sampler_longest_first() -> None:
    lengths = [5, 9, 1, 9, 3, 7, 2]
    batches = list(SortSampler(lengths, bs=3))
    assert len(SortSampler(lengths, bs=3)) == 3 == len(batches)
    assert [len(b) for b in batches] == [3, 3, 1]
    flat = [i for b in batches for i in b]
    assert sorted(flat) == list(range(7))
    assert [lengths[i] for i in flat] == sorted(lengths, reverse=True)
    assert flat[:2] == [1, 3]  # equal lengths keep their order (a stable sort)
    assert list(SortSampler(torch.tensor([4, 2]), bs=5)) == [[0, 1]]


@settings(max_examples=60)
@given(
    data=st.data(),
    n=st.integers(1, 300),
    bs=st.integers(1, 64),
    mega=st.integers(1, 4) | st.just(50),
    seed=st.integers(0, 2**16),
)
def test_sortish_sampler_epoch_properties(data: st.DataObject, n: int, bs: int, mega: int, seed: int) -> None:
    lengths = data.draw(st.lists(st.integers(1, 500), min_size=n, max_size=n), label="lengths")
    smp = SortishSampler(lengths, bs, mega=mega, generator=gen(seed))
    n_batches = -(-n // bs)
    for _ in range(2):  # two epochs
        batches = list(smp)
        assert len(batches) == len(smp) == n_batches
        flat = [i for b in batches for i in b]
        assert sorted(flat) == list(range(n))  # every index exactly once
        assert max(lengths[i] for i in batches[0]) == max(lengths)  # the longest text comes first
        sizes = sorted(len(b) for b in batches)
        assert sizes == sorted([bs] * (n // bs) + ([n % bs] if n % bs else []))
        for b in batches:  # each batch sorted by length, longest first (inside its megabatch)
            assert [lengths[i] for i in b] == sorted((lengths[i] for i in b), reverse=True)


def test_sortish_sampler_batches_hold_similar_lengths() -> None:
    lengths = torch.randint(1, 1000, (640,), generator=gen(0)).tolist()
    smp = SortishSampler(lengths, bs=8, mega=10, generator=gen(1))
    spread = sum(max(lengths[i] for i in b) - min(lengths[i] for i in b) for b in smp) / len(smp)
    rand = [list(range(k, k + 8)) for k in range(0, 640, 8)]  # unsorted batches, for comparison
    spread_rand = sum(max(lengths[i] for i in b) - min(lengths[i] for i in b) for b in rand) / len(rand)
    assert spread < spread_rand / 3
    a = [list(b) for b in SortishSampler(lengths, 8, 10, gen(5))]
    assert a == [list(b) for b in SortishSampler(lengths, 8, 10, gen(5))]  # reproducible from its generator


def sortish_2019(lengths: list[int], bs: int, generator: torch.Generator) -> list[int]:
    """The 2019 course's ``SortishSampler.__iter__`` (notebook 12_text), with ``key = lengths.__getitem__``."""
    key = lengths.__getitem__
    idxs = torch.randperm(len(lengths), generator=generator)
    megabatches = [idxs[i : i + bs * 50] for i in range(0, len(idxs), bs * 50)]
    sorted_idx = torch.cat([torch.tensor(sorted(s.tolist(), key=key, reverse=True)) for s in megabatches])
    batches = [sorted_idx[i : i + bs] for i in range(0, len(sorted_idx), bs)]
    max_idx = torch.argmax(torch.tensor([key(int(ck[0])) for ck in batches]))
    batches[0], batches[max_idx] = batches[max_idx], batches[0]
    batch_idxs = torch.randperm(len(batches) - 2, generator=generator)
    sorted_idx = torch.cat([batches[i + 1] for i in batch_idxs]) if len(batches) > 1 else torch.LongTensor([])
    sorted_idx = torch.cat([batches[0], sorted_idx, batches[-1]])
    return sorted_idx.tolist()


def test_sortish_2019_breaks_on_one_batch_where_ours_works() -> None:
    many = [5, 3, 8, 1, 9, 2, 7, 4, 6, 10]
    assert sorted(sortish_2019(many, 3, gen(0))) == list(range(10))  # several batches: fine
    for lengths, bs in (([4, 2, 3], 8), ([7], 1), ([1, 2, 3, 4], 4)):  # a single batch
        with pytest.raises(RuntimeError, match="negative dimension -1"):
            sortish_2019(lengths, bs, gen(0))  # torch.randperm(-1)
        ours = list(SortishSampler(lengths, bs, generator=gen(0)))
        assert len(ours) == 1 and sorted(ours[0]) == list(range(len(lengths)))
    with pytest.raises(ValueError, match="expected a non-empty list of Tensors"):  # two: randperm(0), cat of nothing
        sortish_2019([1, 2, 3, 4], 2, gen(0))
    assert sorted(i for b in SortishSampler([1, 2, 3, 4], 2, generator=gen(0)) for i in b) == [0, 1, 2, 3]


def test_samplers_refuse_bad_input() -> None:
    with pytest.raises(ValueError, match="SortishSampler: expected the lengths of at least one text, got none"):
        SortishSampler([], 4)
    with pytest.raises(ValueError, match="SortSampler: expected bs to be a positive int, got int 0"):
        SortSampler([1, 2], 0)
    with pytest.raises(ValueError, match="SortishSampler: expected mega to be a positive int, got int -1"):
        SortishSampler([1, 2], 2, mega=-1)


# ---- padding and the classifier's data ----------------------------------------------------------


def test_pad_collate_at_the_end_and_at_the_start() -> None:
    samples = [(torch.tensor([5, 6, 7]), 0), (torch.tensor([8]), 1), (torch.tensor([9, 10]), 1)]
    xb, yb = pad_collate(samples)
    assert xb.tolist() == [[5, 6, 7], [8, 1, 1], [9, 10, 1]] and xb.dtype == torch.long
    assert yb.tolist() == [0, 1, 1]
    xb, _ = pad_collate(samples, pad_idx=0, pad_first=True)
    assert xb.tolist() == [[5, 6, 7], [0, 0, 8], [0, 9, 10]]
    xb, yb = pad_collate([(torch.tensor([3, 4]), torch.tensor(1))])
    assert xb.tolist() == [[3, 4]] and yb.tolist() == [1]


def test_pad_collate_refuses_bad_input() -> None:
    with pytest.raises(ValueError, match="pad_collate: expected a non-empty list"):
        pad_collate([])
    with pytest.raises(TypeError, match=r"pad_collate: expected each text to be a 1-d int64 tensor of token ids, got text 0"):
        pad_collate([(torch.zeros(2, 2, dtype=torch.long), 0)])


def test_text_classifier_data_batches() -> None:
    lengths_train = [3, 9, 4, 12, 5, 7, 2, 8, 6, 1, 10]
    train_x = [torch.arange(2, 2 + n) for n in lengths_train]  # ids >= 2: never the padding index
    train_y = torch.arange(len(train_x)) % 2
    valid_x = [torch.full((n,), 5) for n in (4, 1, 6, 3, 2)]
    valid_y = torch.tensor([0, 1, 0, 1, 1])
    data = text_classifier_data((train_x, train_y), (valid_x, valid_y), bs=4, generator=gen(0))
    assert len(data.train_dl) == 3 and len(data.valid_dl) == 1 and data.c_out == 2
    seen = []
    for k, (xb, yb) in enumerate(data.train_dl):
        n_real = (xb != 1).sum(1)
        assert xb.shape[1] == int(n_real.max())  # padded to the longest in the batch, no more
        if k == 0:
            assert xb.shape[1] == max(lengths_train)  # the longest text first
        for row, n, y in zip(xb, n_real.tolist(), yb.tolist()):
            assert bool((row[n:] == 1).all())  # padding at the end
            i = lengths_train.index(n)
            assert torch.equal(row[:n], train_x[i]) and y == int(train_y[i])
            seen.append(i)
    assert sorted(seen) == list(range(len(train_x)))
    (xb, yb), = list(data.valid_dl)  # 2 * bs = 8 per validation batch: one batch, longest first
    assert xb.shape == (5, 6) and (xb != 1).sum(1).tolist() == [6, 4, 3, 2, 1]
    assert yb.tolist() == [0, 0, 1, 1, 1]
