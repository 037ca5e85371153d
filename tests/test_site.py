"""The built site as a reader sees it: headless Chromium opens every page of ``_build/html``.

Fails on maths left untypeset, a broken image or internal link, a traceback in an output (other than
a cell tagged ``raises-exception``), a JavaScript error, or any request that would leave the machine.
Screenshots of every page land in ``_build/screenshots/`` for a person to look at.
Run after ``make book``: ``make site``.
"""

from __future__ import annotations

import functools
import os
import http.server
import threading
from pathlib import Path
from urllib.parse import unquote, urldefrag, urlparse

import pytest
from bs4 import BeautifulSoup

ROOT = Path(__file__).resolve().parent.parent
HTML = Path(os.environ.get("SITE_HTML", ROOT / "_build" / "html"))  # SITE_HTML: check another build
SHOTS = HTML.parent / "screenshots"
CHROMIUM = "/usr/bin/chromium"
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


@pytest.fixture(scope="module")
def browser():
    playwright = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} not found: `make site` installs Debian's chromium")
    with playwright.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
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


@pytest.fixture(scope="module")
def tab(browser, server: str):  # noqa: ANN001
    """One tab for every page; requests to anything but the local server are recorded and refused."""
    ctx = browser.new_context(viewport={"width": 1280, "height": 1600}, service_workers="block")
    page = ctx.new_page()
    page.outside, page.js_errors = [], []

    def on_request(route) -> None:  # noqa: ANN001
        if route.request.url.startswith(server) or route.request.url.startswith("data:"):
            route.continue_()
        else:
            page.outside.append(route.request.url)
            route.abort()

    page.route("**/*", on_request)
    page.on("pageerror", lambda exc: page.js_errors.append(str(exc)))
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
        return {raw_inline: (text.match(/\\\\\\(|\\\\\\)|\\\\\\[|\\\\\\]|\\$\\$/g) || []).length,
                typeset: document.querySelectorAll('mjx-container').length,
                mjx_errors: document.querySelectorAll('mjx-merror, [data-mjx-error]').length,
                images, tracebacks};
    }"""
    )
    SHOTS.mkdir(parents=True, exist_ok=True)
    tab.screenshot(path=str(SHOTS / (rel.replace("/", "__") + ".png")), full_page=False)
    problems = []
    if tab.outside:
        problems.append(f"requests leaving the machine: {sorted(set(tab.outside))[:5]}")
    if tab.js_errors:
        problems.append(f"JavaScript errors: {tab.js_errors[:3]}")
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
    assert not problems, f"{rel}: " + "; ".join(problems)
