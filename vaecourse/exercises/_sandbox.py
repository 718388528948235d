"""The grader's child process: runs one submission's answer cells, then observes its answers.

Started by :mod:`vaecourse.exercises.grade` as ``python -B -s -m vaecourse.exercises._sandbox FD`` from a
private, read-only copy of the package, in an empty working folder, with resource limits (memory,
CPU time, file size) and, where the kernel permits, no network namespace. Before any student code
runs it imports what the checks need and installs an audit hook (``sys.addaudithook``: it cannot be
removed) that refuses sockets, new processes, ``ctypes``, writing outside the working folder and
reading the course's text (``*.md``, ``*.ipynb``, ``book/``).

This process's copy of the package holds no check: ``vaecourse/exercises/`` has only ``_core`` (the
observing half) and this file, so no reference, expected value or solution is there to read.

Protocol (JSON lines): the parent writes ``{"cells": [...]}`` then, after this process says
``{"type": "ready"}`` on FD, one ``{"label", "name", "calls"}`` per exercise (the arguments themselves,
encoded: ``_core.encode_call``); this process answers each
with ``{"type": "observations", "label", "observations"}`` on FD. Before each cell it writes
``{"type": "cell", "index": i}``, so that the parent knows which cell killed it. Nothing here judges:
the parent compares the observations with its own reference, so whatever the student's code does in
this process (print "passed", replace the checks, write on FD) cannot earn a mark it did not compute.
"""

from __future__ import annotations

import json
import os
import signal
import sys

READ_BLOCKED = (".md", ".ipynb", ".myst")
BLOCKED_EVENTS = (
    "socket.",
    "subprocess.",
    "os.system",
    "os.exec",
    "os.posix_spawn",
    "os.spawn",
    "os.fork",
    "os.forkpty",
    "pty.",
    "ctypes.",
    "os.kill",
    "os.killpg",
    "signal.pthread_kill",
    "webbrowser.",
)
PATH_EVENTS = {
    "os.remove",
    "os.rename",
    "os.replace",
    "os.rmdir",
    "os.mkdir",
    "os.chmod",
    "os.chown",
    "os.link",
    "os.symlink",
    "os.truncate",
    "os.utime",
    "shutil.rmtree",
    "shutil.move",
    "shutil.copyfile",
    "shutil.copytree",
    "os.chdir",
    "os.chflags",
    "os.setxattr",
    "os.removexattr",
}
WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND


class CellTimeout(BaseException):
    """A cell ran past its time: raised in it by the interval timer."""


def install_guard(workdir: str, forbidden: list[str] = ()) -> None:  # noqa: C901 -- every rule of the sandbox in one hook, read in one place
    """The audit hook: no network, no processes, no ctypes; writes only in `workdir`; no course text and
    nothing under the `forbidden` folders (the grader's own package, the book, the tests) read."""
    root = os.path.realpath(workdir) + os.sep
    hidden = tuple(os.path.realpath(folder) + os.sep for folder in forbidden)

    def inside(path) -> bool:
        if isinstance(path, int):
            return True
        try:
            real = os.path.realpath(os.fsdecode(path))
        except (TypeError, ValueError):
            return False
        return (real + os.sep).startswith(root) or real == "/dev/null"

    def hook(event: str, args: tuple) -> None:
        if event == "open":
            path, mode, flags = args
            if isinstance(path, int) or path is None:
                return
            writing = (mode is not None and any(c in str(mode) for c in "wax+")) or bool((flags or 0) & WRITE_FLAGS)
            if writing and not inside(path):
                raise PermissionError(f"the grader allows writing only in the working folder, not {path}")
            name = os.fsdecode(path)
            real = os.path.realpath(name)
            if name.endswith(READ_BLOCKED) or f"{os.sep}book{os.sep}" in real or (real + os.sep).startswith(hidden):
                raise PermissionError(f"the grader does not let answers read the course's text or checks ({name})")
        elif event in PATH_EVENTS:
            for path in args:
                if isinstance(path, (str, bytes, os.PathLike)) and not inside(path):
                    raise PermissionError(f"the grader allows changing files only in the working folder ({event})")
        elif event.startswith(BLOCKED_EVENTS):
            raise PermissionError(f"the grader does not allow {event} (no network, no processes, no ctypes)")

    sys.addaudithook(hook)


def main(fd: int) -> int:
    channel = os.fdopen(fd, "w", buffering=1)
    requests = sys.stdin
    sys.stdin = open(os.devnull)  # noqa: SIM115 -- the student's input() reads nothing

    def say(message: dict) -> None:
        channel.write(json.dumps(message) + "\n")
        channel.flush()

    first = json.loads(requests.readline())
    cells, skip, cell_seconds = first["cells"], set(first["skip"]), first["cell_seconds"]
    forbidden = first.get("forbidden", [])

    # What the checks need, imported before the student's code can replace anything.
    import torch
    import torch.nn.functional  # noqa: F401

    from vaecourse import models  # noqa: F401
    from vaecourse.exercises._core import observe_calls

    install_guard(os.getcwd(), forbidden)

    def on_alarm(signum, frame):
        raise CellTimeout

    signal.signal(signal.SIGALRM, on_alarm)
    namespace: dict = {"__name__": "__main__"}
    for index, source in enumerate(cells):
        if index in skip:
            continue
        say({"type": "cell", "index": index})
        signal.setitimer(signal.ITIMER_REAL, cell_seconds)
        try:
            exec(compile(source, f"<answer cell {index + 1}>", "exec"), namespace)  # noqa: S102
        except CellTimeout:
            say({"type": "cell_error", "index": index, "error": f"ran past {cell_seconds:g} s"})
        except BaseException as exc:  # noqa: BLE001 -- SystemExit, MemoryError, anything a cell raises
            say({"type": "cell_error", "index": index, "error": f"{type(exc).__name__}: {str(exc)[:200]}"})
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
    say({"type": "ready"})
    for line in requests:
        request = json.loads(line)
        answer = namespace.get(request["name"])
        signal.setitimer(signal.ITIMER_REAL, cell_seconds)
        try:
            observations = observe_calls(answer, request["calls"]) if answer not in (None, Ellipsis) else None
        except CellTimeout:
            observations = [{"kind": "error", "error": f"TimeoutError: your answer ran past {cell_seconds:g} s"}]
        except BaseException as exc:  # noqa: BLE001
            observations = [{"kind": "error", "error": f"{type(exc).__name__}: {str(exc)[:200]}"}]
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
        say({"type": "observations", "label": request["label"], "observations": observations})
    return 0


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1])))
