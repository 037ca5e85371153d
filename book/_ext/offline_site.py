"""Sphinx extension: keep the built site self-contained and small.

Two jobs:

- Jupyter Book always loads ``sphinx_thebe`` (live code cells backed by a remote kernel). This book
  does not offer that, and thebe's loader script points at a CDN and is injected twice, which makes
  every page throw a JavaScript error. We drop thebe's scripts from every page.
- Maths must typeset offline, so the site ships MathJax 3. The ``sphinx-mathjax-offline`` package
  (pinned) holds the whole MathJax distribution, 24 MB, and its extension copies all of it. We copy
  only what a page can ask for: the combined ``tex-chtml.js`` component (TeX in, HTML+CSS out, the
  menu and assistive MathML built in), the CHTML web fonts, the TeX extensions that MathJax's
  autoload fetches on first use (``\\boldsymbol``, ``\\cancel``...), and the menu's accessibility
  components. Speech (``sre``, 4 MB) and the other output formats stay out. The browser test fails on
  any request the site answers with "not found", so a missing piece shows up there.
- The theme ships source maps (``*.map``, 3 MB) that only a browser's developer tools read; we
  delete them from ``_static``.
"""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path
from typing import Any

MATHJAX_ENTRY = "tex-chtml.js"
MATHJAX_PARTS = (MATHJAX_ENTRY, "output/chtml/fonts/woff-v2", "input/tex/extensions", "ui", "a11y")
"""What the site ships of MathJax, relative to the distribution's root (files or folders)."""
MATHJAX_LEFT_OUT = ("a11y/sre.js",)
"""Inside a shipped folder but not shipped: the speech rule engine, loaded only if a reader turns speech on."""


def mathjax_source() -> Path:
    """The MathJax distribution inside the pinned ``sphinx-mathjax-offline`` package."""
    spec = importlib.util.find_spec("sphinx-mathjax-offline")
    if spec is None or spec.origin is None:
        raise RuntimeError(
            "expected the package sphinx-mathjax-offline (pinned in requirements.txt) to be installed; "
            "run `make setup`"
        )
    root = Path(spec.origin).parent / "static" / "mathjax"
    if not (root / MATHJAX_ENTRY).is_file():
        raise RuntimeError(f"expected MathJax's {MATHJAX_ENTRY} in sphinx-mathjax-offline, found none")
    return root


def copy_mathjax(source: Path, target: Path) -> int:
    """Copy the shipped parts of MathJax from ``source`` to ``target``; return the bytes copied."""
    if target.exists():
        shutil.rmtree(target)
    total = 0
    for part in MATHJAX_PARTS:
        src = source / part
        files = [src] if src.is_file() else sorted(p for p in src.rglob("*") if p.is_file())
        for f in files:
            rel = f.relative_to(source)
            if rel.as_posix() in MATHJAX_LEFT_OUT:
                continue
            dest = target / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(f, dest)
            total += f.stat().st_size
    return total


def drop_source_maps(static: Path) -> int:
    """Delete the ``*.map`` files under ``static``; return how many."""
    maps = list(static.rglob("*.map"))
    for f in maps:
        f.unlink()
    return len(maps)


def _slim_static_when_built(app, exc) -> None:  # noqa: ANN001
    if exc is None and app.builder.format == "html":
        static = Path(app.outdir) / "_static"
        copy_mathjax(mathjax_source(), static / "mathjax")
        drop_source_maps(static)


def _is_thebe(js: Any) -> bool:
    name = getattr(js, "filename", js) or ""
    body = getattr(js, "attributes", {}).get("body", "")
    return "thebe" in str(name).lower() or "THEBE_JS_URL" in body


def _strip_thebe(app, pagename, templatename, context, doctree) -> None:  # noqa: ANN001
    files = context.get("script_files")
    if files:
        context["script_files"] = [js for js in files if not _is_thebe(js)]


def setup(app) -> dict:  # noqa: ANN001
    app.config.mathjax_path = f"mathjax/{MATHJAX_ENTRY}"
    app.connect("html-page-context", _strip_thebe)
    app.connect("build-finished", _slim_static_when_built)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
