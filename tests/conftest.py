"""Test-wide settings: smoke mode, no network, and a private cache folder.

Set before any vaecourse module reads them (vaecourse.settings reads the environment at call time).
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # for scripts.chapters

os.environ["VAECOURSE_SMOKE"] = "1"
# Tests never reach the internet: downloads are forbidden unless a test serves files on 127.0.0.1.
os.environ["VAECOURSE_OFFLINE"] = "1"
if "VAECOURSE_CACHE" not in os.environ:
    os.environ["VAECOURSE_CACHE"] = str(ROOT / "test-output" / "cache")

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def require_system(path: str, package: str) -> None:
    """Skip when a Debian package is missing outside CI; fail under CI (CI=true)."""
    if Path(path).exists() or shutil.which(path):
        return
    message = f"{path} is missing: install Debian's {package} (apt-get install {package})"
    if IN_CI:
        pytest.fail(message + " -- under CI this is a failure, not a skip", pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def output_dir() -> Path:
    """Folder for artefacts a reviewer may want to look at (screenshots, built books)."""
    path = ROOT / "test-output"
    path.mkdir(exist_ok=True)
    return path
