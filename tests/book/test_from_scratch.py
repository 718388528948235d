"""The code a student reads in the chapters is tied to the package: each tagged cell of a chapter is
executed here and its result compared with the package's route to the same number.

- ``book/pytorch_vae.md``, cell tagged ``from-scratch-vae``: the twenty-line ``ScratchVAE``; its loss
  equals :func:`vaecourse.elbo.loss` of :class:`vaecourse.models.VAE` on the same weights, batch and
  random numbers.
- ``book/sgd.md``, cell tagged ``first-sgd-step``: gradient steps on the closed-form ELBO end at the
  exact log p(x) of the linear-Gaussian model, with Q equal to its posterior.
- ``book/reparameterisation.md``, cell tagged ``estimator-cores``: the three estimators' cores.
"""

from __future__ import annotations

import contextlib
import io

import pytest
import torch

from scripts.chapters import ROOT


def chapter_cell(chapter: str, tag: str) -> str:
    """The source of the one code cell of ``book/<chapter>.md`` that carries ``tag``."""
    import jupytext

    notebook = jupytext.read(ROOT / "book" / f"{chapter}.md", fmt="md:myst")
    cells = [c.source for c in notebook.cells if c.cell_type == "code" and tag in c.metadata.get("tags", [])]
    assert len(cells) == 1, f"book/{chapter}.md: expected one code cell tagged {tag!r}, found {len(cells)}"
    return cells[0]


def run_cell(chapter: str, tag: str, **given) -> dict:
    """Execute the tagged cell in a fresh namespace holding ``given`` (what the chapter's first cell
    imports), its printed output swallowed; return the namespace."""
    namespace: dict = {"__name__": f"chapter_{chapter}", **given}
    with contextlib.redirect_stdout(io.StringIO()):
        exec(compile(chapter_cell(chapter, tag), f"book/{chapter}.md[{tag}]", "exec"), namespace)
    return namespace


@pytest.fixture(scope="module")
def scratch_class():
    return run_cell("pytorch_vae", "from-scratch-vae")["ScratchVAE"]


def package_twin(scratch) -> torch.nn.Module:
    """The package's VAE holding the from-scratch model's weights."""
    from vaecourse import models

    vae = models.VAE(data_dim=784, hidden=400, latent_dim=scratch.encoder.enc_mu.out_features)
    vae.encoder.load_state_dict(scratch.encoder.state_dict())
    vae.decoder.net.load_state_dict(scratch.decoder.state_dict())
    return vae


def test_from_scratch_loss_equals_package_loss(scratch_class):
    from vaecourse import elbo

    torch.manual_seed(0)
    scratch = scratch_class(latent_size=20)
    vae = package_twin(scratch)
    x = torch.bernoulli(torch.rand(32, 784))
    torch.manual_seed(1)
    ours = scratch.loss(x)
    torch.manual_seed(1)
    theirs = elbo.loss(vae, x)
    assert torch.allclose(ours, theirs, rtol=1e-5), (ours.item(), theirs.item())
    # The comparison can fail: other noise gives another single-sample loss.
    torch.manual_seed(2)
    assert not torch.allclose(scratch.loss(x), theirs, rtol=1e-5)


def test_from_scratch_gradients_equal_package_gradients(scratch_class):
    """Same loss is not enough: the encoder must get the same gradient (rsample, not sample)."""
    from vaecourse import elbo

    torch.manual_seed(0)
    scratch = scratch_class(latent_size=3)
    vae = package_twin(scratch)
    x = torch.bernoulli(torch.rand(16, 784))
    torch.manual_seed(1)
    ours = torch.autograd.grad(scratch.loss(x), scratch.encoder.enc_log_sigma.weight)[0]
    torch.manual_seed(1)
    theirs = torch.autograd.grad(elbo.loss(vae, x), vae.encoder.enc_log_sigma.weight)[0]
    assert torch.allclose(ours, theirs, rtol=1e-4, atol=1e-6)


def test_first_sgd_step_reaches_log_px():
    ns = run_cell("sgd", "first-sgd-step")
    model, x, mu, logvar = ns["model"], ns["x"], ns["mu"], ns["logvar"]
    posterior = model.posterior(x)
    assert abs(ns["elbo_x"].item() - model.log_px(x).item()) < 1e-6
    assert torch.allclose(mu.detach(), posterior.mean, atol=1e-4)
    variance = torch.diagonal(posterior.covariance_matrix, dim1=-2, dim2=-1)
    assert torch.allclose(logvar.detach().exp(), variance, rtol=1e-3)


def test_estimator_cores_match_the_exact_gradient():
    ns = run_cell("reparameterisation", "estimator-cores", torch=torch)
    mu, sigma = ns["mu"], ns["sigma"]  # the leaves of the last (score-function) block
    exact_mu, exact_sigma = 2 * mu.detach(), 2 * sigma.detach()
    # score function with S = 100,000: its standard error is below 0.05 for these parameters
    assert torch.allclose(mu.grad, exact_mu, atol=0.1)
    assert torch.allclose(sigma.grad, exact_sigma, atol=0.15)
    # the naive block left a loss with no path to the parameters
    assert ns["loss"].requires_grad is False
