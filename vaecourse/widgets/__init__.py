"""Widgets for exploring a VAE, live in JupyterLab and on the static website.

book/latent_space.md and book/ising.md. Five widgets, built on ``anywidget``, one module each:

- :class:`LatentExplorer` (``latent_explorer.py``): point at the latent plane, see the decoded image;
- :class:`Interpolation` (``interpolation.py``): decode the straight line between two test images' codes;
- :class:`PosteriorExplorer` (``posterior_explorer.py``): the true posterior $p(\\mathbf{h}\\mid\\mathbf{x})$
  on a grid that follows it, beside $Q(\\mathbf{h}\\mid\\mathbf{x})$, with $\\log p(\\mathbf{x})$, the
  ELBO and their gap (needs a live kernel to change the image);
- :class:`PosteriorPad` (``posterior_pad.py``): draw a digit, and the page computes Q, the true posterior
  on a local grid, $\\log p(\\mathbf{x})$, the ELBO and the IWAE bound;
- :class:`IsingLattice` (``ising_lattice.py``): an Ising lattice simulated in the page, encoded live.

All but :class:`PosteriorExplorer` run the model **in the browser** (``browser.py``: :func:`export_decoder`
and :func:`export_encoder` send the MLP weights as one buffer each, a :class:`BrowserDecoder` /
:class:`BrowserEncoder` shared by the widgets of one model; the front ends are ES modules in
``vaecourse/js/src/``, bundled by esbuild into ``vaecourse/js/bundles/``), so they work on the published
website, where no Python kernel runs. ``common.py`` holds the checks of the data handed to a widget and
:class:`~vaecourse.widgets.common.DecodingWidget`. Which models: :class:`vaecourse.models.VAE` (an MLP
decoder ``model.decoder.net`` of ``nn.Linear``, ``nn.ReLU``, ``nn.Tanh`` and a declared
``model.likelihood``); anything else is refused with a ``ValueError`` saying why, and the static figures
of :mod:`vaecourse.plotting` work for every model.

This package imports ``anywidget`` (and so ``ipywidgets``); ``import vaecourse`` does not import it.
"""

from vaecourse.widgets.browser import (
    MAX_DECODER_BYTES,
    MAX_ENCODER_BYTES,
    OUTPUT_MAPS,
    BrowserDecoder,
    BrowserEncoder,
    export_decoder,
    export_encoder,
    image_shape,
    mlp_decoder_layers,
    mlp_encoder_layers,
)
from vaecourse.widgets.interpolation import Interpolation
from vaecourse.widgets.ising_lattice import IsingLattice
from vaecourse.widgets.latent_explorer import MAX_SLIDERS, LatentExplorer
from vaecourse.widgets.posterior_explorer import PosteriorExplorer
from vaecourse.widgets.posterior_pad import PosteriorPad

__all__ = [
    "MAX_DECODER_BYTES",
    "MAX_ENCODER_BYTES",
    "MAX_SLIDERS",
    "OUTPUT_MAPS",
    "BrowserDecoder",
    "BrowserEncoder",
    "export_decoder",
    "export_encoder",
    "image_shape",
    "mlp_decoder_layers",
    "mlp_encoder_layers",
    "LatentExplorer",
    "Interpolation",
    "PosteriorExplorer",
    "PosteriorPad",
    "IsingLattice",
]
