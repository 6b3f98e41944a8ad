"""Which sandbox runs student code: the one place that decides.

    full       Linux: a warm zygote forking workers, sandbox user, namespaces, seccomp,
               Landlock, rlimits (sandbox.py). Gradescope always gets this one.
    portable   everywhere else (macOS, Windows: a student's `check`), or on Linux when
               AUTOGRADER_PORTABLE=1: a fresh `python` process per worker started with
               spawn semantics, talking over its stdin/stdout (portable.py). It isolates
               what a student checking their own code needs (a process per test, plain data
               back, time limits, output caps), not what a grader needs against a hostile
               submission: see README, "Isolation".

`Sandbox(...)` asks `use_portable()` and gives the portable sandbox when it says so; the
`gradescope` command asks `gradescope_refusal()` first and refuses a forced portable mode.
"""
import os
import sys

PORTABLE_ENV = "AUTOGRADER_PORTABLE"


def full_sandbox_possible():
    """The full sandbox needs fork, /proc, `resource`, prctl and friends: Linux."""
    return sys.platform.startswith("linux")


def portable_forced():
    return os.environ.get(PORTABLE_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def use_portable(config=None):
    """Whether `Sandbox(root, config)` should be the portable one. The in-process benchmark
    mode (config.in_process) is neither and stays with the full class."""
    if config is not None and config.in_process:
        return False
    return portable_forced() or not full_sandbox_possible()


def gradescope_refusal():
    """Why the `gradescope` command must not grade here, or None. Gradescope grades hostile
    code for points: only the full sandbox may run it."""
    if portable_forced():
        return (f"{PORTABLE_ENV} is set, but the portable sandbox (for a student's `check`) "
                f"never grades on Gradescope: unset it.")
    if not full_sandbox_possible():
        return f"Gradescope grading needs the full sandbox, which runs on Linux only (this is {sys.platform})."
    return None
