"""The posterior explorer: the true posterior p(h|x) on a grid beside the encoder's Q(h|x).

book/latent_space.md and book/elbo.md. For a 2-D model and one test image: $p(\\mathbf{h}\\mid\\mathbf{x})$
and $Q(\\mathbf{h}\\mid\\mathbf{x})$ on one grid, $\\log p(\\mathbf{x})$, the ELBO and their gap
$\\log p(\\mathbf{x}) - \\mathcal{L}(\\mathbf{x}) = \\mathcal{D}[Q(\\mathbf{h}\\mid\\mathbf{x})\\,\\|\\,
p(\\mathbf{h}\\mid\\mathbf{x})]$ (Kingma & Welling 2013, eq. 2-3), all computed in Python by
:mod:`vaecourse.marginal` and :mod:`vaecourse.elbo` (changing the image needs a live kernel).
"""

from __future__ import annotations

import time

import anywidget
import torch
import traitlets

from vaecourse import device, marginal
from vaecourse import elbo as _elbo
from vaecourse.widgets.browser import STYLE, bundle, image_shape, latent_dim_of
from vaecourse.widgets.common import check_images, in_range, to_uint8, widget_repr


class PosteriorExplorer(anywidget.AnyWidget):
    """The true posterior p(h|x) on a grid beside the encoder's Q(h|x), for a 2-D model; book/latent_space.md.

    For test image ``x[index]``: $\\log p(\\mathbf{h}\\mid\\mathbf{x})$ on a ``grid_size`` x ``grid_size`` grid
    over $[-\\text{limit}, \\text{limit}]^2$, $\\log Q(\\mathbf{h}\\mid\\mathbf{x})$ on the same grid,
    $\\log p(\\mathbf{x})$ by quadrature on that grid (the value :func:`vaecourse.marginal.log_px_quadrature`
    gives; one update decodes the grid once), the ELBO (:func:`vaecourse.elbo.elbo`, ``n_samples``
    reparameterised samples, seeded) and the gap $\\log p(\\mathbf{x}) - \\mathcal{L}$, with the grid estimate
    of $\\mathcal{D}[Q\\,\\|\\,p(\\mathbf{h}\\mid\\mathbf{x})]$ that the gap must equal
    (Kingma & Welling 2013, eq. 2-3; book/elbo.md). Computed in Python: changing ``index`` needs a live kernel
    (the static website shows the image it was built with; the widget says so when no kernel answers).
    ``last_update_ms`` is the time the last update took in Python.

    Shapes: x (N, 1, H, W) or (N, H*W); the grids are (grid_size, grid_size).
    Raises ``ValueError`` unless ``model.latent_dim == 2``, or for an index outside 0..N-1, grid_size < 3,
    limit <= 0 or n_samples < 1.
    """

    __repr__ = widget_repr
    _esm = bundle("posterior_explorer")
    _css = STYLE
    index = traitlets.Int(0).tag(sync=True)
    n_images = traitlets.Int(1).tag(sync=True)
    grid_size = traitlets.Int(41).tag(sync=True)
    limit = traitlets.Float(4.0).tag(sync=True)
    data_shape = traitlets.List(traitlets.Int()).tag(sync=True)
    plane_size = traitlets.Int(190).tag(sync=True)
    image = traitlets.Bytes().tag(sync=True)  # (H*W,) uint8
    log_posterior = traitlets.Bytes().tag(sync=True)  # (G, G) float32
    log_q = traitlets.Bytes().tag(sync=True)  # (G, G) float32
    stats = traitlets.Dict().tag(sync=True)

    def __init__(
        self,
        model,
        x,
        *,
        index: int = 0,
        grid_size: int = 41,
        limit: float = 4.0,
        n_samples: int = 100,
        seed: int = 0,
        **kwargs,
    ):
        latent_dim = latent_dim_of(model)
        if latent_dim != 2:
            raise ValueError(
                f"model: PosteriorExplorer computes p(h|x) on a 2-D grid and needs latent_dim == 2, got {latent_dim}"
            )
        image_shape(model)
        x = check_images(model, x)
        if not 0 <= index < len(x):
            raise ValueError(f"index: must lie in 0..{len(x) - 1}, got {index}")
        if grid_size < 3 or limit <= 0 or n_samples < 1:
            raise ValueError(
                f"grid_size >= 3, limit > 0 and n_samples >= 1 required, got {grid_size}, {limit}, {n_samples}"
            )
        super().__init__(**kwargs)
        self.model, self.x = model, x
        self.n_samples, self.seed = int(n_samples), int(seed)
        self.last_update_ms = float("nan")
        self.n_images, self.grid_size, self.limit = len(x), int(grid_size), float(limit)
        self.data_shape = list(image_shape(model))
        self.index = int(index)
        self._update()
        self.observe(lambda change: self._update(), names="index")

    _valid_grid_size = in_range("grid_size", 3, 401)
    _valid_limit = in_range("limit", 1e-6, 1e6)

    @traitlets.validate("index")
    def _valid_index(self, proposal):
        value = proposal["value"]
        if not 0 <= value < self.n_images:
            raise traitlets.TraitError(f"index: must lie in 0..{self.n_images - 1}, got {value}")
        return value

    def compute(self, index: int) -> dict:
        """Everything the widget shows for x[index], as numpy arrays and floats (no widget update).

        One pass over the grid (:func:`vaecourse.marginal.local_posterior_grid` on the square
        [-limit, limit]^2) gives p(h|x) and log p(x); Q's density, its grid KL and its mass on the
        grid come from :mod:`vaecourse.marginal` too.

        Shapes: "image" (H*W,), "log_posterior" and "log_q" (grid_size, grid_size), "mu", "sigma" 2 floats.
        """
        on, dtype = device.placement(self.model)
        x = self.x[index : index + 1].to(device=on, dtype=dtype)  # (1, ...)
        with torch.no_grad():
            centre = torch.zeros(1, 2, device=on, dtype=dtype)  # (1, 2)
            grid_h1, grid_h2, log_post, log_px = marginal.local_posterior_grid(
                self.model, x, centre, self.limit, grid_size=self.grid_size
            )  # (1, G), (1, G), (1, G, G), (1,)
            q = self.model.encode(x)  # Normal, batch shape (1, 2)
            log_q = marginal.q_log_density_on_grid(q, grid_h1, grid_h2)  # (1, G, G)
            kl_grid = marginal.kl_q_posterior_on_grid(
                q, grid_h1, grid_h2, log_post
            )  # (1,), misses Q's mass off the grid
            with torch.random.fork_rng(devices=[] if on.type == "cpu" else [on]):
                torch.manual_seed(self.seed)
                elbo_value = float(_elbo.elbo(self.model, x, n_samples=self.n_samples).mean())
        cell = float((grid_h1[0, 1] - grid_h1[0, 0]) * (grid_h2[0, 1] - grid_h2[0, 0]))
        return {
            "image": x.reshape(-1).clamp(0, 1).cpu(),
            "log_posterior": log_post[0].to(torch.float64).cpu().numpy(),
            "log_q": log_q[0].to(torch.float64).cpu().numpy(),
            "log_px": float(log_px[0]),
            "elbo": elbo_value,
            "kl_grid": float(kl_grid[0]),
            "q_mass": float(torch.exp(log_q[0].to(torch.float64)).sum() * cell),
            "mu": q.mean[0].tolist(),
            "sigma": q.stddev[0].tolist(),
        }

    def _update(self) -> None:
        start = time.perf_counter()
        result = self.compute(self.index)
        self.image = to_uint8(result["image"])
        self.log_posterior = result["log_posterior"].astype("<f4").tobytes()
        self.log_q = result["log_q"].astype("<f4").tobytes()
        gap = result["log_px"] - result["elbo"]
        self.stats = {
            "test image": f"#{self.index}",
            "log p(x) (quadrature)": f"{result['log_px']:.2f} nats",
            f"ELBO ({self.n_samples} samples)": f"{result['elbo']:.2f} nats",
            "gap log p(x) - ELBO": f"{gap:.2f} nats",
            "KL(Q || p(h|x)) on the grid": f"{result['kl_grid']:.2f} nats",
            "Q's probability on the grid": f"{result['q_mass']:.3f}",
            "Q mean, std": "({:.2f}, {:.2f}), ({:.3f}, {:.3f})".format(*result["mu"], *result["sigma"]),
        }
        self.last_update_ms = 1000 * (time.perf_counter() - start)
