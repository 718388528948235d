"""Tests that need a Debian package: skip outside CI with the package to install; fail under CI."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def require_system(path: str, package: str) -> None:
    """Skip when a Debian package is missing outside CI; fail under CI (CI=true)."""
    if Path(path).exists() or shutil.which(path):
        return
    message = f"{path} is missing: install Debian's {package} (apt-get install {package})"
    if IN_CI:
        pytest.fail(message + " -- under CI this is a failure, not a skip", pytrace=False)
    pytest.skip(message)
