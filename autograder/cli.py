"""`python -m autograder COMMAND ...`: one table from command to module, imported lazily
(so that `--help` and a student's `check` load nothing they do not use). Each module
defines configure(parser, command) and run(args, command) -> exit code.

Exit codes: 0 success (for `grade`/`gradescope`: grading ran, whatever the score); 1 the run
found problems (`check` with failing tests, `validate` violations, `diff` over threshold);
2 usage error; 3 grader (internal) error.
"""
from __future__ import annotations

import argparse
import importlib
import json
import sys
import traceback

from autograder.commands import EXIT_GRADER, EXIT_OK, EXIT_USAGE, PROG

# name -> (module defining configure()/run(), one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "grade": ("autograder.commands.grade", "grade a submission (folder or zip) and write results.json"),
    "check": ("autograder.commands.grade", "students: run the public tests on your work (current folder)"),
    "build": ("autograder.commands.build", "write autograder.zip (for Gradescope) and the student kit"),
    "gradescope": ("autograder.commands.grade", "what run_autograder calls inside Gradescope's container"),
    "template": ("autograder.commands.template", "generate student_template/ from the reference"),
    "validate": ("autograder.validate.run", "grade the validation corpus and check expectations"),
    "regrade": ("autograder.regrade.cli", "regrade a Gradescope export"),
    "merge": ("autograder.regrade.cli", "merge sharded regrade outputs"),
    "diff": ("autograder.regrade.diff", "compare the scores of two regrades, or a regrade with the export"),
    "report": ("autograder.regrade.report", "HTML class report of a regrade"),
}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(overview())
        return EXIT_OK if argv else EXIT_USAGE
    command, rest = argv[0], argv[1:]
    if len(rest) == 2 and rest[0] == ARGS_FILE_OPTION:
        rest = read_args_file(rest[1])
    if command not in COMMANDS:
        print(f"{PROG}: unknown command {command!r}\n\n{overview()}", file=sys.stderr)
        return EXIT_USAGE
    module_name, summary = COMMANDS[command]
    # Every command is ours: one that cannot even load is a grader bug, shown with its
    # traceback (Python's own exit status 1 would read as "problems found").
    try:
        module = importlib.import_module(module_name)
    except Exception:  # noqa: BLE001
        traceback.print_exc()
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


# `python -m autograder grade --args-file F`: the arguments are read from F (a JSON list,
# written by grading.grade in a root-only folder). Where workers share /proc with the
# machine (no PID namespace), they can read every command line; a TA's regrade keeps the
# other submissions' paths out of them this way.
ARGS_FILE_OPTION = "--args-file"


def read_args_file(path: str) -> list[str]:
    with open(path, encoding="utf-8") as handle:
        args = json.load(handle)
    if not (isinstance(args, list) and all(isinstance(a, str) for a in args)):
        raise SystemExit(f"{PROG}: {path} does not hold a JSON list of arguments")
    return args


def overview() -> str:
    width = max(len(name) for name in COMMANDS)
    lines = [f"usage: {PROG} COMMAND [ARGS]   ({PROG} COMMAND --help for its options)", "", "commands:"]
    lines += [f"  {name:<{width}}  {summary}" for name, (_, summary) in COMMANDS.items()]
    lines += ["", "exit codes: 0 success, 1 problems found (e.g. failing tests in `check`),",
              "            2 usage error, 3 grader (internal) error"]
    return "\n".join(lines)

