"""Grader for exercises/lesson11_data.py (Lesson 11, the data block API).

Run ``pytest exercises/test_lesson11_data.py`` (add ``-k parent_label`` for one exercise). Every
answer is compared with the library's ``foundations.data``: ``grandparent_splitter`` and
``parent_labeler`` on many paths (``str`` and ``Path``, relative and absolute, odd names), and
``CategoryProcessor`` on lists of labels, whose own tests check them on real folders. During your
call those three are swapped out (``exercises/_rules.py``).
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from types import ModuleType

import pytest

from exercises._rules import Forbidden, attempt_without
from foundations.data import CategoryProcessor, grandparent_splitter, parent_labeler

pytestmark = pytest.mark.lesson11

RULES = Forbidden(
    tuple(f"foundations.data{m}.{name}" for name in ("grandparent_splitter", "parent_labeler", "CategoryProcessor")
          for m in (".blocks", "")),
    "this exercise asks you to write yourself (with pathlib, sorted and a dict)",
)


def attempt(fn, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN201
    return attempt_without(RULES, fn, *args, **kwargs)


@pytest.fixture(scope="module")
def ex(impl) -> ModuleType:  # noqa: ANN001
    return impl("lesson11_data")


PATHS = [
    "data/valid/n01440764/ILSVRC2012_val_00009111.JPEG",
    "data/train/n01440764/n01440764_10026.JPEG",
    "/root/.fastai/data/imagenette/val/n03888605/x.JPEG",
    "/abs/valid/cat/1.png",
    "train/cat/1.png",
    "valid/dog/2.png",
    "./valid/dog/2.png",
    "../train/dog/2.png",
    "data//valid//dog//2.png",   # doubled slashes: pathlib reads them as one
    "data/train/dog/2.png/",     # a trailing slash: still the file 2.png
    "valid/2.png",               # only a parent: grandparent ""
    "2.png",                     # no folder at all
    "",                          # the empty path is "."
    "/",                         # the root
    "data/Valid/dog/2.png",      # names are case-sensitive
    "data/validation/dog/2.png",
    "valid/train/dog/2.png",     # the grandparent decides, not any folder above it
    "train/valid/dog/2.png",
    "data/train/cat/sub/3.png",  # one folder too deep: grandparent "cat"
    "data/my valid/dog/2.png",   # a space
    "données/val/chien/é.png",   # not ASCII
    "data/train/.hidden/.x",
    "data/train/n01440764/no_suffix",
    "data/valid/dog.tar.gz/x",
]

CALLS = [  # (keyword arguments, shown as)
    ({}, ""),
    ({"valid_name": "val"}, ", valid_name='val'"),
    ({"valid_name": "val", "train_name": "training"}, ", valid_name='val', train_name='training'"),
    ({"valid_name": "Valid", "train_name": "dog"}, ", valid_name='Valid', train_name='dog'"),
]

SIDES = {True: "True (validation)", False: "False (training)", None: "None (neither)"}


def _shown(value: object) -> str:
    return SIDES[value] if value is None or isinstance(value, bool) else f"{type(value).__name__} {value!r}"


# ---- grandparent_split ---------------------------------------------------------------------------


@pytest.mark.parametrize(("kwargs", "shown"), CALLS, ids=[c[1] or "defaults" for c in CALLS])
@pytest.mark.parametrize("as_path", [False, True], ids=["str", "Path"])
def test_grandparent_split_against_the_library(ex: ModuleType, kwargs: dict, shown: str, as_path: bool) -> None:
    for raw in PATHS:
        fn = Path(raw) if as_path else raw
        expected = grandparent_splitter(fn, **kwargs)
        got = attempt(ex.grandparent_split, fn, **kwargs)
        call = f"grandparent_split({fn!r}{shown})"
        assert got is expected, (
            f"{call}: expected {SIDES[expected]}, got {_shown(got)}"
            + (" (return the object itself: split_by_func tests `side is True`)" if got == expected else "")
        )


def test_grandparent_split_with_posix_paths(ex: ModuleType) -> None:
    for raw in PATHS[:8]:
        fn = PurePosixPath(raw)
        expected = grandparent_splitter(fn)
        got = attempt(ex.grandparent_split, fn)
        assert got is expected, f"grandparent_split({fn!r}): expected {SIDES[expected]}, got {_shown(got)}"


# ---- parent_label --------------------------------------------------------------------------------


@pytest.mark.parametrize("as_path", [False, True], ids=["str", "Path"])
def test_parent_label_against_the_library(ex: ModuleType, as_path: bool) -> None:
    for raw in PATHS:
        fn = Path(raw) if as_path else raw
        expected = parent_labeler(fn)
        got = attempt(ex.parent_label, fn)
        assert isinstance(got, str), f"parent_label({fn!r}): expected the str {expected!r}, got {got!r}, a {type(got).__name__}"
        assert got == expected, f"parent_label({fn!r}): expected {expected!r}, got {got!r}"


# ---- build_vocab ---------------------------------------------------------------------------------

WNIDS = ["n01440764", "n02102040", "n02979186", "n03000684", "n03028079", "n03394916", "n03417042",
         "n03425413", "n03445777", "n03888605"]

LISTS = {  # name -> (train labels, valid labels)
    "Imagenette's ten classes": ([WNIDS[(7 * i) % 10] for i in range(40)], [WNIDS[(3 * i) % 10] for i in range(25)]),
    "ints that sort by value, not as text": ([10, 9, 2, 10, 100, 2], [2, 100, 9]),
    "upper and lower case": (["b", "B", "a", "b", "A"], ["A", "a"]),
    "a single class": (["cat"] * 5, ["cat", "cat"]),
    "an empty validation list": (["y", "x", "z"], []),
    "a validation half with fewer classes": (["dog", "cat", "bird", "cat"], ["bird"]),
    "tuples as labels": ([("b", 1), ("a", 2), ("a", 1)], [("a", 1)]),
}

UNKNOWN = {  # name -> (train labels, valid labels, the unknown labels)
    "one unknown wnid": (WNIDS[:5] * 2, [WNIDS[0], "n99999999", WNIDS[1]], ["n99999999"]),
    "two unknown labels": (["cat", "dog"], ["dog", "zebra", "cat", "emu", "zebra"], ["zebra", "emu"]),
    "an unknown int": ([1, 2, 3], [3, 777], [777]),
    "a label that only differs in case": (["cat", "dog"], ["Cat"], ["Cat"]),
}


def _library(train: list, valid: list) -> tuple[list, dict, list[int], list[int]]:
    proc = CategoryProcessor()
    train_ids = proc(list(train))
    return proc.vocab, proc.otoi, train_ids, proc(list(valid))


def _four(got: object, call: str) -> tuple:
    assert isinstance(got, tuple) and len(got) == 4, (
        f"{call}: expected a tuple (vocab, otoi, train_ids, valid_ids), got {type(got).__name__}"
        + (f" of length {len(got)}" if isinstance(got, tuple) else "")
    )
    return got


def _ints(got: object, expected: list[int], what: str) -> None:
    assert isinstance(got, list) and all(isinstance(i, int) and not isinstance(i, bool) for i in got), (
        f"{what}: expected a list of ints, got {type(got).__name__} {got!r}"[:300]
    )
    assert got == expected, f"{what}: expected {expected}, got {got}"[:400]


@pytest.mark.parametrize("name", list(LISTS))
def test_build_vocab_against_category_processor(ex: ModuleType, name: str) -> None:
    train, valid = LISTS[name]
    vocab, otoi, train_ids, valid_ids = _library(train, valid)
    train_in, valid_in = list(train), list(valid)
    call = f"build_vocab on {name} (train {train[:6]}{'...' if len(train) > 6 else ''})"
    got = _four(attempt(ex.build_vocab, train_in, valid_in), call)
    assert train_in == train and valid_in == valid, f"{call}: the label lists you were given changed; leave them alone"
    assert isinstance(got[0], list), f"{call}: expected vocab to be a list, got {type(got[0]).__name__} {got[0]!r}"
    assert got[0] == vocab, f"{call}: expected vocab {vocab}, got {got[0]}"
    assert isinstance(got[1], dict), f"{call}: expected otoi to be a dict, got {type(got[1]).__name__}"
    assert got[1] == otoi, f"{call}: expected otoi {otoi}, got {got[1]}"
    _ints(got[2], train_ids, f"{call}: train_ids")
    _ints(got[3], valid_ids, f"{call}: valid_ids")


@pytest.mark.parametrize("name", list(UNKNOWN))
def test_build_vocab_names_unknown_validation_labels(ex: ModuleType, name: str) -> None:
    train, valid, unknown = UNKNOWN[name]
    with pytest.raises(ValueError):  # the oracle refuses them too
        _library(train, valid)
    call = f"build_vocab on {name} (valid {valid})"
    try:
        attempt(ex.build_vocab, list(train), list(valid))
    except ValueError as e:
        missing = [u for u in unknown if str(u) not in str(e)]
        assert not missing, f"{call}: the ValueError should name {', '.join(map(repr, missing))}; got {str(e)!r}"
        return
    except (KeyError, IndexError, TypeError) as e:
        raise AssertionError(
            f"{call}: expected a ValueError naming {', '.join(map(repr, unknown))}, got {type(e).__name__}: {e}"
        ) from None
    raise AssertionError(f"{call}: expected a ValueError naming {', '.join(map(repr, unknown))}, got none")
