"""Every symbol a paper walkthrough defines is also on the global notation page.

Each walkthrough (``book/papers/*.md``) ends with a notation table whose columns are the book's
seven: symbol, read aloud, meaning, kind / shape, name in code, first used, LaTeX. The global page
(``book/notation.md``) has a table with the same columns. A symbol is identified by its LaTeX cell:
every inline-code span there (`` `\\hat{n}_l = k^2 d` ``, two spans for `` `\\Var`, `\\E` ``) must
appear in the LaTeX column of the global table, up to whitespace and the book-wide macros (``\\vx``
is ``\\mathbf{x}``). A walkthrough that introduces a symbol therefore has to add it to the global
page too.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAPERS = sorted((ROOT / "book" / "papers").glob("*.md"))
GLOBAL = ROOT / "book" / "notation.md"

# The book-wide macros of _config.yml, written out, so that `\vx_l` and `\mathbf{x}_l` are one symbol.
MACROS = {
    r"\vx": r"\mathbf{x}",
    r"\vy": r"\mathbf{y}",
    r"\vz": r"\mathbf{z}",
    r"\vb": r"\mathbf{b}",
    r"\mW": r"\mathbf{W}",
}
NOTES = re.compile(r"\((?:book macro|no command)\)")


def split_row(line: str) -> list[str]:
    """The cells of one Markdown table row; a ``|`` inside inline code or inline maths does not split."""
    line = line.strip()
    if line.startswith("|"):
        line = line[1:]
    if line.endswith("|") and not line.endswith("\\|"):
        line = line[:-1]
    cells, current, in_code, in_math = [], [], False, False
    for i, ch in enumerate(line):
        if ch == "`" and not in_math:
            in_code = not in_code
        elif ch == "$" and not in_code and (i == 0 or line[i - 1] != "\\"):
            in_math = not in_math
        if ch == "|" and not in_code and not in_math and (i == 0 or line[i - 1] != "\\"):
            cells.append("".join(current).strip())
            current = []
        else:
            current.append(ch)
    cells.append("".join(current).strip())
    return cells


def notation_tables(text: str) -> list[list[dict[str, str]]]:
    """Every Markdown table whose header has a ``symbol`` and a ``LaTeX`` column, as rows of dicts."""
    tables, lines, i = [], text.splitlines(), 0
    while i < len(lines):
        header = split_row(lines[i]) if lines[i].lstrip().startswith("|") else []
        is_rule = i + 1 < len(lines) and re.fullmatch(r"\s*\|?\s*:?-{3,}.*", lines[i + 1] or "")
        if "symbol" in header and "LaTeX" in header and is_rule:
            rows, i = [], i + 2
            while i < len(lines) and lines[i].lstrip().startswith("|"):
                cells = split_row(lines[i])
                rows.append(dict(zip(header, cells + [""] * (len(header) - len(cells)))))
                i += 1
            tables.append(rows)
        else:
            i += 1
    return tables


def latex_symbols(text: str) -> list[str]:
    """The symbols (inline-code spans of the LaTeX column) of every notation table in ``text``."""
    symbols = []
    for table in notation_tables(text):
        for row in table:
            cell = NOTES.sub("", row.get("LaTeX", ""))
            symbols.extend(span for span in re.findall(r"`([^`]+)`", cell) if span.strip() not in {"", "—"})
    return symbols


def normalise(symbol: str) -> str:
    for macro, expansion in MACROS.items():
        symbol = re.sub(re.escape(macro) + r"(?![A-Za-z])", lambda _m, e=expansion: e, symbol)
    return re.sub(r"\s+", "", symbol)


def missing_symbols(walkthrough: str, global_page: str) -> list[str]:
    """Symbols of ``walkthrough``'s notation table that the global page's tables lack."""
    known = {normalise(s) for s in latex_symbols(global_page)}
    return [s for s in latex_symbols(walkthrough) if normalise(s) not in known]


# --- the parser itself, on a made-up table, so that the check below can fail --------------------

MADE_UP_PAGE = """
Some prose with a | bar.

| symbol | read aloud | meaning | kind / shape | name | first used | LaTeX |
|---|---|---|---|---|---|---|
| $\\vx_l$ | "x l" | input | $(N, w)$ | `x` | §2 | `\\mathbf{x}_l` |
| $\\lVert A \\rVert$ | "norm" | a norm, not a $|$cell$|$ split | scalar | `a | b` | §3 | `\\lVert A \\rVert` |
| $\\Var$, $\\E$ | "variance", "expectation" | two symbols | scalars | — | §2 | `\\Var`, `\\E` (book macro) |
| — | "momentum" | no symbol | scalar | `mom` | — | — |

| a | b |
|---|---|
| `\\notasymbol` | x |
"""

MADE_UP_GLOBAL = """
| symbol | read aloud | meaning | kind / shape | name in `foundations` | first used | LaTeX |
|---|---|---|---|---|---|---|
| $\\vx_l$ | "x l" | input of block $l$ | $(N, w)$ | — | fixup | `\\vx_l` |
| $\\Var$ | "variance of" | variance | scalar | `t.var()` | Lesson 8 | `\\Var` |
"""


def test_split_row_keeps_code_and_maths_whole() -> None:
    assert split_row("| $|x|$ | `a | b` | c |") == ["$|x|$", "`a | b`", "c"]


def test_parser_reads_only_notation_tables() -> None:
    assert latex_symbols(MADE_UP_PAGE) == [r"\mathbf{x}_l", r"\lVert A \rVert", r"\Var", r"\E"]
    assert len(notation_tables(MADE_UP_PAGE)) == 1


def test_missing_symbols_are_reported() -> None:
    # \mathbf{x}_l is \vx_l (a book macro); \Var is there; the norm and \E are not
    assert missing_symbols(MADE_UP_PAGE, MADE_UP_GLOBAL) == [r"\lVert A \rVert", r"\E"]


def test_every_walkthrough_has_a_notation_table() -> None:
    assert PAPERS, "no walkthroughs found under book/papers"
    for page in PAPERS:
        assert latex_symbols(page.read_text()), f"{page.name}: no notation table with a LaTeX column"


# --- the check on the book ------------------------------------------------------------------------


@pytest.mark.parametrize("page", PAPERS, ids=lambda p: f"papers/{p.stem}")
def test_walkthrough_symbols_are_on_the_notation_page(page: Path) -> None:
    missing = missing_symbols(page.read_text(), GLOBAL.read_text())
    assert not missing, (
        f"{page.relative_to(ROOT)}: symbols of its notation table missing from book/notation.md's table "
        "(add a row with the same LaTeX):\n" + "\n".join(f"  `{s}`" for s in missing)
    )
