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

A sandbox user made for the grading (sandbox/layers/sandbox_user.py: a random uid per grading) is
recorded the same way (a line `user NAME`): its processes, IPC objects and files in the
shared temporary folders go, then the user.

A grading run by hand (`python -m autograder grade`, `check`) has no such parent. So every
grading process also keeps its own record in a registry folder (`/run/beras-autograder/
gradings` as root), named after its pid and start time; every grading starts by sweeping
the records whose process is gone, however it ended (`sweep_stale`; Linux only). What a SIGKILLed hand-run grading left goes at the next grading at the latest.
"""
from __future__ import annotations

import contextlib
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
    _append(os.fsencode(os.path.abspath(path)) + b"\n")


def record_user(name: str) -> None:
    """A sandbox user made for this grading (before it is created): removed like the folders."""
    _append(USER_LINE + name.encode() + b"\n")


USER_LINE = b"user "


def _append(line: bytes) -> None:
    name = os.environ.get(RECORD_ENV)
    if name:
        try:
            fd = os.open(name, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        except OSError:  # the parent's folder is gone: grading goes on, and cleans up after itself
            fd = None
        if fd is not None:
            try:
                os.write(fd, line)
            finally:
                os.close(fd)
    own = _own_record()
    if own is not None:
        with contextlib.suppress(OSError):
            os.write(own, line)


def remove_recorded(record_file: str | Path) -> list[str]:
    """Remove every folder and sandbox user named in `record_file` that is still there (the
    users first: nothing of theirs may still write below a folder); the removed paths."""
    try:
        lines = Path(record_file).read_bytes().splitlines()
    except OSError:
        return []
    for raw in dict.fromkeys(lines):
        if raw.startswith(USER_LINE):
            _remove_user(raw[len(USER_LINE):].decode(errors="replace"))
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


def _remove_user(name: str) -> None:
    if os.name != "posix" or os.geteuid() != 0:
        return
    from autograder.sandbox.layers.sweeping import clean_shared_temp
    from autograder.sandbox.layers.sandbox_user import grading_uid, is_grading_user, remove_grading_user
    if is_grading_user(name) and remove_grading_user(name):
        clean_shared_temp(grading_uid(name))  # what it left in /tmp, /dev/shm, ...


# ---------------------------------------------------------------- the registry of gradings

ROOT_REGISTRY = "/run/beras-autograder/gradings"  # root-only, like the users' claim locks
_own: list = []  # [fd of this process's record, its path, pid], once made


def registry() -> Path | None:
    """The folder of the gradings' own records: root's under /run, else the user's (in
    $XDG_RUNTIME_DIR, else ~/.cache), never in the temporary folder. Linux only (a record's
    owner is checked in /proc); None where it cannot be made safely (not ours, open to
    others): then only a parent cleans up."""
    if not sys.platform.startswith("linux"):
        return None
    if os.geteuid() == 0:
        folder = Path(ROOT_REGISTRY)
    else:
        runtime = os.environ.get("XDG_RUNTIME_DIR")
        cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        base = runtime if runtime and os.path.isdir(runtime) else cache
        folder = Path(base) / "beras-autograder" / "gradings"
    try:
        os.makedirs(folder.parent, mode=0o700, exist_ok=True)  # both 0700 when we make them
        folder.mkdir(mode=0o700, exist_ok=True)
        info = os.lstat(folder)
    except OSError:
        return None
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid() or info.st_mode & 0o077:
        return None
    return folder


def _started(pid: int) -> str | None:
    """When process `pid` started (clock ticks since boot), or None if there is none: with
    the pid, it names one process for good (a pid alone may be reused)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            fields = handle.read().rsplit(b")", 1)[1].split()
        # fields 3 and 22, counted after the command's closing parenthesis; a zombie has ended
        return None if fields[0] in (b"Z", b"X") else fields[19].decode()
    except (OSError, IndexError):
        return None


def _own_record() -> int | None:
    """This process's record, `<pid>-<start time>.record`, made on first use."""
    if _own and _own[2] == os.getpid():
        return _own[0]
    folder = registry()
    started = _started(os.getpid())
    if folder is None or started is None:
        return None
    path = folder / f"{os.getpid()}-{started}.record"
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
    except OSError:
        return None
    import atexit
    _own[:] = [fd, path, os.getpid()]
    atexit.register(_finish_own)
    return fd


def _finish_own() -> None:
    """At this process's exit: whatever it recorded and did not remove goes, then the record."""
    if not _own or _own[2] != os.getpid():
        return  # a forked child exiting: the record is its parent's
    fd, path, _ = _own
    with contextlib.suppress(Exception):
        remove_recorded(path)
    with contextlib.suppress(OSError):
        os.unlink(path)
    with contextlib.suppress(OSError):
        os.close(fd)
    _own.clear()


def sweep_stale() -> list[str]:
    """Remove what ended gradings left: every record in the registry whose process is gone
    (however it ended). Returns the folders removed."""
    folder = registry()
    if folder is None:
        return []
    removed = []
    for path in sorted(folder.glob("*.record")):
        pid, _, started = path.stem.partition("-")
        if not pid.isdigit() or _started(int(pid)) == started:
            continue  # its grading is alive
        taken = path.with_name(f"{path.stem}.sweeping-{os.getpid()}")
        try:
            os.rename(path, taken)  # one sweeper per record, if two gradings start together
        except OSError:
            continue
        removed += remove_recorded(taken)
        with contextlib.suppress(OSError):
            os.unlink(taken)
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
