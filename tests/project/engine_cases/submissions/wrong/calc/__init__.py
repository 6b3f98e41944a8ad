import numpy as np

SPEED = 9.0


def add(a, b):
    print("debug: adding", a, b)
    return a - b


def scale(x, k):
    return np.asarray(x, dtype=np.float64) * k


def mean(x):
    return float(np.median(x))


class Counter:
    def __init__(self):
        self.value = 0

    def inc(self):
        self.value += 1
