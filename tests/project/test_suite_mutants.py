"""Partial credit is local: a reference broken in one part loses points in that part's tests
and nowhere else. End-to-end training (12.1), an integration test by design, may also lose
where the part is used in training.

Each broken copy is the reference with ONE small text replacement, made in a temporary folder.
"""
import concurrent.futures

import numpy as np
import pytest

from conftest import load_module_from
from suite_support import GRADED_SUITE, broken_copy, by_number, copy_of, graded, losing

# name: (file, old text, new text, tests that must lose points, tests that may also lose)
MUTANTS = {
    "dense bias gradient is zero": (
        "beras/layers.py", "return [x[:, :, np.newaxis], np.ones_like(self.b)]",
        "return [x[:, :, np.newaxis], np.zeros_like(self.b)]",
        # 10.1 times only parts whose values are right: a wrong Dense gradient earns no speed
        {"2.2", "2.4"}, {"12.1", "10.1"}),
    "cross-entropy gradient lacks 1/N": (
        "beras/losses.py", "return [-y_true / probs / n, -np.log(probs) / n]",
        "return [-y_true / probs, -np.log(probs) / n]",
        {"4.4", "4.5", "4.6"}, {"12.1"}),
    "Adam without bias correction": (
        "beras/optimizers.py", "m_hat = self.m[i] / (1 - self.beta_1**self.t)", "m_hat = self.m[i]",
        {"6.3"}, set()),
    "softmax without the max shift": (
        "beras/activations.py", "np.exp(x - np.max(x, axis=-1, keepdims=True))", "np.exp(x)",
        {"3.7"}, set()),
    "fit drops the last partial batch": (
        "beras/model.py", "num_batches = -(-len(x) // batch_size)", "num_batches = len(x) // batch_size",
        {"8.3"}, {"12.1"}),
}


@pytest.fixture(scope="module")
def mutant_results(reference_dir, mnist_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("mutants")
    folders = {name: broken_copy(reference_dir, root / f"m{i}", file, old, new)
               for i, (name, (file, old, new, _, _)) in enumerate(MUTANTS.items())}
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:  # CI has 2 cores
        futures = {name: pool.submit(graded, folder) for name, folder in folders.items()}
        return {name: future.result()[0] for name, future in futures.items()}


@pytest.mark.parametrize("name", sorted(MUTANTS))
def test_broken_part_loses_points_only_there(mutant_results, name):
    *_, must, may = MUTANTS[name]
    doc = mutant_results[name]
    lost = losing(doc)
    tests = by_number(doc)
    assert must <= lost, f"{name}: expected to lose points in {sorted(must)}; lost in {sorted(lost)}"
    unexpected = lost - must - may
    assert not unexpected, (f"{name}: also lost points in {sorted(unexpected)}: "
                            + "; ".join(f"{n}: {tests[n]['output'][:300]}" for n in sorted(unexpected)))
    for number in must:  # each failure explains itself
        assert tests[number]["output"].strip(), f"{name}: test {number} failed without feedback"


def test_missing_one_over_n_gets_the_batch_size_hint(mutant_results):
    output = by_number(mutant_results["cross-entropy gradient lacks 1/N"])["4.4"]["output"]
    assert "times too large" in output and "batch size" in output, output


@pytest.mark.parametrize("accurate", [True, False])
def test_submitted_predictions_are_checked(reference_dir, mnist_dir, tmp_path, accurate):
    labels = load_module_from(GRADED_SUITE / "data.py", "graded_data").mnist_test_labels()
    predictions = labels.copy() if accurate else (labels + 1) % 10
    folder = copy_of(reference_dir, tmp_path / "sub")
    np.save(folder / "predictions.npy", np.eye(10)[predictions])
    doc, _ = graded(folder, extra_pytest_args=["-k", "predictions"])
    [test] = [t for t in doc["tests"] if t.get("number") == "12.2"]
    assert test["status"] == ("passed" if accurate else "failed"), test["output"]
    assert test["max_score"] == 0
