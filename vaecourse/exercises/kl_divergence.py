"""Checks for the exercises of book/kl_divergence.md: the KL of two coins and of two 1-D Gaussians."""

from __future__ import annotations

import math

from vaecourse.exercises._core import FunctionExercise, Mistake, draw, tensor_cases


def _probs(case, offset):
    return 0.05 + 0.9 * draw(case, offset).sigmoid()


def _bernoulli(q, p):
    from torch.distributions import Bernoulli, kl_divergence

    return kl_divergence(Bernoulli(probs=q), Bernoulli(probs=p))


def _bernoulli_logits(q, p):
    from torch.distributions import Bernoulli, kl_divergence

    return kl_divergence(Bernoulli(logits=q), Bernoulli(logits=p))


KL_BERNOULLI = FunctionExercise(
    label="ex-kl-bernoulli",
    chapter="kl_divergence",
    stub="def kl_bernoulli(q, p):\n    ...  # your code: D[Q||P] for heads probabilities q and p (tensors)\n\n"
    "check_kl_bernoulli(kl_bernoulli)\n"
    "# then the numbers: kl_bernoulli(torch.tensor(0.5), torch.tensor(0.9)), reversed",
    make_cases=lambda rng: tensor_cases(rng, [(3,), (1,), (5,)], "probabilities q and p"),
    arguments=lambda case: [_probs(case, 0), _probs(case, 1)],
    reference=_bernoulli,
    grad_of=0,
    mistakes=[
        Mistake(
            "the arguments are swapped: you computed D[P||Q]; D[Q||P] averages log(Q/P) over Q",
            lambda q, p: _bernoulli(p, q),
        ),
        Mistake(
            "that is in bits (log base 2): the course uses natural logs, nats",
            lambda q, p: _bernoulli(q, p) / math.log(2),
        ),
        Mistake("the sign is flipped: a KL divergence is never negative", lambda q, p: -_bernoulli(q, p)),
        Mistake("the tails term (1-q) log((1-q)/(1-p)) is missing", lambda q, p: q * (q / p).log()),
        Mistake(
            "you passed probabilities where logits are expected: Bernoulli(q) reads q as a logit; write "
            "Bernoulli(probs=q)",
            _bernoulli_logits,
        ),
    ],
)


def _normal(m0, s0, m1, s1):
    from torch.distributions import Normal, kl_divergence

    return kl_divergence(Normal(m0, s0), Normal(m1, s1))


def _normal_args(case):
    return [draw(case, 0), draw(case, 1).mul(0.5).exp(), draw(case, 2), draw(case, 3).mul(0.5).exp()]


KL_NORMAL = FunctionExercise(
    label="ex-kl-gaussian-1d",
    chapter="kl_divergence",
    stub="def kl_normal(m0, s0, m1, s1):\n    # D[N(m0, s0^2) || N(m1, s1^2)], s0 and s1 standard deviations\n"
    "    ...  # your code\n\ncheck_kl_gaussian_1d(kl_normal)",
    make_cases=lambda rng: tensor_cases(rng, [(3,), (1,), (4, 2)], "means and standard deviations"),
    arguments=_normal_args,
    reference=_normal,
    grad_of=1,
    mistakes=[
        Mistake(
            "the factor 1/2 is missing: the quadratic term is (s0^2 + (m0-m1)^2) / (2 s1^2), and the constant -1/2",
            lambda m0, s0, m1, s1: 2 * _normal(m0, s0, m1, s1) - (s1 / s0).log(),
        ),
        Mistake("the whole divergence is twice too large: check the 1/2's", lambda *a: 2 * _normal(*a)),
        Mistake(
            "the log term is log(s1/s0) (standard deviations); you wrote log(s1^2/s0^2), the log of the variances",
            lambda m0, s0, m1, s1: _normal(m0, s0, m1, s1) + (s1 / s0).log(),
        ),
        Mistake(
            "you treated s0 and s1 as variances: they are standard deviations (the variance is s^2)",
            lambda m0, s0, m1, s1: _normal(m0, s0.sqrt(), m1, s1.sqrt()),
        ),
        Mistake(
            "the arguments are swapped: you computed D[N(m1,s1^2)||N(m0,s0^2)]",
            lambda m0, s0, m1, s1: _normal(m1, s1, m0, s0),
        ),
        Mistake("the sign is flipped: a KL divergence is never negative", lambda *a: -_normal(*a)),
        Mistake("the constant -1/2 (the -k/2 of the k-dimensional formula) is missing", lambda *a: _normal(*a) + 0.5),
        Mistake(
            "the sign of the log term is flipped: it is + log(s1/s0)",
            lambda m0, s0, m1, s1: _normal(m0, s0, m1, s1) - 2 * (s1 / s0).log(),
        ),
    ],
)

EXERCISES = [KL_BERNOULLI, KL_NORMAL]
