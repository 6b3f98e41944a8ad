import sys

from calc.good import Counter, SPEED, mean, scale  # noqa: F401


def add(a, b):
    line = "FLOOD " * 30 + "\n"
    for _ in range(100_000):
        sys.stdout.write(line)
        sys.stderr.write(line)
    return a + b
