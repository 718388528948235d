"""Checks for the exercises of book/ising_sampler.md: Kish's effective sample size from log weights, and the
acceptance rate of an independence sampler whose log weights are Gaussian."""

from __future__ import annotations

import math

from vaecourse.exercises._core import FunctionExercise, Mistake, ValueExercise, draw, tensor_cases


def _ess(log_w):
    w = (log_w - log_w.max()).exp()
    return w.sum() ** 2 / (w**2).sum()


def _log_w(case):
    return 3 * draw(case)  # log weights spread over a few units, as a poor proposal gives


ESS = FunctionExercise(
    label="ex-sampler-ess",
    chapter="ising_sampler",
    stub="def ess(log_w):\n    ...  # your code: Kish's effective sample size of weights exp(log_w), (n,)\n\n"
    "check_sampler_ess(ess)",
    make_cases=lambda rng: tensor_cases(rng, [(50,), (7,), (400,)], "log weights"),
    arguments=lambda case: [_log_w(case)],
    reference=_ess,
    grad_of=None,
    mistakes=[
        Mistake("that is 1/ESS, sum w^2 / (sum w)^2: turn the ratio over", lambda log_w: 1 / _ess(log_w)),
        Mistake(
            "the sum of the weights is squared before the ratio: (sum w)^2 / sum w^2, not sum w / sum w^2",
            lambda log_w: (log_w - log_w.max()).exp().sum() / ((log_w - log_w.max()).exp() ** 2).sum(),
        ),
        Mistake(
            "that is the ESS of the log weights themselves: exponentiate them first",
            lambda log_w: log_w.sum() ** 2 / (log_w**2).sum(),
        ),
    ],
)


def _phi(x: float) -> float:
    return 0.5 * math.erfc(-x / math.sqrt(2))


SIGMA = 2.0
ACCEPTANCE = ValueExercise(
    label="ex-sampler-acceptance",
    chapter="ising_sampler",
    stub="acceptance = ...  # the mean acceptance rate for sigma = 2\n\ncheck_sampler_acceptance(acceptance)",
    expected=2 * _phi(-SIGMA / math.sqrt(2)),
    mistakes=[
        Mistake(
            "that is P(w' > w) alone: the proposals with w' < w are accepted too, with probability w'/w",
            value=_phi(-SIGMA / math.sqrt(2)),
        ),
        Mistake(
            "that is the ESS per sample, exp(-sigma^2), of importance sampling, not the acceptance rate",
            value=math.exp(-(SIGMA**2)),
        ),
        Mistake(
            "the current state is drawn from the target, not the proposal: its log weight is shifted by sigma^2",
            # both log weights drawn from the proposal: D = log w' - log w ~ N(0, 2 sigma^2)
            value=0.5 + math.exp(SIGMA**2) * _phi(-math.sqrt(2) * SIGMA),
        ),
    ],
)

EXERCISES = [ESS, ACCEPTANCE]
