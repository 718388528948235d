"""Where students launch a chapter: the website's launch buttons, the notebooks' first cell, Binder's
environment, and `make setup`'s choice of torch build.

- every Colab / Binder / JupyterHub link on every built chapter opens notebooks/<chapter>.ipynb of
  the repository _config.yml names (and the default build has no JupyterHub button);
- the first cell, run in a fresh virtual environment without the package, installs it from a local
  copy of the repository (its one setting, SOURCE, pointed at the copy) and then imports it; run
  again, or where the package is installed, it prints nothing; with nowhere to install from it says
  so in one line of error;
- binder/requirements.txt pins what requirements.txt pins; scripts/torch_index.py picks the CPU
  index only on Linux without an NVIDIA GPU, and only when that index answers.
"""

from __future__ import annotations

import functools
import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import venv
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlparse

import pytest
import yaml

from scripts import torch_index
from scripts.chapters import ROOT, chapter_sources

CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text())
REPO_URL = CONFIG["repository"]["url"].rstrip("/")
BRANCH = CONFIG["repository"]["branch"]
ORG, REPO = urlparse(REPO_URL).path.strip("/").split("/")[:2]


class _Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag, attrs):
        href = dict(attrs).get("href")
        if tag == "a" and href:
            self.hrefs.append(href)


def launch_targets(html: str) -> dict[str, str]:
    """{provider: repository path} for every launch link in a built page."""
    parser = _Links()
    parser.feed(html)
    found = {}
    for href in parser.hrefs:
        url = urlparse(href)
        if url.hostname == urlparse(CONFIG["launch_buttons"]["colab_url"]).hostname:
            prefix = f"/github/{ORG}/{REPO}/blob/{BRANCH}/"
            assert url.path.startswith(prefix), f"Colab link names another repository or branch: {href}"
            found["colab"] = url.path[len(prefix) :]
        elif "/v2/gh/" in url.path:
            assert url.path.endswith(f"/v2/gh/{ORG}/{REPO}/{BRANCH}"), f"Binder link: {href}"
            found["binder"] = parse_qs(url.query)["urlpath"][0].removeprefix("lab/tree/")
        elif url.path.endswith("/hub/user-redirect/git-pull"):
            query = parse_qs(url.query)
            assert query["repo"] == [REPO_URL] and query["branch"] == [BRANCH], f"JupyterHub link: {href}"
            found["jupyterhub"] = unquote(query["urlpath"][0]).removeprefix(f"lab/tree/{REPO}/")
    return found


@pytest.mark.slow
@pytest.mark.parametrize("source", chapter_sources(), ids=lambda p: p.stem)
def test_every_launch_link_opens_the_chapters_notebook(built_book, source):
    page = built_book / "book" / f"{source.stem}.html"
    targets = launch_targets(page.read_text())
    expected = {"colab", "binder"} | ({"jupyterhub"} if CONFIG["launch_buttons"].get("jupyterhub_url") else set())
    assert set(targets) == expected, f"{page.name}: launch links found for {sorted(targets)}"
    for provider, path in targets.items():
        assert path == f"notebooks/{source.stem}.ipynb", f"{page.name}: the {provider} link opens {path}"
        assert (ROOT / path).exists(), f"{page.name}: the {provider} link opens {path}, which does not exist"


def test_the_default_build_has_no_placeholder_hub():
    hub = CONFIG["launch_buttons"].get("jupyterhub_url", "")
    assert not re.search(r"example\.(org|com|edu)", hub), f"_config.yml: placeholder JupyterHub {hub!r}"


def test_the_extension_points_every_button_at_the_notebook():
    """The theme's links (as sphinx-book-theme 1.x writes them) rewritten by scripts/launch_notebooks.py,
    with a hub address set: nbgitpuller's format, the notebook path in each."""
    from scripts import launch_notebooks

    theme_path = "book/elbo.md"
    hub = "https://hub.uni.test"
    context = {
        "header_buttons": [
            {
                "label": "launch-buttons",
                "buttons": [
                    {
                        "text": "Binder",
                        "url": f"https://mybinder.org/v2/gh/{ORG}/{REPO}/{BRANCH}?urlpath=lab/tree/{theme_path}",
                    },
                    {
                        "text": "JupyterHub",
                        "url": f"{hub}/hub/user-redirect/git-pull?repo={REPO_URL}"
                        f"&urlpath=lab/tree/{REPO}/{theme_path}&branch={BRANCH}",
                    },
                    {
                        "text": "Colab",
                        "url": f"https://colab.research.google.com/github/{ORG}/{REPO}/blob/{BRANCH}/{theme_path}",
                    },
                ],
            }
        ]
    }

    class Env:
        @staticmethod
        def doc2path(name):
            return str(ROOT / f"{name}.md")

    class App:
        env = Env()
        config = {"html_theme_options": {"path_to_docs": ""}}
        srcdir = str(ROOT)

    launch_notebooks.point_launch_buttons(App(), "book/elbo", "page.html", context, None)
    html = "".join(f'<a href="{b["url"]}">' for b in context["header_buttons"][0]["buttons"])
    assert launch_targets(html) == {p: "notebooks/elbo.ipynb" for p in ("binder", "jupyterhub", "colab")}


# --- the first cell --------------------------------------------------------------------------------


def first_cell(name: str = "latent_space") -> str:
    notebook = json.loads((ROOT / "notebooks" / f"{name}.ipynb").read_text())
    cell = notebook["cells"][0]
    assert cell["cell_type"] == "code"
    return "".join(cell["source"])


def test_every_notebook_starts_with_the_same_installer_from_the_configured_repository():
    cells = {p.stem: first_cell(p.stem) for p in chapter_sources()}
    assert len(set(cells.values())) == 1, "the notebooks' first cells differ: run `make notebooks`"
    sources = re.findall(r'^SOURCE = "(.*)"$', next(iter(cells.values())), re.M)
    assert sources == [f"git+{REPO_URL}@{BRANCH}"], "the first cell must install from _config.yml's repository"


def with_source(cell: str, source: str) -> str:
    """The first cell with its one setting, SOURCE, pointed elsewhere."""
    changed, n = re.subn(r'^SOURCE = ".*"$', f"SOURCE = {json.dumps(source)}", cell, flags=re.M)
    assert n == 1, "the first cell must have exactly one SOURCE setting"
    return changed


def _offline_pip_env() -> dict:
    """pip with no index and no dependencies (offline and fast): only the copy itself is installed.
    No build isolation, so the fresh venv's own setuptools builds it (no download)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "PIP_", "VIRTUAL_ENV"))}
    env.update(
        PIP_NO_INDEX="1",
        PIP_NO_DEPS="1",
        PIP_NO_BUILD_ISOLATION="0",
        PIP_CONFIG_FILE=os.devnull,
        PIP_DISABLE_PIP_VERSION_CHECK="1",
    )
    return env


@pytest.fixture
def fresh_venv(tmp_path_factory) -> Path:
    """A new virtual environment without the package: pip, and this environment's setuptools (the
    build backend pip needs to install from a source tree; copied, so nothing is downloaded)."""
    import setuptools

    where = tmp_path_factory.mktemp("fresh") / "venv"
    venv.EnvBuilder(with_pip=True).create(where)
    python = where / "bin" / "python"
    site = Path(
        subprocess.run(
            [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    ours = Path(setuptools.__file__).parent.parent
    for old in site.glob("setuptools*"):
        shutil.rmtree(old) if old.is_dir() else old.unlink()
    for name in (
        "setuptools",
        "_distutils_hack",
        "pkg_resources",
        "distutils-precedence.pth",
        *(p.name for p in ours.glob("setuptools-*.dist-info")),
    ):
        if (ours / name).is_dir():
            shutil.copytree(ours / name, site / name, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__"))
        elif (ours / name).exists():
            shutil.copy2(ours / name, site / name)
    return python


@pytest.fixture(scope="module")
def repository_copy(tmp_path_factory) -> Path:
    copy = tmp_path_factory.mktemp("clone") / "vaecourse"
    shutil.copytree(
        ROOT,
        copy,
        ignore=shutil.ignore_patterns(
            ".venv",
            ".git",
            "test-output",
            "_build",
            "__pycache__",
            "*.egg-info",
            "node_modules",
            "_vendor",
            ".pytest_cache",
            ".ipynb_checkpoints",
            "build",
        ),
    )
    return copy


def run_cell(python: Path, code: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(python), "-c", code], capture_output=True, text=True, cwd=cwd, env=_offline_pip_env(), timeout=300
    )


def test_first_cell_installs_the_package_from_the_repository_where_it_is_missing(fresh_venv, repository_copy, tmp_path):
    python = fresh_venv
    before = run_cell(python, "import vaecourse", tmp_path)
    assert before.returncode != 0, "the fresh environment already has vaecourse"

    cell = with_source(first_cell(), repository_copy.as_uri())
    first = run_cell(python, cell, tmp_path)
    assert first.returncode == 0, f"the first cell failed:\n{first.stdout}\n{first.stderr}"
    assert f"installing it from {repository_copy.as_uri()}" in first.stdout
    assert "installed vaecourse 0.1.0" in first.stdout

    where = run_cell(python, "import vaecourse; print(vaecourse.__file__)", tmp_path)
    assert where.returncode == 0, where.stderr
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], capture_output=True, text=True
    ).stdout.strip()
    assert Path(where.stdout.strip()).is_relative_to(site), "vaecourse was not installed into the venv"

    again = run_cell(python, cell, tmp_path)
    assert (again.returncode, again.stdout, again.stderr) == (0, "", ""), "run again, the cell must do nothing"


def test_first_cell_does_nothing_where_the_package_is_installed(tmp_path):
    result = subprocess.run([sys.executable, "-c", first_cell()], capture_output=True, text=True, cwd=tmp_path)
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def test_first_cell_says_why_it_could_not_install(fresh_venv, tmp_path):
    nowhere = (tmp_path / "no-such-repository").as_uri()
    result = run_cell(fresh_venv, with_source(first_cell(), nowhere), tmp_path)
    assert result.returncode != 0
    assert f"RuntimeError: could not install vaecourse from {nowhere}" in result.stderr
    assert "offline" in result.stderr
    assert "Traceback" not in result.stdout


# --- Binder and the torch build --------------------------------------------------------------------


def _pins(path: Path) -> dict[str, str]:
    pins = {}
    for line in path.read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9_.\[\]-]+)==(\S+)", line.strip())
        if match:
            pins[match[1].lower()] = match[2]
    return pins


def test_binder_installs_the_tested_versions_cpu_torch_and_the_package():
    binder, tested = _pins(ROOT / "binder" / "requirements.txt"), _pins(ROOT / "requirements.txt")
    assert binder, "binder/requirements.txt pins nothing"
    assert {name: tested.get(name) for name in binder} == binder, "binder/ and requirements.txt disagree"
    assert "torch" in binder and "jupyter-book" not in binder
    text = (ROOT / "binder" / "requirements.txt").read_text()
    assert f"--extra-index-url {torch_index.CPU_INDEX}" in text.splitlines()
    post = (ROOT / "binder" / "postBuild").read_text()
    assert re.search(r"pip install .*--no-deps.* \.$", post, re.M), "binder/postBuild must install the package"
    assert os.access(ROOT / "binder" / "postBuild", os.X_OK)


@pytest.mark.parametrize(
    "system, nvidia, answers, expected",
    [
        ("Linux", False, True, ["--extra-index-url", torch_index.CPU_INDEX]),
        ("Linux", False, False, []),
        ("Linux", True, True, []),
        ("Darwin", False, True, []),
        ("Windows", False, True, []),
    ],
)
def test_torch_index_prefers_cpu_only_on_linux_without_nvidia(system, nvidia, answers, expected):
    asked = []

    def reachable(index):
        asked.append(index)
        return answers

    options, note = torch_index.choose(torch_index.CPU_INDEX, system, nvidia, reachable)
    assert options == expected
    if system == "Linux" and not nvidia and not answers:
        assert "did not answer" in note and "CUDA" in note
    assert asked == ([torch_index.CPU_INDEX] if system == "Linux" and not nvidia else [])


def test_torch_index_reachability_is_asked_of_the_index(tmp_path):
    (tmp_path / "torch").mkdir()
    (tmp_path / "torch" / "index.html").write_text("<a href='torch-1.0+cpu.whl'>torch</a>")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        assert torch_index.reachable(url)
        assert not torch_index.reachable(url + "/nothing-here")
    finally:
        server.shutdown()
        server.server_close()
    assert not torch_index.reachable(url, timeout=2)  # the server is gone
