"""WCAG 2.1 AA on the website: axe-core on every built page, and MathJax's assistive MathML.

axe-core (npm ``axe-core``, pinned and SHA-256-checked by ``scripts/vendor_assets.py``'s ``axe_core()``,
kept out of the site in ``_vendor/.axe-core/``) runs in Debian's chromium, driven by playwright, on
every HTML page of the built book (the ``built_book`` fixture: the smoke site in ``make test``, a full
site with ``pytest --built-book DIR``), after MathJax has typeset the page and the widgets have rendered,
with the rules tagged wcag2a, wcag2aa, wcag21a and wcag21aa: no violation is allowed.

What axe cannot judge (canvases, whether a description is true, reading order of an equation) is
tested elsewhere: the widgets' keyboard paths and live regions in tests/browser/test_widget_keyboard.py,
the latent maps' labels in tests/test_plotting.py; the README lists what no test checks.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urljoin

import pytest

from scripts.chapters import toc_files
from tests.browser.pages import axe_report, axe_violations, open_page, wait_for_mathjax

# Pages Sphinx writes besides the chapters: the general index, the search page, sphinx-proof's index.
OTHER_PAGES = ["genindex", "search", "prf-prf"]
PAGES = toc_files() + OTHER_PAGES

_WIDGETS_RENDERED = """() => {
  const views = document.querySelectorAll('script[type="application/vnd.jupyter.widget-view+json"]').length;
  return document.querySelectorAll(".vae-widget, .vae-selftest").length >= views;  // every front end drawn
}"""


def test_every_built_page_is_checked(built_book):
    """No page of the site escapes axe: every HTML page Sphinx wrote is in PAGES (index.html redirects)."""
    built = {
        str(p.relative_to(built_book).with_suffix(""))
        for p in Path(built_book).rglob("*.html")
        if p.relative_to(built_book).parts[0] not in {"_static", "_sources"}
    }
    missing = sorted(built - set(PAGES) - {"index"})
    assert missing == [], f"pages not checked by axe: {missing} (add them to OTHER_PAGES)"


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["light", "dark"])
@pytest.mark.parametrize("name", PAGES)
def test_page_passes_axe(site, browser, name, mode):
    """No violation in either colour mode of the theme (a reader may switch to dark)."""
    base, _ = site
    context, page, response, _record = open_page(browser, urljoin(base, f"{name}.html"), mode)
    try:
        assert response is not None and response.ok, f"{name}: HTTP {response and response.status}"
        assert page.evaluate("document.documentElement.dataset.theme") == mode
        wait_for_mathjax(page, name)
        page.wait_for_function(_WIDGETS_RENDERED, timeout=30_000)
        violations = axe_violations(page)
        assert violations == [], f"{name}: axe-core found WCAG 2.1 A/AA violations:\n{axe_report(violations)}"
    finally:
        context.close()


@pytest.mark.slow
def test_equations_carry_assistive_mathml(site, browser):
    """Every typeset equation has MathJax's assistive MathML (a hidden <math> a screen reader reads),
    served from the site itself like MathJax (no request leaves 127.0.0.1)."""
    base, _ = site
    name = "book/elbo"
    context, page, response, record = open_page(browser, urljoin(base, f"{name}.html"))
    try:
        assert response is not None and response.ok, f"{name}: HTTP {response and response.status}"
        wait_for_mathjax(page, name)
        counts = page.evaluate("""() => ({
            equations: document.querySelectorAll("mjx-container").length,
            assistive: document.querySelectorAll("mjx-container > mjx-assistive-mml > math").length })""")
        assert counts["equations"] > 10, f"{name}: expected many equations, found {counts['equations']}"
        assert counts["assistive"] == counts["equations"], (
            f"{name}: {counts['equations']} equations but {counts['assistive']} with assistive MathML"
        )
        assert not [u for u in record["blocked"] if "mathjax" in u.lower()], "MathJax parts requested elsewhere"
    finally:
        context.close()
