"""Worker-side timing for the vectorisation test (source sent to the worker, never imported).

The student's code and a vectorised baseline are timed in the same process, interleaved,
taking the best of several runs, so that machine speed cancels out of the ratio. The clock is
the thread's CPU time, not the wall: other processes on a loaded machine (a regrade with
several jobs, a busy CI) then cannot stretch one side's timing and change a grade.
"""
import time

import numpy as np

from beras.core import Variable


def cpu_seconds(fn):
    start = time.thread_time()
    fn()
    return time.thread_time() - start


def best_times(student, baseline, repeats):
    """(best student seconds, best baseline seconds), the two runs alternating."""
    best_student = best_baseline = float("inf")
    for _ in range(repeats):
        best_student = min(best_student, cpu_seconds(student))
        best_baseline = min(best_baseline, cpu_seconds(baseline))
    return best_student, best_baseline


def baseline_softmax(x):
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def baseline_softmax_jacobian(y):
    return y[:, :, None] * np.eye(y.shape[1]) - y[:, :, None] * y[:, None, :]


def time_dense(Dense, x, w, b, repeats):
    """Seconds (student, baseline) for forward, and for the input and weight gradients."""
    layer = Dense.__new__(Dense)
    layer.w, layer.b = Variable(w.copy()), Variable(b.copy())
    layer(x)
    n, m = x.shape
    r = w.shape[1]
    return {
        "forward": best_times(lambda: layer(x), lambda: x @ w + b, repeats),
        "gradients": best_times(lambda: (layer.get_input_gradients(), layer.get_weight_gradients()),
                                lambda: (w.copy(), np.broadcast_to(x[:, :, None], (n, m, r)).copy(),
                                         np.ones_like(b)), repeats),
    }


def time_softmax(Softmax, x, repeats):
    layer = Softmax()
    layer(x)
    y = baseline_softmax(x)
    return {
        "forward": best_times(lambda: layer(x), lambda: baseline_softmax(x), repeats),
        "gradients": best_times(lambda: layer.get_input_gradients(),
                                lambda: baseline_softmax_jacobian(y), repeats),
    }
