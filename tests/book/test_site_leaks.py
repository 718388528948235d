"""A published page shows the lesson only: no paths of the machine that built it, no download logs,
no warnings that carry such paths, no addresses of Python objects, and no notebook-test plumbing in
the code a reader copies.

The scan reads the text a reader sees (tags, scripts and styles removed). ``test_the_scan_finds_leaks``
shows on a hand-written page that each pattern fires; the slow test scans every page of the built book.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from scripts.chapters import toc_files
from tests.paths import ROOT

# What must never reach a page, each with the reason a reader should not see it.
LEAKS = {
    "machine path": re.compile(r"(?:/root/|/home/\w+|/work/|/tmp/|/Users/|[A-Z]:\\\\Users\\\\)\S{0,60}"),
    "download log": re.compile(r"Downloading data from\b.{0,80}"),
    "warning class": re.compile(r"\w*Warning: .{0,80}"),  # a raw Python warning line, e.g. OfflineSubsetWarning
    "object address": re.compile(r"<[\w.]+ (?:object )?at 0x[0-9a-f]+>"),
    "RNG object": re.compile(r"<torch\._C\.Generator"),
    "nbval marker": re.compile(r"#\s*NBVAL_\w+"),
}


class _Text(HTMLParser):
    """Collect the visible text of a page (everything outside <script> and <style>)."""

    def __init__(self):
        super().__init__()
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style"):
            self._skip += 1

    def handle_endtag(self, tag):
        if tag in ("script", "style") and self._skip:
            self._skip -= 1

    def handle_data(self, data):
        if not self._skip:
            self.parts.append(data)


def visible_text(html: str) -> str:
    parser = _Text()
    parser.feed(html)
    return "".join(parser.parts)


def leaks(html: str) -> dict[str, list[str]]:
    """Every leak pattern found in the visible text of ``html``: {kind: [matches]}."""
    text = visible_text(html)
    found = {kind: pattern.findall(text) for kind, pattern in LEAKS.items()}
    return {kind: matches[:3] for kind, matches in found.items() if matches}


def test_the_scan_finds_leaks():
    page = """<html><head><script>var p = "/home/student/not-visible";</script></head><body>
    <pre>TrainedModel(VAE, 1 epochs, trained now, path='/home/student/.cache/vaecourse/models/m.pt')</pre>
    <pre>Downloading data from 'https://example.org/train-images-idx3-ubyte.gz' to file ...</pre>
    <pre>/usr/lib/python3/site.py:630: OfflineSubsetWarning: MNIST: using the offline subset</pre>
    <pre>&lt;torch._C.Generator at 0x7f3a2c1b2d30&gt;</pre>
    <pre>&lt;vaecourse.widgets.LatentExplorer object at 0x7f8b97d5fb90&gt;</pre>
    <pre># NBVAL_IGNORE_OUTPUT
    trained = train.train_cached("mlp-mnist-2d")</pre></body></html>"""
    assert set(leaks(page)) == set(LEAKS)
    clean = "<html><body><p>Decoder means of 36 latent vectors; see chapter 3 and /docs.</p></body></html>"
    assert leaks(clean) == {}


@pytest.mark.slow
@pytest.mark.parametrize("name", toc_files())
def test_page_shows_no_build_leaks(built_book: Path, name: str):
    html = (built_book / f"{name}.html").read_text()
    found = leaks(html)
    assert found == {}, f"{name}.html shows build leaks to its readers: {found}"


# A page that loads MNIST the way the chapters do, in a build that downloads it: from a server on
# 127.0.0.1 that serves small stand-in files (valid IDX archives of the published shapes). The first
# cell, hidden from the page, points the package at that server and pins the stand-ins' sums; the rest
# is what book/pytorch_vae.md runs.
DOWNLOAD_PAGE = """---
jupytext:
  text_representation:
    format_name: myst
kernelspec:
  name: python3
  display_name: Python 3
---
# Downloading page

```{code-cell}
:tags: [remove-cell]
import json, os
from vaecourse import data
data.MNIST_MIRRORS[:] = [os.environ["TEST_MNIST_MIRROR"]]
data.MNIST_SHA256.update(json.loads(os.environ["TEST_MNIST_SHA256"]))
data.MNIST_BYTES.update(json.loads(os.environ["TEST_MNIST_BYTES"]))
```

```{code-cell}
from vaecourse import data
x_grey = data.load_mnist("train")[0].flatten(1)
x_test_grey, y_test = data.load_mnist("test")
print(tuple(x_grey.shape), tuple(x_test_grey.shape))
```
"""


def stand_in_mnist(folder: Path) -> dict[str, bytes]:
    """Gzip IDX archives with the published numbers of images (all zero pixels, labels 0-9 in turn)."""
    import gzip
    import struct

    files = {}
    for prefix, count in (("train", 60_000), ("t10k", 10_000)):
        images = struct.pack(">IIII", 0x803, count, 28, 28) + bytes(count * 28 * 28)
        labels = struct.pack(">II", 0x801, count) + bytes(i % 10 for i in range(count))
        files[f"{prefix}-images-idx3-ubyte.gz"] = gzip.compress(images, mtime=0)
        files[f"{prefix}-labels-idx1-ubyte.gz"] = gzip.compress(labels, mtime=0)
    for name, content in files.items():
        (folder / name).write_bytes(content)
    return files


@pytest.mark.slow
def test_a_build_that_downloads_mnist_shows_no_download_log_path_or_progress_bar(tmp_path):
    import functools
    import hashlib
    import http.server
    import json
    import os
    import subprocess
    import sys
    import threading

    served = tmp_path / "mirror"
    served.mkdir()
    files = stand_in_mnist(served)

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    handler = functools.partial(Quiet, directory=str(served))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    book = tmp_path / "book"
    book.mkdir()
    (book / "_config.yml").write_text(
        "title: t\nexecute:\n  execute_notebooks: force\n  raise_on_error: true\n"
        # the website's own switch (no progress bars, glued numbers), as _config.yml loads it
        f"sphinx:\n  local_extensions:\n    quoted_numbers: {ROOT / 'scripts'}\n"
    )
    (book / "_toc.yml").write_text("format: jb-book\nroot: page\n")
    (book / "page.md").write_text(DOWNLOAD_PAGE)
    env = {k: v for k, v in os.environ.items() if k not in ("VAECOURSE_OFFLINE", "VAECOURSE_SMOKE")}
    env.update(
        VAECOURSE_CACHE=str(tmp_path / "cache"),
        TEST_MNIST_MIRROR=f"http://127.0.0.1:{server.server_address[1]}/",
        TEST_MNIST_SHA256=json.dumps({n: hashlib.sha256(c).hexdigest() for n, c in files.items()}),
        TEST_MNIST_BYTES=json.dumps({n: len(c) for n, c in files.items()}),
    )
    try:
        build = subprocess.run(
            [str(Path(sys.executable).parent / "jupyter-book"), "build", str(book), "-W"],
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
    finally:
        server.shutdown()
        server.server_close()
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    assert sorted(p.name for p in (tmp_path / "cache" / "mnist").iterdir()) == sorted(files), "nothing downloaded"
    html = (book / "_build" / "html" / "page.html").read_text()
    assert "(60000, 784)" in visible_text(html)
    assert leaks(html) == {}, leaks(html)
    assert "widget-view" not in html, "a progress bar left a widget view on the page"
