"""Each check of book/diffusion.md FAILS when its formula is broken.

The same idea as tests/checks/mutations_lecture.py: swap in a broken formula of vaecourse.diffusion (the
mean of Q(h_t|x) without its square root, the posterior's coefficients swapped, a weight without its
one half ...) and assert that the check guarding it reports a failure (tests/checks/test_mutations.py).
"""

from __future__ import annotations

from vaecourse import diffusion as dm
from vaecourse.checks import diffusion as diffusion_checks

_elbo_terms = dm.elbo_terms


def _q_step_variance_not_sqrt(h_prev, t, eps, schedule):
    a = dm._at(schedule.alpha, t, h_prev)
    return a.sqrt() * h_prev + (1 - a) * eps  # the variance where the standard deviation belongs


def _q_marginal_mean_without_sqrt(x, t, schedule):
    ab = dm._at(schedule.alpha_bar, t, x)
    return ab * x, 1 - ab


def _q_marginal_variance_of_one_step(x, t, schedule):
    ab, a = dm._at(schedule.alpha_bar, t, x), dm._at(schedule.alpha, t, x)
    return ab.sqrt() * x, 1 - a


def _posterior_coefficients_swapped(h_t, x, t, schedule):
    a, ab, ab_prev = (
        dm._at(schedule.alpha, t, x),
        dm._at(schedule.alpha_bar, t, x),
        dm._at(schedule.alpha_bar, t - 1, x),
    )
    mean = (ab_prev.sqrt() * (1 - ab_prev) * h_t + a.sqrt() * (1 - a) * x) / (1 - ab)
    return mean, (1 - a) * (1 - ab_prev) / (1 - ab)


def _posterior_variance_of_the_step(h_t, x, t, schedule):
    a, ab, ab_prev = (
        dm._at(schedule.alpha, t, x),
        dm._at(schedule.alpha_bar, t, x),
        dm._at(schedule.alpha_bar, t - 1, x),
    )
    mean = (a.sqrt() * (1 - ab_prev) * h_t + ab_prev.sqrt() * (1 - a) * x) / (1 - ab)
    return mean, 1 - a  # Ho et al.'s other choice of the decoder's variance, not the posterior's


def _noise_from_x0_plus(h_t, x0, t, schedule):
    ab = dm._at(schedule.alpha_bar, t, h_t)
    return (h_t + ab.sqrt() * x0) / (1 - ab).sqrt()


def _score_over_variance(h_t, eps, t, schedule):
    return -eps / dm._at(1 - schedule.alpha_bar, t, h_t)


def _kl_without_half(mean_q, mean_p, var):
    return ((mean_q - mean_p) ** 2 / var).sum(-1)


def _elbo_terms_without_t2(model, x, generator=None):
    terms = _elbo_terms(model, x, generator)
    return {**terms, "elbo": terms["elbo"] + terms["denoising_t"][0]}


def _weight_x0_reversed(t, schedule):
    snr = schedule.snr()
    return 0.5 * (snr[t] - snr[t - 1])


def _weight_x0_without_half(t, schedule):
    snr = schedule.snr()
    return snr[t - 1] - snr[t]


def _weight_noise_without_minus_one(t, schedule):
    snr = schedule.snr()
    return 0.5 * snr[t - 1] / snr[t]


def _weight_score_as_noise(t, schedule):
    snr = schedule.snr()
    return 0.5 * (snr[t - 1] / snr[t] - 1)


MUTATIONS = [
    (
        "noising step: variance where the standard deviation belongs",
        dm,
        "q_step",
        _q_step_variance_not_sqrt,
        ["noising-steps-vs-closed-form"],
    ),
    ("Q(h_t|x): mean alpha_bar x", dm, "q_marginal", _q_marginal_mean_without_sqrt, ["noising-steps-vs-closed-form"]),
    (
        "Q(h_t|x): the variance of one step",
        dm,
        "q_marginal",
        _q_marginal_variance_of_one_step,
        ["noising-steps-vs-closed-form"],
    ),
    (
        "posterior: coefficients swapped",
        dm,
        "posterior",
        _posterior_coefficients_swapped,
        ["posterior-vs-gaussian-conditioning"],
    ),
    (
        "posterior: variance 1 - alpha_t",
        dm,
        "posterior",
        _posterior_variance_of_the_step,
        ["posterior-vs-gaussian-conditioning"],
    ),
    ("noise from x: + instead of -", dm, "noise_from_x0", _noise_from_x0_plus, ["three-targets-convert"]),
    ("score: divided by the variance", dm, "score_from_noise", _score_over_variance, ["three-targets-convert"]),
    ("denoising KL: without 1/2", dm, "kl_gaussians_same_var", _kl_without_half, ["elbo-terms-vs-direct"]),
    ("ELBO: the term of t = 2 forgotten", dm, "elbo_terms", _elbo_terms_without_t2, ["elbo-terms-vs-direct"]),
    ("x weight: SNR(t) - SNR(t-1)", dm, "weight_x0", _weight_x0_reversed, ["x0-objective-is-the-kl"]),
    ("x weight: without 1/2", dm, "weight_x0", _weight_x0_without_half, ["x0-objective-is-the-kl"]),
    (
        "noise weight: without -1",
        dm,
        "weight_noise",
        _weight_noise_without_minus_one,
        ["noise-and-score-objectives-are-the-kl"],
    ),
    (
        "score weight: the noise's weight",
        dm,
        "weight_score",
        _weight_score_as_noise,
        ["noise-and-score-objectives-are-the-kl"],
    ),
]

CHAPTER_CHECKS = {c.name for c in diffusion_checks.CHECKS}  # what MUTATIONS must guard
