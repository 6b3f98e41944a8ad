"""The graded suite gives the reference 100 of 100 and the handout template 0, in under a minute."""
import pytest

from suite_support import graded, total

GRADING_TIME_LIMIT_S = 60.0


@pytest.fixture(scope="module")
def reference_grading(reference_dir, mnist_dir):
    return graded(reference_dir)


def test_reference_scores_100_of_100(reference_grading):
    doc, _ = reference_grading
    failed = {t.get("number"): t["output"][:500] for t in doc["tests"] if t["score"] < t["max_score"]}
    assert not failed, f"the reference loses points in: {failed}"
    assert total(doc) == pytest.approx(100.0)
    assert sum(t["max_score"] for t in doc["tests"]) == pytest.approx(100.0)
    assert doc.get("leaderboard"), "the reference's training accuracy goes on the leaderboard"


def test_grading_one_submission_takes_under_a_minute(reference_grading):
    _, seconds = reference_grading
    print(f"\ngrading the reference took {seconds:.1f} s")
    assert seconds < GRADING_TIME_LIMIT_S


def test_template_scores_0(template_dir, mnist_dir):
    doc, seconds = graded(template_dir)
    earned = {t.get("number"): t["score"] for t in doc["tests"] if t["score"] > 0}
    assert not earned, f"the untouched handout earns points in: {earned}"
    assert sum(t["max_score"] for t in doc["tests"]) == pytest.approx(100.0)
    assert seconds < GRADING_TIME_LIMIT_S


def test_reference_scores_100_in_the_benchmarks_in_process_mode_too(reference_dir, mnist_dir):
    # The bench compares isolated with in-process grading: both must grade alike. In-process,
    # student code shares the grader's process, so nothing it changes (13.1 points the
    # loader's environment at small sample files) may reach what the trusted side reads.
    doc, _ = graded(reference_dir, extra_pytest_args=("--in-process",))
    failed = {t.get("number"): t["output"][:300] for t in doc["tests"] if t["score"] < t["max_score"]}
    assert not failed, f"in-process, the reference loses points in: {failed}"
