"""The library's layers: which modules of ``foundations`` may import which.

The core is the top-level modules (``foundations/*.py``); ``foundations/data/`` is built on the core;
``foundations/callbacks/`` on the core and the data; ``vision/`` and ``text/`` (Lessons 11-12, when
they exist) on anything but each other, and nothing outside them imports them. An import in the
wrong direction ties a lower layer to a higher one: the training loop would need the callbacks
that extend it, and a circular import is one edit away.

Every module is parsed with ``ast``, and every import of ``foundations.*`` counts wherever it
stands: at the top, inside a function (a lazy import), under ``TYPE_CHECKING``. Relative imports
(``from .errors import ...``) are resolved against the module's package.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "foundations"

ALLOWED: dict[str, set[str]] = {
    "core": {"core"},
    "data": {"core", "data"},
    "callbacks": {"core", "data", "callbacks"},
    "vision": {"core", "data", "callbacks", "vision"},
    "text": {"core", "data", "callbacks", "text"},
    "perf": {"core", "data", "callbacks", "perf"},
}
"""For each layer, the layers its modules may import."""


def module_name(path: Path) -> str:
    """``foundations/data/loaders.py -> foundations.data.loaders``; a package's ``__init__`` is the package."""
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def all_modules() -> dict[str, Path]:
    """Every module of the package: its dotted name -> its file."""
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py")) if "__pycache__" not in p.parts}


def layer(module: str) -> str:
    """``core`` for ``foundations`` and its top-level modules, else the name of the sub-package."""
    parts = module.split(".")
    if parts[0] != "foundations":
        raise ValueError(f"layer: expected a module of foundations, got {module!r}")
    if len(parts) == 1 or (PACKAGE / f"{parts[1]}.py").exists():
        return "core"
    return parts[1]


def imports_of(path: Path, modules: set[str]) -> set[str]:
    """The modules of ``foundations`` that the file at ``path`` imports, anywhere in it."""
    return imports_in(path.read_text(), module_name(path), path.name == "__init__.py", modules)


def imports_in(source: str, name: str, is_package: bool, modules: set[str]) -> set[str]:
    """The modules of ``foundations`` that the code ``source`` of module ``name`` imports.

    ``modules`` are the dotted names of every module, to tell ``from foundations import checks``
    (the module ``foundations.checks``) from ``from foundations.learner import Learner``.
    """
    package = name if is_package else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == "foundations")
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                source_module = ".".join(base + ([node.module] if node.module else []))
            else:
                source_module = node.module or ""
            if source_module.split(".")[0] != "foundations":
                continue
            subs = {f"{source_module}.{a.name}" for a in node.names if f"{source_module}.{a.name}" in modules}
            found.update(subs)
            if len(subs) < len(node.names):
                found.add(source_module)  # names that are not modules come from the module itself
    found.discard(name)
    return found


def module_map() -> dict[str, set[str]]:
    """Each module of foundations -> the modules of foundations it imports."""
    modules = all_modules()
    return {name: imports_of(path, set(modules)) for name, path in modules.items()}


def violations(mapping: dict[str, set[str]]) -> list[str]:
    """Every import that goes against :data:`ALLOWED`, as ``"importer (layer) imports imported (layer)"``."""
    problems = []
    for importer, imported in sorted(mapping.items()):
        mine = layer(importer)
        if mine not in ALLOWED:
            problems.append(f"{importer}: the package {mine!r} is not a layer of tests/test_layout.py's ALLOWED")
            continue
        for other in sorted(imported):
            theirs = layer(other)
            if theirs not in ALLOWED[mine]:
                problems.append(f"{importer} ({mine}) imports {other} ({theirs})")
    return problems


def show(mapping: dict[str, set[str]]) -> str:
    return "\n".join(
        f"  {name} [{layer(name)}] -> {', '.join(sorted(imported)) or '(nothing from foundations)'}"
        for name, imported in sorted(mapping.items())
    )


# ---- the tests ------------------------------------------------------------------------------------


def test_imports_go_down_the_layers() -> None:
    mapping = module_map()
    problems = violations(mapping)
    assert not problems, (
        "imports against the layers (core <- data <- callbacks <- vision, text):\n  " + "\n  ".join(problems)
        + "\n\nthe module map (module [layer] -> what it imports from foundations):\n" + show(mapping)
    )


def test_the_layout_is_what_the_checks_assume() -> None:
    mapping = module_map()
    layers = {layer(m) for m in mapping}
    assert {"core", "data", "callbacks"} <= layers <= set(ALLOWED), sorted(layers)
    assert layer("foundations.learner") == "core" and layer("foundations") == "core"
    assert layer("foundations.data.loaders") == "data" and layer("foundations.callbacks.metrics") == "callbacks"
    # the map sees imports of every kind: the package re-exports, a lazy import, a relative one if any
    assert "foundations.callbacks.metrics" in mapping["foundations.callbacks"]
    assert "foundations.learner" in mapping["foundations.callbacks.metrics"]
    assert "foundations.data.loaders" in mapping["foundations.data"]


@pytest.mark.parametrize(
    "mapping, expected",
    [
        ({"foundations.learner": {"foundations.callbacks.metrics"}},
         ["foundations.learner (core) imports foundations.callbacks.metrics (callbacks)"]),
        ({"foundations.data.loaders": {"foundations.callbacks"}},
         ["foundations.data.loaders (data) imports foundations.callbacks (callbacks)"]),
        ({"foundations.vision.augment": {"foundations.text.tokens", "foundations.learner"}},
         ["foundations.vision.augment (vision) imports foundations.text.tokens (text)"]),
        ({"foundations.callbacks.device": {"foundations.vision"}},
         ["foundations.callbacks.device (callbacks) imports foundations.vision (vision)"]),
        ({"foundations.audio": set()}, ["foundations.audio: the package 'audio' is not a layer of tests/test_layout.py's ALLOWED"]),
        ({"foundations.callbacks.metrics": {"foundations.learner", "foundations.data.loaders"},
          "foundations.text.tokens": {"foundations.text", "foundations.callbacks"}}, []),
    ],
    ids=["core->callbacks", "data->callbacks", "vision->text", "callbacks->vision", "unknown-package", "allowed"],
)
def test_the_checker_catches_wrong_directions(mapping: dict[str, set[str]], expected: list[str]) -> None:
    assert violations(mapping) == expected


def test_imports_are_found_wherever_they_stand() -> None:
    source = (
        "from typing import TYPE_CHECKING\n"
        "import foundations.learner\n"
        "from foundations import checks, __version__\n"
        "from . import loaders\n"
        "from .loaders import Dataset\n"
        "from .. import models\n"
        "import torch, foundations.optim\n"
        "if TYPE_CHECKING:\n"
        "    from foundations.callbacks import Recorder\n"
        "def f():\n"
        "    import foundations.plotting as p\n"
        "    return p\n"
    )
    modules = set(all_modules()) | {"foundations.checks"}
    got = imports_in(source, "foundations.data.probe", False, modules)
    assert got == {"foundations.learner", "foundations.checks", "foundations", "foundations.data.loaders",
                   "foundations.models", "foundations.optim", "foundations.callbacks", "foundations.plotting"}
    # in a package's __init__, `from . import x` is the package's own module x
    assert imports_in("from . import loaders", "foundations.data", True, modules) == {"foundations.data.loaders"}


def test_the_training_loop_does_not_import_matplotlib() -> None:
    code = "import foundations.learner, foundations.callbacks, sys; print('matplotlib' in sys.modules)"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "False", (
        "importing foundations.learner and foundations.callbacks imported matplotlib; plotting must import "
        "it lazily (inside the plot methods, or under TYPE_CHECKING for annotations)"
    )
