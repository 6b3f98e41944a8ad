"""Per-example and full-batch gradients of a softmax classifier, through the student's tape.

Model: logits = x @ W, P = softmax(logits), loss = the batch-mean cross-entropy. The layer,
the softmax and the loss are test-provided (worker_side/probes.py), so a loss bug costs the
loss tests only; the student's part is the GradientTape that chains them into dL/dW. The
softmax's and the loss's values and gradients come from `judge` (recorded at build time in
the student kit, which holds no closed form); in the kit, a problem with no recording has no
gradient: judge.UNKNOWN.
"""
from __future__ import annotations

import numpy as np

import judge
from replies import fetch
from feedback import fail, gradient_list


def weight_gradient(beras, worker_side, x, W, Y, inputs):
    """dL/dW for the batch (x, Y), through the student's GradientTape."""
    parts = judge.value("softmax_classifier_parts", x, W, Y)  # [P, softmax Jacobians, loss, [dL/dP, dL/dY]]
    if not judge.known(parts):
        return judge.UNKNOWN
    tape_class = beras.gradient_tape.GradientTape
    grads = fetch(worker_side("probes").softmax_classifier_gradient(tape_class, x, W, Y, *parts), np.shape(W))
    dW = np.asarray(gradient_list(grads, 1, "GradientTape.gradient(loss, [W])",
                                  "The tape returns one gradient per source.", inputs)[0], dtype=float)
    if dW.shape != W.shape:
        fail("`GradientTape.gradient(loss, [W])[0]` is shaped like W.", inputs=inputs,
             detail=f"It has shape {dW.shape}; expected {W.shape}.")
    return dW


def true_gradient(x, W, Y):
    """The grader's dL/dW for the batch (x, Y), computed on the trusted side."""
    return judge.value("q1_weight_gradient", x, W, Y)


def problem(seed: int, n: int, m: int, classes: int):
    """A fixed classification problem: x in [0, 1], random W, one-hot Y."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 1, size=(n, m))
    W = rng.normal(0, 1, size=(m, classes))
    Y = np.array([rng.permutation([1.0] + [0.0] * (classes - 1)) for _ in range(n)])  # one 1 per row
    return x, W, Y


def per_example_gradients(beras, worker_side, x, W, Y, inputs):
    singles = [weight_gradient(beras, worker_side, x[i:i + 1], W, Y[i:i + 1], inputs) for i in range(len(x))]
    return np.stack(singles) if all(map(judge.known, singles)) else judge.UNKNOWN
