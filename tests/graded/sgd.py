"""Per-example and full-batch gradients of a softmax classifier, through the student's loss.

Model: logits = x @ W, P = softmax(logits), loss = the student's CategoricalCrossEntropy.
The student's part is d loss / d P; the rest of the chain (softmax Jacobian, x.T @ ...) is the
closed form, from `judge` (so it is an answer recorded at build time in the student kit), so
these tests grade only how the loss scales with the batch. In the kit, a problem whose
Jacobians were not recorded has no gradient: judge.UNKNOWN.
"""
from __future__ import annotations

import numpy as np

import judge
from autograder.sandbox import fetch
from feedback import fail, gradient_list


def weight_gradient(beras, x, W, Y, inputs):
    """dL/dW for the batch (x, Y), with dL/dP from the student's CategoricalCrossEntropy."""
    P = judge.value("linear_softmax", x, W)
    jacobian = judge.value("linear_softmax_jacobian", x, W)
    if not (judge.known(P) and judge.known(jacobian)):
        return judge.UNKNOWN
    loss = beras.losses.CategoricalCrossEntropy()
    loss(P, Y)
    dP = np.asarray(gradient_list(fetch(loss.get_input_gradients()), 1,
                                  "CategoricalCrossEntropy.get_input_gradients()",
                                  "The loss returns one gradient per input.", inputs)[0], dtype=float)
    if dP.shape != P.shape:
        fail("`CategoricalCrossEntropy.get_input_gradients()[0]` is shaped like y_pred.", inputs=inputs,
             detail=f"It has shape {dP.shape}; expected {P.shape}.")
    d_logits = np.einsum("bij,bj->bi", jacobian, dP)
    return x.T @ d_logits


def problem(seed: int, n: int, m: int, classes: int):
    """A fixed classification problem: x in [0, 1], random W, one-hot Y."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 1, size=(n, m))
    W = rng.normal(0, 1, size=(m, classes))
    Y = (rng.integers(0, classes, size=n)[:, None] == np.arange(classes)).astype(np.float64)
    return x, W, Y


def per_example_gradients(beras, x, W, Y, inputs):
    singles = [weight_gradient(beras, x[i:i + 1], W, Y[i:i + 1], inputs) for i in range(len(x))]
    return np.stack(singles) if all(map(judge.known, singles)) else judge.UNKNOWN
