"""The handout generator, and the generated handout itself.

The handout is untrusted-shaped code (students start from it), so it is only ever imported in
subprocesses; the probes below print JSON that this process checks.
"""
import ast
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from autograder import template
from autograder.commands import template as template_command

# What the homework asks students to write (see ../shared/beras-api.md): each needs a marker.
STUDENT_PARTS = {
    "beras.core:Tensor.__new__",
    "beras.core:Weighted.trainable_variables",
    "beras.core:Weighted.non_trainable_variables",
    "beras.core:Weighted.trainable",
    "beras.core:Weighted.trainable.setter",
    "beras.layers:Dense.forward",
    "beras.layers:Dense.get_input_gradients",
    "beras.layers:Dense.get_weight_gradients",
    "beras.layers:Dense._initialize_weight",
    "beras.activations:LeakyReLU.forward",
    "beras.activations:LeakyReLU.get_input_gradients",
    "beras.activations:Sigmoid.forward",
    "beras.activations:Sigmoid.get_input_gradients",
    "beras.activations:Softmax.forward",
    "beras.activations:Softmax.get_input_gradients",
    "beras.losses:MeanSquaredError.forward",
    "beras.losses:MeanSquaredError.get_input_gradients",
    "beras.losses:CategoricalCrossEntropy.forward",
    "beras.losses:CategoricalCrossEntropy.get_input_gradients",
    "beras.metrics:CategoricalAccuracy.forward",
    "beras.onehot:OneHotEncoder.fit",
    "beras.onehot:OneHotEncoder.forward",
    "beras.onehot:OneHotEncoder.inverse",
    "beras.optimizers:BasicOptimizer.apply_gradients",
    "beras.optimizers:RMSProp.apply_gradients",
    "beras.optimizers:Adam.apply_gradients",
    "beras.gradient_tape:GradientTape.gradient",
    "beras.model:Model.weights",
    "beras.model:Model.fit",
    "beras.model:Model.evaluate",
    "beras.model:SequentialModel.forward",
    "beras.model:SequentialModel.batch_step",
    "preprocess:load_and_preprocess_data",
    "assignment:get_model",
    "assignment:get_optimizer",
    "assignment:get_loss_fn",
    "assignment:get_acc_fn",
    "committee:width_normalize",
    "committee:Committee.forward",
}


def run_probe(directory: Path, script: str, *args: str) -> dict:
    """Run script in a fresh interpreter with directory first on sys.path; return its JSON output."""
    prelude = f"import sys; sys.path.insert(0, {str(directory)!r})\n"
    result = subprocess.run(
        [sys.executable, "-c", prelude + textwrap.dedent(script), *args],
        cwd=directory, capture_output=True, text=True, timeout=120,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    )
    assert result.returncode == 0, f"probe failed in {directory}:\n{result.stdout}\n{result.stderr}"
    return json.loads(result.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------------------- the generator


def write_tree(root: Path, files: dict) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(textwrap.dedent(text))
    return root


MARKED = '''\
    LIMIT = 3


    def double(x):
        """Twice x."""
        # BEGIN SOLUTION: return 2 * x
        y = x + x
        return y
        # END SOLUTION


    class Box:
        def size(self):
            # BEGIN SOLUTION (replace with: return 0): return the "size", with a \\ backslash
            return LIMIT
            # END SOLUTION
    '''


def test_regions_become_stubs_and_everything_else_is_kept():
    out = template.strip_solutions(textwrap.dedent(MARKED))
    assert out == textwrap.dedent('''\
        LIMIT = 3


        def double(x):
            """Twice x."""
            raise NotImplementedError("TODO: return 2 * x")


        class Box:
            def size(self):
                return 0  # TODO: return the "size", with a \\ backslash
        ''')


def test_stub_message_is_the_todo_even_with_quotes_and_backslashes():
    source = 'def f():\n    # BEGIN SOLUTION: say "hi" \\ bye\n    pass\n    # END SOLUTION\n'
    namespace = {}
    exec(template.strip_solutions(source), namespace)
    with pytest.raises(NotImplementedError) as raised:
        namespace["f"]()
    assert str(raised.value) == 'TODO: say "hi" \\ bye'


@pytest.mark.parametrize("source, complaint", [
    ("# BEGIN SOLUTION: a\n# BEGIN SOLUTION: b\n# END SOLUTION\n", "x.py:2: BEGIN SOLUTION inside"),
    ("pass\n# END SOLUTION\n", "x.py:2: END SOLUTION without"),
    ("# BEGIN SOLUTION: a\npass\n", "x.py:1: BEGIN SOLUTION never closed"),
    ("#BEGIN SOLUTION a\n", "x.py:1: malformed marker"),
    ("# BEGIN SOLUTION:\n# END SOLUTION\n", "x.py:1: malformed marker"),
])
def test_malformed_markers_are_errors_naming_file_and_line(source, complaint):
    with pytest.raises(template.TemplateError, match=complaint):
        template.strip_solutions(source, "x.py")


def test_generate_replaces_stale_handout_and_diff_reports_it(tmp_path):
    src = write_tree(tmp_path / "ref", {
        "pkg/mod.py": MARKED,
        "notes.txt": "kept as is # BEGIN SOLUTION: not a python file\n",
        "pkg/__pycache__/mod.cpython-311.pyc": "cache",
        "predictions.npy": "output",
    })
    dst = write_tree(tmp_path / "handout", {"old.py": "stale\n"})
    assert template.generate(src, dst) == ["notes.txt", "pkg/mod.py"]
    assert sorted(p.relative_to(dst).as_posix() for p in dst.rglob("*") if p.is_file()) == ["notes.txt", "pkg/mod.py"]
    assert (dst / "notes.txt").read_text() == (src / "notes.txt").read_text()
    assert template.diff(src, dst) == []
    assert template_command.main(["--check", "--reference", str(src), "--out", str(dst)]) == 0

    (dst / "pkg/mod.py").write_text("edited\n")
    (dst / "extra.py").write_text("")
    (dst / "notes.txt").unlink()
    assert template.diff(src, dst) == [
        "not generated from the reference: extra.py", "missing: notes.txt", "differs: pkg/mod.py"]
    assert template_command.main(["--check", "--reference", str(src), "--out", str(dst)]) == 1
    assert template_command.main(["--reference", str(src), "--out", str(dst)]) == 0
    assert template.diff(src, dst) == []


def test_generate_refuses_a_handout_inside_the_reference(tmp_path):
    src = write_tree(tmp_path / "ref", {"a.py": "pass\n"})
    with pytest.raises(template.TemplateError, match="must not contain each other"):
        template.generate(src, src / "handout")
    assert not (src / "handout").exists()


def test_bad_markers_leave_the_handout_untouched(tmp_path):
    src = write_tree(tmp_path / "ref", {"a.py": "# BEGIN SOLUTION: never closed\n"})
    dst = write_tree(tmp_path / "handout", {"a.py": "previous\n"})
    assert template_command.main(["--reference", str(src), "--out", str(dst)]) == 1
    assert (dst / "a.py").read_text() == "previous\n"


# ---------------------------------------------------------------------------- the real handout


def test_handout_is_in_sync_with_the_reference(reference_dir, template_dir):
    problems = template.diff(reference_dir, template_dir)
    assert problems == [], (
        "student_template/ is stale; regenerate it with `python -m autograder template`:\n"
        + "\n".join(problems))


def student_parts(reference_dir: Path) -> list:
    """Every solution region of the reference, as the function that holds it and how to call it."""
    parts = []
    for path in sorted(reference_dir.rglob("*.py")):
        text = path.read_text()
        regions = template.find_regions(text, str(path))
        if not regions:
            continue
        module = ".".join(path.relative_to(reference_dir).with_suffix("").parts)
        holders = []  # (first line, last line, qualname, kind, required args)

        def visit(node, prefix):
            for child in ast.iter_child_nodes(node):
                if isinstance(child, ast.ClassDef):
                    visit(child, prefix + [child.name])
                elif isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    decorators = [ast.unparse(d) for d in child.decorator_list]
                    kind, name = "function" if not prefix else "method", child.name
                    if "property" in decorators:
                        kind = "getter"
                    elif any(d.endswith(".setter") for d in decorators):
                        kind, name = "setter", child.name + ".setter"
                    elif "staticmethod" in decorators:
                        kind = "static"
                    args = child.args.posonlyargs + child.args.args
                    required = len(args) - len(child.args.defaults) - (kind in ("method", "getter", "setter"))
                    if child.name == "__new__":
                        kind = "constructor"
                    holders.append((child.lineno, child.end_lineno, ".".join(prefix + [name]), kind, required))
        visit(ast.parse(text), [])
        for region in regions:
            holder = [h for h in holders if h[0] < region.begin <= h[1]]  # a trailing comment is outside end_lineno
            assert holder, f"{path}:{region.begin}: a solution region outside any function"
            first, last, qualname, kind, required = max(holder, key=lambda h: h[0])
            parts.append({"module": module, "qualname": qualname, "kind": kind,
                          "required": required, "todo": region.todo})
    return parts


def test_every_student_part_of_the_homework_is_marked(reference_dir):
    marked = {f"{p['module']}:{p['qualname']}" for p in student_parts(reference_dir)}
    assert marked == STUDENT_PARTS, (
        f"unmarked: {sorted(STUDENT_PARTS - marked)}; marked but not a student part: {sorted(marked - STUDENT_PARTS)}")


CALL_EVERY_PART = '''
import importlib, inspect, json, sys
parts = json.loads(sys.argv[1])

def instance(cls):
    """An object of cls without running its constructor (abstract members filled in)."""
    abstract = getattr(cls, "__abstractmethods__", ())
    if abstract:
        fillers = {name: property(lambda self: []) if isinstance(inspect.getattr_static(cls, name), property)
                   else (lambda self, *a, **k: None) for name in abstract}
        cls = type("Concrete" + cls.__name__, (cls,), fillers)
    return object.__new__(cls)

outcomes = []
for part in parts:
    module = importlib.import_module(part["module"])
    names = part["qualname"].replace(".setter", "").split(".")
    holder = module
    for name in names[:-1]:
        holder = getattr(holder, name)
    args = [None] * part["required"]
    try:
        if part["kind"] in ("function", "static"):
            getattr(holder, names[-1])(*args)
        elif part["kind"] == "constructor":
            holder(*args)
        elif part["kind"] == "getter":
            getattr(instance(holder), names[-1])
        elif part["kind"] == "setter":
            setattr(instance(holder), names[-1], True)
        else:
            getattr(instance(holder), names[-1])(*args)
        outcomes.append("returned normally")
    except NotImplementedError as error:
        outcomes.append("NotImplementedError: " + str(error))
    except BaseException as error:
        outcomes.append(type(error).__name__ + ": " + str(error))
print(json.dumps(outcomes))
'''


def test_every_student_part_of_the_handout_raises_not_implemented(reference_dir, template_dir, mnist_dir):
    parts = student_parts(reference_dir)
    outcomes = run_probe(template_dir, CALL_EVERY_PART, json.dumps(parts))
    wrong = [f"{p['module']}:{p['qualname']}: {outcome}" for p, outcome in zip(parts, outcomes)
             if outcome != f"NotImplementedError: TODO: {p['todo']}"]
    assert not wrong, "student parts that do not raise their TODO:\n" + "\n".join(wrong)


def test_handout_imports_cleanly(template_dir):
    modules = ["beras", "beras.core", "beras.layers", "beras.activations", "beras.losses", "beras.metrics",
               "beras.onehot", "beras.optimizers", "beras.gradient_tape", "beras.model",
               "preprocess", "assignment", "committee"]
    files = run_probe(template_dir, f'''
        import importlib, json
        print(json.dumps([importlib.import_module(m).__file__ for m in {modules!r}]))
    ''')
    assert all(Path(f).resolve().is_relative_to(template_dir) for f in files), files


# Exercises the given framework only (no student part), so it must pass on the handout too.
GIVEN_FRAMEWORK = '''
import json
import numpy as np
import beras
from beras.core import Callable, Diffable, Tensor, Variable
from beras.activations import Activation, ReLU
from beras.layers import Dense
from beras.losses import CategoricalCrossEntropy
from beras.model import SequentialModel, print_stats, update_metric_dict
from beras.gradient_tape import GradientTape
import committee, preprocess

checks = {}
v = Variable(np.zeros((2, 3)))
v.assign(np.arange(6.0).reshape(2, 3))
checks["variable"] = type(v) is Variable and v.trainable is True and v[1, 2] == 5.0

Dense._initialize_weight = staticmethod(lambda init, m, r: (np.full((m, r), 0.5), np.zeros((1, r))))
dense = Dense(3, 4)
checks["dense constructor"] = (type(dense.w) is Variable and dense.w.shape == (3, 4)
                               and dense.b.shape == (1, 4) and dense.weights == [dense.w, dense.b])

class Probe(Diffable):
    """A layer whose gradients are whatever the check sets."""
    def __init__(self, weight):
        self.weight, self.input_grads, self.weight_grads = weight, [], []
    @property
    def weights(self):
        return [self.weight]
    def forward(self, x, scale=2.0):
        return x * scale
    def get_input_gradients(self):
        return self.input_grads
    def get_weight_gradients(self):
        return self.weight_grads

rng = np.random.default_rng(0)
x = rng.normal(size=(4, 3))
probe = Probe(Variable(np.zeros((3, 2))))
out = probe(x)
checks["call records inputs"] = (probe.argnames == ["x", "scale"] and probe.inputs[0] is x
                                 and probe.inputs[1] == 2.0 and set(probe.input_dict) == {"x", "scale"})
checks["call returns the Tensor output"] = type(out) is Tensor and probe.outputs == [out] and np.allclose(out, 2 * x)

J = rng.normal(size=(4, 2))
shared, per_sample = rng.normal(size=(3, 2)), rng.normal(size=(4, 3, 2))
probe.input_grads = [shared]
checks["compose input, shared"] = np.allclose(probe.compose_input_gradients([J])[0],
                                              [shared @ J[b] for b in range(4)], rtol=1e-12, atol=0)
probe.input_grads = [per_sample]
checks["compose input, per sample"] = np.allclose(probe.compose_input_gradients([J])[0],
                                                  [per_sample[b] @ J[b] for b in range(4)], rtol=1e-12, atol=0)
checks["compose None"] = (probe.compose_input_gradients(None) is probe.input_grads
                          and probe.compose_input_gradients([None]) is probe.input_grads)
for name, g in {"per sample": per_sample, "per sample column": per_sample[:, :, :1], "shared": shared}.items():
    probe.weight_grads = [g]
    expected = sum((g[b] if g.ndim == 3 else g) * J[b] for b in range(4))
    got = probe.compose_weight_gradients([J])[0]
    checks["compose weight, " + name] = got.shape == (3, 2) and np.allclose(got, expected, rtol=1e-12, atol=0)
bias = Probe(Variable(np.zeros((1, 2))))
bias(x)
for name, g in {"(1, r)": np.ones((1, 2)), "(r,)": np.ones(2)}.items():
    bias.weight_grads = [g]
    got = bias.compose_weight_gradients([J])[0]
    checks["compose bias " + name] = got.shape == (1, 2) and np.allclose(got, J.sum(0))

with GradientTape() as tape:
    checks["tape active"] = Diffable.gradient_tape is tape
    recorded = probe(x)
    try:
        with GradientTape():
            pass
        checks["nested tape refused"] = False
    except RuntimeError as error:
        checks["nested tape refused"] = str(error) == "Cannot nest gradient tape scopes."
checks["tape records the producer"] = tape.previous_layers[id(recorded)] is probe and tape.previous_layers[0] is None
checks["tape closed"] = Diffable.gradient_tape is None
probe(x)
checks["no recording without a tape"] = len(tape.previous_layers) == 2  # the output, and key 0 read above

class Pair(Callable):
    def forward(self, a):
        return [a, a]
checks["callable wraps in Tensor"] = type(Pair()(1.0)) is Tensor
checks["relu given"] = ReLU().alpha == 0 and ReLU().weights == [] and ReLU().get_weight_gradients() == []
checks["loss given"] = CategoricalCrossEntropy().weights == []

model = SequentialModel([dense, ReLU()])
model.compile("opt", "loss", "acc")
checks["model given"] = (model.layers[0] is dense and model.optimizer == "opt"
                         and model.compiled_loss == "loss" and model.compiled_acc == "acc")
history = {}
update_metric_dict(history, {"loss": [1.0, 3.0]})
update_metric_dict(history, {"loss": 4.0})
print_stats({"loss": [1.0]}, epoch=0, avg=True)
checks["metric dict"] = history == {"loss": [2.0, 4.0]}
checks["committee given"] = committee.Committee([1, 2]).members == [1, 2]

data = preprocess.load_mnist_arrays()
checks["mnist given"] = data.train_images.shape[1:] == (28, 28) and "MNIST" in data.source
print(json.dumps({name: bool(ok) for name, ok in checks.items()}))
'''


@pytest.mark.parametrize("which", ["template", "reference"])
def test_given_framework_works(which, template_dir, reference_dir, mnist_dir):
    checks = run_probe(template_dir if which == "template" else reference_dir, GIVEN_FRAMEWORK)
    failed = [name for name, ok in checks.items() if not ok]
    assert not failed, f"given framework checks failed in {which}: {failed}"
