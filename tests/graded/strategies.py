"""Hypothesis strategies for the graded suite.

Shapes are drawn first and kept small (1..MAX_DIM), so that a failure shrinks to a case a
student can check by hand. Values are float64 with bounded magnitudes; where a function has
a kink (ReLU at 0) or a clip (cross-entropy near 0), values are kept away from it, because
Hypothesis produces exact zeros and repeated values very often.
"""
from __future__ import annotations

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

MAX_DIM = 6
MAX_BATCH = 6


def dim(lo: int = 1, hi: int = MAX_DIM) -> st.SearchStrategy[int]:
    return st.integers(lo, hi)


def values(lo: float = -5.0, hi: float = 5.0) -> st.SearchStrategy[float]:
    return st.floats(lo, hi, allow_nan=False, allow_infinity=False, allow_subnormal=False, width=64)


def array(shape: tuple, lo: float = -5.0, hi: float = 5.0) -> st.SearchStrategy[np.ndarray]:
    return hnp.arrays(np.float64, shape, elements=values(lo, hi))


def away_from_zero(shape: tuple, margin: float = 0.05, hi: float = 5.0) -> st.SearchStrategy[np.ndarray]:
    """Values with |v| in [margin, hi]: no kinks of (Leaky)ReLU within a finite-difference step."""
    magnitude = hnp.arrays(np.float64, shape, elements=values(margin, hi))
    signs = hnp.arrays(np.float64, shape, elements=st.sampled_from([-1.0, 1.0]))
    return st.builds(lambda m, s: m * s, magnitude, signs)


@st.composite
def probabilities(draw, shape: tuple) -> np.ndarray:
    """Rows that sum to 1, every entry at least 0.01/6 (far from the clip of cross-entropy)."""
    raw = draw(array(shape, 0.01, 1.0))
    return raw / raw.sum(axis=1, keepdims=True)


@st.composite
def one_hot(draw, n_rows: int, classes: int) -> np.ndarray:
    """Label rows: each an arrangement of one 1 and classes - 1 zeros (shrinking to the 1 first).
    Drawn as arrangements, not encoded from class numbers: the kit holds no one-hot encoder."""
    row = [1.0] + [0.0] * (classes - 1)
    return np.array([draw(st.permutations(row)) for _ in range(n_rows)], dtype=np.float64).reshape(n_rows, classes)


@st.composite
def batch_shape(draw, max_batch: int = MAX_BATCH, max_dim: int = MAX_DIM,
                min_dim: int = 1) -> tuple:
    return draw(dim(1, max_batch)), draw(dim(min_dim, max_dim))


@st.composite
def dense_case(draw) -> dict:
    """A Dense layer problem: x (N, m), w (m, r), b (1, r), upstream J (N, r)."""
    n, m, r = draw(dim(1, 12)), draw(dim(1, 12)), draw(dim(1, 12))  # the issue asks for 1 to about 12
    return {
        "x": draw(array((n, m))),
        "w": draw(array((m, r))),
        "b": draw(array((1, r))),
        "J": draw(array((n, r))),
    }


@st.composite
def label_sets(draw) -> np.ndarray:
    """Integer labels: unsorted, with gaps, possibly negative, every class present at least once."""
    classes = draw(st.lists(st.integers(-50, 50), min_size=1, max_size=6, unique=True))
    extra = draw(st.lists(st.sampled_from(classes), max_size=8))
    order = draw(st.permutations(list(classes) + list(extra)))
    return np.array(order, dtype=np.int64)
