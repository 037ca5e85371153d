"""Root pytest configuration: options that must be declared where pytest starts."""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Callable

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--impl",
        default="exercises",
        choices=["exercises", "solutions"],
        help="which implementations the exercise graders grade: your code in exercises/ (default) "
        "or the reference solutions in solutions/",
    )


@pytest.fixture(scope="session")
def impl(request: pytest.FixtureRequest) -> Callable[[str], ModuleType]:
    """``impl("lesson08")`` imports ``exercises.lesson08`` or ``solutions.lesson08`` (``--impl``)."""
    package = request.config.getoption("--impl")

    def load(lesson: str) -> ModuleType:
        return importlib.import_module(f"{package}.{lesson}")

    return load
