import math


def norm(x):
    return math.sqrt(sum(float(v) ** 2 for v in x))
