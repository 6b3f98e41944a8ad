import numpy as np

from calc.good import Counter, SPEED  # noqa: F401


def add(a, b):
    return float("nan")


def scale(x, k):
    return np.asarray(x) * np.inf


def mean(x):
    return float("inf")
