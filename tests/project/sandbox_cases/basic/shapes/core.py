"""A tiny stand-in for a student package, for the sandbox's own tests."""
import numpy as np

counter = 0


class Grid(np.ndarray):
    """An ndarray subclass with an extra attribute, like a student's Tensor."""

    def __new__(cls, data):
        obj = np.asarray(data).view(cls)
        obj.label = "grid"
        return obj


class Scaler:
    def __init__(self, factor, bias=0.0):
        self.factor = factor
        self.bias = bias
        self.seen = {}

    def __call__(self, x):
        global counter
        counter += 1
        return Grid(np.asarray(x) * self.factor + self.bias)

    def remember(self, key, value):
        self.seen[id(key)] = value
        return len(self.seen)

    def lookup(self, key):
        return self.seen[id(key)]

    def divide(self, x, by):
        return x / by if by else self.fail(x)

    def fail(self, x):
        raise ValueError(f"cannot divide {len(x)} values by zero")


class Recorder:
    """A context manager keeping what ran inside it, like a GradientTape."""

    active = None

    def __init__(self):
        self.log = []

    def __enter__(self):
        Recorder.active = self
        return self

    def __exit__(self, *exc):
        Recorder.active = None
        self.log.append("exit")
        return True  # tries to swallow exceptions; the sandbox must not let it


def total(items):
    return sum(float(np.sum(x)) for x in items)


def describe(mapping):
    return {k: type(v).__name__ for k, v in mapping.items()}


def echo(*args, **kwargs):
    return args, kwargs


def count():
    return counter


def chatty(n):
    for i in range(n):
        print(f"line {i}")
    print("\x1b[31mred\x1b[0m", flush=True)
    return n


class Journal:
    """Writes down every attribute it is asked for and every call of what it hands out, in
    order, as a student's property or __getattr__ would run: the order student code sees."""

    def __init__(self):
        self.log = []

    def __getattr__(self, name):
        self.log.append(f"read {name}")
        if name.startswith("missing"):
            raise AttributeError(f"no {name}")
        if name == "number":
            return 7

        def method(*args):
            self.log.append(f"call {name}{tuple(a if type(a) is int else '?' for a in args)}")
            return len(self.log)
        return method
