"""spectra: the generating formula, the cache, standardisation, PCA and parameter recovery."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vaecourse import spectra as sp


def test_a_spectrum_is_continuum_plus_lines_at_the_shifted_wavelengths():
    config = sp.SpectraConfig(n=1, lines=(5000.0,), ratios=(1.0,))
    lam = np.array([6000.0, 5500.0])
    f = sp.spectrum(lam, [[2.0, -1.0, 0.1, 3.0, 10.0]], config)
    # at 6000 only the continuum (the line sits at 5500, 50 widths away); at 5500 continuum + line
    assert f[0, 0] == pytest.approx(2.0)
    assert f[0, 1] == pytest.approx(2.0 * 6000 / 5500 + 3.0)
    with pytest.raises(ValueError, match="5 columns"):
        sp.spectrum(lam, [[1.0, 2.0]], config)


def test_the_data_set_is_cached_and_its_noise_has_the_stated_level(tmp_path, monkeypatch):
    monkeypatch.setenv("VAECOURSE_CACHE", str(tmp_path))
    config = sp.SpectraConfig(n=300, n_pixels=40, noise=0.1, seed=3)
    first = sp.spectra_dataset(config)
    assert list(tmp_path.joinpath("spectra").glob("*.pt"))
    second = sp.spectra_dataset(config)
    torch.testing.assert_close(first.flux, second.flux)
    assert float((first.flux - first.clean).std()) == pytest.approx(0.1, rel=0.05)
    lows = torch.tensor([config.ranges[name][0] for name in sp.PARAMETERS])
    highs = torch.tensor([config.ranges[name][1] for name in sp.PARAMETERS])
    assert bool((first.params >= lows).all() and (first.params <= highs).all())


def test_bad_configurations_are_refused():
    with pytest.raises(ValueError, match="ranges"):
        sp.SpectraConfig(ranges={"amplitude": (1, 2)})
    with pytest.raises(ValueError, match="wave_min"):
        sp.SpectraConfig(wave_min=5000, wave_max=4000)


def test_standardise_and_undo_are_inverse():
    x = torch.randn(50, 7) * 3 + 2
    z, undo = sp.standardise(x, x)
    torch.testing.assert_close(z.mean(0), torch.zeros(7), atol=1e-5, rtol=0)
    torch.testing.assert_close(undo(z), x)
    np.testing.assert_allclose(undo(z.numpy()), x.numpy(), rtol=1e-5, atol=1e-5)


def test_pca_with_all_components_reconstructs_exactly_and_recovery_of_a_linear_parameter():
    rng = np.random.default_rng(0)
    params = rng.normal(size=(400, 2))
    x = params @ rng.normal(size=(2, 10))
    scores, rec = sp.pca_reconstruct(x, x, 2)
    np.testing.assert_allclose(rec, x, atol=1e-8)
    r2 = sp.recovery_r2(scores[:300], params[:300], scores[300:], params[300:], "linear")
    assert np.all(r2 > 0.999)
    with pytest.raises(ValueError, match="method"):
        sp.recovery_r2(scores, params, scores, params, "forest")
