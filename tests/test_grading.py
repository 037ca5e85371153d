"""A learner's day with the graders: honest verdicts per exercise, one time limit, a short report.

Each test copies the course's graders, solutions and pages into a temporary folder, writes a
learner's answers into fresh stubs there, and runs ``pytest exercises`` on it in a subprocess, the
way ``make grade`` does.
"""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tools.grading import Exercise, all_exercises, exercise_of
from tools.make_stubs import make_stub

ROOT = Path(__file__).resolve().parent.parent
STUB_RAISE = 'raise NotImplementedError("your code here")'


@pytest.fixture
def learner(tmp_path: Path) -> Path:
    """A copy of the course whose ``exercises/`` holds untouched stubs."""
    for folder in ("exercises", "solutions", "tools", "lessons"):
        shutil.copytree(ROOT / folder, tmp_path / folder, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("conftest.py", "pyproject.toml", "_toc.yml"):
        shutil.copy2(ROOT / name, tmp_path / name)
    for sol in (tmp_path / "solutions").glob("lesson*.py"):
        (tmp_path / "exercises" / sol.name).write_text(make_stub(sol.read_text(), sol.name))
    return tmp_path


def answer(course: Path, module: str, function: str, body: str) -> None:
    """Replace the stub's ``raise`` inside ``function`` of ``exercises/<module>.py`` with ``body``."""
    path = course / "exercises" / f"{module}.py"
    lines = path.read_text().splitlines()
    node = next(n for n in ast.parse("\n".join(lines)).body if getattr(n, "name", None) == function)
    for i in range(node.lineno - 1, node.end_lineno):
        if lines[i].strip() == STUB_RAISE:
            indent = lines[i][: len(lines[i]) - len(lines[i].lstrip())]
            lines[i : i + 1] = [indent + line for line in body.strip("\n").splitlines()]
            break
    else:
        raise AssertionError(f"no stub raise in {function}")
    path.write_text("\n".join(lines) + "\n")


def grade(course: Path, *args: str, limit: float = 20) -> subprocess.CompletedProcess[str]:
    """``make grade``'s command (pytest without its terminal report) on the learner's copy."""
    env = {**os.environ, "FOUNDATIONS_GRADE_TIME_LIMIT": str(limit)}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "exercises", "--grades-only", "-p", "no:cacheprovider", *args],
        cwd=course, capture_output=True, text=True, timeout=300, env=env,
    )


def line_of(out: str, name: str) -> str:
    return next(line for line in out.splitlines() if re.match(rf"^\d+\.\d+ {re.escape(name)} ", line))


def test_every_grader_test_belongs_to_an_exercise() -> None:
    exercises = all_exercises()
    assert len(exercises) >= 30
    assert all(e.number != "?" for e in exercises), [e.name for e in exercises if e.number == "?"]
    orphans = []
    for grader in sorted((ROOT / "exercises").glob("test_lesson*.py")):
        module = grader.stem.removeprefix("test_")
        mine = [e for e in exercises if e.module == module]
        for node in ast.parse(grader.read_text()).body:
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test_"):
                if exercise_of(node.name, mine) is None:
                    orphans.append(f"{grader.name}::{node.name}")
    assert not orphans, f"tests whose name starts with no exercise's name: {orphans}"


def test_names_of_classes_as_tests_spell_them() -> None:
    assert Exercise("lesson09_training", "StopAfterNBatches", "9.12").key == "stop_after_n_batches"
    ex = [Exercise("m", "log_softmax", "9.8"), Exercise("m", "logsumexp", "9.7")]
    assert exercise_of("test_log_softmax_extreme_logits[x]", ex).name == "log_softmax"
    assert exercise_of("test_logsumexpish", ex) is None


def test_untouched_stubs_read_as_not_attempted_and_exit_zero(learner: Path) -> None:
    done = grade(learner)
    assert done.returncode == 0, done.stdout + done.stderr
    rows = [line for line in done.stdout.splitlines() if re.match(r"^\d+\.\d+ ", line)]
    assert len(rows) == len(all_exercises())
    assert all(line.endswith("not attempted") for line in rows), rows


def test_report_is_one_line_per_exercise_then_the_table_last(learner: Path) -> None:
    answer(learner, "lesson08_backprop", "mse_grad", "return 2.0 * (output.squeeze(-1) - target).unsqueeze(-1) / output.shape[0]")
    answer(learner, "lesson08_backprop", "relu_grad", "return out_grad")  # wrong: forgets the mask
    done = grade(learner)
    lines = done.stdout.splitlines()
    assert done.returncode == 1, "an attempted exercise fails: make grade must exit non-zero"
    assert done.stderr == ""
    n, n_lessons = len(all_exercises()), len({e.lesson for e in all_exercises()})
    assert len(lines) == n + 1 + 1 + n_lessons, lines  # exercises, a blank line, the header, one row per lesson
    assert line_of(done.stdout, "mse_grad").endswith("passed")
    relu = line_of(done.stdout, "relu_grad")
    assert relu.startswith("8.5 relu_grad") and "failed: relu_grad on" in relu, relu
    assert "Traceback" not in done.stdout and "Error 1" not in done.stdout
    assert lines[-n_lessons - 1].split() == ["lesson", "passed", "failed", "not", "attempted", "exercises"]
    assert lines[-n_lessons].split() == ["08", "1", "1", "5", "7"]


def test_an_exercise_over_an_unfinished_one_is_attempted_and_names_the_stub(learner: Path) -> None:
    answer(learner, "lesson09_minibatch", "cross_entropy",
           "return -log_softmax(logits).gather(1, target[:, None]).mean()")
    done = grade(learner, "-k", "cross_entropy")
    row = line_of(done.stdout, "cross_entropy")
    assert "failed:" in row and "calls `log_softmax`, which is still a stub" in row, row
    assert "lesson09_minibatch.py:" in row
    assert done.stdout.splitlines()[-1].split() == ["09", "0", "1", "0", "1"]
    # with log_softmax written, the same cross_entropy passes
    answer(learner, "lesson09_minibatch", "log_softmax",
           "m = x.max(-1, keepdim=True).values\nreturn x - m - (x - m).exp().sum(-1, keepdim=True).log()")
    again = grade(learner, "-k", "cross_entropy")
    assert line_of(again.stdout, "cross_entropy").endswith("passed"), again.stdout


def test_a_looping_exercise_costs_one_time_limit(learner: Path) -> None:
    answer(learner, "lesson08_backprop", "lin_grad", "while True:\n    pass")
    cases = sum(1 for _ in re.finditer(r"\bdef test_lin_grad", (ROOT / "exercises/test_lesson08_backprop.py").read_text()))
    start = time.perf_counter()
    done = grade(learner, "-k", "lin_grad", limit=2)
    took = time.perf_counter() - start
    row = line_of(done.stdout, "lin_grad")
    assert "ran past the 2 s time limit on case" in row and "its other cases were not run" in row, row
    assert took < 2 * 2 + 8, f"{cases} lin_grad tests took {took:.1f} s: more than one time limit"
    assert done.returncode == 1


def test_selecting_nothing_lists_the_exercises(learner: Path) -> None:
    done = grade(learner, "-k", "lin_gard")
    assert done.returncode == pytest.ExitCode.NO_TESTS_COLLECTED
    assert "no exercise matches -k 'lin_gard'. The exercises are: matmul_broadcast" in done.stdout
    assert "lin_grad" in done.stdout


def test_a_file_that_does_not_import_fails_its_exercises_with_the_reason(learner: Path) -> None:
    path = learner / "exercises" / "lesson08_matmul.py"
    path.write_text(path.read_text() + "\ndef broken(:\n")
    done = grade(learner, "-m", "lesson08")
    assert done.returncode == 1
    assert "SyntaxError" in line_of(done.stdout, "matmul_broadcast"), done.stdout


def test_stub_verdicts_in_process() -> None:
    from foundations.testing import NotAttempted, StubCalled, attempt

    def inner(x: int) -> int:
        raise NotImplementedError("your code here")

    def outer(x: int) -> int:
        return inner(x) + 1

    with pytest.raises(NotAttempted, match=r"`.*inner` still raises NotImplementedError"):
        attempt(inner, 1)
    with pytest.raises(StubCalled, match=r"`.*outer` is attempted but calls `.*inner`, which is still a stub \(tests/test_grading.py:\d+\): finish"):
        attempt(outer, 1)

    def own(x: int) -> int:
        raise NotImplementedError("negative x")  # a learner's own NotImplementedError: an ordinary failure

    with pytest.raises(NotImplementedError, match="negative x"):
        attempt(own, 1)


def _grading_commands() -> list[tuple[str, str, str]]:
    """(page, exercise title, -k expression) for every exercise box on the lesson pages."""
    found = []
    for page in sorted((ROOT / "lessons").glob("*.md")):
        for box in re.finditer(r"^:::+\{exercise\} `(?P<name>\w+)`\n(?P<body>.*?)^:::+\s*$", page.read_text(), re.M | re.S):
            for k in re.findall(r"`\.venv/bin/pytest exercises -k (\S+?)`", box["body"]):
                found.append((page.name, box["name"], k))
    return found


def test_every_exercise_box_prints_a_grading_command_that_selects_it() -> None:
    commands = _grading_commands()
    exercises = all_exercises()
    assert {name for _, name, _ in commands} == {e.name for e in exercises}, "an exercise box without its grading command"
    tests: dict[str, list[str]] = {}
    for grader in (ROOT / "exercises").glob("test_lesson*.py"):
        mine = [e for e in exercises if e.module == grader.stem.removeprefix("test_")]
        for node in ast.parse(grader.read_text()).body:
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test_"):
                tests[node.name] = [exercise_of(node.name, mine).name]
    for page, name, k in commands:
        selected = {ex for test, (ex,) in tests.items() if k in test}
        assert selected == {name}, f"{page}: `-k {k}` in the box of `{name}` selects the tests of {sorted(selected)}"
