import os

from calc.good import Counter, SPEED, add, mean  # noqa: F401


def scale(x, k):
    os._exit(1)
