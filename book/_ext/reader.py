"""Sphinx extension: what a reader of the book sees, beyond the theme.

- Roles that mark a number taken from elsewhere, so a reader (and ``tests/test_prose_numbers.py``)
  can tell it from a number the page computed: ``{from2019}`96.25 %``` for a figure of the 2019
  course, ``{frompaper}`0.5``` for one from the paper a walkthrough reads. Numbers the page
  measures are glued from the cell that measures them (myst-nb's ``{glue:text}``).
- A cell that raises on purpose (tagged ``raises-exception``) shows the exception's type and
  message, not a traceback through library internals.
- Solution boxes show the reference solution without the ``# BEGIN SOLUTION`` / ``# END SOLUTION``
  markers the stub generator reads.
- Exercises are numbered per lesson (Exercise 8.1, 8.2, ... across Lesson 8's pages), not across
  the whole book.
- One search box (the sidebar's), not two.
- ``reader.js``/``reader.css``: figures open full size on a click; the theme's menu buttons work on
  narrow screens; wide tables and outputs fit the column.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from docutils import nodes

STATIC = Path(__file__).resolve().parent.parent / "_static"

SOURCES = {
    "from2019": ("from-2019", "a figure from the 2019 course, not computed on this page"),
    "frompaper": ("from-paper", "a figure from the paper, not computed on this page"),
}


def _sourced_role(css_class: str, title: str):  # noqa: ANN202
    def role(name, rawtext, text, lineno, inliner, options=None, content=None):  # noqa: ANN001, ANN202
        node = nodes.inline(rawtext, text, classes=["sourced", css_class])
        node["title"] = title
        return [node], []

    return role


def _visit_inline_with_title(self, node) -> None:  # noqa: ANN001
    """Like docutils' inline, plus a ``title`` attribute (a tooltip saying where the figure is from)."""
    attrs = {"title": node["title"]} if node.get("title") else {}
    self.body.append(self.starttag(node, "span", "", **attrs))


def _patch_error_rendering() -> None:
    """Render a ``raises-exception`` cell's error as ``Type: message``.

    myst-nb prints the whole traceback; for a cell that fails on purpose the lesson is the message
    (the last line, which the traceback pushes out of sight). Unexpected errors fail the build
    (``nb_execution_raise_on_error``), so this changes only deliberate demonstrations.
    """
    from myst_nb.core.render import NbElementRenderer

    if getattr(NbElementRenderer.render_error, "_foundations", False):
        return
    original = NbElementRenderer.render_error

    def render_error(self, output, cell_metadata, cell_index, source_line):  # noqa: ANN001, ANN202
        if "raises-exception" not in cell_metadata.get("tags", []):
            return original(self, output, cell_metadata, cell_index, source_line)
        text = f"{output['ename']}: {output['evalue']}"
        node = self.renderer.create_highlighted_code_block(text, "none", source=self.source, line=source_line)
        node["classes"] += ["output", "traceback", "error-message"]
        return [node]

    render_error._foundations = True
    NbElementRenderer.render_error = render_error


SOLUTION_MARKER = re.compile(r"^\s*# (BEGIN|END) SOLUTION\s*$")
LESSON_DOC = re.compile(r"^lessons/(\d+)_")


def _strip_solution_markers(app, doctree) -> None:  # noqa: ANN001
    """Drop the stub generator's markers from code included from ``solutions/``."""
    for node in doctree.findall(nodes.literal_block):
        source = str(node.get("source", "")).replace("\\", "/")
        if "/solutions/" not in source:
            continue
        text = node.astext()
        kept = "\n".join(line for line in text.splitlines() if not SOLUTION_MARKER.match(line))
        if kept != text:
            node.rawsource = kept
            node.children = [nodes.Text(kept)]


def _docs_in_toc_order(env) -> list[str]:  # noqa: ANN001
    order: list[str] = []

    def visit(doc: str) -> None:
        if doc in order:
            return
        order.append(doc)
        for child in env.toctree_includes.get(doc, []):
            visit(child)

    visit(env.config.root_doc)
    return order


def _number_exercises_per_lesson(app, env) -> list[str]:  # noqa: ANN001
    """Exercise numbers ``(lesson, k)``, k counting through the lesson's pages in the book's order.

    sphinx-exercise numbers every exercise of the book in one sequence ("Exercise 29" on the
    BatchNorm page); its titles and the solutions' "Solution to Exercise ..." read
    ``env.toc_fignumbers``, which Sphinx's toctree collector fills in on ``env-get-updated``;
    this handler runs after it (priority 900) and renumbers, which changes both.
    """
    counters: dict[str, int] = {}
    for doc in _docs_in_toc_order(env):
        numbers = env.toc_fignumbers.get(doc, {}).get("exercise")
        if not numbers:
            continue
        match = LESSON_DOC.match(doc)
        lesson = str(int(match.group(1))) if match else doc
        for node_id in sorted(numbers, key=numbers.get):
            counters[lesson] = counters.get(lesson, 0) + 1
            numbers[node_id] = (int(lesson), counters[lesson]) if match else (counters[lesson],)
    return []


def _one_search_box(app, config) -> None:  # noqa: ANN001
    """The sidebar has a search field; the header's copy (pydata-sphinx-theme's default) goes."""
    config.html_theme_options.setdefault("navbar_persistent", [])


def _add_static(app) -> None:  # noqa: ANN001
    app.config.html_static_path.append(str(STATIC))


def setup(app) -> dict[str, Any]:  # noqa: ANN001
    for name, (css_class, title) in SOURCES.items():
        app.add_role(name, _sourced_role(css_class, title))
    app.add_node(nodes.inline, override=True, html=(_visit_inline_with_title, lambda self, node: self.body.append("</span>")))
    _patch_error_rendering()
    app.connect("builder-inited", _add_static)
    app.connect("config-inited", _one_search_box)
    app.connect("doctree-read", _strip_solution_markers)
    app.connect("env-get-updated", _number_exercises_per_lesson, priority=900)
    app.add_css_file("reader.css")
    app.add_js_file("reader.js")
    return {"parallel_read_safe": True, "parallel_write_safe": True}
