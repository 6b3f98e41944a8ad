"""The graded suite's fixture layer: the student's Beras, our worker-side helpers, Hypothesis.

Student code is reached only through the engine's `student` fixture (a fresh Worker per
test, see docs/architecture.md). Tests ask for:
  beras        the student's modules, by short name: beras.layers.Dense, beras.core.Variable
  student_file the student's top-level modules: student_file("committee").Committee
  worker_side  our own helper code run inside the worker: worker_side("probes").Linear
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, settings

SUITE = Path(__file__).resolve().parent
if str(SUITE) not in sys.path:
    # The helper modules (feedback, numerics, strategies, data) import as top-level modules.
    sys.path.insert(0, str(SUITE))

# Grades must be reproducible (principle 3): the same examples on every run, no example
# database, no wall-clock deadline (worker calls vary in speed). max_examples keeps the
# grading of one submission well under a minute; print_blob is for developers, not students.
# A fresh worker per test (not per example) is intended, hence the fixture health check.
settings.register_profile(
    "grading",
    derandomize=True,
    database=None,
    deadline=None,
    max_examples=20,
    print_blob=False,
    report_multiple_bugs=False,
    # No "explain" phase: it re-runs a failing test many times to point at lines of OUR test
    # code, which costs seconds per failing test and tells a student nothing.
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink],
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                           HealthCheck.data_too_large, HealthCheck.filter_too_much],
)
settings.load_profile("grading")

WORKER_SIDE = SUITE / "worker_side"

from autograder.sandbox import StudentError  # noqa: E402  (after the sys.path set-up above)
from feedback import code_block, describe_error  # noqa: E402


BERAS_MODULES = ("core", "layers", "activations", "losses", "metrics", "onehot", "optimizers",
                 "gradient_tape", "model")


class StudentBeras:
    """The student's `beras` package, one module per attribute (imported in the worker)."""

    def __init__(self, worker):
        self._worker = worker
        self._modules = {}

    def __getattr__(self, name: str):
        if name not in BERAS_MODULES:  # e.g. Hypothesis probing fixtures for attributes
            raise AttributeError(name)
        if name not in self._modules:
            self._modules[name] = self._worker.import_module(f"beras.{name}")
        return self._modules[name]


class WorkerNamespace:
    """The names one of our worker_side/*.py files defines, run inside the student's worker."""

    def __init__(self, worker, name: str):
        source = (WORKER_SIDE / f"{name}.py").read_text()
        builtins = worker.import_module("builtins")
        self._namespace = builtins.dict(__name__=f"grader_{name}")
        code = builtins.compile(source, f"<grader: {name}.py>", "exec")
        builtins.exec(code, self._namespace)

    def __getattr__(self, name: str):
        if name.startswith("_"):
            raise AttributeError(name)
        return self._namespace[name]


@pytest.fixture
def beras(student):
    return StudentBeras(student)


@pytest.fixture
def student_file(student):
    return student.import_module


@pytest.fixture
def worker_side(student):
    loaded = {}

    def load(name: str, worker=None) -> WorkerNamespace:
        """Our worker_side/<name>.py in the student's worker, or in `worker` (e.g. a fresh
        one from the `sandbox` fixture that never ran the student's code)."""
        worker = student if worker is None else worker
        if (name, id(worker)) not in loaded:
            loaded[(name, id(worker))] = WorkerNamespace(worker, name)
        return loaded[(name, id(worker))]

    return load


# ---------------------------------------------------------------------------- crashes with inputs

try:
    EXCEPTION_GROUPS = (BaseExceptionGroup,)
except NameError:  # Python 3.10: Hypothesis raises the backport's groups
    from exceptiongroup import BaseExceptionGroup as _BaseExceptionGroup
    EXCEPTION_GROUPS = (_BaseExceptionGroup,)


class StudentCodeFailed(AssertionError):
    """The student's code raised on the smallest input Hypothesis found; the message shows both."""


def falsifying_example(error: BaseException, fixtures=()) -> str:
    """The generated arguments of Hypothesis' "Falsifying example" note, without fixtures."""
    notes = getattr(error, "__notes__", None) or []
    lines = []
    for note in notes:
        if note.startswith("Falsifying example:"):
            for line in note.splitlines()[1:-1]:  # between "Falsifying example: test_x(" and ")"
                name = re.match(r"\s*(\w+)=", line)
                if name and (name.group(1) in fixtures or "data(...)" in line):
                    continue
                lines.append(re.sub(r"\s+# or any other generated value$", "", line[4:]))
        elif note.startswith("Draw "):
            lines.append(note)
    return "\n".join(line for line in lines if line.strip())


def exception_tree(error: BaseException) -> list:
    """error, the members of exception groups (Hypothesis raises one when a failure does not
    replay identically, e.g. after the worker died), and their causes, depth first."""
    found, todo = [], [error]
    while todo:
        e = todo.pop(0)
        if e is None or any(e is f for f in found):
            continue
        found.append(e)
        todo.extend(getattr(e, "exceptions", ()) or ())
        todo.extend([e.__cause__, e.__context__])
    return found


@pytest.hookimpl(wrapper=True)
def pytest_pyfunc_call(pyfuncitem):
    """A student's exception inside a property test: show it WITH the input that caused it."""
    try:
        return (yield)
    except (StudentError, *EXCEPTION_GROUPS) as raised:
        tree = exception_tree(raised)
        error = next((e for e in tree if isinstance(e, StudentError)), None)
        if error is None or error.type_name == "ModuleNotFoundError":  # the engine explains missing files
            raise
        example = next((text for text in (falsifying_example(e, set(pyfuncitem.fixturenames)) for e in tree)
                        if text), "")
        if not example:
            raise
        raise StudentCodeFailed(f"{describe_error(error)}\n\n**Input** (the smallest failing case found):\n"
                                f"{code_block(example)}") from error
