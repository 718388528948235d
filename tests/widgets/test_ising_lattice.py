"""The Ising lattice widget on the kernel side (vaecourse.widgets.ising_lattice, book/ising.md): its latent
axis is the chapter's, and it refuses inputs it cannot show (the page is tested in
tests/browser/test_ising_lattice.py)."""

from __future__ import annotations

import numpy as np
import pytest

from tests.widgets.examples import lattice_model
from vaecourse import models
from vaecourse.widgets import ising_lattice


def test_axis_projection_is_the_chapters_latent_axis():
    from vaecourse.ising import vae_analysis

    rng = np.random.default_rng(1)
    for latent in (rng.normal(size=(50, 1)), rng.normal(size=(50, 2)) @ np.array([[2.0, 0.5], [0.1, 0.3]])):
        centre, w = ising_lattice.axis_projection(latent)
        np.testing.assert_allclose((latent - centre) @ w, vae_analysis.latent_axis(latent), atol=1e-12)


def test_bad_inputs_are_refused():
    model = lattice_model()
    with pytest.raises(ValueError, match="the same number"):
        ising_lattice.IsingLattice(model, np.ones(3), np.ones((4, 1)))
    with pytest.raises(ValueError, match="columns"):
        ising_lattice.IsingLattice(model, np.ones(4), np.ones((4, 2)))
    flat = models.VAE(data_dim=64, hidden=8, latent_dim=1)
    with pytest.raises(ValueError, match=r"data_shape \(1, L, L\)"):
        ising_lattice.IsingLattice(flat, np.ones(4), np.ones((4, 1)))
