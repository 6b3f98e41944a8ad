"""The grading process's own peak memory, side by side: the reference, and the reference whose
`Sigmoid.forward` returns one 256 MB boolean array (issue 18 #3: once 7-14 GB).

    python3 dev.py run bench/trusted_peak.py [--out bench/trusted-peak.md]

The peak is the grading process's VmHWM (its own high-water mark of resident memory, read
from /proc until it ends): the trusted side only, not the sandbox's workers, whose memory is
capped by their own limits. Each grading runs the 2.x and 3.x forward tests (`-k`), as the
regression test does (tests/project/test_trusted_side.py); run as root with BERAS_MNIST_DIR.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from autograder.batch import SlotUsers  # noqa: E402
from autograder.grading import grade_command  # noqa: E402

HUGE_SIGMOID = '''

def _huge_forward(self, x):
    return np.ones(256 * 2**20, dtype=bool)


Sigmoid.forward = _huge_forward
'''
TESTS = ["-k", "test_dense_forward or test_sigmoid_forward"]


def peak_of(submission: Path, out: Path, user: str | None) -> tuple[int, float]:
    env = {**os.environ, **({"AUTOGRADER_SANDBOX_USER": user} if user else {})}
    started = time.perf_counter()
    proc = subprocess.Popen(grade_command(submission, out, extra_pytest_args=TESTS), cwd=REPO, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    peak = 0
    while proc.poll() is None:
        try:
            with open(f"/proc/{proc.pid}/status") as handle:
                peak = max([peak] + [int(l.split()[1]) * 1024 for l in handle if l.startswith("VmHWM:")])
        except OSError:
            pass
        time.sleep(0.02)
    return peak, time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "trusted-peak.md")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-trusted-peak-") as tmp, SlotUsers(1) as users:
        tmp = Path(tmp)
        reference = tmp / "reference"
        shutil.copytree(REPO / "reference", reference, ignore=shutil.ignore_patterns("__pycache__"))
        huge = tmp / "huge"
        shutil.copytree(reference, huge)
        activations = huge / "beras" / "activations.py"
        activations.write_text(activations.read_text() + HUGE_SIGMOID)
        for label, submission in (("reference", reference), ("Sigmoid.forward returns 256 MB of bool", huge)):
            peak, seconds = peak_of(submission, tmp / f"{submission.name}.json", users.names[0])
            rows.append((label, peak, seconds))
    base = rows[0][1]
    lines = ["| grading (2.x and 3.x forward tests) | grader's own peak (VmHWM) | ratio to the reference | wall |",
             "|---|---:|---:|---:|"]
    lines += [f"| {label} | {peak / 2**20:.0f} MB | {peak / base:.2f}x | {seconds:.1f} s |" for label, peak, seconds in rows]
    table = "\n".join(lines)
    print(table)
    args.out.write_text("# The trusted side's peak memory (bench/trusted_peak.py)\n\n"
                        "Target (issue 18): under 1 GB with the 256 MB reply; it was 7-14 GB before fetch budgets.\n\n"
                        + table + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
