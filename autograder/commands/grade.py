"""`grade`, `check` and `gradescope`: grading one submission in this (trusted) process.

`grade` writes results.json (and a table unless --quiet); `check` is the students' command
(the public tests on their folder, feedback in the terminal); `gradescope` is what
run_autograder calls inside Gradescope's container. Each writes a valid results.json before
anything else runs, and exits 3 when grading did not complete.
"""
from __future__ import annotations

import argparse
import os
import re
import signal
import sys
import tempfile
import textwrap
import traceback
from pathlib import Path

import pytest

from autograder import course as course_mod
from autograder import results as results_mod
from autograder import tempfolders
from autograder.commands import (EXIT_GRADER, EXIT_OK, EXIT_PROBLEMS, EXIT_STOPPED, EXIT_USAGE, PROG,
                                 sigterm_as_interrupt)
from autograder.results import format_points
from autograder.sandbox.grader.backend import gradescope_refusal
from autograder import console
from autograder.terminal_md import inline, render
from autograder.untrusted import terminal

MAX_DETAILS = 5  # failing tests whose feedback `check` prints below its table


def configure(parser: argparse.ArgumentParser, command: str) -> None:
    config_help = "autograder.cfg to use (default: the one beside the engine)"
    if command == "grade":
        parser.add_argument("submission", type=Path, help="the student's folder or .zip")
        parser.add_argument("--out", type=Path, default=Path("results.json"),
                            help="where to write results.json (default: ./results.json)")
        parser.add_argument("--public-only", action="store_true", help="run only the public tests")
        parser.add_argument("--in-process", action="store_true",
                            help="no isolation: student code in this process (benchmarks only)")
        parser.add_argument("--quiet", action="store_true", help="no summary table")
        parser.add_argument("--test-timeout", type=float, default=None, help="seconds per test")
        parser.add_argument("--total-timeout", type=float, default=None,
                            help="seconds for the whole run; later tests are reported as not run")
        parser.add_argument("--config", type=Path, default=None, help=config_help)
        parser.epilog = "Arguments after a bare -- go to pytest, e.g. -- -k add -x"
    elif command == "check":
        parser.description = ("Run the public tests on your work and show what passes. "
                              "Your code runs in a separate process with limits, as on Gradescope.")
        parser.add_argument("folder", type=Path, nargs="?", default=Path("."),
                            help="your assignment folder (default: the current folder)")
        parser.add_argument("--out", type=Path, default=None, help="also save results.json here")
        parser.add_argument("--config", type=Path, default=None, help=config_help)
    elif command == "gradescope":
        parser.description = ("Grade $AUTOGRADER_ROOT/submission into $AUTOGRADER_ROOT/results/results.json "
                              "(AUTOGRADER_ROOT defaults to /autograder).")
        parser.add_argument("--config", type=Path, default=None, help=config_help)


def run(args: argparse.Namespace, command: str) -> int:
    for stream in (sys.stdout, sys.stderr):
        console.use_fallback_spellings(stream)
    if command == "grade":
        if not args.submission.exists():
            print(f"{PROG} grade: {args.submission} does not exist", file=sys.stderr)
            return EXIT_USAGE
        code, doc = grade_here(args.submission, args.out, public_only=args.public_only,
                               in_process=args.in_process, config=args.config,
                               test_timeout=args.test_timeout, total_timeout=args.total_timeout,
                               extra=getattr(args, "passthrough", []), progress=not args.quiet)
        if not args.quiet and doc is not None:
            print(summary_table(doc, saved=True))
            print(f"\nresults: {args.out}")
        return code
    if command == "check":
        return check(args)
    if command == "gradescope":
        return gradescope(args.config)
    raise AssertionError(command)


def grade_here(submission: Path, out: Path, *, public_only: bool = False, in_process: bool = False,
               config: Path | None = None, test_timeout: float | None = None,
               total_timeout: float | None = None, extra=(),
               terminal: bool = True, staff_log: Path | None = None,
               progress: bool = False) -> tuple[int, dict | None]:
    """Grade in this (trusted) process. The fallback file exists before anything else runs."""

    out = out.resolve()
    try:
        results_mod.write_atomic(out, results_mod.fallback(results_mod.FALLBACK_TEXT))
    except OSError as err:
        print(f"{PROG}: cannot write {out}: {err}", file=sys.stderr)
        return EXIT_USAGE, None
    try:
        course = course_mod.load(config)
    except (OSError, ValueError) as err:  # our configuration: never the student's doing
        print(f"{PROG}: GRADER ERROR: {err}", flush=True)
        doc = results_mod.grader_error("The course configuration could not be read.")
        results_mod.write_atomic(out, doc)
        return EXIT_GRADER, doc
    _sweep_what_ended_gradings_left()
    with sigterm_as_interrupt():  # stop cleanly: workers, then the file
        try:
            timeouts = {"--test-timeout": test_timeout, "--total-timeout": total_timeout}
            code = _run_pytest(submission, out, public_only, in_process, course, timeouts,
                               list(extra) + (["--progress"] if progress else []), terminal, staff_log)
        except KeyboardInterrupt:  # stopped (Ctrl-C, SIGTERM): no traceback, the file says so
            return EXIT_GRADER, _current_or_error(out, "Grading was stopped before it finished.")
        except BaseException as err:  # noqa: BLE001 - whatever happens, a valid file remains
            print(f"{PROG}: GRADER ERROR\n{traceback.format_exc()}", flush=True)
            doc = _current_or_error(out, f"The grader stopped: {type(err).__name__}.")
            return EXIT_GRADER, doc
    doc = _current_or_error(out, "The test run ended without results.")
    if code in (3, 4) and not results_mod.is_incomplete(doc):
        doc = results_mod.grader_error(f"The test run ended with pytest exit code {code}.")
        results_mod.write_atomic(out, doc)
    return (EXIT_GRADER if results_mod.is_incomplete(doc) else EXIT_OK), doc


def _sweep_what_ended_gradings_left() -> None:
    """A grading killed with no parent to clean up after it (a `grade` run by hand and
    SIGKILLed) left its folders, and maybe its sandbox user's processes: they go now."""
    try:
        removed = tempfolders.sweep_stale()
    except Exception as err:  # noqa: BLE001 - never a reason not to grade
        print(f"{PROG}: could not sweep what earlier gradings left: {err}", flush=True)
        return
    if removed:
        print(f"{PROG}: removed {len(removed)} temporary folder(s) that ended gradings left", flush=True)


def _current_or_error(out: Path, why: str) -> dict:

    try:
        doc = results_mod.read(out)
        if not results_mod.problems(doc):
            return doc
    except (OSError, ValueError):
        pass
    doc = results_mod.grader_error(why)
    results_mod.write_atomic(out, doc)
    return doc


def _run_pytest(submission: Path, out: Path, public_only: bool, in_process: bool,
                course: course_mod.Course, timeouts: dict, extra: list[str],
                terminal: bool, staff_log: Path | None) -> int:
    suite = course.public_suite if public_only else course.suite
    args = [
        str(suite),
        "-p", "autograder.plugin",
        "--submission", str(submission.resolve()),
        "--results", str(out),
        "--autograder-config", str(course.config_path),
        # Our own settings only: no ini file of the student's folder or ours applies.
        # The suite is self-contained: no conftest above it is loaded.
        "-c", os.devnull, "--rootdir", str(course.root), "--confcutdir", str(course.suite),
        "-p", "no:cacheprovider",
        # Plain asserts: the message is the feedback, and nothing evaluates remote objects.
        "--assert=plain",
    ]
    # Staff read pytest's own report in stdout; `check` shows students only our table.
    # --tb=native: pytest's own traceback formatting cost ~125 ms per failing test (a 0%
    # submission fails them all); students never see it, their feedback is our message.
    args += ["-q", "-rN", "--tb=native"] if terminal else ["-p", "no:terminal"]
    if public_only:
        args.append("--public-only")
    if in_process:
        args.append("--in-process")
    for option, seconds in timeouts.items():
        if seconds is not None:
            args += [option, str(seconds)]
    if staff_log is not None:
        args += ["--staff-log", str(staff_log)]
    progress_fd = None
    if "--progress" in extra:
        progress_fd = os.dup(2)  # the terminal, before pytest's capture redirects descriptor 2
        args += ["--progress-fd", str(progress_fd)]
    try:
        return int(pytest.main(args + extra))
    finally:
        if progress_fd is not None:
            os.close(progress_fd)


# ---------------------------------------------------------------- tables


def summary_table(doc: dict, *, details: bool = False, width: int | None = None,
                  saved: bool = False, partial: bool = False) -> str:
    """The console's view of a results document, fitted to `width` columns (the terminal's):
    the feedback of the first failing tests (`details`), what the top of the results says,
    then the table and the score once, last, so that they do not scroll away. `saved`: the
    whole document is in a file the reader can open; `partial`: the run was stopped."""
    width = width or console.width()
    tests = sorted(doc.get("tests", []), key=results_mod.number_key)
    lines: list[str] = []
    if details:
        failing = [t for t in tests if t.get("status") != "passed" and t.get("output")]
        shown = [t for t in failing if not (t.get("extra_data") or {}).get("import_failure")
                 and (t.get("extra_data") or {}).get("outcome") != "not run"]
        # One mistake often fails several tests with the same message: shown once, with the
        # numbers of the others.
        same: dict[str, list[dict]] = {}
        for t in shown:
            same.setdefault(_plain(t["output"]), []).append(t)
        shown = [group[0] for group in same.values()]
        for t in shown[:MAX_DETAILS]:
            title = " ".join(f"{t.get('number') or ''} {_inline(t.get('name', ''))}".split())
            lines += [console.shorten(f"== {title} ==", width),
                      console.wrap(_clip(_plain(t["output"]), 30, saved), width)]
            others = [str(o.get("number") or _inline(o.get("name", ""))) for o in same[_plain(t["output"])][1:]]
            if others:
                lines.append(console.wrap(f"(The same message for {', '.join(others)}.)", width))
            lines.append("")
        if len(shown) > MAX_DETAILS:
            more = "the file you saved" if saved else "a file with --out results.json"
            lines += [console.wrap(f"(feedback on {len(shown) - MAX_DETAILS} more failing tests: fix these "
                                   f"first, or find it all in {more})", width), ""]
    top = _plain(_without_score_line(doc.get("output") or "", partial))
    if top.strip():
        lines += [console.wrap(top.strip(), width), ""]
    lines += _table(tests, width, partial)
    total = sum(t.get("max_score", 0) for t in tests)
    passed = sum(1 for t in tests if t.get("status") == "passed")
    if partial:
        ran = sum(1 for t in tests if (t.get("extra_data") or {}).get("outcome") != "not run")
        lines.append(f"PARTIAL: stopped after {ran} of {len(tests)} tests; "
                     f"score so far {format_points(doc.get('score', 0))} / {format_points(total)}")
    else:
        lines.append(f"score {format_points(doc.get('score', 0))} / {format_points(total)}   "
                     f"({passed} of {len(tests)} tests passed)")
    return "\n".join(lines)


def _table(tests: list[dict], width: int, partial: bool) -> list[str]:
    rows = []
    for t in tests:
        outcome = (t.get("extra_data") or {}).get("outcome")
        mark = "ok" if t.get("status") == "passed" else ("--" if partial and outcome == "not run" else "FAIL")
        rows.append((str(t.get("number") or ""), _inline(t.get("name", "")),
                     f"{format_points(t.get('score', 0))}/{format_points(t.get('max_score', 0))}", mark))
    num_w = max([len(r[0]) for r in rows] + [1])
    pts_w = max([len(r[2]) for r in rows] + [len("points")])
    fixed = num_w + 2 + 2 + pts_w + 2 + 4
    name_w = max(20, min(max([len(r[1]) for r in rows] + [4]), width - fixed))
    rule = "-" * min(width, fixed + name_w)
    lines = [f"{'#':<{num_w}}  {'test':<{name_w}}  {'points':>{pts_w}}", rule]
    for num, name, pts, mark in rows:
        wrapped = textwrap.wrap(name, name_w, break_long_words=False, break_on_hyphens=False) or [""]
        lines.append(f"{num:<{num_w}}  {wrapped[0]:<{name_w}}  {pts:>{pts_w}}  {mark}".rstrip())
        lines += [f"{'':<{num_w}}  {more}".rstrip() for more in wrapped[1:]]
    lines.append(rule)
    if partial:
        lines.append("-- : not run (stopped by you)")
    return lines


def _without_score_line(markdown: str, partial: bool = False) -> str:
    # The table's last line gives the score (or says the run was stopped); the document's
    # opening paragraph says the same.
    markdown = re.sub(r"^\*\*[\d.]+ / [\d.]+ points\*\*; \d+ of \d+ tests passed\.\s*", "", markdown)
    if partial:
        markdown = re.sub(r"^\*\*Grading did not finish[^\n]*(\n(?!\n)[^\n]*)*\s*", "", markdown)
    return markdown


def _inline(text: str) -> str:
    return _spelled(inline(terminal(" ".join(str(text).split()))))


def _plain(md: str) -> str:
    # The output quotes student text: no control character of it may reach the terminal.
    return _spelled(render(terminal(md)))


def _spelled(text: str) -> str:
    # Spelled for stdout's encoding before widths are measured (cp1252: √ is "sqrt").
    return console.for_encoding(text, getattr(sys.stdout, "encoding", None))


def _clip(text: str, max_lines: int, saved: bool) -> str:
    lines = text.splitlines()
    if len(lines) > max_lines:
        where = "in the results file" if saved else "not shown; --out results.json saves them"
        lines = lines[:max_lines] + [f"... ({len(lines) - max_lines} more lines {where})"]
    return "\n".join(textwrap.shorten(l, 300, placeholder=" ...") if len(l) > 300 else l for l in lines)


# ---------------------------------------------------------------- check and gradescope


def check(args: argparse.Namespace) -> int:
    for stream in (sys.stdout, sys.stderr):
        console.use_fallback_spellings(stream)
    folder = args.folder.resolve()
    if not folder.is_dir():
        print(f"check: {args.folder} is not a folder", file=sys.stderr)
        return EXIT_USAGE
    stopped: list[bool] = []

    def stop(signum, frame):
        stopped.append(True)
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGINT, stop)
    try:
        return _check(args, folder, stopped)
    except KeyboardInterrupt:  # after the run (the run itself stops cleanly, below)
        print("\nStopped by you.")
        return EXIT_STOPPED
    finally:
        signal.signal(signal.SIGINT, previous)


def _check(args: argparse.Namespace, folder: Path, stopped: list[bool]) -> int:
    print(f"Running the public tests on {folder} ...", flush=True)
    with tempfile.TemporaryDirectory(prefix="autograder-check-") as tmp:
        out = (args.out or Path(tmp) / "results.json").resolve()
        staff_log = Path(tmp) / "grader.log"
        code, doc = grade_here(folder, out, public_only=True, config=args.config,
                               terminal=False, staff_log=staff_log, progress=True)
        if doc is None:
            return EXIT_STOPPED if stopped else EXIT_GRADER
        print()
        if stopped:
            # Ctrl-C: what ran is shown, the rest is not a failure, and nothing failed on our side.
            print(summary_table(doc, details=True, saved=args.out is not None, partial=True))
            print("\nStopped by you. Run the check again to see every test.")
            return EXIT_STOPPED
        print(summary_table(doc, details=True, saved=args.out is not None))
        if code == EXIT_GRADER:
            log = staff_log.read_text(errors="replace") if staff_log.exists() else ""
            print("\nThe checker itself failed; details for the course staff:\n" + terminal(log[-3000:]))
            return EXIT_GRADER
    failing = [t for t in doc.get("tests", []) if t.get("status") != "passed"]
    if failing:
        print(f"\n{len(failing)} public test(s) to fix. Hidden tests on Gradescope check more.")
        return EXIT_PROBLEMS
    print("\nAll public tests pass. Gradescope also runs hidden tests.")
    return EXIT_OK


def gradescope_root() -> Path:
    return Path(os.environ.get("AUTOGRADER_ROOT", "/autograder"))


def gradescope(config: Path | None) -> int:
    root = gradescope_root()
    out = root / "results" / "results.json"
    refusal = gradescope_refusal()  # only the full sandbox grades for points
    if refusal:
        results_mod.write_atomic(out, results_mod.grader_error(refusal))
        print(f"{PROG} gradescope: GRADER ERROR: {refusal}", file=sys.stderr)
        return EXIT_GRADER
    code, doc = grade_here(root / "submission", out, config=config)
    if doc is not None:
        print(summary_table(doc), flush=True)
    return code
