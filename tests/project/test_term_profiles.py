"""Under each term's given code (term_profiles.py: Fall 2024, Spring 2025, Fall 2025), the
reference earns every point of every test: given code is never graded, so no test may depend
on how a handout wrote it (binding inputs by co_varnames, composing in a per-sample loop,
Variable as an alias, `g * J` overrides returning arrays)."""
import pytest

import term_profiles
from suite_support import graded


def test_the_pages_terms_have_profiles():
    assert set(term_profiles.REQUIRED) <= set(term_profiles.profiles())


@pytest.mark.parametrize("profile", term_profiles.profiles())
def test_reference_scores_full_marks_under_each_terms_given_code(profile, mnist_dir, tmp_path):
    doc, _ = graded(term_profiles.materialised(profile, tmp_path / "submission"))
    lost = {test.get("number"): test["output"][:500] for test in doc["tests"]
            if test["score"] < test["max_score"] or test.get("status") == "failed"}
    assert not lost, f"{profile}: " + "; ".join(f"{n}: {out}" for n, out in sorted(lost.items()))
    assert doc["score"] == sum(test["max_score"] for test in doc["tests"])
