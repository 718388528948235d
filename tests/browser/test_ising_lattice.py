"""The Ising lattice that runs in the page (vaecourse.widgets.ising_lattice, book/ising.md), in headless Chromium.

- The JavaScript checkerboard Metropolis sampler's mean |m| and energy per spin at two temperatures
  below T_c agree with Onsager's exact results (vaecourse.ising) within Monte Carlo error (plus a
  small allowance for the finite lattice, stated below).
- The in-browser encoder of the lattice's configurations agrees with torch's.
- The rendered widget: the lattice evolves frame by frame, and the latent point moves with T.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.browser.pages import IMPORT_PAD, render_pad
from tests.widgets.examples import lattice_widget
from vaecourse import ising


@pytest.mark.slow
@pytest.mark.parametrize("T", [1.5, 2.0])
def test_js_sampler_matches_onsager(page, T):
    """L = 28, 1,000 sweeps of burn-in and 8,000 measured; errors from 20 batch means. The finite-size
    shift of <|m|> and the energy at these temperatures (correlation length ~1) is far below 1e-3."""
    widget, _ = lattice_widget()
    page.evaluate(IMPORT_PAD, widget._esm)
    r = page.evaluate("(T) => window.vaePad.vaeIsingAverages(28, T, 8000, 1000, 7)", T)
    m_exact = float(ising.spontaneous_magnetisation(np.array([T]))[0])
    e_exact = float(ising.onsager_energy(np.array([T]))[0])
    assert r["absMError"] < 0.01 and r["energyError"] < 0.01
    assert abs(r["absM"] - m_exact) <= 4 * r["absMError"] + 1e-3, (r, m_exact)
    assert abs(r["energy"] - e_exact) <= 4 * r["energyError"] + 1e-3, (r, e_exact)
    assert page.evaluate("(T) => window.vaePad.vaeOnsagerM(T)", T) == pytest.approx(m_exact, rel=1e-12)
    assert page.errors == []


_ENCODE = """({spec, weights, L, T}) => {
  const m = window.vaePad;
  const bytes = Uint8Array.from(atob(weights), (c) => c.charCodeAt(0));
  const encoder = m.unpackEncoder(spec, new DataView(bytes.buffer));
  const lattice = new m.VaeIsingLattice(L, 3, false);
  lattice.setTemperature(T);
  const xs = [], mus = [], sigmas = [];
  for (let k = 0; k < 5; k++) {
    for (let s = 0; s < 20; s++) lattice.sweep();
    const x = lattice.pixels();
    const q = m.encodeQ(encoder, x);
    xs.push(Array.from(x)); mus.push(Array.from(q.mu)); sigmas.push(Array.from(q.sigma));
  }
  return {xs, mus, sigmas};
}"""


@pytest.mark.slow
@pytest.mark.parametrize("dtype,atol", [("float32", 1e-5), ("float16", 2e-2)])
def test_js_encoder_of_lattice_matches_torch(page, dtype, atol):
    from tests.browser.pages import b64 as _b64
    from vaecourse import widgets

    widget, model = lattice_widget(latent_dim=2)
    encoder = widgets.export_encoder(model, dtype=dtype)
    page.evaluate(IMPORT_PAD, widget._esm)
    r = page.evaluate(_ENCODE, {"spec": encoder.spec, "weights": _b64(encoder.weights), "L": 16, "T": 2.2})
    x = torch.tensor(r["xs"], dtype=torch.float32).reshape(5, 1, 16, 16)
    assert set(np.unique(x.numpy())) == {0.0, 1.0}
    with torch.no_grad():
        q = model.encode(x)
    np.testing.assert_allclose(r["mus"], q.mean.numpy(), atol=atol)
    np.testing.assert_allclose(np.log(r["sigmas"]), np.log(q.stddev.numpy()), atol=atol)


@pytest.mark.slow
def test_lattice_evolves_and_its_point_moves_with_temperature(page, output_dir):
    widget, _ = lattice_widget(L=16, T=3.0)
    render_pad(page, widget, holders=("encoder",))
    root = ".vae-ising-lattice"
    page.wait_for_function(f"() => Number(document.querySelector('{root}').dataset.frames || 0) >= 3", timeout=20_000)

    def lattice_pixels():
        return page.evaluate(f"""() => {{ const c = document.querySelector('{root} canvas.vae-lattice');
            const data = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
            return Array.from(data.filter((_, i) => i % 4 === 0)); }}""")

    def point():
        return page.evaluate(f"""() => {{ const el = document.querySelector('{root}');
            return [Number(el.dataset.frames), Number(el.dataset.temperature), Number(el.dataset.latent)]; }}""")

    before, first = lattice_pixels(), point()
    page.wait_for_timeout(300)
    assert lattice_pixels() != before, "the lattice did not change between frames"
    page.locator(f"{root} input.vae-temperature").fill("1.2")
    page.wait_for_function(f"() => document.querySelector('{root}').dataset.temperature === '1.200'", timeout=10_000)
    page.wait_for_timeout(500)
    cold = point()
    assert cold[0] > first[0] and cold[1] == pytest.approx(1.2) and first[1] == pytest.approx(3.0)
    assert cold[2] != first[2], "the latent point did not move"
    shots = output_dir / "screenshots"
    shots.mkdir(exist_ok=True)
    page.locator(root).screenshot(path=str(shots / "ising_lattice.png"))
    assert page.errors == []
