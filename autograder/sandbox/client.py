"""The trusted side: Sandbox, Worker, Remote and fetch().

Student code runs only in worker processes forked from a zygote (see worker_main.py).
This process sends requests and receives plain data; whatever comes back is validated
here, because everything in the worker, our own runtime included, may be tampered with.
"""
import contextlib
import io
import os
import re
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import weakref
from pathlib import Path

import numpy as np

from .. import timing
from . import limits, protocol
from .config import SandboxConfig
from .errors import BadValue, SandboxError, StudentError, WorkerCrashed, WorkerTimeout
from .users import check_interpreter_runnable, ensure_sandbox_user, sandbox_user_name

RUNTIME_PACKAGE = "_agsandbox"
RUNTIME_FILES = ("__init__.py", "protocol.py", "limits.py", "worker_main.py", "import_watch.py")
# The zygote runs with -s, not -I: -I implies -E, which ignores PYTHONHASHSEED, and string
# hashes (so the order of a set of strings in student code) must not change between runs,
# or neither may a grade. -E would protect nothing here: the environment is entirely ours
# (_worker_env). The boot drops the '' (current directory) that -c puts on sys.path, as -I does.
ZYGOTE_BOOT = ("import sys; sys.path[:] = [p for p in sys.path if p]; sys.path.insert(0, sys.argv[1]); "
               "from _agsandbox.worker_main import zygote_main; zygote_main(sys.argv[2], sys.argv[3])")
HASH_SEED = "0"
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
               "NUMEXPR_NUM_THREADS", "VECLIB_MAXIMUM_THREADS")
_MB = 1024 * 1024


# ====================================================================== Sandbox

class Sandbox:
    """One per graded submission: a private copy of it, and a warm zygote forking workers."""

    def __init__(self, submission_root, config=None):
        with timing.measure("sandbox.create"):
            self._create(submission_root, config)

    def _create(self, submission_root, config):
        self.submission_root = Path(submission_root).resolve()
        if not self.submission_root.is_dir():
            raise SandboxError(f"submission directory {self.submission_root} does not exist")
        self.config = config or SandboxConfig()
        from .stubs import STAND_INS
        unknown = [n for n in self.config.stand_ins if n not in STAND_INS]
        if unknown:
            raise SandboxError(f"grader error: no stand-in exists for {', '.join(unknown)} "
                               f"(known: {', '.join(STAND_INS)})")
        self.user = None
        # module name -> the timeout that stopped its import (see Worker.import_module)
        self.import_timeouts = {}
        self._zygote = None
        self._dir = None
        if not self.config.in_process:
            if os.geteuid() == 0:
                self.user = ensure_sandbox_user(sandbox_user_name(self.config.user))
            self._dir = self._make_sandbox_dir()
            self._zygote = _Zygote(self)  # boots (imports numpy) while we check the interpreter
            if self.user is not None:
                try:
                    check_interpreter_runnable(self._python(), self.user)
                except SandboxError:
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
        """True when workers run without network (root, and namespaces allowed here)."""
        if self._zygote is None:
            return False
        self._zygote.wait_ready()
        return self._zygote.offline

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
        self.sweep()
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    def sweep(self):
        """Kill leftovers outside any live zygote's tree: every process of the sandbox user
        when root (other sandboxes' zygote trees spared), else those carrying our token."""
        if self.user is not None:
            uid = self.user.pw_uid
            # Workers carry their zygote's command line, so count only zygotes that are not
            # the sandbox user's own processes (those the student cannot fake).
            procs = limits.processes()
            zygotes = [pid for pid in zygote_pids() if pid in procs and procs[pid].uid != uid]
            return limits.kill_user(uid, spare_roots=zygotes)
        if self._dir is not None:
            token = f"AUTOGRADER_SANDBOX_TOKEN={self._token}"
            spare = set()
            if self._zygote is not None:
                procs = limits.processes()
                spare = {self._zygote.pid, *limits.descendants(self._zygote.pid, procs)}
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

    # -------------------------------------------------------------- setup
    def _python(self):
        return self.config.python or sys.executable

    def _make_sandbox_dir(self):
        """<tmp>/submission (the student's copy), <tmp>/runtime (our worker code, read-only),
        <tmp>/home (HOME and TMPDIR). Owned by the sandbox user when root."""
        self._token = os.urandom(8).hex()
        base = Path(tempfile.gettempdir())
        if self.user is not None and not _traversable_by_others(base):
            base = Path("/tmp")  # e.g. TMPDIR under root's private home
            if not _traversable_by_others(base):
                raise SandboxError(f"grader error: no temporary directory the sandbox user can reach ({base})")
        top = Path(tempfile.mkdtemp(prefix="beras-sandbox-", dir=base))
        sub = top / "submission"
        # symlinks stay links (never followed), so a link to a root-only file stays unreadable
        shutil.copytree(self.submission_root, sub, symlinks=True,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc", ".git"))
        runtime = top / "runtime" / RUNTIME_PACKAGE
        here = Path(__file__).parent
        runtime.mkdir(parents=True)
        for name in RUNTIME_FILES:
            shutil.copy2(here / name, runtime / name) if name != "__init__.py" else \
                (runtime / name).write_text("")
        shutil.copytree(here / "stubs", runtime / "stubs", ignore=shutil.ignore_patterns("__pycache__"))
        (top / "home").mkdir()
        for path in [top / "runtime", *(top / "runtime").rglob("*")]:
            path.chmod(0o755 if path.is_dir() else 0o644)
        if self.user is not None:
            uid, gid = self.user.pw_uid, self.user.pw_gid
            for path in [top, top / "home", sub, *sub.rglob("*")]:
                os.chown(path, uid, gid, follow_symlinks=False)
        return top

    def _worker_env(self):
        env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8",
               "HOME": str(self._dir / "home"), "TMPDIR": str(self._dir / "home"),
               "MPLBACKEND": "Agg", "AUTOGRADER_SANDBOX_TOKEN": self._token, "PYTHONHASHSEED": HASH_SEED}
        env.update({v: "1" for v in THREAD_VARS})
        env.update(self.config.env)
        return env

    def _zygote_config(self):
        c = self.config
        return {
            "root": str(self._dir / "submission"),
            "forbidden": list(c.forbidden), "stand_ins": list(c.stand_ins),
            "limits": {"cpu_s": c.cpu_s, "memory_mb": c.memory_mb,
                       "file_size_mb": c.file_size_mb, "max_processes": self._nproc_limit()},
            "uid": self.user.pw_uid if self.user else None,
            "gid": self.user.pw_gid if self.user else None,
            "max_payload": c.max_value_mb * _MB,
            "network": c.network,
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
                self._zygote = _Zygote(self)
            sock, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
            out_r, out_w = os.pipe()
            try:
                pid = self._zygote.spawn([theirs.fileno(), out_w])
            except _ZygoteGone:
                sock.close()
                os.close(out_r)
                self._drop_zygote()  # e.g. killed by student code (possible when not root)
                if attempt:
                    raise SandboxError("grader error: the sandbox's zygote process keeps dying")
                continue
            finally:
                theirs.close()
                os.close(out_w)
            return _ProcessChannel(self, self._zygote, sock, out_r, pid)


    def _drop_zygote(self):
        self._zygote.stop()
        self._zygote = None
        self.sweep()  # its workers' orphans went to init; find them by token/uid


def _traversable_by_others(path):
    path = Path(path).resolve()
    return all(p.stat().st_mode & 0o001 for p in [path, *path.parents])


def zygote_pids():
    """Live zygotes on this machine (any sandbox): their trees belong to running graders."""
    out = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/cmdline", "rb") as f:
                    if b"_agsandbox.worker_main import zygote_main" in f.read():
                        out.append(int(name))
            except OSError:
                pass
    return out


class _ZygoteGone(Exception):
    pass


class _Zygote:
    """The warm parent of the workers; we talk to it over a SEQPACKET socket."""

    def __init__(self, box):
        self.box = box
        self.ctl, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.log = tempfile.TemporaryFile()
        import json
        try:
            self.proc = subprocess.Popen(
                [box._python(), "-s", "-c", ZYGOTE_BOOT, str(box._dir / "runtime"),
                 json.dumps(box._zygote_config()), str(theirs.fileno())],
                pass_fds=[theirs.fileno()], stdin=subprocess.DEVNULL, stdout=self.log,
                stderr=self.log, env=box._worker_env(), cwd=str(box._dir), start_new_session=True)
        finally:
            theirs.close()
        self.pid = self.proc.pid
        self.ready = False
        self.offline = False  # workers have no network (known once ready)

    def wait_ready(self):
        if self.ready:
            return
        try:
            hello = self._recv(self.box.config.start_timeout_s)
            self.offline = hello.get("offline") is True
        except _ZygoteGone:
            self.stop()
            raise SandboxError(f"grader error: the sandbox could not start:\n{self.log_text()}") from None
        self.ready = True

    def log_text(self):
        self.log.seek(0)
        return self.log.read()[-4000:].decode("utf-8", "replace")

    def alive(self):
        return self.proc.poll() is None

    def _recv(self, timeout):
        import json
        self.ctl.settimeout(timeout)
        try:
            msg = self.ctl.recv(65536)
        except (socket.timeout, OSError):
            msg = b""
        if not msg:
            raise _ZygoteGone()
        return json.loads(msg)

    def request(self, msg, fds=(), timeout=30.0):
        import json
        try:
            if fds:
                socket.send_fds(self.ctl, [json.dumps(msg).encode()], list(fds))
            else:
                self.ctl.send(json.dumps(msg).encode())
        except OSError:
            raise _ZygoteGone() from None
        return self._recv(timeout)

    def spawn(self, fds):
        self.wait_ready()
        return self.request({"op": "spawn"}, fds)["pid"]

    def finish(self, pid, grace=0.0):
        try:
            return self.request({"op": "finish", "pid": pid, "grace": grace})
        except _ZygoteGone:
            # The zygote is gone (non-root: student code may kill it), so kill directly.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)
            return {"killed": True, "cpu": 0.0, "zygote_gone": True}

    def stop(self):
        with contextlib.suppress(OSError):
            self.ctl.close()  # the zygote kills its whole tree when its socket closes
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


# ====================================================================== channels

class _Died(Exception):
    def __init__(self, cause):
        self.cause = cause  # "eof", "timeout" or a protocol message


class _ProcessChannel:
    """One worker process: a stream socket for requests, a pipe carrying its stdout+stderr."""

    def __init__(self, box, zygote, sock, out_fd, pid):
        self.box, self.zygote, self.sock, self.out_fd, self.pid = box, zygote, sock, out_fd, pid
        self.max_payload = box.config.max_value_mb * _MB
        self.sock.setblocking(False)
        os.set_blocking(out_fd, False)
        self.sel = selectors.DefaultSelector()
        self.sel.register(self.sock, selectors.EVENT_READ, "sock")
        self.sel.register(out_fd, selectors.EVENT_READ, "out")
        self.output = _OutputBuffer(box.config.output_kb * 1024)
        self.closed = False
        self.greeted = False  # the worker says hello once set up, before any student code
        self.importing = []   # submission modules whose import started and has not ended

    def exchange(self, header, payload, timeout):
        try:
            started = timing.clock()
            deadline = time.monotonic() + timeout
            reply = self._exchange(header, payload, timeout)
            if not self.greeted:
                if "hello" not in reply[0]:
                    raise _Died("no greeting from the worker")
                self.greeted = True
                timing.add("sandbox.greeting", timing.clock() - started)
                timing.add("sandbox.greeting.cpu", 0.0)  # waiting, hardly any CPU here
                deadline = time.monotonic() + timeout
                reply = self._receive(deadline)
            while "imp" in reply[0]:  # a note on the way (see import_watch.py), not the reply
                self._note_import(reply[0]["imp"])
                reply = self._receive(deadline)
            return reply
        except _Died as died:
            if not self.greeted:
                died.cause = "setup"
            raise

    def _note_import(self, note):
        if not (type(note) is list and len(note) == 2 and note[0] in ("start", "end")
                and type(note[1]) is str and _MODULE_NAME.fullmatch(note[1])):
            raise _Died("malformed import note")
        event, name = note
        if event == "start" and len(self.importing) < 1000:
            self.importing.append(name)
        elif event == "end" and name in self.importing:
            del self.importing[len(self.importing) - 1 - self.importing[::-1].index(name)]

    def unfinished_imports(self):
        return list(self.importing)

    def _receive(self, deadline):
        reader = _FrameReader(self.max_payload)
        try:
            while not self._read(reader):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise _Died("timeout")
                for key, mask in self.sel.select(remaining):
                    if key.data == "out":
                        self.drain()
        except protocol.ProtocolError as exc:
            raise _Died(str(exc)) from None
        return reader.header, reader.payload

    def _exchange(self, header, payload, timeout):
        head, parts = protocol.pack_frame(header, payload, self.max_payload)
        pending = [memoryview(head)] + [memoryview(p) for p in parts]
        deadline = time.monotonic() + timeout
        self._send_now(pending)
        if pending:
            self.sel.modify(self.sock, selectors.EVENT_READ | selectors.EVENT_WRITE, "sock")
        reader = _FrameReader(self.max_payload)
        try:
            while True:
                # Fast path: the reply is usually there already.
                if not pending and self._read(reader):
                    return reader.header, reader.payload
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise _Died("timeout")
                for key, mask in self.sel.select(remaining):
                    if key.data == "out":
                        self.drain()
                    elif mask & selectors.EVENT_WRITE and pending:
                        self._send_now(pending)
                        if not pending:
                            self.sel.modify(self.sock, selectors.EVENT_READ, "sock")
                    elif mask & selectors.EVENT_READ and self._read(reader):
                        return reader.header, reader.payload
        except protocol.ProtocolError as exc:
            raise _Died(str(exc)) from None
        finally:
            if pending:
                self.sel.modify(self.sock, selectors.EVENT_READ, "sock")

    def _send_now(self, pending):
        while pending:
            try:
                n = self.sock.send(pending[0])
            except BlockingIOError:
                return
            except OSError:
                raise _Died("eof") from None
            pending[0] = pending[0][n:]
            if not len(pending[0]):
                pending.pop(0)

    def _read(self, reader):
        """Read what is available; True when a whole frame is in."""
        while True:
            try:
                n = self.sock.recv_into(reader.view(), reader.want())
            except BlockingIOError:
                return False
            except OSError:
                raise _Died("eof") from None
            if n == 0:
                raise _Died("eof")
            if reader.advance(n):
                return True

    def drain(self):
        while True:
            try:
                data = os.read(self.out_fd, 65536)
            except BlockingIOError:
                return
            except OSError:
                data = b""
            if not data:
                with contextlib.suppress(KeyError, ValueError):
                    self.sel.unregister(self.out_fd)
                return
            self.output.add(data)

    def finish(self, grace):
        """Kill the worker and all it started; how it ended (see worker_main.finish)."""
        if self.closed:
            return {}
        self.closed = True
        with timing.measure("sandbox.finish"):
            return self._finish(grace)

    def _finish(self, grace):
        status = self.zygote.finish(self.pid, grace)
        cpu = status.get("cpu")
        if type(cpu) is float:  # the zygote's account of the worker's whole life (bench only)
            timing.add("sandbox.worker_process.cpu", cpu)
        self.drain()
        self.sel.close()
        self.sock.close()
        os.close(self.out_fd)
        return status

    def sweep(self):
        self.box.sweep()


class _FrameReader:
    def __init__(self, max_payload):
        self.max_payload = max_payload
        self.buf = bytearray(protocol.PREFIX.size)
        self.got = 0
        self.stage = "prefix"
        self.header = None
        self.payload = bytearray()

    def view(self):
        return memoryview(self.buf)[self.got:]

    def want(self):
        return len(self.buf) - self.got

    def advance(self, n):
        self.got += n
        while self.got == len(self.buf):
            if self.stage == "prefix":
                self.head_len, self.payload_len = protocol.parse_prefix(bytes(self.buf), self.max_payload)
                self.stage, self.buf, self.got = "header", bytearray(self.head_len), 0
            elif self.stage == "header":
                self.header = protocol.parse_header(bytes(self.buf))
                if not self.payload_len:
                    return True
                self.stage, self.buf, self.got = "payload", bytearray(self.payload_len), 0
            else:
                self.payload = self.buf
                return True
        return False


class _OutputBuffer:
    """Keeps the first `cap` bytes of the worker's output and counts the rest, so a flood
    neither blocks the worker (we always read) nor fills our memory."""

    def __init__(self, cap):
        self.cap, self.data, self.dropped = cap, bytearray(), 0

    def add(self, chunk):
        room = self.cap - len(self.data)
        self.data += chunk[:max(room, 0)]
        self.dropped += max(len(chunk) - max(room, 0), 0)

    def text(self):
        return safe_text(bytes(self.data), self.dropped)


_MODULE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*){0,20}")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def safe_text(data, dropped=0):
    """Output as text a terminal or a Markdown code block can show safely: invalid UTF-8
    replaced, carriage returns as newlines, other control characters (ANSI escapes) spelled
    out as \\xNN."""
    text = data.decode("utf-8", "replace").replace("\r\n", "\n").replace("\r", "\n")
    text = _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)
    if dropped:
        text += f"\n[... {dropped} more bytes of output not shown]\n"
    return text


class _InProcessChannel:
    """BENCHMARK ONLY: the same dispatcher, run in this process. No isolation at all."""

    def __init__(self, box):
        from . import stubs
        from .worker_main import Dispatcher
        self.root = str(box.submission_root)
        self.modules_before = set(sys.modules)
        self.path_before = list(sys.path)
        sys.path.insert(0, self.root)
        self.finder = stubs.install(box.config.forbidden, box.config.stand_ins)
        self.dispatcher = Dispatcher(self.root, box.config.max_value_mb * _MB, self.finder)
        self.output = _OutputBuffer(box.config.output_kb * 1024)
        self.closed = False

    def exchange(self, header, payload, timeout):
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf), contextlib.redirect_stderr(buf):
            reply, blob = self.dispatcher.handle(header, bytearray(b"".join(payload)))
        self.output.add(buf.getvalue().encode())
        return reply, b"".join(blob) if isinstance(blob, list) else blob

    def drain(self):
        pass

    def unfinished_imports(self):
        return []

    def finish(self, grace):
        if not self.closed:
            self.closed = True
            with timing.measure("sandbox.finish"):
                from . import stubs
                stubs.uninstall(self.finder)
                sys.path[:] = self.path_before
                for name in set(sys.modules) - self.modules_before:  # next worker: fresh imports
                    del sys.modules[name]
        return {"exit": 0, "killed": False, "cpu": 0.0}

    def sweep(self):
        return 0


# ====================================================================== Worker

class Worker:
    """A live worker process with the student's objects; reached through Remotes."""

    def __init__(self, channel, config, import_timeouts=None):
        self._channel = channel
        self._config = config
        self._import_timeouts = {} if import_timeouts is None else import_timeouts
        self._blocked_sent = 0  # how many of those this worker has been told about
        self._remotes = weakref.WeakValueDictionary()
        self._release = []
        self._dead = None  # the StudentError that ended this worker

    # -------------------------------------------------------------- the API
    def import_module(self, name):
        """The module, imported in the worker. An import that ran into a time limit is not
        tried again by this Sandbox's workers: module code that hangs (an endless loop, or
        training at import) would otherwise cost the time limit in every test that needs
        it, and the whole grading would outlast Gradescope's own limit."""
        if name in self._import_timeouts:
            raise WorkerTimeout("Timeout", self._timed_out_before(name))
        alive = self.alive  # a worker that died earlier says so; that is not this import's doing
        try:
            return self._request("import", [name], what=f"importing {name}", label=name)
        except WorkerTimeout as exc:
            if alive and getattr(exc, "reason", None):
                self._import_timeouts.setdefault(name, exc.reason)
            raise

    def _timed_out_before(self, name):
        return (f"importing {name} already ran into a time limit in an earlier test (it "
                f"{self._import_timeouts[name]}), so it was not tried again. Code at the top level of "
                f"a file runs on import: keep long work under `if __name__ == \"__main__\":`.")

    def getattr(self, obj, name):
        return self._request("getattr", [obj, name], what=f"reading {_label(obj)}.{name}",
                             label=f"{_label(obj)}.{name}")

    def setattr(self, obj, name, value):
        self._request("setattr", [obj, name, value], what=f"setting {_label(obj)}.{name}")

    def call(self, fn, *args, **kwargs):
        return self._request("call", [fn, *args], kwargs, what=f"calling {_label(fn)}(...)",
                             label=f"{_label(fn)}(...)")

    def getitem(self, obj, key):
        return self._request("getitem", [obj, key], what=f"indexing {_label(obj)}[...]",
                             label=f"{_label(obj)}[...]")

    def setitem(self, obj, key, value):
        self._request("setitem", [obj, key, value], what=f"assigning into {_label(obj)}[...]")

    def op(self, name, *args):
        """An operator (operator module name: add, matmul, eq, lt, len, truth, ...) in the worker."""
        label = f"{name}({', '.join(_label(a) for a in args)})"
        return self._request("op", [name, *args], what=f"computing {label}", label=label)

    def list(self, obj):
        """list(obj), evaluated in the worker: a list of Remotes / plain scalars."""
        return self._request("iter", [obj], what=f"iterating over {_label(obj)}",
                             label=f"an item of {_label(obj)}")

    def type_name(self, obj):
        return obj._t if isinstance(obj, Remote) else type(obj).__qualname__

    def fetch(self, value):
        return fetch(value, worker=self)

    def output(self):
        """Student stdout+stderr so far (capped, control characters escaped)."""
        if not self._channel.closed:
            self._channel.drain()
        return self._channel.output.text()

    def substitutions(self):
        """Names of the stand-ins the student's code imported (e.g. ["tensorflow", "tqdm"])."""
        return self._request("substitutions", [], what="listing stand-ins")

    @property
    def alive(self):
        return self._dead is None and not self._channel.closed

    @property
    def pid(self):
        """The worker's process id (it leads its own session and process group), for what
        the trusted side measures from outside it, e.g. its CPU time (sandbox/cputime.py).
        In-process (benchmarks only): this process."""
        return getattr(self._channel, "pid", None) or os.getpid()

    def close(self):
        if not self._channel.closed:
            status = self._channel.finish(0.0)
            if status.get("swept") or status.get("zygote_gone"):
                self._channel.sweep()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -------------------------------------------------------------- plumbing
    def _request(self, *args, **kwargs):
        started, cpu = timing.clock(), timing.cpu_clock()
        try:
            return self._timed_request(*args, **kwargs)
        finally:
            timing.add("sandbox.request", timing.clock() - started)
            timing.add("sandbox.request.cpu", timing.cpu_clock() - cpu)

    def _timed_request(self, op, args, kwargs=None, what="", label="a value", value=None, fetching=False):
        if isinstance(self._dead, SandboxError):
            raise self._dead
        if self._dead is not None:
            raise type(self._dead)(self._dead.type_name,
                                   f"this worker already stopped earlier ({self._dead.message})",
                                   self._dead.frames)
        if self._channel.closed:
            raise SandboxError("this worker is closed")
        enc = protocol.Encoder(self._leaf, self._config.max_value_mb * _MB)
        try:
            header = {"op": op}
            if fetching:
                header["value"] = enc.encode(value)
            else:
                header["args"] = [enc.encode(a, f"argument {i}") for i, a in enumerate(args)]
                header["kwargs"] = enc.encode(kwargs or {}, "keyword arguments")
        except protocol.ProtocolError as exc:
            raise TypeError(f"cannot send to the worker: {exc}") from None
        if self._release:
            header["rel"], self._release = self._release, []
        if len(self._import_timeouts) != self._blocked_sent:
            header["blk"] = sorted(self._import_timeouts)
            self._blocked_sent = len(self._import_timeouts)
        sent = enc.parts()
        try:
            started = timing.clock()
            reply, payload = self._channel.exchange(header, sent, self._config.call_timeout_s)
            _record_exchange(reply, enc.offset, len(payload), timing.clock() - started)
        except _Died as died:
            raise self._die(died.cause, what) from None
        except BaseException:
            # Interrupted here (e.g. the plugin's per-test alarm) with a reply possibly half
            # read: the stream is out of step, so this worker must not be used again.
            self._dead = WorkerCrashed("Interrupted", f"the grader stopped waiting while {what}")
            with contextlib.suppress(BaseException):
                self._channel.finish(0.0)
            raise
        if "ok" in reply:
            try:
                return protocol.decode_value(reply["ok"], payload, lambda t, b: self._resolve(t, b, label))
            except protocol.ProtocolError as exc:
                raise BadValue("BadValue", f"while {what}: {exc}") from None
        if "err" in reply and isinstance(reply["err"], dict):
            info = reply["err"]
            err = _student_error(info)
            earlier = info.get("timed_out_before")
            if type(earlier) is str and earlier in self._import_timeouts:
                raise WorkerTimeout("Timeout", self._timed_out_before(earlier), err.frames)
            if info.get("fatal"):
                raise self._die("fatal", what, err, memory=info.get("memory") is True) from None
            raise err
        if "bad" in reply:
            raise BadValue("BadValue", f"while {what}: {str(reply['bad'])[:2000]}")
        raise self._die(str(reply.get("proto", "malformed reply"))[:2000], what) from None

    def _leaf(self, obj, enc, path):
        if isinstance(obj, Remote):
            if obj._w is not self:
                raise protocol.ProtocolError(f"{path} is a Remote from another worker")
            return {"h": obj._h}
        if isinstance(obj, np.ndarray):
            return enc.array(np.asarray(obj))
        if isinstance(obj, np.generic):
            return {"n": enc.array(np.asarray(obj))["a"]}
        if isinstance(obj, np.dtype) or obj in (float, int, bool) or \
                (isinstance(obj, type) and issubclass(obj, np.generic)):
            return {"y": np.dtype(obj).str}
        if type(obj) is slice:
            return {"s": [enc.encode(obj.start, path), enc.encode(obj.stop, path), enc.encode(obj.step, path)]}
        if obj is Ellipsis:
            return {"e": 0}
        raise protocol.ProtocolError(f"{path} is a {type(obj).__qualname__}, which cannot cross to the worker")

    def _resolve(self, tag, body, label):
        if tag != "r" or not (type(body) is list and len(body) == 2 and type(body[0]) is int
                              and type(body[1]) is str):
            raise protocol.ProtocolError(f"unexpected value tag {tag!r}")
        h, type_name = body
        remote = self._remotes.get(h)
        if remote is None:
            remote = Remote(self, h, type_name[:200], label[:120])
            self._remotes[h] = remote
            with contextlib.suppress(ValueError):
                self._release.remove(h)
            weakref.finalize(remote, self._release.append, h)
        return remote

    def _die(self, cause, what, err=None, memory=False):
        """The worker is unusable: kill it (and all it started) and explain why."""
        c = self._config
        grace = {"eof": 0.5, "fatal": 0.5}.get(cause, 0.0)
        status = self._channel.finish(grace)
        self._channel.sweep()  # every process of the sandbox user outside live sandboxes
        sig, code, cpu = status.get("signal"), status.get("exit"), status.get("cpu", 0.0)
        if cause == "setup":
            self._dead = SandboxError(f"grader error: a worker process failed to set up "
                                      f"(status {status}):\n{self._channel.output.text()[-3000:]}")
            return self._dead
        if err is not None and memory:
            exc = WorkerCrashed("MemoryError", f"ran out of memory while {what} "
                                f"(the limit is {c.memory_mb} MB)", err.frames)
        elif err is not None:
            exc = WorkerCrashed(err.type_name, f"{err.message}: your code ended the process while {what}",
                                err.frames)
        elif cause == "timeout":
            exc = WorkerTimeout("Timeout", f"{what} did not finish within {c.call_timeout_s:g} s; it was stopped")
            exc.reason = f"did not finish within {c.call_timeout_s:g} s"
        elif sig == signal.SIGXCPU or (sig == signal.SIGKILL and not status.get("killed")
                                       and cpu >= c.cpu_s - 0.5):
            exc = WorkerTimeout("Timeout", f"used more than the CPU time limit of {c.cpu_s} s while {what}")
            exc.reason = f"used more than the CPU time limit of {c.cpu_s} s"
        elif sig is not None and not status.get("killed"):
            name = signal.Signals(sig).name if sig in signal.Signals._value2member_map_ else str(sig)
            hint = " (often: out of memory)" if sig == signal.SIGKILL else ""
            exc = WorkerCrashed("WorkerCrashed", f"the process was killed by {name}{hint} while {what}")
        elif code is not None and not status.get("killed"):
            exc = WorkerCrashed("WorkerCrashed", f"the process exited (status {code}, e.g. os._exit) while {what}")
        elif cause == "eof":
            exc = WorkerCrashed("WorkerCrashed", f"the process closed its connection while {what}")
        else:
            exc = WorkerCrashed("WorkerCrashed", f"the process broke the protocol while {what} ({cause})")
        if isinstance(exc, WorkerTimeout):
            for name in self._channel.unfinished_imports():  # they hung: never again in this Sandbox
                self._import_timeouts.setdefault(name, exc.reason)
        self._dead = exc
        return exc


def _record_exchange(reply, sent, received, elapsed):
    timing.add("sandbox.bytes_sent", 0.0, sent)
    timing.add("sandbox.bytes_received", 0.0, received)
    # The worker's own figures: plausibility-checked, for benchmarks only.
    student_s, student_cpu, worker_cpu = reply.get("t"), reply.get("tc"), reply.get("c")
    if type(student_s) is float and student_s >= 0.0:
        timing.add("sandbox.student", min(student_s, elapsed))
    if type(worker_cpu) is float and 0.0 <= worker_cpu < 1e6:
        timing.add("sandbox.worker.cpu", worker_cpu)
        if type(student_cpu) is float and student_cpu >= 0.0:
            timing.add("sandbox.student.cpu", min(student_cpu, worker_cpu))


def _student_error(info):
    frames = []
    for f in info.get("frames", [])[:50]:
        if type(f) is list and len(f) == 4:
            frames.append((str(f[0])[:300], int(f[1]) if type(f[1]) is int else 0,
                           str(f[2])[:200], str(f[3])[:300]))
    return StudentError(str(info.get("type", "Exception"))[:200], str(info.get("message", ""))[:2000], frames)


def _label(obj):
    if isinstance(obj, Remote):
        return obj._n
    return repr(obj) if type(obj) in (int, float, bool, str, type(None)) and len(repr(obj)) < 40 \
        else type(obj).__qualname__


# ====================================================================== Remote

class Remote:
    """A handle on an object living in the worker. Attribute reads, calls, indexing,
    arithmetic and `with` go to the worker; `fetch()` brings a value back."""

    __slots__ = ("_w", "_h", "_t", "_n", "__weakref__")

    def __init__(self, worker, handle, type_name, label):
        object.__setattr__(self, "_w", worker)
        object.__setattr__(self, "_h", handle)
        object.__setattr__(self, "_t", type_name)  # the object's class name
        object.__setattr__(self, "_n", label)      # how the test reached it, for messages

    def __getattr__(self, name):
        if name.startswith("__") and name.endswith("__"):
            # numpy, pytest, copy... probe dunders; those must not reach student code.
            raise AttributeError(name)
        return self._w.getattr(self, name)

    def __setattr__(self, name, value):
        self._w.setattr(self, name, value)

    def __call__(self, *args, **kwargs):
        return self._w.call(self, *args, **kwargs)

    def __getitem__(self, key):
        return self._w.getitem(self, key)

    def __setitem__(self, key, value):
        self._w.setitem(self, key, value)

    def __len__(self):
        n = self._w.op("len", self)
        if type(n) is not int:
            raise BadValue("BadValue", f"len({self._n}) returned a {type(n).__name__}")
        return n

    def __bool__(self):
        b = self._w.op("truth", self)
        return b is True

    def __iter__(self):
        return iter(self._w.list(self))

    def __contains__(self, item):
        return self._w.op("contains", self, item) is True

    def __enter__(self):
        return self._w._request("enter", [self], what=f"entering `with {self._n}`",
                                label=f"{self._n}.__enter__()")

    def __exit__(self, exc_type, exc, tb):
        if not self._w.alive:
            return False  # keep the error that killed the worker, not "already stopped"
        message = None if exc_type is None else f"{exc_type.__name__} in the grader"
        self._w._request("exit", [self, message], what=f"leaving `with {self._n}`")
        return False

    def __repr__(self):
        return f"<Remote {self._t} {self._n}>"

    def __hash__(self):
        return object.__hash__(self)

    def __eq__(self, other):
        return self is other

    def __ne__(self, other):
        return self is not other

    def __neg__(self):
        return self._w.op("neg", self)

    def __pos__(self):
        return self._w.op("pos", self)

    def __abs__(self):
        return self._w.op("abs", self)


def _binary(name):
    def forward(self, other):
        return self._w.op(name, self, other)

    def reverse(self, other):
        return self._w.op(name, other, self)
    return forward, reverse


for _name in ("add", "sub", "mul", "truediv", "floordiv", "mod", "pow", "matmul"):
    _f, _r = _binary(_name)
    setattr(Remote, f"__{_name}__", _f)
    setattr(Remote, f"__r{_name}__", _r)
for _name in ("lt", "le", "gt", "ge"):
    setattr(Remote, f"__{_name}__", _binary(_name)[0])


# ====================================================================== fetch

def fetch(value, worker=None):
    """Bring a value back from the worker as plain, validated data (one round trip):
    None/bool/int/float/str, lists, tuples, str-keyed dicts, and np.ndarray (exactly that
    type) of bool/int/uint/float. Remotes anywhere inside `value` are fetched too."""
    workers = set()
    _find_workers(value, workers, 0)
    if worker is not None:
        workers.add(worker)
    if len(workers) > 1:
        raise ValueError("fetch() got Remotes from different workers")
    if not workers:
        return _plain_copy(value)
    (w,) = workers
    return w._request("fetch", [], value=value, fetching=True, what=f"fetching {_describe(value)}")


def _find_workers(value, found, depth):
    if depth > protocol.MAX_DEPTH:
        return
    if isinstance(value, Remote):
        found.add(value._w)
    elif type(value) in (list, tuple):
        for v in value:
            _find_workers(v, found, depth + 1)
    elif type(value) is dict:
        for v in value.values():
            _find_workers(v, found, depth + 1)


def _plain_copy(value):
    enc = protocol.Encoder(lambda obj, e, path: e.array(np.asarray(obj)) if type(obj) is np.ndarray
                           else _reject(obj, path), 1 << 62)
    try:
        wire = enc.encode(value)
    except protocol.ProtocolError as exc:
        raise BadValue("BadValue", str(exc)) from None
    return protocol.decode_value(wire, enc.payload(), _no_tags)


def _reject(obj, path):
    raise protocol.ProtocolError(f"{path} is a {type(obj).__qualname__}")


def _no_tags(tag, body):
    raise protocol.ProtocolError("unexpected tag")


def _describe(value):
    if isinstance(value, Remote):
        return value._n
    if type(value) in (list, tuple, dict):
        return f"a {type(value).__name__} of values"
    return "a value"
