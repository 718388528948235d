"""Child processes under real limits -- a cgroup made by the test, an address-space limit -- for the tests
of memory guards (tests/test_resources.py, test_cli.py, test_evaluate.py, ising/test_sampler.py)."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.paths import ROOT
from vaecourse import resources

GB = 1_000_000_000


def run_child(argv: list[str], preexec_fn=None, env=None, timeout: int = 300) -> subprocess.CompletedProcess:
    """``python -W ignore ARGV`` from the repository root, with this package on the path; output captured."""
    environment = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    environment.pop("OMP_NUM_THREADS", None)
    return subprocess.run(
        [sys.executable, "-W", "ignore", *argv],
        check=False,
        capture_output=True,
        text=True,
        timeout=timeout,
        preexec_fn=preexec_fn,
        env=environment,
        cwd=ROOT,
    )


def address_space(nbytes: int):
    """A ``preexec_fn`` setting ``RLIMIT_AS`` (``ulimit -v``) to ``nbytes`` in the child."""

    def limit():
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (nbytes, nbytes))

    return limit


def make_cgroup(memory: int, cpus: int | None = None) -> tuple[list[Path], str]:
    """Cgroup folders (v2: one; v1: memory, and cpu when ``cpus``) limiting ``memory`` bytes (no swap) and
    ``cpus`` CPUs, made below the test's own cgroups (so no limit of the machine is escaped). Skips, saying
    why, where that is not possible."""
    if os.geteuid() != 0:
        pytest.skip("making a cgroup needs root")
    name = f"vaecourse-test-{uuid.uuid4().hex[:8]}"
    wanted = {"memory", "cpu"} if cpus else {"memory"}
    v2 = [(f, v) for f, v in resources.cgroup_folders("memory") if v == "v2"][:1]
    if v2 and wanted <= set((v2[0][0] / "cgroup.controllers").read_text().split()):
        own = v2[0][0]
        try:
            (own / "cgroup.subtree_control").write_text(" ".join(f"+{c}" for c in sorted(wanted)))
            folder = own / name
            folder.mkdir()
        except OSError as error:
            pytest.skip(f"cannot make a cgroup v2 below {own} ({error.strerror})")
        (folder / "memory.max").write_text(str(memory))
        with contextlib.suppress(OSError):  # no swap: the limit is the memory's
            (folder / "memory.swap.max").write_text("0")
        if cpus:
            (folder / "cpu.max").write_text(f"{cpus * 100000} 100000")
        return [folder], "v2"
    v1 = {c: [f for f, v in resources.cgroup_folders(c) if v == "v1"][:1] for c in sorted(wanted)}
    if not all(v1.values()):
        pytest.skip(f"neither a cgroup v2 with the {' and '.join(sorted(wanted))} controllers nor v1 hierarchies")
    folders = [v1[c][0] / name for c in sorted(wanted)]  # cpu before memory
    try:
        for folder in folders:
            folder.mkdir()
    except OSError as error:
        pytest.skip(f"cannot make a cgroup v1 ({error.strerror})")
    memory_folder = v1["memory"][0] / name
    (memory_folder / "memory.limit_in_bytes").write_text(str(memory))
    with contextlib.suppress(OSError):  # no swap: the limit is the memory's (memsw exists with swap accounting)
        (memory_folder / "memory.memsw.limit_in_bytes").write_text(str(memory))
    if cpus:
        cpu_folder = v1["cpu"][0] / name
        (cpu_folder / "cpu.cfs_period_us").write_text("100000")
        (cpu_folder / "cpu.cfs_quota_us").write_text(str(cpus * 100000))
    return folders, "v1"


@dataclass
class Cgroup:
    """A cgroup made by :func:`cgroup`: ``join`` is the ``preexec_fn`` that puts a child in it."""

    folders: list[Path]
    version: str

    def join(self) -> None:
        for folder in self.folders:
            (folder / "cgroup.procs").write_text(str(os.getpid()))

    @property
    def limit_file(self) -> str:
        return "memory.max" if self.version == "v2" else "memory.limit_in_bytes"

    def peak(self) -> int | None:
        """The most memory its processes held at once, in bytes (None where the kernel does not say)."""
        name = "memory.peak" if self.version == "v2" else "memory.max_usage_in_bytes"
        for folder in self.folders:
            with contextlib.suppress(OSError, ValueError):
                return int((folder / name).read_text())
        return None


@contextlib.contextmanager
def cgroup(memory: int, cpus: int | None = None):
    """A fresh cgroup (:func:`make_cgroup`) for the block, as a :class:`Cgroup`; removed afterwards."""
    made = Cgroup(*make_cgroup(memory, cpus))
    try:
        yield made
    finally:
        for folder in made.folders:
            folder.rmdir()


def was_oom_killed(run: subprocess.CompletedProcess) -> bool:
    """Whether the child was killed by a signal (the kernel's OOM killer sends SIGKILL)."""
    return run.returncode < 0
