"""vaecourse.settings and vaecourse.device: the smoke and offline switches, the cache folder and the device
choice."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from vaecourse import device, settings

PACKAGE = Path(settings.__file__).parent


def test_pick_follows_the_smoke_switch(monkeypatch):
    monkeypatch.setenv("VAECOURSE_SMOKE", "1")
    assert settings.is_smoke() and settings.pick(full=30, smoke=1) == 1 and settings.mode() == "smoke"
    monkeypatch.setenv("VAECOURSE_SMOKE", "0")
    assert not settings.is_smoke() and settings.pick(full=30, smoke=1) == 30
    monkeypatch.delenv("VAECOURSE_SMOKE")
    assert settings.mode() == "full"


@pytest.mark.parametrize(
    "variable, reader",
    [("VAECOURSE_SMOKE", settings.is_smoke), ("VAECOURSE_OFFLINE", settings.offline)],
    ids=["smoke", "offline"],
)
def test_the_switches_read_yes_and_no(variable, reader, monkeypatch):
    for text in ("1", "true", "TRUE", " yes ", "On"):
        monkeypatch.setenv(variable, text)
        assert reader() is True, repr(text)
    for text in ("0", "", "no"):
        monkeypatch.setenv(variable, text)
        assert reader() is False, repr(text)
    monkeypatch.delenv(variable)
    assert reader() is False


def test_cache_dir_honours_the_override(monkeypatch, tmp_path):
    monkeypatch.setenv("VAECOURSE_CACHE", str(tmp_path / "c"))
    path = settings.cache_dir("models")
    assert path == tmp_path / "c" / "models" and path.is_dir()


def test_cache_dir_defaults_to_the_user_cache(monkeypatch):
    from platformdirs import user_cache_dir

    monkeypatch.delenv("VAECOURSE_CACHE")
    assert settings.cache_dir() == Path(user_cache_dir("vaecourse", appauthor=False))


def test_environment_is_read_in_one_place():
    """Only settings.py reads the environment; every other module asks it."""
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        if path.name == "settings.py":
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if re.search(r"os\.environ|os\.getenv|getenv\(", line):
                offenders.append(f"{path.name}:{number}: {line.strip()}")
    assert offenders == []


def test_no_module_hard_codes_a_device():
    offenders = [
        f"{path.name}: {line.strip()}"
        for path in PACKAGE.rglob("*.py")
        for line in path.read_text().splitlines()
        if re.search(r"\.cuda\(\)|device\s*=\s*['\"]cuda", line)
    ]
    assert offenders == []


def test_default_device_is_a_real_device(monkeypatch):
    import torch

    monkeypatch.delenv("VAECOURSE_DEVICE", raising=False)
    chosen = device.default_device()
    assert chosen.type in {"cpu", "cuda", "mps"}
    assert torch.zeros(1, device=chosen).device.type == chosen.type


def test_device_override(monkeypatch):
    monkeypatch.setenv("VAECOURSE_DEVICE", "cpu")
    assert device.default_device().type == "cpu"
    import torch

    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            device.default_device("cuda")


def test_placement_is_the_device_and_dtype_of_the_parameters():
    import torch

    model = torch.nn.Linear(3, 2).double()
    assert device.placement(model) == (torch.device("cpu"), torch.float64)
    assert device.of(model) == torch.device("cpu")
    assert device.placement(torch.nn.ReLU()) == (torch.device("cpu"), torch.get_default_dtype())


def test_no_module_reads_the_device_from_the_first_parameter():
    """device.placement is the one place that looks at a model's parameters for its device/dtype."""
    offenders = [
        f"{path.relative_to(PACKAGE)}: {line.strip()}"
        for path in PACKAGE.rglob("*.py")
        if path.name != "device.py"
        for line in path.read_text().splitlines()
        if re.search(r"next\((iter\()?(self|model)\.parameters\(\)", line)
    ]
    assert offenders == []


def test_import_is_light():
    """`import vaecourse` must not pull in plotting, widgets, keras or torch."""
    code = (
        "import sys, vaecourse, vaecourse.settings;"
        "heavy = [m for m in ('matplotlib', 'ipywidgets', 'keras', 'torch', 'anywidget') if m in sys.modules];"
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_cli_info_and_unknown_command():
    run = [sys.executable, "-m", "vaecourse"]
    info = subprocess.run(run + ["info"], capture_output=True, text=True)
    assert info.returncode == 0 and "mode:   smoke" in info.stdout and "device:" in info.stdout
    bad = subprocess.run(run + ["frobnicate"], capture_output=True, text=True)
    assert bad.returncode == 2 and "unknown command" in bad.stderr and "Traceback" not in bad.stderr


def test_every_module_is_listed_for_lazy_loading():
    import vaecourse

    modules = {p.stem for p in PACKAGE.glob("*.py") if not p.stem.startswith("_")}
    packages = {p.parent.name for p in PACKAGE.glob("*/__init__.py")}  # checks/, ising/, widgets/
    assert {"checks", "ising", "widgets"} <= packages
    assert modules | packages == set(vaecourse._SUBMODULES)
    listed = set(re.findall(r":mod:`~vaecourse\.(\w+)`", vaecourse.__doc__))
    assert listed == set(vaecourse._SUBMODULES), "the module list in vaecourse/__init__.py's docstring"


def test_cache_dir_without_a_home_folder_says_to_set_vaecourse_cache(monkeypatch):
    """HOME unset and a user id without a passwd entry (a container run with an arbitrary uid)."""
    import pwd

    def no_entry(uid):
        raise KeyError(f"getpwuid(): uid not found: {uid}")

    for name in ("HOME", "VAECOURSE_CACHE", "XDG_CACHE_HOME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(pwd, "getpwuid", no_entry)
    with pytest.raises(OSError, match="no home folder .* set VAECOURSE_CACHE to a folder you can write to"):
        settings.cache_dir("mnist")
    monkeypatch.setenv("VAECOURSE_CACHE", "~/cache")  # a "~" that cannot be expanded either
    with pytest.raises(OSError, match="no home folder"):
        settings.cache_dir()


@pytest.mark.parametrize("where", ["the cache", "a parent"])
def test_a_cache_folder_that_is_a_dangling_link_is_reported_as_one(monkeypatch, tmp_path, where):
    link = tmp_path / "link"
    link.symlink_to(tmp_path / "gone")
    monkeypatch.setenv("VAECOURSE_CACHE", str(link if where == "the cache" else link / "vaecourse"))
    with pytest.raises(NotADirectoryError, match=r"'.*link' is a symbolic link to '.*gone', which does not exist"):
        settings.cache_dir("mnist")
    assert not (tmp_path / "gone").exists()  # nothing created behind the user's back
    (tmp_path / "gone").write_text("a file")  # a link to a file: that file is in the way
    with pytest.raises(NotADirectoryError, match="is a file, not a folder"):
        settings.cache_dir("mnist")


def test_progress_bars_are_drawn_only_outside_smoke_mode_and_the_website_build(monkeypatch):
    monkeypatch.delenv("VAECOURSE_SMOKE", raising=False)
    monkeypatch.delenv("VAECOURSE_BOOK_BUILD", raising=False)
    assert settings.show_progress()
    monkeypatch.setenv("VAECOURSE_BOOK_BUILD", "1")
    assert settings.in_book_build() and not settings.show_progress()
    monkeypatch.delenv("VAECOURSE_BOOK_BUILD")
    monkeypatch.setenv("VAECOURSE_SMOKE", "1")
    assert not settings.show_progress()
