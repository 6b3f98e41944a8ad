"""One finished test's Gradescope entry: its outcome, its points and its feedback (the table in
the package's docstring). Reads the reports the session kept; writes nothing itself."""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from autograder.results import STUDENT_OUTPUT_CAP, TestEntry
from autograder.untrusted import code_span, fence

from autograder.sandbox import StudentError

from .feedback import (blames_the_submission, exceptions_in, failure_extra_data, failure_markdown,
                       fixture_phase, missing_file_text)
from .metadata import UNSET, TestState, declared_points, meta, number, state_of, test_name


@dataclass(frozen=True)
class ImportFailure:
    key: str        # same key, same failure: said once at the top of the results
    module: str     # what the test was importing
    short: str      # Markdown: importing `beras` failed with `SyntaxError` at `beras/core.py` line 3
    markdown: str   # Markdown: the whole message, as one test would have shown it
    type_name: str = ""  # the error, and where it was raised (the innermost file of the
    message: str = ""    # submission; "" when none): what matches it with a module set
    file: str = ""       # aside at import (sandbox.grader.errors.SetAsideAtImport)
    line: int = 0


def pending_entry(item: pytest.Item) -> TestEntry:
    """The entry of a test that has not run (yet): all its metadata, no points."""
    return TestEntry(
        name=test_name(item), max_score=number(meta(item, "__weight__", 0)),
        number=str(meta(item, "__number__")) if meta(item, "__number__") is not None else None,
        tags=list(meta(item, "__tags__", ()) or ()),
        visibility=meta(item, "__visibility__", "visible"),
        output="This test did not run: grading stopped before it.",
        extra_data={"nodeid": item.nodeid, "outcome": "not run"})


def collection_error_entry(report: pytest.CollectReport, rootpath: Path) -> TestEntry:
    """A test file that could not be loaded: one failing entry worth the points its source declares."""
    path = rootpath / report.nodeid.split("::")[0] if report.nodeid else None
    points = declared_points(path) if path and path.suffix == ".py" else 0.0
    return TestEntry(
        name=f"Tests in {report.nodeid or 'the suite'}", max_score=points,
        output="**Grader error:** these tests could not be loaded, so none of them ran. "
               "This is a problem of the autograder, not of your code.",
        extra_data={"nodeid": report.nodeid, "outcome": "collection error"})


def classify(state: TestState) -> tuple[str, Any]:
    """(outcome, the excinfo that explains it or None) from the setup, call and teardown reports."""
    setup, call, teardown = (state.reports.get(w) for w in ("setup", "call", "teardown"))
    failure, outcome = None, "not run"
    if setup is not None and setup.failed:
        outcome, failure = "error in setup", state.excinfo.get("setup")
    elif setup is not None and setup.skipped:
        outcome = "xfailed" if hasattr(setup, "wasxfail") else "skipped"
        failure = state.excinfo.get("setup")
    elif call is not None:
        if call.passed:
            outcome = "xpassed" if hasattr(call, "wasxfail") else "passed"
        elif call.skipped:
            outcome = "xfailed" if hasattr(call, "wasxfail") else "skipped"
            failure = state.excinfo.get("call")
        else:
            outcome, failure = "failed", state.excinfo.get("call")
    if teardown is not None and teardown.failed and outcome in ("passed", "xpassed"):
        outcome, failure = "error in teardown", state.excinfo.get("teardown")
    if state.over_budget:
        outcome, failure = "not run", None
    return outcome, failure


def build_entry(grading: Any, item: pytest.Item) -> TestEntry:
    """The entry of a test that ran (`grading` is the session: limits, staff log, errors)."""
    state = state_of(item)
    entry = pending_entry(item)
    weight = entry.max_score
    outcome, failure = classify(state)
    earned = outcome in ("passed", "xpassed")
    score = weight if earned else 0.0
    if state.score is not UNSET and outcome in ("passed", "xpassed", "failed"):
        score = min(max(number(state.score), 0.0), weight)
    entry.score = score
    entry.status = "passed" if earned and score >= weight else "failed"
    if outcome in ("skipped", "xfailed") and weight == 0:
        entry.status = "passed"
    entry.extra_data["outcome"] = outcome
    if failure is not None and not earned:
        entry.extra_data.update(failure_extra_data(failure.value))
    entry.output = "\n\n".join(_sections(grading, item, state, outcome, failure))
    if failure is not None and not earned and hasattr(grading, "import_failures"):
        found = import_failure(failure.value, grading.prepared.root if grading.prepared else None)
        if found is not None:
            grading.import_failures[item.nodeid] = found
    _leaderboard(grading, item, state)
    return entry


def _imported_by_frames(err: StudentError) -> str | None:
    """A failure while a module of the submission ran its top level (imported by our code
    inside the worker, not through import_module): the module, else None."""
    frames = [f for f in err.frames if not str(f.file).startswith("<")]
    if frames and frames[0].function == "<module>":
        path = str(frames[0].file).removesuffix(".py").removesuffix("/__init__")
        return path.replace("/", ".")
    if not frames and err.type_name in ("ModuleNotFoundError", "ImportError"):
        match = re.search(r"No module named '([\w.]+)'", str(err.message))
        return match.group(1) if match else None
    return None


def import_failure(exc: BaseException, root: Path | None) -> ImportFailure | None:
    """The submission could not be imported in this test (a missing file, code that fails at
    import): what to say once, at the top, for every test that failed the same way."""
    for e in exceptions_in(exc):
        if not isinstance(e, StudentError):
            continue
        module = getattr(e, "importing", None) or _imported_by_frames(e)
        if module:
            loc = e.location
            where = f" at {code_span(loc.file)} line {loc.line}" if loc else ""
            short = f"importing {code_span(module, 100)} failed with {code_span(e.type_name, 100)}{where}"
            missing = missing_file_text(e, root)
            if missing and not [f for f in e.frames if not str(f.file).startswith("<")]:
                full = f"{missing}\n\n({code_span(e.type_name, 100)}: {code_span(e.message)})"
                short = missing.replace("**", "").replace(", which this test needs.", "")
                short = short[0].lower() + short[1:]
            else:
                text = failure_markdown(e, root, 0)[0]
                full = f"{missing}\n\n{text}" if missing and missing not in text else text
            # A missing file is one failure, whichever of the student's files imports it.
            key = f"{e.type_name}|{e.message}" + ("" if missing else f"|{loc}")
            return ImportFailure(key=key, module=str(module), short=short, markdown=full,
                                 type_name=str(e.type_name), message=str(e.message),
                                 file=str(loc.file) if loc else "", line=loc.line if loc else 0)
    return None


def _sections(grading: Any, item: pytest.Item, state: TestState, outcome: str, failure: Any) -> list[str]:
    sections = []
    hide = meta(item, "__hide_errors__")
    call, setup = state.reports.get("call"), state.reports.get("setup")
    if failure is not None and outcome not in ("passed", "xpassed"):
        text = _failure_text(grading, item, state, outcome, failure)
        sections.append(str(hide) if hide else text)
    elif outcome == "not run" and state.over_budget:
        sections.append(f"**Not run:** the whole grading may take {grading.limits.total_timeout_s:g} seconds, and "
                        f"the tests before this one used it up. Look for slow or endless code "
                        f"in the tests that ran out of time.")
    elif outcome == "not run":
        sections.append("This test did not run: grading stopped before it.")
    elif outcome == "failed":  # failed without an exception, e.g. a strict xfail that passed
        report = call or setup
        detail = getattr(report, "longreprtext", "") if report is not None else ""
        detail = " ".join((detail or "no detail").split())
        sections.append(str(hide) if hide else "**The test failed.** " + code_span(detail))
    if state.notes and not (hide and failure is not None):
        sections.append("\n\n".join(state.notes))
    if state.student_output.strip() and not hide:
        sections.append("Your code printed:\n\n" + fence(state.student_output, cap=STUDENT_OUTPUT_CAP))
    return sections


def _failure_text(grading: Any, item: pytest.Item, state: TestState, outcome: str, failure: Any) -> str:
    root = grading.prepared.root if grading.prepared else None
    text, staff = failure_markdown(failure.value, root, grading.limits.test_timeout_s,
                                   getattr(grading, "given_code", None))
    if text.startswith("**Time limit:**") and state.deadline == grading.limits.run_deadline:
        text = (f"**Time limit:** the whole grading may take {grading.limits.total_timeout_s:g} seconds, "
                f"and it ran out during this test. Look for slow or endless code.")
    if outcome in ("skipped", "xfailed"):
        reason = str(getattr(failure.value, "msg", "") or failure.value)
        wasxfail = getattr(state.reports.get("call") or state.reports.get("setup"), "wasxfail", "")
        text = (f"Skipped: {reason}" if outcome == "skipped"
                else f"Expected to fail, and it did ({wasxfail}); it earns no points.")
    elif outcome.startswith("error in"):
        text = f"**Error while {fixture_phase(outcome)} this test.**\n\n{text}"
    if staff:
        grading.log.staff(f"autograder: {item.nodeid} ({outcome}):\n{staff}")
    if outcome.startswith("error in") and not blames_the_submission(failure.value):
        # Student code runs only in the sandbox, so a fixture error that did not come
        # from it (nor from a check on it) is ours: never the student's lost points.
        # Its traceback is the `staff` text logged just above.
        grading.log.error(f"{outcome} of {item.nodeid}")
        text = (f"**Grader error** while {fixture_phase(outcome)} this test; it is not your "
                f"code's doing, and course staff have been told.")
    elif grading.student_code.failed_in(failure.value):
        grading.log.error(f"the sandbox failed in {item.nodeid}")
        text = "**Grader error:** the autograder could not run your code for this test."
    return text


def _leaderboard(grading: Any, item: pytest.Item, state: TestState) -> None:
    column = meta(item, "__leaderboard_column__")
    if column is None or state.leaderboard_value is UNSET:
        return
    value = state.leaderboard_value
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) \
            or isinstance(value, str):
        grading.leaderboard[item.nodeid] = {
            "name": str(column), "value": value,
            "order": meta(item, "__leaderboard_sort_order__", "desc") or "desc"}
