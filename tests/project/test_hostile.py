"""Hostile submissions, end to end through run_autograder in a relocated Gradescope tree with
a real sandbox user. Each must leave a valid results.json, earn no point it did not earn,
fail only the tests its hostility touches, and leave no process behind.

The cases are engine_cases/hostile/<case>/ laid over submissions/correct. Two trees (each
with its own sandbox user) grade them side by side to keep the set fast."""
from __future__ import annotations

import glob
import json
import os
import pwd
import queue
import re
import shutil
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from engine_cases import harness

# A real sandbox user, as on Gradescope and in CI; every case is graded twice, with every
# layer and in Docker mode (Gradescope's container: no namespaces; conftest's sandbox_mode).
pytestmark = [pytest.mark.needs_root, pytest.mark.usefixtures("sandbox_mode")]

ALL = {"test_add", "test_scale", "test_counter_keeps_identity", "test_partial", "test_leaderboard",
       "test_vec_norm", "test_mean", "test_add_many"}
ADD = {"test_add", "test_partial", "test_add_many"}
SCALE = {"test_scale", "test_partial"}

# case -> what must fail (every other test must pass unless listed in "either"), the most the
# partial-credit test may keep, and text that must appear (in a failing test, or at the top).
CASES = {
    # calc/__init__.py exits at once: set aside at import (issue 17), so only calc.vec, which
    # needs nothing of it, keeps its test; the rest is told once at the top (issue 20 #6).
    "exit_at_import": dict(fail=ALL - {"test_vec_norm"}, says={"top": "`calc/__init__.py` line 3: `SystemExit`"}),
    "os_exit_at_import": dict(fail=ALL, says={"top": "exited"}),
    "exit_in_call": dict(fail=ADD, says={"test_add": "SystemExit"}),
    "os_exit_in_call": dict(fail=SCALE, partial=1, says={"test_scale": "exited"}),
    "infinite_loop": dict(fail=ADD, says={"test_add": "time"}),
    "sleep": dict(fail=ADD, says={"test_add": "time"}),
    "stdout_flood": dict(fail=set(), says={"test_add": "FLOOD"}),
    "memory_bomb": dict(fail=SCALE, partial=1),
    "fork_bomb": dict(fail=ADD),
    "setsid_daemon": dict(fail=set()),
    "results_attack": dict(fail=set(), says={"test_add": "attack"}),
    "read_secrets": dict(fail=set()),
    # Patching builtins in the worker may break the worker itself; either way nothing is earned
    # for add and scale, whose answers are wrong.
    "monkeypatch": dict(fail=ADD | SCALE, either=ALL - ADD - SCALE),
    "eq_always_true": dict(fail=ADD | SCALE | {"test_counter_keeps_identity", "test_mean"},
                           says={"test_add": "cannot check"}),
    "nan_inf": dict(fail=ADD | SCALE | {"test_mean"}, says={"test_add": "nan"}),
    "huge_object_arrays": dict(fail=SCALE | {"test_mean"}, partial=1),
    "forbidden_unused": dict(fail=set(), says={"top": "imports `tensorflow`"}),
    "forbidden_used": dict(fail=ADD, says={"test_add": "tensorflow", "top": "tensorflow"}),
    "stand_in_tqdm": dict(fail=set(), says={"top": "`tqdm`"}),
    # Hypothesis (and pytest) run in the trusted process only; the worker is unprivileged.
    "probe_worker": dict(fail=set(), says={"test_add": "hypothesis loaded: False\npytest loaded: False\n"
                                                       "running as root: False"}),
    # Issue 10's findings. 1: rename the runtime, plant our own, stall the zygote.
    "root_exec": dict(fail=set(), says={"test_add": "rename runtime: refused"}),
    # 2: a process running on in threads after its main thread's raw exit (state Z).
    "thread_zombie": dict(fail=set()),
    # 5: files left for a later test in the submission, HOME, TMPDIR and shared temp folders.
    "shared_state": dict(fail=set(), says={"test_add": "nothing left by earlier tests"}),
    # 6: a patched worker encoder turns "plain" data into a live handle.
    "fetch_handle": dict(fail=ADD, says={"test_add": "tag"}),
    # 7: the course's reference, searched for on the disk and imported.
    "course_search": dict(fail=ADD, partial=1, says={"test_add": "nothing readable"}),
    # Issue 18's findings. 1: System V IPC and POSIX queues left for later workers (mode 0666).
    "ipc_shared": dict(fail=set(), says={"test_add": "no IPC left by earlier workers | IPC: shm refused (EPERM), "
                                                     "msg refused (EPERM), sem refused (EPERM), mq refused (EPERM)"}),
}
DOCKER_MODE_SUFFIX = " (namespaces forced off: Docker mode)"
# Cases whose processes try hardest to live on: checked again 2 s after the grader exits.
LINGER = {"thread_zombie", "setsid_daemon", "fork_bomb", "root_exec"}
LEFT_BEHIND = [os.path.join(d, "ag-hostile-left-behind") for d in ("/tmp", "/var/tmp", "/dev/shm", "/run/lock")]


def graded_as(proc, tree) -> int:
    """The uid that ran the student's code, as the staff log names it: a grader whose
    configured user is busy (another grading on this machine) takes NAME-g2, NAME-g3..."""
    found = re.search(r"student code runs as user \S+ \(uid (\d+)\)", proc.stdout)
    assert found, proc.stdout[-3000:]
    return int(found.group(1))


@pytest.fixture(scope="module")
def graded(sandbox_mode):
    """Every case graded once; returns case -> (doc, proc, leftover pids, seconds)."""
    tops = [harness.public_tmp() for _ in range(2)]
    try:
        slots = queue.Queue()
        for i, top in enumerate(tops, 1):
            slots.put(harness.GradescopeTree(top, user=f"{harness.E2E_USER}-h{i}"))

        def grade(case: str):
            tree = slots.get()
            try:
                sub = harness.make_submission(tree.top / f"sub-{case}", case)
                started = time.monotonic()
                doc, proc = tree.run(sub)
                elapsed = time.monotonic() - started
                time.sleep(0.2)  # a daemon would try to write again by now
                doc_later = json.loads((tree.root / "results" / "results.json").read_text())
                uid = graded_as(proc, tree)
                leftovers = harness.processes_of(uid) + harness.ipc_objects_of(uid)
                if case in LINGER:
                    time.sleep(1.8)
                    leftovers += harness.processes_of(uid)
                return case, (doc, proc, leftovers, elapsed, doc_later,
                              (tree.root / "results" / "results.json").stat().st_size)
            finally:
                slots.put(tree)

        with ThreadPoolExecutor(max_workers=len(tops)) as pool:
            return dict(pool.map(grade, CASES))
    finally:
        for top in tops:
            shutil.rmtree(top, ignore_errors=True)


@pytest.mark.parametrize("case", sorted(CASES))
def test_hostile_submission(graded, case, sandbox_mode):
    doc, proc, leftovers, elapsed, doc_later, size = graded[case]
    spec = CASES[case]
    assert proc.returncode == 0
    # The staff log names the mode the case was graded in.
    line = re.search(r"isolation layers active: (.*)", proc.stdout).group(1)
    layers = line.removesuffix(DOCKER_MODE_SUFFIX)
    if sandbox_mode == "docker":
        assert line.endswith(DOCKER_MODE_SUFFIX) and "namespace" not in layers and "seccomp" in layers, line
    else:
        assert "Docker mode" not in line and "pid-namespace" in layers, line
    harness.validate(doc)
    # The trusted process wrote the final word, and nothing changed it afterwards.
    assert doc_later == doc and "HACKED" not in json.dumps(doc)
    assert not doc["output"].startswith(("**Grader error", "**Grading did not finish")), doc["output"]
    # No points vanish from the maximum; the total is the sum of what the tests earned.
    assert sum(t["max_score"] for t in doc["tests"]) == harness.COURSE_MAX
    assert doc["score"] == sum(t["score"] for t in doc["tests"])
    tests = harness.by_function(doc)
    assert set(tests) == ALL
    failed = {name for name, t in tests.items() if t["status"] != "passed"}
    either = spec.get("either", set())
    assert spec["fail"] <= failed and failed - spec["fail"] <= either, (failed, doc["output"])
    for name in spec["fail"]:
        limit = spec.get("partial", 0) if name == "test_partial" else 0
        assert tests[name]["score"] <= limit, (name, tests[name])
    for where, text in spec.get("says", {}).items():
        shown = doc["output"] if where == "top" else tests[where]["output"]
        assert text in shown, (where, shown[:500])
    # Nothing secret reached the student, nothing of theirs is still running, and a flood
    # of output stays a few kilobytes.
    assert harness.SECRET not in json.dumps(doc)
    assert leftovers == []
    assert size < 200_000
    print(f"{case}: {elapsed:.1f} s")
    assert elapsed < 60


def test_reading_our_files_was_attempted_and_denied(graded):
    doc = graded["read_secrets"][0]
    printed = harness.by_function(doc)["test_add"]["output"]
    assert "LIST /tmp" in printed or "could not list /tmp" in printed  # the attack ran...
    assert "READ" not in printed  # ...and read nothing of ours


def test_results_attack_was_attempted_and_denied(graded):
    printed = harness.by_function(graded["results_attack"][0])["test_add"]["output"]
    attempts = [line for line in printed.splitlines() if line.startswith("attack ")]
    on_ours = [line for line in attempts if line.split()[2].startswith(("/tmp/", "/autograder/"))]
    assert on_ours, printed  # it found the results folder of the tree...
    assert all(" failed: " in line for line in on_ours), on_ours  # ...and changed nothing there


def test_planted_runtime_never_runs_as_root(graded):
    """Finding 1: the attack ran (it says what it tried), every step was refused, and no
    file written by the planted code as uid 0 exists anywhere it could have put one."""
    printed = harness.by_function(graded["root_exec"][0])["test_add"]["output"]
    assert "ATTACK rename runtime: refused" in printed and "plant in runtime: refused" in printed, printed
    assert "ptrace-seize zygote: refused" in printed, printed
    assert not os.path.exists("/tmp/ag-hostile-planted-uid0")
    assert not [p for p in glob.glob("/tmp/ag-hostile-planted-*") if os.lstat(p).st_uid == 0]


def test_no_test_sees_what_an_earlier_one_left(graded):
    """Finding 5: every test's worker imported the module that looks for and leaves files;
    none found one, and none is left on the machine."""
    doc = graded["shared_state"][0]
    outputs = [t["output"] for t in doc["tests"]]
    assert sum("nothing left by earlier tests" in o for o in outputs) >= 5
    assert not any("FOUND" in o for o in outputs)
    assert [p for p in LEFT_BEHIND if os.path.lexists(p)] == []


def test_no_worker_sees_ipc_an_earlier_one_left(graded):
    """Issue 18, finding 1: every worker imported the module that looks for and leaves a
    shared-memory segment, a message queue and a semaphore set; none found one, and no
    System V object of any sandbox user is on the machine (`ipcs -a`)."""
    doc = graded["ipc_shared"][0]
    outputs = [t["output"] for t in doc["tests"]]
    assert sum("no IPC left by earlier workers" in o for o in outputs) >= 5
    assert not any("IPC FOUND" in o for o in outputs)
    users = [pwd.getpwnam(f"{harness.E2E_USER}-h{i}").pw_uid for i in (1, 2)]
    assert [obj for uid in users for obj in harness.ipc_objects_of(uid)] == []


def test_a_handle_smuggled_into_fetched_data_is_refused(graded):
    """Finding 6: the patched encoder's handle tag is a bad value, not a Remote the grader
    would compare through student code."""
    tests = harness.by_function(graded["fetch_handle"][0])
    assert tests["test_add"]["score"] == 0 and "HACKED" not in tests["test_add"]["output"]


def test_the_reference_is_not_found_in_a_ta_checkout(tmp_path, sandbox_mode):
    """Finding 7 in a TA's mode: `grade` as root in this checkout (755/644, the course's
    reference readable by everyone) still shows the sandbox user nothing of it. In Docker
    mode no mount hides the checkout and no PID namespace hides the grader's command line,
    so the attack may find the reference's path; Landlock must still refuse to read it."""
    if os.geteuid() != 0:
        pytest.fail("needs root: it grades with a real sandbox user")
    sub = harness.make_submission(harness.public_tmp() / "sub", "course_search")
    try:
        out = tmp_path / "results.json"
        done = harness.engine("grade", sub, "--config", harness.COURSE_CFG, "--out", out)
        doc = harness.validate(json.loads(out.read_text()))
        assert done.returncode in (0, 1), (doc["output"][:3000], done.stdout[-3000:])
    finally:
        shutil.rmtree(sub.parent, ignore_errors=True)
    tests = harness.by_function(doc)
    printed = tests["test_add"]["output"]
    if sandbox_mode == "full":
        assert "nothing readable" in printed, printed
    else:  # found or not, never read
        assert "nothing readable" in printed or "could not use it: [Errno 13] Permission denied" in printed, printed
    assert tests["test_add"]["score"] == 0 and harness.SECRET not in json.dumps(doc)
