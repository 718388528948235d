"""The lecture's two VAEs (vaecourse.models): architecture, parameter counts, the model protocol, and the
refusal of sizes and inputs they cannot take."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from vaecourse import models
from vaecourse.models import (
    VAE,
    ConvVAE,
    Encoder,
    ModelConfig,
    build_model,
    encoder_means,
)

# Tiny models and many small tensor operations: one intra-op thread (see tests/conftest.py).
pytestmark = pytest.mark.usefixtures("one_thread")


def n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_conv_vae_has_the_keras_parameter_counts():
    """keras.io's summary: encoder 69,076 and decoder 65,089 trainable parameters (REFERENCE.md)."""
    model = ConvVAE(latent_dim=2)
    assert n_params(model.encoder) == 69_076
    assert n_params(model.decoder) == 65_089


def test_mlp_parameter_count_follows_the_layer_formula():
    data_dim, hidden, k = 784, 400, 20
    model = VAE(data_dim, hidden, k)
    encoder = (data_dim * hidden + hidden) + (hidden * hidden + hidden) + 2 * (hidden * k + k)
    decoder = (k * hidden + hidden) + (hidden * hidden + hidden) + (hidden * data_dim + data_dim)
    assert n_params(model.encoder) == encoder and n_params(model.decoder) == decoder
    assert models.count_parameters(model) == encoder + decoder


def test_encoder_is_the_lectures_and_returns_a_normal():
    torch.manual_seed(0)
    encoder = Encoder(D_in=12, H=7, latent_size=3)
    assert [name for name, _ in encoder.named_children()] == ["linear1", "linear2", "enc_mu", "enc_log_sigma"]
    x = torch.randn(5, 12)
    q = encoder(x)
    assert type(q) is torch.distributions.Normal and q.batch_shape == (5, 3)
    a = torch.relu(encoder.linear2(torch.relu(encoder.linear1(x))))  # by hand
    torch.testing.assert_close(q.loc, encoder.enc_mu(a))
    torch.testing.assert_close(q.scale, torch.exp(encoder.enc_log_sigma(a)))


@pytest.mark.parametrize("make", [lambda: VAE(784, 16, 2, (1, 28, 28)), lambda: ConvVAE(2)], ids=["mlp", "conv"])
def test_protocol_shapes_and_bernoulli_log_likelihood(make):
    torch.manual_seed(1)
    model = make()
    x = torch.bernoulli(torch.full((4, 1, 28, 28), 0.3))
    q = model.encode(x)
    assert q.batch_shape == (4, model.latent_dim)
    h = q.rsample((3,))  # (S, B, k)
    ll = model.log_likelihood(x, h)
    assert ll.shape == (3, 4) and model.log_likelihood(x, h[0]).shape == (4,)
    # Independent route: torch's own (validating) Bernoulli on the decoder's logits.
    logits = torch.logit(model.decoder_mean(h).clamp(1e-6, 1 - 1e-6))
    reference = torch.distributions.Bernoulli(logits=logits).log_prob(x.expand(3, -1, -1, -1, -1)).sum((-3, -2, -1))
    torch.testing.assert_close(ll, reference, rtol=1e-4, atol=1e-2)
    torch.testing.assert_close(model.decode(h).log_prob(x), ll)
    assert model.decoder_mean(h).shape == (3, 4, 1, 28, 28)
    prior = model.prior()
    assert prior.batch_shape == (model.latent_dim,) and float(prior.stddev.min()) == 1.0
    assert model.sample(6).shape == (6, 1, 28, 28)


def test_gaussian_decoder_matches_torch_normal():
    torch.manual_seed(2)
    model = VAE(10, 8, 2, likelihood="gaussian")
    with torch.no_grad():
        model.log_scale.fill_(math.log(0.3))
    x, h = torch.randn(5, 10), torch.randn(5, 2)
    mean = model.decoder_mean(h)
    reference = torch.distributions.Normal(mean, 0.3).log_prob(x).sum(-1)
    torch.testing.assert_close(model.log_likelihood(x, h), reference)
    assert "log_scale" in dict(model.named_parameters())


def test_mlp_decoder_net_is_plain_linear_layers():
    model = VAE(784, 32, 2, (1, 28, 28), decoder_activation="tanh")
    assert isinstance(model.decoder.net, nn.Sequential)
    assert all(isinstance(layer, (nn.Linear, nn.ReLU, nn.Tanh)) for layer in model.decoder.net)
    assert model.decoder.net[0].in_features == 2 and model.decoder.net[-1].out_features == 784


def test_config_builds_and_round_trips():
    for config in (
        ModelConfig("mlp", latent_dim=3, hidden=16, data_shape=(1, 8, 8), decoder_activation="tanh"),
        ModelConfig("conv", latent_dim=2),
    ):
        model = build_model(config)
        assert model.config == config
        assert type(model) is (VAE if config.architecture == "mlp" else ConvVAE)


@pytest.mark.parametrize(
    "kwargs, word",
    [
        ({"architecture": "rnn"}, "architecture"),
        ({"latent_dim": 0}, "latent_dim"),
        ({"likelihood": "poisson"}, "likelihood"),
        ({"architecture": "conv", "data_shape": (1, 16, 16)}, "ConvVAE"),
    ],
)
def test_config_refuses_bad_values(kwargs, word):
    with pytest.raises(ValueError, match=word):
        ModelConfig(**kwargs)


def test_repr_reads_well():
    text = repr(ConvVAE())
    assert "encoder 69,076" in text and "decoder 65,089" in text
    assert "latent_dim=2" in repr(VAE(784, 16, 2)) and "likelihood='bernoulli'" in repr(VAE(784, 16, 2))


def test_encoder_means_in_batches_are_the_means_of_one_pass():
    torch.manual_seed(0)
    model = VAE(data_dim=12, hidden=8, latent_dim=3)
    x = torch.rand(10, 12)
    got = encoder_means(model, x, batch_size=3)  # four batches, the last one short
    assert got.shape == (10, 3) and not got.requires_grad
    torch.testing.assert_close(got, model.encode(x).mean.detach())
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        encoder_means(model, x, batch_size=0)


def test_models_keep_the_config_they_were_built_from():
    mlp = VAE(data_dim=6, hidden=5, latent_dim=2, data_shape=(2, 3), likelihood="gaussian", decoder_activation="tanh")
    assert mlp.config == ModelConfig(
        architecture="mlp", latent_dim=2, hidden=5, data_shape=(2, 3), likelihood="gaussian", decoder_activation="tanh"
    )
    assert ConvVAE(latent_dim=3).config == ModelConfig(architecture="conv", latent_dim=3)
    with pytest.raises(ValueError, match="likelihood must be one of"):
        VAE(data_dim=4, likelihood="poisson")


def _course_models() -> dict:
    """One instance of every model the course trains or scores, by name."""
    from vaecourse.autoregressive import AutoregressiveVAE
    from vaecourse.ising import conditional
    from vaecourse.linear_gaussian import LinearGaussian

    torch.manual_seed(0)
    cvae = conditional.ConditionalVAE(conditional.ConditionalConfig(L=4, hidden=8))
    rows = conditional.pack(torch.ones(3, 4, 4), torch.tensor([1.0, 2.0, 3.0]))
    return {
        "mlp": VAE(784, 16, 2, (1, 28, 28)),
        "conv": ConvVAE(2),
        "autoregressive": AutoregressiveVAE(hidden=8, latent_dim=2),
        # the spectra chapter's model: the MLP VAE with a Gaussian likelihood on 1-D data
        "spectra": build_model(ModelConfig("mlp", latent_dim=2, hidden=8, data_shape=(50,), likelihood="gaussian")),
        "linear-gaussian": LinearGaussian.random(data_dim=5, latent_dim=2),
        "conditioned ising": conditional.conditioned(cvae, rows),
    }


VAE_MODELS = ("mlp", "conv", "autoregressive", "spectra")


@pytest.mark.parametrize("name", ["mlp", "conv", "autoregressive", "spectra", "linear-gaussian", "conditioned ising"])
def test_every_course_model_is_a_latent_variable_model(name):
    model = _course_models()[name]
    assert isinstance(model, models.LatentVariableModel)
    assert isinstance(model, models.VAEModel) == (name in VAE_MODELS)


def test_the_keras_adapter_is_a_vae_model():
    from vaecourse import keras_vae as kv

    assert isinstance(kv.KerasAsTorchVAE(kv.build_vae(seed=0)), models.VAEModel)


def test_a_model_missing_a_member_is_not_a_vae_model():
    class NoPrior(nn.Module):
        latent_dim, data_shape, likelihood = 2, (4,), "bernoulli"

        def encode(self, x):
            return torch.distributions.Normal(x[:, :2], 1.0)

        def log_likelihood(self, x, h):
            return x.sum(-1)

        def decoder_mean(self, h):
            return h

    assert not isinstance(NoPrior(), models.LatentVariableModel)
    assert not isinstance(NoPrior(), models.VAEModel)
    NoPrior.prior = lambda self: torch.distributions.Normal(torch.zeros(2), 1.0)
    assert isinstance(NoPrior(), models.VAEModel)  # the same class with the member added
    # the conditional Ising VAE itself has a prior per temperature (prior_at), not prior(): its
    # conditioned() view is the model the ELBO and the quadrature take
    from vaecourse.ising import conditional

    assert not isinstance(
        conditional.ConditionalVAE(conditional.ConditionalConfig(L=4, hidden=8)), models.LatentVariableModel
    )


def test_prior_samples_and_encoder_follow_the_models_device_and_dtype():
    torch.manual_seed(0)
    model = VAE(data_dim=6, hidden=5, latent_dim=2).double()
    assert model.prior().mean.dtype == torch.float64 and model.sample(3).dtype == torch.float64
    assert encoder_means(model, torch.rand(4, 6)).dtype == torch.float64  # float32 rows are converted
    with pytest.raises(ValueError, match="x is torch.float32, the model's weights are torch.float64"):
        model.encode(torch.rand(4, 6))


@pytest.mark.parametrize(
    "config",
    [
        ModelConfig(architecture="mlp", latent_dim=2, hidden=400),
        ModelConfig(architecture="mlp", latent_dim=20, hidden=33, data_shape=(3, 5, 7), decoder_activation="tanh"),
        ModelConfig(architecture="conv", latent_dim=2),
        ModelConfig(architecture="conv", latent_dim=16),
    ],
    ids=["mlp", "mlp-odd", "conv", "conv-16"],
)
def test_parameter_estimate_is_the_built_models_count(config):
    """The size checked before any weight is allocated is the number of weights the model then has."""
    assert models.parameter_estimate(config) == models.count_parameters(build_model(config))


def test_a_model_too_large_for_memory_is_refused_before_allocation():
    with pytest.raises(ValueError, match="model"):
        VAE(hidden=10**7)


@pytest.mark.parametrize(
    "make",
    [
        lambda: VAE(latent_dim=0),
        lambda: ConvVAE(latent_dim=0),
        lambda: VAE(latent_dim=2.0),
        lambda: ConvVAE(latent_dim=2.0),
        lambda: VAE(hidden=1.5),
    ],
)
def test_a_latent_dim_or_width_that_is_not_a_positive_integer_is_refused(make):
    with pytest.raises(ValueError, match="must be a positive integer"):
        make()


def test_conv_encode_refuses_three_channel_images():
    with pytest.raises(ValueError, match=r"shape \(B, 1, 28, 28\)"):
        ConvVAE().encode(torch.rand(4, 3, 28, 28))  # not a batch of 12 one-channel images
