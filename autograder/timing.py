"""Phase timing for the benchmarks: named totals of seconds (and counts), per process.

Cheap enough to stay on while grading (a dict update per event), and nothing in grading
reads it: the sandbox records worker start-ups, round trips and the time the worker says it
spent in student code; bench/timing_plugin.py adds the test phases and writes it all out.

Names used by the sandbox (seconds unless said otherwise):
    sandbox.create     Sandbox(): private copy, zygote launched, interpreter check
    sandbox.spawn      forking a worker (includes waiting for the zygote to be ready)
    sandbox.greeting   waiting for a new worker's hello (its set-up: session, rlimits, user)
    sandbox.finish     stopping a worker and everything it started
    sandbox.close      stopping the zygote, sweeping, deleting the private copy
    sandbox.request    whole remote operations, trusted side (count = round trips)
    sandbox.student    inside student code, as measured by the worker (untrusted figure:
                       fine for a benchmark, never used for grading)
    X.cpu              this process's CPU seconds during X (for the names above), except:
    sandbox.student.cpu   the worker's CPU inside student code (worker's figure)
    sandbox.worker.cpu    the worker's CPU handling requests, student code included (ditto)
    sandbox.bytes_sent, sandbox.bytes_received   payload bytes (in the count field)
"""
from __future__ import annotations

import time
from collections import defaultdict
from contextlib import contextmanager
from typing import Dict, Iterator

clock = time.perf_counter
cpu_clock = time.process_time

_seconds: Dict[str, float] = defaultdict(float)
_counts: Dict[str, int] = defaultdict(int)


def add(name: str, seconds: float, count: int = 1) -> None:
    _seconds[name] += seconds
    _counts[name] += count


@contextmanager
def measure(name: str) -> Iterator[None]:
    """Wall seconds under `name`, this process's CPU seconds under `name.cpu`."""
    start, cpu = clock(), cpu_clock()
    try:
        yield
    finally:
        add(name, clock() - start)
        add(name + ".cpu", cpu_clock() - cpu)


def seconds(name: str) -> float:
    return _seconds.get(name, 0.0)


def count(name: str) -> int:
    return _counts.get(name, 0)


def snapshot() -> Dict[str, Dict[str, float]]:
    """{name: {"s": seconds, "n": count}} for everything recorded so far."""
    return {name: {"s": _seconds[name], "n": _counts[name]} for name in sorted(set(_seconds) | set(_counts))}


def reset() -> None:
    _seconds.clear()
    _counts.clear()
