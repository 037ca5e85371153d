"""Every page's outputs, as the build computed them, match its reference (nbval's comparison).

``make test`` executes each page once: the book build runs it (and fails on any failing cell),
then this test compares the notebook the build wrote (``_build/jupyter_execute/<page>.ipynb``)
with the reference in ``tests/references/`` cell by cell, using nbval's own output comparison and
the sanitizers of ``tests/references/sanitize.cfg``. Cells tagged ``nbval-ignore-output`` or
``nbval-skip`` are not compared (each says why, see ``test_references.py``); images never are.
Run after a build: ``make outputs``.
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path
from types import SimpleNamespace

import nbformat
import pytest
from nbval.plugin import IPyNbCell, coalesce_streams, get_sanitize_patterns, nocolors

from tools.make_references import clean
from tools.pages import ROOT, executable_pages

BUILT = Path(os.environ.get("SITE_HTML", ROOT / "_build" / "html")).parent / "jupyter_execute"
SANITIZE = ROOT / "tests" / "references" / "sanitize.cfg"
SKIP_COMPARE = (
    "metadata", "traceback", "prompt_number", "output_type", "name", "execution_count",
    "application/vnd.jupyter.widget-view+json", "image/png", "image/jpeg", "image/svg+xml",
)
UNCHECKED_TAGS = {"nbval-ignore-output", "nbval-skip"}

pytestmark = pytest.mark.built
PAGES = executable_pages()


class OutputComparison:
    """nbval's comparison of two cells' outputs, without a kernel (it only needs these attributes)."""

    compare_outputs = IPyNbCell.compare_outputs
    sanitize = IPyNbCell.sanitize

    def __init__(self, patterns: dict[str, str]) -> None:
        self.parent = SimpleNamespace(skip_compare=SKIP_COMPARE, sanitize_patterns=patterns)
        self.colors = nocolors
        self.comparison_traceback: list[str] = []

    def format_output_compare(self, key: str, left: object, right: object) -> None:
        """nbval's report needs a pytest item; ours is a diff, reference first (-), build second (+)."""
        diff = difflib.unified_diff(str(left).splitlines(), str(right).splitlines(), "reference", "build", lineterm="")
        self.comparison_traceback.append(f"{key} differs:\n" + "\n".join(list(diff)[2:]))

    def differences(self, test: list, ref: list) -> str | None:
        """None when nbval would accept ``test`` for ``ref``, else its explanation."""
        test = coalesce_streams([nbformat.from_dict(o) for o in test])
        ref = coalesce_streams([nbformat.from_dict(o) for o in ref])
        return None if self.compare_outputs(test, ref) else "\n".join(self.comparison_traceback)


def patterns() -> dict[str, str]:
    return dict(get_sanitize_patterns(SANITIZE.read_text()))


def load(path: Path) -> dict:
    return clean(nbformat.read(path, as_version=4))


def code_cells(nb: dict) -> list[dict]:
    return [c for c in nb["cells"] if c["cell_type"] == "code"]


def compare_notebooks(built: dict, ref: dict, page: str) -> list[str]:
    """One message per code cell whose outputs differ from the reference's (checked cells only)."""
    cmp = OutputComparison(patterns())
    built_cells, ref_cells = code_cells(built), code_cells(ref)
    if len(built_cells) != len(ref_cells):
        return [f"{page}: the build has {len(built_cells)} code cells, the reference {len(ref_cells)}: "
                "run `make references` after checking the new outputs"]
    problems = []
    for i, (b, r) in enumerate(zip(built_cells, ref_cells)):
        if UNCHECKED_TAGS & set(b["metadata"].get("tags", [])):
            continue
        diff = cmp.differences(b.get("outputs", []), r.get("outputs", []))
        if diff is not None:
            first = "".join(b["source"]).strip().splitlines()[:1]
            problems.append(f"{page}, code cell {i} ({first[0][:60] if first else ''!r}):\n{diff}")
    return problems


@pytest.mark.parametrize("page", PAGES, ids=str)
def test_built_outputs_match_reference(page: Path) -> None:
    built_path = BUILT / page.with_suffix(".ipynb")
    if not built_path.exists():
        pytest.fail(f"no executed notebook {built_path.relative_to(ROOT)}: run `make book` first")
    assert built_path.stat().st_mtime >= (ROOT / page).stat().st_mtime, (
        f"{built_path.relative_to(ROOT)} is older than {page}: rebuild (`make book`) before comparing"
    )
    built = load(built_path)
    cells = code_cells(built)
    assert cells and all(c.get("execution_count") for c in cells), (
        f"{built_path.relative_to(ROOT)} has unexecuted cells (a cached build?): build with execution forced"
    )
    ref = load(ROOT / "tests" / "references" / page.with_suffix(".ipynb"))
    problems = compare_notebooks(built, ref, str(page))
    assert not problems, "\n\n".join(problems)


# The comparison itself must be able to fail.
def _cell(outputs: list, tags: tuple = ()) -> dict:
    return {"cell_type": "code", "source": "x", "metadata": {"tags": list(tags)}, "execution_count": 1,
            "outputs": outputs}


def _stream(text: str) -> dict:
    return {"output_type": "stream", "name": "stdout", "text": text}


def _nb(*cells: dict) -> dict:
    return {"cells": list(cells)}


def test_comparison_accepts_equal_outputs_and_sanitised_differences() -> None:
    ref = _nb(_cell([_stream("acc 0.9625 at 0x7f00aa\n")]))
    built = _nb(_cell([_stream("acc 0.9625 at 0x55bb11\n")]))
    assert compare_notebooks(built, ref, "p") == []


def test_comparison_accepts_a_stream_split_mid_line() -> None:
    """myst-nb joins stream chunks with a line break after stripping their ends: a print of two
    arguments split between its writes comes back as two lines."""
    ref = _nb(_cell([_stream("default init, after ReLU: mean  0.2224\nnext line\n")]))
    built = _nb(_cell([_stream("default init, after ReLU:\nmean  0.2224\nnext line\n")]))
    assert compare_notebooks(built, ref, "p") == []
    other = _nb(_cell([_stream("default init, after ReLU: mean  0.22 24\nnext line\n")]))
    assert compare_notebooks(other, ref, "p") != []


def test_comparison_refuses_a_changed_number() -> None:
    ref = _nb(_cell([_stream("acc 0.9625\n")]))
    built = _nb(_cell([_stream("acc 0.9631\n")]))
    problems = compare_notebooks(built, ref, "p")
    assert len(problems) == 1 and "0.9631" in problems[0] and "0.9625" in problems[0]


def test_comparison_refuses_a_changed_glued_value() -> None:
    glue = lambda v: {"output_type": "display_data", "metadata": {},  # noqa: E731
                      "data": {"application/papermill.record/text/plain": v}}
    problems = compare_notebooks(_nb(_cell([glue("'96.1 %'")])), _nb(_cell([glue("'96.3 %'")])), "p")
    assert len(problems) == 1


def test_comparison_skips_unchecked_cells_and_a_missing_cell_fails() -> None:
    ref = _nb(_cell([_stream("1.2 ms\n")], tags=("nbval-ignore-output",)))
    built = _nb(_cell([_stream("3.4 ms\n")], tags=("nbval-ignore-output",)))
    assert compare_notebooks(built, ref, "p") == []
    assert compare_notebooks(_nb(), ref, "p") != []
