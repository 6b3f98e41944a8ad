"""Who the worker is and what it can reach: the real sandbox user, sessions, limits, files.

We are root here (like CI and Gradescope); these tests need root to create users."""
import json
import os
import pwd
import shutil
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from autograder.sandbox import (Sandbox, SandboxConfig, SandboxError, StudentError,
                                ensure_sandbox_user, fetch)

CASES = Path(__file__).parent / "sandbox_cases"
PROJECT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.needs_root  # the user switch needs root (CI runs as root)


@pytest.fixture
def open_dir():
    """A root-owned directory others may traverse (pytest's tmp_path is under a 0700 dir)."""
    path = Path(tempfile.mkdtemp(prefix="sandbox-test-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def box():
    cfg = SandboxConfig(cpu_s=77, memory_mb=999, file_size_mb=33, max_processes=22)
    with Sandbox(CASES / "hostile", cfg) as b:
        yield b


def test_worker_runs_as_the_unprivileged_sandbox_user_in_its_own_session(box):
    user = pwd.getpwnam(os.environ.get("AUTOGRADER_SANDBOX_USER", "beras-sandbox"))
    assert box.user.pw_uid == user.pw_uid != 0
    with box.worker() as w:
        uid, gid, cwd, env = fetch(w.import_module("hostile").whoami())
        os_remote = w.import_module("os")
        pid = fetch(os_remote.getpid())
        assert fetch(os_remote.getgroups()) == []
        assert fetch(os_remote.getsid(0)) == pid == fetch(os_remote.getpgid(0))
    assert (uid, gid) == (user.pw_uid, user.pw_gid)
    assert os.getsid(0) != pid
    assert cwd == str(box.sandbox_dir / "submission")
    assert set(env) <= {"PATH", "LANG", "LC_ALL", "HOME", "TMPDIR", "MPLBACKEND", "AUTOGRADER_SANDBOX_TOKEN", "PYTHONHASHSEED",
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


def test_sandbox_dir_is_private_and_owned_by_the_sandbox_user(box):
    top = box.sandbox_dir.stat()
    assert stat.S_IMODE(top.st_mode) == 0o700 and top.st_uid == box.user.pw_uid
    assert (box.sandbox_dir / "submission" / "hostile.py").stat().st_uid == box.user.pw_uid
    assert not list((box.sandbox_dir / "runtime").rglob("autograder*"))  # the worker never sees the engine


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
        secret.chmod(0o755)  # control: with permission, the same path is readable
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
    assert found["next_worker"] == "woke" and found["new_zygote"]
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
    # Simulate a broken deployment: the submission copy vanishes, so chdir fails in setup.
    with Sandbox(CASES / "hostile", SandboxConfig()) as b:
        (b.sandbox_dir / "submission").rename(b.sandbox_dir / "gone")
        with b.worker() as w:
            with pytest.raises(SandboxError, match="failed to set up") as info:
                w.import_module("hostile")
            assert "FileNotFoundError" in str(info.value)
            assert not w.alive


def test_workers_have_no_network_when_root(box):
    import socket
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    assert box.network_isolated  # here (CI) namespaces work; elsewhere it is best effort
    with server, box.worker() as w:
        with pytest.raises(StudentError) as info:  # not even this machine's loopback
            w.import_module("hostile").phone_home("127.0.0.1", server.getsockname()[1])
        assert info.value.type_name == "OSError" and "Network is unreachable" in info.value.message


def test_network_can_be_allowed():
    import socket
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    with server, Sandbox(CASES / "hostile", SandboxConfig(network=True)) as b, b.worker() as w:
        assert not b.network_isolated
        assert fetch(w.import_module("hostile").phone_home("127.0.0.1", server.getsockname()[1])) == "connected"
