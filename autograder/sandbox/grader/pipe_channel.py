"""The trusted side's end of one portable worker (portable_worker.py): requests on its
stdin, replies on its stdout, its output on stderr. Windows has no select() on pipes, so
a thread per pipe does the blocking I/O and the grader waits on queues, always with a
deadline. What arrives is untrusted: frames are size-checked before anything is allocated.
"""
import contextlib
import os
import queue
import signal
import subprocess
import threading
import time

from .. import protocol
from .channel import _Conversation, _Died, _OutputBuffer

_MB = 1024 * 1024
SYNC_WAIT_S = 1.0   # how long drain() waits for the output of the last request
REAP_S = 10.0       # a killed worker has ended by then
JOIN_S = 2.0        # reader threads end at EOF; a grandchild holding a pipe keeps them (daemons)


class PipeChannel(_Conversation):
    def __init__(self, box, proc, folder, sync):
        self.box, self.proc, self.pid, self.folder = box, proc, proc.pid, folder
        self.max_payload = box.config.max_value_mb * _MB
        self.output = _OutputBuffer(box.config.output_kb * 1024)
        self.closed = False
        self.importing = []
        self._sync = sync.encode("ascii")
        self._replies = self._synced = 0
        self._output_ended = False
        self._changed = threading.Condition()
        self._frames, self._outbox = queue.Queue(), queue.Queue()
        self._threads = [threading.Thread(target=fn, daemon=True, name=f"portable-worker-{self.pid}")
                         for fn in (self._read_frames, self._read_output, self._write)]
        for thread in self._threads:
            thread.start()

    # -------------------------------------------------------------- the conversation
    def _exchange(self, header, payload, timeout):
        head, parts = protocol.pack_frame(header, payload, self.max_payload)
        self._outbox.put([head, *parts])
        return self._receive(time.monotonic() + timeout)

    def _receive(self, deadline):
        try:
            item = self._frames.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            raise _Died("timeout") from None
        if isinstance(item, _Died):
            self._frames.put(item)  # every later wait sees the end too
            raise _Died(item.cause)
        if "hello" not in item[0] and "imp" not in item[0]:
            with self._changed:
                self._replies += 1  # the worker marked the end of its output before it
        return item

    def drain(self):
        """Wait (briefly) until the output of every request answered so far is in."""
        with self._changed:
            self._changed.wait_for(lambda: self._synced >= self._replies or self._output_ended,
                                   timeout=SYNC_WAIT_S)

    # -------------------------------------------------------------- threads
    def _read_frames(self):
        pipe = self.proc.stdout
        try:
            while True:
                prefix = _read_exact(pipe, protocol.PREFIX.size)
                # The budget of the request being answered (requests go one at a time).
                head_len, payload_len = protocol.parse_prefix(bytes(prefix), self.max_payload, self.budget)
                header = protocol.parse_header(bytes(_read_exact(pipe, head_len)))
                payload = _read_exact(pipe, payload_len) if payload_len else bytearray()
                self._frames.put((header, payload))
        except (EOFError, OSError, ValueError):
            self._frames.put(_Died("eof"))
        except protocol.ProtocolError as exc:
            self._frames.put(_Died(str(exc)))

    def _read_output(self):
        """Student output into the capped buffer, with the worker's sync marks taken out."""
        pending, keep = b"", len(self._sync) - 1
        while True:
            try:
                chunk = self.proc.stderr.read(65536)
            except (OSError, ValueError):
                chunk = b""
            with self._changed:
                if not chunk:
                    self.output.add(pending)
                    self._output_ended = True
                    self._changed.notify_all()
                    return
                pending += chunk
                while self._sync in pending:
                    before, pending = pending.split(self._sync, 1)
                    self.output.add(before)
                    self._synced += 1
                ready = max(len(pending) - keep, 0)  # the tail may be the start of a mark
                self.output.add(pending[:ready])
                pending = pending[ready:]
                self._changed.notify_all()

    def _write(self):
        while True:
            parts = self._outbox.get()
            if parts is None:
                return
            try:
                for part in parts:
                    view = memoryview(part).cast("B")
                    while len(view):
                        view = view[self.proc.stdin.write(view):]
            except (OSError, ValueError):
                return  # the worker is gone: the reader sees the end

    # -------------------------------------------------------------- the end
    def _finish(self, grace):
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=grace)
        killed = self.proc.poll() is None
        self._kill()  # also what it started in its process group, when it ended by itself
        try:
            code = self.proc.wait(timeout=REAP_S)
        except subprocess.TimeoutExpired:
            code = None
        self._outbox.put(None)
        for thread in self._threads:
            thread.join(JOIN_S)
        if not any(thread.is_alive() for thread in self._threads):
            for pipe in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
                with contextlib.suppress(OSError):
                    pipe.close()
        self.box._after_worker(self)
        status = {"killed": killed, "cpu": 0.0}
        if code is None:
            status["stuck"] = True
        elif code < 0:
            status["signal"] = -code
        else:
            status["exit"] = code
        return status

    def _kill(self):
        if os.name == "posix":  # the worker leads its own session and process group
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.pid, signal.SIGKILL)
        if self.proc.poll() is None:
            with contextlib.suppress(OSError):
                self.proc.kill()


def _read_exact(pipe, n):
    buf = bytearray(n)
    view, got = memoryview(buf), 0
    while got < n:
        k = pipe.readinto(view[got:])
        if not k:
            raise EOFError("the worker closed its end")
        got += k
    return buf
