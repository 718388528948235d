"""The posterior pad and the Ising lattice on the static website, with no kernel.

Two routes to the same page:
- a page written from ipywidgets' own embedding code (widget state + view tags, as Jupyter Book
  writes it) and rendered by book/_static/site/widgets.js alone, served from 127.0.0.1 (fast; no
  book build);
- the built book (tests/browser/conftest.py's ``site`` fixture: the whole book built once per session):
  book/latent_space.html and book/ising.html.
On both: strokes change Q, the posterior image and the numbers; ELBO <= IWAE_K <= log p(x) within
Monte Carlo error; the gap equals D[Q || p(h|x)] on the grid; the K slider moves IWAE towards
log p(x); the lattice evolves and its latent point moves with T; no console errors. On the built
page, the pad's widget state (the pad, its encoder and the shared decoder) adds at most 2.5 MB.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from urllib.parse import urljoin

import numpy as np
import pytest

from tests.browser.pages import (
    CONSOLE_ALLOW,
    blank_site_dir,
    check_lattice_responds,
    check_pad_responds,
    open_page,
)
from tests.paths import ROOT
from tests.widgets.examples import lattice_widget as ising_widget
from tests.widgets.examples import trained_model
from vaecourse import widgets
from vaecourse.widgets import posterior_pad

SITE_JS = ROOT / "book" / "_static" / "site" / "widgets.js"  # the website loader


def static_page(blank_site: str, views: list, name: str) -> str:
    """Write `views` as a static page (widget state embedded, the website's loader) beside the blank
    site; return its URL."""
    from ipywidgets.embed import dependency_state, embed_data

    state = dependency_state(views, drop_defaults=False)
    data = embed_data(views=views, drop_defaults=False, state=state)
    body = "".join(
        f'<p><script type="application/vnd.jupyter.widget-view+json">{json.dumps(v)}</script></p>'
        for v in data["view_specs"]
    )
    site = Path(blank_site_dir(blank_site))
    (site / "_static").mkdir(exist_ok=True)
    (site / "_static" / "site-widgets.js").write_text(SITE_JS.read_text())
    (site / name).write_text(
        "<!doctype html><html><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<script type='application/vnd.jupyter.widget-state+json'>{json.dumps(data['manager_state'])}</script>"
        "<script src='_static/site-widgets.js'></script></head>"
        f"<body>{body}</body></html>"
    )
    return blank_site.replace("index.html", name)


@pytest.mark.slow
def test_static_page_runs_pad_and_lattice_without_a_kernel(page, blank_site, output_dir):
    model, x, y = trained_model(steps=300)
    decoder = widgets.export_decoder(model)
    pad = posterior_pad.PosteriorPad(model, x, y, decoder=decoder, n_points=300, n_images=6)
    lattice, _ = ising_widget(L=16, T=2.8)
    page.set_viewport_size({"width": 1280, "height": 1600})
    page.goto(static_page(blank_site, [pad, lattice], "pad.html"))
    shots = output_dir / "screenshots"
    shots.mkdir(exist_ok=True)
    check_pad_responds(page, ".vae-posterior-pad", shots / "posterior_pad_static.png")
    assert page.evaluate("() => document.querySelector('.vae-timing').textContent").count("Web Worker") == 1
    check_lattice_responds(page)
    assert page.errors == []
    page.goto(blank_site)


_OVERFLOW = """() => {
  // widget elements whose right edge passes the viewport (none inside a scrolling box)
  const W = document.documentElement.clientWidth, out = [];
  for (const e of document.querySelectorAll('.vae-widget, .vae-widget *')) {
    const r = e.getBoundingClientRect();
    if (r.width === 0 || r.right <= W + 1) continue;
    let q = e.parentElement, scrolls = false;
    while (q && !scrolls) { scrolls = ['auto', 'scroll'].includes(getComputedStyle(q).overflowX); q = q.parentElement; }
    if (!scrolls) out.push(`${e.tagName.toLowerCase()}.${[...e.classList].join('.')} to ${Math.round(r.right)} px`);
  }
  return {overflow: out, scrollWidth: document.documentElement.scrollWidth, width: W};
}"""


@pytest.mark.slow
def test_every_widget_fits_a_phone_screen_and_the_pad_still_draws(page, blank_site, output_dir):
    """At 390 CSS pixels (a phone), no widget is wider than the page, and the pad, its canvases
    shrunk, still maps a stroke to the numbers (pointer positions scale with the displayed size)."""
    model, x, y = trained_model(steps=300)
    decoder = widgets.export_decoder(model)
    views = [
        widgets.LatentExplorer(model, x, y, n_points=200, decoder=decoder),
        widgets.Interpolation(model, x, y, decoder=decoder),
        widgets.PosteriorExplorer(model, x[:8], grid_size=21),
        posterior_pad.PosteriorPad(model, x, y, decoder=decoder, n_points=300, n_images=6),
        ising_widget(L=16, T=2.8)[0],
    ]
    url = static_page(blank_site, views, "phone.html")
    page.set_viewport_size({"width": 390, "height": 844})
    try:
        page.goto(url)
        page.wait_for_function("() => document.querySelectorAll('.vae-widget').length >= 5", timeout=30_000)
        page.wait_for_function(
            "() => Number(document.querySelector('.vae-posterior-pad').dataset.updates || 0) >= 1", timeout=30_000
        )
        found = page.evaluate(_OVERFLOW)
        assert found["overflow"] == [] and found["scrollWidth"] <= found["width"], found
        check_pad_responds(page, ".vae-posterior-pad", output_dir / "screenshots" / "posterior_pad_phone.png")
        assert page.errors == []
    finally:
        page.set_viewport_size({"width": 1000, "height": 800})
        page.goto(blank_site)


def _unexpected(record):
    return [m for m in record["page_errors"] + record["console"] if not any(p.search(m) for p in CONSOLE_ALLOW)]


@pytest.mark.slow
def test_built_latent_space_page_runs_the_pad(site, page, output_dir):
    base, root = site
    html = (root / "book" / "latent_space.html").read_text()
    state = json.loads(
        re.search(r'<script type="application/vnd.jupyter.widget-state\+json">(.*?)</script>', html, re.S).group(1)
    )["state"]
    pads = [k for k, v in state.items() if "renderPosteriorPad" in v["state"].get("_esm", "")]
    assert len(pads) == 1, "book/latent_space.html: no posterior pad in the widget state"
    own = [pads[0]] + [state[pads[0]]["state"][name].replace("IPY_MODEL_", "") for name in ("encoder", "decoder")]
    added = sum(len(json.dumps(state[k])) for k in own)
    assert added <= 2_500_000, f"the pad, its encoder and decoder add {added / 1e6:.2f} MB to the page"
    # the browser of the module's `page` fixture: one playwright per module (a second one refuses to start)
    context, page, response, record = open_page(page.context.browser, urljoin(base, "book/latent_space.html"))
    try:
        assert response is not None and response.ok
        page.locator(".vae-posterior-pad").first.scroll_into_view_if_needed()
        check_pad_responds(page, ".vae-posterior-pad", output_dir / "screenshots" / "posterior_pad_site.png")
        assert _unexpected(record) == []
    finally:
        context.close()


@pytest.mark.slow
def test_built_ising_page_runs_the_lattice(site, page):
    base, _ = site
    context, page, response, record = open_page(page.context.browser, urljoin(base, "book/ising.html"))
    try:
        assert response is not None and response.ok
        check_lattice_responds(page)
        assert np.isfinite(float(page.evaluate("() => document.querySelector('.vae-ising-lattice').dataset.latent")))
        assert _unexpected(record) == []
    finally:
        context.close()
