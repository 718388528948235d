"""Widgets for exploring a VAE's latent space, live in JupyterLab and on the static website.

book/latent_space.md. Three widgets, built on ``anywidget``, one module each:

- :class:`LatentExplorer` (``latent_explorer.py``): point at the latent plane, see the decoded image;
- :class:`Interpolation` (``interpolation.py``): decode the straight line between two test images' codes;
- :class:`PosteriorExplorer` (``posterior_explorer.py``): the true posterior $p(\\mathbf{h}\\mid\\mathbf{x})$
  on a grid beside $Q(\\mathbf{h}\\mid\\mathbf{x})$, with $\\log p(\\mathbf{x})$, the ELBO and their gap
  (needs a live kernel to change the image).

The first two run the decoder **in the browser** (``_base.py``: :func:`export_decoder` sends the MLP
decoder's weights as one float32 buffer, a :class:`BrowserDecoder` shared by the widgets of one model, and
``vaecourse/js/mlp_decoder.js`` evaluates the network), so they work on the published website, where no
Python kernel runs; live in JupyterLab, moving the point also updates the ``h`` trait in Python. Which
models: :class:`vaecourse.models.VAE` (an MLP decoder ``model.decoder.net`` of ``nn.Linear``, ``nn.ReLU``,
``nn.Tanh`` and a declared ``model.likelihood``); anything else is refused with a ``ValueError`` saying
why, and the static figures of :mod:`vaecourse.plotting` work for every model.

This package imports ``anywidget`` (and so ``ipywidgets``); ``import vaecourse`` does not import it.
"""

from vaecourse.widgets._base import (
    MAX_DECODER_BYTES,
    OUTPUT_MAPS,
    BrowserDecoder,
    export_decoder,
    image_shape,
    mlp_decoder_layers,
)
from vaecourse.widgets.interpolation import Interpolation
from vaecourse.widgets.latent_explorer import MAX_SLIDERS, LatentExplorer
from vaecourse.widgets.posterior_explorer import PosteriorExplorer

__all__ = [
    "MAX_DECODER_BYTES",
    "MAX_SLIDERS",
    "OUTPUT_MAPS",
    "BrowserDecoder",
    "export_decoder",
    "image_shape",
    "mlp_decoder_layers",
    "LatentExplorer",
    "Interpolation",
    "PosteriorExplorer",
]
