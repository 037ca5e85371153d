"""The data block API (foundations.data.blocks): files, splits, labels, vocabularies, a DataBunch.

Everything runs on small folders of empty or text files made in ``tmp_path``: the generic blocks
never open an image (tests/test_vision_images.py does).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from foundations.data import DataBunch
from foundations.data.blocks import (
    CategoryProcessor,
    ItemList,
    LabeledData,
    SplitData,
    compose,
    get_files,
    grandparent_splitter,
    label_by_func,
    parent_labeler,
    random_splitter,
    split_by_func,
    to_databunch,
)

LAYOUT = {
    "train/dog": ["b.txt", "a.TXT", "c.md"],
    "train/cat": ["x.txt"],
    "train/bird": ["y.txt"],
    "val/dog": ["d.txt"],
    "val/cat": ["e.txt", "f.txt"],
    "test/cat": ["g.txt"],  # in neither split folder
}


def make_tree(root: Path, layout: dict[str, list[str]] = LAYOUT) -> Path:
    for folder, names in layout.items():
        (root / folder).mkdir(parents=True, exist_ok=True)
        for n in names:
            (root / folder / n).write_text(n)
    (root / ".hidden").mkdir()
    (root / ".hidden" / "h.txt").write_text("h")
    (root / "train" / "dog" / ".DS_Store").write_text("")
    return root


def rel(files: list[Path], root: Path) -> list[str]:
    return [f.relative_to(root).as_posix() for f in files]


# ---- get_files ------------------------------------------------------------------------------------


def test_get_files_is_sorted_filtered_and_skips_hidden(tmp_path: Path) -> None:
    root = make_tree(tmp_path)
    assert rel(get_files(root, [".txt"]), root) == [
        "test/cat/g.txt", "train/bird/y.txt", "train/cat/x.txt", "train/dog/a.TXT", "train/dog/b.txt",
        "val/cat/e.txt", "val/cat/f.txt", "val/dog/d.txt",
    ]
    assert len(get_files(root)) == 9  # every suffix, .md included, no hidden file
    assert get_files(root, "txt") == get_files(root, {".TXT"})  # dot optional, case ignored
    assert rel(get_files(root, ".txt", include=["val"]), root) == ["val/cat/e.txt", "val/cat/f.txt", "val/dog/d.txt"]
    assert get_files(root, ".txt", recurse=False) == []
    assert rel(get_files(root / "train" / "dog", ".txt", recurse=False), root) == ["train/dog/a.TXT", "train/dog/b.txt"]


def test_get_files_refuses_a_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"get_files: expected a folder, got '.*nowhere', which is not one"):
        get_files(tmp_path / "nowhere")


# ---- ItemList and compose -------------------------------------------------------------------------


def test_compose_runs_in_order() -> None:
    def add1(x: int) -> int:
        return x + 1

    def double(x: int) -> int:
        return x * 2

    double.order = 5  # type: ignore[attr-defined]
    assert compose(3, [double, add1]) == 8  # add1 (order 0) first
    assert compose(3, None) == 3 and compose(3, double) == 6


def test_item_list_indexing_new_and_repr(tmp_path: Path) -> None:
    il = ItemList([10, 20, 30, 40], path=tmp_path, tfms=[lambda x: x + 1])
    assert il[0] == 11 and il[-1] == 41
    assert il[1:3] == [21, 31]
    assert il[[True, False, True, False]] == [11, 31]
    assert il[torch.tensor([False, True, False, True])] == [21, 41]
    assert il[[3, 0]] == [41, 11]
    assert list(il) == [11, 21, 31, 41] and len(il) == 4
    with pytest.raises(IndexError, match="ItemList: expected a boolean mask of 4 values, got 2"):
        il[[True, False]]
    with pytest.raises(IndexError, match="ItemList: index 7 is out of range for 4 items"):
        il[[7]]
    with pytest.raises(TypeError, match="ItemList: expected an int, a slice, a list of ints or a boolean mask, got str"):
        il["a"]
    other = il.new([1, 2])
    assert type(other) is ItemList and other.path == tmp_path and other.tfms is il.tfms and other[1] == 3
    assert repr(il) == f"ItemList (4 items)\n[10, 20, 30, ...]\nPath: {tmp_path}"
    files = ItemList(get_files(make_tree(tmp_path / "t"), ".txt"), path=tmp_path / "t")
    assert repr(files).splitlines()[1] == "[test/cat/g.txt, train/bird/y.txt, train/cat/x.txt, ...]"


# ---- splitting ------------------------------------------------------------------------------------


def test_grandparent_splitter() -> None:
    assert grandparent_splitter("r/val/cat/a.jpg", valid_name="val") is True
    assert grandparent_splitter("r/train/cat/a.jpg", valid_name="val") is False
    assert grandparent_splitter("r/test/cat/a.jpg", valid_name="val") is None
    assert grandparent_splitter("r/val/cat/a.jpg") is None  # the default name is "valid"


def test_split_by_func_drops_items_in_neither_folder(tmp_path: Path) -> None:
    root = make_tree(tmp_path)
    il = ItemList(get_files(root, ".txt"), path=root)
    sd = split_by_func(il, lambda f: grandparent_splitter(f, valid_name="val"))
    assert isinstance(sd, SplitData) and sd.path == root
    assert rel(sd.train.items, root) == ["train/bird/y.txt", "train/cat/x.txt", "train/dog/a.TXT", "train/dog/b.txt"]
    assert rel(sd.valid.items, root) == ["val/cat/e.txt", "val/cat/f.txt", "val/dog/d.txt"]
    assert sd.dropped == 1 and repr(sd).endswith("Dropped: 1 item in neither half")
    with pytest.raises(ValueError, match=r"got 4 training, 0 validation and 4 in neither, of 8 \(check the folder"):
        split_by_func(il, grandparent_splitter)  # "valid" is not Imagenette's name
    with pytest.raises(ValueError, match="expected the splitter to return True .* got 'test' for"):
        split_by_func(il, lambda f: f.parent.parent.name)


def test_random_splitter_is_deterministic_by_seed() -> None:
    names = [f"img{i}.jpg" for i in range(2000)]
    a = [random_splitter(n, 0.2, seed=1) for n in names]
    assert a == [random_splitter(n, 0.2, seed=1) for n in names]
    assert a[::-1] == [random_splitter(n, 0.2, seed=1) for n in reversed(names)]  # order does not matter
    assert a != [random_splitter(n, 0.2, seed=2) for n in names]
    assert 0.17 < sum(a) / len(a) < 0.23
    assert not any(random_splitter(n, 0.0) for n in names[:50]) and all(random_splitter(n, 1.0) for n in names[:50])
    with pytest.raises(ValueError, match="random_splitter"):
        random_splitter("a", 1.5)


# ---- labelling and the vocabulary -----------------------------------------------------------------


def labelled(root: Path) -> SplitData:
    il = ItemList(get_files(root, ".txt", include=["train", "val"]), path=root)
    sd = split_by_func(il, lambda f: grandparent_splitter(f, valid_name="val"))
    return label_by_func(sd, parent_labeler, proc_y=CategoryProcessor())


def test_parent_labeler() -> None:
    assert parent_labeler(Path("r/train/n01440764/x.JPEG")) == "n01440764" and parent_labeler("a/b.txt") == "a"


def test_the_vocabulary_comes_from_the_training_half(tmp_path: Path) -> None:
    ll = labelled(make_tree(tmp_path))
    proc = ll.train.proc_y[0]
    assert proc is ll.valid.proc_y[0] and proc.vocab == ["bird", "cat", "dog"]  # sorted
    assert ll.train.y.items == [0, 1, 2, 2] and ll.valid.y.items == [1, 1, 2]
    assert [ll.valid.y_obj(i) for i in range(3)] == ["cat", "cat", "dog"]
    assert proc.deprocess(torch.tensor([2, 0])) == ["dog", "bird"]
    x, y = ll.train[3]
    assert x == tmp_path / "train/dog/b.txt" and y == 2 and len(ll.train) == 4
    assert isinstance(ll.train, LabeledData) and ll.train.x_obj(0) == tmp_path / "train/bird/y.txt"


def test_a_class_only_in_validation_is_an_error_that_names_it(tmp_path: Path) -> None:
    root = make_tree(tmp_path, {"train/cat": ["a.txt"], "train/dog": ["b.txt"], "val/cat": ["c.txt"],
                                "val/fox": ["d.txt", "e.txt"]})
    with pytest.raises(ValueError, match=r"expected categories from the training vocabulary of 2 \('cat', 'dog'\), "
                                       r"got 1 it lacks: 'fox'"):
        labelled(root)


def test_a_processor_vocabulary_is_learnt_once() -> None:
    p = CategoryProcessor()
    assert p(["b", "a", "b"]) == [1, 0, 1] and p(["a"]) == [0] and p.vocab == ["a", "b"]
    with pytest.raises(RuntimeError, match="no vocabulary yet"):
        CategoryProcessor().deprocess([0])


# ---- the DataBunch --------------------------------------------------------------------------------


def test_to_databunch_batches(tmp_path: Path) -> None:
    ll = labelled(make_tree(tmp_path))

    def as_tensor(f: Path) -> torch.Tensor:
        return torch.full((3, 2, 2), float(len(f.read_text())))

    for half in (ll.train, ll.valid):
        half.x.tfms = [as_tensor]
    db = to_databunch(ll, bs=3, c_in=3, generator=torch.Generator().manual_seed(0))
    assert isinstance(db, DataBunch) and (db.c_in, db.c_out) == (3, 3)  # c_out from the vocabulary
    assert len(db.train_dl) == 2 and len(db.valid_dl) == 1
    xb, yb = next(iter(db.train_dl))
    assert xb.shape == (3, 3, 2, 2) and xb.dtype == torch.float32 and yb.dtype == torch.int64 and yb.shape == (3,)
    xb, yb = next(iter(db.valid_dl))
    assert xb.shape == (3, 3, 2, 2) and yb.tolist() == [1, 1, 2]
    with pytest.raises(TypeError, match="to_databunch: expected a SplitData labelled by label_by_func, got SplitData of ItemList"):
        to_databunch(SplitData(ItemList([1]), ItemList([2])), bs=2)
