"""`python -m autograder regrade|merge ...`: the command line of the regrade and its merge.

    python -m autograder regrade EXPORT --out DIR [--jobs N] [--shard K/N] [--force]
    python -m autograder merge SHARD_DIR... --out DIR
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from autograder.commands import EXIT_STOPPED, sigterm_as_interrupt
from autograder.regrade.export import ExportError, parse_shard
from autograder.regrade.merge import merge
from autograder.regrade.run import GradingOptions, regrade


def configure(parser: argparse.ArgumentParser, command: str) -> None:
    if command == "merge":
        parser.description = "Join the output folders of `regrade --shard` runs into one."
        parser.add_argument("shards", nargs="+", type=Path, help="output folders of the shard runs")
        parser.add_argument("--out", type=Path, required=True, help="folder for the merged output")
        return
    parser.description = "Regrade every submission of a Gradescope 'Export Submissions' download."
    parser.add_argument("export", type=Path, help="the export: a zip, or the folder it unpacks to")
    parser.add_argument("--out", type=Path, required=True, help="output folder (created; reused to resume)")
    parser.add_argument("--jobs", type=int, default=None, help="submissions graded at once (default: all cores)")
    parser.add_argument("--shard", default="1/1", metavar="K/N",
                        help="grade only the K-th of N deterministic slices (1-based), e.g. a Slurm array task")
    parser.add_argument("--force", action="store_true", help="regrade submissions that already have results")
    parser.add_argument("--public-only", action="store_true", help="run only the public tests")
    parser.add_argument("--timeout", type=float, default=None, metavar="SECONDS",
                        help="wall-clock limit for grading one submission (default: the engine's)")
    parser.add_argument("--pytest-arg", action="append", default=[], metavar="ARG",
                        help="extra argument for the graded suite's pytest run (repeatable), e.g. -k dense")


def run(args, command: str) -> int:
    with sigterm_as_interrupt():
        return _run(args, command)


def _run(args, command: str) -> int:
    try:
        if command == "merge":
            _, problems = merge(args.shards, args.out)
            return 1 if problems else 0
        try:
            shard = parse_shard(args.shard)
        except ValueError as error:
            print(f"regrade: {error}", file=sys.stderr)
            return 2
        if args.jobs is not None and args.jobs < 1:
            print("regrade: --jobs must be at least 1", file=sys.stderr)
            return 2
        options = GradingOptions(public_only=args.public_only, extra_pytest_args=tuple(args.pytest_arg),
                                 timeout_s=args.timeout)
        record = regrade(args.export, args.out, jobs=args.jobs, shard=shard, force=args.force, options=options)
        return 1 if record["not_graded"] else 0
    except ExportError as error:
        print(f"{command}: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # Ctrl-C or SIGTERM: the gradings in progress are over by now
        print(f"\n{command}: interrupted; run the same command again to resume", file=sys.stderr)
        return EXIT_STOPPED
