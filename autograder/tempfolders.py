"""Temporary folders of a grading, removed even when the grading process is killed.

A grading process creates folders that hold student code and our tests (the prepared
submission, the unpacked zip, the sandbox's folder). It removes them itself when it ends;
but a SIGKILL (the kernel's OOM killer, a timeout) gives it no chance. So the process that
started it, and outlives it (`grading.grade`, `run_autograder`), names a record file in
$AUTOGRADER_TEMP_RECORD, in a folder of its own; the grading process appends each folder's
path to it the moment the folder exists (empty, 0700), and the parent removes every
recorded folder after the grading process has ended, however it ended.

    python -m autograder.tempfolders RECORD STATUS RESULTS   (run_autograder, after grading)

removes the recorded folders and, when STATUS says the grading process was killed by a
signal, rewrites RESULTS to say so (a valid document, keeping the tests already recorded).
"""
from __future__ import annotations

import os
import shutil
import signal
import stat
import sys
import tempfile
from pathlib import Path

RECORD_ENV = "AUTOGRADER_TEMP_RECORD"
# Only folders with these names are ever removed from a record, and only real folders.
PREFIXES = ("beras-sandbox-", "autograder-submission-", "autograder-unpack-")


def make(prefix: str, dir: str | Path | None = None) -> Path:
    """mkdtemp (0700 from its creation), recorded for the parent before anything goes in."""
    path = Path(tempfile.mkdtemp(prefix=prefix, dir=dir))
    record(path)
    return path


def record(path: Path) -> None:
    name = os.environ.get(RECORD_ENV)
    if not name:
        return
    try:
        fd = os.open(name, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    except OSError:  # the parent's folder is gone: grading goes on, and cleans up after itself
        return
    try:
        os.write(fd, os.fsencode(os.path.abspath(path)) + b"\n")
    finally:
        os.close(fd)


def remove_recorded(record_file: str | Path) -> list[str]:
    """Remove every folder named in `record_file` that is still there; the removed paths."""
    try:
        lines = Path(record_file).read_bytes().splitlines()
    except OSError:
        return []
    removed = []
    for raw in dict.fromkeys(lines):  # once each, in order
        path = os.fsdecode(raw)
        if not (os.path.isabs(path) and os.path.basename(path).startswith(PREFIXES)):
            continue
        try:
            info = os.lstat(path)
        except OSError:
            continue
        if stat.S_ISDIR(info.st_mode):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


def killed_reason(signum: int) -> str:
    """What a results document says when the grading process died of signal `signum`."""
    name = signal.Signals(signum).name if signum in signal.Signals._value2member_map_ else f"signal {signum}"
    cause = " (most often: the grading ran out of memory)" if signum == signal.SIGKILL else ""
    return (f"the grading process was killed by {name}{cause}. This is not a judgement of your code; "
            f"please contact the course staff.")


def mark_killed(results_path: str | Path, signum: int) -> dict:
    """Rewrite `results_path` to say the grading process was killed: its last valid document
    (the tests recorded so far) with that opening, or a fallback that says only that."""
    from autograder import results as results_mod
    reason = killed_reason(signum)
    try:
        doc = results_mod.read(results_path)
        if results_mod.problems(doc) or not doc.get("tests"):
            raise ValueError("invalid, or only a fallback")
        doc["output"] = results_mod.did_not_finish(reason) + "\n\n" + str(doc.get("output") or "")
        doc["score"] = results_mod.clean_number(sum(t.get("score", 0) for t in doc.get("tests", [])))
    except (OSError, ValueError):
        doc = results_mod.fallback(results_mod.did_not_finish(reason))
    results_mod.write_atomic(results_path, doc)
    return doc


def main(argv: list[str]) -> int:
    record_file, status, results_path = argv
    removed = remove_recorded(record_file)
    if removed:
        print(f"autograder: removed {len(removed)} temporary folder(s) the grading left behind")
    code = int(status)
    if code > 128:  # the shell's status of a process killed by signal (code - 128)
        mark_killed(results_path, code - 128)
        print(f"autograder: the grading process was killed by signal {code - 128}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
