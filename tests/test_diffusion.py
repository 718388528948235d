"""vaecourse.diffusion: the schedule, the sampler against exact Gaussian data, the ELBO as a bound, training
and the cache (the derivation's formulas are checked in vaecourse/checks/diffusion.py)."""

from __future__ import annotations

import math

import pytest
import torch

from vaecourse import diffusion as dm


def test_schedules_decrease_from_one_to_almost_nothing():
    for kind in dm.SCHEDULES:
        s = dm.make_schedule(100, kind)
        assert s.alpha_bar[0] == 1 and torch.all(s.alpha_bar[1:] < s.alpha_bar[:-1])
        assert s.alpha_bar[-1] < 1e-3 and torch.all(s.alpha[1:] >= 1e-3)
        torch.testing.assert_close(s.alpha_bar[1:], torch.cumprod(s.alpha[1:], 0))


@pytest.mark.parametrize(
    "bad", [dict(n_steps=1), dict(schedule="sigmoid"), dict(parameterisation="v"), dict(clip=-1.0), dict(hidden=0)]
)
def test_a_bad_configuration_is_refused_with_its_name(bad):
    with pytest.raises(ValueError, match=next(iter(bad)).split("_")[0]):
        dm.DiffusionConfig(**bad)


class _ExactGaussianDenoiser(torch.nn.Module):
    """E[x | h_t] for data x ~ N(m, v I): the best x-guess, in closed form (no training)."""

    def __init__(self, schedule, m, v):
        super().__init__()
        self.schedule, self.m, self.v = schedule, m, v
        self.weight = torch.nn.Parameter(torch.zeros(1, dtype=torch.float64))

    def forward(self, h, t):
        ab = self.schedule.alpha_bar[t][:, None]
        return self.m + ab.sqrt() * self.v / (ab * self.v + 1 - ab) * (h - ab.sqrt() * self.m)


def _exact_model(m=1.5, v=0.25, n_steps=200):
    model = dm.DiffusionModel(dm.DiffusionConfig(data_dim=2, n_steps=n_steps, parameterisation="x0"))
    model.net = _ExactGaussianDenoiser(model.schedule, m, v)
    return model


def test_ancestral_sampling_with_the_exact_denoiser_recovers_gaussian_data():
    """Samples of the sampler driven by E[x|h_t] of N(1.5, 0.25) data have its mean and (nearly) its variance."""
    x, _ = dm.sample(_exact_model(), 20_000, torch.Generator().manual_seed(0))
    assert abs(float(x.mean()) - 1.5) < 0.02
    assert abs(float(x.var()) - 0.25) < 0.03


def test_the_elbo_is_below_the_exact_log_likelihood_and_close_with_the_exact_denoiser():
    m, v = 1.5, 0.25
    x = m + math.sqrt(v) * torch.randn(4000, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    exact = torch.distributions.Normal(m, math.sqrt(v)).log_prob(x).sum(-1)
    elbo = dm.elbo_terms(_exact_model(m, v), x, torch.Generator().manual_seed(2))["elbo"]
    gap = exact - elbo
    assert float(gap.mean()) > 3 * float(gap.std() / math.sqrt(len(gap)))  # a bound, not an equality
    # nearly tight for the best guess of x (the decoder keeps the posterior's variance, which costs about a nat)
    assert float(gap.mean()) < 2.0


class _Fixed(torch.nn.Module):
    """A 'network' that returns a given output whatever its input."""

    def __init__(self, out):
        super().__init__()
        self.out = out

    def forward(self, h, t):
        return self.out


def test_the_three_parameterisations_give_one_model():
    """A network's output read as x, noise or score gives the same reverse mean, by the conversions."""
    torch.manual_seed(0)
    base = dm.build(dm.DiffusionConfig(data_dim=3, n_steps=20, parameterisation="x0"))
    h, t = torch.randn(5, 3), torch.tensor([2, 5, 9, 14, 20])
    x0 = base.x0(h, t)
    for kind, convert in (
        ("noise", lambda: dm.noise_from_x0(h, x0, t, base.schedule)),
        ("score", lambda: dm.score_from_noise(h, dm.noise_from_x0(h, x0, t, base.schedule), t, base.schedule)),
    ):
        other = dm.DiffusionModel(dm.DiffusionConfig(data_dim=3, n_steps=20, parameterisation=kind))
        other.net = _Fixed(convert().detach())
        torch.testing.assert_close(other.x0(h, t), x0, rtol=1e-4, atol=1e-4)
        torch.testing.assert_close(other.reverse_mean(h, t), base.reverse_mean(h, t), rtol=1e-4, atol=1e-4)


def test_clipping_bounds_the_guess():
    model = dm.build(dm.DiffusionConfig(data_dim=4, n_steps=10, clip=1.0))
    h = 50 * torch.randn(8, 4)
    t = torch.full((8,), 10)
    assert model.guess(h, t).abs().max() <= 1.0 and model.x0(h, t).abs().max() > 1.0


def test_training_lowers_the_loss_on_the_ring(tmp_path, monkeypatch):
    monkeypatch.setenv("VAECOURSE_CACHE", str(tmp_path))
    x = dm.ring_mixture(2000, torch.Generator().manual_seed(0))
    config = dm.DiffusionConfig(data_dim=2, n_steps=20, hidden=32, layers=2)
    training = dm.DiffusionTraining(steps=300, batch_size=128)
    trained = dm.load_or_fit(config, training, x, "test-ring")
    assert not trained.from_cache and len(trained.history) == 300
    assert sum(trained.history[-50:]) / 50 < 0.8 * sum(trained.history[:50]) / 50
    again = dm.load_or_fit(config, training, x, "test-ring")
    assert again.from_cache and again.history == trained.history
    h, t = torch.randn(6, 2), torch.full((6,), 7)
    torch.testing.assert_close(again.model.x0(h, t), trained.model.x0(h, t))


def test_a_damaged_cache_entry_is_retrained_with_a_warning(tmp_path, monkeypatch):
    from vaecourse.cache import CacheRebuiltWarning

    monkeypatch.setenv("VAECOURSE_CACHE", str(tmp_path))
    x = dm.ring_mixture(500, torch.Generator().manual_seed(0))
    config, training = dm.DiffusionConfig(n_steps=5, hidden=8, layers=1), dm.DiffusionTraining(steps=5)
    trained = dm.load_or_fit(config, training, x, "test-damaged")
    trained.path.write_bytes(b"<html>not a model</html>")
    with pytest.warns(CacheRebuiltWarning):
        again = dm.load_or_fit(config, training, x, "test-damaged")
    assert not again.from_cache


def test_ring_log_density_integrates_to_one():
    axis = torch.linspace(-4, 4, 401, dtype=torch.float64)
    grid = torch.stack(torch.meshgrid(axis, axis, indexing="ij"), -1).reshape(-1, 2)
    mass = dm.ring_log_density(grid).exp().sum() * (axis[1] - axis[0]) ** 2
    assert abs(float(mass) - 1) < 1e-3


def test_fit_refuses_data_with_nan():
    model = dm.build(dm.DiffusionConfig(n_steps=5, hidden=8, layers=1))
    with pytest.raises(ValueError, match="finite"):
        dm.fit(model, torch.tensor([[0.0, float("nan")]]), dm.DiffusionTraining(steps=1))
