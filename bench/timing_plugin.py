"""pytest plugin for the bench: times every phase of a grading run, in the grading process.

The bench loads it through the environment (PYTEST_PLUGINS=timing_plugin, with this folder on
PYTHONPATH), so `run_autograder` runs exactly as on Gradescope. It never changes an outcome:
it only reads clocks, wraps Hypothesis' inner test (keeping its digest, hence the examples
drawn) and wraps results.write_atomic to time it. On exit it writes $AUTOGRADER_BENCH_TIMINGS:

    {"configured", "unconfigured", "first_test", "last_test": epoch seconds,
     "cpu_first_test", "cpu_last_test", "cpu_end": this process's CPU seconds then,
     "write_results": {"s", "cpu", "n"}, "sandbox": autograder.timing.snapshot() at the end,
     "tests": [{"nodeid", "training", "given", "total", "total_cpu", "requests", "writes", "writes_cpu",
                "examples", "examples_cpu", "examples_n",
                "phases": {"setup"|"call"|"teardown": {"wall", "cpu", <sandbox deltas>}}}]}
"""
from __future__ import annotations

import contextlib
import functools
import json
import os
import time

import pytest

from autograder import timing

OUT_ENV = "AUTOGRADER_BENCH_TIMINGS"
TRAINING_ENV = "AUTOGRADER_BENCH_TRAINING"  # substring of the training test's node id
_MEASURED = ("sandbox.create", "sandbox.spawn", "sandbox.greeting", "sandbox.finish",
             "sandbox.close", "sandbox.request")
# wall seconds, this process's CPU (".cpu"), and the worker's own CPU figures
SANDBOX_KEYS = (*_MEASURED, "sandbox.student", *(k + ".cpu" for k in _MEASURED),
                "sandbox.student.cpu", "sandbox.worker.cpu", "sandbox.worker_process.cpu")


def _sandbox_now() -> dict:
    return {key: timing.seconds(key) for key in SANDBOX_KEYS}


def _delta(before: dict, after: dict) -> dict:
    return {key: after[key] - before[key] for key in SANDBOX_KEYS}


def _hypothesis_handle(obj):
    """The HypothesisHandle of a @given test, below gradescope-utils' functools.wraps layers."""
    seen = set()
    while obj is not None and id(obj) not in seen:
        seen.add(id(obj))
        handle = getattr(obj, "hypothesis", None)
        if handle is not None and hasattr(handle, "inner_test"):
            return handle
        obj = getattr(obj, "__wrapped__", None)
    return None



@contextlib.contextmanager
def accumulated(record: dict, wall: str, cpu: str, count: str):
    """Add the wall and CPU time of the block, and one call, to record[wall], [cpu], [count]."""
    started, cpu_started = timing.clock(), timing.cpu_clock()
    try:
        yield
    finally:
        record[wall] += timing.clock() - started
        record[cpu] += timing.cpu_clock() - cpu_started
        record[count] += 1

class PhaseTimer:
    def __init__(self) -> None:
        self.doc = {"configured": time.time(), "first_test": None, "last_test": None,
                    "cpu_first_test": None, "cpu_end": None,
                    "write_results": {"s": 0.0, "cpu": 0.0, "n": 0}, "tests": []}
        self.training = os.environ.get(TRAINING_ENV, "test_training.py::test_end_to_end")
        self.current = None
        self._patch_writer()

    def _patch_writer(self) -> None:
        from autograder import results

        original = results.write_atomic
        record = self.doc["write_results"]

        @functools.wraps(original)
        def write_atomic(*args, **kwargs):
            with accumulated(record, "s", "cpu", "n"):
                return original(*args, **kwargs)
        results.write_atomic = write_atomic

    @pytest.hookimpl(hookwrapper=True, tryfirst=True)
    def pytest_runtest_protocol(self, item, nextitem):
        if self.doc["first_test"] is None:
            self.doc["first_test"], self.doc["cpu_first_test"] = time.time(), timing.cpu_clock()
        self.current = {"nodeid": item.nodeid, "training": self.training in item.nodeid,
                        "given": _hypothesis_handle(getattr(item, "obj", None)) is not None,
                        "examples": 0.0, "examples_cpu": 0.0, "examples_n": 0, "phases": {}}
        started, cpu, requests = timing.clock(), timing.cpu_clock(), timing.count("sandbox.request")
        written, written_cpu = self.doc["write_results"]["s"], self.doc["write_results"]["cpu"]
        yield
        self.current["total"] = timing.clock() - started
        self.current["total_cpu"] = timing.cpu_clock() - cpu
        self.current["requests"] = timing.count("sandbox.request") - requests
        self.current["writes"] = self.doc["write_results"]["s"] - written  # progress results.json
        self.current["writes_cpu"] = self.doc["write_results"]["cpu"] - written_cpu
        self.doc["tests"].append(self.current)
        self.doc["last_test"], self.doc["cpu_last_test"] = time.time(), timing.cpu_clock()

    def _phase(self, when):
        before, started, cpu = _sandbox_now(), timing.clock(), timing.cpu_clock()
        yield
        phase = _delta(before, _sandbox_now())
        phase["wall"] = timing.clock() - started
        phase["cpu"] = timing.cpu_clock() - cpu
        self.current["phases"][when] = phase

    @pytest.hookimpl(hookwrapper=True, tryfirst=True)
    def pytest_runtest_setup(self, item):
        yield from self._phase("setup")

    @pytest.hookimpl(hookwrapper=True, tryfirst=True)
    def pytest_runtest_call(self, item):
        handle = _hypothesis_handle(getattr(item, "obj", None))
        if handle is None:
            yield from self._phase("call")
            return
        inner, record = handle.inner_test, self.current

        @functools.wraps(inner)  # same source and signature, hence the same derandomised seed
        def timed_example(*args, **kwargs):
            with accumulated(record, "examples", "examples_cpu", "examples_n"):
                return inner(*args, **kwargs)
        handle.inner_test = timed_example
        try:
            yield from self._phase("call")
        finally:
            handle.inner_test = inner

    @pytest.hookimpl(hookwrapper=True, tryfirst=True)
    def pytest_runtest_teardown(self, item, nextitem):
        yield from self._phase("teardown")

    def pytest_unconfigure(self, config) -> None:
        self.doc["unconfigured"], self.doc["cpu_end"] = time.time(), timing.cpu_clock()
        self.doc["sandbox"] = timing.snapshot()
        path = os.environ.get(OUT_ENV)
        if path:
            with open(path, "w", encoding="utf-8") as handle:
                json.dump(self.doc, handle)


def pytest_configure(config) -> None:
    config.pluginmanager.register(PhaseTimer(), "bench-phase-timer")
