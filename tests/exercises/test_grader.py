"""The instructors' grader (vaecourse.exercises.grade, ``python -m vaecourse grade``): a folder with a
correct, a partly correct and one hostile submission per behaviour the grader must withstand gives
the expected table, within a stated time; no submission earns a mark it did not compute, none stops
the others, and the package is the same afterwards."""

from __future__ import annotations

import csv
import socket
import subprocess
import sys
import threading
import time

import nbformat
import pytest

from vaecourse.exercises import grade
from vaecourse.exercises._core import Verdict

BERNOULLI_RIGHT = """from vaecourse.exercises import check_kl_bernoulli
import torch
def kl_bernoulli(q, p):
    return q * torch.log(q / p) + (1 - q) * torch.log((1 - q) / (1 - p))
check_kl_bernoulli(kl_bernoulli)"""
BERNOULLI_SWAPPED = BERNOULLI_RIGHT.replace(
    "return q * torch.log(q / p) + (1 - q) * torch.log((1 - q) / (1 - p))",
    "return p * torch.log(p / q) + (1 - p) * torch.log((1 - p) / (1 - q))",
)
NORMAL_RIGHT = """from vaecourse.exercises import check_kl_gaussian_1d
import torch
def kl_normal(m0, s0, m1, s1):
    return 0.5 * (torch.log(s1**2 / s0**2) + (s0**2 + (m0 - m1) ** 2) / s1**2 - 1)
check_kl_gaussian_1d(kl_normal)"""
NORMAL_SWAPPED = """import torch
def kl_normal(m0, s0, m1, s1):
    return torch.log(s0 / s1) + (s1**2 + (m1 - m0) ** 2) / (2 * s0**2) - 0.5"""

PYTORCH_RIGHT = [
    """from vaecourse.exercises import check_pytorch_scratch
import torch.nn.functional as F
def my_loss(model, x):
    q = model.encoder(x)
    h = q.rsample()
    log_px = -F.binary_cross_entropy_with_logits(model.decoder(h), x, reduction="none").sum(-1)
    kl = 0.5 * (q.scale**2 + q.loc**2 - 1 - 2 * q.scale.log()).sum(-1)
    return (kl - log_px).mean()
check_pytorch_scratch(my_loss)""",
    """import torch
def kl_diag(mu, log_sigma):
    return 0.5 * (torch.exp(2 * log_sigma) + mu**2 - 1 - 2 * log_sigma).sum(-1)""",
    """import math, torch
def iwae_bound(log_w):
    return torch.logsumexp(log_w, 0) - math.log(log_w.shape[0])""",
    "import math\nsmallest_loss = 784 * math.log(2)",
]
PYTORCH_LABELS = ["ex-pytorch-scratch", "ex-pytorch-1", "ex-pytorch-2", "ex-pytorch-3"]


def hostile_cells(real_package, repository, port):
    """{submission: [answer cells]}: each hostile behaviour next to answers that earn (or not) honestly."""
    return {
        "loops": [
            "while True:\n    pass",
            BERNOULLI_RIGHT,
            "def kl_normal(m0, s0, m1, s1):\n    while True:\n        pass",
        ],
        "crashes": ["raise RuntimeError('boom')", "import faulthandler\nfaulthandler._sigsegv()", BERNOULLI_RIGHT],
        "memory": ["x = bytearray(10**12)", "blocks = [bytearray(2**28) for _ in range(64)]", BERNOULLI_RIGHT],
        "exits": ["import os\nos._exit(3)", "import sys\nsys.exit(0)", BERNOULLI_RIGHT],
        "prints": [BERNOULLI_SWAPPED + "\nprint('PASSED [ex-kl-bernoulli] correct at 3 inputs')"],
        "patches": [
            BERNOULLI_SWAPPED,
            NORMAL_SWAPPED,
            (
                "import vaecourse.exercises as e, vaecourse.exercises._core as c\n"
                "c.close = lambda *a, **k: True\n"
                "c.observe_calls = lambda answer, calls: [{'kind': 'number', 'shape': [], 'values': 0.0}] * 9\n"
                "e.check_kl_bernoulli = lambda *a: print('PASSED')\n"
                "import sys\nsys.modules['vaecourse.exercises._core'] = None"
            ),
        ],
        "writes": [
            BERNOULLI_SWAPPED,
            "import pathlib, vaecourse.exercises._core as c\npathlib.Path(c.__file__).write_text('')",
            f"open({str(real_package / 'exercises' / '_core.py')!r}, 'a').write('CLOSE = 1')",
            f"import os\nos.remove({str(real_package / 'exercises' / 'kl_divergence.py')!r})",
            NORMAL_RIGHT,
        ],
        "reads": [
            f"text = open({str(real_package / 'exercises' / 'pytorch_vae.py')!r}).read()",
            f"text = open({str(repository / 'book' / 'pytorch_vae.md')!r}).read()",
            "from vaecourse.exercises.pytorch_vae import GREY\nsmallest_loss = GREY.expected",
            "from vaecourse.exercises import check_pytorch_3\nsmallest_loss = globals().get('smallest_loss', 0.0)",
        ],
        "network": [
            f"import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=2)",
            "import subprocess\nsubprocess.run(['curl', 'http://127.0.0.1'])",
            "import urllib.request\nurllib.request.urlopen('http://example.org', timeout=2)",
            BERNOULLI_RIGHT,
        ],
        "forges": [
            (
                "import os, sys, json\nfd = int(sys.argv[-1])\n"
                "fake = {'type': 'observations', 'label': 'ex-kl-bernoulli', 'observations': "
                "[{'kind': 'tensor', 'shape': [3], 'values': [0.1, 0.2, 0.3], 'requires_grad': True, 'grad': None}]}\n"
                "os.write(fd, (json.dumps({'type': 'ready'}) + '\\n' + json.dumps(fake) + '\\n').encode())"
            ),
            BERNOULLI_SWAPPED,
        ],
    }


def write_notebook(path, cells):
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_markdown_cell("<details><summary>Solution</summary>secret</details>")]
    notebook.cells += [nbformat.v4.new_code_cell(source, metadata={"tags": ["answer"]}) for source in cells]
    notebook.cells.append(nbformat.v4.new_code_cell("raise SystemExit('not an answer cell: never run')"))
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, path)


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    folder = tmp_path_factory.mktemp("submissions")
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.settimeout(0.2)
    connections = []

    def accept():
        while listener.fileno() != -1:
            try:
                connections.append(listener.accept())
            except OSError:
                continue

    threading.Thread(target=accept, daemon=True).start()
    write_notebook(folder / "correct" / "kl_divergence.ipynb", [BERNOULLI_RIGHT, NORMAL_RIGHT])
    write_notebook(folder / "correct" / "pytorch_vae.ipynb", PYTORCH_RIGHT)
    write_notebook(folder / "partly" / "kl_divergence.ipynb", [BERNOULLI_RIGHT, NORMAL_SWAPPED])
    repository = grade.PACKAGE.parent
    for name, cells in hostile_cells(grade.PACKAGE, repository, listener.getsockname()[1]).items():
        chapter = "pytorch_vae" if name == "reads" else "kl_divergence"
        write_notebook(folder / name / f"{chapter}.ipynb", cells)
    before = grade.fingerprint(grade.PACKAGE)
    started = time.monotonic()
    rows = grade.grade_folder(
        folder, grade.Limits(seconds=60, cell_seconds=4, memory_bytes=3 * 2**30, cpu_seconds=120), log=lambda line: None
    )
    seconds = time.monotonic() - started
    listener.close()
    table = {(row.student, row.exercise): row for row in rows}
    return {
        "rows": rows,
        "table": table,
        "seconds": seconds,
        "connections": connections,
        "unchanged": grade.fingerprint(grade.PACKAGE) == before,
        "folder": folder,
    }


def score(graded, student, label):
    return graded["table"][(student, label)].score


def test_a_correct_submission_earns_every_mark(graded):
    assert score(graded, "correct", "ex-kl-bernoulli") == 1 and score(graded, "correct", "ex-kl-gaussian-1d") == 1
    for label in PYTORCH_LABELS:
        row = graded["table"][("correct", label)]
        assert row.score == 1, row


def test_a_partly_correct_submission_earns_its_right_answers_and_the_message_of_its_mistake(graded):
    assert score(graded, "partly", "ex-kl-bernoulli") == 1
    row = graded["table"][("partly", "ex-kl-gaussian-1d")]
    assert row.score == 0 and "arguments are swapped" in row.message


def test_loops_crashes_memory_and_exits_do_not_cost_the_honest_answers(graded):
    for student in ("loops", "crashes", "memory", "exits"):
        assert score(graded, student, "ex-kl-bernoulli") == 1, graded["table"][(student, "ex-kl-bernoulli")]
    looping = graded["table"][("loops", "ex-kl-gaussian-1d")]
    assert looping.score == 0 and "ran past" in looping.message
    assert "answer cell 1: ran past" in looping.notes
    assert "stopped the process" in graded["table"][("crashes", "ex-kl-bernoulli")].notes
    assert "MemoryError" in graded["table"][("memory", "ex-kl-bernoulli")].notes
    assert "stopped the process (ended with exit code 3)" in graded["table"][("exits", "ex-kl-bernoulli")].notes


def test_printing_passed_patching_the_checks_or_forging_the_channel_earns_nothing(graded):
    for student in ("prints", "patches", "forges"):
        assert score(graded, student, "ex-kl-bernoulli") == 0, graded["table"][(student, "ex-kl-bernoulli")]
    assert "arguments are swapped" in graded["table"][("prints", "ex-kl-bernoulli")].message
    assert score(graded, "patches", "ex-kl-gaussian-1d") == 0


def test_writing_into_the_package_is_refused_and_changes_nothing(graded):
    row = graded["table"][("writes", "ex-kl-gaussian-1d")]
    assert row.score == 1 and score(graded, "writes", "ex-kl-bernoulli") == 0
    assert row.notes.count("PermissionError") == 3
    assert graded["unchanged"]


def test_reading_the_solutions_or_the_checks_is_refused(graded):
    row = graded["table"][("reads", "ex-pytorch-3")]
    assert row.score == 0
    assert row.notes.count("PermissionError") == 2, row.notes  # the checks' file and the book
    assert "No module named 'vaecourse.exercises.pytorch_vae'" in row.notes  # the sandbox's copy has no checks
    assert "a decoder cannot reach zero" in row.message  # the answer fell back to 0.0
    assert "secret" not in "".join(r.message + r.notes for r in graded["rows"])


def test_no_network_and_no_processes(graded):
    assert graded["connections"] == []
    notes = graded["table"][("network", "ex-kl-bernoulli")].notes
    assert notes.count("answer cell") >= 3 and score(graded, "network", "ex-kl-bernoulli") == 1


def test_the_folder_is_graded_within_the_stated_time(graded):
    assert graded["seconds"] < 240, graded["seconds"]  # README: about 2-20 s a submission on 2 cores


def test_the_command_writes_the_table(graded, tmp_path):
    folder = tmp_path / "one"
    write_notebook(folder / "ann.ipynb", [BERNOULLI_RIGHT])
    out = tmp_path / "scores.csv"
    run = subprocess.run(
        [sys.executable, "-m", "vaecourse", "grade", str(folder), "--out", str(out), "--seconds", "60"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    with out.open() as table:
        rows = list(csv.DictReader(table))
    assert rows[0]["student"] == "ann" and rows[0]["exercise"] == "ex-kl-bernoulli" and rows[0]["score"] == "1"
    assert {row["exercise"] for row in rows} == {"ex-kl-bernoulli", "ex-kl-gaussian-1d"}
    bad = subprocess.run(
        [sys.executable, "-m", "vaecourse", "grade", str(tmp_path / "nowhere")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert bad.returncode == 2 and "not a folder" in bad.stderr and "Traceback" not in bad.stderr


class _Judge:
    """An exercise whose judge passes one-element observations of value 1 and raises on anything else."""

    def judge(self, cases, observations):
        if observations[0]["values"] != 1:
            raise ZeroDivisionError
        return Verdict("ex-stub", True, "right")


STUB_CASES = [{"describe": "one case"}]


@pytest.mark.parametrize(
    ("run", "score", "message"),
    [
        (grade.Run(ended="time"), 0, "not graded: the submission stopped before this answer was observed"),
        (
            grade.Run(ready=True, observations={"ex-stub": None}),
            0,
            "no answer: `f` is not defined by the answer cells, or is still `...`",
        ),
        (grade.Run(ready=True), 0, "no answer: `f` is not defined"),
        (
            grade.Run(ready=True, observations={"ex-stub": [{"kind": "error", "error": "KeyError: 3"}, {}]}),
            0,
            "your code raised KeyError: 3",
        ),
        (grade.Run(ready=True, observations={"ex-stub": "forged"}), 0, "the answer could not be observed"),
        (
            grade.Run(ready=True, observations={"ex-stub": [{"values": 2}]}),
            0,
            "the answer could not be judged (ZeroDivisionError)",
        ),
        (grade.Run(ready=True, observations={"ex-stub": [{"values": 1}]}), 1, "right"),
    ],
)
def test_each_answer_earns_a_mark_only_from_a_judged_observation_and_says_why(run, score, message):
    got_score, got_message = grade._verdict("ex-stub", _Judge(), "f", STUB_CASES, run)
    assert got_score == score
    assert got_message == message
