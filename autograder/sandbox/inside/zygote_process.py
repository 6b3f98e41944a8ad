"""The untrusted side's processes: the zygote, and how each worker it forks sets itself up.

    zygote   started by the trusted process AS THE SANDBOX USER (never root: whatever a
             worker does to it gains nothing), with `python -s`, a fixed hash seed, from a
             root-owned copy of this package. When the grader made a PID namespace, the
             zygote is init of that namespace (workers cannot signal it, every orphan lands
             on it, and the grader ends the namespace by killing it), its parent a root
             process outside that only waits (namespaces.py). The zygote imports numpy once,
             puts seccomp on itself (inherited by every worker), then serves a control
             socket: "spawn" forks a fresh worker on the sockets it is handed (send_fds) with
             fresh HOME, TMPDIR and writable copy of the submission (made ahead while no
             worker runs: SpareFolder); "finish" kills a worker with everything it started,
             reports how it ended and deletes its folder.
    worker   new session, its own copy of the submission as its current directory
             (workdir.py), rlimits, no_new_privs, Landlock (reads only the system, the
             interpreter, this runtime and the submission; writes only its own folder),
             stdout/stderr to a pipe the trusted side drains, then serves requests.
"""
import io
import json
import os
import select
import shutil
import signal
import socket
import sys
import time
import traceback

from .. import ipc, processes, protocol
from ..layers import landlock, non_dumpable, rlimits, seccomp
from . import import_watch, stubs, workdir
from .worker_main import Dispatcher, serve

REAP_DEADLINE_S = 5.0  # a killed worker is reaped by then, or reported as stuck


def become_worker(cfg, sock_fd, out_fd, finder, folder):
    """In the forked child: isolate, serve. Never returns."""
    os.setsid()
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.dup2(out_fd, 1)
    os.dup2(out_fd, 2)
    os.dup2(sock_fd, 3)
    os.closerange(4, 1 << 16)  # the zygote's control socket must not reach student code
    os.umask(0o077)
    cwd = os.path.join(folder, workdir.FOLDER_NAME)  # made by the zygote (make_worker_folder)
    lim = cfg["limits"]
    rlimits.apply_rlimits(lim.get("cpu_s"), lim.get("memory_mb"), lim.get("file_size_mb"), lim.get("max_processes"))
    non_dumpable.set_dumpable(True)  # inherited from the zygote; the worker's own /proc stays its own
    rlimits.first_for_the_oom_killer()  # after set_dumpable: before it, root owns our /proc files
    processes.no_new_privileges()
    processes.die_with_parent()
    home, tmp = os.path.join(folder, "home"), os.path.join(folder, "tmp")
    os.environ["HOME"], os.environ["TMPDIR"] = home, tmp
    import tempfile
    tempfile.tempdir = None  # computed again from TMPDIR
    os.stat(cfg["root"])  # imports come from there: missing is a set-up failure, not the student's
    os.chdir(cwd)  # its own writable copy; imports still come from the read-only root
    if cfg.get("landlock"):
        readable = list(cfg.get("readable", ())) + [cfg["root"]]
        if not landlock.restrict(readable, [folder, os.devnull]):
            raise RuntimeError("Landlock could not be applied in this worker")
    sys.stdout = io.TextIOWrapper(io.FileIO(1, "w", closefd=False), encoding="utf-8",
                                  errors="backslashreplace", line_buffering=True)
    sys.stderr = io.TextIOWrapper(io.FileIO(2, "w", closefd=False), encoding="utf-8",
                                  errors="backslashreplace", line_buffering=True)
    sys.__stdout__, sys.__stderr__ = sys.stdout, sys.stderr
    sys.argv = [""]
    sys.path.insert(0, cfg["root"])
    sock = socket.socket(fileno=3)
    sock.setblocking(True)
    watch = import_watch.install(cfg["root"], lambda *note: protocol.send_frame(sock, {"imp": list(note)}),
                                 cfg.get("keep_partial_imports", False))
    protocol.send_frame(sock, {"hello": os.getpid()})  # set up: from here on it is the student's
    serve(sock, Dispatcher(cfg["root"], cfg["max_payload"], finder, watch), cfg["max_payload"])


def make_worker_folder(path, root):
    """A worker's folder: HOME, TMPDIR and its own writable copy of the submission."""
    os.mkdir(path, 0o700)
    os.mkdir(os.path.join(path, "home"), 0o700)
    os.mkdir(os.path.join(path, "tmp"), 0o700)
    workdir.make_private_copy(root, os.path.join(path, workdir.FOLDER_NAME))


class SpareFolder:
    """The next worker's folder, made while no worker runs (between a finish and the next
    spawn the grader is busy with its own checks), so that copying the submission costs a
    spawn nothing. Made only when no worker is alive, so no worker can have touched it."""

    NAME = "next"  # never a worker's number

    def __init__(self, work, root):
        self.path, self.root, self.ready = os.path.join(work, self.NAME), root, False

    def prepare(self):
        if self.ready:
            return
        shutil.rmtree(self.path, ignore_errors=True)
        try:
            make_worker_folder(self.path, self.root)
            self.ready = True
        except OSError:
            shutil.rmtree(self.path, ignore_errors=True)  # the spawn makes one itself

    def take(self, folder):
        """Move the spare to `folder` (True), or say there is none."""
        if not self.ready:
            return False
        self.ready = False
        try:
            os.rename(self.path, folder)
            return True
        except OSError:
            shutil.rmtree(self.path, ignore_errors=True)
            return False


def zygote_main(cfg_json, ctl_fd):
    cfg = json.loads(cfg_json)
    ctl = socket.socket(fileno=int(ctl_fd))
    in_namespace = bool(cfg.get("pidns"))
    if in_namespace:
        # The grader's start (namespaces.Plan) made us init of the PID namespace, with its own /proc.
        if os.getpid() != 1:
            raise RuntimeError("the zygote should be init of its PID namespace")
    else:
        processes.become_subreaper()
    # Warm what every worker needs, once: numpy and the submodules it loads lazily.
    import numpy.fft, numpy.linalg, numpy.random  # noqa: F401
    import tempfile  # noqa: F401  (workers reset its cached folder)
    finder = stubs.install(cfg["forbidden"], cfg["stand_ins"])
    layers = []
    if non_dumpable.set_dumpable(False):  # workers (same user) cannot read or write our memory
        layers.append("zygote-not-dumpable")
    processes.no_new_privileges()
    if seccomp.seccomp_filter(bool(cfg.get("network"))):
        layers.append("seccomp")
    elif cfg.get("sandbox_user"):
        # Workers may make IPC objects: clear them after each one. Only as a sandbox user:
        # as an ordinary user (no root) the uid's objects are that person's own.
        cfg["clear_ipc"] = True
    if cfg.get("landlock"):
        abi = landlock.available_abi()
        if abi:
            layers.append(f"landlock(abi {abi})")
        else:
            cfg["landlock"] = False
    work = cfg["work"]
    statuses, live, folders = {}, set(), {}  # folders: pid -> the worker's folder
    spare = SpareFolder(work, cfg["root"])

    def reap():
        while True:
            try:
                pid, status, usage = os.wait4(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            if pid in live:
                statuses[pid] = [status, usage.ru_utime + usage.ru_stime]
                live.discard(pid)

    def reply(msg):
        ctl.send(json.dumps(msg).encode())

    reply({"ready": os.getpid(), "layers": layers})
    spare.prepare()  # the first worker's, while the grader checks the interpreter
    while True:
        ready, _, _ = select.select([ctl], [], [], 0.5)
        reap()
        if not ready:
            continue
        try:
            msg, fds, _, _ = socket.recv_fds(ctl, 65536, 4)
        except OSError:
            msg, fds = b"", []
        if not msg:
            break
        req = json.loads(msg)
        op = req.get("op")
        if op == "spawn":
            folder = os.path.join(work, str(int(req.get("n", 0))))
            try:
                shutil.rmtree(folder, ignore_errors=True)
                if not spare.take(folder):
                    make_worker_folder(folder, cfg["root"])
            except OSError as exc:
                shutil.rmtree(folder, ignore_errors=True)
                for fd in fds:
                    os.close(fd)
                reply({"error": f"cannot make the worker's folder: {exc}"})
                continue
            sys.stdout.flush()
            pid = os.fork()
            if pid == 0:
                try:
                    ctl.close()
                    become_worker(cfg, fds[0], fds[1], finder, folder)
                except BaseException:
                    traceback.print_exc()  # to the worker's output pipe: the grader shows it
                finally:
                    os._exit(70)
            for fd in fds:
                os.close(fd)
            live.add(pid)
            folders[pid] = folder
            reply({"pid": pid})
        elif op == "finish":
            folder = folders.pop(req["pid"], None)
            status = finish(req["pid"], req.get("grace", 0.0), live, statuses, reap, in_namespace)
            if cfg.get("clear_ipc") and not live:
                # The IPC namespace (ours, or the host's) holds only our user's objects to us;
                # the grader sweeps the host's as well, but cannot see into our namespace.
                status["ipc_cleared"] = ipc.remove_all_of(os.getuid())
            if folder:  # the worker and all it started are dead: its folder goes with it
                shutil.rmtree(folder, ignore_errors=True)
            reply(status)
            if not live:  # the next worker's, while the grader checks this one's results
                spare.prepare()
        elif op == "ping":
            reply({"ok": True})
    if in_namespace:
        _kill_all_but_me()
    else:
        for pid in list(live):
            _killpg(pid)
        processes.kill_tree(os.getpid())
    reap()


def finish(pid, grace, live, statuses, reap, in_namespace):
    """Wait up to `grace` s for the worker to end by itself, then kill it and everything it
    started (its orphans are our children: we are init or their subreaper), and report how
    it ended."""
    deadline = time.monotonic() + grace
    reap()
    while pid in live and time.monotonic() < deadline:
        time.sleep(0.002)
        reap()
    killed = pid in live
    if killed:
        _killpg(pid)
    deadline = time.monotonic() + REAP_DEADLINE_S
    while pid in live and time.monotonic() < deadline:
        reap()
        if pid in live:
            time.sleep(0.001)
    stuck = pid in live
    if stuck:
        live.discard(pid)
    swept = 0
    others = set(live)
    if in_namespace:
        # init of the namespace: kill(-1) reaches every process in it but us, at once.
        swept = _kill_all_but_me() if not others else 0
    else:
        # Whatever the worker started and left alive is now our child (we are the subreaper),
        # so the full /proc scan is needed only when we have children besides live workers.
        strays = processes.children_of(os.getpid())
        if strays is None or strays - others:
            swept = processes.kill_tree(os.getpid(), spare=list(others)) or len(strays or ())
    reap()
    status, cpu = statuses.pop(pid, [None, 0.0])
    out = {"killed": killed, "cpu": cpu, "swept": swept, "others": len(others)}
    if stuck:
        out["stuck"] = True
    if status is not None:
        if os.WIFSIGNALED(status):
            out["signal"] = os.WTERMSIG(status)
        else:
            out["exit"] = os.WEXITSTATUS(status)
    return out


def _kill_all_but_me():
    """As init of a PID namespace: SIGKILL everything else in it until nothing is left."""
    sent = 0
    deadline = time.monotonic() + REAP_DEADLINE_S
    while time.monotonic() < deadline:
        try:
            os.kill(-1, signal.SIGKILL)
            sent += 1
        except ProcessLookupError:
            return sent  # nothing left to signal
        # orphans are ours to reap; a thread group whose main thread exited is still signalled
        while True:
            try:
                if os.waitpid(-1, os.WNOHANG)[0] == 0:
                    break
            except ChildProcessError:
                break
        time.sleep(0.001)
    return sent


def _killpg(pid):
    for fn in (os.killpg, os.kill):
        try:
            fn(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
