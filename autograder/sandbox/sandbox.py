"""Sandbox: one per graded submission. Its folder (folder.py), its user, its zygote, and
the rule that nothing a worker started survives the worker. No process running as root
ever imports or executes anything below its folder: the zygote is started as the sandbox
user (see zygote.py, namespaces.py).

Where this full sandbox cannot run (not Linux), or when AUTOGRADER_PORTABLE=1 asks for it,
`Sandbox(...)` gives the portable one instead (backend.py says which, portable.py).
"""
import contextlib
import os
import shutil
import sys
import weakref
from pathlib import Path

from .. import timing
from . import backend, limits, namespaces
from .channel import _InProcessChannel, _ProcessChannel
from .config import SandboxConfig
from .errors import SandboxError
from .folder import make_sandbox_dir, safe_for_root, within  # noqa: F401  (safe_for_root: older imports)
from .users import (check_interpreter_runnable, claim_sandbox_user, kill_everything_of,
                    release_sandbox_user)
from .worker import Worker
from .zygote import Zygote, ZygoteGone

HASH_SEED = "0"
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
               "NUMEXPR_NUM_THREADS", "VECLIB_MAXIMUM_THREADS")
# Where any user may create files: whatever the sandbox user left there goes after each worker.
SHARED_TEMP_DIRS = ("/tmp", "/var/tmp", "/dev/shm", "/run/lock")
# What workers may read under Landlock, besides the interpreter, this runtime and the submission.
SYSTEM_READABLE = ("/usr", "/lib", "/lib32", "/lib64", "/libx32", "/bin", "/sbin", "/etc",
                   "/proc", "/sys", "/dev")
ENGINE_ROOT = Path(__file__).resolve().parents[2]  # the course checkout (or Gradescope's source/)
_MB = 1024 * 1024
_live_boxes = weakref.WeakSet()  # this process's open Sandboxes (they may share a user)


class Sandbox:
    """One per graded submission: a private copy of it, and a warm zygote forking workers."""

    def __new__(cls, submission_root, config=None):
        # Where this sandbox cannot run (or AUTOGRADER_PORTABLE=1), the portable one: the
        # choice is backend.py's, made here so that every caller of Sandbox() gets it.
        if cls is Sandbox and backend.use_portable(config):
            from .portable import PortableSandbox
            return PortableSandbox(submission_root, config)
        return super().__new__(cls)

    def __init__(self, submission_root, config=None):
        with timing.measure("sandbox.create"):
            self._create(submission_root, config)

    def _create(self, submission_root, config):
        self.submission_root, self.config = checked_setup(submission_root, config)
        self.user = None
        # module name -> the timeout that stopped its import (see Worker.import_module)
        self.import_timeouts = {}
        self._zygote = None
        self._dir = None
        self._plan = None
        self._live = set()  # channels of workers not finished yet
        if self.config.in_process:
            return
        try:
            if os.geteuid() == 0:
                self.user = claim_sandbox_user(self.config.user)
            self._dir = self._make_sandbox_dir()
            if self.user is not None:
                self._plan = namespaces.Plan(self.user, self.config.network, self._dir / "work",
                                             self.config.scratch_mb, hide=self._course_paths())
            _live_boxes.add(self)
            self._zygote = Zygote(self)  # boots (imports numpy) while we check the interpreter
            if self.user is not None:
                check_interpreter_runnable(self._python(), self.user)
        except BaseException:
            self.close()
            raise

    # -------------------------------------------------------------- public
    @contextlib.contextmanager
    def worker(self):
        """A fresh worker (fresh student state) for the duration of the block."""
        w = self.start_worker()
        try:
            yield w
        finally:
            w.close()

    def start_worker(self):
        with timing.measure("sandbox.spawn"):
            if self.config.in_process:
                return Worker(_InProcessChannel(self), self.config, self.import_timeouts)
            return Worker(self._spawn(), self.config, self.import_timeouts)

    @property
    def network_isolated(self):
        """True when workers have no network (a network namespace, or seccomp's socket rule)."""
        if self._zygote is None:
            return False
        self._zygote.wait_ready()
        return "no-network" in self.layers or ("seccomp" in self.layers and not self.config.network)

    @property
    def layers(self):
        """The isolation layers in force for this sandbox's workers, e.g. ["pid-namespace",
        "seccomp", "landlock(abi 7)"] (see README, "Isolation")."""
        if self._zygote is None:
            return []
        self._zygote.wait_ready()
        return (["sandbox-user"] if self.user is not None else []) \
            + (self._plan.layers() if self._plan is not None else []) + list(self._zygote.layers)

    def describe(self):
        """One line for the staff log: who runs student code, and the layers in force."""
        if self.config.in_process:
            return "sandbox: IN-PROCESS (benchmark mode): no isolation at all"
        who = f"user {self.user.pw_name} (uid {self.user.pw_uid})" if self.user else f"this user (uid {os.getuid()})"
        return f"sandbox: student code runs as {who}; isolation layers active: {', '.join(self.layers) or 'none'}"

    @property
    def sandbox_dir(self):
        """The private directory the worker runs in (its copy of the submission is below)."""
        return self._dir

    def close(self):
        """Stop the zygote and everything left of the workers; delete the private copy."""
        with timing.measure("sandbox.close"):
            self._close()

    def _close(self):
        if self._zygote is not None:
            self._zygote.stop()
            self._zygote = None
        self._live.clear()
        _live_boxes.discard(self)
        if self.user is not None:
            user, self.user = self.user, None
            if release_sandbox_user(user.pw_name):
                kill_everything_of(user.pw_uid, user.pw_gid)  # nothing of this user may outlive us
            else:
                self._sweep_user(user.pw_uid)  # other Sandboxes of this process still use it
            _clean_shared_temp(user.pw_uid)
        elif self._dir is not None:
            self.sweep()
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    def sweep(self):
        """Kill leftovers outside any live zygote's tree: every process of the sandbox user
        when root (the live workers and zygotes of this process spared), else those
        carrying our token."""
        if self.user is not None:
            return self._sweep_user(self.user.pw_uid)
        if self._dir is not None:
            token = f"AUTOGRADER_SANDBOX_TOKEN={self._token}"
            spare = set()
            if self._zygote is not None:
                procs = limits.processes()
                for root in self._zygote.tree_roots():
                    spare |= {root, *limits.descendants(root, procs)}
            return limits.kill_until_gone(
                lambda procs: [p for p in limits.pids_with_env(token) if p in procs and p not in spare])
        return 0

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        with contextlib.suppress(Exception):
            self.close()

    # -------------------------------------------------------------- after each worker
    def _after_worker(self, channel, status):
        """The worker is finished: nothing it started may run on, nothing it wrote outside
        its own folder (which the zygote deletes) may stay."""
        self._live.discard(channel)
        if self.user is None:
            if status.get("zygote_gone") or status.get("stuck"):
                self.sweep()  # without the zygote, its orphans are found by our token
            return
        if not self._strays_possible():
            return
        self._sweep_user(self.user.pw_uid)
        _clean_shared_temp(self.user.pw_uid)

    def _strays_possible(self):
        """Cheap test first: in a PID namespace every process that outlived its worker is a
        child of the namespace's init (orphans land there), so the children of init that
        are not live workers are all there is to find."""
        z = self._zygote
        if z is None or z.init_pid is None or self._plan is None or not self._plan.pid:
            return True
        children = limits.children_of(z.init_pid)
        if children is None:
            return True
        if children - {c.pid for c in self._live}:
            return True
        # Under Landlock workers cannot write to the shared temp folders (close() checks anyway).
        return not any(layer.startswith("landlock") for layer in z.layers) and bool(_owned_entries(self.user.pw_uid))

    def _sweep_user(self, uid):
        """Kill every running process of `uid` except the zygotes of this process's live
        Sandboxes and the trees of their live workers. Other Sandboxes' zygote trees are
        spared whole (their own workers' strays are theirs to kill)."""
        def select(procs):
            spared = set()
            for box in list(_live_boxes):
                z = box._zygote
                if z is None or box.user is None or box.user.pw_uid != uid:
                    continue
                roots = z.tree_roots()
                spared |= roots
                if box is not self:
                    for root in roots:
                        spared.update(limits.descendants(root, procs))
                for ch in list(box._live):
                    spared.add(ch.pid)
                    spared.update(limits.descendants(ch.pid, procs))
            return [p.pid for p in procs.values() if p.uid == uid and p.pid not in spared]
        return limits.kill_until_gone(select)

    # -------------------------------------------------------------- setup
    def _python(self):
        return self.config.python or sys.executable

    def _make_sandbox_dir(self):
        self._token = os.urandom(8).hex()
        return make_sandbox_dir(self.submission_root, self.user)

    def _course_paths(self):
        """The course checkout, hidden from workers (a mount over it) unless something
        workers need lives inside it."""
        need = [self._dir, Path(self._python()), Path(sys.prefix), Path(sys.base_prefix)]
        course = ENGINE_ROOT
        if course == Path("/") or any(within(p, course) or within(course, p) for p in need):
            return []
        return [course]

    def _readable(self):
        """What Landlock lets workers read (the submission is added by the worker)."""
        import numpy
        paths = list(SYSTEM_READABLE)
        extra = [sys.prefix, sys.base_prefix, sys.exec_prefix, os.path.dirname(self._python()),
                 str(Path(numpy.__file__).resolve().parents[1])]
        with contextlib.suppress(Exception):
            import pyseccomp
            extra.append(str(Path(pyseccomp.__file__).resolve().parent))
        for p in extra:
            real = os.path.realpath(p)
            if not within(ENGINE_ROOT, Path(real)):  # never an ancestor of the course
                paths.append(real)
        paths.append(str(self._dir / "runtime"))
        return sorted(set(paths))

    def _worker_env(self):
        env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8",
               "HOME": str(self._dir / "work"), "TMPDIR": str(self._dir / "work"),
               "MPLBACKEND": "Agg", "AUTOGRADER_SANDBOX_TOKEN": self._token, "PYTHONHASHSEED": HASH_SEED,
               "PYTHONDONTWRITEBYTECODE": "1"}
        env.update({v: "1" for v in THREAD_VARS})
        env.update(self.config.env)
        return env

    def _zygote_config(self):
        c = self.config
        return {
            "root": str(self._dir / "submission"),
            "work": str(self._dir / "work"),
            "forbidden": list(c.forbidden), "stand_ins": list(c.stand_ins),
            "limits": {"cpu_s": c.cpu_s, "memory_mb": c.memory_mb,
                       "file_size_mb": c.file_size_mb, "max_processes": self._nproc_limit()},
            "max_payload": c.max_value_mb * _MB,
            "network": c.network,
            "pidns": bool(self._plan is not None and self._plan.pid),
            "landlock": True,
            "readable": self._readable(),
        }

    def _nproc_limit(self):
        # RLIMIT_NPROC counts every process of the real uid. As the sandbox user that is the
        # sandbox; as an ordinary user it includes their whole desktop, so add what runs now.
        n = self.config.max_processes
        if self.user is None:
            uid = os.getuid()
            n += sum(1 for p in limits.processes().values() if p.uid == uid)
        return n

    def _spawn(self):
        for attempt in (0, 1):
            if self._zygote is not None and not self._zygote.alive():
                self._drop_zygote()
            if self._zygote is None:
                self._zygote = Zygote(self)
            sock, theirs = _socketpair()
            out_r, out_w = os.pipe()
            try:
                zpid, pid = self._zygote.spawn([theirs.fileno(), out_w])
            except ZygoteGone:
                sock.close()
                os.close(out_r)
                # e.g. killed by student code (possible without a PID namespace). The new
                # one starts exactly as the first did: as the sandbox user, never as root.
                self._drop_zygote()
                if attempt:
                    raise SandboxError("grader error: the sandbox's zygote process keeps dying")
                continue
            except BaseException:
                sock.close()
                os.close(out_r)
                raise
            finally:
                theirs.close()
                os.close(out_w)
            channel = _ProcessChannel(self, self._zygote, sock, out_r, zpid, pid)
            self._live.add(channel)
            return channel

    def _drop_zygote(self):
        self._zygote.stop()
        self._zygote = None
        for ch in list(self._live):
            if ch.zygote is not self._zygote:
                self._live.discard(ch)
        self.sweep()  # its workers' orphans went to init; find them by token/uid


def checked_setup(submission_root, config):
    """(the submission folder, the config), or SandboxError: what every sandbox checks first."""
    root = Path(submission_root).resolve()
    if not root.is_dir():
        raise SandboxError(f"submission directory {root} does not exist")
    config = config or SandboxConfig()
    from .stubs import STAND_INS
    unknown = [n for n in config.stand_ins if n not in STAND_INS]
    if unknown:
        raise SandboxError(f"grader error: no stand-in exists for {', '.join(unknown)} "
                           f"(known: {', '.join(STAND_INS)})")
    return root, config


def _socketpair():
    import socket
    return socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)


def _owned_entries(uid):
    found = []
    for top in SHARED_TEMP_DIRS:
        try:
            with os.scandir(top) as it:
                for entry in it:
                    with contextlib.suppress(OSError):
                        if entry.stat(follow_symlinks=False).st_uid == uid:
                            found.append(entry.path)
        except OSError:
            pass
    return found


def _clean_shared_temp(uid):
    """Delete what `uid` created at the top of the shared temporary folders (files, links,
    folders with all below them; links are removed, never followed)."""
    for path in _owned_entries(uid):
        with contextlib.suppress(OSError):
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path, ignore_errors=True)
            else:
                os.unlink(path)
