"""A failed test's feedback: what the student reads (Markdown), and what only staff read.

A student's exception arrives as the sandbox's StudentError (its file and line, never our
frames); a time limit as TestTimeout; a suite's verdict as an AssertionError whose message is
the feedback. Anything else came from our own checking code: it is named, never shown.
"""
from __future__ import annotations

import re
import traceback
from pathlib import Path
from typing import Any

import pytest

from autograder.sandbox import StudentError
from autograder.untrusted import code_span, fence

from .timer import TestTimeout


def exceptions_in(exc: BaseException | None) -> list[BaseException]:
    """exc, its causes and contexts, and the members of exception groups (Hypothesis raises
    one when several distinct failures are found), depth first."""
    found, todo, seen = [], [exc], set()
    while todo:
        e = todo.pop(0)
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        found.append(e)
        todo.extend(getattr(e, "exceptions", ()) or ())
        todo.extend([e.__cause__, e.__context__])
    return found


def failure_extra_data(exc: BaseException) -> dict[str, Any]:
    """Machine-readable facts a suite attaches to its failure exceptions (an `extra_data`
    dict, e.g. the classes of the hints it gave), for the test's extra_data; never shown to
    students. Taken from the exception whose message is shown (see failure_markdown). Only
    exceptions raised in this process carry it: a student's error arrives as StudentError."""
    for e in exceptions_in(exc):
        if isinstance(e, AssertionError) and str(e).strip():
            data = getattr(e, "extra_data", None)
            if isinstance(data, dict) and not isinstance(e, StudentError):
                return {str(k): v for k, v in data.items() if k not in ("nodeid", "outcome")}
            return {}
    return {}


def fixture_phase(outcome: str) -> str:
    return "preparing" if outcome == "error in setup" else "finishing"


def blames_the_submission(exc: BaseException) -> bool:
    """Whether an exception outside the test body is about the submission: raised by its code
    (through the sandbox), a time limit, or a fixture's own verdict on it (assert, pytest.fail).
    Anything else came from the grader's code."""
    return any(isinstance(e, (StudentError, TestTimeout, AssertionError, pytest.fail.Exception))
               for e in exceptions_in(exc))


def missing_file_text(err: Any, submission_root: Path | None) -> str | None:
    """For an import of a module the submission lacks: name the file that is missing."""
    if getattr(err, "type_name", "") != "ModuleNotFoundError" or submission_root is None:
        return None
    match = re.search(r"No module named '([\w.]+)'", str(getattr(err, "message", "")))
    if not match:
        return None
    module = match.group(1)
    parts = module.split(".")
    rel = "/".join(parts)
    if (submission_root / f"{rel}.py").exists() or (submission_root / rel / "__init__.py").exists():
        return None
    top_present = (submission_root / parts[0]).exists() or (submission_root / f"{parts[0]}.py").exists()
    if len(parts) > 1 or top_present or not _student_frames(err):
        want = f"{rel}.py" if len(parts) > 1 else f"{rel}.py` or `{rel}/"
        return f"**Your submission has no `{want}`**, which this test needs."
    return (f"**`{module}` is not available on the grader** (only numpy and Python's standard "
            f"library are); the import below fails.")


def failure_markdown(exc: BaseException, submission_root: Path | None, timeout_s: float,
                     given: Any = None) -> tuple[str, str | None]:
    """(student-facing Markdown, staff detail or None) for a test's exception. `given`
    (autograder.given_code.GivenCode) tells the handout's given code from the student's."""
    chain = exceptions_in(exc)
    notes = _where_it_broke(chain, given)
    for e in chain:
        if isinstance(e, TestTimeout):
            return (f"**Time limit:** this test took longer than {timeout_s:g} seconds and was "
                    f"stopped. Look for an endless loop, or for work that grows much faster than "
                    f"the input."), None
    for e in chain:
        if isinstance(e, AssertionError) and str(e).strip():
            text = str(e).strip()
            if ("given code" in notes and "the given `" in text) or "not a mistake in your files" in text:
                notes = ""  # the suite's own message already says where it broke
            return text + notes, None
    for e in chain:
        if isinstance(e, StudentError):
            text = _student_error_markdown(e) + notes
            missing = missing_file_text(e, submission_root)
            if missing and not _student_frames(e):
                # The import came from the test itself: the missing file is the whole story.
                return f"{missing}\n\n({code_span(e.type_name, 100)}: {code_span(e.message)})", None
            return (f"{missing}\n\n{text}" if missing else text), None
    for e in chain:
        if isinstance(e, AssertionError):
            return "**The test failed** (it gives no further detail).", None
    if isinstance(exc, pytest.skip.Exception):
        return f"Skipped: {exc}", None
    # Anything else came from our own checking code, typically because a result had a shape
    # or type it could not handle. Say what, but never show our source.
    staff = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    first = f"{type(exc).__name__}: {exc}".strip()
    if len(first) > 500:
        first = first[:500] + " ..."
    return (f"**The test could not check your result.** While checking it, the grader hit:\n\n"
            f"{fence(first, cap=600)}\n\nThis usually means a value had an unexpected type or shape."), staff


REFUSED = re.compile(r"Permission denied|Operation not permitted|Read-only file system")


def _where_it_broke(chain: list[BaseException], given: Any) -> str:
    """Plain words for what a bare traceback does not say: the error surfaced in the
    handout's given code or in the test's helper, or the grading sandbox refused something."""
    notes = []
    for e in chain:
        if not isinstance(e, StudentError):
            continue
        loc = e.location
        helper = getattr(e, "test_code", None)  # the innermost frame of the test's own worker-side code
        if helper is not None and getattr(helper, "student_frames_after", 1) == 0 and e.frames:
            notes.append("The error itself was raised in the test's own helper code, on a value that "
                         "came from your code: the last frame shown is the last line of yours it ran.")
        elif loc is not None and given is not None and _owns(given, loc):
            notes.append(f"The error surfaced in the handout's given code ({code_span(loc.file)} line "
                         f"{loc.line}, in {code_span(loc.function, 100)}), which you did not write: it "
                         f"could not use what your code gave it. Look at the frames before it.")
        if e.type_name in ("PermissionError", "OSError") and REFUSED.search(str(e.message)):
            notes.append("While grading, your code may write files only in its working folder (a "
                         "relative path such as `predictions.npy`) and in the temporary folder; the rest "
                         "of the disk, the network and other processes are off limits, so this was refused.")
        break
    return "".join(f"\n\n{n}" for n in notes)


def _owns(given: Any, frame: Any) -> bool:
    try:
        return bool(given.owns(frame))
    except Exception:  # a broken handout must not break the report
        return False


def _student_frames(err: Any) -> list[Any]:
    """Frames in the student's own files (not `<frozen importlib...>` and the like)."""
    return [f for f in getattr(err, "frames", ()) or () if not str(getattr(f, "file", "<")).startswith("<")]


def _student_error_markdown(err: Any) -> str:
    try:
        text = err.markdown()
        if isinstance(text, str) and text.strip():
            return text.strip()
    except Exception:  # a broken error object must not break the report
        pass
    return fence(f"{getattr(err, 'type_name', type(err).__name__)}: {getattr(err, 'message', err)}", cap=1000)


def without_private_paths(text: str, sandbox) -> str:
    """Student output names files by their path in the submission ("beras/x.py:3: Warning"),
    not in the private copy, whose random name would differ between two gradings."""
    private = getattr(sandbox, "sandbox_dir", None)
    if not private:
        return text
    return text.replace(f"{private}/submission/", "").replace(f"{private}/", "")
