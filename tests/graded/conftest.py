"""The graded suite's fixture layer: the student's Beras, our worker-side helpers, Hypothesis.

Student code is reached only through the engine's `student` fixture (a fresh Worker per
test, see docs/architecture.md). Tests ask for:
  beras        the student's modules, by short name: beras.layers.Dense, beras.core.Variable
  student_file the student's top-level modules: student_file("committee").Committee
  worker_side  our own helper code run inside the worker: worker_side("probes").Gate
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
from hypothesis import settings

SUITE = Path(__file__).resolve().parent
if str(SUITE) not in sys.path:
    # The helper modules (feedback, numerics, strategies, data) import as top-level modules.
    sys.path.insert(0, str(SUITE))

# The engine's plugin makes every grade reproducible (autograder/reproducible.py: derandomised,
# no example database, no deadline, no explain phase). The suite adds its own choices only:
# max_examples keeps the grading of one submission well under a minute, and one failure per
# test is what a student reads.
settings.register_profile("grading", max_examples=20, report_multiple_bugs=False)
settings.load_profile("grading")

WORKER_SIDE = SUITE / "worker_side"

from autograder.plugin.feedback import exceptions_in  # noqa: E402  (after the sys.path set-up above)
from autograder.plugin.metadata import meta  # noqa: E402
from autograder.results import number_key  # noqa: E402
from autograder.sandbox import StudentError  # noqa: E402
import feedback  # noqa: E402
from feedback import code_block, describe_error  # noqa: E402
from autograder.untrusted import code_span  # noqa: E402


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
        # Only worker_side/, which ships in the kit: anything a worker runs, student code may print.
        source = (WORKER_SIDE / f"{name}.py").read_text()
        builtins = worker.import_module("builtins")
        self._namespace = builtins.dict(__name__=f"grader_{name}")
        code = builtins.compile(source, f"<grader: {name}.py>", "exec")
        builtins.exec(code, self._namespace)
        self._handles = {}

    def __getattr__(self, name: str):
        if name.startswith("_"):
            raise AttributeError(name)
        # A name is looked up in the worker once per namespace: tests reach our helpers
        # (probes.Gate, ...) in loops, and each lookup was a round trip. Only the handle is
        # kept, never a value: it names our own definition (no worker_side file rebinds its
        # globals), and every use of it (a call, an attribute) is still a request to the worker.
        if name not in self._handles:
            self._handles[name] = self._namespace[name]
        return self._handles[name]


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


class GraderCodeCrashed(StudentCodeFailed):
    """The test's own worker-side code crashed, not the student's (blame_in_test_code)."""


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
        elif note.startswith("Draw ") and note not in lines:  # a replay may add the same note again
            lines.append(note)
    return "\n".join(line for line in lines if line.strip())


def readable_value(text: str):
    """A value from Hypothesis' repr of OUR generated inputs (never student data), as Python
    data (arrays as numpy arrays), or None when it is not plain literals and arrays."""
    import ast
    import numpy as np

    def arrays(node):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "array" \
                and len(node.args) == 1 and not node.keywords:
            return np.array(ast.literal_eval(node.args[0]), dtype=float)
        if isinstance(node, ast.Dict):
            return {arrays(k): arrays(v) for k, v in zip(node.keys, node.values)}
        if isinstance(node, (ast.List, ast.Tuple)):
            items = [arrays(e) for e in node.elts]
            return items if isinstance(node, ast.List) else tuple(items)
        return ast.literal_eval(node)

    try:
        return arrays(ast.parse(text.strip().rstrip(","), mode="eval").body)
    except (SyntaxError, ValueError, TypeError, KeyError, RecursionError):
        return None


def example_block(example: str) -> str:
    """The failing example in the usual input format (name = value, a dict's entries one by
    one, arrays with their shape), or as Hypothesis printed it if it does not parse."""
    args, draws = [], []
    for line in example.splitlines():
        start = re.match(r"(\w+)=(.*)$", line)
        if start:
            args.append([start.group(1), start.group(2)])
        elif line.startswith("Draw ") or not args:
            draws.append(line)
        else:
            args[-1][1] += "\n" + line
    inputs = {}
    for name, text in args:
        value = readable_value(text)
        if value is None:
            return "**Input** (the smallest failing case found):\n" + code_block(example)
        inputs.update({str(k): v for k, v in value.items()} if isinstance(value, dict) else {name: value})
    for line in draws:  # "Draw 1 (x): array(...)"
        named = re.match(r"Draw \d+ \((.+?)\): (.*)$", line, re.S)
        value = readable_value(named.group(2)) if named else None
        if value is None:
            return "**Input** (the smallest failing case found):\n" + code_block(example)
        inputs[named.group(1)] = value
    return feedback.inputs_block(inputs, found=True) if inputs else ""


# The given code of the handout that combines what a student's method returned: a crash there
# is that method's doing.
GIVEN_COMBINERS = {
    ("beras/core.py", "compose_input_gradients"): "get_input_gradients",
    ("beras/core.py", "compose_weight_gradients"): "get_weight_gradients",
    ("beras/core.py", "_sum_of_products"): "get_weight_gradients",
}


NDARRAY_ONLY = {"view", "reshape", "shape", "T", "astype", "ndim", "dtype", "flatten", "ravel", "sum", "mean",
                "max", "min", "argmax", "transpose", "squeeze", "copy", "size"}


def crash_hint(error: StudentError, tags=()):
    """A hint for a crash, from where and how it happened; None when it says nothing sure.
    tags: the test's; a `gradient-tape` test runs the student's tape on test-provided layers."""
    if error.type_name == "NotImplementedError":
        return feedback.Hint("not-implemented", "this is still the handout's stub: replace the "
                                                "`raise NotImplementedError(...)` with your implementation.")
    called = (re.match(r"(\w+)\(\) takes no arguments$", error.message)
              or re.match(r"(\w+)\.__init__\(\) takes \d+ positional arguments? but \d+ were given$", error.message))
    if error.type_name == "TypeError" and called:
        # A class called with the arguments meant for one of its instances.
        name = called.group(1)
        return feedback.Hint("wrong-type", (
            f"`{name}` was called like an instance of it, but it is the class itself: does a function return "
            f"`{name}` where it should return an instance, `{name}()`?"))
    keys = re.match(r"while (?:fetching|reading the value of) (.+?(\w+)\(\.\.\.\)): value has a key of type (\w+)",
                    error.message)
    if error.type_name == "BadValue" and keys and keys.group(2).startswith(("gradient", "get_", "compose_")):
        return feedback.Hint("wrong-type", (
            f"`{keys.group(2)}` returned a dict keyed by {keys.group(3)} values; it must return a list, one "
            f"gradient per source, input or weight, in order."))
    attribute = re.match(r"'(list|tuple)' object has no attribute '(\w+)'$", error.message)
    if error.type_name == "AttributeError" and attribute and attribute.group(2) in NDARRAY_ONLY:
        return feedback.Hint("wrong-type", (
            f"a Python {attribute.group(1)} arrived where your code uses a numpy array's `.{attribute.group(2)}`: "
            f"convert it with `np.asarray(...)` first."))
    frames = list(error.frames)
    if frames:
        inner = frames[-1]
        method = GIVEN_COMBINERS.get((inner.file, inner.function))
        caller = next((f for f in reversed(frames[:-1]) if (f.file, f.function) not in GIVEN_COMBINERS), None)
        if method and caller is not None and caller.file == "beras/gradient_tape.py":
            # The given code combines the layer's own Jacobians with the J the tape passed. On
            # the test's own layers (a tape test) only that J can be wrong.
            return feedback.Hint("tape-recording" if "gradient-tape" in tags else feedback.REMINDER, (
                f"the crash is in the given `{inner.function}`, called by your {code_span(caller.function, 60)} "
                f"({code_span(caller.file, 80)}, line {int(caller.line)}) with the upstream gradients J it built: "
                f"`{inner.function}` expects J as a list with one entry per output of the layer, each an array "
                f"shaped like that output."
                + ("" if "gradient-tape" in tags else f" If J is right, look at the layer's `{method}`.")))
        if method:
            return feedback.Hint(feedback.REMINDER, (
                f"the crash is in the given `{inner.function}`, which combines what your `{method}` returns "
                f"with the upstream gradient: `{method}` must return a list with one entry per "
                f"{'input' if method == 'get_input_gradients' else 'weight'}, each either shared by the batch "
                f"or one per sample (a first axis of N). Its own tests show what it returned."))
        callers = [f for f in frames[:-1] if f.function == "batch_step"]
        if inner.function == "apply_gradients" and callers:
            return feedback.Hint(feedback.REMINDER, (
                "the crash is in the optimizer's `apply_gradients`, called by your `batch_step`: pass it two "
                "lists of the same length, the trainable variables and the tape's gradients for them, in "
                "the same order."))
    return None


# The handout's given code that calls a layer: a crash there, directly under a test's own
# worker-side code, happened while binding the inputs of a layer or loss the test provides.
GIVEN_CALLERS = {("beras/core.py", "__call__")}


def blame_in_test_code(error: StudentError) -> str | None:
    """Feedback for a crash in the test's own worker-side code (worker_side/*.py), or in the
    given `__call__` as that code called one of its own layers: the student's file is not to
    blame there, though it is the innermost file of theirs. None for any other crash."""
    where = error.test_code
    if where is None or len(error.frames) > where.student_frames_after:
        return None  # no test code on the way, or the student's code called ours: what it passed may be why
    after = error.frames[-where.student_frames_after:] if where.student_frames_after else []
    # (a comprehension is a frame of its own before Python 3.12)
    if after and not ((after[0].file, after[0].function) in GIVEN_CALLERS
                      and all(f.file == after[0].file and f.function.startswith("<") for f in after[1:])):
        return None  # the test's code called the student's, which raised: theirs to fix
    helper = where.file.removeprefix("<grader:").rstrip(">").strip()
    print(f"STAFF: a crash inside the suite's worker-side code {where.file} line {where.line} "
          f"({where.function}): {error.type_name}: {error.message}", flush=True)
    inside = (f"in the handout's given `Diffable.__call__` while it called a layer that the test provides "
              f"(from our {code_span(helper)}, in {code_span(where.function)})" if after else
              f"inside the test's own code ({code_span(helper)}, in {code_span(where.function)})")
    return (f"This test crashed {inside}: {code_span(f'{error.type_name}: {error.message}')}. "
            f"This is not a mistake in your files: the course staff has the details.")


@pytest.hookimpl(wrapper=True)
def pytest_pyfunc_call(pyfuncitem):
    """A student's exception inside a test: show it WITH the input that caused it, and a hint
    when the crash itself says what is wrong. When a part the test rests on (`rests_on`)
    failed its own tests earlier in the run, the hint says so instead."""
    try:
        return (yield)
    except (StudentError, AssertionError, *EXCEPTION_GROUPS) as raised:
        failed = feedback.upstream_failures(meta(pyfuncitem, "__rests_on__", ()) or (),
                                            meta(pyfuncitem, "__number__"))
        shown = explained_crash(pyfuncitem, raised)
        certain = {"not-implemented", "missing-return"} & set(hint_classes(shown if shown is not None else raised))
        certain = certain or isinstance(shown, GraderCodeCrashed)  # no earlier failure explains our crash
        text = (str(shown) if shown is not None else feedback_text(raised)) if failed and not certain else ""
        if text:
            upstream = UpstreamFailed(feedback.with_upstream_hint(text, failed))
            upstream.extra_data = {"hints": [feedback.REMINDER]}
            raise upstream from raised
        if shown is None:
            raise
        raise shown from raised


def hint_classes(raised: BaseException) -> list:
    """The mistake classes of the hints a failure carries (its extra_data)."""
    for e in exceptions_in(raised):
        hints = (getattr(e, "extra_data", None) or {}).get("hints") if isinstance(e, AssertionError) else None
        if hints:
            return list(hints)
    return []


class UpstreamFailed(AssertionError):
    """A failure that an earlier failing test (of a part this test rests on) likely explains."""


def feedback_text(raised: BaseException) -> str:
    """The Markdown a failure shows: a suite verdict's message, or a student crash's rendering
    ("" for a missing module, which the engine explains itself)."""
    tree = exceptions_in(raised)
    verdict = next((e for e in tree if isinstance(e, AssertionError) and str(e).strip()), None)
    if verdict is not None:
        return str(verdict).strip()
    error = next((e for e in tree if isinstance(e, StudentError)), None)
    if error is None or error.type_name == "ModuleNotFoundError":
        return ""
    return describe_error(error).strip()


def explained_crash(item, raised: BaseException):
    """A StudentCodeFailed for a student's crash, with the input that caused it and a hint
    when the crash says what is wrong; None when there is nothing to add."""
    tree = exceptions_in(raised)
    error = next((e for e in tree if isinstance(e, StudentError)), None)
    if error is None or error.type_name == "ModuleNotFoundError":  # the engine explains missing files
        return None
    blame = blame_in_test_code(error)
    if blame is not None:
        failed = GraderCodeCrashed(blame)
        failed.extra_data = {"hints": []}
        return failed
    example = next((text for text in (falsifying_example(e, set(item.fixturenames)) for e in tree)
                    if text), "")
    hint = crash_hint(error, meta(item, "__tags__") or ())
    if not example and hint is None:
        return None
    parts = [describe_error(error).strip()]
    if example:
        parts.append(example_block(example))
    if hint:
        parts.append(f"**Hint:** {hint}")
    failed = StudentCodeFailed("\n\n".join(p for p in parts if p))
    failed.extra_data = {"hints": [feedback.mistake_of(hint)] if hint else []}
    return failed


# ---------------------------------------------------------------------------- the run order

END_TO_END = "end-to-end"


def pytest_collection_modifyitems(session, config, items):
    """Tests run in their numeric order, the order the results list them (the engine sorts
    them: 1.1, 1.2, ..., 13.1). A failure may name the earlier failing tests of the parts it
    rests on (`rests_on`), and an end-to-end test those of the parts its training uses
    (`blames`), so each of those must have run before it: the suite keeps every such test
    numbered below the tests that may name it, and a suite that does not is refused here."""
    problems = order_problems(items)
    if problems:
        raise pytest.UsageError("the graded suite's numbers do not order its tests before the tests that may "
                                "name their failures (feedback.rests_on, feedback.blames): " + "; ".join(problems))
    for item in items:  # for the engine's "where to start": end-to-end tests come after every part
        item.user_properties.append(("fix_first_rank", 1 if END_TO_END in (meta(item, "__tags__") or ()) else 0))


def order_problems(items) -> list:
    """For each test that may name the failures of tests of some parts, every collected
    test of those parts numbered at or above it (so it would not have run yet), in words."""
    problems = []
    for item in items:
        number = str(meta(item, "__number__") or "")
        parts = set(meta(item, "__rests_on__", ()) or ()) | set(meta(item, "__blames__", ()) or ())
        later = [other for other in items if other is not item and parts & set(meta(other, "__tags__") or ())
                 and number_key({"number": str(meta(other, "__number__") or "")}) >= number_key({"number": number})]
        if later:
            names = ", ".join(f"{meta(o, '__number__')} ({', '.join(sorted(parts & set(meta(o, '__tags__'))))})"
                              for o in later)
            problems.append(f"{number or item.nodeid} may name failures of {names}, which would run after it: "
                            f"renumber so that they come first")
    return problems


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.failed and report.when in ("setup", "call"):
        doc = (getattr(getattr(item, "obj", None), "__doc__", None) or item.name).strip().splitlines()[0]
        feedback.FAILED_SO_FAR.append((str(meta(item, "__number__", "?")), doc,
                                       tuple(meta(item, "__tags__") or ())))
