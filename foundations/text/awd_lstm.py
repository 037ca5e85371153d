"""AWD-LSTM (Merity, Keskar & Socher 2017): an LSTM language model and its five dropouts.

Derived in Lesson 12, "AWD-LSTM" (lessons/12_awd_lstm); the paper is read in
(book/papers/merity2017) and the LSTM's gates in (book/papers/hochreiter1997). Every module here is
a ``torch.nn.Module``.

- :class:`LSTMCell`, :class:`LSTMLayer`: the LSTM written out, one time step at a time, with
  PyTorch's gate order (input, forget, cell candidate, output), so ``nn.LSTM``'s weights load as
  they are. (The 2019 course split its gates as i, f, o, g.)
- :func:`dropout_mask`, :class:`RNNDropout` (one mask for every time step: *variational* dropout),
  :class:`WeightDropout` (DropConnect on the hidden-to-hidden matrix), :class:`EmbeddingDropout`
  (whole words dropped from the embedding matrix).
- :class:`AWDLSTMConfig`: the sizes and the five dropout probabilities, one config;
  :class:`AWDLSTM`, the encoder; :class:`LinearDecoder` (weights tied to the embedding);
  :class:`SequentialRNN`; :func:`get_language_model`.

Shapes: batch first, ``(bs, sl, ...)`` (``sl``: sequence length).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from foundations import checks

__all__ = [
    "AWDLSTM",
    "AWDLSTMConfig",
    "EmbeddingDropout",
    "LSTMCell",
    "LSTMLayer",
    "LinearDecoder",
    "RNNDropout",
    "SequentialRNN",
    "WeightDropout",
    "dropout_mask",
    "get_language_model",
    "to_detach",
]


# ---- the LSTM, by hand -----------------------------------------------------------------------------


class LSTMCell(nn.Module):
    """One LSTM step: ``(x, (h, c)) -> (h', (h', c'))`` for ``x`` ``(bs, ni)``, ``h``, ``c`` ``(bs, nh)``.

    All four gates come from one matrix product each for the input and the hidden state; the
    ``4*nh`` outputs are, in order, the input gate ``i``, the forget gate ``f``, the candidate ``g``
    and the output gate ``o`` (PyTorch's order)::

        i, f, g, o = chunk(x @ W_ih.T + b_ih + h @ W_hh.T + b_hh, 4)
        c' = sigmoid(f) * c + sigmoid(i) * tanh(g)
        h' = sigmoid(o) * tanh(c')

    ``weight_ih`` ``(4*nh, ni)``, ``weight_hh`` ``(4*nh, nh)`` and the biases are named as in
    ``nn.LSTMCell`` and initialised as it does (uniform in ``±1/sqrt(nh)``).
    Derived in Lesson 12, "AWD-LSTM" (lessons/12_awd_lstm).
    """

    def __init__(self, ni: int, nh: int) -> None:
        super().__init__()
        self.ni, self.nh = checks.positive_int("LSTMCell", "ni", ni), checks.positive_int("LSTMCell", "nh", nh)
        self.weight_ih = nn.Parameter(torch.empty(4 * nh, ni))
        self.weight_hh = nn.Parameter(torch.empty(4 * nh, nh))
        self.bias_ih = nn.Parameter(torch.empty(4 * nh))
        self.bias_hh = nn.Parameter(torch.empty(4 * nh))
        bound = 1 / math.sqrt(nh)
        for p in self.parameters():
            nn.init.uniform_(p, -bound, bound)

    def forward(self, x: Tensor, state: tuple[Tensor, Tensor]) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        h, c = state
        gates = x @ self.weight_ih.T + self.bias_ih + h @ self.weight_hh.T + self.bias_hh  # (bs, 4*nh)
        i, f, g, o = gates.chunk(4, dim=1)                                                  # 4 x (bs, nh)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)                        # (bs, nh)
        h = torch.sigmoid(o) * torch.tanh(c)                                                # (bs, nh)
        return h, (h, c)

    def extra_repr(self) -> str:
        return f"{self.ni}, {self.nh}"


class LSTMLayer(nn.Module):
    """A cell run over a sequence in a Python loop: ``(x (bs, sl, ni), (h, c)) -> (out (bs, sl, nh), (h, c))``.

    Equals ``nn.LSTM(ni, nh, batch_first=True)`` with the same weights, whose state is
    ``(1, bs, nh)`` where ours is ``(bs, nh)``. Derived in Lesson 12, "AWD-LSTM" (lessons/12_awd_lstm).
    """

    def __init__(self, ni: int, nh: int) -> None:
        super().__init__()
        self.cell = LSTMCell(ni, nh)

    def forward(self, x: Tensor, state: tuple[Tensor, Tensor]) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        outputs = []
        for t in range(x.shape[1]):
            out, state = self.cell(x[:, t], state)  # (bs, nh)
            outputs.append(out)
        return torch.stack(outputs, dim=1), state   # (bs, sl, nh)


# ---- dropouts ---------------------------------------------------------------------------------------


def dropout_mask(x: Tensor, size: tuple[int, ...], p: float) -> Tensor:
    """A mask of ``size``, like ``x`` (dtype, device): each entry 0 with probability ``p``, else
    ``1/(1-p)``, so that the expected value of ``mask * x`` is ``x``.

    Derived in Lesson 12, "AWD-LSTM" (lessons/12_awd_lstm).
    """
    p = checks.real("dropout_mask", "p", p, min=0.0, max=1.0, max_open=True)
    return x.new_empty(size).bernoulli_(1 - p).div_(1 - p)


class RNNDropout(nn.Module):
    """Variational dropout: one mask per sequence and feature, the **same at every time step**.

    ``x`` ``(bs, sl, n)`` is multiplied by a mask ``(bs, 1, n)``; identity in eval mode or at ``p=0``.
    Derived in Lesson 12, "AWD-LSTM" (lessons/12_awd_lstm); Gal & Ghahramani 2016.
    """

    def __init__(self, p: float = 0.5) -> None:
        super().__init__()
        self.p = checks.real("RNNDropout", "p", p, min=0.0, max=1.0, max_open=True)

    def forward(self, x: Tensor) -> Tensor:
        if not self.training or self.p == 0.0:
            return x
        if x.ndim != 3:
            raise ValueError(f"RNNDropout: expected x of shape (bs, sl, n), got {checks.shape_str(x)}")
        return x * dropout_mask(x, (x.shape[0], 1, x.shape[2]), self.p)

    def extra_repr(self) -> str:
        return f"p={self.p}"


class WeightDropout(nn.Module):
    """DropConnect on a recurrent layer's hidden-to-hidden weights (Wan et al. 2013; AWD-LSTM §2).

    The wrapped ``nn.LSTM``'s ``weight_hh_l0`` is taken out of its parameters; this module keeps it
    as ``weight_hh_l0_raw``, a leaf ``nn.Parameter`` that the optimizer sees and that gets gradients.
    Before each forward the layer's ``weight_hh_l0`` is set to ``dropout(raw, p)`` (training) or
    ``raw`` (eval), an ordinary tensor computed from the parameter, so ``parameters()`` holds leaves
    only. (The 2019 version left a non-leaf tensor among the parameters, which ``torch.optim``
    refuses.) One mask per batch, the same at every time step.
    Derived in Lesson 12, "AWD-LSTM" (lessons/12_awd_lstm).
    """

    def __init__(self, module: nn.Module, weight_p: float, layer_names: tuple[str, ...] = ("weight_hh_l0",)) -> None:
        super().__init__()
        if not isinstance(module, nn.Module):
            raise TypeError(checks.message("WeightDropout", "module", "an nn.Module (an nn.LSTM)", module))
        self.module, self.weight_p = module, checks.real("WeightDropout", "weight_p", weight_p, min=0.0, max=1.0, max_open=True)
        self.layer_names = tuple(layer_names)
        for name in self.layer_names:
            w = getattr(module, name, None)
            if not isinstance(w, nn.Parameter):
                raise ValueError(f"WeightDropout: expected {type(module).__name__} to have a parameter {name!r}, got {checks.describe(w)}")
            delattr(module, name)  # no longer a parameter of the layer ...
            self.register_parameter(f"{name}_raw", nn.Parameter(w.detach().clone()))  # ... but ours
            setattr(module, name, w.detach().clone())  # a plain tensor until the first forward

    def _set_weights(self) -> None:
        for name in self.layer_names:
            raw = getattr(self, f"{name}_raw")
            dropped = self.training and self.weight_p > 0
            # a view, never the Parameter itself: the layer must not take it back as its own parameter
            setattr(self.module, name, F.dropout(raw, p=self.weight_p) if dropped else raw.view_as(raw))

    def forward(self, *args: Any) -> Any:
        self._set_weights()
        try:
            return self.module(*args)
        finally:
            # the graph keeps the weights this forward used; the layer keeps a detached one, so that
            # the model can be deep-copied (a non-leaf tensor cannot be) and holds no old graph
            for name in self.layer_names:
                setattr(self.module, name, getattr(self, f"{name}_raw").detach())

    def extra_repr(self) -> str:
        return f"weight_p={self.weight_p}, layers={list(self.layer_names)}"


class EmbeddingDropout(nn.Module):
    """Drop whole words: rows of the embedding matrix are zeroed with probability ``embed_p`` (and the
    kept ones scaled by ``1/(1-embed_p)``), so a dropped word is absent everywhere in the batch.

    ``forward(words (bs, sl) int64) -> (bs, sl, emb_sz)``; the embedding's own weight stays the
    parameter (it is tied to the decoder). Derived in Lesson 12, "AWD-LSTM" (lessons/12_awd_lstm);
    Gal & Ghahramani 2016.
    """

    def __init__(self, emb: nn.Embedding, embed_p: float) -> None:
        super().__init__()
        if not isinstance(emb, nn.Embedding):
            raise TypeError(checks.message("EmbeddingDropout", "emb", "an nn.Embedding", emb))
        self.emb, self.embed_p = emb, checks.real("EmbeddingDropout", "embed_p", embed_p, min=0.0, max=1.0, max_open=True)

    def forward(self, words: Tensor) -> Tensor:
        w = self.emb.weight
        if self.training and self.embed_p != 0.0:
            w = w * dropout_mask(w, (w.shape[0], 1), self.embed_p)  # (V, 1): one draw per word
        return F.embedding(words, w, self.emb.padding_idx)

    def extra_repr(self) -> str:
        return f"embed_p={self.embed_p}"


# ---- the model --------------------------------------------------------------------------------------


def to_detach(h: Any) -> Any:
    """Detach a tensor, or every tensor in nested tuples and lists (an LSTM's ``(h, c)`` per layer):
    the hidden state carries over to the next batch, its gradient history does not.
    Derived in Lesson 12, "AWD-LSTM" (lessons/12_awd_lstm).
    """
    if isinstance(h, Tensor):
        return h.detach()
    if isinstance(h, (tuple, list)):
        return type(h)(to_detach(x) for x in h)
    return h


@dataclass(frozen=True)
class AWDLSTMConfig:
    """AWD-LSTM's sizes and dropouts in one place (the course's defaults: emb 400, 3 layers of 1152).

    - ``emb_sz``: embedding size (and the last layer's output, for the tied decoder);
    - ``n_hid``: hidden size of every layer but the last; ``n_layers``;
    - ``pad_token``: the index of ``xxpad`` (1);
    - the dropouts: ``embed_p`` (words, :class:`EmbeddingDropout`), ``input_p`` (the embeddings,
      :class:`RNNDropout`), ``weight_p`` (hidden-to-hidden weights, :class:`WeightDropout`),
      ``hidden_p`` (between layers), ``output_p`` (before the decoder or the classifier's pooling).

    ``scaled(m)`` multiplies every dropout by ``m`` (fastai's ``drop_mult``).
    Derived in Lesson 12, "AWD-LSTM" (lessons/12_awd_lstm).
    """

    emb_sz: int = 400
    n_hid: int = 1152
    n_layers: int = 3
    pad_token: int = 1
    embed_p: float = 0.1
    input_p: float = 0.6
    weight_p: float = 0.5
    hidden_p: float = 0.2
    output_p: float = 0.4

    def __post_init__(self) -> None:
        for name in ("emb_sz", "n_hid", "n_layers"):
            checks.positive_int("AWDLSTMConfig", name, getattr(self, name))
        checks.integer("AWDLSTMConfig", "pad_token", self.pad_token, min=0)
        for name in ("embed_p", "input_p", "weight_p", "hidden_p", "output_p"):
            checks.real("AWDLSTMConfig", name, getattr(self, name), min=0.0, max=1.0, max_open=True)

    def scaled(self, mult: float) -> AWDLSTMConfig:
        """This config with every dropout probability multiplied by ``mult``."""
        mult = checks.real("AWDLSTMConfig.scaled", "mult", mult, min=0.0)
        return replace(self, **{k: getattr(self, k) * mult for k in ("embed_p", "input_p", "weight_p", "hidden_p", "output_p")})

    def as_dict(self) -> dict[str, Any]:
        """The fields as a plain dict (for a cache key)."""
        return asdict(self)


class AWDLSTM(nn.Module):
    """The AWD-LSTM encoder: embedding (with :class:`EmbeddingDropout`), input dropout, ``n_layers``
    ``nn.LSTM`` layers each in a :class:`WeightDropout`, and :class:`RNNDropout` between layers.

    ``forward(xb (bs, sl)) -> (raw_outputs, outputs)``: per layer, the layer's output before and
    after its dropout, each ``(bs, sl, n)`` (the last layer's ``n`` is ``emb_sz``, undropped: the
    decoder or the pooling drops it). The regularisers read them (Lesson 12's
    :class:`~foundations.text.train.RNNRegularizer`).

    - ``stateful=True`` (a language model): the hidden state carries from one batch to the next,
      detached; :meth:`reset` zeroes it (at each epoch), and a new batch size resets it.
    - ``stateful=False`` (a classifier): every batch starts from zeros, and padding (``pad_token``
      at the end of a row) is skipped with ``pack_padded_sequence``, so a padded text gets exactly
      the outputs it would get alone; outputs at padded positions are 0.

    Derived in Lesson 12, "AWD-LSTM" (lessons/12_awd_lstm).
    """

    def __init__(self, vocab_sz: int, config: AWDLSTMConfig = AWDLSTMConfig(), stateful: bool = True) -> None:
        super().__init__()
        if not isinstance(config, AWDLSTMConfig):
            raise TypeError(checks.message("AWDLSTM", "config", "an AWDLSTMConfig", config))
        self.vocab_sz, self.config = checks.positive_int("AWDLSTM", "vocab_sz", vocab_sz), config
        self.stateful = checks.boolean("AWDLSTM", "stateful", stateful)
        cfg = config
        if cfg.pad_token >= vocab_sz:
            raise ValueError(f"AWDLSTM: expected pad_token < vocab_sz {vocab_sz}, got {cfg.pad_token}")
        self.encoder = nn.Embedding(vocab_sz, cfg.emb_sz, padding_idx=cfg.pad_token)
        self.encoder.weight.data.uniform_(-0.1, 0.1)
        self.encoder.weight.data[cfg.pad_token] = 0.0
        self.encoder_dp = EmbeddingDropout(self.encoder, cfg.embed_p)
        sizes = [cfg.emb_sz] + [cfg.n_hid] * (cfg.n_layers - 1) + [cfg.emb_sz]
        self.rnns = nn.ModuleList(
            WeightDropout(nn.LSTM(sizes[i], sizes[i + 1], batch_first=True), cfg.weight_p) for i in range(cfg.n_layers)
        )
        self.input_dp = RNNDropout(cfg.input_p)
        self.hidden_dps = nn.ModuleList(RNNDropout(cfg.hidden_p) for _ in range(cfg.n_layers))
        self.hidden: list[tuple[Tensor, Tensor]] | None = None

    def reset(self) -> None:
        """Forget the hidden state (the next batch starts from zeros)."""
        self.hidden = None

    def _check(self, xb: Tensor) -> None:
        if not isinstance(xb, Tensor) or xb.dtype != torch.long or xb.ndim != 2:
            raise ValueError(f"AWDLSTM: expected token ids of shape (bs, sl), int64, got {checks.describe(xb)}")

    def forward(self, xb: Tensor) -> tuple[list[Tensor], list[Tensor]]:
        self._check(xb)
        bs = xb.shape[0]
        if self.stateful and self.hidden is not None and self.hidden[0][0].shape[1] != bs:
            self.reset()
        lengths = None
        if not self.stateful:
            real = xb != self.config.pad_token                                      # (bs, sl)
            lengths = real.sum(1)
            if bool((lengths == 0).any()):
                raise ValueError("AWDLSTM: a row of the batch is all padding (a text of no tokens)")
            if bool((real[:, 1:] & ~real[:, :-1]).any()):
                raise ValueError("AWDLSTM: expected padding at the end of each row (pad_collate's default), got a "
                                 "real token after padding (pad_first=True?)")
        raw = self.input_dp(self.encoder_dp(xb))  # (bs, sl, emb_sz)
        raw_outputs, outputs, new_hidden = [], [], []
        for i, (rnn, hid_dp) in enumerate(zip(self.rnns, self.hidden_dps)):
            state = self.hidden[i] if (self.stateful and self.hidden is not None) else None
            if lengths is None:
                raw, h = rnn(raw, state)                        # (bs, sl, n_i)
            else:
                packed = pack_padded_sequence(raw, lengths.cpu(), batch_first=True, enforce_sorted=False)
                out, h = rnn(packed)
                raw, _ = pad_packed_sequence(out, batch_first=True, total_length=xb.shape[1])
            new_hidden.append(h)
            raw_outputs.append(raw)
            if i != len(self.rnns) - 1:
                raw = hid_dp(raw)
            outputs.append(raw)
        if self.stateful:
            self.hidden = to_detach(new_hidden)
        return raw_outputs, outputs

    def extra_repr(self) -> str:
        return f"vocab_sz={self.vocab_sz}, stateful={self.stateful}"


class LinearDecoder(nn.Module):
    """The language model's head: dropout (``output_p``) on the last layer's output, then a linear
    layer to the vocabulary whose weight **is** the embedding matrix (weight tying, Press & Wolf 2017;
    Inan et al. 2017): ``(raw_outputs, outputs) -> (logits (bs, sl, V), raw_outputs, outputs)``.
    Derived in Lesson 12, "AWD-LSTM" (lessons/12_awd_lstm).
    """

    def __init__(self, n_out: int, n_hid: int, output_p: float, tie_encoder: nn.Embedding | None = None) -> None:
        super().__init__()
        self.decoder = nn.Linear(n_hid, n_out)
        nn.init.uniform_(self.decoder.weight, -0.1, 0.1)
        nn.init.zeros_(self.decoder.bias)
        self.output_dp = RNNDropout(output_p)
        if tie_encoder is not None:
            if tuple(tie_encoder.weight.shape) != (n_out, n_hid):
                raise ValueError(
                    f"LinearDecoder: expected an embedding of shape ({n_out}, {n_hid}) to tie, got {checks.shape_str(tie_encoder.weight)}"
                )
            self.decoder.weight = tie_encoder.weight

    def forward(self, inp: tuple[list[Tensor], list[Tensor]]) -> tuple[Tensor, list[Tensor], list[Tensor]]:
        raw_outputs, outputs = inp
        out = self.output_dp(outputs[-1])                  # (bs, sl, n_hid): m ⊙ h_T, what AR penalises
        return self.decoder(out), raw_outputs, [*outputs[:-1], out]


class SequentialRNN(nn.Sequential):
    """``nn.Sequential`` whose :meth:`reset` resets every child that has one (the encoder's state).
    Derived in Lesson 12, "AWD-LSTM" (lessons/12_awd_lstm)."""

    def reset(self) -> None:
        for c in self.children():
            if hasattr(c, "reset"):
                c.reset()


def get_language_model(vocab_sz: int, config: AWDLSTMConfig = AWDLSTMConfig(), tie_weights: bool = True) -> SequentialRNN:
    """``SequentialRNN(AWDLSTM, LinearDecoder)``: next-token logits ``(bs, sl, vocab_sz)`` for ``xb (bs, sl)``,
    with the decoder tied to the embedding unless ``tie_weights=False``.
    Derived in Lesson 12, "AWD-LSTM" (lessons/12_awd_lstm).
    """
    enc = AWDLSTM(vocab_sz, config, stateful=True)
    dec = LinearDecoder(vocab_sz, config.emb_sz, config.output_p, enc.encoder if tie_weights else None)
    return SequentialRNN(enc, dec)
