"""Partial work keeps its points (issue 17): a module that still raises while it is imported
costs only the tests that need what it never reached (autograder/sandbox/inside/partial_import.py).

The handout's `beras/__init__.py` imports every module, so before this one leftover line at
the top level of any module (a NameError, an import of a package that is not installed,
`sys.exit()`) failed every test. First the mechanism, in both sandboxes; then gradings of the
reference with one module made to raise at import."""
from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

from autograder import course as course_mod
from autograder.sandbox import Sandbox, SandboxConfig, StudentError, WorkerCrashed
from suite_support import broken_copy, by_number, graded

PACKAGE = {
    "pkg/__init__.py": """\
        from pkg.good import *
        from pkg.broken import *
        from pkg.needs_b import *
        from pkg.exits import *
        """,
    "pkg/good.py": """\
        def ok():
            return 1
        """,
    # __all__ names B, which is never defined: the star-import above must still go on.
    "pkg/broken.py": """\
        __all__ = ["A", "B"]


        class A:
            def value(self):
                return 2


        x = undefined_name


        class B:
            pass
        """,
    "pkg/needs_b.py": """\
        from pkg.broken import B


        def later():
            return 3
        """,
    "pkg/exits.py": """\
        import sys

        LIMIT = 4
        before = lambda: LIMIT  # noqa: E731
        sys.exit(5)
        AFTER = 6
        """,
    "pkg/unrelated.py": """\
        def fine():
            return 7
        """,
    "interrupt.py": """\
        def kept():
            return 8


        raise KeyboardInterrupt
        """,
}


@pytest.fixture(scope="module")
def package(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("partial-imports")
    for name, text in PACKAGE.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(textwrap.dedent(text))
    return root


@pytest.fixture(params=["full", "portable"])
def box(request, package, monkeypatch):
    """Both sandboxes must keep a module the same way (the worker side is shared)."""
    monkeypatch.setenv("AUTOGRADER_PORTABLE", "1" if request.param == "portable" else "")
    with Sandbox(package, SandboxConfig(keep_partial_imports=True)) as b:
        assert type(b).__name__ == ("PortableSandbox" if request.param == "portable" else "Sandbox")
        yield b


def raised(call) -> StudentError:
    with pytest.raises(StudentError) as info:
        call()
    return info.value


def test_a_module_keeps_what_it_defined_before_the_failing_line(box):
    with box.worker() as w:
        pkg = w.import_module("pkg")  # its __init__ star-imports the broken module and goes on
        assert pkg.ok() == 1 and pkg.A().value() == 2 and pkg.before() == 4
        assert w.import_module("pkg.unrelated").fine() == 7
        assert w.import_module("pkg.broken").A().value() == 2
        missing = raised(lambda: w.import_module("pkg.broken").B)
        assert (missing.type_name, missing.location.file, missing.location.line) == ("NameError", "pkg/broken.py", 9)
        assert "undefined_name" in missing.message
        # A module that imported the missing name stopped on the same error, said where.
        later = raised(lambda: w.import_module("pkg.needs_b").later)
        assert (later.type_name, later.location.file, later.location.line) == ("NameError", "pkg/broken.py", 9)
        assert ("pkg/needs_b.py", 1) in [(f.file, f.line) for f in later.frames]
        # The package lacks what the star-imports missed: the same error, not a bare AttributeError.
        assert raised(lambda: pkg.B).location.file == "pkg/broken.py"
        assert raised(lambda: pkg.later).location.file == "pkg/broken.py"
        # Dunder names stay plain AttributeErrors (the import system probes them).
        assert raised(lambda: w.getattr(w.import_module("pkg.broken"), "__path__")).type_name == "AttributeError"
        assert w.alive


def test_an_exit_at_import_is_set_aside_and_replaying_it_keeps_the_worker(box):
    with box.worker() as w:
        exits = w.import_module("pkg.exits")
        assert exits.before() == 4
        stop = raised(lambda: exits.AFTER)
        assert not isinstance(stop, WorkerCrashed)
        assert (stop.type_name, stop.location.file, stop.location.line) == ("SystemExit", "pkg/exits.py", 5)
        assert w.alive and exits.before() == 4


def test_a_keyboard_interrupt_at_import_is_not_set_aside(box):
    with box.worker() as w:
        err = raised(lambda: w.import_module("interrupt"))
        assert err.type_name == "KeyboardInterrupt"


def test_the_trusted_side_learns_what_was_set_aside(box):
    with box.worker() as w:
        w.import_module("pkg")
    records = box.imports_set_aside
    assert set(records) == {"pkg.broken", "pkg.needs_b", "pkg.exits"}
    broken = records["pkg.broken"]
    assert (broken.type_name, broken.file, broken.line, broken.stopped_file, broken.stopped_line) == \
        ("NameError", "pkg/broken.py", 9, "pkg/broken.py", 9)
    needs_b = records["pkg.needs_b"]
    assert (needs_b.file, needs_b.line, needs_b.stopped_file, needs_b.stopped_line) == \
        ("pkg/broken.py", 9, "pkg/needs_b.py", 1)
    assert (records["pkg.exits"].type_name, records["pkg.exits"].message) == ("SystemExit", "exit code 5")


def test_off_an_import_error_fails_the_import_as_before(package, monkeypatch):
    monkeypatch.setenv("AUTOGRADER_PORTABLE", "")
    with Sandbox(package, SandboxConfig()) as box, box.worker() as w:
        err = raised(lambda: w.import_module("pkg"))
        assert (err.type_name, err.location.file) == ("NameError", "pkg/broken.py")
        assert box.imports_set_aside == {}


def test_the_course_setting_is_on_by_default_and_reaches_the_sandbox(tmp_path):
    default = course_mod.load()
    assert default.set_aside_import_errors is True and default.sandbox.keep_partial_imports is True
    config = tmp_path / "autograder.cfg"
    config.write_text("[autograder]\nset_aside_import_errors = no\n")
    off = course_mod.load(config)
    assert off.set_aside_import_errors is False and off.sandbox.keep_partial_imports is False
    config.write_text("[sandbox]\nkeep_partial_imports = yes\n")  # one place to set it
    with pytest.raises(course_mod.ConfigError, match="keep_partial_imports"):
        course_mod.load(config)


# ------------------------------------------------------------------ gradings of the reference

# (module, line as it stands in the reference, the line added before it, its error)
LOSSES_LEFTOVER = ("beras/losses.py", "class CategoricalCrossEntropy(Loss):",
                   "DEFAULT_LOSS = MeanSquaredErorr()\n\n\n", "NameError")
OPTIMIZERS_IMPORT = ("beras/optimizers.py", "import numpy as np\n",
                     "from beras.utils import clip_gradients\n", "ModuleNotFoundError")
ACTIVATIONS_EXIT = ("beras/activations.py", "class Softmax(Activation):",
                    "import sys\nsys.exit()\n\n\n", "SystemExit")


def broken_at_import(reference_dir: Path, tmp_path: Path, case) -> tuple[Path, int]:
    file, anchor, added, _ = case
    sub = broken_copy(reference_dir, tmp_path / "sub", file, anchor,
                      added + anchor if anchor.endswith(":") else anchor + added)
    lines = (sub / file).read_text().splitlines()
    failing = next(i for i, text in enumerate(lines, 1) if text and text in added.splitlines()
                   and not text.startswith("import "))
    return sub, failing


def lost(doc: dict) -> dict[str, dict]:
    return {n: t for n, t in by_number(doc).items() if t["score"] < t["max_score"]}


def check_only_the_tests_that_need_it_lost(doc: dict, case, line: int) -> dict[str, dict]:
    """Every test that lost points names the failing file and line (or, the style test, its
    error); every other test has all its points, as the reference has; the top says what was
    set aside and how to fix it."""
    file, _, _, error = case
    where = f"`{file}` line {line}"
    losing = lost(doc)
    for number, test in losing.items():
        if test["score"] == 0:
            assert where in test["output"] and f"`{error}`" in test["output"], (number, test["output"][:600])
        else:  # partial credit: the style test times what ran, and says what did not
            assert error in test["output"], (number, test["output"][:600])
    kept = {n for n, t in by_number(doc).items() if n not in losing}
    assert all(by_number(doc)[n]["score"] == by_number(doc)[n]["max_score"] for n in kept)
    top = doc["output"]
    assert "**Part of your code stopped while it was imported**" in top, top
    item = top.split("**Part of your code stopped while it was imported**")[1]
    assert f"{where}: `{error}`" in item and "Fix each line named here" in item, item
    assert "Your code could not be imported" not in top
    return losing


def test_a_leftover_line_in_losses_costs_only_the_tests_that_need_what_follows_it(reference_dir, tmp_path):
    sub, line = broken_at_import(reference_dir, tmp_path, LOSSES_LEFTOVER)
    doc, _ = graded(sub)
    losing = check_only_the_tests_that_need_it_lost(doc, LOSSES_LEFTOVER, line)
    names = {n: t["name"] for n, t in by_number(doc).items()}
    cross_entropy = {n for n, name in names.items() if "cross-entropy" in name.lower() or "CCE" in name}
    mse = {n for n, name in names.items() if "MSE" in name}
    assert cross_entropy and cross_entropy <= set(losing), (cross_entropy, set(losing))
    assert mse and not mse & set(losing), "MeanSquaredError comes before the failing line"
    assert any("training" in names[n] for n in losing)  # assignment.py imports the cross-entropy
    assert len(losing) <= 8 and doc["score"] >= 80


def test_a_missing_import_at_the_top_of_optimizers_costs_only_the_optimizer_tests(reference_dir, tmp_path):
    sub, line = broken_at_import(reference_dir, tmp_path, OPTIMIZERS_IMPORT)
    doc, _ = graded(sub)
    losing = check_only_the_tests_that_need_it_lost(doc, OPTIMIZERS_IMPORT, line)
    optimizer_tests = {n for n in by_number(doc) if re.fullmatch(r"6\.\d+", str(n))}
    assert optimizer_tests and optimizer_tests <= set(losing)
    assert set(losing) - optimizer_tests <= {n for n, t in by_number(doc).items() if "training" in t["name"]}


def test_an_exit_at_import_in_one_module_costs_only_what_follows_it(reference_dir, tmp_path):
    """The given `beras/__init__.py` is fine; activations.py calls sys.exit() before Softmax."""
    sub, line = broken_at_import(reference_dir, tmp_path, ACTIVATIONS_EXIT)
    doc, _ = graded(sub)
    losing = check_only_the_tests_that_need_it_lost(doc, ACTIVATIONS_EXIT, line)
    names = {n: t["name"] for n, t in by_number(doc).items()}
    assert {n for n, name in names.items() if name.startswith("Softmax")} <= set(losing)
    assert not {n for n, name in names.items() if name.startswith(("LeakyReLU", "Sigmoid"))} & set(losing)


def test_what_the_top_says_quotes_the_students_text_as_data():
    """Every name, message and path in the item is the student's (or their code's) text."""
    from autograder.plugin.outcome import ImportFailure
    from autograder.plugin.summary import set_aside_at_import
    from autograder.sandbox.grader.errors import SetAsideAtImport
    from autograder.sandbox.grader.errors import StudentError as Raised
    from autograder.untrusted import live_markup
    hostile = "<img src=x onerror=alert(1)> [click](http://x) `` ``` <b>"
    record = SetAsideAtImport("beras.losses", f"Err{hostile}", hostile, f"beras/{hostile}.py", 3,
                              f"beras/{hostile}.py", 3)
    importer = SetAsideAtImport("assignment", record.type_name, hostile, record.file, 3, "assignment.py", 13)
    raised = Raised(record.type_name, hostile, [(record.file, 3, "<module>", hostile)])
    failure = ImportFailure(key="k", module="beras.losses", short="s", markdown=raised.markdown(),
                            type_name=record.type_name, message=hostile, file=record.file, line=3)
    text = set_aside_at_import({"beras.losses": record, "assignment": importer}, [(failure, 4)])
    assert "4 tests need what it did not reach" in text and "It also stopped `assignment.py` at line 13" in text
    assert not live_markup(text), text
