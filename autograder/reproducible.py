"""What makes Hypothesis generate the same examples wherever a suite runs.

The grading profile (load_grading_profile, loaded by the plugin) derandomises Hypothesis and
gives it no example database; a suite adds only its own choices (e.g. max_examples) in its
conftest, never these. One more
input remains: Hypothesis (since 6.131) mixes literals harvested from the source of every
*local* module loaded in the process (ours: the engine, the suite's helpers outside `tests/`)
into what it draws. The examples, and so a grade, would then change whenever someone edits
a number anywhere in the engine, and the student kit, which loads fewer of our modules than
Gradescope does, would draw other examples than the grader. With the harvest switched off,
the examples depend only on the tests, their strategies and the pinned Hypothesis version.
"""
from __future__ import annotations

from hypothesis import HealthCheck, Phase, settings
from hypothesis.internal.conjecture import providers

PROFILE = "autograder"


def load_grading_profile() -> None:
    """Load the profile every grade uses: the same examples on every run and machine (no
    seed, no database, no wall-clock deadline: worker calls vary in speed), on top of the
    settings in force (a suite's conftest may have loaded its own, e.g. max_examples)."""
    settings.register_profile(
        PROFILE, parent=settings(),
        derandomize=True, database=None, deadline=None, print_blob=False,
        # No explain phase: it replays a failure hundreds of times (seconds of student
        # code per failing test) to annotate a traceback that students never see.
        phases=[p for p in settings().phases if p is not Phase.explain],
        # `student` is one worker per test on purpose: 50 examples, one process start.
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                               HealthCheck.data_too_large])
    settings.load_profile(PROFILE)
    ignore_source_constants()


def ignore_source_constants() -> None:
    """Make Hypothesis draw no constants from local source files (its own built-in list of
    interesting values stays). Raises when the pinned Hypothesis lacks the hook, so that a
    version bump cannot silently bring the harvest back."""
    if not callable(getattr(providers, "_get_local_constants", None)):
        raise RuntimeError("this Hypothesis version has no providers._get_local_constants: "
                           "check autograder/reproducible.py against the pinned version")
    none = providers.Constants()
    providers._get_local_constants = lambda: none
