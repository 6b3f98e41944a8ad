"""The trusted side's end of one worker: a stream socket for requests and replies (framed,
see protocol.py), a pipe carrying the worker's stdout+stderr, and the deadline on every
wait. Whatever arrives is untrusted: frames are size-checked, notes are validated.
"""
import contextlib
import io
import os
import re
import selectors
import sys
import time

from ... import timing
from .. import protocol
from .errors import SetAsideAtImport

_MB = 1024 * 1024
MIN_BUDGET = 64 * 1024  # room for the greeting and import notes that may precede a reply
MAX_SET_ASIDE = 100     # modules set aside at import, recorded per Sandbox


class _Died(Exception):
    def __init__(self, cause):
        self.cause = cause  # "eof", "timeout" or a protocol message


class _Conversation:
    """What every worker channel does the same way, whatever carries the frames: the
    greeting a worker sends once set up (before any student code runs), and the import
    notes that may come before a reply (see import_watch.py). A channel provides
    `_exchange(header, payload, timeout)` and `_receive(deadline)`, each returning
    (header, payload) or raising _Died."""

    greeted = False  # the worker says hello once set up, before any student code
    importing = ()   # submission modules whose import started and has not ended
    set_aside = None  # module name -> SetAsideAtImport, the Sandbox's (set by Worker)
    budget = None    # the most bytes the awaited reply may take (a fetch's budget), or None

    def exchange(self, header, payload, timeout, budget=None):
        """Send a request, return its reply. `budget` bounds the reply (header + payload): a
        larger frame is refused from its prefix, before any of it is read or allocated."""
        self.budget = None if budget is None else max(int(budget), MIN_BUDGET)
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
        finally:
            self.budget = None

    def _note_import(self, note):
        if type(note) is list and len(note) == 3 and note[0] == "aside":
            self._note_set_aside(note[1], note[2])
            return
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

    def _note_set_aside(self, name, info):
        """A submission module raised at import and was kept as far as it ran (see
        partial_import.py): recorded in `set_aside` (shared by the Sandbox's workers)."""
        if type(name) is not str or not _MODULE_NAME.fullmatch(name):
            raise _Died("malformed import note")
        record = SetAsideAtImport.from_note(name, info)
        if record is None:
            raise _Died("malformed import note")
        if self.set_aside is not None and len(self.set_aside) < MAX_SET_ASIDE:
            self.set_aside.setdefault(name, record)

    closed = False

    def finish(self, grace):
        """Kill the worker and all it started (`_finish`); how it ended (see worker_main.finish)."""
        if self.closed:
            return {}
        self.closed = True
        with timing.measure("sandbox.finish"):
            return self._finish(grace)


class _ProcessChannel(_Conversation):
    """One worker process: a stream socket for requests, a pipe carrying its stdout+stderr."""

    def __init__(self, box, zygote, sock, out_fd, zygote_pid, pid):
        # zygote_pid: the worker as the zygote knows it (inside its PID namespace);
        # pid: the same process as this process sees it.
        self.box, self.zygote, self.sock, self.out_fd = box, zygote, sock, out_fd
        self.zygote_pid, self.pid = zygote_pid, pid
        self.max_payload = box.config.max_value_mb * _MB
        self.sock.setblocking(False)
        os.set_blocking(out_fd, False)
        self.sel = selectors.DefaultSelector()
        self.sel.register(self.sock, selectors.EVENT_READ, "sock")
        self.sel.register(out_fd, selectors.EVENT_READ, "out")
        self.output = _OutputBuffer(box.config.output_kb * 1024)
        self.closed = False
        self.importing = []

    def _receive(self, deadline):
        reader = _FrameReader(self.max_payload, self.budget)
        try:
            while not self._read(reader):
                self._wait(deadline)
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
        reader = _FrameReader(self.max_payload, self.budget)
        try:
            while True:
                # Fast path: the reply is usually there already.
                if not pending and self._read(reader):
                    return reader.header, reader.payload
                for mask in self._wait(deadline):
                    if mask & selectors.EVENT_WRITE and pending:
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

    def _wait(self, deadline):
        """The socket's ready events, once any arrive; the output pipe is drained meanwhile."""
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise _Died("timeout")
        events = []
        for key, mask in self.sel.select(remaining):
            if key.data == "out":
                self.drain()
            else:
                events.append(mask)
        return events

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

    def _finish(self, grace):
        status = self.zygote.finish(self, grace)
        cpu = status.get("cpu")
        if type(cpu) is float:  # the zygote's account of the worker's whole life (bench only)
            timing.add("sandbox.worker_process.cpu", cpu)
        # Whatever the zygote says, the grader makes sure: nothing the worker started runs on.
        self.box._after_worker(self, status)
        self.drain()
        self.sel.close()
        self.sock.close()
        os.close(self.out_fd)
        return status


class _FrameReader:
    def __init__(self, max_payload, budget=None):
        self.max_payload, self.budget = max_payload, budget
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
                self.head_len, self.payload_len = protocol.parse_prefix(bytes(self.buf), self.max_payload,
                                                                        self.budget)
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
        from ..inside import stubs
        from ..inside.worker_main import Dispatcher
        self.root = str(box.submission_root)
        self.modules_before = set(sys.modules)
        self.path_before = list(sys.path)
        sys.path.insert(0, self.root)
        self.finder = stubs.install(box.config.forbidden, box.config.stand_ins)
        self.dispatcher = Dispatcher(self.root, box.config.max_value_mb * _MB, self.finder)
        self.output = _OutputBuffer(box.config.output_kb * 1024)
        self.closed = False

    def exchange(self, header, payload, timeout, budget=None):
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf), contextlib.redirect_stderr(buf):
            reply, blob = self.dispatcher.handle(header, bytearray(b"".join(payload)))
        self.output.add(buf.getvalue().encode())
        return reply, b"".join(blob) if isinstance(blob, list) else blob

    def drain(self):
        pass

    def unfinished_imports(self):
        return []

    pid = None  # no process of its own

    def finish(self, grace):
        if not self.closed:
            self.closed = True
            with timing.measure("sandbox.finish"):
                from ..inside import stubs
                stubs.uninstall(self.finder)
                sys.path[:] = self.path_before
                for name in set(sys.modules) - self.modules_before:  # next worker: fresh imports
                    del sys.modules[name]
        return {"exit": 0, "killed": False, "cpu": 0.0}

