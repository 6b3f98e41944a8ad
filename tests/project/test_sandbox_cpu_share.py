"""A grading's trusted side and its workers share one CPU (cpu_share.py), and gradings open at
the same time never share one while another is free: a grading that finds every CPU taken
runs wherever the kernel puts it, on every CPU its process had before any pinning."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from autograder import lockfiles
from autograder.lockfiles import LOCK_DIR_ENV
from autograder.sandbox import Sandbox, SandboxConfig

CASES = Path(__file__).parent / "sandbox_cases"
PROJECT = Path(__file__).resolve().parents[2]
CPUS = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else set()

pytestmark = pytest.mark.skipif(len(CPUS) < 2, reason="one CPU (or no CPU affinity on this "
                                "system): there is nothing to share or to keep apart")


@pytest.fixture(autouse=True)
def own_locks(tmp_path, monkeypatch):
    """The CPU locks in a folder of this test's, so that no grading running elsewhere on the
    machine takes a CPU from under it."""
    monkeypatch.setenv(LOCK_DIR_ENV, str(tmp_path))


def worker_cpus(box):
    with box.worker() as w:
        return set(w.fetch(w.import_module("builtins").sorted(w.import_module("os").sched_getaffinity(0))))


def test_the_grader_and_its_workers_run_on_one_cpu_while_the_sandbox_is_open():
    before = os.sched_getaffinity(0)
    with Sandbox(CASES / "basic") as box:
        cpu = box._cpu.cpu
        assert cpu in CPUS
        assert os.sched_getaffinity(0) == {cpu}
        assert worker_cpus(box) == {cpu}
        assert worker_cpus(box) == {cpu}  # the next worker too
    assert os.sched_getaffinity(0) == before


def test_sandboxes_open_at_once_get_cpus_of_their_own_until_none_is_left():
    boxes = []
    try:
        for _ in CPUS:
            boxes.append(Sandbox(CASES / "basic"))
        claimed = [box._cpu.cpu for box in boxes]
        assert sorted(claimed) == sorted(CPUS)
        for box, cpu in zip(boxes, claimed):
            assert worker_cpus(box) == {cpu}
        with Sandbox(CASES / "basic") as extra:
            assert extra._cpu.cpu is None
            assert worker_cpus(extra) == CPUS
            assert os.sched_getaffinity(0) == CPUS
    finally:
        for box in reversed(boxes):
            box.close()
    assert os.sched_getaffinity(0) == CPUS


def test_a_process_started_while_a_sandbox_is_open_claims_another_cpu_not_the_inherited_one():
    """It inherits the pinning (a test's grading, a regrade started by a test): its own
    sandbox must take a free CPU, not stay on its parent's."""
    child = ("import json, os, sys; from autograder.sandbox import Sandbox\n"
             "with Sandbox(sys.argv[1]) as box, box.worker() as w:\n"
             "    cpus = w.fetch(w.import_module('builtins').sorted(w.import_module('os').sched_getaffinity(0)))\n"
             "    print(json.dumps([box._cpu.cpu, cpus]))\n")
    with Sandbox(CASES / "basic") as box:
        parent = box._cpu.cpu
        out = subprocess.run([sys.executable, "-c", child, str(CASES / "basic")], cwd=PROJECT,
                             capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr
        cpu, cpus = json.loads(out.stdout.splitlines()[-1])
    assert cpu in CPUS and cpu != parent
    assert cpus == [cpu]


def test_a_course_can_turn_sharing_off():
    with Sandbox(CASES / "basic", SandboxConfig(share_cpu=False)) as box:
        assert box._cpu.cpu is None
        assert os.sched_getaffinity(0) == CPUS
        assert worker_cpus(box) == CPUS


def test_a_refused_move_never_stops_a_grading(monkeypatch):
    """A container's cpuset or seccomp profile may refuse sched_setaffinity: the grading
    then runs where it is, and claims no CPU it cannot use."""
    def refuse(pid, cpus):
        raise PermissionError(1, "Operation not permitted")
    monkeypatch.setattr(os, "sched_setaffinity", refuse)
    with Sandbox(CASES / "basic") as box:
        assert box._cpu.cpu is None
        assert worker_cpus(box) == CPUS
        held = [lockfiles.try_lock(f"autograder-cpu-{cpu}.lock") for cpu in sorted(CPUS)]
    assert None not in held, "a CPU it could not use stayed claimed"
