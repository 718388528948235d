"""vaecourse.plotting: the latent map never relies on colour alone (WCAG 1.4.1), and write_figures
writes whole PNG files atomically, never through a link.

plot_latent_means writes each class's name at the centre of its cluster (the median of its encoder
means, computed here from the model's own encoder), gives each class its own marker and a colour from
a colour-blind-safe list, and has a legend; the widgets' scatter uses the same colours.
"""

from __future__ import annotations

import re

import matplotlib
import numpy as np
import pytest
import torch

from tests.paths import ROOT
from vaecourse import models, plotting, train
from vaecourse.models import VAE

matplotlib.use("Agg")


@pytest.fixture(scope="module")
def latent_map():
    import matplotlib.pyplot as plt

    torch.manual_seed(0)
    model = models.VAE(hidden=32, latent_dim=2, data_shape=(1, 28, 28)).eval()
    x = torch.rand(300, 1, 28, 28, generator=torch.Generator().manual_seed(1))
    labels = torch.arange(300) % 10
    fig = plotting.plot_latent_means(model, x, labels)
    yield fig, model, x, labels
    plt.close(fig)


def test_latent_map_writes_each_class_at_its_cluster_centre(latent_map):
    fig, model, x, labels = latent_map
    ax = fig.axes[0]
    written = {t.get_text(): t.get_position() for t in ax.texts}
    assert sorted(written) == [str(d) for d in range(10)], f"one text label per class expected, got {sorted(written)}"
    with torch.no_grad():
        mu = model.encode(x.reshape(len(x), -1)).mean.numpy()  # (N, 2), the encoder's own means
    for digit in range(10):
        centre = np.median(mu[labels.numpy() == digit], axis=0)
        np.testing.assert_allclose(written[str(digit)], centre, atol=1e-5)


def test_latent_map_classes_differ_in_marker_and_colour_and_have_a_legend(latent_map):
    fig, *_ = latent_map
    ax = fig.axes[0]
    assert len(fig.axes) == 1  # a legend, not a colour bar, names the classes
    collections = ax.collections
    assert len(collections) == 10
    markers = {tuple(map(tuple, c.get_paths()[0].vertices.round(3))) for c in collections}
    colours = {tuple(np.round(c.get_facecolor()[0][:3], 3)) for c in collections}
    assert len(markers) == 10 and len(colours) == 10
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [str(d) for d in range(10)]


def test_widgets_scatter_uses_the_same_colours():
    source = (ROOT / "vaecourse" / "js" / "src" / "palette.js").read_text()
    block = re.search(r"LABEL_COLOURS = \[(.*?)\]", source, re.DOTALL).group(1)
    assert [c.upper() for c in re.findall(r'"(#[0-9A-Fa-f]{6})"', block)] == [c.upper() for c in plotting.CLASS_COLOURS]
    assert "#1f77b4" not in block.lower()  # not matplotlib's tab10


PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def model_and_test():
    torch.manual_seed(0)
    return VAE(784, 16, 2, (1, 28, 28)), (torch.rand(20, 1, 28, 28), torch.arange(20) % 10)


def test_the_figures_are_whole_png_files_and_no_temporary_is_left(tmp_path, model_and_test):
    model, test = model_and_test
    paths = plotting.write_figures(model, train.History(), test, tmp_path)
    assert (
        sorted(p.name for p in tmp_path.iterdir())
        == sorted(p.name for p in paths)
        == ["latent_manifold.png", "latent_means.png", "prior_samples.png", "reconstructions.png"]
    )
    assert all(p.read_bytes().startswith(PNG) and p.stat().st_size > 1000 for p in paths)


@pytest.mark.parametrize("planted", ["prior_samples.png", "latent_means.png"])
def test_a_link_planted_at_a_figure_s_name_is_refused_and_its_target_kept(tmp_path, model_and_test, planted):
    """In a shared folder, a link at a figure's name would make the write overwrite another user's file."""
    model, test = model_and_test
    out, victim = tmp_path / "out", tmp_path / "victim.txt"
    out.mkdir()
    victim.write_text("keep me")
    (out / planted).symlink_to(victim)
    with pytest.raises(FileExistsError, match=f"{planted}' is a symbolic link.*remove the link"):
        plotting.write_figures(model, train.History(), test, out)
    assert victim.read_text() == "keep me" and (out / planted).is_symlink()
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]


def test_digit_mosaics_draw_dark_digits_on_light_ground_without_meaningless_axes():
    """Pixel probability 1 is black, as on paper; the prior mosaic has no axes (its tiles are independent
    draws); an even latent grid has no middle tick (no grid point lies at 0 to label)."""
    import matplotlib.pyplot as plt

    torch.manual_seed(0)
    model = models.VAE(hidden=16, latent_dim=2, data_shape=(1, 28, 28)).eval()
    figures = {
        "samples": plotting.prior_samples(model, n=9),
        "reconstructions": plotting.reconstructions(model, torch.rand(3, 1, 28, 28)),
        "manifold": plotting.latent_manifold(model, n=4),
    }
    for name, fig in figures.items():
        image = fig.axes[0].images[0]
        assert image.get_cmap()(1.0)[:3] == (0.0, 0.0, 0.0), f"{name}: probability 1 is not black"
        assert image.get_cmap()(0.0)[:3] == (1.0, 1.0, 1.0), f"{name}: probability 0 is not white"
    assert not figures["samples"].axes[0].axison
    ticks = [t.get_text() for t in figures["manifold"].axes[0].get_xticklabels()]
    assert len(ticks) == 2 and ticks[0].startswith("-") and not ticks[1].startswith("-")
    for fig in figures.values():
        plt.close(fig)
