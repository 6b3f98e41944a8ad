"""Worker: one live worker process with the student's objects, reached through Remotes.
Every request goes through _request, which decodes and validates the reply, and turns a
dead, stalled or misbehaving worker into the error that explains it to the student."""
import contextlib
import os
import signal
import weakref

import numpy as np

from ... import timing
from .. import protocol
from .channel import _Died
from .errors import BadValue, SandboxError, TooLarge, StudentError, GraderCodeFrame, WorkerCrashed, WorkerTimeout
from .remote import Remote
from .worker_api import WorkerOperations

_MB = 1024 * 1024
# POSIX signals (a worker's status has none on Windows, where these do not exist)
_SIGXCPU, _SIGKILL = getattr(signal, "SIGXCPU", None), getattr(signal, "SIGKILL", None)


class Worker(WorkerOperations):
    """A live worker process with the student's objects; reached through Remotes. The
    operations tests use are WorkerOperations' (worker_api.py); here: requests, replies,
    and what a dead worker means for the student."""

    def __init__(self, channel, config, import_timeouts=None, set_aside=None):
        self._channel = channel
        channel.set_aside = set_aside  # modules kept after raising at import, noted by the worker
        self._config = config
        self._import_timeouts = {} if import_timeouts is None else import_timeouts
        self._blocked_sent = 0  # how many of those this worker has been told about
        self._remotes = weakref.WeakValueDictionary()
        self._release = []
        self._unread = []  # (Remote, name, weak reference to its RemoteMethod): loaded, not yet called
        self._dead = None  # the StudentError that ended this worker

    @property
    def alive(self):
        return self._dead is None and not self._channel.closed

    @property
    def pid(self):
        """The worker's process id as this (the grader's) process sees it, for what the trusted
        side measures from outside it, e.g. its CPU time (cputime.py). In-process (benchmarks
        only): this process."""
        return self._channel.pid or os.getpid()

    def close(self):
        if not self._channel.closed:
            self._channel.finish(0.0)  # kills everything the worker started (see channel.py)

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

    def _timed_request(self, op, args, kwargs=None, what="", label="a value", value=None, fetching=False,
                       budget=None):
        if isinstance(self._dead, SandboxError):
            raise self._dead
        if self._dead is not None:
            raise type(self._dead)(self._dead.type_name,
                                   f"the process running your code had already stopped ({self._dead.message})",
                                   self._dead.frames)
        if self._channel.closed:
            raise SandboxError("this worker is closed")
        if self._unread:
            self._read_unread_methods()
        enc = protocol.Encoder(self._leaf, self._config.max_value_mb * _MB)
        try:
            header = {"op": op}
            if fetching:
                header["value"] = enc.encode(value)
                if budget is not None:
                    header["max"] = int(budget)
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
            reply, payload = self._channel.exchange(header, sent, self._config.call_timeout_s, budget=budget)
            _record_exchange(reply, enc.offset, len(payload), timing.clock() - started)
        except _Died as died:
            raise self._die(died.cause, what, detail=died.detail) from None
        except BaseException:
            # Interrupted here (e.g. the plugin's per-test alarm) with a reply possibly half
            # read: the stream is out of step, so this worker must not be used again.
            self._dead = WorkerCrashed("Interrupted", f"the grader stopped waiting while {what}")
            with contextlib.suppress(BaseException):
                self._channel.finish(0.0)
            raise
        if "ok" in reply:
            try:
                # A fetched value is plain data: no tag may come back in it (a worker whose
                # encoder was patched could otherwise answer comparisons through a handle).
                resolve = _no_handles if fetching else (lambda t, b: self._resolve(t, b, label))
                return protocol.decode_value(reply["ok"], payload, resolve)
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
            refused = TooLarge if reply.get("big") is True else BadValue  # over the fetch's budget
            raise refused("BadValue", f"while {what}: {str(reply['bad'])[:2000]}")
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

    def _die(self, cause, what, err=None, memory=False, detail=None):
        """The worker is unusable: kill it (and all it started) and explain why."""
        grace = {"eof": 0.5, "fatal": 0.5}.get(cause, 0.0)
        status = self._channel.finish(grace)  # and everything the worker started
        if cause == "setup":
            self._dead = SandboxError(f"grader error: a worker process failed to set up "
                                      f"(status {status}):\n{self._channel.output.text()[-3000:]}")
            return self._dead
        exc = why_it_ended(cause, what, status, self._config, err, memory, detail)
        if isinstance(exc, WorkerTimeout):
            for name in self._channel.unfinished_imports():  # they hung: never again in this Sandbox
                self._import_timeouts.setdefault(name, exc.reason)
        self._dead = exc
        return exc


def why_it_ended(cause, what, status, config, err=None, memory=False, detail=None):
    """The StudentError that explains a worker's end to the student: how it ended (the
    channel's `status`), and what the grader was doing (`what`)."""
    c = config
    sig, code, cpu = status.get("signal"), status.get("exit"), status.get("cpu", 0.0)
    if err is not None and memory:
        exc = WorkerCrashed("MemoryError", f"ran out of memory while {what} "
                            f"(the limit is {c.memory_mb} MB)", err.frames)
    elif err is not None:
        exc = WorkerCrashed(err.type_name, f"{err.message}: your code ended the process while {what}",
                            err.frames)
    elif cause == "disk":  # the trusted side ended it (layers/disk_budget.py)
        exc = WorkerCrashed("WorkerCrashed", f"your code {detail} in its folders while {what}; "
                            f"the process was stopped")
    elif cause == "timeout":
        exc = WorkerTimeout("Timeout", f"{what} did not finish within {c.call_timeout_s:g} s; it was stopped")
        exc.reason = f"did not finish within {c.call_timeout_s:g} s"
    elif sig is not None and (sig == _SIGXCPU or (sig == _SIGKILL and not status.get("killed")
                                                   and cpu >= c.cpu_s - 0.5)):
        exc = WorkerTimeout("Timeout", f"used more than the CPU time limit of {c.cpu_s} s while {what}")
        exc.reason = f"used more than the CPU time limit of {c.cpu_s} s"
    elif sig is not None and not status.get("killed"):
        name = signal.Signals(sig).name if sig in signal.Signals._value2member_map_ else str(sig)
        hint = " (often: out of memory)" if sig == _SIGKILL else ""
        exc = WorkerCrashed("WorkerCrashed", f"the process was killed by {name}{hint} while {what}")
    elif code is not None and not status.get("killed"):
        exc = WorkerCrashed("WorkerCrashed", f"the process exited (status {code}, e.g. os._exit) while {what}")
    elif cause == "eof":
        exc = WorkerCrashed("WorkerCrashed", f"the process closed its connection while {what}")
    else:
        exc = WorkerCrashed("WorkerCrashed", f"the process broke the protocol while {what} ({cause})")
    return exc


def _no_handles(tag, body):
    raise protocol.ProtocolError(f"a fetched value holds a {tag!r} tag; only plain data may come back")


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
    test_code = info.get("test_code")
    if (type(test_code) is list and len(test_code) == 4 and type(test_code[1]) is int
            and type(test_code[3]) is int):
        test_code = GraderCodeFrame(str(test_code[0])[:200], test_code[1], str(test_code[2])[:200], test_code[3])
    else:
        test_code = None
    return StudentError(str(info.get("type", "Exception"))[:200], str(info.get("message", ""))[:2000], frames,
                        test_code=test_code)


class StartsWorkers:
    """What every sandbox offers its tests: a fresh worker (fresh student state) for the
    duration of a block, and `with` for its own life. A sandbox provides `start_worker()`
    and `close()`."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        with contextlib.suppress(Exception):
            self.close()

    @contextlib.contextmanager
    def worker(self):
        w = self.start_worker()
        try:
            yield w
        finally:
            w.close()
