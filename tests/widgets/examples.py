"""Small models, images and widgets shared by the widget tests (tests/widgets/) and the in-page tests
(tests/browser/); the built-in benchmark of the posterior pad uses trained_model too."""

from __future__ import annotations

import warnings

import numpy as np
import torch
from torch import nn

from vaecourse import elbo, ising, models, widgets
from vaecourse.widgets import ising_lattice

# --------------------------------------------------------------------------------------------------
# A small model following the course's model protocol (independent of vaecourse.models)


class _Decoder(nn.Module):
    def __init__(self, layers):
        super().__init__()
        self.net = nn.Sequential(*layers)


class _Encoder(nn.Module):
    def __init__(self, data_dim, hidden, latent_dim):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(data_dim, hidden), nn.ReLU())
        self.mu = nn.Linear(hidden, latent_dim)
        self.logvar = nn.Linear(hidden, latent_dim)


class ProtocolVAE(nn.Module):
    """latent_dim, data_shape, likelihood, encode -> Normal, decoder.net (Sequential), decoder_mean =
    sigmoid(net) for a Bernoulli likelihood, net itself for a Gaussian one."""

    def __init__(self, latent_dim=2, hidden=64, data_shape=(1, 28, 28), decoder_layers=None, likelihood="bernoulli"):
        super().__init__()
        self.latent_dim, self.data_shape, self.likelihood = latent_dim, tuple(data_shape), likelihood
        self.output = torch.sigmoid if likelihood == "bernoulli" else (lambda a: a)
        data_dim = int(np.prod(data_shape))
        self.encoder = _Encoder(data_dim, hidden, latent_dim)
        layers = decoder_layers or [
            nn.Linear(latent_dim, hidden),
            nn.ReLU(),
            nn.Linear(hidden, hidden),
            nn.Tanh(),
            nn.Linear(hidden, data_dim),
        ]
        self.decoder = _Decoder(layers)

    def encode(self, x):
        a = self.encoder.body(x.reshape(len(x), -1))
        return torch.distributions.Normal(self.encoder.mu(a), torch.exp(0.5 * self.encoder.logvar(a)))

    def decoder_mean(self, h):
        return self.output(self.decoder.net(h)).reshape(*h.shape[:-1], *self.data_shape)


def protocol_model(latent_dim=2, hidden=64, seed=0, **kwargs):
    """A ProtocolVAE with decoder weights scaled by 3, so that its pixels span (0, 1)."""
    torch.manual_seed(seed)
    model = ProtocolVAE(latent_dim, hidden, **kwargs)
    with torch.no_grad():  # larger weights than the default init, so that pixels span (0, 1)
        for p in model.decoder.parameters():
            p.mul_(3.0)
    return model


def random_images(n=200, seed=1):
    """n uniform random 28 x 28 grey images and labels 0..9: (n, 1, 28, 28), (n,)."""
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(n, 1, 28, 28, generator=generator), torch.randint(0, 10, (n,), generator=generator)


# --------------------------------------------------------------------------------------------------
# Models of the course


def trained_model(hidden: int = 256, steps: int = 2000, seed: int = 0):
    """A small 2-D Bernoulli VAE trained for a few hundred steps on the offline MNIST subset."""
    from vaecourse import data, recipes

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", data.OfflineSubsetWarning)
        x_train, _ = recipes.load_dataset("mnist", "train")
        x_test, y_test = recipes.load_dataset("mnist", "test")
    torch.manual_seed(seed)
    model = models.VAE(hidden=hidden, latent_dim=2, data_shape=(1, 28, 28))
    optimiser = torch.optim.Adam(model.parameters(), lr=2e-3)
    generator = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        batch = x_train[torch.randint(len(x_train), (100,), generator=generator)]
        batch = torch.bernoulli(batch, generator=generator)
        optimiser.zero_grad()
        elbo.loss(model, batch).backward()
        optimiser.step()
    order = torch.randperm(len(x_test), generator=torch.Generator().manual_seed(1))
    x_test = (x_test[order] > 0.5).float()
    return model.eval(), x_test, y_test[order]


def posterior_explorer():
    """A PosteriorExplorer of an untrained 2-D VAE on 10 random binary images; returns (widget, model, x)."""
    torch.manual_seed(0)
    model = models.VAE(hidden=128, latent_dim=2, data_shape=(1, 28, 28))
    x = (torch.rand(10, 1, 28, 28, generator=torch.Generator().manual_seed(4)) > 0.7).float()
    return widgets.PosteriorExplorer(model, x, grid_size=41, limit=4.0), model, x


def lattice_model(L: int = 16, latent_dim: int = 1, seed: int = 0):
    """An untrained MLP VAE for L x L lattices."""
    torch.manual_seed(seed)
    return models.VAE(data_dim=L * L, hidden=32, latent_dim=latent_dim, data_shape=(1, L, L)).eval()


def lattice_widget(L=16, latent_dim=1, **kwargs):
    """An IsingLattice of lattice_model on 200 made-up (temperature, latent) points; returns (widget, model)."""
    model = lattice_model(L, latent_dim)
    rng = np.random.default_rng(0)
    temperature = rng.uniform(1.0, 3.5, 200)
    latent = rng.normal(size=(200, latent_dim)) * np.where(temperature < ising.T_C, 1.0, 0.2)[:, None]
    return ising_lattice.IsingLattice(model, temperature, latent, tc=(2.3, 0.05), **kwargs), model
