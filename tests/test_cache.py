"""cache: one key, one fingerprint, one atomic write and one damage policy, for every cached artefact.

Each cache of the package (a trained model, the objectives' models, the conditional Ising VAE, the
Keras example, the spectra, the Ising data set) is driven through its public function: a damaged or
foreign entry is rebuilt with one warning when cheap and refused with the file and the remedy when
not; a second call loads; writers never share a temporary file and never follow a planted link; a
failed write keeps the old entry. The trained-model key changes with every setting that changes the
weights and with the data, and with nothing else. The package has no import cycle, and the key, fingerprint and
atomic-write code exists once.
"""

from __future__ import annotations

import ast
import dataclasses
import os
import pickle
import re
import subprocess
import sys
import tempfile
import textwrap
import threading
import warnings
from pathlib import Path

import pytest
import torch

from vaecourse import cache, objectives, recipes, spectra
from vaecourse.config import TrainConfig
from vaecourse.ising import conditional, sampler
from vaecourse.models import ModelConfig

pytestmark = pytest.mark.usefixtures("one_thread")

PACKAGE = Path(cache.__file__).parent


# ----------------------------------------------------------------------------- the six caches, driven alike


def _models(variant: int = 0, force: bool = False):
    x = torch.rand(60, 1, 4, 4, generator=torch.Generator().manual_seed(0))
    trained = recipes.load_or_train(
        ModelConfig("mlp", latent_dim=2, hidden=8 + variant, data_shape=(1, 4, 4)),
        TrainConfig(epochs=1, batch_size=30, binarize="grey"),
        x,
        name="tiny",
        progress=False,
        force=force,
    )
    return trained.model.state_dict()


def _objectives(variant: int = 0, force: bool = False):
    images = torch.rand(64, 1, 28, 28, generator=torch.Generator().manual_seed(1))
    spec = objectives.ModelSpec("t-beta", hidden=8 + variant, objective=objectives.Objective(beta=2.0))
    (trained,) = objectives.load_or_fit([spec], images, objectives.FitSettings(epochs=1, batch_size=32), force=force)
    return trained.posterior.state_dict()


def _rows():
    data = sampler.simulate(4, [1.5, 3.0], n_chains=4, n_samples=4, burn_in=2, device="cpu", seed=0)
    return conditional.pack(data.spins, data.temperature)


def _conditional(variant: int = 0, force: bool = False):
    model, _ = conditional.train_conditional(
        conditional.ConditionalConfig(L=4, hidden=8 + variant),
        _rows(),
        TrainConfig(epochs=1, batch_size=8, binarize="grey"),
        force=force,
    )
    return model.state_dict()


def _keras(variant: int = 0, force: bool = False):
    from vaecourse import keras_vae as kv

    images = torch.rand(64, 1, 28, 28, generator=torch.Generator().manual_seed(2))
    model, _ = kv.train(images, kv.KerasConfig(latent_dim=2 + variant, epochs=1, batch_size=64, seed=7), force=force)
    return {f"w{i}": w.value.detach().clone() for i, w in enumerate(model.weights)}


def _spectra(variant: int = 0, force: bool = False):
    return vars(spectra.spectra_dataset(spectra.SpectraConfig(n=30, n_pixels=16 + variant, seed=3)))


def _ising(variant: int = 0, force: bool = False):
    return vars(
        sampler.ising_dataset(
            L=4, temperatures=[1.5, 3.0], n_per_T=4, samples_per_chain=2, burn_in=2, thin=1, seed=variant, device="cpu"
        )
    )


# name: (call, folder, file-name prefix, cheap to rebuild whatever CHEAP_IMAGES says)
CACHES = {
    "models": (_models, "models", "tiny-", False),
    "objectives": (_objectives, "models", "t-beta-", False),
    "conditional": (_conditional, "models", "ising-cvae-", False),
    "keras": (_keras, "keras", "vae-", False),
    "spectra": (_spectra, "spectra", "spectra-", True),
    "ising": (_ising, "ising", "ising-L4-", True),
}


def _entry(root: Path, kind: str, prefix: str) -> Path:
    (path,) = [p for p in (root / kind).iterdir() if p.name.startswith(prefix) and not p.name.endswith(".tmp")]
    return path


def _same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(
        torch.equal(torch.as_tensor(a[k]).cpu(), torch.as_tensor(b[k]).cpu()) for k in a
    )


class _Evil:
    def __reduce__(self):
        return (os.system, (f"touch {tempfile.gettempdir()}/vaecourse-unpickled",))


DAMAGES = {
    "truncated": lambda blob: blob[: len(blob) // 3],
    "random": lambda blob: os.urandom(500),
    "empty": lambda blob: b"",
    "html": lambda blob: b"<!DOCTYPE html><html><body>Service unavailable</body></html>",
    "pickle": lambda blob: pickle.dumps(_Evil()),
}


def _no_writes(monkeypatch):
    def refuse(path, write):
        raise AssertionError(f"rebuilt {Path(path).name} although it was in the cache")

    monkeypatch.setattr(cache, "write_atomically", refuse)


@pytest.mark.parametrize("name", CACHES)
def test_a_second_identical_call_loads_without_rebuilding(fresh, monkeypatch, name):
    call, kind, prefix, _ = CACHES[name]
    first = call()
    path = _entry(fresh, kind, prefix)
    before = path.stat()
    with monkeypatch.context() as patch:
        _no_writes(patch)
        assert _same(call(), first)
    assert path.stat().st_ino == before.st_ino and path.stat().st_mtime_ns == before.st_mtime_ns


@pytest.mark.parametrize("damage", [*DAMAGES, "foreign"])
@pytest.mark.parametrize("name", CACHES)
def test_a_damaged_or_foreign_entry_is_rebuilt_with_one_warning(fresh, monkeypatch, name, damage):
    call, kind, prefix, _ = CACHES[name]
    first = call()
    path = _entry(fresh, kind, prefix)
    if damage == "foreign":  # another artefact's file of the same cache (another size), under this entry's name
        call(variant=1)
        other = next(p for p in (fresh / kind).iterdir() if p.name.startswith(prefix) and p != path)
        other.replace(path)
    else:
        path.write_bytes(DAMAGES[damage](path.read_bytes()))
    flag = Path(tempfile.gettempdir()) / "vaecourse-unpickled"
    flag.unlink(missing_ok=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", cache.CacheRebuiltWarning)
        again = call()
    assert not flag.exists()  # the pickle was never unpickled
    rebuilt = [w for w in caught if issubclass(w.category, cache.CacheRebuiltWarning)]
    assert len(rebuilt) == 1 and path.name in str(rebuilt[0].message), [str(w.message) for w in caught]
    assert _same(again, first)  # rebuilt from the same seed
    with monkeypatch.context() as patch:  # rewritten whole: it loads
        _no_writes(patch)
        assert _same(call(), first)


@pytest.mark.parametrize("name", [name for name, spec in CACHES.items() if not spec[3]])
def test_a_damaged_expensive_entry_names_the_file_and_the_remedy(fresh, monkeypatch, name):
    call, kind, prefix, _ = CACHES[name]
    first = call()
    path = _entry(fresh, kind, prefix)
    path.write_bytes(path.read_bytes()[:100])
    monkeypatch.setattr(cache, "CHEAP_IMAGES", 0)
    with pytest.raises(cache.CacheEntryError) as error:
        call()
    text = str(error.value)
    assert path.name in text and "force=True" in text and "python -m vaecourse info" in text
    assert path.exists()  # kept for the user to decide
    assert _same(call(force=True), first)


def test_entries_already_on_disk_keep_their_names(fresh):
    """The keys of vaecourse 0.1.0 (a new version renames the versioned ones: update these then)."""
    _models()
    _objectives()
    _spectra()
    _ising()
    _conditional()
    names = sorted(p.name for kind in ("models", "spectra", "ising") for p in (fresh / kind).iterdir())
    assert names == sorted(
        [
            "tiny-1b295cd804667f43.pt",
            "t-beta-47ecd7c2debcc5d9.pt",
            "spectra-5347d1258086b1757719.pt",
            "ising-L4-0536a0d45b24c342c2a6.pt",
            "ising-cvae-mlp-2d-963aed82b5e05f05.pt",
        ]
    )


TRAIN_CHANGES = {"epochs": 3, "batch_size": 16, "lr": 2e-3, "binarize": "static", "n_samples": 2, "seed": 1}
TRAIN_NEUTRAL = {"device": "cuda", "eval_batch_size": 7}


def test_the_conditional_key_follows_the_settings_that_change_the_weights(fresh):
    rows, config, base = _rows(), conditional.ConditionalConfig(L=4, hidden=8), TrainConfig(binarize="grey")
    assert {f.name for f in dataclasses.fields(TrainConfig)} == set(TRAIN_CHANGES) | set(TRAIN_NEUTRAL)
    name = conditional._cache_file(config, base, rows).name
    for field, value in TRAIN_NEUTRAL.items():
        assert conditional._cache_file(config, dataclasses.replace(base, **{field: value}), rows).name == name
    for field, value in TRAIN_CHANGES.items():
        assert conditional._cache_file(config, dataclasses.replace(base, **{field: value}), rows).name != name, field
    assert conditional._cache_file(config, base, rows[:-1]).name != name


BASE_MODEL = ModelConfig("mlp", latent_dim=2, hidden=32, data_shape=(1, 28, 28))
MODEL_CHANGES = {  # one changed value per ModelConfig field
    "architecture": "conv",
    "latent_dim": 3,
    "hidden": 16,
    "data_shape": (1, 8, 8),
    "likelihood": "gaussian",
    "decoder_activation": "tanh",
}
BASE_TRAIN = TrainConfig(epochs=2, batch_size=32, lr=3e-3, device="cpu")


def test_every_field_is_classified_for_the_cache_key():
    """A new config field must be added above: as changing the weights or not."""
    assert {f.name for f in dataclasses.fields(ModelConfig)} == set(MODEL_CHANGES)
    assert {f.name for f in dataclasses.fields(TrainConfig)} == set(TRAIN_CHANGES) | set(TRAIN_NEUTRAL)


@pytest.mark.parametrize("field, value", MODEL_CHANGES.items(), ids=list(MODEL_CHANGES))
def test_every_model_field_changes_the_cache_key(field, value):
    changed = dataclasses.replace(BASE_MODEL, **{field: value})
    assert recipes.cache_key(changed, BASE_TRAIN, "data") != recipes.cache_key(BASE_MODEL, BASE_TRAIN, "data")


@pytest.mark.parametrize("field, value", TRAIN_CHANGES.items(), ids=list(TRAIN_CHANGES))
def test_every_training_field_changes_the_cache_key(field, value):
    changed = dataclasses.replace(BASE_TRAIN, **{field: value})
    assert recipes.cache_key(BASE_MODEL, changed, "data") != recipes.cache_key(BASE_MODEL, BASE_TRAIN, "data")


@pytest.mark.parametrize("field, value", [*TRAIN_NEUTRAL.items(), ("device", None)])
def test_device_and_eval_batch_size_leave_the_cache_key_alone(field, value):
    changed = dataclasses.replace(BASE_TRAIN, **{field: value})
    assert recipes.cache_key(BASE_MODEL, changed, "data") == recipes.cache_key(BASE_MODEL, BASE_TRAIN, "data")
    assert recipes.cache_key(BASE_MODEL, BASE_TRAIN, "other data") != recipes.cache_key(BASE_MODEL, BASE_TRAIN, "data")


# ----------------------------------------------------------------------------- the key, the fingerprint


def test_the_key_hashes_the_fields_the_data_and_the_version(monkeypatch):
    base = cache.key({"a": 1, "b": [1, 2]}, data="d")
    assert base == cache.key({"b": [1, 2], "a": 1}, data="d")  # order of the fields does not matter
    assert (
        len(
            {
                base,
                cache.key({"a": 2, "b": [1, 2]}, data="d"),
                cache.key({"a": 1, "b": [1, 2]}, data="e"),
                cache.key({"a": 1, "b": [1, 2]}, data="d", versioned=False),
            }
        )
        == 4
    )
    monkeypatch.setattr(cache, "__version__", "99.0")
    assert cache.key({"a": 1, "b": [1, 2]}, data="d") != base


def test_the_fingerprint_sees_values_shapes_and_dtypes_of_tensors_and_arrays():
    x = torch.arange(12, dtype=torch.float32).reshape(3, 4)
    assert cache.fingerprint(x) == cache.fingerprint(x.clone()) == cache.fingerprint(x.numpy())
    changed = x.clone()
    changed[1, 2] += 1
    others = [changed, x.reshape(4, 3), x.double(), x[:2]]
    assert len({cache.fingerprint(x), *(cache.fingerprint(o) for o in others)}) == 5
    assert cache.fingerprint(x, None) != cache.fingerprint(x)


# ----------------------------------------------------------------------------- the atomic write


def test_two_threads_writing_one_entry_never_collide(tmp_path):
    target = tmp_path / "shared.pt"
    errors = []

    def writer(name):
        try:
            for i in range(30):
                cache.write_atomically(
                    target, lambda tmp, i=i: torch.save({"writer": name, "i": i, "pad": torch.zeros(20000)}, tmp)
                )
        except Exception as error:  # noqa: BLE001 -- reported by the assertion below
            errors.append(error)

    threads = [threading.Thread(target=writer, args=(name,)) for name in "ab"]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert torch.load(target, weights_only=True)["i"] == 29
    assert [p.name for p in tmp_path.iterdir()] == ["shared.pt"]


CONCURRENT = """
    import sys, torch
    from vaecourse import cache
    for i in range(40):
        cache.write_atomically(sys.argv[1], lambda tmp: torch.save({"writer": sys.argv[2], "i": i,
                                                                       "pad": torch.zeros(20000)}, tmp))
"""


def test_two_writers_of_one_cache_file_use_their_own_temporary_names(tmp_path):
    """Two processes (not threads) writing one entry: each its own temporary name, one whole file left."""
    target = tmp_path / "shared.pt"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", textwrap.dedent(CONCURRENT), str(target), name], stderr=subprocess.PIPE, text=True
        )
        for name in ("a", "b")
    ]
    errors = [p.communicate(timeout=120)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], errors
    assert torch.load(target, weights_only=True)["i"] == 39  # a whole file from one of them
    assert [p.name for p in tmp_path.iterdir()] == ["shared.pt"]


def test_two_builders_of_one_entry_leave_one_whole_entry(tmp_path):
    target = tmp_path / "entry.pt"
    barrier, results = threading.Barrier(2), []

    def build(value):
        barrier.wait(timeout=30)  # both are building before either writes
        return {"value": torch.full((5000,), float(value))}

    def worker(value):
        results.append(
            cache.load_or_build(
                target,
                lambda: build(value),
                lambda r, tmp: torch.save(r, tmp),
                cache.read_tensors,
                cheap=True,
                what="test entry",
            )
        )

    threads = [threading.Thread(target=worker, args=(v,)) for v in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stored = cache.read_tensors(target)["value"]
    assert len(results) == 2 and stored.unique().numel() == 1 and float(stored[0]) in (1.0, 2.0)
    assert [p.name for p in tmp_path.iterdir()] == ["entry.pt"]


def test_a_link_planted_at_the_temporary_name_is_not_followed(tmp_path, monkeypatch):
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    target = tmp_path / "entry.pt"
    names = iter(["planted", "fresh0001", "fresh0002"])
    monkeypatch.setattr(tempfile, "_get_candidate_names", lambda: names)  # the first name is predictable
    planted = tmp_path / f".entry.pt.{os.getpid()}-planted.tmp"
    planted.symlink_to(victim)
    cache.write_atomically(target, lambda tmp: torch.save({"a": torch.ones(3)}, tmp))
    assert victim.read_text() == "keep me" and planted.is_symlink()
    assert torch.equal(cache.read_tensors(target)["a"], torch.ones(3)) and not target.is_symlink()


@pytest.mark.parametrize("name", ["spectra", "conditional", "objectives"])
def test_links_at_the_old_predictable_temporary_names_are_not_followed(fresh, name):
    """These three caches once wrote NAME.tmp or .NAME.tmp beside the entry, then renamed it."""
    call, kind, prefix, _ = CACHES[name]
    call()
    path = _entry(fresh, kind, prefix)
    path.unlink()
    victim = fresh.parent / "victim.txt"
    victim.write_text("keep me")
    for planted in (path.with_suffix(".tmp"), path.with_name(f".{path.name}.tmp")):
        planted.symlink_to(victim)
    call()
    assert victim.read_text() == "keep me" and path.is_file() and not path.is_symlink()


def test_a_damaged_link_at_the_entry_is_removed_not_its_target(fresh):
    call, kind, prefix, _ = CACHES["spectra"]
    first = call()
    path = _entry(fresh, kind, prefix)
    victim = fresh.parent / "victim.txt"
    victim.write_text("not a tensor file")
    path.unlink()
    path.symlink_to(victim)
    with pytest.warns(cache.CacheRebuiltWarning):
        again = call()
    assert victim.read_text() == "not a tensor file" and path.is_file() and not path.is_symlink()
    assert _same(again, first)


@pytest.mark.parametrize("dangling", [False, True])
def test_a_write_to_an_existing_link_is_refused_naming_the_file(tmp_path, dangling):
    victim = tmp_path / "victim.txt"
    if not dangling:
        victim.write_text("keep me")
    target = tmp_path / "entry.pt"
    target.symlink_to(victim)
    with pytest.raises(FileExistsError, match=r"entry\.pt' is a symbolic link.*remove the link"):
        cache.write_atomically(target, lambda tmp: torch.save({"a": torch.ones(2)}, tmp))
    assert target.is_symlink() and os.readlink(target) == str(victim)
    assert (victim.read_text() == "keep me") if not dangling else not victim.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def _full_disk(obj, tmp, *args, **kwargs):  # torch.save on a full disk
    with open(tmp, "wb") as handle:
        handle.write(b"half an entry")
    raise OSError(28, "No space left on device")


@pytest.mark.parametrize("fault", ["full disk", "unwritable folder"])
def test_a_failed_write_keeps_the_old_entry_and_names_the_file(fresh, monkeypatch, fault):
    call, kind, prefix, _ = CACHES["models"]
    first = call()
    path = _entry(fresh, kind, prefix)
    blob = path.read_bytes()
    with monkeypatch.context() as patch:
        if fault == "full disk":
            patch.setattr(torch, "save", _full_disk)
        elif os.geteuid() == 0:  # root writes into a chmod-ed folder anyway: the refusal mkstemp would meet

            def refused(*args, **kwargs):
                raise PermissionError(13, "Permission denied")

            patch.setattr(tempfile, "mkstemp", refused)
        else:
            path.parent.chmod(0o555)
        try:
            with pytest.raises(OSError, match=re.escape(path.name)):
                call(force=True)  # retrain over the entry: its first write fails
        finally:
            path.parent.chmod(0o755)
    assert path.read_bytes() == blob
    assert not [p for p in path.parent.iterdir() if p.name.endswith(".tmp")]
    assert _same(call(), first)


# ----------------------------------------------------------------------------- the package's shape


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _import_graph() -> dict[str, set[str]]:
    """vaecourse module -> the vaecourse modules it imports (at the top or inside a function)."""
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    base = ".".join([*package.split(".")[: len(package.split(".")) - node.level + 1], base]).strip(".")
                targets = [
                    f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base for alias in node.names
                ]
            else:
                continue
            graph[name] |= {t for t in targets if t in modules and t != name}
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str]:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node):
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt) :] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return []

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return []


def test_the_package_has_no_import_cycle():
    graph = _import_graph()
    assert "vaecourse.checkpoints" in graph["vaecourse.train"]  # the graph sees imports
    assert _cycle(graph) == []


def test_the_cycle_finder_finds_a_cycle():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]


KEY_AND_WRITE_CODE = {
    "a hash": r"\bhashlib\b",
    "a rename": r"\bos\.replace\(|\.replace\(\s*(path|target|paths\[)",
    "a key from JSON": r"json\.dumps\([^)]*sort_keys",
    "a temporary file": r"\.tmp\b['\"]|with_suffix\(\s*['\"]\.tmp|mkstemp|NamedTemporaryFile",
}


#: Key-like code outside cache.py, each with the reason it is not a second cache: (file, what) -> why.
KEY_AND_WRITE_CODE_ALLOWED = {
    ("exercises/grade.py", "a hash"): "grade.fingerprint hashes the package's files before and after a "
    "submission to detect tampering: an integrity check, not a cache key",
}


def test_the_key_fingerprint_and_atomic_write_code_exists_once():
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.name == "cache.py":
            continue
        text = path.read_text()
        offenders += [
            f"{path.relative_to(PACKAGE)}: {what}"
            for what, pattern in KEY_AND_WRITE_CODE.items()
            if re.search(pattern, text) and (str(path.relative_to(PACKAGE)), what) not in KEY_AND_WRITE_CODE_ALLOWED
        ]
    assert offenders == [], "use vaecourse.cache (key, fingerprint, cache_file, write_atomically, load_or_build)"


def test_every_cache_module_goes_through_the_cache_module():
    for name in (
        "objectives.py",
        "ising/conditional.py",
        "keras_vae.py",
        "spectra.py",
        "ising/sampler.py",
        "recipes.py",
        "checkpoints.py",
        "data.py",
    ):
        text = (PACKAGE / name).read_text()
        assert (
            "vaecourse.cache" in text
            or "from vaecourse import cache" in text
            or re.search(r"from vaecourse import [^\n]*\bcache\b", text)
        ), name
        assert not re.search(r"torch\.load\(\w+,|np\.load\(", text), name  # cache reads without pickles


# ----------------------------------------------------------------------------- every write goes through the writer

#: A call that writes a file (or moves one into place).
WRITE_CALLS = re.compile(
    r"""\bopen\([^)]*["'][wax]b?\+?["']|\.write_(text|bytes)\(|\.savefig\("""
    r"""|\bnp\.save(z|z_compressed|txt)?\(|\btorch\.save\(|\bjson\.dump\(|\bpickle\.dump\(|\.tofile\(|\bshutil\.(copy\w*|move)\("""
    r"""|\bos\.(replace|rename)\(|\burlretrieve\("""
)

#: Writes that do not go through cache.write_atomically, each with the reason it is safe: (file, text) -> why.
UNGUARDED_WRITES_ALLOWED = {
    (
        "data.py",
        'with open(output_file, "wb") as handle:',
    ): "pooch's downloader fills pooch's own temporary file (tempfile, created exclusively), which pooch "
    "moves into place once its SHA-256 matched; fetch refuses a link at the final name before",
    ("grade.py", "shutil.copytree(PACKAGE, target"): "the grader's copy of the package for a sandboxed "
    "submission, in its own fresh scratch folder (tempfile.mkdtemp), deleted after the submission",
    ("grade.py", '(target / "exercises" / "__init__.py").write_text('): "the stand-in checks of that "
    "sandbox copy, in the same private scratch folder",
    ("grade.py", 'open(root / "stdout", "wb")'): "the sandboxed child's output log, in the same private scratch folder",
}


def _unguarded_writes(text: str) -> list[tuple[int, str]]:
    """(line number, line) of each write in ``text`` outside cache.write_atomically.

    A write is guarded when its line hands it to ``write_atomically``/``load_or_build``, or when it
    fills ``tmp`` -- the temporary file those pass to their write callback -- on its line or the line
    before (``with open(tmp, "wb") as handle:`` then ``np.savez(handle, ...)``).
    """
    lines = text.splitlines()
    found = []
    for i, line in enumerate(lines):
        code = line.split("#")[0]
        if not WRITE_CALLS.search(code) or code.lstrip().startswith(('"', "'")):
            continue
        context = code + (lines[i - 1].split("#")[0] if i else "")
        if re.search(r"\bwrite_atomically\(|\bload_or_build\(|(?<![.\w])tmp\b", context):
            continue
        found.append((i + 1, line.strip()))
    return found


def test_no_write_in_the_package_bypasses_the_atomic_writer():
    """Figures, checkpoints, histories, caches and downloads: a unique temporary file, then a rename."""
    offenders, allowed_seen = [], set()
    for path in sorted(PACKAGE.rglob("*.py")):
        for number, line in _unguarded_writes(path.read_text()):
            allowed = [k for k in UNGUARDED_WRITES_ALLOWED if k[0] == path.name and k[1] in line]
            if allowed:
                allowed_seen.update(allowed)
            else:
                offenders.append(f"{path.relative_to(PACKAGE)}:{number}: {line}")
    assert offenders == [], "write through vaecourse.cache.write_atomically (or list the exception with its reason)"
    assert allowed_seen == set(UNGUARDED_WRITES_ALLOWED), "an allowed exception no longer exists: remove it"


def test_the_write_guard_sees_direct_writes_and_passes_the_writer_s_callbacks():
    text = textwrap.dedent("""
        fig.savefig(out / filename, dpi=100)
        path.write_bytes(payload)
        with open(path, "wb") as handle:
            np.savez(handle, **arrays)
        torch.save(state, path.with_suffix(".tmp"))
        cache.write_atomically(path, lambda tmp: torch.save(payload, tmp))
        with open(tmp, "wb") as handle:
            np.savez(handle, images=images)
        return load_or_build(path, build, lambda out, tmp: torch.save(vars(out), tmp), load,
        with open(path, "rb") as handle:
    """)
    assert [n for n, _ in _unguarded_writes(text)] == [2, 3, 4, 5, 6]
