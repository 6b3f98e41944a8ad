"""Every point is earned against an oracle the student cannot touch (issue 19).

Each case grades a copy of the reference changed in one way, through the real engine, and
checks which tests earn points: an attack that only makes the student agree with the student
earns nothing, and honest work under the handout's given code keeps its points.
"""
import hashlib
import json
import os
import re
from pathlib import Path
from unittest import mock

import numpy as np
import pytest

from suite_support import GRADED_SUITE, by_number, edited_copy, graded

# The handout's given Diffable.__call__ (every term seen: Fall 2024, Spring 2025; the API
# page, last section): inputs are bound through forward.__code__.co_varnames, so a forward
# declared `forward(self, *inputs)` binds only its first argument.
HANDOUT_CALL = '''    def __call__(self, *args, **kwargs):
        self.argnames = self.forward.__code__.co_varnames[1:]
        named_args = {self.argnames[i]: args[i] for i in range(len(args))}
        self.input_dict = {**named_args, **kwargs}
        self.inputs = [self.input_dict[arg] for arg in self.argnames if arg in self.input_dict.keys()]
        self.outputs = self.forward(*args, **kwargs)
        list_outs = isinstance(self.outputs, (list, tuple))
        if not list_outs:
            self.outputs = [self.outputs]
        self.outputs = [_as_tensor(out) for out in self.outputs]
        if Diffable.gradient_tape is not None:
            for out in self.outputs:
                Diffable.gradient_tape.previous_layers[id(out)] = self
        return self.outputs if list_outs else self.outputs[0]

    @abstractmethod
    def get_input_gradients(self) -> list:'''


def handout_call_edit(reference_dir):
    """The edit that swaps the reference's signature-based __call__ for the handout's."""
    source = (reference_dir / "beras" / "core.py").read_text()
    start = source.index("    def __call__(self, *args, **kwargs):\n        signature")
    end = source.index("    @abstractmethod\n    def get_input_gradients(self) -> list:")
    end += len("    @abstractmethod\n    def get_input_gradients(self) -> list:")
    return ("beras/core.py", source[start:end], HANDOUT_CALL, 1)


ZERO_TAPE = ("beras/gradient_tape.py", "        readers = defaultdict(int)\n",
             "        return [np.zeros(np.shape(s)) for s in sources]\n        readers = defaultdict(int)\n", 1)
SOURCES_TAPE = ("beras/gradient_tape.py", "        readers = defaultdict(int)\n",
                "        return [np.array(s, dtype=float) for s in sources]\n        readers = defaultdict(int)\n", 1)
SGD = ["-k", "sgd"]


def scores(doc, numbers):
    tests = by_number(doc)
    return {n: (tests[n]["score"], tests[n]["max_score"], tests[n]["output"][:600]) for n in numbers}


def test_sgd_and_model_tests_run_under_the_handouts_given_call(reference_dir, mnist_dir, tmp_path):
    """9.1 and 9.2 hand the given __call__ a loss of two inputs: it must declare them by name.
    The model tests' replay tape records what that __call__ announces."""
    folder = edited_copy(reference_dir, tmp_path / "sub", [handout_call_edit(reference_dir)])
    doc, _ = graded(folder, extra_pytest_args=["-k", "sgd or model or end_to_end"])
    numbers = ["9.1", "9.2", "8.1", "8.2", "8.3", "8.4", "8.5", "8.6", "12.1"]
    for number, (score, most, output) in scores(doc, numbers).items():
        assert score == most, f"{number}: {score}/{most}: {output}"


@pytest.mark.parametrize("name, edit", [("zeros of the right shapes", ZERO_TAPE),
                                        ("its sources", SOURCES_TAPE)])
def test_a_degenerate_tape_earns_nothing_on_the_sgd_tests(reference_dir, mnist_dir, tmp_path, name, edit):
    """A tape that returns {name} makes the mean of the single-example gradients equal the
    full-batch one (zeros), or no value the grader computed: 9.1 and 9.2 check both against
    the grader's own dL/dW."""
    folder = edited_copy(reference_dir, tmp_path / "sub", [edit])
    doc, _ = graded(folder, extra_pytest_args=SGD)
    for number, (score, _, output) in scores(doc, ["9.1", "9.2"]).items():
        assert score == 0, f"a tape returning {name} earned {score} on {number}"
        assert "dL/dW" in output, output


def test_a_crash_in_a_test_provided_layer_does_not_blame_the_students_core(reference_dir, mnist_dir, tmp_path):
    """A test-provided loss whose forward takes `*inputs` (as 9.1's did) crashes in the given
    __call__ in the student's core.py: the feedback says it is the test's, not their file's."""
    from test_kit_oracle import course_copy

    cfg = course_copy(tmp_path / "course")
    probes = tmp_path / "course" / "tests" / "graded" / "worker_side" / "probes.py"
    source = probes.read_text()
    assert source.count("    def forward(self, y_pred, y_true):\n        return self.output\n") == 1
    probes.write_text(source.replace("    def forward(self, y_pred, y_true):\n        return self.output\n",
                                     "    def forward(self, *inputs):\n        return self.output\n"))
    folder = edited_copy(reference_dir, tmp_path / "sub", [handout_call_edit(reference_dir)])
    doc, _ = graded(folder, extra_pytest_args=["-k", "mean_of_single"], config=cfg)
    score, _, output = scores(doc, ["9.1"])["9.1"]
    assert score == 0
    assert "given `Diffable.__call__`" in output and "not a mistake in your files" in output, output
    assert "core.py" not in output and "Your code raised" not in output, output
    assert "STAFF" not in output, output  # the details are for the staff's log only


# ---------------------------------------------------------------- nothing hidden runs in a worker

HIDDEN = GRADED_SUITE / "hidden"
RECORDER = Path(__file__).resolve().parent / "engine_cases" / "recording"


def distinctive_lines(source: str) -> set[str]:
    """The lines of a file that no other code would hold by chance: code, not comments,
    docstrings or short lines."""
    lines = set()
    for line in source.splitlines():
        text = line.strip()
        if len(text) >= 24 and not text.startswith(("#", '"', "'")):
            lines.add(text)
    return lines


@pytest.fixture(scope="module")
def sent_to_workers(reference_dir, mnist_dir, tmp_path_factory):
    """Every string sent to a worker during a full grade of the reference."""
    record = tmp_path_factory.mktemp("sent") / "sent.json"
    env = {"SENT_TO_WORKERS_FILE": str(record),
           "PYTHONPATH": os.pathsep.join(filter(None, [str(RECORDER), os.environ.get("PYTHONPATH")]))}
    with mock.patch.dict(os.environ, env):
        doc, _ = graded(reference_dir, extra_pytest_args=["-p", "sent_to_workers"])
    assert sum(t["score"] for t in doc["tests"]) == pytest.approx(100.0), doc["output"][:2000]
    return json.loads(record.read_text())


def hidden_files():
    return [p.name for p in sorted(HIDDEN.glob("*.py"))]


def test_the_recording_sees_the_code_sent_to_workers(sent_to_workers):
    """The recording is real: the public worker-side helpers' sources are among what it saw."""
    for name in ("probes.py", "replay_tape.py", "timing.py"):
        lines = distinctive_lines((GRADED_SUITE / "worker_side" / name).read_text())
        assert any(line in sent for sent in sent_to_workers for line in lines), name


@pytest.mark.parametrize("name", hidden_files())
def test_no_hidden_file_is_sent_to_a_worker(sent_to_workers, name):
    """Anything a worker runs, student code may print: no source of tests/graded/hidden/ (the
    closed forms, hidden tests, answers) is ever sent to one, in part or whole."""
    lines = distinctive_lines((HIDDEN / name).read_text())
    leaked = sorted({line for sent in sent_to_workers for line in lines if line in sent})
    assert not leaked, f"hidden/{name} reached a worker: {leaked[:5]}"


def test_a_tape_bug_costs_only_the_tapes_tests(reference_dir, mnist_dir, tmp_path):
    """The model tests train through the test's replay tape, not the student's: a tape that
    returns zeros loses the tape's tests and keeps every model test."""
    folder = edited_copy(reference_dir, tmp_path / "sub", [ZERO_TAPE])
    doc, _ = graded(folder, extra_pytest_args=["-k", "model or tape"])
    tests = by_number(doc)
    model = {n: t for n, t in tests.items() if n and n.startswith("8.")}
    tape = {n: t for n, t in tests.items() if n and n.startswith("7.")}
    assert len(model) == 6 and tape
    assert all(t["score"] == t["max_score"] for t in model.values()), {n: t["output"][:300] for n, t in model.items()}
    assert all(t["score"] < t["max_score"] for t in tape.values()), {n: t["score"] for n, t in tape.items()}


# ---------------------------------------------------------------- 12.1: the trusted side's accuracy

END_TO_END = ["-k", "end_to_end"]

LOOKUP_MODEL = '''

import hashlib as _hashlib
import json as _json
from pathlib import Path as _Path

_TABLE = _json.loads((_Path(__file__).parent / "labels.json").read_text())


class LookupModel(SequentialModel):
    """Looks each image up in a table of the public MNIST test labels; its layers never train."""

    def forward(self, inputs):
        rows = np.asarray(inputs, dtype=np.float32)
        return np.eye(10)[[_TABLE.get(_hashlib.sha1(row.tobytes()).hexdigest(), 0) for row in rows]]


def get_model(two_layer=False):
    return LookupModel([Dense(784, 10, initializer="xavier"), Softmax()])
'''

SHIPPED_WEIGHTS = '''

def get_model(two_layer=False):
    """A model whose weights were fitted before grading and shipped with the submission."""
    model = SequentialModel([Dense(784, 10, initializer="xavier"), Softmax()])
    shipped = np.load(__import__("pathlib").Path(__file__).parent / "weights.npz")
    model.layers[0].w[...] = shipped["w"]
    model.layers[0].b[...] = shipped["b"]
    return model
'''

LOADED_IN_FIT = '''

class LoadingModel(SequentialModel):
    """Starts from fresh weights, and `fit` loads weights fitted before grading instead of training."""

    def fit(self, x, y, epochs, batch_size):
        shipped = np.load(__import__("pathlib").Path(__file__).parent / "weights.npz")
        self.layers[0].w[...] = shipped["w"]
        self.layers[0].b[...] = shipped["b"]
        return {"loss": [0.0] * epochs, "acc": [1.0] * epochs}


def get_model(two_layer=False):
    return LoadingModel([Dense(784, 10, initializer="xavier"), Softmax()])
'''

UNKNOWN_LAYER = '''

from beras.core import Diffable as _Diffable


class Doubler(_Diffable):
    """A layer of the student's own, outside the homework's types."""

    @property
    def weights(self):
        return []

    def forward(self, x):
        return 2 * np.asarray(x)

    def get_input_gradients(self):
        return [2 * np.eye(np.shape(self.inputs[0])[1])]

    def get_weight_gradients(self):
        return []


def get_model(two_layer=False):
    return SequentialModel([Dense(784, 10, initializer="xavier"), Doubler(), Softmax()])
'''


def mnist_arrays(reference_dir, mnist_dir):
    from conftest import load_module_from

    return load_module_from(reference_dir / "preprocess.py", "oracle_preprocess").load_mnist_arrays(mnist_dir)


def with_assignment_tail(reference_dir, folder, tail):
    copy = edited_copy(reference_dir, folder, [])
    assignment = copy / "assignment.py"
    assignment.write_text(assignment.read_text() + tail)  # redefines get_model
    return copy


def training_test(doc):
    return by_number(doc)["12.1"]


def lookup_table_submission(reference_dir, mnist_dir, folder):
    """The reference, with a get_model() that looks each image up in a table of the public
    MNIST test labels (by the bytes the grader used to send)."""
    data = mnist_arrays(reference_dir, mnist_dir)
    images = data.test_images.reshape(len(data.test_images), -1).astype(np.float32) / np.float32(255)
    table = {hashlib.sha1(row.tobytes()).hexdigest(): int(label) for row, label in zip(images, data.test_labels)}
    folder = with_assignment_tail(reference_dir, folder, LOOKUP_MODEL)
    (folder / "labels.json").write_text(json.dumps(table))
    return folder


def shipped_weights_submission(reference_dir, mnist_dir, folder, tail=SHIPPED_WEIGHTS):
    """The reference, with a get_model() that loads weights fitted before grading (or, with
    LOADED_IN_FIT, a model whose fit() loads them)."""
    data = mnist_arrays(reference_dir, mnist_dir)
    x = np.hstack([data.train_images.reshape(len(data.train_images), -1) / 255.0, np.ones((len(data.train_images), 1))])
    # Ridge regression onto the one-hot labels: a linear classifier of about 85%, fitted in advance.
    solution = np.linalg.solve(x.T @ x + 10.0 * np.eye(x.shape[1]), x.T @ np.eye(10)[data.train_labels])
    folder = with_assignment_tail(reference_dir, folder, tail)
    np.savez(folder / "weights.npz", w=solution[:-1], b=solution[-1:])
    return folder


def test_a_lookup_table_of_the_public_test_labels_earns_nothing(reference_dir, mnist_dir, tmp_path):
    folder = lookup_table_submission(reference_dir, mnist_dir, tmp_path / "sub")
    doc, _ = graded(folder, extra_pytest_args=END_TO_END)
    test = training_test(doc)
    assert test["score"] == 0, test["output"][:1500]
    assert all(entry["value"] < 75 for entry in doc.get("leaderboard", [])), doc.get("leaderboard")


def test_shipped_weights_earn_nothing(reference_dir, mnist_dir, tmp_path):
    folder = shipped_weights_submission(reference_dir, mnist_dir, tmp_path / "sub")
    doc, _ = graded(folder, extra_pytest_args=END_TO_END)
    test = training_test(doc)
    assert test["score"] == 0, test["output"][:1500]
    assert "Before any training" in test["output"] and "fresh" in test["output"], test["output"][:1500]


def test_weights_loaded_by_fit_earn_nothing(reference_dir, mnist_dir, tmp_path):
    """The model starts near chance, then `fit` loads weights prepared in advance: they answer
    in the public numbering of the classes, which 12.1 trains and tests under a private one."""
    folder = shipped_weights_submission(reference_dir, mnist_dir, tmp_path / "sub", LOADED_IN_FIT)
    doc, _ = graded(folder, extra_pytest_args=END_TO_END)
    test = training_test(doc)
    assert test["score"] == 0, test["output"][:1500]
    assert doc["leaderboard"][0]["value"] < 20, doc["leaderboard"]


def test_a_layer_outside_the_homeworks_types_earns_nothing_and_says_why(reference_dir, mnist_dir, tmp_path):
    folder = with_assignment_tail(reference_dir, tmp_path / "sub", UNKNOWN_LAYER)
    doc, _ = graded(folder, extra_pytest_args=END_TO_END)
    test = training_test(doc)
    assert test["score"] == 0
    assert "`Doubler`" in test["output"] and "Dense, LeakyReLU, ReLU, Sigmoid and Softmax" in test["output"], \
        test["output"][:1500]


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
def test_the_reference_keeps_full_credit_under_any_private_perturbation(reference_dir, mnist_dir, tmp_path, seed):
    """The perturbation's seed is the course's secret: whatever it is, a correct model keeps its tier."""
    from test_kit_oracle import course_copy

    cfg = course_copy(tmp_path / "course")
    private = tmp_path / "course" / "tests" / "graded" / "hidden" / "private.cfg"
    text = private.read_text()
    assert text.count("\nseed = ") == 1
    private.write_text(re.sub(r"\nseed = \d+", f"\nseed = {seed}", text))
    doc, _ = graded(reference_dir, extra_pytest_args=END_TO_END, config=cfg)
    test = training_test(doc)
    print(f"\nprivate seed {seed}: the reference's accuracy {doc['leaderboard'][0]['value']}%")
    assert test["score"] == test["max_score"], test["output"][:1500]


def test_the_private_seed_ships_to_gradescope_and_never_in_the_kit():
    from autograder import build
    from autograder.grading import load_course

    course = load_course()
    private = "tests/graded/hidden/private.cfg"
    assert private in [arc for arc, _ in build.autograder_zip_files(course)]
    assert not [arc for arc, _ in build.kit_zip_files(course) if "private" in arc or "/hidden/" in arc]


# ---------------------------------------------------------------- 12.1 runs the handout's data path

TENSORFLOW_AT_IMPORT = '''import tensorflow as tf

# As past handouts did: the data is loaded when the module is imported.
(_train_x, _train_y), (_test_x, _test_y) = tf.keras.datasets.mnist.load_data()
'''


def test_a_preprocess_loading_through_tensorflow_at_import_trains(reference_dir, mnist_dir, tmp_path):
    """assignment.py imports preprocess.py, which loads MNIST at import through the handout's
    TensorFlow loader: 12.1 intercepts it as 13.1 does, instead of failing on ForbiddenLibraryError."""
    folder = edited_copy(reference_dir, tmp_path / "sub", [])
    preprocess = folder / "preprocess.py"
    preprocess.write_text(preprocess.read_text().replace("import argparse\n", TENSORFLOW_AT_IMPORT + "import argparse\n", 1))
    doc, _ = graded(folder, extra_pytest_args=["-k", "end_to_end or load_and_preprocess"])
    for number in ("12.1", "13.1"):
        test = by_number(doc)[number]
        assert test["score"] == test["max_score"], (number, test["output"][:1500])


def test_the_training_hint_names_only_failed_parts_on_the_models_training_path(reference_dir, mnist_dir, tmp_path):
    """A cross-entropy gradient without its 1/N breaks training; the Sigmoid the model does not
    use, Adam (the model trains with plain SGD) and the committee are broken too, and their
    tests fail, but the hint for 12.1 names only the loss's tests."""
    folder = edited_copy(reference_dir, tmp_path / "sub", [
        ("beras/losses.py", "return [-y_true / probs / n, -np.log(probs) / n]",
         "return [-y_true / probs, -np.log(probs) / n]", 1),
        ("beras/activations.py", "return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))",
         "return np.where(x >= 0, 1.0 / (1.0 + e), e)", 1),
        ("beras/optimizers.py", "m_hat = self.m[i] / (1 - self.beta_1**self.t)", "m_hat = self.m[i]", 1),
        ("committee.py", "return np.mean(", "return np.sum(", 1),
    ])
    doc, _ = graded(folder)
    tests = by_number(doc)
    lost = {n for n, t in tests.items() if t["score"] < t["max_score"]}
    assert {"3.3", "4.4", "6.3", "12.1"} <= lost and any(n.startswith("11.") for n in lost), sorted(lost)
    hint = tests["12.1"]["output"]
    assert "4.4" in hint, hint[:2000]
    for other in ["3.3", "3.4", "6.3"] + [n for n in lost if n.startswith(("11.", "9."))]:
        assert f"{other} (" not in hint, (other, hint[:2000])


def test_the_attacks_earn_nothing_through_regrade_either(reference_dir, mnist_dir, tmp_path):
    """A TA's regrade of an export grades each submission as Gradescope does: the lookup table,
    the shipped weights and the zero tape earn nothing there either, and the reference keeps
    its points beside them."""
    import ta_support

    export = tmp_path / "export"
    lookup_table_submission(reference_dir, mnist_dir, export / "lookup")
    shipped_weights_submission(reference_dir, mnist_dir, export / "shipped")
    edited_copy(reference_dir, export / "zero_tape", [ZERO_TAPE])
    edited_copy(reference_dir, export / "reference", [])
    out = tmp_path / "out"
    proc = ta_support.cli("regrade", export, "--out", out, "--jobs", 2, "--timeout", 600,
                          "--pytest-arg=-k", "--pytest-arg=end_to_end or sgd")
    results = {name: by_number(json.loads((out / name / "results.json").read_text()))
               for name in ("lookup", "shipped", "zero_tape", "reference")}
    assert results["lookup"]["12.1"]["score"] == 0, proc.stderr[-3000:]
    assert results["shipped"]["12.1"]["score"] == 0
    assert results["zero_tape"]["9.1"]["score"] == results["zero_tape"]["9.2"]["score"] == 0
    assert all(t["score"] == t["max_score"] for n, t in results["reference"].items() if n in ("9.1", "9.2", "12.1"))


def test_a_crash_in_test_code_that_the_students_code_called_stays_theirs(reference_dir, mnist_dir, tmp_path):
    """batch_step hands the test's loss a batch of labels of the wrong shape; the loss (ours)
    raises. The student's code called it with what it passed: the feedback says where their code
    was, and never that their files are not at fault."""
    folder = edited_copy(reference_dir, tmp_path / "sub", [
        ("beras/model.py", "loss = self.compiled_loss(predictions, y)", "loss = self.compiled_loss(predictions, y[:1].T)", 1)])
    doc, _ = graded(folder, extra_pytest_args=["-k", "batch_step_returns"])
    score, _, output = scores(doc, ["8.2"])["8.2"]
    assert score == 0
    assert "not a mistake in your files" not in output and "beras/model.py" in output, output
