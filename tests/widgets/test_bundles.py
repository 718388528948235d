"""The widgets' JavaScript bundles (vaecourse/js/bundles/, built by esbuild from vaecourse/js/src/), without a browser.

- The committed bundles are what esbuild builds from the sources today (node and npm needed: skipped
  without them outside CI, a failure under CI).
- Each bundle is complete: every function, class or constant a source module exports that a bundle
  names is defined in that bundle (a forgotten import would leave a free name that only a browser
  would trip over); each widget bundle imports in node as an ES module with ``default.render``.
- The Web Worker bundle, evaluated alone in a ``vm`` context holding only a worker's globals (``self``,
  ``postMessage``), is sent a decoder and latent points and answers torch's log-likelihoods.
- Each widget's ``_esm`` is its bundle, and the wheel's package data carries every bundle.
"""

from __future__ import annotations

import fnmatch
import json
import re
import shutil
import subprocess
import sys

import pytest
import torch

from tests.paths import ROOT
from tests.system_packages import require_system
from vaecourse import frontend, models

sys.path.insert(0, str(ROOT / "scripts"))
import build_bundles  # noqa: E402 -- scripts/ is not a package

BUNDLES = frontend.WORKER_BUNDLES + frontend.WIDGET_BUNDLES


def _node() -> str:
    require_system("node", "nodejs")
    return shutil.which("node")


def _exported_names() -> set[str]:
    """Every name a source module exports (export function/class/const/let NAME, export { A, B })."""
    names = set()
    for path in frontend.JS_SOURCES.glob("*.js"):
        text = path.read_text()
        names |= set(re.findall(r"^export (?:async )?(?:function|class|const|let) (\w+)", text, re.MULTILINE))
        for group in re.findall(r"^export \{([^}]*)\}", text, re.MULTILINE):
            names |= {part.split(" as ")[0].strip() for part in group.split(",") if part.strip()}
    return names


def undefined_names(source: str, names: set[str]) -> set[str]:
    """The names of ``names`` used in ``source`` (not as a property) that ``source`` never declares."""
    used = {name for name in names if re.search(rf"(?<![\w.$]){re.escape(name)}(?![\w$])", source)}
    declared = set(re.findall(r"(?:function\*?|class|const|let|var)\s+(\w+)", source))
    return used - declared


def test_the_committed_bundles_are_what_esbuild_builds_from_the_sources(tmp_path):
    _node()
    require_system("npm", "npm")
    try:
        built = build_bundles.build(tmp_path)
    except build_bundles.VendorError as error:
        pytest.fail(f"esbuild could not build the bundles: {error}")
    stale = [path.name for path in built if path.read_bytes() != frontend.bundle(path.stem).read_bytes()]
    assert stale == [], f"{stale} differ from a fresh build of vaecourse/js/src/: run `make bundles` and commit them"


@pytest.mark.parametrize("name", BUNDLES)
def test_every_source_name_a_bundle_uses_is_defined_in_it(name):
    names = _exported_names()
    assert {"unpackDecoder", "asFloat32", "referencedModel", "vaeLogLikelihoodBatch"} <= names
    source = frontend.bundle(name).read_text()
    assert undefined_names(source, names) == set(), f"bundles/{name}.js uses names it does not define"


def test_the_name_check_sees_a_helper_that_was_not_imported():
    source = "function decodeInto(d, h) { return asFloat32(h); }\nexport { decodeInto };\n"
    assert undefined_names(source, {"decodeInto", "asFloat32"}) == {"asFloat32"}
    assert undefined_names(source.replace("(d, h)", "(d, asFloat32)"), {"asFloat32"}) == {"asFloat32"}
    assert undefined_names("const o = {}; o.asFloat32(1);", {"asFloat32"}) == set()


_IMPORT_ALL = """
const names = JSON.parse(process.argv[1]);
const out = {};
for (const [name, file] of Object.entries(names)) {
  const module = await import(file);
  out[name] = { exports: Object.keys(module).sort(), render: typeof (module.default && module.default.render) };
}
console.log(JSON.stringify(out));
"""


def test_every_widget_bundle_imports_in_node_with_a_render_function():
    files = {name: frontend.bundle(name).as_uri() for name in frontend.WIDGET_BUNDLES}
    result = subprocess.run(
        [_node(), "--input-type=module", "-e", _IMPORT_ALL, json.dumps(files)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    modules = json.loads(result.stdout)
    assert {name: m["render"] for name, m in modules.items()} == dict.fromkeys(frontend.WIDGET_BUNDLES, "function")
    # what the browser tests and the benchmarks import from the bundles
    assert {"unpackDecoder", "decodeBatch", "decodeInto"} <= set(modules["latent_explorer"]["exports"])
    assert {"vaePosteriorNumbers", "unpackEncoder", "vaeMnistPreprocess", "VaePosteriorEngine"} <= set(
        modules["posterior_pad"]["exports"]
    )
    assert {"VaeIsingLattice", "vaeIsingAverages", "encodeQ"} <= set(modules["ising_lattice"]["exports"])


# The worker bundle in a context with a Web Worker's globals only (no window, document, require or
# Buffer); the messages are built inside that context, as a worker receives structured clones.
_RUN_WORKER = """
const vm = require("vm");
const fs = require("fs");
const input = JSON.parse(fs.readFileSync(0, "utf8"));
const sent = [];
const worker = { postMessage: (message, transfer) => sent.push(message) };
worker.self = worker;
vm.createContext(worker);
vm.runInContext(fs.readFileSync(input.bundle, "utf8"), worker, { filename: input.bundle });
worker.input = input;
vm.runInContext(`
  onmessage({ data: { type: "init", spec: input.spec, weights: Uint8Array.from(input.weights) } });
  onmessage({ data: { type: "piece", job: 7, offset: 3, x: Float32Array.from(input.x), H: Float32Array.from(input.H),
                      n: input.n } });
`, worker);
console.log(JSON.stringify(sent.map((m) => (m.logLik ? { ...m, logLik: Array.from(m.logLik) } : m))));
"""


@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_the_worker_bundle_alone_gives_torchs_log_likelihoods(dtype):
    from vaecourse.widgets import export_decoder

    torch.manual_seed(0)
    model = models.VAE(hidden=32, latent_dim=2, data_shape=(1, 28, 28)).eval()
    decoder = export_decoder(model, dtype=dtype)
    if dtype == "float16":  # torch's reference: the same weights, rounded to float16 as the page gets them
        with torch.no_grad():
            for p in model.decoder.parameters():
                p.copy_(p.half().float())
    generator = torch.Generator().manual_seed(1)
    x = torch.bernoulli(torch.full((1, 784), 0.3), generator=generator)  # (1, D)
    h = 2 * torch.randn(37, 2, generator=generator)  # (n, 2): not a multiple of the 4-point blocks
    with torch.no_grad():
        expected = model.log_likelihood(x, h[:, None, :])[:, 0].double()  # (n,)
    payload = {
        "bundle": str(frontend.bundle("posterior_worker")),
        "spec": decoder.spec,
        "weights": list(decoder.weights),
        "x": x[0].tolist(),
        "H": h.reshape(-1).tolist(),
        "n": len(h),
    }
    result = subprocess.run(
        [_node(), "-e", _RUN_WORKER], input=json.dumps(payload), capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    (answer,) = json.loads(result.stdout)
    assert answer["type"] == "piece", answer
    assert (answer["job"], answer["offset"]) == (7, 3)
    torch.testing.assert_close(torch.tensor(answer["logLik"], dtype=torch.float64), expected, rtol=1e-4, atol=0)


def test_the_worker_reports_a_failure_as_a_message():
    spec = {
        "latent_dim": 2,
        "data_shape": [2, 2],
        "output": "sigmoid",
        "dtype": "float32",
        "layers": [{"n_in": 2, "n_out": 4, "activation": "none"}],
    }
    payload = {
        "bundle": str(frontend.bundle("posterior_worker")),
        "spec": spec,
        "weights": list(bytes(8)),
        "x": [0, 1, 0, 1],
        "H": [0, 0],
        "n": 1,
    }
    result = subprocess.run(
        [_node(), "-e", _RUN_WORKER], input=json.dumps(payload), capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    messages = json.loads(result.stdout)  # init fails (8 bytes for 12 floats), then the piece has no decoder
    assert [m["type"] for m in messages] == ["error", "error"]
    assert "decoder spec needs 12 floats" in messages[0]["message"]


def test_each_widget_runs_its_bundle_and_the_wheel_ships_every_bundle():
    from vaecourse import widgets
    from vaecourse.exercises import selftest

    classes = {
        "latent_explorer": widgets.LatentExplorer,
        "interpolation": widgets.Interpolation,
        "posterior_explorer": widgets.PosteriorExplorer,
        "posterior_pad": widgets.PosteriorPad,
        "ising_lattice": widgets.IsingLattice,
        "self_test": selftest.widget_class(),
    }
    assert set(classes) == set(frontend.WIDGET_BUNDLES)
    for name, cls in classes.items():
        assert str(cls._esm) == frontend.bundle(name).read_text(), name
        assert str(cls._css) == frontend.STYLE.read_text(), name
    pyproject = (ROOT / "pyproject.toml").read_text()
    globs = json.loads(
        re.search(
            r"^\[tool\.setuptools\.package-data\][^\[]*?^vaecourse = (\[.*?\])$", pyproject, re.MULTILINE | re.DOTALL
        )[1]
    )
    shipped = [str(path.relative_to(ROOT / "vaecourse")) for path in (*map(frontend.bundle, BUNDLES), frontend.STYLE)]
    missing = [path for path in shipped if not any(fnmatch.fnmatch(path, glob) for glob in globs)]
    assert missing == []
