import numpy as np

from calc.good import SPEED  # noqa: F401


class AlwaysEqual:
    def __eq__(self, other):
        return True

    __hash__ = object.__hash__


class EvilArray(np.ndarray):
    def __eq__(self, other):
        return np.ones(np.shape(self), dtype=bool)


class EvilFloat(float):
    def __eq__(self, other):
        return True

    __hash__ = float.__hash__


def add(a, b):
    return AlwaysEqual()


def scale(x, k):
    return np.zeros(np.shape(x)).view(EvilArray)


def mean(x):
    return EvilFloat(-1.0)


class Counter:
    def __init__(self):
        self.value = AlwaysEqual()

    def inc(self):
        pass
