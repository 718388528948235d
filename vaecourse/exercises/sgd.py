"""Checks for the exercises of book/sgd.md: the minimum of the KL term."""

from __future__ import annotations

from vaecourse.exercises._core import Mistake, ValueExercise

KL_MIN = ValueExercise(
    label="ex-sgd-kl-1d",
    chapter="sgd",
    stub="minimiser = (..., ...)  # (mu, sigma) at the minimum of the KL\n\ncheck_sgd_kl_1d(minimiser)",
    expected=(0.0, 1.0),
    mistakes=[
        Mistake(
            "sigma = 0 makes -log sigma^2 infinite: set the derivative with respect to sigma^2 to zero",
            value=(0.0, 0.0),
        ),
        Mistake("(1, 0) reads (sigma, mu): give (mu, sigma)", value=(1.0, 0.0)),
    ],
)

EXERCISES = [KL_MIN]
