"""The graders' pytest plugin: results per exercise, one time limit per exercise, the grade table.

``exercises/conftest.py`` registers :class:`GradeBook`. A grader file ``exercises/test_<module>.py``
checks the exercises of ``exercises/<module>.py``; each test belongs to the exercise whose name
starts it (``test_lin_grad_...`` grades ``lin_grad``; ``test_stop_after_n_batches_...`` grades the
class ``StopAfterNBatches``). What the plugin adds to pytest:

- **Verdicts per exercise**, not per test: *passed* (every case), *failed* with the first reason,
  or *not attempted* (its stub still raises). An exercise that calls another unfinished exercise is
  attempted, and the reason names the stub it is waiting on (:func:`foundations.testing.stub_verdict`).
- **One time limit per exercise**: each case may run :data:`TIME_LIMIT_S` seconds; once a case of
  an exercise has run past it (an infinite loop, usually), its other cases are skipped, not run.
- **The grade table**: after pytest's own report, one line per exercise and a table per lesson.
  ``make grade`` runs ``pytest exercises --grades-only``: then only those lines are printed (pytest's
  report goes to ``os.devnull``), and the exit status is 1 when an attempted exercise fails, 0
  otherwise (not attempted is not a failure).
- **``-k`` that selects nothing** lists the exercises' names.
"""

from __future__ import annotations

import ast
import os
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

import pytest
from _pytest.terminal import TerminalReporter

from foundations.testing import NotAttempted, StubCalled, stub_verdict
from tools.pages import exercise_numbers

ROOT = Path(__file__).resolve().parent.parent
TIME_LIMIT_ENV = "FOUNDATIONS_GRADE_TIME_LIMIT"
TIME_LIMIT_S = float(os.environ.get(TIME_LIMIT_ENV, "20"))
"""Seconds one test case may run (``$FOUNDATIONS_GRADE_TIME_LIMIT``, default 20): an infinite loop
fails, once per exercise, instead of hanging."""

BEGIN = "# BEGIN SOLUTION"


@dataclass(frozen=True)
class Exercise:
    """One exercise: a function or class of ``solutions/<module>.py`` with a marked solution."""

    module: str  # lesson08_backprop
    name: str  # lin_grad, StopAfterNBatches
    number: str  # 8.3, as the book numbers it ("?" when no page names it)

    @property
    def key(self) -> str:
        """The name as tests spell it: ``StopAfterNBatches`` -> ``stop_after_n_batches``."""
        return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", self.name).lower()

    @property
    def lesson(self) -> str:
        return self.module.split("_", 1)[0]  # lesson08


def exercises_of(module: str, numbers: dict[str, str] | None = None) -> list[Exercise]:
    """The exercises of ``solutions/<module>.py``: its top-level definitions with a solution block."""
    source = (ROOT / "solutions" / f"{module}.py").read_text()
    lines = source.splitlines()
    numbers = exercise_numbers() if numbers is None else numbers
    found = []
    for node in ast.parse(source).body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            body = lines[node.lineno - 1 : node.end_lineno]
            if any(line.strip() == BEGIN for line in body):
                found.append(Exercise(module, node.name, numbers.get(node.name, "?")))
    return found


def all_exercises() -> list[Exercise]:
    numbers = exercise_numbers()
    return [e for p in sorted((ROOT / "solutions").glob("lesson*.py")) for e in exercises_of(p.stem, numbers)]


def exercise_of(test_name: str, exercises: list[Exercise]) -> Exercise | None:
    """The exercise a test grades: the longest exercise key that starts ``test_<key>``."""
    base = test_name.split("[", 1)[0].removeprefix("test_")
    matches = [e for e in exercises if base == e.key or base.startswith(e.key + "_")]
    return max(matches, key=lambda e: len(e.key), default=None)


@dataclass
class Verdict:
    """What the cases of one exercise came to."""

    exercise: Exercise
    cases: int = 0
    passed: int = 0
    not_attempted: int = 0
    failures: list[str] = field(default_factory=list)

    @property
    def status(self) -> str:
        if self.cases and self.passed == self.cases:
            return "passed"
        if not self.failures and self.passed == 0:
            return "not attempted"
        return "failed"


def _short(path: str) -> str:
    """``exercises/lesson08_matmul.py`` for a file of the course, wherever the course is."""
    parts = Path(path).parts
    return "/".join(parts[-2:]) if len(parts) >= 2 else path


def _reason(report: pytest.TestReport | pytest.CollectReport) -> str:
    """The learner-facing reason of a failed case: the exception's message, not the traceback."""
    crash = getattr(report.longrepr, "reprcrash", None)
    message = crash.message if crash is not None else str(report.longrepr)
    lines = [ln.strip() for ln in message.strip().splitlines() if ln.strip()]
    if not lines:
        return "failed"
    where = re.match(r'File "(?P<file>[^"]+)", line (?P<line>\d+)', lines[0])
    if where and len(lines) > 1:  # a SyntaxError: lead with the error, then where it is
        text = f"{lines[-1]} ({_short(where['file'])}, line {where['line']})"
    else:
        text = lines[0]
    text = re.sub(r"^(?:[\w.]+\.)?(?:AssertionError|Failed|StubCalled): ", "", text)
    return text if len(text) <= 200 else text[:199] + "…"


class GradeBook:
    """The plugin: see the module's docstring."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.exercises = all_exercises()
        self.by_item: dict[str, Exercise] = {}
        self.verdicts: dict[Exercise, Verdict] = {}
        self.timed_out: dict[Exercise, str] = {}
        self.broken: list[str] = []  # collection errors: a grader or an exercise file that fails to import
        self.grades_only = bool(config.getoption("--grades-only", False))
        if self.grades_only:
            self._silence_pytest()

    def _silence_pytest(self) -> None:
        """Send pytest's own report to ``os.devnull`` (the reporter stays: pytest-timeout needs it)."""
        manager = self.config.pluginmanager
        old = manager.get_plugin("terminalreporter")
        if old is None:
            return
        manager.unregister(old)
        self._devnull = open(os.devnull, "w")  # noqa: SIM115 - lives as long as the session
        manager.register(TerminalReporter(self.config, self._devnull), "terminalreporter")

    # -- collection ------------------------------------------------------------------------------

    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        for item in items:
            if item.get_closest_marker("timeout") is None:
                item.add_marker(pytest.mark.timeout(TIME_LIMIT_S))

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        for item in session.items:  # what -k and -m left
            module = Path(str(item.fspath)).stem.removeprefix("test_")
            ex = exercise_of(item.name, [e for e in self.exercises if e.module == module])
            if ex is not None:
                self.by_item[item.nodeid] = ex
                self.verdicts.setdefault(ex, Verdict(ex))

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            self.broken.append(f"{report.nodeid}: {_reason(report)}")  # type: ignore[arg-type]

    # -- running ---------------------------------------------------------------------------------

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        ex = self.by_item.get(item.nodeid)
        if ex is not None and ex in self.timed_out:
            pytest.skip(
                f"not run: `{ex.name}` already ran past the {TIME_LIMIT_S:g} s time limit on "
                f"{self.timed_out[ex]}; one time limit per exercise"
            )

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
        outcome = yield
        report: pytest.TestReport = outcome.get_result()
        ex = self.by_item.get(item.nodeid)
        if ex is None or call.excinfo is None or report.skipped:
            return
        exc = call.excinfo.value
        if isinstance(exc, NotImplementedError):
            verdict = stub_verdict(exc, ex.name)
            if verdict is not None:  # a stub raised outside `attempt`: same verdict, no traceback
                report.longrepr = f"{type(verdict).__name__}: {verdict}"
                report.user_properties.append(("verdict", type(verdict).__name__))
        elif isinstance(exc, (NotAttempted, StubCalled)):
            report.user_properties.append(("verdict", type(exc).__name__))
        elif call.excinfo.typename == "Failed" and str(exc).startswith("Timeout"):
            case = item.name.split("[", 1)[1].rstrip("]") if "[" in item.name else item.name
            self.timed_out[ex] = f"case {case!r}"
            report.user_properties.append(("verdict", "Timeout"))

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        ex = self.by_item.get(report.nodeid)
        if ex is None:
            return
        v = self.verdicts[ex]
        if report.when == "call" or (report.when == "setup" and not report.passed):
            v.cases += 1
            kind = dict(report.user_properties).get("verdict")
            if report.passed:
                v.passed += 1
            elif report.skipped:
                pass  # skipped after a timeout: the timeout is the failure
            elif kind == "NotAttempted":
                v.not_attempted += 1
            elif kind == "Timeout":
                v.failures.append(
                    f"ran past the {TIME_LIMIT_S:g} s time limit on {self.timed_out[ex]} (an infinite loop?); "
                    "its other cases were not run"
                )
            else:  # the graders' messages name the input by value
                v.failures.append(_reason(report))

    # -- reporting -------------------------------------------------------------------------------

    def lines(self) -> list[str]:
        """One line per exercise, then the table per lesson; empty when nothing was graded."""
        if not self.verdicts and not self.broken:
            return []
        out = [f"could not collect {b}" for b in self.broken]
        width = max((len(f"{e.number} {e.name}") for e in self.verdicts), default=0)
        for ex in sorted(self.verdicts, key=_order):
            v = self.verdicts[ex]
            label = f"{ex.number} {ex.name}".ljust(width)
            line = f"{label}  {v.status}"
            if v.status == "failed":
                line += f": {v.failures[0] if v.failures else 'some cases still raise NotImplementedError'}"
            out.append(line)
        out.append("")
        out.append(f"{'lesson':<10}{'passed':>8}{'failed':>8}{'not attempted':>15}{'exercises':>11}")
        for lesson in sorted({e.lesson for e in self.verdicts}):
            vs = [v for e, v in self.verdicts.items() if e.lesson == lesson]
            counts = [sum(v.status == s for v in vs) for s in ("passed", "failed", "not attempted")]
            out.append(f"{lesson.removeprefix('lesson'):<10}{counts[0]:>8}{counts[1]:>8}{counts[2]:>15}{len(vs):>11}")
        return out

    def any_failed(self) -> bool:
        return bool(self.broken) or any(v.status == "failed" for v in self.verdicts.values())

    def pytest_terminal_summary(self, terminalreporter) -> None:  # noqa: ANN001
        lines = self.lines()
        if lines and not self.grades_only:
            terminalreporter.section(f"grades ({self.config.getoption('--impl')}): one line per exercise")
            for line in lines:
                terminalreporter.write_line(line)

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        if exitstatus == pytest.ExitCode.NO_TESTS_COLLECTED and self.config.option.keyword:
            self._say_names(session)
            return
        if self.grades_only:  # make grade
            _write(sys.stdout, self.lines())
            if exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED):
                session.exitstatus = pytest.ExitCode.TESTS_FAILED if self.any_failed() else pytest.ExitCode.OK

    def _say_names(self, session: pytest.Session) -> None:
        names = ", ".join(e.name for e in sorted(self.exercises, key=_order))
        message = f"no exercise matches -k {self.config.option.keyword!r}. The exercises are: {names}"
        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None and not self.grades_only:
            reporter.write_line(message)
        else:
            _write(sys.stdout, [message])


def _order(ex: Exercise) -> tuple[int, ...]:
    return tuple(int(p) if p.isdigit() else 999 for p in ex.number.split("."))


def _write(stream: TextIO, lines: list[str]) -> None:
    for line in lines:
        stream.write(line + "\n")
    stream.flush()
