"""A line per test as it finishes, with a running count, for people watching a run:

    [12/53] ok    3.4 Sigmoid forward                          2/2    0.3 s

Written to stderr (stdout is the staff's on Gradescope, and `grade`'s table). A test that
runs long gets a line when it passes SLOW_S, and again every SLOW_S, so a hang is never
silence; on a terminal, a transient line names each test as it starts. Ctrl-C ends the
line of the test it stopped with "stopped by you", not a FAIL. Registered by the plugin
with --progress; it only reads the entries the plugin records (results.json's), and never
changes an outcome.
"""
from __future__ import annotations

import sys
import threading
import time
from typing import Any

import pytest

from autograder import console
from autograder.results import format_points

SLOW_S = 10.0
NAME_WIDTH = 48


class Progress:
    def __init__(self, grading: Any, stream=None, slow_s: float = SLOW_S, fd: int | None = None):
        self.grading = grading
        # During a test pytest redirects file descriptor 2 itself; lines written while a test
        # runs ("still running") need a descriptor it does not touch (cli.py passes a dup).
        if stream is None and fd is not None:
            # The terminal's own encoding, with ASCII spellings for what it lacks (cp1252: no √).
            stream = open(fd, "w", encoding=getattr(sys.stderr, "encoding", None) or "utf-8",
                          errors=console.ERRORS, closefd=False)
        self.stream = stream or sys.stderr
        self.slow_s = slow_s
        self.done = 0
        self.lock = threading.Lock()
        self.transient = 0  # length of the "running" line on screen, to be replaced
        try:
            self.on_terminal = bool(self.stream.isatty())
        except (AttributeError, ValueError, OSError):
            self.on_terminal = False
        # The line is `[k/N] mark  name  points  seconds`: the name gets what the terminal leaves.
        self.name_width = max(20, min(NAME_WIDTH, console.width() - 33))

    def write(self, text: str, transient: bool = False) -> None:
        """A line; a `transient` one (a terminal only) is replaced by whatever comes next."""
        with self.lock:
            try:
                if self.transient:
                    self.stream.write("\r" + " " * self.transient + "\r")
                    self.transient = 0
                if transient:
                    self.stream.write(text)
                    self.transient = len(text)
                else:
                    self.stream.write(text + "\n")
                self.stream.flush()
            except (OSError, ValueError):
                pass  # a closed terminal must not fail grading

    def label(self, entry: Any) -> str:
        from autograder.terminal_md import inline

        name = f"{entry.number} {entry.name}" if entry.number else entry.name
        name = console.for_encoding(inline(" ".join(str(name).split())), getattr(self.stream, "encoding", None))
        return console.shorten(name, self.name_width)

    def _still_running(self, entry: Any, started: float, stop: threading.Event) -> None:
        while not stop.wait(self.slow_s):
            self.write(f"        ...   {self.label(entry)}: still running after {time.monotonic() - started:.0f} s")

    # Outermost wrapper: its second half runs after the plugin has recorded the entry.
    @pytest.hookimpl(hookwrapper=True, tryfirst=True)
    def pytest_runtest_protocol(self, item: pytest.Item, nextitem: Any):
        pending = self.grading.entries.get(item.nodeid)
        started, stop = time.monotonic(), threading.Event()
        watcher = None
        if pending is not None and self.slow_s > 0:
            watcher = threading.Thread(target=self._still_running, args=(pending, started, stop), daemon=True)
            watcher.start()
        if pending is not None and self.on_terminal:
            # Which test runs now, from its first second (replaced by its result line).
            self.write(f"        ...   {self.label(pending)}: running", transient=True)
        interrupted = False
        try:
            outcome = yield
            interrupted = isinstance(getattr(outcome, "excinfo", None) and outcome.excinfo[1], KeyboardInterrupt)
        finally:
            stop.set()
            if watcher is not None:
                watcher.join(timeout=1)
            entry = self.grading.entries.get(item.nodeid, pending)
            if interrupted and entry is not None:
                # Ctrl-C: this test did not fail, it never finished.
                self.write(f"        stop  {self.label(entry)}: stopped by you after "
                           f"{time.monotonic() - started:.1f} s")
            elif entry is not None:
                self.done += 1
                self.line(entry, time.monotonic() - started)

    def line(self, entry: Any, seconds: float) -> None:
        total = len(self.grading.items) or self.done
        width = len(str(total))
        mark = "ok" if entry.status == "passed" else "FAIL"
        points = f"{format_points(entry.score)}/{format_points(entry.max_score)}"
        self.write(f"[{self.done:>{width}}/{total}] {mark:<4}  {self.label(entry):<{self.name_width}}  "
                   f"{points:>7}  {seconds:5.1f} s")

    # pytest's own one-character-per-test progress would interleave with our lines.
    @pytest.hookimpl(tryfirst=True)
    def pytest_report_teststatus(self, report: pytest.TestReport, config: pytest.Config):
        if report.when == "call":
            return report.outcome, "", ""
        if report.failed:
            return "error", "", ""
        if report.skipped:
            return "skipped", "", ""
        return "", "", ""
