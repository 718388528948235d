"""The limits this process really has: the memory it may use and the CPUs it may run on.

A container (Binder, a JupyterHub, a CI runner) or an HPC login node gives a process less than the
host's RAM and cores, and says so only in the kernel's files:

- memory: min(host RAM, the cgroup limit of the process's own cgroup and its parents -- v2
  ``memory.max``, v1 ``memory.limit_in_bytes`` --, the address-space limit ``RLIMIT_AS``
  (``ulimit -v``)); :func:`memory_limit`. ``"max"`` and v1's huge sentinel values mean no limit.
- CPUs: min(the affinity mask, ceil(quota / period) of the cgroup's CPU quota -- v2 ``cpu.max``, v1
  ``cpu.cfs_quota_us`` / ``cpu.cfs_period_us`` --), at least 1; :func:`cpu_limit`.

The cgroup of the process is found from ``/proc/self/cgroup`` and the mount points of
``/proc/self/mountinfo``; every reader takes a ``root`` folder, so that a test can point it at a fake
``/proc`` and ``/sys/fs/cgroup`` tree. torch starts one thread per core of the *host*: under a 1-CPU
quota on a 64-core node that is 64 threads time-slicing one CPU. :func:`size_torch_threads` lowers
torch's intra-op thread pool to the CPUs granted, once (``vaecourse.validation``, which every module
that computes imports, and ``device.default_device`` call it); it never raises a count and leaves an
``OMP_NUM_THREADS`` choice alone. Only the standard library here: ``import vaecourse`` stays light.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

from vaecourse import settings

__all__ = ["Limit", "cgroup_folders", "cpu_limit", "memory_limit", "size_torch_threads", "threads"]

NO_LIMIT = 2**62  # v1 reports "no limit" as a huge number (9223372036854771712): anything above this

_PHRASES = {  # how a message names the limit that binds (see Limit.phrase)
    "host RAM": "of memory of this cpu",
    "RLIMIT_AS": "this process may use (RLIMIT_AS, ulimit -v)",
}


@dataclass(frozen=True)
class Limit:
    """A limit and where it comes from: ``Limit(1_000_000_000, "cgroup memory.max")``.

    ``value`` is bytes for :func:`memory_limit`, CPUs for :func:`cpu_limit`; ``source`` names the
    file or call that set it (``"host RAM"``, ``"RLIMIT_AS"``, ``"cgroup memory.max"``, ``"affinity
    mask"``, ``"cgroup cpu.max"``, ...).
    """

    value: int
    source: str

    def phrase(self) -> str:
        """The words after "the M GB" in a message: ``"this container may use (cgroup memory.max)"``."""
        if self.source in _PHRASES:
            return _PHRASES[self.source]
        return f"this container may use ({self.source})"


# ----------------------------------------------------------------------------- finding the cgroup


def _unescape(field: str) -> str:
    """A mountinfo path field: spaces, tabs, newlines and backslashes are written as octal escapes."""
    for code, char in (("\\040", " "), ("\\011", "\t"), ("\\012", "\n"), ("\\134", "\\")):
        field = field.replace(code, char)
    return field


def _mounts(root: Path) -> list[tuple[str, str, str, set[str]]]:
    """The cgroup mounts: (fstype, root inside the hierarchy, mount point, super options)."""
    try:
        lines = (root / "proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return []
    mounts = []
    for line in lines:
        left, sep, right = line.partition(" - ")
        fields, tail = left.split(), right.split()
        if not sep or len(fields) < 5 or len(tail) < 1 or tail[0] not in ("cgroup", "cgroup2"):
            continue
        options = set(tail[2].split(",")) if len(tail) > 2 else set()
        mounts.append((tail[0], _unescape(fields[3]), _unescape(fields[4]), options))
    return mounts


def cgroup_folders(controller: str, root="/") -> list[tuple[Path, str]]:
    """The folders of this process's cgroup for ``controller`` ("memory", "cpu"), innermost first.

    Returns ``[(folder, version), ...]`` from the process's own cgroup up to the root of the mounted
    hierarchy (a limit of a parent cgroup binds its children too), ``version`` being ``"v2"`` or
    ``"v1"``; both when a hybrid system mounts both. Empty without cgroups (or without ``/proc``).
    """
    root = Path(root)
    try:
        lines = (root / "proc/self/cgroup").read_text().splitlines()
    except OSError:
        return []
    mounts = _mounts(root)
    found = []
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, path = parts
        if controllers == "":  # v2: "0::/path"
            candidates = [m for m in mounts if m[0] == "cgroup2"]
            version = "v2"
        elif controller in controllers.split(","):
            candidates = [m for m in mounts if m[0] == "cgroup" and controller in m[3]]
            version = "v1"
        else:
            continue
        for _, inside, mountpoint, _ in candidates[:1]:
            top = root / mountpoint.lstrip("/")
            # The mount shows the hierarchy from `inside` down (a container sees its own cgroup as "/").
            relative = path[len(inside) :] if path.startswith(inside) else ""
            folder = top.joinpath(*[p for p in relative.split("/") if p and p != ".."])
            chain = [folder, *[p for p in folder.parents if p == top or top in p.parents]]
            found += [(one, version) for one in chain]
    return found


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


# ----------------------------------------------------------------------------- memory


def _host_memory(root: Path) -> int:
    """The host's RAM in bytes: ``MemTotal`` of ``/proc/meminfo``, else ``sysconf`` (2**62 if unknown)."""
    text = _read(root / "proc/meminfo") or ""
    for line in text.splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) * 1024
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):  # not a POSIX system: no limit known
        return NO_LIMIT


def _address_space_limit() -> int | None:
    """The soft ``RLIMIT_AS`` in bytes, or None when unlimited (or on a system without it)."""
    try:
        import resource
    except ImportError:  # Windows
        return None
    soft = resource.getrlimit(resource.RLIMIT_AS)[0]
    return None if soft == resource.RLIM_INFINITY or soft < 0 else int(soft)


def memory_limit(root="/") -> Limit:
    """The memory this process may really use, in bytes, and which limit it is.

    min(host RAM, the memory limit of the process's cgroup and its parents -- v2 ``memory.max``, v1
    ``memory.limit_in_bytes``, "max" or a value above 2**62 meaning none --, ``RLIMIT_AS``). ``root``
    is the folder holding ``proc/`` and ``sys/fs/cgroup/`` (a fake tree in the tests; ``RLIMIT_AS``
    is always this process's own).

    >>> memory_limit().value > 0
    True
    """
    root = Path(root)
    best = Limit(_host_memory(root), "host RAM")
    for folder, version in cgroup_folders("memory", root):
        name = "memory.max" if version == "v2" else "memory.limit_in_bytes"
        text = _read(folder / name)
        if text is None or not text.isdigit() or int(text) >= NO_LIMIT:  # "max", missing, v1's sentinel
            continue
        if int(text) < best.value:
            best = Limit(int(text), f"cgroup {name}")
    limit = _address_space_limit()
    if limit is not None and limit < best.value:
        best = Limit(limit, "RLIMIT_AS")
    return best


# ----------------------------------------------------------------------------- CPUs


def _affinity() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # macOS, Windows
        return os.cpu_count() or 1


def _quota(folder: Path, version: str) -> tuple[float, str] | None:
    """CPUs a cgroup folder's quota allows (quota / period), and the file; None without a quota."""
    if version == "v2":
        fields = (_read(folder / "cpu.max") or "").split()
        if len(fields) == 2 and fields[0] != "max":
            quota, period, name = fields[0], fields[1], "cpu.max"
        else:
            return None
    else:
        quota, period = _read(folder / "cpu.cfs_quota_us"), _read(folder / "cpu.cfs_period_us")
        name = "cpu.cfs_quota_us"
    try:
        quota, period = int(quota), int(period)
    except (TypeError, ValueError):
        return None
    return (quota / period, name) if quota > 0 and period > 0 else None  # v1: -1 means no quota


def cpu_limit(root="/", affinity: int | None = None) -> Limit:
    """The CPUs this process may really use, and which limit it is.

    min(the affinity mask (``os.sched_getaffinity``; ``affinity`` overrides it), ceil(quota / period)
    of the CPU quota of the process's cgroup and its parents -- v2 ``cpu.max``, v1
    ``cpu.cfs_quota_us`` / ``cpu.cfs_period_us`` --), at least 1. A quota of 1.5 CPUs gives 2.

    >>> cpu_limit().value >= 1
    True
    """
    best = Limit(max(1, affinity if affinity is not None else _affinity()), "affinity mask")
    for folder, version in cgroup_folders("cpu", root):
        quota = _quota(folder, version)
        if quota is None:
            continue
        cpus = max(1, math.ceil(quota[0] - 1e-9))  # 1.5 CPUs of time: two threads can use it
        if cpus < best.value:
            best = Limit(cpus, f"cgroup {quota[1]}")
    return best


# ----------------------------------------------------------------------------- torch's threads

_threads: tuple[int, str] | None = None  # (threads after sizing, why), set once by size_torch_threads


def size_torch_threads() -> tuple[int, str]:
    """Lower torch's intra-op thread count to the CPUs granted (:func:`cpu_limit`), once per process.

    Returns ``(threads, why)``. Left alone: a count already at or below the CPUs granted (a user's
    ``torch.set_num_threads(1)``), and any count when ``OMP_NUM_THREADS`` is set (torch read it at
    start-up). Later calls change nothing, so a ``torch.set_num_threads`` after the first use of the
    package stands.
    """
    global _threads
    if _threads is None:
        import torch

        granted = cpu_limit()
        chosen = settings.thread_count()
        if chosen is not None:
            _threads = (torch.get_num_threads(), "OMP_NUM_THREADS")
        elif torch.get_num_threads() > granted.value:
            torch.set_num_threads(granted.value)
            _threads = (granted.value, "sized to the CPUs granted")
        else:
            _threads = (torch.get_num_threads(), "torch's default, within the CPUs granted")
    return _threads


def threads() -> str:
    """One line for ``python -m vaecourse info``: CPUs granted and torch's threads, with the reasons."""
    import torch

    granted = cpu_limit()
    _, why = size_torch_threads()
    return (
        f"{granted.value} granted ({granted.source}); torch uses {torch.get_num_threads()} "
        f"thread{'s' if torch.get_num_threads() != 1 else ''} ({why})"
    )
