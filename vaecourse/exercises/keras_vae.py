"""Checks for the exercises of book/keras_vae.md: the prior in the square, the hidden beta, parameter counts."""

from __future__ import annotations

import math

from vaecourse.exercises._core import Mistake, ValueExercise

SQUARE = ValueExercise(
    label="ex-keras-1",
    chapter="keras_vae",
    stub="fraction = ...  # of N(0, I) in two dimensions inside [-1, 1]^2\n\ncheck_keras_1(fraction)",
    expected=math.erf(1 / math.sqrt(2)) ** 2,
    mistakes=[
        Mistake(
            "that is one coordinate: the two are independent, so the probabilities multiply",
            value=math.erf(1 / math.sqrt(2)),
        ),
        Mistake("that is the fraction inside the unit disc, not the square", value=1 - math.exp(-0.5)),
    ],
)

MEAN_OVER_PIXELS = ValueExercise(
    label="ex-keras-2",
    chapter="keras_vae",
    stub="beta = ...  # the KL's weight relative to the summed reconstruction\n\ncheck_keras_2(beta)",
    expected=784.0,
    mistakes=[
        Mistake("inverted: dividing the reconstruction by 784 makes the KL weigh 784 times *more*", value=1 / 784)
    ],
)

PARAMETERS = ValueExercise(
    label="ex-keras-4",
    chapter="keras_vae",
    stub="gain = (..., ...)  # (encoder, decoder): parameters gained from k = 2 to k = 3\n\ncheck_keras_4(gain)",
    expected=(34.0, 3136.0),
    rtol=1e-9,
    mistakes=[
        Mistake(
            "the encoder has two heads (mean and log-variance), each gaining 16 weights and 1 bias",
            value=(17.0, 3136.0),
        ),
        Mistake("the biases are missing: each head gains 16 weights *and* a bias", value=(32.0, 3136.0)),
        Mistake(
            "the decoder's first layer gains 3136 weights and no bias: its biases belong to its 3136 "
            "outputs, which do not change",
            value=(34.0, 3137.0),
        ),
    ],
)

EXERCISES = [SQUARE, MEAN_OVER_PIXELS, PARAMETERS]
