"""ULMFiT (Howard & Ruder 2018): a classifier on a pre-trained AWD-LSTM encoder, and how to fine-tune it.

Derived in Lesson 12, "ULMFiT" (lessons/12_ulmfit); the paper is read in (book/papers/howard2018).

- :func:`masked_concat_pool`: the classifier's input is ``[h_T, maxpool(H), meanpool(H)]`` over the
  **real** tokens of each text (padding masked), so a text in a padded batch is pooled as if alone;
- :class:`PoolingLinearClassifier`: that pooling, then BatchNorm, dropout and linear layers;
- :class:`TextClassifier` / :func:`get_text_classifier`: a non-stateful
  :class:`~foundations.text.awd_lstm.AWDLSTM` (padding skipped by packing) and the head;
- :func:`layer_groups`, :func:`group_splitter`, :func:`freeze_to`, :func:`discriminative_lrs`:
  parameter groups from the embedding up to the head, gradual unfreezing, and learning rates that
  shrink by 2.6 per group going down (the paper's §3.2);
- :func:`load_encoder`: the language model's encoder weights into the classifier.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from foundations import checks
from foundations.text.awd_lstm import AWDLSTM, AWDLSTMConfig, SequentialRNN

__all__ = [
    "PoolingLinearClassifier",
    "TextClassifier",
    "discriminative_lrs",
    "freeze_to",
    "get_text_classifier",
    "group_splitter",
    "layer_groups",
    "load_encoder",
    "masked_concat_pool",
]


def masked_concat_pool(outputs: Tensor, mask: Tensor) -> Tensor:
    """``[last, max, mean]`` of ``outputs`` ``(bs, sl, n)`` over the positions where ``mask`` ``(bs, sl)``
    is True (the real tokens, padding at the end), concatenated: ``(bs, 3n)``.

    ``last`` is the output at each row's last real token, ``max`` ignores padded positions (as if
    they were ``-inf``), ``mean`` divides by the number of real tokens. Every row needs one real token.
    Derived in Lesson 12, "ULMFiT" (lessons/12_ulmfit); concat pooling is the paper's §3.3.
    """
    if outputs.ndim != 3 or mask.shape != outputs.shape[:2] or mask.dtype != torch.bool:
        raise ValueError(
            f"masked_concat_pool: expected outputs (bs, sl, n) and a bool mask (bs, sl), got {checks.shape_str(outputs)} "
            f"and {checks.describe(mask)}"
        )
    lengths = mask.sum(1)                                                       # (bs,)
    if bool((lengths == 0).any()):
        raise ValueError("masked_concat_pool: a row has no real token (its mask is all False)")
    m = mask[..., None]                                                         # (bs, sl, 1)
    last = outputs[torch.arange(len(outputs)), lengths - 1]                     # (bs, n)
    mx = outputs.masked_fill(~m, float("-inf")).max(1).values                   # (bs, n)
    mean = (outputs * m).sum(1) / lengths[:, None].to(outputs.dtype)            # (bs, n)
    return torch.cat([last, mx, mean], 1)                                       # (bs, 3n)


class PoolingLinearClassifier(nn.Module):
    """The classifier's head: :func:`masked_concat_pool` of the encoder's last output, then for each
    layer BatchNorm, dropout and a linear layer, ReLU between them (``lin_ftrs``: hidden sizes).
    ``forward((outputs, mask)) -> scores (bs, n_out)``.
    Derived in Lesson 12, "ULMFiT" (lessons/12_ulmfit).
    """

    def __init__(self, n_in: int, n_out: int, lin_ftrs: Sequence[int] = (50,), ps: Sequence[float] = (0.4, 0.1)) -> None:
        super().__init__()
        sizes = [3 * checks.positive_int("PoolingLinearClassifier", "n_in", n_in), *lin_ftrs, checks.positive_int("PoolingLinearClassifier", "n_out", n_out)]
        if len(ps) != len(sizes) - 1:
            raise ValueError(f"PoolingLinearClassifier: expected {len(sizes) - 1} dropout probabilities (one per linear layer), got {list(ps)}")
        layers: list[nn.Module] = []
        for i, (a, b, p) in enumerate(zip(sizes[:-1], sizes[1:], ps)):
            layers += [nn.BatchNorm1d(a), nn.Dropout(p), nn.Linear(a, b)]
            if i < len(sizes) - 2:
                layers.append(nn.ReLU(inplace=True))
        self.layers = nn.Sequential(*layers)

    def forward(self, inp: tuple[Tensor, Tensor]) -> Tensor:
        outputs, mask = inp
        return self.layers(masked_concat_pool(outputs, mask))


class TextClassifier(nn.Module):
    """``encoder`` (a non-stateful :class:`~foundations.text.awd_lstm.AWDLSTM`) then ``head``
    (:class:`PoolingLinearClassifier`): ``xb (bs, sl)`` padded at the end with ``pad_token`` -> scores.
    Derived in Lesson 12, "ULMFiT" (lessons/12_ulmfit).
    """

    def __init__(self, encoder: AWDLSTM, head: PoolingLinearClassifier) -> None:
        super().__init__()
        if encoder.stateful:
            raise ValueError("TextClassifier: expected a non-stateful AWDLSTM (stateful=False), which skips padding")
        self.encoder, self.head = encoder, head

    def forward(self, xb: Tensor) -> Tensor:
        _, outputs = self.encoder(xb)
        mask = xb != self.encoder.config.pad_token      # (bs, sl)
        return self.head((outputs[-1], mask))


def get_text_classifier(
    vocab_sz: int, n_out: int, config: AWDLSTMConfig = AWDLSTMConfig(), lin_ftrs: Sequence[int] = (50,), ps: Sequence[float] | None = None,
) -> TextClassifier:
    """A :class:`TextClassifier` with an AWD-LSTM encoder of ``config`` and a pooling head; the head's
    first dropout is the config's ``output_p``, the others 0.1 (the course's).
    Derived in Lesson 12, "ULMFiT" (lessons/12_ulmfit).
    """
    ps = [config.output_p] + [0.1] * len(lin_ftrs) if ps is None else list(ps)
    return TextClassifier(AWDLSTM(vocab_sz, config, stateful=False), PoolingLinearClassifier(config.emb_sz, n_out, lin_ftrs, ps))


def _encoder(model: nn.Module) -> AWDLSTM:
    enc = model.encoder if isinstance(model, TextClassifier) else model[0] if isinstance(model, SequentialRNN) else None
    if not isinstance(enc, AWDLSTM):
        raise TypeError(checks.message("layer_groups", "model", "a TextClassifier or a language model (SequentialRNN)", model))
    return enc


def layer_groups(model: nn.Module) -> list[list[nn.Parameter]]:
    """The model's parameters from the bottom up: the embedding; each LSTM layer; the head (a
    classifier's :class:`PoolingLinearClassifier`, or a language model's decoder bias; the decoder's
    weight *is* the embedding). Every parameter is in exactly one group.
    Derived in Lesson 12, "ULMFiT" (lessons/12_ulmfit).
    """
    enc = _encoder(model)
    groups = [[enc.encoder.weight], *[list(r.parameters()) for r in enc.rnns]]
    seen = {id(p) for g in groups for p in g}
    groups.append([p for p in model.parameters() if id(p) not in seen])
    return groups


def group_splitter(model: nn.Module) -> list[dict[str, Any]]:
    """:func:`layer_groups` as a learner's parameter groups (``splitter=group_splitter``).
    Derived in Lesson 12, "ULMFiT" (lessons/12_ulmfit)."""
    return [{"params": g} for g in layer_groups(model)]


def freeze_to(model: nn.Module, n: int) -> list[bool]:
    """Gradual unfreezing: train only the last ``n`` of :func:`layer_groups` (``n=1``: the head alone;
    ``n=len(groups)``: everything). Returns which groups train, bottom first.
    Derived in Lesson 12, "ULMFiT" (lessons/12_ulmfit); the paper's §3.3.
    """
    groups = layer_groups(model)
    n = checks.integer("freeze_to", "n", n, min=1, max=len(groups))
    trains = [i >= len(groups) - n for i in range(len(groups))]
    for g, t in zip(groups, trains):
        for p in g:
            p.requires_grad_(t)
    return trains


def discriminative_lrs(lr: float, n_groups: int, factor: float = 2.6) -> list[float]:
    """``[lr / factor**(n-1), ..., lr / factor, lr]``: the top group gets ``lr``, each lower one 2.6
    times less (the paper's §3.2, :math:`\\eta^{l-1} = \\eta^l / 2.6`).
    Derived in Lesson 12, "ULMFiT" (lessons/12_ulmfit).
    """
    lr = checks.real("discriminative_lrs", "lr", lr, positive=True)
    n_groups = checks.positive_int("discriminative_lrs", "n_groups", n_groups)
    factor = checks.real("discriminative_lrs", "factor", factor, min=1.0)
    return [lr / factor ** (n_groups - 1 - i) for i in range(n_groups)]


def load_encoder(clf: TextClassifier, lm: nn.Module) -> TextClassifier:
    """Copy a language model's encoder weights (embedding and LSTMs) into ``clf``'s encoder; the
    sizes must agree. Returns ``clf``. Derived in Lesson 12, "ULMFiT" (lessons/12_ulmfit).
    """
    src = _encoder(lm).state_dict()
    clf.encoder.load_state_dict(src)
    return clf
