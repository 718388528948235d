"""The posterior explorer: the true posterior p(h|x) on a grid beside the encoder's Q(h|x).

book/latent_space.md and book/elbo.md. For a 2-D model and one test image: $p(\\mathbf{h}\\mid\\mathbf{x})$
and $Q(\\mathbf{h}\\mid\\mathbf{x})$ on one grid that follows the posterior, $\\log p(\\mathbf{x})$, the
ELBO and their gap $\\log p(\\mathbf{x}) - \\mathcal{L}(\\mathbf{x}) =
\\mathcal{D}[Q(\\mathbf{h}\\mid\\mathbf{x})\\,\\|\\,p(\\mathbf{h}\\mid\\mathbf{x})]$ (eq:central of
book/bayes_rule.md, Kingma & Welling 2013), all computed in Python by :mod:`vaecourse.marginal` and the
ELBO's formula (changing the image needs a live kernel).
"""

from __future__ import annotations

import time

import anywidget
import torch
import traitlets

from vaecourse import device, marginal
from vaecourse.widgets.browser import STYLE, bundle, image_shape, latent_dim_of
from vaecourse.widgets.common import check_images, in_range, to_uint8, widget_repr


class PosteriorExplorer(anywidget.AnyWidget):
    """The true posterior p(h|x) on a grid beside the encoder's Q(h|x), for a 2-D model; book/latent_space.md.

    For test image ``x[index]``: $\\log p(\\mathbf{h}\\mid\\mathbf{x})$ on a ``grid_size`` x ``grid_size`` grid,
    $\\log Q(\\mathbf{h}\\mid\\mathbf{x})$ on the same grid, $\\log p(\\mathbf{x})$ by quadrature on that grid
    (one update decodes a few grids), the ELBO (``n_samples`` reparameterised samples, seeded: the value
    :func:`vaecourse.elbo.elbo` gives, with its Monte Carlo standard error) and the gap
    $\\log p(\\mathbf{x}) - \\mathcal{L}$, with the grid estimate of
    $\\mathcal{D}[Q\\,\\|\\,p(\\mathbf{h}\\mid\\mathbf{x})]$ that the gap must equal
    (Kingma & Welling 2013, eq. 2-3; book/elbo.md).

    The grid. With ``limit=None`` (the default) it follows the posterior, whose width after training is
    a small fraction of the prior's: :func:`vaecourse.marginal.adaptive_local_grid` finds the posterior
    from Q's window mu +- ``half_sigmas`` sigma, and the grid drawn is the box that holds both the
    posterior and Q to ``half_sigmas`` standard deviations, so that a standard deviation of the posterior
    spans several grid steps (``points_per_sigma`` in :meth:`compute`; at least
    :data:`MIN_POINTS_PER_SIGMA` unless Q lies far from the posterior). With a number ``limit`` the grid
    is the fixed square [-limit, limit]^2 of :func:`vaecourse.marginal.local_posterior_grid`. The synced
    ``window`` is [h1 low, h1 high, h2 low, h2 high] of the grid shown.

    Computed in Python: changing ``index`` needs a live kernel (the static website shows the image it
    was built with; the widget says so when no kernel answers). ``last_update_ms`` is the time the last
    update took in Python.

    Shapes: x (N, 1, H, W) or (N, H*W); the grids are (grid_size, grid_size).
    Raises ``ValueError`` unless ``model.latent_dim == 2``, or for an index outside 0..N-1, grid_size < 3,
    limit <= 0, half_sigmas <= 0 or n_samples < 2.
    """

    #: A posterior standard deviation spans at least this many grid steps in the adaptive window.
    MIN_POINTS_PER_SIGMA = 4.0

    __repr__ = widget_repr
    _esm = bundle("posterior_explorer")
    _css = STYLE
    index = traitlets.Int(0).tag(sync=True)
    n_images = traitlets.Int(1).tag(sync=True)
    grid_size = traitlets.Int(61).tag(sync=True)
    limit = traitlets.Float(4.0).tag(sync=True)
    adaptive = traitlets.Bool(True).tag(sync=True)
    window = traitlets.List(traitlets.Float(), [-4.0, 4.0, -4.0, 4.0]).tag(sync=True)
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
        grid_size: int = 61,
        limit: float | None = None,
        half_sigmas: float = 5.0,
        n_samples: int = 1000,
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
        if grid_size < 3 or (limit is not None and limit <= 0) or half_sigmas <= 0 or n_samples < 2:
            raise ValueError(
                "grid_size >= 3, limit > 0 (or None), half_sigmas > 0 and n_samples >= 2 required, got "
                f"{grid_size}, {limit}, {half_sigmas}, {n_samples}"
            )
        super().__init__(**kwargs)
        self.model, self.x = model, x
        self.n_samples, self.seed, self.half_sigmas = int(n_samples), int(seed), float(half_sigmas)
        self.last_update_ms = float("nan")
        self.n_images, self.grid_size = len(x), int(grid_size)
        self.adaptive = limit is None
        self.limit = 4.0 if limit is None else float(limit)
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

    def _adaptive_window(self, x: torch.Tensor, q):
        """The adaptive grid (a :class:`vaecourse.marginal.Window`, float64 on the CPU): the box that holds
        the posterior, as :func:`vaecourse.marginal.adaptive_local_grid` finds it from Q's window, and Q,
        each to ``half_sigmas`` standard deviations."""
        mu, sigma = q.mean[0].to("cpu", torch.float64), q.stddev[0].to("cpu", torch.float64)  # (2,) each
        reach = self.half_sigmas
        found = marginal.adaptive_local_grid(
            self.model, x, mu, reach * sigma, grid_size=self.grid_size, half_sigmas=reach
        ).final
        low = torch.minimum(found.mean - reach * found.std, mu - reach * sigma)  # (2,)
        high = torch.maximum(found.mean + reach * found.std, mu + reach * sigma)  # (2,)
        box = marginal.adaptive_local_grid(
            self.model, x, (low + high) / 2, (high - low) / 2, grid_size=self.grid_size, max_steps=0
        )
        return box.final

    def compute(self, index: int) -> dict:
        """Everything the widget shows for x[index], as numpy arrays and floats (no widget update).

        The grid posterior comes from :func:`vaecourse.marginal.local_posterior_grid` (the square) or
        the box of :meth:`_adaptive_window` (:func:`vaecourse.marginal.q_log_density_on_grid` and
        :func:`vaecourse.marginal.kl_q_posterior_on_grid` on the same axes, with Q's mass on the grid).
        ``points_per_sigma`` is the smaller, over the two axes, of the posterior's standard deviation on
        the grid divided by the grid step; ``elbo_se`` the Monte Carlo standard error of the ELBO.

        Shapes: "image" (H*W,), "log_posterior" and "log_q" (grid_size, grid_size), "axis1", "axis2"
        (grid_size,), "mu", "sigma" 2 floats.
        """
        on, dtype = device.placement(self.model)
        x = self.x[index : index + 1].to(device=on, dtype=dtype)  # (1, ...)
        with torch.no_grad():
            q = self.model.encode(x)  # Normal, batch shape (1, 2)
            if self.adaptive:
                window = self._adaptive_window(x, q)
                grid_h1, grid_h2 = window.axis1[None], window.axis2[None]  # (1, G) each, float64
                log_post, log_px = window.log_posterior[None], torch.tensor([window.log_px])  # (1, G, G), (1,)
            else:
                grid_h1, grid_h2, log_post, log_px = marginal.local_posterior_grid(
                    self.model, x, torch.zeros(1, 2, device=on, dtype=dtype), self.limit, grid_size=self.grid_size
                )  # (1, G), (1, G), (1, G, G), (1,)
            log_q = marginal.q_log_density_on_grid(q, grid_h1, grid_h2)  # (1, G, G)
            kl_grid = marginal.kl_q_posterior_on_grid(q, grid_h1, grid_h2, log_post)  # (1,), misses Q off the grid
            with torch.random.fork_rng(devices=[] if on.type == "cpu" else [on]):
                torch.manual_seed(self.seed)
                h = q.rsample((self.n_samples,))  # (S, 1, 2): the draws elbo.elbo makes under this seed
                reconstruction = self.model.log_likelihood(x, h)[:, 0].double()  # (S,)
            kl_prior = float(torch.distributions.kl_divergence(q, self.model.prior()).sum())
        steps = torch.stack([grid_h1[0, 1] - grid_h1[0, 0], grid_h2[0, 1] - grid_h2[0, 0]]).double().cpu()  # (2,)
        posterior = log_post[0].double().cpu().exp() * steps.prod()  # (G, G): each cell's probability
        axes = (grid_h1[0].double().cpu(), grid_h2[0].double().cpu())
        marginals = (posterior.sum(1), posterior.sum(0))  # (G,) each: over h1, over h2
        mean = [float((m * a).sum()) for m, a in zip(marginals, axes)]
        std = [float(((m * (a - c) ** 2).sum()).sqrt()) for m, a, c in zip(marginals, axes, mean)]
        return {
            "image": x.reshape(-1).clamp(0, 1).cpu(),
            "log_posterior": log_post[0].to(torch.float64).cpu().numpy(),
            "log_q": log_q[0].to(torch.float64).cpu().numpy(),
            "axis1": axes[0].numpy(),
            "axis2": axes[1].numpy(),
            "log_px": float(log_px[0]),
            "elbo": float(reconstruction.mean()) - kl_prior,
            "elbo_se": float(reconstruction.std() / self.n_samples**0.5),
            "kl_grid": float(kl_grid[0]),
            "q_mass": float(torch.exp(log_q[0].to(torch.float64)).sum().cpu() * steps.prod()),
            "posterior_std": std,
            "points_per_sigma": min(s / float(d) for s, d in zip(std, steps)),
            "mu": q.mean[0].tolist(),
            "sigma": q.stddev[0].tolist(),
        }

    def _update(self) -> None:
        start = time.perf_counter()
        result = self.compute(self.index)
        self.image = to_uint8(result["image"])
        self.log_posterior = result["log_posterior"].astype("<f4").tobytes()
        self.log_q = result["log_q"].astype("<f4").tobytes()
        a, b = result["axis1"], result["axis2"]
        self.window = [float(a[0]), float(a[-1]), float(b[0]), float(b[-1])]
        gap = result["log_px"] - result["elbo"]
        self.stats = {
            "test image": f"#{self.index}",
            "log p(x) (quadrature)": f"{result['log_px']:.2f} nats",
            f"ELBO ({self.n_samples} samples)": f"{result['elbo']:.2f} +- {result['elbo_se']:.2f} nats",
            "gap log p(x) - ELBO": f"{gap:.2f} nats",
            "KL(Q || p(h|x)) on the grid": f"{result['kl_grid']:.2f} nats",
            "Q's probability on the grid": f"{result['q_mass']:.3f}",
            "Q mean, std": "({:.2f}, {:.2f}), ({:.3f}, {:.3f})".format(*result["mu"], *result["sigma"]),
            "grid": "h1 {:.2f} to {:.2f}, h2 {:.2f} to {:.2f}, {:.1f} points per posterior std".format(
                *self.window, result["points_per_sigma"]
            ),
        }
        self.last_update_ms = 1000 * (time.perf_counter() - start)
