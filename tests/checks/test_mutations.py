"""Each derivation check FAILS when the formula it guards is broken (mutation tests), and every check is
guarded by a mutation. The mutations are listed beside the chapters that teach the formulas:
mutations_lecture.py (the lecture), mutations_beyond.py (kl_in_practice, richer_posteriors),
mutations_physics.py (ising_generative, spectra), mutations_diffusion.py (diffusion),
mutations_sampler.py (ising_sampler)."""

from __future__ import annotations

import pytest
import torch

from tests.checks import (
    mutations_beyond,
    mutations_diffusion,
    mutations_lecture,
    mutations_physics,
    mutations_sampler,
)
from vaecourse import checks, kl
from vaecourse.ising import exact

ALL_MUTATIONS = [
    *mutations_lecture.MUTATIONS,
    *mutations_beyond.MUTATIONS,
    *mutations_physics.MUTATIONS,
    *mutations_diffusion.MUTATIONS,
    *mutations_sampler.MUTATIONS,
]


@pytest.mark.parametrize("what, owner, attribute, broken, guarded", ALL_MUTATIONS, ids=[m[0] for m in ALL_MUTATIONS])
def test_a_broken_formula_fails_its_check(monkeypatch, what, owner, attribute, broken, guarded):
    monkeypatch.setattr(owner, attribute, broken)
    for name in guarded:
        (result,) = checks.run(name)
        assert not result.passed, f"{name} did not notice: {what}\n" + checks.results_table([result], True)


def test_every_check_is_guarded_by_a_mutation():
    guarded = {name for *_, names in ALL_MUTATIONS for name in names}
    assert set(checks.names()) - guarded == set()


def test_every_check_of_the_two_chapters_is_guarded_by_a_mutation():
    guarded = {name for *_, names in mutations_beyond.MUTATIONS for name in names}
    assert mutations_beyond.CHAPTER_CHECKS - guarded == set()
    assert guarded <= set(checks.names())


def test_every_check_of_the_physics_chapters_is_guarded():
    guarded = {name for *_, names in mutations_physics.MUTATIONS for name in names}
    assert mutations_physics.CHAPTER_CHECKS - guarded == set()


def test_every_check_of_the_diffusion_chapter_is_guarded():
    guarded = {name for *_, names in mutations_diffusion.MUTATIONS for name in names}
    assert mutations_diffusion.CHAPTER_CHECKS - guarded == set()


def test_the_plain_formulas_of_the_mutation_tests_are_right():
    """The test's own plain eq:kl-gaussians agrees with vaecourse.kl, so the mutations differ by the one change only."""
    gen = torch.Generator().manual_seed(0)
    a = torch.randn(3, 3, 3, generator=gen, dtype=torch.float64)
    cov = a @ a.transpose(-2, -1) + 0.5 * torch.eye(3, dtype=torch.float64)
    mu = torch.randn(3, 3, generator=gen, dtype=torch.float64)
    torch.testing.assert_close(
        mutations_lecture.kl_correct(mu, cov, mu.flip(0), cov.flip(0)),
        kl.kl_gaussians(mu, cov, mu.flip(0), cov.flip(0)),
    )


def test_the_plain_parts_of_the_diffusion_mutations_are_right():
    """The mutations' unbroken parts agree with vaecourse.diffusion, so each differs by its one change only."""
    from vaecourse import diffusion as dm

    s = dm.make_schedule(10)
    gen = torch.Generator().manual_seed(0)
    x, h = torch.randn(4, 3, generator=gen, dtype=torch.float64), torch.randn(4, 3, generator=gen, dtype=torch.float64)
    t = torch.tensor([2, 3, 5, 10])
    broken_mean = mutations_diffusion._posterior_variance_of_the_step(h, x, t, s)[0]
    torch.testing.assert_close(broken_mean, dm.posterior(h, x, t, s)[0])
    torch.testing.assert_close(mutations_diffusion._weight_score_as_noise(t, s), dm.weight_noise(t, s))


def test_the_plain_energy_of_the_mutations_is_right():
    """The unbroken two-direction energy is -2 C(1), so the mutation differs by the one change only."""
    spins = torch.where(torch.randn(4, 6, 6, generator=torch.Generator().manual_seed(0)) > 0, 1.0, -1.0)
    torch.testing.assert_close(exact.energy_per_spin(spins), -2 * mutations_physics.correlation(spins)[:, 1])


def test_every_check_of_the_sampler_chapter_is_guarded():
    guarded = {name for *_, names in mutations_sampler.MUTATIONS for name in names}
    assert mutations_sampler.CHAPTER_CHECKS - guarded == set()


def test_the_plain_formulas_of_the_sampler_mutations_are_right():
    """The plain weight and log Z of the mutations equal the package's, so each mutation is one change."""
    from vaecourse.ising import conditional

    torch.manual_seed(0)
    model = conditional.ConditionalVAE(conditional.ConditionalConfig(L=4, hidden=8)).eval()
    spins = torch.where(torch.randn(5, 4, 4) > 0, 1.0, -1.0)
    assert mutations_sampler.plain_weight_is_log_weight(model, spins, torch.randn(5, 2), 2.5)
    for coupling in (0.3, 0.7):
        assert mutations_sampler.plain_log_z_is_kaufman(4, torch.tensor(coupling, dtype=torch.float64))
