"""`build`: autograder.zip for Gradescope and the student kit (the work is autograder/build.py)."""
from __future__ import annotations

import argparse
from pathlib import Path

from autograder import build


def configure(parser: argparse.ArgumentParser, command: str) -> None:
    parser.add_argument("--out-dir", type=Path, default=Path("dist"),
                        help="where to write autograder.zip and student-kit.zip (default: dist/)")
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="the files of autograder.cfg's [data] to bundle (default: its from_env variable)")
    parser.add_argument("--allow-fallback-data", action="store_true",
                        help="build even without every [data] file: grading then uses fallback data, and says so")
    parser.add_argument("--config", type=Path, default=None,
                        help="autograder.cfg to use (default: the one beside the engine)")


def run(args: argparse.Namespace, command: str) -> int:
    return build.run_build(args.out_dir, args.config, args.data_dir, args.allow_fallback_data)
