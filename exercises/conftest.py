"""Grader plumbing: a time limit per exercise and the grade table ``make grade`` prints.

Run ``pytest exercises`` to grade your work, ``pytest exercises -m lesson08`` for one lesson, and
``pytest exercises --impl=solutions`` to grade the reference solutions.
"""

from __future__ import annotations

from collections import defaultdict

import pytest

TIME_LIMIT_S = 20  # per exercise test: an infinite loop in learner code fails instead of hanging

_results: dict[str, dict[str, int]] = defaultdict(lambda: {"passed": 0, "attempted": 0, "total": 0})


_lesson_of: dict[str, str] = {}


def pytest_configure(config: pytest.Config) -> None:
    # Short tracebacks: a learner needs the failing line and the message, not pytest's internals.
    if config.option.tbstyle == "auto":
        config.option.tbstyle = "short"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(TIME_LIMIT_S))
        lessons = [m.name for m in item.iter_markers() if m.name.startswith("lesson")]
        _lesson_of[item.nodeid] = lessons[0] if lessons else "other"


def _lesson(nodeid: str) -> str:
    return _lesson_of.get(nodeid, "other")


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when == "call" or (report.when == "setup" and report.outcome != "passed"):
        row = _results[_lesson(report.nodeid)]
        row["total"] += 1
        if report.passed:
            row["passed"] += 1
        if report.passed or "Not attempted yet" not in report.longreprtext:
            row["attempted"] += 1


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:  # noqa: ANN001
    if not _results:
        return
    tr = terminalreporter
    tr.section(f"grades ({config.getoption('--impl')})")
    tr.write_line(f"{'lesson':<12}{'passed':>8}{'attempted':>11}{'total':>7}")
    for lesson in sorted(_results):
        r = _results[lesson]
        tr.write_line(f"{lesson:<12}{r['passed']:>8}{r['attempted']:>11}{r['total']:>7}")
