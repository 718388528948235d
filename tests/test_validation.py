"""vaecourse.validation: the count check and the switch that turns the value checks off."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from vaecourse import elbo, kl, validation
from vaecourse.linear_gaussian import LinearGaussian


@pytest.mark.parametrize("value", [1, 7, np.int64(3)])
def test_require_count_accepts_integers_and_returns_an_int(value):
    got = validation.require_count(value, "n")
    assert got == value and type(got) is int


@pytest.mark.parametrize(
    "value, minimum, message",
    [
        (0, 1, "n must be a positive integer, got 0"),
        (True, 1, "n must be a positive integer, got True"),
        (2.0, 1, "n must be a positive integer, got 2.0"),
        ("3", 1, "n must be a positive integer, got '3'"),
        (2, 3, "n must be an integer >= 3, got 2"),
        (-1, 0, "n must be an integer >= 0, got -1"),
    ],
)
def test_require_count_names_the_argument_and_the_bound(value, minimum, message):
    with pytest.raises(ValueError, match=f"^{message}$"):
        validation.require_count(value, "n", minimum=minimum)


def test_disabled_skips_the_value_checks_and_restores_them():
    mu, logvar = torch.tensor([math.nan, 0.0]), torch.zeros(2)
    with pytest.raises(ValueError, match="mu contains NaN"):
        kl.kl_standard_normal(mu, logvar)
    assert validation.enabled()
    with validation.disabled():
        assert not validation.enabled()
        assert math.isnan(float(kl.kl_standard_normal(mu, logvar)))  # no check: the NaN comes through
        with validation.disabled():
            pass
        assert not validation.enabled()  # a nested block restores the outer state
    assert validation.enabled()
    with pytest.raises(RuntimeError), validation.disabled():
        raise RuntimeError("an error inside the block")
    assert validation.enabled()  # restored after an exception too


def test_disabled_switches_off_torch_distributions_checks_and_restores_them():
    nan = torch.tensor([math.nan])
    with pytest.raises(ValueError):
        torch.distributions.Normal(nan, 1.0)
    with validation.disabled():
        assert math.isnan(float(torch.distributions.Normal(nan, 1.0).mean))  # no check: the NaN comes through
    with pytest.raises(ValueError):
        torch.distributions.Normal(nan, 1.0)  # restored


def test_disabled_keeps_the_shape_and_count_checks():
    model = LinearGaussian.random(data_dim=4, latent_dim=2, seed=0)
    x = model.sample(3, seed=1)[0]
    with validation.disabled():
        with pytest.raises(ValueError, match="same shape"):
            kl.kl_standard_normal(torch.zeros(2), torch.zeros(3))
        with pytest.raises(ValueError, match="n_samples must be a positive integer"):
            elbo.elbo(model, x, n_samples=0)
        torch.testing.assert_close(
            validation.require_spd("cov", torch.eye(2, dtype=torch.float64)), torch.eye(2, dtype=torch.float64)
        )


def test_disabled_gives_the_same_numbers():
    model = LinearGaussian.random(data_dim=4, latent_dim=2, seed=0)
    x = model.sample(3, seed=1)[0]
    torch.manual_seed(0)
    checked = elbo.elbo(model, x, n_samples=5)
    torch.manual_seed(0)
    with validation.disabled():
        unchecked = elbo.elbo(model, x, n_samples=5)
    torch.testing.assert_close(checked, unchecked, rtol=0, atol=0)
