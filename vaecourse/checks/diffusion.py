"""Checks of book/diffusion.md: the closed form of the noising process (eq:q-marginal), the posterior of one
step (eq:posterior), the three targets (eq:three-targets), the ELBO's terms (eq:vdm-elbo) and the three
objectives' weights (eq:three-objectives).

Each function compares two independent routes; the formulas are looked up through ``vaecourse.diffusion``
at call time, so a test can swap in a broken formula and watch the check fail
(tests/checks/mutations_diffusion.py).
"""

from __future__ import annotations

import math

import torch

from vaecourse import diffusion, settings
from vaecourse.checks._core import Check, Context, Outcome, closed_outcome, mc_outcome

N_STEPS = 10  # a short schedule: every step matters, and float32 keeps its precision


def _schedule():
    return diffusion.make_schedule(N_STEPS, "cosine")


def _moments_by_recursion(schedule, x: torch.Tensor, t: int):
    """Mean and variance of h_t given x from the one-step rule alone: m_s = sqrt(a_s) m_{s-1},
    v_s = a_s v_{s-1} + 1 - a_s (no alpha_bar, no closed form)."""
    mean, var = x, torch.zeros_like(x[..., :1])
    for s in range(1, t + 1):
        a = float(schedule.alpha[s])
        mean, var = math.sqrt(a) * mean, a * var + 1 - a
    return mean, var


def noising_steps_vs_closed_form(ctx: Context) -> Outcome:
    schedule = _schedule()
    x = ctx.randn(3, 2)  # (B, D)
    n = settings.pick(full=40_000, smoke=8_000)
    h = x.expand(n, 3, 2).reshape(n * 3, 2)  # (n B, D)
    lhs, rhs, se = [], [], []
    with ctx.seeded():
        for step in range(1, N_STEPS + 1):
            t = torch.full((n * 3,), step, dtype=torch.long, device=ctx.device)
            h = diffusion.q_step(h, t, torch.randn_like(h), schedule)  # iterate Q(h_t | h_{t-1})
            if step in (1, 4, N_STEPS):
                draws = h.reshape(n, 3, 2)
                mean, var = diffusion.q_marginal(x, t[:3], schedule)  # (B, D), (B, 1)
                centred2 = (draws - mean) ** 2
                lhs += [draws.mean(0).reshape(-1), centred2.mean(0).reshape(-1)]
                rhs += [mean.reshape(-1), var.expand(3, 2).reshape(-1)]
                se += [draws.std(0).reshape(-1) / math.sqrt(n), centred2.std(0).reshape(-1) / math.sqrt(n)]
    return mc_outcome(
        ctx,
        torch.cat(lhs),
        torch.cat(rhs),
        torch.cat(se),
        f"mean and variance of h_t from {N_STEPS} iterated noising steps vs Q(h_t|x) in closed form (t = 1, 4, N)",
        n,
        what="sample-moment",
    )


def posterior_vs_conditioning(ctx: Context) -> Outcome:
    schedule = _schedule()
    d = 3
    x, h_t = ctx.randn(1, d), ctx.randn(1, d, offset=1)
    eye = torch.eye(d, dtype=ctx.dtype, device=ctx.device)
    lhs, rhs = [], []
    for step in (1, 2, 5, N_STEPS):
        a = float(schedule.alpha[step])
        m_prev, v_prev = _moments_by_recursion(schedule, x, step - 1)  # h_{t-1} | x
        v_prev = float(v_prev.reshape(-1)[0])
        # the joint Gaussian of (h_{t-1}, h_t) given x: h_t = sqrt(a) h_{t-1} + sqrt(1 - a) eps
        cov_aa = v_prev * eye
        cov_ab = math.sqrt(a) * v_prev * eye
        cov_bb = (a * v_prev + 1 - a) * eye
        mu_a, mu_b = m_prev[0], math.sqrt(a) * m_prev[0]
        joint = torch.cat([torch.cat([cov_aa, cov_ab], 1), torch.cat([cov_ab.T, cov_bb], 1)], 0)  # (2d, 2d)
        gain = torch.linalg.solve(joint[d:, d:], joint[d:, :d]).T  # Sigma_ab Sigma_bb^{-1}
        cond_mean = mu_a + gain @ (h_t[0] - mu_b)
        schur = joint[:d, :d] - gain @ joint[d:, :d]  # Schur complement
        t = torch.full((1,), step, dtype=torch.long, device=ctx.device)
        mean, var = diffusion.posterior(h_t, x, t, schedule)
        lhs += [mean[0], var.expand(1, d)[0]]
        rhs += [cond_mean, torch.diagonal(schur)]
    return closed_outcome(
        ctx,
        torch.cat(lhs),
        torch.cat(rhs),
        "posterior(h_t, x, t) vs conditioning the joint Gaussian of (h_{t-1}, h_t) numerically "
        "(linear solve, Schur complement), t = 1, 2, 5, N",
        extra=ctx.floor(10.0),
        why="rounding of the linear solve",
    )


def targets_round_trip_and_score(ctx: Context) -> Outcome:
    schedule = _schedule()
    x, eps = ctx.randn(4, 3), ctx.randn(4, 3, offset=1)
    t = torch.tensor([1, 3, 7, N_STEPS], device=ctx.device)
    h = diffusion.q_sample(x, t, eps, schedule).detach().requires_grad_(True)
    # the score by autograd: d/dh log N(h; sqrt(ab) x, 1 - ab), with ab = prod of alpha (no closed form used)
    ab = torch.stack([schedule.alpha[1 : int(s) + 1].prod() for s in t]).to(ctx.dtype).to(ctx.device)[:, None]
    log_q = torch.distributions.Normal(ab.sqrt() * x, (1 - ab).sqrt()).log_prob(h).sum()
    (score_autograd,) = torch.autograd.grad(log_q, h)
    h = h.detach()
    eps_back = diffusion.noise_from_x0(h, x, t, schedule)
    x_back = diffusion.x0_from_noise(h, eps, t, schedule)
    score = diffusion.score_from_noise(h, eps_back, t, schedule)
    lhs = torch.cat([x_back.reshape(-1), eps_back.reshape(-1), score.reshape(-1)])
    rhs = torch.cat([x.reshape(-1), eps.reshape(-1), score_autograd.reshape(-1)])
    return closed_outcome(
        ctx,
        lhs,
        rhs,
        "x and noise recovered from h_t = sqrt(ab) x + sqrt(1 - ab) eps; the score from the noise "
        "vs autograd's gradient of log Q(h_t|x)",
        extra=ctx.floor(100.0),
        why="rounding, divided by sqrt(alpha_bar_t) and sqrt(1 - alpha_bar_t)",
    )


def _small_model(ctx: Context) -> diffusion.DiffusionModel:
    """A random 8-step model that guesses x (small last layer: guesses near 0, so the terms are a few nats)."""
    config = diffusion.DiffusionConfig(
        data_dim=2, n_steps=8, hidden=16, layers=2, time_features=4, parameterisation="x0"
    )
    model = diffusion.build(config, seed=ctx.seed)
    with torch.no_grad():
        model.net.net[-1].weight.mul_(0.2)
    return model.to(ctx.device, ctx.dtype).eval()


def elbo_terms_vs_direct(ctx: Context) -> Outcome:
    model = _small_model(ctx)
    x = 0.3 * ctx.randn(3, 2)
    n = settings.pick(full=20_000, smoke=4_000)
    many = x.repeat(n, 1)  # (n B, D)
    with ctx.seeded():
        terms = diffusion.elbo_terms(model, many)["elbo"].reshape(n, 3)
        direct = diffusion.elbo_direct(model, many).reshape(n, 3)
    se = torch.sqrt(terms.var(0) / n + direct.var(0) / n)
    return mc_outcome(
        ctx,
        terms.mean(0),
        direct.mean(0),
        se,
        "reconstruction - prior matching - denoising matching (elbo_terms) vs E[log p(x, h_1:N) - log Q(h_1:N|x)] "
        "over whole chains drawn step by step (elbo_direct), a random 8-step model",
        n,
    )


def _objective_problem(ctx: Context):
    schedule = _schedule()
    x, eps, guess = ctx.randn(5, 3), ctx.randn(5, 3, offset=1), ctx.randn(5, 3, offset=2)
    t = torch.tensor([2, 3, 5, 8, N_STEPS], device=ctx.device)
    h = diffusion.q_sample(x, t, eps, schedule)
    mean_q, var = diffusion.posterior(h, x, t, schedule)
    mean_p, _ = diffusion.posterior(h, guess, t, schedule)
    kl = torch.distributions.kl_divergence(
        torch.distributions.Normal(mean_q, var.sqrt()), torch.distributions.Normal(mean_p, var.sqrt())
    ).sum(-1)  # (5,)
    return schedule, x, h, guess, t, kl


def x0_objective(ctx: Context) -> Outcome:
    schedule, x, h, guess, t, kl = _objective_problem(ctx)
    weighted = diffusion.weight_x0(t, schedule).to(ctx.dtype).to(ctx.device) * ((x - guess) ** 2).sum(-1)
    return closed_outcome(
        ctx,
        weighted,
        kl,
        "weight_x0(t) ||x - x_hat||^2 vs torch's KL of the two Gaussians of step t (t = 2..N)",
        extra=ctx.floor(float(kl.abs().max())) * 10,
        why="rounding of large SNR differences",
    )


def noise_and_score_objectives(ctx: Context) -> Outcome:
    schedule, x, h, guess, t, kl = _objective_problem(ctx)
    eps = diffusion.noise_from_x0(h, x, t, schedule)
    eps_hat = diffusion.noise_from_x0(h, guess, t, schedule)
    w_noise = diffusion.weight_noise(t, schedule).to(ctx.dtype).to(ctx.device)
    w_score = diffusion.weight_score(t, schedule).to(ctx.dtype).to(ctx.device)
    s = diffusion.score_from_noise(h, eps, t, schedule)
    s_hat = diffusion.score_from_noise(h, eps_hat, t, schedule)
    lhs = torch.cat([w_noise * ((eps - eps_hat) ** 2).sum(-1), w_score * ((s - s_hat) ** 2).sum(-1)])
    return closed_outcome(
        ctx,
        lhs,
        torch.cat([kl, kl]),
        "weight_noise(t) ||eps - eps_hat||^2 and weight_score(t) ||s - s_hat||^2 vs torch's KL of step t",
        extra=ctx.floor(float(kl.abs().max())) * 10,
        why="rounding of large SNR ratios",
    )


CHECKS = [
    Check(
        "noising-steps-vs-closed-form",
        "eq:q-marginal",
        "N iterated noising steps give h_t the mean sqrt(alpha_bar_t) x and variance 1 - alpha_bar_t",
        noising_steps_vs_closed_form,
        seed=191,
    ),
    Check(
        "elbo-terms-vs-direct",
        "eq:vdm-elbo",
        "the three terms of the diffusion ELBO sum to the hierarchical VAE's ELBO estimated over whole chains",
        elbo_terms_vs_direct,
        seed=194,
    ),
    Check(
        "posterior-vs-gaussian-conditioning",
        "eq:posterior",
        "Q(h_{t-1}|h_t, x) in closed form equals the conditional of the joint Gaussian (Schur complement)",
        posterior_vs_conditioning,
        seed=192,
    ),
    Check(
        "three-targets-convert",
        "eq:three-targets",
        "x, the noise and the score are one target: each recovered from the others, the score as a gradient",
        targets_round_trip_and_score,
        seed=193,
    ),
    Check(
        "x0-objective-is-the-kl",
        "eq:three-objectives",
        "the denoising KL of step t is (SNR(t-1) - SNR(t))/2 times ||x - x_hat||^2",
        x0_objective,
        seed=195,
    ),
    Check(
        "noise-and-score-objectives-are-the-kl",
        "eq:three-objectives",
        "the same KL is the noise error and the score error, each with its stated weight",
        noise_and_score_objectives,
        seed=195,
    ),
]
