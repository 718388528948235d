"""Checks for the exercises of book/marginal_likelihood.md: the quadrature count and the bias of log p-hat."""

from __future__ import annotations

from dataclasses import dataclass

from vaecourse.exercises._core import Mistake, ValueExercise, Verdict, flat

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

SEEDS = 400  # the exercise's runs of the estimate
SAMPLES = 10  # S, prior samples per run


def bias_experiment(runs: int, seed: int = 0):
    """``runs`` estimates log p-hat - log p(x) at S = 10 on the chapter's model, as a float64 tensor (runs,).

    The model and observation of book/marginal_likelihood.md (D = 5, k = 2, sigma = 0.5); the estimate is
    :math:`\\log\\frac1S\\sum_s p(\\mathbf{x}|\\mathbf{h}_s)`, h_s from the prior.
    """
    import torch

    from vaecourse import elbo, marginal
    from vaecourse.linear_gaussian import LinearGaussian

    model = LinearGaussian.random(data_dim=5, latent_dim=2, sigma=0.5, seed=1)
    x, _ = model.sample(1, seed=2)
    generator_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        log_w = marginal.importance_log_weights(model, x, model.prior(), n_samples=runs * SAMPLES)  # (runs*S, 1)
    finally:
        torch.random.set_rng_state(generator_state)
    return elbo.log_mean_exp(log_w.reshape(runs, SAMPLES), dim=1) - model.log_px(x)  # (runs,)


@dataclass
class BiasExercise(ValueExercise):
    """ex-ml-variance: the student's average of log p-hat - log p(x) over 400 runs, a Monte Carlo number.

    Judged against the check's own 10x longer experiment: right within four standard errors of a
    400-run average (the spread of the runs over sqrt(400)), so any correct sampling code passes and
    the sign of the bias, about -0.2 nats, is unmistakable; the known mistakes are the reversed sign
    and the log of the averaged p-hat (unbiased, near zero).
    """

    def judge(self, cases: list[dict], observations: list[dict]) -> Verdict:
        obs = observations[0]
        if obs.get("kind") == "error":
            return Verdict(self.label, False, f"your code raised {obs['error']}")
        if obs.get("kind") not in ("number", "tensor", "array") or len(flat(obs["values"])) != 1:
            return Verdict(self.label, False, "give one number: the average of log p-hat - log p(x) over the seeds")
        value = flat(obs["values"])[0]
        runs = bias_experiment(10 * SEEDS)
        mean, tolerance = float(runs.mean()), 4 * float(runs.std()) / SEEDS**0.5
        if abs(value - mean) <= tolerance:
            return Verdict(self.label, True, f"right: the reference average is {mean:.3f} +- {tolerance / 4:.3f}")
        if abs(value + mean) <= tolerance:
            return Verdict(self.label, False, "the sign is reversed: average log p-hat - log p(x), not the other way")
        if abs(value) < tolerance / 2:
            return Verdict(
                self.label,
                False,
                "close to zero: did you average p-hat over the seeds before taking the log? That average "
                "is unbiased; Jensen's inequality is about the average of log p-hat",
            )
        return Verdict(
            self.label, False, f"{value:.3g} is not right: use S = {SAMPLES} prior samples per run, {SEEDS} runs"
        )


BIAS = BiasExercise(
    label="ex-ml-variance",
    chapter="marginal_likelihood",
    stub="# the average over 400 seeds of log p-hat - log p(x), S = 10\nanswer = ...\n\ncheck_ml_variance(answer)",
)

EXERCISES = [COUNT, BIAS]
