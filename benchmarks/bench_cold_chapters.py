"""Every chapter run cold, as on Binder or a hub: 1 CPU and 2 GB (a cgroup), an empty model cache.

Command (root, Linux with cgroup v1 or v2; from the repository root):

    .venv/bin/python benchmarks/bench_cold_chapters.py [--chapters elbo sgd ...] [--memory-gb 2] [--cpus 1]

For each chapter of _toc.yml: a fresh cgroup limiting memory (no swap) and the CPU quota, a fresh cache
folder holding only the data sets already downloaded here (MNIST, its offline subset, Fashion-MNIST:
what a student's first run fetches once) and none of the computed artefacts (trained models, Ising
configurations, spectra), then the chapter executed in full mode (``jupytext --execute``, as a student
runs it top to bottom, offline). It records the wall-clock seconds and the cgroup's peak memory (kernel,
page cache of the files it read included), and writes ``benchmarks/cold_chapters.json`` (read by the
syllabus page) and a Markdown table for RESULTS.md. The goals: at most 1 GB of memory (a hub's default)
and about 120 s per chapter. Where no cgroup can be made (not root, no cgroup controllers) it says why
and stops. The machine's load average is recorded: on a shared machine the times are upper bounds.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DATA_FOLDERS = ("mnist", "mnist-offline", "fashion-mnist")  # downloaded once; everything else is computed
GOAL_SECONDS, GOAL_BYTES = 120, 1_000_000_000


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown processor"


def run_chapter(chapter: Path, memory: int, cpus: int, timeout: int) -> dict:
    """Seconds, peak bytes and exit status of one cold full-mode run of ``chapter`` in a fresh cgroup."""
    import pytest

    from tests.limits import cgroup
    from vaecourse import settings

    with tempfile.TemporaryDirectory(prefix="cold-") as scratch:
        cache = Path(scratch) / "cache"
        cache.mkdir()
        for name in DATA_FOLDERS:
            if (settings.cache_dir() / name).is_dir():
                shutil.copytree(settings.cache_dir() / name, cache / name)
        env = {k: v for k, v in os.environ.items() if k not in ("VAECOURSE_SMOKE", "OMP_NUM_THREADS")}
        env.update(VAECOURSE_CACHE=str(cache), VAECOURSE_OFFLINE="1", PYTHONPATH=str(ROOT))
        command = [str(Path(sys.executable).parent / "jupytext"), "--execute", "--to", "ipynb"]
        command += ["-o", str(Path(scratch) / f"{chapter.stem}.ipynb"), str(chapter)]
        try:
            with cgroup(memory, cpus) as group:
                start = time.perf_counter()
                try:
                    run = subprocess.run(
                        command,
                        env=env,
                        cwd=ROOT,
                        preexec_fn=group.join,
                        capture_output=True,
                        text=True,
                        timeout=timeout,
                    )
                    status = "ok" if run.returncode == 0 else f"failed ({run.stderr.strip().splitlines()[-1:]})"
                except subprocess.TimeoutExpired:
                    status = f"stopped after {timeout} s"
                seconds = time.perf_counter() - start
                peak = group.peak()
                # a process left behind (a kernel) would keep the cgroup busy: end them before removing it
                for folder in group.folders:
                    for pid in (folder / "cgroup.procs").read_text().split():
                        os.kill(int(pid), 9)
                time.sleep(0.5)
        except pytest.skip.Exception as why:
            raise SystemExit(f"cannot measure under limits here: {why}") from None
    return {"seconds": round(seconds, 1), "peak_mb": round(peak / 1e6) if peak else None, "status": status}


def table(results: dict) -> str:
    lines = [
        "| chapter | seconds | peak memory (MB) | within 120 s | within 1 GB | run |",
        "| --- | ---: | ---: | --- | --- | --- |",
    ]
    for name, r in results["chapters"].items():
        fast = "yes" if r["seconds"] <= GOAL_SECONDS else f"no (+{r['seconds'] - GOAL_SECONDS:.0f} s)"
        small = "?" if r["peak_mb"] is None else ("yes" if r["peak_mb"] * 1e6 <= GOAL_BYTES else "no")
        if r["status"] != "ok":  # a run that did not finish meets no goal
            fast = small = "-"
        lines.append(f"| {name} | {r['seconds']:.0f} | {r['peak_mb']} | {fast} | {small} | {r['status']} |")
    total = sum(r["seconds"] for r in results["chapters"].values())
    lines.append(f"| all | {total:.0f} | | | | |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    from scripts.chapters import chapter_sources

    sources = {p.stem: p for p in chapter_sources()}
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chapters", nargs="+", choices=sorted(sources), default=list(sources))
    parser.add_argument("--memory-gb", type=float, default=2.0)
    parser.add_argument("--cpus", type=int, default=1)
    parser.add_argument("--timeout", type=int, default=1800, help="seconds one chapter may take")
    parser.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "cold_chapters.json")
    parser.add_argument(
        "--parallel",
        type=int,
        default=1,
        help="chapters run at once, each in its own cgroup (at most the machine's CPUs / --cpus, on an idle machine)",
    )
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        raise SystemExit("making a cgroup needs root: run this as root (a container's root will do)")
    import torch

    results = {
        "machine": f"{cpu_model()}, {os.cpu_count()} CPUs, torch {torch.__version__}",
        "limits": f"{args.cpus} CPU (cgroup quota), {args.memory_gb:g} GB memory, no swap; empty model cache",
        "load_average_at_start": os.getloadavg()[0],
        "parallel": args.parallel,
        "date": time.strftime("%Y-%m-%d"),
        "chapters": {},
    }
    previous = json.loads(args.json.read_text()) if args.json.exists() else {"chapters": {}}
    from concurrent.futures import ThreadPoolExecutor

    def measure(name: str) -> None:
        results["chapters"][name] = run_chapter(sources[name], int(args.memory_gb * 1e9), args.cpus, args.timeout)
        print(name, results["chapters"][name], flush=True)

    with ThreadPoolExecutor(max_workers=max(1, args.parallel)) as pool:
        list(pool.map(measure, args.chapters))
    results["chapters"] = {n: results["chapters"][n] for n in args.chapters}  # table in the book's order
    # chapters not measured this time keep their earlier numbers
    merged = {**previous, **{k: v for k, v in results.items() if k != "chapters"}}
    merged["chapters"] = {
        n: (results["chapters"].get(n) or previous["chapters"][n])
        for n in sources
        if n in results["chapters"] or n in previous["chapters"]
    }
    tmp = args.json.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(merged, indent=2) + "\n")
    tmp.replace(args.json)
    print(table(merged))
    return 0


if __name__ == "__main__":
    sys.exit(main())
