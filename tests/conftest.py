"""Test-wide settings: smoke mode, no network, and a private cache folder.

Set before any vaecourse module reads them (vaecourse.settings reads the environment at call time).
"""

from __future__ import annotations

import os
import shutil
import subprocess
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


@pytest.fixture(scope="session")
def built_book(tmp_path_factory) -> Path:
    """Build the whole book once per test session into a temporary folder; return its html folder."""
    out = tmp_path_factory.mktemp("book")
    vendor = subprocess.run([sys.executable, str(ROOT / "scripts" / "vendor_assets.py")],
                            capture_output=True, text=True)
    assert vendor.returncode == 0, f"scripts/vendor_assets.py failed: {vendor.stdout}\n{vendor.stderr}"
    jupyter_book = Path(sys.executable).parent / "jupyter-book"
    env = dict(os.environ, VAECOURSE_SMOKE="1")
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    result = subprocess.run(
        [str(jupyter_book), "build", str(ROOT), "--path-output", str(out), "-W", "--keep-going"],
        capture_output=True, text=True, env=env,
    )
    log = out / "build.log"
    log.write_text(result.stdout + "\n" + result.stderr)
    assert result.returncode == 0, f"book build failed (log in {log}):\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
    return out / "_build" / "html"


