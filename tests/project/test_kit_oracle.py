"""The student kit checks answers without holding any (issue 12, "a kit a student can trust").

Public tests name their expected values through tests/graded/judge.py. On the grader it
computes them from hidden/closed_forms.py; in the kit, which has no closed forms, it answers
from the table the build records by grading the reference on the public suite. These tests
build the real kit, unpack it, and run its `check` as a student would.
"""
from __future__ import annotations

import ast
import configparser
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from autograder import answers
from autograder.batch import SlotUsers
from engine_cases import harness

GRADED = Path(__file__).resolve().parents[1] / "graded"
REPO = GRADED.parents[1]

def closed_forms_in(source: str) -> list[str]:
    """The build's fingerprints (textual and structural) found anywhere in a file, strings blanked."""
    return answers.formulas_in(source)


def test_the_patterns_see_the_closed_forms_the_suite_judges_with():
    found = set(closed_forms_in((GRADED / "hidden" / "closed_forms.py").read_text()))
    assert found == {formula for formula, _ in answers.FINGERPRINTS} | set(answers.STRUCTURAL)


# ---------------------------------------------------------------- oracles under other names

# What worker_side/probes.py held until 2026-11 (Dense's forward and weight gradients, and an
# SGD step, behind a conversion helper), renamed: the build must see them as the answers they are.
RENAMED_ORACLES = '''

def as_floats(v):
    return np.array(v, dtype=np.float64)


class Mixer:
    def forward(self, batch):
        return as_floats(batch) @ as_floats(self.kernel) + as_floats(self.offset)

    def get_weight_gradients(self):
        seen = as_floats(self.inputs[0])
        return [seen[:, :, None], np.ones_like(as_floats(self.offset))]


class Stepper:
    def apply_gradients(self, tensors, slopes):
        for tensor, slope in zip(tensors, slopes):
            tensor -= self.rate * as_floats(slope)
'''

# The same closed forms written unlike the reference: only the fingerprints can see them.
REWRITTEN_ORACLES = '''

def _rows(batch, kernel, offset):
    return np.dot(batch, kernel) + offset


def _per_row(layer):
    return np.expand_dims(np.asarray(layer.inputs[0]), -1)


def _walk(tensors, slopes, rate):
    for i in range(len(tensors)):
        tensors[i].assign(tensors[i] - rate * slopes[i])
'''


def test_answers_see_dense_and_sgd_under_other_names():
    regions = answers.solution_regions(REPO / "reference")
    matches = answers.equivalent_functions(regions, [("probes.py", RENAMED_ORACLES)])
    assert sorted((m.function, m.region.file) for m in matches) == [
        ("apply_gradients", "beras/optimizers.py"), ("forward", "beras/layers.py"),
        ("get_weight_gradients", "beras/layers.py")]
    for source in (RENAMED_ORACLES, REWRITTEN_ORACLES):
        assert {(f.function, f.formula) for f in answers.fingerprints([("probes.py", source)])} >= {
            (name, formula) for name, formula in zip(
                ("forward", "get_weight_gradients", "apply_gradients") if source is RENAMED_ORACLES
                else ("_rows", "_per_row", "_walk"), answers.STRUCTURAL)}


@pytest.mark.parametrize("innocent", [
    "def f(x, w, b):\n    return np.abs(x) @ np.abs(w) + np.abs(b)\n",  # a tolerance's magnitude
    "def f(x, w, c):\n    return (x @ w) * c\n",  # the probes' gate
    "def f(y):\n    return [y[:, :, None] * np.eye(y.shape[1])]\n",  # a diagonal Jacobian
    "def f(p, g, v, lr):\n    p -= lr * g / (np.sqrt(v) + 1e-7)\n",  # a rescaled step (its own formula)
    "def f(p, lr, g):\n    p -= lr * np.sign(g)\n",  # sign descent: not SGD
    "def f(x, h):\n    x[0] = x[0] - h\n",  # a finite-difference step
])
def test_the_structural_fingerprints_leave_other_code_alone(innocent):
    assert answers.structural_forms_in(ast.parse(innocent)) == []


def course_copy(top: Path) -> Path:
    """This course's suite, reference, template and kit files in `top`: its autograder.cfg."""
    for name in ("tests/graded", "reference", "student_template"):
        shutil.copytree(REPO / name, top / name, ignore=shutil.ignore_patterns("__pycache__"))
    cfg = REPO / "autograder.cfg"
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(cfg)
    for entry in ["autograder.cfg", *parser["autograder"].get("kit_files", "").split()]:
        source = entry.partition("=")[0]
        (top / source).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / source, top / source)
    return top / "autograder.cfg"


@pytest.mark.parametrize("planted, message, names", [
    (RENAMED_ORACLES, "reference solutions", ["forward()", "get_weight_gradients()", "apply_gradients()"]),
    (REWRITTEN_ORACLES, "closed forms of the homework's parts", [
        "_rows(): " + answers.AFFINE, "_per_row(): " + answers.PER_SAMPLE_INPUT, "_walk(): " + answers.DESCENT_STEP]),
])
def test_build_refuses_a_kit_helper_computing_dense_or_an_sgd_step(tmp_path, planted, message, names):
    cfg = course_copy(tmp_path / "course")
    probes = tmp_path / "course" / "tests" / "graded" / "worker_side" / "probes.py"  # shipped: public tests load it
    probes.write_text(probes.read_text() + planted)
    proc = harness.engine("build", "--config", cfg, "--out-dir", tmp_path / "dist", "--allow-fallback-data")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert message in proc.stderr and "tests/graded/worker_side/probes.py" in proc.stderr, proc.stderr
    for name in names:
        assert name in proc.stderr, (name, proc.stderr)
    assert not (tmp_path / "dist" / "student-kit.zip").exists()
    assert not (tmp_path / "dist" / "autograder.zip").exists()


# ---------------------------------------------------------------- judge, without a sandbox

@pytest.fixture
def judge_module(monkeypatch):
    """A private copy of judge.py (the suite's helpers imported as the suite does)."""
    monkeypatch.syspath_prepend(str(GRADED))
    spec = importlib.util.spec_from_file_location("judge_under_test", GRADED / "judge.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_on_the_grader_the_judge_computes_the_closed_forms(judge_module, monkeypatch):
    monkeypatch.delenv(judge_module.RECORD_ENV, raising=False)
    x = np.array([[1.0, 2.0, 3.0], [0.0, -1.0, 1000.0]])
    p = judge_module.value("softmax", x)
    assert np.allclose(p.sum(axis=1), 1) and np.isclose(p[0, 2], np.exp(3) / np.exp([1, 2, 3]).sum())
    yp, yt = np.array([[1.0, 2.0]]), np.array([[0.0, 0.0]])
    assert judge_module.value("mse", yp, yt) == pytest.approx(2.5)
    assert np.allclose(judge_module.fd_gradient("mse", yp, yt, wrt=0), [[1.0, 2.0]], atol=1e-8)
    assert np.allclose(judge_module.fd_gradient("mse", yp, yt, wrt=1), [[-1.0, -2.0]], atol=1e-8)
    J = np.array([[1.0, 0.0, -1.0]])
    z = np.array([[-0.5, 0.5, 2.0]])
    expected = np.array([[0.5, 0.0, -1.0]])  # d<leaky(z), J>/dz with alpha 0.5: J * slope
    assert np.allclose(judge_module.vjp_fd("leaky_relu", z, upstream=J, alpha=0.5), expected, atol=1e-8)


def test_recorded_answers_come_back_and_unseen_inputs_are_unknown(judge_module, tmp_path, monkeypatch):
    x = np.array([[0.25, -1.5], [3.0, 0.0]])
    nested = [[np.arange(3.0)], [np.ones((2, 2)), 4.5]]
    key_softmax = judge_module.digest("value", "softmax", (x,), {})
    key_nested = judge_module.digest("value", "optimizer_sequence", ("Adam", {"lr": 0.1}, [x]), {"mistake": None})
    table = tmp_path / "recorded.npz"
    judge_module.save_table(table, {key_softmax: np.full((2, 2), 0.5), key_nested: nested})
    again = tmp_path / "again.npz"
    judge_module.save_table(again, {key_nested: nested, key_softmax: np.full((2, 2), 0.5)})
    assert table.read_bytes() == again.read_bytes()  # the kit's bytes do not depend on order or time

    # The kit: no closed forms beside the judge, the table instead.
    monkeypatch.setattr(judge_module, "CLOSED_FORMS", tmp_path / "absent.py")
    monkeypatch.setattr(judge_module, "RECORDED", table)
    assert np.array_equal(judge_module.value("softmax", x), np.full((2, 2), 0.5))
    got = judge_module.value("optimizer_sequence", "Adam", {"lr": 0.1}, [x.copy()], mistake=None)
    assert np.array_equal(got[0][0], np.arange(3.0)) and got[1][1] == 4.5
    got[0][0][:] = 7  # a test that edits what it got cannot change the table
    assert np.array_equal(judge_module.value("optimizer_sequence", "Adam", {"lr": 0.1}, [x], mistake=None)[0][0],
                          np.arange(3.0))

    judge_module.save_table(table, {key_softmax: judge_module.Raised("shapes (2,) and (3,)")})
    monkeypatch.setattr(judge_module, "_table", None)
    with pytest.raises(ValueError, match="shapes"):  # what raised on the grader raises in the kit
        judge_module.value("softmax", x)

    shrunk = np.array([[0.25, -1.5]])
    assert judge_module.value("softmax", shrunk) is judge_module.UNKNOWN
    assert judge_module.value("softmax", x.astype(np.float32) + 1e-3) is judge_module.UNKNOWN
    assert judge_module.unrecorded({"x": shrunk, "alpha": 0.3})
    assert not judge_module.unrecorded({"x": x})


def test_feedback_skips_an_unknown_value_and_adds_no_doubt_to_a_definite_failure(judge_module, monkeypatch, tmp_path):
    monkeypatch.setattr(judge_module, "CLOSED_FORMS", tmp_path / "absent.py")
    monkeypatch.setattr(judge_module, "RECORDED", tmp_path / "absent.npz")
    monkeypatch.setitem(sys.modules, "judge", judge_module)
    spec = importlib.util.spec_from_file_location("feedback_under_test", GRADED / "feedback.py")
    feedback = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(feedback)
    x = np.array([[1.0, 2.0]])
    unknown = judge_module.value("softmax", x)
    assert unknown is judge_module.UNKNOWN
    got = feedback.expect_close("p", expected=unknown, returned=[[0.3, 0.7]], inputs={"x": x},
                                mistakes={"a hint": judge_module.value("softmax_over_batch_axis", x)})
    assert np.array_equal(got, [[0.3, 0.7]])
    with pytest.raises(feedback.Failed, match="returned `None`"):  # what needs no answer is still checked
        feedback.expect_close("p", expected=unknown, returned=None, inputs={"x": x})
    # A property that fails on that input fails whatever its expected value: the failure is
    # definite, and no note about a missing recorded value casts doubt on it (issue 20 #8).
    with pytest.raises(feedback.Failed) as failed:
        feedback.expect(False, "Rows sum to 1.", inputs={"x": x})
    assert "Rows sum to 1." in str(failed.value)
    assert "checked on Gradescope" not in str(failed.value) and "no recorded" not in str(failed.value)


# ---------------------------------------------------------------- the real kit, as a student runs it

@pytest.fixture(scope="module")
def sandbox_env():
    with SlotUsers(1) as users:
        env = dict(os.environ)
        if users.names[0]:
            env["AUTOGRADER_SANDBOX_USER"] = users.names[0]
        yield env


@pytest.fixture(scope="module")
def kit(sandbox_env, tmp_path_factory):
    out = tmp_path_factory.mktemp("dist")
    # --allow-fallback-data: what is checked here is the kit, whichever MNIST files this machine has.
    proc = subprocess.run([sys.executable, "-m", "autograder", "build", "--out-dir", str(out),
                           "--allow-fallback-data"], cwd=REPO,
                          env=sandbox_env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    folder = harness.public_tmp()
    with zipfile.ZipFile(out / "student-kit.zip") as zf:
        zf.extractall(folder)
    yield folder
    shutil.rmtree(folder)


def check(kit: Path, work: Path, env: dict, stats: Path) -> tuple[subprocess.CompletedProcess, dict, dict]:
    """`python -m autograder check WORK --out ...` from the kit, with the judge's counts."""
    out = work / "results.json"
    proc = subprocess.run([sys.executable, "-m", "autograder", "check", str(work), "--out", str(out)], cwd=kit,
                          env={**env, "BERAS_JUDGE_STATS": str(stats)}, capture_output=True, text=True,
                          timeout=600)
    doc = json.loads(out.read_text())
    return proc, {t["number"]: t for t in doc["tests"]}, json.loads(stats.read_text()) if stats.exists() else {}


def work_copy(source: Path, edits=()) -> Path:
    folder = harness.public_tmp()
    shutil.copytree(source, folder, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__"))
    for file, old, new in edits:
        path = folder / file
        text = path.read_text()
        assert text.count(old) == 1, (file, old)
        path.write_text(text.replace(old, new))
    return folder


def test_the_kit_holds_recorded_answers_and_no_closed_form(kit):
    assert (kit / "tests/graded/recorded_answers.npz").is_file()
    assert not list(kit.rglob("closed_forms.py")) and not (kit / "tests/graded/hidden").exists()
    found = {}
    for path in sorted(kit.rglob("*.py")):
        if kit / "autograder" in path.parents:  # the engine knows nothing about Beras
            continue
        if kit / "tests" in path.parents:
            found.update({f"{path.relative_to(kit)}: {name}": 1 for name in closed_forms_in(path.read_text())})
    assert list(found) == []


def test_in_the_kit_the_reference_passes_every_public_test_on_recorded_values(kit, sandbox_env, reference_dir):
    work = work_copy(reference_dir)
    try:
        proc, tests, stats = check(kit, work, sandbox_env, work / "stats.json")
    finally:
        shutil.rmtree(work)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert tests and all(t["status"] == "passed" for t in tests.values())
    # Every expected value came from the recording: the kit checked values, it did not skip them.
    assert stats["recorded"] > 500 and stats["unrecorded"] == 0, stats


def test_in_the_kit_the_template_scores_zero(kit, sandbox_env, template_dir):
    work = work_copy(template_dir)
    try:
        proc, tests, _ = check(kit, work, sandbox_env, work / "stats.json")
    finally:
        shutil.rmtree(work)
    assert proc.returncode == 1
    assert tests and sum(t["score"] for t in tests.values()) == 0


def test_in_the_kit_a_wrong_implementation_fails_with_the_usual_feedback(kit, sandbox_env, reference_dir):
    work = work_copy(reference_dir, [
        ("beras/activations.py", "return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))",
         "return np.exp(-x) / (1.0 + np.exp(-x))"),
        ("beras/losses.py", "return np.mean((np.asarray(y_pred) - np.asarray(y_true)) ** 2)",
         "return np.sum((np.asarray(y_pred) - np.asarray(y_true)) ** 2)"),
        # A factor of N = C = 2 on the smallest input: told apart by the second-size check,
        # whose expected values at N + 1 rows the build recorded too.
        ("beras/losses.py", "return [-y_true / probs / n, -np.log(probs) / n]",
         "return [-y_true / probs, -np.log(probs) / n]"),
    ])
    try:
        proc, tests, stats = check(kit, work, sandbox_env, work / "stats.json")
    finally:
        shutil.rmtree(work)
    assert proc.returncode == 1
    failing = {n for n, t in tests.items() if t["status"] != "passed"}
    assert {"3.3", "4.1"} <= failing and not failing & {"3.1", "3.5", "4.3"}, failing
    sigmoid, mse = tests["3.3"]["output"], tests["4.1"]["output"]
    for text in (sigmoid, mse):
        assert "**Input** (the smallest failing case found)" in text and "Expected:" in text and "Returned:" in text
        assert "checked on Gradescope" not in text  # the example shown is one with a recorded answer
    assert "which is 1 - sigmoid(x)" in sigmoid
    assert "you summed the squared errors" in mse
    assert "4.4" in failing and "(checked again on a second input with N = 3)" in tests["4.4"]["output"]
    assert stats["recorded"] > 0


# ---------------------------------------------------------------- the engine's side: generic

def recording_course(tmp_path: Path, reference: str = "reference") -> Path:
    """The engine's test course with a suite that writes $AUTOGRADER_RECORD when it is set."""
    course = tmp_path / "course"
    shutil.copytree(harness.COURSE, course, ignore=shutil.ignore_patterns("__pycache__"))
    conftest = course / "suite" / "conftest.py"
    conftest.write_text(conftest.read_text() + (
        "\nimport os\nif os.environ.get('AUTOGRADER_RECORD'):\n"
        "    open(os.environ['AUTOGRADER_RECORD'], 'w').write('recorded while grading')\n"))
    cfg = course / "autograder.cfg"
    text = cfg.read_text().replace("reference = reference", f"reference = {reference}")
    cfg.write_text(text.replace("kit_files = autograder.cfg", "kit_files = autograder.cfg\nkit_recording = suite/recorded.txt"))
    return cfg


def test_build_ships_what_the_suite_recorded_while_grading_the_reference(tmp_path):
    cfg = recording_course(tmp_path)
    proc = harness.engine("build", "--config", cfg, "--out-dir", tmp_path / "dist")
    assert proc.returncode == 0, proc.stderr
    with zipfile.ZipFile(tmp_path / "dist" / "student-kit.zip") as zf:
        assert zf.read("suite/recorded.txt") == b"recorded while grading"
    with zipfile.ZipFile(tmp_path / "dist" / "autograder.zip") as zf:
        assert "suite/recorded.txt" not in zf.namelist()  # the grader computes; it needs no recording
    assert not (cfg.parent / "suite" / "recorded.txt").exists()  # made by the build, never left in the tree


def test_build_refuses_a_recording_made_on_a_reference_that_fails_public_tests(tmp_path):
    cfg = recording_course(tmp_path, reference="template")
    proc = harness.engine("build", "--config", cfg, "--out-dir", tmp_path / "dist")
    assert proc.returncode == 2 and "public tests failed" in proc.stderr, proc.stderr
    assert not (tmp_path / "dist" / "student-kit.zip").exists()
