"""``python -m benchmarks``: the whole benchmark suite, one table, a JSON and a CSV file.

``make bench`` runs it. Not a test: timings belong to the machine that measures them. Every row is a
ratio, reference time / our time, measured side by side in one run (the two sides take turns within
every repeat), median over the repeats with each side's spread; see :mod:`benchmarks.suite` for the
groups and :mod:`benchmarks.report` for the columns. When the book's last build left its per-page
execution times (``_build/bench/build_times.json``, written by ``book/_ext/build_times.py``), they
follow the table.

    python -m benchmarks [--quick] [--only GROUP[,GROUP...]] [--repeats N] [--threads N] [--out DIR]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from benchmarks.report import describe_machine, format_build_times, format_table, machine, notes, read_build_times, write_files
from benchmarks.suite import DEFAULT_THREADS, GROUPS, run_suite, select_groups

ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats and smaller inputs (about a minute)")
    parser.add_argument("--only", action="append", metavar="GROUP",
                        help=f"run only these groups (repeat it or separate by commas): {', '.join(GROUPS)}")
    parser.add_argument("--repeats", type=int, default=None, help="timed repeats per row (default 3 quick, 5 full)")
    parser.add_argument("--threads", type=int, default=DEFAULT_THREADS,
                        help=f"torch threads while timing (default {DEFAULT_THREADS}: steadier on a shared machine)")
    parser.add_argument("--out", type=Path, default=ROOT / "_build" / "bench", help="where the JSON and CSV go")
    args = parser.parse_args(argv)
    try:
        groups = select_groups(args.only)
    except ValueError as e:
        parser.error(str(e))
    if args.repeats is not None and args.repeats < 2:
        parser.error(f"expected --repeats >= 2 (for a median and a spread), got {args.repeats}")
    if args.threads < 1:
        parser.error(f"expected --threads >= 1, got {args.threads}")
    mach = machine(args.threads)
    print(describe_machine(mach), flush=True)
    t0 = time.perf_counter()
    rows = run_suite(args.quick, groups, args.repeats, args.threads,
                     progress=lambda g: print(f"  running {g} ({time.perf_counter() - t0:.0f} s)", file=sys.stderr, flush=True))
    wall = time.perf_counter() - t0
    print(format_table(rows, {k: v[0] for k, v in GROUPS.items()}))
    print(notes(rows))
    build = read_build_times(ROOT / "_build" / "bench" / "build_times.json")
    if build is not None:
        print()
        print(format_build_times(build))
    settings = {"quick": args.quick, "groups": groups, "repeats": args.repeats or (3 if args.quick else 5),
                "wall_s": round(wall, 1)}
    js, cs = write_files(args.out, rows, mach, settings, build)
    print(f"{'quick' if args.quick else 'full'} suite: {wall:.0f} s; written: {js}, {cs}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
