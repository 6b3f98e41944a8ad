"""Time limits, measured and enforced in the trusted process: one per test (fixture setup and
the test itself) and one for the whole run, which ends on our own terms before Gradescope's
global timeout (that one shows students nothing at all) so that every earned point is kept
and the tests that did not run are named."""
from __future__ import annotations

import math
import signal
import time
from typing import Any

import pytest

from autograder.course import DEFAULT_TEST_TIMEOUT_S, DEFAULT_TOTAL_TIMEOUT_S, Course

from .metadata import TestState, state_of


class TestTimeout(BaseException):
    """Raised in the trusted process when a whole test overruns its budget. A BaseException,
    so neither Hypothesis nor a test's `except Exception` can swallow it."""


class TimeLimits:
    """A pytest plugin: arms a timer around each test's setup and call."""

    def __init__(self, test_timeout_s: float, total_timeout_s: float, started: float):
        self.test_timeout_s = test_timeout_s
        self.total_timeout_s = total_timeout_s
        self.run_deadline = started + total_timeout_s if total_timeout_s > 0 else math.inf

    @classmethod
    def of(cls, config: pytest.Config, course: Course | None, started: float) -> "TimeLimits":
        """The limits given on the command line, else the course's, else the engine's defaults."""
        test, total = config.getoption("--test-timeout"), config.getoption("--total-timeout")
        if test is None:
            test = course.test_timeout_s if course else DEFAULT_TEST_TIMEOUT_S
        if total is None:
            total = course.total_timeout_s if course else DEFAULT_TOTAL_TIMEOUT_S
        return cls(float(test), float(total), started)

    def start(self, item: pytest.Item) -> None:
        """The test's deadline, and whether the run's budget is already used up."""
        state = state_of(item)
        per_test = time.monotonic() + self.test_timeout_s if self.test_timeout_s > 0 else math.inf
        state.deadline = min(per_test, self.run_deadline)
        state.over_budget = time.monotonic() >= self.run_deadline

    # The time limit covers fixture setup and the test itself, and is armed only inside
    # those two phases (pytest turns an exception there into the test's outcome); teardown
    # always runs in full, because it stops the worker.
    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_setup(self, item: pytest.Item):
        if state_of(item).over_budget:
            pytest.skip("the time budget of the whole run is used up")
        _arm(state_of(item))
        try:
            return (yield)
        finally:
            _disarm()

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_call(self, item: pytest.Item):
        _arm(state_of(item))
        try:
            return (yield)
        finally:
            _disarm()


def _on_alarm(signum: int, frame: Any) -> None:
    raise TestTimeout()


def _arm(state: TestState) -> None:
    if state.deadline == math.inf or not hasattr(signal, "setitimer"):
        return
    remaining = max(state.deadline - time.monotonic(), 0.001)
    try:
        signal.signal(signal.SIGALRM, _on_alarm)
        signal.setitimer(signal.ITIMER_REAL, remaining)
    except ValueError:  # not the main thread: no per-test limit
        pass


def _disarm() -> None:
    if hasattr(signal, "setitimer"):
        try:
            signal.setitimer(signal.ITIMER_REAL, 0)
        except ValueError:
            pass
