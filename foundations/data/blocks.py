"""The data block API: from a folder of files to a ``DataBunch``, one small step at a time.

Derived in Lesson 9, "Mini-batch training" (lessons/09_minibatch), whose ``Dataset`` and
``DataLoader`` it feeds; Lesson 11 builds it on Imagenette. The steps, each a function or class:

1. **get** the items: :func:`get_files` lists a folder's files, sorted, so runs agree;
2. hold them in an :class:`ItemList`, which turns an item into a model's input through its
   transforms (applied in ``order``);
3. **split** them into training and validation: :func:`split_by_func` with
   :func:`grandparent_splitter` (the folder layout decides) or :func:`random_splitter`, giving a
   :class:`SplitData`;
4. **label** them: :func:`label_by_func` with :func:`parent_labeler` (the class is the folder name),
   giving a :class:`LabeledData` for each half; processors such as :class:`CategoryProcessor` turn
   labels into numbers, learning their vocabulary from the training half only;
5. **bunch** them: :func:`to_databunch` wraps both halves in ``DataLoader`` s and a ``DataBunch``.

Nothing here knows about images: :mod:`foundations.vision.images` adds how to open one.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import torch

from foundations import checks
from foundations.data.loaders import DataBunch, get_dls
from foundations.data.cache import cache_dir

__all__ = [
    "CategoryProcessor",
    "ItemList",
    "LabeledData",
    "Processor",
    "SplitData",
    "compose",
    "get_files",
    "grandparent_splitter",
    "label_by_func",
    "parent_labeler",
    "random_splitter",
    "split_by_func",
    "to_databunch",
]



def _as_list(x: Any) -> list[Any]:
    if x is None:
        return []
    if isinstance(x, (list, tuple)):
        return list(x)
    return [x]


def compose(x: Any, funcs: Any, *args: Any, **kwargs: Any) -> Any:
    """Apply ``funcs`` (one callable, a list of them, or ``None``) to ``x``, lowest ``order`` first.

    A function's ``order`` attribute (default 0) decides when it runs, so a list can be given in any
    order: a resize (``order=10``) runs before a conversion to a tensor (``order=20``). Equal orders
    keep the order of the list. Extra arguments are passed to every function.
    Derived in Lesson 11, "The data block API" (lessons/11_data_block), on Imagenette; it feeds
    the Dataset and DataLoader of Lesson 9.
    """
    for f in sorted(_as_list(funcs), key=lambda f: getattr(f, "order", 0)):
        x = f(x, *args, **kwargs)
    return x


def _normalise_extensions(extensions: Iterable[str] | str | None) -> set[str] | None:
    if extensions is None:
        return None
    if isinstance(extensions, str):
        extensions = [extensions]
    out = set()
    for e in extensions:
        if not isinstance(e, str) or not e:
            raise TypeError(f"get_files: expected extensions to be strings such as '.jpg', got {e!r}")
        out.add((e if e.startswith(".") else "." + e).lower())
    return out


def _files_in(folder: str, names: Iterable[str], extensions: set[str] | None) -> list[Path]:
    return [
        Path(folder, n)
        for n in sorted(names)
        if not n.startswith(".") and (extensions is None or os.path.splitext(n)[1].lower() in extensions)
    ]


def get_files(
    path: str | os.PathLike[str],
    extensions: Iterable[str] | str | None = None,
    recurse: bool = True,
    include: Iterable[str] | None = None,
) -> list[Path]:
    """The files under ``path`` whose suffix is in ``extensions`` (any file when ``None``), sorted.

    Suffixes are compared case-insensitively (``.JPEG`` matches ``.jpeg``) and may be given with or
    without the dot. Hidden files and folders (a name starting with ``.``) are skipped. With
    ``recurse`` every sub-folder is searched, folders and files in sorted order, so the list is the
    same on every machine; ``include`` names the top-level sub-folders to search (e.g.
    ``["train", "val"]``), the others are skipped. Without ``recurse`` only ``path`` itself is listed.
    Derived in Lesson 11, "The data block API" (lessons/11_data_block), on Imagenette; it feeds
    the Dataset and DataLoader of Lesson 9.
    """
    root = Path(path)
    if not root.is_dir():
        raise FileNotFoundError(f"get_files: expected a folder, got {str(root)!r}, which is not one")
    exts = _normalise_extensions(extensions)
    wanted = None if include is None else set(_as_list(list(include)))
    if not recurse:
        with os.scandir(root) as it:
            names = [e.name for e in it if e.is_file()]
        return _files_in(str(root), names, exts)
    found: list[Path] = []
    for folder, dirs, names in os.walk(root):
        top = Path(folder) == root
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and (not top or wanted is None or d in wanted))
        found.extend(_files_in(folder, names, exts))
    return found


class ItemList:
    """A list of items (file names, say) that knows how to turn each into a model's input.

    ``il[i]`` is ``compose(il.get(il.items[i]), il.tfms)``: :meth:`get` opens an item (here it
    returns it unchanged; :class:`foundations.vision.ImageList` opens an image) and the transforms
    ``tfms`` run in their ``order``. An index may be an int (one value), or a slice, a list of ints
    or a list or tensor of booleans as long as the list (a list of values). :meth:`new` makes an
    ``ItemList`` of the same kind, folder and transforms holding other items, as splitting does.
    Derived in Lesson 11, "The data block API" (lessons/11_data_block), on Imagenette; it feeds
    the Dataset and DataLoader of Lesson 9.
    """

    def __init__(
        self, items: Iterable[Any], path: str | os.PathLike[str] = ".", tfms: Any = None
    ) -> None:
        self.items = list(items)
        self.path = Path(path)
        self.tfms = tfms

    def new(self, items: Iterable[Any], cls: type[ItemList] | None = None) -> ItemList:
        """An ``ItemList`` (of ``cls``, default this one's class) of ``items``, with this one's path and transforms."""
        return (cls or type(self))(items, self.path, tfms=self.tfms)

    def get(self, item: Any) -> Any:
        """Turn a stored item into a value, before the transforms (the identity here)."""
        return item

    def _get(self, item: Any) -> Any:
        return compose(self.get(item), self.tfms)

    def _indices(self, idx: Any) -> list[int]:
        n = len(self.items)
        if isinstance(idx, slice):
            return list(range(n))[idx]
        if isinstance(idx, torch.Tensor):
            idx = idx.tolist()
        if isinstance(idx, (list, tuple)):
            if len(idx) > 0 and all(isinstance(b, bool) for b in idx):
                if len(idx) != n:
                    raise IndexError(f"{type(self).__name__}: expected a boolean mask of {n} values, got {len(idx)}")
                return [i for i, b in enumerate(idx) if b]
            out = []
            for i in idx:
                if not checks.is_int(i):
                    raise TypeError(f"{type(self).__name__}: expected an index list of ints or bools, got {i!r}")
                if not -n <= i < n:
                    raise IndexError(f"{type(self).__name__}: index {i} is out of range for {n} items")
                out.append(int(i))
            return out
        raise TypeError(
            f"{type(self).__name__}: expected an int, a slice, a list of ints or a boolean mask, got {type(idx).__name__}"
        )

    def __getitem__(self, idx: Any) -> Any:
        if checks.is_int(idx):
            return self._get(self.items[idx])
        return [self._get(self.items[i]) for i in self._indices(idx)]

    def __len__(self) -> int:
        return len(self.items)

    def __iter__(self) -> Iterator[Any]:
        for item in self.items:
            yield self._get(item)

    def __repr__(self) -> str:
        shown: list[str] = []
        for o in self.items[:3]:  # up to three items, as many as fit in a line of about 72 characters
            text = _short(o, self.path)
            if shown and sum(len(t) + 2 for t in shown) + len(text) > 72:
                break
            shown.append(text)
        more = ", ..." if len(self.items) > len(shown) else ""
        return f"{type(self).__name__} ({len(self.items)} items)\n[{', '.join(shown)}{more}]\nPath: {_where(self.path)}"


def _where(path: Path) -> str:
    """A folder for a repr: under the data cache, written ``<data cache>/...`` (a page built on one
    machine then shows no path of that machine); elsewhere, as it is."""
    try:
        return f"<data cache>/{Path(path).resolve().relative_to(cache_dir().resolve()).as_posix()}"
    except (ValueError, OSError):
        return str(path)


def _short(item: Any, root: Path) -> str:
    """An item for a repr: a path relative to the list's folder when it is under it."""
    if isinstance(item, Path):
        try:
            return str(item.relative_to(root))
        except ValueError:
            return str(item)
    return repr(item)


# --------------------------------------------------------------------------------------------------
# Splitting
# --------------------------------------------------------------------------------------------------


def grandparent_splitter(fn: str | os.PathLike[str], valid_name: str = "valid", train_name: str = "train") -> bool | None:
    """``True`` (validation) if the file's grandparent folder is ``valid_name``, ``False`` (training)
    if it is ``train_name``, ``None`` (neither: the item is dropped) otherwise.

    For the layout ``<root>/<split>/<class>/<file>``; Imagenette's folders are ``train`` and ``val``,
    so it needs ``valid_name="val"``.
    Derived in Lesson 11, "The data block API" (lessons/11_data_block), on Imagenette; it feeds
    the Dataset and DataLoader of Lesson 9.
    """
    gp = Path(fn).parent.parent.name
    if gp == valid_name:
        return True
    if gp == train_name:
        return False
    return None


def random_splitter(fn: Any, p_valid: float, seed: int = 0) -> bool:
    """``True`` (validation) for about a fraction ``p_valid`` of items, decided by the item and ``seed`` alone.

    The draw is a hash of ``(seed, str(fn))`` turned into a number in [0, 1), so an item lands in the
    same half on every run, in any order, and whatever else is in the list; another ``seed`` gives
    another split. (``random.random()`` would depend on how many items came before.)
    Derived in Lesson 11, "The data block API" (lessons/11_data_block), on Imagenette; it feeds
    the Dataset and DataLoader of Lesson 9.
    """
    p = checks.real("random_splitter", "p_valid", p_valid, min=0.0, max=1.0)
    seed = checks.integer("random_splitter", "seed", seed)
    digest = hashlib.sha256(f"{seed}\0{fn}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < p


class SplitData:
    """A training and a validation list: ``sd.train``, ``sd.valid`` (and ``sd.dropped``, the items
    the splitter put in neither).

    Make one with :meth:`split_by_func` (or :func:`split_by_func`). After :func:`label_by_func` both
    halves are :class:`LabeledData`.
    Derived in Lesson 11, "The data block API" (lessons/11_data_block), on Imagenette; it feeds
    the Dataset and DataLoader of Lesson 9.
    """

    def __init__(self, train: Any, valid: Any, dropped: int = 0) -> None:
        self.train, self.valid, self.dropped = train, valid, dropped

    @property
    def path(self) -> Path:
        return self.train.path

    @classmethod
    def split_by_func(cls, il: ItemList, f: Callable[[Any], bool | None]) -> SplitData:
        """Split ``il`` by ``f(item)``: ``True`` to validation, ``False`` to training, ``None`` dropped.

        Raises ``ValueError`` if ``f`` returns anything else, or if either half is empty (the message
        counts each outcome, which tells a wrong folder name from an empty folder).
        """
        if not isinstance(il, ItemList):
            raise TypeError(f"split_by_func: expected an ItemList, got {type(il).__name__}")
        train, valid, dropped = [], [], 0
        for item in il.items:
            side = f(item)
            if side is None:
                dropped += 1
            elif side is True:
                valid.append(item)
            elif side is False:
                train.append(item)
            else:
                raise ValueError(
                    f"split_by_func: expected the splitter to return True (valid), False (train) or None "
                    f"(drop), got {side!r} for {item!r}"
                )
        if not train or not valid:
            raise ValueError(
                f"split_by_func: expected items in both halves, got {len(train)} training, {len(valid)} "
                f"validation and {dropped} in neither, of {len(il.items)} (check the folder names the "
                "splitter looks for)"
            )
        return cls(il.new(train), il.new(valid), dropped)

    def __repr__(self) -> str:
        n = self.dropped
        dropped = f"\nDropped: {n} item{'' if n == 1 else 's'} in neither half" if n else ""
        return f"{type(self).__name__}\nTrain: {self.train}\nValid: {self.valid}{dropped}"


def split_by_func(il: ItemList, f: Callable[[Any], bool | None]) -> SplitData:
    """``SplitData.split_by_func(il, f)``: split an :class:`ItemList` by a splitter function.

    Derived in Lesson 11, "The data block API" (lessons/11_data_block), on Imagenette; it feeds
    the Dataset and DataLoader of Lesson 9.
    """
    return SplitData.split_by_func(il, f)


# --------------------------------------------------------------------------------------------------
# Labelling and processing
# --------------------------------------------------------------------------------------------------


def parent_labeler(fn: str | os.PathLike[str]) -> str:
    """The name of the folder the file is in: ``train/n01440764/x.JPEG -> "n01440764"``.

    Derived in Lesson 11, "The data block API" (lessons/11_data_block), on Imagenette; it feeds
    the Dataset and DataLoader of Lesson 9.
    """
    return Path(fn).parent.name


class Processor:
    """Something that changes a whole list of items at once, once, before training (not per batch).

    Unlike a transform, a processor may learn from the list it first sees (the training half) and
    then apply what it learnt to the next (the validation half). ``proc(items)`` returns the new
    list; :meth:`deprocess` goes back. The base class changes nothing.
    Derived in Lesson 11, "The data block API" (lessons/11_data_block), on Imagenette; it feeds
    the Dataset and DataLoader of Lesson 9.
    """

    def __call__(self, items: Sequence[Any]) -> list[Any]:
        return list(items)

    def deprocess(self, items: Sequence[Any]) -> list[Any]:
        """The original items back from processed ones."""
        return list(items)


class CategoryProcessor(Processor):
    """Categories to ints: the vocabulary is learnt from the first list processed (the training half).

    ``vocab`` is the sorted distinct categories of that list, and category ``vocab[i]`` becomes ``i``;
    ``otoi`` is the reverse mapping. A later list (the validation half) is coded with the same
    vocabulary, and a category the training half never had is an error that names it: the model has
    no output for it, and a silent "unknown" index would count as a wrong answer that no training can
    fix. :meth:`deprocess` turns ints back into categories.
    Derived in Lesson 11, "The data block API" (lessons/11_data_block), on Imagenette; it feeds
    the Dataset and DataLoader of Lesson 9.
    """

    def __init__(self) -> None:
        self.vocab: list[Any] | None = None
        self.otoi: dict[Any, int] = {}

    def __call__(self, items: Sequence[Any]) -> list[int]:
        if self.vocab is None:
            self.vocab = sorted(set(items))
            self.otoi = {v: i for i, v in enumerate(self.vocab)}
        unknown = sorted({o for o in items if o not in self.otoi}, key=str)
        if unknown:
            shown = ", ".join(repr(u) for u in unknown[:5]) + (", ..." if len(unknown) > 5 else "")
            raise ValueError(
                f"CategoryProcessor: expected categories from the training vocabulary of {len(self.vocab)} "
                f"({', '.join(map(repr, self.vocab[:5]))}{', ...' if len(self.vocab) > 5 else ''}), got "
                f"{len(unknown)} it lacks: {shown}"
            )
        return [self.otoi[o] for o in items]

    def deprocess(self, idxs: Sequence[int] | torch.Tensor) -> list[Any]:
        """The categories of ``idxs`` (ints, or a tensor of them)."""
        if self.vocab is None:
            raise RuntimeError("CategoryProcessor.deprocess: no vocabulary yet (process the training labels first)")
        if isinstance(idxs, torch.Tensor):
            idxs = idxs.tolist()
        return [self.vocab[int(i)] for i in idxs]

    def __repr__(self) -> str:
        return f"CategoryProcessor(vocab={self.vocab!r})" if self.vocab is None or len(self.vocab) <= 5 else (
            f"CategoryProcessor({len(self.vocab)} categories: {self.vocab[:5]!r}...)"
        )


def _process(il: ItemList, procs: Any) -> ItemList:
    items = il.items
    for p in _as_list(procs):
        items = p(items)
    return il.new(items)


class LabeledData:
    """Inputs ``x`` and labels ``y`` (two :class:`ItemList` s of the same length), each processed once.

    ``ld[i] == (x[i], y[i])`` with each list's transforms applied, so it works as a ``Dataset``.
    ``proc_x`` and ``proc_y`` (a processor, a list of them, or ``None``) run over the items when it is
    made; :meth:`x_obj` and :meth:`y_obj` undo them for display.
    Derived in Lesson 11, "The data block API" (lessons/11_data_block), on Imagenette; it feeds
    the Dataset and DataLoader of Lesson 9.
    """

    def __init__(self, x: ItemList, y: ItemList, proc_x: Any = None, proc_y: Any = None) -> None:
        if len(x) != len(y):
            raise ValueError(f"LabeledData: expected one label per input, got {len(x)} inputs and {len(y)} labels")
        self.proc_x, self.proc_y = _as_list(proc_x), _as_list(proc_y)
        self.x, self.y = _process(x, self.proc_x), _process(y, self.proc_y)

    @classmethod
    def label_by_func(cls, il: ItemList, f: Callable[[Any], Any], proc_x: Any = None, proc_y: Any = None) -> LabeledData:
        """Label every item of ``il`` with ``f(item)`` (e.g. :func:`parent_labeler`)."""
        return cls(il, ItemList([f(o) for o in il.items], path=il.path), proc_x=proc_x, proc_y=proc_y)

    def _deprocess(self, items: list[Any], procs: list[Any]) -> Any:
        for p in reversed(procs):
            items = p.deprocess(items)
        return items

    def x_obj(self, idx: int) -> Any:
        """Input ``idx`` as it was before the processors (not the transforms)."""
        return self._deprocess([self.x.items[idx]], self.proc_x)[0]

    def y_obj(self, idx: int) -> Any:
        """Label ``idx`` as it was before the processors: a class name rather than its int."""
        return self._deprocess([self.y.items[idx]], self.proc_y)[0]

    @property
    def path(self) -> Path:
        return self.x.path

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, idx: Any) -> tuple[Any, Any]:
        return self.x[idx], self.y[idx]

    def __repr__(self) -> str:
        return f"{type(self).__name__}\nx: {self.x}\ny: {self.y}"


def label_by_func(sd: SplitData, f: Callable[[Any], Any], proc_x: Any = None, proc_y: Any = None) -> SplitData:
    """Label both halves of ``sd`` with ``f``; the training half is processed first, so the processors
    learn from it (a :class:`CategoryProcessor`'s vocabulary) and the validation half reuses that.

    Derived in Lesson 11, "The data block API" (lessons/11_data_block), on Imagenette; it feeds
    the Dataset and DataLoader of Lesson 9.
    """
    if not isinstance(sd, SplitData):
        raise TypeError(f"label_by_func: expected a SplitData (from split_by_func), got {type(sd).__name__}")
    train = LabeledData.label_by_func(sd.train, f, proc_x=proc_x, proc_y=proc_y)
    valid = LabeledData.label_by_func(sd.valid, f, proc_x=proc_x, proc_y=proc_y)
    return SplitData(train, valid, sd.dropped)


def to_databunch(
    sd: SplitData, bs: int, c_in: int | None = None, c_out: int | None = None, **kwargs: Any
) -> DataBunch:
    """A ``DataBunch`` of the labelled halves of ``sd``: ``get_dls(sd.train, sd.valid, bs, **kwargs)``.

    The training loader shuffles (``kwargs`` may pass ``generator=``); the validation loader keeps the
    order, with batches of ``2*bs``. Without ``c_out``, a label :class:`CategoryProcessor`'s vocabulary
    size is used. ``c_in`` is the model's input channels (3 for colour images).
    Derived in Lesson 11, "The data block API" (lessons/11_data_block), on Imagenette; it feeds
    the Dataset and DataLoader of Lesson 9.
    """
    if not isinstance(sd, SplitData) or not isinstance(sd.train, LabeledData):
        raise TypeError(
            f"to_databunch: expected a SplitData labelled by label_by_func, got {type(sd).__name__}"
            + (f" of {type(sd.train).__name__}" if isinstance(sd, SplitData) else "")
        )
    if c_out is None:
        cats = [p for p in sd.train.proc_y if isinstance(p, CategoryProcessor) and p.vocab is not None]
        c_out = len(cats[-1].vocab) if cats else None  # type: ignore[arg-type]
    train_dl, valid_dl = get_dls(sd.train, sd.valid, bs, **kwargs)
    return DataBunch(train_dl, valid_dl, c_in, c_out)
