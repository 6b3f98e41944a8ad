import math

import numpy as np

SPEED = 2.0


def add(a, b):
    return b + a


def scale(x, k):
    return np.array([[k * v for v in row] for row in np.atleast_2d(x)]).reshape(np.shape(x))


def mean(x):
    return sum(float(v) for v in x) / len(x)


class Counter:
    def __init__(self):
        self.value = 0

    def inc(self):
        self.value = self.value + 1
