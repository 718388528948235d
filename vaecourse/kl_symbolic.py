"""The KL against N(0, I) derived symbolically from the KL of two Gaussians, with sympy.

:func:`symbolic_kl_standard_normal` substitutes mu1 = 0, Sigma1 = I into ``eq:kl-gaussians``,
simplifies, and compares with the lecture's ``eq:kl-standard-normal`` and with the log-variance
form that training uses (book/sgd.md; Kingma & Welling 2013, appendix B). sympy is imported only
when a function runs.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["SymbolicDerivation", "symbolic_kl_gaussians", "lecture_kl_standard_normal", "symbolic_kl_standard_normal"]


def _symbols(k: int, prefix: str, vector: str):
    import sympy as sp

    mu = sp.Matrix(sp.symbols(f"{vector}_1:{k + 1}", real=True))
    cov = sp.zeros(k, k)
    for i in range(k):
        for j in range(i, k):
            cov[i, j] = cov[j, i] = sp.Symbol(f"{prefix}_{i + 1}{j + 1}", real=True)
    return mu, cov


def symbolic_kl_gaussians(mu0, cov0, mu1, cov1, k: int):
    """``eq:kl-gaussians`` as a sympy expression of sympy matrices (the lecture's formula, verbatim).

    $\\frac12[\\operatorname{tr}(\\Sigma_1^{-1}\\Sigma_0) + (\\mu_1-\\mu_0)^T\\Sigma_1^{-1}(\\mu_1-\\mu_0) - k
    + \\log(\\det\\Sigma_1/\\det\\Sigma_0)]$; book/sgd.md. Shapes: mu (k, 1), cov (k, k) sympy matrices.
    """
    import sympy as sp

    diff = mu1 - mu0
    inverse = cov1.inv()
    return sp.Rational(1, 2) * (
        (inverse * cov0).trace() + (diff.T * inverse * diff)[0, 0] - k + sp.log(cov1.det() / cov0.det())
    )


def lecture_kl_standard_normal(mu, cov, k: int):
    """``eq:kl-standard-normal`` as the lecture writes it: 1/2 (tr Sigma + mu^T mu - k - log det Sigma), sympy.

    book/sgd.md. Shapes: mu (k, 1), cov (k, k) sympy matrices.
    """
    import sympy as sp

    return sp.Rational(1, 2) * (cov.trace() + (mu.T * mu)[0, 0] - k - sp.log(cov.det()))


@dataclass
class SymbolicDerivation:
    """``eq:kl-standard-normal`` derived from ``eq:kl-gaussians``, for a chapter to display.

    A chapter shows ``sp.latex(d.substituted)``.

    ``general``: eq:kl-gaussians with symbolic mu0, Sigma0, mu1, Sigma1; ``substituted``: mu1 = 0,
    Sigma1 = I; ``lecture``: the lecture's eq:kl-standard-normal; ``difference``:
    simplify(substituted - lecture) (0 when the derivation holds); ``diagonal``: eq:kl-standard-normal
    with Sigma = diag(exp(logvar)); ``diagonal_difference``: its difference from the training form
    1/2 sum(exp(logvar) + mu^2 - 1 - logvar).
    """

    k: int
    mu: object
    cov: object
    general: object
    substituted: object
    lecture: object
    difference: object
    diagonal: object
    training_form: object
    diagonal_difference: object

    @property
    def holds(self) -> bool:
        return self.difference == 0 and self.diagonal_difference == 0


def symbolic_kl_standard_normal(k: int = 2) -> SymbolicDerivation:
    """Derive ``eq:kl-standard-normal`` from ``eq:kl-gaussians`` for a k-dimensional Gaussian (k <= 4 is quick).

    Substitutes mu1 = 0 and Sigma1 = I into :func:`symbolic_kl_gaussians` with a general symmetric
    Sigma0, simplifies (logarithms expanded, Sigma0 taken positive definite), and compares with
    :func:`lecture_kl_standard_normal`; then restricts Sigma to diag(exp(logvar)) and compares with
    the training form. Chapters book/kl_divergence.md and book/sgd.md; Kingma & Welling 2013.
    Raises ValueError unless k is an integer between 1 and 5.
    """
    import sympy as sp

    if not isinstance(k, int) or not 1 <= k <= 5:
        raise ValueError(f"k must be an integer between 1 and 5 (sympy cost grows fast), got {k!r}")
    mu0, cov0 = _symbols(k, "Sigma", "mu")
    mu1, cov1 = _symbols(k, "S", "m")
    general = symbolic_kl_gaussians(mu0, cov0, mu1, cov1, k)
    at_prior = {**{mu1[i]: 0 for i in range(k)}, **{cov1[i, j]: int(i == j) for i in range(k) for j in range(k)}}
    substituted = general.subs(at_prior)
    lecture = lecture_kl_standard_normal(mu0, cov0, k)
    difference = sp.simplify(sp.expand_log(substituted - lecture, force=True))
    logvar = sp.Matrix(sp.symbols(f"logvar_1:{k + 1}", real=True))
    diagonal_sub = {cov0[i, j]: (sp.exp(logvar[i]) if i == j else 0) for i in range(k) for j in range(k)}
    diagonal = sp.expand_log(lecture.subs(diagonal_sub), force=True)
    training = sp.Rational(1, 2) * sum(sp.exp(logvar[j]) + mu0[j] ** 2 - 1 - logvar[j] for j in range(k))
    diagonal_difference = sp.simplify(diagonal - training)
    return SymbolicDerivation(
        k, mu0, cov0, general, substituted, lecture, difference, diagonal, training, diagonal_difference
    )
