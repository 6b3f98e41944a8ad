"""Issue 10's attacks on the sandbox, regraded side by side as TAs regrade a class
(`regrade --jobs 2`): slots reuse their users from one submission to the next, so an attack
that outlived its grading, left files behind or reached the course would show here. Each
submission must get a valid results.json with no unearned point, and nothing of the slot
users may be left running or lying in the shared temporary folders."""
from __future__ import annotations

import json
import os
import pwd
import time

import pytest

import ta_support
from engine_cases import harness
from test_hostile import CASES

pytestmark = pytest.mark.needs_root  # real slot users, as a TA's regrade as root has

ATTACKS = ("root_exec", "thread_zombie", "shared_state", "fetch_handle", "course_search", "setsid_daemon",
           "fork_bomb")
BASE_USER = "ag-engine-rg"  # slots become ag-engine-rg-1, -2 (and -gN if one is busy)
SHARED_TEMP = ("/tmp", "/var/tmp", "/dev/shm", "/run/lock")


def slot_uids() -> set[int]:
    return {entry.pw_uid for entry in pwd.getpwall() if entry.pw_name.startswith(BASE_USER + "-")}


def test_issue_10_attacks_regraded_with_two_jobs_earn_nothing_and_leave_nothing(tmp_path):
    export = tmp_path / "export"
    export.mkdir()
    for case in ATTACKS:
        harness.make_submission(export / case, case)
    harness.make_submission(export / "correct")
    out = tmp_path / "out"
    proc = ta_support.cli("regrade", export, "--out", out, "--jobs", 2, "--timeout", 600,
                          env={"AUTOGRADER_CONFIG": str(harness.COURSE_CFG), "AUTOGRADER_SANDBOX_USER": BASE_USER})
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    time.sleep(2)  # what tries hardest to live on has had its chance
    uids = slot_uids()
    assert uids, "the regrade ran no slot user"
    assert [pid for uid in uids for pid in harness.processes_of(uid)] == []
    for folder in SHARED_TEMP:
        with os.scandir(folder) as entries:
            left = [e.name for e in entries if e.stat(follow_symlinks=False).st_uid in uids]
        assert left == [], (folder, left)
    for case in (*ATTACKS, "correct"):
        doc = harness.validate(json.loads((out / case / "results.json").read_text()))
        assert not doc["output"].startswith(("**Grader error", "**Grading did not finish")), (case, doc["output"])
        assert sum(t["max_score"] for t in doc["tests"]) == harness.COURSE_MAX
        tests = harness.by_function(doc)
        failed = {name for name, t in tests.items() if t["status"] != "passed"}
        spec = CASES.get(case, dict(fail=set()))
        assert spec["fail"] <= failed and failed - spec["fail"] <= spec.get("either", set()), (case, failed)
        for name in spec["fail"]:
            assert tests[name]["score"] <= (spec.get("partial", 0) if name == "test_partial" else 0), (case, name)
        assert harness.SECRET not in json.dumps(doc)
