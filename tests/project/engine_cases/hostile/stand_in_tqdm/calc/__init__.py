from tqdm import tqdm

from calc.good import Counter, SPEED, mean, scale  # noqa: F401


def add(a, b):
    total = a
    for _ in tqdm(range(1)):
        total = total + b
    return total
