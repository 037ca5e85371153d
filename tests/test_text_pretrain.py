"""Lesson 12's text experiments as library functions: settings, keys, and that the training code learns.

Synthetic data only (no IMDB, no WikiText): the cached experiments themselves run on the pages.
"""

from __future__ import annotations

import dataclasses

import pytest
import torch

from foundations.text import AWDLSTMConfig, get_language_model, get_text_classifier
from foundations.text.loaders import text_classifier_data
from foundations.text.pretrain import (
    ClassifierStage,
    TextSetting,
    _numericalize,
    fine_tune_classifier,
    text_setting,
    train_lm,
)
from foundations.text.vocab import Vocab

pytestmark = [pytest.mark.lesson12, pytest.mark.usefixtures("one_thread")]



def test_settings_differ_and_full_is_the_course_model(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FOUNDATIONS_SETTING", raising=False)
    small = text_setting()
    monkeypatch.setenv("FOUNDATIONS_SETTING", "full")
    full = text_setting()
    assert (full.model.emb_sz, full.model.n_hid, full.model.n_layers) == (400, 1152, 3)
    assert full.n_clas_train is None and full.n_clas_valid is None and full.max_vocab == 60_000
    assert small.model.n_hid < full.model.n_hid and small.n_clas_valid >= 1_000
    monkeypatch.setenv("FOUNDATIONS_SETTING", "ful")
    with pytest.raises(ValueError, match="expected 'default' or 'full'"):
        text_setting()


def test_the_language_models_key_ignores_the_classifiers_fields() -> None:
    s = text_setting()
    other = dataclasses.replace(s, n_clas_train=17, scratch_lr=0.5, stages=(ClassifierStage(None, 9, 1e-3),))
    assert s.lm_key() == other.lm_key() and s.key() != other.key()
    assert dataclasses.replace(s, lm_lr=0.123).lm_key() != s.lm_key()
    assert dataclasses.replace(s, model=s.model.scaled(0.5)).lm_key() != s.lm_key()


def test_texts_are_cut_to_their_last_tokens() -> None:
    vocab = Vocab(["xxunk", "xxpad", "xxbos", "xxeos", "xxrep", "xxwrep", "xxup", "xxmaj", "a", "b", "c"])
    (ids,) = _numericalize(vocab, [["xxbos", "a", "b", "c"]], max_len=2)
    assert ids.tolist() == [9, 10]
    (whole,) = _numericalize(vocab, [["xxbos", "a"]], max_len=None)
    assert whole.tolist() == [2, 8]


def _setting(**kw: object) -> TextSetting:
    return dataclasses.replace(text_setting(), lm_bs=8, bptt=10, valid_every=5, clas_bs=16, **kw)


def test_train_lm_learns_a_repeating_pattern() -> None:
    """A stream that repeats 2, 3, ..., 9: a language model must learn to predict the next token."""
    torch.manual_seed(0)
    period = torch.arange(2, 10)
    docs = [period.repeat(40) for _ in range(6)]
    s = _setting(alpha=0.0, beta=0.0)
    model = get_language_model(10, AWDLSTMConfig(emb_sz=16, n_hid=32, n_layers=1).scaled(0.0))
    hist = train_lm(model, docs, docs[:2], s, epochs=3, lr=1e-2)
    assert hist["valid_acc"][-1] > 0.9, hist["valid_acc"]
    assert hist["valid_loss"][-1] < hist["valid_loss"][0] or hist["valid_acc"][0] > 0.9
    assert len(hist["valid_points"]) >= 1 and hist["batches_per_epoch"] == len(hist["train_loss"]) // 3


def test_fine_tune_classifier_learns_which_token_a_text_holds() -> None:
    """Label 1 when a text holds token 5: learnable from pooling; gradual unfreezing must reach it."""
    g = torch.Generator().manual_seed(0)

    def make(n: int) -> tuple[list[torch.Tensor], torch.Tensor]:
        docs, ys = [], []
        for _ in range(n):
            d = torch.randint(6, 20, (int(torch.randint(4, 15, (), generator=g)),), generator=g)
            y = int(torch.randint(0, 2, (), generator=g))
            if y:
                d[int(torch.randint(0, len(d), (), generator=g))] = 5
            docs.append(d)
            ys.append(y)
        return docs, torch.tensor(ys)

    data = text_classifier_data(make(256), make(128), bs=16, generator=torch.Generator().manual_seed(1))
    torch.manual_seed(0)
    clf = get_text_classifier(20, 2, AWDLSTMConfig(emb_sz=16, n_hid=32, n_layers=2).scaled(0.0))
    stages = (ClassifierStage(1, 1, 2e-2), ClassifierStage(2, 1, 1e-2), ClassifierStage(None, 4, 1e-2))
    accs = fine_tune_classifier(clf, data, stages, _setting())
    assert len(accs) == 3
    assert accs[-1] > 0.9, accs
    assert all(p.requires_grad for p in clf.parameters())  # everything unfrozen at the end
