import numpy as np


def norm(x):
    return float(np.sqrt(np.sum(np.square(x))))
