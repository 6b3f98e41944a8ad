"""The trusted side's handle on a zygote: starts it (as the sandbox user, inside the
namespaces of namespaces.Plan, from the root-owned runtime copy), talks to it over a
SEQPACKET socket with a deadline on every wait, and ends it.

Nothing the zygote says is trusted for grading: it runs as the sandbox user, so a worker
may have tampered with it. A zygote that stops answering is a grader error for that
request; the next one is started exactly like the first, never with more privilege.
"""
import contextlib
import json
import os
import signal
import socket
import subprocess
import tempfile
import time

from . import launch
from .. import processes
from ..layers import namespaces
from .channel import _ProcessChannel
from .errors import SandboxError

# The zygote runs with -s, not -I: -I implies -E, which ignores PYTHONHASHSEED, and string
# hashes (so the order of a set of strings in student code) must not change between runs,
# or neither may a grade. -E would protect nothing here: the environment is entirely ours
# (launch.worker_env). The boot drops the '' (current directory) that -c puts on sys.path.
ZYGOTE_BOOT = ("import sys; sys.path[:] = [p for p in sys.path if p]; sys.path.insert(0, sys.argv[1]); "
               "from _agsandbox.inside.zygote_process import zygote_main; zygote_main(sys.argv[2], sys.argv[3])")
REQUEST_TIMEOUT_S = 30.0
FINISH_TIMEOUT_S = 15   # the zygote itself waits at most 5 s for a killed worker


def _in_child(box):
    """What the zygote's child does before exec: move to the grading's CPU (cpu_share.py),
    then enter the namespaces (namespaces.Plan.preexec)."""
    cpu, plan = box._cpu, box._plan

    def before_exec():
        cpu.preexec()
        if plan is not None:
            plan.preexec()
    return before_exec


class ZygoteGone(Exception):
    pass


class Zygote:
    def __init__(self, box):
        self.box = box
        self.plan = box._plan
        self.ctl, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.log = tempfile.TemporaryFile()
        try:
            self.proc = subprocess.Popen(
                [launch.box_python(box), "-s", "-c", ZYGOTE_BOOT, str(box._dir / "runtime"),
                 json.dumps(launch.zygote_config(box)), str(theirs.fileno())],
                pass_fds=[theirs.fileno()], stdin=subprocess.DEVNULL, stdout=self.log,
                stderr=self.log, env=launch.worker_env(box), cwd=str(box._dir), start_new_session=True,
                preexec_fn=_in_child(box))
        except (OSError, subprocess.SubprocessError) as exc:
            self.ctl.close()
            self.log.close()
            raise SandboxError(f"grader error: the sandbox's zygote could not be started: {exc}") from None
        finally:
            theirs.close()
        self.pid = self.proc.pid       # what we started (outside the PID namespace, if any)
        self.init_pid = None           # the zygote proper: init of its PID namespace
        self.ready = False
        self.layers = []               # as the zygote reports them (seccomp, Landlock)
        self.spawned = 0
        self.broken = False

    def wait_ready(self):
        if self.ready:
            return
        try:
            hello = self._recv(self.box.config.start_timeout_s)
            layers = hello.get("layers")
            self.layers = [str(x)[:40] for x in layers][:10] if type(layers) is list else []
        except ZygoteGone:
            text = self.log_text()
            self.stop()
            raise SandboxError(f"grader error: the sandbox could not start:\n{text}") from None
        if self.plan is not None and self.plan.pid:
            children = processes.children_of(self.pid) or set()
            if len(children) != 1:
                self.stop()
                raise SandboxError("grader error: the sandbox's zygote did not start its namespace")
            (self.init_pid,) = children
        self.ready = True

    def log_text(self):
        with contextlib.suppress(OSError, ValueError):
            self.log.seek(0)
            return self.log.read()[-4000:].decode("utf-8", "replace")
        return ""

    def alive(self):
        return not self.broken and self.proc.poll() is None

    def tree_roots(self):
        """Our processes that are the zygote (spared by sweeps while it lives)."""
        return {p for p in (self.pid, self.init_pid) if p is not None}

    def _recv(self, timeout):
        self.ctl.settimeout(timeout)
        try:
            msg = self.ctl.recv(65536)
        except (socket.timeout, OSError):
            msg = b""
        if not msg:
            raise ZygoteGone()
        try:
            out = json.loads(msg)
        except ValueError:
            raise ZygoteGone() from None
        if type(out) is not dict:
            raise ZygoteGone()
        return out

    def request(self, msg, fds=(), timeout=REQUEST_TIMEOUT_S):
        try:
            if fds:
                socket.send_fds(self.ctl, [json.dumps(msg).encode()], list(fds))
            else:
                self.ctl.send(json.dumps(msg).encode())
        except OSError:
            raise ZygoteGone() from None
        return self._recv(timeout)

    def spawn(self, fds):
        """A new worker: (its pid in the zygote's namespace, its pid here)."""
        self.wait_ready()
        self.spawned += 1
        reply = self.request({"op": "spawn", "n": self.spawned}, fds)
        zpid = reply.get("pid")
        if type(zpid) is not int or zpid <= 1:
            raise SandboxError(f"grader error: the zygote could not start a worker ({str(reply)[:300]})")
        if self.init_pid is None:
            return zpid, zpid
        for _ in range(1000):  # the child exists when the reply comes; /proc may lag a moment
            for child in processes.children_of(self.init_pid) or ():
                if namespaces.ns_pid_of(child) == zpid:
                    return zpid, child
            time.sleep(0.001)
        raise SandboxError("grader error: the new worker is not among the zygote's children")

    def finish(self, channel, grace=0.0):
        try:
            status = self.request({"op": "finish", "pid": channel.zygote_pid, "grace": grace},
                                  timeout=FINISH_TIMEOUT_S + grace)
        except ZygoteGone:
            status = {"killed": True, "cpu": 0.0, "zygote_gone": True}
        if status.get("zygote_gone") or status.get("stuck") or type(status.get("killed")) is not bool:
            # The zygote did not (or may not have) reaped it, so the pid is still the worker's.
            for fn in (os.killpg, os.kill):
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    fn(channel.pid, signal.SIGKILL)
            self.broken = True  # never asked again; the next worker gets a new zygote
        return status

    def stop(self):
        with contextlib.suppress(OSError):
            self.ctl.close()  # the zygote kills its whole tree when its socket closes
        if self.init_pid is not None:
            # As root: killing init ends every process of its namespace, at once.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(self.init_pid, signal.SIGKILL)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass  # unkillable (D state): the final sweep of the user reports it
        with contextlib.suppress(OSError, ValueError):
            self.log.close()


def spawn_worker(box):
    """A new worker from the box's zygote (a new zygote if it died, once): its channel."""
    for attempt in (0, 1):
        if box._zygote is not None and not box._zygote.alive():
            box._drop_zygote()
        if box._zygote is None:
            box._zygote = Zygote(box)
        sock, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        out_r, out_w = os.pipe()
        try:
            zpid, pid = box._zygote.spawn([theirs.fileno(), out_w])
        except ZygoteGone:
            sock.close()
            os.close(out_r)
            # e.g. killed by student code (possible without a PID namespace). The new
            # one starts exactly as the first did: as the sandbox user, never as root.
            box._drop_zygote()
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
        return _ProcessChannel(box, box._zygote, sock, out_r, zpid, pid)
