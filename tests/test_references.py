"""The nbval references are honest: one per executed page, same code, and every unchecked output has a reason.

nbval (run by ``make test``) re-executes ``tests/references/**.ipynb`` and compares outputs with the
stored ones. These tests make sure those references still describe the pages the site is built from.
"""

from __future__ import annotations

import json
from pathlib import Path

import jupytext
import pytest

from tools.pages import ROOT, executable_pages, toc_pages

PAGES = executable_pages()
REASON_PREFIX = "# output not checked:"


def code_cells(nb) -> list[tuple[str, list[str]]]:  # noqa: ANN001
    return [
        (c["source"] if isinstance(c["source"], str) else "".join(c["source"]), sorted(c["metadata"].get("tags", [])))
        for c in nb["cells"]
        if c["cell_type"] == "code"
    ]


def test_there_are_executed_pages() -> None:
    assert len(PAGES) >= 4, f"expected the Lesson 8 pages and walkthroughs to be notebooks, found {PAGES}"


def test_every_toc_page_exists() -> None:
    missing = [str(p) for p in toc_pages() if not (ROOT / p).exists()]
    assert not missing, f"_toc.yml names pages that do not exist: {missing}"


@pytest.mark.parametrize("page", PAGES, ids=str)
def test_reference_matches_page(page: Path) -> None:
    ref = ROOT / "tests" / "references" / page.with_suffix(".ipynb")
    assert ref.exists(), f"no nbval reference for {page}: run `make references`"
    page_cells = code_cells(jupytext.read(ROOT / page))
    ref_cells = code_cells(json.loads(ref.read_text()))
    assert len(ref_cells) == len(page_cells), (
        f"{page} has {len(page_cells)} code cells, its reference {len(ref_cells)}: run `make references`"
    )
    for i, (p, r) in enumerate(zip(page_cells, ref_cells)):
        assert p == r, f"code cell {i} of {page} differs from its reference: run `make references`"


@pytest.mark.parametrize("page", PAGES, ids=str)
def test_reference_has_outputs(page: Path) -> None:
    ref = json.loads((ROOT / "tests" / "references" / page.with_suffix(".ipynb")).read_text())
    cells = [c for c in ref["cells"] if c["cell_type"] == "code"]
    assert all(c.get("execution_count") for c in cells), f"{page}: reference has unexecuted cells (nbval would skip them)"
    assert any(c.get("outputs") for c in cells), f"{page}: reference has no outputs to check"


@pytest.mark.parametrize("page", PAGES, ids=str)
def test_unchecked_outputs_give_a_reason(page: Path) -> None:
    for i, (src, tags) in enumerate(code_cells(jupytext.read(ROOT / page))):
        if "nbval-ignore-output" in tags or "nbval-skip" in tags:
            first = src.lstrip().splitlines()[0] if src.strip() else ""
            assert first.startswith(REASON_PREFIX), (
                f"{page}, code cell {i}: outputs not checked by nbval must say why, "
                f"first line `{REASON_PREFIX} <reason>`; got {first!r}"
            )


@pytest.mark.parametrize("page", PAGES, ids=str)
def test_most_outputs_are_checked(page: Path) -> None:
    cells = code_cells(jupytext.read(ROOT / page))
    ignored = sum("nbval-ignore-output" in t or "nbval-skip" in t for _, t in cells)
    assert ignored <= len(cells) // 2, f"{page}: {ignored} of {len(cells)} code cells are not checked by nbval"


@pytest.mark.parametrize("page", PAGES, ids=str)
def test_no_cell_relies_on_a_trailing_semicolon(page: Path) -> None:
    """IPython hides a cell's value when its last line ends with `;` only if the cell is stored in
    its history; nbval executes without history, so the value appears there and not in the build."""
    for i, (src, _) in enumerate(code_cells(jupytext.read(ROOT / page))):
        lines = [line for line in src.rstrip().splitlines() if line.strip()]
        if lines and lines[-1].split("#")[0].rstrip().endswith(";"):
            raise AssertionError(
                f"{page}, code cell {i}: ends with `;` to hide its value, which nbval does not honour; "
                f"assign it (`_ = ...`) or move the line up. Got {lines[-1]!r}"
            )
