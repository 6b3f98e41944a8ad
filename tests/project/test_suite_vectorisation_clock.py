"""The style test (10.1) is timed by the trusted side: nothing the student's code patches
changes its score, and every process of the sandbox user counts.

Its timings once came from clocks inside the student's worker, and `time.thread_time =
lambda: 0.0` at import took the per-sample-loops variant from 97.375 to 100. Now the grader
reads each worker's CPU time from /proc (autograder/sandbox/cputime.py), and the vectorised
baseline runs in a worker that never imported the student's code. The same variant, with
every clock patched and numpy patched to slow down anything our helper code calls, must
earn exactly what it earns without the patch.
"""
from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

import pytest

from autograder.sandbox import cputime
from autograder.validate.corpus import load_corpus, materialise
from suite_support import by_number, graded

VECTORISATION = ["-k", "test_q6_style_dense_and_softmax_are_vectorised"]

# Every clock Python offers, stopped; numpy functions our baselines use, slowed down when
# called from our timing helper code, in the hope that the
# baseline runs in this process.
PATCH = '''import os as _os
import sys as _sys
import time as _time
import numpy as _np

for _name in ("time", "thread_time", "perf_counter", "process_time", "monotonic"):
    setattr(_time, _name, lambda: 0.0)
    setattr(_time, _name + "_ns", lambda: 0)
_os.times = lambda: _os.times_result((0.0, 0.0, 0.0, 0.0, 0.0))


def _slowed(fn):
    def slow(*args, **kwargs):
        if _sys._getframe(1).f_code.co_filename == "<grader: timing.py>":
            sum(range(2_000_000))
        return fn(*args, **kwargs)
    return slow


for _name in ("exp", "eye", "broadcast_to", "ones_like"):
    setattr(_np, _name, _slowed(getattr(_np, _name)))
'''


def per_sample_loops(project_root, dest):
    corpus = load_corpus(project_root / "validation")
    case = next(c for c in corpus.of_kind("variant") if c.id == "per-sample-loops")
    return materialise(case, {"reference": project_root / "reference"}, dest)


def test_patched_clocks_do_not_change_the_style_score(project_root, mnist_dir, tmp_path):
    honest = per_sample_loops(project_root, tmp_path / "honest")
    patched = per_sample_loops(project_root, tmp_path / "patched")
    init = patched / "beras" / "__init__.py"
    init.write_text(PATCH + init.read_text())

    scores = {}
    for label, folder in (("honest", honest), ("patched", patched)):
        doc, _ = graded(folder, extra_pytest_args=VECTORISATION)
        test = by_number(doc)["10.1"]
        scores[label] = test["score"]
        assert "Dense forward" in test["output"], test["output"][:600]  # loops over 20,000 rows are slow
    # Loops everywhere: only the Softmax Jacobian's (about 10x the baseline) earns half of its quarter.
    assert scores == {"honest": 0.375, "patched": 0.375}, scores


WORKLOAD = """
import os, sys, threading, time

def spin(seconds):
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        pass

SPIN = float(sys.argv[1])
for line in sys.stdin:
    command = line.strip()
    if command == "sleep":
        time.sleep(0.2)
    elif command == "thread":  # the thread has ended when we read
        thread = threading.Thread(target=spin, args=(SPIN,))
        thread.start()
        thread.join()
    elif command == "child":  # reaped: its time is in the process's cutime/cstime
        child = os.fork()
        if child == 0:
            spin(SPIN)
            os._exit(0)
        os.waitpid(child, 0)
    elif command == "offload":  # a double fork and setsid: a helper outside the worker's tree
        done_r, done_w = os.pipe()
        child = os.fork()
        if child == 0:
            os.setsid()
            if os.fork() == 0:
                spin(SPIN)
                os.write(done_w, b"x")
                time.sleep(30)  # still alive, re-parented, in a session of its own
            os._exit(0)
        os.waitpid(child, 0)
        os.read(done_r, 1)
    print("done", flush=True)
"""


class Workload:
    """A process that, on each command, spins SPIN CPU seconds in some way (see WORKLOAD)."""

    def __init__(self, spin, user=None):
        kwargs = {} if user is None else {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}
        self.proc = subprocess.Popen([sys.executable, "-c", WORKLOAD, str(spin)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True, cwd="/", **kwargs)

    def measured(self, command, scope=None):
        def run():
            self.proc.stdin.write(command + "\n")
            self.proc.stdin.flush()
            assert self.proc.stdout.readline().strip() == "done"
        return cputime.cpu_seconds(self.proc.pid if scope is None else scope, run)

    def close(self):
        self.proc.kill()
        self.proc.wait()


def test_cpu_time_counts_ended_threads_and_reaped_children_not_sleep():
    work = Workload(0.3)
    try:
        assert work.measured("sleep") < 0.1
        assert work.measured("thread") >= 0.25
        assert work.measured("child") >= 0.25
    finally:
        work.close()


def test_cpu_time_of_short_ended_threads_is_exact():
    """A thread that ends within the call hides nothing: the process's CPU clock keeps it to
    the nanosecond (it used to be read in 10 ms ticks, less a rounding allowance that a loop
    of a few tens of milliseconds fitted under)."""
    work = Workload(0.03)
    try:
        times = sorted(work.measured("thread") for _ in range(5))
        assert times[2] >= 0.025, times
    finally:
        work.close()


@pytest.mark.needs_root
def test_cpu_time_counts_a_double_forked_setsid_helper_of_the_sandbox_user(tmp_path):
    """Issue 19: a helper made by a double fork and setsid leaves the worker's tree and
    session; it is still the sandbox user's, so the student's reading counts it. A reading
    of the worker's own tree (what a baseline worker gets) does not."""
    from autograder.sandbox.users import claim_sandbox_user, release_sandbox_user
    user = claim_sandbox_user("ag-style-cpu")
    work = Workload(0.3, user)
    try:
        assert cputime.everything_of(work.proc.pid).uid == user.pw_uid
        assert work.measured("offload") >= 0.25
        assert work.measured("offload", cputime.own_tree(work.proc.pid)) < 0.1
    finally:
        work.close()
        from autograder.sandbox.users import kill_everything_of
        kill_everything_of(user.pw_uid, user.pw_gid)
        release_sandbox_user(user.pw_name)


def test_without_a_sandbox_user_only_the_worker_tree_counts():
    """Portable mode (no user switch): the rest of this user's processes are not the worker's,
    so the scope is the worker's tree, and says so."""
    work = Workload(0.3)
    try:
        scope = cputime.everything_of(work.proc.pid)
        assert scope.uid is None
        assert "every process of its user" not in scope.describe()
        assert work.measured("child") >= 0.25
    finally:
        work.close()


def test_in_process_counts_the_calling_thread_only():
    """In-process (benchmarks), the grader's other threads are not the student's."""
    def spin(seconds):
        end = time.thread_time() + seconds
        while time.thread_time() < end:
            pass

    def busy_elsewhere():
        thread = threading.Thread(target=spin, args=(0.3,))
        thread.start()
        thread.join()

    assert cputime.cpu_seconds(os.getpid(), busy_elsewhere) < 0.1
    assert cputime.cpu_seconds(os.getpid(), lambda: spin(0.3)) >= 0.25
