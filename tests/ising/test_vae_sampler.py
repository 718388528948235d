"""The exact samplers with a VAE proposal (vaecourse.ising.vae_sampler) against independent routes.

The pair weight against torch.distributions, the samplers against exact enumeration of the 4 x 4 lattice,
the chi-square test under its null and against a wrong sampler, Kaufman's energy against enumeration and
Onsager, the effective sample size and the autocorrelation time against closed forms. The models here are
small and untrained or trained for seconds: exactness must not depend on the quality of the proposal.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch.distributions import Bernoulli

from vaecourse.ising import conditional, exact, vae_sampler


@pytest.fixture(scope="module")
def model():
    """A conditional VAE of 4 x 4 lattices with random weights (a poor but valid proposal)."""
    with torch.random.fork_rng():
        torch.manual_seed(0)
        return conditional.ConditionalVAE(conditional.ConditionalConfig(L=4, latent_dim=2, hidden=16)).eval()


@pytest.fixture(scope="module")
def trained():
    """A conditional VAE of 4 x 4 lattices trained for seconds: a rough proposal, good enough for short runs."""
    from vaecourse.ising import sampler
    from vaecourse.train import TrainConfig

    data = sampler.simulate(4, [2.5, 3.0, 3.5], n_chains=64, n_samples=4, burn_in=20, thin=2, seed=0, device="cpu")
    rows = conditional.pack(data.spins, data.temperature)
    config = TrainConfig(epochs=15, batch_size=32, binarize="grey", seed=0, device="cpu")
    model, _ = conditional.train_conditional(
        conditional.ConditionalConfig(L=4, latent_dim=2, hidden=32), rows, config, use_cache=False, progress=False
    )
    return model


def _spins(n, L=4, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return torch.where(torch.rand(n, L, L, generator=gen) < 0.5, 1.0, -1.0)


# ---------------------------------------------------------------------------------------------------
# the weight and the moves
# ---------------------------------------------------------------------------------------------------


def test_log_weight_is_boltzmann_times_encoder_over_prior_times_decoder(model):
    spins, T = _spins(6), 2.5
    h = torch.randn(6, 2, generator=torch.Generator().manual_seed(1))
    t_column = torch.full((6,), T / conditional.T_SCALE)
    rows = torch.cat([(spins.reshape(6, -1) + 1) / 2, t_column[:, None]], 1)
    with torch.no_grad():
        log_q = model.encode(rows).log_prob(h).sum(-1)
        log_prior = model.prior_at(t_column).log_prob(h).sum(-1)
        log_lik = Bernoulli(logits=model.logits(h, t_column)).log_prob(rows[:, :-1]).sum(-1)
    # the total energy, bond by bond
    s = spins.numpy()
    energy = -(s * (np.roll(s, -1, axis=1) + np.roll(s, -1, axis=2))).sum(axis=(1, 2))
    expected = -energy / T + (log_q - log_prior - log_lik).double().numpy()
    np.testing.assert_allclose(vae_sampler.log_weight(model, spins, h, T).numpy(), expected, rtol=1e-5, atol=1e-4)


def test_proposals_are_spin_configurations_with_finite_weights(model):
    draws = vae_sampler.propose(model, 2.0, 50, torch.Generator().manual_seed(0))
    assert draws.spins.shape == (50, 4, 4) and draws.h.shape == (50, 2) and draws.log_w.shape == (50,)
    assert set(draws.spins.unique().tolist()) == {-1.0, 1.0}
    assert torch.isfinite(draws.log_w).all() and draws.log_w.dtype == torch.float64
    again = vae_sampler.propose(model, 2.0, 50, torch.Generator().manual_seed(0))
    assert torch.equal(draws.spins, again.spins), "a seeded generator must make the same proposals"


def test_a_proposal_replaces_a_state_of_zero_weight_and_never_one_of_infinite_weight(model):
    spins = _spins(40)
    h = torch.zeros(40, 2)
    for log_w, accepted in [(-math.inf, True), (math.inf, False)]:
        state = vae_sampler.Proposal(spins, h, torch.full((40,), log_w, dtype=torch.float64))
        new, accept = vae_sampler.independence_step(model, state, 2.5, torch.Generator().manual_seed(0))
        assert bool(accept.all()) is accepted and bool(accept.any()) is accepted
        assert torch.equal(new.spins, spins) is not accepted


def test_a_fresh_latent_keeps_the_configuration_and_reweights_it(model):
    spins = _spins(8)
    state = vae_sampler.refresh_latent(model, spins, 3.0, torch.Generator().manual_seed(2))
    assert torch.equal(state.spins, spins)
    torch.testing.assert_close(state.log_w, vae_sampler.log_weight(model, spins, state.h, 3.0))


def test_run_chains_refuses_what_it_cannot_run(model):
    with pytest.raises(ValueError, match="kernel must be one of"):
        vae_sampler.run_chains("gibbs", 4, 2.0, 2, 2)
    with pytest.raises(ValueError, match="needs a conditional VAE of 4x4"):
        vae_sampler.run_chains("vae", 4, 2.0, 2, 2)
    with pytest.raises(ValueError, match="needs a conditional VAE of 8x8"):
        vae_sampler.run_chains("mixed", 8, 2.0, 2, 2, model=model)
    with pytest.raises(ValueError, match="n_steps"):
        vae_sampler.run_chains("metropolis", 4, 2.0, 2, 0)


# ---------------------------------------------------------------------------------------------------
# exactness on the 4 x 4 lattice
# ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kernel", ["vae", "mixed"])
def test_both_vae_kernels_sample_the_boltzmann_distribution_with_a_rough_proposal(trained, kernel):
    T = 3.0
    run = vae_sampler.run_chains(kernel, 4, T, 1500, 10, burn_in=60, model=trained, seed=3)
    reference = exact.exact_enumeration(4, [T])
    for series, truth in [(run.abs_m, reference["abs_m"][0]), (run.energy, reference["u"][0])]:
        per_chain = series.mean(1)
        se = per_chain.std() / math.sqrt(len(per_chain))
        assert abs(per_chain.mean() - truth) < 5 * se, (kernel, per_chain.mean(), truth, se)
        assert se < 0.02, "the error bar is too wide for the comparison to mean anything"
    assert 0 < run.acceptance < 1


def test_importance_sampling_with_a_rough_proposal_is_exact(trained):
    T = 3.0
    draws = vae_sampler.propose(trained, T, 40000, torch.Generator().manual_seed(4))
    mean, se, ess = vae_sampler.importance_estimate(draws.log_w, exact.energy_per_spin(draws.spins))
    truth = exact.exact_enumeration(4, [T])["u"][0]
    assert abs(mean - truth) < 5 * se and se < 0.05 and 1 < ess < 40000


def test_the_chi_square_test_passes_exact_draws_and_fails_the_uncorrected_proposal(trained):
    T = 3.0
    p = vae_sampler.boltzmann_probabilities(4, T)
    rng = np.random.default_rng(0)
    p_values = [vae_sampler.goodness_of_fit(rng.multinomial(5000, p), p)["p_value"] for _ in range(200)]
    assert 0.01 <= np.mean(np.array(p_values) < 0.05) <= 0.1, "p-values of exact draws are not uniform"
    raw = vae_sampler.propose(trained, T, 5000, torch.Generator().manual_seed(5))
    counts = np.bincount(vae_sampler.state_index(raw.spins), minlength=2**16)
    assert vae_sampler.goodness_of_fit(counts, p)["p_value"] < 1e-6


def test_goodness_of_fit_pools_rare_states_into_cells_of_at_least_the_minimum():
    p = np.random.default_rng(1).dirichlet(np.full(300, 0.3))
    counts = np.random.default_rng(2).multinomial(1000, p)
    result = vae_sampler.goodness_of_fit(counts, p, min_expected=5.0)
    assert result["n"] == 1000 and result["dof"] == result["cells"] - 1
    assert result["single_states"] == int((1000 * p >= 5).sum())
    assert result["cells"] <= 1000 / 5 + 1
    # a hand computation with no pooling: every state expected at least once
    flat = np.full(10, 0.1)
    observed = np.array([12, 8, 10, 10, 9, 11, 10, 10, 13, 7])
    direct = ((observed - 10) ** 2 / 10).sum()
    assert vae_sampler.goodness_of_fit(observed, flat, min_expected=5.0)["chi2"] == pytest.approx(direct)


def test_state_index_numbers_the_states_as_the_enumeration_does():
    L = 4
    n = np.arange(2**16)
    states = torch.tensor(((n[:, None] >> np.arange(16)) & 1) * 2 - 1, dtype=torch.float32).reshape(-1, L, L)
    assert torch.equal(vae_sampler.state_index(states), torch.arange(2**16))
    for T in (1.5, 3.0):
        p = vae_sampler.boltzmann_probabilities(L, T)
        reference = exact.exact_enumeration(L, [T])
        assert p.sum() == pytest.approx(1.0)
        assert p @ exact.energy_per_spin(states).double().numpy() == pytest.approx(reference["u"][0], abs=1e-6)
        assert p @ exact.magnetisation(states).abs().double().numpy() == pytest.approx(reference["abs_m"][0], abs=1e-6)
    with pytest.raises(ValueError, match="at most 62 spins"):
        vae_sampler.state_index(torch.ones(1, 8, 8))
    with pytest.raises(ValueError, match="2 <= L <= 4"):
        vae_sampler.boltzmann_probabilities(5, 2.0)


# ---------------------------------------------------------------------------------------------------
# Kaufman, ESS, tau
# ---------------------------------------------------------------------------------------------------


def test_kaufman_energy_is_the_enumerated_energy_at_every_temperature_including_t_c():
    temps = [1.0, 2.0, exact.T_C, 2.5, 4.0]
    np.testing.assert_allclose(
        vae_sampler.kaufman_energy(4, temps), exact.exact_enumeration(4, temps)["u"], rtol=0, atol=1e-9
    )


def test_kaufman_energy_tends_to_onsager_and_differs_from_it_at_t_c():
    np.testing.assert_allclose(vae_sampler.kaufman_energy(128, [1.2, 3.5]), exact.onsager_energy(np.array([1.2, 3.5])))
    u_16, u_64 = vae_sampler.kaufman_energy(16, exact.T_C)[0], vae_sampler.kaufman_energy(64, exact.T_C)[0]
    u_inf = float(exact.onsager_energy(exact.T_C))
    assert abs(u_16 - u_inf) > 0.02 and abs(u_64 - u_inf) < abs(u_16 - u_inf) / 2, "the finite-size shift at T_c"


def test_effective_sample_size_limits_and_scale_invariance():
    assert vae_sampler.effective_sample_size(torch.zeros(50)) == pytest.approx(50)
    assert vae_sampler.effective_sample_size(torch.tensor([0.0, -50.0, -60.0])) == pytest.approx(1.0, abs=1e-12)
    log_w = torch.randn(100, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    assert vae_sampler.effective_sample_size(log_w + 1000) == pytest.approx(vae_sampler.effective_sample_size(log_w))
    w = log_w.exp()
    assert vae_sampler.effective_sample_size(log_w) == pytest.approx(float(w.sum() ** 2 / (w**2).sum()))


def test_importance_estimate_with_equal_weights_is_the_plain_mean():
    values = torch.randn(400, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    mean, se, ess = vae_sampler.importance_estimate(torch.zeros(400), values)
    assert mean == pytest.approx(float(values.mean()))
    assert se == pytest.approx(float(values.std(unbiased=False)) / 20)
    assert ess == pytest.approx(400)


def test_autocorrelation_time_of_independent_and_of_frozen_series():
    noise = np.random.default_rng(0).normal(size=(20, 2000))
    assert vae_sampler.integrated_autocorrelation_time(noise) == pytest.approx(1.0, abs=0.1)
    assert vae_sampler.integrated_autocorrelation_time(np.ones((3, 50))) == math.inf
    # repeating every value k times makes tau about k (a chain that accepts 1 in k proposals)
    blocky = np.repeat(noise[:, :500], 4, axis=1)
    assert vae_sampler.integrated_autocorrelation_time(blocky) == pytest.approx(4.0, rel=0.15)
    with pytest.raises(ValueError, match="at least 2 steps"):
        vae_sampler.integrated_autocorrelation_time(np.ones((3, 1)))
