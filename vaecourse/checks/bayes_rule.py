"""Checks of book/bayes_rule.md: Bayes' rule in the KL, the central equation and its conditional form.

Labels eq:bayes-kl, eq:central, eq:conditional.

Each function compares two independent routes; its formulas are looked up through their modules
at call time, so a test can swap in a broken formula and watch the check fail.
"""

from __future__ import annotations

import torch
from torch.distributions import Normal

from vaecourse import kl, marginal, settings
from vaecourse import linear_gaussian as lg
from vaecourse.checks._core import Check, Context, Outcome, closed_outcome, mc_outcome, mean_se
from vaecourse.checks._problems import data, diag_cov, diag_q, elbo_repeats


def _some_q(model: lg.LinearGaussian, x: torch.Tensor, ctx: Context) -> Normal:
    """An arbitrary diagonal Q(h|x): the posterior mean shifted by O(0.5), std scaled by 0.6..1.6.

    The shift is drawn with the check's seed (ctx.randn); the scale from the check's seed alone, so
    it is the same for every run seed.
    """
    k = model.latent_dim
    shift = 0.5 * ctx.randn(k)
    scale = 0.6 + torch.rand(k, generator=torch.Generator().manual_seed(ctx.seed), dtype=torch.float64)
    std = torch.sqrt(torch.diagonal(model.posterior_cov())) * scale.to(ctx.device, ctx.dtype)
    return diag_q(model.posterior_mean(x) + shift, std)


# ============================================================================================
# eq:bayes-kl and eq:central
# ============================================================================================


def bayes_rule_kl(ctx: Context) -> Outcome:
    model = ctx.model(data_dim=6, latent_dim=2, sigma=0.7, orthogonal=False)
    x = data(model, 4)
    q = _some_q(model, x, ctx)
    post = model.posterior(x)
    lhs = kl.kl_gaussians(q.mean, diag_cov(q), post.mean, post.covariance_matrix)
    n = settings.pick(full=200_000, smoke=20_000)
    with ctx.seeded():
        h = q.sample((n,))  # (S, B, k)
    integrand = q.log_prob(h).sum(-1) - model.log_likelihood(x, h) - model.prior().log_prob(h).sum(-1)  # (S, B)
    mean, se = mean_se(integrand)
    return mc_outcome(
        ctx,
        mean + model.log_px(x),
        lhs,
        se,
        "Monte Carlo of the Bayes-rule form + exact log p(x) vs kl.kl_gaussians(Q, posterior)",
        n,
    )


def central_equation_linear_gaussian(ctx: Context) -> Outcome:
    model = ctx.model(data_dim=6, latent_dim=2, sigma=0.7, orthogonal=False)
    x = data(model, 4)
    q = _some_q(model, x, ctx)
    post = model.posterior(x)
    lhs = model.log_px(x) - kl.kl_gaussians(q.mean, diag_cov(q), post.mean, post.covariance_matrix)
    repeats, n = settings.pick(full=(400, 250), smoke=(100, 100))
    with_q = model.with_encoder(lambda x_: _some_q(model, x_, ctx))  # the same Q for repeated x
    with ctx.seeded():
        mean, se = elbo_repeats(with_q, x, repeats, n)
    return mc_outcome(
        ctx,
        mean,
        lhs,
        se,
        "elbo.elbo (MC reconstruction + kl.kl_standard_normal) vs "
        "LinearGaussian.log_px - kl.kl_gaussians(Q, posterior)",
        repeats * n,
    )


class _TanhModel:
    """A small nonlinear model for the quadrature check: h (2) -> x = B tanh(A h + a) + c + N(0, s^2 I).

    Its Q(h|x) is an arbitrary Gaussian (a fixed linear map of x); the point is that the central
    equation holds for *any* Q, on a model whose posterior is not Gaussian.
    """

    latent_dim = 2

    def __init__(self, ctx: Context, data_dim: int = 4):
        self.A = 1.5 * ctx.randn(3, 2, offset=1)
        self.a = 0.3 * ctx.randn(3, offset=2)
        self.B = ctx.randn(data_dim, 3, offset=3)
        self.c = 0.2 * ctx.randn(data_dim, offset=4)
        self.E = 0.3 * ctx.randn(2, data_dim, offset=5)
        self.sigma = ctx.tensor(0.5)

    def prior(self) -> Normal:
        zeros = torch.zeros(2, dtype=self.A.dtype, device=self.A.device)
        return Normal(zeros, torch.ones_like(zeros))

    def decoder_mean(self, h: torch.Tensor) -> torch.Tensor:
        return torch.tanh(h @ self.A.T + self.a) @ self.B.T + self.c  # (..., D)

    def log_likelihood(self, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        return Normal(self.decoder_mean(h), self.sigma).log_prob(x).sum(-1)

    def encode(self, x: torch.Tensor) -> Normal:
        mean = (x @ self.E.T).clamp(-2.0, 2.0)  # (B, 2)
        return Normal(mean, torch.full_like(mean, 0.6))


def central_equation_quadrature(ctx: Context) -> Outcome:
    model = _TanhModel(ctx)
    with ctx.seeded():
        h_true = torch.randn(4, 2, dtype=ctx.dtype, device=ctx.device)
        x = model.decoder_mean(h_true) + model.sigma * torch.randn(4, 4, dtype=ctx.dtype, device=ctx.device)
    grid = settings.pick(full=241, smoke=121)
    log_px = marginal.log_px_quadrature(model, x, grid_size=grid, limit=7.0)  # (B,)
    grid_h1, grid_h2, log_post = marginal.posterior_grid(model, x, grid_size=grid, limit=7.0)  # (G,), (G,), (B, G, G)
    lhs = log_px - marginal.kl_q_posterior_on_grid(model.encode(x), grid_h1, grid_h2, log_post)  # (B,)
    repeats, n = settings.pick(full=(400, 250), smoke=(100, 100))
    with ctx.seeded(offset=1):
        mean, se = elbo_repeats(model, x, repeats, n)
    return mc_outcome(
        ctx,
        mean,
        lhs,
        se,
        f"elbo.elbo (MC) vs marginal.log_px_quadrature - KL(Q||posterior_grid) on a {grid}x{grid} grid",
        repeats * n,
        extra=1e-6,
        why="1e-6 for quadrature (Q std = 7 grid steps)",
    )


# ============================================================================================
# eq:conditional  the same with a condition x, target y
# ============================================================================================


def _conditional_setup(ctx: Context):
    model = lg.ConditionalLinearGaussian.random(seed=ctx.seed, dtype=ctx.dtype, device=ctx.device)
    x = ctx.randn(4, model.x_dim, offset=0)
    y = ctx.randn(4, model.y_dim, offset=1)
    return model, x, y


def conditional_bayes_pointwise(ctx: Context) -> Outcome:
    model, x, y = _conditional_setup(ctx)
    h = 1.5 * ctx.randn(16, 4, model.latent_dim, offset=2)  # (S, B, k)
    lhs = model.log_likelihood(y, h, x)
    rhs = model.posterior(y, x).log_prob(h) - model.log_prior(h, x) + model.log_py(y, x)
    return closed_outcome(ctx, lhs, rhs, "ConditionalLinearGaussian likelihood vs posterior/prior/evidence")


def conditional_central_equation(ctx: Context) -> Outcome:
    model, x, y = _conditional_setup(ctx)
    post = model.posterior(y, x)
    q = diag_q(
        post.mean + 0.4 * ctx.randn(model.latent_dim, offset=3),
        0.8 * torch.sqrt(torch.diagonal(post.covariance_matrix, dim1=-2, dim2=-1)),
    )
    lhs = model.log_py(y, x) - kl.kl_gaussians(q.mean, diag_cov(q), post.mean, post.covariance_matrix)
    n = settings.pick(full=200_000, smoke=20_000)
    with ctx.seeded(offset=3):
        h = q.sample((n,))  # (S, B, k)
    integrand = model.log_likelihood(y, h, x) + model.log_prior(h, x) - q.log_prob(h).sum(-1)  # (S, B)
    mean, se = mean_se(integrand)
    return mc_outcome(ctx, mean, lhs, se, "Monte Carlo of the right side vs closed-form left side", n)


CHECKS = [
    Check(
        "bayes-rule-kl",
        "eq:bayes-kl",
        "D[Q||p(h|x)] (closed form) = E_Q[log Q - log p(x|h) - log p(h)] (Monte Carlo) + log p(x)",
        bayes_rule_kl,
        seed=41,
    ),
    Check(
        "central-equation-linear-gaussian",
        "eq:central",
        "log p(x) - D[Q||p(h|x)] (closed form) = E_Q[log p(x|h)] - D[Q||p(h)] (elbo.elbo, Monte Carlo), any Q",
        central_equation_linear_gaussian,
        seed=51,
    ),
    Check(
        "central-equation-quadrature",
        "eq:central",
        "nonlinear 2-D latent model: log p(x) - D[Q||p(h|x)] on a latent grid = elbo.elbo by Monte Carlo",
        central_equation_quadrature,
        seed=60,
    ),
    Check(
        "conditional-bayes-pointwise",
        "eq:conditional",
        "log p(y|h,x) = log p(h|y,x) - log p(h|x) + log p(y|x) at random h (all closed form)",
        conditional_bayes_pointwise,
        seed=71,
    ),
    Check(
        "conditional-central-equation",
        "eq:conditional",
        "log p(y|x) - D[Q||p(h|x,y)] = E_Q[log p(y|h,x) + log p(h|x) - log Q(h)] for an arbitrary Q",
        conditional_central_equation,
        seed=71,
    ),
]
