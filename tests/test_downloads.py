"""Every executed page can be downloaded as a notebook (book/_ext/downloads.py).

Unit tests check what a downloaded notebook keeps and drops; the tests marked ``site`` read the
built site: each page that runs code offers ``.ipynb`` in its download menu, and the file is a
valid notebook with the page's code cells and outputs, and no path of the machine that built it.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import jupytext
import nbformat
import pytest
from bs4 import BeautifulSoup

ROOT = Path(__file__).resolve().parent.parent
HTML = Path(os.environ.get("SITE_HTML", ROOT / "_build" / "html"))
sys.path.insert(0, str(ROOT / "book" / "_ext"))
sys.path.insert(0, str(ROOT))
import downloads  # noqa: E402
from tools.pages import executable_pages  # noqa: E402

PATHS = {"/home/builder/repo": "<repository>", "/home/builder": "~"}


def _notebook() -> dict:
    error = {"output_type": "error", "ename": "ValueError", "evalue": "expected x, got y",
             "traceback": ["Traceback", 'File "/home/builder/repo/foundations/x.py", line 3', "ValueError: ..."]}
    stream = {"output_type": "stream", "name": "stdout", "text": "data in /home/builder/.cache/x\n"}
    return {"cells": [{"cell_type": "code", "source": "f()", "outputs": [error, stream], "metadata": {}},
                      {"cell_type": "markdown", "source": "/home/builder is prose", "metadata": {}}],
            "metadata": {}, "nbformat": 4, "nbformat_minor": 5}


def test_a_deliberate_error_keeps_its_message_not_the_traceback() -> None:
    out = downloads.downloadable(_notebook(), PATHS)["cells"][0]["outputs"]
    assert out[0]["traceback"] == ["ValueError: expected x, got y"]
    assert out[1]["text"] == "data in ~/.cache/x\n"


def test_machine_paths_are_replaced_longest_first() -> None:
    paths = downloads.machine_paths()
    assert list(paths.values())[0] in ("<repository>", "~")
    assert [len(p) for p in paths] == sorted((len(p) for p in paths), reverse=True)
    assert str(downloads.REPOSITORY) in paths


def test_the_source_notebook_is_not_changed() -> None:
    nb = _notebook()
    before = json.dumps(nb)
    downloads.downloadable(nb, PATHS)
    assert json.dumps(nb) == before


@pytest.mark.site
@pytest.mark.parametrize("page", [p.with_suffix("").as_posix() for p in executable_pages()], ids=str)
def test_page_offers_its_executed_notebook(page: str) -> None:
    html = HTML / f"{page}.html"
    if not html.exists():
        pytest.fail(f"no built page {html.relative_to(ROOT) if html.is_relative_to(ROOT) else html}: run `make book` first")
    links = [a["href"] for a in BeautifulSoup(html.read_text(), "html.parser").select("a[href$='.ipynb']")]
    assert links, f"{page}: no .ipynb in the download menu"
    target = (html.parent / links[0]).resolve()
    assert target.is_file(), f"{page}: the .ipynb link points at a missing file {links[0]}"
    nb = nbformat.read(target, as_version=4)
    nbformat.validate(nb)
    source = jupytext.read(ROOT / f"{page}.md")
    want = [c.source for c in source.cells if c.cell_type == "code"]
    got = [c.source for c in nb.cells if c.cell_type == "code"]
    assert got == want, f"{page}: the notebook's code cells differ from the page's"
    assert any(c.get("outputs") for c in nb.cells if c.cell_type == "code"), f"{page}: the notebook has no outputs"
    text = target.read_text()
    for path in downloads.machine_paths():
        assert path not in text, f"{page}: the downloadable notebook shows {path}"
