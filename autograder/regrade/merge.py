"""Joining the output folders of `regrade --shard K/N` runs into one: the same tables a
single run writes, and a list of what is missing or conflicting."""
from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

from autograder.atomic import read_json, write_json_atomic
from autograder.batch import natural_key
from autograder.regrade.layout import GRADED, RECORD_NAME, RESULTS_NAME, RUN_NAME
from autograder.regrade.tables import write_tables


def _copy_submission(source: Path, target: Path) -> None:
    staging = Path(tempfile.mkdtemp(prefix=f".{source.name}.", dir=target.parent))
    for item in source.iterdir():
        if item.is_file() and not item.name.startswith("."):
            shutil.copy2(item, staging / item.name)
    if target.exists():
        shutil.rmtree(target)
    staging.rename(target)


def _take_submissions(shard_dir: Path, out_dir: Path, problems: list[str]) -> None:
    """Copy the shard's submission folders, keeping a graded copy over an ungraded one."""
    for sub_dir in sorted(p for p in shard_dir.iterdir() if p.is_dir()):
        record = read_json(sub_dir / RECORD_NAME)
        if not isinstance(record, dict):
            continue
        target = out_dir / sub_dir.name
        existing = read_json(target / RECORD_NAME)
        if isinstance(existing, dict) and existing.get("status") == GRADED:
            if record.get("status") == GRADED and read_json(target / RESULTS_NAME) != read_json(sub_dir / RESULTS_NAME):
                problems.append(f"{sub_dir.name}: graded in two shards with different results; kept {target}")
            continue
        _copy_submission(sub_dir, target)


def _missing_shards(runs: list[dict]) -> list[str]:
    """Completeness: every shard 1..N of one export."""
    regrades = [r for r in runs if r.get("command") == "regrade"]
    counts = {(tuple(r.get("shard") or (1, 1))[1], r.get("export_fingerprint")) for r in regrades}
    problems = []
    if len(counts) > 1:
        problems.append("the shards come from different exports or different shard counts")
    for n, fingerprint in counts:
        have = {tuple(r["shard"])[0] for r in regrades
                if tuple(r["shard"])[1] == n and r.get("export_fingerprint") == fingerprint}
        missing = sorted(set(range(1, n + 1)) - have)
        if missing:
            problems.append(f"missing shard(s) {', '.join(f'{k}/{n}' for k in missing)}")
    return problems


def merge(shard_dirs: list[Path], out_dir: Path, log=None) -> tuple[dict, list[str]]:
    """Join shard outputs into out_dir. Returns (run record, problems): problems name
    missing shards, submissions never graded, and conflicting copies."""
    log = log or sys.stderr
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    problems: list[str] = []
    runs = []
    for shard_dir in map(Path, shard_dirs):
        if not shard_dir.is_dir():
            problems.append(f"{shard_dir} is not a folder")
            continue
        run = read_json(shard_dir / RUN_NAME)
        if isinstance(run, dict):
            runs.append(dict(run, source=str(shard_dir)))
        if shard_dir.resolve() != out_dir.resolve():
            _take_submissions(shard_dir, out_dir, problems)
    problems += _missing_shards(runs)
    expected_ids = {sub_id for r in runs for sub_id in r.get("assigned") or []}
    rows = write_tables(out_dir)
    present = {row.submission_id: row.status for row in rows}
    for sub_id in sorted(expected_ids, key=natural_key):
        if sub_id not in present:
            problems.append(f"{sub_id}: assigned to a shard but has no output")
        elif present[sub_id] != GRADED:
            problems.append(f"{sub_id}: {present[sub_id]}")
    assignments = sorted({r["assignment"] for r in runs if r.get("assignment")})
    run = {"command": "merge", "sources": [str(p) for p in shard_dirs],
           "assignment": assignments[0] if assignments else None,
           "runs": [{k: r.get(k) for k in ("source", "shard", "jobs", "wall_s", "attempted", "graded",
                                            "submissions_per_minute")} for r in runs],
           "submissions": len(rows), "problems": problems}
    write_json_atomic(out_dir / RUN_NAME, run)
    for problem in problems:
        print(f"merge: {problem}", file=log)
    print(f"merge: {len(rows)} submissions from {len(shard_dirs)} folder(s) into {out_dir}", file=log, flush=True)
    return run, problems
