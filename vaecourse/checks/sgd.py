"""Checks of book/sgd.md: the closed-form KLs, the single-sample estimate, the training objective and IWAE.

Labels eq:kl-gaussians, eq:kl-standard-normal, eq:single-sample, eq:training-objective.

Each function compares two independent routes; its formulas are looked up through their modules
at call time, so a test can swap in a broken formula and watch the check fail.
"""

from __future__ import annotations

import torch
from torch.distributions import MultivariateNormal, Normal

from vaecourse import elbo, kl, kl_symbolic, reparameterisation, settings
from vaecourse import linear_gaussian as lg
from vaecourse.checks._core import Z_SCORE, Check, Context, Outcome, closed_outcome, mc_outcome, mean_se, must_exceed
from vaecourse.checks._problems import data, diag_cov, gaussian_pairs, random_spd

# ============================================================================================
# eq:kl-gaussians and eq:kl-standard-normal
# ============================================================================================


def kl_gaussians_vs_torch(ctx: Context) -> Outcome:
    mu0, cov0, mu1, cov1 = gaussian_pairs(ctx, (5, 3), 4)
    lhs = kl.kl_gaussians(mu0, cov0, mu1, cov1)
    ref = torch.distributions.kl_divergence(
        MultivariateNormal(mu0.double(), cov0.double()), MultivariateNormal(mu1.double(), cov1.double())
    )
    return closed_outcome(
        ctx,
        lhs,
        ref.to(ctx.dtype),
        "closed form (Cholesky) vs torch.distributions (float64)",
        extra=ctx.floor(float(ref.abs().max())) * 10,
        why="conditioning (cond ~ 10)",
    )


def kl_standard_normal_symbolic(ctx: Context) -> Outcome:
    import sympy as sp

    k = settings.pick(full=3, smoke=2)
    d = kl_symbolic.symbolic_kl_standard_normal(k)
    # a symbolic zero gives error 0; otherwise report the difference at a numeric point
    point = {
        s: sp.Rational(1, 3) + sp.Rational(i, 7)
        for i, s in enumerate(
            sorted((d.difference - d.diagonal_difference).free_symbols | d.lecture.free_symbols, key=str)
        )
    }
    for i in range(k):
        point[d.cov[i, i]] = 2 + i  # keep Sigma positive definite at the numeric point
    off = abs(complex(d.difference.subs(point).evalf())) + abs(complex(d.diagonal_difference.subs(point).evalf()))
    residual = 0.0 if d.holds else max(off, 1.0)
    return Outcome(
        residual,
        0.0,
        0.0,
        f"sympy simplify(eq:kl-gaussians|prior - eq:kl-standard-normal) and "
        f"(eq:kl-standard-normal|diag - training form), k = {k}",
        "exact: the simplified difference must be the symbolic 0",
    )


def kl_standard_normal_vs_sympy(ctx: Context) -> Outcome:
    import sympy as sp

    k = 3
    d = kl_symbolic.symbolic_kl_standard_normal(k)
    symbols = list(d.mu) + [d.cov[i, j] for i in range(k) for j in range(i, k)]
    f = sp.lambdify(symbols, d.substituted, modules="math")
    mu, cov = 0.8 * ctx.randn(6, k, offset=0), random_spd(ctx, (6,), k, offset=1)
    lhs = kl.kl_standard_normal_full(mu, cov)
    rows = [list(mu[b].tolist()) + [float(cov[b, i, j]) for i in range(k) for j in range(i, k)] for b in range(6)]
    rhs = ctx.tensor([f(*row) for row in rows])  # 6 evaluations of a scalar formula
    return closed_outcome(
        ctx,
        lhs,
        rhs,
        "kl.kl_standard_normal_full vs lambdified sympy",
        extra=ctx.floor(100.0),
        why="rounding through the explicit inverse and determinant",
    )


def kl_standard_normal_vs_torch(ctx: Context) -> Outcome:
    mu, logvar = ctx.randn(8, 5, offset=0), 1.5 * ctx.randn(8, 5, offset=1)
    lhs = kl.kl_standard_normal(mu, logvar)
    ref = torch.distributions.kl_divergence(
        Normal(mu.double(), torch.exp(0.5 * logvar.double())), Normal(torch.zeros_like(mu.double()), 1.0)
    ).sum(-1)
    full = kl.kl_gaussians(
        mu, torch.diag_embed(logvar.exp()), torch.zeros_like(mu), torch.eye(5, dtype=ctx.dtype, device=ctx.device)
    )
    agree = closed_outcome(ctx, full, ref.to(ctx.dtype), "kl.kl_gaussians(diag) vs torch.distributions")
    if abs(agree.lhs - agree.rhs) > agree.tolerance:  # the full-covariance route must agree as well
        return agree
    return closed_outcome(ctx, lhs, ref.to(ctx.dtype), "diagonal formula vs torch.distributions (float64)")


# ============================================================================================
# eq:single-sample  the single-sample estimate of E_Q[log p(x|h)]
# ============================================================================================


def _imperfect_model(ctx: Context) -> lg.LinearGaussian:
    return ctx.model(data_dim=8, latent_dim=2, sigma=0.5, orthogonal=True).with_q(shift=0.4, scale=1.4)


def single_sample_unbiased(ctx: Context) -> Outcome:
    model = _imperfect_model(ctx)
    x = data(model, 4)
    repeats = settings.pick(full=200_000, smoke=20_000)
    with ctx.seeded():
        values = reparameterisation.reconstruction_estimate(model, x, n_samples=1, repeats=repeats).detach()  # (R, B)
    mean, se = mean_se(values)
    return mc_outcome(
        ctx,
        mean,
        model.expected_log_likelihood(x, model.encode(x)),
        se,
        "reparameterisation.reconstruction_estimate (L = 1) vs LinearGaussian.expected_log_likelihood",
        repeats,
    )


def single_sample_variance(ctx: Context) -> Outcome:
    model = _imperfect_model(ctx)
    x = data(model, 2)
    exact = model.log_likelihood_variance(x, model.encode(x))  # (B,)
    repeats = settings.pick(full=40_000, smoke=5000)
    ratios, ses = [], []
    with ctx.seeded():
        for n in (1, 4, 16):
            values = reparameterisation.reconstruction_estimate(
                model, x, n_samples=n, repeats=repeats
            ).detach()  # (R, B)
            centred = values - values.mean(0)
            var = centred.pow(2).mean(0)
            se_var = torch.sqrt((centred.pow(4).mean(0) - var.pow(2)) / repeats)  # SE of a sample variance
            ratios.append(n * var / exact)
            ses.append(n * se_var / exact)
    ratio, se = torch.stack(ratios), torch.stack(ses)  # (3, B)
    return mc_outcome(
        ctx,
        ratio,
        torch.ones_like(ratio),
        se,
        "L * sample variance of reparameterisation.reconstruction_estimate / LinearGaussian.log_likelihood_variance",
        repeats,
        what="sample-variance",
    )


# ============================================================================================
# eq:training-objective  loss = -ELBO; ELBO <= IWAE_k <= log p(x), increasing in k
# ============================================================================================


def _exact_elbo(model: lg.LinearGaussian, x: torch.Tensor) -> torch.Tensor:
    """log p(x) - D[Q||p(h|x)] in closed form, (B,)."""
    q, post = model.encode(x), model.posterior(x)
    return model.log_px(x) - kl.kl_gaussians(q.mean, diag_cov(q), post.mean, post.covariance_matrix)


def loss_is_minus_elbo(ctx: Context) -> Outcome:
    model = _imperfect_model(ctx)
    x = data(model, 8)
    exact = -_exact_elbo(model, x).mean()
    repeats, n = settings.pick(full=(400, 100), smoke=(200, 50))
    x_rep = x.repeat(repeats, 1)  # (R*B, D)
    with ctx.seeded():  # the same draws twice: elbo.loss must be minus the batch mean of elbo.elbo ...
        lhs = elbo.loss(model, x_rep, n_samples=n).detach()
    with ctx.seeded():  # ... whose spread over the R repeats gives the standard error
        per_repeat = -elbo.elbo(model, x_rep, n_samples=n).detach().reshape(repeats, -1).mean(-1)  # (R,)
    _, se = mean_se(per_repeat)
    return mc_outcome(ctx, lhs, exact, se, "elbo.loss vs closed-form -ELBO", repeats * n)


def _iwae_curve(ctx: Context):
    """Mean and SE of elbo.iwae for k = 1 .. 256 over repeated draws; computed once per run (seed 122)."""
    if "iwae" in ctx.cache:
        return ctx.cache["iwae"]
    model = _imperfect_model(ctx)
    x = data(model, 3)
    repeats = settings.pick(full=400, smoke=100)
    means, ses = [], []
    with ctx.seeded():
        for k in (1, 4, 16, 64, 256):
            mean, se = mean_se(elbo.iwae(model, x.repeat(repeats, 1), k=k).detach().reshape(repeats, -1))  # (B,)
            means.append(mean)
            ses.append(se)
    ctx.cache["iwae"] = torch.stack(means), torch.stack(ses), model.log_px(x), _exact_elbo(model, x), repeats
    return ctx.cache["iwae"]  # (K, B), (K, B), (B,), (B,), R


def iwae_below_log_px(ctx: Context) -> Outcome:
    means, ses, log_px, _, repeats = _iwae_curve(ctx)
    i = int(((means - log_px) / ses).argmax())  # the largest excess, in standard errors
    m, s, l_ = means.reshape(-1)[i], ses.reshape(-1)[i], log_px.expand_as(means).reshape(-1)[i]
    return Outcome(
        float(m),
        float(l_),
        float(Z_SCORE * s + ctx.floor(float(l_))),
        "mean of elbo.iwae over repeats vs LinearGaussian.log_px",
        f"{Z_SCORE:g} standard errors (repeats={repeats}) + rounding",
        relation="<=",
    )


def iwae_increases_with_k(ctx: Context) -> Outcome:
    means, ses, _, _, repeats = _iwae_curve(ctx)
    drop = means[:-1] - means[1:]  # (K-1, B): positive means a decrease
    se = torch.sqrt(ses[:-1].pow(2) + ses[1:].pow(2))
    i = int((drop / se).argmax())
    return Outcome(
        float(drop.reshape(-1)[i]),
        0.0,
        float(Z_SCORE * se.reshape(-1)[i]),
        "mean of elbo.iwae at successive k (independent draws)",
        f"{Z_SCORE:g} standard errors of the difference (repeats={repeats})",
        relation="<=",
    )


def iwae_tighter_than_elbo(ctx: Context) -> Outcome:
    means, ses, _, exact_elbo, repeats = _iwae_curve(ctx)
    i = int(((means[-1] - exact_elbo) / ses[-1]).argmin())  # the smallest margin, in standard errors
    return must_exceed(
        means[-1, i],
        exact_elbo[i],
        Z_SCORE * ses[-1, i],
        "mean of elbo.iwae (k = 256) vs log p(x) - kl.kl_gaussians(Q, posterior)",
        f"must exceed the ELBO by {Z_SCORE:g} standard errors (repeats={repeats})",
    )


CHECKS = [
    Check(
        "kl-gaussians-vs-torch",
        "eq:kl-gaussians",
        "kl.kl_gaussians = torch.distributions.kl_divergence(MultivariateNormal, MultivariateNormal), "
        "batch (5, 3), k = 4",
        kl_gaussians_vs_torch,
        seed=91,
    ),
    Check(
        "kl-standard-normal-symbolic",
        "eq:kl-standard-normal",
        "sympy: eq:kl-gaussians with mu1 = 0, Sigma1 = I simplifies to the lecture's eq:kl-standard-normal, "
        "and to the log-variance sum",
        kl_standard_normal_symbolic,
        seed=92,
    ),
    Check(
        "kl-standard-normal-vs-sympy",
        "eq:kl-standard-normal",
        "kl.kl_standard_normal_full = eq:kl-gaussians at mu1 = 0, Sigma1 = I evaluated from the sympy "
        "expression (k = 3)",
        kl_standard_normal_vs_sympy,
        seed=95,
    ),
    Check(
        "kl-standard-normal-vs-torch",
        "eq:kl-standard-normal",
        "kl.kl_standard_normal(mu, logvar) = sum_j kl_divergence(Normal(mu_j, e^(logvar_j/2)), Normal(0, 1)), "
        "batch (8, 5)",
        kl_standard_normal_vs_torch,
        seed=97,
    ),
    Check(
        "single-sample-unbiased",
        "eq:single-sample",
        "the mean of many single-sample estimates log p(x|h), h ~ Q, equals E_Q[log p(x|h)] in closed form",
        single_sample_unbiased,
        seed=101,
    ),
    Check(
        "single-sample-variance",
        "eq:single-sample",
        "L * Var[L-sample estimate] = Var[single sample] (closed form) for L = 1, 4, 16: variance falls as 1/L",
        single_sample_variance,
        seed=102,
    ),
    Check(
        "loss-is-minus-elbo",
        "eq:training-objective",
        "elbo.loss = -(1/B) sum_b [log p(x_b) - D[Q||p(h|x_b)]], the batch mean of minus the ELBO",
        loss_is_minus_elbo,
        seed=121,
    ),
    Check(
        "iwae-below-log-px",
        "eq:training-objective",
        "IWAE_k <= log p(x) for k = 1, 4, 16, 64, 256 (worst case shown)",
        iwae_below_log_px,
        seed=122,
    ),
    Check(
        "iwae-increases-with-k",
        "eq:training-objective",
        "E[IWAE_k] does not decrease from k to 4k (k = 1 .. 256); the largest decrease is shown",
        iwae_increases_with_k,
        seed=122,
    ),
    Check(
        "iwae-tighter-than-elbo",
        "eq:training-objective",
        "IWAE_256 is strictly above the ELBO (closed form) when Q is imperfect (smallest margin shown)",
        iwae_tighter_than_elbo,
        seed=122,
    ),
]
