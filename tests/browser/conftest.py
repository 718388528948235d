"""Fixtures of the browser tests: Debian's chromium (driven by playwright; the tests skip without it), a
blank page served from 127.0.0.1, and the built book served from 127.0.0.1. Every request to another
host is aborted. Helpers that are not fixtures are in tests/browser/pages.py."""

from __future__ import annotations

import functools
import http.server
import threading
from pathlib import Path

import pytest

from tests.browser.pages import (
    CHROMIUM,
    CHROMIUM_ARGS,
    SITE_DIRS,
    QuietHandler,
    open_blank,
)
from tests.system_packages import require_system


@pytest.fixture(scope="module")
def blank_site(tmp_path_factory):
    """The URL of an empty page served from a fresh folder on 127.0.0.1 (its folder: pages.blank_site_dir)."""
    root = tmp_path_factory.mktemp("blank")
    (root / "index.html").write_text("<!doctype html><html><head><meta charset='utf-8'></head><body></body></html>")
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(root)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/index.html"
    SITE_DIRS[url] = str(root)
    yield url
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def page(blank_site):
    """A chromium page (1000 x 800) on the blank site; its errors collect in ``page.errors``."""
    require_system(CHROMIUM, "chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield open_blank(browser.new_context(viewport={"width": 1000, "height": 800}), blank_site)
        browser.close()


@pytest.fixture(scope="module")
def site(built_book: Path):
    """The built book served on 127.0.0.1: (base URL, html folder)."""
    handler = functools.partial(QuietHandler, directory=str(built_book))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/", built_book
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def browser():
    """A headless chromium."""
    require_system(CHROMIUM, "chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        instance = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield instance
        instance.close()
