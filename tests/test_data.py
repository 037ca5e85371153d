"""Tests for foundations.data.loaders: batches equal torch.utils.data.DataLoader's, item for item; DataBunch."""

from __future__ import annotations

import pytest
import torch
import torch.utils.data as tud
from conftest import gen
from hypothesis import given, settings
from hypothesis import strategies as st

import foundations.data
from foundations.data.loaders import DataBunch, DataLoader, Dataset, Sampler, collate, get_dls

pytestmark = pytest.mark.lesson09


def _toy(n: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = gen(seed)
    return torch.randn(n, 5, generator=g), torch.randint(0, 10, (n,), generator=g)


def _assert_same_batches(ours: list, theirs: list) -> None:
    assert len(ours) == len(theirs), f"expected {len(theirs)} batches, got {len(ours)}"
    for k, ((xb, yb), (xt, yt)) in enumerate(zip(ours, theirs)):
        assert xb.dtype == xt.dtype and yb.dtype == yt.dtype, f"batch {k}: dtypes differ"
        assert torch.equal(xb, xt), f"batch {k}: inputs differ"
        assert torch.equal(yb, yt), f"batch {k}: labels differ"


# ---- Dataset ---------------------------------------------------------------------------------------


def test_dataset_pairs_inputs_and_targets() -> None:
    x, y = _toy(7)
    ds = Dataset(x, y)
    assert len(ds) == 7
    xi, yi = ds[3]
    assert torch.equal(xi, x[3]) and torch.equal(yi, y[3])
    xs, ys = ds[torch.tensor([6, 0])]
    assert torch.equal(xs, x[[6, 0]]) and torch.equal(ys, y[[6, 0]])
    assert ds[1:3][0].shape == (2, 5)


def test_dataset_rejects_mismatched_or_empty() -> None:
    x, y = _toy(10)
    with pytest.raises(ValueError, match="expected labels y to match the inputs x one for one, got 10 inputs and 9 labels"):
        Dataset(x, y[:9])
    with pytest.raises(ValueError, match="expected a non-empty dataset, got 0 items"):
        Dataset(x[:0], y[:0])
    with pytest.raises(TypeError, match="expected x to support len"):
        Dataset(3, y)


# ---- Sampler ----------------------------------------------------------------------------------------


@settings(max_examples=60)
@given(n=st.integers(1, 200), bs=st.integers(1, 50), shuffle=st.booleans(), seed=st.integers(0, 2**16))
def test_sampler_covers_every_index_once_in_batches_of_bs(n: int, bs: int, shuffle: bool, seed: int) -> None:
    sampler = Sampler(n, bs, shuffle=shuffle, generator=gen(seed))
    batches = list(sampler)
    assert len(batches) == len(sampler) == -(-n // bs)
    assert all(len(b) == bs for b in batches[:-1]) and 1 <= len(batches[-1]) <= bs
    flat = [i for b in batches for i in b]
    assert sorted(flat) == list(range(n))
    if not shuffle:
        assert flat == list(range(n))


@pytest.mark.parametrize("n,bs", [(100, 7), (64, 64), (5, 10), (1, 1)])
def test_shuffled_order_equals_torch_random_sampler(n: int, bs: int) -> None:
    g_ours, g_theirs = torch.Generator(), torch.Generator()
    ours = Sampler(n, bs, shuffle=True, generator=g_ours)
    theirs = tud.BatchSampler(tud.RandomSampler(range(n), generator=g_theirs), bs, drop_last=False)
    for seed in (42, 0, 7):
        # torch's RandomSampler draws a second, discarded permutation at the end of each epoch, so the
        # generators stay in step only if both are seeded before each epoch
        g_ours.manual_seed(seed)
        g_theirs.manual_seed(seed)
        assert list(ours) == list(theirs), f"seed {seed}: orders differ"


def test_shuffle_changes_between_epochs_and_uses_global_seed() -> None:
    sampler = Sampler(50, 50, shuffle=True)
    torch.manual_seed(0)
    first, second = list(sampler), list(sampler)
    assert first != second
    torch.manual_seed(0)
    assert list(sampler) == first


def test_sampler_accepts_a_dataset_and_rejects_bad_input() -> None:
    assert Sampler(Dataset(*_toy(9)), 4).n == 9
    with pytest.raises(ValueError, match="Sampler: expected a non-empty dataset, got 0 items"):
        Sampler(0, 4)
    with pytest.raises(ValueError, match="expected bs to be a positive int, got int 0"):
        Sampler(10, 0)
    with pytest.raises(TypeError, match="expected bs to be a positive int, got float 2.0"):
        Sampler(10, 2.0)
    with pytest.raises(TypeError, match="expected generator to be a torch.Generator or None, got int"):
        Sampler(10, 2, shuffle=True, generator=42)


# ---- collate ---------------------------------------------------------------------------------------


def test_collate_equals_default_collate() -> None:
    x, y = _toy(6)
    items = [(x[i], y[i]) for i in (4, 1, 5)]
    ours = collate(items)
    theirs = tud.default_collate(items)
    assert isinstance(ours, tuple) and len(ours) == 2
    _assert_same_batches([ours], [tuple(theirs)])
    xb, yb = collate([(torch.zeros(2), 3), (torch.ones(2), 7)])
    assert yb.dtype == torch.int64 and yb.tolist() == [3, 7] and xb.shape == (2, 2)


def test_collate_rejects_bad_batches() -> None:
    with pytest.raises(ValueError, match="expected a non-empty list of"):
        collate([])
    with pytest.raises(ValueError, match=r"expected item 1 to be an \(x, y\) pair, got tuple"):
        collate([(torch.zeros(1), 1), (torch.zeros(1), 1, 2)])


# ---- DataLoader against torch.utils.data.DataLoader -------------------------------------------------


@pytest.mark.parametrize("n,bs", [(100, 16), (64, 64), (10, 3), (1, 4)])
def test_dataloader_equals_torch_sequential(n: int, bs: int) -> None:
    ds = Dataset(*_toy(n))
    ours = list(DataLoader(ds, Sampler(ds, bs)))
    theirs = list(tud.DataLoader(ds, batch_size=bs, sampler=tud.SequentialSampler(ds)))
    _assert_same_batches(ours, theirs)


@settings(max_examples=20)
@given(n=st.integers(1, 120), bs=st.integers(1, 40), seed=st.integers(0, 2**16))
def test_dataloader_equals_torch_random_sampler(n: int, bs: int, seed: int) -> None:
    ds = Dataset(*_toy(n, seed))
    g_ours, g_theirs = torch.Generator(), torch.Generator()
    ours = DataLoader(ds, Sampler(ds, bs, shuffle=True, generator=g_ours))
    theirs = tud.DataLoader(ds, batch_size=bs, sampler=tud.RandomSampler(ds, generator=g_theirs))
    assert len(ours) == len(theirs)
    for epoch_seed in (seed, seed + 1):
        g_ours.manual_seed(epoch_seed)
        g_theirs.manual_seed(epoch_seed)
        _assert_same_batches(list(ours), list(theirs))


def test_dataloader_with_our_sampler_as_torch_batch_sampler() -> None:
    # torch's DataLoader can take our Sampler directly as its batch_sampler: same batches
    ds = Dataset(*_toy(30))
    sampler = Sampler(ds, 8, shuffle=True, generator=gen(1))
    ours = list(DataLoader(ds, sampler))
    sampler.generator.manual_seed(1)
    theirs = list(tud.DataLoader(ds, batch_sampler=sampler))
    _assert_same_batches(ours, theirs)


def test_dataloader_custom_collate_and_errors() -> None:
    ds = Dataset(*_toy(10))
    dl = DataLoader(ds, Sampler(ds, 4), collate_fn=lambda items: len(items))
    assert list(dl) == [4, 4, 2] and len(dl) == 3
    with pytest.raises(ValueError, match="expected a sampler over the dataset's 10 items, got one over 12"):
        DataLoader(ds, Sampler(12, 4))
    with pytest.raises(TypeError, match="expected collate_fn to be callable"):
        DataLoader(ds, Sampler(ds, 4), collate_fn=3)
    with pytest.raises(TypeError, match="expected a sampler"):
        DataLoader(ds, 4)


# ---- get_dls -----------------------------------------------------------------------------------------


def test_get_dls_shuffles_training_and_doubles_validation_batch() -> None:
    train_ds, valid_ds = Dataset(*_toy(100, 1)), Dataset(*_toy(50, 2))
    train_dl, valid_dl = get_dls(train_ds, valid_ds, bs=16, generator=gen(0))
    assert (len(train_dl), len(valid_dl)) == (7, 2)
    xb, yb = next(iter(valid_dl))
    assert xb.shape == (32, 5) and torch.equal(yb, valid_ds.y[:32])
    ys = torch.cat([yb for _, yb in train_dl])
    assert not torch.equal(ys, train_ds.y), "the training loader should shuffle"
    assert sorted(ys.tolist()) == sorted(train_ds.y.tolist())
    theirs = tud.DataLoader(train_ds, batch_size=16, sampler=tud.RandomSampler(train_ds, generator=gen(0)))
    train_dl2, _ = get_dls(train_ds, valid_ds, bs=16, generator=gen(0))
    _assert_same_batches(list(train_dl2), list(theirs))
    with pytest.raises(ValueError, match="get_dls: expected bs to be a positive int, got int -1"):
        get_dls(train_ds, valid_ds, bs=-1)


def test_batch_indexing_fast_path_equals_item_by_item_collate() -> None:
    g = gen(3)
    x, y = torch.randn(103, 4, 5, generator=g), torch.randint(0, 10, (103,), generator=g)
    ds = Dataset(x, y)
    fast = DataLoader(ds, Sampler(ds, 16, shuffle=True, generator=gen(0)))
    slow = DataLoader(ds, Sampler(ds, 16, shuffle=True, generator=gen(0)),
                      collate_fn=lambda b: collate(b))
    assert fast._batch_indexable() and not slow._batch_indexable()
    n = 0
    for (xf, yf), (xs, ys) in zip(fast, slow, strict=True):
        assert torch.equal(xf, xs) and torch.equal(yf, ys) and xf.dtype == xs.dtype and yf.dtype == ys.dtype
        n += 1
    assert n == 7


# ---- DataBunch --------------------------------------------------------------------------------------


def test_databunch_holds_both_loaders_and_the_sizes() -> None:
    x, y = _toy(30)
    train_ds, valid_ds = Dataset(x[:20], y[:20]), Dataset(x[20:], y[20:])
    train_dl, valid_dl = get_dls(train_ds, valid_ds, 6)
    data = DataBunch(train_dl, valid_dl, c_in=5, c_out=10)
    assert data.train_dl is train_dl and data.valid_dl is valid_dl
    assert data.train_ds is train_ds and data.valid_ds is valid_ds and (data.c_in, data.c_out) == (5, 10)
    assert repr(data) == "DataBunch(4 training batches, 1 validation batches, c_in=5, c_out=10)"
    assert DataBunch(train_dl, valid_dl).c_out is None


def test_databunch_rejects_bad_arguments() -> None:
    x, y = _toy(10)
    dl = DataLoader(Dataset(x, y), Sampler(10, 5))
    with pytest.raises(ValueError, match=r"DataBunch: expected c_out to be a positive int or None, got int 0"):
        DataBunch(dl, dl, c_out=0)
    with pytest.raises(TypeError, match=r"DataBunch: expected c_in to be a positive int or None, got bool True"):
        DataBunch(dl, dl, c_in=True)
    with pytest.raises(TypeError, match=r"DataBunch: expected valid_dl to be a DataLoader \(iterable, with len\), got int"):
        DataBunch(dl, 3)


def test_the_data_package_re_exports_the_loaders() -> None:
    for name in ["DataBunch", "DataLoader", "Dataset", "Sampler", "collate", "get_dls"]:
        assert getattr(foundations.data, name) is globals()[name], name
        assert name in foundations.data.__all__
