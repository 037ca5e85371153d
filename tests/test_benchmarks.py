"""The benchmark suite's bookkeeping, on fake runs: no timing is asserted (speed claims are never tests).

``python -m benchmarks`` (``make bench``) measures; these check what it does with the measurements:
the ratio and spread arithmetic, the extrapolation marking, the table and the JSON/CSV files, the
``--only`` validation, and the table logic of ``book/_ext/build_times.py`` (sorting, lessons, budgets).
"""

from __future__ import annotations

import csv
import io
import json
import math
import statistics
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "book" / "_ext"))

import build_times  # noqa: E402

from benchmarks import __main__ as cli  # noqa: E402
from benchmarks.common import spread  # noqa: E402
from benchmarks.report import (  # noqa: E402
    FIELDS, WIDTH, Row, format_build_times, format_ratio, format_table, row_from_times, to_csv, to_json, write_files,
)
from benchmarks.suite import GROUPS, race, select_groups  # noqa: E402

MACHINE = {"cpu_model": "Fake CPU @ 1 GHz", "cpus": 2, "torch_threads": 1, "torch_threads_default": 2,
           "torch": "2.13.0", "cpu_capability": "AVX512", "python": "3.11.7", "os": "Linux 6", "load_1min": 0.5}


def fake_rows() -> list[Row]:
    times = {"ours": [1.0, 2.0, 4.0], "ref": [3.0, 4.0, 4.0], "loops": [0.5, 0.5, 0.5]}
    return [
        row_from_times("learner", "Learner, no callbacks", times, "ours", "ref", target=1 / 1.03, target_label="ovh<=3%"),
        row_from_times("matmul", "50,000 rows: elementwise", times, "ours", "loops", scale={"loops": 1000.0},
                       note="loops timed on 2 rows"),
        row_from_times("matmul", "5 rows: torch", times, "ref", "ours"),
    ]


# ---- ratio, spread, extrapolation --------------------------------------------------------------


def test_ratio_is_the_median_of_the_per_repeat_ratios_reference_over_ours() -> None:
    r = row_from_times("g", "n", {"a": [1.0, 2.0, 4.0], "b": [3.0, 4.0, 4.0]}, "a", "b")
    assert r.ratio == pytest.approx(2.0)  # per repeat 3, 2, 1
    assert (r.ratio_min, r.ratio_max) == (pytest.approx(1.0), pytest.approx(3.0))
    assert (r.ours_s, r.ref_s) == (2.0, 4.0)  # medians of each side
    assert r.repeats == 3


def test_spread_is_the_interquartile_range_over_the_median() -> None:
    xs = [1.0, 2.0, 3.0, 4.0, 5.0]
    q1, _, q3 = statistics.quantiles(xs, n=4)
    assert spread(xs) == pytest.approx((q3 - q1) / 3.0)
    assert spread([2.0, 2.0, 2.0]) == 0.0
    r = row_from_times("g", "n", {"a": xs, "b": [2.0] * 5}, "a", "b")
    assert (r.ours_spread, r.ref_spread) == (pytest.approx(spread(xs)), 0.0)


def test_a_scaled_side_makes_the_row_extrapolated_and_scales_its_times() -> None:
    times = {"a": [1.0, 1.0], "b": [2.0, 2.0]}
    assert row_from_times("g", "n", times, "a", "b").extrapolated == ""
    r = row_from_times("g", "n", times, "a", "b", scale={"b": 10.0})
    assert (r.extrapolated, r.ref_s, r.ratio) == ("reference", 20.0, 20.0)
    assert row_from_times("g", "n", times, "a", "b", scale={"a": 2.0}).extrapolated == "ours"
    assert row_from_times("g", "n", times, "a", "b", scale={"a": 2.0, "b": 3.0}).extrapolated == "both"
    assert row_from_times("g", "n", times, "a", "b", scale={"a": 1.0}).extrapolated == ""


def test_unequal_or_single_repeats_are_refused() -> None:
    with pytest.raises(ValueError, match="two equal series"):
        row_from_times("g", "n", {"a": [1.0, 2.0], "b": [1.0]}, "a", "b")
    with pytest.raises(ValueError, match="two equal series"):
        row_from_times("g", "n", {"a": [1.0], "b": [1.0]}, "a", "b")


def test_target_met_and_unmet() -> None:
    rows = fake_rows()
    assert rows[0].met is True  # ratio 2 >= 1/1.03
    assert rows[2].met is None  # no target
    slow = row_from_times("g", "n", {"a": [1.1, 1.1], "b": [1.0, 1.0]}, "a", "b", target=1 / 1.03)
    assert slow.met is False  # 10 % overhead


def test_race_interleaves_and_returns_one_time_per_repeat() -> None:
    calls: list[str] = []
    times = race({"a": lambda: calls.append("a"), "b": lambda: calls.append("b")}, repeats=3, min_time=0.0)
    assert {k: len(v) for k, v in times.items()} == {"a": 3, "b": 3}
    assert all(t >= 0 for v in times.values() for t in v)
    timed = calls[-6:]  # after the warm-up and calibration calls, the repeats take turns
    assert timed == ["a", "b"] * 3
    with pytest.raises(ValueError, match="repeats >= 2"):
        race({"a": lambda: None}, repeats=1)


# ---- the table and the files -------------------------------------------------------------------


def test_format_ratio() -> None:
    assert format_ratio(0.9734) == "0.973x"
    assert format_ratio(2.5) == "2.5x"
    assert format_ratio(12.44) == "12.4x"
    assert format_ratio(123456.0) == "123,456x"
    assert format_ratio(math.nan) == "-"


def test_table_has_the_columns_a_heading_per_group_and_fits_the_column() -> None:
    rows = fake_rows()
    text = format_table(rows, {"matmul": "the ladder", "learner": "our Learner"})
    lines = text.splitlines()
    assert lines[0].split() == ["benchmark", "ours", "reference", "ratio", "spread", "%", "target", "met"]
    assert "[learner] our Learner" in lines and "[matmul] the ladder" in lines
    assert lines.index("[learner] our Learner") < lines.index("[matmul] the ladder")  # groups in run order
    assert all(len(line) <= WIDTH for line in lines)
    learner = next(line for line in lines if line.startswith("Learner, no callbacks"))
    assert learner.split()[-2:] == ["ovh<=3%", "yes"]
    assert "2x" in learner.split()


def test_extrapolated_rows_are_marked_in_the_table() -> None:
    text = format_table(fake_rows())
    line = next(line for line in text.splitlines() if line.startswith("50,000 rows: elementwise"))
    assert line.startswith("50,000 rows: elementwise*")
    cells = line.split()
    assert cells[3] == "2s" and cells[4] == "~8.33min"  # ours as measured, the loops scaled (0.5 s x 1000)
    assert cells[5] == "250x"  # median of 500/1, 500/2, 500/4
    assert "* extrapolated" in text
    plain = format_table([fake_rows()[0]])
    assert "extrapolated" not in plain and "*" not in plain


def test_json_has_the_machine_settings_and_every_row() -> None:
    rows = fake_rows()
    data = json.loads(to_json(rows, MACHINE, {"quick": True}, {"pages": []}))
    assert data["machine"] == MACHINE and data["settings"] == {"quick": True}
    assert data["build_times"] == {"pages": []}
    assert [r["name"] for r in data["rows"]] == [r.name for r in rows]
    assert all(set(r) == set(FIELDS) for r in data["rows"])
    assert data["rows"][1]["extrapolated"] == "reference" and data["rows"][0]["met"] is True
    nan_row = Row("g", "n", "a", "b", 1.0, 1.0, 1.0, 0.0, 0.0, 3)  # a benchmark that reports no ratio range
    assert json.loads(to_json([nan_row], MACHINE, {}))["rows"][0]["ratio_min"] is None


def test_csv_has_the_fields_then_the_machine_on_every_line(tmp_path: Path) -> None:
    rows = fake_rows()
    js, cs = write_files(tmp_path / "bench", rows, MACHINE, {"quick": True})
    assert js.name == "benchmarks.json" and cs.name == "benchmarks.csv"
    assert json.loads(js.read_text())["rows"][0]["group"] == "learner"
    lines = list(csv.DictReader(io.StringIO(cs.read_text())))
    header = cs.read_text().splitlines()[0].split(",")
    assert header == [*FIELDS, *(f"machine_{k}" for k in MACHINE)]
    assert len(lines) == len(rows)
    assert all(line["machine_cpu_model"] == "Fake CPU @ 1 GHz" for line in lines)
    assert [line["name"] for line in lines] == [r.name for r in rows]
    assert cs.read_text() == to_csv(rows, MACHINE)


# ---- --only ------------------------------------------------------------------------------------


def test_only_selects_groups_in_run_order() -> None:
    assert select_groups(None) == list(GROUPS)
    assert select_groups(["norm", "matmul"]) == ["matmul", "norm"]
    assert select_groups(["learner,dataloader"]) == ["learner", "dataloader"]


def test_only_with_an_unknown_group_names_the_valid_ones() -> None:
    with pytest.raises(ValueError) as e:
        select_groups(["matmul", "bogus"])
    assert "'bogus'" in str(e.value)
    assert all(g in str(e.value) for g in GROUPS)


def test_the_command_line_refuses_an_unknown_group_before_measuring(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        cli.main(["--only", "bogus"])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert "unknown benchmark group 'bogus'" in err and "the groups are: " + ", ".join(GROUPS) in err


# ---- the build's per-page times (book/_ext/build_times.py) ---------------------------------------


def exec_data(runtime: float | None) -> dict:
    return {"mtime": 0.0, "runtime": runtime, "method": "force", "succeeded": True, "error": None, "traceback": None}


FAKE_BUILD = {
    "lessons/09_callbacks": exec_data(21.0),
    "lessons/09_minibatch": exec_data(9.0),
    "book/papers/he2015": exec_data(19.0),
    "lessons/12_ulmfit": exec_data(125.0),
    "lessons/12_mixup": exec_data(67.5),
    "book/papers/howard2018": exec_data(300.0),
    "lessons/08_matmul": exec_data(30.0),
    "book/benchmarks": exec_data(60.0),
    "book/papers/unknown2030": exec_data(1.0),
    "book/intro": None,  # not a notebook
    "lessons/10_batchnorm": exec_data(None),  # not executed in this build
}


@pytest.mark.parametrize("docname, expected", [
    ("lessons/08_matmul", ("lesson", "8")),
    ("lessons/11_lsuv", ("lesson", "11")),
    ("lessons/12_mixup", ("lesson", "12 vision")),
    ("lessons/12_awd_lstm", ("lesson", "12 text")),
    ("book/papers/ioffe2015", ("walkthrough", "10")),
    ("book/papers/merity2017", ("walkthrough", "12 text")),
    ("book/papers/unknown2030", ("walkthrough", None)),
    ("book/benchmarks", ("reference", None)),
])
def test_pages_are_classified_by_lesson(docname: str, expected: tuple) -> None:
    assert build_times.classify(docname) == expected


def test_every_walkthrough_and_lesson_of_the_book_has_a_budgeted_lesson() -> None:
    from tools.pages import toc_pages

    for page in toc_pages():
        kind, lesson = build_times.classify(page.with_suffix("").as_posix())
        if kind != "reference":
            assert lesson in build_times.BUDGETS, f"{page}: lesson {lesson!r} has no entry in BUDGETS"


def test_pages_are_sorted_slowest_first_and_unexecuted_ones_left_out() -> None:
    table = build_times.build_table(FAKE_BUILD)
    names = [p["docname"] for p in table["pages"]]
    assert names[:3] == ["book/papers/howard2018", "lessons/12_ulmfit", "lessons/12_mixup"]
    assert "book/intro" not in names and "lessons/10_batchnorm" not in names
    times = [p["runtime_s"] for p in table["pages"]]
    assert times == sorted(times, reverse=True)


def test_lesson_totals_include_walkthroughs_and_compare_with_the_budget() -> None:
    lessons = {g["lesson"]: g for g in build_times.build_table(FAKE_BUILD)["lessons"]}
    assert list(lessons) == ["8", "9", "12 vision", "12 text", "other"]  # lesson order, then the rest
    assert lessons["9"]["total_s"] == pytest.approx(49.0) and lessons["9"]["pages"] == 3
    assert lessons["9"]["budget_s"] == 180 and lessons["9"]["within"] is True and lessons["9"]["issue"] == 3
    assert lessons["12 text"]["total_s"] == pytest.approx(425.0) and lessons["12 text"]["within"] is False
    assert lessons["8"]["budget_s"] is None and lessons["8"]["within"] is None  # no budget of its own
    assert lessons["other"]["pages"] == 2 and lessons["other"]["source"] == ""  # benchmarks, the unknown walkthrough


def test_budgets_name_the_issue_they_come_from() -> None:
    for lesson, b in build_times.BUDGETS.items():
        assert b.issue > 0 and b.says, lesson
    assert build_times.BUDGETS["11"].seconds == 360


def test_the_directive_renders_two_tables_with_links() -> None:
    from sphinx.addnodes import pending_xref
    from docutils import nodes

    out = build_times.render(build_times.build_table(FAKE_BUILD), "book/benchmarks")
    assert [type(n) for n in out] == [nodes.table, nodes.table]
    links = list(out[1].findall(pending_xref))
    assert links[0]["reftarget"] == "/book/papers/howard2018"
    assert len(links) == 9
    empty = build_times.render({"pages": [], "lessons": []}, "book/benchmarks")
    assert "No page was executed" in empty[0].astext()


def test_the_text_version_of_the_build_times() -> None:
    record = {"finished": "2026-01-01T00:00:00+00:00", "jobs": 2, **build_times.build_table(FAKE_BUILD)}
    text = format_build_times(record)
    assert "(9 pages executed, 2 at a time" in text
    line = next(line for line in text.splitlines() if line.startswith("12 text"))
    assert line.split()[:7] == ["12", "text", "2", "425.0", "s", "360", "s"] and " NO " in line
    assert all(len(line) <= WIDTH for line in text.splitlines())


def test_fresh_inductor_cache_is_empty_then_gone_and_restores_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    from benchmarks.common import fresh_inductor_cache

    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", "/somewhere/else")
    with fresh_inductor_cache("bench_test_"):
        folder = os.environ["TORCHINDUCTOR_CACHE_DIR"]
        assert folder != "/somewhere/else" and os.path.isdir(folder) and os.listdir(folder) == []
    assert not os.path.exists(folder) and os.environ["TORCHINDUCTOR_CACHE_DIR"] == "/somewhere/else"
