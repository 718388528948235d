"""rate_distortion: the beta-ELBO, the free-bits rate and its gradient, the warm-up weight, active units."""

from __future__ import annotations

import pytest
import torch
from torch.distributions import Normal

from vaecourse import elbo, models
from vaecourse import rate_distortion as rd
from vaecourse.autoregressive import AutoregressiveVAE


def _model(latent_dim=4):
    torch.manual_seed(0)
    return models.VAE(data_dim=12, hidden=8, latent_dim=latent_dim)


def test_beta_one_is_the_elbo_on_the_same_samples():
    model, x = _model(), torch.bernoulli(torch.full((5, 12), 0.5))
    torch.manual_seed(1)
    beta_one = rd.beta_elbo(model, x, 1.0, n_samples=3)
    torch.manual_seed(1)
    torch.testing.assert_close(beta_one, elbo.elbo(model, x, n_samples=3))


def test_free_bits_units_below_the_floor_get_no_gradient():
    mu = torch.tensor([[0.01, 2.0], [-0.01, 1.5]], requires_grad=True)
    log_sigma = torch.zeros(2, 2, requires_grad=True)
    rate = rd.free_bits_rate(Normal(mu, log_sigma.exp()), free_bits=0.5).mean()
    rate.backward()
    assert torch.all(mu.grad[:, 0] == 0) and torch.all(mu.grad[:, 1] != 0)
    # the charged rate: lambda for the first unit, the mean KL for the second
    assert rate.item() == pytest.approx(0.5 + 0.5 * (4.0 + 2.25) / 2)


def test_kl_weight_rises_linearly_to_one():
    assert [rd.kl_weight(s, 10) for s in (0, 5, 10, 30)] == [0.0, 0.5, 1.0, 1.0]
    assert rd.kl_weight(0, 0) == 1.0


def test_an_encoder_that_ignores_x_has_no_active_units():
    model = _model()
    with torch.no_grad():
        model.encoder.enc_mu.weight.zero_()
    x = torch.rand(50, 12)
    assert rd.active_units(model, x) == 0
    assert torch.all(rd.unit_activity(model, x) < 1e-12)


def test_bad_arguments_say_what_is_wrong():
    model, x = _model(), torch.rand(3, 12)
    with pytest.raises(ValueError, match="beta"):
        rd.beta_elbo(model, x, -1.0)
    with pytest.raises(ValueError, match="at least 2"):
        rd.unit_activity(model, x[:1])
    with pytest.raises(ValueError, match="free_bits"):
        rd.free_bits_rate(model.encode(x), -0.1)


def test_the_autoregressive_decoder_scores_samples_and_batches():
    torch.manual_seed(0)
    model = AutoregressiveVAE(hidden=8, latent_dim=3)
    x = torch.bernoulli(torch.full((4, 1, 28, 28), 0.3))
    h = torch.randn(6, 4, 3)
    assert model.log_likelihood(x, h).shape == (6, 4)
    assert model.log_likelihood(x, h[0]).shape == (4,)
    # with zero pixel weights it is the lecture's Bernoulli decoder
    plain = models.VAE(784, 8, 3, (1, 28, 28))
    plain.load_state_dict({k: v for k, v in model.state_dict().items() if k not in ("pixel_weights", "mask")})
    torch.testing.assert_close(model.log_likelihood(x, h), plain.log_likelihood(x, h))
    images = model.sample_images(torch.zeros(2, 3), generator=torch.Generator().manual_seed(0))
    assert images.shape == (2, 1, 28, 28) and set(images.unique().tolist()) <= {0.0, 1.0}


@pytest.mark.parametrize(("beta", "weight", "free_bits"), [(1.0, 1.0, 0.0), (0.25, 0.4, 0.0), (3.0, 0.7, 0.3)])
def test_the_training_loss_is_distortion_plus_weighted_rate(beta, weight, free_bits):
    from torch.distributions import kl_divergence

    from vaecourse import objectives

    spec = objectives.ModelSpec(
        "t", latent_dim=3, hidden=8, objective=objectives.Objective(beta=beta, free_bits=free_bits)
    )
    torch.manual_seed(0)
    model, posterior = objectives.build(spec)
    x = torch.bernoulli(torch.full((16, 1, 28, 28), 0.3))
    torch.manual_seed(1)
    loss, _, _ = objectives.batch_loss(spec, model, posterior, x, kl_scale=weight)
    torch.manual_seed(1)  # the same draw of h
    q = model.encode(x)
    distortion = -model.log_likelihood(x, q.rsample()).mean()
    per_unit = kl_divergence(q, Normal(torch.zeros_like(q.loc), torch.ones_like(q.scale)))  # (16, 3)
    mean_per_unit = per_unit.mean(0)
    rate = mean_per_unit.clamp(min=free_bits).sum() if free_bits else mean_per_unit.sum()
    torch.testing.assert_close(loss, distortion + weight * beta * rate)


def test_the_autoregressive_logit_of_a_pixel_sums_over_the_pixels_before_it():
    torch.manual_seed(0)
    model = AutoregressiveVAE(hidden=8, latent_dim=2)
    with torch.no_grad():
        model.pixel_weights.normal_(0.0, 0.1)
    x = torch.bernoulli(torch.full((2, 784), 0.4))
    h = torch.randn(2, 2)
    logits = model.logits(x, h)  # (2, 784)
    base = model.decoder(h)  # (2, 784): f(h) alone
    weights = model.pixel_weights.detach()
    for d in (0, 1, 29, 400, 783):
        expected = base[:, d] + sum(weights[d, e] * x[:, e] for e in range(d)) if d else base[:, 0]
        torch.testing.assert_close(logits[:, d], expected, rtol=1e-5, atol=1e-5)
