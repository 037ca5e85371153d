"""Sphinx extension: every executed page can be downloaded as a Jupyter notebook.

The theme's download menu offers a page's source (``.md``) and a PDF; the theme adds a ``.ipynb``
entry only when launch buttons are configured. A reader who wants to run a page in their own
Jupyter should not need that, so for every page that myst-nb executed we put the executed notebook
(outputs included) beside the page's source in ``_sources/`` and add the ``.ipynb`` entry.

The file is the build's own executed notebook, with two changes so it shows what the page shows:
a cell that raises on purpose keeps the exception's type and message, not a traceback through
library internals (which would also carry the build machine's paths), and paths of the build
machine in any output (the repository, the home folder) are replaced by ``<repository>`` and ``~``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

REPOSITORY = Path(__file__).resolve().parents[2]


def machine_paths() -> dict[str, str]:
    """Paths of the build machine -> what a downloaded notebook shows instead (longest first)."""
    found = {str(REPOSITORY): "<repository>", str(Path.home()): "~"}
    return dict(sorted(found.items(), key=lambda kv: -len(kv[0])))


def _clean_text(text: str, paths: dict[str, str]) -> str:
    for path, shown in paths.items():
        text = text.replace(path, shown)
    return text


def _clean(value: Any, paths: dict[str, str]) -> Any:
    if isinstance(value, str):
        return _clean_text(value, paths)
    if isinstance(value, list):
        return [_clean(v, paths) for v in value]
    if isinstance(value, dict):
        return {k: _clean(v, paths) for k, v in value.items()}
    return value


def downloadable(notebook: dict[str, Any], paths: dict[str, str]) -> dict[str, Any]:
    """The executed notebook as a reader downloads it: errors as ``Type: message``, no machine paths."""
    cells = []
    for cell in notebook.get("cells", []):
        cell = dict(cell)
        if cell.get("cell_type") == "code":
            outputs = []
            for out in cell.get("outputs", []):
                if out.get("output_type") == "error":
                    out = {**out, "traceback": [f"{out['ename']}: {out['evalue']}"]}
                outputs.append(_clean(out, paths))
            cell["outputs"] = outputs
        cells.append(cell)
    return {**notebook, "cells": cells}


def write_downloadable(executed: Path, target: Path) -> None:
    """Write ``executed`` (a notebook file) to ``target`` as a reader downloads it."""
    notebook = downloadable(json.loads(executed.read_text(encoding="utf-8")), machine_paths())
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(notebook, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def _add_notebook_download(app, pagename, templatename, context, doctree) -> None:  # noqa: ANN001
    executed = Path(app.outdir).parent / "jupyter_execute" / f"{pagename}.ipynb"
    if doctree is None or not executed.is_file():
        return
    write_downloadable(executed, Path(app.outdir) / "_sources" / f"{pagename}.ipynb")
    context["ipynb_source"] = f"{pagename}.ipynb"  # the theme's download menu shows it as ".ipynb"


def _clean_all_when_built(app, exc) -> None:  # noqa: ANN001
    """With launch buttons configured the theme copies the raw executed notebooks over ours: clean again."""
    if exc is None and app.builder.format == "html":
        for notebook in (Path(app.outdir) / "_sources").rglob("*.ipynb"):
            write_downloadable(notebook, notebook)


def setup(app) -> dict:  # noqa: ANN001
    # before the theme builds its header buttons (priority 501)
    app.connect("html-page-context", _add_notebook_download, priority=400)
    app.connect("build-finished", _clean_all_when_built)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
