"""The symbolic derivation of eq:kl-standard-normal from eq:kl-gaussians (vaecourse.kl_symbolic)."""

from __future__ import annotations

import pytest
import sympy as sp

from vaecourse import kl_symbolic


def test_the_derivation_holds_and_uses_only_the_lectures_symbols():
    d = kl_symbolic.symbolic_kl_standard_normal(2)
    assert d.holds and d.difference == 0 and d.diagonal_difference == 0
    assert d.substituted.free_symbols <= d.lecture.free_symbols


def test_the_one_dimensional_case_by_hand():
    """k = 1: KL(N(mu, s) || N(0, 1)) = (s + mu^2 - 1 - log s) / 2, written out here independently."""
    d = kl_symbolic.symbolic_kl_standard_normal(1)
    mu, s = d.mu[0], d.cov[0, 0]
    by_hand = (s + mu**2 - 1 - sp.log(s)) / 2
    assert sp.simplify(sp.expand_log(d.substituted - by_hand, force=True)) == 0


def test_a_broken_lecture_formula_is_noticed(monkeypatch):
    monkeypatch.setattr(
        kl_symbolic,
        "lecture_kl_standard_normal",
        lambda mu, cov, k: cov.trace() + (mu.T * mu)[0, 0] - k - sp.log(cov.det()),
    )
    assert not kl_symbolic.symbolic_kl_standard_normal(2).holds


@pytest.mark.parametrize("k", [0, 6, 2.0, "2"])
def test_bad_k_is_refused(k):
    with pytest.raises(ValueError, match="k must be"):
        kl_symbolic.symbolic_kl_standard_normal(k)
