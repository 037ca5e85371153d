"""Sphinx extension: the results page, every headline number of the book beside 2019's.

``{results-table}`` in ``book/results.md`` reads ``book/results.yml``: for each row, the page that
measures the result and the keys it glues (myst-nb ``glue``). The values are read when the site is
written, from this build's executed pages (myst-nb keeps each page's glued values in
``<build>/jupyter_execute/<page>.glue.json``), so the table can only show what the pages computed in
this build; a row whose page did not glue its key is a warning, and the build (``-W``) fails.

The 2019 column is typed in ``results.yml``, marked as 2019's or the paper's, as everywhere in the
book. The full-setting column reads ``book/results_full.json``, which ``tools/record_full_results.py``
writes from a build made with ``FOUNDATIONS_SETTING=full`` on a GPU; until one is recorded it says so.
Rows marked ``plot`` (accuracies) are drawn, ours against 2019's, in one figure under the tables.
"""

from __future__ import annotations

import ast
import io
import json
import re
from pathlib import Path
from typing import Any

import yaml
from docutils import nodes
from docutils.parsers.rst import Directive
from sphinx.util import logging

from foundations.settings import current_setting

LOGGER = logging.getLogger(__name__)
ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "book" / "results.yml"
FULL = ROOT / "book" / "results_full.json"
KEY = re.compile(r"\{(\w+)\}")
NUMBER = re.compile(r"-?\d[\d,]*\.?\d*")
ROW_FIELDS = {"part", "result", "page", "ours", "then"}
SOURCES = {"2019": ("from-2019", "a figure from the 2019 course, not computed in this build"),
           "paper": ("from-paper", "a figure or claim from the paper, not computed in this build")}


class results_placeholder(nodes.General, nodes.Element):  # noqa: N801 (docutils node naming)
    """Replaced by the tables and the figure once every page has executed."""


class ResultsTable(Directive):
    has_content = False

    def run(self) -> list[nodes.Node]:
        env = self.state.document.settings.env
        env.note_dependency(str(SPEC))
        if FULL.exists():
            env.note_dependency(str(FULL))
        return [results_placeholder()]


def load_spec(path: Path = SPEC) -> list[dict[str, Any]]:
    """The rows of ``results.yml``, checked: each has the fields the table needs."""
    rows = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(rows, list) or not rows:
        raise ValueError(f"{path.name}: expected a list of rows, got {type(rows).__name__}")
    for i, row in enumerate(rows):
        missing = ROW_FIELDS - set(row)
        if missing:
            raise ValueError(f"{path.name}: row {i} ({row.get('result', '?')!r}) lacks {sorted(missing)}")
        if row["then"] != "—" and str(row.get("then_from")) not in SOURCES:
            raise ValueError(f"{path.name}: row {i} ({row['result']!r}): then_from must be 2019 or paper")
    return rows


def plain(output: dict[str, Any]) -> str:
    """A glued value's text, as ``{glue:text}`` shows it (a glued ``str`` is stored as its repr)."""
    text = output["data"]["text/plain"]
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return ast.literal_eval(text)
    return text


def fill(template: str, glued: dict[str, Any], page: str) -> tuple[str, list[str]]:
    """``template`` with each ``{key}`` replaced by the page's glued value; and the keys not found."""
    missing: list[str] = []

    def value(m: re.Match) -> str:
        if m[1] not in glued:
            missing.append(m[1])
            return "?"
        return plain(glued[m[1]])

    return KEY.sub(value, template), missing


def first_number(text: str) -> float | None:
    m = NUMBER.search(text)
    return float(m[0].replace(",", "")) if m else None


def read_glue(folder: Path, page: str) -> dict[str, Any]:
    path = folder.joinpath(*page.split("/")).with_suffix(".glue.json")
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}


def recorded_full(path: Path = FULL) -> dict[str, Any]:
    """The recorded full-setting run, or ``{}``."""
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}


def _sourced(text: str, source: Any) -> nodes.Node:
    if text == "—" or str(source) not in SOURCES:
        return nodes.Text(text)
    css, title = SOURCES[str(source)]
    node = nodes.inline(text, text, classes=["sourced", css])
    node["title"] = title
    return node


def _table(header: list[str], rows: list[list[nodes.Node]]) -> nodes.table:
    table = nodes.table(classes=["results-table"])
    group = nodes.tgroup(cols=len(header))
    table += group
    for width in (34, 26, 14, 26):
        group += nodes.colspec(colwidth=width)
    thead = nodes.thead()
    group += thead
    head = nodes.row()
    for h in header:
        head += nodes.entry("", nodes.paragraph(text=h))
    thead += head
    body = nodes.tbody()
    group += body
    for cells in rows:
        row = nodes.row()
        for cell in cells:
            row += nodes.entry("", nodes.paragraph("", "", cell))
        body += row
    return table


def figure_svg(points: list[tuple[str, float, float]]) -> str:
    """Ours vs 2019 for the accuracy rows, as an SVG that scales to the column."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from foundations.plotting import BOOK_STYLE, COLUMN_WIDTH

    with plt.rc_context(BOOK_STYLE):
        fig, ax = plt.subplots(figsize=(COLUMN_WIDTH, 0.42 * len(points) + 1.5))
        y = list(range(len(points)))[::-1]
        for yi, (_, ours, then) in zip(y, points):
            ax.plot([ours, then], [yi, yi], color="0.75", lw=2, zorder=1)
        ax.scatter([p[2] for p in points], y, s=70, marker="s", facecolors="none", edgecolors="#ff7f0e",
                   linewidths=1.8, zorder=2, label="2019 course")
        ax.scatter([p[1] for p in points], y, s=28, color="#1f77b4", zorder=3, label="this build (default setting)")
        ax.set_yticks(y, [p[0] for p in points])
        ax.set_xlabel("accuracy (%)")
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=2, fontsize="small", frameon=False)
        ax.grid(axis="x", alpha=0.3)
        fig.tight_layout()
        buf = io.StringIO()
        fig.savefig(buf, format="svg", bbox_inches="tight")
        plt.close(fig)
    svg = buf.getvalue()
    svg = svg[svg.index("<svg"):]
    return re.sub(r'<svg([^>]*?) width="[^"]*" height="[^"]*"', r'<svg\1 width="100%" height="auto"', svg, count=1)


def build_results(rows: list[dict[str, Any]], glue_folder: Path, full: dict[str, Any], link) -> tuple[list[nodes.Node], list[str], list[tuple[str, float, float]]]:  # noqa: ANN001
    """The tables (one per part), the problems (missing keys), and the points to plot."""
    parts: dict[str, list[list[nodes.Node]]] = {}
    problems: list[str] = []
    points: list[tuple[str, float, float]] = []
    full_values = full.get("values", {})
    for row in rows:
        glued = read_glue(glue_folder, row["page"])
        ours, missing = fill(row["ours"], glued, row["page"])
        title, missing_t = fill(row["result"], glued, row["page"])
        problems += [f"{row['page']} glued no {k!r} (results row {row['result']!r})" for k in missing + missing_t]
        first = KEY.search(row["ours"])
        keyed = f"{row['page']}::{first[1]}" if first else None
        full_text = full_values.get(keyed, "not run") if keyed else "—"
        cells = [link(row["page"], title), nodes.Text(ours), nodes.Text(full_text), _sourced(str(row["then"]), row.get("then_from"))]
        parts.setdefault(row["part"], []).append(cells)
        if row.get("plot") and not missing:
            a, b = first_number(ours), first_number(str(row["then"]))
            if a is not None and b is not None:
                points.append((row["plot"], a, b))
    out: list[nodes.Node] = []
    header = ["result", "this build", "full setting (GPU)", "2019 course or paper"]
    for part, cells in parts.items():
        out.append(nodes.rubric(text=part))
        out.append(_table(header, cells))
    return out, problems, points


def _resolve(app, doctree, docname: str) -> None:  # noqa: ANN001
    placeholders = list(doctree.findall(results_placeholder))
    if not placeholders:
        return
    folder = Path(app.env.mystnb_config.output_folder)

    def link(page: str, text: str) -> nodes.Node:
        ref = nodes.reference("", "", internal=True, refuri=app.builder.get_relative_uri(docname, page))
        ref += nodes.Text(text)
        return ref

    full = recorded_full()
    tables, problems, points = build_results(load_spec(), folder, full, link)
    for problem in problems:
        LOGGER.warning(f"results page: {problem}", location=placeholders[0])
    note = (f"Full setting: recorded {full['recorded']} ({full.get('device', 'a GPU')})." if full
            else "Full setting: no run recorded yet (it needs a GPU; see the lessons' result tables).")
    setting = current_setting()
    intro = nodes.paragraph(text=f"This build ran the pages in the {setting} setting. {note}")
    figure = nodes.raw("", f'<figure class="results-figure">{figure_svg(points)}</figure>', format="html") if points else None
    placeholders[0].replace_self([intro, *tables] + ([figure] if figure is not None else []))


def _note_setting(app) -> None:  # noqa: ANN001
    """``_build/setting``: the setting this build's pages run in (read by tools/record_full_results.py)."""
    Path(app.outdir).parent.joinpath("setting").write_text(current_setting() + "\n")


def setup(app) -> dict[str, Any]:  # noqa: ANN001
    app.connect("builder-inited", _note_setting)
    app.add_node(results_placeholder)
    app.add_directive("results-table", ResultsTable)
    app.connect("doctree-resolved", _resolve)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
