"""Each check of book/ising_sampler.md FAILS when its formula is broken.

The same idea as tests/checks/mutations_physics.py: swap in a broken formula (the energy per spin where
the total belongs in the weight, the encoder's or the decoder's term left out, the acceptance ratio upside
down, Kish's ESS without its square, the chi-square test with one degree of freedom too many, Kaufman's
partition function with the wrong wave numbers, prefactor or without its sinh terms, the autocorrelation time
without its factor 2) and assert that the check guarding it reports a failure
(tests/checks/test_mutations.py).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from vaecourse.checks import ising_sampler
from vaecourse.ising import exact, vae_sampler

_goodness_of_fit = vae_sampler.goodness_of_fit
_tau = vae_sampler.integrated_autocorrelation_time


def _weight(model, spins, h, temperature, boltzmann=1.0, encoder=1.0, decoder=1.0, per_spin=False):
    """The plain log weight, each of its terms switchable, so a mutation differs by the one change."""
    with torch.no_grad():
        rows = vae_sampler._rows(spins, temperature)
        log_q = model.encode(rows).log_prob(h).sum(-1).double()
        log_prior = model.prior_at(rows[:, -1]).log_prob(h).sum(-1).double()
        log_lik = model.log_likelihood(rows, h).double()
    n_spins = 1 if per_spin else spins.shape[-1] * spins.shape[-2]
    log_boltzmann = -n_spins * exact.energy_per_spin(spins).double() / temperature
    return boltzmann * log_boltzmann + encoder * log_q - log_prior - decoder * log_lik


def _step_upside_down(model, state, temperature, generator=None):
    new = vae_sampler.propose(model, temperature, state.spins.shape[0], generator)
    uniform = torch.rand(state.log_w.shape, generator=generator, dtype=torch.float64)
    accept = torch.log(uniform) < state.log_w - new.log_w  # w / w' instead of w' / w
    spins = torch.where(accept[:, None, None], new.spins, state.spins)
    h = torch.where(accept[:, None], new.h, state.h)
    return vae_sampler.Proposal(spins, h, torch.where(accept, new.log_w, state.log_w)), accept


def _ess_without_square(log_w):
    w = torch.exp(log_w.double() - log_w.max())
    return float(w.sum() / (w**2).sum())


def _chi_square_one_dof_too_many(counts, probabilities, min_expected=5.0, seed=0):
    result = dict(_goodness_of_fit(counts, probabilities, min_expected, seed))
    result["dof"] += 1
    return result


def _log_z(L, coupling, wave=math.pi, sinh_terms=True, prefactor=2.0):
    """Kaufman's log Z as in vae_sampler, with the wave numbers, the sinh products and the prefactor's 2K switchable."""
    k2 = 2 * coupling
    cos = torch.cos(wave * torch.arange(2 * L, dtype=torch.float64) / L)
    gamma = torch.acosh(torch.cosh(k2) / torch.tanh(k2) - cos)
    gamma = torch.cat([(k2 + torch.log(torch.tanh(coupling)))[None], gamma[1:]])
    odd, even = gamma[1::2] * L / 2, gamma[0::2] * L / 2
    one = torch.ones((), dtype=torch.float64)
    terms = [(vae_sampler._log_abs_2cosh(odd).sum(), one), (vae_sampler._log_abs_2cosh(even).sum(), one)]
    if sinh_terms:
        terms += [
            (vae_sampler._log_abs_2sinh(odd).sum(), torch.sign(odd).prod()),
            (vae_sampler._log_abs_2sinh(even).sum(), torch.sign(even).prod()),
        ]
    logs, signs = torch.stack([t[0] for t in terms]), torch.stack([t[1] for t in terms])
    top = logs.max()
    total = (signs * torch.exp(logs - top)).sum()
    return math.log(0.5) + L * L / 2 * torch.log(2 * torch.sinh(prefactor * coupling)) + top + torch.log(total)


def _tau_without_two(series, window_factor=5.0):
    return (_tau(series, window_factor) + 1) / 2  # 1 + sum rho instead of 1 + 2 sum rho


BOTH = ["pair-weight-importance-vs-enumeration", "independence-sampler-vs-enumeration"]

MUTATIONS = [
    (
        "pair weight: energy per spin instead of the total energy",
        vae_sampler,
        "log_weight",
        lambda model, spins, h, temperature: _weight(model, spins, h, temperature, per_spin=True),
        BOTH,
    ),
    (
        "pair weight: the encoder's log Q(h|x) left out",
        vae_sampler,
        "log_weight",
        lambda model, spins, h, temperature: _weight(model, spins, h, temperature, encoder=0.0),
        BOTH,
    ),
    (
        "pair weight: the decoder's log p(x|h) left out",
        vae_sampler,
        "log_weight",
        lambda model, spins, h, temperature: _weight(model, spins, h, temperature, decoder=0.0),
        BOTH,
    ),
    (
        "independence sampler: acceptance w/w' instead of w'/w",
        vae_sampler,
        "independence_step",
        _step_upside_down,
        ["independence-sampler-vs-enumeration"],
    ),
    ("ESS: (sum w) / sum w^2", vae_sampler, "effective_sample_size", _ess_without_square, ["ess-of-lognormal-weights"]),
    (
        "chi-square: cells instead of cells - 1 degrees of freedom",
        vae_sampler,
        "goodness_of_fit",
        _chi_square_one_dof_too_many,
        ["chi-square-mean-under-the-null"],
    ),
    (
        "Kaufman: cos(2 pi l / L) instead of cos(pi l / L)",
        vae_sampler,
        "_kaufman_log_z",
        lambda L, coupling: _log_z(L, coupling, wave=2 * math.pi),
        ["kaufman-vs-enumeration"],
    ),
    (
        "Kaufman: (2 sinh K)^(N/2) instead of (2 sinh 2K)^(N/2)",
        vae_sampler,
        "_kaufman_log_z",
        lambda L, coupling: _log_z(L, coupling, prefactor=1.0),
        ["kaufman-vs-enumeration", "kaufman-tends-to-onsager"],
    ),
    (
        "Kaufman: the two sinh products left out",
        vae_sampler,
        "_kaufman_log_z",
        lambda L, coupling: _log_z(L, coupling, sinh_terms=False),
        ["kaufman-vs-enumeration"],
    ),
    (
        "tau_int: 1 + sum rho, the factor 2 forgotten",
        vae_sampler,
        "integrated_autocorrelation_time",
        _tau_without_two,
        ["tau-int-of-ar1"],
    ),
]

CHAPTER_CHECKS = {c.name for c in ising_sampler.CHECKS}  # what MUTATIONS must guard


def plain_weight_is_log_weight(model, spins, h, temperature) -> bool:
    """The unbroken plain weight equals vae_sampler.log_weight, so each mutation differs by its one change."""
    return bool(
        np.allclose(_weight(model, spins, h, temperature), vae_sampler.log_weight(model, spins, h, temperature))
    )


def plain_log_z_is_kaufman(L, coupling) -> bool:
    return bool(torch.allclose(_log_z(L, coupling), vae_sampler._kaufman_log_z(L, coupling)))
