"""Feeding a model mini-batches: ``Dataset``, ``Sampler``, ``collate``, ``DataLoader``, ``get_dls``.

Derived in Lesson 9, "Mini-batch training" (lessons/09_minibatch). The page's training loop starts
by slicing ``x_train[i:i+bs]`` by hand; these pieces take that apart into four small jobs:

* a :class:`Dataset` pairs inputs with targets, ``ds[i] == (x[i], y[i])``;
* a :class:`Sampler` decides *which* items go in each batch, shuffled every epoch for training;
* :func:`collate` stacks a list of ``(x, y)`` items into a batch ``(xb, yb)``;
* a :class:`DataLoader` puts them together: ``for xb, yb in dl``.

The batches equal those of ``torch.utils.data.DataLoader`` item for item: with the same seeded
``torch.Generator``, a shuffling :class:`Sampler` visits the items in the same order as
``torch.utils.data.RandomSampler`` (both start an epoch by drawing ``torch.randperm(n)``), and the
tests compare the two.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, Protocol

import torch
from torch import Tensor

from foundations import checks

__all__ = ["DataBunch", "DataLoader", "Dataset", "Sampler", "collate", "get_dls"]


class _Sized(Protocol):
    def __len__(self) -> int: ...


class Dataset:
    """Inputs ``x`` and targets ``y`` of the same length: ``len(ds)`` and ``ds[i] == (x[i], y[i])``.

    ``x`` and ``y`` are usually tensors (``x_train``, ``y_train``) but anything with ``len`` and
    indexing works. An index may be an int, a slice or an index tensor (both halves are indexed the
    same way). Raises if the lengths differ or the dataset is empty.
    Derived in Lesson 9, "Mini-batch training" (lessons/09_minibatch).
    """

    def __init__(self, x: Sequence[Any] | Tensor, y: Sequence[Any] | Tensor) -> None:
        for name, v in (("x", x), ("y", y)):
            if not hasattr(v, "__len__") or not hasattr(v, "__getitem__"):
                raise TypeError(f"Dataset: expected {name} to support len() and indexing, got {type(v).__name__}")
        if len(x) != len(y):
            raise ValueError(
                f"Dataset: expected labels y to match the inputs x one for one, got {len(x)} inputs and {len(y)} labels"
            )
        if len(x) == 0:
            raise ValueError("Dataset: expected a non-empty dataset, got 0 items")
        self.x, self.y = x, y

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: Any) -> tuple[Any, Any]:
        return self.x[i], self.y[i]

    def __repr__(self) -> str:
        return f"Dataset({len(self)} items)"


class Sampler:
    """Batches of indices into a dataset of ``n`` items: ``bs`` at a time, the last batch smaller.

    ``n_or_ds`` is the number of items or a dataset (its ``len``). With ``shuffle=False`` the order
    is ``0, 1, ..., n-1``; with ``shuffle=True`` every iteration (every epoch) draws a new
    ``torch.randperm(n, generator=generator)``, so with the same seeded generator the order is that
    of ``torch.utils.data.RandomSampler``. (RandomSampler then draws one more, discarded permutation
    at the end of each epoch, so the two stay in step over several epochs only if both generators are
    re-seeded before each.) Without a generator the global random state is used
    (``torch.manual_seed`` fixes it). Yields lists of ints; ``len(sampler)`` is the number of batches.
    Derived in Lesson 9, "Mini-batch training" (lessons/09_minibatch).
    """

    def __init__(
        self, n_or_ds: int | _Sized, bs: int, shuffle: bool = False, generator: torch.Generator | None = None
    ) -> None:
        if isinstance(n_or_ds, bool):
            raise TypeError("Sampler: expected a number of items or a dataset, got bool")
        if isinstance(n_or_ds, int):
            n = n_or_ds
        elif hasattr(n_or_ds, "__len__"):
            n = len(n_or_ds)
        else:
            raise TypeError(f"Sampler: expected a number of items or a dataset, got {type(n_or_ds).__name__}")
        if n <= 0:
            raise ValueError(f"Sampler: expected a non-empty dataset, got {n} items")
        if generator is not None and not isinstance(generator, torch.Generator):
            raise TypeError(f"Sampler: expected generator to be a torch.Generator or None, got {type(generator).__name__}")
        self.n, self.bs = n, checks.positive_int("Sampler", "bs", bs)
        self.shuffle, self.generator = bool(shuffle), generator

    def __len__(self) -> int:
        return -(-self.n // self.bs)

    def __iter__(self) -> Iterator[list[int]]:
        idxs = torch.randperm(self.n, generator=self.generator) if self.shuffle else torch.arange(self.n)
        order = idxs.tolist()
        for i in range(0, self.n, self.bs):
            yield order[i : i + self.bs]

    def __repr__(self) -> str:
        return f"Sampler(n={self.n}, bs={self.bs}, shuffle={self.shuffle})"


def collate(batch: list[tuple[Any, Any]]) -> tuple[Tensor, Tensor]:
    """Stack a list of ``(x, y)`` items into ``(xb, yb)``: ``[(x0, y0), (x1, y1)] -> (stack(x), stack(y))``.

    Tensors are stacked along a new first dimension; Python numbers become a 1-d tensor (ints as
    int64). Equals ``torch.utils.data.default_collate`` for tensor items.
    Derived in Lesson 9, "Mini-batch training" (lessons/09_minibatch).
    """
    if not isinstance(batch, (list, tuple)) or len(batch) == 0:
        raise ValueError(f"collate: expected a non-empty list of (x, y) items, got {batch!r:.80}")
    for k, item in enumerate(batch):
        if not isinstance(item, (tuple, list)) or len(item) != 2:
            raise ValueError(f"collate: expected item {k} to be an (x, y) pair, got {type(item).__name__} {item!r:.80}")
    xs, ys = zip(*batch)
    return _stack(xs), _stack(ys)


def _stack(values: tuple[Any, ...]) -> Tensor:
    """``torch.stack`` of tensors; Python numbers are turned into tensors first."""
    try:
        return torch.stack(values)
    except TypeError:  # not all tensors: numbers (or a mix)
        return torch.stack([torch.as_tensor(v) for v in values])


class DataLoader:
    """Iterate over a dataset in batches: ``for xb, yb in DataLoader(ds, sampler): ...``.

    For each list of indices the ``sampler`` yields, the items ``ds[i]`` are fetched and passed to
    ``collate_fn`` (default :func:`collate`). ``len(dl)`` is the number of batches. Raises if a
    :class:`Sampler` was built for a different number of items than ``ds`` holds.
    Derived in Lesson 9, "Mini-batch training" (lessons/09_minibatch).
    """

    def __init__(
        self,
        ds: Any,
        sampler: Sampler,
        collate_fn: Callable[[list[tuple[Any, Any]]], Any] = collate,
    ) -> None:
        if not hasattr(ds, "__len__") or not hasattr(ds, "__getitem__"):
            raise TypeError(f"DataLoader: expected a dataset with len() and indexing, got {type(ds).__name__}")
        if not hasattr(sampler, "__iter__") or not hasattr(sampler, "__len__"):
            raise TypeError(f"DataLoader: expected a sampler (an iterable of index lists with len), got {type(sampler).__name__}")
        if isinstance(sampler, Sampler) and sampler.n != len(ds):
            raise ValueError(
                f"DataLoader: expected a sampler over the dataset's {len(ds)} items, got one over {sampler.n}"
            )
        if not callable(collate_fn):
            raise TypeError(f"DataLoader: expected collate_fn to be callable, got {type(collate_fn).__name__}")
        self.ds, self.sampler, self.collate_fn = ds, sampler, collate_fn

    def __len__(self) -> int:
        return len(self.sampler)

    def __iter__(self) -> Iterator[Any]:
        fast = self._batch_indexable()
        for idxs in self.sampler:
            if fast:  # same tensors as collating item by item, in one indexing operation
                idx = torch.as_tensor(idxs, dtype=torch.long)
                yield self.ds.x[idx], self.ds.y[idx]
            else:
                yield self.collate_fn([self.ds[i] for i in idxs])

    def _batch_indexable(self) -> bool:
        """True when a whole batch can be fetched as ``(x[idxs], y[idxs])``: a tensor :class:`Dataset`
        with the default :func:`collate`, where stacking ``ds[i]`` one by one gives exactly that."""
        return (
            self.collate_fn is collate
            and type(self.ds) is Dataset
            and isinstance(self.ds.x, Tensor)
            and isinstance(self.ds.y, Tensor)
        )

    def __repr__(self) -> str:
        return f"DataLoader({self.ds!r}, {self.sampler!r})"


def get_dls(
    train_ds: Any, valid_ds: Any, bs: int, generator: torch.Generator | None = None
) -> tuple[DataLoader, DataLoader]:
    """Training and validation loaders: training shuffled with batch size ``bs``, validation in order with ``2*bs``.

    Validation needs no gradients, so twice the batch fits in the same memory. ``generator`` seeds the
    training shuffle (default: the global random state).
    Derived in Lesson 9, "Mini-batch training" (lessons/09_minibatch).
    """
    bs = checks.positive_int("get_dls", "bs", bs)
    return (
        DataLoader(train_ds, Sampler(train_ds, bs, shuffle=True, generator=generator)),
        DataLoader(valid_ds, Sampler(valid_ds, bs * 2, shuffle=False)),
    )


class DataBunch:
    """A training and a validation ``DataLoader``, and how many inputs and outputs a model needs.

    ``c_in`` and ``c_out`` are what a model factory needs to know: for MNIST as flat vectors,
    ``c_in=784`` and ``c_out=10`` classes. Derived in Lesson 9, "Callbacks" (lessons/09_callbacks).
    """

    def __init__(
        self, train_dl: Iterable[Any], valid_dl: Iterable[Any], c_in: int | None = None, c_out: int | None = None
    ) -> None:
        for name, dl in (("train_dl", train_dl), ("valid_dl", valid_dl)):
            if not isinstance(dl, Iterable) or not hasattr(dl, "__len__"):
                raise TypeError(
                    f"DataBunch: expected {name} to be a DataLoader (iterable, with len), got {type(dl).__name__}"
                )
        c_in = checks.int_or_none("DataBunch", "c_in", c_in, min=1)
        c_out = checks.int_or_none("DataBunch", "c_out", c_out, min=1)
        self.train_dl, self.valid_dl, self.c_in, self.c_out = train_dl, valid_dl, c_in, c_out

    @property
    def train_ds(self) -> Any:
        """The training ``Dataset`` (the training ``DataLoader``'s ``ds``)."""
        return self.train_dl.ds

    @property
    def valid_ds(self) -> Any:
        """The validation ``Dataset``."""
        return self.valid_dl.ds

    def __repr__(self) -> str:
        return (
            f"DataBunch({len(self.train_dl)} training batches, {len(self.valid_dl)} validation batches, "
            f"c_in={self.c_in}, c_out={self.c_out})"
        )
