"""pytest plugin: runs a graded suite against one submission and writes Gradescope results.

Load with `-p autograder.plugin`. Options: `--submission DIR|ZIP`, `--results FILE`,
`--public-only`, `--in-process` (benchmarks only), `--autograder-config FILE`,
`--test-timeout SECONDS`. This module holds the hooks and fixtures; beside it live the
session (session.py), a test's entry (outcome.py), its feedback (feedback.py), what tests
declare (metadata.py), time limits (timer.py) and the top of the results (summary.py).

Fixtures: `sandbox` (session; one Sandbox on the normalised submission), `student` (a fresh
Worker per test), `submission_root` (the normalised folder; read files, never import them),
`set_score` and `set_leaderboard_value` (so gradescope-utils' partial_credit and
leaderboard wrappers, and tests without them, can report under pytest). A suite's helper
modules, which have no fixtures at import time, read the course through `active_course()`.

How outcomes become Gradescope tests (every collected test gets exactly one entry, and its
points always count in the maximum):

| pytest outcome                     | score                      | status |
|------------------------------------|----------------------------|--------|
| passed, or xpassed (non-strict)    | weight, or the set score   | passed unless score < weight |
| failed, timed out, worker crashed  | 0, or the score set before | failed |
| error in fixture setup or teardown | 0                          | failed (a grader error unless the submission caused it) |
| skipped, xfailed                   | 0                          | failed (passed if weight 0) |
| never ran (run interrupted)        | 0                          | failed |

A test file that cannot be collected yields one failing entry named after the file whose
max_score is the sum of the literal `@weight(...)`/`@partial_credit(...)` arguments on the
test functions found in it by reading its source (times the number of literal
`@pytest.mark.parametrize` cases); 0 when not determinable. Such an error is ours, not the
student's, so the run is then reported as a grader error.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from autograder import course as course_mod
from autograder.course import Course
from autograder.progress import Progress

from .feedback import without_private_paths
from .metadata import state_of
from .session import Grading

# The sessions of this process, innermost last (pytest may run inside pytest, e.g. pytester).
_SESSIONS: list[Grading] = []


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("autograder", "grading a submission (autograder.plugin)")
    group.addoption("--submission", default=None, help="the student's folder or zip")
    group.addoption("--results", default=None, help="write Gradescope results.json here")
    group.addoption("--public-only", action="store_true", help="only the public part of the suite")
    group.addoption("--in-process", action="store_true",
                    help="run student code in this process (benchmarks only: no isolation)")
    group.addoption("--autograder-config", default=None, help="autograder.cfg to use")
    group.addoption("--test-timeout", type=float, default=None,
                    help="wall-clock seconds per test, setup included (default from config)")
    group.addoption("--total-timeout", type=float, default=None,
                    help="wall-clock seconds for the whole run; later tests are not run (default from config)")
    group.addoption("--staff-log", default=None,
                    help="write staff-only details here instead of stdout")
    group.addoption("--progress", action="store_true",
                    help="a line per finished test on stderr, with a running count (autograder.progress)")
    group.addoption("--progress-fd", type=int, default=None,
                    help="write --progress lines to this file descriptor (one pytest's capture does not redirect)")


def pytest_configure(config: pytest.Config) -> None:
    grading = Grading(config)
    config.pluginmanager.register(grading, "autograder-grading")
    config.pluginmanager.register(grading.limits, "autograder-time-limits")
    if config.getoption("--progress"):
        config.pluginmanager.register(Progress(grading, fd=config.getoption("--progress-fd")),
                                      "autograder-progress")
    config.addinivalue_line("markers", "autograder: reserved for the engine")
    config.addinivalue_line("markers", "autograder_note(text): a note for the top of the results whenever "
                                       "a test carrying it runs (e.g. which data grading used)")
    grading.start()
    _SESSIONS.append(grading)


def pytest_unconfigure(config: pytest.Config) -> None:
    grading = grading_of(config)
    if grading in _SESSIONS:
        _SESSIONS.remove(grading)


def grading_of(config: pytest.Config) -> "Grading":
    return config.pluginmanager.get_plugin("autograder-grading")


def active_course() -> Course:
    """The course being graded in this process (its configuration as the plugin read it), for
    a suite's helper modules; outside a grading run (a suite's module imported by other
    tests), the default course ($AUTOGRADER_CONFIG or the engine's autograder.cfg)."""
    if _SESSIONS and _SESSIONS[-1].course is not None:
        return _SESSIONS[-1].course
    return course_mod.load()


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def sandbox(pytestconfig: pytest.Config):
    """The session's Sandbox on the normalised submission (one per graded submission)."""
    return grading_of(pytestconfig).student_code.get()


@pytest.fixture(scope="session")
def submission_root(pytestconfig: pytest.Config) -> Path:
    """The normalised submission folder. Read its files if needed; never import them."""
    grading = grading_of(pytestconfig)
    if grading.prepared is None:
        raise pytest.UsageError("the `submission_root` fixture needs --submission DIR")
    return grading.prepared.root


@pytest.fixture
def student(sandbox, request: pytest.FixtureRequest):
    """A fresh worker process on the submission, for this test only."""
    state = state_of(request.node)
    grading = grading_of(request.config)
    with sandbox.worker() as worker:
        try:
            yield worker
        finally:
            try:
                state.student_output = without_private_paths(str(worker.output() or ""), sandbox)
                if worker.alive:
                    grading.substitutions.update(str(s) for s in worker.substitutions() or ())
            except Exception:  # a dead or misbehaving worker: its output is what we have
                pass


@pytest.fixture
def set_score(request: pytest.FixtureRequest):
    """Call with the points earned (0..weight). gradescope-utils' @partial_credit passes its
    own setter instead; both end up in the test's score."""
    state = state_of(request.node)

    def set_score(value: Any) -> None:
        state.score = value
    return set_score


@pytest.fixture
def add_output(request: pytest.FixtureRequest):
    """Call with Markdown to show in this test's output, passed or failed (e.g. the measured
    value behind a partial score); a failure's own message comes first. Every call adds a
    paragraph, so in a Hypothesis test call it outside the examples."""
    state = state_of(request.node)

    def add_output(markdown: Any) -> None:
        state.notes.append(str(markdown))
    return add_output


@pytest.fixture
def set_leaderboard_value(request: pytest.FixtureRequest):
    """Call with this test's leaderboard value (used with @leaderboard)."""
    state = state_of(request.node)

    def set_leaderboard_value(value: Any) -> None:
        state.leaderboard_value = value
    return set_leaderboard_value
