"""Fetch the website's third-party JavaScript into ``_vendor/`` so the built book works offline.

By default a Jupyter Book page with widgets or equations loads require.js, the Jupyter widget manager
(``@jupyter-widgets/html-manager``), the widget libraries it needs (here ``anywidget``) and MathJax
from public CDNs. This script puts local copies in the ignored folder ``_vendor/`` at the repository
root; ``_config.yml`` lists ``_vendor`` in ``html_static_path`` (so Sphinx copies it to
``_build/html/_static/``) and points ``mathjax_path`` and ``nb_ipywidgets_js`` at the copies.

What goes where (all under ``_vendor/``)::

    requirejs/require.js            npm requirejs          (MIT)
    html-manager/embed-amd.js       npm @jupyter-widgets/html-manager dist/ (BSD-3-Clause), with the
                                    font files its CSS refers to
    mathjax/tex-chtml.js ...        npm mathjax@3 es5/ (Apache-2.0), fonts and lazily loaded parts
    anywidget/index.js              the AMD front end that ships in the installed anywidget wheel (MIT)
    vaecourse-site/widgets.js         renders the page's anywidgets directly (a few kB), or else loads
                                      require.js + html-manager from the site (see the file)
    vaecourse-site/widgets-config.js  tells require.js to load "anywidget" from the site (not a CDN),
                                      for a set-up that loads require.js + html-manager directly
    vaecourse-site/mathjax-bridge.js  MathJax 2's ``MathJax.Hub.Queue`` on top of MathJax 3 (the widget
                                    library still calls the old API to typeset labels)

``axe_core()`` fetches the accessibility engine axe-core the same way into ``_vendor/.axe-core/`` (a
test tool: Sphinx does not copy dot-folders into the site; tests/browser/test_accessibility.py uses it).
``reveal_js()`` fetches reveal.js (MIT) into ``_vendor/.reveal.js/`` for the slides (scripts/slides.py
copies it, with MathJax, into each deck's folder); it is not part of the website either.

npm packages are fetched with ``npm pack`` (the npm registry through its ordinary client; npm's own
cache makes a second fetch offline) and checked against pinned SHA-256 sums. Running the script again
when everything is in place takes a fraction of a second. ``make book`` and the book-build test run it
before ``jupyter-book build``.

Usage: ``python scripts/vendor_assets.py [--force]``; exit status 0 on success, 1 with one clear
line on failure (no npm, no network and no npm cache, a checksum mismatch).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENDOR = ROOT / "_vendor"
STAMP = VENDOR / ".vendor-stamp.json"
SITE_SOURCES = ROOT / "book" / "_static" / "site"  # the website's own scripts (not in the wheel)

# (npm spec, SHA-256 of the tarball npm pack downloads). Bump both together.
PACKAGES = {
    "requirejs": ("requirejs@2.3.8", "777158e89275e16bd51aec3ef714fbcb5dc45789e7078659933bc814916d7dec"),
    "html-manager": (
        "@jupyter-widgets/html-manager@1.0.15",
        "2b9d65cb7913e1c7d671757a10008b32c9c2448d4429513371e55c07d6107638",
    ),
    "mathjax": ("mathjax@3.2.2", "1b9c0a1c44df864e915690558e72adb9cc5203360daefd385084ced3b6c64c09"),
}

# axe-core, the accessibility engine the tests run on every built page (tests/browser/test_accessibility.py). It is
# a test tool, not part of the site: it lives in the hidden folder _vendor/.axe-core/, which Sphinx does
# not copy (html_static_path skips dot-folders). Bump both together.
AXE_CORE = ("axe-core@4.10.3", "0f2b4d7dcdf7d1219df8d1959ad68e565f51d14c3f0d88bb71cd59abeb956292")
AXE_DIR = VENDOR / ".axe-core"

# reveal.js, the slide engine of `make slides` (scripts/slides.py): its dist/ (core, style sheets, the white
# theme and the fonts the themes use) and the speaker-notes plugin. Not part of the website (a dot-folder).
# Bump both together.
REVEAL_JS = ("reveal.js@5.2.1", "359b575dd51bbda32f89b2fd4c7dc46ad7389a805572158916c29252f7a27333")
REVEAL_DIR = VENDOR / ".reveal.js"

# MathJax bundles the site does not use (it loads es5/tex-chtml.js); everything else in es5/ stays,
# because tex-chtml.js loads fonts, TeX extensions (autoload), the menu and accessibility parts lazily
# from its own folder.
MATHJAX_SKIP = {
    "tex-chtml-full.js",
    "tex-chtml-full-speech.js",
    "tex-mml-chtml.js",
    "tex-mml-svg.js",
    "tex-svg.js",
    "tex-svg-full.js",
    "mml-chtml.js",
    "mml-svg.js",
    "node-main.js",
}
# Files of the html-manager's dist/ the page does not need (other bundles, source maps).
HTML_MANAGER_SKIP_SUFFIXES = (".map",)
HTML_MANAGER_SKIP = {"embed.js", "libembed-amd.js"}

# Our own small site scripts and style sheet (source of truth in book/_static/site/), copied next to
# the vendored files.
SITE_SCRIPTS = {
    "widgets.js": "vaecourse-site/widgets.js",
    "widgets-config.js": "vaecourse-site/widgets-config.js",
    "mathjax-bridge.js": "vaecourse-site/mathjax-bridge.js",
    "course.css": "vaecourse-site/course.css",
}


class VendorError(RuntimeError):
    """A failure the script reports in one line."""


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def npm_pack(spec: str, sha256: str, workdir: Path) -> Path:
    """Download one package tarball with ``npm pack`` into workdir; check its SHA-256; return it."""
    npm = shutil.which("npm")
    if npm is None:
        raise VendorError("npm is not installed: install Node.js/npm (Debian: apt-get install npm)")
    result = subprocess.run(
        [npm, "pack", spec, "--silent", "--json", "--pack-destination", str(workdir)],
        capture_output=True,
        text=True,
        cwd=workdir,
    )
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or ["(no message)"])[-1]
        raise VendorError(f"`npm pack {spec}` failed (offline and not in npm's cache?): {last}")
    filename = json.loads(result.stdout)[0]["filename"].replace("@", "").replace("/", "-")
    tarball = workdir / filename
    if not tarball.exists():  # npm's naming of scoped tarballs: take the newest .tgz instead
        tarball = max(workdir.glob("*.tgz"), key=lambda p: p.stat().st_mtime)
    actual = _sha256(tarball)
    if actual != sha256:
        raise VendorError(f"{spec}: SHA-256 {actual} does not match the pinned {sha256}")
    return tarball


def extract_package(tarball: Path, dest: Path) -> Path:
    """Extract an npm tarball into dest; return its ``package/`` folder."""
    with tarfile.open(tarball) as archive:
        archive.extractall(dest, filter="data")
    return dest / "package"


def _copy_tree(src: Path, dst: Path, skip=lambda p: False) -> None:
    for path in sorted(src.rglob("*")):
        rel = path.relative_to(src)
        if path.is_dir() or skip(rel):
            continue
        target = dst / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)


def _license_note(dst: Path, package: Path, name: str) -> None:
    """Copy the package's LICENSE; when the tarball has none, write its declared licence and source."""
    for candidate in ("LICENSE", "LICENSE.txt", "LICENSE.md", "license"):
        if (package / candidate).exists():
            shutil.copyfile(package / candidate, dst / "LICENSE")
            return
    meta = json.loads((package / "package.json").read_text())
    repo = meta.get("repository")
    repo = repo.get("url") if isinstance(repo, dict) else repo
    (dst / "LICENSE").write_text(
        f"{name} {meta.get('version')} is distributed under the {meta.get('license')} licence;\n"
        f"its npm tarball ships no LICENSE file. Full text: {repo}\n"
    )


def _install_package(key: str, package: Path) -> None:
    dst = VENDOR / key
    if dst.exists():
        shutil.rmtree(dst)
    dst.mkdir(parents=True)
    if key == "requirejs":
        shutil.copyfile(package / "require.js", dst / "require.js")
    elif key == "html-manager":
        _copy_tree(
            package / "dist",
            dst,
            skip=lambda rel: rel.name in HTML_MANAGER_SKIP or rel.name.endswith(HTML_MANAGER_SKIP_SUFFIXES),
        )
    elif key == "mathjax":
        _copy_tree(package / "es5", dst, skip=lambda rel: str(rel) in MATHJAX_SKIP)
    _license_note(dst, package, PACKAGES[key][0])


def _install_anywidget() -> str:
    """Copy anywidget's AMD front end out of the installed wheel; return anywidget's version."""
    import importlib.metadata

    import anywidget

    source = Path(anywidget.__file__).parent / "nbextension" / "index.js"
    if not source.exists():
        raise VendorError(f"the installed anywidget has no {source.name} AMD front end at {source}")
    dst = VENDOR / "anywidget"
    dst.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, dst / "index.js")
    dist = importlib.metadata.distribution("anywidget")
    licences = [f for f in dist.files or [] if f.name.upper().startswith("LICENSE")]
    if licences:
        shutil.copyfile(dist.locate_file(licences[0]), dst / "LICENSE")
    return dist.version


def _install_site_scripts() -> None:
    for source, target in SITE_SCRIPTS.items():
        path = VENDOR / target
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(SITE_SOURCES / source, path)


def axe_core() -> Path:
    """The pinned axe-core's ``axe.min.js`` (fetched with ``npm pack`` and SHA-256-checked when missing).

    Raises ``VendorError`` when npm cannot fetch it or the checksum does not match.
    """
    stamp = AXE_DIR / ".pinned"
    script = AXE_DIR / "axe.min.js"
    wanted = " ".join(AXE_CORE) + "\n"
    if not (stamp.exists() and stamp.read_text() == wanted and script.exists()):
        with tempfile.TemporaryDirectory(prefix="vaecourse-axe-") as tmp:
            package = extract_package(npm_pack(*AXE_CORE, Path(tmp)), Path(tmp) / "x")
            AXE_DIR.mkdir(parents=True, exist_ok=True)
            for name in ("axe.min.js", "LICENSE"):
                shutil.copyfile(package / name, AXE_DIR / name)
        stamp.write_text(wanted)
    return script


def reveal_js() -> Path:
    """The folder of the pinned reveal.js (``dist/``, ``plugin/notes/``, ``LICENSE``), fetched with ``npm pack``
    and SHA-256-checked when missing.

    Raises ``VendorError`` when npm cannot fetch it or the checksum does not match.
    """
    stamp = REVEAL_DIR / ".pinned"
    wanted = " ".join(REVEAL_JS) + "\n"
    if not (stamp.exists() and stamp.read_text() == wanted and (REVEAL_DIR / "dist" / "reveal.js").exists()):
        with tempfile.TemporaryDirectory(prefix="vaecourse-reveal-") as tmp:
            package = extract_package(npm_pack(*REVEAL_JS, Path(tmp)), Path(tmp) / "x")
            if REVEAL_DIR.exists():
                shutil.rmtree(REVEAL_DIR)
            REVEAL_DIR.mkdir(parents=True)
            _copy_tree(package / "dist", REVEAL_DIR / "dist", skip=lambda rel: rel.name.endswith((".map", ".esm.js")))
            _copy_tree(package / "plugin" / "notes", REVEAL_DIR / "plugin" / "notes")
            shutil.copyfile(package / "LICENSE", REVEAL_DIR / "LICENSE")
        stamp.write_text(wanted)
    return REVEAL_DIR


def _wanted_stamp() -> dict:
    import importlib.metadata

    return {
        "packages": {key: list(value) for key, value in PACKAGES.items()},
        "anywidget": importlib.metadata.version("anywidget"),
    }


def vendor(force: bool = False) -> bool:
    """Make ``_vendor/`` complete. Return True when npm packages were (re)fetched."""
    wanted = _wanted_stamp()
    fetched = False
    have = json.loads(STAMP.read_text()) if STAMP.exists() else None
    missing = [key for key in PACKAGES if not (VENDOR / key / "LICENSE").exists()]
    if force or have != wanted or missing:
        VENDOR.mkdir(exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="vaecourse-vendor-") as tmp:
            for key, (spec, sha256) in PACKAGES.items():
                workdir = Path(tmp) / key
                workdir.mkdir()
                package = extract_package(npm_pack(spec, sha256, workdir), workdir / "x")
                _install_package(key, package)
        fetched = True
    # Always refresh the small local files (cheap; they follow the installed anywidget and our sources).
    _install_anywidget()
    _install_site_scripts()
    STAMP.write_text(json.dumps(wanted, indent=1) + "\n")
    return fetched


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--force", action="store_true", help="fetch the npm packages again")
    parser.add_argument("--slides", action="store_true", help="also fetch reveal.js, for `make slides`")
    args = parser.parse_args(argv)
    try:
        fetched = vendor(force=args.force)
        if args.slides:
            reveal_js()
    except VendorError as error:
        print(f"vendor_assets: {error}", file=sys.stderr)
        return 1
    print(f"vendor_assets: {'fetched' if fetched else 'up to date'}: {VENDOR.relative_to(ROOT)}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
