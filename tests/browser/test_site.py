"""The website as a reader meets it: every page of the built book in a real browser (Debian's chromium
driven by playwright), served from 127.0.0.1 with every request to any other host blocked.

For each page in _toc.yml: it loads; MathJax renders with no math errors; every image has alt text;
internal links resolve; no page errors and no console errors beyond the allow-list below. A
screenshot of each page goes to test-output/screenshots/.
"""

from __future__ import annotations

import functools
import http.server
import re
import threading
from pathlib import Path
from urllib.parse import urljoin, urlparse

import pytest

from scripts.chapters import toc_files
from system_packages import require_system

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",  # Chromium refuses to run as root (CI) without it
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

# Page and console errors that are known and harmless, each with its source.
CONSOLE_ALLOW = [
    # sphinx-thebe 0.3.1 declares `THEBE_JS_URL` in two script tags on every page.
    re.compile(r"Identifier 'THEBE_JS_URL' has already been declared"),
    # Requests to other hosts are aborted by this test on purpose (launch-button and repository
    # links are anchors, not requests, so nothing the page needs is ever blocked).
    re.compile(r"net::ERR_FAILED"),
]


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep pytest output clean
        pass


@pytest.fixture(scope="module")
def site(built_book: Path):
    handler = functools.partial(_QuietHandler, directory=str(built_book))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/", built_book
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def browser():
    require_system(CHROMIUM, "chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        instance = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield instance
        instance.close()


def open_page(browser, url: str):
    """Open url with every non-loopback request aborted; collect errors, console messages, blocked URLs."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    record = {"page_errors": [], "console": [], "blocked": []}

    def route(route_):
        host = urlparse(route_.request.url).hostname
        if host in {"127.0.0.1", "localhost"} or route_.request.url.startswith(("data:", "blob:")):
            route_.continue_()
        else:
            record["blocked"].append(route_.request.url)
            route_.abort()

    page.route("**/*", route)
    page.on("pageerror", lambda error: record["page_errors"].append(str(error)))
    page.on("console", lambda msg: msg.type == "error" and record["console"].append(msg.text))
    response = page.goto(url, wait_until="load")
    return context, page, response, record


def wait_for_mathjax(page, name: str) -> None:
    """Wait until MathJax (served by the site itself) has typeset the page."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        page.wait_for_function(
            "() => !document.querySelector('.math') ||"
            " (window.MathJax && MathJax.startup && MathJax.startup.promise)",
            timeout=20_000,
        )
    except PlaywrightTimeout:
        pytest.fail(f"{name}: MathJax did not load within 20 s (is it served from the site itself?)")
    page.evaluate("() => window.MathJax && MathJax.startup ? MathJax.startup.promise : null")


PHONE_OVERFLOW = """() => {
  const W = document.documentElement.clientWidth, out = [];
  for (const e of document.querySelectorAll('.bd-article *')) {
    const r = e.getBoundingClientRect();
    if (r.width === 0 || r.right <= W + 1) continue;
    let q = e.parentElement, scrolls = false;
    while (q && !scrolls) { scrolls = ['auto', 'scroll', 'hidden'].includes(getComputedStyle(q).overflowX); q = q.parentElement; }
    if (!scrolls) out.push(`${e.tagName.toLowerCase()}.${[...e.classList].join('.')}: ${e.textContent.slice(0, 50)}`);
  }
  return out.slice(0, 8);
}"""

PAGES = toc_files()


@pytest.mark.slow
@pytest.mark.parametrize("name", PAGES)
def test_page_in_a_real_browser(site, browser, output_dir, name):
    base, root = site
    context, page, response, record = open_page(browser, urljoin(base, f"{name}.html"))
    try:
        assert response is not None and response.ok, f"{name}: HTTP {response and response.status}"
        wait_for_mathjax(page, name)
        shots = output_dir / "screenshots"
        shots.mkdir(exist_ok=True)
        page.screenshot(path=str(shots / f"{name.replace('/', '_')}.png"), full_page=True)

        # MathJax: every math element typeset, none in error.
        n_math = page.locator(".math").count()
        n_rendered = page.locator("mjx-container").count()
        n_errors = page.locator("mjx-merror").count()
        assert n_errors == 0, f"{name}: {n_errors} MathJax errors"
        if n_math:
            assert n_rendered >= n_math, f"{name}: {n_math} math blocks but {n_rendered} rendered by MathJax"

        # Images: every one has a non-empty alt text.
        no_alt = page.eval_on_selector_all(
            "img", "els => els.filter(e => !(e.getAttribute('alt') || '').trim()).map(e => e.src)"
        )
        assert no_alt == [], f"{name}: images without alt text: {no_alt}"

        # Internal links: every same-site link points at a file that was built.
        hrefs = page.eval_on_selector_all("a[href]", "els => els.map(e => e.href)")
        broken = []
        for href in hrefs:
            parsed = urlparse(href)
            if parsed.hostname != "127.0.0.1":
                continue
            target = root / parsed.path.lstrip("/")
            if target.is_dir():
                target = target / "index.html"
            if not target.exists():
                broken.append(parsed.path)
        assert broken == [], f"{name}: broken internal links {sorted(set(broken))}"

        # Nothing the page needs came from elsewhere, and nothing went wrong.
        errors = record["page_errors"] + record["console"]
        unexpected = [m for m in errors if not any(p.search(m) for p in CONSOLE_ALLOW)]
        assert unexpected == [], f"{name}: page or console errors {unexpected}"
        needed = [u for u in record["blocked"] if re.search(r"\.(js|css|woff2?)(\?|$)", u)]
        assert needed == [], f"{name}: scripts/styles requested from other hosts {needed}"

        # On a phone (390 CSS pixels) nothing in the chapter is wider than the screen, except inside
        # boxes that scroll on their own (code cells, wide tables).
        page.set_viewport_size({"width": 390, "height": 844})
        page.wait_for_timeout(300)
        wide = page.evaluate(PHONE_OVERFLOW)
        assert wide == [], f"{name}: wider than a phone screen: {wide}"
    finally:
        context.close()


INTERPOLATED_PIXELS = """(root) => {
  const canvases = root.querySelectorAll("canvas.vae-image");
  const canvas = canvases[canvases.length > 1 ? 1 : 0];
  const data = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
  const grey = [];
  for (let i = 0; i < data.length; i += 4) grey.push(data[i]);
  return grey;
}"""


@pytest.mark.slow
def test_latent_explorer_page_responds_with_no_kernel(site, browser):
    """On the static page the decoder runs in the browser: dragging and sliding change the images."""
    from test_widgets import probe_latent_explorer

    base, _ = site
    context, page, response, record = open_page(browser, urljoin(base, "book/latent_space.html"))
    try:
        assert response is not None and response.ok
        result = probe_latent_explorer(page)
        assert result["before"] is not None, "latent explorer: no decoded image on the page"
        assert result["before"] != result["after"], "latent explorer: dragging did not change the image"

        root = page.locator(".vae-interpolation").first
        root.scroll_into_view_if_needed()
        before = root.evaluate(INTERPOLATED_PIXELS)
        slider = root.locator("input.vae-t").first
        slider.fill("0.05" if float(slider.input_value()) > 0.5 else "0.95")
        after = root.evaluate(INTERPOLATED_PIXELS)
        assert before != after, "interpolation: moving the slider did not change the decoded image"

        errors = record["page_errors"] + record["console"]
        unexpected = [m for m in errors if not any(p.search(m) for p in CONSOLE_ALLOW)]
        assert unexpected == [], f"latent explorer page: errors {unexpected}"
    finally:
        context.close()
