"""The results page (book/results.md + book/results.yml + book/_ext/results.py).

Unit tests check the table's rules on fake glue caches: values come from the pages' glued outputs,
a missing key is reported (the build turns it into a failure), 2019's and the papers' figures are
marked as such. The tests marked ``site`` read the built page: every row shows a computed value.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
from bs4 import BeautifulSoup
from docutils import nodes

ROOT = Path(__file__).resolve().parent.parent
HTML = Path(os.environ.get("SITE_HTML", ROOT / "_build" / "html"))
sys.path.insert(0, str(ROOT / "book" / "_ext"))
import results  # noqa: E402


def _glue(folder: Path, page: str, values: dict[str, str]) -> None:
    path = folder.joinpath(*page.split("/")).with_suffix(".glue.json")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({k: {"data": {"text/plain": repr(v)}} for k, v in values.items()}))


def _link(page: str, text: str) -> nodes.Node:
    return nodes.reference("", text, refuri=page + ".html")


ROWS = [
    {"part": "Lesson 9", "result": "MLP", "page": "lessons/09_x", "ours": "{acc} (5 seeds)", "then": "96.25 %",
     "then_from": 2019, "plot": "MLP"},
    {"part": "Walkthrough", "result": "paper {n}", "page": "book/papers/p", "ours": "{a} / {b}", "then": "a claim",
     "then_from": "paper"},
]


def test_values_come_from_the_pages_glue(tmp_path: Path) -> None:
    _glue(tmp_path, "lessons/09_x", {"acc": "97.44 % ± 0.09"})
    _glue(tmp_path, "book/papers/p", {"a": "1.2e-01", "b": "4.1e-02", "n": "7"})
    tables, problems, points = results.build_results(ROWS, tmp_path, {}, _link)
    assert problems == []
    text = " ".join(t.astext() for t in tables)
    assert "97.44 % ± 0.09 (5 seeds)" in text and "1.2e-01 / 4.1e-02" in text and "paper 7" in text
    assert points == [("MLP", 97.44, 96.25)]
    assert [t.astext() for t in tables if isinstance(t, nodes.rubric)] == ["Lesson 9", "Walkthrough"]
    sourced = [n for t in tables for n in t.findall(nodes.inline) if "sourced" in n["classes"]]
    assert {tuple(n["classes"]) for n in sourced} == {("sourced", "from-2019"), ("sourced", "from-paper")}


def test_a_key_the_page_did_not_glue_is_reported(tmp_path: Path) -> None:
    _glue(tmp_path, "lessons/09_x", {"other": "1"})
    _, problems, points = results.build_results(ROWS[:1], tmp_path, {}, _link)
    assert problems == ["lessons/09_x glued no 'acc' (results row 'MLP')"]
    assert points == []  # nothing plotted from a missing value


def test_a_recorded_full_run_fills_its_column(tmp_path: Path) -> None:
    _glue(tmp_path, "lessons/09_x", {"acc": "97 %"})
    full = {"recorded": "2026-12-01", "device": "GPU", "values": {"lessons/09_x::acc": "98.1 %"}}
    tables, _, _ = results.build_results(ROWS[:1], tmp_path, full, _link)
    assert "98.1 %" in tables[1].astext()
    tables, _, _ = results.build_results(ROWS[:1], tmp_path, {}, _link)
    assert "not run" in tables[1].astext()


def test_spec_rows_are_complete_and_name_pages_that_exist() -> None:
    rows = results.load_spec()
    assert len(rows) >= 40
    for row in rows:
        assert (ROOT / f"{row['page']}.md").is_file(), f"results.yml: no page {row['page']}"
        assert results.KEY.search(row["ours"]), f"results.yml: row {row['result']!r} shows no glued value"
        # whether the page glues each key is checked by the build (a missing key fails it)
    walkthroughs = {p.stem for p in (ROOT / "book" / "papers").glob("*.md")}
    covered = {row["page"].rsplit("/", 1)[1] for row in rows if row["page"].startswith("book/papers/")}
    assert walkthroughs <= covered, f"walkthroughs without a results row: {sorted(walkthroughs - covered)}"
    lessons = {p.stem for p in (ROOT / "lessons").glob("*.md")}
    in_rows = {row["page"].rsplit("/", 1)[1] for row in rows if row["page"].startswith("lessons/")}
    assert lessons <= in_rows, f"lessons without a results row: {sorted(lessons - in_rows)}"


def test_spec_rejects_a_row_without_its_source(tmp_path: Path) -> None:
    bad = tmp_path / "r.yml"
    bad.write_text('- {part: L, result: r, page: p, ours: "{k}", then: "1 %"}\n')
    with pytest.raises(ValueError, match="then_from must be 2019 or paper"):
        results.load_spec(bad)
    bad.write_text('- {part: L, result: r, page: p}\n')
    with pytest.raises(ValueError, match=r"lacks \['ours', 'then'\]"):
        results.load_spec(bad)


def test_glued_text_reads_like_the_page() -> None:
    assert results.plain({"data": {"text/plain": "'97.17 %'"}}) == "97.17 %"
    assert results.plain({"data": {"text/plain": "42"}}) == "42"
    assert results.first_number("119,137×") == 119137.0
    assert results.first_number("—") is None


@pytest.mark.site
def test_built_results_page_shows_every_row_computed() -> None:
    page = HTML / "book" / "results.html"
    if not page.exists():
        pytest.fail("no built results page: run `make book` first")
    soup = BeautifulSoup(page.read_text(), "html.parser")
    rows = soup.select("table.results-table tbody tr")
    assert len(rows) == len(results.load_spec())
    for row in rows:
        cells = [td.get_text(" ", strip=True) for td in row.find_all("td")]
        assert len(cells) == 4 and "?" not in cells[1] and any(ch.isdigit() for ch in cells[1]), cells
    assert soup.select_one("figure.results-figure svg") is not None
