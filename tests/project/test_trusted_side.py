"""The trusted side is bounded whatever the student returns (issue 18 #3).

- A `Sigmoid.forward` that returns one 256 MB boolean array once pushed the grading process
  to 7-14 GB (the received buffer, a copy, a float64 conversion, Hypothesis' kept examples).
  Now every fetch has a budget checked before any byte is read: the grading process's own
  peak (VmHWM, sampled from /proc while it runs) stays under 1 GB.
- A grading process killed outright (SIGKILL, as the OOM killer does) cannot clean up. The
  parent that outlives it removes every temporary folder it created and writes a valid
  results.json that says it was killed.
- The temporary folders that hold student code are never open to other users.
"""
from __future__ import annotations

import os
import re
import signal
import stat
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from autograder import results as results_mod
from autograder.batch import SlotUsers
from autograder.grading import ENGINE_ROOT, grade, grade_command
from suite_support import copy_of

GIB = 1 << 30
HUGE_SIGMOID = '''

def _huge_forward(self, x):
    return np.ones(256 * 2**20, dtype=bool)  # 256 MB, under the 256 MB message cap


Sigmoid.forward = _huge_forward
'''
SLOW_SIGMOID = '''

import time as _time


def _slow_forward(self, x):
    _time.sleep(15)
    return 1 / (1 + np.exp(-x))


Sigmoid.forward = _slow_forward
'''
BIG_SIGMOID = '''

def _big_forward(self, x):
    return np.ones((1000, 500))  # 4 MB: over what the test expects, under the old 8 MB default


Sigmoid.forward = _big_forward
'''
TESTS = ["-k", "test_dense_forward or test_sigmoid_forward"]


def with_sigmoid(reference: Path, target: Path, tail: str) -> Path:
    copy_of(reference, target)
    activations = target / "beras" / "activations.py"
    activations.write_text(activations.read_text() + tail)
    return target


def peak_rss_of(cmd: list[str], env: dict) -> tuple[int, int]:
    """(exit code, the process's own peak resident set in bytes: VmHWM, read until it ends)."""
    proc = subprocess.Popen(cmd, cwd=ENGINE_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    peak = 0
    while proc.poll() is None:
        try:
            with open(f"/proc/{proc.pid}/status") as handle:
                for line in handle:
                    if line.startswith("VmHWM:"):
                        peak = max(peak, int(line.split()[1]) * 1024)
        except OSError:
            pass
        time.sleep(0.02)
    return proc.returncode, peak


def test_a_256_mb_reply_leaves_the_grading_process_under_1_gb(reference_dir, tmp_path, mnist_dir):
    submission = with_sigmoid(reference_dir, tmp_path / "huge", HUGE_SIGMOID)
    out = tmp_path / "results.json"
    with SlotUsers(1) as users:
        env = {**os.environ, "AUTOGRADER_SANDBOX_USER": users.names[0]}
        code, peak = peak_rss_of(grade_command(submission, out, extra_pytest_args=TESTS), env)
    doc = results_mod.read(out)
    assert code == 0 and results_mod.problems(doc) == []
    sigmoid = next(t for t in doc["tests"] if "Sigmoid" in t["name"] and "forward" in t["name"])
    assert sigmoid["score"] == 0 and "shape (268435456,) and dtype bool" in sigmoid["output"], sigmoid["output"]
    assert any(t["score"] == t["max_score"] > 0 for t in doc["tests"])  # the rest is graded as usual
    assert peak < GIB, f"the grading process peaked at {peak / 2**20:.0f} MB"


def grading_process(marker: str) -> int | None:
    """The pid of the `python -m autograder grade` process whose arguments hold `marker`
    (on its command line, or in the root-only file `--args-file` names: grading.grade's way)."""
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                cmd = Path(f"/proc/{name}/cmdline").read_bytes().split(b"\0")
                arguments = b" ".join(cmd)
                if b"--args-file" in cmd:
                    arguments += Path(os.fsdecode(cmd[cmd.index(b"--args-file") + 1])).read_bytes()
            except (OSError, IndexError):
                continue
            if b"grade" in cmd and marker.encode() in arguments:
                return int(name)
    return None


def test_a_grading_process_killed_mid_run_leaves_no_folder_and_says_so(reference_dir, tmp_path, mnist_dir,
                                                                       monkeypatch):
    # A temporary folder of this test's own, so that whatever the grading leaves is ours to see;
    # beside the run's others (conftest's world-traversable folder), as the sandbox needs.
    tmp = Path(tempfile.mkdtemp(prefix="killed-grading-", dir=tempfile.gettempdir()))
    tmp.chmod(0o1777)  # like /tmp: the sandbox user reaches its folder here
    monkeypatch.setenv("TMPDIR", str(tmp))
    submission = with_sigmoid(reference_dir, tmp_path / "slow", SLOW_SIGMOID)
    out = tmp_path / "results.json"
    graded: dict = {}
    seen: set = set()
    with SlotUsers(1) as users:
        worker = threading.Thread(target=lambda: graded.update(
            doc=grade(submission, out, sandbox_user=users.names[0], extra_pytest_args=TESTS)))
        worker.start()
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:  # until the sandbox runs (then Sigmoid sleeps in a worker)
            seen |= {p.name for p in tmp.iterdir()}
            if any(n.startswith("beras-sandbox-") for n in seen):
                break
            time.sleep(0.05)
        time.sleep(3)
        pid = grading_process(str(out))
        assert pid is not None, "the grading process was not found"
        for folder in tmp.iterdir():  # private from their creation: no other user may enter
            if folder.name.startswith(("beras-sandbox-", "autograder-")):
                assert folder.stat().st_mode & 0o007 == 0, (folder.name, oct(folder.stat().st_mode))
        os.kill(pid, signal.SIGKILL)  # no clean-up of any kind, as the OOM killer does
        worker.join(60)
    assert {"beras-sandbox-", "autograder-submission-"} <= {n[:n.rfind("-") + 1] for n in seen}
    doc = graded["doc"]
    assert results_mod.problems(doc) == [] and doc == results_mod.read(out)
    assert doc["output"].startswith("**Grading did not finish:** the grading process was killed by SIGKILL")
    assert "ran out of memory" in doc["output"]
    left = [p.name for p in tmp.iterdir()]
    tmp.rmdir() if not left else None
    assert left == [], f"left behind: {left}"


DAEMON_AND_SLOW_SIGMOID = SLOW_SIGMOID.replace("def _slow_forward(self, x):\n", """def _slow_forward(self, x):
    import os as _os
    if _os.fork() == 0:  # a setsid daemon: nothing but a sweep of its uid ends it
        _os.setsid()
        if _os.fork() == 0:
            open("daemon-up", "w").close()  # in its working copy: the test waits for this
            _time.sleep(600)
        _os._exit(0)
""")


@pytest.mark.needs_root
def test_a_grade_run_by_hand_and_killed_leaves_nothing_once_the_next_grading_starts(reference_dir, tmp_path,
                                                                                      mnist_dir):
    """`python -m autograder grade` run by hand has no parent to clean up after it: SIGKILLed
    mid-grading, it leaves its folders (student code), its sandbox user and that user's
    processes. Every grading starts by sweeping what gradings whose process is gone left."""
    import grp
    import pwd
    tmp = Path(tempfile.mkdtemp(prefix="killed-by-hand-", dir=tempfile.gettempdir()))
    tmp.chmod(0o1777)
    env = {k: v for k, v in os.environ.items() if k not in ("AUTOGRADER_SANDBOX_USER", "AUTOGRADER_TEMP_RECORD")}
    env.update(TMPDIR=str(tmp), AUTOGRADER_NAMESPACES="off")  # as on Gradescope: no PID namespace ends the daemon
    submission = with_sigmoid(reference_dir, tmp_path / "slow", DAEMON_AND_SLOW_SIGMOID)
    command = [*grade_command(submission, tmp_path / "killed.json", extra_pytest_args=TESTS)]
    proc = subprocess.Popen(command, cwd=ENGINE_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 300  # no fixed sleep: CI's load decides when Sigmoid's test runs
        while time.monotonic() < deadline and not list(tmp.glob("beras-sandbox-*/work/*/submission/daemon-up")):
            assert proc.poll() is None, "the grading ended before the student's daemon started"
            time.sleep(0.05)
        sandbox = next(p for p in tmp.iterdir() if p.name.startswith("beras-sandbox-"))
        name = grp.getgrgid(sandbox.stat().st_gid).gr_name  # root:<the grading user's group>
        uid = pwd.getpwnam(name).pw_uid
    finally:
        proc.kill()  # SIGKILL, no clean-up of any kind
        proc.wait()
    left = sorted(p.name for p in tmp.iterdir())
    assert any(n.startswith("beras-sandbox-") for n in left) and any(n.startswith("autograder-submission-") for n in left)
    assert tasks_of_user(uid), "the student's daemon should have outlived its grading"

    nxt = subprocess.run(grade_command(reference_dir, tmp_path / "next.json",
                                       extra_pytest_args=["-k", "test_dense_forward"]),
                         cwd=ENGINE_ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert nxt.returncode == 0, nxt.stdout[-3000:]
    left = [p.name for p in tmp.iterdir()]
    tmp.rmdir() if not left else None
    assert left == [], f"left behind: {left}"
    assert tasks_of_user(uid) == []
    with pytest.raises(KeyError):
        pwd.getpwnam(name)  # a user made for that grading only
    assert "temporary folder(s) that ended gradings left" in nxt.stdout


def tasks_of_user(uid: int) -> list[int]:
    from autograder.sandbox import processes
    return processes.tasks_of_user(uid)


@pytest.mark.needs_root
def test_the_sandbox_folder_is_reachable_by_its_own_user_only(tmp_path):
    import pwd

    from autograder.sandbox.grader.folder import make_sandbox_dir
    submission = tmp_path / "sub"
    (submission / "pkg").mkdir(parents=True)
    (submission / "pkg" / "a.py").write_text("x = 1\n")
    with SlotUsers(1) as users:
        user = pwd.getpwnam(users.names[0])
        top = make_sandbox_dir(submission, user)
        try:
            info = top.stat()
            assert (info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode)) == (0, user.pw_gid, 0o750)
        finally:
            import shutil
            shutil.rmtree(top)


def test_feedback_reports_a_huge_array_by_shape_and_dtype_without_converting_it():
    import tracemalloc

    from conftest import load_module_from
    from suite_support import GRADED_SUITE
    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(str(GRADED_SUITE))  # feedback imports the suite's judge
        feedback = load_module_from(GRADED_SUITE / "feedback.py", "graded_feedback_trusted_side")
    returned = np.ones(64 * 2**20, dtype=bool)  # a float64 copy would take 512 MB
    tracemalloc.start()
    try:
        with pytest.raises(feedback.Failed) as failed:
            feedback.expect_close("P.", expected=np.zeros((4, 3)), returned=returned, what="Sigmoid()(x)")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert "shape (67108864,) and dtype bool; expected shape (4, 3)" in str(failed.value)
    assert peak < 8 * 2**20, f"feedback allocated {peak / 2**20:.0f} MB"


def test_budgets_hold_in_the_portable_sandbox_too(monkeypatch):
    # Its pipe channel reads frames on a thread: the budget of the awaited reply applies there.
    from autograder.sandbox import BadValue, Sandbox, SandboxConfig, WorkerCrashed, fetch
    monkeypatch.setenv("AUTOGRADER_PORTABLE", "1")
    cases = Path(__file__).parent / "sandbox_cases" / "hostile"
    with Sandbox(cases, SandboxConfig(call_timeout_s=10)) as box:
        assert box.describe().startswith("sandbox: PORTABLE")
        with box.worker() as w:
            hostile = w.import_module("hostile")
            with pytest.raises(BadValue, match="524288 bytes the test allows"):
                fetch(hostile.big_array(1), budget=512 * 1024)
            assert fetch(hostile.ignore_fetch_budgets()) == "patched"
            with pytest.raises(WorkerCrashed, match="exceeds its budget of 524288 bytes"):
                fetch(hostile.big_array(1), budget=512 * 1024)


def test_an_answer_over_the_tests_budget_is_refused_in_plain_words(reference_dir, tmp_path, mnist_dir):
    # 4 MB passed the 8 MB default that every fetch of the suite had: it was read, kept and
    # shown by shape. Now 3.3 reads at most what an array of x's shape takes, with room to spare.
    submission = with_sigmoid(reference_dir, tmp_path / "big", BIG_SIGMOID)
    out = tmp_path / "results.json"
    with SlotUsers(1) as users:
        doc = grade(submission, out, sandbox_user=users.names[0], extra_pytest_args=TESTS)
    assert results_mod.problems(doc) == []
    sigmoid = next(t for t in doc["tests"] if "Sigmoid" in t["name"] and "forward" in t["name"])
    output = sigmoid["output"]
    assert sigmoid["score"] == 0 and output.startswith("Your code returned a value far larger than the test expects")
    assert "value is an array of shape (1000, 500) and dtype float64 (4000000 bytes)" in output, output
    assert "The test expects an array of shape (1, 1)." in output and "the grader did not read it" in output
    assert "**Input** (the smallest failing case found)" in output
    dense = next(t for t in doc["tests"] if "Dense forward" in t["name"])
    assert dense["score"] == dense["max_score"] > 0


def suite_replies():
    from conftest import load_module_from
    from suite_support import GRADED_SUITE
    return load_module_from(GRADED_SUITE / "replies.py", "graded_replies_trusted_side")


def test_the_suites_fetch_refuses_what_it_does_not_expect_before_reading_it(sandbox_mode):
    """A reply over the budget of the shapes a test expects costs the grading process nothing:
    the worker does not send it, and a worker patched to send it anyway is refused from the
    frame's header. A wrong answer of a sensible size still arrives, to be named by its shape."""
    import tracemalloc

    from autograder.sandbox import Sandbox, SandboxConfig, TooLarge, WorkerCrashed
    replies = suite_replies()
    cases = Path(__file__).parent / "sandbox_cases" / "hostile"
    with Sandbox(cases, SandboxConfig(call_timeout_s=10)) as box, box.worker() as w:
        hostile, numpy = w.import_module("hostile"), w.import_module("numpy")
        wrong = replies.fetch(numpy.ones((3, 5)), (4, 3))  # the wrong shape, small: the test names it
        assert type(wrong) is np.ndarray and wrong.shape == (3, 5)
        tracemalloc.start()
        try:
            with pytest.raises(TooLarge) as refused:
                replies.fetch(hostile.big_array(4), (4, 3))
            assert tracemalloc.get_traced_memory()[1] < 2**20
            assert "The test expects an array of shape (4, 3)." in refused.value.message
            assert "shape (4194304,) and dtype uint8" in refused.value.message
            assert replies.fetch(hostile.ignore_fetch_budgets()) == "patched"
            with pytest.raises(WorkerCrashed, match="exceeds its budget"):
                replies.fetch(hostile.big_array(4), (4, 3))
            assert tracemalloc.get_traced_memory()[1] < 2**20, "the grader read the reply"
        finally:
            tracemalloc.stop()


def test_every_fetch_of_the_graded_suite_says_what_it_expects():
    """The suite reads student values only through replies.fetch, whose budget comes from the
    shapes the test expects: no test fetches with the engine's default."""
    from suite_support import GRADED_SUITE
    direct = [str(path.relative_to(GRADED_SUITE)) for path in GRADED_SUITE.rglob("*.py")
              if path.name != "replies.py" and "worker_side" not in path.parts
              and re.search(r"from autograder\.sandbox import[^\n]*\bfetch\b|sandbox\.fetch\(|\.fetch\(",
                            path.read_text())]
    assert direct == []
