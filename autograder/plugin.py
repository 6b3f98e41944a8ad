"""pytest plugin: runs a graded suite against one submission and writes Gradescope results.

Load with `-p autograder.plugin`. Options: `--submission DIR|ZIP`, `--results FILE`,
`--public-only`, `--in-process` (benchmarks only), `--autograder-config FILE`,
`--test-timeout SECONDS`.

Fixtures: `sandbox` (session; one Sandbox on the normalised submission), `student` (a fresh
Worker per test), `submission_root` (the normalised folder; read files, never import them),
`set_score` and `set_leaderboard_value` (so gradescope-utils' partial_credit and
leaderboard wrappers, and tests without them, can report under pytest).

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

import ast
import contextlib
import math
import re
import shutil
import signal
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from autograder import course as course_mod
from autograder import reproducible
from autograder import results as results_mod
from autograder.results import STUDENT_OUTPUT_CAP, TestEntry
from autograder.untrusted import code_span, fence

UNSET = object()


class TestTimeout(BaseException):
    """Raised in the trusted process when a whole test overruns its budget. A BaseException,
    so neither Hypothesis nor a test's `except Exception` can swallow it."""


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
    if config.getoption("--progress"):
        from autograder.progress import Progress
        config.pluginmanager.register(Progress(grading, fd=config.getoption("--progress-fd")),
                                      "autograder-progress")
    config.addinivalue_line("markers", "autograder: reserved for the engine")
    config.addinivalue_line("markers", "autograder_note(text): a note for the top of the results whenever "
                                       "a test carrying it runs (e.g. which data grading used)")
    grading.start()


def grading_of(config: pytest.Config) -> "Grading":
    return config.pluginmanager.get_plugin("autograder-grading")


# ---------------------------------------------------------------- per-test state


@dataclass
class TestState:
    reports: dict[str, Any] = field(default_factory=dict)
    excinfo: dict[str, Any] = field(default_factory=dict)
    score: Any = UNSET
    leaderboard_value: Any = UNSET
    notes: list[str] = field(default_factory=list)  # the test's own words, shown whatever its outcome
    student_output: str = ""
    deadline: float = math.inf
    over_budget: bool = False  # not run: the whole run's time budget was used up


STATE = pytest.StashKey[TestState]()


def state_of(item: pytest.Item) -> TestState:
    if STATE not in item.stash:
        item.stash[STATE] = TestState()
    return item.stash[STATE]


# ---------------------------------------------------------------- metadata through wrappers


def function_chain(obj: Any) -> list[Any]:
    """The test function and everything it wraps, outermost first: functools.wraps'
    `__wrapped__` (gradescope-utils' partial_credit/leaderboard) and Hypothesis' inner test
    (whichever order the decorators were stacked in)."""
    chain, seen, todo = [], set(), [obj]
    while todo:
        fn = todo.pop(0)
        fn = getattr(fn, "__func__", fn)  # bound methods: the attributes live on the function
        if fn is None or id(fn) in seen:
            continue
        seen.add(id(fn))
        chain.append(fn)
        todo.append(getattr(fn, "__wrapped__", None))
        todo.append(getattr(getattr(fn, "hypothesis", None), "inner_test", None))
    return chain


def meta(item: pytest.Item, name: str, default: Any = None) -> Any:
    for fn in function_chain(getattr(item, "obj", None)):
        value = getattr(fn, name, UNSET)
        if value is not UNSET:
            return value
    return default


def reset_wrapper_values(item: pytest.Item) -> None:
    # The wrapper function is shared by every parametrisation and every run: clear what a
    # previous test set so it cannot leak into this one.
    for fn in function_chain(getattr(item, "obj", None)):
        d = getattr(fn, "__dict__", {})
        d.pop("__score__", None)
        d.pop("__leaderboard_value__", None)


def read_wrapper_values(item: pytest.Item, state: TestState) -> None:
    for fn in function_chain(getattr(item, "obj", None)):
        d = getattr(fn, "__dict__", {})
        if "__score__" in d and state.score is UNSET:
            state.score = d["__score__"]
        if "__leaderboard_value__" in d and state.leaderboard_value is UNSET:
            state.leaderboard_value = d["__leaderboard_value__"]


def number(value: Any) -> float:
    try:
        x = float(value)
    except (TypeError, ValueError):
        return 0.0
    return x if math.isfinite(x) else 0.0


def test_name(item: pytest.Item) -> str:
    doc = meta(item, "__doc__") or ""
    first = doc.strip().splitlines()[0].strip() if doc.strip() else ""
    base = first or getattr(item, "originalname", None) or item.name
    callspec = getattr(item, "callspec", None)
    return f"{base} [{callspec.id}]" if callspec is not None else base


# ---------------------------------------------------------------- failure text


def _sandbox_types() -> tuple[type, type]:
    try:
        from autograder.sandbox import StudentError, WorkerTimeout
        return StudentError, WorkerTimeout
    except ImportError:  # the engine without its sandbox: nothing can be a student error
        class _Never(Exception):
            pass
        return _Never, _Never


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
    StudentError, _ = _sandbox_types()
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
    StudentError, _ = _sandbox_types()
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


def failure_markdown(exc: BaseException, submission_root: Path | None, timeout_s: float) -> tuple[str, str | None]:
    """(student-facing Markdown, staff detail or None) for a test's exception."""
    StudentError, WorkerTimeout = _sandbox_types()
    chain = exceptions_in(exc)
    for e in chain:
        if isinstance(e, TestTimeout):
            return (f"**Time limit:** this test took longer than {timeout_s:g} seconds and was "
                    f"stopped. Look for an endless loop, or for work that grows much faster than "
                    f"the input."), None
    for e in chain:
        if isinstance(e, AssertionError) and str(e).strip():
            return str(e).strip(), None
    for e in chain:
        if isinstance(e, StudentError):
            text = _student_error_markdown(e)
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


# ---------------------------------------------------------------- collection errors


def declared_points(path: Path) -> float:
    """Points declared in a test file's source, read without importing it."""
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    except (OSError, SyntaxError, ValueError, UnicodeDecodeError):
        return 0.0
    total = 0.0
    functions = [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))
                 and n.name.startswith("test")]
    for fn in functions:
        points, cases = 0.0, 1
        for deco in fn.decorator_list:
            if not isinstance(deco, ast.Call):
                continue
            name = deco.func.attr if isinstance(deco.func, ast.Attribute) else getattr(deco.func, "id", "")
            if name in ("weight", "partial_credit") and deco.args:
                try:
                    points = float(ast.literal_eval(deco.args[0]))
                except (ValueError, TypeError, SyntaxError):
                    pass
            elif name == "parametrize" and len(deco.args) >= 2 and isinstance(deco.args[1], (ast.List, ast.Tuple)):
                cases *= len(deco.args[1].elts)
        total += points * cases
    return total


# ---------------------------------------------------------------- the grading session


class Grading:
    """Everything the trusted process knows about this run, and the results.json writer."""

    def __init__(self, config: pytest.Config):
        self.config = config
        self.started = time.monotonic()
        self.results_path = Path(config.getoption("--results")).resolve() if config.getoption("--results") else None
        self.submission = config.getoption("--submission")
        self.course = None
        try:
            self.course = course_mod.load(config.getoption("--autograder-config"))
        except (OSError, ValueError, KeyError) as err:
            self.staff(f"autograder: no usable configuration ({err}); using defaults")
        timeout = config.getoption("--test-timeout")
        self.timeout_s = float(timeout if timeout is not None else
                               (self.course.test_timeout_s if self.course else course_mod.DEFAULT_TEST_TIMEOUT_S))
        total = config.getoption("--total-timeout")
        self.total_timeout_s = float(total if total is not None else
                                     (self.course.total_timeout_s if self.course else course_mod.DEFAULT_TOTAL_TIMEOUT_S))
        # Gradescope's global timeout shows students nothing at all; ending on our own terms
        # first keeps every earned point and names the tests that did not run.
        self.run_deadline = self.started + self.total_timeout_s if self.total_timeout_s > 0 else math.inf
        self.items: list[pytest.Item] = []
        self.entries: dict[str, TestEntry] = {}
        self.collection_errors: list[TestEntry] = []
        self.leaderboard: dict[str, dict[str, Any]] = {}
        self.prepared = None
        self.prepared_dir: Path | None = None
        self._sandbox = None
        self._sandbox_error: BaseException | None = None
        self.grader_errors: list[str] = []
        self.static_warnings: list[str] = []
        self.notes: list[str] = []  # autograder_note markers of the collected tests
        self.substitutions: set[str] = set()  # stand-ins the student's code imported
        self.finished = False

    # -- staff log: stdout is for instructors only on Gradescope
    def staff(self, text: str) -> None:
        log = self.config.getoption("--staff-log")
        if log:
            with open(log, "a", encoding="utf-8") as handle:
                handle.write(text.rstrip() + "\n")
            return
        sys.__stdout__.write(text.rstrip() + "\n")
        sys.__stdout__.flush()

    def grader_error(self, what: str, detail: str = "") -> None:
        self.grader_errors.append(what)
        self.staff(f"autograder: GRADER ERROR: {what}\n{detail}")

    # -- lifecycle
    def start(self) -> None:
        if self.results_path is not None:
            results_mod.write_atomic(self.results_path, results_mod.fallback(results_mod.FALLBACK_TEXT))
            # A collection error must not stop the other files from running.
            self.config.option.continue_on_collection_errors = True
        self._hypothesis_profile()

    def _hypothesis_profile(self) -> None:
        """Grades must be reproducible and not depend on machine speed. Hypothesis runs here,
        in the trusted process; the suite's own profile settings are kept otherwise."""
        try:
            from hypothesis import HealthCheck, Phase, settings
        except ImportError:
            return
        settings.register_profile(
            "autograder", parent=settings(),
            derandomize=True, database=None, deadline=None, print_blob=False,
            # No explain phase: it replays a failure hundreds of times (seconds of student
            # code per failing test) to annotate a traceback that students never see.
            phases=[p for p in settings().phases if p is not Phase.explain],
            # `student` is one worker per test on purpose: 50 examples, one process start.
            suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                   HealthCheck.data_too_large])
        settings.load_profile("autograder")
        reproducible.ignore_source_constants()

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionstart(self, session: pytest.Session) -> None:
        if self.submission is None:
            return
        from autograder import submission as submission_mod

        template = self.course.template if self.course else None
        # Private to us (mkdtemp's 0700): the sandbox makes its own copy for the worker, and
        # no other student's code, in a parallel regrade, may read this one.
        self.prepared_dir = Path(tempfile.mkdtemp(prefix="autograder-submission-"))
        self.prepared = submission_mod.prepare(
            Path(self.submission), self.prepared_dir / "submission",
            expected=submission_mod.expected_files(template))
        if self.course:
            self.static_warnings = submission_mod.scan_imports(
                self.prepared.root, self.course.forbidden, self.course.stand_ins)

    def pytest_ignore_collect(self, collection_path: Path, config: pytest.Config) -> bool | None:
        if config.getoption("--public-only") and self.course is not None:
            public = self.course.public_suite
            path = Path(collection_path).resolve()
            # Keep the public folder, its ancestors (for their conftest files) and below.
            if not (path == public or public in path.parents or path in public.parents):
                return True
        return None

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            path = self.config.rootpath / report.nodeid.split("::")[0] if report.nodeid else None
            points = declared_points(path) if path and path.suffix == ".py" else 0.0
            self.collection_errors.append(TestEntry(
                name=f"Tests in {report.nodeid or 'the suite'}", max_score=points,
                output="**Grader error:** these tests could not be loaded, so none of them ran. "
                       "This is a problem of the autograder, not of your code.",
                extra_data={"nodeid": report.nodeid, "outcome": "collection error"}))
            self.grader_error(f"cannot collect {report.nodeid}", str(report.longrepr))

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        self.items = list(session.items)
        for item in self.items:
            self.entries[item.nodeid] = self._pending_entry(item)
            for mark in item.iter_markers("autograder_note"):
                if mark.args and str(mark.args[0]) not in self.notes:
                    self.notes.append(str(mark.args[0]))
        for note in self.notes:
            sys.__stderr__.write(f"autograder: NOTE: {note}\n")
        self.write_progress()

    def _pending_entry(self, item: pytest.Item) -> TestEntry:
        return TestEntry(
            name=test_name(item), max_score=number(meta(item, "__weight__", 0)),
            number=str(meta(item, "__number__")) if meta(item, "__number__") is not None else None,
            tags=list(meta(item, "__tags__", ()) or ()),
            visibility=meta(item, "__visibility__", "visible"),
            output="This test did not run: grading stopped before it.",
            extra_data={"nodeid": item.nodeid, "outcome": "not run"})

    # -- per test
    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_protocol(self, item: pytest.Item, nextitem: Any):
        state = state_of(item)
        per_test = time.monotonic() + self.timeout_s if self.timeout_s > 0 else math.inf
        state.deadline = min(per_test, self.run_deadline)
        state.over_budget = time.monotonic() >= self.run_deadline
        yield
        try:
            self.entries[item.nodeid] = self._entry(item)
        except Exception:  # our bug; the test still gets an entry
            self.grader_error(f"building the result of {item.nodeid}", traceback.format_exc())
            entry = self._pending_entry(item)
            entry.output = "**Grader error** while recording this test's result."
            self.entries[item.nodeid] = entry
        self.write_progress()

    # The time limit covers fixture setup and the test itself, and is armed only inside
    # those two phases (pytest turns an exception there into the test's outcome); teardown
    # always runs in full, because it stops the worker.
    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_setup(self, item: pytest.Item):
        if state_of(item).over_budget:
            pytest.skip("the time budget of the whole run is used up")
        self._arm_timer(state_of(item))
        try:
            return (yield)
        finally:
            self._disarm_timer()

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_call(self, item: pytest.Item):
        state = state_of(item)
        reset_wrapper_values(item)
        self._arm_timer(state)
        try:
            return (yield)
        finally:
            self._disarm_timer()
            read_wrapper_values(item, state)

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo):
        outcome = yield
        report = outcome.get_result()
        state = state_of(item)
        state.reports[call.when] = report
        state.excinfo[call.when] = call.excinfo

    def _arm_timer(self, state: "TestState") -> None:
        if state.deadline == math.inf or not hasattr(signal, "setitimer"):
            return
        remaining = max(state.deadline - time.monotonic(), 0.001)
        try:
            signal.signal(signal.SIGALRM, _on_alarm)
            signal.setitimer(signal.ITIMER_REAL, remaining)
        except ValueError:  # not the main thread: no per-test limit
            pass

    def _disarm_timer(self) -> None:
        if hasattr(signal, "setitimer"):
            try:
                signal.setitimer(signal.ITIMER_REAL, 0)
            except ValueError:
                pass

    def _entry(self, item: pytest.Item) -> TestEntry:
        state = state_of(item)
        entry = self._pending_entry(item)
        weight = entry.max_score
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

        earned = outcome in ("passed", "xpassed")
        score = weight if earned else 0.0
        if state.score is not UNSET and outcome in ("passed", "xpassed", "failed"):
            score = min(max(number(state.score), 0.0), weight)
        entry.score = score
        entry.status = "passed" if earned and score >= weight else "failed"
        if outcome in ("skipped", "xfailed") and weight == 0:
            entry.status = "passed"
        entry.extra_data["outcome"] = outcome
        if failure is not None and outcome not in ("passed", "xpassed"):
            entry.extra_data.update(failure_extra_data(failure.value))

        sections = []
        hide = meta(item, "__hide_errors__")
        if failure is not None and outcome not in ("passed", "xpassed"):
            root = self.prepared.root if self.prepared else None
            text, staff = failure_markdown(failure.value, root, self.timeout_s)
            if text.startswith("**Time limit:**") and state.deadline == self.run_deadline:
                text = (f"**Time limit:** the whole grading may take {self.total_timeout_s:g} seconds, "
                        f"and it ran out during this test. Look for slow or endless code.")
            if outcome in ("skipped", "xfailed"):
                reason = str(getattr(failure.value, "msg", "") or failure.value)
                text = (f"Skipped: {reason}" if outcome == "skipped"
                        else f"Expected to fail, and it did ({getattr(call or setup, 'wasxfail', '')}); it earns no points.")
            elif outcome.startswith("error in"):
                text = f"**Error while {fixture_phase(outcome)} this test.**\n\n{text}"
            if staff:
                self.staff(f"autograder: {item.nodeid} ({outcome}):\n{staff}")
            if outcome.startswith("error in") and not blames_the_submission(failure.value):
                # Student code runs only in the sandbox, so a fixture error that did not come
                # from it (nor from a check on it) is ours: never the student's lost points.
                # Its traceback is the `staff` text logged just above.
                self.grader_error(f"{outcome} of {item.nodeid}")
                text = (f"**Grader error** while {fixture_phase(outcome)} this test; it is not your "
                        f"code's doing, and course staff have been told.")
            elif self._grader_problem(failure.value):
                self.grader_error(f"the sandbox failed in {item.nodeid}")
                text = "**Grader error:** the autograder could not run your code for this test."
            sections.append(str(hide) if hide else text)
        elif outcome == "not run" and state.over_budget:
            sections.append(f"**Not run:** the whole grading may take {self.total_timeout_s:g} seconds, and "
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
        entry.output = "\n\n".join(sections)

        column = meta(item, "__leaderboard_column__")
        if column is not None and state.leaderboard_value is not UNSET:
            value = state.leaderboard_value
            if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) \
                    or isinstance(value, str):
                self.leaderboard[item.nodeid] = {
                    "name": str(column), "value": value,
                    "order": meta(item, "__leaderboard_sort_order__", "desc") or "desc"}
        return entry

    def _grader_problem(self, exc: BaseException) -> bool:
        """The sandbox itself failed (cannot start, misconfigured): not the student's doing."""
        try:
            from autograder.sandbox import SandboxError
        except ImportError:
            SandboxError = ()
        return any((SandboxError and isinstance(e, SandboxError)) or e is self._sandbox_error
                   for e in exceptions_in(exc))

    # -- the sandbox
    def sandbox(self):
        if self._sandbox_error is not None:
            raise self._sandbox_error
        if self._sandbox is None:
            if self.prepared is None:
                raise pytest.UsageError("the `student` fixture needs --submission DIR")
            try:
                from autograder.sandbox import Sandbox
                self._sandbox = Sandbox(self.prepared.root, self._sandbox_config())
                describe = getattr(self._sandbox, "describe", None)
                if callable(describe):  # which user and isolation layers (staff only)
                    capture = self.config.pluginmanager.getplugin("capturemanager")
                    with capture.global_and_fixture_disabled() if capture else contextlib.nullcontext():
                        self.staff(f"autograder: {describe()}")
            except Exception as err:
                self._sandbox_error = err
                self.grader_error("cannot start the sandbox", traceback.format_exc())
                raise
        return self._sandbox

    def _sandbox_config(self):
        from autograder.sandbox import SandboxConfig

        in_process = bool(self.config.getoption("--in-process"))
        if self.course is None:
            return SandboxConfig(in_process=in_process)
        return self.course.sandbox.with_(in_process=in_process)

    def close_sandbox(self) -> None:
        box, self._sandbox = self._sandbox, None
        if box is not None:
            for name in ("close", "shutdown", "cleanup"):
                fn = getattr(box, name, None)
                if callable(fn):
                    fn()
                    break

    # -- results.json
    def document(self, final: bool) -> dict[str, Any]:
        tests = self.collection_errors + [self.entries[i.nodeid] for i in self.items if i.nodeid in self.entries]
        elapsed = time.monotonic() - self.started
        leaderboard = [self.leaderboard[i.nodeid] for i in self.items if i.nodeid in self.leaderboard]
        if final and self.grader_errors:
            detail = "Problems: " + "; ".join(sorted(set(self.grader_errors))[:5])
            return results_mod.grader_error(detail, tests, elapsed)
        doc = results_mod.assemble(tests, output=self._top_output(final, tests),
                                   execution_time=elapsed, leaderboard=leaderboard)
        return doc

    def _top_output(self, final: bool, tests: list[TestEntry]) -> str:
        done = sum(1 for t in tests if t.extra_data.get("outcome") != "not run")
        parts = []
        if not final:
            # This opening is a contract: TA tools read it as "incomplete" (docs/architecture.md).
            parts.append(f"**Grading did not finish:** {done} of {len(tests)} tests have run so far; "
                         f"the others earn nothing until they run.")
        else:
            score = sum(t.score for t in tests)
            maximum = sum(t.max_score for t in tests)
            passed = sum(1 for t in tests if t.status == "passed")
            parts.append(f"**{results_mod.clean_number(score)} / {results_mod.clean_number(maximum)} points**; "
                         f"{passed} of {len(tests)} tests passed.")
            start = self._where_to_start(tests)
            if start:
                parts.append(start)
        parts += [f"**Note:** {note}" for note in self.notes]
        if self.prepared is not None and (self.prepared.notes or self.prepared.warnings):
            parts.append("About your submission:\n\n" + self.prepared.markdown())
        if self.static_warnings:
            parts.append("Imports to check:\n\n" + "\n".join(f"- {w}" for w in self.static_warnings))
        if self.substitutions:
            parts.append("Stand-ins used while grading (your code imported them; the grader does not "
                         "provide them): " + ", ".join(code_span(n, 60) for n in sorted(self.substitutions)[:20]) + ".")
        return "\n\n".join(parts)

    def _where_to_start(self, tests: list[TestEntry]) -> str:
        """When several tests lost points, the one to fix first: the lowest in the suite's
        order of parts, since one mistake there often fails the tests built on it. The order
        is the tests' numbers, unless a test declares a `fix_first_rank` user property (a
        suite's conftest may rank e.g. end-to-end tests after every unit test)."""
        ranks = {item.nodeid: dict(getattr(item, "user_properties", ()) or ()).get("fix_first_rank", 0)
                 for item in self.items}
        # Only tests students can see now: the summary is always shown, and must not name a
        # hidden test before its results are published.
        failed = [t for t in tests if t.max_score > 0 and t.score < t.max_score and t.visibility == "visible"
                  and t.extra_data.get("outcome") not in ("not run", "collection error")]
        if len(failed) < 2:
            return ""

        def order(t: TestEntry):
            rank = ranks.get(t.extra_data.get("nodeid"), 0)
            parts = [int(p) if p.isdigit() else math.inf for p in str(t.number or "").split(".") if p]
            return (rank if isinstance(rank, (int, float)) else 0, parts or [math.inf])

        first = min(failed, key=order)
        label = f"test {first.number} ({first.name})" if first.number else f"the test {first.name}"
        return (f"**Where to start:** {len(failed)} tests lost points. Start with {label}: it checks the most "
                f"basic part among them, and one mistake there often fails the tests built on it too.")

    def write_progress(self) -> None:
        if self.results_path is None or self.finished:
            return
        try:
            results_mod.write_atomic(self.results_path, self.document(final=False))
        except Exception:
            self.staff("autograder: could not write progress results\n" + traceback.format_exc())

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        # Runs after session fixtures are torn down; the sandbox then kills whatever
        # student processes are left before the last word is written.
        try:
            self.close_sandbox()
        except Exception:
            self.grader_error("cleaning up the sandbox", traceback.format_exc())
        if exitstatus == pytest.ExitCode.INTERNAL_ERROR:
            self.grader_errors.append("internal error in the test run")
        if exitstatus == pytest.ExitCode.USAGE_ERROR:
            self.grader_errors.append("the test run was misconfigured")
        if not self.items and not self.collection_errors and exitstatus != pytest.ExitCode.INTERRUPTED:
            self.grader_error("no tests were collected")
        if self.results_path is not None:
            try:
                doc = self.document(final=exitstatus != pytest.ExitCode.INTERRUPTED)
            except Exception:
                self.grader_error("assembling results", traceback.format_exc())
                doc = results_mod.grader_error("The results could not be assembled.")
            results_mod.write_atomic(self.results_path, doc)
        self.finished = True
        if self.prepared_dir is not None:
            shutil.rmtree(self.prepared_dir, ignore_errors=True)

    def pytest_internalerror(self, excrepr: Any, excinfo: Any) -> None:
        self.grader_error("pytest internal error", str(excrepr))
        if self.results_path is not None:
            tests = self.collection_errors + list(self.entries.values())
            results_mod.write_atomic(self.results_path, results_mod.grader_error(
                "The test run stopped with an internal error.", tests, time.monotonic() - self.started))


def _on_alarm(signum: int, frame: Any) -> None:
    raise TestTimeout()


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def sandbox(pytestconfig: pytest.Config):
    """The session's Sandbox on the normalised submission (one per graded submission)."""
    return grading_of(pytestconfig).sandbox()


@pytest.fixture(scope="session")
def submission_root(pytestconfig: pytest.Config) -> Path:
    """The normalised submission folder. Read its files if needed; never import them."""
    grading = grading_of(pytestconfig)
    if grading.prepared is None:
        raise pytest.UsageError("the `submission_root` fixture needs --submission DIR")
    return grading.prepared.root


def without_private_paths(text: str, sandbox) -> str:
    """Student output names files by their path in the submission ("beras/x.py:3: Warning"),
    not in the private copy, whose random name would differ between two gradings."""
    private = getattr(sandbox, "sandbox_dir", None)
    if not private:
        return text
    return text.replace(f"{private}/submission/", "").replace(f"{private}/", "")


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
