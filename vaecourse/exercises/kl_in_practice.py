"""Checks for the exercises of book/kl_in_practice.md: the hidden beta and the free-bits floor."""

from __future__ import annotations

from vaecourse.exercises._core import (
    FunctionExercise,
    Mistake,
    ValueExercise,
    draw,
    tensor_cases,
)

HIDDEN_BETA = ValueExercise(
    label="ex-klp-hidden-beta",
    chapter="kl_in_practice",
    stub="hidden_beta = ...  # the beta the tutorial trains with\n\ncheck_klp_hidden_beta(hidden_beta)",
    expected=784.0,
    mistakes=[
        Mistake(
            "inverted: the reconstruction is divided by 784, so the KL weighs 784 times *more*: "
            "(Dist/784 + R) = (Dist + 784 R)/784",
            value=1 / 784,
        ),
        Mistake("the batch mean divides both terms alike: only the mean over pixels changes beta", value=1.0),
    ],
)


def _floor(tau, k):
    return k * tau


def _cases(rng):
    cases = tensor_cases(rng, [(3,), (1,), (2,)], "tau")
    for case, k in zip(cases, (16, 2, 5)):
        case["k"] = k
        case["describe"] += f" and k = {k}"
    return cases


FREE_BITS = FunctionExercise(
    label="ex-klp-free-bits",
    chapter="kl_in_practice",
    stub="def smallest_rate(tau, k):\n    ...  # your code: the smallest rate term a batch is charged\n\n"
    "check_klp_free_bits(smallest_rate)",
    make_cases=_cases,
    arguments=lambda case: [draw(case).abs(), case["k"]],
    reference=_floor,
    grad_of=None,
    mistakes=[Mistake("that is one unit's floor: each of the k units is charged at least tau", lambda tau, k: tau)],
)

EXERCISES = [HIDDEN_BETA, FREE_BITS]
