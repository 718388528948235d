"""Draw a digit, see its posterior: the encoder, the true posterior and the bounds, in the browser.

``book/latent_space.md``, the central equation of ``book/elbo.md`` (label
``eq:central``; Kingma & Welling 2013, eq. 2-3; Burda, Grosse & Salakhutdinov 2015 for the IWAE bound).
:class:`PosteriorPad` is an ``anywidget`` whose front end (``vaecourse/js/src/posterior_pad.js``) runs the
2-D model's MLP **encoder and decoder in JavaScript**, so on the static website, with no kernel, the
reader draws a digit (or picks a test image) and the page computes, for that input $\\mathbf{x}$:

- $Q(\\mathbf{h}\\mid\\mathbf{x}) = \\mathcal{N}(\\boldsymbol\\mu, \\operatorname{diag}\\boldsymbol\\sigma^2)$,
  drawn as ellipses over the label-coloured scatter of encoded test images;
- the true posterior $p(\\mathbf{h}\\mid\\mathbf{x})$ on a local ``grid_size`` x ``grid_size`` grid,
  found from Q's grid $\\mu_d \\pm$ ``widths`` $\\sigma_d$ by :func:`vaecourse.marginal.adaptive_local_grid`
  (whose constants the page reads from the trait ``window_rule``), and
  $\\log p(\\mathbf{x})$ by that quadrature (the numbers on Q's grid are shown first, then these);
- the ELBO (closed-form KL plus a Monte Carlo reconstruction term over ``samples`` draws, with its
  standard error), the IWAE bound $\\mathcal{L}_K$ for $K = 1, 2, 4, \\dots$, ``samples`` (the pool in
  ``samples``/K groups), the gap $\\log p(\\mathbf{x}) - \\mathcal{L}$ and
  $\\mathcal{D}[Q\\,\\|\\,p(\\mathbf{h}\\mid\\mathbf{x})]$ on the grid, side by side.

The weights travel in the widget state: the decoder as the shared :class:`vaecourse.widgets.BrowserDecoder`
(also used by ``LatentExplorer``/``Interpolation``), the encoder as a :class:`BrowserEncoder`, float16
by default (the browser widens to float32). In JupyterLab the same front end runs, and the input and
the page's numbers come back to Python (traits ``x`` and ``browser``), where :meth:`PosteriorPad.compute`
gives torch's numbers for the same input.

Which models: :class:`vaecourse.models.VAE` with ``latent_dim == 2`` and ``likelihood == "bernoulli"``
(the encoder ``linear1 -> relu -> linear2 -> relu -> (enc_mu, enc_log_sigma)``). Others are refused
with a ``ValueError``. Imports ``anywidget`` when imported; ``import vaecourse`` does not import it.
"""

from __future__ import annotations

import math

import anywidget
import ipywidgets
import numpy as np
import torch
import traitlets

from vaecourse import device, marginal, models
from vaecourse.widgets.browser import (
    STYLE,
    BrowserDecoder,
    BrowserEncoder,
    bundle,
    export_decoder,
    export_encoder,
    image_shape,
)


def _images(x, shape, name="x") -> torch.Tensor:
    x = torch.as_tensor(x) if isinstance(x, np.ndarray) else x
    if not isinstance(x, torch.Tensor) or x.ndim < 2 or x[0].numel() != math.prod(shape) or len(x) == 0:
        raise ValueError(
            f"{name}: expected images of shape (N, 1, {shape[0]}, {shape[1]}) or "
            f"(N, {math.prod(shape)}), got {getattr(x, 'shape', type(x).__name__)}"
        )
    x = x.reshape(len(x), -1).float().cpu()
    if not torch.isfinite(x).all() or x.min() < 0 or x.max() > 1:
        raise ValueError(f"{name}: pixel values must be finite and lie in [0, 1]")
    return x  # (N, D)


def _means(model, x: torch.Tensor) -> torch.Tensor:
    return models.encoder_means(model, x, batch_size=2048).float().cpu()  # (N, 2)


class PosteriorPad(anywidget.AnyWidget):
    """Draw a digit (or pick a test image); the page shows Q(h|x), p(h|x) and the bounds. book/latent_space.md.

    Parameters
    ----------
    model : a trained 2-D Bernoulli :class:`vaecourse.models.VAE`.
    x : test images (N, 1, H, W) or (N, H*W) in [0, 1]: the first ``n_points`` are encoded for the
        scatter, the first ``n_images`` can be picked as inputs.
    labels : (N,) integer labels of x (scatter colours and image names), or None.
    decoder, encoder : shared :class:`~vaecourse.widgets.BrowserDecoder` / :class:`BrowserEncoder`
        (default: new ones, the encoder in float16).
    binarize : threshold drawn inputs at 1/2 (as the model's training data were binarised).
    grid_size, widths, samples, seed, k : the local grid (points per axis, half-width in sigmas), the
        Monte Carlo pool, its seed, and the IWAE K shown (a power of 2 <= samples).

    The trait ``window_rule`` (:func:`vaecourse.marginal.window_rule` of ``grid_size`` and ``widths``)
    carries the constants of the window search to the page.

    Raises ``ValueError`` for a model the pad cannot run and for bad sizes.
    """

    _esm = bundle("posterior_pad")
    _css = STYLE
    decoder = traitlets.Instance(BrowserDecoder, allow_none=True).tag(sync=True, **ipywidgets.widget_serialization)
    encoder = traitlets.Instance(BrowserEncoder, allow_none=True).tag(sync=True, **ipywidgets.widget_serialization)
    points = traitlets.Bytes(b"").tag(sync=True)  # (N, 2) float32 encoder means
    labels = traitlets.Bytes(b"").tag(sync=True)  # (N,) uint8
    label_names = traitlets.List(traitlets.Unicode()).tag(sync=True)
    limit = traitlets.Float(4.0).tag(sync=True)
    images = traitlets.Bytes(b"").tag(sync=True)  # (n_images, D) uint8
    image_names = traitlets.List(traitlets.Unicode()).tag(sync=True)
    index = traitlets.Int(0).tag(sync=True)  # the test image shown first (-1: the drawing)
    binarize = traitlets.Bool(True).tag(sync=True)
    grid_size = traitlets.Int(marginal.WINDOW_GRID).tag(sync=True)
    widths = traitlets.Float(marginal.WINDOW_HALF_SIGMAS).tag(sync=True)
    # the constants of marginal.adaptive_local_grid, for the page's copy of the search (kept to grid_size, widths)
    window_rule = traitlets.Dict(marginal.window_rule()).tag(sync=True)
    samples = traitlets.Int(64).tag(sync=True)
    seed = traitlets.Int(1).tag(sync=True)
    k = traitlets.Int(16).tag(sync=True)
    plane_size = traitlets.Int(300).tag(sync=True)
    # (D,) uint8: the input the page computed for (from the page; ipywidgets hands over a memoryview)
    x = traitlets.Bytes(b"").tag(sync=True, from_json=lambda value, widget: bytes(value or b""))
    browser = traitlets.Dict().tag(sync=True)  # the page's numbers for x (from the page)

    def __init__(
        self,
        model,
        x,
        labels=None,
        *,
        decoder: BrowserDecoder | None = None,
        encoder: BrowserEncoder | None = None,
        n_points: int = 2000,
        n_images: int = 20,
        label_names=None,
        binarize: bool = True,
        grid_size: int = marginal.WINDOW_GRID,
        widths: float = marginal.WINDOW_HALF_SIGMAS,
        samples: int = 64,
        seed: int = 1,
        k: int = 16,
        index: int = 0,
        **kwargs,
    ):
        if getattr(model, "latent_dim", None) != 2:
            raise ValueError(
                f"model: PosteriorPad needs latent_dim == 2 (a grid posterior), got "
                f"{getattr(model, 'latent_dim', None)}"
            )
        if getattr(model, "likelihood", None) != "bernoulli":
            raise ValueError(
                f"model: PosteriorPad needs a Bernoulli decoder (model.likelihood == 'bernoulli'), "
                f"got {getattr(model, 'likelihood', None)!r}"
            )
        shape = image_shape(model)
        if grid_size < 3 or widths <= 0 or samples < 1 or not 1 <= k <= samples or k & (k - 1):
            raise ValueError(
                f"grid_size >= 3, widths > 0, samples >= 1 and k a power of 2 in 1..samples "
                f"required, got {grid_size}, {widths}, {samples}, {k}"
            )
        x = _images(x, shape)
        n_images = min(int(n_images), len(x))
        if not -1 <= index < n_images:
            raise ValueError(f"index: must lie in -1..{n_images - 1}, got {index}")
        super().__init__(**kwargs)
        self.model = model
        self.decoder = decoder if decoder is not None else export_decoder(model)
        self.encoder = encoder if encoder is not None else export_encoder(model)
        plane = _means(model, x[:n_points]).numpy().astype("<f4")  # (N, 2)
        self.points = plane.tobytes()
        self.limit = float(math.ceil(max(2.5, float(np.quantile(np.abs(plane), 0.995))) * 2) / 2)
        if labels is not None:
            labels = torch.as_tensor(labels).reshape(-1)
            if len(labels) < len(x) or labels.min() < 0 or labels.max() > 255:
                raise ValueError("labels: expected one integer label in 0..255 per image")
            self.labels = labels[:n_points].to(torch.uint8).numpy().tobytes()
        n_labels = int(max(np.frombuffer(self.labels, np.uint8), default=-1)) + 1
        self.label_names = list(label_names) if label_names is not None else [str(i) for i in range(n_labels)]
        self.images = (x[:n_images] * 255).round().to(torch.uint8).numpy().tobytes()
        self.image_names = [
            f"test image #{i}" + (f" (a {int(labels[i])})" if labels is not None else "") for i in range(n_images)
        ]
        self.index, self.binarize, self.grid_size, self.widths = (
            int(index),
            bool(binarize),
            int(grid_size),
            float(widths),
        )
        self.samples, self.seed, self.k = int(samples), int(seed), int(k)

    def input(self) -> torch.Tensor:
        """The input the page last computed for (trait ``x``), as a (1, D) float tensor in [0, 1]."""
        if not self.x:
            raise ValueError("x: the page has not reported an input yet (display the widget first)")
        return torch.from_numpy(np.frombuffer(self.x, np.uint8).astype(np.float32) / 255).reshape(1, -1)

    def compute(self, x, samples: int | None = None, max_steps: int = marginal.WINDOW_MAX_STEPS) -> dict:
        """torch's numbers for one input x (D,) or (1, D): the same grids and estimators as the page.

        Q's grid $\\mu \\pm$ ``widths`` $\\sigma$; the posterior's grid found from it by
        :func:`vaecourse.marginal.adaptive_local_grid` (at most ``max_steps`` new windows);
        $\\log p(\\mathbf{x})$ on the posterior's grid; $\\mathcal{D}[Q\\,\\|\\,p(\\mathbf{h}|\\mathbf{x})]$
        on Q's grid with that $\\log p(\\mathbf{x})$ (:func:`vaecourse.marginal.kl_q_posterior_on_grid`);
        the ELBO with ``samples`` reconstruction draws (torch's, not the page's) and its standard error.
        Returns floats ``log_px``, ``elbo``, ``elbo_error``, ``kl_grid``, ``q_mass``, ``edge``, ``widened``,
        lists ``mu``, ``sigma`` and the posterior grid ``axis1``, ``axis2``, ``log_posterior`` (G, G).
        """
        from vaecourse import elbo as elbo_module

        model = self.model
        on, dtype = device.placement(model)
        x = torch.as_tensor(x, dtype=torch.float32).reshape(1, -1).to(on, dtype)  # (1, D)
        with torch.no_grad():
            q = model.encode(x.reshape(1, *model.data_shape))  # Normal (1, 2)
        mu, sigma = q.mean[0].double().cpu(), q.stddev[0].double().cpu()  # (2,) each
        found = marginal.adaptive_local_grid(model, x, mu, self.widths * sigma, self.grid_size, self.widths, max_steps)
        first, grid = found.first, found.final  # Q's window, the posterior's
        q64 = torch.distributions.Normal(mu[None], sigma[None])  # (1, 2)
        log_post_on_q = (first.log_joint - grid.log_px)[None]  # (1, G, G): log p(h|x) on Q's grid
        kl_grid = float(marginal.kl_q_posterior_on_grid(q64, first.axis1, first.axis2, log_post_on_q)[0])
        q_mass = float(marginal.q_log_density_on_grid(q64, first.axis1, first.axis2).exp().sum() * first.cell)
        n = samples or self.samples
        with torch.no_grad():
            reconstruction = model.log_likelihood(x, q.rsample((n,)))[:, 0].double()  # (n,)
            kl_prior = float(elbo_module.elbo_terms(model, x.reshape(1, *model.data_shape), 1)[1][0])
        return {
            "log_px": grid.log_px,
            "elbo": float(reconstruction.mean()) - kl_prior,
            "elbo_error": float(reconstruction.std() / math.sqrt(n)),
            "kl_grid": kl_grid,
            "q_mass": q_mass,
            "edge": grid.edge,
            "widened": found.steps,
            "mu": mu.tolist(),
            "sigma": sigma.tolist(),
            "axis1": grid.axis1.numpy(),
            "axis2": grid.axis2.numpy(),
            "log_posterior": grid.log_posterior.numpy(),
        }

    @traitlets.observe("grid_size", "widths")
    def _rule_follows_the_grid(self, change):
        self.window_rule = marginal.window_rule(self.grid_size, self.widths)

    @traitlets.validate("k")
    def _valid_k(self, proposal):
        k = proposal["value"]
        if not 1 <= k <= max(self.samples, 1) or k & (k - 1):
            raise traitlets.TraitError(f"k: must be a power of 2 in 1..{self.samples}, got {k}")
        return k
