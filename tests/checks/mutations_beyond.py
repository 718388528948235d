"""Each check of book/kl_in_practice.md and book/richer_posteriors.md FAILS when its formula is broken.

The same idea as tests/checks/mutations_lecture.py, for the two chapters beyond the lecture: swap in a
broken formula (the distortion with the wrong sign, beta on the wrong term, free bits per image, the
Cholesky factor transposed, a flow without its log-determinant ...) and assert that the check
guarding it reports a failure (tests/checks/test_mutations.py).
"""

from __future__ import annotations

import math

import torch

from vaecourse import autoregressive, flows, gaps
from vaecourse import posterior_families as pf
from vaecourse import rate_distortion as rd
from vaecourse.checks import kl_in_practice, richer_posteriors
from vaecourse.models import encoder_means

_rate_distortion = rd.rate_distortion
_kl_per_unit = rd.kl_per_unit


def _distortion_sign_flipped(model, x, n_samples=1):
    rate, distortion = _rate_distortion(model, x, n_samples)
    return rate, -distortion


def _kl_per_unit_without_minus_one(q):
    var = q.scale.pow(2)
    return 0.5 * (var + q.loc.pow(2) - torch.log(var))


def _kl_per_unit_sigma_for_variance(q):
    return 0.5 * (q.scale + q.loc.pow(2) - 1.0 - torch.log(q.scale))


def _beta_on_distortion(model, x, beta, n_samples=1):
    rate, distortion = rd.rate_distortion(model, x, n_samples)
    return -(beta * distortion + rate)


def _beta_ignored(model, x, beta, n_samples=1):
    rate, distortion = rd.rate_distortion(model, x, n_samples)
    return -(distortion + rate)


def _free_bits_per_image(q, free_bits):
    return _kl_per_unit(q).clamp(min=free_bits).sum(-1)


def _free_bits_none(q, free_bits):
    return _kl_per_unit(q).sum(-1)


def _activity_of_scales(model, x, batch_size=4096):
    with torch.no_grad():
        return model.encode(x).scale.var(0, correction=0)  # the spread of sigma, not of the mean


def _activity_mean_not_variance(model, x, batch_size=4096):
    return encoder_means(model, x, batch_size).mean(0).abs()


def _active_on_std(model, x, threshold=rd.ACTIVE_THRESHOLD):
    return int((rd.unit_activity(model, x).sqrt() > threshold).sum())


def _logits_see_own_pixel(self, x_flat):
    return x_flat @ (self.pixel_weights * torch.tril(torch.ones_like(self.mask))).T  # diagonal kept


def _full_sample_transposed(self, params, n):
    k = self.latent_dim
    mu, tril = params[..., :k], self.scale_tril(params)
    eps = torch.randn(n, *mu.shape, dtype=mu.dtype, device=mu.device)
    h = mu + (tril.transpose(-2, -1) @ eps.unsqueeze(-1)).squeeze(-1)  # L^T eps: covariance L^T L
    return h, pf._standard_normal_log_prob(eps) - params[..., k : 2 * k].sum(-1)


def _full_sample_diagonal_only(self, params, n):
    k = self.latent_dim
    mu, log_diag = params[..., :k], params[..., k : 2 * k]
    eps = torch.randn(n, *mu.shape, dtype=mu.dtype, device=mu.device)
    return mu + torch.exp(log_diag) * eps, pf._standard_normal_log_prob(eps) - log_diag.sum(-1)


def _full_sample_without_log_det(self, params, n):
    k = self.latent_dim
    mu, tril = params[..., :k], self.scale_tril(params)
    eps = torch.randn(n, *mu.shape, dtype=mu.dtype, device=mu.device)
    return mu + (tril @ eps.unsqueeze(-1)).squeeze(-1), pf._standard_normal_log_prob(eps)


_flow_forward = flows.CouplingFlow.forward
_flow_inverse = flows.CouplingFlow.inverse


def _flow_without_log_det(self, params, h0):
    h, log_det = _flow_forward(self, params, h0)
    return h, torch.zeros_like(log_det)


def _flow_log_det_of_last_layer(self, params, h0):
    h, _ = _flow_forward(self, params, h0)
    last = flows.CouplingFlow(1, self.hidden)
    before, _ = _flow_forward(
        flows.CouplingFlow(self.n_layers - 1, self.hidden), params[:, : (self.n_layers - 1) * self.params_per_layer], h0
    )
    _, log_det = _flow_forward(last, params[:, (self.n_layers - 1) * self.params_per_layer :], before)
    return h, log_det  # only one layer's log-determinant (the conditioning coordinate also differs)


def _flow_inverse_wrong_sign(self, params, h):
    h0, log_det = _flow_inverse(self, params, h)
    return h0, -log_det


def _grid_kl_without_cell(q_family, params, grid_h1, grid_h2, log_posterior):
    log_q = gaps.log_q_on_grid(q_family, params, grid_h1, grid_h2)
    return (torch.exp(log_q) * (log_q - log_posterior.to(log_q))).sum((-2, -1))


def _amortisation_reversed(self):
    return self.elbo_amortised - self.elbo_best


def _iwae_without_log_k(model, q_family, params, x, k):
    return torch.logsumexp(pf.log_weights(model, q_family, params, x, k), dim=0)


_iwae_of = pf.iwae_of


def _iwae_plus_log_k(model, q_family, params, x, k):
    return _iwae_of(model, q_family, params, x, k) + math.log(k)  # the bound no longer below log p(x)


MUTATIONS = [
    # (what is broken, object, attribute, broken version, checks that must fail)
    # book/kl_in_practice.md
    (
        "distortion: +E_Q[log p(x|h)]",
        rd,
        "rate_distortion",
        _distortion_sign_flipped,
        ["rate-plus-distortion-is-minus-elbo", "distortion-monte-carlo"],
    ),
    (
        "rate per unit: drop -1",
        rd,
        "kl_per_unit",
        _kl_per_unit_without_minus_one,
        ["rate-plus-distortion-is-minus-elbo", "rate-is-kl-to-prior", "free-bits-floor"],
    ),
    (
        "rate per unit: sigma for sigma^2",
        rd,
        "kl_per_unit",
        _kl_per_unit_sigma_for_variance,
        ["rate-is-kl-to-prior", "rate-plus-distortion-is-minus-elbo"],
    ),
    ("beta-ELBO: beta on the distortion", rd, "beta_elbo", _beta_on_distortion, ["beta-elbo-weights-the-rate"]),
    ("beta-ELBO: beta ignored", rd, "beta_elbo", _beta_ignored, ["beta-elbo-weights-the-rate"]),
    ("free bits: floor per image", rd, "free_bits_rate", _free_bits_per_image, ["free-bits-floor"]),
    ("free bits: no floor", rd, "free_bits_rate", _free_bits_none, ["free-bits-floor"]),
    (
        "activity: spread of sigma, not of the mean",
        rd,
        "unit_activity",
        _activity_of_scales,
        ["active-units-known-count"],
    ),
    ("activity: mean, not variance", rd, "unit_activity", _activity_mean_not_variance, ["active-units-known-count"]),
    (
        "active units: threshold on the standard deviation",
        rd,
        "active_units",
        _active_on_std,
        ["active-units-known-count"],
    ),
    (
        "autoregressive mask: a pixel sees itself",
        autoregressive.AutoregressiveVAE,
        "_autoregressive_logits",
        _logits_see_own_pixel,
        ["autoregressive-decoder-is-causal"],
    ),
    # book/richer_posteriors.md
    (
        "full covariance: h = mu + L^T eps",
        pf.FullCovarianceGaussian,
        "sample",
        _full_sample_transposed,
        ["full-covariance-sample-moments", "full-covariance-log-density"],
    ),
    (
        "full covariance: off-diagonal of L ignored",
        pf.FullCovarianceGaussian,
        "sample",
        _full_sample_diagonal_only,
        ["full-covariance-sample-moments", "full-covariance-log-density"],
    ),
    (
        "full covariance: log Q without -sum log L_jj",
        pf.FullCovarianceGaussian,
        "sample",
        _full_sample_without_log_det,
        ["full-covariance-log-density"],
    ),
    (
        "flow: log-determinant forgotten",
        flows.CouplingFlow,
        "forward",
        _flow_without_log_det,
        ["flow-log-det-vs-autograd"],
    ),
    (
        "flow: log-determinant of the last layer only",
        flows.CouplingFlow,
        "forward",
        _flow_log_det_of_last_layer,
        ["flow-log-det-vs-autograd"],
    ),
    (
        "flow inverse: log-determinant with the wrong sign",
        flows.CouplingFlow,
        "inverse",
        _flow_inverse_wrong_sign,
        ["flow-density-integrates-to-one", "gap-decomposition-sums"],
    ),
    (
        "grid KL: forget the cell area",
        gaps,
        "kl_to_posterior_on_grid",
        _grid_kl_without_cell,
        ["gap-decomposition-sums"],
    ),
    (
        "amortisation gap: the wrong way round",
        gaps.Gaps,
        "amortisation",
        property(_amortisation_reversed),
        ["gap-decomposition-sums"],
    ),
    ("IWAE (any Q): forget -log K", pf, "iwae_of", _iwae_without_log_k, ["iwae-ordering"]),
    ("IWAE (any Q): + log K", pf, "iwae_of", _iwae_plus_log_k, ["iwae-ordering"]),
]

CHAPTER_CHECKS = {c.name for c in [*kl_in_practice.CHECKS, *richer_posteriors.CHECKS]}  # what MUTATIONS must guard
