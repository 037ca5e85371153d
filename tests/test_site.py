"""The built site as a reader sees it: headless Chromium opens every page of ``_build/html``.

At a desktop width (1280 px) it fails on maths left untypeset, a broken image or internal link, a
traceback in an output (other than a cell tagged ``raises-exception``), a JavaScript error, any
request that would leave the machine, an output, equation or table wider than its container (cut
off or hidden behind a scroll), or a figure shown at less than three quarters of its natural size.
At a phone's width (390 px) the page must not scroll sideways and the menu buttons must open the
sidebars. No page may show a path of the machine that built it.
Screenshots of every page at both widths land in ``_build/screenshots/`` for a person to look at.
Run after ``make book``: ``make site``. Chromium is found on ``PATH`` or through ``$CHROMIUM``;
without one the check is skipped with the reason, except in CI (``CI=true``), where it fails.
"""

from __future__ import annotations

import functools
import http.server
import os
import re
import shutil
import sys
import tempfile
import threading
from pathlib import Path
from urllib.parse import unquote, urldefrag, urlparse

import pytest
from bs4 import BeautifulSoup

ROOT = Path(__file__).resolve().parent.parent
HTML = Path(os.environ.get("SITE_HTML", ROOT / "_build" / "html"))  # SITE_HTML: check another build
SHOTS = HTML.parent / "screenshots"
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
DESKTOP = {"width": 1280, "height": 1600}
PHONE = {"width": 390, "height": 844}
MIN_FIGURE_SCALE = 0.75  # a figure shrunk more than this into the column has unreadable labels
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-default-apps", "--disable-extensions",
]

pytestmark = pytest.mark.site


def site_pages() -> list[Path]:
    if not HTML.exists():
        return []
    skip = {"_static", "_sources", "_images", "_sphinx_design_static"}
    return sorted(p for p in HTML.rglob("*.html") if not skip & set(p.relative_to(HTML).parts))


PAGES = site_pages()


@pytest.fixture(scope="module")
def server():
    if not PAGES:
        pytest.fail("no built site in _build/html: run `make book` first")
    handler = functools.partial(_QuietHandler, directory=str(HTML))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # noqa: ANN002
        pass


def find_chromium() -> str | None:
    """``$CHROMIUM`` if set, else the first Chromium or Chrome on ``PATH``."""
    named = os.environ.get("CHROMIUM")
    if named:
        return named if Path(named).exists() else shutil.which(named)
    return next((found for name in CHROMIUM_NAMES if (found := shutil.which(name))), None)


HOW_TO_GET_CHROMIUM = (
    "install one (Debian/Ubuntu: `sudo apt-get install chromium`; Fedora: `sudo dnf install chromium`; "
    "macOS: `brew install --cask chromium`) or point $CHROMIUM at a Chromium or Chrome executable"
)


@pytest.fixture(scope="module")
def browser():
    playwright = pytest.importorskip("playwright.sync_api")
    chromium = find_chromium()
    if chromium is None:
        message = f"browser check skipped: no Chromium found on PATH or in $CHROMIUM; {HOW_TO_GET_CHROMIUM}"
        if os.environ.get("CI"):
            pytest.fail(message.replace("skipped", "cannot run in CI"))
        pytest.skip(message)
    with playwright.sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


def test_site_has_the_pages() -> None:
    names = {str(p.relative_to(HTML)) for p in PAGES}
    for must in ["index.html", "lessons/08_matmul.html", "lessons/08_backprop.html", "book/notation.html"]:
        assert must in names, f"{must} missing from the built site"


@functools.lru_cache(maxsize=None)
def _ids(target: Path) -> frozenset[str]:
    """Every id and anchor name in a built page (parsed once per page)."""
    soup = BeautifulSoup(target.read_text(), "html.parser")
    return frozenset(
        [t["id"] for t in soup.find_all(id=True)] + [t["name"] for t in soup.find_all(attrs={"name": True})]
    )


def _internal_target(page: Path, href: str) -> tuple[Path, str] | None:
    parsed = urlparse(href)
    if parsed.scheme or href.startswith("//") or href.startswith("mailto:"):
        return None
    path, frag = urldefrag(href)
    target = (page.parent / unquote(path)).resolve() if path else page
    if target.is_dir():
        target = target / "index.html"
    return target, frag


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(HTML)))
def test_internal_links_and_images_resolve(page: Path) -> None:
    soup = BeautifulSoup(page.read_text(), "html.parser")
    broken = []
    for a in soup.find_all("a", href=True):
        resolved = _internal_target(page, a["href"])
        if resolved is None:
            continue
        target, frag = resolved
        if not target.exists():
            broken.append(f"link {a['href']!r} -> missing {target}")
        elif frag and target.suffix == ".html":
            if frag not in _ids(target):
                broken.append(f"link {a['href']!r} -> no anchor #{frag} in {target.name}")
    for img in soup.find_all("img", src=True):
        resolved = _internal_target(page, img["src"])
        if resolved is None:
            if not img["src"].startswith("data:"):
                broken.append(f"image {img['src'][:80]!r} is not served by the site")
        elif not resolved[0].exists():
            broken.append(f"image {img['src']!r} -> missing {resolved[0]}")
    assert not broken, f"{page.relative_to(HTML)}:\n" + "\n".join(broken)


def _machine_paths() -> list[str]:
    """Paths of the machine that built the site, which must never appear on a page."""
    paths = {str(ROOT), str(Path.home()), tempfile.gettempdir() + "/", sys.prefix, "/home/", "/Users/", "/root/",
             "site-packages"}
    return sorted(p for p in paths if p and p not in ("/", "/tmp"))


MACHINE_PATHS = _machine_paths()


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(HTML)))
def test_no_path_of_the_build_machine_on_the_page(page: Path) -> None:
    soup = BeautifulSoup(page.read_text(), "html.parser")
    for tag in soup(["script", "style"]):
        tag.decompose()
    text = soup.get_text(" ")
    found = sorted({p for p in MACHINE_PATHS if p in text})
    lines = [line.strip()[:120] for line in text.splitlines() if any(p in line for p in found)]
    assert not found, f"{page.relative_to(HTML)} shows paths of the build machine {found}:\n" + "\n".join(lines[:5])


def _tab(browser, server: str, viewport: dict):  # noqa: ANN001, ANN202
    ctx = browser.new_context(viewport=viewport, service_workers="block")
    page = ctx.new_page()
    page.outside, page.js_errors, page.missing = [], [], []

    def on_request(route) -> None:  # noqa: ANN001
        if route.request.url.startswith(server) or route.request.url.startswith("data:"):
            route.continue_()
        else:
            page.outside.append(route.request.url)
            route.abort()

    page.route("**/*", on_request)
    page.on("pageerror", lambda exc: page.js_errors.append(str(exc)))
    page.on("response", lambda r: page.missing.append(r.url[len(server):]) if r.status >= 400 else None)
    return ctx, page


@pytest.fixture(scope="module")
def tab(browser, server: str):  # noqa: ANN001
    """One desktop tab for every page; requests to anything but the local server are recorded and refused."""
    ctx, page = _tab(browser, server, DESKTOP)
    yield page
    ctx.close()


@pytest.fixture(scope="module")
def phone(browser, server: str):  # noqa: ANN001
    """One phone-sized tab."""
    ctx, page = _tab(browser, server, PHONE)
    yield page
    ctx.close()


def _redirect_target(page: Path) -> Path | None:
    soup = BeautifulSoup(page.read_text(), "html.parser")
    meta = soup.find("meta", attrs={"http-equiv": lambda v: v and v.lower() == "refresh"})
    if meta is None:
        return None
    url = meta["content"].split("url=", 1)[1].strip()
    return (page.parent / url).resolve()


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(HTML)))
def test_page_in_browser(page: Path, server: str, tab) -> None:  # noqa: ANN001
    rel = page.relative_to(HTML).as_posix()
    target = _redirect_target(page)
    if target is not None:  # e.g. index.html, a redirect to the first page
        assert target.exists(), f"{rel} redirects to a missing page {target}"
        return
    tab.outside.clear()
    tab.js_errors.clear()
    tab.missing.clear()
    tab.goto(f"{server}/{rel}", wait_until="load")
    tab.evaluate("() => window.MathJax && MathJax.startup ? MathJax.startup.promise : null")
    report = tab.evaluate(
        """() => {
        const main = document.querySelector('main') || document.body;
        const clone = main.cloneNode(true);
        clone.querySelectorAll('pre, code, .highlight, script, style, mjx-container, .cell_input').forEach(e => e.remove());
        const text = clone.innerText;
        const images = [...document.images].filter(i => !i.complete || i.naturalWidth === 0).map(i => i.src);
        const tracebacks = [...document.querySelectorAll('.cell')]
          .filter(c => !c.classList.contains('tag_raises-exception'))
          .filter(c => {
             const out = c.querySelector('.cell_output');
             return out && (out.querySelector('.traceback, .output.error') || /Traceback \\(most recent call last\\)/.test(out.innerText));
          }).length;
        const where = (e) => {
          const cell = e.closest('.cell');
          const label = cell ? [...document.querySelectorAll('.cell')].indexOf(cell) : -1;
          const head = [...document.querySelectorAll('h1, h2, h3')].filter(h =>
              h.compareDocumentPosition(e) & Node.DOCUMENT_POSITION_FOLLOWING).pop();
          return (head ? head.innerText.replace(/#$/, '').trim().slice(0, 40) : 'top') + (label >= 0 ? ` (cell ${label})` : '');
        };
        const wide = (e) => e.scrollWidth > e.clientWidth + 2;
        const overflowing = [];
        main.querySelectorAll('.cell_output pre, .cell_output .output, div.math, mjx-container[display="true"], '
                              + '.pst-scrollable-table-container, table, .MathJax_Display')
          .forEach(e => { if (wide(e)) overflowing.push(`${e.tagName.toLowerCase()}.${[...e.classList].join('.')} in ${where(e)}: `
                                                      + `${e.scrollWidth}px of content in ${e.clientWidth}px`); });
        const column = main.getBoundingClientRect();
        main.querySelectorAll('.cell_output, mjx-container[display="true"], table').forEach(e => {
          const r = e.getBoundingClientRect();
          if (r.width > 0 && r.right > column.right + 2)
            overflowing.push(`${e.tagName.toLowerCase()} in ${where(e)} reaches past the column by ${Math.round(r.right - column.right)}px`);
        });
        const shrunk = [...main.querySelectorAll('.cell_output img')]
          .filter(i => i.naturalWidth > 0 && i.clientWidth > 0 && i.clientWidth < MIN_SCALE * i.naturalWidth)
          .map(i => `${where(i)}: ${i.naturalWidth}px wide, shown at ${i.clientWidth}px (${Math.round(100 * i.clientWidth / i.naturalWidth)} %)`);
        return {raw_inline: (text.match(/\\\\\\(|\\\\\\)|\\\\\\[|\\\\\\]|\\$\\$/g) || []).length,
                typeset: document.querySelectorAll('mjx-container').length,
                mjx_errors: document.querySelectorAll('mjx-merror, [data-mjx-error]').length,
                images, tracebacks, overflowing, shrunk};
    }""".replace("MIN_SCALE", str(MIN_FIGURE_SCALE))
    )
    SHOTS.mkdir(parents=True, exist_ok=True)
    tab.screenshot(path=str(SHOTS / (rel.replace("/", "__") + ".png")), full_page=False)
    problems = []
    if tab.outside:
        problems.append(f"requests leaving the machine: {sorted(set(tab.outside))[:5]}")
    if tab.js_errors:
        problems.append(f"JavaScript errors: {tab.js_errors[:3]}")
    if tab.missing:
        problems.append(f"files the page asked for and the site lacks: {sorted(set(tab.missing))[:5]}")
    if report["raw_inline"]:
        problems.append(f"{report['raw_inline']} maths delimiters left untypeset")
    if 'class="math' in page.read_text() and not report["typeset"]:
        problems.append("the page has maths but MathJax typeset none of it")
    if report["mjx_errors"]:
        problems.append(f"{report['mjx_errors']} MathJax errors (unknown macro or bad TeX)")
    if report["images"]:
        problems.append(f"broken images: {report['images'][:5]}")
    if report["tracebacks"]:
        problems.append(f"{report['tracebacks']} cells show a traceback without the raises-exception tag")
    if report["overflowing"]:
        problems.append("wider than the column (cut off or behind a scroll) at 1280 px:\n  "
                        + "\n  ".join(report["overflowing"][:12]))
    if report["shrunk"]:
        problems.append(f"figures shrunk below {MIN_FIGURE_SCALE:.0%} of their size (labels unreadable); "
                        "size them for the column (foundations.plotting):\n  " + "\n  ".join(report["shrunk"][:12]))
    assert not problems, f"{rel}: " + "\n".join(problems)


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(HTML)))
def test_page_on_a_phone(page: Path, server: str, phone) -> None:  # noqa: ANN001
    """At 390 px the page itself never scrolls sideways (wide content scrolls inside its own box)."""
    rel = page.relative_to(HTML).as_posix()
    if _redirect_target(page) is not None:
        return
    phone.goto(f"{server}/{rel}", wait_until="load")
    phone.evaluate("() => window.MathJax && MathJax.startup ? MathJax.startup.promise : null")
    width = phone.evaluate("() => document.documentElement.scrollWidth")
    SHOTS.mkdir(parents=True, exist_ok=True)
    phone.screenshot(path=str(SHOTS / ("phone__" + rel.replace("/", "__") + ".png")), full_page=False)
    assert width <= PHONE["width"] + 1, f"{rel}: at {PHONE['width']} px the page is {width} px wide and scrolls sideways"


@pytest.mark.parametrize("toggle, dialog", [(".primary-toggle", "#pst-primary-sidebar-modal"),
                                            (".secondary-toggle", "#pst-secondary-sidebar-modal")])
def test_phone_menu_buttons_open_the_sidebars(toggle: str, dialog: str, server: str, phone) -> None:  # noqa: ANN001
    phone.goto(f"{server}/lessons/08_matmul.html", wait_until="load")
    button = phone.locator(f"{toggle}:visible")
    assert button.count() >= 1, f"no visible {toggle} button at {PHONE['width']} px"
    button.first.click()
    phone.wait_for_timeout(300)
    opened = phone.evaluate(f"() => document.querySelector('{dialog}')?.open === true")
    links = phone.evaluate(f"() => [...document.querySelectorAll('{dialog} a')].filter(a => a.offsetParent).length")
    assert opened and links > 0, f"clicking {toggle} at {PHONE['width']} px did not open {dialog} (open={opened}, links={links})"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(HTML)))
def test_exercises_numbered_per_lesson_titled_and_solutions_clean(page: Path) -> None:
    """Exercise numbers restart with each lesson (10.1, 10.2, ...), each exercise has a title, and
    no solution box shows the stub generator's BEGIN/END SOLUTION markers."""
    soup = BeautifulSoup(page.read_text(), "html.parser")
    rel = page.relative_to(HTML).as_posix()
    numbers = [s.get_text(strip=True) for s in soup.select("div.exercise p.admonition-title span.caption-number")]
    titles = [p.get_text(" ", strip=True) for p in soup.select("div.exercise p.admonition-title")]
    match = re.match(r"lessons/(\d+)_", rel)
    problems = []
    for number in numbers:
        if not match or not re.fullmatch(rf"Exercise {int(match.group(1))}\.\d+", number):
            problems.append(f"exercise numbered {number!r}, expected 'Exercise <lesson>.<k>'")
    untitled = [t for t in titles if re.fullmatch(r"Exercise( [\d.]+)?", t)]
    if untitled:
        problems.append(f"{len(untitled)} exercises without a title: {untitled[:3]}")
    markers = [pre.get_text()[:60] for pre in soup.select("div.solution pre") if "# BEGIN SOLUTION" in pre.get_text()]
    if markers:
        problems.append(f"{len(markers)} solution boxes show '# BEGIN SOLUTION'")
    assert not problems, f"{rel}: " + "; ".join(problems)


def test_lesson_numbering_continues_across_a_lessons_pages() -> None:
    first = {p: [s.get_text(strip=True) for s in BeautifulSoup((HTML / p).read_text(), "html.parser")
                 .select("div.exercise p.admonition-title span.caption-number")]
             for p in ("lessons/08_matmul.html", "lessons/08_backprop.html") if (HTML / p).exists()}
    if len(first) < 2:
        pytest.fail("lessons/08_matmul.html and lessons/08_backprop.html not built: run `make book`")
    assert first["lessons/08_matmul.html"][0] == "Exercise 8.1"
    k = len(first["lessons/08_matmul.html"])
    assert first["lessons/08_backprop.html"][0] == f"Exercise 8.{k + 1}"


STATIC_LIMIT_MB = 10


def test_static_files_stay_small() -> None:
    """The site ships what it uses: ``_static`` (theme, scripts, MathJax) stays under 10 MB."""
    static = HTML / "_static"
    sizes = {p: p.stat().st_size for p in static.rglob("*") if p.is_file()}
    total = sum(sizes.values()) / 1e6
    biggest = sorted(sizes, key=sizes.get, reverse=True)[:5]
    listing = ", ".join(f"{p.relative_to(static)} {sizes[p] / 1e6:.1f} MB" for p in biggest)
    assert total < STATIC_LIMIT_MB, f"_static holds {total:.1f} MB, expected under {STATIC_LIMIT_MB} MB; largest: {listing}"
    mathjax = static / "mathjax"
    assert (mathjax / "tex-chtml.js").is_file(), "MathJax's tex-chtml.js is missing from _static/mathjax"
    assert not (mathjax / "sre").exists() and not (mathjax / "tex-svg-full.js").exists(), (
        "_static/mathjax holds parts of MathJax the site never loads (sre, other outputs)"
    )
