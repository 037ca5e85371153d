"""The book's pages, read from ``_toc.yml``: which are executed notebooks, which plain Markdown."""

from __future__ import annotations

import re
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


_EXERCISE = re.compile(r"^:::+\{exercise\}\s+`(?P<name>[A-Za-z_][A-Za-z0-9_.]*)`", re.MULTILINE)
_LESSON_PAGE = re.compile(r"^lessons/(\d+)_")


def exercise_numbers() -> dict[str, str]:
    """``{"lin_grad": "8.6", ...}``: each exercise's number as the book prints it (Exercise 8.6).

    Exercises are numbered per lesson, counting through the lesson's pages in ``_toc.yml``'s order
    (``book/_ext/reader.py`` numbers them the same way); an exercise's title is its function's name
    in backticks.
    """
    numbers: dict[str, str] = {}
    counters: dict[int, int] = {}
    for page in toc_pages():
        match = _LESSON_PAGE.match(page.as_posix())
        if not match or not (ROOT / page).exists():
            continue
        lesson = int(match.group(1))
        for ex in _EXERCISE.finditer((ROOT / page).read_text()):
            counters[lesson] = counters.get(lesson, 0) + 1
            numbers.setdefault(ex["name"], f"{lesson}.{counters[lesson]}")
    return numbers
