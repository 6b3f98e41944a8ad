"""Judge values, not incidental shapes: a gradient in a shape that the handout's given code
combines exactly as the usual one is accepted, and its values are compared in the usual shape.

The given code of every term (validation/variants.yaml, `term-*`) reads a gradient g so:
- the element-wise override of LeakyReLU and Sigmoid returns `g * J` (J the list [J0]), which
  broadcasts: a slope of shape (1, N, n), e.g. built from `np.array(self.inputs)`, composes
  exactly like one of shape (N, n);
- the generic compose loops over the samples: a 3-D g is one gradient per sample (g[b]), any
  other g is shared by the batch, and each sample's product is written into an array shaped
  like the input or weight, so a shared bias gradient of shape (), (1,), (r,) or (1, r)
  (anything that broadcasts to b's (1, r)) composes alike, and so does a shared Jacobian
  repeated for every sample, (N, m, r) for (m, r), or (N, 1, r) for b's.
Shapes the given code would combine differently stay failures, with the shape in the message.
"""
from __future__ import annotations

import numpy as np


def _without_leading_ones(shape) -> tuple:
    shape = tuple(shape)
    while shape and shape[0] == 1:
        shape = shape[1:]
    return shape


def elementwise_slope(returned, shape) -> np.ndarray:
    """An element-wise layer's slope in `shape` (the input's) when `g * J` composes it alike:
    the same entries behind leading axes of length 1, or an array that broadcasts to it.
    Otherwise the array as it is (the value check then reports its shape)."""
    got = np.asarray(returned, dtype=np.float64)
    shape = tuple(shape)
    if got.shape == shape:
        return got
    if _without_leading_ones(got.shape) == _without_leading_ones(shape):
        return got.reshape(shape)
    if got.ndim <= len(shape):
        try:
            return np.broadcast_to(got, shape)
        except ValueError:
            pass
    return got


def shared_gradient(returned, shape, batch: int | None = None) -> np.ndarray:
    """A weight gradient in the weight's `shape` when the generic compose reads it as that one
    matrix: shared (not 3-D) and broadcasting there (a bias gradient of shape (), (1,), (r,),
    (1, 1)), or given once per sample, (N, 1, r), every sample's the same."""
    got = np.asarray(returned, dtype=np.float64)
    shape = tuple(shape)
    if got.shape == shape:
        return got
    if got.ndim == 3 and batch and got.shape[0] == batch and all(np.array_equal(s, got[0]) for s in got):
        got = got[0]
    if got.ndim == 3 or got.ndim > len(shape):
        return got
    try:
        return np.broadcast_to(got, shape)
    except ValueError:
        return got


def is_per_sample_copy(returned, shape, batch: int) -> bool:
    """A shared (m, r) Jacobian given once per sample, (N, m, r): the generic compose uses g[b]
    for sample b, which is the same matrix."""
    return np.shape(returned) == (batch, *tuple(shape))


def note_unusual(add_output, what: str, returned_shape, usual_shape) -> None:
    """A note (once per test) that a shape was unusual but combines correctly."""
    returned_shape, usual_shape = tuple(returned_shape), tuple(usual_shape)
    if returned_shape == usual_shape or add_output is None:
        return
    seen = add_output.__dict__.setdefault("shape_notes", set())
    if what in seen:
        return
    seen.add(what)
    add_output(f"**Note:** `{what}` has shape {returned_shape}; the usual shape is {usual_shape}. Your "
               f"compose code combined it exactly like the usual one, so it is accepted.")
