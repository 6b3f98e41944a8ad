"""The class tables of a regrade folder: one row per submission folder, scores.csv and
summary.json. Both are always rebuilt from the per-submission folders, which is what makes
a merge of shards byte-identical to a single run, and a resumed run identical to an
uninterrupted one. Only results go in (no timings), so they are deterministic."""
from __future__ import annotations

import csv
import io
import json
import statistics
from dataclasses import dataclass
from pathlib import Path

from autograder.atomic import read_json, write_json_atomic, write_text_atomic
from autograder.batch import natural_key
from autograder.regrade.layout import FIXED_COLUMNS, GRADED, NOT_GRADED, RECORD_NAME, RESULTS_NAME, SCORES_NAME, \
    SUMMARY_NAME
from autograder.results import format_points, number_key


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def looks_like_results(data) -> bool:
    """A results.json Gradescope would accept: a top-level score, or a score on every test."""
    if not isinstance(data, dict):
        return False
    tests = data.get("tests")
    if tests is not None and not isinstance(tests, list):
        return False
    if _is_number(data.get("score")):
        return True
    return bool(tests) and all(isinstance(t, dict) and _is_number(t.get("score")) for t in tests)


def label_of_test(test: dict, index: int) -> str:
    name = str(test.get("name") or f"test {index + 1}")
    number = test.get("number")
    return f"{number} {name}" if number not in (None, "") else name


def is_informative(test: dict) -> bool:
    """A test worth no points: it reports something, it is not passed or failed for marks."""
    return not (test.get("max_score") or 0)


def is_passed(test: dict) -> bool:
    status = test.get("status")
    if status in ("passed", "failed"):
        return status == "passed"
    return (test.get("score") or 0) >= (test.get("max_score") or 0)


@dataclass
class Row:
    submission_id: str
    record: dict
    results: dict | None

    @property
    def status(self) -> str:
        return self.record.get("status") or NOT_GRADED

    @property
    def exported_score(self) -> float | None:
        """What Gradescope showed at export (None when the metadata had no score)."""
        value = self.record.get("exported_score")
        return float(value) if _is_number(value) else None

    def people(self, key: str) -> str:
        return "; ".join(str(p.get(key) or "") for p in self.record.get("submitters") or [])

    def tests(self) -> list[tuple[str, dict]]:
        if not self.results:
            return []
        labels, seen = [], {}
        for index, test in enumerate(self.results.get("tests") or []):
            label = label_of_test(test, index)
            seen[label] = seen.get(label, 0) + 1
            if seen[label] > 1:  # two tests with one name still get two columns
                label = f"{label} #{seen[label]}"
            labels.append((label, test))
        return labels

    def total(self) -> float | None:
        if not self.results:
            return None
        if _is_number(self.results.get("score")):
            return float(self.results["score"])
        return float(sum(t.get("score") or 0 for t in self.results.get("tests") or []))

    def max_score(self) -> float | None:
        if not self.results:
            return None
        return float(sum(t.get("max_score") or 0 for t in self.results.get("tests") or []))


def collect_rows(out_dir: Path) -> list[Row]:
    rows = []
    for sub_dir in sorted((p for p in Path(out_dir).iterdir() if p.is_dir()), key=lambda p: natural_key(p.name)):
        record = read_json(sub_dir / RECORD_NAME)
        if not isinstance(record, dict):
            continue  # not a submission folder, or one whose grading never finished
        results = read_json(sub_dir / RESULTS_NAME) if record.get("status") == GRADED else None
        if record.get("status") == GRADED and not looks_like_results(results):
            record = dict(record, status=NOT_GRADED, error="results.json is missing or invalid")
            results = None
        rows.append(Row(sub_dir.name, record, results))
    return rows


def columns_of_tests(rows: list[Row]) -> list[str]:
    """Every test seen in any submission, in Gradescope's order (number, then first seen)."""
    order: dict[str, tuple] = {}
    for row in rows:
        for label, test in row.tests():
            if label not in order:
                order[label] = (number_key(test), len(order))
    return sorted(order, key=lambda label: order[label])


def points_cell(value) -> str:
    return "" if value is None or value == "" else format_points(value)


def scores_csv(rows: list[Row]) -> str:
    columns = columns_of_tests(rows)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(list(FIXED_COLUMNS) + columns)
    for row in rows:
        scores = {label: test.get("score") for label, test in row.tests()}
        fixed = {"submission_id": row.submission_id, "names": row.people("name"), "emails": row.people("email"),
                 "sids": row.people("sid"), "status": row.status, "exported_score": points_cell(row.exported_score),
                 "total": points_cell(row.total()), "max_score": points_cell(row.max_score())}
        writer.writerow([fixed[c] for c in FIXED_COLUMNS] + [points_cell(scores.get(label)) for label in columns])
    return buffer.getvalue()


def _test_summary(label: str, entries: list[dict]) -> dict:
    passed = sum(is_passed(t) for t in entries)
    informative = bool(entries) and all(is_informative(t) for t in entries)
    return {
        "name": label,
        "max_score": max((t.get("max_score") or 0 for t in entries), default=0),
        "informative": informative,
        "submissions": len(entries),
        "passed": passed,
        "failed": len(entries) - passed,
        # A 0-point test has no pass rate: its "passed" may only mean it had nothing to report.
        "pass_rate": round(passed / len(entries), 6) if entries and not informative else None,
        "mean_score": round(statistics.fmean(t.get("score") or 0 for t in entries), 6) if entries else None,
    }


def summary(rows: list[Row]) -> dict:
    """Class statistics, deterministic for a given set of results."""
    graded = [r for r in rows if r.status == GRADED]
    totals = [r.total() for r in graded]
    maxima = sorted({r.max_score() for r in graded})
    per_test = [_test_summary(label, [t for r in graded for lab, t in r.tests() if lab == label])
                for label in columns_of_tests(rows)]
    options = sorted({json.dumps(r.record.get("options"), sort_keys=True) for r in rows})
    compared = [r for r in graded if r.exported_score is not None]
    return {
        "submissions": len(rows),
        "graded": len(graded),
        "not_graded": [{"submission_id": r.submission_id, "status": r.status, "error": r.record.get("error")}
                       for r in rows if r.status != GRADED],
        "max_score": maxima[-1] if len(maxima) == 1 else maxima,
        "score": None if not totals else {
            "mean": round(statistics.fmean(totals), 6),
            "median": round(statistics.median(totals), 6),
            "stdev": round(statistics.pstdev(totals), 6),
            "min": min(totals),
            "max": max(totals),
            "full_marks": sum(1 for r in graded if r.total() >= r.max_score() > 0),
        },
        "exported_score": None if not compared else {
            "compared": len(compared),
            "changed": sum(1 for r in compared if abs(r.total() - r.exported_score) > 1e-9),
            "mean_change": round(statistics.fmean(r.total() - r.exported_score for r in compared), 6),
        },
        "tests": per_test,
        "grading_options": [json.loads(o) for o in options],
    }


def write_tables(out_dir: Path) -> list[Row]:
    rows = collect_rows(out_dir)
    write_text_atomic(Path(out_dir) / SCORES_NAME, scores_csv(rows))
    write_json_atomic(Path(out_dir) / SUMMARY_NAME, summary(rows))
    return rows
