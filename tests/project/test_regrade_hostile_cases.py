"""Issue 10's attacks on the sandbox, regraded side by side as TAs regrade a class
(`regrade --jobs 2`): slots reuse their users from one submission to the next, so an attack
that outlived its grading, left files behind or reached the course would show here. Each
submission must get a valid results.json with no unearned point, and nothing of the slot
users may be left running or lying in the shared temporary folders.

Findings 1, 2 and 5-7 and finding 4 (student text as live Markdown or HTML) regrade on the
engine's test course; finding 3 (clocks patched against the style test) needs the Beras
course's test 10.1, so it regrades there, with only that test run (`--pytest-arg`)."""
from __future__ import annotations

import csv
import json
import os
import pwd
import time
from pathlib import Path

import pytest

import ta_support
from autograder.validate.corpus import load_corpus, materialise
from engine_cases import harness
from test_hostile import ADD, CASES
from test_untrusted_text import CONTROL, FRAME_FILE, FRAME_MODULE, SYNTAX_FILE, live_markup, output_fields, \
    payload, report_page_problems

pytestmark = pytest.mark.needs_root  # real slot users, as a TA's regrade as root has

ATTACKS = ("root_exec", "thread_zombie", "shared_state", "fetch_handle", "course_search", "setsid_daemon",
           "fork_bomb")
BASE_USER = "ag-engine-rg"  # slots become ag-engine-rg-1, -2 (and -gN if one is busy)
SHARED_TEMP = ("/tmp", "/var/tmp", "/dev/shm", "/run/lock")


def slot_uids() -> set[int]:
    return {entry.pw_uid for entry in pwd.getpwall() if entry.pw_name.startswith(BASE_USER + "-")}


def assert_slot_users_left_nothing():
    time.sleep(2)  # what tries hardest to live on has had its chance
    uids = slot_uids()
    assert uids, "the regrade ran no slot user"
    assert [pid for uid in uids for pid in harness.processes_of(uid)] == []
    for folder in SHARED_TEMP:
        with os.scandir(folder) as entries:
            left = [e.name for e in entries if e.stat(follow_symlinks=False).st_uid in uids]
        assert left == [], (folder, left)


# Finding 4 on the engine course: `add` prints markup and raises an exception whose class name,
# message, function and source line carry it, from a file whose name carries it too; a file
# that does not parse has such a name as well (the top-level output lists it).
MARKDOWN_INIT = f'''from calc.good import Counter, SPEED, mean, scale  # noqa: F401
import importlib.util as _util
import os as _os

_spec = _util.spec_from_file_location("hostile_frames", _os.path.join(_os.path.dirname(__file__), {FRAME_FILE!r}))
_frames = _util.module_from_spec(_spec)
_spec.loader.exec_module(_frames)


def add(a, b):
    print({payload("PRINTED")!r})
    _frames.explode()
'''
MARKDOWN_CHANNELS = ["EXCNAME", "EXCMESSAGE", "FRAMEFILE", "FRAMEFUNC", "PRINTED", "SYNTAXFILE"]
EXTRA_CASES = {"markdown_injection": dict(fail=ADD)}  # every test calling add() fails, with the text shown


def markdown_injection(dest: Path) -> Path:
    harness.make_submission(dest)
    (dest / "calc" / "__init__.py").write_text(MARKDOWN_INIT)
    (dest / "calc" / FRAME_FILE).write_text(FRAME_MODULE)
    (dest / "calc" / SYNTAX_FILE).write_text("def broken(:\n")
    return dest


def live_text_in_tables(out: Path) -> list[str]:
    """Every cell of the regrade's CSV tables that would render as markup or holds a control character."""
    found = []
    assert (out / "scores.csv").is_file()
    for table in sorted(out.glob("*.csv")):
        with table.open(newline="") as handle:
            for row in csv.reader(handle):
                found += [f"{table.name}: {cell[:200]!r}" for cell in row if live_markup(cell) or CONTROL.search(cell)]
    return found


def test_issue_10_attacks_regraded_with_two_jobs_earn_nothing_and_leave_nothing(tmp_path):
    export = tmp_path / "export"
    export.mkdir()
    for case in ATTACKS:
        harness.make_submission(export / case, case)
    markdown_injection(export / "markdown_injection")
    harness.make_submission(export / "correct")
    out = tmp_path / "out"
    proc = ta_support.cli("regrade", export, "--out", out, "--jobs", 2, "--timeout", 600,
                          env={"AUTOGRADER_CONFIG": str(harness.COURSE_CFG), "AUTOGRADER_SANDBOX_USER": BASE_USER})
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    assert_slot_users_left_nothing()
    for case in (*ATTACKS, *EXTRA_CASES, "correct"):
        doc = harness.validate(json.loads((out / case / "results.json").read_text()))
        assert not doc["output"].startswith(("**Grader error", "**Grading did not finish")), (case, doc["output"])
        assert sum(t["max_score"] for t in doc["tests"]) == harness.COURSE_MAX
        tests = harness.by_function(doc)
        failed = {name for name, t in tests.items() if t["status"] != "passed"}
        spec = CASES.get(case) or EXTRA_CASES.get(case) or dict(fail=set())
        assert spec["fail"] <= failed and failed - spec["fail"] <= spec.get("either", set()), (case, failed)
        for name in spec["fail"]:
            assert tests[name]["score"] <= (spec.get("partial", 0) if name == "test_partial" else 0), (case, name)
        assert harness.SECRET not in json.dumps(doc)

    # Finding 4: the injected text is in results.json, as text, and nowhere live: not in any
    # output field, the CSV tables, or the report page a TA opens.
    doc = json.loads((out / "markdown_injection" / "results.json").read_text())
    fields = output_fields(doc)
    everything = "\n".join(fields.values())
    assert [c for c in MARKDOWN_CHANNELS if c not in everything] == [], everything[:3000]
    for where, text in fields.items():
        assert not live_markup(text), (where, live_markup(text), text[:2000])
        assert not CONTROL.search(text), (where, text[:1000])
    assert live_text_in_tables(out) == []
    report = ta_support.cli("report", out, "--out", tmp_path / "report.html")
    assert report.returncode == 0, report.stderr[-3000:]
    page = (tmp_path / "report.html").read_text()
    assert "EXCNAME" in page or "PRINTED" in page, "the report shows none of the attack's text"
    assert report_page_problems(page) == []


STYLE_TEST = "test_q6_style_dense_and_softmax_are_vectorised"  # 10.1


def test_style_attacks_regraded_with_two_jobs_earn_what_honest_loops_earn(tmp_path, project_root, mnist_dir):
    """Issue 10's finding 3 and issue 19's timing attacks on the style test: stopping every
    clock at import (clock-patch-loops), running the loops in a helper made by a double fork
    and setsid (offload-loops), and caching results per input object and per input bytes
    (cache-loops). Each regrades beside the honest loops (per-sample-loops) on the Beras
    course, only 10.1 run, slots reusing their users: all four earn the same 0 of 3 (their
    four parts loop over rows), as they did not before (0.375 to 3)."""
    corpus = load_corpus(project_root / "validation")
    bases = {"reference": project_root / "reference", "template": project_root / "student_template"}
    export = tmp_path / "export"
    export.mkdir()
    cases = (("hostile", "clock-patch-loops", "patched"), ("hostile", "offload-loops", "offload"),
             ("hostile", "cache-loops", "cache"), ("variant", "per-sample-loops", "honest"))
    for kind, case_id, folder in cases:
        case = next(c for c in corpus.of_kind(kind) if c.id == case_id)
        materialise(case, bases, export / folder)
    out = tmp_path / "out"
    assert "AUTOGRADER_CONFIG" not in os.environ  # the Beras course: the repository's autograder.cfg
    proc = ta_support.cli("regrade", export, "--out", out, "--jobs", 2, "--timeout", 600,
                          "--pytest-arg=-k", f"--pytest-arg={STYLE_TEST}",
                          env={"AUTOGRADER_SANDBOX_USER": BASE_USER, "BERAS_MNIST_DIR": str(mnist_dir)})
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    assert_slot_users_left_nothing()
    scores = {}
    for _, _, folder in cases:
        doc = harness.validate(json.loads((out / folder / "results.json").read_text()))
        assert not doc["output"].startswith(("**Grader error", "**Grading did not finish")), (folder, doc["output"])
        style = {t["number"]: t for t in doc["tests"]}["10.1"]
        assert "Dense forward" in style["output"], style["output"][:600]  # loops over 40,000 rows are slow
        scores[folder] = (style["score"], doc["score"])
    assert "clocks patched" in json.dumps(json.loads((out / "patched" / "results.json").read_text()))  # the patch ran
    assert scores == dict.fromkeys(("patched", "offload", "cache", "honest"), (0.0, 0.0)), scores
