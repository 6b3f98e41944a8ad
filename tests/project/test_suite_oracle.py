"""Every point is earned against an oracle the student cannot touch (issue 19).

Each case grades a copy of the reference changed in one way, through the real engine, and
checks which tests earn points: an attack that only makes the student agree with the student
earns nothing, and honest work under the handout's given code keeps its points.
"""
import pytest

from suite_support import by_number, edited_copy, graded

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


def test_sgd_tests_run_under_the_handouts_given_call(reference_dir, mnist_dir, tmp_path):
    """9.1 and 9.2 hand the given __call__ a loss of two inputs: it must declare them by name."""
    folder = edited_copy(reference_dir, tmp_path / "sub", [handout_call_edit(reference_dir)])
    doc, _ = graded(folder, extra_pytest_args=SGD)
    for number, (score, most, output) in scores(doc, ["9.1", "9.2"]).items():
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
