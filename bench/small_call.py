"""One revision's small-call figures, printed as one JSON line (bench/compare.py runs this).

    PYTHONPATH=<checkout> python bench/small_call.py SUBMISSION CALLS CYCLES [--in-process]

It uses only the public `autograder.sandbox` API (Sandbox, SandboxConfig, box.worker(),
w.import_module), which every revision since the bench began exports, so the same driver
measures an old checkout and the working tree alike. It imports nothing else of the bench:
whichever `autograder` PYTHONPATH names is the one measured.

Figures: the sandbox's start (entering Sandbox to the first worker's first reply: the zygote
and every layer set up once per grading), the round trip of `abs(-3)` on a Remote of
`builtins.abs` after 200 warm-up calls (median and 90th percentile), and a fresh worker's
whole life (fork, set-up, one import, stop; median).
"""
from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path


def measure(submission: Path, calls: int, cycles: int, in_process: bool) -> dict:
    from autograder.sandbox import Sandbox, SandboxConfig

    started = time.perf_counter()
    with Sandbox(submission, SandboxConfig(in_process=in_process)) as box:
        with box.worker() as w:
            absolute = w.import_module("builtins").abs
            absolute(-3)
            sandbox_start = time.perf_counter() - started
            for _ in range(min(calls, 200)):  # warm caches and the scheduler
                absolute(-3)
            times = []
            for _ in range(calls):
                t = time.perf_counter()
                absolute(-3)
                times.append(time.perf_counter() - t)
        lives = []
        for _ in range(cycles):
            t = time.perf_counter()
            with box.worker() as w:
                w.import_module("builtins")
            lives.append(time.perf_counter() - t)
    times.sort()
    return {"round_trip_us": statistics.median(times) * 1e6,
            "round_trip_p90_us": times[int(len(times) * 0.9)] * 1e6,
            "worker_ms": statistics.median(lives) * 1e3,
            "sandbox_start_ms": sandbox_start * 1e3,
            "calls": calls, "cycles": cycles,
            "autograder": str(Path(sys.modules["autograder"].__file__).parent)}


def main(argv) -> int:
    submission, calls, cycles = Path(argv[0]), int(argv[1]), int(argv[2])
    print(json.dumps(measure(submission, calls, cycles, "--in-process" in argv[3:])))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
