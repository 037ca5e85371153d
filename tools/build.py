"""Build the book with Jupyter Book 1, executing pages on several cores.

``jupyter-book build`` has no option for Sphinx's parallel jobs (its ``build_sphinx`` takes
``jobs`` but the command line never passes it). Pages execute while Sphinx reads them, so with
``jobs=2`` two pages run at once, each in its own kernel. Every other argument is passed to
``jupyter-book build`` unchanged. ``FOUNDATIONS_BUILD_JOBS`` sets the number (default: the number
of cores, at most 4).

Sphinx reads in parallel only when every extension says it may. One says nothing, so Sphinx would
warn (an error under ``-W``) and read serially; it is safe, and we declare it so:
``sphinx_multitoc_numbering`` (always loaded by ``sphinx_external_toc``) only replaces how section
numbers are assigned, which Sphinx does once in the main process after reading.

Usage: ``python tools/build.py --all -W -n --keep-going .``
"""

from __future__ import annotations

import functools
import importlib
import os
import sys


def jobs() -> int:
    value = os.environ.get("FOUNDATIONS_BUILD_JOBS")
    if value is None:
        return max(1, min(4, os.cpu_count() or 1))
    if not value.isdigit() or int(value) < 1:
        raise SystemExit(f"FOUNDATIONS_BUILD_JOBS: expected a positive whole number, got {value!r}")
    return int(value)


PARALLEL_SAFE = ("sphinx_multitoc_numbering",)


def declare_parallel_safe(module_name: str) -> None:
    module = importlib.import_module(module_name)
    original = module.setup
    if getattr(original, "_parallel_declared", False):
        return

    def setup(app):  # noqa: ANN001, ANN202
        meta = original(app) or {}
        return {**meta, "parallel_read_safe": True, "parallel_write_safe": True}

    setup._parallel_declared = True
    module.setup = setup


def main() -> None:
    for name in PARALLEL_SAFE:
        declare_parallel_safe(name)
    import jupyter_book.sphinx
    from jupyter_book.cli import main as cli

    # the command imports build_sphinx from jupyter_book.sphinx when it runs: patch it there
    jupyter_book.sphinx.build_sphinx = functools.partial(jupyter_book.sphinx.build_sphinx, jobs=jobs())
    sys.argv = ["jupyter-book", "build", *sys.argv[1:]]
    cli.main()


if __name__ == "__main__":
    main()
