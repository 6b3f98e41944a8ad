"""The operations tests ask of a worker (docs/architecture.md, "The sandbox API"): each is
one request through Worker._request, which turns whatever the worker does into data,
a Remote, or the StudentError that explains it."""
import weakref

from .remote import Remote, RemoteMethod
from .errors import StudentError, WorkerTimeout


class WorkerOperations:
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
            exc.importing = name
            raise
        except StudentError as exc:
            # The submission could not be imported: the plugin says so once, not per test.
            exc.importing = name
            raise

    def _timed_out_before(self, name):
        return (f"importing {name} already ran into a time limit in an earlier test (it "
                f"{self._import_timeouts[name]}), so it was not tried again. Code at the top level of "
                f"a file runs on import: keep long work under `if __name__ == \"__main__\":`.")

    def getattr(self, obj, name):
        return self._request("getattr", [obj, name], what=f"reading {_label(obj)}.{name}",
                             label=f"{_label(obj)}.{name}")

    def method(self, obj, name):
        """`obj.name` about to be called (`obj.name(...)`): read when it is called, in the
        same request as the call, unless an argument needs the worker first."""
        m = RemoteMethod(obj, name)
        self._unread.append((obj, name, weakref.ref(m)))
        return m

    def call_method(self, m, args, kwargs):
        self._unread = [entry for entry in self._unread if entry[2]() is not m]
        label = f"{_label(m.obj)}.{m.name}"
        called, value = self._request("method", [m.obj, m.name, *args], kwargs,
                                      what=f"calling {label}(...)", label=f"{label}(...)")
        # A plain value (None, a number, a string) is not called in the worker, so that
        # calling it fails here, exactly as the read and the call made one by one would.
        return value if called else value(*args, **kwargs)

    def _read_unread_methods(self):
        """Before any other request: read the methods loaded but not yet called, in the
        order Python loaded them, since Python reads `obj.name` before it evaluates the
        arguments of `obj.name(...)`, and those now need the worker. A method whose call
        was abandoned (an argument raised in the grader) is read all the same, for what the
        read does in the worker; its value and its error go nowhere, as the grader's own
        error is already on its way."""
        unread, self._unread = self._unread, []
        for obj, name, ref in unread:
            m = ref()
            if m is None:
                try:
                    self.getattr(obj, name)
                except StudentError:
                    if not self.alive:  # the read ended the worker: that is this request's news
                        raise
            elif not m.read:
                m.bind(self.getattr(obj, name))

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

    def fetch(self, value, **budget):
        from .fetching import fetch
        return fetch(value, worker=self, **budget)

    def output(self):
        """Student stdout+stderr so far (capped, control characters escaped)."""
        if not self._channel.closed:
            self._channel.drain()
        return self._channel.output.text()

    def substitutions(self):
        """Names of the stand-ins the student's code imported (e.g. ["tensorflow", "tqdm"])."""
        return self._request("substitutions", [], what="listing stand-ins")



def _label(obj):
    if isinstance(obj, Remote):
        return obj._n
    return repr(obj) if type(obj) in (int, float, bool, str, type(None)) and len(repr(obj)) < 40 \
        else type(obj).__qualname__
