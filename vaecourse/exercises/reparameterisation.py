"""Checks for the exercises of book/reparameterisation.md: the variance of the reparameterised gradient."""

from __future__ import annotations

from vaecourse.exercises._core import FunctionExercise, Mistake, draw, tensor_cases


def _var(mu, sigma):
    return 4 * mu**2 + 8 * sigma**2


VAR_SIGMA = FunctionExercise(
    label="ex-reparam-sigma",
    chapter="reparameterisation",
    stub="def var_sigma(mu1, sigma1):\n    # the per-sample variance of d f / d sigma_1, f(h) = sum_j h_j^2\n"
    "    ...  # your code\n\ncheck_reparam_sigma(var_sigma)",
    make_cases=lambda rng: tensor_cases(rng, [(3,), (1,), (5,)], "mu_1 and sigma_1"),
    arguments=lambda case: [draw(case, 0), draw(case, 1).mul(0.5).exp()],
    reference=_var,
    grad_of=None,
    mistakes=[
        Mistake(
            "that is the second moment E[g^2]: the variance subtracts the squared mean, (2 sigma_1)^2",
            lambda m, s: 4 * m**2 + 12 * s**2,
        ),
        Mistake("E[eps^4] = 3 for a standard normal, not 1", lambda m, s: 4 * m**2 + 4 * s**2),
        Mistake("the derivative of h^2 is 2h, and the 2 squares to 4 in the variance", lambda m, s: m**2 + 2 * s**2),
        Mistake("the mu_1 term is missing: d f / d sigma_1 = 2 (mu_1 + sigma_1 eps) eps", lambda m, s: 8 * s**2),
    ],
)

EXERCISES = [VAR_SIGMA]
