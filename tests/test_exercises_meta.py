"""The exercise machinery is honest: stubs match solutions, and no grader passes on an untouched stub."""

from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tools.make_stubs import committed_text, make_stub, stub_pairs

ROOT = Path(__file__).resolve().parent.parent


def test_there_are_exercises() -> None:
    pairs = stub_pairs()
    assert pairs, "no solutions/lesson*.py found"
    for sol, stub in pairs:
        assert (ROOT / "exercises" / f"test_{sol.name}").exists(), f"{sol.name} has no grader exercises/test_{sol.name}"


@pytest.mark.parametrize("pair", stub_pairs(), ids=lambda p: p[0].name)
def test_stub_is_generated_from_solution(pair: tuple[Path, Path]) -> None:
    """The stub as committed (or, outside git, as on disk) is what the generator makes.

    A learner's edits to ``exercises/`` never fail this: when the file on disk differs from the
    generated stub, the committed version is checked instead (``git show HEAD:...``)."""
    sol, stub = pair
    assert stub.exists(), f"missing stub {stub.name}: run `make stubs`"
    expected = make_stub(sol.read_text(), sol.name)
    if stub.read_text() == expected:
        return
    committed = committed_text(stub)
    if committed is None:
        pytest.skip(f"exercises/{stub.name} has your work in it and there is no git history to check the "
                    "pristine stub against")
    assert committed == expected, (
        f"exercises/{stub.name} as committed is out of sync with solutions/{sol.name}: run `make stubs`"
    )


@pytest.mark.parametrize("pair", stub_pairs(), ids=lambda p: p[0].name)
def test_stub_keeps_signatures_and_hides_solutions(pair: tuple[Path, Path]) -> None:
    sol, stub = pair
    text = make_stub(sol.read_text(), sol.name)
    assert "BEGIN SOLUTION" not in text and "END SOLUTION" not in text
    assert text.count('raise NotImplementedError("your code here")') == sol.read_text().count("# BEGIN SOLUTION") > 0
    # top-level functions and classes, and methods: what a learner fills in must keep its signature
    defs = [
        line.split("(")[0]
        for line in sol.read_text().splitlines()
        if line.lstrip().startswith(("def ", "class ")) and len(line) - len(line.lstrip()) <= 4
    ]
    for d in defs:
        assert d in text, f"stub {stub.name} lost `{d.strip()}`"


def test_make_stub_rejects_unbalanced_markers() -> None:
    with pytest.raises(ValueError, match="never closed"):
        make_stub('"""x."""\ndef f():\n    # BEGIN SOLUTION\n    return 1\n', "bad.py")
    with pytest.raises(ValueError, match="without BEGIN"):
        make_stub('"""x."""\ndef f():\n    # END SOLUTION\n', "bad.py")


def _run_graders(impl: str, tmp_path: Path) -> list[tuple[str, str, str]]:
    """Run every grader in a subprocess; return (test id, outcome, message) for each test."""
    report = tmp_path / f"{impl}.xml"
    subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "exercises", f"--impl={impl}", f"--junitxml={report}", "-p", "no:randomly"],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )
    rows = []
    for case in ET.parse(report).getroot().iter("testcase"):
        name = f"{case.get('classname')}::{case.get('name')}"
        failure = case.find("failure")
        error = case.find("error")
        skipped = case.find("skipped")
        if failure is not None:
            rows.append((name, "failed", failure.get("message", "") + (failure.text or "")))
        elif error is not None:
            rows.append((name, "error", error.get("message", "") + (error.text or "")))
        elif skipped is not None:
            rows.append((name, "skipped", skipped.get("message", "")))
        else:
            rows.append((name, "passed", ""))
    return rows


def test_no_grader_passes_on_untouched_stubs(tmp_path: Path) -> None:
    rows = _run_graders("stubs", tmp_path)  # stubs generated afresh: a learner's work is not read
    assert len(rows) >= 6, f"expected at least 6 graded exercises, found {len(rows)}"
    passed = [n for n, outcome, _ in rows if outcome == "passed"]
    assert not passed, f"these graders pass on an untouched stub (they cannot tell right from wrong): {passed}"
    unclear = [n for n, outcome, msg in rows if outcome != "failed" or "Not attempted yet" not in msg]
    assert not unclear, f"on an untouched stub these should fail with 'Not attempted yet': {unclear}"


# A learner's work in exercises/ is never overwritten and never fails `make test`.
SOLUTION = '''"""Lesson 99: a made-up exercise."""


def double(x: int) -> int:
    """Twice ``x``."""
    # BEGIN SOLUTION
    return 2 * x
    # END SOLUTION
'''


@pytest.fixture
def course(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A small checkout: one solution, its generated stub, committed to git."""
    import tools.make_stubs as make_stubs

    (tmp_path / "solutions").mkdir()
    (tmp_path / "exercises").mkdir()
    (tmp_path / "solutions" / "lesson99_x.py").write_text(SOLUTION)
    (tmp_path / "exercises" / "lesson99_x.py").write_text(make_stub(SOLUTION, "lesson99_x.py"))
    git = ["git", "-c", "user.name=test", "-c", "user.email=test@example.org", "-c", "commit.gpgsign=false"]
    for cmd in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "course"]):
        subprocess.run(git + cmd, cwd=tmp_path, check=True, capture_output=True)
    monkeypatch.setattr(make_stubs, "ROOT", tmp_path)
    return tmp_path


def test_make_stubs_leaves_a_learners_work_alone_unless_forced(course: Path, capsys: pytest.CaptureFixture) -> None:
    from tools.make_stubs import main

    stub = course / "exercises" / "lesson99_x.py"
    work = stub.read_text().replace('raise NotImplementedError("your code here")', "return x + x")
    stub.write_text(work)
    assert main([]) == 1
    assert stub.read_text() == work, "make stubs overwrote a learner's work"
    assert "exercises/lesson99_x.py" in capsys.readouterr().err
    assert main(["--force"]) == 0
    assert stub.read_text() == make_stub(SOLUTION, "lesson99_x.py")


def test_make_stubs_refreshes_a_pristine_stub_after_the_solution_changes(course: Path) -> None:
    from tools.make_stubs import main

    changed = SOLUTION.replace('"""Twice ``x``."""', '"""Twice ``x``, for any int."""')
    (course / "solutions" / "lesson99_x.py").write_text(changed)
    assert main([]) == 0
    assert (course / "exercises" / "lesson99_x.py").read_text() == make_stub(changed, "lesson99_x.py")


def test_the_sync_check_reads_the_committed_stub_when_the_learner_has_edited_it(course: Path) -> None:
    stub = course / "exercises" / "lesson99_x.py"
    pristine = stub.read_text()
    stub.write_text(pristine.replace('raise NotImplementedError("your code here")', "return x + x"))
    assert committed_text(stub) == pristine == make_stub(SOLUTION, "lesson99_x.py")
