"""Posterior pad and Ising lattice in the browser (issue 19): speed, page size, float16 error.

Run from the repository root (needs Debian's chromium):

    VAECOURSE_SMOKE=1 .venv/bin/python benchmarks/bench_posterior_pad.py              # speed, size, float16
    VAECOURSE_SMOKE=1 .venv/bin/python benchmarks/bench_posterior_pad.py --agreement  # page vs vaecourse
    VAECOURSE_SMOKE=1 .venv/bin/python benchmarks/bench_posterior_pad.py --ising      # JS sampler vs Onsager

For a 2-256-256-784 Bernoulli VAE (the website's size) trained for 2,000 steps on the offline MNIST
subset (tests/widgets/examples.trained_model), in headless Chromium:

- decode time per latent point: the existing one-point decoder (mlp_decoder.js decodeInto) and the
  pad's batched log-likelihood (posterior_numerics.js, 4 points x 2 units per inner loop);
- the pad's whole computation for one input (encode, Q's grid and the posterior's, 64 samples)
  over 10 test images, in the page's main thread;
- the update time after a stroke on the rendered widget (pointer up to the redraw, the decoder passes in
  Web Workers), over 20 strokes;
- float16 storage: max and mean pixel error of the float16 decoder against torch's float32 pixels
  (1,000 latent points), and the float16 encoder's mu and log sigma error;
- the page bytes the pad adds (its state as JSON with base64 buffers, as a page embeds it);
- one Ising lattice sweep (L = 28) and one encoding of it.
Prints a Markdown summary.
"""

from __future__ import annotations

import base64
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT)]

from tests.browser.pages import RENDER_PAD, draw_stroke, widget_state  # noqa: E402
from tests.widgets.examples import trained_model  # noqa: E402
from vaecourse import frontend, marginal, widgets  # noqa: E402
from vaecourse.widgets import posterior_pad  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
_B64 = lambda b: base64.b64encode(bytes(b)).decode()  # noqa: E731

_TIMINGS = """async ({dspec, dw, dw16, espec, ew, xs, rule}) => {
  const m = window.vaePad;
  const bytes = (s) => { const b = Uint8Array.from(atob(s), (c) => c.charCodeAt(0)); return new DataView(b.buffer); };
  const decoder = m.unpackDecoder(dspec, bytes(dw));
  const encoder = m.unpackEncoder(espec, bytes(ew));
  const n = 1024, H = new Float32Array(2 * n).map(() => 3 * Math.random() - 1.5);
  const x = Float32Array.from(xs[0]);
  const batch = [], single = [];
  for (let r = 0; r < 5; r++) {
    let t = performance.now(); m.vaeLogLikelihoodBatch(decoder, x, H, n); batch.push((performance.now() - t) / n);
    const out = new Float64Array(784);
    t = performance.now();
    for (let p = 0; p < 200; p++) m.decodeInto(decoder, [H[2 * p], H[2 * p + 1]], out);
    single.push((performance.now() - t) / 200);
  }
  const compute = [], decodes = [];
  for (const xi of xs) {
    const r = await m.vaePosteriorNumbers(decoder, encoder, Float32Array.from(xi), {samples: 64, seed: 1, rule});
    compute.push(r.ms.total); decodes.push(r.decodes);
  }
  const lattice = new m.VaeIsingLattice(28, 1, false); lattice.setTemperature(2.3);
  let t = performance.now(); for (let s = 0; s < 1000; s++) lattice.sweep();
  const sweep = (performance.now() - t) / 1000;
  t = performance.now(); for (let s = 0; s < 100; s++) m.encodeQ(encoder, lattice.pixels());
  const enc = (performance.now() - t) / 100;
  const med = (v) => v.slice().sort((a, b) => a - b)[Math.floor(v.length / 2)];
  return {batch: med(batch), single: med(single), compute, decodes, sweep, enc};
}"""


def main() -> None:
    from playwright.sync_api import sync_playwright

    torch.set_num_threads(1)
    model, x, y = trained_model()
    decoder32, decoder16 = widgets.export_decoder(model), widgets.export_decoder(model, dtype="float16")
    encoder16 = widgets.export_encoder(model)
    pad = posterior_pad.PosteriorPad(model, x, y, decoder=decoder32, encoder=encoder16, n_points=2000, n_images=20)
    xs = x[:10].reshape(10, -1)

    # page bytes: the pad's own state and its two weight holders, as JSON with base64 buffers
    def state_bytes(widget):
        return len(
            json.dumps(
                {k: (_B64(v) if isinstance(v, (bytes, memoryview)) else v) for k, v in widget.get_state().items()}
            )
        )

    sizes = {
        "pad": state_bytes(pad),
        "encoder f16": state_bytes(encoder16),
        "decoder f32": state_bytes(decoder32),
        "decoder f16": state_bytes(decoder16),
    }

    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as p:
        (Path(tmp) / "index.html").write_text("<!doctype html><html><body></body></html>")
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto((Path(tmp) / "index.html").as_uri())
        page.evaluate(
            """async ([pad, ising]) => {
          const load = (esm) => import(URL.createObjectURL(new Blob([esm], {type: "text/javascript"})));
          window.vaePad = { ...(await load(ising)), ...(await load(pad)) };
        }""",
            [pad._esm, frontend.bundle("ising_lattice").read_text()],
        )
        timings = page.evaluate(
            _TIMINGS,
            {
                "dspec": decoder32.spec,
                "dw": _B64(decoder32.weights),
                "dw16": "",
                "espec": encoder16.spec,
                "ew": _B64(encoder16.weights),
                "xs": xs.tolist(),
                "rule": marginal.window_rule(),
            },
        )
        # float16 errors against torch float32
        hs = np.random.default_rng(0).normal(scale=1.5, size=(1000, 2))
        explorer = widgets.LatentExplorer(model, x, y, n_points=10, decoder=decoder16)
        from tests.browser.pages import DECODE as _DECODE

        page.evaluate(
            """async (esm) => {
            window.vaeModule = await import(URL.createObjectURL(new Blob([esm], {type: "text/javascript"}))); }""",
            explorer._esm,
        )
        out = page.evaluate(
            _DECODE,
            {
                "spec": decoder16.spec,
                "weights": _B64(decoder16.weights),
                "hs": hs.ravel().tolist(),
                "n": 1000,
                "reps": 5,
            },
        )
        pixel_error = np.abs(np.asarray(out["out"]).reshape(1000, -1) - explorer.decode(hs).reshape(1000, -1))
        r16 = page.evaluate(
            """({espec, ew, xs}) => { const m = window.vaePad;
            const b = Uint8Array.from(atob(ew), (c) => c.charCodeAt(0));
            const e = m.unpackEncoder(espec, new DataView(b.buffer));
            return xs.map((x) => { const q = m.encodeQ(e, x); return [Array.from(q.mu), Array.from(q.sigma)]; }); }""",
            {"espec": encoder16.spec, "ew": _B64(encoder16.weights), "xs": xs.tolist()},
        )
        q = model.encode(x[:10])
        mu_error = np.abs(np.array([r[0] for r in r16]) - q.mean.detach().numpy()).max()
        sigma_error = np.abs(np.log([r[1] for r in r16]) - np.log(q.stddev.detach().numpy())).max()
        # strokes on the rendered widget
        state = widget_state(pad)
        holders = {
            state[n]: {"spec": getattr(pad, n).spec, "weights": _B64(getattr(pad, n).weights)}
            for n in ("decoder", "encoder")
        }
        page.evaluate(RENDER_PAD, {"esm": pad._esm, "css": pad._css, "state": state, "holders": holders})
        root = ".vae-posterior-pad"
        page.wait_for_function(f"() => Number(document.querySelector('{root}').dataset.updates || 0) >= 1")
        strokes, firsts, computes, passes = [], [], [], []
        rng = np.random.default_rng(1)
        for _ in range(20):
            page.locator(f"{root} button.vae-clear").click()
            a, b = rng.uniform(0.2, 0.8, 2)
            draw_stroke(page, root, [(a, 0.15), (0.5, 0.5), (b, 0.85)])
            page.wait_for_timeout(1500)  # the last (final) update has landed
            strokes.append(float(page.evaluate(f"() => document.querySelector('{root}').dataset.updateMs")))
            firsts.append(float(page.evaluate(f"() => document.querySelector('{root}').dataset.firstMs")))
            computes.append(float(page.evaluate(f"() => document.querySelector('{root}').dataset.computeMs")))
            passes.append(int(page.evaluate(f"() => document.querySelector('{root}').dataset.decodes")))
        browser.close()

    print(
        f"- one-point decode (decodeInto): {timings['single']:.3f} ms; batched log-likelihood: "
        f"{timings['batch']:.3f} ms per point"
    )
    print(
        f"- pad computation for one input, main thread: median {statistics.median(timings['compute']):.0f} ms, "
        f"max {max(timings['compute']):.0f} ms; decoder passes median {statistics.median(timings['decodes'])}, "
        f"max {max(timings['decodes'])}"
    )
    print(
        f"- after a stroke (rendered widget, Web Worker), first numbers (Q's grid): median "
        f"{statistics.median(firsts):.0f} ms, min {min(firsts):.0f}, max {max(firsts):.0f}; final numbers (posterior "
        f"followed): median {statistics.median(strokes):.0f} ms, min {min(strokes):.0f}, 90th percentile "
        f"{statistics.quantiles(strokes, n=10)[-1]:.0f}, max {max(strokes):.0f} "
        f"over {len(strokes)} strokes; of the final update, computing took a median "
        f"{statistics.median(computes):.0f} ms for a median {statistics.median(passes):.0f} decoder passes "
        f"(max {max(passes)})"
    )
    print(f"- load average during the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(
        f"- float16 decoder: max pixel error {pixel_error.max():.2e}, mean {pixel_error.mean():.2e} (1,000 points); "
        f"float16 encoder: max |mu error| {mu_error:.2e}, max |log sigma error| {sigma_error:.2e}"
    )
    print(
        f"- page bytes (JSON + base64): pad state {sizes['pad'] / 1e6:.3f} MB, encoder float16 "
        f"{sizes['encoder f16'] / 1e6:.3f} MB, decoder float32 {sizes['decoder f32'] / 1e6:.3f} MB "
        f"(float16 {sizes['decoder f16'] / 1e6:.3f} MB)"
    )
    print(
        f"- Ising: one L = 28 Metropolis sweep {timings['sweep'] * 1000:.1f} us, one encoding {timings['enc']:.2f} ms"
    )


if __name__ == "__main__" and not {"--agreement", "--ising"} & set(sys.argv):
    main()


def agreement(n_images: int = 8) -> None:
    """The page's numbers against vaecourse for n_images test images (``--agreement``)."""
    import math

    from playwright.sync_api import sync_playwright

    from tests.browser.test_posterior_pad import page_numbers
    from vaecourse import elbo
    from vaecourse.marginal import local_posterior_grid

    torch.set_num_threads(1)
    model, x, y = trained_model()
    pad = posterior_pad.PosteriorPad(
        model, x, y, n_points=50, n_images=4, encoder=widgets.export_encoder(model, dtype="float32")
    )
    xs = x[:n_images].reshape(n_images, -1)
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as p:
        (Path(tmp) / "index.html").write_text("<!doctype html><html><body></body></html>")
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page()
        page.goto((Path(tmp) / "index.html").as_uri())
        page.errors = []
        results = page_numbers(page, pad, xs, samples=2048)
        browser.close()
    print(
        "| image | log p(x) page | same grid, torch | fine grid (30 sigma, 401^2) | ELBO page +- se | "
        "elbo.elbo (20k) | IWAE_16 page +- se | elbo.iwae mean (400 draws) | gap | D[Q||p] grid |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    torch.manual_seed(0)
    for i, (x_one, r) in enumerate(zip(xs, results)):
        same = pad.compute(x_one)["log_px"]
        _, _, _, fine = local_posterior_grid(
            model, x_one[None], torch.tensor([r["mu"]]), 30 * max(r["sigma"]), grid_size=401
        )
        with torch.no_grad():
            ref_elbo = float(elbo.elbo(model, x_one[None], n_samples=20_000)[0])
            draws = torch.stack([elbo.iwae(model, x_one[None], 16) for _ in range(400)]).double()
        iw = r["iwae"]["16"]
        print(
            f"| {i} | {r['logPx']:.3f} | {same:.3f} | {float(fine[0]):.3f} | {r['elbo']:.2f} +- {r['elboError']:.2f} | "
            f"{ref_elbo:.2f} | {iw['value']:.2f} +- {iw['error']:.2f} | {float(draws.mean()):.2f} +- "
            f"{float(draws.std()) / math.sqrt(400):.2f} | {r['gap']:.2f} | {r['klGrid']:.2f} |"
        )


if __name__ == "__main__" and "--agreement" in sys.argv:
    agreement()


def ising_check() -> None:
    """The JavaScript sampler against Onsager at T = 1.5, 2.0 (L = 28; ``--ising``)."""
    from playwright.sync_api import sync_playwright

    from vaecourse import ising

    source = frontend.bundle("ising_lattice").read_text()  # exports vaeIsingAverages
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as p:
        (Path(tmp) / "index.html").write_text("<!doctype html><html><body></body></html>")
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page()
        page.goto((Path(tmp) / "index.html").as_uri())
        page.evaluate(
            """async (esm) => {
            window.m = await import(URL.createObjectURL(new Blob([esm], {type: "text/javascript"}))); }""",
            source,
        )
        print("| T | <abs m> JS | Onsager M(T) | energy per spin JS | Onsager u(T) |")
        print("| --- | --- | --- | --- | --- |")
        for T in (1.5, 2.0):
            r = page.evaluate("(T) => window.m.vaeIsingAverages(28, T, 8000, 1000, 7)", T)
            m = float(ising.spontaneous_magnetisation(np.array([T]))[0])
            u = float(ising.onsager_energy(np.array([T]))[0])
            print(
                f"| {T} | {r['absM']:.4f} +- {r['absMError']:.4f} | {m:.4f} | {r['energy']:.4f} +- "
                f"{r['energyError']:.4f} | {u:.4f} |"
            )
        browser.close()


if __name__ == "__main__" and "--ising" in sys.argv:
    ising_check()
