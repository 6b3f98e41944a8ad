import numpy as np

from calc.good import Counter, SPEED, add  # noqa: F401


def scale(x, k):
    return np.zeros(10**7)  # 80 MB: over the course's 64 MB value cap


def mean(x):
    return np.array([object(), object()])
