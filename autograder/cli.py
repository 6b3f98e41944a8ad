"""`python -m autograder COMMAND ...`: one table from command to module, imported lazily.

Exit codes: 0 success (for `grade`/`gradescope`: grading ran, whatever the score); 1 the run
found problems (`check` with failing tests, `validate` violations, `diff` over threshold);
2 usage error; 3 grader (internal) error.
"""
from __future__ import annotations

import argparse
import importlib
import os
import signal
import sys
import tempfile
import textwrap
from pathlib import Path

from autograder import results as results_mod
from autograder.results import format_points
from autograder.untrusted import terminal

# name -> (module defining configure()/run(), one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "grade": ("autograder.cli", "grade a submission (folder or zip) and write results.json"),
    "check": ("autograder.cli", "students: run the public tests on your work (current folder)"),
    "build": ("autograder.cli", "write autograder.zip (for Gradescope) and the student kit"),
    "gradescope": ("autograder.cli", "what run_autograder calls inside Gradescope's container"),
    "template": ("autograder.template", "generate student_template/ from the reference"),
    "validate": ("autograder.validate.run", "grade the validation corpus and check expectations"),
    "regrade": ("autograder.regrade", "regrade a Gradescope export"),
    "merge": ("autograder.regrade", "merge sharded regrade outputs"),
    "diff": ("autograder.scorediff", "compare the scores of two regrades"),
    "report": ("autograder.report", "HTML class report of a regrade"),
}

EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE, EXIT_GRADER = 0, 1, 2, 3
MAX_DETAILS = 5  # failing tests whose feedback `check` prints below its table

PROG = "python -m autograder"


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(overview())
        return EXIT_OK if argv else EXIT_USAGE
    command, rest = argv[0], argv[1:]
    if command not in COMMANDS:
        print(f"{PROG}: unknown command {command!r}\n\n{overview()}", file=sys.stderr)
        return EXIT_USAGE
    module_name, summary = COMMANDS[command]
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        print(f"{PROG} {command}: not available ({err})", file=sys.stderr)
        return EXIT_GRADER
    parser = argparse.ArgumentParser(prog=f"{PROG} {command}", description=summary)
    module.configure(parser, command)
    # Everything after a bare `--` is passed through untouched (e.g. to pytest).
    passthrough: list[str] = []
    if "--" in rest:
        cut = rest.index("--")
        rest, passthrough = rest[:cut], rest[cut + 1:]
    try:
        args = parser.parse_args(rest)
    except SystemExit as exit_:  # argparse: --help exits 0, bad usage exits 2
        return int(exit_.code or 0)
    args.passthrough = passthrough
    return int(module.run(args, command))


def overview() -> str:
    width = max(len(name) for name in COMMANDS)
    lines = [f"usage: {PROG} COMMAND [ARGS]   ({PROG} COMMAND --help for its options)", "", "commands:"]
    lines += [f"  {name:<{width}}  {summary}" for name, (_, summary) in COMMANDS.items()]
    lines += ["", "exit codes: 0 success, 1 problems found (e.g. failing tests in `check`),",
              "            2 usage error, 3 grader (internal) error"]
    return "\n".join(lines)


# ---------------------------------------------------------------- our own commands


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
    elif command == "build":
        parser.add_argument("--out-dir", type=Path, default=Path("dist"),
                            help="where to write autograder.zip and student-kit.zip (default: dist/)")
        parser.add_argument("--data-dir", type=Path, default=None,
                            help="the files of autograder.cfg's [data] to bundle (default: its from_env variable)")
        parser.add_argument("--allow-fallback-data", action="store_true",
                            help="build even without every [data] file: grading then uses fallback data, and says so")
        parser.add_argument("--config", type=Path, default=None, help=config_help)
    elif command == "gradescope":
        parser.description = ("Grade $AUTOGRADER_ROOT/submission into $AUTOGRADER_ROOT/results/results.json "
                              "(AUTOGRADER_ROOT defaults to /autograder).")
        parser.add_argument("--config", type=Path, default=None, help=config_help)


def run(args: argparse.Namespace, command: str) -> int:
    if command == "grade":
        if not args.submission.exists():
            print(f"{PROG} grade: {args.submission} does not exist", file=sys.stderr)
            return EXIT_USAGE
        code, doc = grade_here(args.submission, args.out, public_only=args.public_only,
                               in_process=args.in_process, config=args.config,
                               test_timeout=args.test_timeout, total_timeout=args.total_timeout,
                               extra=getattr(args, "passthrough", []), progress=not args.quiet)
        if not args.quiet and doc is not None:
            print(summary_table(doc))
            print(f"\nresults: {args.out}")
        return code
    if command == "check":
        return check(args)
    if command == "build":
        from autograder import build
        return build.run_build(args.out_dir, args.config, args.data_dir, args.allow_fallback_data)
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
    previous = signal.signal(signal.SIGTERM, _interrupt)  # stop cleanly: workers, then the file
    try:
        timeouts = {"--test-timeout": test_timeout, "--total-timeout": total_timeout}
        code = _run_pytest(submission, out, public_only, in_process, config, timeouts,
                           list(extra) + (["--progress"] if progress else []), terminal, staff_log)
    except BaseException as err:  # noqa: BLE001 - whatever happens, a valid file remains
        import traceback
        print(f"{PROG}: GRADER ERROR\n{traceback.format_exc()}", flush=True)
        doc = _current_or_error(out, f"The grader stopped: {type(err).__name__}.")
        return EXIT_GRADER, doc
    finally:
        signal.signal(signal.SIGTERM, previous)
    doc = _current_or_error(out, "The test run ended without results.")
    if code in (3, 4) and not results_mod.is_incomplete(doc):
        doc = results_mod.grader_error(f"The test run ended with pytest exit code {code}.")
        results_mod.write_atomic(out, doc)
    return (EXIT_GRADER if results_mod.is_incomplete(doc) else EXIT_OK), doc


def _interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


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
                config: Path | None, timeouts: dict, extra: list[str],
                terminal: bool, staff_log: Path | None) -> int:
    import pytest

    from autograder.grading import load_course

    course = load_course(config)
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


def summary_table(doc: dict, *, details: bool = False, width: int = 100) -> str:
    tests = sorted(doc.get("tests", []), key=results_mod.number_key)
    rows = [("#", "test", "points", "")]
    for t in tests:
        mark = "ok" if t.get("status") == "passed" else "FAIL"
        rows.append((t.get("number", ""), t.get("name", ""),
                     f"{format_points(t.get('score', 0))}/{format_points(t.get('max_score', 0))}", mark))
    name_w = min(max(len(r[1]) for r in rows), width - 30)
    num_w = max(len(r[0]) for r in rows)
    pts_w = max(len(r[2]) for r in rows)
    lines = []
    for i, (num, name, pts, mark) in enumerate(rows):
        if len(name) > name_w:
            name = name[: name_w - 3] + "..."
        lines.append(f"{num:<{num_w}}  {name:<{name_w}}  {pts:>{pts_w}}  {mark}".rstrip())
        if i == 0:
            lines.append("-" * min(width, num_w + name_w + pts_w + 10))
    total = sum(t.get("max_score", 0) for t in tests)
    passed = sum(1 for t in tests if t.get("status") == "passed")
    lines.append("-" * min(width, num_w + name_w + pts_w + 10))
    lines.append(f"score {format_points(doc.get('score', 0))} / {format_points(total)}   ({passed} of {len(tests)} tests passed)")
    if doc.get("output"):
        lines += ["", _plain(doc["output"])]
    if details:
        failing = [t for t in tests if t.get("status") != "passed" and t.get("output")]
        for t in failing[:MAX_DETAILS]:
            lines += ["", f"== {t.get('number', '')} {t.get('name', '')} ==".replace("==  ", "== "),
                      _clip(_plain(t["output"]), 30)]
        if len(failing) > MAX_DETAILS:
            lines += ["", f"(feedback on {len(failing) - MAX_DETAILS} more failing tests: "
                          f"fix these first, or save everything with --out results.json)"]
    return "\n".join(lines)


def _plain(md: str) -> str:
    from autograder.terminal_md import render

    # The output quotes student text: no control character of it may reach the terminal.
    return render(terminal(md))


def _clip(text: str, max_lines: int) -> str:
    lines = text.splitlines()
    if len(lines) > max_lines:
        lines = lines[:max_lines] + [f"... ({len(lines) - max_lines} more lines in results.json)"]
    return "\n".join(textwrap.shorten(l, 300, placeholder=" ...") if len(l) > 300 else l for l in lines)


# ---------------------------------------------------------------- check and gradescope


def check(args: argparse.Namespace) -> int:
    folder = args.folder.resolve()
    if not folder.is_dir():
        print(f"check: {args.folder} is not a folder", file=sys.stderr)
        return EXIT_USAGE
    print(f"Running the public tests on {folder} ...", flush=True)
    with tempfile.TemporaryDirectory(prefix="autograder-check-") as tmp:
        out = (args.out or Path(tmp) / "results.json").resolve()
        staff_log = Path(tmp) / "grader.log"
        code, doc = grade_here(folder, out, public_only=True, config=args.config,
                               terminal=False, staff_log=staff_log, progress=True)
        if doc is None:
            return EXIT_GRADER
        print()
        print(summary_table(doc, details=True))
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
    code, doc = grade_here(root / "submission", out, config=config)
    if doc is not None:
        print(summary_table(doc), flush=True)
    return code
