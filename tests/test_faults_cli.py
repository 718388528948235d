"""Fault injection, the command line (issue 15, causes 2, 3, 5, 6 and 9): every failure is one line on
stderr and a non-zero exit, nothing is written before the arguments and --out are usable, a finished run
is never overwritten without --force, and a resumed run reproduces the uninterrupted one."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import pytest
import torch

from vaecourse import checkpoints, cli, data

pytestmark = pytest.mark.usefixtures("one_thread")

TINY = ["--hidden", "16", "--n-train", "200", "--n-test", "20", "--batch-size", "50", "--no-figures",
        "--no-progress"]


def train(capsys, *argv) -> tuple[int, str]:
    """cli.train in this process; returns (exit code, stderr), the offline-data warning silenced."""
    capsys.readouterr()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", data.OfflineSubsetWarning)
        code = cli.train([*TINY, *argv])
    return code, capsys.readouterr().err


def one_line(err: str, *words: str) -> None:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    for word in words:
        assert word in lines[0], lines[0]


def child(code: str, *, env=None, preexec_fn=None, user=None, timeout=120) -> subprocess.CompletedProcess:
    """Run Python ``code`` in a child process (for signals, file-size limits and another user)."""
    return subprocess.run([sys.executable, "-W", "ignore", "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, timeout=timeout, env={**os.environ, **(env or {})}, preexec_fn=preexec_fn,
                          user=user)


# ----------------------------------------------------------------------------- cause 2: data loss


def test_a_finished_run_is_not_overwritten_without_force(tmp_path, capsys):
    out = tmp_path / "run"
    assert train(capsys, "--epochs", "1", "--out", str(out))[0] == 0
    before = (out / "checkpoint.pt").read_bytes()
    code, err = train(capsys, "--epochs", "1", "--seed", "5", "--out", str(out))
    assert code == 2
    one_line(err, "already holds a finished run", "--force")
    assert (out / "checkpoint.pt").read_bytes() == before
    code, _ = train(capsys, "--epochs", "1", "--seed", "5", "--out", str(out), "--force")
    assert code == 0 and checkpoints.load_checkpoint(out / "checkpoint.pt")["train_config"]["seed"] == 5


# ----------------------------------------------------------------------------- cause 3: resume


def _weights(out: Path) -> dict:
    return checkpoints.load_checkpoint(out / "checkpoint.pt")["model_state"]


def test_cli_resume_keeps_the_optimiser_and_reproduces_the_uninterrupted_run(tmp_path, capsys):
    whole, split = tmp_path / "whole", tmp_path / "split"
    assert train(capsys, "--epochs", "2", "--out", str(whole))[0] == 0
    assert train(capsys, "--epochs", "1", "--out", str(split))[0] == 0
    assert checkpoints.load_checkpoint(split / "checkpoint.pt")["optimizer_state"] is not None
    assert train(capsys, "--epochs", "2", "--out", str(split), "--resume")[0] == 0
    a, b = (json.loads((o / "history.json").read_text()) for o in (whole, split))
    assert a["train_elbo"] == b["train_elbo"] and a["test_elbo"] == b["test_elbo"]
    wa, wb = _weights(whole), _weights(split)
    assert all(torch.equal(wa[k], wb[k]) for k in wa)


def _fit(path, resume=False, stop_epoch=0):
    """The run the child process below makes, in this process (the same data, model and seed)."""
    from vaecourse import train as T
    from vaecourse.models import VAE

    x = torch.rand(200, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    torch.manual_seed(0)
    model = VAE(64, 16, 2, (1, 8, 8))
    return T.fit(model, x, T.TrainConfig(epochs=3, batch_size=40, lr=1e-2, binarize="grey"), x[:40],
                 checkpoint=path, resume=resume, progress=False)


INTERRUPTED = """
    import os, signal, sys, torch
    # Ctrl-C as in a terminal: a job started in the background (CI) may begin with SIGINT ignored.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    from vaecourse import train as T
    from vaecourse.models import VAE
    for stop_epoch, path in ((1, sys.argv[1]), (2, sys.argv[2])):
        x = torch.rand(200, 1, 8, 8, generator=torch.Generator().manual_seed(0))
        torch.manual_seed(0)
        model = VAE(64, 16, 2, (1, 8, 8))
        def ctrl_c(epoch, batch, loss):
            if epoch == stop_epoch and batch == 2:
                os.kill(os.getpid(), signal.SIGINT)  # a real Ctrl-C, in the middle of an epoch
        h = T.fit(model, x, T.TrainConfig(epochs=3, batch_size=40, lr=1e-2, binarize="grey"), x[:40],
                  checkpoint=path, progress=False, callback=ctrl_c)
        print(h.interrupted, h.epoch)
"""


def test_sigint_mid_epoch_leaves_the_last_epoch_boundary_and_resume_is_exact(tmp_path):
    whole = tmp_path / "whole.pt"
    _fit(whole)
    paths = [tmp_path / "stop1.pt", tmp_path / "stop2.pt"]
    run = subprocess.run([sys.executable, "-W", "ignore", "-c", textwrap.dedent(INTERRUPTED), *map(str, paths)],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0 and run.stdout.split() == ["True", "[]", "True", "[1]"], (run.stdout, run.stderr)
    for stop_epoch, path in zip((1, 2), paths):
        assert f"holds the end of epoch {stop_epoch - 1}" in run.stderr
        stopped = checkpoints.load_checkpoint(path)
        assert stopped["epoch"] == stop_epoch - 1 and stopped["history"]["epoch"] == list(range(1, stop_epoch))
        resumed = _fit(path, resume=True)
        a, b = checkpoints.load_checkpoint(whole), checkpoints.load_checkpoint(path)
        assert resumed.epoch == [1, 2, 3] and a["history"]["train_elbo"] == b["history"]["train_elbo"]
        assert all(torch.equal(a["model_state"][k], b["model_state"][k]) for k in a["model_state"])


# ----------------------------------------------------------------------------- cause 5: tracebacks


@pytest.mark.parametrize("command", [["info"], ["check", "--only", "eq:kl-standard-normal"], ["train"],
                                     ["evaluate", "x.pt"]])
def test_a_misspelt_device_is_one_line_in_every_command(command, tmp_path, capsys):
    if command == ["train"]:
        command = [*TINY, "--out", str(tmp_path / "x")]
    if command == ["evaluate", "x.pt"]:
        command = ["evaluate", str(_forge(tmp_path / "x.pt"))]
    name, rest = command[0] if command[0] in cli.COMMANDS else "train", command[1:] if command[0] in cli.COMMANDS else command
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
    code, err = train(capsys, "--epochs", "1", "--out", str(out))
    assert code == 2
    one_line(err, "cannot write to --out")
    assert sorted(p.name for p in out.iterdir()) == before
    code, err = train(capsys, "--epochs", "1", "--out", "/proc/vaecourse-run")  # a folder no one can make
    assert code == 2
    one_line(err, "--out")


def test_a_full_disk_while_saving_is_one_line_and_leaves_no_temporary_file(tmp_path):
    out = tmp_path / "full"
    # The write test of --out is 9 KB: it passes; the checkpoint (~40 KB) then exceeds the size limit.
    code = f"""
        import resource, sys
        from vaecourse import cli
        resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, 20_000))
        sys.exit(cli.train({[*TINY, '--epochs', '1', '--out', str(out)]!r}))
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
    code, err = train(capsys, "--hidden", "100000", "--epochs", "1", "--out", str(tmp_path / "huge"))
    assert code == 2
    one_line(err, "GB")
    assert not (tmp_path / "huge").exists()


def _forge(path: Path, **changes) -> Path:
    from vaecourse.models import VAE
    from vaecourse.train import TrainConfig

    checkpoints.save_checkpoint(path, VAE(64, 8, 2, (1, 8, 8)), TrainConfig(epochs=1), epoch=1, complete=True,
                                extra={"dataset": "mnist"})
    ckpt = torch.load(path, weights_only=True)
    for key, value in changes.items():
        ckpt[key] = value(ckpt[key]) if callable(value) else value
    torch.save(ckpt, path)
    return path


@pytest.mark.parametrize("change, words", [
    ({"model_config": lambda c: {**c, "hidden": 100_000, "data_shape": [1, 28, 28]}}, ["GB"]),
    ({"model_config": lambda c: {k: v for k, v in c.items() if k != "data_shape"}}, ["missing", "data_shape"]),
    ({"model_config": lambda c: {**c, "depth": 3}}, ["unknown", "depth"]),
    ({"train_config": lambda c: {**c, "momentum": 0.9}}, ["unknown", "momentum"]),
    ({"model_config": lambda c: {**c, "latent_dim": "two"}}, ["latent_dim"]),
    ({"epoch": None}, ["epoch"]),
])
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
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", data.OfflineSubsetWarning)
        code = cli.main(["evaluate", str(path), "--iwae-k", "5", "--n-test", "10", "--dataset", "mnist"])
    assert code == 130
    one_line(capsys.readouterr().err, "interrupted")


@pytest.mark.parametrize("argv, word", [(["check", "--seed", "abc"], "--seed"), (["info", "--bogus"], "--bogus")])
def test_bad_arguments_are_one_line_and_exit_2(argv, word, capsys):
    assert cli.main(argv) == 2
    one_line(capsys.readouterr().err, word)


# ----------------------------------------------------------------------------- cause 6: misleading errors


def test_a_huge_learning_rate_ends_in_the_non_finite_loss_error_with_its_hint(tmp_path, capsys):
    code, err = train(capsys, "--epochs", "1", "--lr", "1e6", "--out", str(tmp_path / "lr"))
    assert code == 1
    one_line(err, "the training loss became", "Lower the learning rate")
    # the checkpoint it names exists and holds the start of the run (epoch 0), as the message says
    assert checkpoints.load_checkpoint(tmp_path / "lr" / "checkpoint.pt")["epoch"] == 0


# ----------------------------------------------------------------------------- cause 9: orphans


def test_a_checkpoint_write_killed_by_sigkill_leaves_an_orphan_that_the_next_write_removes(tmp_path):
    path = tmp_path / "ckpt.pt"
    code = f"""
        import os, signal, torch
        from vaecourse import checkpoints
        from vaecourse.models import VAE
        from vaecourse.train import TrainConfig
        real = torch.save
        def killed(obj, f, *a, **k):
            with open(f, "wb") as out:
                out.write(b"half a checkpoint")
            os.kill(os.getpid(), signal.SIGKILL)  # kill -9 in the middle of the write
        torch.save = killed
        checkpoints.save_checkpoint({str(path)!r}, VAE(64, 8, 2, (1, 8, 8)), TrainConfig(epochs=1))
    """
    run = child(code)
    assert run.returncode == -signal.SIGKILL
    orphans = list(tmp_path.glob(".ckpt.pt.*.tmp"))
    assert len(orphans) == 1 and not path.exists()
    from vaecourse.models import VAE
    from vaecourse.train import TrainConfig

    checkpoints.save_checkpoint(path, VAE(64, 8, 2, (1, 8, 8)), TrainConfig(epochs=1))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt.pt"]
    assert checkpoints.load_checkpoint(path)["epoch"] == 0
