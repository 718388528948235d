"""Tests of vaecourse.checks: the derivation checks and the mutations that each must catch."""
