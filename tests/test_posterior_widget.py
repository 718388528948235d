"""The posterior pad (vaecourse.posterior_pad, chapter 9): the page's numbers against torch's.

In headless Chromium (Debian's chromium via playwright, a blank page on 127.0.0.1, every other host
blocked), the widget's own ES module is imported and, for binarised test images of a small trained
2-D VAE:

- the in-browser encoder gives torch's mu and sigma (float32 weights: 1e-5; float16: stated error),
  and the float16 decoder's pixels stay within the stated error of torch's float32 pixels;
- log p(x) from the page's local grid equals torch on the same grid, and an independent fine grid
  (vaecourse.latent_grid.local_posterior_grid);
- the ELBO, the IWAE bound for several K and the gap agree with vaecourse.elbo within Monte Carlo
  error, the gap equals D[Q || p(h|x)] on the grid, and ELBO <= IWAE_K <= log p(x);
- the drawing pad's MNIST preprocessing puts the ink into a 20 x 20 box centred by its centre of
  mass; strokes on the rendered widget change Q, the image and the numbers; the K slider moves
  IWAE towards log p(x); the update time after a stroke is reported (its 100 ms goal is measured
  in benchmarks/bench_posterior_pad.py, not asserted here).
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch

from test_widgets import _b64, _render, blank_site, page  # noqa: F401 -- the shared browser fixtures

from vaecourse import elbo, models, posterior_pad

pytestmark = pytest.mark.usefixtures("one_thread")


def trained_model(hidden: int = 256, steps: int = 600, seed: int = 0):
    """A small 2-D Bernoulli VAE trained for a few hundred steps on the offline MNIST subset."""
    from vaecourse import data, train

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", data.OfflineSubsetWarning)
        x_train, _ = train.load_dataset("mnist", "train")
        x_test, y_test = train.load_dataset("mnist", "test")
    torch.manual_seed(seed)
    model = models.VAE(hidden=hidden, latent_dim=2, data_shape=(1, 28, 28))
    optimiser = torch.optim.Adam(model.parameters(), lr=2e-3)
    generator = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        batch = x_train[torch.randint(len(x_train), (100,), generator=generator)]
        batch = torch.bernoulli(batch, generator=generator)
        optimiser.zero_grad()
        elbo.loss(model, batch).backward()
        optimiser.step()
    order = torch.randperm(len(x_test), generator=torch.Generator().manual_seed(1))
    x_test = (x_test[order] > 0.5).float()
    return model.eval(), x_test, y_test[order]


@pytest.fixture(scope="module")
def trained():
    return trained_model()


@pytest.fixture(scope="module")
def pad(trained):
    model, x, y = trained
    return posterior_pad.PosteriorPad(model, x, y, n_points=500, n_images=12)


_IMPORT = """async (esm) => {
  const url = URL.createObjectURL(new Blob([esm], {type: "text/javascript"}));
  window.vaePad = await import(url);
  return Object.keys(window.vaePad);
}"""

_NUMBERS = """async ({dspec, dweights, espec, eweights, xs, options}) => {
  const m = window.vaePad;
  const bytes = (s) => { const b = Uint8Array.from(atob(s), (c) => c.charCodeAt(0)); return new DataView(b.buffer); };
  const decoder = m.unpackDecoder(dspec, bytes(dweights));
  const encoder = m.unpackEncoder(espec, bytes(eweights));
  return xs.map((x) => {
    const r = m.vaePosteriorNumbers(decoder, encoder, Float32Array.from(x), options);
    r.logPost = Array.from(r.logPost);
    return r;
  });
}"""


def page_numbers(page, widget, xs, **options):
    """vaePosteriorNumbers, run in the page, for each row of xs (N, D)."""
    keys = page.evaluate(_IMPORT, widget._esm)
    assert {"vaePosteriorNumbers", "unpackEncoder", "vaeMnistPreprocess"} <= set(keys)
    options = {"gridSize": widget.grid_size, "widths": widget.widths, "samples": widget.samples,
               "seed": widget.seed, "maxWiden": 2, **options}
    return page.evaluate(_NUMBERS, {
        "dspec": widget.decoder.spec, "dweights": _b64(widget.decoder.weights),
        "espec": widget.encoder.spec, "eweights": _b64(widget.encoder.weights),
        "xs": np.asarray(xs, dtype=np.float64).tolist(), "options": options,
    })


@pytest.mark.slow
@pytest.mark.parametrize("dtype,atol", [("float32", 1e-5), ("float16", 2e-2)])
def test_browser_encoder_matches_torch(page, trained, dtype, atol):
    model, x, y = trained
    widget = posterior_pad.PosteriorPad(model, x, y, n_points=50, n_images=4,
                                        encoder=posterior_pad.export_encoder(model, dtype=dtype))
    results = page_numbers(page, widget, x[:6].reshape(6, -1), samples=1, gridSize=3)
    q = model.encode(x[:6])
    mu, sigma = q.mean.detach().numpy(), q.stddev.detach().numpy()
    np.testing.assert_allclose([r["mu"] for r in results], mu, rtol=0, atol=atol)
    np.testing.assert_allclose(np.log([r["sigma"] for r in results]), np.log(sigma), rtol=0, atol=atol)
    assert page.errors == []
