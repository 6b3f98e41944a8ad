"""The style test (10.1) is timed by the trusted side: nothing the student's code patches
changes its score.

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

for line in sys.stdin:
    if line.strip() == "sleep":
        time.sleep(0.2)
    elif line.strip() == "thread":  # the thread has ended when we read: only the totals know it
        thread = threading.Thread(target=spin, args=(0.3,))
        thread.start()
        thread.join()
    elif line.strip() == "child":  # reaped: its time is in the process's cutime/cstime
        child = os.fork()
        if child == 0:
            spin(0.3)
            os._exit(0)
        os.waitpid(child, 0)
    print("done", flush=True)
"""


def test_cpu_time_counts_ended_threads_and_reaped_children_not_sleep():
    proc = subprocess.Popen([sys.executable, "-c", WORKLOAD], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True)
    try:
        def measured(command):
            def run():
                proc.stdin.write(command + "\n")
                proc.stdin.flush()
                assert proc.stdout.readline().strip() == "done"
            return cputime.cpu_seconds(proc.pid, run)

        assert measured("sleep") < 0.1
        assert measured("thread") >= 0.25
        assert measured("child") >= 0.25
    finally:
        proc.kill()
        proc.wait()


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
