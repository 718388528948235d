"""ising.conditional and ising.finite_size: shapes, packing, generation, observables, fits, bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vaecourse.ising import conditional, exact, finite_size, sampler


def test_pack_puts_pixels_then_the_scaled_temperature():
    spins = torch.tensor([[[1, -1], [-1, 1]]], dtype=torch.int8)
    rows = conditional.pack(spins, [2.0])
    assert rows.tolist() == [[1.0, 0.0, 0.0, 1.0, 0.5]]
    with pytest.raises(ValueError, match="temperatures must lie"):
        conditional.pack(spins, [5.0])
    with pytest.raises(ValueError, match="one temperature per configuration"):
        conditional.pack(spins, [1.0, 2.0])


def test_log_likelihood_broadcasts_a_shared_latent_grid_over_the_batch():
    model = conditional.ConditionalVAE(conditional.ConditionalConfig(L=4, latent_dim=2, hidden=8))
    rows = conditional.pack(torch.ones(3, 4, 4), [1.0, 2.0, 3.0])
    h = torch.randn(5, 2)
    shared = model.log_likelihood(rows, h[:, None, :])  # (5, 3)
    one_by_one = torch.stack([model.log_likelihood(rows, h[i].expand(3, 2)) for i in range(5)])
    torch.testing.assert_close(shared, one_by_one)


def test_generate_draws_spins_and_mean_spins_at_each_temperature():
    model = conditional.ConditionalVAE(conditional.ConditionalConfig(L=4, decoder="conv", channels=2))
    spins, t = conditional.generate(model, [1.5, 3.0], 7, seed=0)
    assert spins.shape == (14, 4, 4) and set(spins.unique().tolist()) <= {-1, 1}
    assert t.tolist() == [1.5] * 7 + [3.0] * 7
    means, _ = conditional.generate(model, [1.5], 3, mean_only=True)
    assert means.dtype == torch.float32 and bool((means.abs() <= 1).all())
    with pytest.raises(ValueError):
        conditional.generate(model, [4.5], 3)


def test_correlation_function_of_an_ordered_and_a_striped_lattice():
    ordered = torch.ones(1, 6, 6)
    assert exact.correlation_function(ordered).tolist() == [[1.0, 1.0, 1.0, 1.0]]
    stripes = torch.ones(1, 6, 6)
    stripes[:, :, 1::2] = -1  # columns alternate: horizontal neighbours disagree, vertical ones agree
    assert exact.correlation_function(stripes)[0].tolist() == [1.0, 0.0, 1.0, 0.0]
    with pytest.raises(ValueError, match="r_max"):
        exact.correlation_function(ordered, r_max=4)


def test_exact_enumeration_of_the_2x2_lattice():
    # 2x2 periodic: each bond counted twice; all-up has E = -8, so at low T u -> -2 and |m| -> 1
    cold = exact.exact_enumeration(2, [0.05])
    assert cold["u"][0] == pytest.approx(-2.0) and cold["abs_m"][0] == pytest.approx(1.0)
    hot = exact.exact_enumeration(2, [1e6])
    assert hot["u"][0] == pytest.approx(0.0, abs=1e-4)
    with pytest.raises(ValueError, match="enumeration"):
        exact.exact_enumeration(6, [1.0])


def test_train_conditional_caches_its_weights(tmp_path, monkeypatch):
    monkeypatch.setenv("VAECOURSE_CACHE", str(tmp_path))
    from vaecourse.train import TrainConfig

    data = sampler.simulate(4, [1.5, 3.0], n_chains=4, n_samples=4, burn_in=2, device="cpu")
    rows = conditional.pack(data.spins, data.temperature)
    config = conditional.ConditionalConfig(L=4, hidden=8)
    first, elbos = conditional.train_conditional(config, rows, TrainConfig(epochs=2, batch_size=8, binarize="grey"))
    second, _ = conditional.train_conditional(config, rows, TrainConfig(epochs=2, batch_size=8, binarize="grey"))
    assert len(elbos) == 2
    for a, b in zip(first.state_dict().values(), second.state_dict().values()):
        torch.testing.assert_close(a, b)
    with pytest.raises(ValueError, match="rows must be"):
        conditional.train_conditional(conditional.ConditionalConfig(L=6), rows)


def test_extrapolate_weights_points_and_reports_chi2():
    sizes = np.array([8, 16, 32])
    fit = finite_size.extrapolate(sizes, 2.27 + 1.0 / sizes + np.array([0.01, -0.01, 0.0]), [0.01, 0.01, 0.01])
    assert fit.dof == 1 and fit.chi2 > 0 and abs(fit.tc - 2.27) < 0.03
    assert fit.at(16) == pytest.approx(fit.tc + fit.a / 16)
    with pytest.raises(ValueError, match="errors must be positive"):
        finite_size.extrapolate(sizes, sizes, [0.0, 1.0, 1.0])


def test_binder_crossing_refuses_different_temperature_grids():
    a = sampler.simulate(4, np.linspace(2.0, 2.6, 5), n_chains=3, n_samples=2, burn_in=2, device="cpu")
    b = sampler.simulate(6, np.linspace(2.0, 2.7, 5), n_chains=3, n_samples=2, burn_in=2, device="cpu")
    with pytest.raises(ValueError, match="share their temperatures"):
        finite_size.binder_crossing(a, b)
    with pytest.raises(ValueError, match="even"):
        finite_size.fss_dataset_config(5)


def test_vae_tc_measures_the_latent_from_the_disordered_phase(monkeypatch):
    """finite_size.vae_tc takes <|h|> of the centred latent: an offset latent gives the estimate of the
    latent with the hottest configurations' median subtracted, not that of the raw one."""
    from types import SimpleNamespace

    from vaecourse.ising import critical_temperature, vae_analysis

    rng = np.random.default_rng(0)
    grid = np.linspace(2.0, 2.6, 13)
    t = np.repeat(grid, 80)
    chain = np.repeat(np.arange(t.size // 8), 8)  # chains of 8 configurations
    sign = np.repeat(rng.choice([-1.0, 1.0], t.size // 8), 8)
    m = sign * 0.8 / (1 + np.exp((t - 2.3) / 0.04)) + rng.normal(0, 0.05, t.size)
    spins = torch.ones(t.size, 4, 4, dtype=torch.int8)
    data = SimpleNamespace(
        temperature=torch.as_tensor(t, dtype=torch.float32),
        magnetisation=torch.as_tensor(m),
        chain=torch.as_tensor(chain),
        spins=spins,
    )
    offset_latent = {"h": None}

    def fake_latent_means(model, x):
        rows = x.shape[0]
        offset_latent["h"] = np.tanh(3 * m_test[:rows]) + 0.5  # odd in m, offset by 0.5
        return offset_latent["h"][:, None]

    train, test = vae_analysis.split_configurations(t, test_fraction=0.25, seed=0)
    m_test = m[test]
    monkeypatch.setattr(vae_analysis, "train_vae", lambda *a, **k: SimpleNamespace(model=None))
    monkeypatch.setattr(vae_analysis, "latent_means", fake_latent_means)
    monkeypatch.setattr(vae_analysis, "reconstruction_loss", lambda model, x: np.abs(m_test[: x.shape[0]]))
    result = finite_size.vae_tc(data, n_boot=20)
    h = offset_latent["h"] if offset_latent["h"][np.abs(offset_latent["h"]).argmax()] >= 0 else -offset_latent["h"]
    hot = t[test] >= grid[-3]
    expected = critical_temperature.bootstrap_tc(t[test], np.abs(h - np.median(h[hot])), groups=chain[test], n_boot=20)
    raw = critical_temperature.bootstrap_tc(t[test], np.abs(h), groups=chain[test], n_boot=20)
    assert result["latent"].value == pytest.approx(expected.value, abs=1e-5)
    assert abs(raw.value - expected.value) > 0.005  # the offset matters: the test can tell the two apart
