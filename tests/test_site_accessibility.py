"""Accessibility basics of the built site, in a real browser with the default (light) theme.

Every page of _toc.yml is checked for:

* a title: a non-empty <title>, one <h1> in the article, and the page's language (<html lang>);
* headings in order: the article starts at <h1> and never skips a level going down (h2 -> h4);
* alt text: every <img> has an alt attribute, every image in the article a non-empty one, and
  none a file name (what Sphinx writes for a figure without :alt:);
* readable contrast: every visible piece of text (article and theme) has a WCAG 2 contrast ratio
  of at least 4.5:1 with its background (3:1 for large text: >= 24 px, or >= 18.66 px bold).

The checker is itself tested on a page with every fault (test_checks_catch_an_inaccessible_page).
Reuses the built site (`built_book`), the HTTP server and browser fixtures of test_site_browser.
"""
from __future__ import annotations

import functools
import http.server
import re
import threading

import pytest

from test_site_browser import (HOST, TIMEOUT_MS, _QuietHandler, browser,  # noqa: F401
                               site, toc_pages)

pytestmark = pytest.mark.xdist_group("book")

CHAPTER_PAGES = toc_pages()
MAX_LISTED = 8   # failures listed per page
FILE_NAME = re.compile(r"\.(png|jpe?g|gif|svg|webp)$", re.IGNORECASE)

# Facts about one page, gathered in the browser.
AUDIT_JS = r"""() => {
  const article = document.querySelector("article.bd-article") || document.querySelector("main") || document.body;
  const visible = (el) => {
    const r = el.getBoundingClientRect();
    if (r.width === 0 || r.height === 0) return false;
    for (let e = el; e; e = e.parentElement) {
      const cs = getComputedStyle(e);
      if (cs.display === "none" || cs.visibility === "hidden" || Number(cs.opacity) === 0) return false;
      if (cs.clip === "rect(0px, 0px, 0px, 0px)" || cs.clipPath === "inset(50%)") return false;
    }
    return true;
  };
  const parse = (c) => {
    const m = /^rgba?\(([^)]+)\)$/.exec(c || "");
    if (!m) return null;
    const p = m[1].split(/[\s,\/]+/).filter(Boolean).map(Number);
    return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1];
  };
  const lum = (rgb) => {
    const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
    return 0.2126 * f(rgb[0]) + 0.7152 * f(rgb[1]) + 0.0722 * f(rgb[2]);
  };
  const over = (top, bottom) => top.slice(0, 3).map((v, i) => v * top[3] + bottom[i] * (1 - top[3]));
  // The opaque colour behind `el`, or null where a background image makes it unknowable.
  const background = (el) => {
    const layers = [];
    for (let e = el; e; e = e.parentElement) {
      const cs = getComputedStyle(e);
      if (cs.backgroundImage && cs.backgroundImage !== "none") return null;
      const c = parse(cs.backgroundColor);
      if (c === null && cs.backgroundColor && cs.backgroundColor !== "transparent") return null;
      if (c && c[3] > 0) { layers.push(c); if (c[3] >= 1) break; }
    }
    let out = [255, 255, 255];
    for (const c of layers.reverse()) out = over(c, out);
    return out;
  };
  const describe = (el) => {
    const cls = (el.getAttribute("class") || "").trim().split(/\s+/).filter(Boolean).slice(0, 2).join(".");
    return el.tagName.toLowerCase() + (el.id ? "#" + el.id : "") + (cls ? "." + cls : "");
  };

  const headings = Array.from(article.querySelectorAll("h1, h2, h3, h4, h5, h6"))
    .filter((h) => h.textContent.trim())
    .map((h) => ({level: Number(h.tagName[1]), text: h.textContent.trim().replace(/[#¶]$/, "").trim().slice(0, 80)}));
  const images = Array.from(document.images, (img) => ({
    src: img.getAttribute("src"), hasAlt: img.hasAttribute("alt"), alt: (img.getAttribute("alt") || "").trim(),
    inArticle: article.contains(img)}));

  const contrast = [];
  let checked = 0, unknown = 0;
  for (const el of document.body.querySelectorAll("*")) {
    if (["SCRIPT", "STYLE", "NOSCRIPT", "TEMPLATE", "svg"].includes(el.tagName)) continue;
    if (el.closest("mjx-container, svg")) continue;
    const text = Array.from(el.childNodes).filter((n) => n.nodeType === 3).map((n) => n.textContent).join("").trim();
    if (!text || !visible(el)) continue;
    const cs = getComputedStyle(el);
    const fg = parse(cs.color), bg = background(el);
    if (!fg || !bg) { unknown++; continue; }
    checked++;
    const color = over(fg, bg);
    const [hi, lo] = [lum(color), lum(bg)].sort((a, b) => b - a);
    const ratio = (hi + 0.05) / (lo + 0.05);
    const size = parseFloat(cs.fontSize), bold = Number(cs.fontWeight) >= 700;
    const large = size >= 24 || (size >= 18.66 && bold);
    const needed = large ? 3 : 4.5;
    if (ratio < needed - 0.005) {
      contrast.push({where: describe(el), text: text.slice(0, 40), ratio: Math.round(ratio * 100) / 100,
                     needed, color: cs.color, background: "rgb(" + bg.map(Math.round).join(", ") + ")",
                     inArticle: article.contains(el)});
    }
  }
  return {title: document.title.trim(), lang: document.documentElement.getAttribute("lang") || "",
          headings, images, contrast, checked, unknown};
}"""


def heading_problems(headings: list[dict]) -> list[str]:
    problems = []
    levels = [h["level"] for h in headings]
    if not levels:
        return ["the article has no heading"]
    if levels[0] != 1:
        problems.append(f"the first heading is h{levels[0]} ({headings[0]['text']!r}), not h1")
    n_h1 = levels.count(1)
    if n_h1 != 1:
        problems.append(f"{n_h1} h1 headings (one page title expected): "
                        + ", ".join(repr(h["text"]) for h in headings if h["level"] == 1)[:300])
    for prev, cur in zip(headings, headings[1:]):
        if cur["level"] > prev["level"] + 1:
            problems.append(f"h{prev['level']} {prev['text']!r} is followed by h{cur['level']} "
                            f"{cur['text']!r} (a level is skipped)")
    return problems


def title_problems(facts: dict) -> list[str]:
    problems = []
    if not facts["title"] or facts["title"].lower().startswith("<no title>"):
        problems.append(f"no <title> (got {facts['title']!r})")
    if not any(h["level"] == 1 for h in facts["headings"]):
        problems.append("no h1 heading in the article")
    if not facts["lang"]:
        problems.append("<html> has no lang attribute (set `language` in _config.yml's sphinx config)")
    return problems


def alt_problems(images: list[dict]) -> list[str]:
    problems = []
    for img in images:
        if not img["hasAlt"]:
            problems.append(f"<img src={img['src']!r}> has no alt attribute")
        elif img["inArticle"] and not img["alt"]:
            problems.append(f"figure <img src={img['src']!r}> has empty alt text")
        elif FILE_NAME.search(img["alt"]):
            # Sphinx falls back to the image's path when a figure has no :alt: option.
            problems.append(f"<img src={img['src']!r}> has a file name as alt text ({img['alt']!r}): "
                            "give the {figure} an :alt: option, or a code cell's plot "
                            "`mystnb: {image: {alt: ...}}` in its metadata")
    return problems


def contrast_problems(facts: dict) -> list[str]:
    return [f"{c['where']} {c['text']!r}: contrast {c['ratio']}:1 < {c['needed']}:1 "
            f"({c['color']} on {c['background']}{', article' if c['inArticle'] else ', theme'})"
            for c in facts["contrast"]]


def listed(name: str, problems: list[str]) -> str:
    more = f"\n  ... and {len(problems) - MAX_LISTED} more" if len(problems) > MAX_LISTED else ""
    return f"{name}:\n  " + "\n  ".join(problems[:MAX_LISTED]) + more


def audit_page(page, url: str) -> dict:
    response = page.goto(url, wait_until="networkidle")
    assert response is not None and response.status == 200, f"{url} answered {response and response.status}"
    return page.evaluate(AUDIT_JS)


@pytest.fixture(scope="module")
def audit(browser, site):  # noqa: F811 (fixtures imported from test_site_browser)
    """Visit every chapter page once with the light theme; gather the facts checked below."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, color_scheme="light",
                                  reduced_motion="reduce")
    context.set_default_timeout(TIMEOUT_MS)
    # The site must work offline: nothing remote is fetched.
    context.route(lambda url: not url.startswith(f"http://{HOST}:"), lambda route: route.abort())
    page = context.new_page()
    try:
        yield {name: audit_page(page, site.base + name) for name in CHAPTER_PAGES}
    finally:
        context.close()


@pytest.mark.parametrize("name", CHAPTER_PAGES)
def test_page_has_a_title(audit, name):
    problems = title_problems(audit[name])
    assert not problems, listed(name, problems)


@pytest.mark.parametrize("name", CHAPTER_PAGES)
def test_headings_in_order(audit, name):
    problems = heading_problems(audit[name]["headings"])
    assert not problems, listed(name, problems)


@pytest.mark.parametrize("name", CHAPTER_PAGES)
def test_images_have_alt_text(audit, name):
    problems = alt_problems(audit[name]["images"])
    assert not problems, listed(name, problems)


@pytest.mark.parametrize("name", CHAPTER_PAGES)
def test_text_contrast(audit, name):
    facts = audit[name]
    assert facts["checked"] > 20, f"{name}: only {facts['checked']} text elements checked"
    problems = contrast_problems(facts)
    assert not problems, listed(name, problems)


def test_checks_catch_an_inaccessible_page(browser, tmp_path):  # noqa: F811
    """The checker itself: a page with no title, no lang, skipped heading levels, images without
    alt text and pale text must fail every check (so a green run means something)."""
    (tmp_path / "bad.html").write_text(
        "<html><head></head><body><article class='bd-article'>"
        "<h2>Starts at h2</h2><h4>Skips h3</h4>"
        "<img src='a.png'><img src='b.png' alt=''><img src='c.png' alt='figures/c.png'>"
        "<p style='color:#bbbbbb;background:#ffffff'>pale text on white</p>"
        "<p style='color:#000;background:#fff'>fine text</p>"
        "</article><img src='logo.png'></body></html>")
    server = http.server.ThreadingHTTPServer((HOST, 0), functools.partial(_QuietHandler, directory=str(tmp_path)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    context = browser.new_context(color_scheme="light")
    try:
        page = context.new_page()
        page.goto(f"http://{HOST}:{server.server_address[1]}/bad.html")
        facts = page.evaluate(AUDIT_JS)
    finally:
        context.close()
        server.shutdown()
        server.server_close()
    titles = " | ".join(title_problems(facts))
    assert "no <title>" in titles and "no h1" in titles and "lang" in titles, titles
    headings = " | ".join(heading_problems(facts["headings"]))
    assert "not h1" in headings and "skipped" in headings, headings
    alts = " | ".join(alt_problems(facts["images"]))
    assert "a.png" in alts and "b.png" in alts and "logo.png" in alts and "c.png" in alts, alts
    contrast = contrast_problems(facts)
    assert any("pale text" in c for c in contrast), contrast
    assert not any("fine text" in c for c in contrast), contrast
