"""Lesson 12 exercises: text for a model, the AWD-LSTM's pieces and ULMFiT's pooling, by hand.

Pages: lessons/12_text (``replace_rep_rule``, ``caps_rule``, ``build_text_vocab``, ``lm_batches``),
lessons/12_awd_lstm (``lstm_cell``, ``embedding_dropout``, ``dropconnect_rnn``,
``temporal_activation_reg``) and lessons/12_ulmfit (``masked_pool``). Replace each ``raise
NotImplementedError`` line with your code, then grade it:

    .venv/bin/pytest exercises -k replace_rep_rule     # or caps_rule, build_text_vocab, ...
    .venv/bin/pytest exercises/test_lesson12_text.py   # every exercise of this file

The graders compare with the library's ``foundations.text`` (the tokenizer's rules, ``Vocab.build``,
``LMDataLoader``, ``masked_concat_pool``, ``temporal_activation_reg``) and with PyTorch
(``nn.LSTMCell``, ``nn.RNN``) in float64; for the dropouts they replay your generator's draws. Use
Python, ``re``, ``collections.Counter`` and tensor operations; do not call the library's versions
of what you are writing (``foundations.text``'s rules, ``Vocab``, ``LMDataLoader``, ``LSTMCell``,
``EmbeddingDropout``, ``WeightDropout``, ``dropout_mask``, ``masked_concat_pool``,
``temporal_activation_reg``) nor ``nn.LSTMCell``, ``nn.LSTM``, ``nn.RNN`` and their functions (the
graders check: a call to one fails the exercise).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from foundations.text.tokens import SPECIAL_TOKENS


def replace_rep_rule(t: str) -> str:
    """The ``xxrep`` rule: a non-space character repeated 4 times or more becomes ``" xxrep n c "``.

    Each maximal run of ``n >= 4`` copies of one character ``c`` that is not whitespace (a space, a
    tab, a newline are left alone) is replaced by a space, ``xxrep``, a space, ``n``, a space, ``c``
    and a space; everything else stays as it is (runs of 3 or fewer, the spaces the rule adds next
    to the existing ones: a later rule removes doubled spaces). It is
    ``foundations.text.tokens.replace_rep``; one regular expression with a back-reference, ``(\\S)\\1{3,}``,
    and ``re.sub`` with a function does it.

    >>> replace_rep_rule("cooool!!!!")
    'c xxrep 4 o l xxrep 4 ! '
    >>> replace_rep_rule("!!! aaaabbbb")
    '!!!  xxrep 4 a  xxrep 4 b '
    """
    # BEGIN SOLUTION
    return re.sub(r"(\S)\1{3,}", lambda m: f" xxrep {len(m[0])} {m[1]} ", t)
    # END SOLUTION


def caps_rule(tokens: Sequence[str]) -> list[str]:
    """The capitals rules on a list of tokens: ``xxup`` before an all-caps word, ``xxmaj`` before a
    capitalised one, and every token in lower case.

    For each token ``t``, in order:

    - ``t.isupper() and len(t) > 1`` (``"LOVED"``, ``"OK"``, ``"U.S."``, ``"3D"``): ``"xxup"``, then
      ``t.lower()``;
    - else ``len(t) > 1 and t[0].isupper() and t[1:].islower()`` (``"Great"``, ``"Élan"``):
      ``"xxmaj"``, then ``t.lower()``;
    - else ``t.lower()`` alone (``"I"`` -> ``"i"``, ``"McDonald"`` -> ``"mcdonald"``, ``"xxbos"``).

    It is ``deal_caps(replace_all_caps(tokens))`` of ``foundations.text.tokens``. Return a new list;
    do not change ``tokens``.

    >>> caps_rule(["The", "film", "is", "GREAT", "I", "say"])
    ['xxmaj', 'the', 'film', 'is', 'xxup', 'great', 'i', 'say']
    """
    # BEGIN SOLUTION
    out: list[str] = []
    for t in tokens:
        if t.isupper() and len(t) > 1:
            out.append("xxup")
        elif len(t) > 1 and t[0].isupper() and t[1:].islower():
            out.append("xxmaj")
        out.append(t.lower())
    return out
    # END SOLUTION


def build_text_vocab(
    token_lists: Sequence[Sequence[str]], max_size: int = 60_000, min_freq: int = 2
) -> list[str]:
    """A text vocabulary (``itos``, index to string), built on tokenised training texts.

    ``token_lists`` is a list of texts, each a list of tokens. Count every token over all the texts
    (``collections.Counter``). The vocabulary is:

    1. the special tokens ``SPECIAL_TOKENS`` (``xxunk``, ``xxpad``, ``xxbos``, ... : 8 of them), in
       their order, always, so ``xxunk`` is 0 and ``xxpad`` is 1;
    2. then every other token counted at least ``min_freq`` times (a special token found in the
       texts is not added twice), most frequent first; tokens of the same count in alphabetical
       order (Python's ``sorted`` on strings: ``"B" < "a"``), so the result does not depend on the
       order of the texts;
    3. cut to ``max_size`` strings in all (``max_size >= 8``).

    It is ``foundations.text.Vocab.build(token_lists, max_size, min_freq).itos``. Return a ``list``
    of ``str``.

    >>> build_text_vocab([["xxbos", "a", "b", "a"], ["a", "c", "b"]], min_freq=2)[8:]
    ['a', 'b']
    """
    # BEGIN SOLUTION
    counts = Counter(tok for toks in token_lists for tok in toks)
    words = [w for w, n in counts.items() if n >= min_freq and w not in SPECIAL_TOKENS]
    words.sort(key=lambda w: (-counts[w], w))                           # most frequent first, ties a-z
    return [*SPECIAL_TOKENS, *words][:max_size]
    # END SOLUTION


def lm_batches(stream: Tensor, bs: int, bptt: int) -> list[tuple[Tensor, Tensor]]:
    """The language model's batches of one stream of token ids: ``[(x, y), ...]``, each ``(bs, bptt)``.

    ``stream`` is a 1-d int64 tensor of ``n`` token ids. With ``m = n // bs`` tokens per row:

    1. lay the first ``bs * m`` tokens out as ``bs`` rows, ``rows`` ``(bs, m)``: row ``r`` is the
       ``r``-th consecutive piece of the stream, ``stream[r*m : (r+1)*m]`` (the last ``n % bs``
       tokens are dropped);
    2. batch ``k`` is ``x = rows[:, k*bptt : (k+1)*bptt]`` and ``y = rows[:, k*bptt + 1 : (k+1)*bptt + 1]``
       (``y[:, j]`` is the token that follows ``x[:, j]``);
    3. only whole batches: ``k = 0, 1, ..., (m - 1) // bptt - 1`` (an empty list when the stream
       is too short for one).

    So row ``r`` of batch ``k + 1`` continues row ``r`` of batch ``k``. It is
    ``list(foundations.text.LMDataLoader([stream], bs, bptt))``. Views of ``stream`` or copies,
    either is fine.

    >>> [(x.tolist(), y.tolist()) for x, y in lm_batches(torch.arange(10), bs=2, bptt=2)]
    [([[0, 1], [5, 6]], [[1, 2], [6, 7]]), ([[2, 3], [7, 8]], [[3, 4], [8, 9]])]
    """
    # BEGIN SOLUTION
    m = len(stream) // bs                                                # tokens per row
    rows = stream[: bs * m].view(bs, m)                                  # (bs, m)
    starts = range(0, (m - 1) // bptt * bptt, bptt)                      # whole batches only
    return [(rows[:, i : i + bptt], rows[:, i + 1 : i + 1 + bptt]) for i in starts]
    # END SOLUTION


def lstm_cell(
    x: Tensor, h: Tensor, c: Tensor, w_ih: Tensor, w_hh: Tensor, b_ih: Tensor, b_hh: Tensor
) -> tuple[Tensor, Tensor]:
    """One step of an LSTM (Hochreiter & Schmidhuber 1997), with PyTorch's weights and gate order.

    ``x`` ``(bs, ni)``, the state ``h``, ``c`` ``(bs, nh)``; ``w_ih`` ``(4*nh, ni)``, ``w_hh``
    ``(4*nh, nh)``, ``b_ih``, ``b_hh`` ``(4*nh,)``. The ``4*nh`` pre-activations

        gates = x @ w_ih.T + b_ih + h @ w_hh.T + b_hh                 (bs, 4*nh)

    are, in this order (``gates.chunk(4, dim=1)``), the input gate ``i``, the forget gate ``f``,
    the candidate ``g`` and the output gate ``o``. Then, with ``σ`` the sigmoid,

        c' = σ(f) * c + σ(i) * tanh(g)                                (bs, nh)
        h' = σ(o) * tanh(c')                                          (bs, nh)

    Return ``(h', c')``, as ``nn.LSTMCell(ni, nh)`` with these weights does.

    >>> z = lambda *s: torch.zeros(s)
    >>> h, c = lstm_cell(z(1, 2), z(1, 3), torch.ones(1, 3), z(12, 2), z(12, 3), z(12), z(12))
    >>> c.tolist()   # σ(0) * 1 + σ(0) * tanh(0)
    [[0.5, 0.5, 0.5]]
    """
    # BEGIN SOLUTION
    gates = x @ w_ih.T + b_ih + h @ w_hh.T + b_hh                        # (bs, 4*nh)
    i, f, g, o = gates.chunk(4, dim=1)                                   # 4 x (bs, nh)
    c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    return torch.sigmoid(o) * torch.tanh(c), c
    # END SOLUTION


def embedding_dropout(weight: Tensor, words: Tensor, p: float, generator: torch.Generator) -> Tensor:
    """Embedding dropout (Gal & Ghahramani 2016): drop whole words, then look the words up.

    ``weight`` is the embedding matrix ``(V, emb_sz)``, ``words`` int64 token ids ``(bs, sl)``,
    ``0 <= p < 1``. Draw **one** keep-or-drop decision per word of the vocabulary, a mask of shape
    ``(V, 1)``, exactly this way (the grader replays it):

        mask = weight.new_empty((V, 1)).bernoulli_(1 - p, generator=generator) / (1 - p)

    (1 with probability ``1 - p``, then scaled: the expected value of ``mask * weight`` is
    ``weight``). Return the embeddings of ``words`` in ``weight * mask``, ``(bs, sl, emb_sz)``
    (``F.embedding`` or indexing). A dropped word is all zeros wherever it appears in the batch; a
    kept one is its row of ``weight`` times ``1/(1-p)``. Gradients flow back to ``weight``.

    >>> w = torch.ones(3, 2)
    >>> embedding_dropout(w, torch.tensor([[0, 2, 0]]), 0.5, torch.Generator().manual_seed(0)).tolist()
    [[[0.0, 0.0], [2.0, 2.0], [0.0, 0.0]]]
    """
    # BEGIN SOLUTION
    mask = weight.new_empty((weight.shape[0], 1)).bernoulli_(1 - p, generator=generator) / (1 - p)  # (V, 1)
    return F.embedding(words, weight * mask)                                            # (bs, sl, emb_sz)
    # END SOLUTION


def dropconnect_rnn(
    x: Tensor, h0: Tensor, w_ih: Tensor, w_hh_raw: Tensor, p: float, generator: torch.Generator
) -> tuple[Tensor, Tensor]:
    """A tanh RNN whose hidden-to-hidden matrix is dropped once per sequence: DropConnect (weight dropout).

    ``x`` ``(bs, sl, ni)``, ``h0`` ``(bs, nh)``, ``w_ih`` ``(nh, ni)``, and ``w_hh_raw`` ``(nh, nh)``,
    the trained parameter (a leaf tensor with ``requires_grad``), ``0 <= p < 1``.

    1. Drop entries of the matrix, **once** for the whole sequence, with this draw (the grader
       replays it) and a scale that keeps the expected value:

           mask = w_hh_raw.new_empty(w_hh_raw.shape).bernoulli_(1 - p, generator=generator)
           w_hh = w_hh_raw * mask / (1 - p)                          (nh, nh)

       ``w_hh`` is computed *from* the parameter: no ``.data``, no ``.detach()``, no in-place change
       of ``w_hh_raw``, so the gradient reaches ``w_hh_raw`` (and only kept entries get one);
    2. run the recurrence with that same ``w_hh`` at every step (no biases):

           h_t = tanh(x[:, t] @ w_ih.T + h_{t-1} @ w_hh.T),   t = 0, ..., sl - 1, from h_{-1} = h0

    Return ``(out, w_hh)``: ``out`` ``(bs, sl, nh)`` stacks ``h_0, ..., h_{sl-1}`` along dim 1.
    (``nn.RNN(ni, nh, bias=False, batch_first=True)`` with weights ``w_ih`` and ``w_hh`` gives the
    same ``out``.)

    >>> out, w = dropconnect_rnn(torch.zeros(1, 2, 1), torch.zeros(1, 2), torch.ones(2, 1),
    ...                          torch.ones(2, 2, requires_grad=True), 0.0, torch.Generator())
    >>> out.shape, w.tolist()
    (torch.Size([1, 2, 2]), [[1.0, 1.0], [1.0, 1.0]])
    """
    # BEGIN SOLUTION
    mask = w_hh_raw.new_empty(w_hh_raw.shape).bernoulli_(1 - p, generator=generator)    # (nh, nh), one draw
    w_hh = w_hh_raw * mask / (1 - p)
    h, outs = h0, []
    for t in range(x.shape[1]):
        h = torch.tanh(x[:, t] @ w_ih.T + h @ w_hh.T)                                   # (bs, nh)
        outs.append(h)
    return torch.stack(outs, dim=1), w_hh                                               # (bs, sl, nh)
    # END SOLUTION


def temporal_activation_reg(raw_out: Tensor, beta: float) -> Tensor:
    """TAR (Merity et al. 2017, §4.6): ``beta * mean((h_t - h_{t-1})**2)``, over the time axis.

    ``raw_out`` is the last LSTM layer's output before dropout, ``(bs, sl, nh)``; time is axis 1.
    The differences ``raw_out[:, t] - raw_out[:, t-1]`` for ``t = 1, ..., sl-1`` make a
    ``(bs, sl-1, nh)`` tensor: return ``beta`` times the mean of their squares, a 0-d tensor of
    ``raw_out``'s dtype that carries the gradient. A sequence of one step (``sl == 1``) has no
    difference: return a 0-d zero of ``raw_out``'s dtype (the mean of nothing is NaN; the 2019
    version tested the batch size instead of ``sl`` and returned NaN). It is
    ``foundations.text.temporal_activation_reg``, which computes in float32.

    >>> temporal_activation_reg(torch.tensor([[[0.0], [1.0], [3.0]]]), 2.0)   # 2 * (1 + 4) / 2
    tensor(5.)
    """
    # BEGIN SOLUTION
    if raw_out.shape[1] < 2:
        return raw_out.new_zeros(())
    return beta * (raw_out[:, 1:] - raw_out[:, :-1]).pow(2).mean()
    # END SOLUTION


def masked_pool(outputs: Tensor, mask: Tensor) -> Tensor:
    """ULMFiT's concat pooling of a padded batch: ``[last, max, mean]`` over each text's real tokens.

    ``outputs`` ``(bs, sl, n)`` are the encoder's outputs, ``mask`` ``(bs, sl)`` bool is True at a
    text's real tokens; padding is at the end of a row (each row's mask is ``True, ..., True, False,
    ..., False``, at least one True), and the outputs at padded positions can be anything. For row
    ``b`` with ``L_b = mask[b].sum()`` real tokens:

    - ``last[b] = outputs[b, L_b - 1]`` (the last real token's output, not the last column's);
    - ``max[b] = max over t < L_b of outputs[b, t]`` (padding never wins, even where every real
      output is negative);
    - ``mean[b] = sum over t < L_b of outputs[b, t] / L_b``.

    Return ``torch.cat([last, max, mean], dim=1)``, ``(bs, 3n)``, of ``outputs``' dtype, so a text
    is pooled the same in a padded batch as alone. It is ``foundations.text.masked_concat_pool``.
    Do not change ``outputs`` (``masked_fill``, not ``masked_fill_``).

    >>> out = torch.tensor([[[1.0], [-2.0], [9.0]]])          # one text of 2 tokens, then padding
    >>> masked_pool(out, torch.tensor([[True, True, False]])).tolist()
    [[-2.0, 1.0, -0.5]]
    """
    # BEGIN SOLUTION
    lengths = mask.sum(1)                                                       # (bs,)
    m = mask[..., None]                                                         # (bs, sl, 1)
    last = outputs[torch.arange(len(outputs)), lengths - 1]                     # (bs, n)
    mx = outputs.masked_fill(~m, float("-inf")).max(1).values                   # (bs, n)
    mean = (outputs * m).sum(1) / lengths[:, None].to(outputs.dtype)            # (bs, n)
    return torch.cat([last, mx, mean], 1)                                       # (bs, 3n)
    # END SOLUTION
