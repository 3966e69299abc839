"""The site in a real browser: pages load cleanly offline, links and images resolve, maths is
typeset, search works. Headless Debian Chromium (/usr/bin/chromium, installed by
tools/ensure_apt_packages.sh) driven by Playwright; the built site is served on 127.0.0.1 only.

Every page is visited once (module fixture `crawl`); the tests then check what was recorded.
Screenshots of the home page and chapter 1 go to _build/test-artifacts/.
"""
from __future__ import annotations

import functools
import http.server
import threading
import urllib.error
import urllib.request
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import urldefrag, urlsplit

import pytest
import yaml

from conftest import REPO

pytestmark = pytest.mark.xdist_group("book")

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
HOST = "127.0.0.1"
ARTIFACTS = REPO / "_build" / "test-artifacts"
TIMEOUT_MS = 20_000   # page loads
WAIT_MS = 10_000      # MathJax, search results
MATH_PAGE = "book/preprocessing.html"
SEARCH = "search.html?q=normalisation"
SEARCH_RESULTS = "#search-results ul.search li a"
SCREENSHOTS = {"index.html": "home.png", MATH_PAGE: "preprocessing.png"}
INSTALL_HINT = (f"{CHROMIUM} not found: the browser test needs Debian's Chromium. Install it with "
                "'make test' (as root) or 'sudo apt-get install chromium'; "
                "'make test' runs the script first.")

# JavaScript run on each page once it has loaded.
LOAD_IMAGES_JS = """async () => {
    const imgs = Array.from(document.images);
    for (const img of imgs) img.loading = "eager";   // lazy images would never load off-screen
    await Promise.all(imgs.map((img) => img.decode().catch(() => null)));
}"""
PAGE_FACTS_JS = """() => ({
    links: Array.from(document.querySelectorAll("a[href]"), (a) => a.href),
    images: Array.from(document.images, (img) => ({
        src: img.currentSrc || img.src, complete: img.complete, width: img.naturalWidth})),
})"""
MATH_FACTS_JS = """() => ({
    containers: document.querySelectorAll("mjx-container").length,
    untypeset: Array.from(document.querySelectorAll(".math"))
        .filter((el) => !el.querySelector("mjx-container")).map((el) => el.textContent.slice(0, 80)),
    errors: Array.from(document.querySelectorAll("mjx-merror"), (el) => el.textContent.slice(0, 80)),
    text: document.body.innerText,
})"""


def toc_pages() -> list[str]:
    """index plus every file of _toc.yml (parts, chapters, sections), as .html paths."""
    toc = yaml.safe_load((REPO / "_toc.yml").read_text())
    files = [toc["root"]]

    def walk(entries):
        for entry in entries or []:
            if "file" in entry:
                files.append(entry["file"])
            walk(entry.get("sections"))
            walk(entry.get("chapters"))

    for part in toc.get("parts", []):
        walk(part.get("chapters"))
    walk(toc.get("chapters"))
    return list(dict.fromkeys(f"{f}.html" for f in files))


PAGES = list(dict.fromkeys(toc_pages() + ["index.html", "search.html", "genindex.html"]))


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def site(built_book):
    """The built site served over HTTP on 127.0.0.1 (ephemeral port) for the module's tests."""
    html = Path(built_book.html)
    if not (html / "index.html").is_file():
        pytest.fail(f"the book did not build ({html}/index.html missing):\n"
                    + built_book.proc.stdout[-2000:] + built_book.proc.stderr[-2000:])
    server = http.server.ThreadingHTTPServer((HOST, 0), functools.partial(_QuietHandler, directory=str(html)))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield SimpleNamespace(base=f"http://{HOST}:{server.server_address[1]}/", html=html)
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.is_file():
        pytest.fail(INSTALL_HINT, pytrace=False)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def is_local(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme not in ("http", "https", "ws", "wss") or parts.hostname == HOST


class Recorder:
    """A browser context that records console errors, page errors, failed requests, HTTP
    errors and every request to a host other than 127.0.0.1 (aborted: the site must work
    offline). `page_name` tags what is recorded with the page being visited."""

    def __init__(self, browser):
        self.context = browser.new_context(viewport={"width": 1280, "height": 900})
        self.context.set_default_timeout(TIMEOUT_MS)
        self.problems: dict[str, list[str]] = {}
        self.page_name = "?"
        self.context.route(lambda url: not is_local(url), self._abort_remote)
        self.page = self.context.new_page()
        self.page.on("console", lambda m: m.type == "error" and self._add(f"console error: {m.text} ({m.location.get('url', '')})"))
        self.page.on("pageerror", lambda e: self._add(f"uncaught exception: {e}"))
        self.page.on("requestfailed", lambda r: self._add(f"request failed: {r.url} ({r.failure})"))
        self.pending: set = set()   # requests in flight, so a visit can wait for late ones (fonts)
        self.page.on("request", lambda r: self.pending.add(r))
        self.page.on("requestfinished", lambda r: self.pending.discard(r))
        self.page.on("requestfailed", lambda r: self.pending.discard(r))
        self.page.on("response", lambda r: r.status >= 400 and self._add(f"HTTP {r.status}: {r.url}"))

    def _add(self, text: str) -> None:
        self.problems.setdefault(self.page_name, []).append(text)

    def _abort_remote(self, route):
        self._add(f"request to a remote host (the site must work offline): {route.request.url}")
        route.abort()

    def visit(self, base: str, name: str, wait_until: str = "networkidle"):
        self.page_name = name
        response = self.page.goto(base + name, wait_until=wait_until)
        if response is None or response.status != 200:
            self._add(f"page answered {response and response.status}")
        return self.page

    def settle(self) -> None:
        """Let the page finish what it started (MathJax's web fonts, late requests) before the
        next visit aborts it; a request still pending after WAIT_MS is recorded as a problem."""
        self.page.evaluate("() => document.fonts.ready.then(() => true)")
        for _ in range(WAIT_MS // 50):
            if not self.pending:
                return
            self.page.wait_for_timeout(50)
        self._add("requests still pending after %d s: %s" % (
            WAIT_MS // 1000, ", ".join(sorted(r.url for r in self.pending))))

    def close(self):
        self.context.close()


def wait_for_math(page) -> str | None:
    """Wait until MathJax has typeset the page; return an error message instead of raising."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        page.wait_for_function("() => window.MathJax && MathJax.startup && MathJax.startup.promise",
                               timeout=WAIT_MS)
        page.evaluate("() => MathJax.startup.promise.then(() => true)")
        page.wait_for_selector("mjx-container", state="attached", timeout=WAIT_MS)
    except PlaywrightTimeout:
        return f"MathJax did not typeset {page.url} within {WAIT_MS / 1000:.0f} s"
    return None


@pytest.fixture(scope="module")
def crawl(browser, site):
    """Visit every page once; record problems, links, images, maths; take the screenshots."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    rec = Recorder(browser)
    facts, math = {}, None
    try:
        for name in PAGES:
            page = rec.visit(site.base, name)
            page.evaluate(LOAD_IMAGES_JS)
            if name == MATH_PAGE or page.query_selector(".math"):
                # MathJax typesets after the load event and then fetches its fonts; leaving the
                # page before that aborts those requests (recorded as failures of a good page).
                math_error = wait_for_math(page)
                if name == MATH_PAGE:
                    math = dict(page.evaluate(MATH_FACTS_JS), error=math_error)
                elif math_error:
                    rec._add(math_error)
            rec.settle()
            facts[name] = page.evaluate(PAGE_FACTS_JS)
            if name in SCREENSHOTS:
                page.screenshot(path=str(ARTIFACTS / SCREENSHOTS[name]), full_page=True)
        page = rec.visit(site.base, SEARCH)
        try:
            page.wait_for_selector(SEARCH_RESULTS, timeout=WAIT_MS)
        except PlaywrightTimeout:
            pass   # no result: test_search_finds_the_chapter reports it
        results = page.eval_on_selector_all(SEARCH_RESULTS, "els => els.map(a => a.href)")
        yield SimpleNamespace(problems=rec.problems, facts=facts, math=math, search=results, base=site.base)
    finally:
        rec.close()


def test_chromium_is_installed():
    assert CHROMIUM.is_file(), INSTALL_HINT


def test_pages_cover_the_toc(site):
    for name in PAGES:
        assert (site.html / name).is_file(), f"{name} is listed but was not built"


@pytest.mark.parametrize("name", PAGES)
def test_page_loads_offline_without_errors(crawl, name):
    assert name in crawl.facts, f"{name} was not visited"
    problems = crawl.problems.get(name, [])
    assert not problems, f"{name}:\n  " + "\n  ".join(problems)


def fetch_status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            response.read()
            return response.status
    except urllib.error.HTTPError as err:
        return err.code


def check_resources(facts: dict, base: str) -> list[str]:
    """Internal links (fragments stripped) and images that do not resolve, as messages."""
    broken, seen = [], {}
    for name, page in facts.items():
        targets = [(urldefrag(link).url, "link") for link in page["links"]
                   if urlsplit(link).scheme in ("http", "https") and link.startswith(base)]
        targets += [(img["src"], "image") for img in page["images"]]
        for url, kind in targets:
            if not url.startswith(base):
                broken.append(f"{name}: {kind} {url} is not served by the site")
                continue
            if url not in seen:
                seen[url] = fetch_status(url)
            if seen[url] != 200:
                broken.append(f"{name}: {kind} {url[len(base):]} answers HTTP {seen[url]}")
        for img in page["images"]:
            if not (img["complete"] and img["width"] > 0):
                broken.append(f"{name}: image {img['src']} did not render (naturalWidth {img['width']})")
    return broken


def test_internal_links_and_images_resolve(crawl):
    n_links = sum(len(p["links"]) for p in crawl.facts.values())
    assert n_links > 0, "no links found: the crawl saw empty pages"
    assert any(p["images"] for p in crawl.facts.values()), "no image on any page: the chapter figure is missing"
    broken = check_resources(crawl.facts, crawl.base)
    assert not broken, "\n".join(broken)


def test_math_is_typeset(crawl):
    math = crawl.math
    assert math is not None, f"{MATH_PAGE} was not visited"
    assert not math["error"], math["error"]
    assert math["containers"] > 0, "MathJax typeset nothing"
    assert not math["untypeset"], f"maths left untypeset: {math['untypeset'][:3]}"
    assert not math["errors"], f"MathJax errors: {math['errors'][:3]}"
    assert "$$" not in math["text"], "raw $$ in the visible text"
    assert "\\frac" not in math["text"], "raw \\frac in the visible text"


def test_search_finds_the_chapter(crawl):
    paths = [urlsplit(url).path for url in crawl.search]
    assert any(p.endswith("/book/preprocessing.html") for p in paths), \
        f"searching 'normalisation' did not find book/preprocessing.html; results: {crawl.search}"
    assert not crawl.problems.get(SEARCH), crawl.problems[SEARCH]


def test_screenshots_saved(crawl):
    for file in SCREENSHOTS.values():
        path = ARTIFACTS / file
        assert path.is_file() and path.stat().st_size > 10_000, f"screenshot {path} missing or empty"


def test_checks_catch_a_broken_site(browser, tmp_path):
    """The checker itself: a synthetic site with a missing image, a dead link, a remote script
    and a console error must be reported (so a green run means something)."""
    (tmp_path / "ok.html").write_text("<p>ok</p>")
    (tmp_path / "bad.html").write_text(
        '<a href="ok.html#x">fine</a> <a href="missing.html#y">dead</a>'
        '<img src="missing.png"> <script src="https://cdn.example.org/x.js"></script>'
        "<script>console.error('boom')</script>")
    server = http.server.ThreadingHTTPServer((HOST, 0), functools.partial(_QuietHandler, directory=str(tmp_path)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://{HOST}:{server.server_address[1]}/"
    rec = Recorder(browser)
    try:
        page = rec.visit(base, "bad.html", wait_until="load")
        page.evaluate(LOAD_IMAGES_JS)
        broken = check_resources({"bad.html": page.evaluate(PAGE_FACTS_JS)}, base)
    finally:
        rec.close()
        server.shutdown()
        server.server_close()
    text = "\n".join(rec.problems.get("bad.html", []))
    assert "remote host" in text and "cdn.example.org" in text, text
    assert "console error: boom" in text, text
    assert "missing.png" in text, text
    assert any("missing.html answers HTTP 404" in b for b in broken), broken
    assert any("missing.png answers HTTP 404" in b for b in broken), broken
    assert any("did not render" in b for b in broken), broken
    assert not any("ok.html" in b for b in broken), broken
