"""Sphinx extension: each page's execution time in *this* build, by lesson, against the lesson's budget.

The times are the build's own: myst-nb executes each notebook page while Sphinx reads it and keeps
what nbclient reported in the environment, ``env.nb_metadata[docname]["exec_data"]`` (an
``ExecutionResult``: ``runtime`` in seconds, ``method``, ``succeeded``, ...; see
``myst_nb.sphinx_.NbMetadataCollector``, which also merges it across parallel readers). This
extension reads it twice, after every page has been read and executed:

- the ``{build-times}`` directive leaves a placeholder that a post-transform replaces, at write
  time, with two tables: each lesson's total against its budget, and every executed page, slowest
  first, with its lesson (walkthroughs count towards the lesson that reads their paper) — as
  myst-nb's own ``nb-exec-table`` does;
- at the end of the build the same data goes to ``_build/bench/build_times.json``, which
  ``python -m benchmarks`` prints after its table.

The budgets are the lessons' issues' (:data:`BUDGETS`). Pages on two Sphinx jobs run two at a time,
so a page's time includes sharing the machine with another.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from docutils import nodes
from sphinx.addnodes import pending_xref
from sphinx.transforms.post_transforms import SphinxPostTransform
from sphinx.util.docutils import SphinxDirective

METADATA_KEY = "has_build_times"
REPORT = Path("bench") / "build_times.json"  # under the build folder (the parent of _build/html)


@dataclass(frozen=True)
class Budget:
    """A lesson's execution budget (its pages and walkthroughs together), as its issue states it."""

    seconds: float | None
    issue: int
    says: str


BUDGETS: dict[str, Budget] = {
    "8": Budget(None, 2, "no budget of its own; the whole cold `make book` under 10 minutes"),
    "9": Budget(180, 3, "all Lesson 9 pages and walkthroughs together execute in under 3 minutes"),
    "10": Budget(300, 4, "all Lesson 10 pages and walkthroughs execute in under 5 minutes"),
    "11": Budget(360, 11, "Lesson 11 pages and walkthroughs execute in <= 6 min"),
    "12 vision": Budget(360, 12, "Lesson 12 vision pages and walkthroughs execute in <= 6 min"),
    "12 text": Budget(360, 13, "Lesson 12 text pages and walkthroughs execute in <= 6 min"),
    "13": Budget(240, 15, "the compiling, C++ and distributed pages execute in <= 4 min, compile times included"),
}
"""Lesson -> its budget, from the lessons' issues (``issues show N``). Lesson 12 has two issues."""

WALKTHROUGHS: dict[str, str] = {
    "glorot2010": "8", "fixup2019": "8",
    "he2015": "9", "klambauer2017": "9", "saxe2013": "9",
    "ioffe2015": "10", "normalisers": "10", "masters2018": "10",
    "mishkin2015": "11", "weight_decay": "11", "botev2016": "11", "kingma2014": "11", "you2019": "11",
    "zhang2017": "12 vision", "szegedy2016": "12 vision", "micikevicius2017": "12 vision", "he2019": "12 vision",
    "hochreiter1997": "12 text", "merity2017": "12 text", "howard2018": "12 text",
    "goyal2017": "13",
    "li2020": "13",
}
"""Walkthrough (``book/papers/NAME``) -> the lesson whose issue asked for it (and whose budget it shares)."""

LESSON12_TEXT = {"12_text", "12_awd_lstm", "12_lm_pretrain", "12_ulmfit"}
"""Lesson 12's text pages (issue 13); its other pages are the vision half (issue 12)."""

_LESSON_PAGE = re.compile(r"^lessons/(\d+)_")


def classify(docname: str) -> tuple[str, str | None]:
    """``(kind, lesson)`` of a page: ``("lesson", "9")``, ``("walkthrough", "10")``, ``("reference", None)``.

    A walkthrough not in :data:`WALKTHROUGHS` has no lesson (``None``): its time counts in no budget.
    """
    match = _LESSON_PAGE.match(docname)
    if match:
        number = str(int(match.group(1)))
        if number == "12":
            return "lesson", "12 text" if docname.split("/")[-1] in LESSON12_TEXT else "12 vision"
        return "lesson", number
    if docname.startswith("book/papers/"):
        return "walkthrough", WALKTHROUGHS.get(docname.rsplit("/", 1)[-1])
    return "reference", None


def _lesson_key(lesson: str, order: list[str]) -> tuple[int, str]:
    return (order.index(lesson), "") if lesson in order else (len(order), lesson)


def build_table(exec_data: Mapping[str, Mapping[str, Any] | None],
                budgets: Mapping[str, Budget] = BUDGETS) -> dict[str, Any]:
    """Pages and lesson totals from ``{docname: exec_data}`` (myst-nb's ``ExecutionResult`` dicts).

    Pages without a runtime (not executed in this build) are left out. Returns
    ``{"pages": [...], "lessons": [...]}``: pages slowest first (``docname``, ``kind``, ``lesson``,
    ``runtime_s``, ``succeeded``); one entry per lesson in lesson order (``lesson``, ``pages``,
    ``total_s``, ``budget_s``, ``issue``, ``within``: total <= budget, ``None`` without a budget,
    ``source``) in the order of ``budgets``, then ``"other"`` for executed pages of no lesson (reference pages, unmapped walkthroughs).
    """
    pages = []
    for docname, data in exec_data.items():
        if not data or data.get("runtime") is None:
            continue
        kind, lesson = classify(docname)
        pages.append({"docname": docname, "kind": kind, "lesson": lesson,
                      "runtime_s": round(float(data["runtime"]), 2), "succeeded": bool(data.get("succeeded", True))})
    pages.sort(key=lambda p: (-p["runtime_s"], p["docname"]))
    totals: dict[str, list[dict[str, Any]]] = {}
    for p in pages:
        totals.setdefault(p["lesson"] or "other", []).append(p)
    lessons = []
    for lesson in sorted(totals, key=lambda lesson: _lesson_key(lesson, list(budgets))):
        total = round(sum(p["runtime_s"] for p in totals[lesson]), 2)
        b = budgets.get(lesson)
        seconds = None if b is None else b.seconds
        lessons.append({"lesson": lesson, "pages": len(totals[lesson]), "total_s": total, "budget_s": seconds,
                        "issue": None if b is None else b.issue,
                        "within": None if seconds is None else total <= seconds,
                        "source": "" if b is None else f"issue {b.issue}: {b.says}"})
    return {"pages": pages, "lessons": lessons}


def exec_data_of(env: Any) -> dict[str, Any]:
    """``{docname: exec_data}`` from myst-nb's metadata in the Sphinx environment."""
    from myst_nb.sphinx_ import NbMetadataCollector

    return {doc: meta.get("exec_data") for doc, meta in NbMetadataCollector.get_doc_data(env).items()}


# ---- the directive ----------------------------------------------------------------------------


class BuildTimesNode(nodes.General, nodes.Element):
    """Placeholder for the tables, replaced once every page has executed."""


class BuildTimesDirective(SphinxDirective):
    """``{build-times}``: this build's execution time of every page, and each lesson's against its budget."""

    has_content = False

    def run(self) -> list[nodes.Node]:
        from myst_nb.sphinx_ import NbMetadataCollector

        NbMetadataCollector.set_doc_data(self.env, self.env.docname, METADATA_KEY, True)
        return [BuildTimesNode()]


def _table(headers: list[str], rows: list[list[nodes.Node | str]], classes: list[str]) -> nodes.table:
    table = nodes.table(classes=["colwidths-auto", *classes])
    tgroup = nodes.tgroup(cols=len(headers))
    table += tgroup
    for _ in headers:
        tgroup += nodes.colspec(colwidth=1)
    thead, tbody = nodes.thead(), nodes.tbody()
    tgroup += thead
    tgroup += tbody
    head = nodes.row()
    for h in headers:
        head += nodes.entry("", nodes.paragraph(text=h))
    thead += head
    for cells in rows:
        row = nodes.row()
        for c in cells:
            para = nodes.paragraph()
            para += c if isinstance(c, nodes.Node) else nodes.Text(c)
            row += nodes.entry("", para)
        tbody += row
    return table


def _budget(lesson: Mapping[str, Any]) -> str:
    return "none" if lesson["budget_s"] is None else f"{lesson['budget_s']:.0f}"


def render(table: Mapping[str, Any], docname: str) -> list[nodes.Node]:
    """The docutils nodes of the two tables (links to the pages resolve like ``{doc}``)."""
    if not table["pages"]:
        return [nodes.paragraph(text="No page was executed in this build (execution off or all cached).")]
    by_lesson = {g["lesson"]: g for g in table["lessons"]}
    summary = _table(
        ["Lesson", "Pages", "Total (s)", "Budget (s)", "Within budget"],
        [[g["lesson"], str(g["pages"]), f"{g['total_s']:.1f}", _budget(g),
          {None: "no budget", True: "yes", False: "no"}[g["within"]]]
         for g in table["lessons"]],
        ["build-times-lessons"])
    rows = []
    for p in table["pages"]:
        link = pending_xref(refdoc=docname, reftarget="/" + p["docname"], reftype="doc", refdomain="std",
                            refexplicit=True, refwarn=True, classes=["xref", "doc"])
        link += nodes.inline(text=p["docname"].rsplit("/", 1)[-1])
        g = by_lesson[p["lesson"] or "other"]
        where = p["kind"] if p["lesson"] is None else (p["lesson"] if p["kind"] == "lesson" else f"{p['lesson']} (walkthrough)")
        rows.append([link, where, f"{p['runtime_s']:.1f}", f"{g['total_s']:.1f}", _budget(g)])
    pages = _table(["Page", "Lesson", "Time (s)", "Lesson total (s)", "Budget (s)"], rows, ["build-times-pages"])
    return [summary, pages]


class BuildTimesPostTransform(SphinxPostTransform):
    """Replace each placeholder with the tables (before references are resolved, like myst-nb's)."""

    default_priority = 8

    def run(self, **kwargs: Any) -> None:
        for node in list(self.document.findall(BuildTimesNode)):
            node.replace_self(render(build_table(exec_data_of(self.env)), self.env.docname))


def _pages_to_rewrite(app: Any, env: Any) -> list[str]:
    """After a build that executed pages, the pages with the directive are written again."""
    from myst_nb.sphinx_ import NbMetadataCollector

    if not NbMetadataCollector.new_exec_data(env):
        return []
    return [doc for doc, meta in NbMetadataCollector.get_doc_data(env).items() if meta.get(METADATA_KEY)]


def _write_report(app: Any, exception: Exception | None) -> None:
    """At the end of a successful build that executed pages: ``_build/bench/build_times.json``."""
    if exception is not None:
        return
    table = build_table(exec_data_of(app.env))
    if not table["pages"]:
        return
    path = Path(app.outdir).parent / REPORT
    path.parent.mkdir(parents=True, exist_ok=True)
    record = {"finished": datetime.now(timezone.utc).astimezone().isoformat(timespec="seconds"),
              "builder": app.builder.name, "jobs": app.parallel or 1, **table}
    path.write_text(json.dumps(record, indent=2))


def setup(app: Any) -> dict[str, Any]:
    app.add_node(BuildTimesNode)
    app.add_directive("build-times", BuildTimesDirective)
    app.add_post_transform(BuildTimesPostTransform)
    app.connect("env-updated", _pages_to_rewrite)
    app.connect("build-finished", _write_report)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
