"""Lesson 12's text benchmark: tokenising on one and two processes, and an LSTM layer three ways.

``make bench`` (or ``python -m benchmarks.text [--json FILE] [--repeats N] [--threads N]``). Not a
test: timings belong to the machine that measures them. Derived in Lesson 12, "Text for a model"
(lessons/12_text) and "AWD-LSTM" (lessons/12_awd_lstm). Rows:

- :func:`foundations.text.tokens.tokenize_texts` on 2,000 real IMDB reviews
  (``read_imdb("unsup", n=2000, seed=0)``), ``n_workers=1`` against ``n_workers=2``, in texts per
  second; each call starts its own worker processes, so their start-up is in the time (the same
  token lists from both, checked);
- at the course's shape (batch 64, sequence 70, 300 inputs, 300 hidden), forward only (under
  ``torch.no_grad``) and forward + backward: :class:`foundations.text.awd_lstm.LSTMLayer` (a Python
  loop over the time steps) and the same layer with its cell compiled by ``torch.compile``, each
  against ``torch.nn.LSTM`` with the same weights (the same outputs, checked).

Each ratio is measured within one run, the contenders timed in turn within every repeat, median
over repeats, with the spread (interquartile range over median) of each side. The compiled cell's
first call in each mode (compilation included) is reported apart from its steady-state time; the
compiler writes to a fresh temporary cache, so that time is a first compile's, not a cache hit's.
If ``torch.compile`` fails on the machine, the reason is printed on one line and the other two
are still reported.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from foundations.text.awd_lstm import LSTMLayer
from foundations.text.corpus import read_imdb
from foundations.text.tokens import tokenize_texts

from benchmarks.common import fresh_inductor_cache, spread

__all__ = ["SHAPE", "bench_lstm", "bench_tokenize", "main", "run"]

SHAPE = (64, 70, 300, 300)
"""The course's LSTM shape: batch size, sequence length, inputs, hidden units."""

Row = dict[str, float | str]
Step = Callable[[], None]


def _row(name: str, times: dict[str, list[float]], base: str, other: str) -> Row:
    return {"row": name, "baseline": base, "ours": other,
            "baseline_s": statistics.median(times[base]), "ours_s": statistics.median(times[other]),
            "speedup": statistics.median(tb / to for tb, to in zip(times[base], times[other])),
            "spread_baseline": spread(times[base]), "spread_ours": spread(times[other])}


def _race(steps: dict[str, Step], repeats: int) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {k: [] for k in steps}
    for _ in range(repeats):
        for k, s in steps.items():
            t0 = time.perf_counter()
            s()
            times[k].append(time.perf_counter() - t0)
    return times


def bench_tokenize(n: int = 2000, repeats: int = 7) -> Row:
    """``tokenize_texts`` on ``n`` IMDB ``unsup`` reviews, 1 process against 2 (start-up included)."""
    texts, _ = read_imdb("unsup", n=n, seed=0)
    one = lambda: tokenize_texts(texts, n_workers=1, progress=False)  # noqa: E731
    two = lambda: tokenize_texts(texts, n_workers=2, progress=False)  # noqa: E731
    assert one() == two(), "tokenize_texts: 1 and 2 workers disagree"
    times = _race({"n_workers=1": one, "n_workers=2": two}, repeats)
    r = _row(f"tokenize_texts, {n:,} IMDB reviews: 2 processes vs 1 (start-up included)",
             times, "n_workers=1", "n_workers=2")
    r["texts"] = n
    r["baseline_texts_per_s"], r["ours_texts_per_s"] = n / r["baseline_s"], n / r["ours_s"]
    return r


def _models() -> tuple[nn.LSTM, LSTMLayer, LSTMLayer]:
    _, _, ni, nh = SHAPE
    torch.manual_seed(0)
    ref = nn.LSTM(ni, nh, batch_first=True)
    ours = LSTMLayer(ni, nh)
    with torch.no_grad():
        for a, b in (("weight_ih", "weight_ih_l0"), ("weight_hh", "weight_hh_l0"),
                     ("bias_ih", "bias_ih_l0"), ("bias_hh", "bias_hh_l0")):
            getattr(ours.cell, a).copy_(getattr(ref, b))
    comp = LSTMLayer(ni, nh)
    comp.load_state_dict(ours.state_dict())
    comp.cell = torch.compile(comp.cell, dynamic=False)  # type: ignore[assignment]
    return ref, ours, comp


def bench_lstm(repeats: int = 7) -> tuple[list[Row], dict[str, float | str]]:
    """Forward, and forward + backward, of ``LSTMLayer``, its compiled cell and ``nn.LSTM`` at :data:`SHAPE`.

    Returns the rows (each against ``nn.LSTM``) and ``{"fwd_first_call_s", "fwd_bwd_first_call_s"}``
    (the compiled layer's first call in each mode, compilation included) or ``{"compile_error"}``.
    """
    bs, sl, ni, nh = SHAPE
    ref, ours, comp = _models()
    g = torch.Generator().manual_seed(0)
    x = torch.randn(bs, sl, ni, generator=g)
    h0, c0 = torch.zeros(bs, nh), torch.zeros(bs, nh)
    fwd: dict[str, Step] = {"nn.LSTM": lambda: ref(x, (h0[None], c0[None])), "LSTMLayer": lambda: ours(x, (h0, c0))}
    xg = x.clone().requires_grad_()

    def fb(model: nn.Module, call: Callable[[], torch.Tensor]) -> Step:
        def step() -> None:
            call().sum().backward()
            model.zero_grad(set_to_none=True)
            xg.grad = None
        return step

    fwd_bwd: dict[str, Step] = {"nn.LSTM": fb(ref, lambda: ref(xg, (h0[None], c0[None]))[0]),
                                "LSTMLayer": fb(ours, lambda: ours(xg, (h0, c0))[0])}
    info: dict[str, float | str] = {}
    with torch.no_grad():
        want = ref(x, (h0[None], c0[None]))[0]
        assert torch.allclose(ours(x, (h0, c0))[0], want, atol=1e-5), "LSTMLayer and nn.LSTM disagree"
    with fresh_inductor_cache("bench_text_inductor_"):  # a first compile, not a cache hit
        try:
            with torch.no_grad():
                t0 = time.perf_counter()
                got = comp(x, (h0, c0))[0]
                info["fwd_first_call_s"] = time.perf_counter() - t0
            assert torch.allclose(got, want, atol=1e-5), "compiled LSTMLayer and nn.LSTM disagree"
            fwd["compiled"] = lambda: comp(x, (h0, c0))
            t0 = time.perf_counter()
            fb(comp, lambda: comp(xg, (h0, c0))[0])()
            info["fwd_bwd_first_call_s"] = time.perf_counter() - t0
            fwd_bwd["compiled"] = fb(comp, lambda: comp(xg, (h0, c0))[0])
        except Exception as e:  # noqa: BLE001 -- any compiler failure: report it, time the other two
            info["compile_error"] = f"{type(e).__name__}: {(str(e).strip().splitlines() or [''])[0][:160]}"
        with torch.no_grad():
            for s in fwd.values():  # warm up
                s()
            t_fwd = _race(fwd, repeats)
        for s in fwd_bwd.values():
            s()
        t_fb = _race(fwd_bwd, repeats)
    rows = []
    for mode, times in (("forward", t_fwd), ("forward+backward", t_fb)):
        for k, label in (("LSTMLayer", "LSTMLayer (Python loop)"), ("compiled", "LSTMLayer, cell compiled")):
            if k in times:
                rows.append(_row(f"LSTM {mode}: {label} vs nn.LSTM", times, "nn.LSTM", k))
    return rows, info


def run(repeats: int = 7) -> tuple[list[Row], dict[str, float | str]]:
    rows = [bench_tokenize(repeats=repeats)]
    lstm_rows, info = bench_lstm(repeats)
    return rows + lstm_rows, info


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.text", description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, default=Path("_build/bench/text.json"))
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    if args.repeats < 3:
        parser.error(f"expected --repeats >= 3 (for a median and a spread), got {args.repeats}")
    torch.set_num_threads(args.threads)
    t0, load0 = time.perf_counter(), os.getloadavg()[0]
    rows, info = run(args.repeats)
    load1 = os.getloadavg()[0]
    bs, sl, ni, nh = SHAPE
    print(f"torch threads: {torch.get_num_threads()} (tokenising: 1 or 2 processes); "
          f"LSTM shape: batch {bs} x sequence {sl} x {ni} in, {nh} hidden; {args.repeats} repeats")
    print(f"load average (1 min) before / after: {load0:.1f} / {load1:.1f} on {os.cpu_count()} CPUs "
          "(above the CPU count, other work shares the machine and the spreads grow)")
    print(f"{'benchmark':<74} {'baseline':>10} {'ours':>10} {'speed-up':>9}  spread base / ours")
    for r in rows:
        print(f"{r['row']:<74} {1e3 * r['baseline_s']:>8.1f}ms {1e3 * r['ours_s']:>8.1f}ms {r['speedup']:>8.2f}x"
              f"  {100 * r['spread_baseline']:.0f} % / {100 * r['spread_ours']:.0f} %")
    tok = rows[0]
    print(f"tokenising: {tok['baseline_texts_per_s']:,.0f} texts/s on 1 process, "
          f"{tok['ours_texts_per_s']:,.0f} texts/s on 2 (process start-up included)")
    if "compile_error" in info:
        print(f"torch.compile failed, its rows left out from there on: {info['compile_error']}")
    else:
        print(f"torch.compile of the cell, first call (compile included, fresh cache): "
              f"forward {info['fwd_first_call_s']:.1f} s, forward+backward {info['fwd_bwd_first_call_s']:.1f} s")
    info["threads"], info["shape"] = torch.get_num_threads(), "bs 64 x sl 70 x 300 in, 300 hidden"
    info["repeats"], info["wall_s"] = args.repeats, time.perf_counter() - t0
    info["load_before"], info["load_after"], info["cpus"] = load0, load1, os.cpu_count() or 0
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"rows": rows, "info": info}, indent=2))
    print(f"written: {args.json} ({info['wall_s']:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
