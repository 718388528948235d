"""WCAG 2.1 AA on the website: axe-core on every built page, and MathJax's assistive MathML.

axe-core (npm ``axe-core``, pinned and SHA-256-checked by ``scripts/vendor_assets.py``'s ``axe_core()``,
kept out of the site in ``_vendor/.axe-core/``) runs in Debian's chromium, driven by playwright, on
every HTML page of the built book (the ``built_book`` fixture: the smoke site in ``make test``, a full
site with ``pytest --built-book DIR``), after MathJax has typeset the page and the widgets have rendered,
with the rules tagged wcag2a, wcag2aa, wcag21a and wcag21aa: no violation is allowed.

What axe cannot judge (canvases, whether a description is true, reading order of an equation) is
tested elsewhere: the widgets' keyboard paths and live regions in tests/test_widget_keyboard.py, the
latent maps' labels in tests/test_plotting_accessibility.py; the README lists what no test checks.
"""

# ruff: noqa: F811 -- `site` and `browser` are pytest fixtures imported from test_site and taken as arguments

from __future__ import annotations

from pathlib import Path
from urllib.parse import urljoin

import pytest
from test_site import CONSOLE_ALLOW, browser, open_page, site, wait_for_mathjax  # noqa: F401 -- the built-book fixtures

from scripts.chapters import toc_files
from scripts.vendor_assets import VendorError, axe_core

AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
# Pages Sphinx writes besides the chapters: the general index, the search page, sphinx-proof's index.
OTHER_PAGES = ["genindex", "search", "prf-prf"]
PAGES = toc_files() + OTHER_PAGES

_RUN_AXE = """async ([tags, context]) => {
  const result = await axe.run(context ? document.querySelector(context) : document, {runOnly: {type: "tag", values: tags}, resultTypes: ["violations"]});
  return result.violations.map((v) => ({
    id: v.id, impact: v.impact, help: v.help, count: v.nodes.length,
    nodes: v.nodes.slice(0, 4).map((n) => n.target.join(" ") + " -- " + (n.failureSummary || "").split("\\n")[1]),
  }));
}"""

_WIDGETS_RENDERED = """() => {
  const views = document.querySelectorAll('script[type="application/vnd.jupyter.widget-view+json"]').length;
  return document.querySelectorAll(".vae-widget").length >= views;
}"""


@pytest.fixture(scope="module")
def axe_source() -> str:
    try:
        return axe_core().read_text()
    except VendorError as error:
        pytest.fail(f"axe-core could not be fetched: {error}")


def axe_violations(page, source: str, context: str | None = None) -> list[dict]:
    """Run the pinned axe-core on `page` (WCAG 2.0/2.1 A and AA rules), or on the element `context`
    (a CSS selector) and what it holds; return the violations."""
    if not page.evaluate("() => typeof axe !== 'undefined'"):
        page.add_script_tag(content=source)
    return page.evaluate(_RUN_AXE, [AXE_TAGS, context])


def test_every_built_page_is_checked(built_book):
    """No page of the site escapes axe: every HTML page Sphinx wrote is in PAGES (index.html redirects)."""
    built = {str(p.relative_to(built_book).with_suffix("")) for p in Path(built_book).rglob("*.html")
             if p.relative_to(built_book).parts[0] not in {"_static", "_sources"}}
    missing = sorted(built - set(PAGES) - {"index"})
    assert missing == [], f"pages not checked by axe: {missing} (add them to OTHER_PAGES)"


@pytest.mark.slow
@pytest.mark.parametrize("name", PAGES)
def test_page_passes_axe(site, browser, axe_source, name):
    base, _ = site
    context, page, response, _record = open_page(browser, urljoin(base, f"{name}.html"))
    try:
        assert response is not None and response.ok, f"{name}: HTTP {response and response.status}"
        wait_for_mathjax(page, name)
        page.wait_for_function(_WIDGETS_RENDERED, timeout=30_000)
        violations = axe_violations(page, axe_source)
        report = "\n".join(f"  {v['id']} ({v['impact']}, {v['count']} elements): {v['help']}\n    "
                           + "\n    ".join(v["nodes"]) for v in violations)
        assert violations == [], f"{name}: axe-core found WCAG 2.1 A/AA violations:\n{report}"
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
            f"{name}: {counts['equations']} equations but {counts['assistive']} with assistive MathML")
        assert not [u for u in record["blocked"] if "mathjax" in u.lower()], "MathJax parts requested elsewhere"
    finally:
        context.close()
