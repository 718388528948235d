"""Tests of vaecourse.ising.critical_temperature and vae_analysis: the T_c estimator on curves with a
known transition, the statistics against NumPy and scikit-learn-free references, and the steps of the
Ising-VAE experiment in smoke mode."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.stats import norm

from vaecourse.ising import critical_temperature, vae_analysis

TC = 2.0 / np.log(1.0 + np.sqrt(2.0))  # Onsager, written out independently of the package

# A grid like the data set's: coarse far from T_c, dense around it.
GRID = np.concatenate([np.linspace(1.0, 1.9, 5), np.linspace(2.0, 2.6, 25), np.linspace(2.8, 3.5, 4)])


def _onsager_m(t):
    out = np.zeros_like(t)
    below = t < TC
    out[below] = (1.0 - np.sinh(2.0 / t[below]) ** -4) ** 0.125
    return out


def _noisy(curve, tc, n_per_t=40, noise=0.1, seed=0, grid=GRID):
    rng = np.random.default_rng(seed)
    t = np.repeat(grid, n_per_t)
    return t, curve(t, tc) + rng.normal(0.0, noise, t.size)


STEPS = {
    "falling tanh": lambda t, tc: 0.8 - 0.7 * np.tanh((t - tc) / 0.08),
    "rising logistic": lambda t, tc: 3.0 / (1.0 + np.exp(-(t - tc) / 0.05)),
    "wide tanh": lambda t, tc: 1.0 - np.tanh((t - tc) / 0.2),
}


@pytest.mark.parametrize("method", critical_temperature.TC_METHODS)
@pytest.mark.parametrize("name", sorted(STEPS))
@pytest.mark.parametrize("tc", [2.1, TC, 2.45])
def test_tc_estimator_recovers_a_symmetric_step_within_its_error_bar(name, tc, method):
    t, v = _noisy(STEPS[name], tc, seed=int(tc * 100))
    est = critical_temperature.bootstrap_tc(t, v, method=method, n_boot=60 if method == "tanh" else 200)
    assert est.error > 0
    assert abs(est.value - tc) < 3 * est.error + 0.005, (est, tc)
    assert est.error < 0.05  # and the error bar is informative, not huge


def test_tc_estimator_on_noiseless_step_is_exact_to_the_grid():
    t = GRID
    for tc in [2.15, 2.3, 2.42]:
        y = 1 - np.tanh((t - tc) / 0.1)
        assert abs(critical_temperature.tc_from_curve(t, y, "steepest") - tc) < 0.01
        assert abs(critical_temperature.tc_from_curve(t, y, "tanh") - tc) < 1e-6
        # Any order of the points, and a falling or rising curve, give the same answer.
        perm = np.random.default_rng(0).permutation(t.size)
        assert critical_temperature.tc_from_curve(t[perm], -y[perm]) == pytest.approx(
            critical_temperature.tc_from_curve(t, y)
        )


def test_steepest_change_of_onsager_magnetisation_is_at_tc_up_to_the_kernel_width():
    # M(T) has an infinite slope at T_c; the smoothing kernel (width b) biases the estimate by less
    # than b, always to the ordered side.
    t, v = _noisy(lambda t, tc: _onsager_m(t), TC, noise=0.05)
    est = critical_temperature.bootstrap_tc(t, v)
    bandwidth = 2 * np.median(np.diff(np.unique(t)))
    assert TC - bandwidth < est.value < TC + 3 * est.error


def test_bootstrap_error_matches_the_scatter_over_independent_data_sets():
    curve = STEPS["wide tanh"]
    estimates, errors = [], []
    for seed in range(25):
        t, v = _noisy(curve, TC, n_per_t=20, noise=0.3, seed=seed)
        est = critical_temperature.bootstrap_tc(t, v, n_boot=100, seed=seed)
        estimates.append(est.value)
        errors.append(est.error)
    spread = np.std(estimates, ddof=1)
    assert 0.5 < np.mean(errors) / spread < 2.0, (np.mean(errors), spread)


def test_chain_bootstrap_is_wider_when_configurations_within_a_chain_are_correlated():
    rng = np.random.default_rng(3)
    chains_per_t, per_chain = 5, 20
    t = np.repeat(GRID, chains_per_t * per_chain)
    chain = np.repeat(np.arange(GRID.size * chains_per_t), per_chain)
    chain_offset = rng.normal(0, 0.3, chain.max() + 1)[chain]  # shared by a whole chain
    v = STEPS["falling tanh"](t, TC) + chain_offset + rng.normal(0, 0.02, t.size)
    naive = critical_temperature.bootstrap_tc(t, v, seed=1)
    by_chain = critical_temperature.bootstrap_tc(t, v, groups=chain, seed=1)
    assert naive.value == by_chain.value
    assert by_chain.error > 2 * naive.error


def _brute_force_steepest(t, y, bandwidth, n=100_001):
    """argmax over a fine grid of |slope| of the piecewise-linear interpolant smoothed by N(0, b^2)."""
    s = np.linspace(t[0] + bandwidth, t[-1] - bandwidth, n)[:, None]  # (n, 1)
    slopes = np.diff(y) / np.diff(t)  # (K-1,)
    weight = norm.cdf((t[1:] - s) / bandwidth) - norm.cdf((t[:-1] - s) / bandwidth)  # (n, K-1)
    smoothed = (weight * slopes).sum(1) / weight.sum(1)
    return float(s[np.argmax(np.abs(smoothed)), 0])


@pytest.mark.parametrize("tc", [2.137, 2.2691853, 2.3113, 2.4419])
def test_tc_peak_refinement_agrees_with_a_brute_force_argmax(tc):
    """The refined peak of the steepest-change estimator, not the grid point, to 1e-4."""
    y = 1.0 - np.tanh((GRID - tc) / 0.1)
    bandwidth = 0.12
    expected = _brute_force_steepest(GRID, y, bandwidth)
    assert abs(critical_temperature.tc_from_curve(GRID, y, "steepest", bandwidth=bandwidth) - expected) < 1e-4


def test_tc_estimator_rejects_bad_input():
    with pytest.raises(ValueError, match="method"):
        critical_temperature.tc_from_curve(GRID, GRID, method="middle")
    with pytest.raises(ValueError, match="repeated"):
        critical_temperature.tc_from_curve(np.repeat(GRID, 2), np.repeat(GRID, 2))
    with pytest.raises(ValueError, match="at least 5"):
        critical_temperature.tc_from_curve(GRID[:3], GRID[:3])
    with pytest.raises(ValueError, match="same length"):
        critical_temperature.bootstrap_tc(GRID, GRID[:-1])
    with pytest.raises(ValueError, match="finite"):
        critical_temperature.tc_from_curve(GRID, np.full_like(GRID, np.nan))
    with pytest.raises(ValueError, match="n_boot"):
        critical_temperature.bootstrap_tc(GRID, GRID, n_boot=1)
    with pytest.raises(ValueError, match="bandwidth"):
        critical_temperature.tc_from_curve(GRID, GRID, bandwidth=0.0)


def test_pearson_matches_numpy_and_rejects_constant_input():
    rng = np.random.default_rng(0)
    a = rng.normal(size=500)
    b = 0.3 * a + rng.normal(size=500)
    assert vae_analysis.pearson(a, b) == pytest.approx(np.corrcoef(a, b)[0, 1], abs=1e-12)
    assert vae_analysis.pearson(a, -2 * a + 1) == pytest.approx(-1.0)
    with pytest.raises(ValueError, match="constant"):
        vae_analysis.pearson(a, np.ones_like(a))
    with pytest.raises(ValueError, match="same length"):
        vae_analysis.pearson(a, b[:-1])


def test_temperature_average_matches_a_loop():
    rng = np.random.default_rng(1)
    t = rng.choice([1.5, 2.0, 2.5, 3.0], size=200)
    v = rng.normal(size=200)
    grid, mean, sem = critical_temperature.temperature_average(t, v)
    assert list(grid) == [1.5, 2.0, 2.5, 3.0]
    for k, tk in enumerate(grid):
        vals = v[t == tk]
        assert mean[k] == pytest.approx(vals.mean())
        assert sem[k] == pytest.approx(vals.std(ddof=1) / np.sqrt(vals.size))


def test_spins_to_pixels_and_pca_see_the_magnetisation():
    rng = np.random.default_rng(2)
    m_true = rng.uniform(-1, 1, size=300)  # each configuration has its own up-probability
    spins = np.where(rng.random((300, 8, 8)) < (1 + m_true[:, None, None]) / 2, 1, -1)
    x = vae_analysis.spins_to_pixels(spins)
    assert x.shape == (300, 64) and x.dtype == torch.float32
    assert torch.equal(x, torch.as_tensor((spins.reshape(300, -1) + 1) // 2, dtype=torch.float32))
    scores = vae_analysis.pca_scores(spins)
    assert scores.shape == (300, 1)
    assert abs(vae_analysis.pearson(scores[:, 0], spins.mean(axis=(1, 2)))) > 0.99
    with pytest.raises(ValueError, match="-1 and \\+1"):
        vae_analysis.spins_to_pixels(np.zeros((2, 4, 4)))
    with pytest.raises(ValueError, match="n_components"):
        vae_analysis.pca_scores(spins, n_components=0)


# --------------------------------------------------------------------------- trained-model helpers


def _tiny_vae(latent_dim, data_shape=(1, 6, 6)):
    from vaecourse.models import ModelConfig, build_model

    torch.manual_seed(0)
    return build_model(ModelConfig("mlp", latent_dim=latent_dim, hidden=16, data_shape=data_shape))


def test_latent_means_and_reconstruction_loss_match_direct_torch_computations():
    model = _tiny_vae(2)
    spins = np.where(np.random.default_rng(0).random((50, 6, 6)) < 0.5, 1, -1)
    x = vae_analysis.spins_to_pixels(spins)
    mu = vae_analysis.latent_means(model, x, batch_size=7)  # several batches
    with torch.no_grad():
        a = torch.relu(model.encoder.linear1(x))
        a = torch.relu(model.encoder.linear2(a))
        expected_mu = model.encoder.enc_mu(a)
        logits = model.decoder.net(expected_mu)
        expected_loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(dim=1)
    np.testing.assert_allclose(mu, expected_mu.double().numpy(), rtol=1e-5, atol=1e-6)
    loss = vae_analysis.reconstruction_loss(model, x, batch_size=7)
    np.testing.assert_allclose(loss, expected_loss.double().numpy(), rtol=1e-5)


def test_latent_axis_finds_the_direction_of_largest_spread():
    rng = np.random.default_rng(0)
    a = rng.normal(size=400)
    direction = np.array([0.6, -0.8])
    latent = np.outer(a, direction) + 0.01 * rng.normal(size=(400, 2)) + np.array([3.0, 1.0])
    axis = vae_analysis.latent_axis(latent)
    assert abs(vae_analysis.pearson(axis, a)) > 0.999
    assert axis[np.abs(axis).argmax()] > 0  # the sign convention
    np.testing.assert_array_equal(vae_analysis.latent_axis(a[:, None]), a if a[np.abs(a).argmax()] > 0 else -a)


def _ising_like_latent(offset, seed=0):
    """Temperatures, magnetisations and a latent h = tanh(2m) + offset: odd in m up to the offset."""
    rng = np.random.default_rng(seed)
    t = np.repeat(GRID, 60)
    scale = np.where(t < TC, _onsager_m(np.maximum(t, 1.0)), 0.0)  # ordered: +-M(T), disordered: 0
    m = rng.choice([-1.0, 1.0], t.size) * scale + rng.normal(0, 0.05 + 0.1 * (t > 2.2), t.size)
    return t, m, np.tanh(2 * m) + offset + 0.01 * rng.normal(size=t.size)


def test_centre_latent_moves_the_disordered_phase_to_zero_and_makes_h_odd_in_m():
    t, m, h = _ising_like_latent(offset=-0.4)
    hot = t >= np.unique(t)[-3]
    centred = vae_analysis.centre_latent(h, t)
    np.testing.assert_allclose(centred, h - np.median(h[hot]))  # the definition, by another route
    assert abs(np.median(centred[hot])) < 1e-12
    # the offset latent is far from odd in m, the centred one close: |h| even in m, as |m| is
    assert vae_analysis.odd_asymmetry(h, m) > 0.3
    assert vae_analysis.odd_asymmetry(centred, m) < 0.1
    assert vae_analysis.odd_asymmetry(np.tanh(2 * m), m) < 0.05
    with pytest.raises(ValueError, match="n_hottest"):
        vae_analysis.centre_latent(h, t, n_hottest=0)
    with pytest.raises(ValueError, match="one entry"):
        vae_analysis.centre_latent(h[:-1], t)


def test_odd_asymmetry_of_an_offset_is_the_offset_over_the_half_range():
    m = np.linspace(-1, 1, 2001)
    m = m[m != 0]
    # the half range is the median |m| of the top bin of |m| <= 0.8, that is 0.75
    assert vae_analysis.odd_asymmetry(m + 0.1, m) == pytest.approx(0.1 / 0.75, rel=0.01)
    # beyond m_max the latent may do anything
    assert vae_analysis.odd_asymmetry(np.where(m > 0.9, 5.0, m), m) == pytest.approx(0.0, abs=2e-3)
    assert vae_analysis.odd_asymmetry(-3 * m, m) == pytest.approx(0.0, abs=2e-3)
    with pytest.raises(ValueError, match="both signs"):
        vae_analysis.odd_asymmetry(np.abs(m), np.abs(m))


def test_decode_along_axis_returns_mean_spins_of_the_decoder():
    model = _tiny_vae(1)
    values = np.linspace(-2, 2, 5)
    decoded = vae_analysis.decode_along_axis(model, values)
    with torch.no_grad():
        p = torch.sigmoid(model.decoder.net(torch.tensor(values, dtype=torch.float32)[:, None]))
    assert decoded.shape == (5, 1, 6, 6)
    np.testing.assert_allclose(decoded.reshape(5, -1), 2 * p.double().numpy() - 1, atol=1e-6)
    with pytest.raises(ValueError, match="latent"):
        vae_analysis.decode_along_axis(_tiny_vae(2), values)
    # values are points of latent_axis(latent): where that axis flips the sign, so does h
    latent = np.array([[-3.0], [1.0], [0.5]])  # the largest |mu| is negative: the axis is -mu
    np.testing.assert_array_equal(vae_analysis.latent_axis(latent), -latent[:, 0])
    np.testing.assert_allclose(vae_analysis.decode_along_axis(model, values, latent), decoded[::-1], atol=1e-6)


def test_phase_clusters_finds_two_ordered_and_one_disordered_blob():
    rng = np.random.default_rng(4)
    centres = np.array([[-3.0, 0.5], [0.0, 0.0], [3.0, -0.5]])
    truth = rng.integers(0, 3, size=300)
    latent = centres[truth] + 0.3 * rng.normal(size=(300, 2))
    labels = vae_analysis.phase_clusters(latent)
    # Labels are ordered along the latent axis, whose sign is fixed by the most extreme point.
    assert (labels == truth).all() or (labels == 2 - truth).all()


# --------------------------------------------------------------------------- the steps of the chapter


def test_split_is_a_random_partition_or_the_held_out_temperatures():
    t = np.repeat([1.0, 2.0, 3.0], 8)
    train, test = vae_analysis.split_configurations(t, test_fraction=0.25, seed=3)
    assert test.size == 6 and train.size == 18
    np.testing.assert_array_equal(np.sort(np.concatenate([train, test])), np.arange(24))
    again = vae_analysis.split_configurations(t, test_fraction=0.25, seed=3)
    np.testing.assert_array_equal(again[1], test)  # the seed fixes the split
    train, test = vae_analysis.split_configurations(t, held_out_temperatures=[2.0])
    np.testing.assert_array_equal(test, np.arange(8, 16))
    np.testing.assert_array_equal(train, np.r_[0:8, 16:24])
    with pytest.raises(ValueError, match="test_fraction"):
        vae_analysis.split_configurations(t, test_fraction=1.0)
    with pytest.raises(ValueError, match="not in the data"):
        vae_analysis.split_configurations(t, held_out_temperatures=[2.5])
    with pytest.raises(ValueError, match="every configuration"):
        vae_analysis.split_configurations(t, held_out_temperatures=[1.0, 2.0, 3.0])


def test_pca_fitted_on_one_set_scores_another_as_sklearn_does():
    from sklearn.decomposition import PCA

    rng = np.random.default_rng(5)
    a, b = rng.normal(size=(40, 9)).astype(np.float32), rng.normal(size=(15, 9)).astype(np.float32)
    expected = PCA(n_components=2, random_state=0).fit(a).transform(b)
    np.testing.assert_array_equal(vae_analysis.pca_scores(b, 2, fit_on=a), expected)
    with pytest.raises(ValueError, match="n_components"):
        vae_analysis.pca_scores(b, n_components=10, fit_on=a)


def test_decoding_along_the_axis_of_a_2d_latent_uses_the_direction_of_latent_axis():
    model = _tiny_vae(2)
    rng = np.random.default_rng(1)
    latent = np.outer(rng.normal(size=200), [0.8, 0.6]) + 0.05 * rng.normal(size=(200, 2))
    centre, w = vae_analysis.latent_direction(latent)
    np.testing.assert_allclose(vae_analysis.latent_axis(latent), (latent - centre) @ w, atol=1e-12)
    values = np.array([-1.0, 0.5])
    decoded = vae_analysis.decode_along_axis(model, values, latent)
    h = torch.tensor(latent.mean(axis=0) + values[:, None] * w, dtype=torch.float32)  # (2, 2)
    with torch.no_grad():
        expected = 2 * model.decoder_mean(h).double().numpy() - 1
    np.testing.assert_allclose(decoded, expected, atol=1e-6)


def test_steps_run_in_smoke_mode_and_training_reuses_the_cached_model(monkeypatch, tmp_path):
    from vaecourse import ising
    from vaecourse.train import TrainConfig

    monkeypatch.setenv("VAECOURSE_CACHE", str(tmp_path))  # an empty cache: the first call trains
    data = ising.ising_dataset(**{**ising.default_dataset_config(), "L": 8, "n_per_T": 30})
    t = data.temperature.numpy()
    train, test = vae_analysis.split_configurations(t)
    x = vae_analysis.spins_to_pixels(data.spins)  # (N, 64)
    options = dict(
        latent_dim=1, hidden=32, train_config=TrainConfig(epochs=2, batch_size=32, binarize="grey"), progress=False
    )
    trained = vae_analysis.train_vae(x[train], x[test], **options)
    assert not trained.from_cache and len(trained.history) == 2
    latent = vae_analysis.latent_means(trained.model, x[test])
    axis = vae_analysis.latent_axis(latent)
    loss = vae_analysis.reconstruction_loss(trained.model, x[test])
    assert latent.shape == (test.size, 1) and axis.shape == loss.shape == (test.size,)
    assert test.size == round(0.25 * t.size)
    assert (loss > 0).all()
    m = data.magnetisation.numpy()[test]
    pca = vae_analysis.pca_scores(x[test], fit_on=x[train])[:, 0]
    assert 0.9 < abs(vae_analysis.pearson(pca, m)) <= 1.0  # PCA's first component is the magnetisation
    tc = critical_temperature.bootstrap_tc(t[test], np.abs(axis), groups=data.chain.numpy()[test], n_boot=50)
    assert t.min() <= tc.value <= t.max() and np.isfinite(tc.error) and tc.error >= 0

    again = vae_analysis.train_vae(x[train], x[test], **options)
    assert again.from_cache  # the cached model, not a new one ...
    np.testing.assert_array_equal(vae_analysis.latent_means(again.model, x[test]), latent)  # ... same latents
    with pytest.raises(ValueError, match="L\\*L"):
        vae_analysis.train_vae(x[train][:, :60], **options)
