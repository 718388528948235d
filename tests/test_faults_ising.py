"""Fault injection, the Ising sampler (issue 15, cause 1): lattices and temperatures a student can pass
by mistake are refused or handled right, never silently simulated wrong."""

from __future__ import annotations

import pytest
import torch

from vaecourse import ising, validation

pytestmark = pytest.mark.usefixtures("one_thread")


def equilibrated(L=16, chains=8, T=ising.T_C):
    """Ordered lattices near T_c after a few mixed steps (int8, the dtype simulate records)."""
    run = ising.simulate(L, [T], n_chains=chains, n_samples=1, burn_in=20, thin=1, seed=3, device="cpu")
    return run.spins  # (chains, L, L) int8


def test_an_int8_lattice_is_updated_as_the_float32_one():
    # int8 spins used to turn -2*beta into an int8 0: every flip accepted, m = -1 at T_c.
    spins = equilibrated()
    beta = torch.full((spins.shape[0],), 1 / ising.T_C)
    for update in (ising.metropolis_sweep, ising.swendsen_wang_update):
        as_int8 = update(spins, beta, torch.Generator().manual_seed(0))
        as_float = update(spins.float(), beta, torch.Generator().manual_seed(0))
        assert as_int8.dtype == torch.int8
        assert torch.equal(as_int8.float(), as_float)


def test_an_int8_lattice_stays_ordered_below_tc():
    spins = torch.ones((4, 16, 16), dtype=torch.int8)
    beta = torch.full((4,), 1 / 2.1)  # int8(-2 beta) = 0 would accept every flip
    gen = torch.Generator().manual_seed(1)
    for _ in range(21):  # odd: accepting every flip would leave m = -1
        spins = ising.metropolis_sweep(spins, beta, gen)
    m = spins.float().mean(dim=(1, 2))
    assert bool((m > 0.6).all()), m  # Onsager: m(2.1) = 0.87; accepting every flip gives m = -1


@pytest.mark.parametrize("bad, message", [
    (torch.zeros((2, 4, 4)), r"\+1 and -1"),                              # 0/1 spins
    (torch.randint(0, 2, (2, 4, 4)).float(), r"\+1 and -1"),
    (torch.ones((2, 4, 4), dtype=torch.bool), "real tensor"),
    ([[1, -1], [-1, 1]], "real tensor"),
])
def test_spins_other_than_plus_minus_one_are_refused(bad, message):
    for update in (ising.metropolis_sweep, ising.swendsen_wang_update):
        with pytest.raises(ValueError, match=message):
            update(bad, torch.ones(2))


@pytest.mark.parametrize("beta", [float("nan"), -0.5, float("inf")])
def test_a_nan_or_negative_beta_is_refused(beta):
    with pytest.raises(ValueError, match="beta must hold finite"):
        ising.metropolis_sweep(torch.ones((2, 4, 4)), torch.tensor([0.5, beta]))


def test_a_python_float_beta_is_one_beta_for_every_chain():
    # used to fail with AttributeError: 'float' object has no attribute 'shape'
    spins = equilibrated(chains=3)
    a = ising.metropolis_sweep(spins, 0.44, torch.Generator().manual_seed(5))
    b = ising.metropolis_sweep(spins, torch.full((3,), 0.44), torch.Generator().manual_seed(5))
    assert torch.equal(a, b)
    with pytest.raises(ValueError, match="beta must be a number"):
        ising.metropolis_sweep(spins, "0.44")


def test_the_value_checks_are_off_inside_validation_disabled():
    with validation.disabled():
        ising.metropolis_sweep(torch.zeros((1, 4, 4)), torch.ones(1))  # no sync, no check


def test_a_lattice_too_large_for_memory_is_refused_with_its_size():
    with pytest.raises(ValueError, match=r"would need about [\d.]+ GB"):
        ising.simulate(20_000, [2.0], n_chains=200, n_samples=1, burn_in=0, device="cpu")


def test_an_unavailable_or_misspelt_device_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match="CUDA is not available"):
        ising.simulate(4, [2.0], device="cuda")
    with pytest.raises(ValueError, match="not a device name"):
        ising.simulate(4, [2.0], device="gpu")
