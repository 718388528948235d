"""Checks of book/richer_posteriors.md: the full-covariance Q (eq:full-covariance), the flow's density
(eq:change-of-variables), the gap decomposition (eq:gap-decomposition) and the IWAE ordering
(eq:iwae-ordering).

Each function compares two independent routes; its formulas are looked up through their modules
at call time, so a test can swap in a broken formula and watch the check fail. :func:`on_trained`
runs the ordering check on a chapter's trained model.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from vaecourse import flows, gaps, marginal, models, settings
from vaecourse import posterior_families as pf
from vaecourse.checks._core import Z_SCORE, Check, CheckResult, Context, Outcome, closed_outcome, mc_outcome, run_checks
from vaecourse.device import placement


def _flow_problem(ctx: Context, batch: int = 3):
    flow = flows.CouplingFlow(n_layers=4, hidden=4)
    params = 0.7 * ctx.randn(batch, flow.n_params)
    return flow, params


def flow_log_det_vs_autograd(ctx: Context) -> Outcome:
    flow, params = _flow_problem(ctx)
    h0 = ctx.randn(5, 3, 2, offset=1).requires_grad_(True)  # (S, B, 2)
    h, log_det = flow.forward(params, h0)
    # the points do not interact, so row i of each point's Jacobian is the gradient of sum(h[..., i])
    rows = [torch.autograd.grad(h[..., i].sum(), h0, retain_graph=True)[0] for i in range(2)]
    jacobian = torch.stack(rows, -2)  # (S, B, 2, 2): [..., i, j] = d h_i / d h0_j
    return closed_outcome(
        ctx,
        log_det.detach(),
        torch.linalg.slogdet(jacobian)[1],
        "CouplingFlow.forward's log-determinant vs log|det| of autograd's Jacobian",
        extra=ctx.floor(10.0),
        why="rounding through four layers",
    )


def flow_density_integrates_to_one(ctx: Context) -> Outcome:
    q_family = pf.FlowPosterior()
    params = torch.cat(
        [
            0.3 * ctx.randn(2, 2),
            -0.5 + 0.2 * ctx.randn(2, 2, offset=1),
            0.3 * ctx.randn(2, q_family.flow.n_params, offset=2),
        ],
        -1,
    )  # (2, P)
    axis = torch.linspace(-10, 10, settings.pick(full=401, smoke=301), dtype=ctx.dtype, device=ctx.device)
    axes = axis.expand(2, -1)
    log_q = gaps.log_q_on_grid(q_family, params, axes, axes)  # (2, G, G)
    cell = (axis[1] - axis[0]) ** 2
    mass = torch.exp(log_q).sum((-2, -1)) * cell
    return closed_outcome(
        ctx,
        mass,
        torch.ones_like(mass),
        "sum of exp(FlowPosterior.log_prob) on a grid of [-10, 10]^2",
        extra=2e-3,
        why="the rectangle rule and the mass outside the grid (2e-3)",
    )


def _full_problem(ctx: Context):
    q_family = pf.FullCovarianceGaussian(3)
    params = torch.cat([ctx.randn(2, 3), 0.3 * ctx.randn(2, 3, offset=1), 0.8 * ctx.randn(2, 3, offset=2)], -1)
    return q_family, params  # (2, 9)


def full_covariance_moments(ctx: Context) -> Outcome:
    q_family, params = _full_problem(ctx)
    n = settings.pick(full=40_000, smoke=8_000)
    with ctx.seeded():
        h, _ = q_family.sample(params, n)  # (n, 2, 3)
    mean = h.mean(0)
    centred = h - params[:, :3]
    products = centred.unsqueeze(-1) * centred.unsqueeze(-2)  # (n, 2, 3, 3)
    tril = q_family.scale_tril(params)
    expected_cov = tril @ tril.transpose(-2, -1)
    lhs = torch.cat([mean.reshape(-1), products.mean(0).reshape(-1)])
    rhs = torch.cat([params[:, :3].reshape(-1), expected_cov.reshape(-1)])
    se = torch.cat([h.std(0).reshape(-1), products.std(0).reshape(-1)]) / math.sqrt(n)
    return mc_outcome(
        ctx,
        lhs,
        rhs,
        se,
        "sample mean and covariance of FullCovarianceGaussian.sample vs mu and L L^T",
        n,
        what="sample-moment",
    )


def full_covariance_log_density(ctx: Context) -> Outcome:
    q_family, params = _full_problem(ctx)
    with ctx.seeded():
        h, log_q = q_family.sample(params, 16)
    reference = torch.distributions.MultivariateNormal(params[:, :3], scale_tril=q_family.scale_tril(params))
    return closed_outcome(
        ctx,
        log_q,
        reference.log_prob(h),
        "log Q of FullCovarianceGaussian.sample vs torch MultivariateNormal(scale_tril=L).log_prob",
        extra=ctx.floor(10.0),
        why="rounding",
    )


def _small_decoder(ctx: Context):
    """A random MLP VAE with a 2-D latent and 12 Bernoulli pixels (its posterior is not Gaussian), and 3 images."""
    with ctx.seeded(offset=5):
        model = models.VAE(data_dim=12, hidden=8, latent_dim=2).to(ctx.device, ctx.dtype)
        with torch.no_grad():
            for layer in model.decoder.net:
                if isinstance(layer, nn.Linear):
                    layer.weight.mul_(2.0)
    gen = torch.Generator().manual_seed(ctx.seed)
    x = torch.bernoulli(torch.full((3, 12), 0.5, dtype=ctx.dtype), generator=gen).to(ctx.device)
    return model, x


def gap_decomposition_sums(ctx: Context) -> Outcome:
    model, x = _small_decoder(ctx)
    q_family = pf.FlowPosterior()
    # the 'encoder' is deliberately off (mean at 1.5, too narrow), so the amortisation gap is large
    params_a = torch.cat(
        [
            1.5 + 0.2 * ctx.randn(3, 2),
            -1.5 + 0.1 * ctx.randn(3, 2, offset=1),
            0.3 * ctx.randn(3, q_family.flow.n_params, offset=2),
        ],
        -1,
    )
    n_eval = settings.pick(full=20_000, smoke=5_000)
    with ctx.seeded(offset=1):
        g = gaps.gap_decomposition(
            model,
            gaps.FixedPosterior(q_family, params_a),
            x,
            steps=settings.pick(full=150, smoke=60),
            n_samples=8,
            n_eval=n_eval,
            grid_size=201,
        )
        total_again, se_again = gaps.elbo_with_se(model, q_family, params_a, x, n_eval)  # independent draws
    axis = torch.linspace(-7, 7, 281, dtype=ctx.dtype, device=ctx.device).expand(3, -1)
    _, _, log_post = marginal.local_posterior_grid(
        model, x, torch.zeros(3, 2, dtype=ctx.dtype, device=ctx.device), 7.0, 281
    )[:3]
    approximation = gaps.kl_to_posterior_on_grid(q_family, g.params_best, axis, axis, log_post)
    lhs = approximation + g.amortisation
    rhs = g.log_px - total_again
    se = torch.sqrt(g.se_best**2 + g.se_amortised**2 + se_again**2)
    return mc_outcome(
        ctx,
        lhs,
        rhs,
        se,
        "D[Q*||p(h|x)] on the grid + amortisation gap (Gaps) vs "
        "log p(x) (quadrature) - ELBO of the encoder's Q (independent draws)",
        n_eval,
        extra=1e-3,
        why="quadrature (1e-3)",
    )


def iwae_ordering_outcome(ctx: Context, model, q_family, params, x, repeats: int) -> Outcome:
    """The worst violation of ELBO <= IWAE_5 <= IWAE_50 <= log p(x), in standard errors (relation <=)."""
    means, ses = gaps.bound_ladder(model, q_family, params, x, ks=(1, 5, 50), repeats=repeats)  # (3, B)
    log_px = marginal.log_px_quadrature(model, x, grid_size=301, limit=6.0)  # (B,)
    means = torch.cat([means, log_px[None]])
    ses = torch.cat([ses, torch.zeros_like(log_px)[None]])
    drop = means[:-1] - means[1:]  # (3, B): positive is a violation
    se = torch.sqrt(ses[:-1] ** 2 + ses[1:] ** 2)
    i = int((drop / (se + 1e-12)).argmax())
    return Outcome(
        float(drop.reshape(-1)[i]),
        0.0,
        float(Z_SCORE * se.reshape(-1)[i] + ctx.floor(float(log_px.abs().max()))),
        "means of gaps.bound_ladder (K = 1, 5, 50) and marginal.log_px_quadrature, successive pairs",
        f"{Z_SCORE:g} standard errors of the difference (repeats={repeats}) + rounding",
        relation="<=",
    )


def iwae_ordering(ctx: Context) -> Outcome:
    model, x = _small_decoder(ctx)
    q_family = pf.FlowPosterior()
    params = torch.cat(
        [
            0.5 + 0.2 * ctx.randn(3, 2),
            -0.7 + 0.1 * ctx.randn(3, 2, offset=1),
            0.3 * ctx.randn(3, q_family.flow.n_params, offset=2),
        ],
        -1,
    )
    with ctx.seeded():
        return iwae_ordering_outcome(ctx, model, q_family, params, x, settings.pick(full=400, smoke=100))


def on_trained(
    model: models.VAEModel, posterior, x: torch.Tensor, repeats: int = 50, name: str = "iwae-ordering-trained"
) -> CheckResult:
    """The IWAE ordering check (eq:iwae-ordering) on a trained 2-D model and its encoder, for images x."""
    with torch.no_grad():
        params = posterior(x)
    device, dtype = placement(model)

    def fn(ctx: Context) -> Outcome:
        with ctx.seeded():
            return iwae_ordering_outcome(ctx, model, posterior.family, params, x, repeats)

    check = Check(name, "eq:iwae-ordering", "ELBO <= IWAE_5 <= IWAE_50 <= log p(x) on a trained model", fn, seed=185)
    return run_checks([check], dtype=torch.float32 if dtype == torch.float32 else torch.float64, device=device)[0]


CHECKS = [
    Check(
        "full-covariance-sample-moments",
        "eq:full-covariance",
        "h = mu + L eps has mean mu and covariance L L^T (k = 3, two Gaussians)",
        full_covariance_moments,
        seed=181,
    ),
    Check(
        "full-covariance-log-density",
        "eq:full-covariance",
        "log Q(h) = log N(eps; 0, I) - sum_j log L_jj equals torch's MultivariateNormal log density",
        full_covariance_log_density,
        seed=181,
    ),
    Check(
        "flow-log-det-vs-autograd",
        "eq:change-of-variables",
        "the coupling flow's closed-form log|det dT/dh0| equals autograd's Jacobian's (4 layers, 15 points)",
        flow_log_det_vs_autograd,
        seed=182,
    ),
    Check(
        "flow-density-integrates-to-one",
        "eq:change-of-variables",
        "the flow posterior's density (through the inverse) integrates to 1 on a grid",
        flow_density_integrates_to_one,
        seed=183,
    ),
    Check(
        "gap-decomposition-sums",
        "eq:gap-decomposition",
        "approximation gap (grid KL of the per-image optimum) + amortisation gap = total gap (quadrature - ELBO)",
        gap_decomposition_sums,
        seed=184,
    ),
    Check(
        "iwae-ordering",
        "eq:iwae-ordering",
        "ELBO <= IWAE_5 <= IWAE_50 <= log p(x) for a flow Q on a small random decoder (worst pair shown)",
        iwae_ordering,
        seed=185,
    ),
]
