"""Numbers in prose are computed, or say where they come from.

A number in a page's prose that looks measured (a percentage, a ratio written with ×, a time in
s, ms, µs, ns or minutes) must either be glued from the cell that measures it
(`` {glue:text}`key` ``, myst-nb) or be marked as a figure from elsewhere:
`` {from2019}`96.25 %` `` (the 2019 course) or `` {frompaper}`0.5 %` `` (the paper a walkthrough
reads). Code, maths, inline code and links are not prose. A setting the page chooses (a split, a
dropout probability) is better written without the look of a measurement ("a tenth", ``p = 0.5``)
or glued from the variable that holds it.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tools.pages import ROOT, toc_pages

PAGES = [p for p in toc_pages() if (ROOT / p).exists()]

MEASURED = re.compile(
    r"(?<![\w.])\d[\d,.]*(?:\s|&nbsp;|\u202f|\u2009)?"
    r"(?:%|×|(?:s|ms|µs|μs|us|ns|min|seconds?|minutes?)\b)"
)
# Spans that are not prose, or that are glued or sourced; removed before the search.
NOT_PROSE = [
    re.compile(r"\A---\n.*?\n---\n", re.S),  # front matter
    re.compile(r"^(`{3,}|~{3,})[^\n]*\n.*?^\1[ \t]*$", re.S | re.M),  # code cells, fences, directives' bodies
    re.compile(r"^:{3,}[^\n]*$", re.M),  # colon-fence lines
    re.compile(r"<!--.*?-->", re.S),
    re.compile(r"\$\$.*?\$\$", re.S),
    re.compile(r"\\begin\{(\w+\*?)\}.*?\\end\{\1\}", re.S),
    re.compile(r"(?<![\\$])\$[^$\n]+?\$"),
    re.compile(r"\{(?:glue|glue:text|glue:any|from2019|frompaper)\}`[^`]*`"),
    re.compile(r"\{[\w:-]+\}`[^`]*`"),  # other roles: {doc}, {term}, {ref}, ...
    re.compile(r"(`+).+?\1", re.S),  # inline code
    re.compile(r"\]\([^)]*\)"),  # link targets
]


def prose(text: str) -> str:
    for pattern in NOT_PROSE:
        text = pattern.sub(lambda m: "\n" * m.group(0).count("\n"), text)
    return text


def unmarked_numbers(text: str) -> list[tuple[int, str]]:
    """(line number, number) for each measured-looking number left in the prose of ``text``."""
    found = []
    for lineno, line in enumerate(prose(text).splitlines(), start=1):
        found.extend((lineno, m.group(0)) for m in MEASURED.finditer(line))
    return found


@pytest.mark.parametrize("page", PAGES, ids=str)
def test_measured_numbers_in_prose_are_glued_or_sourced(page: Path) -> None:
    found = unmarked_numbers((ROOT / page).read_text())
    assert not found, (
        f"{page}: numbers that look measured, neither glued ({{glue:text}}`key`) nor marked "
        "{from2019}`...` / {frompaper}`...`:\n" + "\n".join(f"  line {n}: {s!r}" for n, s in found)
    )


@pytest.mark.parametrize(
    "text, expected",
    [
        ("It reaches 96.25 % after five epochs.", ["96.25 %"]),
        ("about 219,554× faster, in 835 ms", ["219,554×", "835 ms"]),
        ("took 3.4 s and 12 µs", ["3.4 s", "12 µs"]),
        ("It reaches {glue:text}`acc` after five epochs.", []),
        ("The course had {from2019}`96.25 %`; the paper {frompaper}`0.5 %`.", []),
        ("code `x = 50 %` and maths $p = 5\\%$", []),
        ("```{code-cell} ipython3\nprint('96 %')\n```\n", []),
        ("see [the 10 % rule](https://example.org/10%25)", ["10 %"]),
        ("version 2.13 of 5 layers", []),
    ],
)
def test_the_check_finds_what_it_should(text: str, expected: list[str]) -> None:
    assert [s for _, s in unmarked_numbers(text)] == expected
