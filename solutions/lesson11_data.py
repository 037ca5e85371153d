"""Lesson 11 exercises: the data block API's splitter, labeller and category processor, by hand.

Page: lessons/11_data_block. Replace the ``raise NotImplementedError`` line in each body with your
code, then grade it:

    .venv/bin/pytest exercises -k grandparent_split      # or parent_label, build_vocab
    .venv/bin/pytest exercises/test_lesson11_data.py     # every exercise of this file

The files are laid out as ``<root>/<split>/<class>/<file>`` (Imagenette: ``train/n01440764/x.JPEG``).
A path may be a ``str`` or a ``pathlib.Path``, relative or absolute; read its folders the way
``pathlib.Path`` does (``Path("a/b/c.jpg").parent.name == "b"``), which also copes with ``./``,
doubled slashes and a trailing slash. The grader compares your answers with the library's
``foundations.data`` (``grandparent_splitter``, ``parent_labeler``, ``CategoryProcessor``) on many
paths and label lists; do not call those (the grader checks: a call to one fails the exercise).
"""

from __future__ import annotations

import os
from collections.abc import Hashable, Sequence
from pathlib import Path


def grandparent_split(fn: str | os.PathLike[str], valid_name: str = "valid", train_name: str = "train") -> bool | None:
    """A splitter: which half the file ``fn`` goes to, decided by its grandparent folder's name.

    ``True`` (validation) if the folder two levels up is named ``valid_name``, ``False`` (training)
    if it is named ``train_name``, ``None`` (neither: the item is dropped) otherwise. Names are
    compared exactly (``"Valid"`` is not ``"valid"``). Return the objects ``True``, ``False`` or
    ``None`` themselves, not something truthy such as ``1`` or ``"valid"``: ``split_by_func`` tests
    ``side is True``.

    >>> grandparent_split("data/valid/n01440764/x.JPEG"), grandparent_split("train/cat/1.png")
    (True, False)
    >>> grandparent_split("data/val/dog/2.png") is None, grandparent_split("data/val/dog/2.png", valid_name="val")
    (True, True)
    """
    # BEGIN SOLUTION
    name = Path(fn).parent.parent.name
    if name == valid_name:
        return True
    if name == train_name:
        return False
    return None
    # END SOLUTION


def parent_label(fn: str | os.PathLike[str]) -> str:
    """A labeller: the name of the folder the file ``fn`` is in, as a ``str`` (not a ``Path``).

    The label of ``<root>/<split>/<class>/<file>`` is ``<class>``; a bare file name (no folder) has
    the empty label ``""``.

    >>> parent_label("train/n01440764/x.JPEG"), parent_label("x.JPEG")
    ('n01440764', '')
    """
    # BEGIN SOLUTION
    return Path(fn).parent.name
    # END SOLUTION


def build_vocab(
    train_labels: Sequence[Hashable], valid_labels: Sequence[Hashable]
) -> tuple[list[Hashable], dict[Hashable, int], list[int], list[int]]:
    """A category processor: labels to ints, with the vocabulary learnt from the training labels only.

    Returns ``(vocab, otoi, train_ids, valid_ids)``:

    - ``vocab``: the distinct training labels, sorted (a ``list``; ``sorted`` orders strings by
      character code, so ``"B" < "a"``, and ints by value, so ``2 < 10``);
    - ``otoi``: the ``dict`` from each label to its index in ``vocab`` ("object to int");
    - ``train_ids``, ``valid_ids``: ``list`` s of ints, ``otoi[label]`` for each label in order.

    A validation label that the training labels never had is an error: the model would have no
    output for it. Raise ``ValueError`` with a message that names every such label (its ``str``,
    e.g. ``"build_vocab: labels not in the training vocabulary: 'n99'"``), not a ``KeyError``. Do
    not change the lists you are given.

    >>> build_vocab(["dog", "cat", "dog"], ["cat"])
    (['cat', 'dog'], {'cat': 0, 'dog': 1}, [1, 0, 1], [0])
    """
    # BEGIN SOLUTION
    vocab = sorted(set(train_labels))
    otoi = {v: i for i, v in enumerate(vocab)}
    unknown = sorted({o for o in valid_labels if o not in otoi}, key=str)
    if unknown:
        raise ValueError(f"build_vocab: labels not in the training vocabulary: {', '.join(map(repr, unknown))}")
    return vocab, otoi, [otoi[o] for o in train_labels], [otoi[o] for o in valid_labels]
    # END SOLUTION
