"""A forbidden library: importing it (or any submodule) works; using it raises."""
import types


class ForbiddenLibraryError(AttributeError):
    # An AttributeError, so that `from tensorflow.keras import layers` (which probes with
    # hasattr, then imports the submodule) succeeds, and numpy's __array__ probes see nothing.
    pass


def _fail(module, what):
    library = module.__name__.partition(".")[0]
    raise ForbiddenLibraryError(
        f"`{what}` uses {library}, which is not available when grading: this homework must "
        f"be done with NumPy only. Importing {library} is harmless, but remove this use of it.")


class ForbiddenModule(types.ModuleType):
    def __getattr__(self, name):
        _fail(self, f"{self.__name__}.{name}")

    def __call__(self, *args, **kwargs):
        _fail(self, f"{self.__name__}(...)")

    def __getitem__(self, key):
        _fail(self, f"{self.__name__}[...]")

    def __iter__(self):
        _fail(self, f"iterating over {self.__name__}")

    def __repr__(self):
        return f"<stand-in for forbidden module {self.__name__!r}>"


for _op in ("add", "sub", "mul", "truediv", "floordiv", "matmul", "pow", "mod",
            "radd", "rsub", "rmul", "rtruediv", "rmatmul", "neg", "lt", "le", "gt", "ge"):
    setattr(ForbiddenModule, f"__{_op}__",
            (lambda op: lambda self, *a: _fail(self, f"an operator on {self.__name__} ({op})"))(_op))


def make_module(name):
    return ForbiddenModule(name)
