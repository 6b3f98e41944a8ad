"""The style test (10.1) is timed by the trusted side: nothing the student's code patches
changes its score, and every process of the sandbox user counts.

Its timings once came from clocks inside the student's worker, and `time.thread_time =
lambda: 0.0` at import took the per-sample-loops variant from 97.375 to 100. Now the grader
reads each worker's CPU time from /proc (autograder/sandbox/grader/cputime.py), and the vectorised
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
from suite_support import by_number, edited_copy, graded

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


def corpus_case(project_root, kind, case_id, dest):
    corpus = load_corpus(project_root / "validation")
    case = next(c for c in corpus.of_kind(kind) if c.id == case_id)
    return materialise(case, {"reference": project_root / "reference",
                              "template": project_root / "student_template"}, dest)


def style_test(folder):
    doc, _ = graded(folder, extra_pytest_args=VECTORISATION)
    return by_number(doc)["10.1"]


@pytest.fixture(scope="module")
def honest_loops(project_root, tmp_path_factory):
    """10.1 of the per-sample-loops variant: plain Python loops over the rows in all four parts."""
    test = style_test(corpus_case(project_root, "variant", "per-sample-loops", tmp_path_factory.mktemp("honest") / "sub"))
    for part in ("Dense forward", "Dense gradients", "Softmax forward", "Softmax gradients"):
        assert f"- {part}: several times" in test["output"], test["output"][:1500]
    assert test["score"] == 0.0  # loops in all four parts: none of them is vectorised
    return test


def test_patched_clocks_do_not_change_the_style_score(project_root, mnist_dir, tmp_path, honest_loops):
    patched = corpus_case(project_root, "variant", "per-sample-loops", tmp_path / "patched")
    init = patched / "beras" / "__init__.py"
    init.write_text(PATCH + init.read_text())
    test = style_test(patched)
    assert (test["score"], test["output"]) == (honest_loops["score"], honest_loops["output"])


@pytest.mark.parametrize("attack", ["offload-loops", "cache-loops"])
def test_offloaded_or_cached_loops_earn_what_honest_loops_earn(project_root, mnist_dir, tmp_path, honest_loops,
                                                               attack):
    """Issue 19: the same loops run in a double-forked setsid helper (every process of the
    sandbox user is timed), or cached per input object and per input bytes (every run gets
    fresh inputs): the same points and the same feedback as the honest loops."""
    test = style_test(corpus_case(project_root, "hostile", attack, tmp_path / attack))
    assert (test["score"], test["output"]) == (honest_loops["score"], honest_loops["output"])


HALF_VECTORISED = [("beras/activations.py", """        diagonal = y[:, :, np.newaxis] * np.eye(y.shape[-1])
        return [diagonal - y[:, :, np.newaxis] * y[:, np.newaxis, :]]""",
                    "        return [np.array([np.diag(row) - np.outer(row, row) for row in y])]", 1)]


def test_half_vectorised_code_loses_only_the_looping_part(reference_dir, mnist_dir, tmp_path):
    """Dense and Softmax's forward vectorised, the Softmax Jacobian built row by row: three
    parts of four (2.25 of 3), and the feedback names that one part only."""
    test = style_test(edited_copy(reference_dir, tmp_path / "half", HALF_VECTORISED))
    assert test["score"] == 2.25, test["output"][:1500]
    assert "- Softmax gradients: several times" in test["output"]
    assert "- Dense" not in test["output"] and "- Softmax forward" not in test["output"]


LEANEST_LOOP = [("beras/layers.py", "return [x[:, :, np.newaxis], np.ones_like(self.b)]", """dW = np.empty(x.shape + (1,))
        for i in range(len(x)):
            dW[i] = x[i, :, None]
        return [dW, np.ones_like(self.b)]""", 1)]


def test_the_leanest_loop_over_rows_is_still_a_loop(reference_dir, mnist_dir, tmp_path):
    """The narrowest margin of the four parts: Dense's weight gradient filled by a loop doing
    one assignment per row, against whole-batch code whose (N, m, 1) or (N, m, r) result
    costs almost nothing. It measures about 5 units, past the dead zone (1.8 to 3)."""
    test = style_test(edited_copy(reference_dir, tmp_path / "lean", LEANEST_LOOP))
    assert test["score"] == 2.25, test["output"][:1500]
    assert "- Dense gradients: several times" in test["output"]


DEGENERATE_ZEROS = [("beras/activations.py", """        diagonal = y[:, :, np.newaxis] * np.eye(y.shape[-1])
        return [diagonal - y[:, :, np.newaxis] * y[:, np.newaxis, :]]""",
                     "        return [np.zeros(y.shape + y.shape[-1:])]", 1)]


def test_a_fast_wrong_result_earns_no_speed_point(reference_dir, mnist_dir, tmp_path):
    """Issue 19's degenerate answers: a Jacobian of zeros of the right shape is fast, and wrong;
    the grader compares a digest of every result with its own values, so it earns nothing."""
    test = style_test(edited_copy(reference_dir, tmp_path / "zeros", DEGENERATE_ZEROS))
    assert test["score"] == 2.25, test["output"][:1500]
    assert "- Softmax gradients: not timed, it returned values that differ" in test["output"]


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
    from autograder.sandbox.layers.sandbox_user import claim_sandbox_user, release_sandbox_user
    user = claim_sandbox_user("ag-style-cpu")
    work = Workload(0.3, user)
    try:
        assert cputime.everything_of(work.proc.pid).uid == user.pw_uid
        assert work.measured("offload") >= 0.25
        assert work.measured("offload", cputime.own_tree(work.proc.pid)) < 0.1
    finally:
        work.close()
        from autograder.sandbox.layers.sandbox_user import kill_everything_of
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


def test_the_worker_side_timing_driver_is_public_and_holds_no_answer(project_root):
    """Issue 19: nothing hidden runs in a worker. 10.1's worker-side driver lives with the
    public worker-side helpers and is harmless to print: the build's answer checks (closed-form
    fingerprints, equivalence to the reference's solution regions) find nothing in it, and no
    clock either (the grader times it from outside)."""
    from autograder import answers
    driver = project_root / "tests" / "graded" / "worker_side" / "timing.py"
    source = driver.read_text()
    assert not (project_root / "tests" / "graded" / "hidden" / "timing.py").exists()
    assert answers.formulas_in(source) == []
    assert answers.equivalent_functions(answers.solution_regions(project_root / "reference"),
                                        [("worker_side/timing.py", source)]) == []
    assert "import time" not in source and "perf_counter" not in source and "thread_time" not in source
