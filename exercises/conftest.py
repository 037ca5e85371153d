"""Grader plumbing for ``pytest exercises``: see ``tools/grading.py``.

Run ``pytest exercises`` to grade your work (or ``make grade`` for the grades alone),
``pytest exercises -m lesson08`` for one lesson, ``pytest exercises -k lin_grad`` for one exercise,
and ``pytest exercises --impl=solutions`` to grade the reference solutions.
"""

from __future__ import annotations

import pytest

from tools.grading import GradeBook


@pytest.hookimpl(trylast=True)  # after pytest's terminal reporter exists: --grades-only replaces it
def pytest_configure(config: pytest.Config) -> None:
    # Short tracebacks: a learner needs the failing line and the message, not pytest's internals.
    if getattr(config.option, "tbstyle", None) == "auto":
        config.option.tbstyle = "short"
    config.pluginmanager.register(GradeBook(config), "gradebook")
