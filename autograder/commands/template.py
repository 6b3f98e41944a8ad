"""`template`: generate the student handout from the reference (the work is autograder/template.py).

    python -m autograder template [--check] [--reference DIR] [--out DIR]

The defaults come from the `reference` and `template` of the course (autograder.cfg, or
$AUTOGRADER_CONFIG). --check generates nothing: it lists how the handout differs from what
would be generated, and exits 1 when it does.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from autograder import course as course_mod
from autograder.course import ConfigError
from autograder.template import TemplateError, diff, generate


def configure(parser: argparse.ArgumentParser, command: str) -> None:
    parser.description = "Generate the student handout from the reference's solution markers."
    parser.add_argument("--check", action="store_true",
                        help="generate nothing; list differences and exit 1 if the handout is stale")
    parser.add_argument("--reference", type=Path, default=None,
                        help="the marked reference solution (default: autograder.cfg's `reference`)")
    parser.add_argument("--out", type=Path, default=None,
                        help="the handout directory (default: autograder.cfg's `template`)")


def run(args, command: str) -> int:
    try:
        course = course_mod.load() if args.reference is None or args.out is None else None
        src = args.reference or course.reference
        dst = args.out or course.template
        if args.check:
            problems = diff(src, dst)
            for problem in problems:
                print(f"{command}: {dst}: {problem}")
            if problems:
                print(f"{command}: {dst} is stale; regenerate it with `python -m autograder template`")
                return 1
            print(f"{command}: {dst} is in sync with {src}")
            return 0
        files = generate(src, dst)
    except (TemplateError, OSError, UnicodeDecodeError, ConfigError) as error:
        print(f"{command}: {error}", file=sys.stderr)
        return 3 if isinstance(error, (OSError, ConfigError)) else 1
    print(f"{command}: wrote {len(files)} files to {dst}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """The command without the command table (for tests)."""
    parser = argparse.ArgumentParser(prog="python -m autograder template")
    configure(parser, "template")
    return run(parser.parse_args(argv), "template")

