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
