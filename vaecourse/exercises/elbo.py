"""Checks for the exercises of book/elbo.md: the gap of a Q that is too wide or too narrow."""

from __future__ import annotations

from vaecourse.exercises._core import FunctionExercise, Mistake, draw, tensor_cases


def _gap(c, k):
    return k / 2 * (c**2 - 1 - 2 * c.log())


def _cases(rng):
    cases = tensor_cases(rng, [(4,), (1,), (6,)], "factors c")
    for case, k in zip(cases, (2, 1, 5)):
        case["k"] = k
        case["describe"] += f" and k = {k}"
    return cases


GAP = FunctionExercise(
    label="ex-elbo-scale",
    chapter="elbo",
    stub="def scale_gap(c, k):\n    # log p(x) - ELBO when Q's standard deviations are c times the\n"
    "    # posterior's (c a tensor), k latent dimensions\n    ...  # your code\n\ncheck_elbo_scale(scale_gap)",
    make_cases=_cases,
    arguments=lambda case: [draw(case).mul(0.5).exp(), case["k"]],
    reference=_gap,
    grad_of=0,
    mistakes=[
        Mistake(
            "the factor 1/2 is missing: each dimension contributes (1/2)(c^2 - 1 - log c^2)",
            lambda c, k: 2 * _gap(c, k),
        ),
        Mistake(
            "the log term needs log c^2 = 2 log c (the log of the variance ratio), not log c",
            lambda c, k: k / 2 * (c**2 - 1 - c.log()),
        ),
        Mistake("the -1 per dimension (the -k term) is missing", lambda c, k: _gap(c, k) + k / 2),
        Mistake("the sign is flipped: the gap is a KL divergence, never negative", lambda c, k: -_gap(c, k)),
        Mistake("that is one latent dimension's gap: there are k of them", lambda c, k: _gap(c, 1)),
        Mistake(
            "the KL's arguments are swapped: the gap is D[Q||posterior], not D[posterior||Q]",
            lambda c, k: k / 2 * (c**-2 - 1 + 2 * c.log()),
        ),
    ],
)

EXERCISES = [GAP]
