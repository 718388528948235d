"""An Ising lattice that runs in the page, encoded live by the chapter's VAE (``book/ising.md``).

:class:`IsingLattice` is an ``anywidget`` whose front end (``vaecourse/js/src/ising_sampler.js``,
``ising_lattice.js``) simulates the 2-D Ising model in JavaScript -- checkerboard Metropolis sweeps on
the chapter's $L\\times L$ periodic lattice, $E = -\\sum_{\\langle ij\\rangle} s_i s_j$, acceptance
$\\min(1, e^{-\\Delta E/T})$ (Metropolis et al. 1953) -- with a temperature slider, draws the lattice
live, encodes every configuration $\\mathbf{x} = (\\mathbf{s} + 1)/2$ with the trained MLP encoder in the
browser (the :class:`vaecourse.widgets.BrowserEncoder`, float16 by default), and moves its point
on the latent-vs-T plot of the held-out configurations, next to Onsager's $\\pm M(T)$ (Yang 1952) and
the chapter's $T_c$ estimate. Works on the static website and live in JupyterLab.

The plotted latent value is the chapter's :func:`vaecourse.ising.vae_analysis.latent_axis`: the encoder mean
projected on the principal axis of the held-out means (the mean itself for a 1-D latent), with its
sign. Onsager's curve is drawn as $\\pm c\\,M(T)$, with $c$ the mean $|$latent$|$ at the lowest
temperature over $M$ there, since the latent's scale is the VAE's own. Imports ``anywidget``.
"""

from __future__ import annotations

import math

import anywidget
import ipywidgets
import numpy as np
import traitlets

from vaecourse.widgets.browser import STYLE, BrowserEncoder, bundle, export_encoder


def axis_projection(latent) -> tuple[np.ndarray, np.ndarray]:
    """``(centre, w)`` with ``(latent - centre) @ w`` equal to :func:`vaecourse.ising.vae_analysis.latent_axis`.

    ``latent``: (N, latent_dim) encoder means. For a 1-D latent, centre 0 and w = +-1; otherwise the
    mean of the means and the first principal axis, with the sign that makes the largest |value|
    positive. Raises ``ValueError`` for another shape.
    """
    mu = np.asarray(latent, dtype=np.float64)
    if mu.ndim != 2 or len(mu) == 0:
        raise ValueError(f"latent must have shape (N, latent_dim); got {mu.shape}")
    if mu.shape[1] == 1:
        centre, w = np.zeros(1), np.ones(1)
    else:
        centre = mu.mean(axis=0)
        w = np.linalg.svd(mu - centre, full_matrices=False)[2][0]  # first principal axis
    axis = (mu - centre) @ w
    return centre, (w if axis[np.abs(axis).argmax()] >= 0 else -w)


class IsingLattice(anywidget.AnyWidget):
    """A live 2-D Ising lattice with a temperature slider, encoded by the chapter's VAE. book/ising.md.

    Parameters
    ----------
    model : the trained Ising VAE (an MLP :class:`vaecourse.models.VAE`, data_shape (1, L, L)).
    temperature, latent : the held-out configurations' temperatures (N,) and encoder means
        (N, latent_dim) (``IsingVAEResult.temperature``, ``.latent``), the plot's background.
    tc : the chapter's $T_c$ estimate, an object with ``value`` and ``error`` (a ``critical_temperature.TcEstimate``)
        or a ``(value, error)`` pair, or None.
    T, sweeps_per_frame, seed : the starting temperature, Metropolis sweeps per animation frame, and
        the sampler's seed. ``n_points``: at most this many background points.

    Raises ``ValueError`` for a model whose data are not an L x L lattice or mismatched arrays.
    """

    _esm = bundle("ising_lattice")
    _css = STYLE
    encoder = traitlets.Instance(BrowserEncoder, allow_none=True).tag(sync=True, **ipywidgets.widget_serialization)
    L = traitlets.Int(28).tag(sync=True)
    T = traitlets.Float(2.0).tag(sync=True)
    t_min = traitlets.Float(1.0).tag(sync=True)
    t_max = traitlets.Float(3.5).tag(sync=True)
    t_c = traitlets.Float(2.0 / math.log(1.0 + math.sqrt(2.0))).tag(sync=True)  # Onsager's T_c
    tc_estimate = traitlets.List(traitlets.Float()).tag(sync=True)  # [value, error] or []
    points = traitlets.Bytes(b"").tag(sync=True)  # (N, 2) float32: (temperature, latent axis)
    centre = traitlets.List(traitlets.Float()).tag(sync=True)
    direction = traitlets.List(traitlets.Float()).tag(sync=True)
    onsager_scale = traitlets.Float(1.0).tag(sync=True)
    sweeps_per_frame = traitlets.Int(1).tag(sync=True)
    seed = traitlets.Int(1).tag(sync=True)
    running = traitlets.Bool(True).tag(sync=True)

    def __init__(
        self,
        model,
        temperature,
        latent,
        *,
        tc=None,
        T: float = 2.0,
        sweeps_per_frame: int = 1,
        seed: int = 1,
        n_points: int = 3000,
        encoder: BrowserEncoder | None = None,
        **kwargs,
    ):
        shape = tuple(getattr(model, "data_shape", ()))
        if len(shape) != 3 or shape[0] != 1 or shape[1] != shape[2]:
            raise ValueError(f"model: expected an Ising VAE with data_shape (1, L, L), got {shape}")
        temperature = np.asarray(temperature, dtype=np.float64).reshape(-1)
        latent = np.asarray(latent, dtype=np.float64)
        latent = latent.reshape(len(latent), -1)
        if len(temperature) != len(latent) or len(latent) == 0:
            raise ValueError(
                f"temperature and latent: expected the same number N >= 1 of rows, got "
                f"{len(temperature)} and {len(latent)}"
            )
        if latent.shape[1] != model.latent_dim:
            raise ValueError(f"latent: expected {model.latent_dim} columns (model.latent_dim), got {latent.shape[1]}")
        if not 0 < T or sweeps_per_frame < 1:
            raise ValueError(f"T > 0 and sweeps_per_frame >= 1 required, got {T}, {sweeps_per_frame}")
        super().__init__(**kwargs)
        self.model = model
        self.encoder = encoder if encoder is not None else export_encoder(model)
        centre, w = axis_projection(latent)
        axis = (latent - centre) @ w  # (N,)
        keep = np.random.default_rng(0).permutation(len(axis))[:n_points]
        self.points = np.stack([temperature[keep], axis[keep]], 1).astype("<f4").tobytes()
        self.centre, self.direction = centre.tolist(), w.tolist()
        coldest = temperature <= temperature.min() + 1e-9
        from vaecourse import ising

        m_cold = float(ising.spontaneous_magnetisation(np.array([temperature.min()]))[0])
        self.onsager_scale = float(np.abs(axis[coldest]).mean() / m_cold) if m_cold > 0 else 1.0
        self.L, self.T, self.sweeps_per_frame, self.seed = int(shape[1]), float(T), int(sweeps_per_frame), int(seed)
        self.t_min, self.t_max = float(min(1.0, temperature.min())), float(max(3.5, temperature.max()))
        self.t_c = float(ising.T_C)
        if tc is not None:
            value, error = (tc.value, tc.error) if hasattr(tc, "value") else tc
            self.tc_estimate = [float(value), float(error)]
