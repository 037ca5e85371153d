"""The book's pages, read from ``_toc.yml``: which are executed notebooks, which plain Markdown."""

from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def toc_pages() -> list[Path]:
    """Every page of ``_toc.yml`` as a path relative to the root, with its ``.md`` suffix."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]]
    for part in toc.get("parts", []):
        for chapter in part.get("chapters", []):
            files.append(chapter["file"])
            files.extend(s["file"] for s in chapter.get("sections", []))
    return [Path(f).with_suffix(".md") for f in files]


def is_notebook(page: Path) -> bool:
    """A page is executed when its front matter declares a kernel."""
    text = (ROOT / page).read_text()
    if not text.startswith("---\n"):
        return False
    front = text.split("\n---", 1)[0]
    return "kernelspec:" in front


def executable_pages() -> list[Path]:
    return [p for p in toc_pages() if (ROOT / p).exists() and is_notebook(p)]
