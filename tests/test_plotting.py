"""plotting.write_figures: the PNG files of a trained model, each written atomically, never through a link.

(The figures' contents are tested with the command that writes them, in tests/test_cli.py.)
"""

from __future__ import annotations

import pytest
import torch

from vaecourse import plotting, train
from vaecourse.models import VAE

pytestmark = pytest.mark.usefixtures("one_thread")

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def model_and_test():
    torch.manual_seed(0)
    return VAE(784, 16, 2, (1, 28, 28)), (torch.rand(20, 1, 28, 28), torch.arange(20) % 10)


def test_the_figures_are_whole_png_files_and_no_temporary_is_left(tmp_path, model_and_test):
    model, test = model_and_test
    paths = plotting.write_figures(model, train.History(), test, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in paths) == [
        "latent_manifold.png", "latent_means.png", "prior_samples.png", "reconstructions.png"]
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
