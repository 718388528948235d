"""Checks for the exercises of book/richer_posteriors.md: the KL of a full-covariance Gaussian."""

from __future__ import annotations

from vaecourse.exercises._core import FunctionExercise, Mistake, draw, tensor_cases


def _args(case):
    import torch

    b, k = case["shape"]
    raw = draw(case, 1, shape=(b, k, k))
    L = torch.tril(raw, -1) + torch.diag_embed(torch.diagonal(raw, dim1=-2, dim2=-1).mul(0.3).exp())
    return [draw(case, 0), L]


def _kl(mu, L):
    from vaecourse import kl

    return kl.kl_standard_normal_full(mu, L @ L.transpose(-1, -2))


def _log_diag(L):
    import torch

    return torch.diagonal(L, dim1=-2, dim2=-1).log().sum(-1)


def _shape_hint(got, expected):
    if got == []:
        return "your answer is one number: return one KL per row of the batch, shape (B,) (reduce dims -1, -2 only)"
    return None


KL_FULL = FunctionExercise(
    label="ex-rp-cholesky-kl",
    chapter="richer_posteriors",
    stub="def kl_full(mu, L):\n    ...  # your code: D[N(mu, L L^T) || N(0, I)] per row, mu (B, k), L (B, k, k)\n\n"
    "check_rp_cholesky_kl(kl_full)",
    make_cases=lambda rng: tensor_cases(rng, [(3, 2), (1, 4), (5, 3)], "mu and L"),
    arguments=_args,
    reference=_kl,
    grad_of=0,
    shape_hint=_shape_hint,  # (the gradient in L differs off the triangle)
    mistakes=[
        Mistake("the factor 1/2 is missing", lambda m, L: 2 * _kl(m, L)),
        Mistake(
            "log det L L^T = 2 sum_j log L_jj: the factor 2 is missing (log sigma where log sigma^2 belongs)",
            lambda m, L: _kl(m, L) + 0.5 * _log_diag(L),
        ),
        Mistake(
            "the log-determinant enters with a minus sign: -log det(L L^T)", lambda m, L: _kl(m, L) + 2 * _log_diag(L)
        ),
        Mistake("the -k term is missing", lambda m, L: _kl(m, L) + 0.5 * m.shape[-1]),
        Mistake(
            "the off-diagonal entries of L are missing from the trace: tr(L L^T) = sum_{i>=j} L_ij^2",
            lambda m, L: _kl(m, L) - 0.5 * (L.pow(2).sum((-1, -2)) - L.diagonal(dim1=-2, dim2=-1).pow(2).sum(-1)),
        ),
        Mistake("the sign is flipped: a KL divergence is never negative", lambda m, L: -_kl(m, L)),
    ],
)

EXERCISES = [KL_FULL]
