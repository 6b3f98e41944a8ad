"""The submission's own imports, watched from inside the worker (stdlib only, relative imports
only: this file is copied into the sandbox).

A module whose top-level code hangs (an endless loop, training at import) would cost the call
time limit in every test that imports it, directly or through our helper code, and the whole
grading would outlast Gradescope's own limit, which shows the student nothing. So the worker
tells the trusted side when the import of a submission module starts and when it ends; after
a timeout the trusted side knows which imports never ended, and later workers refuse those at
once (ImportTimedOutBefore) instead of hanging again.

With `keep_partial`, a submission module whose top level raises is kept as far as it ran
(partial_import.py), and the trusted side is told ("aside"), so that it costs only the tests
that need what the module never reached.

Student code can fake or suppress these notes; that can only change how fast its own tests
fail, or what the top of its own results says, never a result of ours.
"""
import os
import sys

from .partial_import import PartialImports


class ImportTimedOutBefore(Exception):
    """Raised in the worker instead of importing a module whose import hung in an earlier test."""


class ImportWatch:
    """First finder on sys.meta_path in a worker. Finds specs through the other finders; for a
    module of the submission, wraps its loader's exec_module to report start and end."""

    def __init__(self, root, notify, keep_partial=False):
        self.root = os.path.realpath(root) + os.sep
        self.notify = notify          # notify(event, module name[, details]): "start", "end", "aside"
        self.blocked = frozenset()    # names whose import timed out before (set by the grader)
        self.partial = PartialImports(root, notify) if keep_partial else None
        self._searching = False

    def find_spec(self, fullname, path=None, target=None):
        if fullname in self.blocked:
            raise ImportTimedOutBefore(fullname)
        if self._searching:  # a finder below imported something while searching
            return None
        self._searching = True
        try:
            spec = None
            for finder in list(sys.meta_path):
                if finder is self or not hasattr(finder, "find_spec"):
                    continue
                spec = finder.find_spec(fullname, path, target)
                if spec is not None:
                    break
        finally:
            self._searching = False
        if spec is not None and self._is_submission(spec):
            self._watch(spec)
        return spec

    def _is_submission(self, spec):
        origin = getattr(spec, "origin", None)
        return isinstance(origin, str) and os.path.realpath(origin).startswith(self.root)

    def _watch(self, spec):
        loader = spec.loader
        exec_module = getattr(loader, "exec_module", None)
        if exec_module is None:
            return
        name, notify, partial = spec.name, self.notify, self.partial

        def watched_exec_module(module):
            notify("start", name)
            try:
                if partial is None:
                    exec_module(module)
                else:
                    partial.run(exec_module, module, name)
            finally:
                notify("end", name)  # raising is not hanging
        try:
            loader.exec_module = watched_exec_module  # this module's loader only
        except AttributeError:
            pass


def install(root, notify, keep_partial=False):
    watch = ImportWatch(root, notify, keep_partial)
    sys.meta_path.insert(0, watch)
    return watch
