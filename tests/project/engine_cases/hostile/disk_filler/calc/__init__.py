import os

from calc.good import Counter, SPEED, add, mean  # noqa: F401


def scale(x, k):
    """Files just under the course's per-file limit (file_size_mb = 8), as many as it takes
    to fill the disk: only a total budget on the workers' folders stops this."""
    chunk = b"\0" * (1 << 20)
    i = 0
    while True:
        with open(os.path.join(os.environ["TMPDIR"], f"fill-{i}"), "wb") as f:
            for _ in range(7):
                f.write(chunk)
            f.write(chunk[:-4096])
        i += 1
