"""Root pytest configuration: options that must be declared where pytest starts."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from types import ModuleType
from typing import Callable

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--impl",
        default="exercises",
        choices=["exercises", "solutions", "stubs"],
        help="which implementations the exercise graders grade: your code in exercises/ (default), "
        "the reference solutions in solutions/, or untouched stubs generated from the solutions "
        "(what exercises/ holds before you start; used by the tests, never reads your files)",
    )
    parser.addoption(
        "--grades-only",
        action="store_true",
        help="print only the grades of the exercises (one line per exercise, then a table per "
        "lesson) and exit 1 when an attempted exercise fails; what `make grade` runs",
    )


@pytest.fixture(scope="session")
def impl(request: pytest.FixtureRequest) -> Callable[[str], ModuleType]:
    """``impl("lesson08")`` imports ``exercises.lesson08`` or ``solutions.lesson08`` (``--impl``),
    or builds the pristine stub of ``solutions/lesson08.py`` in memory (``--impl=stubs``)."""
    package = request.config.getoption("--impl")

    def load(lesson: str) -> ModuleType:
        if package == "stubs":
            return _pristine_stub(lesson)
        return importlib.import_module(f"{package}.{lesson}")

    return load


def _pristine_stub(lesson: str) -> ModuleType:
    """The stub ``tools/make_stubs.py`` generates from ``solutions/<lesson>.py``, as a module."""
    name = f"stubs.{lesson}"
    if name in sys.modules:
        return sys.modules[name]
    from tools.make_stubs import make_stub

    path = Path(__file__).resolve().parent / "solutions" / f"{lesson}.py"
    module = ModuleType(name)
    module.__file__ = f"<stub of {path.name}>"
    sys.modules[name] = module
    exec(compile(make_stub(path.read_text(), path.name), module.__file__, "exec"), module.__dict__)  # noqa: S102
    return module
