"""Remote: a handle on an object living in a worker. Every operation on it is a request
to that worker; nothing of the object itself ever reaches the trusted side."""
import dis
import sys

from .errors import BadValue

# `obj.name(...)` loads the attribute with an instruction that says a call follows at once:
# LOAD_METHOD up to 3.11, LOAD_ATTR with the low bit of its argument set from 3.12.
_LOAD_METHOD = dis.opmap["LOAD_METHOD"] if sys.version_info < (3, 12) else None
_LOAD_ATTR = dis.opmap["LOAD_ATTR"]


def _called_at_once(frame):
    """Whether the attribute `frame` is reading is for a method call (`obj.name(...)`), not
    for `obj.name`, getattr() or hasattr(), which must read it now and may see it fail."""
    code, at = frame.f_code.co_code, frame.f_lasti
    if at < 0 or at + 1 >= len(code):
        return False
    if _LOAD_METHOD is not None:
        return code[at] == _LOAD_METHOD
    return code[at] == _LOAD_ATTR and code[at + 1] & 1 == 1


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
        if _called_at_once(sys._getframe(1)):
            return self._w.method(self, name)  # read and called in one request (worker_api.py)
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


class RemoteMethod:
    """`obj.name` of a Remote, loaded for a call that follows at once (`obj.name(...)`): the
    read and the call go to the worker as one request. If an argument of the call needs the
    worker first, the worker reads the attribute before that (Worker._read_unread_methods),
    so student code sees the same order of reads and calls as without this."""

    __slots__ = ("obj", "name", "read", "_bound", "__weakref__")

    def __init__(self, obj, name):
        self.obj, self.name, self.read, self._bound = obj, name, False, None

    def bind(self, value):
        self.read, self._bound = True, value

    def __call__(self, *args, **kwargs):
        if self.read:
            return self._bound(*args, **kwargs)
        return self.obj._w.call_method(self, args, kwargs)

    def __repr__(self):
        return f"<Remote method {self.obj._n}.{self.name}>"
