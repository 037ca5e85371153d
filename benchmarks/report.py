"""The suite's rows, and how they are reported: one table, a JSON file and a CSV file.

Every row of ``python -m benchmarks`` is a ratio measured side by side in one run: our version
("ours") and a reference timed in turn within every repeat, so that whatever else the machine does
slows both alike. The ratio is **reference time / our time**: above 1 ours is faster, below 1 it is
slower (``0.97`` means ours takes about 3 % longer). Its median is over the repeats; the spread of
each side is its interquartile range divided by its median (:func:`benchmarks.common.spread`).

A row whose time was measured on a slice of the work and scaled up (the matmul loops at 50,000 rows
would take hours) is **extrapolated**: the table marks its time with ``~`` and its name with ``*``.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import math
import os
import platform
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.common import spread
from foundations.bench import format_seconds

__all__ = [
    "FIELDS", "Row", "format_build_times", "format_ratio", "format_table", "machine", "read_build_times",
    "row_from_times", "to_csv", "to_json", "write_files",
]

WIDTH = 78
"""The widest line the table prints (the book's column holds 78 characters of code output)."""


@dataclass(frozen=True)
class Row:
    """One benchmark: medians in seconds per call, ``ratio`` = reference time / our time.

    ``ratio_min``/``ratio_max``: the smallest and largest per-repeat ratio where the two sides were
    timed back to back in each repeat (NaN where the benchmark reports only medians); ``ours_spread``
    and ``ref_spread``: interquartile range / median of each side. ``target``: the ratio the issue asks
    for (``ratio >= target``), ``None`` for none; ``target_label`` says it as the issue does.
    ``extrapolated``: which side was timed on a slice and scaled (``""``, ``"ours"``, ``"reference"``,
    ``"both"``); ``note``: anything the row needs said (what each side includes, the slice).
    """

    group: str
    name: str
    ours: str
    reference: str
    ours_s: float
    ref_s: float
    ratio: float
    ours_spread: float
    ref_spread: float
    repeats: int
    ratio_min: float = math.nan
    ratio_max: float = math.nan
    target: float | None = None
    target_label: str = ""
    extrapolated: str = ""
    note: str = ""

    @property
    def met(self) -> bool | None:
        """Whether the ratio reaches the target; ``None`` where there is no target."""
        return None if self.target is None else self.ratio >= self.target

    def record(self) -> dict[str, Any]:
        """The row as a flat dict (the JSON object and the CSV line), ``met`` included."""
        return {**dataclasses.asdict(self), "met": self.met}


FIELDS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(Row)) + ("met",)
"""The columns of the CSV file and the keys of each row in the JSON file (machine columns follow in the CSV)."""


def row_from_times(
    group: str, name: str, times: Mapping[str, Sequence[float]], ours: str, reference: str, *,
    scale: Mapping[str, float] | None = None, target: float | None = None, target_label: str = "", note: str = "",
) -> Row:
    """A :class:`Row` from the per-repeat times of a race (``times[ours][i]`` and ``times[reference][i]``
    measured back to back in repeat ``i``).

    ``scale`` multiplies a side's times (seconds on a slice of the rows -> seconds on all of them);
    a side scaled by anything but 1 makes the row extrapolated. The ratio is the median of the
    per-repeat ratios; its min and max are kept.
    """
    scale = dict(scale or {})
    a = [t * scale.get(ours, 1.0) for t in times[ours]]
    b = [t * scale.get(reference, 1.0) for t in times[reference]]
    if len(a) != len(b) or len(a) < 2:
        raise ValueError(f"row_from_times: expected two equal series of at least 2 repeats, got {len(a)} and {len(b)}")
    ratios = [tb / ta for ta, tb in zip(a, b)]
    sides = [k for k, who in ((ours, "ours"), (reference, "reference")) if scale.get(k, 1.0) != 1.0]
    extrapolated = "both" if len(sides) == 2 else ("" if not sides else ("ours" if sides[0] == ours else "reference"))
    return Row(group, name, ours, reference, statistics.median(a), statistics.median(b), statistics.median(ratios),
               spread(a), spread(b), len(a), min(ratios), max(ratios), target, target_label, extrapolated, note)


# ---- the machine ------------------------------------------------------------------------------


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def machine(threads: int | None = None) -> dict[str, Any]:
    """What the numbers belong to: CPU model, cores, torch threads and version, Python, OS, load.

    ``torch_threads``: ``threads``, the number the suite times with, or torch's current setting;
    ``torch_threads_default``: torch's current setting (one per core unless changed).
    """
    import torch

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else math.nan
    return {
        "cpu_model": _cpu_model(),
        "cpus": os.cpu_count() or 0,
        "torch_threads": threads or torch.get_num_threads(),
        "torch_threads_default": torch.get_num_threads(),
        "torch": torch.__version__,
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "python": platform.python_version(),
        "os": f"{platform.system()} {platform.release()}",
        "load_1min": round(load, 2),
    }


def describe_machine(m: Mapping[str, Any]) -> str:
    """The machine in two lines of at most :data:`WIDTH` characters."""
    return (f"{m['cpu_model']}, {m['cpus']} CPUs, load {m['load_1min']}\n"
            f"torch {m['torch']} ({m['cpu_capability']}) timed on {m['torch_threads']} thread(s) "
            f"(default {m['torch_threads_default']}), Python {m['python']}")


# ---- the table --------------------------------------------------------------------------------


def format_ratio(r: float) -> str:
    """``0.973x``, ``12.4x``, ``1,234x``: three significant figures, thousands separated."""
    if not math.isfinite(r):
        return "-"
    if r >= 100:
        return f"{r:,.0f}x"
    return f"{r:.3g}x" if r >= 1 else f"{r:.3f}x"


def _time(seconds: float, extrapolated: bool) -> str:
    return ("~" if extrapolated else "") + format_seconds(seconds).replace(" ", "")


def _pct(x: float) -> str:
    return "-" if not math.isfinite(x) else f"{100 * x:.0f}"


COLUMNS = (("benchmark", 27, "<"), ("ours", 9, ">"), ("reference", 9, ">"), ("ratio", 8, ">"),
           ("spread %", 8, ">"), ("target", 7, ">"), ("met", 4, ">"))


def _line(cells: Sequence[str]) -> str:
    return " ".join(f"{c:{align}{w}}" for c, (_, w, align) in zip(cells, COLUMNS)).rstrip()


def format_table(rows: Sequence[Row], groups: Mapping[str, str] | None = None) -> str:
    """The rows as one plain-text table, a heading line per group (``groups[name]`` describes it).

    Columns: our median time, the reference's, the ratio (reference / ours), the spread of each side
    (interquartile range over median, in %, ours/reference), the target and whether it is met.
    """
    groups = groups or {}
    out = [_line([name for name, _, _ in COLUMNS]), "-" * WIDTH]
    for group in dict.fromkeys(r.group for r in rows):
        out.append(f"[{group}] {groups.get(group, '')}".rstrip()[:WIDTH])
        for r in (r for r in rows if r.group == group):
            name = r.name + ("*" if r.extrapolated else "")
            met = {None: "", True: "yes", False: "NO"}[r.met]
            out.append(_line([
                name[:27], _time(r.ours_s, r.extrapolated in ("ours", "both")),
                _time(r.ref_s, r.extrapolated in ("reference", "both")), format_ratio(r.ratio),
                f"{_pct(r.ours_spread)}/{_pct(r.ref_spread)}", r.target_label, met,
            ]))
    out.append("-" * WIDTH)
    out.append("ratio = reference time / our time (above 1: ours faster), median of repeats;")
    out.append("spread % = interquartile range / median of our / the reference's times.")
    if any(r.extrapolated for r in rows):
        out.append("* extrapolated: a ~ time was measured on a slice of the rows, scaled per row.")
    return "\n".join(out)


def notes(rows: Iterable[Row]) -> str:
    """Each row's note, as ``[group] name: note`` lines wrapped to :data:`WIDTH`."""
    import textwrap

    lines = []
    for r in rows:
        if r.note:
            lines += textwrap.wrap(f"[{r.group}] {r.name}: {r.note}", WIDTH, subsequent_indent="    ")
    return "\n".join(lines)


# ---- the files --------------------------------------------------------------------------------


def to_json(rows: Sequence[Row], mach: Mapping[str, Any], settings: Mapping[str, Any],
            build_times: Mapping[str, Any] | None = None) -> str:
    """The JSON record: ``{"machine", "settings", "rows": [Row.record(), ...], "build_times"}``.

    NaN (a ratio range a benchmark does not report) is written as ``null``.
    """
    def clean(v: Any) -> Any:
        return None if isinstance(v, float) and not math.isfinite(v) else v

    data = {"machine": dict(mach), "settings": dict(settings),
            "rows": [{k: clean(v) for k, v in r.record().items()} for r in rows], "build_times": build_times}
    return json.dumps(data, indent=2, ensure_ascii=False)


def to_csv(rows: Sequence[Row], mach: Mapping[str, Any]) -> str:
    """One line per row with :data:`FIELDS`, then the machine's description in columns ``machine_*``."""
    buf = io.StringIO()
    mkeys = [f"machine_{k}" for k in mach]
    w = csv.DictWriter(buf, fieldnames=[*FIELDS, *mkeys], lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({**r.record(), **{f"machine_{k}": v for k, v in mach.items()}})
    return buf.getvalue()


def write_files(folder: Path, rows: Sequence[Row], mach: Mapping[str, Any], settings: Mapping[str, Any],
                build_times: Mapping[str, Any] | None = None) -> tuple[Path, Path]:
    """Write ``benchmarks.json`` and ``benchmarks.csv`` into ``folder``; returns their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    js, cs = folder / "benchmarks.json", folder / "benchmarks.csv"
    js.write_text(to_json(rows, mach, settings, build_times))
    cs.write_text(to_csv(rows, mach))
    return js, cs


# ---- the build's own report -------------------------------------------------------------------


def read_build_times(path: Path) -> dict[str, Any] | None:
    """The per-page execution times the book's last build wrote (``book/_ext/build_times.py``), or None."""
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def format_build_times(data: Mapping[str, Any], top: int = 10) -> str:
    """The build's execution times as text: one line per lesson (total, budget), then the slowest pages."""
    out = [f"Execution time per page in the build of {data.get('finished', '?')}",
           f"({len(data.get('pages', []))} pages executed, {data.get('jobs', '?')} at a time; "
           "budgets from the lessons' issues):",
           f"{'lesson':<12} {'pages':>5} {'total':>9} {'budget':>9} {'within':>6}  budget from"]
    for g in data.get("lessons", []):
        budget = "-" if g.get("budget_s") is None else f"{g['budget_s']:.0f} s"
        within = {None: "", True: "yes", False: "NO"}[g.get("within")]
        issue = "" if g.get("issue") is None else f"issue {g['issue']}"
        out.append(f"{g['lesson']:<12} {g['pages']:>5} {g['total_s']:>7.1f} s {budget:>9} {within:>6}  {issue}".rstrip())
    out.append(f"slowest pages (of {len(data.get('pages', []))}):")
    for p in data.get("pages", [])[:top]:
        out.append(f"  {p['docname']:<34} {p['lesson'] or p['kind']:<12} {p['runtime_s']:>7.1f} s"[:WIDTH])
    return "\n".join(out)
