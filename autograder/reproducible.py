"""What makes Hypothesis generate the same examples wherever a suite runs.

The plugin's profile derandomises Hypothesis and gives it no example database. One more
input remains: Hypothesis (since 6.131) mixes literals harvested from the source of every
*local* module loaded in the process (ours: the engine, the suite's helpers outside `tests/`)
into what it draws. The examples, and so a grade, would then change whenever someone edits
a number anywhere in the engine, and the student kit, which loads fewer of our modules than
Gradescope does, would draw other examples than the grader. With the harvest switched off,
the examples depend only on the tests, their strategies and the pinned Hypothesis version.
"""
from __future__ import annotations


def ignore_source_constants() -> None:
    """Make Hypothesis draw no constants from local source files (its own built-in list of
    interesting values stays). Raises when the pinned Hypothesis lacks the hook, so that a
    version bump cannot silently bring the harvest back."""
    from hypothesis.internal.conjecture import providers

    if not callable(getattr(providers, "_get_local_constants", None)):
        raise RuntimeError("this Hypothesis version has no providers._get_local_constants: "
                           "check autograder/reproducible.py against the pinned version")
    none = providers.Constants()
    providers._get_local_constants = lambda: none
