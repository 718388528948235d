"""Latent explorer (issue 7): in-browser decode time, Python-side update time, page bytes added.

Run from the repository root (needs Debian's chromium for the browser part):

    VAECOURSE_SMOKE=1 .venv/bin/python benchmarks/bench_widgets.py

Measures, for the course's 2-D MLP decoders (2 -> H -> H -> 784, H = 256 as on the website and
H = 400 as in vaecourse.models.VAE's default):

- the time the widget's own JavaScript (the ES module the widget ships) takes to decode one latent
  point in headless Chromium (median of 5 runs of 500 points);
- the Python time of a PosteriorExplorer update (a new test image: posterior grid 41 x 41, ELBO with
  100 samples) and of setting LatentExplorer.h;
- the bytes the widgets add to a page: their embedded state (as Jupyter stores it: JSON with base64
  buffers; explorer + interpolation + posterior sharing one decoder), plus the site loader book/_static/site/widgets.js.

Weights are untrained (timings and sizes do not depend on their values). Prints a Markdown table.
"""

from __future__ import annotations

import base64
import functools
import http.server
import json
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from vaecourse import device, models, widgets  # noqa: E402

CHROMIUM = "/usr/bin/chromium"


def _model(hidden: int):
    torch.manual_seed(0)
    return models.VAE(hidden=hidden, latent_dim=2, data_shape=(1, 28, 28)).eval()


def browser_ms_per_point(explorers: dict) -> dict:
    """Median ms per decoded point, per explorer, in headless Chromium."""
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "index.html").write_text("<!doctype html><html><body></body></html>")
        handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=tmp)
        handler.log_message = lambda *a: None
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        results = {}
        with sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-gpu", "--no-first-run"]
            )
            page = browser.new_page()
            page.route("**/*", lambda r: r.continue_() if "127.0.0.1" in r.request.url else r.abort())
            page.goto(f"http://127.0.0.1:{server.server_address[1]}/index.html")
            for name, explorer in explorers.items():
                results[name] = page.evaluate(
                    """async ({esm, spec, weights}) => {
                        const url = URL.createObjectURL(new Blob([esm], {type: "text/javascript"}));
                        const m = await import(url);
                        const b = Uint8Array.from(atob(weights), (c) => c.charCodeAt(0));
                        const dec = m.unpackDecoder(spec, new DataView(b.buffer));
                        const out = new Float64Array(dec.dataDim), h = [0, 0], runs = [];
                        for (let r = 0; r < 50; r++) m.decodeInto(dec, h, out);
                        for (let run = 0; run < 5; run++) {
                            const start = performance.now();
                            for (let i = 0; i < 500; i++) {
                                h[0] = -3 + 6 * i / 500; h[1] = 1; m.decodeInto(dec, h, out);
                            }
                            runs.push((performance.now() - start) / 500);
                        }
                        runs.sort((a, b) => a - b);
                        return runs[2];
                    }""",
                    {
                        "esm": explorer._esm,
                        "spec": explorer.decoder.spec,
                        "weights": base64.b64encode(explorer.decoder.weights).decode(),
                    },
                )
            browser.close()
        server.shutdown()
    return results


def page_bytes(model, x, labels) -> dict:
    """Bytes of the embedded widget state of explorer + interpolation + posterior (shared decoder)."""
    from ipywidgets.embed import dependency_state

    decoder = widgets.export_decoder(model)
    explorer = widgets.LatentExplorer(model, x, labels, decoder=decoder, n_points=2000)
    interp = widgets.Interpolation(model, x, labels, decoder=decoder, n_points=1000)
    posterior = widgets.PosteriorExplorer(model, (x[:20] > 0.5).float())
    state = dependency_state([explorer, interp, posterior], drop_defaults=False)
    total = len(json.dumps({"version_major": 2, "version_minor": 0, "state": state}))
    weights = len(json.dumps(state[decoder.model_id]))
    loader = len((ROOT / "book" / "_static" / "site" / "widgets.js").read_bytes())
    return {"state": total, "decoder": weights, "loader": loader}


def python_update_ms(model, x, labels) -> dict:
    posterior = widgets.PosteriorExplorer(model, (x[:20] > 0.5).float(), grid_size=41)
    times = []
    for index in range(1, 11):
        posterior.index = index
        times.append(posterior.last_update_ms)
    explorer = widgets.LatentExplorer(model, x, labels, decoder=widgets.export_decoder(model, max_bytes=10**7))
    start = time.perf_counter()
    for i in range(100):
        explorer.h = [i / 100, -i / 100]
    return {"posterior": statistics.median(times), "h": 1000 * (time.perf_counter() - start) / 100}


def main() -> None:
    generator = torch.Generator().manual_seed(0)
    x = torch.rand(2000, 1, 28, 28, generator=generator)
    labels = torch.randint(0, 10, (2000,), generator=generator)
    rows = []
    explorers = {}
    for hidden in (256, 400):
        model = _model(hidden)
        decoder = widgets.export_decoder(model, max_bytes=10**7)
        explorers[hidden] = widgets.LatentExplorer(model, x[:100], labels[:100], decoder=decoder)
    browser = browser_ms_per_point(explorers) if Path(CHROMIUM).exists() else {}
    for hidden in (256, 400):
        model = _model(hidden)
        python = python_update_ms(model, x, labels)
        try:
            size = page_bytes(model, x, labels)
            size_text = (
                f"{size['state'] / 1e6:.2f} MB (decoder {size['decoder'] / 1e6:.2f} MB) "
                f"+ loader {size['loader'] / 1e3:.1f} kB"
            )
        except ValueError as error:  # over the page budget: export_decoder refuses it
            size_text = f"refused by export_decoder: {str(error).split(';')[0]}"
        ms = browser.get(hidden)
        rows.append(
            f"| 2-{hidden}-{hidden}-784 | {ms:.2f} ms | {python['posterior']:.0f} ms | "
            f"{python['h']:.3f} ms | {size_text} |"
            if ms is not None
            else "| no chromium |"
        )
    print(f"device for Python timings: {device.describe()}, torch {torch.__version__}")
    print("| decoder | browser decode / point | PosteriorExplorer update | set LatentExplorer.h | page bytes added |")
    print("| --- | --- | --- | --- | --- |")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
