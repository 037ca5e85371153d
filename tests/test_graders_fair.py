"""The graders are fair: a plausible learner's answer gets the verdict its docstring promises.

Each answer below is one a learner might write. Right ones pass even where they differ from the
reference in ways the docstring allows (a float32 result where only the maths is graded, a schedule
position left unclamped at -7e-17 or 1 + 9e-16); wrong ones fail with a message that names the
cause first (a dtype, a forbidden call, a position). All the answers go into one learner's copy of
the course (``tests/test_grading.py``'s ``learner`` fixture, ``answer`` and ``grade``), graded in a
single subprocess; each test reads its exercise's verdict and messages from that one run.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from test_grading import answer, grade, learner, line_of

# (module, function, body, verdict): one answer per exercise
ANSWERS = {
    # float32 where the maths is graded: a zero-initialised float32 result, filled in float64 arithmetic
    "mse_grad": ("lesson08_backprop", """
n = output.shape[0]
g = torch.zeros(n, 1)
g[:, 0] = 2.0 * (output[:, 0] - target) / n
return g
""", "passed"),
    "lin_grad": ("lesson08_backprop", "return (out_grad @ w.T).float(), (x.T @ out_grad).float(), out_grad.sum(0).float()",
                 "passed"),
    "cov": ("lesson10_foundations", """
if x.shape != y.shape:
    raise ValueError(f"cov: lengths {len(x)} and {len(y)} differ")
if len(x) < 2:
    raise ValueError(f"cov: expected at least 2 pairs, got {len(x)}")
total = torch.tensor(0.0)  # float32: the sum is rounded to float32 as it goes
for a, b in zip(x - x.mean(), y - y.mean()):
    total += a * b
return total / (len(x) - 1)
""", "passed"),
    # the same mistake where the dtype is graded: the result must have a's dtype
    "matmul_broadcast": ("lesson08_matmul", """
c = torch.zeros(a.shape[0], b.shape[1])
for i in range(a.shape[0]):
    c[i] = (a[i].unsqueeze(-1) * b).sum(dim=0)
return c
""", "failed"),
    # boundaries by running sum and no clamping: (1 - 0.8999999999999999) / 0.1 = 1.0000000000000009
    "combine_scheds": ("lesson09_training", """
if not pcts or len(pcts) != len(scheds):
    raise ValueError(f"combine_scheds: expected one pct per schedule, got {len(pcts)} pcts and {len(scheds)} schedules")
if min(pcts) < 0:
    raise ValueError(f"combine_scheds: expected non-negative pcts, got {pcts}")
if abs(sum(pcts) - 1) > 1e-6:
    raise ValueError(f"combine_scheds: expected pcts summing to 1, got {pcts} (sum {sum(pcts):g})")
bounds = [0.0]
for p in pcts:
    bounds.append(bounds[-1] + p)
last = max(i for i, p in enumerate(pcts) if p > 0)

def f(pos):
    for i, p in enumerate(pcts):
        if p > 0 and (pos < bounds[i + 1] or i == last):
            return scheds[i]((pos - bounds[i]) / p)

return f
""", "passed"),
    # cos(pi pos) where the docstring has 1 - cos: starts at end, ends at start
    "sched_cos": ("lesson09_training", "return lambda pos: start + (1 + math.cos(math.pi * pos)) / 2 * (end - start)",
                  "failed"),
    # the rules: calls the docstrings rule out
    "group_norm": ("lesson10_norm", """
if x.shape[1] % num_groups:
    raise ValueError(f"group_norm: expected num_groups to divide the {x.shape[1]} channels, got num_groups={num_groups}")
return torch.nn.functional.group_norm(x, num_groups, eps=eps)
""", "failed"),
    "layer_norm": ("lesson10_norm", """
dims = tuple(range(1, x.ndim))
return (x - x.mean(dims, keepdim=True)) / (x.var(dims, keepdim=True, correction=0) + eps).sqrt()
""", "failed"),
    "relu_grad": ("lesson08_backprop", """
x = x.detach().requires_grad_()
torch.relu(x).backward(out_grad)
return x.grad
""", "failed"),
    "einsum_matmul": ("lesson08_matmul", "return (a.unsqueeze(-1) * b.unsqueeze(0)).sum(1)", "failed"),
    # Lesson 11. A float32 buffer where the maths is graded: torch.zeros defaults to float32, and the
    # in-place updates keep it float32 from then on
    "momentum_stat": ("lesson11_optim", """
if grad_avg is None:
    grad_avg = torch.zeros(grad.shape)
    if not dampened:
        return grad_avg.add_(grad)
if dampened:
    return grad_avg.mul_(mom).add_(grad, alpha=1 - mom)
return grad_avg.mul_(mom).add_(grad, alpha=1 - dampening)
""", "passed"),
    # the same float32 where float64 accuracy is the point: 0.999999 is 0.99999899... in float32
    "debias_factor": ("lesson11_optim", """
m = torch.tensor(mom)
d = 1 - m ** step
return float(d if dampening is None else dampening * d / (1 - m))
""", "failed"),
    # a new tensor bound to the local name: the caller's parameter never changes
    "weight_decay_step": ("lesson11_optim", "p = p * (1 - lr * wd)", "failed"),
    # the dict lookup raises KeyError for an unknown validation label, naming it but not as asked
    "build_vocab": ("lesson11_data", """
vocab = sorted(set(train_labels))
otoi = {v: i for i, v in enumerate(vocab)}
return vocab, otoi, [otoi[o] for o in train_labels], [otoi[o] for o in valid_labels]
""", "failed"),
    # the biased std (dividing by n), where lsuv_init uses torch's default (n - 1)
    "lsuv_rescale": ("lesson11_lsuv", """
with torch.no_grad():
    out = layer(x)
    if layer.bias is not None:
        layer.bias -= out.mean()
    layer.weight /= out.std(correction=0)
    return layer(x).std().item()
""", "failed"),
    # the library's own splitter
    "grandparent_split": ("lesson11_data", """
from foundations.data import grandparent_splitter
return grandparent_splitter(fn, valid_name, train_name)
""", "failed"),
    # a float64 trust ratio written with torch's norm rather than the reference's sums: right
    "lamb_trust_ratio": ("lesson11_optim", """
pn, rn = p.norm().item(), r.norm().item()
return pn / rn if pn and rn else 1.0
""", "passed"),
    # Lesson 12, text. The 2019 course's gate order, i, f, o, g: nn.LSTM's weights then mean other gates
    "lstm_cell": ("lesson12_text", """
i, f, o, g = (x @ w_ih.T + b_ih + h @ w_hh.T + b_hh).chunk(4, dim=1)
c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
return torch.sigmoid(o) * torch.tanh(c), c
""", "failed"),
    # the 2019 TAR: the time axis is right, but it tests the batch size where it means the sequence
    # length: 0 for a batch of one row, NaN (the mean of nothing) for a sequence of one step
    "temporal_activation_reg": ("lesson12_text", """
if len(raw_out) > 1:
    return beta * (raw_out[:, 1:] - raw_out[:, :-1]).pow(2).mean()
return raw_out.new_zeros(())
""", "failed"),
    # the max over every position, padding included: padded outputs of 0 beat negative real ones
    "masked_pool": ("lesson12_text", """
lengths = mask.sum(1)
last = outputs[torch.arange(len(outputs)), lengths - 1]
mean = (outputs * mask[..., None]).sum(1) / lengths[:, None].to(outputs.dtype)
return torch.cat([last, outputs.max(1).values, mean], 1)
""", "failed"),
    # one draw per position rather than per word of the vocabulary: a word dropped here, kept there
    "embedding_dropout": ("lesson12_text", """
mask = torch.bernoulli(torch.full((*words.shape, 1), 1 - p, dtype=weight.dtype), generator=generator) / (1 - p)
return weight[words] * mask
""", "failed"),
    # rows read down the columns: view(m, bs).T interleaves the stream instead of cutting it in bs pieces
    "lm_batches": ("lesson12_text", """
m = len(stream) // bs
rows = stream[: bs * m].view(m, bs).T
return [(rows[:, i : i + bptt], rows[:, i + 1 : i + 1 + bptt]) for i in range(0, ((m - 1) // bptt) * bptt, bptt)]
""", "failed"),
    # Counter.most_common: ties in the order first seen, not alphabetical
    "build_text_vocab": ("lesson12_text", """
counts = Counter(t for toks in token_lists for t in toks)
words = [w for w, n in counts.most_common() if n >= min_freq and w not in SPECIAL_TOKENS]
return [*SPECIAL_TOKENS, *words][:max_size]
""", "failed"),
    # Lesson 13. zlib's adler32 with its arguments declared but no restype: ctypes reads a C int
    "zlib_adler32": ("lesson13_cpp", """
lib = ctypes.CDLL(ctypes.util.find_library("z"))
lib.adler32.argtypes = [ctypes.c_ulong, ctypes.c_char_p, ctypes.c_uint]
return lib.adler32(1, data, len(data))
""", "failed"),
    # the shard without the padding: ranks get different numbers of indices when n does not divide
    "shard_indices": ("lesson13_distributed", """
g = torch.Generator().manual_seed(seed + epoch)
order = torch.randperm(n, generator=g).tolist() if shuffle else list(range(n))
return order[rank::world_size]
""", "failed"),
    # right: the warm-up written as one interpolation with min, a float at every step
    "large_batch_lr": ("lesson13_distributed", """
k = bs / base_bs
frac = min(step / warmup_steps, 1.0) if warmup_steps else 1.0
return base_lr * (1 + (k - 1) * frac)
""", "passed"),
    # right maths, but the outputs collected in torch.zeros(...), float32, where the dtype is graded
    "dropconnect_rnn": ("lesson12_text", """
mask = w_hh_raw.new_empty(w_hh_raw.shape).bernoulli_(1 - p, generator=generator)
w_hh = w_hh_raw * mask / (1 - p)
out = torch.zeros(x.shape[0], x.shape[1], w_hh.shape[0])
h = h0
for t in range(x.shape[1]):
    h = torch.tanh(x[:, t] @ w_ih.T + h @ w_hh.T)
    out[:, t] = h
return out, w_hh
""", "failed"),
}


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict[str, tuple[str, str]]]:
    """Grade every answer once: the report's lines, and (outcome, message) for each test."""
    course = learner.__wrapped__(tmp_path_factory.mktemp("course"))
    for name, (module, body, _) in ANSWERS.items():
        answer(course, module, name, body)
    for module in {m for m, _, _ in ANSWERS.values()}:  # a stub imports only what its solution needs
        stub = course / "exercises" / f"{module}.py"
        head = "from __future__ import annotations\n"
        stub.write_text(stub.read_text().replace(head, head + "\nimport math\n\nimport torch\n", 1))
    report = course / "report.xml"
    done = grade(course, "-k", " or ".join(ANSWERS), f"--junitxml={report}")
    cases = {}
    for case in ET.parse(report).getroot().iter("testcase"):
        bad = case.find("failure")
        if bad is None:
            bad = case.find("error")
        cases[case.get("name")] = ("passed", "") if bad is None else ("failed", bad.get("message", ""))
    return done.stdout, cases


def messages(graded: tuple[str, dict[str, tuple[str, str]]], test: str) -> list[str]:
    """The failure messages of the cases of ``test`` (a grader test's name, without its parameters)."""
    return [msg for name, (outcome, msg) in graded[1].items() if name.split("[")[0] == test and outcome == "failed"]


def test_each_answer_gets_its_verdict(graded: tuple[str, dict[str, tuple[str, str]]]) -> None:
    out, _ = graded
    wrong = {}
    for name, (_, _, verdict) in ANSWERS.items():
        row = line_of(out, name)
        if not row.split(" ", 2)[2].strip().startswith(verdict):
            wrong[name] = row
    assert not wrong, f"expected {[(n, ANSWERS[n][2]) for n in wrong]}, got {wrong}"


def test_float32_where_the_dtype_is_graded_says_dtype_first(graded: tuple[str, dict[str, tuple[str, str]]]) -> None:
    [first, *_] = messages(graded, "test_matmul_broadcast")
    assert first.startswith(
        "AssertionError: matmul_broadcast on a 5x784 @ 784x10 batch (MNIST-sized) (float64): "
        "expected a float64 tensor, got float32. A float32 result usually comes from a new tensor made without dtype="
    ), first
    [exact] = messages(graded, "test_matmul_broadcast_exact_integers")
    assert "expected an int64 tensor, got float32" in exact, exact


def test_a_wrong_schedule_is_reported_at_a_position_by_value(graded: tuple[str, dict[str, tuple[str, str]]]) -> None:
    docstring = messages(graded, "test_sched_cos_docstring_example")
    assert docstring == [
        "AssertionError: sched_cos(1.0, 3.0), the docstring's example: 2 of 3 values differ. "
        "Largest difference 2 at pos=0: expected 1, got 3 (tolerance 1e-12 + 1e-05*|expected|)"
    ], docstring
    annealing = messages(graded, "test_sched_cos_against_cosine_annealing")
    down = next(m for m in annealing if "annealing down" in m)
    assert down.startswith(
        "AssertionError: sched_cos(0.6, 0.2), annealing down 0.6 -> 0.2: 64 of 65 values differ. "
        "Largest difference 0.4 at pos=64/64: expected 0.2, got 0.6"
    ), down


def test_forbidden_calls_are_named_with_the_line_that_made_them(graded: tuple[str, dict[str, tuple[str, str]]]) -> None:
    [group, *_] = messages(graded, "test_group_norm")
    assert re.match(
        r"AssertionError: group_norm: you used F\.group_norm \(in group_norm, line \d+\), "
        r"which this exercise asks you to write yourself \(mean, sum, sqrt and reshape\)$", group
    ), group
    [layer, *_] = messages(graded, "test_layer_norm")
    assert re.search(r"layer_norm: you used the method \.var\(\) \(in layer_norm, line \d+\), which this exercise", layer), layer
    [relu, *_] = messages(graded, "test_relu_grad")
    assert re.search(r"relu_grad: you used the method \.backward\(\) \(in relu_grad, line \d+\), which the rules", relu), relu
    [einsum, *_] = messages(graded, "test_einsum_matmul")
    assert "einsum_matmul: expected a call to torch.einsum, found none" in einsum, einsum


def test_lesson11_wrong_answers_say_why(graded: tuple[str, dict[str, tuple[str, str]]]) -> None:
    [decay, *_] = messages(graded, "test_weight_decay_step_against_adamw_and_the_library")
    assert decay == (
        "AssertionError: weight_decay_step on a 5x4 weight, lr=0.1, wd=0.01: p did not change; shrink it in "
        "place (p.mul_(...)), a new tensor (p = p * ...) is not seen by the caller"
    ), decay
    unknown = messages(graded, "test_build_vocab_names_unknown_validation_labels")
    assert len(unknown) == 4, unknown
    assert unknown[0] == (
        "AssertionError: build_vocab on one unknown wnid (valid ['n01440764', 'n99999999', 'n02102040']): "
        "expected a ValueError naming 'n99999999', got KeyError: 'n99999999'"
    ), unknown[0]
    [lsuv, *_] = messages(graded, "test_lsuv_rescale_one_step_against_lsuv_init")
    assert lsuv.startswith(
        "AssertionError: lsuv_rescale on nn.Linear(20, 30) on a 64x20 batch with mean 3 and std 5, one step: "
        "the new weight: 600 of 600 values differ. Largest difference"
    ), lsuv
    debias_msgs = messages(graded, "test_debias_factor_adam")
    assert len(debias_msgs) == 1 and re.match(
        r"AssertionError: debias_factor\(0\.\d+, \d+\): expected \S+, got \S+ \(difference \S+, tolerance \S+\); "
        r"the largest miss, \d+ of 710 \(mom, step\) pairs are off$", debias_msgs[0]
    ), debias_msgs
    [split, *_] = messages(graded, "test_grandparent_split_against_the_library")
    assert re.match(
        r"AssertionError: grandparent_split: you used foundations\.data\.grandparent_splitter \(in grandparent_split, "
        r"line \d+\), which this exercise asks you to write yourself \(with pathlib, sorted and a dict\)$", split
    ), split


def test_lesson12_text_wrong_answers_say_why(graded: tuple[str, dict[str, tuple[str, str]]]) -> None:
    [lstm, *_] = messages(graded, "test_lstm_cell_values_and_gradients_against_nn_lstmcell")
    assert lstm.startswith(
        "AssertionError: lstm_cell on bs 3, ni 5, nh 4: the new cell state c' (gates i, f, g, o in that order): "
        "12 of 12 values differ. Largest difference"
    ), lstm
    tar = messages(graded, "test_temporal_activation_reg_against_the_formula")
    assert len(tar) == 1 and re.match(
        r"AssertionError: temporal_activation_reg on one row: bs 1, sl 5, nh 3, beta 2 \(raw_out 1x5x3, time is axis 1\): "
        r"expected \S+, got 0 \(difference", tar[0]
    ), tar
    assert messages(graded, "test_temporal_activation_reg_is_zero_for_one_step") == [
        "AssertionError: temporal_activation_reg on a sequence of one step, raw_out 3x1x4 (no difference: 0, not NaN): "
        "got NaN at index () where 0 was expected"
    ]
    [pool, *_] = messages(graded, "test_masked_pool_parts_against_the_library")
    assert re.match(
        r"AssertionError: masked_pool on 2 texts of 5 and 3 tokens, padding outputs 0, real outputs negative "
        r"\(lengths \[5, 3\]\): the max \(over the real tokens only\), columns 4 to 7: \d+ of 8 values differ\. "
        r"Largest difference \S+ at index \(\d, \d\): expected -\S+, got 0 ", pool
    ), pool
    assert messages(graded, "test_masked_pool_a_padded_text_pools_as_if_alone"), "the padded text pooled alone passed"
    [emb, *_] = messages(graded, "test_embedding_dropout_drops_whole_words_with_replayed_draws")
    assert re.match(
        r"AssertionError: embedding_dropout on V 10, emb 4, words 2x6 with repeats, p 0\.5: word \d+ is (kept|dropped) "
        r"at \(\d, \d\) but (kept|dropped) at \(\d, \d\): a dropped word is absent everywhere in the batch", emb
    ), emb
    [lm, *_] = messages(graded, "test_lm_batches_against_lm_data_loader")
    assert lm.startswith(
        "AssertionError: lm_batches on 100 tokens, bs=4, bptt=5 (m = 25 tokens per row, so (m - 1) // bptt = 4 batches): "
        "batch 0, x: 19 of 20 tokens differ; at row 0, column 1 expected"
    ), lm
    [vocab, *_] = messages(graded, "test_build_text_vocab_against_vocab_build")
    assert vocab.startswith(
        "AssertionError: build_text_vocab on ties in alphabetical order, min_freq 1 ([['b', 'a', 'c', 'b'], "
        "['a', 'c', 'd', 'e']], max_size=60000, min_freq=1): first difference at index 8: expected 'a', got 'b'"
    ), vocab
    [rnn, *_] = messages(graded, "test_dropconnect_rnn_against_replayed_mask_and_nn_rnn")
    assert rnn.startswith(
        "AssertionError: dropconnect_rnn on bs 3, sl 5, ni 4, nh 6, p 0.5: the outputs out (bs, sl, nh): expected a "
        "float64 tensor, got float32. A float32 result usually comes from a new tensor made without dtype="
    ), rnn


def test_lesson13_wrong_answers_say_why(graded: tuple[str, dict[str, tuple[str, str]]]) -> None:
    adler = messages(graded, "test_zlib_adler32_against_pythons_zlib")
    assert adler and all("(is restype ctypes.c_ulong, and are the arguments declared in argtypes?)" in m for m in adler), adler
    [shard, *_] = messages(graded, "test_shard_indices_against_pytorchs_sampler")
    assert re.match(r"AssertionError: shard_indices with 7 items, rank 2 of 3 \(padded\), seed 5: expected 3 indices "
                    r"\(every rank as many\), got 2", shard), shard


def test_an_unclamped_combine_scheds_passes_every_case(graded: tuple[str, dict[str, tuple[str, str]]]) -> None:
    cases = {n: o for n, (o, _) in graded[1].items() if n.startswith("test_combine_scheds")}
    assert len(cases) >= 15 and set(cases.values()) == {"passed"}, cases


# ---- the rules themselves, in process ------------------------------------------------------------------


def test_every_name_a_rule_lists_exists_in_this_torch() -> None:
    """A misspelt name would swap nothing out and check nothing: each one must resolve here."""
    import importlib

    from exercises._rules import Forbidden, resolve

    missing, graders = [], 0
    for grader in sorted((Path(__file__).resolve().parent.parent / "exercises").glob("test_lesson*.py")):
        module = importlib.import_module(f"exercises.{grader.stem}")
        rules = {name: r for name, r in vars(module).items() if isinstance(r, Forbidden)}
        graders += bool(rules)
        missing += [f"{grader.name}: {name}: {p}" for name, r in rules.items() for p in r.paths() if resolve(p) is None]
    n = len(list((Path(__file__).resolve().parent.parent / "exercises").glob("test_lesson*.py")))
    assert graders == n, f"expected rules in all {n} graders, found them in {graders}"
    assert not missing, missing


def test_a_forbidden_call_fails_even_when_caught_and_everything_is_put_back() -> None:
    import sys
    import types

    import torch
    import torch.nn.functional as F

    from exercises._rules import Forbidden, attempt_without

    fake = types.ModuleType("fake_learner")
    fake.__file__ = "<fake_learner>"
    exec(compile(  # noqa: S102
        "import torch\nfrom torch.nn.functional import group_norm\n"
        "def sneaky(x):\n    try:\n        return group_norm(x, 2)\n    except Exception:\n        return x\n"
        "def fair(x):\n    return (x @ x.T).var()\n",
        fake.__file__, "exec"), fake.__dict__)
    sys.modules[fake.__name__] = fake
    originals = (F.group_norm, torch.Tensor.__dict__.get("var"), fake.group_norm)
    try:
        rules = Forbidden(("torch.nn.functional.group_norm", "torch.Tensor.var"), "this exercise asks you to write yourself")
        with pytest.raises(AssertionError, match=r"^sneaky: you used F\.group_norm \(in sneaky, line 5\), which this"):
            attempt_without(rules, fake.sneaky, torch.randn(2, 4, 3))
        with pytest.raises(AssertionError, match=r"^fair: you used the method \.var\(\) \(in fair, line 9\)"):
            attempt_without(rules, fake.fair, torch.randn(3, 3))
        assert attempt_without(Forbidden(("torch.nn.functional.group_norm",), "x"), fake.fair, torch.ones(2, 2)).item() == 0
    finally:
        del sys.modules[fake.__name__]
    assert (F.group_norm, torch.Tensor.__dict__.get("var"), fake.group_norm) == originals
    assert torch.ones(2, 2).var().item() == 0 and (torch.ones(1, 2) @ torch.ones(2, 1)).item() == 2
