"""Worker-side helpers for the optimizer tests (source sent to the worker, never imported).

Parameters are a plain ndarray subclass with the Variable interface (`assign`, `trainable`),
so that the optimizer tests do not depend on the student's Tensor.
"""
import numpy as np


class Param(np.ndarray):
    """A parameter like beras' Variable: updated in place by `assign`, `-=` or `[...] =`.
    Made by `param(value)`, a float64 copy viewed as this class (as the handout's given
    `_as_tensor` does); it has no constructor of its own, which would be the answer of
    Tensor's (a student part)."""

    def __array_finalize__(self, obj):
        self.trainable = getattr(obj, "trainable", True)

    def assign(self, value):
        self[...] = value


def param(value):
    return np.array(value, dtype=np.float64).view(Param)


def params(values):
    return [param(v) for v in values]


def plain(values):
    return [np.array(v, dtype=np.float64) for v in values]


def bump_gradient(point):
    """The exact gradient of z = x * exp(-(x^2 + y^2)) (seed question 7)."""
    x, y = float(point[0]), float(point[1])
    e = np.exp(-(x * x + y * y))
    return np.array([e * (1.0 - 2.0 * x * x), -2.0 * x * y * e])


def descend(optimizer, start, steps, flat=False):
    """Run `steps` updates of the student's optimizer from `start`, fed the exact gradient
    of the bump (or zeros, for a perfectly flat loss); return the end point."""
    point = param(start)
    for _ in range(steps):
        grad = np.zeros(2) if flat else bump_gradient(point)
        optimizer.apply_gradients([point], [grad])
    return np.array(point, dtype=np.float64)
