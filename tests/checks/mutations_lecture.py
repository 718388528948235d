"""Mutations of the lecture's formulas: each derivation check must FAIL when the formula it guards is broken.

A check that cannot fail is a defect: for every formula we swap in a broken version (the mistakes
people make -- drop the -k, swap the KL arguments, Sigma for log det Sigma, forget the 1/2, detach
the sample, forget -log k...) and assert that the check guarding it reports a failure. The checks
are in vaecourse/checks/<chapter>.py; MUTATIONS is sorted by the chapter that teaches the formula.
tests/checks/test_mutations.py applies each mutation and runs its checks.
"""

from __future__ import annotations

import math

import torch

from vaecourse import elbo, kl, kl_symbolic, marginal, reparameterisation
from vaecourse import linear_gaussian as lg


def _kl_parts(mu0, cov0, mu1, cov1):
    """The pieces of eq:kl-gaussians, written out plainly (independent of vaecourse.kl's Cholesky route)."""
    inv1 = torch.linalg.inv(cov1)
    diff = (mu1 - mu0).unsqueeze(-1)
    trace = torch.diagonal(inv1 @ cov0, dim1=-2, dim2=-1).sum(-1)
    maha = (diff.transpose(-2, -1) @ inv1 @ diff)[..., 0, 0]
    return trace, maha, mu0.shape[-1], torch.logdet(cov1), torch.logdet(cov0)


def kl_correct(mu0, cov0, mu1, cov1):
    t, m, k, l1, l0 = _kl_parts(mu0, cov0, mu1, cov1)
    return 0.5 * (t + m - k + l1 - l0)


def _kl_without_minus_k(mu0, cov0, mu1, cov1):
    t, m, k, l1, l0 = _kl_parts(mu0, cov0, mu1, cov1)
    return 0.5 * (t + m + l1 - l0)


def _kl_swapped(mu0, cov0, mu1, cov1):
    return kl_correct(mu1, cov1, mu0, cov0)


def _kl_det_not_logdet(mu0, cov0, mu1, cov1):
    t, m, k, _, _ = _kl_parts(mu0, cov0, mu1, cov1)
    return 0.5 * (t + m - k + torch.det(cov1) - torch.det(cov0))


def _kl_log_ratio_upside_down(mu0, cov0, mu1, cov1):
    t, m, k, l1, l0 = _kl_parts(mu0, cov0, mu1, cov1)
    return 0.5 * (t + m - k + l0 - l1)


def _kl_without_half(mu0, cov0, mu1, cov1):
    return 2 * kl_correct(mu0, cov0, mu1, cov1)


def _kl_trace_without_inverse(mu0, cov0, mu1, cov1):
    t, m, k, l1, l0 = _kl_parts(mu0, cov0, mu1, cov1)
    return 0.5 * (torch.diagonal(cov0, dim1=-2, dim2=-1).sum(-1) + m - k + l1 - l0)


def _kl_symmetrised(mu0, cov0, mu1, cov1):
    return 0.5 * (kl_correct(mu0, cov0, mu1, cov1) + kl_correct(mu1, cov1, mu0, cov0))


def _kl_sn_without_minus_one(mu, logvar):
    return 0.5 * (torch.exp(logvar) + mu.pow(2) - logvar).sum(-1)


def _kl_sn_without_half(mu, logvar):
    return (torch.exp(logvar) + mu.pow(2) - 1 - logvar).sum(-1)


def _kl_sn_variance_not_logvar(mu, logvar):  # "Sigma instead of log det Sigma", diagonal case
    return 0.5 * (torch.exp(logvar) + mu.pow(2) - 1 - torch.exp(logvar)).sum(-1)


def _kl_sn_std_for_var(mu, logvar):  # sigma where sigma^2 belongs
    return 0.5 * (torch.exp(0.5 * logvar) + mu.pow(2) - 1 - logvar).sum(-1)


def _kl_full_det_not_logdet(mu, cov):
    k = mu.shape[-1]
    return 0.5 * (torch.diagonal(cov, dim1=-2, dim2=-1).sum(-1) + mu.pow(2).sum(-1) - k - torch.det(cov))


def _kl_mc_reversed(q, p, n_samples):
    h = q.sample((n_samples,))
    ratio = p.log_prob(h) - q.log_prob(h)
    return ratio.mean(0), ratio.std(0) / math.sqrt(n_samples)


def _lecture_eq9_without_half(mu, cov, k):
    import sympy as sp

    return cov.trace() + (mu.T * mu)[0, 0] - k - sp.log(cov.det())


def _symbolic_eq8_swapped(mu0, cov0, mu1, cov1, k):
    import sympy as sp

    diff = mu1 - mu0
    inverse = cov0.inv()
    return sp.Rational(1, 2) * (
        (inverse * cov1).trace() + (diff.T * inverse * diff)[0, 0] - k + sp.log(cov0.det() / cov1.det())
    )


def _marginal_cov_without_noise(self):
    return self.W @ self.W.T + 1e-3 * torch.eye(self.data_dim, dtype=self.W.dtype, device=self.W.device)


def _precision_without_prior(self):
    return self.W.T @ self.W / self.sigma**2


def _precision_sigma_not_squared(self):
    eye = torch.eye(self.latent_dim, dtype=self.W.dtype, device=self.W.device)
    return eye + self.W.T @ self.W / self.sigma


def _conditional_posterior_ignoring_prior_mean(self, y, x):
    eye = torch.eye(self.latent_dim, dtype=self.W.dtype, device=self.W.device)
    cov = torch.linalg.inv(eye + self.W.T @ self.W / self.sigma**2)
    residual = y - x @ self.V.T - self.b
    mean = (residual @ self.W / self.sigma**2) @ cov.T
    return torch.distributions.MultivariateNormal(mean, covariance_matrix=cov.expand(*mean.shape, self.latent_dim))


_quadrature = marginal.log_px_quadrature


def _quadrature_without_cell_area(model, x, grid_size=201, limit=5.0):
    delta = 2 * limit / (grid_size - 1)
    return _quadrature(model, x, grid_size, limit) - 2 * math.log(delta)


_posterior_grid = marginal.posterior_grid


def _posterior_grid_unnormalised(model, x, grid_size=101, limit=4.0):
    h1, h2, log_post = _posterior_grid(model, x, grid_size, limit)
    return h1, h2, log_post + 0.5  # forgot to normalise by p(x)


def _log_px_discrete_without_prior(log_prior, log_likelihood):
    return torch.logsumexp(log_likelihood, dim=-1)


def _log_mean_exp_without_log_k(log_w, dim=0):
    return torch.logsumexp(log_w, dim=dim)


def _ess_without_square(log_weights, dim=0):
    return torch.exp(torch.logsumexp(log_weights, dim) - torch.logsumexp(2 * log_weights, dim))


def _ess_always_n(log_weights, dim=0):
    return torch.full_like(log_weights.sum(dim), float(log_weights.shape[dim]))


_importance = marginal.importance_log_weights


def _importance_without_proposal(model, x, proposal, n_samples):
    batch = x.shape[0]
    h = proposal.sample((n_samples,))
    if h.dim() == 2:
        h = h.unsqueeze(1).expand(n_samples, batch, h.shape[-1])
    return model.log_likelihood(x, h) + model.prior().log_prob(h).sum(-1)  # forgot - log r(h)


def _elbo_without_kl(model, x, n_samples=1, analytic_kl=True):
    q = model.encode(x)
    return model.log_likelihood(x, q.rsample((n_samples,))).mean(0)


def _elbo_kl_added(model, x, n_samples=1, analytic_kl=True):
    q = model.encode(x)
    rec = model.log_likelihood(x, q.rsample((n_samples,))).mean(0)
    return rec + kl.kl_standard_normal(q.loc, 2 * q.scale.log())


_elbo = elbo.elbo


def _loss_plus_elbo(model, x, n_samples=1):
    return _elbo(model, x, n_samples=n_samples).mean()


def _loss_reconstruction_only(model, x, n_samples=1):
    q = model.encode(x)
    return -model.log_likelihood(x, q.rsample((n_samples,))).mean()


_iwae = elbo.iwae


def _iwae_without_log_k(model, x, k, chunk_size=None):
    return _iwae(model, x, k, chunk_size) + math.log(k)


def _iwae_mean_of_logs(model, x, k, chunk_size=None):  # an ELBO with k samples, not the IWAE
    return _elbo(model, x, n_samples=k, analytic_kl=False)


def _iwae_over_k_squared(model, x, k, chunk_size=None):
    return _iwae(model, x, k, chunk_size) - math.log(k)


def _reparameterised_detached(f, mu, sigma, n_samples):
    mu_s = mu.detach().expand(n_samples, *mu.shape).clone().requires_grad_(True)
    sigma_s = sigma.detach().expand(n_samples, *sigma.shape).clone().requires_grad_(True)
    h = (mu_s + sigma_s * torch.randn_like(mu_s)).detach()  # the sample is detached
    value = f(h) + 0 * (mu_s.sum() + sigma_s.sum())
    g_mu, g_sigma = torch.autograd.grad(value.sum(), (mu_s, sigma_s))
    return reparameterisation.GradientEstimate(g_mu, g_sigma)


def _reparameterised_variance_not_std(f, mu, sigma, n_samples):
    mu_s = mu.detach().expand(n_samples, *mu.shape).clone().requires_grad_(True)
    sigma_s = sigma.detach().expand(n_samples, *sigma.shape).clone().requires_grad_(True)
    h = mu_s + sigma_s.pow(2) * torch.randn_like(mu_s)  # Sigma instead of Sigma^(1/2)
    g_mu, g_sigma = torch.autograd.grad(f(h).sum(), (mu_s, sigma_s))
    return reparameterisation.GradientEstimate(g_mu, g_sigma)


def _reparameterised_noisy(f, mu, sigma, n_samples):
    good = _reparameterised(f, mu, sigma, n_samples)  # unbiased, but with much extra noise added
    noise = 20 * torch.randn_like(good.per_sample_mu), 20 * torch.randn_like(good.per_sample_sigma)
    return reparameterisation.GradientEstimate(good.per_sample_mu + noise[0], good.per_sample_sigma + noise[1])


_reparameterised = reparameterisation.reparameterised_gradient


def _score_without_f(f, mu, sigma, n_samples, baseline=0.0):
    mu_s = mu.detach().expand(n_samples, *mu.shape).clone().requires_grad_(True)
    sigma_s = sigma.detach().expand(n_samples, *sigma.shape).clone().requires_grad_(True)
    h = (mu_s + sigma_s * torch.randn_like(mu_s)).detach()
    log_q = torch.distributions.Normal(mu_s, sigma_s).log_prob(h).reshape(n_samples, -1).sum(-1)
    g_mu, g_sigma = torch.autograd.grad(log_q.sum(), (mu_s, sigma_s))  # forgot to weight by f(h)
    return reparameterisation.GradientEstimate(g_mu, g_sigma)


def _naive_is_reparameterised(f, mu, sigma, n_samples):
    return reparameterisation.reparameterised_gradient(f, mu, sigma, n_samples)


def _reconstruction_at_the_mean(model, x, n_samples=1, repeats=None):
    value = model.log_likelihood(x, model.encode(x).mean)  # no sampling at all
    return value if repeats is None else value.expand(repeats, *value.shape)


_reconstruction = reparameterisation.reconstruction_estimate


def _reconstruction_one_sample_reused(model, x, n_samples=1, repeats=None):
    return _reconstruction(model, x, n_samples=1, repeats=repeats)  # L copies of one sample


MUTATIONS = [
    # (what is broken, object, attribute, broken version, checks that must fail), by the chapter of the formula
    # book/marginal_likelihood.md
    (
        "p(x): covariance without sigma^2 I",
        lg.LinearGaussian,
        "marginal_cov",
        _marginal_cov_without_noise,
        ["marginal-quadrature", "marginal-monte-carlo", "bayes-rule-kl", "exact-posterior-every-sample"],
    ),
    (
        "quadrature: forget the cell area",
        marginal,
        "log_px_quadrature",
        _quadrature_without_cell_area,
        ["marginal-quadrature", "central-equation-quadrature"],
    ),
    (
        "discrete sum: prior weights forgotten",
        marginal,
        "log_px_discrete",
        _log_px_discrete_without_prior,
        ["marginal-discrete-sum"],
    ),
    ("log-mean-exp: forget -log K", elbo, "log_mean_exp", _log_mean_exp_without_log_k, ["marginal-monte-carlo"]),
    ("ESS: sum w / sum w^2", marginal, "effective_sample_size", _ess_without_square, ["ess-prior-matches-theory"]),
    (
        "ESS: always S",
        marginal,
        "effective_sample_size",
        _ess_always_n,
        ["ess-prior-matches-theory", "ess-prior-collapses"],
    ),
    (
        "importance weights: forget -log Q",
        marginal,
        "importance_log_weights",
        _importance_without_proposal,
        ["ess-exact-posterior"],
    ),
    # book/kl_divergence.md
    ("KL definition: log P - log Q", kl, "kl_monte_carlo", _kl_mc_reversed, ["kl-definition-monte-carlo"]),
    ("KL: symmetrised", kl, "kl_gaussians", _kl_symmetrised, ["kl-asymmetric", "kl-gaussians-vs-torch"]),
    # book/bayes_rule.md
    (
        "posterior grid: not normalised",
        marginal,
        "posterior_grid",
        _posterior_grid_unnormalised,
        ["central-equation-quadrature"],
    ),
    (
        "conditional posterior: prior mean forgotten",
        lg.ConditionalLinearGaussian,
        "posterior",
        _conditional_posterior_ignoring_prior_mean,
        ["conditional-bayes-pointwise", "conditional-central-equation"],
    ),
    # book/elbo.md
    (
        "posterior: precision without the prior's I",
        lg.LinearGaussian,
        "posterior_precision",
        _precision_without_prior,
        ["exact-posterior-every-sample", "ess-exact-posterior", "bayes-rule-kl"],
    ),
    (
        "posterior: sigma instead of sigma^2",
        lg.LinearGaussian,
        "posterior_precision",
        _precision_sigma_not_squared,
        ["exact-posterior-every-sample", "exact-posterior-analytic-kl"],
    ),
    (
        "ELBO: KL term forgotten",
        elbo,
        "elbo",
        _elbo_without_kl,
        ["central-equation-linear-gaussian", "exact-posterior-analytic-kl", "central-equation-quadrature"],
    ),
    (
        "ELBO: KL added instead of subtracted",
        elbo,
        "elbo",
        _elbo_kl_added,
        ["central-equation-linear-gaussian", "exact-posterior-every-sample"],
    ),
    # book/sgd.md
    (
        "KL: drop -k",
        kl,
        "kl_gaussians",
        _kl_without_minus_k,
        ["kl-gaussians-vs-torch", "kl-zero-iff-equal", "kl-definition-monte-carlo", "bayes-rule-kl"],
    ),
    (
        "KL: swap arguments",
        kl,
        "kl_gaussians",
        _kl_swapped,
        ["kl-gaussians-vs-torch", "kl-definition-monte-carlo", "bayes-rule-kl", "central-equation-linear-gaussian"],
    ),
    ("KL: det Sigma instead of log det Sigma", kl, "kl_gaussians", _kl_det_not_logdet, ["kl-gaussians-vs-torch"]),
    (
        "KL: log(det Sigma0 / det Sigma1)",
        kl,
        "kl_gaussians",
        _kl_log_ratio_upside_down,
        ["kl-nonnegative", "kl-gaussians-vs-torch"],
    ),
    (
        "KL: forget the 1/2",
        kl,
        "kl_gaussians",
        _kl_without_half,
        ["kl-gaussians-vs-torch", "kl-definition-monte-carlo"],
    ),
    (
        "KL: tr(Sigma0) instead of tr(Sigma1^-1 Sigma0)",
        kl,
        "kl_gaussians",
        _kl_trace_without_inverse,
        ["kl-gaussians-vs-torch", "kl-definition-monte-carlo"],
    ),
    (
        "KL vs N(0,I): drop -k",
        kl,
        "kl_standard_normal",
        _kl_sn_without_minus_one,
        [
            "kl-standard-normal-vs-torch",
            "central-equation-linear-gaussian",
            "exact-posterior-analytic-kl",
            "loss-is-minus-elbo",
        ],
    ),
    (
        "KL vs N(0,I): forget the 1/2",
        kl,
        "kl_standard_normal",
        _kl_sn_without_half,
        ["kl-standard-normal-vs-torch", "central-equation-linear-gaussian", "central-equation-quadrature"],
    ),
    (
        "KL vs N(0,I): Sigma instead of log det Sigma",
        kl,
        "kl_standard_normal",
        _kl_sn_variance_not_logvar,
        ["kl-standard-normal-vs-torch", "exact-posterior-analytic-kl"],
    ),
    (
        "KL vs N(0,I): sigma instead of sigma^2",
        kl,
        "kl_standard_normal",
        _kl_sn_std_for_var,
        ["kl-standard-normal-vs-torch"],
    ),
    (
        "KL vs N(0,I), full: det instead of log det",
        kl,
        "kl_standard_normal_full",
        _kl_full_det_not_logdet,
        ["kl-standard-normal-vs-sympy"],
    ),
    (
        "sympy eq:kl-standard-normal: forget the 1/2",
        kl_symbolic,
        "lecture_kl_standard_normal",
        _lecture_eq9_without_half,
        ["kl-standard-normal-symbolic"],
    ),
    (
        "sympy eq:kl-gaussians: swapped",
        kl_symbolic,
        "symbolic_kl_gaussians",
        _symbolic_eq8_swapped,
        ["kl-standard-normal-symbolic", "kl-standard-normal-vs-sympy"],
    ),
    ("loss: +ELBO", elbo, "loss", _loss_plus_elbo, ["loss-is-minus-elbo"]),
    ("loss: reconstruction only", elbo, "loss", _loss_reconstruction_only, ["loss-is-minus-elbo"]),
    ("IWAE: forget -log k", elbo, "iwae", _iwae_without_log_k, ["iwae-below-log-px"]),
    ("IWAE: mean of log weights", elbo, "iwae", _iwae_mean_of_logs, ["iwae-tighter-than-elbo"]),
    ("IWAE: divide by k^2", elbo, "iwae", _iwae_over_k_squared, ["iwae-increases-with-k"]),
    (
        "single sample: evaluated at the mean",
        reparameterisation,
        "reconstruction_estimate",
        _reconstruction_at_the_mean,
        ["single-sample-unbiased", "single-sample-variance"],
    ),
    (
        "L samples: one sample reused",
        reparameterisation,
        "reconstruction_estimate",
        _reconstruction_one_sample_reused,
        ["single-sample-variance"],
    ),
    # book/reparameterisation.md
    (
        "gradient: detach the reparameterised sample",
        reparameterisation,
        "reparameterised_gradient",
        _reparameterised_detached,
        ["reparameterised-gradient", "reparameterised-variance"],
    ),
    (
        "gradient: Sigma instead of Sigma^(1/2)",
        reparameterisation,
        "reparameterised_gradient",
        _reparameterised_variance_not_std,
        ["reparameterised-gradient"],
    ),
    (
        "gradient: reparameterised but noisy",
        reparameterisation,
        "reparameterised_gradient",
        _reparameterised_noisy,
        ["reparameterised-beats-score-function", "reparameterised-variance"],
    ),
    (
        "gradient: score function without f",
        reparameterisation,
        "score_function_gradient",
        _score_without_f,
        ["score-function-gradient"],
    ),
    (
        "gradient: 'naive' that is in fact reparameterised",
        reparameterisation,
        "naive_gradient",
        _naive_is_reparameterised,
        ["naive-gradient-is-wrong"],
    ),
]
