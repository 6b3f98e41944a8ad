"""The command line: dispatch, exit codes, grade/check/build, and grade() for TA tools."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from autograder import build
from autograder.cli import COMMANDS
from autograder.grading import load_course
from engine_cases import harness

CORRECT = harness.CASES / "submissions" / "correct"
KIT_ENV = {**os.environ, "AUTOGRADER_SANDBOX_USER": harness.TEST_USER}


def test_help_lists_every_command_and_exit_codes():
    proc = harness.engine("--help")
    assert proc.returncode == 0
    for name in COMMANDS:
        assert f"  {name} " in proc.stdout
    assert "3 grader (internal) error" in proc.stdout


@pytest.mark.parametrize("args, code", [
    ((), 2), (("frobnicate",), 2), (("grade",), 2), (("grade", "/no/such/submission"), 2),
    (("grade", ".", "--no-such-option"), 2), (("grade", "--help"), 0), (("check", "--help"), 0),
    (("build", "--help"), 0), (("gradescope", "--help"), 0),
])
def test_exit_codes_for_usage(args, code):
    assert harness.engine(*args).returncode == code


def test_dispatch_imports_lazily():
    code = ("import sys; from autograder.cli import main; main(['--help']); "
            "print(sorted(m for m in ('pytest', 'numpy', 'hypothesis', 'autograder.plugin') if m in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", code], cwd=harness.REPO, capture_output=True, text=True)
    assert proc.stdout.strip().splitlines()[-1] == "[]"


def test_grade_prints_a_table_and_writes_results(tmp_path):
    out = tmp_path / "r.json"
    proc = harness.engine("grade", harness.CASES / "submissions" / "wrong", "--out", out, "--config", harness.COURSE_CFG)
    assert proc.returncode == 0  # grading ran; the score does not change the exit code
    doc = harness.validate(json.loads(out.read_text()))
    assert doc["score"] == 5
    assert "score 5 / 10   (4 of 8 tests passed)" in proc.stdout
    lines = proc.stdout.splitlines()
    numbered = [l.split()[0] for l in lines if l[:1].isdigit() and "." in l.split()[0]]
    assert numbered == ["1.1", "1.2", "1.3", "1.4", "1.5", "1.6", "2.1", "2.2"]  # sorted by number
    assert any(l.startswith("1.1") and l.endswith("FAIL") for l in lines)


def test_grade_accepts_a_zip_and_pytest_arguments(tmp_path):
    archive = tmp_path / "upload.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for path in CORRECT.rglob("*.py"):
            zf.write(path, "hw/" + path.relative_to(CORRECT).as_posix())
    out = tmp_path / "r.json"
    proc = harness.engine("grade", archive, "--out", out, "--config", harness.COURSE_CFG, "--quiet",
                          "--", "-k", "add")
    assert proc.returncode == 0, proc.stdout
    doc = harness.validate(json.loads(out.read_text()))
    names = sorted(harness.by_function(doc))
    assert names == ["test_add", "test_add_many"] and doc["score"] == 2
    assert "Unpacked `upload.zip`" in doc["output"] and "`hw/`" in doc["output"]


def test_grade_public_only_runs_no_hidden_test(tmp_path):
    out = tmp_path / "r.json"
    proc = harness.engine("grade", CORRECT, "--out", out, "--config", harness.COURSE_CFG, "--public-only", "--quiet")
    assert proc.returncode == 0
    doc = harness.validate(json.loads(out.read_text()))
    assert all("/public/" in t["extra_data"]["nodeid"] for t in doc["tests"]) and len(doc["tests"]) == 6


def test_grade_function_runs_a_child_and_returns_the_results(tmp_path):
    from autograder.grading import grade

    doc = grade(CORRECT, tmp_path / "r.json", config=harness.COURSE_CFG, sandbox_user=harness.TEST_USER)
    assert harness.validate(doc)["score"] == 10
    assert json.loads((tmp_path / "r.json").read_text()) == doc
    assert grade(CORRECT, config=harness.COURSE_CFG, public_only=True, sandbox_user=harness.TEST_USER)["score"] == 7


def test_a_grading_child_names_no_submission_on_its_command_line(tmp_path, monkeypatch):
    """Without a PID namespace (a TA's regrade on a host that refuses them), student code can
    read every process's command line: those of `grade()`'s children name no submission,
    results file or pytest argument (they come from a root-only file)."""
    import subprocess

    from autograder import grading
    started = []

    class Recording(subprocess.Popen):
        def __init__(self, cmd, *args, **kwargs):
            started.append(list(cmd))
            super().__init__(cmd, *args, **kwargs)

    monkeypatch.setattr(grading.subprocess, "Popen", Recording)
    doc = grading.grade(CORRECT, tmp_path / "r.json", config=harness.COURSE_CFG, sandbox_user=harness.TEST_USER,
                        extra_pytest_args=["-k", "test_add"])
    assert harness.validate(doc)["score"] == 2  # the arguments did arrive: only test_add and test_add_many ran
    (cmd,) = started
    assert cmd[1:4] == ["-m", "autograder", "grade"] and cmd[4] == "--args-file", cmd
    assert not any(str(CORRECT) in arg or "r.json" in arg or "test_add" in arg for arg in cmd), cmd


def zip_names(path: Path) -> list[str]:
    with zipfile.ZipFile(path) as zf:
        return zf.namelist()


@pytest.fixture(scope="module")
def engine_course_build(tmp_path_factory):
    out = tmp_path_factory.mktemp("dist")
    proc = harness.engine("build", "--config", harness.COURSE_CFG, "--out-dir", out)
    assert proc.returncode == 0, proc.stderr
    return out


def test_build_of_the_engine_course_lists_exactly_what_is_needed(engine_course_build):
    engine = sorted(a for a, _ in build.engine_files())
    grader = zip_names(engine_course_build / "autograder.zip")
    assert sorted(grader) == sorted(engine + [
        "setup.sh", "run_autograder", "dev.py", "pyproject.toml", "autograder.cfg",
        "suite/conftest.py", "suite/public/test_basics.py", "suite/hidden/test_more.py",
        "reference/calc/__init__.py", "reference/calc/vec.py",
        "template/calc/__init__.py", "template/calc/vec.py"])
    kit = zip_names(engine_course_build / "student-kit.zip")
    assert sorted(kit) == sorted(engine + ["autograder.cfg", "calc/__init__.py", "calc/vec.py",
                                           "suite/conftest.py", "suite/public/test_basics.py"])
    assert not any("__pycache__" in n or n.endswith(".pyc") for n in grader + kit)
    with zipfile.ZipFile(engine_course_build / "autograder.zip") as zf:
        for name in ("setup.sh", "run_autograder"):
            assert (zf.getinfo(name).external_attr >> 16) & 0o111, f"{name} is not executable"


def test_build_of_this_course_ships_no_reference_or_hidden_test_to_students(tmp_path):
    course = load_course()
    proc = harness.engine("build", "--out-dir", tmp_path, "--allow-fallback-data")
    assert proc.returncode == 0, proc.stderr
    grader, kit = zip_names(tmp_path / "autograder.zip"), zip_names(tmp_path / "student-kit.zip")
    # Gradescope's zip: entry points at the root, engine, the whole suite, reference, template.
    for name in ("setup.sh", "run_autograder", "autograder.cfg", "pyproject.toml", "dev.py",
                 "autograder/plugin/__init__.py", "autograder/sandbox/inside/worker_main.py", "tests/graded/conftest.py"):
        assert name in grader, name
    hidden = [n for n in grader if n.startswith("tests/graded/hidden/test_")]
    assert hidden and any(n.startswith("reference/beras/") for n in grader)
    assert any(n.startswith("student_template/beras/") for n in grader)
    # The kit: handout at the root, engine, public tests and helpers; no reference, no hidden.
    assert not any(n.startswith(("reference/", "tests/graded/hidden/", "student_template/")) for n in kit)
    assert not any(n.startswith("tests/project/") for n in grader + kit)
    for name in ("beras/__init__.py", "autograder/cli.py", "dev.py", "pyproject.toml", "autograder.cfg",
                 "tests/graded/conftest.py"):
        assert name in kit, name
    public = sorted(p.name for p in course.public_suite.glob("test_*.py"))
    assert sorted(Path(n).name for n in kit if n.startswith("tests/graded/public/test_")) == public
    assert build.kit_leaks(course, kit) == []
    assert build.kit_leaks(course, hidden) == hidden  # the leak check itself sees a leak


def test_build_is_deterministic(tmp_path, engine_course_build):
    again = harness.engine("build", "--config", harness.COURSE_CFG, "--out-dir", tmp_path)
    assert again.returncode == 0
    for name in ("autograder.zip", "student-kit.zip"):
        assert (tmp_path / name).read_bytes() == (engine_course_build / name).read_bytes()


def test_build_fails_cleanly_without_a_reference(tmp_path):
    cfg = tmp_path / "autograder.cfg"
    cfg.write_text(harness.COURSE_CFG.read_text().replace("reference = reference", "reference = missing"))
    for folder in ("suite", "template"):
        shutil.copytree(harness.COURSE / folder, tmp_path / folder)
    proc = harness.engine("build", "--config", cfg, "--out-dir", tmp_path / "dist")
    assert proc.returncode == 2 and "missing" in proc.stderr
    assert not (tmp_path / "dist" / "autograder.zip").exists()


def test_check_in_an_unpacked_student_kit(engine_course_build):
    kit = harness.public_tmp()
    try:
        with zipfile.ZipFile(engine_course_build / "student-kit.zip") as zf:
            zf.extractall(kit)
        # The handout as given: every public test fails, with the TODO as feedback.
        proc = subprocess.run([sys.executable, "-m", "autograder", "check"], cwd=kit,
                              capture_output=True, text=True, timeout=300, env=KIT_ENV)
        assert proc.returncode == 1, proc.stdout + proc.stderr
        assert "TODO: add two numbers" in proc.stdout and "public test(s) to fix" in proc.stdout
        # A line per test as it finishes, with a running count, on stderr.
        progress = re.findall(r"^\[ ?(\d+)/(\d+)\] (ok|FAIL) ", proc.stderr, re.M)
        assert progress and [int(done) for done, _, _ in progress] == list(range(1, len(progress) + 1))
        assert {total for _, total, _ in progress} == {str(len(progress))} and "FAIL" in {m for *_, m in progress}
        assert "add agrees with +" not in proc.stdout  # hidden tests are not in the kit
        assert "Traceback" not in proc.stdout.split("Running the public tests", 1)[0]
        # The student finishes the work: all public tests pass.
        shutil.copytree(CORRECT / "calc", kit / "calc", dirs_exist_ok=True)
        proc = subprocess.run([sys.executable, "-m", "autograder", "check"], cwd=kit,
                              capture_output=True, text=True, timeout=300, env=KIT_ENV)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert "score 7 / 7" in proc.stdout and "All public tests pass" in proc.stdout
    finally:
        shutil.rmtree(kit)


# ---------------------------------------------------------------- the kit holds no answer

SOLUTION_RENAMED = '''

def _squash(values):
    """Looks like a helper of the suite."""
    expd = numpy.exp(
        -numpy.abs(values))
    return numpy.where(values >= 0, 1 / (1 + expd),
                       expd / (1 + expd))
'''


def copy_of_this_course(top: Path) -> Path:
    course = load_course()
    for name in ("tests/graded", "reference", "student_template"):
        shutil.copytree(course.root / name, top / name, ignore=shutil.ignore_patterns("__pycache__"))
    for entry in ["autograder.cfg", *course.kit_files]:
        source = entry.partition("=")[0]
        (top / source).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(course.root / source, top / source)
    return top / "autograder.cfg"


def test_kit_leaves_out_hidden_only_helpers_and_the_suite_readme(tmp_path):
    files = [arc for arc, _ in build.kit_zip_files(load_course())]
    # worker_side/timing.py serves only hidden 10.1, data.py only hidden 12.x; the README
    # describes the hidden tests.
    for name in ("tests/graded/worker_side/timing.py", "tests/graded/data.py", "tests/graded/README.md"):
        assert name not in files, name
    # What the public tests reach by import or by name (worker_side("probes")) is there.
    for name in ("tests/graded/worker_side/probes.py", "tests/graded/worker_side/optimizing.py",
                 "tests/graded/feedback.py", "tests/graded/idx.py", "tests/graded/conftest.py"):
        assert name in files, name
    # The model tests train through a tape that replays calls (central differences): it ships,
    # and no kit file walks a tape (the tape's walk is an answer).
    assert "tests/graded/worker_side/replay_tape.py" in files
    course = load_course()
    for arc, path in build.kit_zip_files(course):
        if arc.endswith(".py"):
            assert "def tape_gradient" not in path.read_text(), arc


def test_build_refuses_a_kit_holding_a_reference_solution_renamed_and_reformatted(tmp_path):
    cfg = copy_of_this_course(tmp_path / "course")
    helper = tmp_path / "course" / "tests" / "graded" / "feedback.py"
    helper.write_text(helper.read_text() + SOLUTION_RENAMED)
    proc = harness.engine("build", "--config", cfg, "--out-dir", tmp_path / "dist", "--allow-fallback-data")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "reference solutions" in proc.stderr
    assert "tests/graded/feedback.py" in proc.stderr and "_squash()" in proc.stderr
    assert "beras/activations.py" in proc.stderr  # names the solution it copies
    assert not (tmp_path / "dist" / "student-kit.zip").exists()
    assert not (tmp_path / "dist" / "autograder.zip").exists()
    # Without the planted copy the same course builds.
    helper.write_text(helper.read_text().replace(SOLUTION_RENAMED, ""))
    assert harness.engine("build", "--config", cfg, "--out-dir", tmp_path / "dist",
                          "--allow-fallback-data").returncode == 0


CLOSED_FORM_WRITTEN_UNLIKE_THE_REFERENCE = '''

def _expected_probabilities(z):
    """Looks like a helper of the suite."""
    return numpy.exp(z) / numpy.exp(z).sum(axis=-1, keepdims=True)
'''


def test_build_refuses_a_kit_holding_a_closed_form(tmp_path):
    # The real kit has none: public tests name expected values through the suite's judge.
    assert build.kit_fingerprints(build.kit_zip_files(load_course())) == []
    cfg = copy_of_this_course(tmp_path / "course")
    helper = tmp_path / "course" / "tests" / "graded" / "feedback.py"
    helper.write_text(helper.read_text() + CLOSED_FORM_WRITTEN_UNLIKE_THE_REFERENCE)
    proc = harness.engine("build", "--config", cfg, "--out-dir", tmp_path / "dist", "--allow-fallback-data")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "closed forms of the homework's parts" in proc.stderr
    assert "tests/graded/feedback.py" in proc.stderr and "_expected_probabilities(): exp-normalise (softmax)" in proc.stderr
    assert not (tmp_path / "dist" / "student-kit.zip").exists()
    assert not (tmp_path / "dist" / "autograder.zip").exists()
    # The scan sees a closed form written unlike the reference, in a function or a module's table.
    planted = build.answers.fingerprints([("x.py", "def f(z):\n    import numpy\n"
                                                    "    return 1.0 / (1.0 + numpy.exp(-z))\n")])
    assert [p.formula for p in planted] == ["logistic 1 / (1 + exp(-x)) (sigmoid)"]
    table = build.answers.fingerprints([("t.py", "FORMS = {'mse': lambda p, y: np.mean((p - y) ** 2)}\n")])
    assert [(p.function, p.formula) for p in table] == [("<module>", "mean of squared differences (MSE)")]
    # The handout's TODO text spells formulas out: text is not an oracle.
    assert not build.answers.fingerprints([("t.py", 'def f(x):\n    raise NotImplementedError("TODO: 1 / (1 + exp(-x))")\n')])


# ---------------------------------------------------------------- what the terminal shows


def test_terminal_markdown_keeps_code_verbatim_and_indents_fences():
    from autograder.terminal_md import render

    text = ("**Wrong shape** in `self.forward(*args, **kwargs)`: see *this*, and 2*3*4 stays.\n"
            "````python\ndef f(*args, **kwargs):\n    return ```x```\n````\n"
            "``a ` b`` and [the docs](https://x.test) and \\*literal\\*\n~~~\n**raw**\n~~~")
    assert render(text).splitlines() == [
        "Wrong shape in self.forward(*args, **kwargs): see this, and 2*3*4 stays.",
        "    def f(*args, **kwargs):",
        "        return ```x```",
        "a ` b and the docs (https://x.test) and *literal*",
        "    **raw**"]


def test_progress_says_when_a_test_runs_long():
    import io
    import threading
    import time
    from types import SimpleNamespace

    from autograder.progress import Progress

    stream = io.StringIO()
    progress = Progress(SimpleNamespace(entries={}, items=[]), stream=stream, slow_s=0.05)
    entry = SimpleNamespace(number="3.3", name="Sigmoid **forward**", status="failed", score=0, max_score=2)
    stop = threading.Event()
    watcher = threading.Thread(target=progress._still_running, args=(entry, time.monotonic(), stop))
    watcher.start()
    time.sleep(0.3)
    stop.set()
    watcher.join()
    assert "3.3 Sigmoid forward: still running after" in stream.getvalue()
    progress.done = 1
    progress.line(entry, 54.0)
    assert re.search(r"\[1/1\] FAIL  3\.3 Sigmoid forward +0/2   54\.0 s", stream.getvalue())


# ---------------------------------------------------------------- data: never silently replaced

MNIST_FILES = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]


def test_build_bundles_the_four_mnist_files_into_autograder_zip(tmp_path, full_mnist_dir):
    proc = harness.engine("build", "--out-dir", tmp_path, env={"BERAS_MNIST_DIR": str(full_mnist_dir)})
    assert proc.returncode == 0, proc.stderr
    assert f"data: 4 files from {full_mnist_dir} bundled as data/mnist/" in proc.stderr
    assert "FALLBACK" not in proc.stderr
    with zipfile.ZipFile(tmp_path / "autograder.zip") as zf:
        for stem in MNIST_FILES:
            assert zf.read(f"data/mnist/{stem}.gz") == (full_mnist_dir / f"{stem}.gz").read_bytes()
    assert not any(n.startswith("data/") for n in zip_names(tmp_path / "student-kit.zip"))


def test_build_without_the_training_files_refuses_unless_told(tmp_path, mnist_dir):
    env = {"BERAS_MNIST_DIR": str(mnist_dir)}  # the shared folder: the t10k files only
    proc = harness.engine("build", "--out-dir", tmp_path / "strict", env=env)
    assert proc.returncode == 2
    assert "train-images-idx3-ubyte, train-labels-idx1-ubyte not found" in proc.stderr
    assert "--allow-fallback-data" in proc.stderr
    assert not (tmp_path / "strict" / "autograder.zip").exists()
    told = harness.engine("build", "--out-dir", tmp_path / "told", "--allow-fallback-data", env=env)
    assert told.returncode == 0, told.stderr
    assert "data: FALLBACK" in told.stderr and "missing train-images-idx3-ubyte" in told.stderr
    names = zip_names(tmp_path / "told" / "autograder.zip")
    assert sorted(n for n in names if n.startswith("data/")) == [
        "data/mnist/t10k-images-idx3-ubyte.gz", "data/mnist/t10k-labels-idx1-ubyte.gz"]
    # Nowhere to take data from at all: refused too, naming the variable to set.
    env = {k: v for k, v in os.environ.items() if k != "BERAS_MNIST_DIR"}
    bare = subprocess.run([sys.executable, "-m", "autograder", "build", "--out-dir", str(tmp_path / "bare")],
                          cwd=harness.REPO, env=env, capture_output=True, text=True, timeout=300)
    assert bare.returncode == 2 and "no data folder" in bare.stderr


def test_results_list_tests_in_number_order():
    from autograder.results import TestEntry, assemble

    made = [TestEntry("later", 1, number="9.2"), TestEntry("unnumbered", 0), TestEntry("b", 1, number="1.10"),
            TestEntry("a", 1, number="1.9"), TestEntry("c", 1, number="10.1"), TestEntry("d", 1, number="2.1")]
    doc = assemble(made, output="", execution_time=0)
    assert [t.get("number") for t in doc["tests"]] == ["1.9", "1.10", "2.1", "9.2", "10.1", None]


def test_the_kit_has_a_readme_for_students_and_its_dev_py_offers_only_check(tmp_path):
    proc = harness.engine("build", "--out-dir", tmp_path / "dist", "--allow-fallback-data")
    assert proc.returncode == 0, proc.stderr
    kit = tmp_path / "kit"
    with zipfile.ZipFile(tmp_path / "dist" / "student-kit.zip") as zf:
        zf.extractall(kit)
        assert zf.read("README.md") == (harness.REPO / "docs" / "student-kit.md").read_bytes()
    assert "python3 dev.py check" in (kit / "README.md").read_text()
    shown = subprocess.run([sys.executable, "dev.py", "--help"], cwd=kit, capture_output=True, text=True, timeout=60)
    assert shown.returncode == 0 and "dev.py check" in shown.stdout
    assert "example" not in shown.stdout and "dev.py test" not in shown.stdout
    for command in ("example", "test"):
        refused = subprocess.run([sys.executable, "dev.py", command], cwd=kit, capture_output=True, text=True,
                                 timeout=60)
        assert refused.returncode == 2 and "not part of the student kit" in refused.stderr
    assert not (kit / ".venv").exists()  # refused before building anything


# ---------------------------------------------------------------- dev.py


def load_dev_py():
    import importlib.util

    spec = importlib.util.spec_from_file_location("project_dev_py", harness.REPO / "dev.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.needs_root
def test_dev_py_as_root_refuses_a_venv_below_a_closed_folder_and_never_opens_it(tmp_path):
    closed = tmp_path / "private"
    closed.mkdir(mode=0o700)
    closed.chmod(0o700)
    proc = subprocess.run([sys.executable, str(harness.REPO / "dev.py"), "setup"], capture_output=True, text=True,
                          env={**os.environ, "BERAS_VENV": str(closed / "sub" / "venv")}, timeout=120)
    assert proc.returncode != 0
    assert f"{closed} (mode 700) is closed to other users" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert oct(closed.stat().st_mode & 0o777) == oct(0o700) and list(closed.iterdir()) == []


def test_dev_py_finds_the_interpreter_of_a_windows_venv(monkeypatch):
    dev = load_dev_py()
    venv = Path("venv")
    assert dev.python_in(venv) == venv / "bin" / "python"
    monkeypatch.setattr(dev.os, "name", "nt")
    assert dev.python_in(venv) == venv / "Scripts" / "python.exe"


def test_dev_py_installs_the_dev_extras_only_for_the_project_commands():
    dev = load_dev_py()
    grading, everything = dev.requirements(extras=False), dev.requirements(extras=True)
    names = {re.split(r"[<>=!~ ;\[]", r, maxsplit=1)[0] for r in grading}
    assert {"numpy", "pytest", "hypothesis", "gradescope-utils"} <= names
    assert not names & {"scikit-learn", "matplotlib", "pyyaml", "jsonschema"}  # the big ones are dev extras
    assert set(grading) < set(everything) and any(r.startswith("scikit-learn") for r in everything)


def test_a_command_that_cannot_load_is_a_grader_error(monkeypatch, capsys):
    # Every command is ours: one whose module does not import is a grader bug (exit 3), shown
    # with its traceback, never "problems found" (1) or "not available".
    from autograder import cli

    monkeypatch.setitem(cli.COMMANDS, "grade", ("autograder.no_such_module", "grade"))
    assert cli.main(["grade", "x"]) == 3
    err = capsys.readouterr().err
    assert "Traceback" in err and "No module named 'autograder.no_such_module'" in err
