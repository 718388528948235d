"""The command line in odd environments: no home folder, an ASCII-only stdout, non-ASCII paths. Each
problem is one line (``vaecourse COMMAND: error: ...``) and finished work is never reported as failed."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

TINY = [
    "--hidden",
    "16",
    "--n-train",
    "100",
    "--n-test",
    "20",
    "--batch-size",
    "50",
    "--epochs",
    "1",
    "--no-figures",
    "--no-progress",
]

# A user id without a passwd entry: what os.path.expanduser and platformdirs meet in a container run
# with an arbitrary uid (OpenShift, `docker run --user 12345`).
NO_PASSWD_ENTRY = """
    import pwd, sys

    def no_entry(uid):
        raise KeyError(f"getpwuid(): uid not found: {uid}")

    pwd.getpwuid = no_entry
    from vaecourse import cli
    sys.exit(cli.main(sys.argv[1:]))
"""


def run(argv, env, code=None) -> subprocess.CompletedProcess:
    """``python -m vaecourse ARGV`` (or ``code`` with ARGV) in a child process with ``env`` changes (None: unset)."""
    environment = {**os.environ}
    for key, value in env.items():
        if value is None:
            environment.pop(key, None)
        else:
            environment[key] = value
    command = ["-c", textwrap.dedent(code)] if code else ["-m", "vaecourse"]
    return subprocess.run(
        [sys.executable, "-W", "ignore", *command, *argv],
        capture_output=True,
        timeout=300,
        check=False,
        env=environment,
    )


def one_line(err: bytes, command: str, *words: str) -> str:
    text = err.decode("utf-8", "replace").strip()
    assert len(text.splitlines()) == 1 and "Traceback" not in text, text
    assert text.startswith(f"vaecourse {command}: error: "), text
    for word in words:
        assert word in text, text
    return text


@pytest.mark.parametrize("command", ["info", "train"])
def test_no_home_folder_is_one_line(command, tmp_path):
    argv = [command] + ([*TINY, "--out", str(tmp_path / "run")] if command == "train" else [])
    done = run(argv, {"HOME": None, "VAECOURSE_CACHE": None, "XDG_CACHE_HOME": None}, NO_PASSWD_ENTRY)
    assert done.returncode == 1
    one_line(done.stderr, command, "no home folder", "set VAECOURSE_CACHE")
    assert not (tmp_path / "run" / "checkpoint.pt").exists()


ASCII = {"PYTHONIOENCODING": "ascii", "LANG": None, "LC_ALL": None}
C_LOCALE = {"PYTHONIOENCODING": None, "LANG": None, "LC_ALL": "C", "PYTHONUTF8": "0"}  # no UTF-8 mode


def test_train_and_evaluate_on_an_ascii_stdout_print_non_ascii_paths_and_exit_0(tmp_path):
    out = tmp_path / "résumé"
    trained = run(["train", *TINY, "--out", str(out)], ASCII)
    assert trained.returncode == 0, trained.stderr.decode()  # its work was done: not a failure
    assert (out / "checkpoint.pt").is_file() and (out / "history.json").is_file()
    text = trained.stdout.decode("ascii")  # ASCII indeed, the path escaped
    assert "trained VAE" in text and f"wrote {tmp_path}/r\\xe9sum\\xe9/checkpoint.pt" in text

    scored = run(["evaluate", str(out / "checkpoint.pt"), "--iwae-k", "3", "--n-test", "10", "--grid-size", "5"], ASCII)
    assert scored.returncode == 0, scored.stderr.decode()
    text = scored.stdout.decode("ascii")
    assert "r\\xe9sum\\xe9" in text and "log p(x), IWAE k=3" in text and "ELBO" in text  # the results


@pytest.mark.parametrize("encoding", [ASCII, C_LOCALE], ids=["PYTHONIOENCODING=ascii", "LC_ALL=C"])
def test_info_on_an_ascii_stdout_prints_a_non_ascii_cache_folder(encoding, tmp_path):
    info = run(["info"], {**encoding, "VAECOURSE_CACHE": str(tmp_path / "cäche")})
    assert info.returncode == 0, info.stderr.decode()
    lines = info.stdout.decode("ascii").splitlines()
    assert lines[0].startswith("vaecourse ") and any(line.startswith("device:") for line in lines)
    assert lines[-1].startswith(f"cache:  {tmp_path}/c\\") and lines[-1].endswith("che")
