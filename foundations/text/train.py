"""Training recurrent language models: flat losses, the hidden-state reset, AR and TAR, generation.

Derived in Lesson 12, "AWD-LSTM" (lessons/12_awd_lstm) and "Pre-training a language model"
(lessons/12_lm_pretrain). A language model predicts ``(bs, sl, V)`` scores for ``(bs, sl)`` targets:
the losses flatten both. :class:`RNNRegularizer` adds AWD-LSTM's activation regularisation (AR) and
temporal activation regularisation (TAR) to the training loss; :class:`ResetHidden` starts each
pass from a zero hidden state.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from foundations import checks
from foundations.learner import Callback, Order

__all__ = [
    "RNNRegularizer",
    "ResetHidden",
    "accuracy_flat",
    "activation_reg",
    "cross_entropy_flat",
    "generate",
    "temporal_activation_reg",
]


def _check_flat(fn: str, pred: Tensor, target: Tensor) -> None:
    if pred.ndim != target.ndim + 1 or pred.shape[:-1] != target.shape:
        raise ValueError(f"{fn}: expected scores (..., V) for targets (...), got {checks.shape_str(pred)} and {checks.shape_str(target)}")


def cross_entropy_flat(pred: Tensor, target: Tensor) -> Tensor:
    """Cross-entropy of scores ``(bs, sl, V)`` against targets ``(bs, sl)``, averaged over every token.
    Derived in Lesson 12, "AWD-LSTM" (lessons/12_awd_lstm)."""
    _check_flat("cross_entropy_flat", pred, target)
    return F.cross_entropy(pred.reshape(-1, pred.shape[-1]).float(), target.reshape(-1))


def accuracy_flat(pred: Tensor, target: Tensor) -> Tensor:
    """The fraction of tokens whose highest score is the target, for ``(bs, sl, V)`` and ``(bs, sl)``.
    Derived in Lesson 12, "AWD-LSTM" (lessons/12_awd_lstm)."""
    _check_flat("accuracy_flat", pred, target)
    return (pred.argmax(-1) == target).float().mean()


def activation_reg(out: Tensor, alpha: float) -> Tensor:
    """AR (Merity et al. 2017, §4.6): ``alpha * mean(m ⊙ h_T ** 2)``, the mean square of the last
    layer's **dropped-out** output ``out`` ``(bs, sl, n)``: large activations cost.
    Derived in Lesson 12, "AWD-LSTM" (lessons/12_awd_lstm)."""
    return alpha * out.float().pow(2).mean()


def temporal_activation_reg(raw_out: Tensor, beta: float) -> Tensor:
    """TAR (Merity et al. 2017, §4.6): ``beta * mean((h_t - h_{t-1}) ** 2)`` over the **time** axis
    (axis 1 of ``raw_out`` ``(bs, sl, n)``, the last layer's output before dropout): a hidden state
    that jumps from one step to the next costs. A sequence of one step has no difference: 0.
    (The 2019 version tested ``len(h) > 1``, the batch size, instead of the sequence length, and
    returned NaN for sequences of one step.)
    Derived in Lesson 12, "AWD-LSTM" (lessons/12_awd_lstm)."""
    if raw_out.ndim != 3:
        raise ValueError(f"temporal_activation_reg: expected raw_out of shape (bs, sl, n), got {checks.shape_str(raw_out)}")
    if raw_out.shape[1] < 2:
        return raw_out.new_zeros((), dtype=torch.float32)
    return beta * (raw_out[:, 1:] - raw_out[:, :-1]).float().pow(2).mean()


class ResetHidden(Callback):
    """Reset a stateful model's hidden state (``model.reset()``) at the start of every training and
    validation pass, so that validation never starts from training's last state.
    Derived in Lesson 12, "AWD-LSTM" (lessons/12_awd_lstm)."""

    def _reset(self) -> None:
        model = self.model
        while not hasattr(model, "reset") and hasattr(model, "model"):  # through a wrapper
            model = model.model
        if hasattr(model, "reset"):
            model.reset()

    def begin_epoch(self) -> None:
        self._reset()

    def begin_validate(self) -> None:
        self._reset()


class RNNRegularizer(Callback):
    """AWD-LSTM's AR and TAR, added to the **training** loss.

    The model returns ``(scores, raw_outputs, outputs)``; after the prediction this callback keeps
    the last layer's ``raw_outputs[-1]`` and ``outputs[-1]`` and hands the loss and the metrics the
    scores alone. After the loss (and after the metrics have read it, ``Order.REGULARIZE``) it adds
    :func:`activation_reg` ``(outputs[-1], alpha)`` and :func:`temporal_activation_reg`
    ``(raw_outputs[-1], beta)`` when training. The course's values: ``alpha=2``, ``beta=1``.
    Derived in Lesson 12, "AWD-LSTM" (lessons/12_awd_lstm).
    """

    order = Order.REGULARIZE

    def __init__(self, alpha: float = 2.0, beta: float = 1.0) -> None:
        self.alpha = checks.real("RNNRegularizer", "alpha", alpha, min=0.0)
        self.beta = checks.real("RNNRegularizer", "beta", beta, min=0.0)

    def after_pred(self) -> None:
        pred = self.pred
        if not (isinstance(pred, tuple) and len(pred) == 3):
            raise TypeError(
                "RNNRegularizer: expected the model to return (scores, raw_outputs, outputs), like "
                f"get_language_model's, got {type(pred).__name__}"
            )
        scores, raw_outputs, outputs = pred
        self.raw_out, self.out = raw_outputs[-1], outputs[-1]
        self.learn.pred = scores

    def after_loss(self) -> None:
        if not self.in_train:
            return
        if self.alpha:
            self.learn.loss = self.loss + activation_reg(self.out, self.alpha)
        if self.beta:
            self.learn.loss = self.loss + temporal_activation_reg(self.raw_out, self.beta)


@torch.no_grad()
def generate(
    model: nn.Module, prompt: Tensor, n_tokens: int, temperature: float = 1.0, generator: torch.Generator | None = None,
    banned: tuple[int, ...] = (0, 1),
) -> Tensor:
    """Continue ``prompt`` (1-d int64 token ids) by ``n_tokens`` sampled tokens from a language model
    (:func:`~foundations.text.awd_lstm.get_language_model`). Each token is drawn from
    ``softmax(scores / temperature)`` of the model's last prediction (``temperature -> 0``: the most
    likely token), never one of ``banned`` (``xxunk``, ``xxpad``). Returns the new tokens only.
    The model is put in eval mode and its hidden state reset before and after.
    Derived in Lesson 12, "Pre-training a language model" (lessons/12_lm_pretrain).
    """
    if not isinstance(prompt, Tensor) or prompt.ndim != 1 or prompt.dtype != torch.long or len(prompt) == 0:
        raise ValueError(f"generate: expected prompt to be a non-empty 1-d int64 tensor of token ids, got {checks.describe(prompt)}")
    n_tokens = checks.positive_int("generate", "n_tokens", n_tokens)
    temperature = checks.real("generate", "temperature", temperature, min=0.0)
    was_training = model.training
    prompt = prompt.to(next(model.parameters()).device)
    model.eval()
    model.reset()
    try:
        scores = model(prompt[None])[0][0, -1]  # (V,)
        out = []
        for _ in range(n_tokens):
            scores = scores.float().clone()
            scores[list(banned)] = -float("inf")
            if temperature == 0.0:
                nxt = int(scores.argmax())
            else:  # sampled on the CPU, so a CPU generator works whatever the model's device
                nxt = int(torch.multinomial(torch.softmax(scores.cpu() / temperature, -1), 1, generator=generator))
            out.append(nxt)
            scores = model(prompt.new_tensor([[nxt]]))[0][0, -1]
        return torch.tensor(out)
    finally:
        model.reset()
        model.train(was_training)
