"""Batch regrade of a Gradescope "Export Submissions" download, and merging of shards.

    python -m autograder regrade EXPORT --out DIR [--jobs N] [--shard K/N] [--force]
    python -m autograder merge SHARD_DIR... --out DIR

Every submission is graded by the engine's own `grade()` (a child process per submission,
so no trusted process is shared between submissions). Output layout:

    DIR/<submission>/results.json   the engine's results, as Gradescope would get them
    DIR/<submission>/regrade.json   our record: students, status, duration, options
    DIR/scores.csv                  one row per submission, one column per test
    DIR/summary.json                class statistics; deterministic for a given set of results
    DIR/run.json                    how this directory was produced (jobs, shard, timing)

scores.csv and summary.json are always rebuilt from the per-submission folders, which is
what makes a merge of shards byte-identical to a single run, and a resumed run identical to
an uninterrupted one.
"""
from __future__ import annotations

import argparse
import csv
import datetime
import hashlib
import inspect
import io
import json
import os
import re
import shutil
import statistics
import sys
import tempfile
import threading
import time
import traceback
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

from autograder.atomic import read_json, write_json_atomic, write_text_atomic
from autograder.batch import SlotUsers, natural_key, run_on_slots, sweep_user
from autograder.results import INCOMPLETE_OPENINGS, is_incomplete

METADATA_NAME = "submission_metadata.yml"
RESULTS_NAME = "results.json"
RECORD_NAME = "regrade.json"
SCORES_NAME = "scores.csv"
SUMMARY_NAME = "summary.json"
RUN_NAME = "run.json"

# Columns of scores.csv before the one-per-test columns. scorediff reads these names.
FIXED_COLUMNS = ("submission_id", "names", "emails", "sids", "status", "total", "max_score")

GRADED = "graded"
NOT_GRADED = "not_graded"
MISSING = "missing"  # listed in the metadata, but no folder in the export

# A zip member bigger than this, or a submission larger in total, is refused: a zip bomb in
# an export must not fill the disk of the machine doing a class-wide regrade.
MAX_SUBMISSION_BYTES = 1 << 30
_IGNORED_DIRS = {"__MACOSX"}


class ExportError(Exception):
    """The export cannot be read (bad zip, unsafe member, unreadable metadata)."""


# --------------------------------------------------------------------------- export parsing


@dataclass
class ExportedSubmission:
    id: str
    submitters: list = field(default_factory=list)  # [{"name", "sid", "email"}]
    created_at: str | None = None
    score: float | None = None  # Gradescope's score at export time
    present: bool = True  # False when the metadata lists it but the export has no folder

    def people(self, key: str) -> str:
        return "; ".join(str(s.get(key) or "") for s in self.submitters)


def _yaml_loader():
    """A SafeLoader that also accepts the Ruby tags some Gradescope exports carry
    (`!ruby/object:BigDecimal 18:0.87e2`, `!ruby/hash:...`) as plain data."""
    import yaml

    class Loader(yaml.SafeLoader):
        pass

    def ruby(loader, suffix, node):
        if isinstance(node, yaml.MappingNode):
            return loader.construct_mapping(node, deep=True)
        if isinstance(node, yaml.SequenceNode):
            return loader.construct_sequence(node, deep=True)
        value = loader.construct_scalar(node)
        if suffix.endswith("BigDecimal"):
            try:
                return float(str(value).split(":")[-1])
            except ValueError:
                return value
        return value

    Loader.add_multi_constructor("!ruby/", ruby)
    return Loader


def _plain(value):
    """Ruby symbol keys (':submitters') lose their colon; dates become ISO strings."""
    if isinstance(value, dict):
        return {str(k).lstrip(":") if isinstance(k, str) else str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, (datetime.datetime, datetime.date)):
        return value.isoformat()
    return value


def parse_metadata(text: str) -> dict[str, ExportedSubmission]:
    """Gradescope's submission_metadata.yml -> {folder name: ExportedSubmission}."""
    import yaml

    try:
        raw = yaml.load(text, Loader=_yaml_loader())  # noqa: S506 - SafeLoader subclass
    except yaml.YAMLError as error:
        raise ExportError(f"{METADATA_NAME} is not valid YAML: {error}") from None
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ExportError(f"{METADATA_NAME} should map submission folders to details")
    found = {}
    for folder, details in _plain(raw).items():
        details = details if isinstance(details, dict) else {}
        submitters = []
        for person in details.get("submitters") or []:
            if isinstance(person, dict):
                submitters.append({k: (None if person.get(k) is None else str(person.get(k)))
                                   for k in ("name", "sid", "email")})
        score = details.get("score")
        found[str(folder)] = ExportedSubmission(
            id=str(folder),
            submitters=submitters,
            created_at=None if details.get("created_at") is None else str(details["created_at"]),
            score=float(score) if isinstance(score, (int, float)) and not isinstance(score, bool) else None,
        )
    return found


def _safe_parts(name: str) -> tuple[str, ...] | None:
    """The path components of a zip member, or None when it could escape the target
    (absolute, drive letter, '..'). Backslashes count as separators: Windows zips use them."""
    parts = [p for p in re.split(r"[\\/]+", name) if p not in ("", ".")]
    if not parts or name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name):
        return None
    if any(p == ".." for p in parts):
        return None
    return tuple(parts)


def _is_symlink(info: zipfile.ZipInfo) -> bool:
    return (info.external_attr >> 16) & 0o170000 == 0o120000


class Export:
    """A Gradescope export: a zip or a folder, with or without submission_metadata.yml.

    Submissions are listed without extracting anything; `materialise()` extracts one
    submission of a zip into a private folder, so a shard only unpacks its own slice."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._zip: zipfile.ZipFile | None = None
        self._members: dict[str, list[tuple[zipfile.ZipInfo, tuple[str, ...]]]] = {}
        self._scratch: tempfile.TemporaryDirectory | None = None
        self.warnings: list[str] = []
        if self.path.is_dir():
            metadata, folders = self._scan_folder()
        elif zipfile.is_zipfile(self.path):
            metadata, folders = self._scan_zip()
        elif self.path.exists():
            raise ExportError(f"{self.path} is neither a folder nor a zip file")
        else:
            raise ExportError(f"{self.path} does not exist")
        listed = dict(metadata)
        for folder in folders:
            listed.setdefault(folder, ExportedSubmission(id=folder))
        for sub in listed.values():
            sub.present = sub.id in folders
        self.submissions = sorted(listed.values(), key=lambda s: natural_key(s.id))

    # -- folders

    def _scan_folder(self):
        root = self.path
        if not (root / METADATA_NAME).is_file():
            inner = [p for p in root.iterdir() if not p.name.startswith(".") and p.name not in _IGNORED_DIRS]
            if len(inner) == 1 and inner[0].is_dir() and (inner[0] / METADATA_NAME).is_file():
                root = inner[0]  # unzipped with its wrapping folder
        self._root = root
        metadata = {}
        if (root / METADATA_NAME).is_file():
            metadata = parse_metadata((root / METADATA_NAME).read_text(encoding="utf-8"))
        folders = {p.name for p in root.iterdir()
                   if p.is_dir() and not p.name.startswith(".") and p.name not in _IGNORED_DIRS}
        return metadata, folders

    # -- zips

    def _scan_zip(self):
        try:
            self._zip = zipfile.ZipFile(self.path)
            infos = self._zip.infolist()
        except (zipfile.BadZipFile, OSError) as error:
            raise ExportError(f"{self.path}: {error}") from None
        safe = []
        for info in infos:
            parts = _safe_parts(info.filename)
            if parts is None:
                raise ExportError(f"{self.path}: unsafe member path {info.filename!r} (refusing the whole export)")
            if parts[0] in _IGNORED_DIRS:
                continue
            if _is_symlink(info):
                self.warnings.append(f"skipped symbolic link {info.filename!r}")
                continue
            safe.append((info, parts))
        # The metadata file marks the export's root (Gradescope may wrap it in one folder).
        # Without it, the zip's top level is the list of submissions.
        prefix: tuple[str, ...] = ()
        meta_hits = [parts for info, parts in safe if parts[-1] == METADATA_NAME and not info.is_dir()]
        if meta_hits:
            prefix = min(meta_hits, key=len)[:-1]
        # Made here, not on first use: job threads extract side by side. It stays private
        # (mkdtemp's 0700): the sandbox copies a submission before its user may read it, so
        # no slot user can read another slot's submission here.
        self._scratch = tempfile.TemporaryDirectory(prefix="beras-regrade-")
        metadata = {}
        for info, parts in safe:
            if parts == prefix + (METADATA_NAME,):
                metadata = parse_metadata(self._zip.read(info).decode("utf-8", "replace"))
        n = len(prefix)
        for info, parts in safe:
            if parts[:n] != prefix or len(parts) <= n + 1:
                continue  # not inside a submission folder (the metadata file, stray files)
            self._members.setdefault(parts[n], []).append((info, parts[n + 1:]))
        for info, parts in safe:  # empty submission folders still count
            if info.is_dir() and parts[:n] == prefix and len(parts) == n + 1:
                self._members.setdefault(parts[n], [])
        return metadata, set(self._members)

    def materialise(self, submission_id: str) -> Path:
        """The folder holding this submission's files (extracted on demand for zips)."""
        if self._zip is None:
            return self._root / submission_id
        target = Path(self._scratch.name) / submission_id
        if target.exists():
            return target
        staging = Path(tempfile.mkdtemp(prefix=".extract-", dir=self._scratch.name))
        budget = MAX_SUBMISSION_BYTES
        for info, rel in self._members.get(submission_id, []):
            dest = staging.joinpath(*rel)
            if info.is_dir():
                dest.mkdir(parents=True, exist_ok=True)
                continue
            dest.parent.mkdir(parents=True, exist_ok=True)
            with self._zip.open(info) as src, open(dest, "wb") as out:
                while True:
                    chunk = src.read(1 << 20)
                    if not chunk:
                        break
                    budget -= len(chunk)
                    if budget < 0:
                        shutil.rmtree(staging, ignore_errors=True)
                        raise ExportError(f"{submission_id}: larger than {MAX_SUBMISSION_BYTES} bytes unpacked")
                    out.write(chunk)
        staging.rename(target)
        return target

    def fingerprint(self, sub: ExportedSubmission) -> str | None:
        """Identifies the submission's files, so resume never reuses results for other files
        under the same id. A zip's members are identified by name, CRC and size, unextracted."""
        if not sub.present:
            return None
        if self._zip is None:
            return tree_fingerprint(self.materialise(sub.id))
        digest = hashlib.sha256()
        for info, rel in sorted(self._members.get(sub.id, []), key=lambda member: member[1]):
            if not info.is_dir():
                digest.update("/".join(rel).encode() + b"\0" + f"{info.CRC}:{info.file_size}".encode())
        return "zip:" + digest.hexdigest()

    def release(self, submission_id: str) -> None:
        """Delete an extracted submission once graded: a big export never sits unpacked whole."""
        if self._zip is not None and self._scratch is not None:
            shutil.rmtree(Path(self._scratch.name) / submission_id, ignore_errors=True)

    def close(self) -> None:
        if self._zip is not None:
            self._zip.close()
        if self._scratch is not None:
            self._scratch.cleanup()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def parse_shard(text: str) -> tuple[int, int]:
    match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text or "")
    if not match:
        raise ValueError(f"--shard takes K/N (for example 2/8), not {text!r}")
    k, n = int(match.group(1)), int(match.group(2))
    if n < 1 or not 1 <= k <= n:
        raise ValueError(f"--shard {text}: K must be between 1 and N")
    return k, n


def shard_slice(items: list, k: int, n: int) -> list:
    """Round-robin over the natural order: balanced, and the same slice on every machine."""
    return [item for index, item in enumerate(items) if index % n == k - 1]


def ids_fingerprint(ids: Iterable[str]) -> str:
    return hashlib.sha256("\n".join(sorted(ids, key=natural_key)).encode()).hexdigest()[:16]


def tree_fingerprint(root: Path) -> str:
    """A hash of a submission's files (names and bytes), so that resume never reuses
    results for different files under the same submission id."""
    digest = hashlib.sha256()
    if root.is_dir():
        for path in sorted(p for p in root.rglob("*") if p.is_file() and not p.is_symlink()):
            digest.update(path.relative_to(root).as_posix().encode() + b"\0")
            with open(path, "rb") as handle:
                for chunk in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(chunk)
            digest.update(b"\0")
    return digest.hexdigest()


# --------------------------------------------------------------------------- per-submission files


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


def grading_problem(results: dict) -> str | None:
    """Why a results document is not a finished grading, or None when it is one."""
    output = str(results.get("output") or "")
    if not is_incomplete(results):
        return None
    paragraphs = [" ".join(p.replace("**", "").split()) for p in output.split("\n\n") if p.strip()]
    if output.startswith(INCOMPLETE_OPENINGS[0]) and len(paragraphs) > 1:
        reason = "grader error: " + " ".join(paragraphs[1:])  # the details, not the boilerplate
    else:
        reason = paragraphs[0]
    return reason[:500]


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


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


# --------------------------------------------------------------------------- grading


GradeFn = Callable[..., dict]


def default_grade_fn() -> GradeFn:
    from autograder.grading import grade

    return grade


def _accepts(fn: Callable, name: str) -> bool:
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return True
    return name in params or any(p.kind is p.VAR_KEYWORD for p in params.values())


@dataclass
class GradingOptions:
    public_only: bool = False
    extra_pytest_args: tuple = ()
    timeout_s: float | None = None

    def as_record(self) -> dict:
        return {"public_only": self.public_only, "extra_pytest_args": list(self.extra_pytest_args),
                "timeout_s": self.timeout_s}


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
        if problem:
            record.update(status=NOT_GRADED, error=problem)
        else:
            record.update(status=GRADED, error=None)
    except Exception as error:  # the row must exist whatever went wrong
        record.update(status=MISSING if not sub.present else NOT_GRADED,
                      error=f"{type(error).__name__}: {error}".strip())
        record["traceback"] = traceback.format_exc(limit=5)
    finally:
        sweep_user(sandbox_user)
        export.release(sub.id)
    record["duration_s"] = round(time.monotonic() - t0, 3)
    write_json_atomic(sub_dir / RECORD_NAME, record)  # written last: it marks the folder complete
    return record


# --------------------------------------------------------------------------- progress


def _fmt_duration(seconds: float | None) -> str:
    if seconds is None or seconds != seconds:
        return "--:--"
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


class Progress:
    """A one-line bar with an ETA on a terminal; one plain log line per submission otherwise
    (batch schedulers keep logs, not terminals)."""

    def __init__(self, total: int, stream=None, tty: bool | None = None):
        self.total = total
        self.done = 0
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty() if tty is None else tty
        self.t0 = time.monotonic()
        self.lock = threading.Lock()

    def eta(self) -> float | None:
        if self.done == 0:
            return None
        elapsed = time.monotonic() - self.t0
        return elapsed / self.done * (self.total - self.done)

    def update(self, record: dict) -> None:
        with self.lock:
            self.done += 1
            status = record.get("status")
            if status == GRADED:
                what = f"graded {_fmt_number(record.get('total'))}"
            else:
                what = f"{status}: {str(record.get('error') or '')[:80]}"
            if self.tty:
                width = 30
                filled = int(width * self.done / max(self.total, 1))
                bar = "#" * filled + "-" * (width - filled)
                line = (f"\r[{bar}] {self.done}/{self.total} ETA {_fmt_duration(self.eta())} "
                        f"{record.get('submission_id')}: {what}")
                self.stream.write(line[:160].ljust(160))
            else:
                self.stream.write(f"regrade: [{self.done}/{self.total}] {record.get('submission_id')} {what} "
                                  f"in {record.get('duration_s', 0):.1f}s, ETA {_fmt_duration(self.eta())}\n")
            self.stream.flush()

    def close(self) -> None:
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()


# --------------------------------------------------------------------------- tables


def _fmt_number(value) -> str:
    if value is None or value == "":
        return ""
    value = float(value)
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return repr(round(value, 6))


def label_of_test(test: dict, index: int) -> str:
    name = str(test.get("name") or f"test {index + 1}")
    number = test.get("number")
    return f"{number} {name}" if number not in (None, "") else name


def _number_key(number) -> tuple:
    if number in (None, ""):
        return (1,)
    return (0,) + natural_key(str(number))


@dataclass
class Row:
    submission_id: str
    record: dict
    results: dict | None

    @property
    def status(self) -> str:
        return self.record.get("status") or NOT_GRADED

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
    for sub_dir in sorted((p for p in out_dir.iterdir() if p.is_dir()), key=lambda p: natural_key(p.name)):
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
        for position, (label, test) in enumerate(row.tests()):
            if label not in order:
                order[label] = (_number_key(test.get("number")), len(order))
    return sorted(order, key=lambda label: order[label])


def scores_csv(rows: list[Row]) -> str:
    columns = columns_of_tests(rows)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(list(FIXED_COLUMNS) + columns)
    for row in rows:
        people = row.record.get("submitters") or []
        scores = {label: test.get("score") for label, test in row.tests()}
        writer.writerow([
            row.submission_id,
            "; ".join(str(p.get("name") or "") for p in people),
            "; ".join(str(p.get("email") or "") for p in people),
            "; ".join(str(p.get("sid") or "") for p in people),
            row.status,
            _fmt_number(row.total()),
            _fmt_number(row.max_score()),
        ] + [_fmt_number(scores.get(label)) for label in columns])
    return buffer.getvalue()


def is_passed(test: dict) -> bool:
    status = test.get("status")
    if status in ("passed", "failed"):
        return status == "passed"
    return (test.get("score") or 0) >= (test.get("max_score") or 0)


def summary(rows: list[Row]) -> dict:
    """Class statistics. Only results go in (no timings), so it is deterministic."""
    graded = [r for r in rows if r.status == GRADED]
    totals = [r.total() for r in graded]
    maxima = sorted({r.max_score() for r in graded})
    per_test = []
    for label in columns_of_tests(rows):
        entries = [t for r in graded for lab, t in r.tests() if lab == label]
        passed = sum(is_passed(t) for t in entries)
        per_test.append({
            "name": label,
            "max_score": max((t.get("max_score") or 0 for t in entries), default=0),
            "submissions": len(entries),
            "passed": passed,
            "failed": len(entries) - passed,
            "pass_rate": round(passed / len(entries), 6) if entries else None,
            "mean_score": round(statistics.fmean(t.get("score") or 0 for t in entries), 6) if entries else None,
        })
    options = sorted({json.dumps(r.record.get("options"), sort_keys=True) for r in rows})
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
        "tests": per_test,
        "grading_options": [json.loads(o) for o in options],
    }


def write_tables(out_dir: Path) -> list[Row]:
    rows = collect_rows(out_dir)
    write_text_atomic(out_dir / SCORES_NAME, scores_csv(rows))
    write_json_atomic(out_dir / SUMMARY_NAME, summary(rows))
    return rows


# --------------------------------------------------------------------------- the regrade run


def regrade(export_path: Path, out_dir: Path, *, jobs: int | None = None, shard: tuple[int, int] = (1, 1),
            force: bool = False, options: GradingOptions | None = None, grade_fn: GradeFn | None = None,
            progress_stream=None, tty: bool | None = None) -> dict:
    """Grade the (shard of the) export into out_dir. Returns the run record (also run.json)."""
    options = options or GradingOptions()
    jobs = max(1, jobs or len(os.sched_getaffinity(0)))
    grade_fn = grade_fn or default_grade_fn()
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
    print(f"regrade: graded {graded_now}/{len(records)} in {_fmt_duration(wall)}"
          + (f" ({run['submissions_per_minute']:.2f}/min)" if run["submissions_per_minute"] else "")
          + f"; {len(bad)} could not be graded; wrote {out_dir / SCORES_NAME}", file=log, flush=True)
    return run


def _grade_all(todo, export, out_dir, grade_fn, options, users, progress) -> list[dict]:
    """A slot is held for one submission at a time, and so is its user."""
    def work(sub, user, slot):
        record = grade_submission(sub, export, out_dir, grade_fn, options, user, slot, export.fingerprint(sub))
        results = read_json(out_dir / sub.id / RESULTS_NAME) if record["status"] == GRADED else None
        return dict(record, total=Row(sub.id, record, results).total())

    try:
        return run_on_slots(todo, users, work, progress.update)
    except KeyboardInterrupt:
        progress.stream.write("\nregrade: interrupted; letting the gradings in progress finish "
                              "so that their results are kept (Ctrl-C again to abandon them)\n")
        raise
    finally:
        progress.close()


# --------------------------------------------------------------------------- merge


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
        if shard_dir.resolve() == out_dir.resolve():
            continue
        for sub_dir in sorted(p for p in shard_dir.iterdir() if p.is_dir()):
            record = read_json(sub_dir / RECORD_NAME)
            if not isinstance(record, dict):
                continue
            target = out_dir / sub_dir.name
            existing = read_json(target / RECORD_NAME)
            if isinstance(existing, dict) and existing.get("status") == GRADED and record.get("status") != GRADED:
                continue  # keep the good copy
            if isinstance(existing, dict) and existing.get("status") == GRADED and record.get("status") == GRADED:
                if read_json(target / RESULTS_NAME) != read_json(sub_dir / RESULTS_NAME):
                    problems.append(f"{sub_dir.name}: graded in two shards with different results; kept {target}")
                continue
            _copy_submission(sub_dir, target)
    # Completeness: every shard 1..N of one export, and every assigned submission present.
    counts = {(tuple(r.get("shard") or (1, 1))[1], r.get("export_fingerprint")) for r in runs if r.get("command") == "regrade"}
    if len(counts) > 1:
        problems.append("the shards come from different exports or different shard counts")
    expected_ids: set[str] = set()
    for n, fingerprint in counts:
        have = {tuple(r["shard"])[0] for r in runs if r.get("command") == "regrade"
                and tuple(r["shard"])[1] == n and r.get("export_fingerprint") == fingerprint}
        missing = sorted(set(range(1, n + 1)) - have)
        if missing:
            problems.append(f"missing shard(s) {', '.join(f'{k}/{n}' for k in missing)}")
    for r in runs:
        expected_ids.update(r.get("assigned") or [])
    rows = write_tables(out_dir)
    present = {row.submission_id: row.status for row in rows}
    for sub_id in sorted(expected_ids, key=natural_key):
        if sub_id not in present:
            problems.append(f"{sub_id}: assigned to a shard but has no output")
        elif present[sub_id] != GRADED:
            problems.append(f"{sub_id}: {present[sub_id]}")
    run = {"command": "merge", "sources": [str(p) for p in shard_dirs],
           "runs": [{k: r.get(k) for k in ("source", "shard", "jobs", "wall_s", "attempted", "graded",
                                            "submissions_per_minute")} for r in runs],
           "submissions": len(rows), "problems": problems}
    write_json_atomic(out_dir / RUN_NAME, run)
    for problem in problems:
        print(f"merge: {problem}", file=log)
    print(f"merge: {len(rows)} submissions from {len(shard_dirs)} folder(s) into {out_dir}", file=log, flush=True)
    return run, problems


def _copy_submission(source: Path, target: Path) -> None:
    staging = Path(tempfile.mkdtemp(prefix=f".{source.name}.", dir=target.parent))
    for item in source.iterdir():
        if item.is_file() and not item.name.startswith("."):
            shutil.copy2(item, staging / item.name)
    if target.exists():
        shutil.rmtree(target)
    staging.rename(target)


# --------------------------------------------------------------------------- command line


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
    except KeyboardInterrupt:
        print(f"\n{command}: interrupted; run the same command again to resume", file=sys.stderr)
        return 130


def main(argv: list[str] | None = None) -> int:
    """`python -m autograder.regrade {regrade,merge} ...` (the usual entry is `python -m autograder`)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    command = argv.pop(0) if argv and argv[0] in ("regrade", "merge") else "regrade"
    parser = argparse.ArgumentParser(prog=f"python -m autograder {command}")
    configure(parser, command)
    return run(parser.parse_args(argv), command)


if __name__ == "__main__":
    sys.exit(main())
