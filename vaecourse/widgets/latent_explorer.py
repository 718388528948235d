"""The latent explorer: point at the latent plane, see the decoded image, in the browser.

book/latent_space.md (Kingma & Welling 2013, figure 4). The scatter of encoder means
$\\boldsymbol\\mu(\\mathbf{x})$ of test images; pointing at or dragging over a point $\\mathbf{h}$
shows the decoder mean $\\mathbb{E}[\\mathbf{x}\\mid\\mathbf{h}]$ at once, computed by
``vaecourse/js/src/mlp_decoder.js``. For ``latent_dim > 2`` there is one slider per latent dimension.
"""

from __future__ import annotations

import math

import numpy as np
import traitlets

from vaecourse.widgets.browser import BrowserDecoder, bundle, latent_dim_of
from vaecourse.widgets.common import DecodingWidget, check_images

#: The most latent dimensions :class:`LatentExplorer` shows as sliders.
MAX_SLIDERS = 16


class LatentExplorer(DecodingWidget):
    """Point at the latent plane, see the decoded image (decoder runs in the browser); book/latent_space.md.

    ``model`` is a trained MLP VAE (a :class:`vaecourse.models.VAEModel` with ``decoder.net``,
    ``decoder_mean``, ``data_shape``) with ``2 <= latent_dim <= MAX_SLIDERS``. The first ``n_points``
    test images are encoded and their means $\\boldsymbol\\mu(\\mathbf{x})$ (first two latent
    dimensions) drawn as the scatter, coloured by ``labels``; pointing at $\\mathbf{h}$ shows the
    decoder mean $\\mathbb{E}[\\mathbf{x}\\mid\\mathbf{h}]$. ``decoder`` is a :class:`BrowserDecoder` to
    share with other widgets of the same model (default: a new one from :func:`export_decoder`). The
    current latent point is the synced trait ``h``; set it from Python to move the point.

    Shapes: x (N, 1, H, W) or (N, H*W); labels (N,) integers or None; h a list of latent_dim floats.
    Raises ``ValueError`` for a model the widget cannot show or images and labels that do not fit it.
    """

    _esm = bundle("latent_explorer")
    h = traitlets.List(traitlets.Float()).tag(sync=True)
    label_names = traitlets.List(traitlets.Unicode()).tag(sync=True)
    follow_pointer = traitlets.Bool(True).tag(sync=True)

    def __init__(
        self,
        model,
        x,
        labels=None,
        *,
        decoder: BrowserDecoder | None = None,
        n_points: int = 2000,
        label_names=None,
        h=None,
        **kwargs,
    ):
        latent_dim = latent_dim_of(model)
        if latent_dim < 2:
            raise ValueError(
                f"model: LatentExplorer needs latent_dim >= 2 for its plane, got {latent_dim}; use "
                "Interpolation (any latent_dim) to walk a 1-D latent space"
            )
        if latent_dim > MAX_SLIDERS:
            raise ValueError(
                f"model: LatentExplorer shows at most {MAX_SLIDERS} latent dimensions as sliders, got "
                f"latent_dim={latent_dim}; train a smaller latent space or use Interpolation"
            )
        x = check_images(model, x)
        super().__init__(**kwargs)
        self._attach(model, decoder)
        self._scatter(x, labels, n_points)
        n_labels = int(np.frombuffer(self.labels, dtype=np.uint8).max()) + 1 if self.labels else 0
        self.label_names = list(label_names) if label_names is not None else [str(i) for i in range(n_labels)]
        self.h = list(h) if h is not None else [0.0] * latent_dim

    @traitlets.validate("h")
    def _valid_h(self, proposal):
        value = proposal["value"]
        expected = getattr(self, "latent_dim", len(value))
        if len(value) != expected or not all(math.isfinite(v) for v in value):
            raise traitlets.TraitError(f"h: expected {expected} finite floats, got {value!r}")
        return value
