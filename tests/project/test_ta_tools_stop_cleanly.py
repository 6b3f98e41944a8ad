"""A TA tool stopped mid-batch (Ctrl-C, or SIGTERM from a supervisor or a job scheduler's time
limit) leaves nothing behind: it exits non-zero within seconds, with a short message and no
traceback, the process groups of the gradings in progress are gone, and so are its work
folder and every grading's temporary folders.

SIGTERM's default action would end Python with no finally block run, and the threads of a
batch wait on grading processes that no Ctrl-C reaches (each is in a session of its own):
both must end in the same clean-up. validate and regrade share it (autograder/batch.py), and
both are stopped here for real.

regrade alone keeps the gradings a first Ctrl-C finds in progress, and lets them finish (a
second Ctrl-C stops them); SIGTERM stops them at once there too (run_on_slots, below, with
fake jobs: no grading).
"""
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import ta_support
from autograder import batch, tempfolders
from autograder.commands import EXIT_STOPPED, Terminated
from engine_cases.harness import folder_sandbox_users_reach

PROJECT = Path(__file__).resolve().parents[2]
# Whatever a grading or validate makes in the temporary folder.
LEFTOVERS = ("autograder-", *tempfolders.PREFIXES)


def processes_naming(text: str) -> dict[int, int]:
    """pid -> process group of every process whose command line holds `text`."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if text.encode() not in (entry / "cmdline").read_bytes():
                continue
            found[int(entry.name)] = os.getpgid(int(entry.name))
        except (OSError, ProcessLookupError):
            continue
    return found


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie leader still counts for killpg: only live members matter.
    for entry in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = entry.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
            return True
    return False


def within(seconds: float, condition) -> bool:
    """Whether `condition()` holds at some point within `seconds`."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


@pytest.fixture
def private_tmp():
    # Sticky and world-writable, as /tmp is: the sandbox users reach what gradings put there.
    with folder_sandbox_users_reach("stop-cleanly-", 0o1777) as folder:
        yield folder


def stop_mid_grading(command: list, signum: int, private_tmp: Path, logs: Path) -> tuple[int, str]:
    """Run `python -m autograder COMMAND` until one of its gradings is under way, send it
    `signum`, and check that it ends within 30 s and leaves no grading and no folder:
    (its exit code, its stderr)."""
    env = {**os.environ, "TMPDIR": str(private_tmp)}
    out, err = logs / "stdout", logs / "stderr"
    with out.open("wb") as stdout, err.open("wb") as stderr:
        tool = subprocess.Popen([sys.executable, "-m", "autograder", *map(str, command)],
                                cwd=PROJECT, env=env, stdout=stdout, stderr=stderr, start_new_session=True)
    graders: dict[int, int] = {}

    def grading_under_way() -> bool:
        # Its command line names its arguments file, in its autograder-grade-* folder.
        graders.update(processes_naming(str(private_tmp / "autograder-grade-")))
        return bool(graders)

    try:
        assert within(600, grading_under_way), out.read_text()[-3000:] + err.read_text()[-3000:]
        time.sleep(1.0)  # its pytest has started
        tool.send_signal(signum)
        try:
            code = tool.wait(timeout=30)  # a grading's SIGTERM grace (10 s), and slack
        except subprocess.TimeoutExpired:
            pytest.fail(f"{command[0]} still running 30 s after {signal.Signals(signum).name}")
        left = sorted(p.name for p in private_tmp.iterdir() if p.name.startswith(LEFTOVERS))
        assert left == [], left
        groups = set(graders.values())
        assert within(5, lambda: not any(group_alive(g) for g in groups)), groups
        assert within(5, lambda: not processes_naming(str(private_tmp))), processes_naming(str(private_tmp))
        stderr_text = err.read_text()
        assert "Traceback" not in stderr_text, stderr_text[-3000:]
        return code, stderr_text
    finally:
        # Only what this run started and still runs (a failure): nothing of it outlives the test.
        stray = set(processes_naming(str(private_tmp)).values())
        if tool.poll() is None:
            stray.add(tool.pid)
        for pgid in stray:
            try:
                os.killpg(pgid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        tool.wait()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "Ctrl-C"])
def test_validate_stopped_mid_grading_leaves_no_grading_and_no_folder(signum, private_tmp, mnist_dir, tmp_path):
    code, stderr = stop_mid_grading(["validate", "--only", "softmax-no-max-shift", "--no-determinism",
                                     "--jobs", "1"], signum, private_tmp, tmp_path)
    assert code == EXIT_STOPPED
    assert "validate: interrupted" in stderr, stderr[-3000:]


def test_regrade_stopped_by_sigterm_leaves_no_grading_and_no_folder(private_tmp, mnist_dir, tmp_path):
    export, _ = ta_support.build_export(tmp_path / "export", count=2)
    # Whole gradings (10-20 s each): none can end before the signal, a second after the first began.
    code, stderr = stop_mid_grading(["regrade", export, "--out", tmp_path / "regrade", "--jobs", "2"],
                                    signal.SIGTERM, private_tmp, tmp_path)
    assert code == EXIT_STOPPED
    assert "regrade: interrupted; run the same command again to resume" in stderr, stderr[-3000:]


@pytest.mark.parametrize("interrupt, lets_finish, expected", [
    ("Ctrl-C", False, "stopped"),          # validate: its results would be thrown away
    ("SIGTERM", False, "stopped"),
    ("Ctrl-C", True, "finished"),          # regrade: their results are kept
    ("Ctrl-C twice", True, "stopped"),
    ("SIGTERM", True, "stopped"),          # whoever sent it will not wait
], ids=lambda v: str(v))
def test_an_interrupted_batch_stops_its_gradings_in_progress_unless_asked_to_let_them_finish(
        interrupt, lets_finish, expected, monkeypatch):
    main = threading.get_ident()
    release, slow_started, told = threading.Event(), threading.Event(), []
    monkeypatch.setattr(batch.grading, "stop_running", lambda grace_s=10.0: (told.append("stopped"), release.set()))
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)

    def work(item, user, slot):
        if item == "slow":  # a grading in progress when the interrupt comes
            slow_started.set()
            return "finished" if not release.wait(1.0) else "stopped"
        return item

    def on_done(result):
        assert slow_started.wait(10)
        raise Terminated("signal 15") if interrupt == "SIGTERM" else KeyboardInterrupt

    def on_interrupt():
        told.append("letting them finish")
        if interrupt == "Ctrl-C twice":  # while the batch waits for them
            threading.Timer(0.2, signal.pthread_kill, [main, signal.SIGINT]).start()

    outcomes = []
    try:
        with pytest.raises(KeyboardInterrupt):
            batch.run_on_slots(["quick", "slow"], [None, None],
                               lambda *a: outcomes.append(work(*a)) or outcomes[-1], on_done,
                               on_interrupt=on_interrupt if lets_finish else None)
    finally:
        signal.signal(signal.SIGINT, previous)
    assert outcomes == ["quick", expected]  # and it had ended when run_on_slots raised
    assert ("letting them finish" in told) == (lets_finish and interrupt != "SIGTERM")
    assert ("stopped" in told) == (expected == "stopped")
