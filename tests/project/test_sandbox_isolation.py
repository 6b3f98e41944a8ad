"""Who the worker is and what it can reach: the real sandbox user, sessions, limits, files.

We are root here (like CI and Gradescope); these tests need root to create users."""
import grp
import json
import os
import pwd
import shutil
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

from engine_cases.harness import folder_sandbox_users_reach, ipc_objects_of  # ipc: what `ipcs -a` lists of a uid
from autograder.sandbox.layers.sandbox_user import is_grading_user
from autograder.sandbox import (BadValue, Sandbox, SandboxConfig, SandboxError, StudentError,
                                WorkerCrashed, ensure_sandbox_user, fetch, processes)

CASES = Path(__file__).parent / "sandbox_cases"
PROJECT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.needs_root  # the user switch needs root (CI runs as root)


@pytest.fixture
def open_dir():
    with folder_sandbox_users_reach("sandbox-test-", 0o755) as path:
        yield path


@pytest.fixture(scope="module")
def box(sandbox_mode):
    """Every test of this fixture runs twice: with all layers, and in Docker mode (conftest)."""
    cfg = SandboxConfig(cpu_s=77, memory_mb=999, file_size_mb=33, max_processes=22)
    with Sandbox(CASES / "hostile", cfg) as b:
        yield b


def test_worker_runs_as_the_unprivileged_sandbox_user_in_its_own_session(box):
    user = pwd.getpwnam(os.environ.get("AUTOGRADER_SANDBOX_USER") or box.user.pw_name)
    assert box.user.pw_uid == user.pw_uid != 0
    with box.worker() as w:
        uid, gid, cwd, env = fetch(w.import_module("hostile").whoami())
        os_remote = w.import_module("os")
        pid = fetch(os_remote.getpid())
        assert fetch(os_remote.getgroups()) == []
        assert fetch(os_remote.getsid(0)) == pid == fetch(os_remote.getpgid(0))
    assert (uid, gid) == (user.pw_uid, user.pw_gid)
    assert os.getsid(0) != pid
    assert Path(cwd).name == "submission" and Path(cwd).parents[1] == box.sandbox_dir / "work"  # its own copy
    assert set(env) <= {"PATH", "LANG", "LC_ALL", "HOME", "TMPDIR", "MPLBACKEND", "AUTOGRADER_SANDBOX_TOKEN", "PYTHONHASHSEED",
                        "PYTHONDONTWRITEBYTECODE",
                        "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                        "NUMEXPR_NUM_THREADS", "VECLIB_MAXIMUM_THREADS"}
    assert env["OPENBLAS_NUM_THREADS"] == env["OMP_NUM_THREADS"] == "1"
    assert env["HOME"].startswith(str(box.sandbox_dir))


def test_string_hashes_are_the_same_in_every_sandbox(box):
    # Student code that iterates over a set of strings must behave the same on every run.
    with Sandbox(CASES / "hostile", SandboxConfig()) as other:
        with box.worker() as first, other.worker() as second:
            hashes = [fetch(w.import_module("builtins").hash("beras")) for w in (first, second)]
            paths = fetch(first.import_module("sys").path)
    expected = subprocess.run([sys.executable, "-c", "print(hash('beras'))"], capture_output=True, text=True,
                              env={**os.environ, "PYTHONHASHSEED": "0"}).stdout.strip()
    assert hashes == [int(expected)] * 2
    assert "" not in paths and str(box.sandbox_dir) not in paths  # nothing from the current directory


def test_limits_are_applied_as_configured(box):
    with box.worker() as w:
        text = fetch(w.import_module("hostile").read_file("/proc/self/limits"))
    rows = {line[:26].strip(): line[26:].split() for line in text.splitlines()[1:]}
    assert rows["Max cpu time"][:2] == ["77", "78"]
    assert rows["Max address space"][:2] == [str(999 * 2 ** 20)] * 2
    assert rows["Max file size"][:2] == [str(33 * 2 ** 20)] * 2
    assert rows["Max processes"][:2] == ["22", "22"]
    assert rows["Max core file size"][:2] == ["0", "0"]


def test_the_oom_killer_takes_a_worker_before_the_grader_and_the_worker_cannot_change_that(box):
    """Where the container's memory runs out (Gradescope's 768 MB is shared by the grader,
    the zygote and the worker), the kernel ends the worker, never the process that writes
    results.json."""
    with box.worker() as w:
        hostile = w.import_module("hostile")
        assert fetch(hostile.read_file("/proc/self/oom_score_adj")).strip() == "1000"
        with pytest.raises(StudentError) as lowered:
            hostile.write_file("/proc/self/oom_score_adj", "-1000")
        assert lowered.value.type_name == "PermissionError"
    with open("/proc/self/oom_score_adj") as ours:
        assert int(ours.read()) < 1000


def test_the_sandbox_user_can_rename_or_write_nothing_we_run(box):
    # Root owns the top (so nothing below it can be renamed), the runtime the zygote runs, and
    # the submission copy (read-only: no test leaves anything there for a later one). Only
    # this sandbox user's group may enter the top: not another grading's user.
    top = box.sandbox_dir
    assert (top.stat().st_uid, top.stat().st_gid) == (0, box.user.pw_gid)
    assert stat.S_IMODE(top.stat().st_mode) == 0o750
    for path in [top / "runtime", *(top / "runtime").rglob("*"), top / "submission", *(top / "submission").rglob("*")]:
        info = path.lstat()
        assert info.st_uid == 0 and not info.st_mode & 0o022, path
    assert (top / "work").stat().st_uid == box.user.pw_uid  # the workers' folders live below
    assert not list((top / "runtime").rglob("autograder*"))  # the worker never sees the engine
    with box.worker() as w:
        h = w.import_module("hostile")
        for target in (top / "runtime", top / "submission" / "hostile.py"):
            with pytest.raises(StudentError) as info:
                w.import_module("os").rename(str(target), str(top / "moved"))
            assert info.value.type_name == "PermissionError"
        with pytest.raises(StudentError) as info:  # what every worker imports
            h.write_file(str(top / "submission" / "hostile.py"), "planted = True\n")
        assert info.value.type_name == "PermissionError"


def test_each_worker_gets_a_fresh_home_and_tmpdir(box):
    with box.worker() as w:
        env = w.import_module("os").environ
        home, tmp = fetch(env["HOME"]), fetch(env["TMPDIR"])
        h = w.import_module("hostile")
        fetch(h.write_file(f"{home}/left.txt", "from an earlier test"))
        fetch(h.write_file(f"{tmp}/left.txt", "from an earlier test"))
    with box.worker() as w:
        env = w.import_module("os").environ
        assert (fetch(env["HOME"]), fetch(env["TMPDIR"])) != (home, tmp)
        exists = w.import_module("os").path.exists
        assert not fetch(exists(f"{home}/left.txt")) and not fetch(exists(f"{tmp}/left.txt"))


def test_each_worker_writes_in_a_private_copy_of_the_submission(box):
    """Issue 17/20: `np.save("predictions.npy", ...)` in student code works, in the worker's
    own copy of the submission (its current directory); the next worker starts from a fresh
    copy, and the copy every worker imports from is unchanged. Imports never come from the
    writable copy."""
    original = {p.name: p.read_bytes() for p in (box.sandbox_dir / "submission").iterdir()}
    with box.worker() as w:
        os_remote, h = w.import_module("os"), w.import_module("hostile")
        cwd = fetch(os_remote.getcwd())
        w.import_module("numpy").save("predictions.npy", np.arange(3.0))
        fetch(h.write_file("hostile.py", "planted = True\n"))  # its copy: allowed
        fetch(h.write_file("planted_module.py", "planted = True\n"))
        assert fetch(w.import_module("numpy").load("predictions.npy")).tolist() == [0.0, 1.0, 2.0]
        assert "predictions.npy" in fetch(os_remote.listdir("."))
        with pytest.raises(StudentError) as info:
            w.import_module("planted_module")
        assert info.value.type_name == "ModuleNotFoundError"
        assert fetch(w.import_module("inspect").getfile(h)) == str(box.sandbox_dir / "submission" / "hostile.py")
    with box.worker() as w:
        os_remote = w.import_module("os")
        again = fetch(os_remote.getcwd())
        assert again != cwd and not fetch(os_remote.path.exists(cwd))  # the earlier one is gone
        assert sorted(fetch(os_remote.listdir("."))) == sorted(original)
        assert fetch(w.import_module("hostile").read_file("hostile.py")) == original["hostile.py"].decode()
    assert {p.name: p.read_bytes() for p in (box.sandbox_dir / "submission").iterdir()} == original


def test_root_only_files_are_unreadable_and_root_dirs_unwritable(box, open_dir):
    tmp_path = open_dir
    secret = tmp_path / "reference"
    secret.mkdir()
    (secret / "solution.py").write_text("ANSWER = 42\n")
    (secret / "solution.py").chmod(0o644)
    results = tmp_path / "results"
    results.mkdir(mode=0o755)
    with box.worker() as w:
        h = w.import_module("hostile")
        secret.chmod(0o755)
        if any(layer.startswith("landlock") for layer in box.layers):
            # Landlock: nothing outside what workers need is readable, whatever its mode.
            with pytest.raises(StudentError) as info:
                h.read_file(str(secret / "solution.py"))
            assert info.value.type_name == "PermissionError"
        else:  # control: with permission, the same path is readable
            assert fetch(h.read_file(str(secret / "solution.py"))) == "ANSWER = 42\n"
        secret.chmod(0o700)  # like setup.sh does for source/ (reference, hidden tests)
        with pytest.raises(StudentError) as info:
            h.read_file(str(secret / "solution.py"))
        assert info.value.type_name == "PermissionError"
        with pytest.raises(StudentError) as info:
            h.write_file(str(results / "results.json"), "{}")
        assert info.value.type_name == "PermissionError"
        assert w.alive
    assert not (results / "results.json").exists()


def test_a_symlink_in_the_submission_is_not_followed_into_root_files(open_dir):
    tmp_path = open_dir
    secret = tmp_path / "private"
    secret.mkdir(mode=0o700)
    (secret / "key.txt").write_text("secret")
    sub = tmp_path / "sub"
    shutil.copytree(CASES / "hostile", sub)
    (sub / "leak.txt").symlink_to(secret / "key.txt")
    with Sandbox(sub, SandboxConfig()) as b:
        assert (b.sandbox_dir / "submission" / "leak.txt").is_symlink()
        with b.worker() as w, pytest.raises(StudentError, match="Permission denied"):
            w.import_module("hostile").read_file("leak.txt")


def test_student_code_cannot_signal_the_zygote(box):
    with box.worker() as w:
        os_remote = w.import_module("os")
        with pytest.raises(StudentError) as info:
            os_remote.kill(fetch(os_remote.getppid()), 9)
        assert info.value.type_name == "PermissionError"
    with box.worker() as w:
        assert fetch(w.import_module("hostile").sleep(0)) == "woke"


def test_an_interpreter_the_sandbox_user_cannot_run_fails_fast(tmp_path):
    hidden = tmp_path / "private"
    hidden.mkdir(mode=0o700)
    python = hidden / "python"
    python.symlink_to(sys.executable)
    with pytest.raises(SandboxError) as info:
        Sandbox(CASES / "hostile", SandboxConfig(python=str(python)))
    assert "grader error" in str(info.value) and str(python) in str(info.value)


ONE_GRADING = """
import json, os, sys
sys.path.insert(0, sys.argv[1])
from autograder.sandbox import Sandbox, SandboxConfig, fetch
with Sandbox(sys.argv[2], SandboxConfig()) as box:
    with box.worker() as w:
        seen = fetch(w.import_module("os").getuid())
        fetch(w.import_module("hostile").daemon())  # a setsid daemon: the close kills it
    print(json.dumps([box.user.pw_name, box.user.pw_uid, box.user.pw_gid, seen]))
"""


def test_each_grading_process_gets_a_user_of_its_own_with_a_random_uid():
    """Without a configured user, a grading process's sandbox user is made for it, with a uid
    drawn from 2**20..2**31 (Docker shares per-uid accounting such as RLIMIT_NPROC across the
    containers of a host), and removed with everything of it when its Sandbox closes."""
    env = {k: v for k, v in os.environ.items() if k != "AUTOGRADER_SANDBOX_USER"}
    static = {entry.pw_uid for entry in pwd.getpwall()}
    seen = []
    for _ in range(2):
        done = subprocess.run([sys.executable, "-c", ONE_GRADING, str(PROJECT), str(CASES / "hostile")],
                              env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr[-3000:]
        name, uid, gid, worker_uid = json.loads(done.stdout.splitlines()[-1])
        assert (1 << 20) <= uid < (1 << 31) and uid not in static and gid == worker_uid == uid
        assert name == f"beras-grading-{uid}"
        with pytest.raises(KeyError):
            pwd.getpwnam(name)
        with pytest.raises(KeyError):
            grp.getgrgid(uid)
        assert processes.tasks_of_user(uid) == [] and ipc_objects_of(uid) == []
        seen.append(uid)
    assert seen[0] != seen[1]


@pytest.mark.parametrize("leftover_group", [False, True])
def test_ensure_sandbox_user_creates_a_missing_user(leftover_group):
    name = "beras-sbx-probe"

    def remove():
        subprocess.run(["userdel", name], capture_output=True)
        subprocess.run(["groupdel", name], capture_output=True)
    remove()
    if leftover_group:
        subprocess.run(["groupadd", "--system", name], check=True)
    try:
        entry = ensure_sandbox_user(name)
        assert entry.pw_name == name and entry.pw_uid != 0 and entry.pw_shell.endswith("nologin")
        assert ensure_sandbox_user(name).pw_uid == entry.pw_uid  # idempotent
    finally:
        remove()


def test_non_root_grader_gets_the_same_sandbox_without_the_user_switch():
    # An ordinary user of its own (not the sandbox user: root graders sweep that one).
    user = ensure_sandbox_user("beras-nonroot-probe")
    done = subprocess.run(
        [sys.executable, "-I", "-c",
         f"import sys; sys.path.insert(0, {str(PROJECT)!r}); "
         f"sys.argv = ['x', {str(CASES)!r}]; exec(open({str(CASES / 'nonroot_check.py')!r}).read())"],
        user=user.pw_uid, group=user.pw_gid, extra_groups=[], cwd="/",
        env={"PATH": "/usr/bin:/bin"}, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert found["user"] is None and found["worker_uid"] == found["my_uid"] == user.pw_uid
    assert found["cwd_in_sandbox"] and found["core_limit_zero"]
    assert found["daemon_gone"]
    assert found["next_worker"] == "woke"
    # Landlock (ABI 6) scopes signals to the worker's own domain; without it, a killed zygote is replaced.
    assert found["new_zygote"] or found.get("kill_zygote_error") == "PermissionError", found
    assert "status 7" in found["crash"]


def test_a_private_tmpdir_is_avoided(tmp_path, monkeypatch):
    # pytest's tmp_path lies under a 0700 directory the sandbox user cannot traverse.
    import tempfile as tf
    monkeypatch.setattr(tf, "tempdir", str(tmp_path))
    with Sandbox(CASES / "hostile", SandboxConfig()) as b:
        assert not str(b.sandbox_dir).startswith(str(tmp_path))
        with b.worker() as w:
            assert fetch(w.import_module("hostile").sleep(0)) == "woke"


def test_a_worker_that_cannot_set_up_is_a_grader_error(box):
    # Simulate a broken deployment: the submission copy vanishes, so the worker's folder
    # cannot be made (a spawn error) or, when it was made before, the worker's set-up fails.
    with Sandbox(CASES / "hostile", SandboxConfig()) as b:
        (b.sandbox_dir / "submission").rename(b.sandbox_dir / "gone")
        with pytest.raises(SandboxError, match="could not start a worker|failed to set up") as info:
            with b.worker() as w:
                w.import_module("hostile")
        assert "FileNotFoundError" in str(info.value) or "No such file" in str(info.value)


def test_workers_have_no_network_when_root(box):
    import socket
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    assert box.network_isolated  # here (CI) namespaces work; elsewhere it is best effort
    with server, box.worker() as w:
        with pytest.raises(StudentError) as info:  # not even this machine's loopback
            w.import_module("hostile").phone_home("127.0.0.1", server.getsockname()[1])
        # seccomp refuses the socket; without it, the empty network namespace has no route
        assert info.value.type_name == "OSError"
        assert "Address family not supported" in info.value.message or "Network is unreachable" in info.value.message


def test_network_can_be_allowed():
    import socket
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    with server, Sandbox(CASES / "hostile", SandboxConfig(network=True)) as b, b.worker() as w:
        assert not b.network_isolated
        assert fetch(w.import_module("hostile").phone_home("127.0.0.1", server.getsockname()[1])) == "connected"


# ------------------------------------------------------------------ issue 10's layers

# What Gradescope's container (Docker's default capabilities and seccomp profile) allows:
# no namespace, no capped scratch (a tmpfs needs a mount namespace), the rest intact.
DOCKER_MODE_LAYERS = ["sandbox-user", "zygote-not-dumpable", "seccomp", "landlock"]


def without_abi(layers):
    return [layer.split("(")[0] for layer in layers]


def test_the_layers_this_machine_allows_are_all_active(box, sandbox_mode):
    # This machine (and CI, which runs on it) allows every layer; elsewhere the missing ones
    # are left out and logged (see README, "Isolation"). Docker mode has exactly Gradescope's.
    layers = box.layers
    if sandbox_mode == "docker":
        assert without_abi(layers) == DOCKER_MODE_LAYERS, layers
        assert box.describe().endswith("(namespaces forced off: Docker mode)"), box.describe()
        return
    for layer in ("sandbox-user", "pid-namespace", "mount-namespace", "no-network", "seccomp"):
        assert layer in layers, layers
    assert any(layer.startswith("landlock") for layer in layers), layers
    assert "Docker mode" not in box.describe()


@pytest.mark.parametrize("how", ["config", "environment"])
def test_namespaces_can_be_forced_off(how, monkeypatch):
    """`[sandbox] namespaces = false` or AUTOGRADER_NAMESPACES=off: Docker mode on any host."""
    monkeypatch.delenv("AUTOGRADER_NAMESPACES", raising=False)
    if how == "environment":
        monkeypatch.setenv("AUTOGRADER_NAMESPACES", "off")
    with Sandbox(CASES / "hostile", SandboxConfig(namespaces=how != "config")) as b:
        assert without_abi(b.layers) == DOCKER_MODE_LAYERS, b.layers
        with b.worker() as w:  # and the worker really is in the host's namespaces
            assert fetch(w.import_module("os").readlink("/proc/self/ns/pid")) == os.readlink("/proc/self/ns/pid")
            assert fetch(w.import_module("os").readlink("/proc/self/ns/mnt")) == os.readlink("/proc/self/ns/mnt")


def test_a_misspelt_namespaces_switch_is_refused(monkeypatch):
    monkeypatch.setenv("AUTOGRADER_NAMESPACES", "of")
    with pytest.raises(SandboxError, match="AUTOGRADER_NAMESPACES='of'"):
        Sandbox(CASES / "hostile", SandboxConfig())


def test_a_worker_sees_only_its_own_namespaces_processes(box, sandbox_mode):
    """Issue 18, finding 2: with a PID namespace, /proc is the namespace's own, so a worker
    lists only the zygote (init) and the workers, and reads no command line of the grader or
    of other gradings. (In Docker mode, as on Gradescope, it sees the container's processes:
    test_what_the_sandbox_user_reads_of_the_grader says what it can read of them.)"""
    with box.worker() as w:
        os_remote = w.import_module("os")
        listed = sorted(int(p) for p in fetch(os_remote.listdir("/proc")) if p.isdigit())
        me = fetch(os_remote.getpid())
        if sandbox_mode == "docker":
            assert "fresh-proc" not in box.layers and os.getpid() in listed and me == w.pid  # the host's /proc
            return
        lines = [fetch(w.import_module("hostile").read_file(f"/proc/{pid}/cmdline")) for pid in listed]
    assert "fresh-proc" in box.layers and "pid-namespace" in box.layers  # this machine allows them
    assert listed[0] == 1 and me in listed, listed
    # Every process it sees is the zygote or a worker forked from it: none of the grader's
    # (whose command line names pytest here) nor anything else of the host's.
    zygote = Path(f"/proc/{box._zygote.init_pid}/cmdline").read_text()
    assert lines == [zygote] * len(listed), [line[:200] for line in lines]


def test_what_the_sandbox_user_reads_of_the_grader_without_namespaces():
    """Gradescope's mode (no namespace: the worker sees the container's processes). Of the
    grader (root) it reads only the command line, which holds no secret (on Gradescope
    `python -m autograder gradescope`); not its environment, memory or descriptors. Nor the
    zygote's, though it is the same user: the zygote is not dumpable."""
    with Sandbox(CASES / "hostile", SandboxConfig(namespaces=False)) as b, b.worker() as w:
        assert not [layer for layer in b.layers if "namespace" in layer], b.layers
        grader, zygote = os.getpid(), b._zygote.pid
        found = fetch(w.import_module("hostile").try_read(
            [f"/proc/{pid}/{what}" for pid in (grader, zygote) for what in ("environ", "mem", "fd", "cmdline")]))
    for pid in (grader, zygote):
        for what in ("environ", "mem", "fd"):
            assert found[f"/proc/{pid}/{what}"] in ("EACCES", "EPERM"), (pid, what, found)
    assert found[f"/proc/{grader}/cmdline"] == "ok"  # as `ps` shows it to anyone: nothing secret there


def test_the_zygote_is_not_root_and_runs_only_root_owned_code(box):
    with box.worker():
        zygote = box._zygote
        proper = zygote.init_pid or zygote.pid
        assert processes.read_proc(proper).uid == box.user.pw_uid != 0
        cmdline = Path(f"/proc/{proper}/cmdline").read_bytes().split(b"\0")
        runtime = Path(cmdline[4].decode())
        assert runtime == box.sandbox_dir / "runtime"
        if zygote.init_pid is not None:
            # The root process that forked init (only root can mount the namespace's /proc)
            # ran nothing since: it is still the grader's fork, holding no descriptor but 0-2.
            assert processes.read_proc(zygote.pid).uid == 0
            assert os.readlink(f"/proc/{zygote.pid}/exe") == os.readlink("/proc/self/exe")
            assert sorted(int(fd) for fd in os.listdir(f"/proc/{zygote.pid}/fd")) == [0, 1, 2]
        # root-owned all the way up, and no folder on the way lets others rename entries
        # (writable by others only when sticky, as /tmp and the project tests' temp folder are)
        for path in [runtime, *runtime.parents]:
            info = path.stat()
            assert info.st_uid == 0 and (not info.st_mode & 0o022 or info.st_mode & stat.S_ISVTX), path
        assert not runtime.stat().st_mode & 0o022 and not box.sandbox_dir.stat().st_mode & 0o022


def test_seccomp_and_no_user_namespaces(box):
    with box.worker() as w:
        found = fetch(w.import_module("hostile").kernel_probe())
    denied = {name: result for name, result in found.items() if name != "unix socket"}
    assert found["unix socket"] == "ok"
    assert found["unshare user namespace"] == "EPERM"  # no capabilities back through a user namespace
    for name, result in denied.items():
        assert result in ("EPERM", "EAFNOSUPPORT", "EACCES"), (name, result)
    assert found["inet socket"] == found["inet6 socket"] == found["netlink socket"] == "EAFNOSUPPORT"


def test_system_v_ipc_and_posix_message_queues_are_denied(box):
    """Issue 18, finding 1: such objects belong to the uid (or the host), not to the worker,
    so they would reach later workers and outlive the grading. seccomp refuses them in every
    mode, namespaces or not."""
    with box.worker() as w:
        found = fetch(w.import_module("hostile").ipc_probe())
    assert found == {name: "EPERM" for name in ("shmget", "shmat", "msgget", "semget", "shmctl", "mq_open")}


@pytest.fixture
def without_seccomp(open_dir):
    """A worker environment where pyseccomp cannot load, as on a host without libseccomp2."""
    (open_dir / "pyseccomp.py").write_text('raise ImportError("no libseccomp2 on this host")\n')
    return SandboxConfig(env={"PYTHONPATH": str(open_dir)})


@pytest.mark.parametrize("namespaces_allowed", [True, False], ids=["namespaces", "no-namespaces"])
def test_ipc_objects_a_worker_leaves_are_swept_when_seccomp_is_missing(without_seccomp, namespaces_allowed,
                                                                         monkeypatch):
    """The sweep behind seccomp: with the filter missing (and, as on Gradescope, no IPC
    namespace either), a worker can make System V objects; none reaches the next worker,
    and none is left once the worker ends, nor after the sandbox closes."""
    monkeypatch.delenv("AUTOGRADER_NAMESPACES", raising=False)
    with Sandbox(CASES / "hostile", without_seccomp.with_(namespaces=namespaces_allowed)) as b:
        assert "seccomp" not in b.layers and ("ipc-namespace" in b.layers) == namespaces_allowed, b.layers
        uid = b.user.pw_uid
        with b.worker() as w:
            made = fetch(w.import_module("hostile").ipc_probe())
            assert made["shmget"] == made["msgget"] == made["semget"] == "ok", made
            seen_here = ipc_objects_of(uid)
            assert bool(seen_here) != namespaces_allowed  # in its own namespace, the host sees none
        assert ipc_objects_of(uid) == []
        with b.worker() as w:
            assert fetch(w.import_module("hostile").ipc_find()) == []
            fetch(w.import_module("hostile").ipc_probe())
    assert ipc_objects_of(uid) == []


def test_no_socket_can_be_named_or_reached_by_name(box):
    """An abstract AF_UNIX name lives in the network namespace, shared with the grader and
    other gradings where there is none of the worker's own (Gradescope): no worker may bind
    one, or connect or send to one. sendmsg's address is out of a filter's sight, so no
    datagram socket can be made (a stream socket's sendmsg refuses an address by itself).
    Its own channel (a socketpair) still works."""
    with box.worker() as w:
        found = fetch(w.import_module("hostile").named_socket_probe())
    assert found.pop("socketpair") == "ok"
    assert found.pop("stream sendmsg to a name") in ("EISCONN", "EOPNOTSUPP")  # the kernel's own no
    assert found == {"abstract bind": "EPERM", "path bind": "EPERM", "abstract connect": "EPERM",
                     "abstract sendto": "EPERM", "abstract sendmsg": "EPERM", "datagram socketpair": "EPERM"}


def test_a_thread_group_whose_main_thread_exited_is_killed_with_its_worker(box):
    uid = box.user.pw_uid
    with box.worker() as w:
        fetch(w.import_module("hostile").thread_zombie())
        procs = processes.processes()
        zombies = [p for p in procs.values() if p.uid == uid and p.state == "Z" and processes.running(p)]
        assert zombies, "the trick did not work: no zombie leader with live threads"
    left = set(processes.tasks_of_user(uid)) - box._zygote.tree_roots()
    assert left == set()


def test_fetch_refuses_a_handle_from_a_patched_encoder(box):
    with box.worker() as w:
        yes = w.import_module("hostile").patch_encoder()
        with pytest.raises(BadValue, match="tag"):
            fetch(yes)
        with pytest.raises(BadValue, match="tag"):
            fetch([1, yes])


def test_writable_space_is_one_capped_folder_per_worker(sandbox_mode):
    with Sandbox(CASES / "hostile", SandboxConfig(scratch_mb=8, file_size_mb=64)) as b:
        with b.worker() as w:
            h = w.import_module("hostile")
            home = Path(fetch(w.import_module("os").environ["HOME"]))
            if sandbox_mode == "full":
                written, error = fetch(h.fill_home(400))
                assert written <= 8 and error == "No space left on device"
            else:
                # Docker mode has no tmpfs (it needs a mount namespace): the trusted side
                # measures the workers' folders while a request runs (layers/disk_budget.py)
                # and stops the worker that went over the same budget.
                with pytest.raises(WorkerCrashed) as info:
                    fetch(h.fill_home(400))
                assert "wrote more than 8 MB of files" in info.value.message
                assert "hostile.fill_home" in info.value.message
        assert not home.exists()
        with b.worker() as w:
            h = w.import_module("hostile")
            for shared in ("/dev/shm/x", "/tmp/x", "/var/tmp/x", "/run/lock/x", str(b.sandbox_dir / "submission" / "x")):
                with pytest.raises(StudentError) as info:
                    h.write_file(shared, "data")
                assert info.value.type_name == "PermissionError", shared


def test_the_course_checkout_is_unreadable(box):
    with box.worker() as w:
        h = w.import_module("hostile")
        for path in (PROJECT / "README.md", PROJECT / "reference" / "beras" / "__init__.py",
                     PROJECT / "tests" / "graded" / "conftest.py"):
            with pytest.raises(StudentError) as info:
                h.read_file(str(path))
            assert info.value.type_name in ("PermissionError", "FileNotFoundError"), path
        with pytest.raises(StudentError) as info:
            w.import_module("os").listdir("/")  # no walking the disk for someone's checkout
        assert info.value.type_name == "PermissionError"


def test_concurrent_graders_get_users_of_their_own(box):
    # This process holds its user (box); a second grader on the machine must get another.
    done = subprocess.run(
        [sys.executable, "-c",
         f"import sys; sys.path.insert(0, {str(PROJECT)!r}); "
         "from autograder.sandbox import Sandbox; "
         f"b = Sandbox({str(CASES / 'hostile')!r}); print(b.user.pw_name); b.close()"],
        env={**os.environ}, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    other = done.stdout.strip().splitlines()[-1]
    assert other != box.user.pw_name
    if is_grading_user(box.user.pw_name):  # each made for its grading process, with its own uid
        assert is_grading_user(other)
    else:  # a configured name: the next free alternate
        assert other.startswith(box.user.pw_name + "-g")


def test_a_temp_folder_others_can_rename_in_is_not_used(open_dir, monkeypatch):
    # Root copies the submission into the sandbox folder: in a folder where the sandbox user
    # could rename or swap that folder, root's copy could be sent elsewhere (a symlink race).
    shared = open_dir / "everyone-writes-here"
    shared.mkdir()
    shared.chmod(0o777)  # writable by all, not sticky
    monkeypatch.setattr(tempfile, "tempdir", str(shared))
    with Sandbox(CASES / "hostile", SandboxConfig()) as b:
        assert b.sandbox_dir.parent == Path("/tmp")
    assert not any(shared.iterdir())
