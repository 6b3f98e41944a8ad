"""Hostile student code at the sandbox level: every attack gives a clear error, nothing of it
survives, and the next worker is fresh and works. Real processes, real limits."""
import time
from pathlib import Path

import numpy as np
import pytest

from autograder.sandbox import (BadValue, Sandbox, SandboxConfig, StudentError, TooLarge, WorkerCrashed,
                                WorkerTimeout, budget_for, fetch, processes)
from autograder.sandbox.layers import namespaces

CASES = Path(__file__).parent / "sandbox_cases"
CONFIG = SandboxConfig(call_timeout_s=2, memory_mb=384, max_value_mb=8, max_processes=32)
# Every attack runs twice: with every layer, and in Docker mode (Gradescope's container: no
# namespaces; conftest's sandbox_mode).
pytestmark = pytest.mark.usefixtures("sandbox_mode")


@pytest.fixture(scope="module")
def box(sandbox_mode):
    with Sandbox(CASES / "hostile", CONFIG) as b:
        yield b


def leftovers(box):
    """Running processes (threads counted, not states) that carry this sandbox's token,
    other than its zygote."""
    zygote = box._zygote.tree_roots() if box._zygote else set()
    token = f"AUTOGRADER_SANDBOX_TOKEN={box._token}"
    procs = processes.processes()
    return [pid for pid in processes.pids_with_env(token)
            if pid not in zygote and pid in procs and processes.running(procs[pid])]


def next_worker_works(box):
    with box.worker() as w:
        assert fetch(w.import_module("hostile").sleep(0)) == "woke"
    assert leftovers(box) == []


def attack(box, call, expected):
    """Run one attack in a fresh worker; return the error, after checking the aftermath."""
    with box.worker() as w:
        with pytest.raises(expected) as info:
            call(w)
        assert isinstance(info.value, StudentError)
    next_worker_works(box)
    return info.value


def hostile(w):
    return w.import_module("hostile")


@pytest.mark.parametrize("code", [0, 3])
def test_sys_exit_in_a_call(box, code):
    err = attack(box, lambda w: hostile(w).exit_now(code), WorkerCrashed)
    assert err.type_name == "SystemExit" and f"exit code {code}" in err.message
    assert err.location.file == "hostile.py" and err.location.line == 11
    assert "hostile.exit_now" in err.message


def test_os_exit_in_a_call(box):
    err = attack(box, lambda w: hostile(w).os_exit(4), WorkerCrashed)
    assert "status 4" in err.message and "hostile.os_exit" in err.message


def test_sys_exit_at_import(box):
    err = attack(box, lambda w: w.import_module("exit_at_import"), WorkerCrashed)
    assert err.type_name == "SystemExit" and (err.location.file, err.location.line) == ("exit_at_import.py", 3)
    assert "importing exit_at_import" in err.message


def test_os_exit_at_import(box):
    err = attack(box, lambda w: w.import_module("os_exit_at_import"), WorkerCrashed)
    assert "status 5" in err.message and "importing os_exit_at_import" in err.message


def test_syntax_error_names_file_and_line(box):
    err = attack(box, lambda w: w.import_module("broken_syntax"), StudentError)
    assert err.type_name == "SyntaxError" and (err.location.file, err.location.line) == ("broken_syntax.py", 1)


@pytest.mark.parametrize("fn", ["spin", "sleep"])
def test_wall_clock_limit_stops_loops_and_sleeps(box, fn):
    start = time.monotonic()
    err = attack(box, lambda w: getattr(hostile(w), fn)(60) if fn == "sleep" else hostile(w).spin(),
                 WorkerTimeout)
    assert time.monotonic() - start < 10
    assert "did not finish within 2 s" in err.message and f"hostile.{fn}" in err.message


def test_cpu_limit_stops_a_spinning_worker():
    cfg = CONFIG.with_(cpu_s=1, call_timeout_s=30)
    with Sandbox(CASES / "hostile", cfg) as b:
        start = time.monotonic()
        err = attack(b, lambda w: hostile(w).spin(), WorkerTimeout)
    assert time.monotonic() - start < 10
    assert "CPU time limit of 1 s" in err.message


def test_output_flood_neither_blocks_nor_fills_memory(box):
    with box.worker() as w:
        start = time.monotonic()
        assert fetch(hostile(w).flood(50)) == "flooded"    # 50 MB through a 64 KB window
        out = w.output()
    assert time.monotonic() - start < 15
    assert len(out) < 70_000 and "more bytes of output not shown" in out
    next_worker_works(box)


def test_memory_bomb_hits_the_limit():
    with Sandbox(CASES / "hostile", CONFIG.with_(call_timeout_s=30)) as b:  # slow machines
        err = attack(b, lambda w: hostile(w).memory_bomb(), WorkerCrashed)
    assert err.type_name.endswith("MemoryError") and "384 MB" in err.message
    assert err.location.file == "hostile.py"


def test_fork_bomb_is_contained_and_cleaned_up(box):
    with box.worker() as w:
        with pytest.raises(StudentError) as info:
            hostile(w).fork_bomb()
        assert info.value.type_name == "BlockingIOError"   # the process limit said no
    assert leftovers(box) == []
    next_worker_works(box)


def host_pid(box, pid):
    """A pid seen inside the sandbox's PID namespace, as this process sees it."""
    init = box._zygote.init_pid if box._zygote else None
    if init is None:
        return pid
    found = [p for p in processes.descendants(init, processes.processes()) if namespaces.ns_pid_of(p) == pid]
    assert len(found) == 1, (pid, found)
    return found[0]


def test_setsid_daemon_does_not_outlive_its_worker(box):
    with box.worker() as w:
        pid = host_pid(box, fetch(hostile(w).daemon()))
        assert processes.read_proc(pid) is not None              # it did escape its session...
        assert processes.read_proc(pid).sid != processes.read_proc(w.pid).sid
    assert processes.read_proc(pid) is None                      # ...and still did not survive
    assert leftovers(box) == []


def test_always_equal_object_is_refused(box):
    with box.worker() as w:
        with pytest.raises(BadValue, match="object of type AlwaysEqual"):
            fetch(hostile(w).always_equal())
        assert w.alive                                         # a bad value is not a crash


def test_ndarray_subclass_with_fake_eq_comes_back_plain(box):
    with box.worker() as w:
        arr = fetch(hostile(w).sneaky_array())
    assert type(arr) is np.ndarray
    assert (arr == 5).tolist() == [False, False, False]


def test_nan_and_inf_pass_through_as_values(box):
    with box.worker() as w:
        arr, nan, neg_inf = fetch(hostile(w).specials())
    assert np.isnan(arr[0]) and arr[1] == np.inf and arr[2] == -np.inf
    assert np.isnan(nan) and neg_inf == -np.inf


def test_huge_and_object_arrays_are_bad_values(box):
    with box.worker() as w:
        h = hostile(w)
        with pytest.raises(BadValue, match="over the 8388608 bytes the test allows"):
            fetch(h.big_array(20), budget=8 * 2**20)
        with pytest.raises(BadValue, match="dtype object"):
            fetch(h.object_array())
        assert fetch(h.big_array(1), budget=2 * 2**20).nbytes == 1024 * 1024     # under the cap: fine


def test_a_fetch_brings_back_no_more_than_its_budget(box):
    with box.worker() as w:
        h = hostile(w)
        with pytest.raises(TooLarge, match=r"over the 1048576 bytes the test allows"):  # the small default
            fetch(h.big_array(1))
        with pytest.raises(BadValue, match=r"shape \(1048576,\) and dtype uint8 .* 524288 bytes the test allows"):
            fetch(h.big_array(1), budget=512 * 1024)
        assert fetch(h.big_array(1), budget=budget_for((1 << 20,), dtype=np.uint8)).nbytes == 1 << 20
        with pytest.raises(BadValue, match="bytes the test allows"):  # numbers in a list count too
            fetch(w.import_module("builtins").list(w.import_module("builtins").range(200_000)), budget=256 * 1024)


def test_a_worker_that_ignores_the_budget_is_refused_before_its_reply_is_read(box):
    with box.worker() as w:
        h = hostile(w)
        assert fetch(h.ignore_fetch_budgets()) == "patched"
        big = h.big_array(4)
        with pytest.raises(WorkerCrashed, match=r"exceeds its budget of 1048576 bytes"):
            fetch(big, budget=1 << 20)


def test_monkeypatching_in_the_worker_stays_in_the_worker(box):
    with box.worker() as w:
        assert fetch(hostile(w).monkeypatch()) == "patched"
        np_remote = w.import_module("numpy")
        assert fetch(np_remote.array_equal([1], [2])) is True  # patched over there...
        assert fetch(w.import_module("builtins").abs(-3)) == 0
    assert np.array_equal([1], [2]) is False and abs(-1) == 1 and round(2.6) == 3  # ...not here
    next_worker_works(box)


def test_breaking_the_workers_own_builtins_is_a_clean_crash(box):
    err = attack(box, lambda w: hostile(w).break_len(), WorkerCrashed)
    assert "protocol" in err.message or "closed" in err.message or "exited" in err.message


def test_file_size_limit():
    with Sandbox(CASES / "hostile", CONFIG.with_(file_size_mb=1)) as b, b.worker() as w:
        h = hostile(w)
        home = fetch(w.import_module("os").environ["HOME"])
        assert fetch(h.write_file(f"{home}/small.txt", "x" * 1000)) == f"{home}/small.txt"
        with pytest.raises(StudentError) as info:
            h.write_file(f"{home}/big.txt", "x" * 3_000_000)
        assert "too large" in info.value.message.lower()


def test_forbidden_import_unused_costs_nothing(box):
    with box.worker() as w:
        assert fetch(w.import_module("tf_unused").total([1, 2])) == 7
        assert w.substitutions() == ["tensorflow", "keras", "tqdm", "matplotlib"]


@pytest.mark.parametrize("fn, library, line", [("build", "tensorflow", 6), ("torch_layer", "torch", 10)])
def test_forbidden_library_used_names_library_file_and_line(box, fn, library, line):
    with box.worker() as w:
        with pytest.raises(StudentError) as info:
            getattr(w.import_module("tf_used"), fn)()
        err = info.value
        assert err.type_name == "ForbiddenLibraryError" and library in err.message
        assert (err.location.file, err.location.line) == ("tf_used.py", line)
        assert w.alive


class Alarm(Exception):
    pass


def test_an_interrupted_call_retires_the_worker(box):
    """The plugin's per-test alarm may fire mid-call: the reply stream is then out of step,
    so the worker must be dropped, not reused."""
    import signal

    def on_alarm(signum, frame):
        raise Alarm()
    previous = signal.signal(signal.SIGALRM, on_alarm)
    try:
        with box.worker() as w:
            h = hostile(w)
            signal.setitimer(signal.ITIMER_REAL, 0.3)
            with pytest.raises(Alarm):
                h.sleep(1.5)
            assert not w.alive
            with pytest.raises(WorkerCrashed, match="already stopped"):
                h.sleep(0)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    next_worker_works(box)
