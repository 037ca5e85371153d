"""The API reference (book/api) documents every public object and links both ways with the lessons.

Unit tests check the pages' sources and the link rules of ``book/_ext/api_links.py``; the tests
marked ``site`` read the built HTML (after ``make book``): every public object of the library has
an entry, each entry's "Derived in" line is a link to a page that exists, and the lessons' names
link to entries that exist.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from urllib.parse import unquote, urldefrag

import pytest
import yaml
from bs4 import BeautifulSoup

from test_derived_in import modules, public_objects

ROOT = Path(__file__).resolve().parent.parent
HTML = Path(os.environ.get("SITE_HTML", ROOT / "_build" / "html"))
API = ROOT / "book" / "api"
sys.path.insert(0, str(ROOT / "book" / "_ext"))
import api_links  # noqa: E402

AUTOMODULE = re.compile(r"^\.\. automodule:: ([\w.]+)\n\s+:(no-)?members:", re.M)


def documented_modules() -> dict[str, list[str]]:
    """Module -> the API pages whose automodule documents its members."""
    found: dict[str, list[str]] = {}
    for page in sorted(API.glob("*.md")):
        for name, no in AUTOMODULE.findall(page.read_text()):
            if not no:
                found.setdefault(name, []).append(page.stem)
    return found


def test_every_module_with_public_names_is_documented_once() -> None:
    documented = documented_modules()
    # packages re-export their modules' names: documented with :no-members:, their modules with :members:
    wanted = {m.__name__ for m in modules() if getattr(m, "__all__", None) and not hasattr(m, "__path__")}
    missing = sorted(wanted - set(documented))
    assert not missing, f"modules with public names but no API entry (add an automodule to book/api): {missing}"
    twice = {m: pages for m, pages in documented.items() if len(pages) > 1}
    assert not twice, f"modules documented on several API pages: {twice}"
    unknown = sorted(set(documented) - {m.__name__ for m in modules()})
    assert not unknown, f"API pages document modules that do not exist: {unknown}"


def test_api_pages_are_in_the_table_of_contents() -> None:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = {c["file"] for part in toc["parts"] for c in part["chapters"]}
    pages = {f"book/api/{p.stem}" for p in API.glob("*.md")}
    assert pages and pages <= files, f"API pages missing from _toc.yml: {sorted(pages - files)}"


def test_back_links_become_doc_links() -> None:
    text = 'Does it.\nDerived in Lesson 12, "Text for\na model" (lessons/12_text); see (book/papers/he2015).'
    assert api_links.link_back(text) == (
        'Does it.\nDerived in :doc:`Lesson 12, "Text for\na model" </lessons/12_text>`; '
        "see (:doc:`/book/papers/he2015`)."
    )
    assert api_links.link_back("no back-link here (lessons) (book/papers/)") == "no back-link here (lessons) (book/papers/)"


def _entry(doc: str, anchor: str, kind: str) -> tuple[str, str, str]:
    return (doc, anchor, kind)


def test_api_targets_short_names_only_when_unique() -> None:
    objects = {
        "foundations.vision.xresnet.XResNet": _entry("book/api/vision", "x", "class"),
        "foundations.norm.BatchNorm": _entry("book/api/core", "bn", "class"),
        "foundations.text.train.generate": _entry("book/api/text", "g1", "function"),
        "foundations.data.blocks.generate": _entry("book/api/data", "g2", "function"),
        "foundations.learner.Learner.fit": _entry("book/api/core", "fit", "method"),
        "foundations.learner": _entry("book/api/core", "mod", "module"),
        "torch.nn.Linear": _entry("book/api/core", "no", "class"),
    }
    targets = api_links.api_targets(objects)
    assert targets["XResNet"] == ("book/api/vision", "x")
    assert targets["foundations.vision.XResNet"] == ("book/api/vision", "x")  # the package path
    assert targets["BatchNorm"] == ("book/api/core", "bn")
    assert "generate" not in targets  # two public objects have that name: no bare link
    assert targets["foundations.text.train.generate"] == ("book/api/text", "g1")
    assert targets["Learner.fit"] == ("book/api/core", "fit")
    assert "foundations.learner" not in targets and "Linear" not in targets


def test_missing_references_resolve_only_to_real_objects() -> None:
    assert api_links.exists_in_library("T", "foundations.settings", None)  # a type variable
    assert api_links.exists_in_library("forward", "foundations.nn", "Module")  # a method, read in its class
    assert api_links.exists_in_library("foundations.data.get_mnist", "foundations.progress", None)
    assert not api_links.exists_in_library("no_such_helper", "foundations.data.cache", None)
    assert not api_links.exists_in_library("foundations.data.nothing", "foundations.data", None)


# --- the built site -----------------------------------------------------------------------------

def _api_entries() -> dict[str, tuple[Path, object]]:
    entries: dict[str, tuple[Path, object]] = {}
    for page in sorted((HTML / "book" / "api").glob("*.html")):
        soup = BeautifulSoup(page.read_text(), "html.parser")
        for dt in soup.select("dl.py > dt[id]"):
            entries[dt["id"]] = (page, dt)
    return entries


def _resolves(page: Path, href: str) -> bool:
    path, frag = urldefrag(href)
    target = (page.parent / unquote(path)).resolve() if path else page
    if not target.is_file():
        return False
    return not frag or f'id="{frag}"' in target.read_text()


@pytest.mark.site
def test_every_public_object_has_an_entry_that_links_to_its_lesson() -> None:
    if not (HTML / "book" / "api").is_dir():
        pytest.fail("no built API reference in _build/html/book/api: run `make book` first")
    entries = _api_entries()
    missing, unlinked, broken = [], [], []
    for name in public_objects():
        if name not in entries:
            missing.append(name)
            continue
        page, dt = entries[name]
        dd = dt.find_next_sibling("dd")
        own = [a["href"] for a in dd.select("a.reference.internal")
               if re.search(r"(^|/)(lessons|papers)/[\w-]+\.html", a["href"])] if dd else []
        if not own:
            unlinked.append(name)
        broken += [f"{name} -> {h}" for h in own if not _resolves(page, h)]
    assert not missing, f"{len(missing)} public objects have no API entry: {missing[:10]}"
    assert not unlinked, f"{len(unlinked)} API entries have no link to the page that derives them: {unlinked[:10]}"
    assert not broken, f"back-links that do not resolve: {broken[:10]}"
    assert len(public_objects()) > 300  # the library is that big: a parser that finds nothing fails here


@pytest.mark.site
def test_lessons_link_names_to_the_api_reference() -> None:
    lessons = sorted((HTML / "lessons").glob("*.html"))
    if not lessons:
        pytest.fail("no built lessons in _build/html/lessons: run `make book` first")
    without, broken = [], []
    for page in lessons:
        links = BeautifulSoup(page.read_text(), "html.parser").select("a.api-link")
        if not links:
            without.append(page.name)
        broken += [f"{page.name}: {a['href']}" for a in links if not _resolves(page, a["href"])]
        wrong = [a.get_text() for a in links if a.get_text().startswith("nn.")]
        assert not wrong, f"{page.name} links PyTorch's names to our API: {wrong}"
    assert not without, f"lessons with no name linked to the API reference: {without}"
    assert not broken, f"API links that do not resolve: {broken[:10]}"
