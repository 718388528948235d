"""Every widget from the keyboard alone, and what its live region says (WCAG 2.1.1, 2.4.3, 2.4.7, 4.1.3).

Each widget's front end is rendered on a blank static page (tests/browser/pages.py's stand-in for the
widget manager, no kernel) in headless Chromium. For each: Tab reaches its controls in the order they
are laid out, the focused control shows a focus ring, the documented keys change what it shows, and
its live region (``aria-live="polite"``) says the new state and names what changed. The numbers the
region says are checked against torch (the decoded image's mean intensity, the nearest class centre)
or against the page's own result, not against the text's format alone. Last, axe-core (WCAG 2.0/2.1 A
and AA rules, as in tests/browser/test_accessibility.py) finds no violation in the widget's markup.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch

from tests.browser.pages import (
    axe_report,
    axe_violations,
    render_pad,
    render_widget,
    wait_for_update,
)
from tests.widgets.examples import lattice_widget, protocol_model, random_images
from vaecourse import models, widgets
from vaecourse.widgets import posterior_pad

LIVE = "[aria-live=polite]"


def assert_axe_clean(page, root: str) -> None:
    """axe-core finds no WCAG 2.0/2.1 A or AA violation in the widget at `root`."""
    violations = axe_violations(page, root)
    assert violations == [], f"{root}: axe-core found WCAG 2.1 A/AA violations:\n{axe_report(violations)}"


def tab_until(page, selector: str, limit: int = 25) -> list[str]:
    """Press Tab from the top of the page until `selector` has the focus; return the focused
    controls on the way (tag.class). Fails when Tab never reaches it."""
    page.evaluate("() => { document.activeElement && document.activeElement.blur(); window.scrollTo(0, 0); }")
    visited = []
    for _ in range(limit):
        page.keyboard.press("Tab")
        visited.append(
            page.evaluate("""() => { const e = document.activeElement;
            return e.tagName.toLowerCase() + '.' + [...e.classList].join('.'); }""")
        )
        if page.evaluate(f"() => document.activeElement.matches({selector!r})"):
            return visited
    pytest.fail(f"Tab never reached {selector}; focus went through {visited}")


def focus_ring(page) -> float:
    """The width in CSS pixels of the focused element's outline (0 when none is drawn)."""
    return page.evaluate("""() => { const s = getComputedStyle(document.activeElement);
        return s.outlineStyle === "none" ? 0 : parseFloat(s.outlineWidth); }""")


def live_text(page, root: str) -> str:
    return page.inner_text(f"{root} .vae-live{LIVE}")


def number_after(text: str, name: str) -> float:
    match = re.search(re.escape(name) + r"\s*=?\s*(\u2212?-?\d+(?:\.\d+)?)", text)
    assert match, f"the live region does not say {name!r}: {text!r}"
    return float(match.group(1).replace("\u2212", "-"))


@pytest.mark.slow
def test_latent_explorer_from_the_keyboard(page):
    model = protocol_model(2, 64)
    x, labels = random_images(300)
    explorer = widgets.LatentExplorer(model, x, labels)
    render_widget(page, explorer)
    root = ".vae-latent-explorer"
    assert tab_until(page, f"{root} canvas.vae-plane") == ["canvas.vae-plane"]  # the plane comes first
    assert page.get_attribute(f"{root} canvas.vae-plane", "role") == "application"
    described = page.get_attribute(f"{root} canvas.vae-plane", "aria-describedby")
    assert "arrows" in page.inner_text(f"#{described}")  # the keys are documented, visibly
    assert focus_ring(page) >= 2
    before = live_text(page, root)

    page.keyboard.press("ArrowRight")
    page.keyboard.press("Shift+ArrowUp")
    # 0.1 right, then 0.5 up with Shift (sent to the model at the next animation frame)
    page.wait_for_function("() => String(window.vaeWidget.model.values.h) === '0.1,0.5'", timeout=5_000)
    h = [0.1, 0.5]
    text = live_text(page, root)
    assert text != before and text.startswith("h2 = 0.50"), f"the region does not name what changed: {text!r}"
    assert "Point (0.10, 0.50)" in text
    # What the decoder draws there: the mean intensity of torch's decoded image, and the class whose
    # centre in the scatter is nearest (computed here from the encoder means).
    assert number_after(text, "mean intensity") == pytest.approx(float(explorer.decode(h).mean()), abs=0.006)
    points = np.frombuffer(explorer.points, dtype="<f4").reshape(-1, 2)
    label = np.frombuffer(explorer.labels, dtype=np.uint8)
    centres = {c: points[label == c].mean(axis=0) for c in np.unique(label)}
    nearest = min(centres, key=lambda c: np.sum((centres[c] - np.asarray(h)) ** 2))
    assert f"nearest class centre: {explorer.label_names[nearest]};" in text
    # A live kernel echoes the point back (change:h with the same values): the region keeps what it said.
    page.evaluate("() => { const {model} = window.vaeWidget; model.set('h', [0.1, 0.5]); model.trigger('change:h'); }")
    assert live_text(page, root) == text

    page.keyboard.press("Home")
    page.wait_for_function("() => String(window.vaeWidget.model.values.h) === '0,0'", timeout=5_000)
    assert live_text(page, root).startswith("h1 = 0.00, h2 = 0.00")
    assert_axe_clean(page, root)
    assert page.errors == []


@pytest.mark.slow
def test_interpolation_from_the_keyboard(page):
    model = protocol_model(2, 64)
    x, labels = random_images(100)
    interp = widgets.Interpolation(model, x, labels, index_a=2, index_b=5, t=0.0)
    render_widget(page, interp)
    root = ".vae-interpolation"
    order = tab_until(page, f"{root} select.vae-select-b")
    assert order == ["select.vae-select.vae-select-a", "input.vae-slider.vae-t", "select.vae-select.vae-select-b"]
    page.keyboard.press("Shift+Tab")  # back to the slider
    assert focus_ring(page) >= 2
    before = live_text(page, root)
    page.keyboard.press("End")
    page.keyboard.press("ArrowLeft")
    t = page.evaluate("() => window.vaeWidget.model.values.t")
    assert t == pytest.approx(0.99)
    text = live_text(page, root)
    assert text != before and text.startswith("Position t = 0.99 (99% of the way from A = #2")
    h = interp.path([t])[0]
    assert number_after(text, "decoded image mean intensity") == pytest.approx(
        float(interp.decode(h).mean()), abs=0.006
    )
    assert page.get_attribute(f"{root} input.vae-t", "aria-valuetext") == "t = 0.99"
    assert_axe_clean(page, root)
    assert page.errors == []


@pytest.mark.slow
def test_posterior_explorer_from_the_keyboard(page):
    torch.manual_seed(0)
    model = models.VAE(hidden=32, latent_dim=2, data_shape=(1, 28, 28))
    x = (torch.rand(6, 1, 28, 28, generator=torch.Generator().manual_seed(4)) > 0.7).float()
    explorer = widgets.PosteriorExplorer(model, x, index=1, grid_size=21, limit=4.0)
    render_widget(page, explorer)
    root = ".vae-posterior"
    tab_until(page, f"{root} input.vae-index")
    assert focus_ring(page) >= 2
    page.keyboard.press("ArrowUp")  # the number box steps to the next image and asks the kernel
    assert page.evaluate("() => window.vaeWidget.model.values.index") == 2
    assert page.evaluate("() => window.vaeWidget.model.sent") >= 1
    # The kernel's answer (what a live kernel sends back): the numbers of image 2, said in one sentence.
    explorer.index = 2
    page.evaluate(
        """(stats) => { const {model} = window.vaeWidget;
        model.set("stats", stats); model.trigger("change:stats"); }""",
        explorer.stats,
    )
    text = live_text(page, root)
    assert text.startswith("Test image 2: ")
    for name, value in explorer.stats.items():
        if name != "test image":
            assert f"{name} {value}" in text, f"the region does not say {name}: {text!r}"
    assert_axe_clean(page, root)
    assert page.errors == []


@pytest.mark.slow
def test_ising_lattice_from_the_keyboard(page):
    widget, _ = lattice_widget(L=16, T=2.0)
    render_pad(page, widget, holders=("encoder",))
    root = ".vae-ising-lattice"
    page.wait_for_function(f"() => Number(document.querySelector('{root}').dataset.frames || 0) >= 2", timeout=20_000)
    assert tab_until(page, f"{root} button.vae-pause") == ["input.vae-slider.vae-temperature", "button.vae-pause"]
    page.keyboard.press("Shift+Tab")
    assert focus_ring(page) >= 2
    for _ in range(3):
        page.keyboard.press("ArrowRight")
    assert page.evaluate("() => window.vaeWidget.model.values.T") == pytest.approx(2.03)
    page.wait_for_function(
        f"() => document.querySelector('{root} .vae-live').textContent.startsWith('temperature changed')", timeout=5_000
    )
    text = live_text(page, root)
    assert text.startswith("temperature changed to 2.03: temperature T = 2.03, magnetisation m = ")
    page.keyboard.press("Tab")
    page.keyboard.press("Space")  # pause: the region says so, with the numbers of the lattice as it stays
    assert page.evaluate("() => window.vaeWidget.model.values.running") is False
    text = live_text(page, root)
    assert text.startswith("sampler paused: temperature T = 2.03") and text.endswith("sampler paused.")
    m = float(page.evaluate(f"() => document.querySelector('{root}').dataset.magnetisation"))
    assert number_after(text, "magnetisation m") == pytest.approx(m, abs=0.0006)
    latent = float(page.evaluate(f"() => document.querySelector('{root}').dataset.latent"))
    assert number_after(text, "latent value") == pytest.approx(latent, abs=0.0006)
    assert_axe_clean(page, root)
    assert page.errors == []


@pytest.mark.slow
def test_posterior_pad_from_the_keyboard(page):
    torch.manual_seed(0)
    model = models.VAE(hidden=32, latent_dim=2, data_shape=(1, 28, 28)).eval()
    x, labels = random_images(60)
    pad = posterior_pad.PosteriorPad(model, (x > 0.5).float(), labels, n_points=60, n_images=6, samples=16, k=4)
    render_pad(page, pad)
    root = ".vae-posterior-pad"
    numbers = f"{root} .vae-live:not(.vae-pen)"
    wait_for_update(page, root, 1)  # test image #0 on the pad, its numbers shown
    assert page.inner_text(numbers).startswith("test image #0")
    order = tab_until(page, f"{root} select.vae-test-image")
    assert order == ["canvas.vae-pad", "button.vae-clear", "select.vae-select.vae-test-image"]
    # The pen: Tab back to the pad, clear it, then Space, four pixels down, Space draws a stroke.
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Enter")  # the clear button
    page.keyboard.press("Shift+Tab")
    assert page.get_attribute(f"{root} canvas.vae-pad", "role") == "application" and focus_ring(page) >= 2
    n = int(page.evaluate(f"() => document.querySelector('{root}').dataset.updates"))
    page.keyboard.press("Space")
    for _ in range(3):
        page.keyboard.press("Shift+ArrowDown")
    page.keyboard.press("Space")
    result = wait_for_update(page, root, n + 1)
    pen = page.inner_text(f"{root} .vae-pen")
    assert pen == "pen up at column 15, row 27 of 28", pen  # from the centre, 3 x 4 pixels down
    text = page.inner_text(numbers)
    assert text.startswith("your drawing: Q mean (")
    assert number_after(text, "log p(x)") == pytest.approx(result["logPx"], abs=0.006)
    assert number_after(text, "gap log p(x) minus ELBO") == pytest.approx(result["gap"], abs=0.006)
    ink = np.frombuffer(
        bytes(page.evaluate("() => Array.from(new Uint8Array(window.vaeWidget.model.values.x.buffer))")), dtype=np.uint8
    )
    assert ink.reshape(28, 28)[:, 13:15].sum() > 0, "the keyboard stroke left no ink in the middle columns"
    # Choosing a test image from the keyboard: the list after the clear button, the arrow keys.
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    n = int(page.evaluate(f"() => document.querySelector('{root}').dataset.updates"))
    page.keyboard.press("ArrowDown")
    wait_for_update(page, root, n + 1)
    assert page.inner_text(numbers).startswith("test image #0")
    assert_axe_clean(page, root)
    assert page.errors == []
