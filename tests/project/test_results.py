"""results.json: the schema, the writer's atomicity, escaping, and the write discipline of a
real grading run (fallback first, progress after each test, valid after a kill)."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import jsonschema
import pytest

from autograder import results as R
from engine_cases import harness


def entry(**kw) -> R.TestEntry:
    base = dict(name="t", max_score=2, score=1, status="failed", number="1.1", output="o",
                tags=["x"], visibility="visible")
    base.update(kw)
    return R.TestEntry(**base)


def test_documents_we_build_match_gradescopes_schema():
    docs = [
        R.fallback(R.FALLBACK_TEXT),
        R.grader_error("detail", [entry()], 1.5),
        R.assemble([entry(), entry(visibility="hidden", number=None, tags=[])], output="x",
                   execution_time=3.25, leaderboard=[{"name": "acc", "value": 0.5, "order": "asc"}]),
        R.assemble([], output="", execution_time=0),
    ]
    for doc in docs:
        jsonschema.validate(doc, harness.SCHEMA)
        assert R.problems(doc) == []
        json.dumps(doc, allow_nan=False)


@pytest.mark.parametrize("bad", [
    {"score": "10"},
    {"score": 1, "visibility": "secret"},
    {"score": 1, "tests": [{"score": 1, "status": "ok"}]},
    {"score": 1, "tests": [{"score": 1, "output_format": "markdown"}]},
    {"score": 1, "tests": [{"score": 1, "tags": "a"}]},
    {"score": 1, "tests": [{"score": 1, "typo": 1}]},
    {"tests": [{"max_score": 1}]},  # no score anywhere
    {"score": 1, "leaderboard": [{"name": "a"}]},
    {"score": 1, "leaderboard": [{"name": "a", "value": 1, "order": "up"}]},
    {"score": 1, "execution_time": "3s"},
    {"score": 1, "unknown": True},
])
def test_schema_and_our_checker_reject_the_same_mistakes(bad):
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, harness.SCHEMA)
    assert R.problems(bad)


def test_scores_are_finite_rounded_numbers():
    assert R.clean_number(float("nan")) == 0 and R.clean_number(float("inf")) == 0
    assert R.clean_number(0.1 + 0.2) == 0.3
    assert R.clean_number("junk") == 0
    doc = R.assemble([entry(score=float("nan")), entry(score=1.5)], output="", execution_time=float("inf"))
    assert doc["score"] == 1.5 and doc["execution_time"] == 0


def test_writer_refuses_invalid_documents(tmp_path):
    target = tmp_path / "results.json"
    R.write_atomic(target, R.fallback("first"))
    with pytest.raises(ValueError):
        R.write_atomic(target, {"score": "lots"})
    assert R.read(target)["output"] == "first"  # the previous valid file is untouched
    assert [p.name for p in tmp_path.iterdir()] == ["results.json"]  # no temp files left


def test_a_reader_never_sees_a_partial_file(tmp_path):
    target = tmp_path / "results.json"
    big = R.assemble([entry(output="x" * 20000, name=str(i)) for i in range(40)], output="big", execution_time=1)
    small = R.fallback("small")
    R.write_atomic(target, small)
    stop, seen, errors = threading.Event(), set(), []

    def reader():
        while not stop.is_set():
            try:
                seen.add(json.loads(target.read_text())["output"])
            except ValueError as err:  # a torn read would land here
                errors.append(err)

    thread = threading.Thread(target=reader)
    thread.start()
    for i in range(150):
        R.write_atomic(target, big if i % 2 else small)
    stop.set()
    thread.join()
    assert errors == [] and seen == {"big", "small"}
    assert oct(target.stat().st_mode & 0o777) == "0o644"


def test_untrusted_text_cannot_escape_its_code_block():
    hostile = "```\n# Full marks!\n<img src=x onerror=alert(1)>\n````` \x1b[31mred\x07"
    block = R.fenced(hostile)
    fence = block.split("text\n", 1)[0]
    assert len(fence) == 6 and block.endswith("\n" + fence)  # longer than any run inside
    assert "\x1b" not in block and "\x07" not in block
    assert block.count(fence) == 2
    capped = R.fenced("y" * 10000, cap=100)
    assert "9900 more characters not shown" in capped and len(capped) < 200


# ---------------------------------------------------------------- write discipline, for real


def course_cfg(tmp_path: Path, suite: Path) -> Path:
    cfg = tmp_path / "autograder.cfg"
    cfg.write_text(f"[autograder]\nsuite = {suite}\npublic_suite = {suite}\n"
                   f"reference = {harness.COURSE / 'reference'}\ntemplate = {harness.COURSE / 'template'}\n"
                   f"kit_files = \ntest_timeout_s = 120\n\n[sandbox]\ncall_timeout_s = 5\n")
    return cfg


def test_fallback_is_written_before_anything_runs(tmp_path):
    # A conftest that kills the process at import: only the fallback can be there.
    suite = tmp_path / "suite"
    suite.mkdir()
    (suite / "conftest.py").write_text("import os\nos._exit(9)\n")
    (suite / "test_x.py").write_text("def test_x():\n    pass\n")
    out = tmp_path / "out" / "results.json"
    proc = harness.engine("grade", harness.CASES / "submissions" / "correct", "--out", out,
                          "--config", course_cfg(tmp_path, suite))
    assert proc.returncode == 9
    doc = harness.validate(json.loads(out.read_text()))
    assert doc["output"].startswith("**Grading did not finish.**") and doc["score"] == 0


def test_a_killed_grading_leaves_a_valid_truthful_file(tmp_path):
    out = tmp_path / "results.json"
    cfg = course_cfg(tmp_path, harness.CASES / "progress")
    proc = subprocess.Popen([sys.executable, "-m", "autograder", "grade", str(harness.CASES / "submissions" / "correct"),
                             "--out", str(out), "--config", str(cfg), "--quiet"],
                            cwd=harness.REPO, env={**os.environ, "AG_RESULTS": str(out), "AG_SLEEP": "60",
                                                   "AUTOGRADER_SANDBOX_USER": harness.TEST_USER},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                outcomes = [t["extra_data"]["outcome"] for t in json.loads(out.read_text())["tests"]]
            except (OSError, ValueError, KeyError):
                outcomes = []
            if outcomes[:2] == ["passed", "passed"]:
                break
            time.sleep(0.05)
        os.killpg(proc.pid, signal.SIGKILL)  # no clean-up of any kind
    finally:
        proc.wait()
    doc = harness.validate(json.loads(out.read_text()))
    assert doc["output"].startswith("**Grading did not finish:**")
    assert [t["extra_data"]["outcome"] for t in doc["tests"]] == ["passed", "passed", "not run"]
    assert doc["score"] == 3 and sum(t["max_score"] for t in doc["tests"]) == 6  # nothing vanished


def test_grade_with_a_deadline_stops_cleanly_and_says_so(tmp_path):
    from autograder.grading import grade

    cfg = course_cfg(tmp_path, harness.CASES / "progress")
    out = tmp_path / "results.json"
    started = time.monotonic()
    os.environ["AG_SLEEP"], os.environ["AG_RESULTS"] = "60", str(out)
    try:
        doc = grade(harness.CASES / "submissions" / "correct", out, timeout_s=5, config=cfg,
                    sandbox_user=harness.TEST_USER)
    finally:
        del os.environ["AG_SLEEP"], os.environ["AG_RESULTS"]
    assert time.monotonic() - started < 30
    harness.validate(doc)
    assert doc == json.loads(out.read_text())
    assert doc["output"].startswith("**Grading did not finish")
    assert doc["tests"][-1]["extra_data"]["outcome"] == "not run"


def test_grader_errors_give_a_valid_file_and_exit_3(tmp_path):
    # A broken sandbox configuration is our mistake, never the student's.
    cfg = tmp_path / "autograder.cfg"
    cfg.write_text(harness.COURSE_CFG.read_text().replace("[sandbox]", "[sandbox]\nno_such_setting = 1")
                   .replace("suite = suite", f"suite = {harness.COURSE / 'suite'}")
                   .replace("template = template", f"template = {harness.COURSE / 'template'}"))
    out = tmp_path / "results.json"
    proc = harness.engine("grade", harness.CASES / "submissions" / "correct", "--out", out, "--config", cfg)
    assert proc.returncode == 3
    doc = harness.validate(json.loads(out.read_text()))
    assert doc["output"].startswith("**Grader error.**") and doc["score"] == 0
    assert "no_such_setting" in proc.stdout  # the details are for staff, in stdout
    assert "no_such_setting" not in json.dumps(doc)


def test_internal_errors_of_pytest_still_give_a_valid_file(tmp_path):
    suite = tmp_path / "suite"
    suite.mkdir()
    (suite / "conftest.py").write_text(
        "def pytest_collection_modifyitems(items):\n    raise RuntimeError('plugin bug')\n")
    (suite / "test_x.py").write_text("def test_x():\n    pass\n")
    out = tmp_path / "results.json"
    proc = harness.engine("grade", harness.CASES / "submissions" / "correct", "--out", out,
                          "--config", course_cfg(tmp_path, suite))
    assert proc.returncode == 3, proc.stdout[-2000:]
    doc = harness.validate(json.loads(out.read_text()))
    assert doc["output"].startswith("**Grader error.**")


LIVE = ["<img src=x onerror=alert(1)>", "[click](https://evil.example)", "![i](x.png)", "<https://evil.example>",
        "para\n\n<div>block</div>"]


@pytest.mark.parametrize("markup", LIVE)
def test_the_writer_refuses_live_markup_under_our_tests(markup, tmp_path):
    assert os.environ.get(R.STRICT_MARKDOWN_ENV)  # the project's conftest sets the strict switch
    for doc in (R.assemble([entry(output=f"Returned {markup}")], output="ok", execution_time=1),
                R.assemble([], output=f"**1 / 2 points** {markup}", execution_time=1)):
        with pytest.raises(R.LiveMarkup):
            R.write_atomic(tmp_path / "results.json", doc)
    assert not (tmp_path / "results.json").exists()


@pytest.mark.parametrize("markup", LIVE)
def test_in_production_the_writer_escapes_a_field_with_live_markup_and_tells_staff(markup, tmp_path, monkeypatch):
    monkeypatch.delenv(R.STRICT_MARKDOWN_ENV)
    staff = []
    doc = R.assemble([entry(output=f"Returned {markup}"), entry(output="**fine** `<b>`", number="1.2")],
                     output=f"**1 / 2 points** {markup}", execution_time=1)
    R.write_atomic(tmp_path / "results.json", doc, staff_log=staff.append)
    written = R.read(tmp_path / "results.json")
    assert R.problems(written) == [] and markup.split("\n")[-1] in written["output"]
    assert [t["output"] for t in written["tests"]][1] == "**fine** `<b>`"  # untouched
    for text in [written["output"], *(t["output"] for t in written["tests"])]:
        assert R.live_markup(text) == ()
    assert len(staff) == 2 and all("GRADER BUG: live markup" in line for line in staff)
