"""The degenerate corpus (issue 19): submissions right in shape only earn nothing where the
right answer differs. Here: the submissions are what they claim (run in this process on the
reference, no grading), and validate's check names every point one earns that it must not.
The gradings themselves are validate's (validation/degenerate.yaml)."""
import importlib
import sys
from pathlib import Path

import numpy as np
import pytest

from autograder.validate.corpus import Case, load_corpus, materialise
from autograder.validate.degenerate import targets_of
from autograder.validate.verdicts import check_degenerate
from test_validate_corpus import SUITE, graded

PROJECT = Path(__file__).resolve().parents[2]


def test_every_function_around_a_solution_region_is_a_target(reference_dir):
    targets = targets_of((reference_dir / "beras" / "core.py").read_text())
    assert ("Tensor", "__new__", True) in targets
    assert ("Weighted", "trainable", {"get": True, "set": False}) in targets
    optimizers = targets_of((reference_dir / "beras" / "optimizers.py").read_text())
    assert ("RMSProp", "apply_gradients", False) in optimizers  # in place: a degenerate does nothing
    assert ("Dense", "_initialize_weight", True) in targets_of((reference_dir / "beras" / "layers.py").read_text())


@pytest.fixture
def degenerate(reference_dir, template_dir, tmp_path):
    """(kind) -> the degenerate submission's beras modules, imported in this process."""
    loaded = []

    def load(kind):
        case = Case(kind="degenerate", id=f"d-{kind}", description="d", source="s", returns=kind)
        dest = materialise(case, {"reference": reference_dir, "template": template_dir}, tmp_path / kind)
        for name in [m for m in sys.modules if m == "beras" or m.startswith("beras.")]:
            del sys.modules[name]
        sys.path.insert(0, str(dest))
        loaded.append(dest)
        return importlib.import_module("beras.layers"), importlib.import_module("beras.optimizers")

    yield load
    for dest in loaded:
        sys.path.remove(str(dest))
    for name in [m for m in sys.modules if m == "beras" or m.startswith("beras.")]:
        del sys.modules[name]


@pytest.mark.parametrize("kind, check", [
    ("zeros", lambda out, x: not np.any(out)),
    ("ones", lambda out, x: np.all(out == 1)),
    ("nan", lambda out, x: np.all(np.isnan(out))),
    ("echo", lambda out, x: np.array_equal(out, x)),
    ("random", lambda out, x: np.all((0 <= out) & (out < 1)) and np.unique(out).size == out.size),
])
def test_a_degenerate_submission_returns_what_it_says_in_the_right_shape(degenerate, kind, check):
    layers, optimizers = degenerate(kind)
    dense = layers.Dense(3, 2)
    dense.w, dense.b = np.ones((3, 2)), np.zeros((1, 2))  # an echoing initializer returns its sizes
    x = np.arange(12.0).reshape(4, 3)
    out = np.asarray(dense(x))
    assert np.shape(out) == ((4, 2) if kind != "echo" else (4, 3)) and check(out, x)
    grads = dense.get_weight_gradients()
    assert isinstance(grads, list) and len(grads) == 2
    p = np.ones((2, 2))
    optimizers.RMSProp(0.1).apply_gradients([p], [np.ones((2, 2))])
    assert np.all(p == 1)  # an in-place update does nothing


def test_validate_names_every_point_a_degenerate_earns_that_it_must_not():
    case = Case(kind="degenerate", id="d", description="d", source="s", returns="zeros", may_earn=["number:1.2"])
    ok = check_degenerate(case, graded({"1.1": 0, "2.1": 0, "2.2": 0, "9.1": 0}), SUITE)
    assert ok.ok and ok.extra["earned"] == {"1.2": 2.0}
    bad = check_degenerate(case, graded({"1.1": 0, "2.1": 0, "9.1": 0}), SUITE)
    assert not bad.ok and bad.problems == ["earned points it must not, in 2.2 (+3)"]


def test_the_corpus_has_the_six_degenerate_submissions_of_issue_19():
    corpus = load_corpus(PROJECT / "validation")
    cases = {c.id: c for c in corpus.of_kind("degenerate")}
    assert {c.returns for c in cases.values()} >= {"zeros", "ones", "echo", "random", "nan"}
    assert any(c.returns is None and "return sources" in c.edits[0].new for c in cases.values())
