"""Sphinx extension: keep the built site self-contained.

Jupyter Book always loads ``sphinx_thebe`` (live code cells backed by a remote kernel). This book
does not offer that, and thebe's loader script points at a CDN and is injected twice, which makes
every page throw a JavaScript error. We drop thebe's scripts from every page.
"""

from __future__ import annotations

from typing import Any


def _is_thebe(js: Any) -> bool:
    name = getattr(js, "filename", js) or ""
    body = getattr(js, "attributes", {}).get("body", "")
    return "thebe" in str(name).lower() or "THEBE_JS_URL" in body


def _strip_thebe(app, pagename, templatename, context, doctree) -> None:  # noqa: ANN001
    files = context.get("script_files")
    if files:
        context["script_files"] = [js for js in files if not _is_thebe(js)]


def setup(app) -> dict:  # noqa: ANN001
    app.connect("html-page-context", _strip_thebe)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
