"""Checks for the exercises of book/spectra.md: the maximum-likelihood noise level."""

from __future__ import annotations

from vaecourse.exercises._core import FunctionExercise, Mistake, draw, tensor_cases


def _sigma(x, mu):
    return ((x - mu) ** 2).mean().sqrt()


def _shape_hint(got, expected):
    if len(got) == 1:
        return (
            "your sigma has one value per spectrum or per pixel: the Gaussian likelihood has one sigma for "
            "all N x D values, so average the squared residuals over both axes"
        )
    return None


SIGMA = FunctionExercise(
    label="ex-spectra-sigma",
    chapter="spectra",
    stub="def sigma_ml(x, mu):\n    ...  # your code: the optimal sigma for spectra x and means mu, both (N, D)\n\n"
    "check_spectra_sigma(sigma_ml)",
    make_cases=lambda rng: tensor_cases(rng, [(4, 6), (1, 5), (7, 3)], "spectra x and means mu"),
    arguments=lambda case: [draw(case, 0), draw(case, 1)],
    reference=_sigma,
    grad_of=0,
    shape_hint=_shape_hint,
    mistakes=[
        Mistake(
            "that is sigma^2, the mean squared residual: the question asks for sigma, its square root",
            lambda x, mu: _sigma(x, mu) ** 2,
        ),
        Mistake(
            "you summed the squared residuals: the optimum divides by N D, a mean",
            lambda x, mu: ((x - mu) ** 2).sum().sqrt(),
        ),
        Mistake(
            "torch.std subtracts the residuals' own mean and divides by N D - 1: the maximum-likelihood "
            "sigma^2 is the plain mean of the squared residuals",
            lambda x, mu: (x - mu).std(),
        ),
    ],
)

EXERCISES = [SIGMA]
