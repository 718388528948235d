"""The exercise checks (vaecourse.exercises): each reference solution passes, each known mistake, written
as a student would write it, fails with its own message, and a correct answer written differently passes."""

from __future__ import annotations

import math
import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F

from vaecourse import exercises

exercises_by_label = exercises.EXERCISES


def verdict(label, answer, seed=3):
    return exercises_by_label[label].run(answer, seed=seed)


# --- ex-pytorch-1: kl_diag(mu, log_sigma) -------------------------------------------------------------


def kl_right(mu, log_sigma):
    return 0.5 * (torch.exp(2 * log_sigma) + mu**2 - 1 - 2 * log_sigma).sum(-1)


def kl_written_differently(mu, log_sigma):  # via torch.distributions, float32 inside
    q = torch.distributions.Normal(mu.float(), log_sigma.float().exp())
    return torch.distributions.kl_divergence(q, torch.distributions.Normal(0.0, 1.0)).sum(
        dim=1 if mu.dim() == 2 else -1
    )


KL_DIAG_MISTAKES = {
    "factor 1/2 is missing": lambda mu, ls: (torch.exp(2 * ls) + mu**2 - 1 - 2 * ls).sum(-1),
    "log_sigma as if it were log sigma^2": lambda mu, ls: 0.5 * (torch.exp(ls) + mu**2 - 1 - ls).sum(-1),
    "log term uses log sigma": lambda mu, ls: 0.5 * (torch.exp(2 * ls) + mu**2 - 1 - ls).sum(-1),
    "sign is flipped": lambda mu, ls: -0.5 * (torch.exp(2 * ls) + mu**2 - 1 - 2 * ls).sum(-1),
    "the -k term": lambda mu, ls: 0.5 * (torch.exp(2 * ls) + mu**2 - 2 * ls).sum(-1),
    "mean over the latent units": lambda mu, ls: 0.5 * (torch.exp(2 * ls) + mu**2 - 1 - 2 * ls).mean(-1),
    "arguments are swapped": lambda mu, ls: 0.5 * ((1 + mu**2) / torch.exp(2 * ls) - 1 + 2 * ls).sum(-1),
    "one number for the whole batch": lambda mu, ls: 0.5 * (torch.exp(2 * ls) + mu**2 - 1 - 2 * ls).sum(),
    "summed over the batch axis": lambda mu, ls: 0.5 * (torch.exp(2 * ls) + mu**2 - 1 - 2 * ls).sum(0),
    "one value per latent unit and image": lambda mu, ls: 0.5 * (torch.exp(2 * ls) + mu**2 - 1 - 2 * ls),
    "no gradient flows": lambda mu, ls: kl_right(mu, ls).detach(),
    "raised ZeroDivisionError": lambda mu, ls: 1 / 0,
    "returned None": lambda mu, ls: None,
}


@pytest.mark.parametrize("seed", [1, 2])
def test_kl_diag_right_answers_pass(seed):
    assert verdict("ex-pytorch-1", kl_right, seed).passed
    assert verdict("ex-pytorch-1", kl_written_differently, seed).passed


@pytest.mark.parametrize("message", KL_DIAG_MISTAKES)
def test_kl_diag_mistakes_are_named(message):
    result = verdict("ex-pytorch-1", KL_DIAG_MISTAKES[message])
    assert not result.passed and message in result.message, result.message


# --- ex-pytorch-scratch: my_loss(model, x) ------------------------------------------------------------


def make_loss(
    sample="rsample",
    reduce_batch="mean",
    pixel="sum",
    kl_log=2,
    kl_half=0.5,
    sign=1,
    kl_sign=1,
    probs=False,
    detach=False,
    per_image=False,
):
    def my_loss(model, x):
        q = model.encoder(x)
        h = getattr(q, sample)()
        logits = model.decoder(h)
        if probs:
            logits = torch.sigmoid(logits)
        bce = F.binary_cross_entropy_with_logits(logits, x, reduction="none")
        recon = bce.sum(-1) if pixel == "sum" else bce.mean(-1)
        kl = kl_half * (q.scale**2 + q.loc**2 - 1 - kl_log * q.scale.log()).sum(-1)
        per = sign * (recon + kl_sign * kl)
        out = per if per_image else getattr(per, reduce_batch)()
        return out.detach() if detach else out

    return my_loss


def my_loss_by_hand(model, x):  # the same loss written differently: explicit eps, log-sigmoid, float32 sums
    q = model.encoder(x)
    eps = torch.randn_like(q.loc)
    h = q.loc + q.scale * eps
    logits = model.decoder(h)
    log_px = (x * F.logsigmoid(logits) + (1 - x) * F.logsigmoid(-logits)).sum(dim=1)
    kl = torch.distributions.kl_divergence(q, torch.distributions.Normal(0.0, 1.0)).sum(-1)
    return torch.mean(kl - log_px)


OWN_LOSS_MISTAKES = {
    "sampled without the reparameterisation": {"sample": "sample"},
    "summed over the batch": {"reduce_batch": "sum"},
    "averaged the reconstruction over the 784 pixels": {"pixel": "mean"},
    "log sigma where log sigma^2 belongs": {"kl_log": 1},
    "factor 1/2 of the KL is missing": {"kl_half": 1.0},
    "sign is flipped": {"sign": -1},
    "KL enters with the wrong sign": {"kl_sign": -1},
    "passed probabilities where logits are expected": {"probs": True},
    "detached": {"detach": True},
    "one value per image": {"per_image": True},
}


def test_own_loss_right_answers_pass():
    assert verdict("ex-pytorch-scratch", make_loss()).passed
    assert verdict("ex-pytorch-scratch", my_loss_by_hand).passed


@pytest.mark.parametrize("message", OWN_LOSS_MISTAKES)
def test_own_loss_mistakes_are_named(message):
    result = verdict("ex-pytorch-scratch", make_loss(**OWN_LOSS_MISTAKES[message]))
    assert not result.passed and message in result.message, result.message


# --- the other function exercises: (label, right answers, {message: mistaken answer}) -------------------


def kl_bern(q, p):
    return q * torch.log(q / p) + (1 - q) * torch.log((1 - q) / (1 - p))


def kl_norm(m0, s0, m1, s1):
    return torch.log(s1 / s0) + (s0**2 + (m0 - m1) ** 2) / (2 * s1**2) - 0.5


def kl_full(mu, L):
    k = mu.shape[-1]
    diag = torch.diagonal(L, dim1=-2, dim2=-1)
    return 0.5 * (L.pow(2).sum((-2, -1)) + mu.pow(2).sum(-1) - k - 2 * diag.log().sum(-1))


FUNCTIONS = [
    (
        "ex-kl-bernoulli",
        [
            kl_bern,
            lambda q, p: torch.distributions.kl_divergence(
                torch.distributions.Bernoulli(probs=q), torch.distributions.Bernoulli(probs=p)
            ),
        ],
        {
            "arguments are swapped": lambda q, p: kl_bern(p, q),
            "in bits": lambda q, p: kl_bern(q, p) / math.log(2),
            "tails term": lambda q, p: q * torch.log(q / p),
            "sign is flipped": lambda q, p: -kl_bern(q, p),
            "probabilities where logits are expected": lambda q, p: torch.distributions.kl_divergence(
                torch.distributions.Bernoulli(logits=q), torch.distributions.Bernoulli(logits=p)
            ),
        },
    ),
    (
        "ex-kl-gaussian-1d",
        [kl_norm, lambda m0, s0, m1, s1: 0.5 * (torch.log(s1**2 / s0**2) + (s0**2 + (m0 - m1) ** 2) / s1**2 - 1)],
        {
            "factor 1/2 is missing": lambda m0, s0, m1, s1: torch.log(s1 / s0) + (s0**2 + (m0 - m1) ** 2) / s1**2 - 1,
            "log of the variances": lambda m0, s0, m1, s1: (
                torch.log(s1**2 / s0**2) + (s0**2 + (m0 - m1) ** 2) / (2 * s1**2) - 0.5
            ),
            "as variances": lambda m0, s0, m1, s1: 0.5 * torch.log(s1 / s0) + (s0 + (m0 - m1) ** 2) / (2 * s1) - 0.5,
            "arguments are swapped": lambda m0, s0, m1, s1: kl_norm(m1, s1, m0, s0),
            "sign is flipped": lambda *a: -kl_norm(*a),
            "constant -1/2": lambda m0, s0, m1, s1: torch.log(s1 / s0) + (s0**2 + (m0 - m1) ** 2) / (2 * s1**2),
            "no gradient flows": lambda *a: kl_norm(*a).detach(),
        },
    ),
    (
        "ex-elbo-scale",
        [lambda c, k: k / 2 * (c**2 - 1 - 2 * torch.log(c)), lambda c, k: 0.5 * k * (c * c - 1 - torch.log(c * c))],
        {
            "factor 1/2 is missing": lambda c, k: k * (c**2 - 1 - 2 * torch.log(c)),
            "log c^2 = 2 log c": lambda c, k: k / 2 * (c**2 - 1 - torch.log(c)),
            "the -k term": lambda c, k: k / 2 * (c**2 - 2 * torch.log(c)),
            "sign is flipped": lambda c, k: -k / 2 * (c**2 - 1 - 2 * torch.log(c)),
            "one latent dimension": lambda c, k: (c**2 - 1 - 2 * torch.log(c)) / 2,
            "arguments are swapped": lambda c, k: k / 2 * (1 / c**2 - 1 + 2 * torch.log(c)),
        },
    ),
    (
        "ex-reparam-sigma",
        [lambda m, s: 4 * m**2 + 8 * s**2, lambda m, s: (2 * m) ** 2 + 2 * (2 * s) ** 2],
        {
            "second moment": lambda m, s: 4 * (m**2 + 3 * s**2),
            "E[eps^4] = 3": lambda m, s: 4 * (m**2 + s**2),
            "squares to 4": lambda m, s: m**2 + 2 * s**2,
            "mu_1 term is missing": lambda m, s: 8 * s**2,
        },
    ),
    (
        "ex-rp-cholesky-kl",
        [
            kl_full,
            lambda mu, L: torch.distributions.kl_divergence(
                torch.distributions.MultivariateNormal(mu, scale_tril=L),
                torch.distributions.MultivariateNormal(
                    torch.zeros_like(mu), scale_tril=torch.eye(mu.shape[-1], dtype=mu.dtype)
                ),
            ),
        ],
        {
            "factor 1/2 is missing": lambda mu, L: 2 * kl_full(mu, L),
            "factor 2 is missing": lambda mu, L: (
                kl_full(mu, L) + 0.5 * torch.diagonal(L, dim1=-2, dim2=-1).log().sum(-1)
            ),
            "the -k term": lambda mu, L: kl_full(mu, L) + 0.5 * mu.shape[-1],
            "off-diagonal": lambda mu, L: (
                0.5
                * (
                    torch.diagonal(L, dim1=-2, dim2=-1).pow(2).sum(-1)
                    + mu.pow(2).sum(-1)
                    - mu.shape[-1]
                    - 2 * torch.diagonal(L, dim1=-2, dim2=-1).log().sum(-1)
                )
            ),
            "one number": lambda mu, L: kl_full(mu, L).sum(),
        },
    ),
    (
        "ex-spectra-sigma",
        [
            lambda x, mu: torch.sqrt(torch.mean((x - mu) ** 2)),
            lambda x, mu: (x - mu).pow(2).sum().div(x.numel()) ** 0.5,
        ],
        {
            "sigma^2": lambda x, mu: torch.mean((x - mu) ** 2),
            "summed": lambda x, mu: torch.sqrt(torch.sum((x - mu) ** 2)),
            "torch.std": lambda x, mu: torch.std(x - mu),
            "one value per spectrum": lambda x, mu: torch.sqrt(torch.mean((x - mu) ** 2, dim=1)),
        },
    ),
    (
        "ex-pytorch-2",
        [
            lambda w: torch.logsumexp(w, 0) - math.log(w.shape[0]),
            lambda w: w.max(0).values + torch.log(torch.exp(w - w.max(0).values).mean(0)),
        ],
        {
            "-log K is missing": lambda w: torch.logsumexp(w, 0),
            "averaged the log weights": lambda w: w.mean(0),
            "wrong axis": lambda w: torch.logsumexp(w, 1) - math.log(w.shape[1]),
        },
    ),
    (
        "ex-diff-posterior-mean",
        [
            lambda h, x, a, abp: (a.sqrt() * (1 - abp) * h + abp.sqrt() * (1 - a) * x) / (1 - a * abp),
            lambda h, x, a, abp: (
                torch.sqrt(a) * (1 - abp) / (1 - a * abp) * h + torch.sqrt(abp) * (1 - a) / (1 - a * abp) * x
            ),
        ],
        {
            "swapped": lambda h, x, a, abp: (a.sqrt() * (1 - abp) * x + abp.sqrt() * (1 - a) * h) / (1 - a * abp),
            "not 1 - alpha_t": lambda h, x, a, abp: (a.sqrt() * (1 - abp) * h + abp.sqrt() * (1 - a) * x) / (1 - a),
            "square roots are missing": lambda h, x, a, abp: (a * (1 - abp) * h + abp * (1 - a) * x) / (1 - a * abp),
        },
    ),
    (
        "ex-klp-free-bits",
        [lambda lam, k: k * lam, lambda lam, k: lam * float(k)],
        {"one unit's floor": lambda lam, k: lam},
    ),
]


@pytest.mark.parametrize("label, rights, mistakes", FUNCTIONS, ids=[f[0] for f in FUNCTIONS])
def test_function_exercises(label, rights, mistakes):
    for right in rights:
        result = verdict(label, right)
        assert result.passed, result.message
    for message, wrong in mistakes.items():
        result = verdict(label, wrong)
        assert not result.passed and message in result.message, (message, result.message)


VALUES = [
    ("ex-pytorch-3", [784 * math.log(2), torch.tensor(543.4)], {"in bits": 784, "one pixel": math.log(2)}),
    ("ex-keras-1", [math.erf(2**-0.5) ** 2, 0.466], {"one coordinate": 0.6827}),
    ("ex-keras-2", [784], {"inverted": 1 / 784}),
    (
        "ex-keras-4",
        [(34, 3136), [34.0, 3136]],
        {
            "two heads": (17, 3136),
            "biases are missing": (32, 3136),
            "decoder's first layer": (34, 3137),
            "give 2 numbers": 34,
        },
    ),
    ("ex-klp-hidden-beta", [784.0], {"inverted": 1 / 784, "batch mean": 1}),
    ("ex-ml-count", [(1e20, 1e11), (10**20, 10**11)], {"multiply": (200, 2e-7)}),
    ("ex-ising-duality", [0.5 * math.log(1 + 2**0.5), math.asinh(1) / 2], {"2 kappa_c": math.log(1 + 2**0.5)}),
    ("ex-ising-loss", [math.log(2)], {"bits": 1.0, "positive": -math.log(2)}),
    ("ex-sgd-kl-1d", [(0, 1), (0.0, 1.0)], {"sigma = 0": (0, 0), "give (mu, sigma)": (1, 0)}),
]


@pytest.mark.parametrize("label, rights, mistakes", VALUES, ids=[v[0] for v in VALUES])
def test_value_exercises(label, rights, mistakes):
    for right in rights:
        result = verdict(label, right)
        assert result.passed, result.message
    for message, wrong in mistakes.items():
        result = verdict(label, wrong)
        assert not result.passed and message in result.message, (message, result.message)


def test_the_bias_exercise_takes_a_students_own_experiment_and_names_the_mistakes():
    """ex-ml-variance: the average of log p-hat - log p(x) over 400 seeds, computed the way the chapter
    says (a seed before each run), not the check's single stream of 4,000 runs."""
    from vaecourse import elbo, marginal
    from vaecourse.linear_gaussian import LinearGaussian

    model = LinearGaussian.random(data_dim=5, latent_dim=2, sigma=0.5, seed=1)
    x, _ = model.sample(1, seed=2)
    runs, weights = [], []
    for seed in range(400):
        torch.manual_seed(seed)
        log_w = marginal.importance_log_weights(model, x, model.prior(), n_samples=10)
        runs.append(elbo.log_mean_exp(log_w) - model.log_px(x))
        weights.append(log_w)
    average = torch.cat(runs).mean()
    assert verdict("ex-ml-variance", average).passed
    assert verdict("ex-ml-variance", float(average)).passed
    assert "sign" in verdict("ex-ml-variance", -average).message
    averaged_first = elbo.log_mean_exp(torch.cat(weights)) - model.log_px(x)  # unbiased, near zero
    assert "before taking the log" in verdict("ex-ml-variance", averaged_first).message
    assert not verdict("ex-ml-variance", "below").passed
    assert not verdict("ex-ml-variance", 3 * average).passed


def test_a_stub_gets_a_message_not_a_traceback(capsys):
    exercises.check_pytorch_1(...)
    exercises.check_pytorch_1(lambda mu, log_sigma: ...)
    exercises.check_keras_4(...)
    out = capsys.readouterr().out
    assert "Traceback" not in out and out.count("NOT YET") == 3


def test_the_student_exception_is_one_line_with_the_line_that_raised(capsys):
    def kl_diag(mu, log_sigma):
        return mu.sum(-1) + log_sigma.sum(-1) @ mu  # a shape error

    exercises.check_pytorch_1(kl_diag)
    out = capsys.readouterr().out.strip()
    assert len(out.splitlines()) == 1 and "RuntimeError" in out and "log_sigma.sum(-1) @ mu" in out


def test_every_check_is_named_after_its_exercise_and_exported():
    for label, exercise in exercises.EXERCISES.items():
        name = "check_" + label.removeprefix("ex-").replace("-", "_")
        assert getattr(exercises, name).__name__ == name and name in exercises.__all__
        assert exercise.check_name in exercise.stub


def test_importing_the_checks_does_not_import_torch():
    code = "import sys, vaecourse.exercises; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
