"""matplotlib stand-in: every call is a no-op (plots are never shown when grading)."""
import types


class NoOp:
    def __call__(self, *args, **kwargs):
        return NoOp()

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return NoOp()

    def __getitem__(self, key):
        return NoOp()

    def __setitem__(self, key, value):
        pass

    def __iter__(self):
        return iter(())

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def __repr__(self):
        return "<matplotlib stand-in>"


def subplots(*args, **kwargs):
    return NoOp(), NoOp()  # fig, ax = plt.subplots(...) must unpack


class MatplotlibModule(types.ModuleType):
    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return NoOp()


def make_module(name):
    module = MatplotlibModule(name)
    module.subplots = subplots
    module.use = lambda *a, **k: None
    module.__version__ = "0+stand-in"
    return module
