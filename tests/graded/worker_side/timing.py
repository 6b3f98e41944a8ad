"""Worker-side driver of the vectorisation test (10.1): it calls the student's Dense and
Softmax on inputs the grader sends, and runs yardsticks of ordinary whole-array NumPy work.

This file is NOT imported by the grader: its source is sent to a worker and run there (see
`conftest.WorkerNamespace`). It is public by construction and holds no answer: it calls the
student's layers, it never computes what they should return (no x @ w + b, no softmax, no
Jacobian). Nothing here measures time either: the grader reads every worker's CPU time from
the kernel around each call (autograder/sandbox/grader/cputime.py), and decides on the grader's side.

A result leaves the worker as a digest: for each row of the result (its first axis), the dot
product of the row's values with weights drawn from a seed that arrives with the same call.
The grader computes the digest of its own expected values and compares. Reading every value
of the result is part of the timed call, so a result that is computed later (lazily, or by
another process) is computed inside the measurement, and a wrong result earns nothing.
"""
import numpy as np


def digest(value, seed):
    """[shape of `value`, its rows (first axis) projected on weights drawn from `seed`]."""
    a = np.asarray(value, dtype=np.float64)
    rows = a.reshape((a.shape[0] if a.ndim else 1), -1)
    weights = np.random.default_rng(seed).standard_normal(rows.shape[1])
    return [list(a.shape), rows @ weights]


def dense_layer(Dense, Variable, w, b):
    """The student's Dense holding our weights (its constructor's random draw is not needed)."""
    layer = Dense.__new__(Dense)
    layer.w, layer.b = Variable(w), Variable(b)
    return layer


def keep(value):
    """The value, left in the worker (for a yardstick whose inputs arrive before it is timed)."""
    return value


def forward(layer, x, seed):
    """The student's layer on x, as [digest]."""
    return [digest(layer(x), seed)]


def gradients(layer, seed):
    """The student's input gradients, then weight gradients, of the last forward, as digests."""
    results = list(layer.get_input_gradients()) + list(layer.get_weight_gradients())
    return [digest(g, seed + i) for i, g in enumerate(results)]


# ------------------------------------------------------------------------------ yardsticks
# Whole-array NumPy work producing arrays of the shapes the timed parts produce, from inputs
# of the same sizes: what vectorised code costs on this machine, right now. None of them
# computes a part of the homework.

def yardstick_forward(x, w, seed):
    """An element-wise pass over the (N, m) input, a matrix product, two passes over the (N, r) result."""
    return [digest(np.tanh(np.matmul(np.tanh(x), w)) * 0.5, seed)]


def yardstick_rows(x, seed):
    """Per-row normalisation of the (N, n) input: a row minimum, tanh, a row sum, a division."""
    t = np.tanh(x - x.min(axis=-1, keepdims=True))
    return [digest(t / (t.sum(axis=-1, keepdims=True) + 1.0), seed)]


def yardstick_dense_gradients(x, w, seed):
    """(N, m, r) of per-sample products of x's rows with w's rows, with (m, r) and (1, r) results."""
    return [digest(w * 2.0, seed), digest(np.multiply(x[:, :, None], w), seed + 1),
            digest(np.full((1, w.shape[1]), 0.5), seed + 2)]


def yardstick_pairs(y, seed):
    """(N, n, n) of products of each row's entries, pair by pair, plus two element-wise passes."""
    return [digest(np.sqrt(np.add(y[:, :, None] * y[:, None, :], 1.0)), seed)]
