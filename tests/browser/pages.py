"""Helpers shared by the browser tests: Debian's chromium, pages that block every host but 127.0.0.1,
widgets rendered with their own ES module against a stand-in for the widget manager, and the checks that a
rendered widget responds (the same checks on a blank page, the built website and JupyterLab).

The fixtures that start the browser and the servers are in tests/browser/conftest.py.
"""

from __future__ import annotations

import base64
import http.server
import json
import re
from urllib.parse import urlparse

import numpy as np
import pytest

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


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    """Serves a folder without logging each request (keeps pytest's output clean)."""

    def log_message(self, *args):
        pass


# The folder behind each blank site's URL (filled by the blank_site fixture).
SITE_DIRS: dict[str, str] = {}


def blank_site_dir(url: str) -> str:
    """The folder that the blank site at `url` serves."""
    return SITE_DIRS[url]


def open_page(browser, url: str, mode: str = "light"):
    """Open url with every non-loopback request aborted; collect errors, console messages, blocked URLs.

    ``mode`` is the theme's colour mode ("light" or "dark"), as a reader's choice in the theme's switch
    (pydata-sphinx-theme keeps it in localStorage) would set it."""
    if mode not in ("light", "dark"):
        raise ValueError(f"mode must be 'light' or 'dark', got {mode!r}")
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.add_init_script(f"localStorage.setItem('mode', '{mode}'); localStorage.setItem('theme', '{mode}');")
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
            "() => !document.querySelector('.math') || (window.MathJax && MathJax.startup && MathJax.startup.promise)",
            timeout=20_000,
        )
    except PlaywrightTimeout:
        pytest.fail(f"{name}: MathJax did not load within 20 s (is it served from the site itself?)")
    page.evaluate("() => window.MathJax && MathJax.startup ? MathJax.startup.promise : null")


# axe-core (scripts/vendor_assets.py's axe_core(): pinned, SHA-256-checked) with the WCAG 2.0/2.1 A and AA rules.
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
_RUN_AXE = """async ([tags, context]) => {
  const result = await axe.run(context ? document.querySelector(context) : document,
                               {runOnly: {type: "tag", values: tags}, resultTypes: ["violations"]});
  return result.violations.map((v) => ({
    id: v.id, impact: v.impact, help: v.help, count: v.nodes.length,
    nodes: v.nodes.slice(0, 4).map((n) => n.target.join(" ") + " -- " + (n.failureSummary || "").split("\\n")[1]),
  }));
}"""


def axe_violations(page, context: str | None = None) -> list[dict]:
    """Run the pinned axe-core on `page` (rules tagged AXE_TAGS), or only on the element `context` (a CSS
    selector) and what it holds; return the violations ([] when there is none).

    Fails the test when axe-core cannot be fetched (npm offline with an empty cache, a checksum mismatch).
    """
    from scripts.vendor_assets import VendorError, axe_core

    if not page.evaluate("() => typeof axe !== 'undefined'"):
        try:
            source = axe_core().read_text()
        except VendorError as error:
            pytest.fail(f"axe-core could not be fetched: {error}")
        page.add_script_tag(content=source)
    return page.evaluate(_RUN_AXE, [AXE_TAGS, context])


def axe_report(violations: list[dict]) -> str:
    """axe-core's violations, one rule per paragraph with up to four of its elements."""
    return "\n".join(
        f"  {v['id']} ({v['impact']}, {v['count']} elements): {v['help']}\n    " + "\n    ".join(v["nodes"])
        for v in violations
    )


def open_blank(context, blank_site: str):
    """A new page of `context` on the blank site: other hosts aborted, errors in ``page.errors``."""
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda msg: msg.type == "error" and errors.append(msg.text))
    page.route(
        "**/*",
        lambda route: route.continue_() if urlparse(route.request.url).hostname == "127.0.0.1" else route.abort(),
    )
    page.goto(blank_site)
    page.errors = errors
    return page


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


# --------------------------------------------------------------------------------------------------
# Widgets rendered with a stand-in for the widget manager

RENDER_WIDGET = """async ({esm, css, state, holder}) => {
  const decode64 = (s) => {
    const b = Uint8Array.from(atob(s), (c) => c.charCodeAt(0)); return new DataView(b.buffer);
  };
  const make = (values) => {
    const handlers = {};
    return {
      values, sent: 0,
      get(name) { return values[name]; },
      set(name, value) { values[name] = value; },
      save_changes() { this.sent += 1; },
      on(name, fn) { (handlers[name] = handlers[name] || []).push(fn); },
      off(name, fn) { handlers[name] = (handlers[name] || []).filter((f) => f !== fn); },
      trigger(name) { (handlers[name] || []).forEach((f) => f()); },
    };
  };
  for (const [k, v] of Object.entries(state)) if (v && v.__b64__ !== undefined) state[k] = decode64(v.__b64__);
  const weights = holder ? make({spec: holder.spec, weights: decode64(holder.weights)}) : null;
  const model = make(state);
  model.widget_manager = { get_model: async (id) => {
    if ("IPY_MODEL_" + id !== state.decoder) throw new Error("unknown model " + id);
    return weights;
  } };
  const style = document.createElement("style"); style.textContent = css; document.head.append(style);
  const el = document.createElement("div"); document.body.replaceChildren(el);
  const url = URL.createObjectURL(new Blob([esm], {type: "text/javascript"}));
  const m = await import(url);
  await m.default.render({ model, el });
  window.vaeWidget = { model, el };
  return el.querySelectorAll("canvas").length;
}"""

# Reusable on the built book: the decoded image of the first latent explorer on the page, as a sum
# of its RGBA bytes and the grey value of every pixel.
PROBE_DECODED = """(root) => {
  const canvas = (root || document).querySelector(".vae-latent-explorer canvas.vae-image");
  if (!canvas) return null;
  const data = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
  const grey = [];
  for (let i = 0; i < data.length; i += 4) grey.push(data[i]);
  return grey;
}"""


def widget_state(widget) -> dict:
    """The widget's synced state as the browser sees it (bytes base64-tagged for the stand-in)."""
    state = {}
    for name, value in widget.get_state().items():  # serialised as the kernel sends it
        if isinstance(value, (bytes, bytearray, memoryview)):
            value = {"__b64__": b64(bytes(value))}
        state[name] = value
    return json.loads(json.dumps(state))


def render_widget(page, widget):
    """Render `widget` with its own ES module in `page` against a stand-in for the widget manager.

    Returns its number of canvases.
    """
    decoder = getattr(widget, "decoder", None)
    return page.evaluate(
        RENDER_WIDGET,
        {
            "esm": widget._esm,
            "css": widget._css,
            "state": widget_state(widget),
            "holder": decoder and {"spec": decoder.spec, "weights": b64(decoder.weights)},
        },
    )


def probe_latent_explorer(page, root_selector: str = ".vae-latent-explorer") -> dict:
    """Drag across the first latent explorer on `page`; return the decoded images before and after.

    For the site-wide browser test: `page` shows a built book page with a LatentExplorer. Returns
    {"before": grey pixels, "after": grey pixels, "decode_ms": last in-browser decode time}; the
    caller asserts that `before` and `after` differ (the decoder ran in the browser).
    """
    page.wait_for_selector(f"{root_selector} canvas.vae-plane", timeout=30_000)
    plane = page.locator(f"{root_selector} canvas.vae-plane").first
    plane.scroll_into_view_if_needed()
    box = plane.bounding_box()
    root = page.locator(root_selector).first
    before = root.evaluate(PROBE_DECODED)
    page.mouse.move(box["x"] + 0.25 * box["width"], box["y"] + 0.3 * box["height"])
    page.mouse.down()
    page.mouse.move(box["x"] + 0.8 * box["width"], box["y"] + 0.75 * box["height"], steps=5)
    page.mouse.up()
    after = root.evaluate(PROBE_DECODED)
    return {"before": before, "after": after, "decode_ms": float(root.get_attribute("data-decode-ms") or "nan")}


# --------------------------------------------------------------------------------------------------
# The posterior pad and the Ising lattice

# Import a widget's ES module (the exact string the widget ships) from a blob URL, as anywidget does,
# into window.vaePad.
IMPORT_PAD = """async (esm) => {
  const url = URL.createObjectURL(new Blob([esm], {type: "text/javascript"}));
  window.vaePad = await import(url);
  return Object.keys(window.vaePad);
}"""

RENDER_PAD = """async ({esm, css, state, holders}) => {
  const decode64 = (s) => {
    const b = Uint8Array.from(atob(s), (c) => c.charCodeAt(0)); return new DataView(b.buffer);
  };
  const make = (values) => {
    const handlers = {};
    return { values, sent: 0, get(n) { return values[n]; }, set(n, v) { values[n] = v; },
             save_changes() { this.sent += 1; },
             on(n, f) { (handlers[n] = handlers[n] || []).push(f); }, off() {},
             trigger(n) { (handlers[n] || []).forEach((f) => f()); } };
  };
  for (const [k, v] of Object.entries(state)) if (v && v.__b64__ !== undefined) state[k] = decode64(v.__b64__);
  const models = {};
  for (const [ref, h] of Object.entries(holders)) models[ref] = make({ spec: h.spec, weights: decode64(h.weights) });
  const model = make(state);
  model.widget_manager = { get_model: async (id) => models["IPY_MODEL_" + id] };
  const style = document.createElement("style"); style.textContent = css; document.head.append(style);
  const el = document.createElement("div"); document.body.replaceChildren(el);
  const m = await import(URL.createObjectURL(new Blob([esm], {type: "text/javascript"})));
  await m.default.render({ model, el });
  window.vaeWidget = { model, el };
}"""


def render_pad(page, widget, holders=("decoder", "encoder")):
    """Render a widget whose weights live in holder widgets (named by `holders`) in `page`, as the pad is."""
    state = widget_state(widget)
    holders = {
        state[name]: {"spec": getattr(widget, name).spec, "weights": b64(getattr(widget, name).weights)}
        for name in holders
    }
    page.evaluate(RENDER_PAD, {"esm": widget._esm, "css": widget._css, "state": state, "holders": holders})


def wait_for_update(page, root, count: int) -> dict:
    """Wait until the pad at `root` has drawn `count` results; return its last result's numbers."""
    page.wait_for_function(
        f"""() => {{ const d = document.querySelector('{root}').dataset;
        return Number(d.updates || 0) >= {count} && d.final === "1" && d.answered === d.requested; }}""",
        timeout=30_000,
    )
    return page.evaluate(f"""() => {{ const el = document.querySelector('{root}'); const r = el.vaeResult;
        return {{ mu: r.mu, sigma: r.sigma, logPx: r.logPx, elbo: r.elbo, elboError: r.elboError, klGrid: r.klGrid,
                  gap: r.gap, iwae: r.iwae, updateMs: Number(el.dataset.updateMs), firstMs: Number(el.dataset.firstMs),
                  k: Number(el.dataset.k),
                  text: el.querySelector('.vae-numbers').innerText }}; }}""")


def draw_stroke(page, root: str, points) -> None:
    """Drag the mouse through `points` (fractions of the pad's size) on the pad at `root`."""
    canvas = page.locator(f"{root} canvas.vae-pad").first
    # in the middle of the window: a page's sticky header (the website's, JupyterLab's toolbar) would
    # otherwise take the first points of a stroke near the top of the window
    canvas.evaluate("(c) => c.scrollIntoView({block: 'center'})")
    box = canvas.bounding_box()
    at = [(box["x"] + u * box["width"], box["y"] + v * box["height"]) for u, v in points]
    page.mouse.move(*at[0])
    page.mouse.down()
    for x, y in at[1:]:
        page.mouse.move(x, y, steps=4)
    page.mouse.up()


def pad_pixels(page, root: str, selector: str):
    """The red channel of the canvas `selector` inside the pad at `root`."""
    return page.evaluate(f"""() => {{ const c = document.querySelector('{root} {selector}');
        const data = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        return Array.from(data.filter((_, i) => i % 4 === 0)); }}""")


def check_pad_responds(page, root: str, shots=None) -> dict:
    """Strokes change Q, the images and the numbers; the K slider moves IWAE towards log p(x).

    Used on a blank page, the built site and JupyterLab. Returns the timings seen.
    """
    page.wait_for_selector(f"{root} canvas.vae-pad", timeout=30_000)
    first = wait_for_update(page, root, 1)
    image0, post0 = pad_pixels(page, root, "canvas.vae-image"), pad_pixels(page, root, "canvas.vae-posterior-grid")
    page.locator(f"{root} button.vae-clear").click()
    draw_stroke(page, root, [(0.5, 0.15), (0.5, 0.5), (0.52, 0.85)])  # a "1"
    one = wait_for_update(page, root, 2)
    n = int(page.evaluate(f"() => document.querySelector('{root}').dataset.updates"))
    draw_stroke(page, root, [(0.3, 0.3), (0.7, 0.3), (0.35, 0.85)])  # ... becomes a "7"-like shape
    seven = wait_for_update(page, root, n + 1)
    if shots:
        page.locator(root).screenshot(path=str(shots))
    assert seven["mu"] != one["mu"] != first["mu"], "strokes did not move Q"
    assert pad_pixels(page, root, "canvas.vae-image") != image0, "the input image did not change"
    assert pad_pixels(page, root, "canvas.vae-posterior-grid") != post0, "the posterior image did not change"
    assert seven["text"] != first["text"], "the numbers did not change"
    for r in (first, one, seven):  # the bounds in order, within Monte Carlo error
        top = r["iwae"][str(max(int(k) for k in r["iwae"]) // 4)]  # K = S/4: four groups, an error bar
        assert r["elbo"] - 3 * r["elboError"] <= top["value"] <= r["logPx"] + 3 * top["error"] + 0.05
        assert abs(r["gap"] - r["klGrid"]) <= 4 * r["elboError"] + 0.1 + 0.02 * abs(r["gap"])
    slider = page.locator(f"{root} input.vae-k").first
    slider.fill("0")
    low = wait_for_update(page, root, 0)
    slider.fill(str(slider.get_attribute("max")))
    high = wait_for_update(page, root, 0)
    assert low["k"] == 1 and high["k"] > 1
    k_low, k_high = str(low["k"]), str(high["k"])
    gap_low = high["logPx"] - high["iwae"][k_low]["value"]
    gap_high = high["logPx"] - high["iwae"][k_high]["value"]
    assert gap_high < gap_low, "a larger K did not move IWAE towards log p(x)"
    return {"update_ms": [one["updateMs"], seven["updateMs"]], "first_ms": [one["firstMs"], seven["firstMs"]]}


def check_lattice_responds(page, root: str = ".vae-ising-lattice") -> None:
    """The lattice evolves frame by frame and its point follows the temperature slider."""
    page.locator(root).first.scroll_into_view_if_needed()
    page.wait_for_function(f"() => Number(document.querySelector('{root}').dataset.frames || 0) >= 3", timeout=30_000)
    read = (
        f"() => {{ const d = document.querySelector('{root}').dataset; "
        "return [Number(d.frames), Number(d.temperature), d.latent]; }"
    )
    grey = f"""() => {{ const c = document.querySelector('{root} canvas.vae-lattice');
        const data = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        return Array.from(data.filter((_, i) => i % 4 === 0)); }}"""
    first, pixels = page.evaluate(read), page.evaluate(grey)
    page.wait_for_timeout(400)
    assert page.evaluate(grey) != pixels, "the lattice did not evolve"
    target = "1.30" if first[1] > 2.0 else "3.20"
    page.locator(f"{root} input.vae-temperature").first.fill(target)
    page.wait_for_function(
        f"() => document.querySelector('{root}').dataset.temperature === '{float(target):.3f}'", timeout=10_000
    )
    page.wait_for_timeout(400)
    after = page.evaluate(read)
    assert after[0] > first[0] and after[1] == pytest.approx(float(target)) and after[2] != first[2]


# JavaScript run in the page: import a widget's ES module (the exact string the widget ships) from a
# blob URL, as anywidget does.
IMPORT_MODULE = """async (esm) => {
  const url = URL.createObjectURL(new Blob([esm], {type: "text/javascript"}));
  window.vaeModule = await import(url);
  return Object.keys(window.vaeModule);
}"""

DECODE = """async ({spec, weights, hs, n, reps}) => {
  const m = window.vaeModule;
  const bytes = Uint8Array.from(atob(weights), (c) => c.charCodeAt(0));
  const decoder = m.unpackDecoder(spec, new DataView(bytes.buffer));   // what the manager hands over
  const out = m.decodeBatch(decoder, hs, n);
  const h = hs.slice(0, spec.latent_dim);
  const buffer = new Float64Array(decoder.dataDim);
  for (let r = 0; r < 20; r++) m.decodeInto(decoder, h, buffer);         // warm up the JIT
  const start = performance.now();
  for (let r = 0; r < reps; r++) { h[0] = -2 + 4 * r / reps; m.decodeInto(decoder, h, buffer); }
  return {out: Array.from(out), msPerPoint: (performance.now() - start) / reps};
}"""


def browser_decode(page, widget, hs: np.ndarray, reps: int = 200):
    """Decode latent points hs (n, latent_dim) with the widget's own JS in the page."""
    keys = page.evaluate(IMPORT_MODULE, widget._esm)
    assert {"default", "unpackDecoder", "decodeBatch", "decodeInto"} <= set(keys)
    result = page.evaluate(
        DECODE,
        {
            "spec": widget.decoder.spec,
            "weights": b64(widget.decoder.weights),
            "hs": hs.astype(np.float64).ravel().tolist(),
            "n": len(hs),
            "reps": reps,
        },
    )
    return np.asarray(result["out"]).reshape(len(hs), -1), result["msPerPoint"]
