"""Helpers for the tests of the graded suite (test_suite_*.py): grading a folder, and making
deliberately broken copies of the reference by small text replacements."""
from __future__ import annotations

import shutil
import time
from pathlib import Path

from autograder.grading import grade
from autograder.batch import SlotUsers

GRADED_SUITE = Path(__file__).resolve().parents[1] / "graded"


def graded(submission: Path, **kwargs) -> tuple[dict, float]:
    """(results.json, seconds) for grading `submission` with the whole graded suite.

    As root, the workers run as a sandbox user claimed for this grading alone (the engine's
    slot users): the sandbox sweeps its user's processes after a run, so gradings running
    side by side (here, or other tests on the machine) must not share one."""
    with SlotUsers(1) as users:
        started = time.perf_counter()
        doc = grade(submission, timeout_s=600, sandbox_user=users.names[0], **kwargs)
        return doc, time.perf_counter() - started


def copy_of(reference: Path, target: Path) -> Path:
    shutil.copytree(reference, target, ignore=shutil.ignore_patterns("__pycache__", "predictions.npy"))
    return target


def broken_copy(reference: Path, target: Path, file: str, old: str, new: str) -> Path:
    """A copy of the reference with one text replacement in one file (which must match once)."""
    return edited_copy(reference, target, [(file, old, new, 1)])


def edited_copy(reference: Path, target: Path, edits) -> Path:
    """A copy of the reference with text replacements (file, old, new, expected count)."""
    copy_of(reference, target)
    for file, old, new, count in edits:
        path = target / file
        text = path.read_text()
        assert text.count(old) == count, f"{file}: {old!r} occurs {text.count(old)} times, expected {count}"
        path.write_text(text.replace(old, new))
    return target


def by_number(doc: dict) -> dict[str, dict]:
    return {test.get("number"): test for test in doc["tests"]}


def total(doc: dict) -> float:
    return sum(test["score"] for test in doc["tests"])


def losing(doc: dict) -> set[str]:
    """Numbers of the tests that did not earn all their points (or failed with 0 points)."""
    return {test.get("number") for test in doc["tests"]
            if test["score"] < test["max_score"] or test.get("status") == "failed"}
