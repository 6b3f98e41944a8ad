"""The untrusted side's request loop: a worker answers requests (Dispatcher) on the
student's objects until its socket closes. The zygote that forks workers, and how a
worker sets itself up, are in zygote_process.py.

This package is copied into the sandbox directory as `_agsandbox` and runs from there:
standard library and numpy only, relative imports only, never `autograder`.
"""
import importlib
import inspect
import itertools
import json
import operator
import os
import sys
import time
import traceback

import numpy as np

from .. import protocol
from . import import_watch, stubs

MAX_ITEMS = 100_000      # cap on `list(remote)`
MAX_STR = 1_000_000      # longer strings stay in the worker as handles
MAX_MESSAGE = 2_000      # exception messages are cut to this length
MAX_FRAMES = 30
# Code that the trusted side compiles into a worker (a test's own helpers, which student code
# calls back into or which call student code) is named "<grader: NAME>": a crash inside it, or
# in code it called directly, is reported as such, so that feedback does not blame a student file.
TEST_CODE_PREFIX = "<grader:"
# Our runtime's top package: `_agsandbox` in the sandbox, autograder.sandbox in-process.
RUNTIME_PACKAGE = (__package__ or "_agsandbox.inside").rpartition(".")[0]
# Taken before student code can replace them. CPU: this thread's clock, because the
# process clock is only updated at scheduler ticks once RLIMIT_CPU arms the process timer.
_clock, _cpu_clock = time.perf_counter, time.thread_time

OPERATORS = {
    name: getattr(operator, name)
    for name in ("add", "sub", "mul", "truediv", "floordiv", "mod", "pow", "matmul",
                 "neg", "pos", "abs", "invert", "and_", "or_", "xor",
                 "eq", "ne", "lt", "le", "gt", "ge", "truth", "contains", "is_", "is_not")
}
OPERATORS.update(len=len, repr=repr, str=str, type_name=lambda x: type(x).__qualname__,
                 isinstance_name=lambda x, name: any(c.__name__ == name for c in type(x).__mro__))


class BadValueError(Exception):
    """A value asked for by `fetch` that may not cross the boundary."""


class OverBudget(BadValueError):
    """A fetched value larger than the fetch's budget (told apart: the test says what it expected)."""


class Handles:
    """The worker's table of the objects the trusted side holds handles to. The same object
    always gets the same handle while the trusted side holds it, so identity survives the
    round trip (a GradientTape keys tensors by id())."""

    def __init__(self):
        self.objects = {}
        self.handle_of = {}
        self.counter = itertools.count(1)

    def handle_for(self, obj):
        h = self.handle_of.get(id(obj))
        if h is not None and self.objects.get(h) is obj:
            return h
        h = next(self.counter)
        self.objects[h] = obj
        self.handle_of[id(obj)] = h
        return h

    def release(self, handles):
        for h in handles:
            obj = self.objects.pop(h, None)
            if obj is not None and self.handle_of.get(id(obj)) == h:
                del self.handle_of[id(obj)]

    def resolver(self, payload):
        """decode_value's `resolve` for a request: handles, numpy scalars, dtypes, slices, `...`."""
        def resolve(tag, body):
            if tag == "h":
                if type(body) is not int or body not in self.objects:
                    raise protocol.ProtocolError("unknown remote object (released or from another worker)")
                return self.objects[body]
            if tag == "n":
                return protocol.array_from_wire(body, payload)[()]
            if tag == "y":
                return protocol.check_dtype(body)
            if tag == "s":
                if not (type(body) is list and len(body) == 3):
                    raise protocol.ProtocolError("malformed slice")
                return slice(*(protocol.decode_value(b, payload, resolve) for b in body))
            if tag == "e":
                return Ellipsis
            raise protocol.ProtocolError("unexpected value tag")
        return resolve


class Dispatcher:
    """Runs requests on the student's objects, kept alive in a table of handles (Handles)."""

    def __init__(self, root, max_payload, finder=None, watch=None):
        self.root = os.path.realpath(root) + os.sep
        self.max_payload = max_payload
        self.finder = finder
        self.watch = watch  # import_watch.ImportWatch, or None (in-process)
        self.handles = Handles()
        self.pid = os.getpid()
        self.fatal = False
        self.student_s = self.student_cpu = 0.0  # inside student code, current request

    def handle_for(self, obj):
        return self.handles.handle_for(obj)

    # -------------------------------------------------------------- results
    def result(self, obj):
        """Plain scalars travel as themselves; anything else stays here as a handle."""
        t = type(obj)
        if t in protocol.PLAIN_SCALARS and not (t is str and len(obj) > MAX_STR):
            return obj
        try:
            name = str(t.__qualname__)[:200]
        except Exception:
            name = "object"
        return {"r": [self.handles.handle_for(obj), name]}

    # -------------------------------------------------------------- requests
    def handle(self, header, payload, cpu_started=None):
        """One request -> (reply header, reply payload). Never raises. The reply says how
        long student code ran ("t" wall, "tc" CPU seconds) and the CPU this request took
        here since `cpu_started` ("c"): benchmark figures, never used for grading."""
        self.student_s = self.student_cpu = 0.0
        cpu = _cpu_clock() if cpu_started is None else cpu_started
        reply, blob = self._handle(header, payload)
        reply.update(t=self.student_s, tc=self.student_cpu, c=_cpu_clock() - cpu)
        return reply, blob

    def _handle(self, header, payload):
        try:
            self.handles.release(header.get("rel", ()))
            blocked = header.get("blk")
            if self.watch is not None and type(blocked) is list:
                self.watch.blocked = frozenset(n for n in blocked if type(n) is str)
            decode = lambda v: protocol.decode_value(v, payload, self.handles.resolver(payload))
            op = header.get("op")
            if op == "fetch":
                value = decode(header["value"])
                budget = header.get("max")
                budget = min(budget, self.max_payload) if type(budget) is int and budget > 0 else self.max_payload
                leaf = lambda obj, enc, path: fetch_leaf(obj, enc, path, budget)
                enc = protocol.Encoder(leaf, budget, plain_subclasses=True)
                try:
                    encoded = self.student(lambda: enc.encode(value), timed=False)  # serialisation
                    size = enc.offset + len(json.dumps(encoded, separators=(",", ":"), allow_nan=True)) + 16
                    if size > budget:  # numbers in lists take header room, not payload
                        raise OverBudget(f"the value takes {size} bytes, over the {budget} bytes "
                                         f"the test allows for it")
                except BadValueError as exc:
                    return {"bad": str(exc), **({"big": True} if isinstance(exc, OverBudget) else {})}, b""
                return {"ok": encoded}, enc.parts()
            args = [decode(a) for a in header.get("args", ())]
            kwargs = decode(header.get("kwargs", {"d": []}))
            if op == "iter":
                items = self.student(lambda: list(itertools.islice(iter(args[0]), MAX_ITEMS + 1)))
                if len(items) > MAX_ITEMS:
                    raise BadValueError(f"more than {MAX_ITEMS} items to iterate over")
                return {"ok": {"l": [self.result(x) for x in items]}}, b""
            if op == "method":  # obj.name(*args, **kwargs): the read, then the call
                method = self.student(lambda: getattr(args[0], args[1]))
                if type(method) in protocol.PLAIN_SCALARS:  # not callable: the grader says so
                    return {"ok": {"l": [False, self.result(method)]}}, b""
                called = self.student(lambda: method(*args[2:], **kwargs))
                return {"ok": {"l": [True, self.result(called)]}}, b""
            if op == "substitutions":
                return {"ok": {"l": list(self.finder.used) if self.finder else []}}, b""
            return {"ok": self.result(self.student(lambda: run_operation(op, args, kwargs)))}, b""
        except StudentRaised as raised:
            return {"err": raised.info}, b""
        except (protocol.ProtocolError, BadValueError) as exc:
            return {"bad": str(exc)}, b""
        except Exception as exc:  # our own bug, or student code corrupting the worker
            return {"proto": f"{type(exc).__name__}: {exc}"[:MAX_MESSAGE]}, b""

    def student(self, fn, timed=True):
        """Run fn, which may run student code; turn whatever it raises into StudentRaised."""
        started, cpu = _clock(), _cpu_clock()
        try:
            return fn()
        except (protocol.ProtocolError, BadValueError):
            raise
        except BaseException as exc:  # SystemExit and KeyboardInterrupt too
            # A module kept after raising at import replays its error for the names it never
            # defined (partial_import.py): a replayed exit is not the process ending now.
            self.fatal = isinstance(exc, (SystemExit, KeyboardInterrupt, MemoryError)) and not self.replayed(exc)
            raise StudentRaised(describe_exception(exc, self.root, self.fatal)) from None
        finally:
            if timed:
                self.student_s += _clock() - started
                self.student_cpu += _cpu_clock() - cpu
            self.after_student_code()

    def replayed(self, exc):
        partial = getattr(self.watch, "partial", None)
        return partial is not None and partial.replays(exc)

    def after_student_code(self):
        if os.getpid() != self.pid:
            os._exit(0)  # a child the student forked must not answer in our name
        for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
            try:
                stream.flush()
            except Exception:
                pass


def fetch_leaf(obj, enc, path, max_payload):
    """How a value the trusted side fetches leaves: numeric arrays and numpy numbers; anything
    else is a BadValueError saying what it was."""
    if isinstance(obj, np.ndarray):
        arr = np.asarray(obj)  # a subclass (e.g. a Tensor) leaves as a plain ndarray
        if type(arr) is not np.ndarray:
            arr = np.array(obj, subok=False)
        if arr.dtype.kind not in protocol.ALLOWED_KINDS:
            raise BadValueError(f"{path} is an array of dtype {arr.dtype}; only arrays of bool, int or float can be checked")
        if arr.nbytes > max_payload:
            raise OverBudget(f"{path} is an array of shape {arr.shape} and dtype {arr.dtype} ({arr.nbytes} "
                                f"bytes), over the {max_payload} bytes the test allows for it")
        try:
            return enc.array(arr)
        except protocol.ProtocolError as exc:  # with the arrays before it, over the budget
            raise OverBudget(f"{path}: {exc}") from None
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating) and obj.dtype.itemsize <= 8:
        return float(obj)
    raise BadValueError(f"{_subject(path)} is {_what_it_is(obj)}; the test expected a number, an "
                        f"array of numbers, or a list, tuple, dict, string or None")


def _subject(path):
    # "value" is what the student's code returned; "value[0]" an item of it.
    return "the value your code returned" if path == "value" else f"{path[5:]} of the value your code returned"


def _what_it_is(obj):
    """A returned object, in the words a student would use."""
    try:
        if isinstance(obj, type):
            if issubclass(obj, BaseException):
                return (f"the exception class {obj.__qualname__} itself, returned instead of raised "
                        f"(`return {obj.__qualname__}` hands back the class; an unfinished part "
                        f"raises it)")
            return f"the class {obj.__qualname__} itself, not an object made from it or a value"
        if isinstance(obj, BaseException):
            return f"an exception object ({type(obj).__qualname__}), returned instead of raised"
        if inspect.isgenerator(obj):
            return "a generator: make a list or an array of its items"
        if inspect.isroutine(obj):
            return f"the function {getattr(obj, '__qualname__', '?')} itself, not the result of calling it"
        if inspect.ismodule(obj):
            return f"the module {obj.__name__}"
        return f"an object of type {type(obj).__qualname__}"
    except Exception:
        return "an object of a type that cannot be checked"


def run_operation(op, args, kwargs):
    """One request's operation on decoded arguments (it may run student code)."""
    if op == "import":
        return importlib.import_module(*args)
    if op == "getattr":
        return getattr(*args)
    if op == "setattr":
        return setattr(*args)
    if op == "call":
        return args[0](*args[1:], **kwargs)
    if op == "getitem":
        return args[0][args[1]]
    if op == "setitem":
        args[0][args[1]] = args[2]
        return None
    if op == "enter":
        return type(args[0]).__enter__(args[0])
    if op == "exit":
        exc = None if args[1] is None else Exception(args[1])
        type(args[0]).__exit__(args[0], None if exc is None else Exception, exc, None)
        return None  # never lets student code swallow a trusted-side exception
    if op == "op":
        return OPERATORS[args[0]](*args[1:])
    if op == "ping":
        return None
    raise protocol.ProtocolError(f"unknown request {op!r}")


def describe_exception(exc, root, fatal):
    """What the trusted side learns of an exception: its type and message, and the frames
    in the submission (paths relative to `root`, the submission with a trailing separator)."""
    t = type(exc)
    ours = t.__module__.startswith(RUNTIME_PACKAGE + ".")
    plain = ours or t.__module__ in ("builtins", "__main__")
    name = t.__qualname__ if plain else f"{t.__module__}.{t.__qualname__}"
    try:
        message = str(exc)
    except Exception:
        message = "(the exception's message could not be shown)"
    if isinstance(exc, SystemExit):
        message = f"exit code {exc.code!r}"
    frames = []
    test_code = None  # the innermost frame of code the trusted side compiled here, and how
    for fs in traceback.extract_tb(exc.__traceback__)[-200:]:  # many submission frames follow it
        rel = relative_path(root, fs.filename)
        if rel is not None:
            frames.append([rel, fs.lineno or 0, fs.name, (fs.line or "")[:300]])
            if test_code is not None:
                test_code[3] += 1
        elif (fs.filename or "").startswith(TEST_CODE_PREFIX):
            test_code = [fs.filename[:200], fs.lineno or 0, fs.name[:200], 0]
    if isinstance(exc, SyntaxError) and exc.filename:
        rel = relative_path(root, exc.filename)
        if rel is not None:
            frames.append([rel, exc.lineno or 0, "<module>", (exc.text or "").strip()[:300]])
    return {"type": name[:200], "message": message[:MAX_MESSAGE], "frames": frames[-MAX_FRAMES:],
            "test_code": test_code,
            "fatal": fatal, "memory": isinstance(exc, MemoryError),
            "stand_in": isinstance(exc, stubs.ForbiddenLibraryError),
            "timed_out_before": str(exc)[:300] if isinstance(exc, import_watch.ImportTimedOutBefore) else None}


def relative_path(root, filename):
    # "<frozen importlib._bootstrap>", "<string>", "<grader: ...>" are no files of the
    # student's, though realpath would place them in the working directory.
    if not filename or filename.startswith("<"):
        return None
    path = os.path.realpath(filename)
    if path.startswith(root):
        return path[len(root):]
    return None


class StudentRaised(Exception):
    def __init__(self, info):
        self.info = info


# ------------------------------------------------------------------ worker process

def serve(sock, dispatcher, max_payload, before_reply=None):
    """Answer requests until the connection ends. `sock` is a socket, or anything with its
    recv_into and sendall (the portable worker's pipes). `before_reply()` runs after the
    request's output is flushed and before its reply is sent."""
    while True:
        try:
            cpu = _cpu_clock()  # blocked in recv costs no CPU; reading the frame does
            header, payload = protocol.recv_frame(sock, max_payload)
        except (EOFError, OSError, protocol.ProtocolError):
            os._exit(0)
        reply, blob = dispatcher.handle(header, payload, cpu)
        if before_reply is not None:
            before_reply()
        try:
            protocol.send_frame(sock, reply, blob)
        except protocol.ProtocolError as exc:
            protocol.send_frame(sock, {"bad": str(exc)})
        except OSError:
            os._exit(0)
        if dispatcher.fatal:
            os._exit(3)
