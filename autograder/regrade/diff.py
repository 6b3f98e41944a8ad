"""Compare two regrades, or a regrade with what students saw: who changed, by how much,
and which tests explain it.

    python -m autograder diff OLD NEW [--threshold POINTS|PCT%] [--max-students N] [--json FILE]
    python -m autograder diff --against-export REGRADE [...]

OLD and NEW are `scores.csv` files as `regrade` writes them (or their folders). OLD may also
be the Gradescope export itself (its zip or folder): its submission_metadata.yml holds the
score each submission had. `--against-export` reads the same from REGRADE's own scores.csv
(its exported_score column). Submissions are matched on `--key` (default submission_id;
`emails` matches the same students across two different exports). A change *exceeds* the
threshold when a total moves by more than it, or a submission stops (or starts) being
gradable, or disappears from NEW. The exit code is 1 when more than --max-students (default
0) changes exceed it, so that the command can guard a change to the tests: "this fix must
not move anyone by more than half a point".
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

from autograder.batch import natural_key
from autograder.regrade.export import Export, ExportError, is_export
from autograder.regrade.layout import FIXED_COLUMNS, GRADED, SCORES_NAME
from autograder.results import format_points

EPSILON = 1e-9  # float noise in partial credit is not a change
NO_SCORE = "no_score"  # an export's submission that Gradescope had no score for


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
    exported_score: float | None = None
    has_tests: bool = True  # False for what an export says: a total, no per-test scores


def _number(text: str | None) -> float | None:
    text = (text or "").strip()
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _match_key(value: str | None, key: str) -> str:
    value = (value or "").strip()
    return value.lower() if key == "emails" else value


def _add(entries: dict[str, Entry], entry: Entry, where: Path, key: str) -> None:
    if not entry.key:
        return
    if entry.key in entries:
        raise ScoresError(f"{where}: {key} {entry.key!r} appears twice; match on another --key")
    entries[entry.key] = entry


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
    test_names = [c for c in header if c not in FIXED_COLUMNS]  # older files lack exported_score
    entries: dict[str, Entry] = {}
    for row in rows:
        _add(entries, Entry(
            key=_match_key(row.get(key), key), submission_id=row.get("submission_id", ""),
            names=row.get("names", ""), emails=row.get("emails", ""), status=row.get("status", ""),
            total=_number(row.get("total")), max_score=_number(row.get("max_score")),
            tests={t: _number(row.get(t)) for t in test_names}, exported_score=_number(row.get("exported_score")),
        ), path, key)
    return entries


def _as_exported(entry: Entry, key: str) -> Entry:
    """What Gradescope showed for this submission at export: its score, no tests."""
    return Entry(key=key, submission_id=entry.submission_id, names=entry.names, emails=entry.emails,
                 status=GRADED if entry.exported_score is not None else NO_SCORE, total=entry.exported_score,
                 max_score=entry.max_score, tests={}, exported_score=entry.exported_score, has_tests=False)


def exported_side(entries: dict[str, Entry]) -> dict[str, Entry]:
    """`--against-export`: the scores Gradescope had, from a regrade's own scores.csv."""
    return {key: _as_exported(entry, key) for key, entry in entries.items()}


def read_export(path: Path, key: str = "submission_id") -> dict[str, Entry]:
    """The export's submission_metadata.yml as the OLD side: each submission's score then."""
    try:
        with Export(path) as export:
            submissions = export.submissions
    except ExportError as error:
        raise ScoresError(str(error)) from None
    entries: dict[str, Entry] = {}
    for sub in submissions:
        value = {"submission_id": sub.id, "emails": sub.people("email"), "sids": sub.people("sid")}[key]
        row = Entry(key="", submission_id=sub.id, names=sub.people("name"), emails=sub.people("email"),
                    status="", total=None, max_score=None, tests={}, exported_score=sub.score)
        _add(entries, _as_exported(row, _match_key(value, key)), path, key)
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


def _test_changes(before: Entry, after: Entry) -> list[TestChange]:
    if not (before.has_tests and after.has_tests):
        return []  # an export knows totals only
    changes = []
    for test in list(after.tests) + [t for t in before.tests if t not in after.tests]:
        a, b = before.tests.get(test), after.tests.get(test)
        if (a is None) != (b is None) or (a is not None and abs(b - a) > EPSILON):
            changes.append(TestChange(test, a, b))
    return sorted(changes, key=lambda t: -abs(t.delta))


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
        change.tests = _test_changes(before, after)
        delta = change.delta
        if before.status == after.status and (delta is None or abs(delta) <= EPSILON) and not change.tests:
            continue
        limit = threshold
        if percent:
            limit = threshold / 100.0 * (after.max_score or before.max_score or 0.0)
        gradable_changed = (before.status == GRADED) != (after.status == GRADED)
        change.exceeds = gradable_changed or (delta is not None and abs(delta) > limit + EPSILON)
        changes.append(change)
    changes.sort(key=lambda c: (not c.exceeds, -(abs(c.delta) if c.delta is not None else math.inf),
                                natural_key(c.key)))
    return changes


def _fmt(value: float | None) -> str:
    return "-" if value is None else format_points(value)


def _signed(value: float | None) -> str:
    if value is None:
        return "n/a"
    return ("-" if value < 0 else "+") + format_points(abs(value))


def render_text(changes: list[Change], n_compared: int, threshold_text: str, max_tests: int = 5,
                show_exported: bool = True) -> str:
    exceeding = [c for c in changes if c.exceeds]
    lines = [f"{len(changes)} of {n_compared} submissions changed; "
             f"{len(exceeding)} exceed the threshold ({threshold_text})."]
    for change in changes:
        mark = "!" if change.exceeds else " "
        old_total = change.old.total if change.old else None
        new_total = change.new.total if change.new else None
        exported = change.new.exported_score if change.new else None
        lines.append(f"{mark} {change.who()}: {_fmt(old_total)} -> {_fmt(new_total)} "
                     f"({_signed(change.delta)})" + ("" if change.kind == "score" else f" [{change.kind}]")
                     + (f" [Gradescope had {_fmt(exported)}]" if show_exported and exported is not None else ""))
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
        "exported_score": (c.new or c.old).exported_score,
        "delta": c.delta,
        "exceeds": c.exceeds,
        "tests": [{"test": t.test, "old": t.old, "new": t.new, "delta": t.delta} for t in c.tests],
    } for c in changes]


def configure(parser: argparse.ArgumentParser, command: str) -> None:
    parser.description = ("List the submissions whose score changed between two regrades (or between the "
                          "Gradescope export and a regrade), and why.")
    parser.add_argument("old", type=Path, help="the earlier scores.csv (or its regrade folder), or the "
                                               "Gradescope export (zip or folder); with --against-export, the regrade")
    parser.add_argument("new", type=Path, nargs="?", help="the later scores.csv (or its regrade folder)")
    parser.add_argument("--against-export", action="store_true",
                        help="compare one regrade with the scores Gradescope had at export (its exported_score column)")
    parser.add_argument("--threshold", default="0", metavar="POINTS|PCT%",
                        help="largest change in a total that is acceptable (default 0: any change)")
    parser.add_argument("--max-students", type=int, default=0, metavar="N",
                        help="how many submissions may exceed the threshold before the exit code is 1")
    parser.add_argument("--key", default="submission_id", choices=("submission_id", "emails", "sids"),
                        help="column that matches a row of OLD with a row of NEW")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the changes as JSON")


def _sides(args) -> tuple[dict[str, Entry], dict[str, Entry]]:
    if args.against_export:
        if args.new is not None:
            raise ValueError("--against-export takes one regrade (its scores.csv or folder), not two")
        new = read_scores(args.old, args.key)
        return exported_side(new), new
    if args.new is None:
        raise ValueError("give OLD and NEW, or one regrade with --against-export")
    old = read_export(args.old, args.key) if is_export(args.old) else read_scores(args.old, args.key)
    return old, read_scores(args.new, args.key)


def run(args, command: str) -> int:
    try:
        threshold, percent = parse_threshold(args.threshold)
        old, new = _sides(args)
    except (ValueError, ScoresError) as error:
        print(f"diff: {error}", file=sys.stderr)
        return 2
    changes = compare(old, new, threshold, percent)
    against_export = args.against_export or is_export(args.old)
    sys.stdout.write(render_text(changes, len(set(old) | set(new)), args.threshold + ("" if percent else " points"),
                                 show_exported=not against_export))
    if args.json:
        args.json.write_text(json.dumps(as_json(changes), indent=2) + "\n", encoding="utf-8")
    exceeding = sum(1 for c in changes if c.exceeds)
    return 1 if exceeding > args.max_students else 0
