"""The Ising samplers against exact physics, with statistical error bars.

Error bars come from independent Markov chains: each chain's time average is one independent
estimate, and the standard error is their standard deviation over sqrt(number of chains). A check
passes when the Monte Carlo mean lies within 4 standard errors of the exact value (all runs are
seeded, so the outcome is reproducible), and each test also asserts that its error bar is small
enough for the comparison to mean something.

The Ising data set (ising_dataset) is cached under a name that every one of its parameters changes, and
is small in smoke mode.
"""

from __future__ import annotations

import inspect
import itertools
import math
from pathlib import Path

import hypothesis
import numpy as np
import pytest
import torch
from hypothesis import strategies as st
from scipy import integrate
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from tests.limits import GB, cgroup, run_child
from vaecourse import ising, resources, settings, validation

CPU = torch.device("cpu")
SIGMAS = 4.0


# Tiny models and many small tensor operations: one intra-op thread (see tests/conftest.py).
pytestmark = pytest.mark.usefixtures("one_thread")


def chain_mean_and_error(values: torch.Tensor, chains: torch.Tensor) -> tuple[float, float]:
    """Mean of the per-chain averages and its standard error (chains are independent)."""
    ids = torch.unique(chains)
    per_chain = torch.stack([values[chains == c].double().mean() for c in ids])
    return per_chain.mean().item(), (per_chain.std() / math.sqrt(len(ids))).item()


def exact_small_lattice(L: int, T: float) -> tuple[float, float]:
    """<u> and <|m|> of an L x L periodic lattice by summing over all 2^(L*L) states."""
    n = L * L
    states = np.arange(2**n, dtype=np.int64)[:, None]
    s = (((states >> np.arange(n)) & 1) * 2 - 1).reshape(-1, L, L)  # (2^n, L, L)
    energy = np.zeros(len(s))
    for i, j in itertools.product(range(L), range(L)):  # count each bond once: right and down
        energy -= s[:, i, j] * (s[:, i, (j + 1) % L] + s[:, (i + 1) % L, j])
    weight = np.exp(-(energy - energy.min()) / T)
    weight /= weight.sum()
    return float(weight @ energy) / n, float(weight @ np.abs(s.sum(axis=(1, 2)))) / n


# ---------------------------------------------------------------------------------------------
# Exact formulas, checked by independent routes
# ---------------------------------------------------------------------------------------------


def test_critical_temperature():
    assert ising.T_C == pytest.approx(2.269185314, abs=1e-9)
    # T_c is where sinh(2/T) = 1 (Kramers-Wannier self-duality).
    assert math.sinh(2 / ising.T_C) == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize("T", [1.0, 1.8, 2.2, 2.4, 3.0, 4.5])
def test_onsager_energy_is_the_derivative_of_the_free_energy(T):
    """u = d(beta f)/d(beta), from Onsager's integral for -beta f, by a central difference."""

    def minus_beta_f(beta):
        kappa = 2 * math.sinh(2 * beta) / math.cosh(2 * beta) ** 2

        def integrand(phi):
            return math.log(0.5 * (1 + math.sqrt(1 - (kappa * math.sin(phi)) ** 2)))

        return math.log(2 * math.cosh(2 * beta)) + integrate.quad(integrand, 0, math.pi)[0] / (2 * math.pi)

    beta, d = 1 / T, 1e-5
    u = -(minus_beta_f(beta + d) - minus_beta_f(beta - d)) / (2 * d)
    assert ising.onsager_energy(T) == pytest.approx(u, abs=1e-6)


def test_onsager_energy_limits_and_arrays():
    assert ising.onsager_energy(0.3) == pytest.approx(-2.0, abs=1e-10)  # ground state
    assert ising.onsager_energy(1e4) == pytest.approx(-2 / 1e4, rel=1e-3)  # high-T series: -2 tanh(beta)
    near = ising.onsager_energy(np.array([ising.T_C - 1e-7, ising.T_C, ising.T_C + 1e-7]))
    assert near.shape == (3,) and np.allclose(near, -math.sqrt(2), atol=1e-4)
    with pytest.raises(ValueError, match="temperature"):
        ising.onsager_energy(-1.0)


def _energy_by_double_integral(T: float) -> float:
    """u(T) from Onsager's double integral, -beta f = ln 2 + 1/(8 pi^2) ∫∫ ln[cosh^2 2b - sinh 2b (cos x + cos y)],
    differentiated in beta by hand and divided by cosh^2 2b (so nothing overflows at low T), by scipy's dblquad."""
    b2 = 2.0 / T
    t, c = math.tanh(b2), (1.0 / math.cosh(b2) if b2 < 700 else 0.0)

    def integrand(x, y):
        s = math.cos(x) + math.cos(y)
        return (4.0 * t - 2.0 * c * s) / (1.0 - t * c * s)

    return -integrate.dblquad(integrand, 0.0, math.pi, 0.0, math.pi, epsabs=1e-11, epsrel=1e-11)[0] / (2 * math.pi**2)


@hypothesis.settings(derandomize=True, database=None, max_examples=40, deadline=None)
@hypothesis.given(st.one_of(st.floats(1e-4, 0.05), st.floats(0.05, 50.0)))
def test_onsager_energy_agrees_with_the_double_integral_at_fuzzed_temperatures(T):
    assert ising.onsager_energy(T) == pytest.approx(_energy_by_double_integral(T), abs=1e-8)


def test_onsager_energy_tends_to_minus_two_at_low_temperature():
    cold = np.array([1e-300, 1e-6, 1e-3, 0.002, 0.0028, 0.003, 0.005, 0.01])
    assert np.all(ising.onsager_energy(cold) == -2.0)  # (the suite turns numpy's overflow warnings into errors)
    assert ising.onsager_energy(0.002) == -2.0


@pytest.mark.parametrize(
    "args, name",
    [
        ((10, 1.0, math.inf), "high"),
        ((10, math.nan, 3.5), "low"),
        ((10, -math.inf, 3.5), "low"),
        ((10, 1.0, 3.5, math.nan), "power"),
        ((10, 1.0, 3.5, math.inf), "power"),
        ((math.nan, 1.0, 3.5), "n"),
        ((math.inf, 1.0, 3.5), "n"),
        ((2.5, 1.0, 3.5), "n"),
    ],
)
def test_temperature_grid_refuses_non_finite_arguments(args, name):
    with pytest.raises(ValueError, match=f"^{name} must be"):
        ising.temperature_grid(*args)


def test_spontaneous_magnetisation_low_temperature_series_and_tc():
    for T in (0.8, 1.0, 1.2):
        series = 1 - 2 * math.exp(-8 / T)  # leading low-temperature expansion
        assert abs(ising.spontaneous_magnetisation(T) - series) < 20 * math.exp(-12 / T)
    assert ising.spontaneous_magnetisation(ising.T_C - 1e-9) < 0.1
    assert np.all(ising.spontaneous_magnetisation(np.array([ising.T_C, 3.0, 10.0])) == 0)
    with pytest.raises(ValueError, match="temperature"):
        ising.spontaneous_magnetisation(float("nan"))


def test_temperature_grid_is_denser_near_tc():
    grid = ising.temperature_grid(40, 1.0, 3.5)
    assert grid[0] == pytest.approx(1.0) and grid[-1] == pytest.approx(3.5)
    assert np.all(np.diff(grid) > 0)
    gaps = np.diff(grid)
    middle = (grid[1:] + grid[:-1]) / 2
    assert gaps[np.argmin(np.abs(middle - ising.T_C))] < 0.5 * min(gaps[0], gaps[-1])
    with pytest.raises(ValueError, match="low"):
        ising.temperature_grid(10, 2.5, 3.5)


# ---------------------------------------------------------------------------------------------
# Observables and cluster labelling
# ---------------------------------------------------------------------------------------------


def test_observables_of_known_configurations():
    ordered = torch.ones(2, 6, 6)
    checker = (torch.arange(6)[:, None] + torch.arange(6)[None, :]) % 2 * 2 - 1  # antiferromagnet
    stripes = torch.ones(6, 6)
    stripes[:3] = -1  # two domain walls of length 6 on a periodic lattice
    spins = torch.stack([ordered[0], checker.float(), stripes])
    assert torch.allclose(ising.energy_per_spin(spins), torch.tensor([-2.0, 2.0, -2.0 + 2 * 2 * 6 / 36]))
    assert torch.allclose(ising.magnetisation(spins), torch.tensor([1.0, 0.0, 0.0]))


def test_observables_by_temperature_give_an_unknown_error_for_a_single_configuration():
    generator = torch.Generator().manual_seed(3)
    spins = torch.where(torch.rand(4, 6, 6, generator=generator) < 0.5, -1.0, 1.0)
    obs = ising.observables_by_temperature(spins, [2.0, 2.0, 2.0, 3.0], r_max=2)
    assert obs["T"].tolist() == [2.0, 3.0]
    u = ising.energy_per_spin(spins[:3]).double().numpy()
    assert obs["u_err"][0] == pytest.approx(u.std(ddof=1) / math.sqrt(3), rel=1e-6)  # three: the usual error
    for name in ("abs_m_err", "u_err"):
        assert math.isnan(obs[name][1])  # one configuration: unknown, not 0
    assert np.all(np.isnan(obs["C_err"][1])) and np.all(np.isfinite(obs["C_err"][0]))
    assert obs["u"][1] == pytest.approx(float(ising.energy_per_spin(spins[3])))  # the mean itself is known


@pytest.mark.parametrize("p", [0.3, 0.5, 0.8])
def test_cluster_labels_match_scipy_connected_components(p):
    generator = torch.Generator().manual_seed(7)
    C, L = 3, 10
    right = torch.rand(C, L, L, generator=generator) < p
    down = torch.rand(C, L, L, generator=generator) < p
    labels = ising.cluster_labels(right, down).reshape(-1).numpy()

    index = np.arange(C * L * L).reshape(C, L, L)
    rows = np.concatenate([index[right.numpy()], index[down.numpy()]])
    cols = np.concatenate([np.roll(index, -1, axis=2)[right.numpy()], np.roll(index, -1, axis=1)[down.numpy()]])
    graph = coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(C * L * L,) * 2)
    n_components, reference = connected_components(graph, directed=False)

    # Same partition: the pairs (label, reference) are in one-to-one correspondence.
    pairs = set(zip(labels.tolist(), reference.tolist()))
    assert len(pairs) == n_components == len(set(labels.tolist()))
    # Each label is the smallest flat index of its cluster.
    for comp in range(n_components):
        members = np.flatnonzero(reference == comp)
        assert np.all(labels[members] == members.min())


# ---------------------------------------------------------------------------------------------
# Samplers against exact results
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("algorithm", ["metropolis", "swendsen-wang"])
@pytest.mark.parametrize("T", [1.8, 2.5])
def test_each_update_samples_the_exact_4x4_distribution(algorithm, T):
    """Against a full enumeration of the 65,536 states of a 4 x 4 lattice: no finite-size excuse."""
    exact_u, exact_abs_m = exact_small_lattice(4, T)
    run = ising.simulate(
        4, [T], n_chains=200, n_samples=40, burn_in=30, thin=2, algorithm=algorithm, seed=3, start="random", device=CPU
    )
    u, u_err = chain_mean_and_error(run.energy, run.chain)
    m, m_err = chain_mean_and_error(run.magnetisation.abs(), run.chain)
    assert u_err < 0.02 and m_err < 0.02
    assert abs(u - exact_u) < SIGMAS * u_err, (u, u_err, exact_u)
    assert abs(m - exact_abs_m) < SIGMAS * m_err, (m, m_err, exact_abs_m)


@pytest.fixture(scope="module")
def metropolis_run():
    """L = 32, checkerboard Metropolis, two temperatures below T_c and one above."""
    return ising.simulate(
        32, [1.5, 2.0, 3.5], n_chains=32, n_samples=10, burn_in=100, thin=5, algorithm="metropolis", seed=11, device=CPU
    )


@pytest.fixture(scope="module")
def mixed_run():
    """L = 32, the data set's default (Swendsen-Wang + Metropolis), below T_c."""
    return ising.simulate(
        32, [2.0], n_chains=24, n_samples=6, burn_in=20, thin=2, algorithm="mixed", seed=12, device=CPU
    )


def check_energy(run, T, max_error=0.005):
    sel = run.temperature == T
    u, u_err = chain_mean_and_error(run.energy[sel], run.chain[sel])
    assert u_err < max_error
    # Away from T_c the correlation length is a few sites: finite-size corrections at L = 32 are
    # exponentially small, far below the error bar.
    assert abs(u - ising.onsager_energy(T)) < SIGMAS * u_err, (u, u_err, ising.onsager_energy(T))


def check_abs_magnetisation(run, T, max_error=0.005):
    sel = run.temperature == T
    m, m_err = chain_mean_and_error(run.magnetisation[sel].abs(), run.chain[sel])
    assert m_err < max_error
    exact = ising.spontaneous_magnetisation(T)
    assert abs(m - exact) < SIGMAS * m_err, (m, m_err, exact)


@pytest.mark.parametrize("T", [1.5, 3.5])
def test_energy_matches_onsager_on_a_32x32_lattice(metropolis_run, T):
    check_energy(metropolis_run, T)


@pytest.mark.parametrize("T", [1.5, 2.0])
def test_abs_magnetisation_matches_the_spontaneous_magnetisation(metropolis_run, T):
    check_abs_magnetisation(metropolis_run, T)


def test_mixed_updates_match_exact_results_below_tc(mixed_run):
    check_energy(mixed_run, 2.0, max_error=0.01)
    check_abs_magnetisation(mixed_run, 2.0, max_error=0.01)


def test_both_signs_of_magnetisation_appear_below_tc(mixed_run):
    """Cluster flips move between the two ordered phases; single-spin Metropolis would not."""
    m = mixed_run.magnetisation
    assert (m > 0.5).any() and (m < -0.5).any()


def test_high_temperature_magnetisation_vanishes(metropolis_run):
    sel = metropolis_run.temperature == 3.5
    m, m_err = chain_mean_and_error(metropolis_run.magnetisation[sel], metropolis_run.chain[sel])
    assert abs(m) < SIGMAS * m_err
    assert metropolis_run.magnetisation[sel].abs().mean() < 0.15  # 1/L fluctuations only


def test_cluster_updates_decorrelate_near_tc():
    """Lag-1 autocorrelation of |m| at T_c, L = 16: Metropolis stays stuck, Swendsen-Wang does not."""

    def lag1(algorithm):
        run = ising.simulate(
            16, [ising.T_C], n_chains=48, n_samples=30, burn_in=30, thin=1, algorithm=algorithm, seed=5, device=CPU
        )
        m = run.magnetisation.abs().view(48, 30).double()
        m = m - m.mean()
        return ((m[:, 1:] * m[:, :-1]).mean() / (m * m).mean()).item()

    metropolis, swendsen_wang = lag1("metropolis"), lag1("swendsen-wang")
    # tau ~ (1 + rho) / (1 - rho): cluster updates decorrelate at least 5 times faster.
    assert metropolis > 0.9 and (1 - swendsen_wang) > 5 * (1 - metropolis), (metropolis, swendsen_wang)


def test_seed_reproducibility_and_layout():
    a = ising.simulate(8, [1.5, 3.0], n_chains=3, n_samples=4, burn_in=5, thin=1, seed=9, device=CPU)
    b = ising.simulate(8, [1.5, 3.0], n_chains=3, n_samples=4, burn_in=5, thin=1, seed=9, device=CPU)
    c = ising.simulate(8, [1.5, 3.0], n_chains=3, n_samples=4, burn_in=5, thin=1, seed=10, device=CPU)
    assert torch.equal(a.spins, b.spins) and not torch.equal(a.spins, c.spins)
    assert a.spins.shape == (24, 8, 8) and a.spins.dtype == torch.int8
    assert set(a.spins.unique().tolist()) <= {-1, 1}
    assert a.temperature.tolist() == [1.5] * 12 + [3.0] * 12
    assert a.chain.tolist() == [c for c in range(6) for _ in range(4)]
    assert torch.allclose(a.energy, ising.energy_per_spin(a.spins))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"L": 7}, "even"),
        ({"temperatures": [1.0, -2.0]}, "temperatures"),
        ({"algorithm": "wolf"}, "algorithm"),
        ({"thin": 0}, "thin"),
        ({"n_chains": 2.5}, "n_chains"),
        ({"burn_in": float("nan")}, "burn_in"),
        ({"start": "hot"}, "start"),
    ],
)
def test_bad_arguments_are_refused(kwargs, message):
    args = {"L": 8, "temperatures": [2.0]} | kwargs
    with pytest.raises(ValueError, match=message):
        ising.simulate(**args, device=CPU)


def test_updates_refuse_mismatched_shapes():
    with pytest.raises(ValueError, match="beta"):
        ising.metropolis_sweep(torch.ones(3, 4, 4), torch.ones(2))
    with pytest.raises(ValueError, match="even"):
        ising.swendsen_wang_update(torch.ones(1, 5, 5), torch.ones(1))


# ---------------------------------------------------------------------------------------------
# Lattices and temperatures a student can pass by mistake: refused, or handled right
# ---------------------------------------------------------------------------------------------


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


@pytest.mark.parametrize(
    "bad, message",
    [
        (torch.zeros((2, 4, 4)), r"\+1 and -1"),  # 0/1 spins
        (torch.randint(0, 2, (2, 4, 4)).float(), r"\+1 and -1"),
        (torch.ones((2, 4, 4), dtype=torch.bool), "real tensor"),
        ([[1, -1], [-1, 1]], "real tensor"),
    ],
)
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


MEASURE_PEAK = """
import resource, sys, torch
torch.set_num_threads(1)
from vaecourse import validation
from vaecourse.ising import sampler
counted = []
real = validation.require_memory
validation.require_memory = lambda nbytes, *args: counted.append(nbytes) or real(nbytes, *args)
sampler.simulate(8, [2.0], burn_in=1, thin=1)  # libraries loaded and warm
# The peak so far may be an import's (a fresh environment compiles its .pyc files), since freed: reset
# the kernel's peak resident size (VmHWM) to the present one, so the peak read below is the run's own.
with open("/proc/self/clear_refs", "w") as clear:
    clear.write("5")
with open("/proc/self/statm") as statm:
    before = int(statm.read().split()[1]) * resource.getpagesize()
sampler.simulate(int(sys.argv[1]), [2.0, 3.0], n_samples=int(sys.argv[2]), burn_in=1, thin=1, device="cpu")
with open("/proc/self/status") as status:
    peak = next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmHWM:"))
print(peak - before, counted[-1])
"""


@pytest.mark.parametrize("L, n_samples", [(700, 1), (300, 30)])
@pytest.mark.skipif(
    not Path("/proc/self/clear_refs").exists(), reason="reads and resets the peak resident memory in /proc (Linux)"
)
def test_the_memory_guard_counts_at_least_what_a_run_allocates(L, n_samples):
    """The guard's estimate is at least the peak resident memory the run adds (measured in a fresh process)."""
    run = run_child(["-c", MEASURE_PEAK, str(L), str(n_samples)], env={"VAECOURSE_DEVICE": "cpu"})
    assert run.returncode == 0, run.stderr
    peak, counted = map(int, run.stdout.split())
    assert peak > 2 * L * L * n_samples  # the measurement sees the run (at least its int8 record)
    assert counted >= peak, f"the guard counted {counted / 1e6:.0f} MB, the run added {peak / 1e6:.0f} MB"


def test_a_lattice_too_large_for_a_1_gb_container_is_refused_not_killed():
    code = "from vaecourse.ising import sampler; sampler.simulate(6000, [2.0], device='cpu')"
    with cgroup(GB) as made:
        run = run_child(["-c", code], preexec_fn=made.join, env={"VAECOURSE_DEVICE": "cpu"})
    name = made.limit_file
    assert run.returncode == 1 and run.stderr.strip().splitlines()[-1].startswith(
        "ValueError: an Ising run of 1 chains of 6000x6000"
    ), run.stderr
    assert f"would need about 5.4 GB, more than the 1.0 GB this container may use (cgroup {name})" in run.stderr


def test_the_data_set_builder_checks_memory_before_simulating(monkeypatch, fresh):
    monkeypatch.setattr(validation, "memory_limit", lambda device=None: resources.Limit(GB, "cgroup memory.max"))
    with pytest.raises(ValueError, match=r"an Ising run of 4 chains of 1000x1000 .* would need about 1\.4 GB"):
        ising.ising_dataset(1000, [2.0, 2.5], n_per_T=20, samples_per_chain=10, burn_in=0, thin=1, device="cpu")
    assert not list(fresh.rglob("*.pt"))


def test_an_unavailable_or_misspelt_device_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match="CUDA is not available"):
        ising.simulate(4, [2.0], device="cuda")
    with pytest.raises(ValueError, match="not a device name"):
        ising.simulate(4, [2.0], device="gpu")


# ---------------------------------------------------------------------------------------------
# The cached data set
# ---------------------------------------------------------------------------------------------


def test_dataset_is_cached_by_every_parameter(monkeypatch, tmp_path):
    monkeypatch.setenv("VAECOURSE_CACHE", str(tmp_path))
    args = dict(L=8, temperatures=[1.5, 3.0], n_per_T=7, samples_per_chain=3, burn_in=5, thin=1, device=CPU)
    first = ising.ising_dataset(**args)
    assert len(first) == 14 and first.temperature.tolist() == [1.5] * 7 + [3.0] * 7
    files = list((tmp_path / "ising").glob("*.pt"))
    assert len(files) == 1

    calls = []
    real = ising.simulate
    monkeypatch.setattr(ising.sampler, "simulate", lambda *a, **k: calls.append(1) or real(*a, **k))
    again = ising.ising_dataset(**args)
    assert calls == [] and torch.equal(again.spins, first.spins)
    other = ising.ising_dataset(**(args | {"seed": 1}))
    assert calls == [1] and not torch.equal(other.spins, first.spins)
    ising.ising_dataset(**(args | {"thin": 2}))
    assert len(calls) == 2 and len(list((tmp_path / "ising").glob("*.pt"))) == 3


def test_default_config_builds_a_smoke_data_set(monkeypatch, tmp_path):
    monkeypatch.setenv("VAECOURSE_CACHE", str(tmp_path))
    assert settings.is_smoke()
    config = ising.default_dataset_config()
    samples = ising.ising_dataset(**config, device=CPU)
    assert len(samples) == len(config["temperatures"]) * config["n_per_T"]
    assert samples.spins.shape[1:] == (config["L"], config["L"])
    # ordered at the lowest temperature, disordered at the highest
    low = samples.magnetisation[samples.temperature == samples.temperature.min()].abs().mean()
    high = samples.magnetisation[samples.temperature == samples.temperature.max()].abs().mean()
    assert low > 0.9 and high < 0.3


def test_the_package_re_exports_every_name_of_exact_and_sampler():
    """``ising.<name>`` works for every public name of ``ising.exact`` and ``ising.sampler``."""
    missing = [name for name in ising.__all__ if not hasattr(ising, name)]
    assert missing == [], f"vaecourse.ising does not re-export {missing}"


ISING_BASE = {
    "L": 4,
    "temperatures": [1.5, 3.0],
    "n_per_T": 4,
    "samples_per_chain": 2,
    "burn_in": 2,
    "thin": 1,
    "algorithm": "mixed",
    "seed": 0,
}
ISING_CHANGES = {
    "L": 6,
    "temperatures": [1.5, 3.5],
    "n_per_T": 5,
    "samples_per_chain": 3,
    "burn_in": 3,
    "thin": 2,
    "algorithm": "metropolis",
    "seed": 1,
}


def test_every_ising_parameter_changes_the_cache_file(tmp_path, monkeypatch):
    parameters = set(inspect.signature(ising.ising_dataset).parameters) - {"cache", "device"}
    assert parameters == set(ISING_BASE) == set(ISING_CHANGES)
    monkeypatch.setenv("VAECOURSE_CACHE", str(tmp_path))
    ising.ising_dataset(**ISING_BASE, device=CPU)
    ising.ising_dataset(**ISING_BASE, device=CPU)  # the same arguments: the same file
    files = {p.name for p in (tmp_path / "ising").glob("*.pt")}
    assert len(files) == 1
    for name, value in ISING_CHANGES.items():
        samples = ising.ising_dataset(**(ISING_BASE | {name: value}), device=CPU)
        now = {p.name for p in (tmp_path / "ising").glob("*.pt")}
        assert len(now) == len(files) + 1, f"changing {name} did not give a new cache file"
        files = now
        expected = ISING_BASE | {name: value}
        assert samples.spins.shape == (
            len(expected["temperatures"]) * expected["n_per_T"],
            expected["L"],
            expected["L"],
        )


def test_the_ising_data_set_is_small_in_smoke_mode(monkeypatch):
    monkeypatch.setenv("VAECOURSE_SMOKE", "1")
    smoke = ising.default_dataset_config()
    monkeypatch.setenv("VAECOURSE_SMOKE", "0")
    full = ising.default_dataset_config()
    assert full["L"] == 28  # Wetzel 2017's lattice
    assert smoke["L"] <= 16 and len(smoke["temperatures"]) * smoke["n_per_T"] <= 400
    for key in ("L", "n_per_T", "burn_in"):
        assert smoke[key] < full[key], key
    assert len(smoke["temperatures"]) < len(full["temperatures"])
