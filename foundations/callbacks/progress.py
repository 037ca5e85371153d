"""Progress bars for training: epochs, batches and a table of metrics, with fastprogress.

Derived in Lesson 11, "One Learner, with progress bars" (lessons/11_learner). The course's
progress bars come from fastprogress (the fast.ai team's library, pinned in ``requirements.txt``):
in a notebook or a built page they are HTML ``<progress>`` elements updated in place, in a terminal
they are text bars redrawn with a carriage return, and where the output is neither a terminal nor a
notebook (a log file, CI) the bars are left out and only the table's lines are written.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any

from foundations import checks
from foundations.learner import Callback, Order

__all__ = ["ProgressCallback", "format_time"]


def format_time(seconds: float) -> str:
    """``seconds`` as ``mm:ss`` (``h:mm:ss`` from an hour), as the progress table shows epoch times:
    fastprogress's format, with the argument checked (a negative or NaN time is an error).

    >>> format_time(75.4), format_time(3725)
    ('01:15', '1:02:05')

    Derived in Lesson 11, "One Learner, with progress bars" (lessons/11_learner).
    """
    from fastprogress.core import format_time as fastprogress_format_time  # the bars' own format

    return fastprogress_format_time(checks.real("format_time", "seconds", seconds, min=0.0))


def _kind(console: bool | None) -> str:
    """Which bars to draw: ``"notebook"`` inside a Jupyter kernel, ``"console"`` on a terminal (or
    when ``console`` is True), ``"none"`` when the output is a file or a pipe (a log would fill with
    redrawn bars)."""
    from fastprogress import fastprogress as fp  # imported when a fit starts: importing callbacks stays light

    if console:
        return "console"
    if console is None and fp.IN_NOTEBOOK:
        return "notebook"
    return "console" if sys.stdout.isatty() else "none"


class _TableOnly:
    """Stands in for a master bar where no bars are drawn: writes the table's rows, aligned."""

    def __init__(self) -> None:
        self.widths: list[int] = []

    def write(self, line: list[str], table: bool = True) -> None:
        if not self.widths:
            self.widths = [max(8, len(name)) for name in line]
        print("  ".join(cell.ljust(w) for cell, w in zip(line, self.widths)).rstrip(), flush=True)

    def on_iter_begin(self) -> None: ...
    def on_iter_end(self) -> None: ...
    def update(self, val: int) -> None: ...


class ProgressCallback(Callback):
    """A bar over the epochs, a bar over each pass's batches, and one table row per epoch.

    The row holds the epoch, the training and validation averages of
    :class:`~foundations.callbacks.AvgStatsCallback` (when the learner has one: its own printing is
    switched off for the fit, and restored after) and the epoch's time. ``console=None`` picks the
    notebook bars inside a Jupyter kernel, text bars on a terminal, and the table alone when the
    output goes to a file or a pipe; ``True`` forces text bars. ``learn.progress.kind`` says which
    (``"notebook"``, ``"console"``, ``"none"``).
    ``learn.progress.rows`` keeps the table's rows (strings, as shown), the header first.
    ``Order.PROGRESS``: its ``after_epoch`` runs after every other callback's.

    Derived in Lesson 11, "One Learner, with progress bars" (lessons/11_learner).
    """

    order = Order.PROGRESS

    def __init__(self, console: bool | None = None) -> None:
        if console is not None:
            console = checks.boolean("ProgressCallback", "console", console)
        self.console = console
        self.rows: list[list[str]] = []

    def _stats(self) -> Any:
        return self.learn.__dict__.get("avg_stats")

    def begin_fit(self) -> None:
        from fastprogress import fastprogress as fp

        self.kind = _kind(self.console)
        if self.kind == "notebook":
            self.mbar, self._progress_bar = fp.NBMasterBar(range(self.epochs)), fp.NBProgressBar
        elif self.kind == "console":
            self.mbar, self._progress_bar = fp.ConsoleMasterBar(range(self.epochs)), fp.ConsoleProgressBar
        else:
            self.mbar, self._progress_bar = _TableOnly(), None
        self.mbar.update(0)  # starts the bars (fastprogress's master bar begins with its first update)
        stats = self._stats()
        self._muted = stats is not None and stats.verbose
        if self._muted:
            stats.verbose = False
        names = ["epoch"]
        if stats is not None:
            names += [f"train_{n}" for n in stats.train_stats.names] + [f"valid_{n}" for n in stats.valid_stats.names]
        self.rows = [names + ["time"]]
        self.mbar.write(self.rows[0], table=True)

    def _start_bar(self) -> None:
        self.pb = None if self._progress_bar is None else self._progress_bar(range(self.iters), parent=self.mbar)
        if self.pb is not None:
            self.pb.update(0)

    def begin_epoch(self) -> None:
        self._t0 = time.perf_counter()
        self._start_bar()

    def begin_validate(self) -> None:
        self._start_bar()

    def after_batch(self) -> None:
        if self.pb is not None:
            self.pb.update(self.iter + 1)

    def after_epoch(self) -> None:
        row = [str(self.epoch + 1)]
        stats = self._stats()
        if stats is not None:
            row += [f"{v:.6f}" for v in stats.train_stats.averages + stats.valid_stats.averages]
        row.append(format_time(time.perf_counter() - self._t0))
        self.rows.append(row)
        self.mbar.write(row, table=True)
        self.mbar.update(self.epoch + 1)

    def after_fit(self) -> None:
        if getattr(self, "_muted", False):
            self._stats().verbose = True
            self._muted = False
        if getattr(self, "kind", None) == "notebook" and hasattr(self.mbar, "child"):
            # fastprogress replaces the bars by the table when the last epoch ends; show them again,
            # full (or where a cancelled fit left them), above the table, so a saved notebook or a
            # built page keeps both
            self.mbar.show()
