"""Build the book with Jupyter Book 1, executing pages on several cores.

``jupyter-book build`` has no option for Sphinx's parallel jobs (its ``build_sphinx`` takes
``jobs`` but the command line never passes it). Pages execute while Sphinx reads them, so with
``jobs=2`` two pages run at once, each in its own kernel. Every other argument is passed to
``jupyter-book build`` unchanged. ``FOUNDATIONS_BUILD_JOBS`` sets the number (default: the number
of cores, at most 4).

Usage: ``python tools/build.py --all -W -n --keep-going .``
"""

from __future__ import annotations

import functools
import os
import sys


def jobs() -> int:
    value = os.environ.get("FOUNDATIONS_BUILD_JOBS")
    if value is None:
        return max(1, min(4, os.cpu_count() or 1))
    if not value.isdigit() or int(value) < 1:
        raise SystemExit(f"FOUNDATIONS_BUILD_JOBS: expected a positive whole number, got {value!r}")
    return int(value)


def main() -> None:
    import jupyter_book.sphinx
    from jupyter_book.cli import main as cli

    # the command imports build_sphinx from jupyter_book.sphinx when it runs: patch it there
    jupyter_book.sphinx.build_sphinx = functools.partial(jupyter_book.sphinx.build_sphinx, jobs=jobs())
    sys.argv = ["jupyter-book", "build", *sys.argv[1:]]
    cli.main()


if __name__ == "__main__":
    main()
