"""Grading one submission in a child process (and the course, re-exported from course.py).

`grade()` is what TA tools call (regrade, validate, bench): every submission gets its own
trusted `python -m autograder grade` process, so nothing one submission does to a grading
process (or its memory) can reach the next one.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Iterable, Mapping

from autograder import results as results_mod
from autograder import tempfolders
# The course is read by autograder/course.py; TA tools reach it through this module.
from autograder.course import ENGINE_ROOT, Course, load as load_course

__all__ = ["grade", "grade_command", "load_course", "Course", "ENGINE_ROOT", "stop_running"]

# The grading processes of this process's threads: a batch's threads wait on them, and only
# the main thread sees an interrupt, so it is the one that must stop them (stop_running).
_running: set[subprocess.Popen] = set()
_stopped: set[subprocess.Popen] = set()
_running_lock = threading.Lock()
_stopping = threading.Event()


def grade_command(submission: Path, out: Path, *, public_only: bool = False,
                  config: Path | None = None, extra_pytest_args: Iterable[str] = ()) -> list[str]:
    cmd = [sys.executable, "-m", "autograder", "grade", str(submission), "--out", str(out), "--quiet"]
    if public_only:
        cmd.append("--public-only")
    if config is not None:
        cmd += ["--config", str(config)]
    extra = list(extra_pytest_args)
    if extra:
        cmd += ["--", *extra]
    return cmd


def grade(submission: Path | str, out: Path | str | None = None, *, public_only: bool = False,
          sandbox_user: str | None = None, extra_pytest_args: Iterable[str] = (),
          timeout_s: float | None = None, config: Path | str | None = None,
          env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Grade `submission` in a fresh trusted process and return its results.json. `env`
    adds to the process's environment (validate's AUTOGRADER_PORTABLE=1 twin gradings).

    The returned document is always valid: if the child is killed by `timeout_s` or dies,
    the file it last wrote atomically (its fallback or progress) is what comes back, with
    a note saying the run did not finish."""
    submission = Path(submission).resolve()
    with tempfile.TemporaryDirectory(prefix="autograder-grade-") as tmp:
        target = Path(out).resolve() if out is not None else Path(tmp) / "results.json"
        cmd = grade_command(submission, target, public_only=public_only,
                            config=Path(config).resolve() if config else None,
                            extra_pytest_args=extra_pytest_args)
        env = {**os.environ, **(env or {})}
        if sandbox_user:
            env["AUTOGRADER_SANDBOX_USER"] = sandbox_user
        cmd = hide_arguments(cmd, Path(tmp))
        # The child records its temporary folders here; we remove them however it ends.
        env[tempfolders.RECORD_ENV] = record = os.path.join(tmp, "temporary-folders")
        proc = subprocess.Popen(cmd, cwd=ENGINE_ROOT, env=env, start_new_session=True,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        with _running_lock:
            _running.add(proc)
        if _stopping.is_set():  # started as the batch was being stopped: stop_running may have missed it
            _stop_groups([proc], grace_s=0.0)
        try:
            log, _ = proc.communicate(timeout=timeout_s)
            problem = None if proc.returncode in (0, 1) else f"the grading process exited with {proc.returncode}"
            if proc.returncode < 0:  # killed: by the OOM killer, most often
                problem = tempfolders.killed_reason(-proc.returncode)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            log, _ = proc.communicate()
            problem = f"the grading process took longer than {timeout_s:g} s and was stopped"
        finally:
            _kill_group(proc, grace_s=0.0)  # whatever it started and left behind
            tempfolders.remove_recorded(record)
            with _running_lock:
                _running.discard(proc)
                stopped = proc in _stopped
                _stopped.discard(proc)
        try:
            doc = results_mod.read(target)
            valid = not results_mod.problems(doc)
        except (OSError, ValueError):
            doc, valid = None, False
        if not valid:
            doc = results_mod.grader_error(problem or "the grading process wrote no results")
            results_mod.write_atomic(target, doc)
        elif problem and proc.returncode < 0 and not doc.get("tests"):
            doc = results_mod.fallback(results_mod.did_not_finish(problem))  # no test ran: only why
            results_mod.write_atomic(target, doc)
        elif problem and proc.returncode != 3:
            doc["output"] = results_mod.did_not_finish(problem.rstrip(".") + ".") + "\n\n" + doc.get("output", "")
            results_mod.write_atomic(target, doc)
        if problem and not stopped:  # a stopped batch says so once, not once per grading
            sys.stderr.write(f"autograder: {submission}: {problem}\n{log.decode(errors='replace')[-4000:]}\n")
        return doc


def hide_arguments(cmd: list[str], private_dir: Path) -> list[str]:
    """The same command with its arguments in a file of `private_dir` (root's, 0700): on a
    machine without PID namespaces, student code of any grading can read every command
    line, and these name the submission (cli.py reads the file back)."""
    from autograder.cli import ARGS_FILE_OPTION
    head = cmd.index("grade") + 1
    args_file = private_dir / "arguments.json"
    args_file.write_text(json.dumps(cmd[head:]), encoding="utf-8")
    return [*cmd[:head], ARGS_FILE_OPTION, str(args_file)]


def stop_running(grace_s: float = 10.0) -> None:
    """Stop every grading process this process's threads are waiting on, as a timeout does
    (SIGTERM, then SIGKILL after `grace_s`): each thread's grade() then returns and removes
    its folders. Gradings that start while this runs are stopped at once; call
    `allow_running()` when the batch is over."""
    _stopping.set()
    with _running_lock:
        procs = list(_running)
    _stop_groups(procs, grace_s)


def allow_running() -> None:
    _stopping.clear()


def _stop_groups(procs: list[subprocess.Popen], grace_s: float) -> None:
    with _running_lock:
        _stopped.update(procs)
    # All groups at once, then one deadline: a grace each, one after the other, could
    # outlast the patience of whoever sent the SIGTERM.
    for sig, wait in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 0.0)):
        if sig == signal.SIGTERM and not grace_s:
            continue
        for proc in procs:
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, sig)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + wait
        while any(p.poll() is None for p in procs) and time.monotonic() < deadline:
            time.sleep(0.05)


def _kill_group(proc: subprocess.Popen, grace_s: float = 10.0) -> None:
    """SIGTERM first: the grading process then stops its workers and writes its final file.
    (grace_s=0: straight to SIGKILL, for what is left of a group whose leader has ended.)"""
    for sig, wait in ((signal.SIGTERM, grace_s), (signal.SIGKILL, None)):
        if sig == signal.SIGTERM and not grace_s:
            continue
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue
