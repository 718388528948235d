"""The chapters' self-tests: three to six questions per chapter with immediate feedback and a hint.

One source per chapter: the questions below (plain data). ``self_test(chapter)`` shows them as a
widget whose front end (``vaecourse/js/src/self_test.js``, bundled into ``js/bundles/self_test.js``)
judges every answer in the page: in a notebook with a kernel, and on the static website with none
(book/_static/site/widgets.js renders it from the state the book embeds). Kinds of question:

- ``number``: a number (or an arithmetic expression such as ``784*ln(2)``) within ``rtol``/``atol``;
- ``choice``: one of ``choices``, ``answer`` its index;
- ``expression``: a formula in ``variables``, compared with ``answer`` at each of ``points``.

``wrong`` lists known wrong answers with what each says; ``hint`` is shown with every wrong answer.
Importing this module is cheap (anywidget is imported by :func:`self_test`).
"""

from __future__ import annotations

import functools
import math


def number(id, prompt, answer, hint, explain="", rtol=1e-3, atol=1e-9, wrong=()):
    return {
        "id": id,
        "kind": "number",
        "prompt": prompt,
        "answer": answer,
        "rtol": rtol,
        "atol": atol,
        "hint": hint,
        "explain": explain,
        "wrong": [{"answer": a, "message": m} for a, m in wrong],
    }


def choice(id, prompt, choices, answer, hint, explain="", wrong=()):
    return {
        "id": id,
        "kind": "choice",
        "prompt": prompt,
        "choices": list(choices),
        "answer": answer,
        "hint": hint,
        "explain": explain,
        "wrong": [{"answer": a, "message": m} for a, m in wrong],
    }


def expression(id, prompt, answer, variables, points, hint, explain="", wrong=()):
    return {
        "id": id,
        "kind": "expression",
        "prompt": prompt,
        "answer": answer,
        "variables": list(variables),
        "points": list(points),
        "rtol": 1e-6,
        "atol": 1e-9,
        "hint": hint,
        "explain": explain,
        "wrong": [{"answer": a, "message": m} for a, m in wrong],
    }


QUESTIONS: dict[str, list[dict]] = {
    "bayes_rule": [
        number(
            "prior-kl",
            "Take Q(h) = p(h), the prior. What is D[Q || p(h)]?",
            0.0,
            "a divergence of a distribution from itself",
            atol=1e-9,
        ),
        choice(
            "zero-variance",
            "When Q is the exact posterior p(h|x), the single-sample estimate "
            "log p(x|h) + log p(h) - log Q(h), h ~ Q, has variance ...",
            ["as large as prior sampling's", "zero", "infinite"],
            1,
            "write p(x|h) p(h) = p(h|x) p(x) and cancel",
            "Every sample gives log p(x) exactly.",
        ),
        choice(
            "elbo",
            "log p(x) - D[Q || p(h|x)] is ...",
            ["log p(x) itself", "the KL to the prior", "the ELBO"],
            2,
            "the central equation: one side is what a VAE can compute",
        ),
    ],
    "kl_divergence": [
        number(
            "bernoulli",
            "D[Q || P] for coins with heads probabilities Q: 0.5 and P: 0.9, in nats?",
            0.5 * math.log(0.5 / 0.9) + 0.5 * math.log(0.5 / 0.1),
            "average log(Q/P) over Q's outcomes",
            rtol=2e-3,
            wrong=[
                (0.9 * math.log(0.9 / 0.5) + 0.1 * math.log(0.1 / 0.5), "That is D[P || Q]: the arguments are swapped.")
            ],
        ),
        expression(
            "shifted-normal",
            "D[N(m, 1) || N(0, 1)] as a function of m:",
            "m^2/2",
            ["m"],
            [{"m": 0.5}, {"m": -1.3}, {"m": 2.0}],
            "the k = 1 case of the Gaussian formula, s0 = s1 = 1",
            wrong=[("m^2", "The factor 1/2 is missing.")],
        ),
        choice(
            "reverse-fit",
            "Fitting one Gaussian Q to a two-peaked P by minimising the reverse divergence D[Q || P] tends to ...",
            ["spread Q over both peaks", "put Q on one peak", "put Q in the valley"],
            1,
            "D[Q || P] is large wherever Q has mass and P has little",
        ),
    ],
    "marginal_likelihood": [
        number(
            "grid",
            "How many points does a grid with 10 points per axis need in a 20-dimensional latent space?",
            1e20,
            "one factor of 10 per axis",
            wrong=[(200, "10 * 20 adds the axes; a grid multiplies them.")],
        ),
        choice(
            "unbiased",
            "The prior-sampling estimate of p(x) (not its log) is ...",
            ["biased low", "unbiased", "biased high"],
            1,
            "the expectation of p(x|h) over the prior",
        ),
        choice(
            "log-bias",
            "Averaged over many seeds, the log of that estimate is ... log p(x)",
            ["above", "equal to", "below"],
            2,
            "Jensen's inequality for the concave log",
        ),
    ],
    "elbo": [
        expression(
            "scale-gap",
            "Q has the posterior's mean and c times its standard deviations, k = 2 latent "
            "dimensions. The gap log p(x) - ELBO as a function of c:",
            "c^2 - 1 - 2*log(c)",
            ["c"],
            [{"c": 0.5}, {"c": 2.0}, {"c": 3.0}],
            "each dimension contributes (1/2)(c^2 - 1 - log c^2)",
            wrong=[
                ("c^2 - 1 - log(c)", "log c^2 = 2 log c."),
                ("2*(c^2 - 1 - 2*log(c))", "The factor 1/2 per dimension is missing."),
            ],
        ),
        number(
            "gap-at-2", "That gap at c = 2, in nats?", 3 - 2 * math.log(2), "put c = 2 into your formula", rtol=2e-3
        ),
        choice(
            "tight",
            "The ELBO equals log p(x) exactly when ...",
            ["Q is the prior", "Q is the exact posterior", "the decoder is linear"],
            1,
            "the gap is D[Q || p(h|x)]",
        ),
    ],
    "sgd": [
        expression(
            "kl-1d",
            "D[N(mu, sigma^2) || N(0, 1)] as a function of mu and sigma:",
            "(sigma^2 + mu^2 - 1 - log(sigma^2))/2",
            ["mu", "sigma"],
            [{"mu": 0.3, "sigma": 0.5}, {"mu": -1.0, "sigma": 2.0}, {"mu": 2.0, "sigma": 1.0}],
            "the variance, the squared mean, minus one, minus the log of the variance; then a factor",
            wrong=[
                ("sigma^2 + mu^2 - 1 - log(sigma^2)", "The factor 1/2 is missing."),
                ("(sigma^2 + mu^2 - 1 - log(sigma))/2", "The log is of the variance, sigma^2."),
            ],
        ),
        number("kl-min", "The smallest value of that divergence?", 0.0, "at mu = 0, sigma = 1", atol=1e-9),
        choice(
            "samples-or-batch",
            "Same number of decoder passes: which gradient of the average loss over the "
            "data set has the lower variance?",
            ["L = 64 samples, B = 2 images", "L = 1 sample, B = 128 images", "both the same"],
            1,
            "the spread between images is usually larger than the spread between samples of one image",
        ),
    ],
    "reparameterisation": [
        expression(
            "var-sigma",
            "The per-sample variance of d f / d sigma for f(h) = h^2, h = mu + sigma eps:",
            "4*mu^2 + 8*sigma^2",
            ["mu", "sigma"],
            [{"mu": 1.5, "sigma": 0.5}, {"mu": -0.2, "sigma": 2.0}, {"mu": 0.0, "sigma": 1.0}],
            "d f / d sigma = 2 (mu + sigma eps) eps; E[eps^4] = 3",
            wrong=[("4*mu^2 + 12*sigma^2", "That is the second moment; subtract the squared mean.")],
        ),
        choice(
            "sample",
            "With q.sample() instead of q.rsample() in the ELBO, the encoder's gradient comes from ...",
            ["the reconstruction term only", "both terms", "the KL term only"],
            2,
            "sample() cuts h off from mu and sigma",
        ),
        choice(
            "baseline",
            "Subtracting a constant b from f in the score-function estimator ...",
            ["biases it", "keeps it unbiased", "makes its variance zero"],
            1,
            "E_Q[grad log Q] = 0",
        ),
    ],
    "pytorch_vae": [
        number(
            "grey",
            "The smallest Bernoulli loss any decoder reaches on an image of 784 pixels of grey level 0.5, in nats?",
            784 * math.log(2),
            "each pixel costs at least its entropy H(0.5)",
            rtol=2e-3,
            wrong=[(784, "That is in bits; the losses are in nats.")],
        ),
        expression(
            "kl-log-sigma",
            "One latent unit's KL from N(0, 1), with the encoder's s = log sigma:",
            "(exp(2*s) + mu^2 - 1 - 2*s)/2",
            ["mu", "s"],
            [{"mu": 0.3, "s": -0.5}, {"mu": -1.0, "s": 0.7}, {"mu": 2.0, "s": 0.0}],
            "sigma^2 = exp(2 s) and log sigma^2 = 2 s",
            wrong=[("(exp(s) + mu^2 - 1 - s)/2", "You used s as log sigma^2; here s = log sigma.")],
        ),
        number(
            "iwae",
            "K = 10 importance weights all have log w = -100. What is the bound L_10?",
            -100.0,
            "L_K = log of the *mean* of the weights",
            rtol=1e-6,
            wrong=[(-100 + math.log(10), "The -log K is missing: the mean, not the sum, of the weights.")],
        ),
        choice(
            "batch",
            "The batch size goes from 128 to 512. The spread of the batch loss ...",
            ["is unchanged", "halves", "falls to a quarter"],
            1,
            "a mean of B numbers: the spread falls as 1/sqrt(B)",
        ),
    ],
    "keras_vae": [
        number(
            "square",
            "What fraction of the prior N(0, I) in two dimensions lies inside [-1, 1]^2?",
            math.erf(2**-0.5) ** 2,
            "each coordinate is inside [-1, 1] with probability 0.683",
            rtol=2e-3,
            wrong=[(math.erf(2**-0.5), "That is one coordinate; the two are independent.")],
        ),
        number(
            "params",
            "How many parameters does the encoder gain when the latent dimension goes from 2 to 3?",
            34,
            "two dense heads from 16 units, each with weights and a bias",
            rtol=1e-9,
            wrong=[(17, "There are two heads: mean and log-variance."), (32, "The biases are missing.")],
        ),
        choice(
            "zero-grad",
            "Why must a PyTorch train_step call zero_grad()?",
            ["backward() adds to the stored gradients", "it resets the weights", "it frees GPU memory"],
            0,
            "what does loss.backward() do to p.grad when p.grad already holds a number?",
        ),
    ],
    "kl_in_practice": [
        number(
            "hidden-beta",
            "A loss with the reconstruction averaged over 784 pixels (and the KL summed) trains a "
            "beta-VAE with beta = ?",
            784,
            "multiply the loss by 784",
            rtol=1e-6,
            wrong=[(1 / 784, "Inverted: the KL weighs 784 times more, not less.")],
        ),
        expression(
            "free-bits",
            "With free bits at tau nats per unit and k units, the smallest rate term a batch is charged:",
            "k*tau",
            ["tau", "k"],
            [{"tau": 0.5, "k": 16}, {"tau": 2.0, "k": 3}],
            "each unit is charged at least tau",
            wrong=[("tau", "That is one unit.")],
        ),
        choice(
            "threshold",
            "A fixed activity threshold 0.01 is meaningful for a VAE because ...",
            ["the prior N(0, 1) fixes the scale of h", "the decoder is linear", "the KL is always small"],
            0,
            "in a plain autoencoder h can be rescaled at no cost",
        ),
    ],
    "latent_space": [
        number(
            "disc",
            "What fraction of the prior N(0, I) in two dimensions lies within distance 1 of the origin?",
            1 - math.exp(-0.5),
            "|h|^2 has a chi-squared distribution with 2 degrees of freedom: P(|h|^2 <= r^2) = 1 - exp(-r^2/2)",
            rtol=2e-3,
        ),
        choice(
            "any-point",
            "log p(x) = log p(x|h0) + log p(h0) - log p(h0|x) holds for ...",
            ["the posterior's mode only", "every h0", "the posterior's mean only"],
            1,
            "Bayes' rule at any h0",
        ),
        choice(
            "walk",
            "A straight latent path between two images stays recognisable more often for ...",
            ["two images of one digit", "two images of different digits", "both alike"],
            0,
            "where does the path between two clusters run?",
        ),
    ],
    "richer_posteriors": [
        expression(
            "logdet",
            "log det(L L^T) for a lower-triangular L with diagonal exp(l1), exp(l2):",
            "2*(l1 + l2)",
            ["l1", "l2"],
            [{"l1": 0.3, "l2": -1.0}, {"l1": 1.0, "l2": 2.0}],
            "det(L L^T) = det(L)^2 and det L is the product of the diagonal",
            wrong=[("l1 + l2", "det(L L^T) = det(L)^2: the factor 2 is missing.")],
        ),
        choice(
            "amortisation",
            "Training the encoder longer shrinks ...",
            ["the approximation gap", "the amortisation gap", "both gaps"],
            1,
            "the approximation gap belongs to the family, not the encoder",
        ),
        choice(
            "iwae-limit",
            "As K grows, L_K tends to log p(x) for ...",
            ["only the exact posterior", "any Q whose support covers the posterior", "no Q"],
            1,
            "the mean of the weights is unbiased for p(x)",
        ),
    ],
    "diffusion": [
        expression(
            "alpha-bar",
            "Two noising steps with alpha_1 = a and alpha_2 = b: the variance of h_2 given x?",
            "1 - a*b",
            ["a", "b"],
            [{"a": 0.9, "b": 0.8}, {"a": 0.5, "b": 0.99}],
            "h_2 = sqrt(b) (sqrt(a) x + sqrt(1-a) e1) + sqrt(1-b) e2: add the two variances",
            wrong=[("(1 - a)*(1 - b)", "The variances add: b(1 - a) + (1 - b).")],
        ),
        choice(
            "fixed-encoder",
            "In a diffusion model, what is learned?",
            ["the encoder Q only", "the decoder p(h_{t-1}|h_t) only", "both"],
            1,
            "the noising process is fixed; only the reverse steps have weights",
        ),
        choice(
            "targets",
            "Predicting the noise, x or the score at step t ...",
            [
                "are three different models",
                "give the same decoder, with different weights per step in the loss",
                "only the noise gives an ELBO",
            ],
            1,
            "each is a fixed linear function of the others, given h_t and t",
        ),
    ],
    "ising": [
        number(
            "kappa-c",
            "The critical coupling kappa_c, from sinh(2 kappa_c) = 1?",
            0.5 * math.log(1 + math.sqrt(2)),
            "u = exp(2 kappa) solves u^2 - 2u - 1 = 0",
            rtol=2e-3,
            wrong=[(math.log(1 + math.sqrt(2)), "That is 2 kappa_c.")],
        ),
        number(
            "t-c",
            "The critical temperature T_c = 1/kappa_c (J = k_B = 1)?",
            2 / math.log(1 + math.sqrt(2)),
            "invert your kappa_c",
            rtol=2e-3,
        ),
        number(
            "know-nothing",
            "The reconstruction loss per spin of a decoder that says p = 1/2 for every spin, in nats?",
            math.log(2),
            "-log(1/2)",
            rtol=2e-3,
            wrong=[(1, "That is in bits.")],
        ),
    ],
    "ising_generative": [
        number(
            "binder-gauss",
            "Binder's cumulant U = 1 - <m^4>/(3 <m^2>^2) for a centred Gaussian m?",
            0.0,
            "<m^4> = 3 <m^2>^2 for a centred Gaussian",
            atol=1e-9,
        ),
        number(
            "binder-ordered",
            "... and for m = +m0 or -m0 with equal probability?",
            2 / 3,
            "<m^4> = <m^2>^2 = m0^4",
            rtol=2e-3,
        ),
        choice(
            "intercept",
            "The error of the extrapolated T_c (intercept at 1/L = 0) is ... the error of the largest lattice's T_c(L)",
            ["smaller than", "larger than", "equal to"],
            1,
            "an extrapolation outside the measured range",
        ),
    ],
    "ising_sampler": [
        number(
            "ess-equal",
            "Kish's effective sample size of the four weights 1, 1, 1, 1?",
            4.0,
            "(sum w)^2 / sum w^2 = 16 / 4",
            atol=1e-9,
        ),
        number(
            "ess-dominated",
            "... and of the weights 1, 0, 0, 0?",
            1.0,
            "one weight carries everything",
            atol=1e-9,
        ),
        number(
            "tau-ar1",
            "The integrated autocorrelation time 1 + 2 sum_t rho(t) of a chain with rho(t) = 0.5^t?",
            3.0,
            "sum_t 0.5^t = 1 for t >= 1, or (1 + a)/(1 - a)",
            rtol=2e-3,
            wrong=[(2.0, "That is 1 + sum rho: the sum counts twice, for lags of both signs.")],
        ),
        choice(
            "pair-marginal",
            "The independence sampler on (x, h) targets pi(x) Q(h|x). Its samples of x follow ...",
            ["the Boltzmann distribution pi(x), whatever the encoder", "the VAE's p(x|T)", "pi(x) only if Q is exact"],
            0,
            "integrate Q(h|x) over h",
        ),
    ],
    "spectra": [
        expression(
            "sigma2",
            "Two residuals r1, r2 (one spectrum, two pixels): the maximum-likelihood sigma^2?",
            "(r1^2 + r2^2)/2",
            ["r1", "r2"],
            [{"r1": 0.3, "r2": -1.0}, {"r1": 2.0, "r2": 0.5}],
            "the mean squared residual",
            wrong=[("r1^2 + r2^2", "A sum: divide by the number of values.")],
        ),
        choice(
            "one-latent",
            "A line of width w moving over a range much larger than w needs ... PCA components, "
            "but one latent variable in a VAE",
            ["one", "about range/w", "two"],
            1,
            "a line at one position hardly overlaps a line a few widths away",
        ),
        choice(
            "sigma-learned",
            "Why is the VAE's learned sigma a little larger than the reconstruction error at the encoder mean?",
            ["the residual is taken at sampled h", "the prior is too wide", "rounding"],
            0,
            "which h does the training loss decode?",
        ),
    ],
}


def questions(chapter: str) -> list[dict]:
    """The self-test questions of ``book/<chapter>.md``. Raises ``KeyError`` naming the chapters that have one."""
    if chapter not in QUESTIONS:
        raise KeyError(f"no self-test for chapter {chapter!r}; chapters with one: {', '.join(QUESTIONS)}")
    return QUESTIONS[chapter]


@functools.lru_cache(maxsize=1)
def widget_class():
    """The self-test widget class (anywidget): its front end is the bundle ``self_test``."""
    import anywidget
    import traitlets

    from vaecourse import frontend

    class SelfTest(anywidget.AnyWidget):
        """A chapter's self-test: ``questions`` (this module's data), judged in the page."""

        _esm = frontend.bundle("self_test")
        _css = frontend.STYLE  # the widgets' one style sheet; the front end adds its own rules
        chapter = traitlets.Unicode().tag(sync=True)
        title = traitlets.Unicode().tag(sync=True)
        questions = traitlets.List().tag(sync=True)

    return SelfTest


def self_test(chapter: str):
    """The chapter's self-test as a widget (anywidget): answer, press Check, read the feedback."""
    return widget_class()(
        chapter=chapter, title="Self-test: answer, then press Check (or Enter)", questions=questions(chapter)
    )
