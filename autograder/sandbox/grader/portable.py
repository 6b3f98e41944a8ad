"""PortableSandbox: the sandbox of a student's `check` on macOS and Windows (backend.py
chooses it; AUTOGRADER_PORTABLE=1 forces it on Linux, never for Gradescope).

Same API as Sandbox, fewer walls. Each worker is a fresh `python -s` started by Popen
(spawn semantics: no fork, no zygote), running portable_worker.py from the sandbox folder's
copy of our runtime (folder.py), importing from a read-only-by-convention copy of the
submission, in a writable copy of its own (workdir.py, as in the full sandbox), with a HOME
and TMPDIR of its own; its folder is deleted after it. Requests and replies cross its
stdin and stdout in the same protocol as the full sandbox (plain data, never pickle);
the trusted side enforces every time limit by killing the worker (on POSIX its whole
process group). CPU and file-size rlimits where `resource` exists, address space on Linux.

What it does not do (README, "Isolation"): no namespaces, seccomp or Landlock, no memory
limit off Linux, and student code runs as the user who runs `check`, except as root on
POSIX, where workers still run as the sandbox user: root never runs student code.
"""
import json
import os
import shutil
import subprocess
import sys
import weakref

from ... import timing
from .config import checked_setup
from .errors import SandboxError
from .folder import make_sandbox_dir
from ..inside import workdir
from .pipe_channel import PipeChannel
from .launch import HASH_SEED, THREAD_VARS
from .worker import StartsWorkers, Worker

_MB = 1024 * 1024
BOOT = ("import sys; sys.path[:] = [p for p in sys.path if p]; sys.path.insert(0, sys.argv[1]); "
        "from _agsandbox.inside.portable_worker import main; main(sys.argv[2])")
# What a Windows process needs from the environment to start Python and numpy at all.
WINDOWS_ENV = ("SYSTEMROOT", "SYSTEMDRIVE", "WINDIR", "COMSPEC", "PATH", "PATHEXT", "OS",
               "NUMBER_OF_PROCESSORS", "PROCESSOR_ARCHITECTURE", "USERNAME", "APPDATA", "LOCALAPPDATA")


class PortableSandbox(StartsWorkers):
    """One per graded submission: a private copy of it; a fresh process per worker."""

    def __init__(self, submission_root, config=None):
        with timing.measure("sandbox.create"):
            self.submission_root, self.config = checked_setup(submission_root, config)
            self.user = None
            self.import_timeouts = {}  # as Sandbox's: imports that hung are not tried again
            self.imports_set_aside = {}  # as Sandbox's: modules kept after raising at import
            self._dir = None
            self._live = weakref.WeakSet()
            self._spawned = 0
            try:
                self.user = _sandbox_user_if_root(self.config)
                self._dir = make_sandbox_dir(self.submission_root, self.user)
            except BaseException:
                self.close()
                raise

    # -------------------------------------------------------------- the Sandbox API
    def start_worker(self):
        if self._dir is None:
            raise SandboxError("this sandbox is closed")
        with timing.measure("sandbox.spawn"):
            return Worker(self._spawn(), self.config, self.import_timeouts, self.imports_set_aside)

    network_isolated = False

    @property
    def layers(self):
        found = ["portable", "process-per-worker"] + (["sandbox-user"] if self.user else [])
        if os.name == "posix":
            found.append("rlimits(cpu, file size" + (", address space)" if sys.platform.startswith("linux") else ")"))
        return found

    def describe(self):
        who = f"user {self.user.pw_name} (uid {self.user.pw_uid})" if self.user else "the user running it"
        return (f"sandbox: PORTABLE (for a student's check): student code runs as {who}, a fresh process "
                f"per worker; layers: {', '.join(self.layers)}; no namespaces, seccomp or Landlock")

    @property
    def sandbox_dir(self):
        return self._dir

    def sweep(self):
        return 0  # each worker's process group is killed when it finishes; close() does the rest

    def close(self):
        with timing.measure("sandbox.close"):
            for channel in list(self._live):
                channel.finish(0.0)
            if self.user is not None:
                user, self.user = self.user, None
                _release(user)
            if self._dir is not None:
                shutil.rmtree(self._dir, ignore_errors=True)
                self._dir = None

    # -------------------------------------------------------------- workers
    def _spawn(self):
        self._spawned += 1
        folder = self._dir / "work" / str(self._spawned)
        for path in (folder, folder / "home", folder / "tmp"):
            path.mkdir(mode=0o700)
            if self.user is not None:
                os.chown(path, self.user.pw_uid, self.user.pw_gid)
        sync = os.urandom(12).hex()
        try:
            proc = subprocess.Popen(
                [self.config.python or sys.executable, "-s", "-c", BOOT, str(self._dir / "runtime"),
                 json.dumps(self._worker_config(sync, folder))],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, bufsize=0,
                cwd=str(folder), env=self._worker_env(folder), **self._process_options())
        except (OSError, subprocess.SubprocessError) as exc:
            shutil.rmtree(folder, ignore_errors=True)
            raise SandboxError(f"grader error: a worker process could not be started: {exc}") from None
        channel = PipeChannel(self, proc, folder, sync)
        self._live.add(channel)
        return channel

    def _after_worker(self, channel):
        self._live.discard(channel)
        shutil.rmtree(channel.folder, ignore_errors=True)
        if self.user is not None and sys.platform.startswith("linux"):
            # No seccomp here: what the worker made in System V IPC goes with it.
            from ..ipc import remove_all_of
            remove_all_of(self.user.pw_uid)

    def _process_options(self):
        if os.name != "posix":
            return {"creationflags": subprocess.CREATE_NEW_PROCESS_GROUP}
        options = {"start_new_session": True}  # its own process group: killed whole
        if self.user is not None:
            options.update(user=self.user.pw_uid, group=self.user.pw_gid, extra_groups=[])
        return options

    def _worker_config(self, sync, folder):
        c = self.config
        return {"root": str(self._dir / "submission"), "cwd": str(folder / workdir.FOLDER_NAME),
                "forbidden": list(c.forbidden),
                "stand_ins": list(c.stand_ins), "max_payload": c.max_value_mb * _MB, "sync": sync,
                "keep_partial_imports": c.keep_partial_imports,
                "limits": {"cpu_s": c.cpu_s, "memory_mb": c.memory_mb, "file_size_mb": c.file_size_mb}}

    def _worker_env(self, folder):
        if os.name == "posix":
            env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"}
        else:
            env = {k: os.environ[k] for k in WINDOWS_ENV if k in os.environ}
        home, tmp = str(folder / "home"), str(folder / "tmp")
        env.update(HOME=home, USERPROFILE=home, TMPDIR=tmp, TEMP=tmp, TMP=tmp, MPLBACKEND="Agg",
                   PYTHONHASHSEED=HASH_SEED, PYTHONDONTWRITEBYTECODE="1", PYTHONIOENCODING="utf-8")
        env.update({v: "1" for v in THREAD_VARS})
        env.update(self.config.env)
        return env


def _sandbox_user_if_root(config):
    """As root (a TA's or CI's run with the portable mode forced), workers still run as a
    sandbox user of this process's own; otherwise as whoever runs the grader."""
    if os.name != "posix" or os.geteuid() != 0:
        return None
    from ..layers.sandbox_user import check_interpreter_runnable, claim_sandbox_user
    user = claim_sandbox_user(config.user)
    try:
        check_interpreter_runnable(config.python or sys.executable, user)
    except BaseException:
        _release(user)
        raise
    return user


def _release(user):
    from ..ipc import remove_all_of
    from ..layers.sandbox_user import is_grading_user, kill_everything_of, release_sandbox_user, remove_grading_user
    if release_sandbox_user(user.pw_name) and sys.platform.startswith("linux"):
        kill_everything_of(user.pw_uid, user.pw_gid)  # a daemon that left its process group
        remove_all_of(user.pw_uid)
        if is_grading_user(user.pw_name):
            remove_grading_user(user.pw_name)
