"""A progress bar: one terminal line, one notebook output, or only the final line in a log.

Introduced in Lesson 8, "Matrix multiplication" (lessons/08_matmul), where :func:`foundations.data.get_mnist` downloads
MNIST and ``foundations.data`` shows each file's bytes arriving. Lesson 11's training progress (batches
of each epoch) will use the same :class:`Progress`, with ``unit="batches"``.

``FOUNDATIONS_PROGRESS=0`` turns every bar off. ``__all__`` is :class:`Progress` and
:data:`PROGRESS_ENV`. Helpers that ``foundations.data`` imports by name but that are not part of
the public API (not in ``__all__``): :func:`human_bytes` and :func:`in_notebook`.

This module is core: it imports the standard library only (IPython lazily, in a notebook) and never
``foundations.data``.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any

__all__ = ["PROGRESS_ENV", "Progress"]

PROGRESS_ENV = "FOUNDATIONS_PROGRESS"
"""The environment variable that turns progress bars off when set to ``0`` (or ``false``, ``no``,
``off``). Derived in Lesson 8, "Matrix multiplication" (lessons/08_matmul), whose first
``get_mnist()`` shows a download progress line."""


def in_notebook() -> bool:
    """Whether this runs in a Jupyter kernel (an IPython ``ZMQInteractiveShell``)."""
    if "ipykernel" not in sys.modules:
        return False
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and type(shell).__name__ == "ZMQInteractiveShell"


def human_bytes(n: float) -> str:
    """``999 B``, ``1.2 kB``, ``16.7 MB``, ``1.5 GB`` (powers of 1000, like a download's size)."""
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"  # unreachable; keeps type checkers content


def _enabled() -> bool:
    return os.environ.get(PROGRESS_ENV, "1").strip().lower() not in ("0", "false", "no", "off")


class Progress:
    """Reports how much of ``total`` is done, in one of three ways.

    Terminal: one stderr line rewritten with ``\\r``, at most 10 times a second. Notebook (an IPython
    kernel): one display output updated in place at most twice a second, never a log of lines.
    Anything else (a log file, CI): only the final line. ``FOUNDATIONS_PROGRESS=0`` silences it
    (``enabled`` overrides the variable). ``unit="B"`` shows sizes (``1.2 kB/3.0 MB``); any other unit
    shows counts (``188/469 batches``).

    Call :meth:`update` with each increment, then :meth:`close` with the final line, or :meth:`clear`
    to end without one (an interrupt, or a result printed elsewhere).

    Derived in Lesson 8, "Matrix multiplication" (lessons/08_matmul), where the first
    ``get_mnist()`` shows MNIST's bytes arriving with it.
    """

    def __init__(self, label: str, total: int, enabled: bool | None = None, *, unit: str = "B") -> None:
        self.label, self.total, self.done, self.unit = label, total, 0, unit
        self.mode = "off"
        self.handle: Any = None
        if _enabled() if enabled is None else enabled:
            if in_notebook():
                self.mode = "notebook"
            elif getattr(sys.stderr, "isatty", lambda: False)():
                self.mode = "terminal"
            else:
                self.mode = "plain"  # a log or CI: only the final line
        self.interval = {"terminal": 0.1, "notebook": 0.5}.get(self.mode, float("inf"))
        self.last = float("-inf")
        self.width = 0  # length of the terminal line, so the final message can cover it
        self._show(force=True)

    def _amount(self) -> str:
        if self.unit == "B":
            return f"{human_bytes(self.done)}/{human_bytes(self.total)}"
        return f"{self.done}/{self.total} {self.unit}"

    def _text(self) -> str:
        frac = min(self.done / self.total, 1.0) if self.total else 1.0
        width = 30
        bar = "#" * int(frac * width) + "-" * (width - int(frac * width))
        return f"{self.label} [{bar}] {frac:6.1%} {self._amount()}"

    def _show(self, force: bool = False) -> None:
        if self.mode == "off":
            return
        now = time.monotonic()
        if not force and now - self.last < self.interval:
            return
        self.last = now
        text = self._text()
        if self.mode == "terminal":
            self.width = max(self.width, len(text))
            sys.stderr.write("\r" + text)
            sys.stderr.flush()
        elif self.mode == "notebook":
            try:
                from IPython.display import display

                if self.handle is None:
                    self.handle = display({"text/plain": text}, raw=True, display_id=True)
                else:
                    self.handle.update({"text/plain": text}, raw=True)
            except Exception:  # no display machinery after all: print once, then only at the end
                self.mode = "plain"
                print(text, file=sys.stderr)

    def update(self, n: int) -> None:
        """Add ``n`` to what is done; redraw if the last redraw is old enough."""
        self.done += n
        self._show()

    def clear(self) -> None:
        """End without a message (an interrupt, or a check whose result is printed elsewhere)."""
        if self.mode == "terminal":
            sys.stderr.write("\r" + " " * self.width + "\r")
            sys.stderr.flush()
        elif self.mode == "notebook" and self.handle is not None:
            self.handle.update({"text/plain": f"{self.label}: stopped"}, raw=True)

    def close(self, message: str) -> None:
        """End with ``message`` in place of the bar (in a log: the only line written)."""
        if self.mode == "terminal":
            sys.stderr.write("\r" + message.ljust(self.width) + "\n")
            sys.stderr.flush()
        elif self.mode == "notebook" and self.handle is not None:
            self.handle.update({"text/plain": message}, raw=True)
        elif self.mode == "plain":
            print(message, file=sys.stderr)
