"""A submission module that raises while it is imported keeps what it defined (worker side:
stdlib only, relative imports only; this file is copied into the sandbox).

The handout's `beras/__init__.py` imports every module, so one module whose top level raises
(a leftover `x = undefined_name`, an import of a package that is not installed, an `assert`,
`sys.exit()` in a script) would make every test fail. Instead, when executing a submission
module raises, the module is kept as far as it ran:

- it stays in sys.modules, with every name defined before the failing line;
- a module `__getattr__` re-raises the original error (its type, message and traceback, so
  the student's file and line) for any other name, so a test or an importer that needs a
  name the module never reached fails with the real cause;
- its `__all__` keeps only the names that exist, so `from module import *` goes on;
- modules whose top level was running when it failed (the importers, e.g. the package's
  `__init__`) get the same fallback for names they lack (e.g. those a star-import missed),
  unless they define their own `__getattr__`.

What is set aside: any Exception, and SystemExit (`exit()` at the top of a script means "stop
here", not "stop the grader"). KeyboardInterrupt and other BaseExceptions (GeneratorExit, a
class of the student's deriving from BaseException) end the import as before: they are not
errors of a module's code but a request to stop.
"""
import os
import traceback

SET_ASIDE = (Exception, SystemExit)
MAX_MESSAGE = 300


class PartialImports:
    """The set-aside modules of one worker, and the stack of modules whose top level runs."""

    def __init__(self, root, notify):
        self.root = os.path.realpath(root) + os.sep
        self.notify = notify   # notify("aside", module name, info dict)
        self.running = []      # [module, [errors of modules set aside while it ran]]
        self.errors = {}       # module name -> the exception that stopped it

    def run(self, exec_module, module, name):
        """exec_module(module), keeping the module as far as it ran if it raises."""
        entry = [module, []]
        self.running.append(entry)
        try:
            exec_module(module)
        except SET_ASIDE as exc:
            self._set_aside(module, name, exc)
        finally:
            if entry in self.running:
                self.running.remove(entry)
        if entry[1] and name not in self.errors:
            _fall_back_to(module, entry[1][0])

    def _set_aside(self, module, name, exc):
        self.errors[name] = exc
        for importer in self.running:
            if importer[0] is not module:
                importer[1].append(exc)
        _fall_back_to(module, exc)
        names = module.__dict__.get("__all__")
        if isinstance(names, (list, tuple)):
            try:
                module.__all__ = type(names)(n for n in names if isinstance(n, str) and n in module.__dict__)
            except Exception:
                pass  # a strange __all__: left as the module wrote it
        try:
            self.notify("aside", name, self.describe(module, exc))
        except Exception:
            pass  # the trusted side learns of it from the failing tests instead

    def replays(self, exc):
        """Whether `exc` is the error of a module set aside, raised again for a missing name."""
        return any(exc is error for error in self.errors.values())

    def describe(self, module, exc):
        """What the trusted side is told: the error, where it was raised, and the line of the
        module itself that was running (the same line, unless it was in another file)."""
        own_file = self._relative(getattr(module, "__file__", None) or "")
        frames = [(self._relative(f.filename), f.lineno or 0) for f in traceback.extract_tb(exc.__traceback__)]
        ran = any(f[0] == own_file for f in frames)
        if isinstance(exc, SyntaxError) and exc.filename:
            frames.append((self._relative(exc.filename), exc.lineno or 0))
        ours = [f for f in frames if f[0] is not None]
        own = [f for f in ours if f[0] == own_file]
        where = ours[-1] if ours else (own_file, 0)
        stopped = own[-1] if own else where
        # Python could not compile the file itself: none of its code ran.
        unreadable = isinstance(exc, SyntaxError) and not ran and where[0] == own_file
        return {"type": type_name(exc), "message": message_of(exc), "file": where[0] or "", "line": where[1],
                "stopped": [stopped[0] or "", stopped[1]], "unreadable": unreadable}

    def _relative(self, filename):
        if not filename or filename.startswith("<"):
            return None
        path = os.path.realpath(filename)
        return path[len(self.root):].replace(os.sep, "/") if path.startswith(self.root) else None


def _fall_back_to(module, error):
    """A module __getattr__ that re-raises `error` for a name the module lacks (dunder
    names stay plain AttributeErrors: the import system and libraries probe for them)."""
    if "__getattr__" in module.__dict__:
        return  # the module's own
    trace = error.__traceback__
    module_name = getattr(module, "__name__", "?")

    def __getattr__(name):
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(f"module {module_name!r} has no attribute {name!r}")
        raise error.with_traceback(trace)

    __getattr__.__qualname__ = "__getattr__ (set by the grader: this module stopped while it was imported)"
    try:
        module.__getattr__ = __getattr__
    except Exception:
        pass


def type_name(exc):
    """As worker_main.describe_exception names it: builtins and ours plain, others qualified."""
    t = type(exc)
    plain = t.__module__ in ("builtins", "__main__") or t.__module__.startswith((__package__ or "_agsandbox") + ".")
    return str(t.__qualname__ if plain else f"{t.__module__}.{t.__qualname__}")[:200]


def message_of(exc):
    try:
        if isinstance(exc, SystemExit):
            text = f"exit code {exc.code!r}"
        elif isinstance(exc, SyntaxError):
            text = str(exc.msg)  # str() adds the file and line, said beside it
        else:
            text = str(exc)
    except Exception:
        text = "(the message could not be shown)"
    return " ".join(text.split())[:MAX_MESSAGE]

