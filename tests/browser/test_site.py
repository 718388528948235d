"""The website as a reader meets it: every page of the built book in a real browser (Debian's chromium
driven by playwright), served from 127.0.0.1 with every request to any other host blocked.

For each page in _toc.yml: it loads; MathJax renders with no math errors; every image has alt text;
internal links resolve; no page errors and no console errors beyond the allow-list below. A
screenshot of each page goes to test-output/screenshots/.
"""

from __future__ import annotations

import re
from urllib.parse import urljoin, urlparse

import pytest

from scripts.chapters import toc_files
from tests.browser.pages import (
    CONSOLE_ALLOW,
    open_page,
    probe_latent_explorer,
    wait_for_mathjax,
)

PHONE_OVERFLOW = """() => {
  const W = document.documentElement.clientWidth, out = [];
  for (const e of document.querySelectorAll('.bd-article *')) {
    const r = e.getBoundingClientRect();
    if (r.width === 0 || r.right <= W + 1) continue;
    let q = e.parentElement, scrolls = false;
    while (q && !scrolls) {
      scrolls = ['auto', 'scroll', 'hidden'].includes(getComputedStyle(q).overflowX); q = q.parentElement;
    }
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
