"""Checks for the book's exercises: ``check_<exercise>(answer)`` says whether an answer is right and,
when it is not, which mistake it makes.

One file per chapter (``vaecourse/exercises/<chapter>.py``, chapter ``book/<chapter>.md``), each
ending in ``EXERCISES = [...]``; the machinery (cases, observations, known mistakes, the verdict) is in
``_core``; ``selftest`` holds the chapters' self-test questions and ``grade`` the instructors' grader
(``python -m vaecourse grade FOLDER``). In a notebook::

    from vaecourse.exercises import check_pytorch_1
    check_pytorch_1(kl_diag)     # prints PASSED, or NOT YET with what is wrong

The name of a check is its exercise's label without ``ex-``, dashes as underscores
(``ex-pytorch-1`` -> ``check_pytorch_1``). Importing this package does not import torch.
"""

from __future__ import annotations

import importlib

CHAPTERS = (
    "diffusion",
    "elbo",
    "ising",
    "ising_sampler",
    "keras_vae",
    "kl_divergence",
    "kl_in_practice",
    "marginal_likelihood",
    "pytorch_vae",
    "reparameterisation",
    "richer_posteriors",
    "sgd",
    "spectra",
)


def exercises() -> dict:
    """{label: Exercise} for every checked exercise of the book."""
    found = {}
    for chapter in CHAPTERS:
        for exercise in importlib.import_module(f"{__name__}.{chapter}").EXERCISES:
            found[exercise.label] = exercise
    return found


EXERCISES = exercises()
for _exercise in EXERCISES.values():
    globals()[_exercise.check_name] = _exercise.checker()
del _exercise

__all__ = ["EXERCISES", "exercises", *[e.check_name for e in EXERCISES.values()]]  # noqa: PLE0604
