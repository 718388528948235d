"""Settings for every test run, package tests and notebooks (nbval) alike.

Set before any vaecourse module reads them; the notebook kernels that nbval starts inherit them.
"""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent

os.environ["VAECOURSE_SMOKE"] = "1"
# Tests never reach the internet: downloads are forbidden unless a test serves files on 127.0.0.1.
os.environ["VAECOURSE_OFFLINE"] = "1"
# A cache of the test run's own (downloads, Ising data, trained models), unless one is given.
os.environ.setdefault("VAECOURSE_CACHE", str(ROOT / "test-output" / "cache"))


def pytest_addoption(parser):
    parser.addoption(
        "--built-book",
        default=None,
        metavar="DIR",
        help="reuse a book already built into DIR (its _build/html) instead of building it again",
    )
