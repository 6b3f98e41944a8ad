"""Stand-ins installed in the worker in front of every other importer.

- Forbidden libraries (tensorflow, torch, ...) import fine, with any submodule, so that a
  stale `import tensorflow as tf` costs nothing; the first real use raises
  ForbiddenLibraryError, which names the library (the traceback names the student's line).
- Harmless helpers (tqdm, matplotlib) are always replaced, whether or not the grader has
  them installed, so grading is the same on every machine.

stdlib only, relative imports only: this package is copied into the sandbox.
"""
import importlib.abc
import importlib.util
import sys

from . import forbidden, matplotlib_stub, tqdm_stub

STAND_INS = {"tqdm": tqdm_stub.make_module, "matplotlib": matplotlib_stub.make_module}
ForbiddenLibraryError = forbidden.ForbiddenLibraryError


class _Loader(importlib.abc.Loader):
    def __init__(self, make):
        self.make = make

    def create_module(self, spec):
        module = self.make(spec.name)
        module.__spec__ = spec
        module.__path__ = []  # a package, so any submodule import also comes to us
        return module

    def exec_module(self, module):
        pass


class StandInFinder(importlib.abc.MetaPathFinder):
    def __init__(self, forbidden_names, stand_in_names):
        unknown = [n for n in stand_in_names if n not in STAND_INS]
        if unknown:
            raise ValueError(f"no stand-in exists for {', '.join(unknown)} (known: {', '.join(STAND_INS)})")
        self.forbidden = frozenset(forbidden_names)
        self.stand_ins = frozenset(stand_in_names)
        self.used = []  # top-level names, in order of first import
        self.shadowed = {}  # real modules install() took out of sys.modules, by name

    def find_spec(self, fullname, path=None, target=None):
        top = fullname.partition(".")[0]
        if top in self.forbidden:
            make = forbidden.make_module
        elif top in self.stand_ins:
            make = STAND_INS[top]
        else:
            return None
        if top not in self.used:
            self.used.append(top)
        return importlib.util.spec_from_loader(fullname, _Loader(make), is_package=True)


def install(forbidden_names, stand_in_names):
    """Put the finder first on sys.meta_path and drop already-imported real modules it shadows."""
    finder = StandInFinder(forbidden_names, stand_in_names)
    for name in list(sys.modules):
        top = name.partition(".")[0]
        if top in finder.forbidden or top in finder.stand_ins:
            finder.shadowed[name] = sys.modules.pop(name)
    sys.meta_path.insert(0, finder)
    return finder


def uninstall(finder):
    if finder in sys.meta_path:
        sys.meta_path.remove(finder)
    for name in list(sys.modules):
        top = name.partition(".")[0]
        if (top in finder.forbidden or top in finder.stand_ins) and \
                isinstance(getattr(sys.modules[name], "__loader__", None), _Loader):
            del sys.modules[name]
    # An in-process worker (benchmarks) shares its host's modules: give back the real ones
    # it shadowed, whole, or the host's half-imported library would mix two module copies.
    for name, module in finder.shadowed.items():
        sys.modules.setdefault(name, module)
    finder.shadowed.clear()
