"""Fixtures shared by the package tests. The environment (smoke mode, no network, a private cache)
is set by the conftest.py at the repository root, for these tests and the notebooks alike."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.paths import ROOT
from tests.training import synthetic_images


@pytest.fixture(scope="module")
def one_thread():
    """Run a test module on one torch thread (modules opt in with pytest.mark.usefixtures).

    Their models are tiny and their tensor operations many and small: torch's intra-op thread pool
    only adds waiting, badly so on a busy 2-core machine (an Ising fixture took 52 s with 2 threads
    and 1.4 s with 1). No result depends on the thread count.
    """
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def synthetic_data():
    """320 training and 100 test images from tests.training.synthetic_images (seeds 0 and 1)."""
    return synthetic_images(320, seed=0), synthetic_images(100, seed=1)


@pytest.fixture
def fresh(monkeypatch, tmp_path) -> Path:
    """An empty private cache folder (VAECOURSE_CACHE) for one test, returned; no decoded image file
    remembered from another test, and the offline-subset warning counted as given."""
    from vaecourse import data

    monkeypatch.setenv("VAECOURSE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(data, "_decoded", {})
    monkeypatch.setattr(data, "_warned_offline", True)
    return tmp_path / "cache"


@pytest.fixture(scope="module")
def posterior_explorer():
    """(widget, model, x): a PosteriorExplorer of an untrained 2-D VAE on 10 images (tests.widgets.examples)."""
    from tests.widgets import examples

    return examples.posterior_explorer()


@pytest.fixture(scope="session")
def output_dir() -> Path:
    """Folder for artefacts a reviewer may want to look at (screenshots, built books)."""
    path = ROOT / "test-output"
    path.mkdir(exist_ok=True)
    return path


@pytest.fixture(scope="session")
def built_book(tmp_path_factory, request) -> Path:
    """Build the whole book once per test session into a temporary folder; return its html folder.

    ``pytest --built-book DIR`` reuses a book built earlier into DIR (DIR/_build/html).
    """
    reuse = request.config.getoption("--built-book")
    if reuse:
        return Path(reuse) / "_build" / "html"
    out = tmp_path_factory.mktemp("book")
    vendor = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "vendor_assets.py")], capture_output=True, text=True
    )
    assert vendor.returncode == 0, f"scripts/vendor_assets.py failed: {vendor.stdout}\n{vendor.stderr}"
    jupyter_book = Path(sys.executable).parent / "jupyter-book"
    env = dict(os.environ, VAECOURSE_SMOKE="1")
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    result = subprocess.run(
        [str(jupyter_book), "build", str(ROOT), "--path-output", str(out), "-W", "--keep-going"],
        capture_output=True,
        text=True,
        env=env,
    )
    log = out / "build.log"
    log.write_text(result.stdout + "\n" + result.stderr)
    assert result.returncode == 0, (
        f"book build failed (log in {log}):\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
    )
    return out / "_build" / "html"
