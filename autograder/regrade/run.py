"""Grading an export: each submission by the engine's own `grade()` (a child process per
submission, so no trusted process is shared between submissions), on job slots that each
run student code as their own user; resume, and the run's record (run.json)."""
from __future__ import annotations

import datetime
import inspect
import os
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from autograder.atomic import read_json, write_json_atomic
from autograder.batch import SlotUsers, run_on_slots
from autograder.grading import grade
from autograder.regrade.export import Export, ExportError, ExportedSubmission, ids_fingerprint, shard_slice, \
    tree_fingerprint
from autograder.regrade.layout import GRADED, MISSING, NOT_GRADED, RECORD_NAME, RESULTS_NAME, RUN_NAME, SCORES_NAME
from autograder.regrade.progress import Progress, format_duration
from autograder.regrade.tables import Row, looks_like_results, write_tables
from autograder.results import INCOMPLETE_OPENINGS, is_incomplete

GradeFn = Callable[..., dict]


@dataclass
class GradingOptions:
    public_only: bool = False
    extra_pytest_args: tuple = ()
    timeout_s: float | None = None

    def as_record(self) -> dict:
        return {"public_only": self.public_only, "extra_pytest_args": list(self.extra_pytest_args),
                "timeout_s": self.timeout_s}


def grading_problem(results: dict) -> str | None:
    """Why a results document is not a finished grading, or None when it is one."""
    if not is_incomplete(results):
        return None
    output = str(results.get("output") or "")
    paragraphs = [" ".join(p.replace("**", "").split()) for p in output.split("\n\n") if p.strip()]
    if output.startswith(INCOMPLETE_OPENINGS[0]) and len(paragraphs) > 1:
        reason = "grader error: " + " ".join(paragraphs[1:])  # the details, not the boilerplate
    else:
        reason = paragraphs[0]
    return reason[:500]


def is_complete(sub_dir: Path, fingerprint: str | None, options: dict) -> bool:
    """Resume skips a submission only when its results are valid, were graded from the same
    files and with the same grading options."""
    record = read_json(sub_dir / RECORD_NAME)
    if not isinstance(record, dict) or record.get("status") != GRADED:
        return False
    if record.get("options") != options:
        return False
    if fingerprint is not None and record.get("fingerprint") != fingerprint:
        return False
    return looks_like_results(read_json(sub_dir / RESULTS_NAME))


def refresh_record(sub_dir: Path, sub: ExportedSubmission) -> None:
    """A submission resume keeps takes its students and exported score from the export in
    hand: a newer download of the same files says what students see now."""
    record = read_json(sub_dir / RECORD_NAME)
    fresh = {"submitters": sub.submitters, "created_at": sub.created_at, "exported_score": sub.score}
    if isinstance(record, dict) and any(record.get(k) != v for k, v in fresh.items()):
        write_json_atomic(sub_dir / RECORD_NAME, dict(record, **fresh))


def _accepts(fn: Callable, name: str) -> bool:
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return True
    return name in params or any(p.kind is p.VAR_KEYWORD for p in params.values())


def grade_submission(sub: ExportedSubmission, export: Export, out_dir: Path, grade_fn: GradeFn,
                     options: GradingOptions, sandbox_user: str | None, slot: int,
                     fingerprint: str | None = None) -> dict:
    """Grade one submission and write its folder. Never raises for anything the submission
    or the grading child does: the record says `not_graded` and why."""
    sub_dir = out_dir / sub.id
    sub_dir.mkdir(parents=True, exist_ok=True)
    results_path = sub_dir / RESULTS_NAME
    started = time.time()
    t0 = time.monotonic()
    record = {
        "submission_id": sub.id, "submitters": sub.submitters, "created_at": sub.created_at,
        "exported_score": sub.score, "options": options.as_record(), "fingerprint": fingerprint,
        "slot": slot, "sandbox_user": sandbox_user, "started_unix": round(started, 3),
        "started_at": datetime.datetime.fromtimestamp(started).isoformat(timespec="seconds"),
    }
    try:
        if results_path.exists():
            results_path.unlink()  # never leave stale results beside a fresh record
        if not sub.present:
            raise ExportError("listed in submission_metadata.yml but has no folder in the export")
        path = export.materialise(sub.id)
        if fingerprint is None:
            record["fingerprint"] = tree_fingerprint(path)
        kwargs = {"public_only": options.public_only, "extra_pytest_args": tuple(options.extra_pytest_args),
                  "timeout_s": options.timeout_s}
        if sandbox_user is not None:
            kwargs["sandbox_user"] = sandbox_user
        results = grade_fn(path, None, **kwargs)
        if not looks_like_results(results):
            raise RuntimeError(f"the grader returned no usable results ({type(results).__name__})")
        write_json_atomic(results_path, results)  # kept even when incomplete: staff may look
        problem = grading_problem(results)
        if problem and options.timeout_s and time.monotonic() - t0 >= options.timeout_s:
            # grade() may hand back the child's own "did not finish" file without the cause
            problem = f"took longer than --timeout {options.timeout_s:g} s and was stopped; {problem}"
        record.update(status=NOT_GRADED if problem else GRADED, error=problem or None)
    except Exception as error:  # the row must exist whatever went wrong
        record.update(status=MISSING if not sub.present else NOT_GRADED,
                      error=f"{type(error).__name__}: {error}".strip())
        record["traceback"] = traceback.format_exc(limit=5)
    finally:
        export.release(sub.id)
    record["duration_s"] = round(time.monotonic() - t0, 3)
    write_json_atomic(sub_dir / RECORD_NAME, record)  # written last: it marks the folder complete
    return record


def regrade(export_path: Path, out_dir: Path, *, jobs: int | None = None, shard: tuple[int, int] = (1, 1),
            force: bool = False, options: GradingOptions | None = None, grade_fn: GradeFn | None = None,
            progress_stream=None, tty: bool | None = None) -> dict:
    """Grade the (shard of the) export into out_dir. Returns the run record (also run.json)."""
    options = options or GradingOptions()
    jobs = max(1, jobs or len(os.sched_getaffinity(0)))
    grade_fn = grade_fn or grade
    if not _accepts(grade_fn, "sandbox_user") and os.geteuid() == 0:
        raise RuntimeError("the grading function cannot run workers under per-slot sandbox users")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    log = progress_stream or sys.stderr
    started = time.time()
    t0 = time.monotonic()
    with Export(export_path) as export:
        for warning in export.warnings:
            print(f"regrade: warning: {warning}", file=log)
        everything = export.submissions
        assigned = shard_slice(everything, *shard)
        todo, skipped = [], []
        for sub in assigned:
            if not force and is_complete(out_dir / sub.id, export.fingerprint(sub), options.as_record()):
                refresh_record(out_dir / sub.id, sub)
                skipped.append(sub)
            else:
                todo.append(sub)
        print(f"regrade: {len(everything)} submissions in the export; shard {shard[0]}/{shard[1]} has "
              f"{len(assigned)}; {len(skipped)} already graded, {len(todo)} to grade with {jobs} job(s)",
              file=log, flush=True)
        with SlotUsers(min(jobs, max(len(todo), 1))) as users:
            records = _grade_all(todo, export, out_dir, grade_fn, options, users.names, Progress(len(todo), log, tty))
    rows = write_tables(out_dir)
    wall = time.monotonic() - t0
    graded_now = sum(1 for r in records if r["status"] == GRADED)
    run = {
        "command": "regrade",
        "export": str(Path(export_path).resolve()),
        "assignment": export.assignment,
        "export_submissions": len(everything),
        "export_fingerprint": ids_fingerprint(s.id for s in everything),
        "shard": list(shard),
        "assigned": [s.id for s in assigned],
        "jobs": jobs,
        "options": options.as_record(),
        "started_at": datetime.datetime.fromtimestamp(started).isoformat(timespec="seconds"),
        "wall_s": round(wall, 3),
        "attempted": len(records),
        "graded": graded_now,
        "not_graded": [r["submission_id"] for r in records if r["status"] != GRADED],
        "skipped": [s.id for s in skipped],
        "submissions_per_minute": round(len(records) / wall * 60, 3) if records and wall > 0 else None,
    }
    write_json_atomic(out_dir / RUN_NAME, run)
    bad = [r for r in rows if r.status != GRADED and r.submission_id in set(run["assigned"])]
    print(f"regrade: graded {graded_now}/{len(records)} in {format_duration(wall)}"
          + (f" ({run['submissions_per_minute']:.2f}/min)" if run["submissions_per_minute"] else "")
          + f"; {len(bad)} could not be graded; wrote {out_dir / SCORES_NAME}", file=log, flush=True)
    return run


def _grade_all(todo, export, out_dir, grade_fn, options, users, progress) -> list[dict]:
    """A slot is held for one submission at a time, and so is its user."""
    def work(sub, user, slot):
        record = grade_submission(sub, export, out_dir, grade_fn, options, user, slot, export.fingerprint(sub))
        results = read_json(out_dir / sub.id / RESULTS_NAME) if record["status"] == GRADED else None
        return dict(record, total=Row(sub.id, record, results).total())

    def letting_them_finish():
        progress.stream.write("\nregrade: interrupted; letting the gradings in progress finish "
                              "so that their results are kept (Ctrl-C again to abandon them)\n")
        progress.stream.flush()

    try:
        return run_on_slots(todo, users, work, progress.update, on_interrupt=letting_them_finish)
    finally:
        progress.close()
