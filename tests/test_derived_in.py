"""Every public object of the library says where the book derives it, and that page exists.

A reader who meets ``init_cnn`` in a page, or in a traceback, should find the page that builds it.
So the docstring of every object a module exports (its ``__all__``) carries a back-link, either

- ``Derived in Lesson N, "Title" (lessons/NN_page)``: ``lessons/NN_page.md`` exists, ``NN`` is
  ``N``, and ``Title`` is the page's title (its first ``# `` heading, or the start of it); or
- a walkthrough reference ``(book/papers/xxx)``: ``book/papers/xxx.md`` exists.

Docstrings are read whitespace-folded, so a back-link may wrap across lines. A constant's
docstring is the string literal right after its assignment (the convention Sphinx reads).
"""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
import re
from collections import Counter
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import foundations

ROOT = Path(__file__).resolve().parent.parent

DERIVED = re.compile(r'Derived in Lesson (\d+), "([^"]+)" \((lessons/(\d\d)_\w+)\)')
WALKTHROUGH = re.compile(r"\((book/papers/[\w-]+)\)")


@cache
def modules() -> list[ModuleType]:
    """Every module of foundations, packages included (not ``__main__``: importing it runs it)."""
    found = [foundations]
    for info in pkgutil.walk_packages(foundations.__path__, "foundations."):
        if info.name.rsplit(".", 1)[-1] != "__main__":
            found.append(importlib.import_module(info.name))
    return found


def attribute_docstrings(module: ModuleType) -> dict[str, str | None]:
    """Top-level names assigned in ``module``'s source -> the string literal after the assignment (or None)."""
    tree = ast.parse(inspect.getsource(module))
    docs: dict[str, str | None] = {}
    body = tree.body
    for i, node in enumerate(body):
        targets: list[ast.expr] = []
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, ast.AnnAssign):
            targets = [node.target]
        after = body[i + 1] if i + 1 < len(body) else None
        doc = None
        if isinstance(after, ast.Expr) and isinstance(after.value, ast.Constant) and isinstance(after.value.value, str):
            doc = after.value.value
        for t in targets:
            if isinstance(t, ast.Name):
                docs[t.id] = doc
    return docs


@cache
def public_objects() -> dict[str, str | None]:
    """``"module.name"`` -> docstring, for every name in a ``__all__``, counted once where it is defined."""
    out: dict[str, str | None] = {}
    for mod in modules():
        assigned = attribute_docstrings(mod)
        for name in getattr(mod, "__all__", []):
            obj: Any = getattr(mod, name)
            if inspect.isclass(obj) or inspect.isfunction(obj):
                if obj.__module__ != mod.__name__:
                    continue  # re-exported: checked in the module that defines it
                out[f"{mod.__name__}.{name}"] = obj.__dict__.get("__doc__") if inspect.isclass(obj) else obj.__doc__
            elif name in assigned:
                out[f"{mod.__name__}.{name}"] = assigned[name]
            # else: a constant imported from elsewhere, checked where it is assigned
    return out


def page_title(page: Path) -> str:
    for line in page.read_text().splitlines():
        if line.startswith("# "):
            return line[2:].strip()
    return ""


def _plain(title: str) -> str:
    """A title with ``√5`` written ``sqrt(5)``, as a docstring (ASCII) writes it."""
    return re.sub(r"√\(", "sqrt(", re.sub(r"√(\d+)", r"sqrt(\1)", title))


def back_link_problems(doc: str | None) -> list[str]:
    """Why ``doc`` does not carry a valid back-link (empty when it does)."""
    if not doc:
        return ["no docstring"]
    text = " ".join(doc.split())
    lessons, papers = DERIVED.findall(text), WALKTHROUGH.findall(text)
    if not lessons and not papers:
        return ['no `Derived in Lesson N, "Title" (lessons/NN_page)` and no `(book/papers/xxx)`']
    problems = []
    for n, title, page, nn in lessons:
        path = ROOT / f"{page}.md"
        if not path.exists():
            problems.append(f"names {page}, which does not exist")
            continue
        if int(nn) != int(n):
            problems.append(f"says Lesson {n} but names {page}")
        actual = page_title(path)
        if not _plain(actual).startswith(title):
            problems.append(f'names the title "{title}", but {page}.md is titled "{actual}"')
    for page in papers:
        if not (ROOT / f"{page}.md").exists():
            problems.append(f"names {page}, which does not exist")
    return problems


# ---- the tests ------------------------------------------------------------------------------------


def test_every_public_object_links_back_to_its_page() -> None:
    problems = {name: p for name, doc in public_objects().items() if (p := back_link_problems(doc))}
    lines = [f"{name}: {'; '.join(p)}" for name, p in sorted(problems.items())]
    per_module = Counter(name.rpartition(".")[0] for name in problems)
    summary = ", ".join(f"{m} {n}" for m, n in sorted(per_module.items()))
    assert not lines, f"{len(lines)} public objects lack a valid back-link ({summary}):\n  " + "\n  ".join(lines)


def test_every_module_declares_what_it_exports() -> None:
    missing = [m.__name__ for m in modules() if m is not foundations and not hasattr(m, "__all__")]
    assert not missing, f"modules without __all__ (their public objects cannot be checked): {missing}"
    unknown = [f"{m.__name__}.{n}" for m in modules() for n in getattr(m, "__all__", []) if not hasattr(m, n)]
    assert not unknown, f"names in __all__ that the module lacks: {unknown}"


def test_enough_objects_are_checked() -> None:
    names = public_objects()
    assert len(names) >= 150, len(names)
    for expected in ["foundations.learner.Learner", "foundations.learner.EVENTS", "foundations.models.get_cnn_model",
                     "foundations.callbacks.metrics.Recorder", "foundations.data.loaders.DataBunch"]:
        assert expected in names, expected


@pytest.mark.parametrize(
    "doc, expected",
    [
        ('Derived in Lesson 9, "Callbacks" (lessons/09_callbacks).', []),
        ('Derived in Lesson 10,\n    "A CNN and hooks"\n    (lessons/10_cnn_hooks).', []),
        ("He et al. 2015 (book/papers/he2015).", []),
        ('Derived in Lesson 9, "Why sqrt(5)?" (lessons/09_why_sqrt5).', []),
        (None, ["no docstring"]),
        ("Adds two numbers.", ['no `Derived in Lesson N, "Title" (lessons/NN_page)` and no `(book/papers/xxx)`']),
        ('Derived in Lesson 12, "Mixed precision" (lessons/12_mixed)', ["names lessons/12_mixed, which does not exist"]),
        ('Derived in Lesson 10, "Callbacks" (lessons/09_callbacks)', ["says Lesson 10 but names lessons/09_callbacks"]),
        ('Derived in Lesson 9, "Callback" (lessons/09_annealing)',
         ['names the title "Callback", but lessons/09_annealing.md is titled "Annealing"']),
        ("(book/papers/nobody2099)", ["names book/papers/nobody2099, which does not exist"]),
    ],
    ids=["lesson", "wrapped", "paper", "sqrt", "none", "no-link", "no-page", "wrong-number", "wrong-title", "no-paper"],
)
def test_the_checker_reads_back_links(doc: str | None, expected: list[str]) -> None:
    assert back_link_problems(doc) == expected
