"""The student's JupyterLab, driven by a real browser (Debian's chromium through playwright).

JupyterLab is started from this environment (what `make lab` starts) on a copy of notebooks/, on
127.0.0.1 with every browser request to any other host blocked. The latent-space notebook is run as a
student runs it (Run All), then: the exercises, solutions and citations read as content, not MyST
syntax; MathJax typesets the maths; dragging over the latent explorer changes its decoded image; and
typing another image number plus Enter in the posterior explorer changes its test image (the kernel
answers); strokes on the posterior pad change Q, the images and the numbers (computed in the browser),
and the input and the page's numbers reach the kernel, where torch's log p(x) for that input agrees;
an Ising lattice displayed from a new cell evolves and its point follows the temperature slider.
Screenshots go to test-output/screenshots/lab-*.png.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from scripts.chapters import ROOT
from tests.browser.pages import (
    CONSOLE_ALLOW,
    PROBE_DECODED,
    check_lattice_responds,
    check_pad_responds,
    open_page,
    probe_latent_explorer,
    wait_for_update,
)

NOTEBOOK = "latent_space.ipynb"
SETTINGS = {  # JupyterLab user settings for the test: every cell in the page, no news prompts
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false", "checkForUpdates": False},
}
# Console messages of JupyterLab itself that say nothing about the course.
LAB_CONSOLE_ALLOW = CONSOLE_ALLOW + [
    re.compile(r"Failed to load resource"),  # requests to other hosts, aborted by this test
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """JupyterLab from this environment on a copy of notebooks/; yields (base URL, token, folder)."""
    home = tmp_path_factory.mktemp("lab")
    notebooks = home / "notebooks"
    shutil.copytree(ROOT / "notebooks", notebooks)
    settings = home / "settings"
    for name, value in SETTINGS.items():
        (settings / name).parent.mkdir(parents=True, exist_ok=True)
        (settings / name).write_text(json.dumps(value))
    port, token = _free_port(), secrets.token_hex(16)
    env = dict(os.environ, JUPYTER_CONFIG_DIR=str(home / "config"), JUPYTER_RUNTIME_DIR=str(home / "runtime"))
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    log = open(home / "lab.log", "w")
    server = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "jupyter"),
            "lab",
            "--no-browser",
            "--ip=127.0.0.1",
            f"--port={port}",
            f"--ServerApp.root_dir={notebooks}",
            f"--IdentityProvider.token={token}",
            "--LabApp.expose_app_in_browser=True",
            f"--LabApp.user_settings_dir={settings}",
            f"--LabApp.workspaces_dir={home / 'workspaces'}",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
            "--LabApp.extension_manager=readonly",
            "--allow-root",
        ],  # CI runs as root
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
        cwd=notebooks,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=5):
                    break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"JupyterLab did not start:\n{(home / 'lab.log').read_text()[-3000:]}")
                time.sleep(0.5)
        yield base, token, notebooks
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


CURRENT = "window.jupyterapp.shell.currentWidget"
KERNEL_IDLE = f"""() => {{
  const w = {CURRENT};
  const kernel = w && w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel;
  return Boolean(w && w.content && kernel && kernel.status === "idle");
}}"""
ALL_RUN = f"""() => {{
  const w = {CURRENT};
  const cells = w.content.widgets.filter((c) => c.model.type === "code");
  const errors = cells.flatMap((c) => c.model.outputs.toJSON())
    .filter((o) => o.output_type === "error").map((o) => o.ename + ": " + o.evalue);
  if (errors.length) return {{errors}};
  const done = cells.every((c) => c.model.executionCount !== null)
    && w.sessionContext.session.kernel.status === "idle";
  return done ? {{errors: []}} : null;
}}"""
POSTERIOR_IMAGE = """(root) => {
  const canvas = root.querySelector("canvas.vae-image");
  return Array.from(canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data);
}"""


# A small Ising lattice widget (an untrained 1-D VAE on a 16 x 16 lattice: the page's sampler and
# encoder are what is tested here; chapter ising shows the trained one).
LATTICE_CELL = """\
import numpy as np, torch
from vaecourse import models
from vaecourse.widgets import ising_lattice
torch.manual_seed(0)
_m = models.VAE(data_dim=256, hidden=32, latent_dim=1, data_shape=(1, 16, 16)).eval()
_t = np.linspace(1.0, 3.5, 200)
ising_lattice.IsingLattice(_m, _t, np.random.default_rng(0).normal(size=(200, 1)), tc=(2.3, 0.05), T=2.8)
"""


def run_in_kernel(page, code: str) -> str:
    """Run `code` in the open notebook's kernel (not as a cell); return what it printed."""
    return page.evaluate(
        f"""async (code) => {{
      const kernel = {CURRENT}.sessionContext.session.kernel;
      const future = kernel.requestExecute({{ code, store_history: false }});
      let out = "";
      future.onIOPub = (msg) => {{
        if (msg.header.msg_type === "stream") out += msg.content.text;
        if (msg.header.msg_type === "error") out += msg.content.ename + ": " + msg.content.evalue;
      }};
      await future.done;
      return out;
    }}""",
        code,
    )


def wait_for_notebook(page) -> None:
    """Wait until the notebook of the URL is open with an idle kernel.

    Once in a few runs on a loaded machine JupyterLab came up without opening the notebook the URL names
    (no kernel was ever started): then open it through JupyterLab's own command and wait again.
    """
    from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

    try:
        page.wait_for_function(KERNEL_IDLE, timeout=45_000)
    except PlaywrightTimeoutError:
        page.evaluate(f"() => window.jupyterapp.commands.execute('docmanager:open', {{path: '{NOTEBOOK}'}})")
        page.wait_for_function(KERNEL_IDLE, timeout=90_000)


def shoot(page, output_dir: Path, name: str, locator=None) -> None:
    shots = output_dir / "screenshots"
    shots.mkdir(exist_ok=True)
    if locator is not None:
        locator.scroll_into_view_if_needed()
        page.wait_for_timeout(300)
    page.screenshot(path=str(shots / f"lab-{name}.png"))


@pytest.mark.slow
def test_a_student_runs_the_latent_space_notebook_in_jupyterlab(lab, browser, output_dir):
    base, token, _ = lab
    context, page, response, record = open_page(browser, f"{base}/lab/tree/{NOTEBOOK}?token={token}")
    try:
        assert response is not None and response.ok
        page.wait_for_function("() => window.jupyterapp && window.jupyterapp.shell", timeout=60_000)
        wait_for_notebook(page)
        shoot(page, output_dir, "opened")

        # Run All, as a student does; every cell runs without an error.
        page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
        result = page.wait_for_function(ALL_RUN, timeout=300_000, polling=1000).json_value()
        assert result["errors"] == [], f"{NOTEBOOK}: cells raised {result['errors']}"

        # The Markdown reads as content: no MyST syntax; an exercise, its solution and a citation.
        notebook = page.locator(".jp-Notebook").first
        text = notebook.inner_text()
        for raw in (":::{", "{cite", "{eq}", "{doc}", "{numref}", ":label:", "(ising-exercises)="):
            assert raw not in text, f"{NOTEBOOK}: raw MyST {raw!r} shown in JupyterLab"
        first = re.compile(r"^\s*Exercise (\d+\.)?1\s*$")  # "Exercise 9.1": numbered as on the website
        exercise = page.locator(".jp-RenderedMarkdown blockquote", has=page.locator("strong", has_text=first))
        assert exercise.count() == 1, "no rendered block headed 'Exercise 1'"
        solution = page.locator(
            ".jp-RenderedMarkdown details summary", has_text=re.compile(r"^\s*Solution to Exercise (\d+\.)?1\s*$")
        )
        assert solution.count() == 1, "no folded solution to the first exercise"
        solution.first.click()  # unfolds, showing the solution's text
        assert solution.first.locator("xpath=..").evaluate("d => d.open"), "the solution does not unfold"
        assert re.search(r"\((?:[^()]*; )?Kingma and Welling, 2014(?:; [^()]*)?\)", text), (
            "the citation of Kingma and Welling (2014) is not shown as author-year text"
        )
        assert page.locator(".jp-RenderedMarkdown mjx-container").count() > 0, "MathJax typeset nothing"
        assert page.locator(".jp-RenderedMarkdown mjx-merror").count() == 0, "MathJax errors"
        shoot(page, output_dir, "exercise", exercise.first)

        # The latent explorer: dragging over the plane decodes another image (in the browser).
        probe = probe_latent_explorer(page)
        assert probe["before"] is not None, "latent explorer: no decoded image"
        assert probe["before"] != probe["after"], "latent explorer: dragging did not change the image"
        shoot(page, output_dir, "latent-explorer", page.locator(".vae-latent-explorer").first)
        # ... and, once the plane has focus, the arrow keys move the point (not the cell selection).
        explorer = page.locator(".vae-latent-explorer").first
        active_cell = page.evaluate(f"() => {CURRENT}.content.activeCellIndex")
        explorer.locator("canvas.vae-plane").first.focus()
        before = explorer.evaluate(PROBE_DECODED)
        for _ in range(5):
            page.keyboard.press("ArrowRight")
        assert explorer.evaluate(PROBE_DECODED) != before, "latent explorer: the arrow keys did not move the point"
        assert page.evaluate(f"() => {CURRENT}.content.activeCellIndex") == active_cell, (
            "latent explorer: the arrow keys also moved the notebook's cell selection"
        )
        said = explorer.locator(".vae-live").inner_text()  # the live region says what changed (accessibility)
        assert said.startswith("h1 = ") and "Point (" in said, f"latent explorer: live region says {said!r}"

        # The posterior explorer: a number and Enter choose another test image (the kernel answers).
        root = page.locator(".vae-posterior").first
        root.scroll_into_view_if_needed()
        box = root.locator("input.vae-index")
        before = root.evaluate(POSTERIOR_IMAGE)
        current = int(box.input_value())
        box.click()
        box.press("Control+a")
        box.type(str(current + 3))
        box.press("Enter")
        try:
            page.wait_for_function(
                f"([el, before]) => ({POSTERIOR_IMAGE})(el).some((v, i) => v !== before[i])",
                arg=[root.element_handle(), before],
                timeout=30_000,
                polling=250,
            )
        except Exception:
            pytest.fail("posterior explorer: typing a number and Enter did not change the test image")
        assert root.locator(".vae-stats").inner_text().find(f"#{current + 3}") >= 0
        assert root.locator(".vae-no-kernel").inner_text().strip() == "", "the no-kernel note shown in a live kernel"
        said = root.locator(".vae-live").inner_text()
        assert said.startswith(f"Test image {current + 3}: "), f"posterior explorer: live region says {said!r}"
        shoot(page, output_dir, "posterior-explorer", root)

        # The posterior pad: strokes change Q, the images and the numbers, computed in the browser ...
        pad = page.locator(".vae-posterior-pad").first
        # the pad in the middle of the window: at its edge the notebook's toolbar covers the pad's top
        pad.locator("canvas.vae-pad").evaluate("(c) => c.scrollIntoView({block: 'center'})")
        check_pad_responds(page, ".vae-posterior-pad")
        shoot(page, output_dir, "posterior-pad", pad)
        # ... and from the keyboard: the pen draws a stroke, the notebook keeps its cell selection.
        n = int(pad.get_attribute("data-updates"))
        active_cell = page.evaluate(f"() => {CURRENT}.content.activeCellIndex")
        pad.locator("canvas.vae-pad").focus()
        for key in ["Space", "Shift+ArrowDown", "Shift+ArrowDown", "Space"]:
            page.keyboard.press(key)
        wait_for_update(page, ".vae-posterior-pad", n + 1)
        assert page.evaluate(f"() => {CURRENT}.content.activeCellIndex") == active_cell, (
            "posterior pad: the pen's keys also moved the notebook's cell selection"
        )
        said = pad.locator(".vae-live:not(.vae-pen)").inner_text()
        assert said.startswith("your drawing: Q mean"), f"posterior pad: live region says {said!r}"
        # ... and the input and the page's numbers reach the kernel, where torch agrees on log p(x).
        sent = json.loads(
            run_in_kernel(
                page,
                (
                    "import json\n"
                    "print(json.dumps({'bytes': len(pad.x), 'page': pad.browser.get('log_px'), "
                    "'torch': pad.compute(pad.input())['log_px']}))"
                ),
            )
        )
        assert sent["bytes"] == 784, "the pad's input did not reach the kernel"
        assert sent["page"] == pytest.approx(sent["torch"], abs=0.05), f"page and torch disagree: {sent}"

        # An Ising lattice, displayed from a new cell, runs in the page next to the live kernel.
        page.evaluate(
            f"""(code) => {{
          const w = {CURRENT};
          w.content.activeCellIndex = w.content.widgets.length - 1;
          window.jupyterapp.commands.execute('notebook:insert-cell-below');
          w.content.activeCell.model.sharedModel.setSource(code);
          return window.jupyterapp.commands.execute('notebook:run-cell');
        }}""",
            LATTICE_CELL,
        )
        page.wait_for_selector(".vae-ising-lattice", timeout=60_000)
        check_lattice_responds(page)
        shoot(page, output_dir, "ising-lattice", page.locator(".vae-ising-lattice").first)

        errors = record["page_errors"]
        assert errors == [], f"JupyterLab page errors: {errors}"
    finally:
        context.close()


def test_a_widget_whose_state_was_not_stored_says_to_run_its_cell():
    """A notebook saved without widget state shows the text/plain of the widget's output: one line
    saying what to do, not an object address."""
    from tests.widgets.examples import protocol_model, random_images
    from vaecourse import widgets

    model = protocol_model(2, 16)
    x, labels = random_images(20)
    explorer = widgets.LatentExplorer(model, x, labels, n_points=20)
    bundle = explorer._repr_mimebundle_()
    plain = (bundle[0] if isinstance(bundle, tuple) else bundle)["text/plain"]
    assert plain == "LatentExplorer (an interactive widget: run this cell in a live kernel to see it)"
    assert repr(widgets.Interpolation(model, x, labels)).startswith("Interpolation (an interactive widget")
    assert widgets.PosteriorExplorer.__repr__ is widgets.LatentExplorer.__repr__
