"""vaecourse.resources: the memory and CPUs this process may really use (host, cgroup v1/v2, RLIMIT_AS,
affinity), torch's thread pool sized to them, and the one line the command line prints when memory runs out.

The cgroup readers are pointed at fake ``/proc`` and ``/sys/fs/cgroup`` trees the tests write; where the
machine allows it (root, a writable cgroup hierarchy), a child process is also run in a real cgroup.
"""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest
import torch

from tests.limits import GB, address_space, cgroup, run_child
from vaecourse import cli, resources, validation


def fake_tree(tmp_path: Path, cgroup: str, mountinfo: str, files: dict[str, str], ram_gb: int = 8) -> Path:
    """A fake root: ``proc/self/cgroup``, ``proc/self/mountinfo``, ``proc/meminfo`` and cgroup ``files``."""
    root = tmp_path / "root"
    (root / "proc/self").mkdir(parents=True)
    (root / "proc/self/cgroup").write_text(textwrap.dedent(cgroup).lstrip())
    (root / "proc/self/mountinfo").write_text(textwrap.dedent(mountinfo).lstrip())
    (root / "proc/meminfo").write_text(f"MemTotal:       {ram_gb * GB // 1024} kB\nMemFree:  1 kB\n")
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text + "\n")
    return root


V2_MOUNT = """
    22 1 8:1 / / rw,relatime - ext4 /dev/sda1 rw
    31 22 0:27 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate
"""
V2_SESSION = "0::/user.slice/session-4.scope\n"
LEAF, PARENT = "sys/fs/cgroup/user.slice/session-4.scope", "sys/fs/cgroup/user.slice"

# A Docker container on cgroup v1: the hierarchy is mounted from the container's own cgroup down.
V1_MOUNT = """
    600 500 0:60 / / rw - overlay overlay rw
    610 600 0:62 /docker/abc /sys/fs/cgroup/memory ro,nosuid - cgroup cgroup rw,memory
    611 600 0:63 /docker/abc /sys/fs/cgroup/cpu,cpuacct ro,nosuid - cgroup cgroup rw,cpu,cpuacct
"""
V1_CGROUP = """
    5:memory:/docker/abc
    4:cpu,cpuacct:/docker/abc
    0::/
"""


# ----------------------------------------------------------------------------- memory, fake trees


def test_v2_memory_max_of_the_own_cgroup_is_the_limit(tmp_path):
    root = fake_tree(
        tmp_path, V2_SESSION, V2_MOUNT, {f"{LEAF}/memory.max": "1000000000", f"{PARENT}/memory.max": "max"}
    )
    assert resources.memory_limit(root) == resources.Limit(GB, "cgroup memory.max")


def test_v2_a_parent_cgroup_limit_binds_its_children(tmp_path):
    root = fake_tree(
        tmp_path,
        V2_SESSION,
        V2_MOUNT,
        {f"{LEAF}/memory.max": "max", f"{PARENT}/memory.max": "2000000000", "sys/fs/cgroup/memory.max": "max"},
    )
    assert resources.memory_limit(root) == resources.Limit(2 * GB, "cgroup memory.max")


def test_v2_max_everywhere_leaves_the_host_ram(tmp_path):
    root = fake_tree(
        tmp_path, V2_SESSION, V2_MOUNT, {f"{LEAF}/memory.max": "max", f"{PARENT}/memory.max": "max"}, ram_gb=8
    )
    assert resources.memory_limit(root) == resources.Limit(8 * GB // 1024 * 1024, "host RAM")


def test_a_cgroup_limit_above_the_host_ram_is_not_the_limit(tmp_path):
    root = fake_tree(tmp_path, V2_SESSION, V2_MOUNT, {f"{LEAF}/memory.max": str(64 * GB)}, ram_gb=8)
    assert resources.memory_limit(root).source == "host RAM"


def test_v1_container_limit_and_the_no_limit_sentinel(tmp_path):
    files = {
        "sys/fs/cgroup/memory/memory.limit_in_bytes": "536870912",
        "sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us": "-1",
        "sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us": "100000",
    }
    root = fake_tree(tmp_path, V1_CGROUP, V1_MOUNT, files)
    assert resources.memory_limit(root) == resources.Limit(536870912, "cgroup memory.limit_in_bytes")
    (root / "sys/fs/cgroup/memory/memory.limit_in_bytes").write_text("9223372036854771712\n")  # v1's "none"
    assert resources.memory_limit(root).source == "host RAM"


def test_v1_a_cgroup_below_the_container_s_own(tmp_path):
    """The mount shows the hierarchy from the container's cgroup down: its path is stripped from the own one."""
    files = {
        "sys/fs/cgroup/memory/memory.limit_in_bytes": "9223372036854771712",
        "sys/fs/cgroup/memory/job/memory.limit_in_bytes": "536870912",
    }
    root = fake_tree(tmp_path, "5:memory:/docker/abc/job\n", V1_MOUNT, files)
    assert resources.memory_limit(root) == resources.Limit(536870912, "cgroup memory.limit_in_bytes")


def test_v1_nested_cgroup_below_the_mount(tmp_path):
    """Without a cgroup namespace the mount shows the whole hierarchy: the own folder is below it."""
    mountinfo = "35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n"
    files = {
        "sys/fs/cgroup/memory/memory.limit_in_bytes": "9223372036854771712",
        "sys/fs/cgroup/memory/jobs/memory.limit_in_bytes": "3000000000",
        "sys/fs/cgroup/memory/jobs/42/memory.limit_in_bytes": "9223372036854771712",
    }
    root = fake_tree(tmp_path, "4:memory:/jobs/42\n", mountinfo, files)
    assert [f.relative_to(root).as_posix() for f, _ in resources.cgroup_folders("memory", root)] == [
        "sys/fs/cgroup/memory/jobs/42",
        "sys/fs/cgroup/memory/jobs",
        "sys/fs/cgroup/memory",
    ]
    assert resources.memory_limit(root) == resources.Limit(3 * GB, "cgroup memory.limit_in_bytes")


def test_a_mount_point_with_a_space_is_unescaped(tmp_path):
    mountinfo = r"31 22 0:27 / /sys/fs/my\040cgroup rw - cgroup2 cgroup2 rw" + "\n"
    root = fake_tree(tmp_path, "0::/\n", mountinfo, {"sys/fs/my cgroup/memory.max": "1000000000"})
    assert resources.memory_limit(root).value == GB


@pytest.mark.parametrize("cgroup", [None, "", "0::/\n"])
def test_no_cgroup_means_host_ram_and_the_affinity_mask(tmp_path, cgroup):
    root = fake_tree(tmp_path, cgroup or "", "22 1 8:1 / / rw - ext4 /dev/sda1 rw\n", {})
    if cgroup is None:
        (root / "proc/self/cgroup").unlink()
    assert resources.memory_limit(root).source == "host RAM"
    assert resources.cpu_limit(root, affinity=6) == resources.Limit(6, "affinity mask")
    assert resources.cgroup_folders("memory", root) == []


# ----------------------------------------------------------------------------- CPUs, fake trees


@pytest.mark.parametrize(
    "cpu_max, affinity, expected",
    [
        ("50000 100000", 8, resources.Limit(1, "cgroup cpu.max")),  # half a CPU: still one thread
        ("150000 100000", 8, resources.Limit(2, "cgroup cpu.max")),  # 1.5 CPUs: two
        ("100000 100000", 8, resources.Limit(1, "cgroup cpu.max")),
        ("400000 100000", 2, resources.Limit(2, "affinity mask")),  # the mask is smaller than the quota
        ("max 100000", 8, resources.Limit(8, "affinity mask")),
    ],
)
def test_v2_cpu_max_against_the_affinity_mask(tmp_path, cpu_max, affinity, expected):
    root = fake_tree(tmp_path, V2_SESSION, V2_MOUNT, {f"{LEAF}/cpu.max": cpu_max})
    assert resources.cpu_limit(root, affinity=affinity) == expected


def test_v2_a_parent_cpu_quota_binds(tmp_path):
    root = fake_tree(
        tmp_path, V2_SESSION, V2_MOUNT, {f"{LEAF}/cpu.max": "max 100000", f"{PARENT}/cpu.max": "200000 100000"}
    )
    assert resources.cpu_limit(root, affinity=64) == resources.Limit(2, "cgroup cpu.max")


def test_v1_cfs_quota(tmp_path):
    files = {
        "sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us": "150000",
        "sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us": "100000",
    }
    root = fake_tree(tmp_path, V1_CGROUP, V1_MOUNT, files)
    assert resources.cpu_limit(root, affinity=16) == resources.Limit(2, "cgroup cpu.cfs_quota_us")
    (root / "sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us").write_text("-1\n")  # v1's "no quota"
    assert resources.cpu_limit(root, affinity=16) == resources.Limit(16, "affinity mask")


# ----------------------------------------------------------------------------- torch's thread pool


@pytest.fixture
def fresh_threads(monkeypatch):
    """size_torch_threads as if never called in this process; torch's thread count restored after."""
    threads = torch.get_num_threads()
    monkeypatch.setattr(resources, "_threads", None)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    yield
    torch.set_num_threads(threads)


def quota(monkeypatch, tmp_path, cpus: int) -> None:
    """Make cpu_limit read a fake cgroup tree with a quota of ``cpus`` CPUs and an affinity mask of 64."""
    root = fake_tree(tmp_path, V2_SESSION, V2_MOUNT, {f"{LEAF}/cpu.max": f"{cpus * 100000} 100000"})
    real = resources.cpu_limit
    monkeypatch.setattr(resources, "cpu_limit", lambda: real(root, affinity=64))


def test_threads_are_lowered_to_a_quota_once(monkeypatch, tmp_path, fresh_threads):
    torch.set_num_threads(2)  # as torch's default on a 2-core host
    quota(monkeypatch, tmp_path, 1)
    assert resources.size_torch_threads() == (1, "sized to the CPUs granted")
    assert torch.get_num_threads() == 1
    torch.set_num_threads(2)  # the user's later choice stands
    resources.size_torch_threads()
    assert torch.get_num_threads() == 2


def test_threads_are_never_raised(monkeypatch, tmp_path, fresh_threads):
    torch.set_num_threads(1)  # a user's explicit choice below the 2 CPUs granted
    quota(monkeypatch, tmp_path, 2)
    assert resources.size_torch_threads()[0] == 1 and torch.get_num_threads() == 1


def test_omp_num_threads_is_respected(monkeypatch, tmp_path, fresh_threads):
    torch.set_num_threads(2)
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    quota(monkeypatch, tmp_path, 1)
    assert resources.size_torch_threads() == (2, "OMP_NUM_THREADS") and torch.get_num_threads() == 2


def test_the_device_choice_sizes_the_threads(monkeypatch, tmp_path, fresh_threads):
    from vaecourse import device

    torch.set_num_threads(2)
    quota(monkeypatch, tmp_path, 1)
    monkeypatch.delenv("VAECOURSE_DEVICE", raising=False)
    device.default_device("cpu")
    assert torch.get_num_threads() == 1


# ----------------------------------------------------------------------------- the memory guard's message


def test_the_guard_names_the_container_limit(monkeypatch):
    monkeypatch.setattr(resources, "memory_limit", lambda: resources.Limit(GB, "cgroup memory.max"))
    assert validation.memory_bytes() == GB
    with pytest.raises(ValueError) as caught:
        validation.require_memory(3 * GB, "the model")
    assert str(caught.value) == (
        "the model would need about 3.0 GB, more than the 1.0 GB this container may use "
        "(cgroup memory.max); choose smaller sizes"
    )
    validation.require_memory(GB // 2, "the model")  # fits: no error


def test_allocator_failures_become_the_one_line(monkeypatch):
    monkeypatch.setattr(resources, "memory_limit", lambda: resources.Limit(2 * GB, "RLIMIT_AS"))
    cpu = RuntimeError(
        "[enforce fail at alloc_cpu.cpp:117] data. DefaultCPUAllocator: can't allocate memory: "
        "you tried to allocate 320000000000 bytes. Error code 12 (Cannot allocate memory)"
    )
    assert cli.out_of_memory(cpu) == (
        "this run would need about 320.0 GB, more than the 2.0 GB this process may "
        "use (RLIMIT_AS, ulimit -v); choose smaller sizes"
    )
    small = RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate 500000000 bytes.")
    assert cli.out_of_memory(small) == (
        "ran out of memory: one more allocation of about 0.5 GB did not fit in the "
        "2.0 GB this process may use (RLIMIT_AS, ulimit -v); choose smaller sizes"
    )
    assert cli.out_of_memory(MemoryError()).startswith("ran out of memory within the 2.0 GB this process may use")
    assert cli.out_of_memory(RuntimeError("mat1 and mat2 shapes cannot be multiplied")) is None


def test_main_prints_one_line_for_an_allocator_failure_and_reraises_other_errors(monkeypatch, capsys):
    def out_of_memory(argv):
        raise RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate 9000000000000 bytes.")

    monkeypatch.setitem(cli.COMMANDS, "info", (out_of_memory, ""))
    assert cli.main(["info"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("vaecourse info: error: this run would need about 9000.0 GB, more than the ")
    assert err.strip().endswith("choose smaller sizes") and len(err.strip().splitlines()) == 1

    def bug(argv):
        raise RuntimeError("a bug, not a lack of memory")

    monkeypatch.setitem(cli.COMMANDS, "info", (bug, ""))
    with pytest.raises(RuntimeError, match="a bug"):
        cli.main(["info"])


# ----------------------------------------------------------------------------- real limits, child processes


@pytest.mark.skipif(not hasattr(os, "sched_getaffinity"), reason="needs Linux: sched_getaffinity and RLIMIT_AS")
@pytest.mark.parametrize(
    "limit_gb, words",
    [
        # the guard: training --hidden 8000 needs about 2.2 GB (weights, gradients, Adam's moments)
        (2, ["training this VAE", "would need about 2.2 GB, more than the 2.0 GB this process may use (RLIMIT_AS"]),
        # the allocator: the 0.6 GB of weights pass the guard but not the address space torch already holds
        (1, ["ran out of memory: one more allocation of about 0.", "the 1.0 GB this process may use (RLIMIT_AS"]),
    ],
)
def test_train_under_an_address_space_limit_says_one_line(tmp_path, limit_gb, words):
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
        preexec_fn=address_space(limit_gb * GB),
        env={"VAECOURSE_SMOKE": "1", "VAECOURSE_OFFLINE": "1"},
    )
    lines = run.stderr.strip().splitlines()
    assert run.returncode == 1 and len(lines) == 1 and "Traceback" not in run.stderr, run.stderr
    assert lines[0].startswith("vaecourse train: error: ") and lines[0].endswith("choose smaller sizes")
    for word in words:
        assert word in lines[0], lines[0]


def test_a_child_in_a_real_1_gb_1_cpu_cgroup_sees_its_limits():
    with cgroup(GB, cpus=1) as made:
        code = (
            "import torch; from vaecourse import kl; print('threads', torch.get_num_threads()); "
            "from vaecourse import cli; cli.main(['info'])"
        )
        run = run_child(["-c", code], preexec_fn=made.join)
    version = made.version
    assert run.returncode == 0, run.stderr
    out = run.stdout
    assert "threads 1\n" in out, out  # validation (imported by kl) sized torch's pool on import
    assert "memory: 1.0 GB (cgroup memory." in out, out
    if resources.cpu_limit().value < 2:
        return  # this process has one CPU already: torch's pool is one thread with or without the quota
    source = "cpu.max" if version == "v2" else "cpu.cfs_quota_us"
    assert f"cpus:   1 granted (cgroup {source}); torch uses 1 thread (sized to the CPUs granted)" in out, out
