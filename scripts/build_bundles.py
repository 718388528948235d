"""Bundle the widgets' JavaScript with esbuild: one self-contained ES module per widget, one script per Web Worker.

The front ends are ES modules with explicit imports in ``vaecourse/js/src/``; each entry named in
:data:`vaecourse.frontend.WIDGET_BUNDLES` and :data:`~vaecourse.frontend.WORKER_BUNDLES`
becomes ``vaecourse/js/bundles/<name>.js`` with everything it imports (a widget's ``_esm``). The workers
are built first, as classic scripts (``--format=iife``): a widget imports a worker's bundle as text
(``import SOURCE from "../bundles/<worker>.js" with { type: "text" }``) and starts it from a blob URL,
so a worker is complete by construction and nothing is fetched.

The bundles are generated files committed to the repository (a student installing the package from git
has no node), like ``notebooks/``: run ``make bundles`` after editing ``vaecourse/js/src/``;
``tests/widgets/test_bundles.py`` rebuilds them and fails when they differ (esbuild's output is deterministic).

esbuild is the npm package ``esbuild-wasm`` (one tarball for every processor, run by the machine's
node), fetched with ``npm pack`` and checked against a pinned SHA-256 by ``scripts/vendor_assets.py``'s
code, and kept in the ignored ``_vendor/esbuild-wasm/``.

Usage: ``python scripts/build_bundles.py`` (writes ``vaecourse/js/bundles/``); exit status 0 on success,
1 with one clear line on failure (no node or npm, no network and no npm cache, a checksum mismatch,
an esbuild error such as an import that does not resolve).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from vendor_assets import ROOT, VENDOR, VendorError, extract_package, npm_pack

sys.path.insert(0, str(ROOT))
from vaecourse.frontend import BUNDLE_DIR, JS_SOURCES, WIDGET_BUNDLES, WORKER_BUNDLES

# (npm spec, SHA-256 of the tarball npm pack downloads). Bump both together, then run `make bundles`.
ESBUILD = ("esbuild-wasm@0.28.2", "61594de12ce998652be2aa0ab72dda54bfa49407fb37ee3464468a2aac306baa")
ESBUILD_DIR = VENDOR / "esbuild-wasm"
BANNER = f"// Generated from vaecourse/js/src/ by {ESBUILD[0]} (make bundles): edit the sources, not this file."


def esbuild() -> Path:
    """The esbuild command-line script of the pinned esbuild-wasm, fetched and checked when missing."""
    stamp = ESBUILD_DIR / ".pinned"
    script = ESBUILD_DIR / "bin" / "esbuild"
    wanted = " ".join(ESBUILD) + "\n"
    if not (stamp.exists() and stamp.read_text() == wanted and script.exists()):
        with tempfile.TemporaryDirectory(prefix="vaecourse-esbuild-") as tmp:
            package = extract_package(npm_pack(*ESBUILD, Path(tmp)), Path(tmp) / "x")
            if ESBUILD_DIR.exists():
                shutil.rmtree(ESBUILD_DIR)
            shutil.copytree(package, ESBUILD_DIR)
        stamp.write_text(wanted)
    return script


def build(out_dir: Path = BUNDLE_DIR) -> list[Path]:
    """Run esbuild on every entry: the workers into out_dir first, then the widgets; return the files.

    Raises ``VendorError`` (one line) when node is missing, esbuild cannot be fetched or it reports
    an error.
    """
    node = shutil.which("node")
    if node is None:
        raise VendorError("node is not installed: install Node.js (Debian: apt-get install nodejs npm)")
    script = esbuild()
    out_dir.mkdir(parents=True, exist_ok=True)
    common = ["--bundle", f"--outdir={out_dir}", f"--banner:js={BANNER}", "--log-level=warning"]
    # Paths in the output are relative to vaecourse/js; Go's runtime reads the directory from PWD.
    env = {**os.environ, "PWD": str(JS_SOURCES.parent)}
    for names, form in ((WORKER_BUNDLES, "iife"), (WIDGET_BUNDLES, "esm")):
        entries = [f"src/{name}.js" for name in names]
        result = subprocess.run(
            [node, str(script), *entries, f"--format={form}", *common],
            cwd=JS_SOURCES.parent,
            env=env,
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            raise VendorError(f"esbuild failed on {', '.join(entries)}:\n{result.stderr.strip()}")
    return [out_dir / f"{name}.js" for name in (*WORKER_BUNDLES, *WIDGET_BUNDLES)]


def main() -> int:
    try:
        files = build()
    except VendorError as error:
        print(f"build_bundles: {error}", file=sys.stderr)
        return 1
    for path in files:
        print(f"build_bundles: {path.relative_to(ROOT)} ({path.stat().st_size / 1000:.1f} kB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
