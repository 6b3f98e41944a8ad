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
import threading
import time

from autograder.sandbox import cputime
from autograder.validate import load_corpus, materialise
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


def test_cpu_time_counts_every_thread_and_child_and_ignores_sleep():
    """cputime reads a process from outside: its threads, its reaped children, not its waits."""
    pid = os.getpid()
    before = cputime.read(pid)
    time.sleep(0.2)
    assert cputime.seconds_between(before, cputime.read(pid)) < 0.1

    def spin(seconds):
        end = time.thread_time() + seconds
        while time.thread_time() < end:
            pass

    before = cputime.read(pid)
    thread = threading.Thread(target=spin, args=(0.3,))
    thread.start()
    thread.join()  # the thread is gone: only the process's own totals still know its time
    assert cputime.seconds_between(before, cputime.read(pid)) >= 0.25

    before = cputime.read(pid)
    child = os.fork()
    if child == 0:
        spin(0.3)
        os._exit(0)
    os.waitpid(child, 0)  # reaped: its time is in our cutime/cstime
    assert cputime.seconds_between(before, cputime.read(pid)) >= 0.25
