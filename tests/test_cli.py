"""`python -m vaecourse train` / `evaluate` / `check` / `info` (vaecourse.cli), and the figures they write.

Their defaults follow the smoke switch; every failure is one line on stderr and a non-zero exit; nothing is
written before the arguments and --out are usable; a finished run is never overwritten without --force; a
resumed run reproduces the uninterrupted one. (The same in odd environments: tests/test_cli_environment.py.)
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import pytest
import torch

from tests.limits import GB, cgroup, run_child, was_oom_killed
from tests.training import config
from vaecourse import checkpoints, cli, evaluate, plotting, recipes, train
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
        code = cli.train(
            [
                "--model",
                "mlp",
                "--dataset",
                "mnist",
                "--latent-dim",
                "2",
                "--hidden",
                "32",
                "--epochs",
                "2",
                "--n-train",
                "400",
                "--n-test",
                "60",
                "--out",
                str(out),
                "--no-progress",
            ]
        )
    return code, out


def test_train_writes_checkpoint_history_and_figures(trained_run, capsys):
    code, out = trained_run
    assert code == 0
    history = json.loads((out / "history.json").read_text())
    assert history["epoch"] == [1, 2] and len(history["test_elbo"]) == 2
    assert (out / "history.csv").read_text().splitlines()[0].startswith("epoch,train_elbo")
    for name in (
        "checkpoint.pt",
        "training_curves.png",
        "reconstructions.png",
        "prior_samples.png",
        "latent_manifold.png",
        "latent_means.png",
    ):
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


@pytest.mark.parametrize(
    "argv, word",
    [
        (["--model", "transformer", "--out", "x"], "--model"),
        (["--epochs", "-3", "--out", "x"], "--epochs"),
        (["--latent-dim", "0", "--out", "x"], "latent"),
        (["--dataset", "cifar", "--out", "x"], "--dataset"),
        (["--model", "mlp"], "--out"),
        (["--lr", "nan", "--out", "x"], "lr"),
    ],
)
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
        code = cli.train(
            [
                "--model",
                "mlp",
                "--hidden",
                "16",
                "--epochs",
                "3",
                "--n-train",
                "100",
                "--n-test",
                "20",
                "--out",
                str(out),
                "--resume",
                "--no-progress",
                "--no-figures",
            ]
        )
    assert code == 1
    _one_error_line(capsys, "another model", "vaecourse train: error:")


def test_entry_point_has_no_traceback():
    """The real `python -m vaecourse` route: one line on stderr, non-zero exit."""
    run = subprocess.run(
        [sys.executable, "-m", "vaecourse", "evaluate", "no-such-file.pt"], capture_output=True, text=True
    )
    assert run.returncode == 2 and "does not exist" in run.stderr and "Traceback" not in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1


def test_every_figure_labels_its_axes_and_returns_a_figure():
    import matplotlib.pyplot as plt
    from matplotlib.figure import Figure

    torch.manual_seed(0)
    model = VAE(784, 16, 2, (1, 28, 28))
    x, labels = torch.rand(30, 1, 28, 28), torch.arange(30) % 10
    history = train.History(
        epoch=[1, 2],
        train_elbo=[-200.0, -150.0],
        train_reconstruction=[-190.0, -140.0],
        train_kl=[10.0, 10.0],
        test_elbo=[-210.0, -160.0],
        test_reconstruction=[-200.0, -150.0],
        test_kl=[10.0, 10.0],
        seconds=[1.0, 1.0],
    )
    figures = [
        plotting.reconstructions(model, x[:6]),
        plotting.prior_samples(model, 10),
        plotting.latent_manifold(model, 6),
        plotting.latent_manifold(model, 6, grid="keras"),
        plotting.plot_latent_means(model, x, labels),
        plotting.training_curves(history),
        plotting.reconstructions(ConvVAE(), x[:3]),
    ]
    for fig in figures:
        assert isinstance(fig, Figure)
        for ax in fig.axes:
            if ax.get_label() == "<colorbar>":
                continue
            if not ax.axison:  # a mosaic of independent draws: no axes to label, a title says what it is
                assert ax.get_title() or (fig._suptitle and fig._suptitle.get_text()), fig
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


# ----------------------------------------------------------------------------- defaults follow the smoke switch


class _Stop(Exception):
    """Raised by a patched function once the command line has shown what it passes on."""


def test_the_train_command_line_defaults_follow_the_smoke_switch(tmp_path, monkeypatch):
    monkeypatch.setattr(recipes, "load_dataset", lambda name, split: (torch.rand(8, 1, 28, 28), torch.zeros(8)))
    seen = []

    def fake_fit(model, data, config, *args, **kwargs):
        seen.append(config.epochs)
        raise _Stop

    monkeypatch.setattr(train, "fit", fake_fit)
    for smoke in ("1", "0"):
        monkeypatch.setenv("VAECOURSE_SMOKE", smoke)
        with pytest.raises(_Stop):
            cli.train(["--out", str(tmp_path / smoke), "--no-figures", "--no-progress"])
    assert seen[0] == 1 and seen[1] > 1


def test_the_evaluate_command_line_defaults_follow_the_smoke_switch(tmp_path, monkeypatch, capsys):
    torch.manual_seed(0)
    path = checkpoints.save_checkpoint(
        tmp_path / "c.pt", VAE(784, 8, 2, (1, 28, 28)), config(epochs=2), extra={"dataset": "mnist"}
    )
    monkeypatch.setattr(recipes, "load_dataset", lambda name, split: (torch.rand(300, 1, 28, 28), torch.zeros(300)))
    seen = []

    def fake_evaluate(model, x, *, iwae_k, grey, grid_size, **kwargs):
        seen.append({"n_test": x.shape[0], "iwae_k": iwae_k, "grid_size": grid_size})
        return evaluate.Evaluation(x.shape[0], -1.0, None, None)

    monkeypatch.setattr(evaluate, "evaluate", fake_evaluate)
    for smoke in ("1", "0"):
        monkeypatch.setenv("VAECOURSE_SMOKE", smoke)
        assert cli.evaluate([str(path), "--device", "cpu"]) == 0, capsys.readouterr().err
    smoke, full = seen
    assert smoke["n_test"] <= 100 and smoke["iwae_k"] <= 100 and smoke["grid_size"] <= 61
    assert full["n_test"] == 300 and full["iwae_k"] == 5000  # all images; k of Burda et al. 2015
    assert full["grid_size"] > smoke["grid_size"]


TINY = ["--hidden", "16", "--n-train", "200", "--n-test", "20", "--batch-size", "50", "--no-figures", "--no-progress"]


def run_train(capsys, *argv) -> tuple[int, str]:
    """cli.train in this process; returns (exit code, stderr), the offline-data warning silenced."""
    capsys.readouterr()
    with quiet_data():
        code = cli.train([*TINY, *argv])
    return code, capsys.readouterr().err


def one_line(err: str, *words: str) -> None:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    for word in words:
        assert word in lines[0], lines[0]


def child(code: str, *, env=None, preexec_fn=None, user=None, timeout=120) -> subprocess.CompletedProcess:
    """Run Python ``code`` in a child process (for file-size limits)."""
    return subprocess.run(
        [sys.executable, "-W", "ignore", "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        preexec_fn=preexec_fn,
        user=user,
        check=False,
    )


# ----------------------------------------------------------------------------- data loss


def test_a_finished_run_is_not_overwritten_without_force(tmp_path, capsys):
    out = tmp_path / "run"
    assert run_train(capsys, "--epochs", "1", "--out", str(out))[0] == 0
    before = (out / "checkpoint.pt").read_bytes()
    code, err = run_train(capsys, "--epochs", "1", "--seed", "5", "--out", str(out))
    assert code == 2
    one_line(err, "already holds a finished run", "--force")
    assert (out / "checkpoint.pt").read_bytes() == before
    code, _ = run_train(capsys, "--epochs", "1", "--seed", "5", "--out", str(out), "--force")
    assert code == 0 and checkpoints.load_checkpoint(out / "checkpoint.pt")["train_config"]["seed"] == 5


# ----------------------------------------------------------------------------- resume


def _weights(out: Path) -> dict:
    return checkpoints.load_checkpoint(out / "checkpoint.pt")["model_state"]


def test_cli_resume_keeps_the_optimiser_and_reproduces_the_uninterrupted_run(tmp_path, capsys):
    whole, split = tmp_path / "whole", tmp_path / "split"
    assert run_train(capsys, "--epochs", "2", "--out", str(whole))[0] == 0
    assert run_train(capsys, "--epochs", "1", "--out", str(split))[0] == 0
    assert checkpoints.load_checkpoint(split / "checkpoint.pt")["optimizer_state"] is not None
    assert run_train(capsys, "--epochs", "2", "--out", str(split), "--resume")[0] == 0
    a, b = (json.loads((o / "history.json").read_text()) for o in (whole, split))
    assert a["train_elbo"] == b["train_elbo"] and a["test_elbo"] == b["test_elbo"]
    wa, wb = _weights(whole), _weights(split)
    assert all(torch.equal(wa[k], wb[k]) for k in wa)


# ----------------------------------------------------------------------------- tracebacks


@pytest.mark.parametrize(
    "command", [["info"], ["check", "--only", "eq:kl-standard-normal"], ["train"], ["evaluate", "x.pt"]]
)
def test_a_misspelt_device_is_one_line_in_every_command(command, tmp_path, capsys):
    if command == ["train"]:
        command = [*TINY, "--out", str(tmp_path / "x")]
    if command == ["evaluate", "x.pt"]:
        command = ["evaluate", str(_forge(tmp_path / "x.pt"))]
    name, rest = (
        command[0] if command[0] in cli.COMMANDS else "train",
        command[1:] if command[0] in cli.COMMANDS else command,
    )
    tries = [({"VAECOURSE_DEVICE": "gpu"}, rest)] + ([({}, [*rest, "--device", "gpu"])] if name != "info" else [])
    for env, argv in tries:
        with pytest.MonkeyPatch.context() as patch:
            for key, value in env.items():
                patch.setenv(key, value)
            capsys.readouterr()
            assert cli.main([name, *argv]) == 2, (name, argv, env)
        one_line(capsys.readouterr().err, "'gpu'", "not a device name")
    assert not (tmp_path / "x").exists()  # nothing written for a bad argument


def test_a_read_only_out_is_refused_before_training(tmp_path, capsys):
    if os.geteuid() == 0:  # root writes into a chmod-ed folder anyway; /sys refuses even root
        out = Path("/sys")
    else:
        out = tmp_path / "readonly"
        out.mkdir()
        out.chmod(0o555)
    before = sorted(p.name for p in out.iterdir())
    code, err = run_train(capsys, "--epochs", "1", "--out", str(out))
    assert code == 2
    one_line(err, "cannot write to --out")
    assert sorted(p.name for p in out.iterdir()) == before
    code, err = run_train(capsys, "--epochs", "1", "--out", "/proc/vaecourse-run")  # a folder no one can make
    assert code == 2
    one_line(err, "--out")


def test_a_full_disk_while_saving_is_one_line_and_leaves_no_temporary_file(tmp_path):
    out = tmp_path / "full"
    # The write test of --out is 9 KB: it passes; the checkpoint (~40 KB) then exceeds the size limit.
    code = f"""
        import resource, sys
        from vaecourse import cli
        resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, 20_000))
        sys.exit(cli.train({[*TINY, "--epochs", "1", "--out", str(out)]!r}))
    """
    run = child(code)
    assert run.returncode == 1, run.stderr
    one_line(run.stderr, "could not write", "checkpoint.pt")
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]


def test_info_with_a_cache_path_that_is_a_file(tmp_path, capsys, monkeypatch):
    (tmp_path / "cache").write_text("not a folder")
    monkeypatch.setenv("VAECOURSE_CACHE", str(tmp_path / "cache"))
    assert cli.main(["info"]) == 1
    one_line(capsys.readouterr().err, "is a file, not a folder", "VAECOURSE_CACHE")


def test_a_model_too_large_for_memory_is_refused_with_its_size_and_nothing_written(tmp_path, capsys):
    code, err = run_train(capsys, "--hidden", "100000", "--epochs", "1", "--out", str(tmp_path / "huge"))
    assert code == 2
    one_line(err, "GB")
    assert not (tmp_path / "huge").exists()


def _forge(path: Path, **changes) -> Path:
    from vaecourse.models import VAE
    from vaecourse.train import TrainConfig

    checkpoints.save_checkpoint(
        path, VAE(64, 8, 2, (1, 8, 8)), TrainConfig(epochs=1), epoch=1, complete=True, extra={"dataset": "mnist"}
    )
    ckpt = torch.load(path, weights_only=True)
    for key, value in changes.items():
        ckpt[key] = value(ckpt[key]) if callable(value) else value
    torch.save(ckpt, path)
    return path


@pytest.mark.parametrize(
    "change, words",
    [
        ({"model_config": lambda c: {**c, "hidden": 100_000, "data_shape": [1, 28, 28]}}, ["GB"]),
        ({"model_config": lambda c: {k: v for k, v in c.items() if k != "data_shape"}}, ["missing", "data_shape"]),
        ({"model_config": lambda c: {**c, "depth": 3}}, ["unknown", "depth"]),
        ({"train_config": lambda c: {**c, "momentum": 0.9}}, ["unknown", "momentum"]),
        ({"model_config": lambda c: {**c, "latent_dim": "two"}}, ["latent_dim"]),
        ({"epoch": None}, ["epoch"]),
    ],
)
def test_forged_or_damaged_checkpoints_are_one_line_errors(tmp_path, capsys, change, words):
    path = _forge(tmp_path / "forged.pt", **change)
    with pytest.raises(checkpoints.CheckpointError):
        checkpoints.model_from_checkpoint(path)
    capsys.readouterr()
    assert cli.evaluate([str(path), "--iwae-k", "2", "--n-test", "5"]) == 2
    one_line(capsys.readouterr().err, *words)


def test_ctrl_c_during_evaluate_is_one_line_and_exit_130(tmp_path, capsys, monkeypatch):
    from vaecourse import evaluate

    path = _forge(tmp_path / "ckpt.pt")

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt  # what Python makes of a Ctrl-C while scoring (no signal to the test runner itself)

    monkeypatch.setattr(evaluate, "evaluate", interrupted)
    capsys.readouterr()
    with quiet_data():
        code = cli.main(["evaluate", str(path), "--iwae-k", "5", "--n-test", "10", "--dataset", "mnist"])
    assert code == 130
    one_line(capsys.readouterr().err, "interrupted")


@pytest.mark.parametrize("argv, word", [(["check", "--seed", "abc"], "--seed"), (["info", "--bogus"], "--bogus")])
def test_bad_arguments_are_one_line_and_exit_2(argv, word, capsys):
    assert cli.main(argv) == 2
    one_line(capsys.readouterr().err, word)


# ----------------------------------------------------------------------------- misleading errors


def test_a_huge_learning_rate_ends_in_the_non_finite_loss_error_with_its_hint(tmp_path, capsys):
    code, err = run_train(capsys, "--epochs", "1", "--lr", "1e6", "--out", str(tmp_path / "lr"))
    assert code == 1
    one_line(err, "the training loss became", "Lower the learning rate")
    # the checkpoint it names exists and holds the start of the run (epoch 0), as the message says
    assert checkpoints.load_checkpoint(tmp_path / "lr" / "checkpoint.pt")["epoch"] == 0


def test_train_too_large_for_a_1_gb_container_says_one_line_not_killed(tmp_path):
    """In a real 1 GB cgroup (Binder, a hub): the guard sees the container's limit, not the host's RAM."""
    with cgroup(GB) as made:
        run = run_child(
            [
                "-m",
                "vaecourse",
                "train",
                "--hidden",
                "8000",
                "--epochs",
                "1",
                "--n-train",
                "100",
                "--n-test",
                "10",
                "--no-figures",
                "--no-progress",
                "--out",
                str(tmp_path / "out"),
            ],
            preexec_fn=made.join,
            env={"VAECOURSE_SMOKE": "1", "VAECOURSE_OFFLINE": "1"},
        )
    name = made.limit_file
    assert not was_oom_killed(run) and run.returncode == 1, run
    assert run.stderr.strip().splitlines() == [
        "vaecourse train: error: training this VAE (weights, gradients and Adam's two moments, 4 x 0.56 GB) would "
        f"need about 2.2 GB, more than the 1.0 GB this container may use (cgroup {name}); choose smaller sizes"
    ]
    assert not (tmp_path / "out" / "checkpoint.pt").exists()


def test_train_refuses_a_link_planted_at_a_figure_s_name_in_one_line(tmp_path, capsys):
    """In a shared --out, a link at prior_samples.png once made train overwrite the file it points to."""
    out, victim = tmp_path / "out", tmp_path / "victim.txt"
    out.mkdir()
    victim.write_text("keep me")
    (out / "prior_samples.png").symlink_to(victim)
    argv = [a for a in TINY if a != "--no-figures"] + ["--epochs", "1", "--out", str(out)]
    capsys.readouterr()
    with quiet_data():
        code = cli.train(argv)
    assert code == 1 and victim.read_text() == "keep me" and (out / "prior_samples.png").is_symlink()
    _one_error_line(capsys, "prior_samples.png' is a symbolic link", "vaecourse train: error: ")
