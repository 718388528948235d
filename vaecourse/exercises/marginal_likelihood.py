"""Checks for the exercises of book/marginal_likelihood.md: the quadrature count and the bias of log p-hat."""

from __future__ import annotations

from vaecourse.exercises._core import Mistake, ValueExercise

COUNT = ValueExercise(
    label="ex-ml-count",
    chapter="marginal_likelihood",
    stub="answer = (..., ...)  # (grid points, seconds for one p(x))\n\ncheck_ml_count(answer)",
    expected=(1e20, 1e11),
    rtol=1e-6,
    mistakes=[
        Mistake("10 points on each of 20 axes multiply: 10**20 points, not 10 * 20", value=(200.0, 2e-7)),
        Mistake(
            "20 points on each of 10 axes is the other way round: 10 points per axis, 20 axes",
            value=(20.0**10, 20.0**10 / 1e9),
        ),
    ],
)

BIAS = ValueExercise(
    label="ex-ml-variance",
    chapter="marginal_likelihood",
    stub='# the average over 400 seeds of log p-hat - log p(x): "below" or "above" zero?\n'
    'answer = "..."\n\ncheck_ml_variance(answer)',
    expected="below",
    choices=("below", "above"),
    mistakes=[
        Mistake(
            "Jensen's inequality for the concave log: E[log p-hat] <= log E[p-hat] = log p(x), so "
            "the average over many seeds is below; single runs land on either side",
            value="above",
        )
    ],
)

EXERCISES = [COUNT, BIAS]
