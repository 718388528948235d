"""Checks for the exercises of book/pytorch_vae.md: the KL from log sigma, your own loss, IWAE, the grey image."""

from __future__ import annotations

import math
import random

from vaecourse.exercises._core import (
    Exercise,
    FunctionExercise,
    Mistake,
    ValueExercise,
    Verdict,
    _plain,
    close,
    draw,
    encode,
    first_problem,
    fmt,
    tensor_cases,
)


def _kl_args(case):
    return [draw(case, 0), 0.5 * draw(case, 1)]  # mu, log_sigma


def _kl_reference(mu, log_sigma):
    import torch
    from torch.distributions import Normal, kl_divergence

    return kl_divergence(Normal(mu, log_sigma.exp()), Normal(torch.zeros_like(mu), torch.ones_like(mu))).sum(-1)


def _terms(mu, log_sigma):
    return log_sigma.exp() ** 2, mu**2, 2 * log_sigma  # sigma^2, mu^2, log sigma^2


def _kl_shape_hint(got, expected):
    if got == []:
        return (
            "your answer is one number for the whole batch: the exercise wants one KL per image, shape (B,); "
            "sum over the latent axis only (dim=-1), not over the batch"
        )
    if len(got) == 2:
        return "your answer has one value per latent unit and image: sum over the latent axis (dim=-1)"
    if len(got) == 1 and got != expected:
        return (
            f"your answer has shape {tuple(got)}, one value per latent unit: you summed over the batch axis "
            f"(dim=0); sum over the latent axis (dim=-1) for shape {tuple(expected)}"
        )
    return None


KL_DIAG = FunctionExercise(
    label="ex-pytorch-1",
    chapter="pytorch_vae",
    stub="def kl_diag(mu, log_sigma):\n    ...  # your code: D[Q||N(0,I)] per image, shape (B,)\n\n"
    "check_pytorch_1(kl_diag)",
    make_cases=lambda rng: tensor_cases(rng, [(3, 2), (5, 4), (1, 7), (6, 3)], "mu and log_sigma"),
    arguments=_kl_args,
    reference=_kl_reference,
    grad_of=1,
    shape_hint=_kl_shape_hint,
    mistakes=[
        Mistake(
            "the factor 1/2 is missing: the KL is (1/2) sum_j (sigma_j^2 + mu_j^2 - 1 - log sigma_j^2)",
            lambda m, s: 2 * _kl_reference(m, s),
        ),
        Mistake(
            "you used log_sigma as if it were log sigma^2: here log sigma^2 = 2 * log_sigma and "
            "sigma^2 = exp(2 * log_sigma)",
            lambda m, s: 0.5 * (s.exp() + m**2 - 1 - s).sum(-1),
        ),
        Mistake(
            "the log term uses log sigma where log sigma^2 = 2 * log_sigma belongs",
            lambda m, s: 0.5 * ((2 * s).exp() + m**2 - 1 - s).sum(-1),
        ),
        Mistake(
            "the variance term uses exp(log_sigma) = sigma where sigma^2 = exp(2 * log_sigma) belongs",
            lambda m, s: 0.5 * (s.exp() + m**2 - 1 - 2 * s).sum(-1),
        ),
        Mistake("the sign is flipped: a KL divergence is never negative", lambda m, s: -_kl_reference(m, s)),
        Mistake(
            "the -1 per latent unit (the -k term) is missing", lambda m, s: _kl_reference(m, s) + 0.5 * m.shape[-1]
        ),
        Mistake(
            "the sign of the log sigma^2 term is flipped: it is - log sigma^2",
            lambda m, s: 0.5 * ((2 * s).exp() + m**2 - 1 + 2 * s).sum(-1),
        ),
        Mistake(
            "you took the mean over the latent units; the KL of independent units is their sum (dim=-1)",
            lambda m, s: _kl_reference(m, s) / m.shape[-1],
        ),
        Mistake(
            "the KL's arguments are swapped: you computed D[N(0,I)||Q]; the ELBO needs D[Q||N(0,I)]",
            lambda m, s: 0.5 * ((-2 * s).exp() * (1 + m**2) - 1 + 2 * s).sum(-1),
        ),
    ],
)


# --- ex-pytorch-scratch: my_loss(model, x) ----------------------------------------------------------


def _model_and_x(case):
    import torch

    from vaecourse import models

    torch.manual_seed(case["model_seed"])
    model = models.VAE(data_dim=784, hidden=32, latent_dim=20).double()
    x = torch.rand(
        case["batch"], 784, generator=torch.Generator().manual_seed(case["model_seed"] + 1), dtype=torch.float64
    )
    return model, x


def _directions(model, case):
    import torch

    g = torch.Generator().manual_seed(case["model_seed"] + 2)
    return [
        torch.randn(p.shape, generator=g, dtype=torch.float64)
        for p in (model.encoder.enc_mu.weight, model.decoder.net[0].weight)
    ]


def _projections(output, model, case) -> list[float] | None:
    import torch

    params = (model.encoder.enc_mu.weight, model.decoder.net[0].weight)
    grads = torch.autograd.grad(output, params, allow_unused=True)
    return [None if g is None else float((g.double() * d).sum()) for g, d in zip(grads, _directions(model, case))]


class OwnLoss(Exercise):
    """ex-pytorch-scratch: minus the batch-mean ELBO with one reparameterised sample, from the two networks."""

    def cases(self, seed):
        rng = random.Random(seed)
        return [
            {
                "model_seed": rng.randrange(2**31),
                "seed": rng.randrange(2**31),
                "batch": b,
                "describe": f"a batch of {b} images",
            }
            for b in (4, 7)
        ]

    def encode_call(self, case):
        model, x = _model_and_x(case)
        directions = _directions(model, case)
        return {
            "args": [encode(model), encode(x)],
            "seed": case["seed"],
            "project": {
                "arg": 0,
                "params": {
                    "encoder.enc_mu.weight": encode(directions[0]),
                    "decoder.net.0.weight": encode(directions[1]),
                },
            },
        }

    def routes(self, case) -> dict:
        """The right loss and the wrong ones, from the same sample; with their gradient projections."""
        import torch
        import torch.nn.functional as F

        from vaecourse import elbo

        model, x = _model_and_x(case)
        torch.manual_seed(case["seed"])
        right = elbo.loss(model, x)
        q = model.encoder(x)
        torch.manual_seed(case["seed"])
        h = q.rsample()
        logits = model.decoder(h)
        bce = F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(-1)
        mu, sigma = q.loc, q.scale
        kl = 0.5 * (sigma**2 + mu**2 - 1 - 2 * sigma.log()).sum(-1)
        bce_of_probabilities = F.binary_cross_entropy_with_logits(logits.sigmoid(), x, reduction="none").sum(-1)
        wrong = {
            "the sign is flipped: return minus the ELBO, (KL - log p(x|h)).mean(), which training minimises": -right,
            "you summed over the batch: the loss is the batch *mean* of -ELBO (.mean(), not .sum())": (bce + kl).sum(),
            "you averaged the reconstruction over the 784 pixels: sum over pixels (dim=-1), then average over "
            "the batch": (F.binary_cross_entropy_with_logits(logits, x, reduction="none").mean(-1) + kl).mean(),
            "the KL term uses log sigma where log sigma^2 belongs (the encoder returns sigma; log sigma^2 = "
            "2 log sigma)": (bce + 0.5 * (sigma**2 + mu**2 - 1 - sigma.log()).sum(-1)).mean(),
            "the factor 1/2 of the KL is missing": (bce + 2 * kl).mean(),
            "you passed probabilities where logits are expected: the decoder returns logits, so use "
            "binary_cross_entropy_with_logits(logits, x) without a sigmoid "
            "(or binary_cross_entropy(sigmoid))": (bce_of_probabilities + kl).mean(),
            "the KL enters with the wrong sign: minus the ELBO is reconstruction loss *plus* KL": (bce - kl).mean(),
        }
        out = {"right": (right, _projections(right, model, case))}
        for message, value in wrong.items():
            out[message] = (value, None)
        model2, _ = _model_and_x(case)
        q2 = model2.encoder(x)
        torch.manual_seed(case["seed"])
        h2 = q2.sample()
        bce2 = F.binary_cross_entropy_with_logits(model2.decoder(h2), x, reduction="none").sum(-1)
        no_reparam = (bce2 + 0.5 * (q2.scale**2 + q2.loc**2 - 1 - 2 * q2.scale.log()).sum(-1)).mean()
        out["sample"] = (no_reparam, _projections(no_reparam, model2, case))
        return out

    def judge(self, cases, observations):
        problem = first_problem(observations)
        if problem:
            return Verdict(self.label, False, problem)
        routes = [self.routes(case) for case in cases]
        for case, obs in zip(cases, observations):
            if obs["shape"] == [case["batch"]]:
                return Verdict(self.label, False, "your loss has one value per image: return the batch mean, a scalar")
            if len(obs["shape"]) > 1 or (obs["shape"] and obs["shape"] != [1]):
                return Verdict(self.label, False, f"your loss has shape {tuple(obs['shape'])}; return a scalar")
        if not all(close(o["values"], _plain(r["right"][0])) for o, r in zip(observations, routes)):
            for message in routes[0]:
                if message not in ("right", "sample") and all(
                    close(o["values"], _plain(r[message][0])) for o, r in zip(observations, routes)
                ):
                    return Verdict(self.label, False, message)
            obs, route, case = observations[0], routes[0], cases[0]
            return Verdict(
                self.label,
                False,
                f"with {case['describe']} your loss is {fmt(obs['values'])}, the "
                f"package's elbo.loss gives {fmt(_plain(route['right'][0]))} with the "
                f"same seed (draw h with q.rsample(), once per image)",
            )
        problem = self._gradient_problem(observations, routes)
        if problem:
            return Verdict(self.label, False, problem)
        return Verdict(self.label, True, "right: the value and the gradients match elbo.loss for two batches")

    @staticmethod
    def _gradient_problem(observations, routes) -> str | None:
        """What is wrong with the gradients of a loss whose value is right; None if they are right."""
        for obs, route in zip(observations, routes):
            grad = obs.get("grad")
            if not obs.get("requires_grad") or grad is None:
                return (
                    "the value is right, but your loss is detached: no gradient can "
                    "train the model (drop .detach(), .item(), torch.no_grad())"
                )
            right, sample = route["right"][1], route["sample"][1]
            if grad[0] is None or not close(grad[0], right[0], rtol=1e-4, atol=1e-8):
                if grad[0] is not None and close(grad[0], sample[0], rtol=1e-4, atol=1e-8):
                    return (
                        "the value is right, but no gradient of the reconstruction "
                        "reaches the encoder: you sampled without the "
                        "reparameterisation (q.sample()); use q.rsample()"
                    )
                return "the value is right, but the encoder's gradient is not: is h detached from mu and sigma?"
            if grad[1] is None or not close(grad[1], right[1], rtol=1e-4, atol=1e-8):
                return "the value is right, but the decoder's gradient is not"
        return None


OWN_LOSS = OwnLoss(
    label="ex-pytorch-scratch",
    chapter="pytorch_vae",
    stub="def my_loss(model, x):\n    # minus the batch-mean ELBO, one reparameterised sample per image\n"
    "    ...  # your code\n\ncheck_pytorch_scratch(my_loss)",
)


# --- ex-pytorch-2: the IWAE bound from log weights ----------------------------------------------------


def _iwae_reference(log_w):
    import torch

    return torch.logsumexp(log_w, dim=0) - math.log(log_w.shape[0])


def _iwae_shape_hint(got, expected):
    if got == [] or (len(got) == 1 and got != expected):
        return (
            "your bound reduced the wrong axis: log_w has shape (K, B), samples first; reduce dim=0 and keep "
            "one bound per image, shape (B,)"
        )
    return None


IWAE = FunctionExercise(
    label="ex-pytorch-2",
    chapter="pytorch_vae",
    stub="def iwae_bound(log_w):\n    ...  # your code: L_K per image from log weights of shape (K, B)\n\n"
    "check_pytorch_2(iwae_bound)",
    make_cases=lambda rng: tensor_cases(rng, [(5, 3), (1, 4), (50, 2), (8, 6)], "log weights"),
    arguments=lambda case: [3 * draw(case) - 100],
    reference=_iwae_reference,
    grad_of=0,
    shape_hint=_iwae_shape_hint,
    mistakes=[
        Mistake(
            "the -log K is missing: L_K = log (1/K) sum_i w_i = logsumexp(log_w, 0) - log K",
            lambda w: _iwae_reference(w) + math.log(w.shape[0]),
        ),
        Mistake(
            "you averaged the log weights: that is the K-sample ELBO, not L_K; take log of the mean of the "
            "weights, logsumexp(log_w, 0) - log K",
            lambda w: w.mean(0),
        ),
        Mistake("the sign is flipped", lambda w: -_iwae_reference(w)),
    ],
)


def _grey_floor():
    return 784 * math.log(2)


GREY = ValueExercise(
    label="ex-pytorch-3",
    chapter="pytorch_vae",
    stub="smallest_loss = ...  # in nats, for the 784 grey pixels\n\ncheck_pytorch_3(smallest_loss)",
    expected=_grey_floor(),
    rtol=2e-3,
    mistakes=[
        Mistake("that is in bits: the course's losses are in nats (natural log), 784 ln 2", value=784.0),
        Mistake("that is one pixel's loss: the image has 784 of them", value=math.log(2)),
        Mistake("a decoder cannot reach zero on a grey image: each pixel costs at least its entropy H(0.5)", value=0.0),
    ],
)

EXERCISES = [OWN_LOSS, KL_DIAG, IWAE, GREY]
