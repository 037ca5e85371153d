"""The book's bibliography: one ``.bib`` file, cited with ``{cite}`` roles, lists generated, none by hand.

- Every key that a cite role of a page uses (``{cite}``, ``{cite:t}``, ``{cite:p}``, ...) is an entry
  of ``book/references.bib``.
- Every entry has an author, a year, a title, a venue (journal, booktitle, howpublished or school) and
  a way to find it (``eprint``, ``doi`` or ``url``); an ``eprint`` says ``archivePrefix = {arXiv}``.
- Every walkthrough (``book/papers/*.md``) cites its own paper(s) and ends with a generated reference
  list (a ``{bibliography}`` directive filtered to the page's citations); so does every lesson that
  cites.
- No hand-written references are left in the pages' prose: no ``arXiv:NNNN.NNNNN``, no
  ``arxiv.org/abs`` link, no ``doi:`` text, and no "## References" section with paragraphs of
  authors and venues.
- ``book/bibliography.md`` shows every entry (``:all:``) and is in ``_toc.yml``.

The last test (marked ``built``) reads the built site: each walkthrough's HTML has its papers in its
reference list, and every citation link points at an anchor that exists.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from urllib.parse import unquote, urldefrag, urljoin

import pytest
from pybtex.database import parse_file

from tools.pages import ROOT, toc_pages

BIB = ROOT / "book" / "references.bib"
PAPERS = sorted((ROOT / "book" / "papers").glob("*.md"))
PAGES = sorted({*(ROOT / "book").rglob("*.md"), *(ROOT / "lessons").glob("*.md")})
HTML = Path(os.environ.get("SITE_HTML", ROOT / "_build" / "html"))

VENUE_FIELDS = ("journal", "booktitle", "howpublished", "school")
FIND_FIELDS = ("eprint", "doi", "url")

# Each walkthrough -> the keys of the paper(s) it reads; it must cite each of them.
WALKTHROUGH_PAPERS: dict[str, set[str]] = {
    "botev2016": {"botev2016"},
    "fixup2019": {"fixup2019"},
    "goyal2017": {"goyal2017"},
    "li2020": {"li2020"},
    "glorot2010": {"glorot2010"},
    "he2015": {"he2015"},
    "he2019": {"he2019"},
    "hochreiter1997": {"hochreiter1997", "gers2000"},
    "howard2018": {"howard2018"},
    "ioffe2015": {"ioffe2015"},
    "kingma2014": {"kingma2014"},
    "klambauer2017": {"klambauer2017"},
    "masters2018": {"masters2018"},
    "merity2017": {"merity2017"},
    "micikevicius2017": {"micikevicius2017"},
    "mishkin2015": {"mishkin2015"},
    "normalisers": {"ba2016", "ulyanov2016", "wu2018"},
    "saxe2013": {"saxe2013"},
    "szegedy2016": {"szegedy2016"},
    "weight_decay": {"vanlaarhoven2017", "loshchilov2019", "zhang2019", "hoffer2018"},
    "you2019": {"you2019", "you2017"},
    "zhang2017": {"zhang2017"},
}

# A cite role: {cite}`a,b`, {cite:t}`a`, {cite:p}`a`, {cite:ps}`a`, {cite:alp}`a`, ...
CITE = re.compile(r"\{cite(?::[a-z]+)?\}`([^`]*)`")
CODE_CELL = re.compile(r"^(`{3,})\{code-cell\}[^\n]*\n.*?^\1[ \t]*$", re.S | re.M)
PAGE_BIBLIOGRAPHY = re.compile(r"^```\{bibliography\}\n(?::[^\n]*\n)*```$", re.M)
HAND_WRITTEN = [
    (re.compile(r"arXiv:\s*\d{4}\.\d{4,5}", re.I), "an arXiv id written by hand"),
    (re.compile(r"arxiv\.org/(?:abs|pdf)/", re.I), "an arxiv.org link written by hand"),
    (re.compile(r"\bdoi:\s*10\.\d{4,}/", re.I), "a DOI written by hand"),
    (re.compile(r"\b(?:PMLR|Proceedings of the)\b[^\n]*\b(?:19|20)\d\d\b"), "a venue and year written by hand"),
]


def cited_keys(text: str) -> list[str]:
    """Every key of every cite role in ``text`` (code cells excluded), in order."""
    text = CODE_CELL.sub("", text)
    return [key.strip() for group in CITE.findall(text) for key in group.split(",") if key.strip()]


def markdown(text: str) -> str:
    """``text`` without its code cells: the prose and directives a page author writes."""
    return CODE_CELL.sub("", text)


def hand_written_references(text: str) -> list[str]:
    """What looks like a reference written by hand in a page's Markdown (not its code cells)."""
    prose = markdown(text)
    found = [f"{why}: {m.group(0)!r}" for pattern, why in HAND_WRITTEN for m in pattern.finditer(prose)]
    section = re.search(r"^## References?\n(.*?)(?=^## |\Z)", prose, re.S | re.M)
    if section:
        body = PAGE_BIBLIOGRAPHY.sub("", section.group(1))
        for para in re.split(r"\n\s*\n", body.strip()):
            if para and not para.startswith("Where this is used"):
                found.append(f"a paragraph in the reference section that is not generated: {para[:70]!r}")
    return found


def bib_problems(fields: dict[str, str], persons: dict[str, list]) -> list[str]:
    """Why an entry (its fields and persons) is incomplete; empty when it is fine."""
    problems = []
    if not persons.get("author"):
        problems.append("no author")
    if not re.fullmatch(r"(19|20)\d\d", fields.get("year", "")):
        problems.append(f"no four-digit year (got {fields.get('year')!r})")
    if not fields.get("title", "").strip():
        problems.append("no title")
    if not any(fields.get(f, "").strip() for f in VENUE_FIELDS):
        problems.append(f"no venue ({', '.join(VENUE_FIELDS)})")
    if not any(fields.get(f, "").strip() for f in FIND_FIELDS):
        problems.append(f"nothing to find it by ({', '.join(FIND_FIELDS)})")
    if "eprint" in fields:
        if fields.get("archivePrefix", fields.get("archiveprefix")) != "arXiv":
            problems.append("an eprint without archivePrefix = {arXiv}")
        if not re.fullmatch(r"\d{4}\.\d{4,5}", fields["eprint"]):
            problems.append(f"eprint is not an arXiv id: {fields['eprint']!r}")
    if "doi" in fields and not fields["doi"].startswith("10."):
        problems.append(f"doi should start with 10. (got {fields['doi']!r})")
    return problems


def bib_entries() -> dict:
    return dict(parse_file(str(BIB), "bibtex").entries)


def all_citations() -> dict[str, set[str]]:
    """Each page (relative path) -> the keys it cites."""
    return {str(p.relative_to(ROOT)): set(cited_keys(p.read_text())) for p in PAGES}


# ---- the .bib file ---------------------------------------------------------------------------------


def test_the_bib_file_parses_and_is_not_trivially_small() -> None:
    entries = bib_entries()
    assert len(entries) >= 40, f"{BIB} has {len(entries)} entries"
    keys_lower = [k.lower() for k in entries]
    assert len(keys_lower) == len(set(keys_lower)), "two keys differ only in case"


def test_every_entry_is_complete() -> None:
    problems = {
        key: p for key, e in bib_entries().items()
        if (p := bib_problems(dict(e.fields), {r: list(ps) for r, ps in e.persons.items()}))
    }
    assert not problems, "incomplete entries in book/references.bib:\n" + "\n".join(
        f"  {k}: {'; '.join(p)}" for k, p in sorted(problems.items()))


# ---- the pages ---------------------------------------------------------------------------------------


def test_every_cited_key_exists() -> None:
    keys = set(bib_entries())
    missing = {page: sorted(cited - keys) for page, cited in all_citations().items() if cited - keys}
    assert not missing, "cite roles naming keys that book/references.bib lacks:\n" + "\n".join(
        f"  {page}: {', '.join(k)}" for page, k in sorted(missing.items()))


def test_the_mapping_covers_every_walkthrough() -> None:
    assert {p.stem for p in PAPERS} == set(WALKTHROUGH_PAPERS), (
        "every walkthrough needs an entry in WALKTHROUGH_PAPERS (and no entry without a page)")


@pytest.mark.parametrize("page", PAPERS, ids=lambda p: p.stem)
def test_every_walkthrough_cites_its_papers(page: Path) -> None:
    cited = set(cited_keys(page.read_text()))
    missing = WALKTHROUGH_PAPERS[page.stem] - cited
    assert not missing, f"{page.name} does not cite its own paper(s): {sorted(missing)}"


def citing_pages() -> list[Path]:
    return [p for p in PAGES if cited_keys(p.read_text()) and p.name != "bibliography.md"]


@pytest.mark.parametrize("page", sorted(set(PAPERS) | set(citing_pages())), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_citing_page_ends_with_a_generated_list(page: Path) -> None:
    text = markdown(page.read_text())
    lists = PAGE_BIBLIOGRAPHY.findall(text)
    assert len(lists) == 1, f"{page.name}: expected one {{bibliography}} directive, found {len(lists)}"
    options = lists[0]
    assert ":filter: docname in docnames" in options, f"{page.name}: its list must show this page's citations only"
    assert ":list: bullet" in options, (
        f"{page.name}: a page's list is a bullet list; only book/bibliography.md is a citation list "
        "(a key in two citation lists is a 'duplicate citation')")
    heading = re.search(r"^## References\n", text, re.M)
    assert heading and heading.start() < text.index(options), f"{page.name}: the list belongs under '## References'"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_hand_written_references(page: Path) -> None:
    found = hand_written_references(page.read_text())
    assert not found, f"{page.relative_to(ROOT)}: use {{cite}} and book/references.bib instead of:\n  " + "\n  ".join(found)


def test_the_bibliography_page_shows_every_entry() -> None:
    page = ROOT / "book" / "bibliography.md"
    text = page.read_text()
    lists = PAGE_BIBLIOGRAPHY.findall(text)
    assert len(lists) == 1 and ":all:" in lists[0] and ":filter:" not in lists[0] and ":list:" not in lists[0], (
        "book/bibliography.md: one {bibliography} with :all: (a citation list, the target of the cite links)")
    assert Path("book/bibliography.md") in toc_pages(), "book/bibliography.md is not in _toc.yml"


def test_every_entry_is_cited_somewhere() -> None:
    cited = set().union(*all_citations().values())
    uncited = sorted(set(bib_entries()) - cited)
    assert not uncited, f"entries no page cites (cite them where the page names them, or drop them): {uncited}"


# ---- the checkers themselves -------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, expected",
    [
        ("as {cite:t}`he2015` showed {cite:p}`a, b` and {cite}`c`", ["he2015", "a", "b", "c"]),
        ("{cite:ps}`x`", ["x"]),
        ("```{code-cell} ipython3\nprint('{cite:t}`nope`')\n```\n", []),
        ("{doc}`he2015`", []),
    ],
)
def test_cited_keys_reads_cite_roles(text: str, expected: list[str]) -> None:
    assert cited_keys(text) == expected


@pytest.mark.parametrize(
    "text, n",
    [
        ("See arXiv:1502.01852.", 1),
        ("[Smith](https://arxiv.org/abs/1506.01186)", 1),
        ("In *Proceedings of the 32nd ICML*, 2015.", 1),
        ("## References\n\nJane Doe. A Paper. In *ICLR*, 2017.\n", 1),
        ("## References\n\nWhere this is used: {doc}`x`.\n\n```{bibliography}\n:filter: docname in docnames\n:list: bullet\n```\n", 0),
        ("As {cite:t}`he2015` showed.", 0),
        ("```{code-cell} ipython3\n# arXiv:1502.01852\n```\n", 0),
    ],
)
def test_hand_written_references_are_found(text: str, n: int) -> None:
    assert len(hand_written_references(text)) == n


def test_bib_problems_names_what_is_missing() -> None:
    good = {"year": "2015", "title": "T", "booktitle": "ICLR", "eprint": "1412.6980", "archivePrefix": "arXiv"}
    assert bib_problems(good, {"author": ["A"]}) == []
    assert bib_problems({**good, "booktitle": ""}, {"author": ["A"]}) == ["no venue (journal, booktitle, howpublished, school)"]
    assert bib_problems({"year": "2015", "title": "T", "journal": "J"}, {"author": ["A"]}) == [
        "nothing to find it by (eprint, doi, url)"]
    assert bib_problems({**good, "archivePrefix": ""}, {}) == ["no author", "an eprint without archivePrefix = {arXiv}"]


# ---- the built site -------------------------------------------------------------------------------------


@pytest.mark.built
@pytest.mark.parametrize("page", PAPERS, ids=lambda p: p.stem)
def test_built_walkthrough_lists_its_papers_and_its_citations_resolve(page: Path) -> None:
    """In ``_build/html``: the page's reference list has its papers, and every citation link lands.

    sphinxcontrib-bibtex renders a citation as ``<span class="bibtex-citation">Glorot and Bengio
    [<a href="../bibliography.html#id2" title="(the entry)">2010</a>]</span>``, pointing at a
    ``<div class="citation" id="id2">`` of ``book/bibliography.html``; the page's own list (``:list:
    bullet``) is a ``<ul>`` of ``<li>`` entries in ``<section id="references">``.
    """
    from bs4 import BeautifulSoup

    built = HTML / page.relative_to(ROOT).with_suffix(".html")
    if not built.exists():
        pytest.fail(f"no {built}: run `make book` first")
    soup = BeautifulSoup(built.read_text(), "html.parser")
    items = soup.select("section#references > ul > li")
    assert items, f"{built.name}: no generated reference list (section#references > ul > li)"
    listed = " ".join(li.get_text(" ", strip=True) for li in items)
    entries = bib_entries()
    for key in WALKTHROUGH_PAPERS[page.stem]:
        title = " ".join(re.sub(r"[{}]", "", entries[key].fields["title"]).split())
        assert title.lower() in " ".join(listed.split()).lower(), f"{built.name}: its list lacks {key} ({title!r})"
    links = soup.select("span.bibtex-citation a[href]")
    assert links, f"{built.name}: no citation links"
    cache: dict[Path, BeautifulSoup] = {}
    for a in links:
        url, anchor = urldefrag(a["href"])
        target = built if not url else Path(unquote(urljoin(built.as_uri(), url).removeprefix("file://")))
        assert target.exists(), f"{built.name}: citation link to a missing page {a['href']}"
        assert anchor, f"{built.name}: citation link without an anchor {a['href']}"
        doc = cache.setdefault(target, BeautifulSoup(target.read_text(), "html.parser"))
        entry = doc.find(id=anchor)
        assert entry is not None, f"{built.name}: citation link {a['href']} points at no element of {target.name}"
        assert "citation" in entry.get("class", []), f"{built.name}: citation link {a['href']} is not a bibliography entry"
