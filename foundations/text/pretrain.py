"""Lesson 12's text experiments as library functions: the corpus, the pre-trained and fine-tuned
language models, and the classifiers, each trained once and kept as an artifact.

Derived in Lesson 12, "Pre-training a language model" (lessons/12_lm_pretrain) and "ULMFiT"
(lessons/12_ulmfit). A pre-trained model is not one page's private state: :func:`pretrained_lm`
trains it or loads it from the data cache (:func:`foundations.data.artifacts.cached_artifact`),
keyed by the data (archives' sha256, subsets), the vocabulary and every hyper-parameter
(:class:`TextSetting`), so any page may ask for it first and the others reuse it.

Two settings (``FOUNDATIONS_SETTING``, :func:`text_setting`): ``default`` sizes everything to run on
two CPU cores in the build's budget; ``full`` is ULMFiT's IMDB recipe at the course's model size,
for a GPU.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from functools import partial
from typing import Any

import torch
from torch import Tensor, nn

from foundations import checks
from foundations.callbacks import AvgStatsCallback, DeviceCallback, GradientClipping, ParamScheduler, Recorder, default_device
from foundations.data.archives import archive_sha256
from foundations.data.artifacts import cached_artifact
from foundations.learner import Callback, CancelEpochException, Learner
from foundations.losses import accuracy, cross_entropy
from foundations.optim import adam_opt
from foundations.schedule import combine_scheds, cos_1cycle_anneal
from foundations.settings import by_setting
from foundations.text.awd_lstm import AWDLSTMConfig, get_language_model
from foundations.text.corpus import imdb_key, read_imdb, read_wikitext, tokenized
from foundations.text.loaders import lm_data, text_classifier_data
from foundations.text.train import ResetHidden, RNNRegularizer, accuracy_flat, cross_entropy_flat
from foundations.text.ulmfit import discriminative_lrs, freeze_to, get_text_classifier, group_splitter, load_encoder
from foundations.text.vocab import Vocab

__all__ = [
    "ClassifierStage",
    "TextSetting",
    "classifier_texts",
    "fine_tune_classifier",
    "fine_tuned_lm",
    "lm_corpus",
    "one_cycle",
    "pretrained_lm",
    "text_setting",
    "train_lm",
    "ulmfit_experiments",
]

FORMAT = "text-v3"  # part of every artifact key: bump when the training code changes its results


@dataclass(frozen=True)
class ClassifierStage:
    """One stage of fine-tuning a classifier: train the top ``n_groups`` layer groups (``None``: all)
    for ``epochs`` with 1cycle up to ``lr`` on the top group, each lower group 2.6 times less.
    Derived in Lesson 12, "ULMFiT" (lessons/12_ulmfit)."""

    n_groups: int | None
    epochs: int
    lr: float


@dataclass(frozen=True)
class TextSetting:
    """Every size and hyper-parameter of Lesson 12's text experiments, in one place.

    Corpus: ``n_unsup`` IMDB unlabelled reviews (``None``: all 50,000) and ``n_lm_train`` IMDB training
    reviews (unlabelled use) plus WikiText-2's validation and test articles (if ``wikitext``), a
    ``lm_valid_pct`` share of texts held out; vocabulary ``max_vocab`` / ``min_freq`` built on the
    language model's training texts. Language model: ``model`` (sizes and dropouts), ``lm_bs``,
    ``bptt``, ``lm_epochs``, ``lm_lr`` (1cycle peak), ``wd``, ``clip``, AR ``alpha``, TAR ``beta``,
    validated every ``valid_every`` training batches too (0: after each epoch only);
    fine-tuned on the classifier's training texts for ``ft_epochs`` at ``ft_lr``. Classifier:
    ``n_clas_train`` training and ``n_clas_valid`` test reviews (balanced draws; ``None``: all
    25,000 each), each cut to its last ``max_len`` tokens (``None``: whole), ``clas_bs``, the
    ULMFiT ``stages`` and, from scratch, ``scratch_lr`` for the same number of epochs.
    Derived in Lesson 12, "Pre-training a language model" (lessons/12_lm_pretrain).
    """

    n_unsup: int | None
    n_lm_train: int | None
    wikitext: bool
    max_vocab: int
    min_freq: int
    model: AWDLSTMConfig
    lm_bs: int
    bptt: int
    lm_epochs: int
    lm_lr: float
    ft_epochs: int
    ft_lr: float
    n_clas_train: int | None
    n_clas_valid: int | None
    max_len: int | None
    clas_bs: int
    stages: tuple[ClassifierStage, ...]
    scratch_lr: float
    valid_every: int = 0
    lm_valid_pct: float = 0.1
    wd: float = 0.01
    clip: float = 0.25
    alpha: float = 2.0
    beta: float = 1.0
    seed: int = 0
    clas_model: AWDLSTMConfig | None = None

    def key(self) -> dict[str, Any]:
        """Everything above as a plain dict, for an artifact's key."""
        return {"format": FORMAT, **asdict(self)}

    def lm_key(self) -> dict[str, Any]:
        """What the pre-trained language model depends on: the corpus, the vocabulary's limits, the
        model and its training (not the classifier's fields, so changing those keeps the model)."""
        return {k: v for k, v in self.key().items() if k in _LM_FIELDS}

    @property
    def clas_config(self) -> AWDLSTMConfig:
        """The classifier encoder's config: the language model's sizes, its own dropouts if given."""
        return self.clas_model or self.model


_LM_FIELDS = frozenset({
    "format", "n_unsup", "n_lm_train", "wikitext", "max_vocab", "min_freq", "model", "lm_bs", "bptt", "lm_epochs",
    "lm_lr", "valid_every", "lm_valid_pct", "wd", "clip", "alpha", "beta", "seed",
})


def text_setting() -> TextSetting:
    """The :class:`TextSetting` of the current setting (``FOUNDATIONS_SETTING``): ``default`` on two CPU
    cores within the lesson's budget, ``full`` ULMFiT's IMDB recipe at the course's sizes.
    Derived in Lesson 12, "Pre-training a language model" (lessons/12_lm_pretrain).
    """
    default = TextSetting(
        n_unsup=700, n_lm_train=0, wikitext=True, max_vocab=6_000, min_freq=3,
        model=AWDLSTMConfig(emb_sz=64, n_hid=256, n_layers=2).scaled(0.2),
        lm_bs=32, bptt=70, lm_epochs=1, lm_lr=1e-2, valid_every=100,
        ft_epochs=1, ft_lr=1e-2,
        n_clas_train=1_200, n_clas_valid=2_000, max_len=128, clas_bs=32,
        stages=(ClassifierStage(1, 1, 5e-2), ClassifierStage(2, 1, 2e-2), ClassifierStage(None, 2, 1e-2)),
        scratch_lr=1e-2, clas_model=AWDLSTMConfig(emb_sz=64, n_hid=256, n_layers=2).scaled(0.3),
    )
    full = TextSetting(
        n_unsup=None, n_lm_train=None, wikitext=True, max_vocab=60_000, min_freq=2,
        model=AWDLSTMConfig(emb_sz=400, n_hid=1152, n_layers=3).scaled(0.3),
        lm_bs=64, bptt=70, lm_epochs=10, lm_lr=2e-3, valid_every=2_000,
        ft_epochs=4, ft_lr=1e-3,
        n_clas_train=None, n_clas_valid=None, max_len=1_400, clas_bs=48,
        stages=(ClassifierStage(1, 1, 2e-2), ClassifierStage(2, 1, 1e-2), ClassifierStage(3, 1, 5e-3), ClassifierStage(None, 2, 1e-3)),
        scratch_lr=2e-3, clas_model=AWDLSTMConfig(emb_sz=400, n_hid=1152, n_layers=3).scaled(0.5),
    )
    return by_setting(default=default, full=full)


# ---- the corpus -------------------------------------------------------------------------------------


def lm_corpus(s: TextSetting) -> dict[str, Any]:
    """The language model's corpus: ``{"train": [token lists], "valid": [token lists], "vocab": Vocab,
    "sources": {name: number of texts}}``. Texts are tokenised once and cached; the validation texts
    are a random ``lm_valid_pct`` of them (seeded). IMDB's test reviews are never in it: the
    classifier is evaluated on them.
    Derived in Lesson 12, "Pre-training a language model" (lessons/12_lm_pretrain).
    """
    docs: list[list[str]] = []
    sources: dict[str, int] = {}
    if s.wikitext:
        for part in ("valid", "test"):
            arts = read_wikitext(part)
            docs += tokenized(f"wikitext-{part}", arts, {"archive": archive_sha256("wikitext-2-valid-test"), "part": part})
            sources[f"WikiText-2 {part} articles"] = len(arts)
    for split, n in (("unsup", s.n_unsup), ("train", s.n_lm_train)):
        if n == 0:
            continue
        texts, _ = read_imdb(split, n, seed=s.seed)
        docs += tokenized(f"imdb-{split}", texts, imdb_key(split, n, s.seed))
        sources[f"IMDB {split} reviews"] = len(texts)
    g = torch.Generator().manual_seed(s.seed)
    perm = torch.randperm(len(docs), generator=g).tolist()
    n_valid = max(1, round(len(docs) * s.lm_valid_pct))
    valid, train = [docs[i] for i in perm[:n_valid]], [docs[i] for i in perm[n_valid:]]
    return {"train": train, "valid": valid, "vocab": Vocab.build(train, s.max_vocab, s.min_freq), "sources": sources}


def classifier_texts(s: TextSetting, split: str) -> tuple[list[list[str]], Tensor]:
    """The classifier's tokenised reviews and labels: ``"train"`` (``n_clas_train`` from IMDB's
    training set) or ``"valid"`` (``n_clas_valid`` from its test set), balanced draws.
    Derived in Lesson 12, "ULMFiT" (lessons/12_ulmfit).
    """
    if split not in ("train", "valid"):
        raise ValueError(checks.message("classifier_texts", "split", "'train' or 'valid'", split))
    imdb_split, n = ("train", s.n_clas_train) if split == "train" else ("test", s.n_clas_valid)
    texts, labels = read_imdb(imdb_split, n, seed=s.seed + 1)
    return tokenized(f"imdb-{imdb_split}", texts, imdb_key(imdb_split, n, s.seed + 1)), labels


# ---- training ---------------------------------------------------------------------------------------


def one_cycle(lr: float, pct: float = 0.3) -> Any:
    """1cycle: cosine from ``lr/10`` up to ``lr`` over the first ``pct`` of training, then down to
    ``lr/1e4`` (:func:`foundations.schedule.cos_1cycle_anneal`).
    Derived in Lesson 12, "Pre-training a language model" (lessons/12_lm_pretrain)."""
    return combine_scheds([pct, 1 - pct], cos_1cycle_anneal(lr / 10, lr, lr / 1e4))


class _ValidateLast(Callback):
    "Validate only after the last epoch (only the final numbers are reported)."

    def begin_validate(self) -> None:
        if self.epoch < self.epochs - 1:
            raise CancelEpochException()


class _PeriodicValidation(Callback):
    "Every ``every`` training batches: the validation loss and accuracy, in eval mode, hidden state kept aside."

    def __init__(self, every: int, valid_dl: Any, points: list[tuple[int, float, float]]) -> None:
        self.every, self.valid_dl, self.points = every, valid_dl, points

    def after_batch(self) -> None:
        if not self.in_train or self.every <= 0 or self.n_iter % self.every:  # n_iter: batches done
            return
        model = self.model
        saved = model[0].hidden
        model.eval()
        model.reset()
        tot = acc = n = 0.0
        device = next(model.parameters()).device
        with torch.no_grad():
            for xb, yb in self.valid_dl:
                xb, yb = xb.to(device), yb.to(device)
                out = model(xb)[0]
                tot += float(cross_entropy_flat(out, yb)) * len(xb)
                acc += float(accuracy_flat(out, yb)) * len(xb)
                n += len(xb)
        self.points.append((int(self.n_iter), tot / n, acc / n))
        model.train()
        model[0].hidden = saved


def train_lm(model: nn.Module, train: list[Tensor], valid: list[Tensor], s: TextSetting, epochs: int, lr: float) -> dict[str, Any]:
    """Train a language model with AWD-LSTM's recipe: AdamW (β 0.9, 0.99), 1cycle, AR and TAR,
    gradient clipping, the hidden state reset each pass, on the GPU when there is one
    (``default_device``). Returns the history: per-batch training
    loss and learning rate, per-epoch validation loss and accuracy, ``valid_points`` (batch, loss,
    accuracy) every ``s.valid_every`` batches, seconds.
    Derived in Lesson 12, "Pre-training a language model" (lessons/12_lm_pretrain).
    """
    g = torch.Generator().manual_seed(s.seed)
    data = lm_data(train, valid, s.lm_bs, s.bptt, generator=g)
    stats, rec = AvgStatsCallback([accuracy_flat], verbose=False), Recorder()
    history: dict[str, Any] = {"valid_loss": [], "valid_acc": [], "train_loss_epoch": []}

    class _Keep(Callback):
        def after_epoch(self) -> None:
            history["train_loss_epoch"].append(stats.train_stats.averages[0])
            history["valid_loss"].append(stats.valid_stats.averages[0])
            history["valid_acc"].append(stats.valid_stats.averages[1])

    points: list[tuple[int, float, float]] = []
    cbs = [DeviceCallback(default_device()), ResetHidden(), RNNRegularizer(s.alpha, s.beta), GradientClipping(s.clip), stats, rec, _Keep(),
           ParamScheduler("lr", one_cycle(lr)), _PeriodicValidation(s.valid_every, data.valid_dl, points)]
    opt = partial(adam_opt, beta1=0.9, beta2=0.99, wd=s.wd, decouple_wd=True)
    learn = Learner(model, data, cross_entropy_flat, opt_func=opt, lr=lr, cbs=cbs)
    start = time.perf_counter()
    learn.fit(epochs)
    history.update(
        train_loss=rec.losses, lrs=rec.lrs, seconds=time.perf_counter() - start, valid_points=points,
        tokens_per_epoch=len(data.train_dl) * s.lm_bs * s.bptt, batches_per_epoch=len(data.train_dl),
    )
    return history


def _numericalize(vocab: Vocab, docs: list[list[str]], max_len: int | None = None) -> list[Tensor]:
    "Token ids of each text, cut to its **last** ``max_len`` tokens (a review's verdict is usually at its end)."
    return [vocab.numericalize(d if max_len is None else d[-max_len:]) for d in docs]


def pretrained_lm(s: TextSetting) -> tuple[nn.Module, Vocab, dict[str, Any]]:
    """The language model pre-trained on :func:`lm_corpus` with :func:`train_lm`, its vocabulary and
    its training history: trained the first time, loaded from the data cache afterwards (key: the
    setting, hence the data and hyper-parameters, and the vocabulary itself).
    Derived in Lesson 12, "Pre-training a language model" (lessons/12_lm_pretrain).
    """
    corpus = lm_corpus(s)
    vocab = corpus["vocab"]

    def build() -> dict[str, Any]:
        torch.manual_seed(s.seed)
        model = get_language_model(len(vocab), s.model)
        hist = train_lm(model, _numericalize(vocab, corpus["train"]), _numericalize(vocab, corpus["valid"]), s, s.lm_epochs, s.lm_lr)
        return {"state": {k: v.cpu() for k, v in model.state_dict().items()}, "history": hist}

    art = cached_artifact("lm", {"setting": s.lm_key(), "vocab": vocab.itos}, build)
    model = get_language_model(len(vocab), s.model)
    model.load_state_dict(art["state"])
    return model, vocab, art["history"]


def fine_tuned_lm(s: TextSetting) -> tuple[nn.Module, Vocab, dict[str, Any]]:
    """The pre-trained language model fine-tuned on the classifier's training texts (ULMFiT's second
    stage) as the classifier reads them (each cut to its last ``max_len`` tokens), for ``ft_epochs``
    at ``ft_lr``; a tenth of the texts held out. Cached like :func:`pretrained_lm`.
    Derived in Lesson 12, "ULMFiT" (lessons/12_ulmfit).
    """
    model, vocab, _ = pretrained_lm(s)
    texts, _ = classifier_texts(s, "train")

    def build() -> dict[str, Any]:
        torch.manual_seed(s.seed + 2)
        docs = _numericalize(vocab, texts, s.max_len)
        n_valid = max(1, len(docs) // 10)
        hist = train_lm(model, docs[n_valid:], docs[:n_valid], s, s.ft_epochs, s.ft_lr)
        return {"state": {k: v.cpu() for k, v in model.state_dict().items()}, "history": hist}

    art = cached_artifact("lm_finetuned", {"setting": s.key(), "vocab": vocab.itos}, build)
    model.load_state_dict(art["state"])
    return model, vocab, art["history"]


def fine_tune_classifier(
    model: nn.Module, data: Any, stages: tuple[ClassifierStage, ...], s: TextSetting, discriminative: bool = True
) -> list[float]:
    """Train a :class:`~foundations.text.ulmfit.TextClassifier` stage by stage (gradual unfreezing:
    :func:`~foundations.text.ulmfit.freeze_to`; discriminative learning rates:
    :func:`~foundations.text.ulmfit.discriminative_lrs`; 1cycle within each stage; AdamW; a fresh
    optimizer per stage; on the GPU when there is one). Returns the validation accuracy after each stage.
    Derived in Lesson 12, "ULMFiT" (lessons/12_ulmfit).
    """
    accs = []
    for st in stages:
        n_all = len(group_splitter(model))
        freeze_to(model, n_all if st.n_groups is None else st.n_groups)
        lrs = discriminative_lrs(st.lr, n_all) if discriminative else [st.lr] * n_all
        stats = AvgStatsCallback([accuracy], verbose=False)
        cbs = [DeviceCallback(default_device()), stats, _ValidateLast(), ParamScheduler("lr", [one_cycle(lr) for lr in lrs]),
               GradientClipping(s.clip)]
        opt = partial(adam_opt, beta1=0.9, beta2=0.99, wd=s.wd, decouple_wd=True)
        learn = Learner(model, data, cross_entropy, opt_func=opt, lr=st.lr, splitter=group_splitter, cbs=cbs)
        learn.fit(st.epochs)
        accs.append(stats.valid_stats.averages[1])
    freeze_to(model, len(group_splitter(model)))
    return accs


def _classifier_data(s: TextSetting, vocab: Vocab) -> Any:
    (tr_docs, tr_y), (va_docs, va_y) = classifier_texts(s, "train"), classifier_texts(s, "valid")
    g = torch.Generator().manual_seed(s.seed + 3)
    train = (_numericalize(vocab, tr_docs, s.max_len), tr_y)
    valid = (_numericalize(vocab, va_docs, s.max_len), va_y)
    return text_classifier_data(train, valid, s.clas_bs, vocab.pad_idx, generator=g)


def ulmfit_experiments(s: TextSetting) -> dict[str, Any]:
    """Lesson 12's classifier comparison at one budget, trained once and cached:

    - ``"scratch"``: a randomly initialised classifier, every layer trained for the stages' total
      number of epochs at ``scratch_lr`` (1cycle);
    - ``"pretrained"``: the encoder of :func:`pretrained_lm` (no fine-tuning on IMDB's texts), then
      ULMFiT's stages;
    - ``"ulmfit"``: the encoder of :func:`fine_tuned_lm`, then the same stages.

    Returns ``{name: {"accs": accuracy after each stage, "seconds": ...}, "n_train", "n_valid", ...}``.
    Derived in Lesson 12, "ULMFiT" (lessons/12_ulmfit).
    """
    lm, vocab, _ = pretrained_lm(s)
    ft, _, _ = fine_tuned_lm(s)

    def build() -> dict[str, Any]:
        data = _classifier_data(s, vocab)
        res: dict[str, Any] = {"n_train": len(data.train_ds), "n_valid": len(data.valid_ds)}
        n_epochs = sum(st.epochs for st in s.stages)
        runs = {"scratch": None, "pretrained": lm, "ulmfit": ft}
        for name, src in runs.items():
            torch.manual_seed(s.seed + 4)
            clf = get_text_classifier(len(vocab), 2, s.clas_config)
            start = time.perf_counter()
            if src is None:
                accs = fine_tune_classifier(clf, data, (ClassifierStage(None, n_epochs, s.scratch_lr),), s)
            else:
                load_encoder(clf, src)
                accs = fine_tune_classifier(clf, data, s.stages, s)
            res[name] = {"accs": accs, "seconds": time.perf_counter() - start}
        return res

    return cached_artifact("ulmfit", {"setting": s.key(), "vocab": vocab.itos}, build)
