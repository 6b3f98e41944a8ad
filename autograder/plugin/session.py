"""The grading session: everything the trusted process knows about this run (the course,
the prepared submission, the collected tests and their entries), the session's sandbox, the
staff log, and the results.json writer (a fallback first, progress after every test, the
final document last)."""
from __future__ import annotations

import contextlib
import shutil
import sys
import time
import traceback
from pathlib import Path
from typing import Any

import pytest

from autograder import course as course_mod
from autograder import partial, reproducible, tempfolders
from autograder.given_code import GivenCode
from autograder import results as results_mod
from autograder import submission as submission_mod
from autograder.results import TestEntry
from autograder.sandbox import Sandbox, SandboxConfig, SandboxError

from . import outcome, summary
from .feedback import exceptions_in
from .metadata import meta, read_wrapper_values, reset_wrapper_values, state_of
from .timer import TimeLimits


class StaffLog:
    """What only course staff read (Gradescope shows stdout to instructors only), and the
    grader errors of the run: any one of them makes the run's results a grader error."""

    def __init__(self, path: str | None):
        self.path = path
        self.errors: list[str] = []

    def staff(self, text: str) -> None:
        if self.path:
            with open(self.path, "a", encoding="utf-8") as handle:
                handle.write(text.rstrip() + "\n")
            return
        sys.__stdout__.write(text.rstrip() + "\n")
        sys.__stdout__.flush()

    def error(self, what: str, detail: str = "") -> None:
        self.errors.append(what)
        self.staff(f"autograder: GRADER ERROR: {what}\n{detail}")


class StudentCode:
    """The session's one Sandbox on the prepared submission: started at first use, its
    start-up failure remembered (every later test then fails the same way), closed last."""

    def __init__(self, grading: "Grading"):
        self.grading = grading
        self.box: Sandbox | None = None
        self.error: BaseException | None = None
        # module name -> SetAsideAtImport: what the workers kept after it raised at import
        # (the Sandbox's own record, kept here after the Sandbox is closed)
        self.imports_set_aside: dict = {}

    def get(self) -> Sandbox:
        if self.error is not None:
            raise self.error
        if self.box is None:
            grading = self.grading
            if grading.prepared is None:
                raise pytest.UsageError("the `student` fixture needs --submission DIR")
            try:
                in_process = bool(grading.config.getoption("--in-process"))
                # Without a usable course file, the course defaults: partial imports kept.
                settings = grading.course.sandbox if grading.course else SandboxConfig(keep_partial_imports=True)
                self.box = Sandbox(grading.prepared.root, settings.with_(in_process=in_process))
                self.imports_set_aside = self.box.imports_set_aside
                capture = grading.config.pluginmanager.getplugin("capturemanager")
                with capture.global_and_fixture_disabled() if capture else contextlib.nullcontext():
                    grading.log.staff(f"autograder: {self.box.describe()}")  # which user and layers
            except Exception as err:
                self.error = err
                grading.log.error("cannot start the sandbox", traceback.format_exc())
                raise
        return self.box

    def failed_in(self, exc: BaseException) -> bool:
        """The sandbox itself failed (cannot start, misconfigured): not the student's doing."""
        return any(isinstance(e, SandboxError) or e is self.error for e in exceptions_in(exc))

    def close(self) -> None:
        box, self.box = self.box, None
        if box is not None:
            box.close()


class Grading:
    """The run's state and its hooks: preparing the submission, collecting, recording each test."""

    def __init__(self, config: pytest.Config):
        self.config = config
        self.log = StaffLog(config.getoption("--staff-log"))
        self.started = time.monotonic()
        self.results_path = Path(config.getoption("--results")).resolve() if config.getoption("--results") else None
        self.submission = config.getoption("--submission")
        self.course: course_mod.Course | None = None
        try:
            self.course = course_mod.load(config.getoption("--autograder-config"))
        except (OSError, ValueError) as err:  # graded with the defaults, but not a grade
            self.log.error("no usable course configuration", str(err))
        self.limits = TimeLimits.of(config, self.course, self.started)
        self.items: list[pytest.Item] = []
        self.entries: dict[str, TestEntry] = {}
        self.collection_errors: list[TestEntry] = []
        self.leaderboard: dict[str, dict[str, Any]] = {}
        self.prepared: submission_mod.Prepared | None = None
        self.prepared_dir: Path | None = None
        self.student_code = StudentCode(self)
        self.static_warnings: list[str] = []
        self.set_aside: list[partial.SetAside] = []  # blocks Python could not read, stubbed
        self.given_code = GivenCode(self.course.template if self.course else None)  # the handout's finished code
        self.import_failures: dict[str, outcome.ImportFailure] = {}  # node id -> why it could not import
        self.notes: list[str] = []  # autograder_note markers of the collected tests
        self.substitutions: set[str] = set()  # stand-ins the student's code imported
        self.finished = False

    def start(self) -> None:
        if self.results_path is not None:
            results_mod.write_atomic(self.results_path, results_mod.fallback(results_mod.FALLBACK_TEXT))
            # A collection error must not stop the other files from running.
            self.config.option.continue_on_collection_errors = True
        reproducible.load_grading_profile()

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionstart(self, session: pytest.Session) -> None:
        if self.submission is None:
            return
        # Private to us (mkdtemp's 0700): the sandbox makes its own copy for the worker, and
        # no other student's code, in a parallel regrade, may read this one.
        self.prepared_dir = tempfolders.make("autograder-submission-")  # removed by our parent if we are killed
        self.prepared = submission_mod.prepare(
            Path(self.submission), self.prepared_dir / "submission",
            expected=submission_mod.expected_files(self.course.template if self.course else None))
        if self.course is None or self.course.set_aside_syntax_errors:
            # Before any worker exists: the copy the sandbox makes is of the repaired files.
            self.set_aside = partial.set_aside_unparseable(self.prepared.root)
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

    @pytest.hookimpl(tryfirst=True)
    def pytest_collection_modifyitems(self, session: pytest.Session, config: pytest.Config,
                                      items: list[pytest.Item]) -> None:
        # Run in the order the results list them (1.1, 1.2, ..., 13.1), so that "start with
        # 1.1" names the first test that ran. (A suite's own hooks run after this one: the
        # Beras suite keeps the order and checks that it suits its feedback.)
        items.sort(key=lambda item: results_mod.number_key({"number": meta(item, "__number__")}))

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            self.collection_errors.append(outcome.collection_error_entry(report, self.config.rootpath))
            self.log.error(f"cannot collect {report.nodeid}", str(report.longrepr))

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        self.items = list(session.items)
        for item in self.items:
            self.entries[item.nodeid] = outcome.pending_entry(item)
            for mark in item.iter_markers("autograder_note"):
                if mark.args and str(mark.args[0]) not in self.notes:
                    self.notes.append(str(mark.args[0]))
        for note in self.notes:
            sys.__stderr__.write(f"autograder: NOTE: {note}\n")
        self.write_progress()

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_protocol(self, item: pytest.Item, nextitem: Any):
        self.limits.start(item)
        yield
        try:
            self.entries[item.nodeid] = outcome.build_entry(self, item)
        except Exception:  # our bug; the test still gets an entry
            self.log.error(f"building the result of {item.nodeid}", traceback.format_exc())
            entry = outcome.pending_entry(item)
            entry.output = "**Grader error** while recording this test's result."
            self.entries[item.nodeid] = entry
        self.write_progress()

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_call(self, item: pytest.Item):
        reset_wrapper_values(item)
        try:
            return (yield)
        finally:
            read_wrapper_values(item, state_of(item))

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo):
        report = (yield).get_result()
        state = state_of(item)
        state.reports[call.when] = report
        state.excinfo[call.when] = call.excinfo

    def write_progress(self) -> None:
        if self.results_path is None or self.finished:
            return
        try:
            results_mod.write_atomic(self.results_path, self.document(final=False), staff_log=self.log.staff)
        except Exception:
            self.log.staff("autograder: could not write progress results\n" + traceback.format_exc())

    def document(self, final: bool) -> dict[str, Any]:
        return summary.document(self, final, time.monotonic() - self.started)

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        # Runs after session fixtures are torn down; the sandbox then kills whatever
        # student processes are left before the last word is written.
        try:
            self.student_code.close()
        except Exception:
            self.log.error("cleaning up the sandbox", traceback.format_exc())
        if exitstatus == pytest.ExitCode.INTERNAL_ERROR:
            self.log.errors.append("internal error in the test run")
        if exitstatus == pytest.ExitCode.USAGE_ERROR:
            self.log.errors.append("the test run was misconfigured")
        if not self.items and not self.collection_errors and exitstatus != pytest.ExitCode.INTERRUPTED:
            self.log.error("no tests were collected")
        if self.results_path is not None:
            try:
                doc = self.document(final=exitstatus != pytest.ExitCode.INTERRUPTED)
            except Exception:
                self.log.error("assembling results", traceback.format_exc())
                doc = results_mod.grader_error("The results could not be assembled.")
            results_mod.write_atomic(self.results_path, doc, staff_log=self.log.staff)
        self.finished = True
        if self.prepared_dir is not None:
            shutil.rmtree(self.prepared_dir, ignore_errors=True)

    def pytest_internalerror(self, excrepr: Any, excinfo: Any) -> None:
        self.log.error("pytest internal error", str(excrepr))
        if self.results_path is not None:
            tests = self.collection_errors + list(self.entries.values())
            results_mod.write_atomic(self.results_path, results_mod.grader_error(
                "The test run stopped with an internal error.", tests, time.monotonic() - self.started))
