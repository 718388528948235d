"""posterior_families and flows: each family's two routes to log Q agree; the flow inverts; errors are clear."""

from __future__ import annotations

import pytest
import torch

from vaecourse import flows
from vaecourse import posterior_families as pf


@pytest.mark.parametrize("name", pf.FAMILIES)
def test_log_density_of_a_sample_two_routes(name):
    family = pf.family(name, 2)
    gen = torch.Generator().manual_seed(0)
    params = 0.5 * torch.randn(4, family.n_params, generator=gen, dtype=torch.float64)
    torch.manual_seed(1)
    h, log_q = family.sample(params, 7)
    assert h.shape == (7, 4, 2) and log_q.shape == (7, 4)
    torch.testing.assert_close(family.log_prob(params, h), log_q)


def test_the_diagonal_family_is_torch_normal():
    family = pf.DiagonalGaussian(3)
    params = torch.randn(2, 6, dtype=torch.float64)
    h = torch.randn(5, 2, 3, dtype=torch.float64)
    expected = torch.distributions.Normal(params[:, :3], params[:, 3:].exp()).log_prob(h).sum(-1)
    torch.testing.assert_close(family.log_prob(params, h), expected)


def test_the_flow_inverts_and_its_log_determinants_cancel():
    flow = flows.CouplingFlow(n_layers=3, hidden=5)
    params = torch.randn(2, flow.n_params, dtype=torch.float64)
    h0 = torch.randn(9, 2, 2, dtype=torch.float64)
    h, log_det = flow.forward(params, h0)
    back, log_det_inverse = flow.inverse(params, h)
    torch.testing.assert_close(back, h0)
    torch.testing.assert_close(log_det_inverse, -log_det)


def test_a_fresh_flow_encoder_starts_as_the_identity():
    torch.manual_seed(0)
    encoder = pf.AmortisedPosterior("flow", data_dim=12, hidden=8)
    params = encoder(torch.rand(3, 12))
    family = encoder.family
    h0 = torch.randn(4, 3, 2)
    h, log_det = family.flow.forward(params[:, 4:], h0)
    torch.testing.assert_close(h, h0)
    assert torch.all(log_det == 0)


def test_bad_families_and_shapes_are_refused():
    with pytest.raises(ValueError, match="unknown posterior family"):
        pf.family("mixture")
    with pytest.raises(ValueError, match="2-D latent"):
        pf.FlowPosterior(latent_dim=3)
    flow = flows.CouplingFlow()
    with pytest.raises(ValueError, match="params must have shape"):
        flow.forward(torch.zeros(2, 5), torch.zeros(1, 2, 2))
    with pytest.raises(ValueError, match="points must have shape"):
        flow.forward(torch.zeros(2, flow.n_params), torch.zeros(1, 3, 2))
