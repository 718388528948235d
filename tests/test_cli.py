"""`python -m vaecourse train` / `evaluate` (vaecourse.cli), and the figures they write."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import warnings

import pytest
import torch

from vaecourse import checkpoints, cli, plotting, train
from vaecourse.models import VAE, ConvVAE


# Tiny models and many small tensor operations: one intra-op thread (see tests/conftest.py).
pytestmark = pytest.mark.usefixtures("one_thread")


@contextlib.contextmanager
def quiet_data():
    """The offline MNIST subset announces itself with a warning (the suite turns warnings into errors);
    these tests are about the command line, not the data, so that one warning is silenced here."""
    from vaecourse import data

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", data.OfflineSubsetWarning)
        yield


def _one_error_line(capsys, word: str, start: str) -> None:
    """What the command wrote to stderr is one line, in the shared error style, naming ``word``."""
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith(start) and word in err and "Traceback" not in err


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    with quiet_data():
        code = cli.train(["--model", "mlp", "--dataset", "mnist", "--latent-dim", "2", "--hidden", "32",
                          "--epochs", "2", "--n-train", "400", "--n-test", "60", "--out", str(out), "--no-progress"])
    return code, out


def test_train_writes_checkpoint_history_and_figures(trained_run, capsys):
    code, out = trained_run
    assert code == 0
    history = json.loads((out / "history.json").read_text())
    assert history["epoch"] == [1, 2] and len(history["test_elbo"]) == 2
    assert (out / "history.csv").read_text().splitlines()[0].startswith("epoch,train_elbo")
    for name in ("checkpoint.pt", "training_curves.png", "reconstructions.png", "prior_samples.png",
                 "latent_manifold.png", "latent_means.png"):
        assert (out / name).stat().st_size > 0, name
    ckpt = checkpoints.load_checkpoint(out / "checkpoint.pt")
    assert ckpt["extra"]["dataset"] == "mnist" and ckpt["model_config"]["hidden"] == 32


def test_evaluate_prints_elbo_and_log_px(trained_run, capsys):
    _, out = trained_run
    capsys.readouterr()
    with quiet_data():
        code = cli.evaluate([str(out / "checkpoint.pt"), "--iwae-k", "20", "--n-test", "20"])
    text = capsys.readouterr().out
    assert code == 0 and "ELBO" in text and "IWAE k=20" in text and "quadrature" in text


@pytest.mark.parametrize("argv, word", [
    (["--model", "transformer", "--out", "x"], "--model"),
    (["--epochs", "-3", "--out", "x"], "--epochs"),
    (["--latent-dim", "0", "--out", "x"], "latent"),
    (["--dataset", "cifar", "--out", "x"], "--dataset"),
    (["--model", "mlp"], "--out"),
    (["--lr", "nan", "--out", "x"], "lr"),
])
def test_train_bad_arguments_give_one_line(argv, word, capsys):
    assert cli.train(argv) == 2
    _one_error_line(capsys, word, "vaecourse train: error:")


def test_evaluate_refuses_bad_checkpoints(trained_run, tmp_path, capsys):
    _, out = trained_run
    not_ours = tmp_path / "not-ours.pt"
    torch.save({"weights": torch.zeros(3)}, not_ours)
    cases = [
        ([str(tmp_path / "missing.pt")], "does not exist"),
        ([str(not_ours)], "not a vaecourse checkpoint"),
        ([str(out / "checkpoint.pt"), "--expect", "ConvVAE"], "not a ConvVAE"),
        ([str(out / "checkpoint.pt"), "--iwae-k", "-1"], "--iwae-k"),
    ]
    for argv, word in cases:
        assert cli.evaluate(argv) == 2
        _one_error_line(capsys, word, "vaecourse evaluate: error:")


def test_resume_from_another_models_checkpoint_is_refused(trained_run, tmp_path, capsys):
    _, out = trained_run
    with quiet_data():
        code = cli.train(["--model", "mlp", "--hidden", "16", "--epochs", "3", "--n-train", "100", "--n-test", "20",
                          "--out", str(out), "--resume", "--no-progress", "--no-figures"])
    assert code == 1
    _one_error_line(capsys, "another model", "vaecourse train: error:")


def test_entry_point_has_no_traceback():
    """The real `python -m vaecourse` route: one line on stderr, non-zero exit."""
    run = subprocess.run([sys.executable, "-m", "vaecourse", "evaluate", "no-such-file.pt"],
                         capture_output=True, text=True)
    assert run.returncode == 2 and "does not exist" in run.stderr and "Traceback" not in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1


def test_every_figure_labels_its_axes_and_returns_a_figure():
    import matplotlib.pyplot as plt
    from matplotlib.figure import Figure

    torch.manual_seed(0)
    model = VAE(784, 16, 2, (1, 28, 28))
    x, labels = torch.rand(30, 1, 28, 28), torch.arange(30) % 10
    history = train.History(epoch=[1, 2], train_elbo=[-200.0, -150.0], train_reconstruction=[-190.0, -140.0],
                            train_kl=[10.0, 10.0], test_elbo=[-210.0, -160.0], test_reconstruction=[-200.0, -150.0],
                            test_kl=[10.0, 10.0], seconds=[1.0, 1.0])
    figures = [plotting.reconstructions(model, x[:6]), plotting.prior_samples(model, 10),
               plotting.latent_manifold(model, 6), plotting.latent_manifold(model, 6, grid="keras"),
               plotting.plot_latent_means(model, x, labels), plotting.training_curves(history),
               plotting.reconstructions(ConvVAE(), x[:3])]
    for fig in figures:
        assert isinstance(fig, Figure)
        for ax in fig.axes:
            if ax.get_label() == "<colorbar>":
                continue
            assert ax.get_xlabel() and ax.get_ylabel(), fig
        plt.close(fig)
    with pytest.raises(ValueError, match="2-D latent"):
        plotting.latent_manifold(VAE(784, 16, 3, (1, 28, 28)))
    with pytest.raises(ValueError, match="grid"):
        plotting.latent_manifold(model, grid="polar")


def test_check_command_shares_the_error_style(capsys):
    """`check` parses with the same parser class: a bad key or argument is one line on stderr, exit 2."""
    for argv, word in ([["--only", "eq:nope"], "eq:nope"], [["--bogus"], "--bogus"]):
        assert cli.check(argv) == 2
        _one_error_line(capsys, word, "vaecourse check: error:")
    assert cli.check(["--list"]) == 0
    assert "eq:training-objective" in capsys.readouterr().out
    assert cli.main(["frobnicate"]) == 2 and "unknown command" in capsys.readouterr().err
