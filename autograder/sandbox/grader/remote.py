"""Remote: a handle on an object living in a worker. Every operation on it is a request
to that worker; nothing of the object itself ever reaches the trusted side."""
from .errors import BadValue


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

