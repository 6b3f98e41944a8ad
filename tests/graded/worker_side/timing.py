"""Worker-side timing for the vectorisation test (source sent to the worker, never imported).

The student's code and a vectorised baseline are timed in the same process, interleaved,
taking the best of several runs, so that machine speed and load cancel out of the ratio.
"""
import time

import numpy as np

from beras.core import Variable


def best_time(fn, repeats):
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


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
        "forward": (best_time(lambda: layer(x), repeats),
                    best_time(lambda: x @ w + b, repeats)),
        "gradients": (best_time(lambda: (layer.get_input_gradients(), layer.get_weight_gradients()), repeats),
                      best_time(lambda: (w.copy(), np.broadcast_to(x[:, :, None], (n, m, r)).copy(),
                                         np.ones_like(b)), repeats)),
    }


def time_softmax(Softmax, x, repeats):
    layer = Softmax()
    layer(x)
    y = baseline_softmax(x)
    return {
        "forward": (best_time(lambda: layer(x), repeats),
                    best_time(lambda: baseline_softmax(x), repeats)),
        "gradients": (best_time(lambda: layer.get_input_gradients(), repeats),
                      best_time(lambda: baseline_softmax_jacobian(y), repeats)),
    }
