"""The chapters' self-tests (vaecourse.exercises.selftest and its front end js/src/self_test.js): the
right answer is accepted and a wrong one gets its hint, judged by the front end itself (node), in the
widget a kernel shows, and in Chromium as the static website renders it (no kernel)."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from scripts.chapters import chapter_sources, read_chapter
from tests.system_packages import require_system
from vaecourse import frontend
from vaecourse.exercises import selftest

ALL = [(chapter, q) for chapter, qs in selftest.QUESTIONS.items() for q in qs]


def right_answer(question):
    return str(question["answer"]) if question["kind"] != "choice" else question["answer"]


def wrong_answer(question):
    if question["kind"] == "choice":
        return (question["answer"] + 1) % len(question["choices"])
    if question["kind"] == "number":
        return str(question["answer"] * 1.5 + 1)
    return f"({question['answer']}) + 1"


def judge_in_node(pairs):
    """[(question, answer)] -> [verdict] by the bundle's own judge()."""
    require_system("node", "nodejs")  # .ci/run installs npm, which brings it: a failure under CI
    script = (
        f"import {{ judge }} from {json.dumps(frontend.bundle('self_test').as_uri())};\n"
        "let input = ''; process.stdin.on('data', d => input += d);\n"
        "process.stdin.on('end', () => console.log(JSON.stringify(JSON.parse(input).map(([q, a]) => judge(q, a)))));"
    )
    run = subprocess.run(
        [shutil.which("node"), "--input-type=module", "-e", script],
        input=json.dumps(pairs),
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout)


def test_every_right_answer_is_accepted_and_every_wrong_one_gets_its_hint():
    pairs = [(q, right_answer(q)) for _, q in ALL] + [(q, wrong_answer(q)) for _, q in ALL]
    verdicts = judge_in_node(pairs)
    for (question, answer), verdict in zip(pairs[: len(ALL)], verdicts[: len(ALL)]):
        assert verdict["correct"], (question["id"], answer, verdict)
    for (question, _answer), verdict in zip(pairs[len(ALL) :], verdicts[len(ALL) :]):
        assert not verdict["correct"] and f"Hint: {question['hint']}" in verdict["message"], (question["id"], verdict)


def test_known_wrong_answers_say_what_is_wrong():
    pairs = [
        (q, (str(w["answer"]) if q["kind"] != "choice" else w["answer"]), w["message"])
        for _, q in ALL
        for w in q["wrong"]
    ]
    assert len(pairs) >= 15
    verdicts = judge_in_node([(q, a) for q, a, _ in pairs])
    for (question, _, message), verdict in zip(pairs, verdicts):
        assert not verdict["correct"] and message in verdict["message"], (question["id"], verdict)


def test_answers_written_differently_and_unreadable_answers():
    q = dict(selftest.QUESTIONS["elbo"][0])
    grey = dict(selftest.QUESTIONS["pytorch_vae"][0])
    verdicts = judge_in_node(
        [
            (q, "c**2 - 1 - log(c^2)"),
            (q, "-(2 ln(c) - c c + 1)"),
            (grey, "784*ln(2)"),
            (grey, "784 *"),
            (grey, "import os"),
            (q, ""),
        ]
    )
    assert [v["correct"] for v in verdicts] == [True, True, True, False, False, False]
    assert verdicts[3]["message"].startswith("Cannot read your answer")
    assert verdicts[4]["message"].startswith("Cannot read your answer")
    assert verdicts[5]["message"] == "Give an answer first."


def test_every_chapter_with_exercises_has_a_self_test_of_three_to_six_questions_shown_at_its_end():
    chapters = {source.stem: source for source in chapter_sources()}
    assert set(selftest.QUESTIONS) == set(chapters) - {"intro"}
    for chapter, questions in selftest.QUESTIONS.items():
        assert 3 <= len(questions) <= 6 and len({q["id"] for q in questions}) == len(questions)
        cells = [c.source for c in read_chapter(chapters[chapter]).cells if c.cell_type == "code"]
        assert f'self_test("{chapter}")' in cells[-1], chapter


def test_the_widget_carries_the_questions_and_the_bundle():
    widget = selftest.self_test("elbo")  # anywidget is pinned in requirements.txt: missing is a failure
    assert widget.questions == selftest.QUESTIONS["elbo"] and widget.chapter == "elbo"
    state = widget.get_state()
    assert "judge" in str(state["_esm"]) and state["questions"][0]["id"] == "scale-gap"
    with pytest.raises(KeyError, match="chapters with one"):
        selftest.questions("nowhere")


PAGE = """<!doctype html><html><body><div id="host"></div><script type="module">
import widget from "./self_test.js";
const values = %s;
const model = { get: (k) => values[k], set() {}, on() {}, off() {}, save_changes() {} };
widget.render({ model, el: document.getElementById("host") });
window.rendered = true;
</script></body></html>"""


def test_in_chromium_a_right_answer_is_accepted_and_a_wrong_one_gets_its_hint(tmp_path):
    from tests.system_packages import require_system

    require_system("/usr/bin/chromium", "chromium")
    import playwright.sync_api as playwright  # pinned in requirements.txt

    widget_state = {"chapter": "elbo", "title": "Self-test", "questions": selftest.QUESTIONS["elbo"]}
    shutil.copy(frontend.bundle("self_test"), tmp_path / "self_test.js")
    (tmp_path / "index.html").write_text(PAGE % json.dumps(widget_state))
    import functools
    import http.server
    import threading

    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    handler.log_message = lambda *a: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with playwright.sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path="/usr/bin/chromium", headless=True, args=["--no-sandbox", "--disable-gpu"]
            )
            page = browser.new_page()
            errors = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(f"http://127.0.0.1:{server.server_address[1]}/index.html")
            page.wait_for_function("() => window.rendered")
            first = page.locator(".vae-selftest-question").nth(0)
            first.locator("input").fill("c^2 - 1 - log(c)")
            first.locator("button").click()
            assert "log c^2 = 2 log c" in first.locator(".vae-selftest-feedback").inner_text()
            assert "Hint:" in first.locator(".vae-selftest-feedback").inner_text()
            first.locator("input").fill("c^2 - 1 - 2*log(c)")
            first.locator("input").press("Enter")
            assert first.locator(".vae-selftest-feedback").inner_text().startswith("Right")
            third = page.locator(".vae-selftest-question").nth(2)
            third.locator("input[type=radio]").nth(1).check()
            assert third.locator(".vae-selftest-feedback").inner_text().startswith("Right")
            assert page.locator(".vae-selftest-score").last.inner_text() == "2 of 3 right"
            assert errors == []
            browser.close()
    finally:
        server.shutdown()
        server.server_close()


def test_in_a_live_kernel_the_self_test_is_a_widget_and_a_filled_answer_cell_passes():
    import nbclient  # installed with jupyter-book (requirements.txt)
    import nbformat

    notebook = nbformat.v4.new_notebook()
    notebook.cells = [
        nbformat.v4.new_code_cell('from vaecourse.exercises.selftest import self_test\n\nself_test("elbo")'),
        nbformat.v4.new_code_cell(
            "from vaecourse.exercises import check_pytorch_3\nimport math\n\n"
            "smallest_loss = 784 * math.log(2)\n\ncheck_pytorch_3(smallest_loss)"
        ),
        nbformat.v4.new_code_cell("check_pytorch_3(784)"),
    ]
    nbclient.NotebookClient(notebook, timeout=120, kernel_name="python3").execute()
    widget, passed, wrong = (cell.outputs for cell in notebook.cells)
    assert any("application/vnd.jupyter.widget-view+json" in out.get("data", {}) for out in widget)
    assert passed[0]["text"].startswith("PASSED [ex-pytorch-3]")
    assert wrong[0]["text"].startswith("NOT YET [ex-pytorch-3] that is in bits")
