"""Compare two regrades: who changed, by how much, and which tests explain it.

    python -m autograder diff OLD.csv NEW.csv [--threshold POINTS|PCT%] [--max-students N] [--json FILE]

Both files are `scores.csv` as written by `regrade` (a folder holding one works too).
Submissions are matched on `--key` (default submission_id; `emails` matches the same students
across two different exports). A change *exceeds* the threshold when a total moves by more
than it, or a submission stops (or starts) being gradable, or disappears from NEW. The exit
code is 1 when more than --max-students (default 0) changes exceed it, so that the command
can guard a change to the tests: "this fix must not move anyone by more than half a point".
"""
from __future__ import annotations

import argparse
import csv
import json
import math
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

from autograder.regrade import FIXED_COLUMNS, GRADED, SCORES_NAME, natural_key

EPSILON = 1e-9  # float noise in partial credit is not a change


class ScoresError(Exception):
    pass


@dataclass
class Entry:
    key: str
    submission_id: str
    names: str
    emails: str
    status: str
    total: float | None
    max_score: float | None
    tests: dict[str, float | None]


def _number(text: str) -> float | None:
    text = (text or "").strip()
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def read_scores(path: Path, key: str = "submission_id") -> dict[str, Entry]:
    path = Path(path)
    if path.is_dir():
        path = path / SCORES_NAME
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            header = reader.fieldnames or []
            rows = list(reader)
    except OSError as error:
        raise ScoresError(f"cannot read {path}: {error.strerror}") from None
    missing = [c for c in ("submission_id", "status", "total") if c not in header]
    if missing:
        raise ScoresError(f"{path} is not a regrade scores.csv (no column {', '.join(missing)})")
    if key not in header:
        raise ScoresError(f"{path} has no column {key!r} to match submissions on")
    test_names = [c for c in header if c not in FIXED_COLUMNS]
    entries: dict[str, Entry] = {}
    for row in rows:
        match_key = (row.get(key) or "").strip().lower() if key == "emails" else (row.get(key) or "").strip()
        if not match_key:
            continue
        if match_key in entries:
            raise ScoresError(f"{path}: {key} {match_key!r} appears twice; match on another --key")
        entries[match_key] = Entry(
            key=match_key, submission_id=row.get("submission_id", ""), names=row.get("names", ""),
            emails=row.get("emails", ""), status=row.get("status", ""), total=_number(row.get("total")),
            max_score=_number(row.get("max_score")), tests={t: _number(row.get(t)) for t in test_names},
        )
    return entries


@dataclass
class TestChange:
    test: str
    old: float | None
    new: float | None

    @property
    def delta(self) -> float:
        return (self.new or 0.0) - (self.old or 0.0)


@dataclass
class Change:
    key: str
    old: Entry | None
    new: Entry | None
    tests: list[TestChange] = field(default_factory=list)
    exceeds: bool = False

    @property
    def delta(self) -> float | None:
        if self.old is None or self.new is None or self.old.total is None or self.new.total is None:
            return None
        return self.new.total - self.old.total

    @property
    def kind(self) -> str:
        if self.new is None:
            return "missing from NEW"
        if self.old is None:
            return "new in NEW"
        if self.old.status != self.new.status:
            return f"{self.old.status} -> {self.new.status}"
        return "score"

    def who(self) -> str:
        entry = self.new or self.old
        people = ", ".join(p for p in (entry.names, entry.emails) if p)
        return f"{entry.submission_id} ({people})" if people else entry.submission_id


def parse_threshold(text: str) -> tuple[float, bool]:
    """'0.5' -> (0.5 points, False); '2%' -> (2, True): percent of the submission's max score."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*(%?)\s*", text or "")
    if not match:
        raise ValueError(f"--threshold takes points (0.5) or a percentage (2%), not {text!r}")
    return float(match.group(1)), bool(match.group(2))


def compare(old: dict[str, Entry], new: dict[str, Entry], threshold: float = 0.0,
            percent: bool = False) -> list[Change]:
    changes = []
    for key in sorted(set(old) | set(new), key=natural_key):
        before, after = old.get(key), new.get(key)
        change = Change(key, before, after)
        if before is None or after is None:
            change.exceeds = after is None  # a student who vanished from the regrade is a problem
            changes.append(change)
            continue
        tests = list(after.tests) + [t for t in before.tests if t not in after.tests]
        for test in tests:
            a, b = before.tests.get(test), after.tests.get(test)
            if (a is None) != (b is None) or (a is not None and abs(b - a) > EPSILON):
                change.tests.append(TestChange(test, a, b))
        change.tests.sort(key=lambda t: -abs(t.delta))
        status_changed = before.status != after.status
        delta = change.delta
        if not status_changed and (delta is None or abs(delta) <= EPSILON) and not change.tests:
            continue
        limit = threshold
        if percent:
            scale = after.max_score or before.max_score or 0.0
            limit = threshold / 100.0 * scale
        gradable_changed = (before.status == GRADED) != (after.status == GRADED)
        change.exceeds = gradable_changed or (delta is not None and abs(delta) > limit + EPSILON)
        changes.append(change)
    changes.sort(key=lambda c: (not c.exceeds, -(abs(c.delta) if c.delta is not None else math.inf),
                                natural_key(c.key)))
    return changes


def _fmt(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:g}"


def _signed(value: float | None) -> str:
    if value is None:
        return "n/a"
    return f"{value:+g}"


def render_text(changes: list[Change], n_compared: int, threshold_text: str, max_tests: int = 5) -> str:
    exceeding = [c for c in changes if c.exceeds]
    lines = [f"{len(changes)} of {n_compared} submissions changed; "
             f"{len(exceeding)} exceed the threshold ({threshold_text})."]
    for change in changes:
        mark = "!" if change.exceeds else " "
        old_total = change.old.total if change.old else None
        new_total = change.new.total if change.new else None
        lines.append(f"{mark} {change.who()}: {_fmt(old_total)} -> {_fmt(new_total)} "
                     f"({_signed(change.delta)})" + ("" if change.kind == "score" else f" [{change.kind}]"))
        for test in change.tests[:max_tests]:
            lines.append(f"      {_signed(test.delta):>8}  {test.test}: {_fmt(test.old)} -> {_fmt(test.new)}")
        if len(change.tests) > max_tests:
            lines.append(f"      ... and {len(change.tests) - max_tests} more test(s)")
    return "\n".join(lines) + "\n"


def as_json(changes: list[Change]) -> list[dict]:
    return [{
        "key": c.key,
        "submission_id": (c.new or c.old).submission_id,
        "names": (c.new or c.old).names,
        "emails": (c.new or c.old).emails,
        "kind": c.kind,
        "old_total": c.old.total if c.old else None,
        "new_total": c.new.total if c.new else None,
        "delta": c.delta,
        "exceeds": c.exceeds,
        "tests": [{"test": t.test, "old": t.old, "new": t.new, "delta": t.delta} for t in c.tests],
    } for c in changes]


def configure(parser: argparse.ArgumentParser, command: str) -> None:
    parser.description = "List the submissions whose score changed between two regrades, and why."
    parser.add_argument("old", type=Path, help="the earlier scores.csv (or its regrade folder)")
    parser.add_argument("new", type=Path, help="the later scores.csv (or its regrade folder)")
    parser.add_argument("--threshold", default="0", metavar="POINTS|PCT%",
                        help="largest change in a total that is acceptable (default 0: any change)")
    parser.add_argument("--max-students", type=int, default=0, metavar="N",
                        help="how many submissions may exceed the threshold before the exit code is 1")
    parser.add_argument("--key", default="submission_id", choices=("submission_id", "emails", "sids"),
                        help="column that matches a row of OLD with a row of NEW")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the changes as JSON")


def run(args, command: str) -> int:
    try:
        threshold, percent = parse_threshold(args.threshold)
    except ValueError as error:
        print(f"diff: {error}", file=sys.stderr)
        return 2
    try:
        old = read_scores(args.old, args.key)
        new = read_scores(args.new, args.key)
    except ScoresError as error:
        print(f"diff: {error}", file=sys.stderr)
        return 2
    changes = compare(old, new, threshold, percent)
    sys.stdout.write(render_text(changes, len(set(old) | set(new)), args.threshold + ("" if percent else " points")))
    if args.json:
        args.json.write_text(json.dumps(as_json(changes), indent=2) + "\n", encoding="utf-8")
    exceeding = sum(1 for c in changes if c.exceeds)
    return 1 if exceeding > args.max_students else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m autograder diff")
    configure(parser, "diff")
    return run(parser.parse_args(argv), "diff")


if __name__ == "__main__":
    sys.exit(main())
