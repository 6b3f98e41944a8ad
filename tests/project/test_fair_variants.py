"""Correct work written the way real submissions write it keeps its points (issue 17): each
correct variant of validation/variants.yaml below earns every point of the tests it touches.
Only those tests run, so the whole check takes about a minute; `validate` grades each
variant on the whole suite.

- gradients in shapes the given compose code combines like the usual ones (2.2, 3.2, 3.4, 3.8);
- a batch_step that calls the compiled metric's `forward` (8.2, 8.3, 8.5);
- evaluate's returns the API page allows (8.4);
- width_normalize with nearest, linear or area resampling (11.1, 11.2).
"""
import pytest

from autograder.validate.corpus import load_corpus, materialise
from suite_support import graded

VARIANTS = {
    "activation-slopes-from-all-inputs": "test_leaky_relu_gradients or test_sigmoid_gradients or test_sigmoid_is_stable",
    "dense-bias-gradient-of-one": "test_dense_gradient_shapes or test_dense_composed",
    "dense-bias-gradient-per-sample": "test_dense_gradient_shapes or test_dense_composed",
    "dense-input-jacobian-per-sample": "test_dense_gradient_shapes or test_dense_composed",
    "batch-step-calls-metric-forward": "test_batch_step or test_fit or test_evaluate",
    "evaluate-per-batch-metric-lists": "test_evaluate",
    "evaluate-batch-predictions-list": "test_evaluate",
    "width-normalize-nearest": "test_width_normalize",
    "width-normalize-bilinear": "test_width_normalize",
    "width-normalize-area": "test_width_normalize",
}


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_correct_variant_keeps_its_points(variant, project_root, tmp_path):
    case = next(c for c in load_corpus(project_root / "validation").of_kind("variant") if c.id == variant)
    folder = materialise(case, {"reference": project_root / "reference"}, tmp_path / variant)
    doc, _ = graded(folder, extra_pytest_args=["-k", VARIANTS[variant]])
    ran = [t for t in doc["tests"] if t.get("status") != "not run"]
    assert ran, f"{variant}: no test matched {VARIANTS[variant]!r}"
    lost = {t.get("number"): t.get("output", "")[:500] for t in ran if t["score"] < t["max_score"]}
    assert not lost, f"{variant}: " + "; ".join(f"{n}: {out}" for n, out in sorted(lost.items()))
