"""Worker-side code for the vectorisation test (source sent to the worker, never imported).

GRADER ONLY: its vectorised baselines are answers (softmax, its Jacobian, Dense), so it lives
in hidden/, which the student kit never holds; worker_side("timing") finds it here.

No clock here: the trusted side reads each worker's CPU time from /proc around every call
(autograder/sandbox/cputime.py), so nothing the student's code patches can change it. The
student's parts run in the student's worker; the vectorised baselines run in a fresh worker
that never imported the student's code, so that code cannot slow them down either.
"""
import numpy as np


def repeat(fn, times):
    """Run fn() `times` times, the result staying here. For the baselines only: the student's
    functions are called one call at a time from the trusted side."""
    for _ in range(times):
        fn()


def baseline_softmax(x):
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def baseline_softmax_jacobian(y):
    return y[:, :, None] * np.eye(y.shape[1]) - y[:, :, None] * y[:, None, :]


def dense_parts(Dense, x, w, b):
    """The student's Dense forward, and its input and weight gradients, ready to run."""
    from beras.core import Variable

    layer = Dense.__new__(Dense)
    layer.w, layer.b = Variable(w.copy()), Variable(b.copy())
    layer(x)
    return {"forward": lambda: layer(x),
            "gradients": lambda: (layer.get_input_gradients(), layer.get_weight_gradients())}


def dense_baselines(x, w, b):
    n, m = x.shape
    r = w.shape[1]
    return {"forward": lambda: x @ w + b,
            "gradients": lambda: (w.copy(), np.broadcast_to(x[:, :, None], (n, m, r)).copy(), np.ones_like(b))}


def softmax_parts(Softmax, x):
    layer = Softmax()
    layer(x)
    return {"forward": lambda: layer(x), "gradients": lambda: layer.get_input_gradients()}


def softmax_baselines(x):
    y = baseline_softmax(x)
    return {"forward": lambda: baseline_softmax(x), "gradients": lambda: baseline_softmax_jacobian(y)}
