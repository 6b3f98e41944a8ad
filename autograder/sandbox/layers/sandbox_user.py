"""Layer: the sandbox user. The unprivileged user that runs student code when the grader is
root: claimed per grading process (`claim_sandbox_user`), made for it with a random uid
unless one is configured (`create_grading_user`), every process of it killed when the
grading ends (`kill_everything_of`), and a made one removed (`remove_grading_user`).

Stops: reading root's files (the course, `source/` on Gradescope, results), writing what root
runs or trusts (the runtime, the submission copy, results.json), signalling or tracing the
grader, one grading reaching another's processes (each has a user of its own), and, with a
random uid per grading, one container's student sharing the per-uid accounting of the kernel
(RLIMIT_NPROC, keyrings, inotify instances) with another container's on the same host.

Full mode: the zygote drops to it between fork and exec (namespaces.py), so nothing of the
           student's ever runs as root.
Docker mode: the same (Gradescope grades as root): the first wall, and on its own the one
           that keeps `source/` (0700) unreadable.
Portable mode: as root on POSIX each worker is started as it too; otherwise (not root, or
           Windows) student code runs as the student, on their own machine.
"""
import os
import signal
import stat
import subprocess
import threading
import time

from ..grader.errors import SandboxError

# pwd, grp and fcntl are POSIX only, and only root needs them here: they are imported by the
# functions that use them, so a student's `check` on Windows imports this module too.

DEFAULT_USER = "beras-sandbox"


def sandbox_user_name(configured=None):
    return configured or os.environ.get("AUTOGRADER_SANDBOX_USER") or DEFAULT_USER


def ensure_sandbox_user(name=None):
    """The passwd entry of the sandbox user, created (no home, no login, own group) if
    missing. Needs root; setup.sh and the tests call it."""
    import grp
    import pwd
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


# ---------------------------------------------------------------- one user per grading

LOCK_DIR = "/run/beras-autograder"  # root-only: the sandbox user can plant nothing in it
MAX_ALTERNATES = 200
_claims = {}  # name -> [lock fd, how many Sandboxes of this process use it]
_claims_lock = threading.Lock()


def claim_sandbox_user(configured=None):
    """The passwd entry of a sandbox user no other grading process uses right now.

    Unless a name is configured, that is a user made for this grading process, with a random
    uid (_claim_grading_user). As root, a sandbox kills every process of its user when it cleans up, and a student
    process could reach whatever else runs under it, so two graders must never share a
    user. A configured name ($AUTOGRADER_SANDBOX_USER: regrade's and validate's slot users) is taken if free,
    else NAME-g2, NAME-g3, ...; each is claimed with an exclusive flock held until
    release_sandbox_user(). Sandboxes of one process share their claim (the process
    grades one submission at a time)."""
    if not (configured or os.environ.get("AUTOGRADER_SANDBOX_USER")):
        return _claim_grading_user()
    import fcntl
    base = sandbox_user_name(configured)
    with _claims_lock:
        os.makedirs(LOCK_DIR, mode=stat.S_IRWXU, exist_ok=True)
        info = os.lstat(LOCK_DIR)
        if info.st_uid != 0 or not stat.S_ISDIR(info.st_mode) or info.st_mode & 0o022:
            raise SandboxError(f"grader error: {LOCK_DIR} must be a directory only root can write")
        for i in range(1, MAX_ALTERNATES + 1):
            name = base if i == 1 else f"{base}-g{i}"
            if name in _claims:
                _claims[name][1] += 1
                return ensure_sandbox_user(name)
            fd = os.open(os.path.join(LOCK_DIR, f"{name}.lock"),
                         os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, stat.S_IRUSR | stat.S_IWUSR)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            try:
                entry = ensure_sandbox_user(name)
            except BaseException:
                os.close(fd)
                raise
            _claims[name] = [fd, 1]
            return entry
    raise SandboxError(f"grader error: all {MAX_ALTERNATES} sandbox users {base}, {base}-g2, ... are in use")


def release_sandbox_user(name):
    """Returns True when this process no longer uses the user (its processes may go)."""
    with _claims_lock:
        claim = _claims.get(name)
        if claim is None:
            return True
        claim[1] -= 1
        if claim[1] > 0:
            return False
        del _claims[name]
        if claim[0] is not None:
            os.close(claim[0])  # releases the lock
        return True


# ---------------------------------------------------------------- a user made per grading
#
# Docker gives containers no user namespace, so RLIMIT_NPROC counts a uid's processes across
# the whole host, as does the kernel's other per-uid accounting (keyrings, inotify
# instances, pending signals, locked memory). Every container of an image built by setup.sh
# would share one sandbox uid: a fork bomb held at the cap in one grading would make
# another student's worker fail to fork. So, unless a name is configured, each grading
# process makes its own user, with a uid drawn at random far above any image's static users,
# and removes it when it is done (or its parent does, tempfolders.py, if it is killed).

GRADING_USER_PREFIX = "beras-grading-"
GRADING_UIDS = range(1 << 20, (1 << 31) - 1)  # uid == gid == the number in the name


def is_grading_user(name):
    """Whether `name` is a user made per grading (so ours to remove)."""
    number = name[len(GRADING_USER_PREFIX):] if name.startswith(GRADING_USER_PREFIX) else ""
    return number.isdigit() and int(number) in GRADING_UIDS and str(int(number)) == number


def _claim_grading_user():
    with _claims_lock:
        for name, claim in _claims.items():
            if claim[0] is None:  # this process's own grading user: its Sandboxes share it
                claim[1] += 1
                return claim[2]
        entry = create_grading_user()
        _claims[entry.pw_name] = [None, 1, entry]
        return entry


def create_grading_user():
    """A new user and group, both numbered with a uid free here and drawn at random from
    GRADING_UIDS (two containers on one host share one with odds of about 1 in 2**31).
    Recorded (tempfolders.record_user) before it exists, for the parent that removes it
    if this process is killed."""
    import grp
    import pwd
    import secrets

    from autograder import tempfolders
    if os.geteuid() != 0:
        raise SandboxError("only root can create a sandbox user")
    problem = "no free uid"
    for _ in range(20):
        uid = GRADING_UIDS.start + secrets.randbelow(len(GRADING_UIDS))
        name = f"{GRADING_USER_PREFIX}{uid}"
        if _taken(pwd.getpwuid, uid) or _taken(grp.getgrgid, uid) or _taken(pwd.getpwnam, name) \
                or _taken(grp.getgrnam, name):
            continue
        tempfolders.record_user(name)
        for cmd in (["groupadd", "--system", "--gid", str(uid), name],
                    ["useradd", "--system", "--no-log-init", "--uid", str(uid), "--gid", str(uid),
                     "--no-create-home", "--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin", name]):
            done = subprocess.run(cmd, capture_output=True, text=True)
            if done.returncode != 0:
                problem = f"{cmd[0]}: {done.stderr.strip()}"
                break
        try:
            entry = pwd.getpwnam(name)
            if (entry.pw_uid, entry.pw_gid) == (uid, uid):
                return entry
        except KeyError:
            pass
        remove_grading_user(name)  # e.g. a concurrent grading took this uid at the same moment
    raise SandboxError(f"grader error: could not create a sandbox user ({problem})")


def _taken(lookup, key):
    try:
        lookup(key)
        return True
    except KeyError:
        return False


def grading_uid(name):
    return int(name[len(GRADING_USER_PREFIX):])


def remove_grading_user(name):
    """A user made per grading goes: its processes, its System V IPC objects, then its passwd
    and group entries (what it left in the shared temporary folders is the caller's:
    sweeping.clean_shared_temp). Idempotent; refuses any other user. True if it was there."""
    import grp
    import pwd

    from ..ipc import remove_all_of
    if not is_grading_user(name):
        raise ValueError(f"{name!r} is not a user made per grading")
    uid = grading_uid(name)
    user_there, group_there = _taken(pwd.getpwnam, name), _taken(grp.getgrnam, name)
    if user_there:
        if pwd.getpwnam(name).pw_uid != uid:
            raise ValueError(f"user {name!r} does not have uid {uid}")
        kill_everything_of(uid, uid)
        remove_all_of(uid)
        subprocess.run(["userdel", name], capture_output=True)
    if group_there and _taken(grp.getgrnam, name) and grp.getgrnam(name).gr_gid == uid:
        subprocess.run(["groupdel", name], capture_output=True)
    return user_there or group_there


def kill_everything_of(uid, gid=65534, deadline_s=10):
    """SIGKILL every process of `uid` until /proc shows none still running (threads
    counted, not states). kill(-1) is sent by a helper that becomes that user: it reaches
    exactly the user's processes, in any PID namespace below ours, at once. Returns the
    pids still running at the deadline (normally none)."""
    from .. import processes
    if uid == 0:
        raise ValueError("refusing to kill every process of root")
    deadline = time.monotonic() + deadline_s
    while True:
        left = processes.tasks_of_user(uid)
        if not left or time.monotonic() > deadline:
            return left
        pid = os.fork()
        if pid == 0:
            try:
                os.setgroups([])
                os.setresgid(gid, gid, gid)
                os.setresuid(uid, uid, uid)
                for _ in range(50):
                    try:
                        os.kill(-1, signal.SIGKILL)
                    except ProcessLookupError:
                        break
            finally:
                os._exit(0)
        os.waitpid(pid, 0)
        for victim in left:  # also by pid, as root: e.g. a process that changed its real uid
            try:
                os.kill(victim, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        time.sleep(0.001)
