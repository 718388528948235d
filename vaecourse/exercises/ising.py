"""Checks for the exercises of book/ising.md: the critical coupling and the know-nothing decoder's loss."""

from __future__ import annotations

import math

from vaecourse.exercises._core import Mistake, ValueExercise

DUALITY = ValueExercise(
    label="ex-ising-duality",
    chapter="ising",
    stub="kappa_c = ...  # the critical coupling\n\ncheck_ising_duality(kappa_c)",
    expected=0.5 * math.log(1 + math.sqrt(2)),
    mistakes=[
        Mistake(
            "that is 2 kappa_c = ln(1 + sqrt 2): sinh(2 kappa) = 1 fixes twice the coupling",
            value=math.log(1 + math.sqrt(2)),
        ),
        Mistake("that is T_c = 1/kappa_c: the question asks for the coupling", value=2 / math.log(1 + math.sqrt(2))),
    ],
)

LOSS = ValueExercise(
    label="ex-ising-loss",
    chapter="ising",
    stub="loss_per_spin = ...  # in nats\n\ncheck_ising_loss(loss_per_spin)",
    expected=math.log(2),
    mistakes=[
        Mistake("that is in bits: the loss is in nats, -ln(1/2)", value=1.0),
        Mistake("-log(1/2) is positive: a loss of a probability below one is positive", value=-math.log(2)),
    ],
)

EXERCISES = [DUALITY, LOSS]
