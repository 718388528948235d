"""Which package index `make setup` should take torch from (printed as pip options; a note on stderr).

On Linux without an NVIDIA GPU the default index serves torch's CUDA build, several GB of libraries
that cannot be used there. The CPU build from PyTorch's CPU index is a fraction of that, so it is
preferred where that index answers; otherwise the default index is used, with a note saying so.

    python scripts/torch_index.py [CPU_INDEX_URL]   # prints "--extra-index-url URL" or nothing

With ``--extra-index-url``, pip takes ``torch==X`` as ``X+cpu`` (a local version sorts above X).
Elsewhere (macOS, Windows, a machine with an NVIDIA GPU) nothing is printed: the default index has
the right build there. An empty URL turns the preference off.
"""

from __future__ import annotations

import platform
import shutil
import sys
import urllib.request
from pathlib import Path

CPU_INDEX = "https://download.pytorch.org/whl/cpu"


def has_nvidia_gpu() -> bool:
    return Path("/proc/driver/nvidia/version").exists() or shutil.which("nvidia-smi") is not None


def reachable(index: str, timeout: float = 10.0) -> bool:
    try:
        with urllib.request.urlopen(f"{index.rstrip('/')}/torch/", timeout=timeout) as response:
            return response.status == 200
    except (OSError, ValueError):
        return False


def choose(index: str, system: str, nvidia: bool, is_reachable) -> tuple[list[str], str]:
    """(pip options, note) for this machine; `is_reachable(index)` is asked only when it matters."""
    if not index:
        return [], ""
    if system != "Linux":
        return [], ""
    if nvidia:
        return [], "torch: an NVIDIA GPU is present, so the default (CUDA) build is installed"
    if is_reachable(index):
        return ["--extra-index-url", index], f"torch: the CPU build from {index} (no NVIDIA GPU here)"
    return [], (
        f"torch: {index} did not answer, so torch comes from pip's default index (on PyPI, "
        "torch for Linux is the CUDA build, several GB; the line below says which build was "
        "installed); `rm -rf .venv && make setup` retries when that index is reachable"
    )


def main(argv: list[str]) -> int:
    index = argv[1] if len(argv) > 1 else CPU_INDEX
    options, note = choose(index, platform.system(), has_nvidia_gpu(), reachable)
    if note:
        print(note, file=sys.stderr)
    print(" ".join(options))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
