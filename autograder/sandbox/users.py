"""The unprivileged user that runs student code when the grader is root."""
import grp
import os
import pwd
import signal
import subprocess
import time

DEFAULT_USER = "beras-sandbox"


class SandboxError(Exception):
    """A grader (not student) problem: the sandbox cannot be set up as configured."""


def sandbox_user_name(configured=None):
    return configured or os.environ.get("AUTOGRADER_SANDBOX_USER") or DEFAULT_USER


def ensure_sandbox_user(name=None):
    """The passwd entry of the sandbox user, created (no home, no login, own group) if
    missing. Needs root; setup.sh and the tests call it."""
    name = sandbox_user_name(name)
    try:
        return pwd.getpwnam(name)
    except KeyError:
        pass
    if os.geteuid() != 0:
        raise SandboxError(f"sandbox user {name!r} does not exist and only root can create it")
    try:
        grp.getgrnam(name)
        group = ["--gid", name]  # a group left behind by an earlier userdel
    except KeyError:
        group = ["--user-group"]
    done = subprocess.run(
        ["useradd", "--system", *group, "--no-create-home",
         "--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin", name],
        capture_output=True, text=True)
    try:
        return pwd.getpwnam(name)  # also fine if a concurrent useradd won the race
    except KeyError:
        raise SandboxError(f"could not create sandbox user {name!r}: {done.stderr.strip()}") from None


_checked = set()


def check_interpreter_runnable(executable, user):
    """Fail fast, naming the fix, when the sandbox user cannot run this interpreter with
    numpy (e.g. a venv built under root's private home). Checked once per process."""
    key = (executable, user.pw_uid)
    if key in _checked:
        return
    for pause in (0, 0.2, 0.5, 1, 2):
        time.sleep(pause)
        try:
            done = subprocess.run(
                [executable, "-I", "-c", "import numpy, numpy.random, numpy.linalg"],
                user=user.pw_uid, group=user.pw_gid, extra_groups=[], cwd="/",
                env={"PATH": "/usr/bin:/bin", "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"},
                stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)
            ok, detail = done.returncode == 0, done.stderr.strip()[-500:]
        except (OSError, subprocess.SubprocessError) as exc:
            ok, detail = False, str(exc)
            break
        # Killed: a concurrent grader swept the shared sandbox user just then; try again.
        if done.returncode != -signal.SIGKILL:
            break
        detail = (f"killed by SIGKILL every time: is another grader killing the processes of "
                  f"{user.pw_name!r}? Give concurrent graders different sandbox users")
    if not ok:
        raise SandboxError(
            f"grader error: the sandbox user {user.pw_name!r} cannot run {executable} with numpy "
            f"({detail or 'permission denied'}). Build the environment from /usr/bin/python3 in a "
            f"world-readable directory (python3 dev.py does this as root: /opt/beras-autograder/venv).")
    _checked.add(key)
