"""Reference for the engine's test course. SECRET-REFERENCE-7f3a"""
import numpy as np

SPEED = 1.5


def add(a, b):
    return a + b


def scale(x, k):
    return np.asarray(x, dtype=np.float64) * k


def mean(x):
    return float(np.mean(x))


class Counter:
    def __init__(self):
        self.value = 0

    def inc(self):
        self.value += 1
