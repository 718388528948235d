"""Checks for the exercises of book/diffusion.md: the mean of the posterior of one noising step."""

from __future__ import annotations

from vaecourse.exercises._core import FunctionExercise, Mistake, draw, tensor_cases


def _args(case):
    import torch

    b = case["shape"][0]
    alpha_t = 0.5 + 0.49 * torch.sigmoid(draw(case, 2, shape=(b, 1)))  # in (0.5, 0.99)
    alpha_bar_prev = 0.05 + 0.9 * torch.sigmoid(draw(case, 3, shape=(b, 1)))  # in (0.05, 0.95)
    return [draw(case, 0), draw(case, 1), alpha_t, alpha_bar_prev]


def _mean(h_t, x, a, ab_prev):
    ab = a * ab_prev
    return (a.sqrt() * (1 - ab_prev) * h_t + ab_prev.sqrt() * (1 - a) * x) / (1 - ab)


def _shape_hint(got, expected):
    if len(got) == 1:
        return "return one mean per coordinate, shape (B, D), not a sum over the coordinates"
    return None


POSTERIOR_MEAN = FunctionExercise(
    label="ex-diff-posterior-mean",
    chapter="diffusion",
    stub="def posterior_mean(h_t, x, alpha_t, alpha_bar_prev):\n"
    "    ...  # your code: the mean of Q(h_{t-1} | h_t, x); h_t, x (B, D), alphas (B, 1)\n\n"
    "check_diff_posterior_mean(posterior_mean)",
    make_cases=lambda rng: tensor_cases(rng, [(3, 2), (1, 5), (4, 3)], "h_t and x"),
    arguments=_args,
    reference=_mean,
    grad_of=1,
    shape_hint=_shape_hint,
    mistakes=[
        Mistake(
            "the coefficients of h_t and x are swapped: h_t goes with sqrt(alpha_t) (1 - alpha_bar_{t-1})",
            lambda h, x, a, abp: _mean(x, h, a, abp),
        ),
        Mistake(
            "the denominator is 1 - alpha_bar_t with alpha_bar_t = alpha_t alpha_bar_{t-1}, not 1 - alpha_t",
            lambda h, x, a, abp: _mean(h, x, a, abp) * (1 - a * abp) / (1 - a),
        ),
        Mistake(
            "sqrt(alpha_bar_{t-1}) multiplies x, not alpha_bar_{t-1}",
            lambda h, x, a, abp: (a.sqrt() * (1 - abp) * h + abp * (1 - a) * x) / (1 - a * abp),
        ),
        Mistake(
            "the square roots are missing: the means scale by sqrt(alpha), the variances by alpha",
            lambda h, x, a, abp: (a * (1 - abp) * h + abp * (1 - a) * x) / (1 - a * abp),
        ),
    ],
)

EXERCISES = [POSTERIOR_MEAN]
