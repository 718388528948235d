"""The instructors' grader: ``python -m vaecourse grade FOLDER --out scores.csv``.

Every ``*.ipynb`` under FOLDER is one submission (``FOLDER/<student>/<chapter>.ipynb``, or
``FOLDER/<name>.ipynb`` with the file's name as the student). For each, the grader

1. reads the notebook as JSON (nothing in it is executed here) and keeps only its *answer cells*,
   the code cells tagged ``answer`` (the stubs the course puts after each exercise): Markdown, and
   with it the folded solutions, never reaches the student's code;
2. runs those cells in a child process (:mod:`vaecourse.exercises._sandbox`) started from a private,
   read-only copy of the package in an empty folder, with a time limit per cell and per submission,
   a memory limit (``RLIMIT_AS``), a CPU-time and a file-size limit, a network namespace of its own
   where the kernel permits (else socket creation is refused by an audit hook installed before the
   student's code runs), and an audit hook that refuses new processes, ``ctypes``, writes outside its
   folder and reads of the course's text;
3. sends the child fresh random inputs for each exercise *after* the student's code has run, and
   judges the values it gets back with its own copy of the checks, imported here before any
   submission ran. The score comes from that judgement only: what the child prints, and anything the
   student's code does to the checks in the child, cannot earn a mark; a forged reply must contain
   the right values at inputs chosen after the code ran, which only a right answer computes.

A cell that loops is stopped at its time limit; a cell that kills its process (``os._exit``, a
crash, memory) is skipped and the submission run again without it; a submission past its total
time is killed with its process group. The package's files are fingerprinted before and after each
submission; a change stops the grading with an error (it cannot happen through the audit hook).

The table (CSV): ``student, notebook, exercise, score, message`` per student and exercise, one row per
checked exercise of the chapter(s) the notebook answers, and a ``notes`` column with what happened to
the submission (cells that failed, limits reached).

Limitations, stated: the audit hook is Python-level; code that reaches native code another way
than ``ctypes`` (a compiled extension shipped with the submission cannot be, since only cells run)
could escape it, which is why the network namespace and resource limits come first. An answer that
calls the package's own function for the quantity (``vaecourse.kl``...) passes; such cells are named
in ``notes`` for the instructor to read.
"""

from __future__ import annotations

import ast
import csv
import ctypes
import hashlib
import io
import json
import os
import random
import resource
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import vaecourse

PACKAGE = Path(vaecourse.__file__).resolve().parent
CLONE_NEWUSER, CLONE_NEWNET = 0x10000000, 0x40000000
OUTPUT_LIMIT = 64 * 2**20  # bytes a submission may write (RLIMIT_FSIZE)


@dataclass
class Limits:
    """The limits one submission runs under."""

    seconds: float = 120.0  # the whole submission, wall clock
    cell_seconds: float = 30.0  # one answer cell, or one exercise's observation
    memory_bytes: int = 3 * 2**30  # RLIMIT_AS of the child
    cpu_seconds: int = 240  # RLIMIT_CPU of the child


@dataclass
class Row:
    student: str
    notebook: str
    exercise: str
    score: int
    message: str
    notes: str = ""


@dataclass
class Run:
    """What one child process did: the cell it was in when it ended, cell errors, observations."""

    last_cell: int | None = None
    ready: bool = False
    cell_errors: dict = field(default_factory=dict)
    observations: dict = field(default_factory=dict)
    ended: str = ""  # why it ended early: "time", "died (signal 9)", ...


def answer_cells(notebook_path: Path) -> list[str]:
    """The sources of the notebook's code cells tagged ``answer`` (JSON only; nothing is executed)."""
    data = json.loads(notebook_path.read_text(encoding="utf-8"))
    cells = []
    for cell in data.get("cells", []):
        tags = (cell.get("metadata") or {}).get("tags") or []
        if cell.get("cell_type") == "code" and "answer" in tags:
            source = cell.get("source", "")
            cells.append("".join(source) if isinstance(source, list) else str(source))
    return cells


def answered(cells: list[str], exercises: dict) -> dict[str, str]:
    """{label: the name of the student's answer}: the argument of each ``check_...(name)`` call in the
    cells (the name the stub uses when the call is missing), for every exercise of the chapters the
    cells answer."""
    by_check = {e.check_name: e for e in exercises.values()}
    names, chapters = {}, set()
    for source in cells:
        try:
            tree = ast.parse(source)
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in by_check:
                exercise = by_check[node.func.id]
                chapters.add(exercise.chapter)
                if node.args and isinstance(node.args[0], ast.Name):
                    names[exercise.label] = node.args[0].id
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                for alias in node.names:
                    if alias.name in by_check:
                        chapters.add(by_check[alias.name].chapter)
    for label, exercise in exercises.items():
        if exercise.chapter in chapters and label not in names:
            names[label] = stub_name(exercise.stub)
    return names


def stub_name(stub: str) -> str:
    """The name a stub defines: ``def kl_diag(...)`` -> kl_diag, ``beta = ...`` -> beta."""
    for node in ast.parse(stub).body:
        if isinstance(node, ast.FunctionDef):
            return node.name
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
            return node.targets[0].id
    raise ValueError(f"the stub defines no name: {stub!r}")


def uses_package(cells: list[str]) -> bool:
    """Whether the cells import vaecourse beyond its checks (the instructor may want to read them)."""
    for source in cells:
        try:
            tree = ast.parse(source)
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.ImportFrom)
                and (node.module or "").startswith("vaecourse")
                and not (node.module or "").startswith("vaecourse.exercises")
            ):
                return True
            if isinstance(node, ast.Import) and any(
                a.name.startswith("vaecourse") and not a.name.startswith("vaecourse.exercises") for a in node.names
            ):
                return True
    return False


def fingerprint(folder: Path) -> str:
    """A hash of every file under folder (names and contents), caches left out."""
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            digest.update(str(path.relative_to(folder)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


SANDBOX_EXERCISE_FILES = {"_core.py", "_sandbox.py"}
SANDBOX_INIT = '''"""The grader's sandbox copy: the observing half only (_core), no check, no expected value.
The checks a notebook calls are stand-ins here: the grader judges, in its own process."""


def _graded_later(answer=None, **options):
    print("(checked by the grader)")


'''


def _private_package(root: Path, check_names: list[str]) -> Path:
    """A read-only copy of the package under root/pkg (what the child imports), whose ``exercises/``
    holds only the observing half: no reference, no expected value, no self-test answer."""
    target = root / "pkg" / "vaecourse"

    def ignore(folder: str, names: list[str]) -> list[str]:
        dropped = [n for n in names if n == "__pycache__" or n.endswith(".pyc")]
        if Path(folder).resolve() == PACKAGE / "exercises":
            dropped += [n for n in names if n not in SANDBOX_EXERCISE_FILES]
        return dropped

    shutil.copytree(PACKAGE, target, ignore=ignore)
    (target / "exercises" / "__init__.py").write_text(
        SANDBOX_INIT + "".join(f"{name} = _graded_later\n" for name in sorted(check_names))
    )
    for path in sorted(target.parent.rglob("*"), reverse=True):
        path.chmod(0o555 if path.is_dir() else 0o444)
    target.parent.chmod(0o555)
    return target.parent


def forbidden_folders() -> list[str]:
    """What a submission may not read: the grader's own package (its checks hold the expected values),
    and the repository's book, notebooks and tests where the package lives in one."""
    repository = PACKAGE.parent
    return [
        str(PACKAGE),
        *(str(repository / name) for name in ("book", "notebooks", "tests", "scripts") if (repository / name).is_dir()),
    ]


def network_isolation_available() -> bool:
    """Whether this kernel lets an unprivileged process take a network namespace of its own."""
    code = "import socket; s = socket.socket(); print(s.connect_ex(('127.0.0.1', 9)))"
    probe = subprocess.run(
        [sys.executable, "-c", code],
        preexec_fn=_unshare_network,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return probe.returncode == 0 and probe.stdout.strip() == "101"  # ENETUNREACH: no interface at all


def _unshare_network() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(CLONE_NEWUSER | CLONE_NEWNET) != 0:
        raise OSError(ctypes.get_errno(), "unshare(CLONE_NEWNET) refused")


def _child_setup(limits: Limits, isolate: bool):
    def setup() -> None:
        os.setsid()  # its own process group: killed as a whole
        if isolate:
            try:
                _unshare_network()
            except OSError:
                pass  # the audit hook still refuses sockets
        resource.setrlimit(resource.RLIMIT_AS, (limits.memory_bytes, limits.memory_bytes))
        resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_seconds, limits.cpu_seconds))
        resource.setrlimit(resource.RLIMIT_FSIZE, (OUTPUT_LIMIT, OUTPUT_LIMIT))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

    return setup


def _receive(run: Run, line: bytes, child: subprocess.Popen, pending: list[dict], requests: list[dict]) -> None:
    """Take in one line from the child's channel; once it is ready, send it the `pending` requests."""
    try:
        message = json.loads(line)
    except ValueError:
        return
    if not isinstance(message, dict):
        return
    kind = message.get("type")
    if kind == "cell" and not run.ready:
        run.last_cell = message.get("index")
    elif kind == "cell_error" and not run.ready:
        run.cell_errors[message.get("index")] = str(message.get("error"))[:200]
    elif kind == "ready" and not run.ready:
        run.ready, run.last_cell = True, None
        for request in pending:
            child.stdin.write((json.dumps(request) + "\n").encode())
        child.stdin.close()
    elif kind == "observations" and run.ready:
        label = message.get("label")
        if label in {r["label"] for r in requests} and label not in run.observations:
            run.observations[label] = message.get("observations")


def _end_reason(code: int) -> str:
    """Why the child ended, from its exit code."""
    return (
        "reached the CPU time limit"
        if code == -signal.SIGXCPU
        else f"ended with exit code {code}"
        if code >= 0
        else f"was killed by signal {-code}"
    )


def _serve(run: Run, child: subprocess.Popen, read_fd: int, deadline: float, requests: list[dict]) -> None:
    """Read the child's channel until it has answered every request, has ended, or the deadline has passed."""
    buffer = b""
    pending = list(requests)
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            run.ended = "time"
            break
        ready, _, _ = select.select([read_fd], [], [], min(left, 1.0))
        if not ready:
            if child.poll() is not None:
                break
            continue
        chunk = os.read(read_fd, 65536)
        if not chunk:
            break
        buffer += chunk
        if len(buffer) > 32 * 2**20:
            run.ended = "too much output on the grader's channel"
            break
        *lines, buffer = buffer.split(b"\n")
        for line in lines:
            _receive(run, line, child, pending, requests)
        if run.ready and len(run.observations) == len(requests):
            break


def run_child(
    cells: list[str], skip: set[int], requests: list[dict], limits: Limits, isolate: bool, check_names: list[str]
) -> Run:
    """Run the cells (but `skip`) in a fresh sandboxed child; send `requests` once it is ready."""
    run = Run()
    with tempfile.TemporaryDirectory(prefix="vaecourse-grade-") as tmp:
        root = Path(tmp)
        package = _private_package(root, check_names)
        work = root / "work"
        work.mkdir()
        read_fd, write_fd = os.pipe()
        env = {
            "PATH": "/usr/bin:/bin",
            "HOME": str(work),
            "TMPDIR": str(work),
            "PYTHONPATH": str(package),
            "PYTHONDONTWRITEBYTECODE": "1",
            "OMP_NUM_THREADS": "1",
            "MKL_NUM_THREADS": "1",
            "VAECOURSE_OFFLINE": "1",
            "LANG": "C.UTF-8",
        }
        stdout = open(root / "stdout", "wb")  # noqa: SIM115 -- closed below
        child = subprocess.Popen(
            [sys.executable, "-B", "-s", "-m", "vaecourse.exercises._sandbox", str(write_fd)],
            stdin=subprocess.PIPE,
            stdout=stdout,
            stderr=subprocess.STDOUT,
            cwd=work,
            env=env,
            pass_fds=(write_fd,),
            preexec_fn=_child_setup(limits, isolate),
        )  # noqa: PLW1509 -- one thread here
        os.close(write_fd)
        deadline = time.monotonic() + limits.seconds
        try:
            child.stdin.write(
                (
                    json.dumps(
                        {
                            "cells": cells,
                            "skip": sorted(skip),
                            "cell_seconds": limits.cell_seconds,
                            "forbidden": forbidden_folders(),
                        }
                    )
                    + "\n"
                ).encode()
            )
            child.stdin.flush()
            _serve(run, child, read_fd, deadline, requests)
        except (BrokenPipeError, OSError):
            pass
        finally:
            os.close(read_fd)
            try:
                os.killpg(child.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            code = child.wait()
            stdout.close()
            try:
                child.stdin.close()
            except OSError:
                pass
            for path in [package, *package.rglob("*")]:
                path.chmod(0o755 if path.is_dir() else 0o644)  # so that the folder can be removed
            if not run.ended and not (run.ready and len(run.observations) == len(requests)):
                run.ended = _end_reason(code)
    return run


def _verdict(label: str, exercise, name: str, cases: list, run: Run) -> tuple[int, str]:
    """(score, message) for the answer to `label`, named `name`, from what the child observed of it."""
    observations = run.observations.get(label)
    if observations is None and run.ready and label in run.observations:
        return (0, f"no answer: `{name}` is not defined by the answer cells, or is still `...`")
    if observations is None:
        return (
            0,
            "not graded: the submission stopped before this answer was observed"
            if not run.ready or run.ended
            else f"no answer: `{name}` is not defined",
        )
    if (
        not isinstance(observations, list)
        or len(observations) != len(cases)
        or not all(isinstance(o, dict) for o in observations)
    ):
        first = (
            observations[0]
            if isinstance(observations, list) and observations and isinstance(observations[0], dict)
            else {}
        )
        return (
            0,
            f"your code raised {first['error']}"
            if first.get("kind") == "error"
            else "the answer could not be observed",
        )
    try:
        verdict = exercise.judge(cases, observations)
        return (int(verdict.passed), verdict.message)
    except Exception as error:  # noqa: BLE001 -- malformed observations earn nothing
        return (0, f"the answer could not be judged ({type(error).__name__})")


def grade_notebook(path: Path, limits: Limits, isolate: bool, exercises: dict) -> tuple[dict, list[str]]:
    """{label: Verdict-like (score, message)} and notes for one submission."""
    notes: list[str] = []
    try:
        cells = answer_cells(path)
    except (OSError, ValueError, UnicodeDecodeError) as error:
        return {}, [f"unreadable notebook: {type(error).__name__}: {error}"]
    names = answered(cells, exercises)
    if uses_package(cells):
        notes.append("answer cells import vaecourse beyond its checks: read them")
    seed = random.SystemRandom()
    cases = {label: exercises[label].cases(seed.randrange(2**31)) for label in names}
    requests = [
        {"label": label, "name": name, "calls": [exercises[label].encode_call(c) for c in cases[label]]}
        for label, name in names.items()
    ]
    skip: set[int] = set()
    started = time.monotonic()
    while True:
        run = run_child(
            cells,
            skip,
            requests,
            Limits(
                seconds=max(1.0, limits.seconds - (time.monotonic() - started)),
                cell_seconds=limits.cell_seconds,
                memory_bytes=limits.memory_bytes,
                cpu_seconds=limits.cpu_seconds,
            ),
            isolate,
            [e.check_name for e in exercises.values()],
        )
        for index, error in sorted(run.cell_errors.items(), key=lambda item: str(item[0])):
            note = f"answer cell {int(index) + 1 if isinstance(index, int) else index}: {error}"
            if note not in notes:
                notes.append(note)
        if (
            not run.ready
            and isinstance(run.last_cell, int)
            and run.last_cell not in skip
            and time.monotonic() - started < limits.seconds
        ):
            notes.append(f"answer cell {run.last_cell + 1} stopped the process ({run.ended}); run again without it")
            skip.add(run.last_cell)
            continue
        if run.ended and not run.ready:
            notes.append(f"the submission {run.ended}")
        break
    verdicts = {
        label: _verdict(label, exercise, names[label], cases[label], run)
        for label, exercise in exercises.items()
        if label in names
    }
    return verdicts, notes


def submissions(folder: Path) -> list[tuple[str, Path]]:
    """(student, notebook) for every notebook under folder, in name order."""
    found = []
    for path in sorted(folder.rglob("*.ipynb")):
        if ".ipynb_checkpoints" in path.parts:
            continue
        relative = path.relative_to(folder)
        student = relative.parts[0] if len(relative.parts) > 1 else path.stem
        found.append((student, path))
    return found


def grade_folder(folder: Path, limits: Limits | None = None, log=print) -> list[Row]:
    """Grade every submission under folder; return one row per student, notebook and exercise."""
    from vaecourse.exercises import exercises as load

    limits = limits or Limits()
    exercises = load()  # the grader's own checks, imported before any submission runs
    isolate = network_isolation_available()
    if not isolate:
        log("grade: this kernel refuses a private network namespace; sockets are refused by the audit hook only")
    before = fingerprint(PACKAGE)
    rows: list[Row] = []
    for student, path in submissions(folder):
        started = time.monotonic()
        verdicts, notes = grade_notebook(path, limits, isolate, exercises)
        after = fingerprint(PACKAGE)
        if after != before:
            raise RuntimeError(f"the package {PACKAGE} changed while grading {path}: stop, restore it and re-grade")
        name = str(path.relative_to(folder))
        if not verdicts:
            rows.append(
                Row(student, name, "", 0, "no answer cells found (code cells tagged 'answer')", "; ".join(notes))
            )
        for label, (score, message) in verdicts.items():
            rows.append(Row(student, name, label, score, message, "; ".join(notes)))
        log(
            f"grade: {name}: {sum(s for s, _ in verdicts.values())}/{len(verdicts)} "
            f"in {time.monotonic() - started:.1f} s"
        )
    return rows


def write_csv(rows: list[Row], out: Path) -> None:
    """The table, written atomically."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["student", "notebook", "exercise", "score", "message", "notes"])
    for row in rows:
        writer.writerow([row.student, row.notebook, row.exercise, row.score, row.message, row.notes])
    from vaecourse import cache  # imports torch: only when a table is written

    cache.write_atomically(out, lambda tmp: tmp.write_text(buffer.getvalue(), encoding="utf-8"))
