import time

from calc.good import Counter, SPEED, mean, scale  # noqa: F401


def add(a, b):
    time.sleep(10**6)
