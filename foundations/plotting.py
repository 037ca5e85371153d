"""One figure style for the whole book, sized for its column.

Every page that draws calls :func:`use_book_style` once in its setup cell and makes figures with
:func:`subplots`, so figures are as wide as the book's text column (about 700 CSS pixels at a
desktop width) and their labels stay readable there: a figure is never shrunk by more than a
quarter to fit (``tests/test_site.py`` checks this in the browser), and a reader can click any
figure to see it full size. Panels that would sit side by side in a wide figure wrap into rows of
at most ``max_cols``.

Derived in Lesson 8, "Matrix multiplication" (lessons/08_matmul), and used by every page after it.
No ``Module`` base: figures only.
"""

from __future__ import annotations

import math
from typing import Any

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np

from foundations import checks

__all__ = ["BOOK_STYLE", "COLUMN_WIDTH", "DPI", "ROW_HEIGHT", "subplots", "use_book_style"]

COLUMN_WIDTH = 7.0
"""Width of the book's text column in inches at :data:`DPI` (7 in x 100 dpi = 700 px). Derived in Lesson 8, "Matrix multiplication" (lessons/08_matmul)."""

DPI = 100
"""Resolution of the PNGs the pages embed: one pixel of the figure is one CSS pixel of the page. Derived in Lesson 8, "Matrix multiplication" (lessons/08_matmul)."""

ROW_HEIGHT = 2.9
"""Height of one row of panels, in inches. Derived in Lesson 8, "Matrix multiplication" (lessons/08_matmul)."""

BOOK_STYLE: dict[str, Any] = {
    "figure.figsize": (COLUMN_WIDTH, 3.6),
    "figure.dpi": DPI,
    "savefig.dpi": DPI,
    "figure.constrained_layout.use": True,
    "font.size": 10,
    "axes.titlesize": 10.5,
    "axes.labelsize": 10,
    "xtick.labelsize": 9,
    "ytick.labelsize": 9,
    "legend.fontsize": 9,
    "legend.framealpha": 0.85,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "lines.linewidth": 1.6,
    "image.cmap": "viridis",
}
"""The matplotlib settings :func:`use_book_style` applies. Derived in Lesson 8, "Matrix multiplication" (lessons/08_matmul)."""


def use_book_style() -> None:
    """Set matplotlib's defaults to the book's style (column-wide figures, readable labels).

    In a notebook it also asks the inline backend for plain PNGs at :data:`DPI` (no extra
    cropping), so the size a page chooses is the size a reader sees.
    Derived in Lesson 8, "Matrix multiplication" (lessons/08_matmul).
    """
    mpl.rcParams.update(BOOK_STYLE)
    try:  # only inside IPython: the inline backend's own defaults would override ours
        from IPython import get_ipython

        shell = get_ipython()
    except ImportError:  # pragma: no cover - IPython is always there in the book's venv
        shell = None
    if shell is not None and hasattr(shell, "run_line_magic"):
        shell.run_line_magic("config", "InlineBackend.figure_formats = ['png']")
        shell.run_line_magic("config", "InlineBackend.rc = {}")
        shell.run_line_magic("config", f"InlineBackend.print_figure_kwargs = {{'bbox_inches': None, 'dpi': {DPI}}}")


def subplots(
    n: int = 1,
    *,
    max_cols: int = 2,
    row_height: float = ROW_HEIGHT,
    width: float = COLUMN_WIDTH,
    **kwargs: Any,
) -> tuple[plt.Figure, Any]:
    """``n`` panels laid out for the column: at most ``max_cols`` side by side, wrapping into rows.

    Returns ``(fig, ax)`` for one panel and ``(fig, axes)`` with a flat array of ``n`` axes
    otherwise (unused grid cells are removed). Extra keyword arguments go to ``plt.subplots``
    (``sharex``, ``sharey``, ``gridspec_kw``, ...).
    Derived in Lesson 8, "Matrix multiplication" (lessons/08_matmul).

    >>> fig, axes = subplots(3)   # two panels in the first row, one in the second
    """
    n = checks.positive_int("subplots", "n", n)  # panels
    max_cols = checks.positive_int("subplots", "max_cols", max_cols)
    row_height = checks.real("subplots", "row_height", row_height, positive=True)
    width = checks.real("subplots", "width", width, positive=True)
    if width > COLUMN_WIDTH + 1e-9:
        raise ValueError(f"subplots: a figure wider than the column ({COLUMN_WIDTH} in) is shrunk "
                         f"and its labels become unreadable; got width {width}")
    cols = min(n, max_cols)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(width, row_height * rows), squeeze=False, **kwargs)
    flat = axes.ravel()
    for ax in flat[n:]:
        ax.remove()
    if n == 1:
        return fig, flat[0]
    return fig, np.asarray(flat[:n])
