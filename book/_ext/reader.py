"""Sphinx extension: what a reader of the book sees, beyond the theme.

- Roles that mark a number taken from elsewhere, so a reader (and ``tests/test_prose_numbers.py``)
  can tell it from a number the page computed: ``{from2019}`96.25 %``` for a figure of the 2019
  course, ``{frompaper}`0.5``` for one from the paper a walkthrough reads. Numbers the page
  measures are glued from the cell that measures them (myst-nb's ``{glue:text}``).
- A cell that raises on purpose (tagged ``raises-exception``) shows the exception's type and
  message, not a traceback through library internals.
- ``reader.js``/``reader.css``: figures open full size on a click; the theme's menu buttons work on
  narrow screens.
"""

from __future__ import annotations

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


def _add_static(app) -> None:  # noqa: ANN001
    app.config.html_static_path.append(str(STATIC))


def setup(app) -> dict[str, Any]:  # noqa: ANN001
    for name, (css_class, title) in SOURCES.items():
        app.add_role(name, _sourced_role(css_class, title))
    app.add_node(nodes.inline, override=True, html=(_visit_inline_with_title, lambda self, node: self.body.append("</span>")))
    _patch_error_rendering()
    app.connect("builder-inited", _add_static)
    app.add_css_file("reader.css")
    app.add_js_file("reader.js")
    return {"parallel_read_safe": True, "parallel_write_safe": True}
