"""The generic mathematics the suite judges with: float64 finite differences and tolerances.

Everything here runs in the trusted process with plain numpy, on the MATHEMATICAL function
(never on a student's forward), so a broken forward pass cannot cost gradient points. The
closed forms themselves (softmax, MSE, ...) are answers: they live in hidden/closed_forms.py,
which never ships in the student kit, and public tests reach them only through `judge`.

Tolerances (why these numbers):
- Students may compute in float32. Its relative precision is 6e-8; a few operations give
  errors around 1e-6 relative, so value checks use rtol=1e-5 with a small absolute floor.
- Central differences in float64 with step h=1e-6 on functions whose third derivative is
  O(1) are exact to about h^2 + eps/h ~ 1e-10; gradient checks use the same rtol=1e-5.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

# Value checks: float32 inside a student's code is allowed (see module docstring).
VALUE = dict(rtol=1e-5, atol=1e-7)
# Gradient checks against finite differences: FD error ~1e-9, float32 students ~1e-6.
GRADIENT = dict(rtol=1e-5, atol=1e-6)
FD_STEP = 1e-6


def tolerance_for(produced, strict: dict, float32: dict = VALUE) -> dict:
    """`strict` when the student computed in float64, `float32` otherwise.

    `produced` is what the student's code returned: one array, or a list of every array
    along a chain of calls. A single low-precision array in the chain means the student
    computed (part of) it in float32, even when the last step returns float64 (a float32
    Jacobian times our float64 upstream is float64 with float32 precision). The API allows
    float32 inside, so such a student is held to float32 precision, never to float64's.
    """
    arrays = produced if isinstance(produced, (list, tuple)) else [produced]
    for array in arrays:
        dtype = getattr(array, "dtype", None)
        if dtype is not None and dtype.kind == "f" and dtype.itemsize < 8:
            return float32
    return strict


def float32_inputs_at(magnitude: float) -> dict:
    """The tolerance of a float32 computation on inputs as large as `magnitude`.

    Rounding an input of size |x| to float32 moves it by up to |x| * 2^-24 (3e-5 at 1000);
    a softmax or sigmoid output moves by at most half its inputs' largest move (the
    row sums of their Jacobians' absolute values are at most 2 p (1 - p) <= 1/2). The
    atol below is twice that bound, so float32 work never fails, and a formula that
    overflows (inf, nan) or is wrong still does.
    """
    return dict(rtol=VALUE["rtol"], atol=max(VALUE["atol"], magnitude * float(np.finfo(np.float32).eps)))


def float32_sum_of_products(magnitudes: np.ndarray, terms: int) -> dict:
    """The tolerance of a float32 computation of sums of `terms` products, such as x @ w + b,
    where `magnitudes` is what the same sums give with every term made non-negative
    (|x| @ |w| + |b|).

    Rounding each input to float32, each product and each of the additions moves a sum by
    at most (terms + 2) * 2^-24 times that magnitude (the standard bound for a dot product,
    plus the inputs' own rounding), however small the sum itself ends after cancellation:
    then a tolerance relative to the result would fail correct float32 code. The atol below
    is four times that bound, for the largest entry.
    """
    unit = float(np.finfo(np.float32).eps) / 2
    bound = (terms + 2) * unit * float(np.max(magnitudes, initial=0.0))
    return dict(rtol=VALUE["rtol"], atol=max(VALUE["atol"], 4 * bound))


# ---------------------------------------------------------------------------- finite differences

def gradient_fd(f: Callable[[np.ndarray], float], x: np.ndarray, h: float = FD_STEP) -> np.ndarray:
    """d f / d x by central differences, f scalar-valued, x any shape (float64)."""
    x = np.array(x, dtype=np.float64)
    grad = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        orig = x[idx]
        x[idx] = orig + h
        up = f(x)
        x[idx] = orig - h
        down = f(x)
        x[idx] = orig
        grad[idx] = (up - down) / (2 * h)
    return grad


def vjp_fd(f: Callable[[np.ndarray], np.ndarray], x: np.ndarray, upstream: np.ndarray,
           h: float = FD_STEP) -> np.ndarray:
    """The composed gradient d <f(x), upstream> / d x by central differences."""
    return gradient_fd(lambda z: float(np.sum(f(z) * upstream)), x, h)


def jacobian_fd_rows(f: Callable[[np.ndarray], np.ndarray], x: np.ndarray,
                     h: float = FD_STEP) -> np.ndarray:
    """Per-row Jacobians (N, n, k) of a row-wise function f: (N, n) -> (N, k):
    J[b, i, j] = d f(x)[b, j] / d x[b, i]  (inputs on axis 1, outputs on axis 2, as the API)."""
    x = np.array(x, dtype=np.float64)
    n_rows, n = x.shape
    k = f(x).shape[1]
    jac = np.zeros((n_rows, n, k))
    for i in range(n):
        step = np.zeros_like(x)
        step[:, i] = h
        jac[:, i, :] = (f(x + step) - f(x - step)) / (2 * h)
    return jac
