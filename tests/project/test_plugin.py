"""The pytest plugin: every outcome becomes exactly one Gradescope test, with its metadata.

Runs pytest with `-p autograder.plugin` in a child process on small suites from
engine_cases/ (no student code is involved here; test_hostile.py does that)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from engine_cases import harness

OUTCOMES = harness.CASES / "outcomes"

# function (with parameters) -> (score, max_score, status, outcome)
EXPECTED = {
    "test_passes": (2, 2, "passed", "passed"),
    "test_fails": (0, 3, "failed", "failed"),
    "test_bare_assert": (0, 1, "failed", "failed"),
    "test_raises_other": (0, 1, "failed", "failed"),
    "test_setup_error": (0, 2, "failed", "error in setup"),
    "test_teardown_error": (0, 2, "failed", "error in teardown"),
    "test_skipped": (0, 1, "failed", "skipped"),
    "test_xfailed": (0, 1, "failed", "xfailed"),
    "test_xpassed": (1, 1, "passed", "xpassed"),
    "test_xpassed_strict": (0, 1, "failed", "failed"),
    "test_times_out": (0, 1, "failed", "failed"),
    "test_partial_above_given": (1.5, 4, "failed", "passed"),
    "test_partial_below_given": (2.5, 4, "failed", "passed"),
    "test_partial_then_fails": (1, 2, "failed", "failed"),
    "test_set_score_fixture_without_decorator": (0.5, 2, "failed", "passed"),
    "test_partial_nan": (0, 1, "failed", "passed"),
    "test_partial_too_much": (1, 1, "passed", "passed"),
    "test_leaderboard_desc": (0, 0, "passed", "passed"),
    "test_leaderboard_with_given": (1, 1, "passed", "passed"),
    "test_hide_errors": (0, 1, "failed", "failed"),
    "test_hidden": (1, 1, "passed", "passed"),
    "test_visibility_with_given": (0, 1, "failed", "failed"),
    "test_parametrized[1]": (1, 1, "passed", "passed"),
    "test_parametrized[2]": (0, 1, "failed", "failed"),
    "test_no_weight": (0, 0, "passed", "passed"),
    "test_output_on_a_pass": (1, 1, "passed", "passed"),
    "test_output_then_fails": (0, 1, "failed", "failed"),
}


def run_plugin(folder: Path, results: Path, *extra: str, env: dict | None = None) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "pytest", "-p", "autograder.plugin", "--results", str(results),
           "-c", os.devnull, "--rootdir", str(folder), "--confcutdir", str(folder),
           "-p", "no:cacheprovider", "--assert=plain", "-q", str(folder), *extra]
    return subprocess.run(cmd, cwd=harness.REPO, env={**os.environ, **(env or {})},
                          capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("outcomes") / "results.json"
    proc = run_plugin(OUTCOMES, out, "--test-timeout", "2")
    doc = harness.validate(json.loads(out.read_text()))
    return {"doc": doc, "proc": proc, "tests": {t["extra_data"]["nodeid"].split("::")[-1]: t for t in doc["tests"]}}


def test_every_outcome_maps_to_one_entry_with_its_points(outcomes):
    tests = outcomes["tests"]
    assert sorted(tests) == sorted(EXPECTED), outcomes["proc"].stdout[-3000:]
    assert len(outcomes["doc"]["tests"]) == len(EXPECTED)  # no duplicates either
    for name, (score, max_score, status, outcome) in EXPECTED.items():
        got = tests[name]
        assert (got["score"], got["max_score"], got["status"], got["extra_data"]["outcome"]) == \
            (score, max_score, status, outcome), name
    # No points vanish from the maximum, and the total is the sum of the tests.
    doc = outcomes["doc"]
    assert sum(t["max_score"] for t in doc["tests"]) == sum(e[1] for e in EXPECTED.values())
    assert doc["score"] == sum(t["score"] for t in doc["tests"])
    assert doc["output"].startswith(f"**{doc['score']:g} / ")


def test_failure_messages_are_the_feedback_and_show_no_internals(outcomes):
    tests = outcomes["tests"]
    assert tests["test_fails"]["output"] == "**Expected** `1 == 2`; see the hint."
    assert "The test failed" in tests["test_bare_assert"]["output"]
    other = tests["test_raises_other"]["output"]
    assert "could not check" in other and "operands could not be broadcast" in other
    assert "test_outcomes.py" not in other and "Traceback" not in other
    assert "fixture exploded during setup" in tests["test_setup_error"]["output"]
    assert "preparing" in tests["test_setup_error"]["output"]
    assert "finishing" in tests["test_teardown_error"]["output"]
    assert tests["test_skipped"]["output"] == "Skipped: not today"
    assert "known bug" in tests["test_xfailed"]["output"]
    assert "XPASS(strict)" in tests["test_xpassed_strict"]["output"]
    assert tests["test_times_out"]["output"].startswith("**Time limit:**")
    assert tests["test_partial_then_fails"]["output"] == "only half"
    assert tests["test_output_on_a_pass"]["output"] == "Measured: **3 ms**, within the target."
    assert tests["test_output_then_fails"]["output"] == "Too slow.\n\nMeasured: 90 ms."
    assert "is too large" in tests["test_visibility_with_given"]["output"]
    # hide_errors replaces every detail
    assert tests["test_hide_errors"]["output"] == "Something is off; no details for this one."
    assert "42" not in json.dumps(tests["test_hide_errors"])
    # Our tracebacks go to stdout, for staff only.
    assert "operands could not be broadcast" in outcomes["proc"].stdout


def test_metadata_names_numbers_tags_visibility(outcomes):
    tests = outcomes["tests"]
    assert tests["test_passes"]["name"] == "A passing test is named by its docstring"
    assert tests["test_passes"]["number"] == "1" and tests["test_passes"]["tags"] == ["easy", "first"]
    assert tests["test_fails"]["name"] == "test_fails"
    assert tests["test_parametrized[2]"]["name"] == "test_parametrized [2]"
    assert tests["test_hidden"]["visibility"] == "hidden"
    assert tests["test_visibility_with_given"]["visibility"] == "after_due_date"
    assert tests["test_visibility_with_given"]["number"] == "22"
    assert tests["test_passes"]["visibility"] == "visible"
    assert all(t["output_format"] == "md" for t in tests.values())


def test_leaderboard_entries(outcomes):
    assert outcomes["doc"]["leaderboard"] == [
        {"name": "accuracy", "value": 0.97, "order": "desc"},
        {"name": "seconds", "value": 12, "order": "asc"},
    ]


def test_the_time_limit_stops_the_test_not_the_run(outcomes):
    # test_times_out sleeps 30 s; the run still finished and every later test ran.
    assert outcomes["doc"]["execution_time"] < 25
    assert all(t["extra_data"]["outcome"] != "not run" for t in outcomes["doc"]["tests"])


def test_collection_error_keeps_the_files_points_and_is_a_grader_error(tmp_path):
    out = tmp_path / "results.json"
    proc = run_plugin(harness.CASES / "broken_collection", out)
    doc = harness.validate(json.loads(out.read_text()))
    entries = {t["extra_data"]["nodeid"]: t for t in doc["tests"]}
    assert entries["test_fine.py::test_fine"]["status"] == "passed"  # the other file still ran
    broken = entries["test_broken.py"]
    # weight 2 + 1.5 x 3 parametrised cases + partial_credit 4, read from the source
    assert broken["max_score"] == 10.5 and broken["score"] == 0 and broken["status"] == "failed"
    assert doc["output"].startswith("**Grader error.**") and doc["score"] == 0
    assert "a_module_that_does_not_exist" in proc.stdout


def test_a_broken_fixture_of_ours_is_a_grader_error_not_the_students(tmp_path):
    out = tmp_path / "results.json"
    proc = run_plugin(harness.CASES / "grader_fixture_error", out)
    doc = harness.validate(json.loads(out.read_text()))
    entries = {t["extra_data"]["nodeid"].split("::")[-1]: t for t in doc["tests"]}
    assert entries["test_fine"]["status"] == "passed"
    broken = entries["test_uses_our_broken_fixture"]
    assert broken["score"] == 0 and broken["extra_data"]["outcome"] == "error in setup"
    assert "not your code" in broken["output"] and "seek of closed file" not in broken["output"]
    assert doc["output"].startswith("**Grader error.**") and doc["score"] == 0
    assert "error in setup of" in doc["output"]
    assert "ValueError: seek of closed file" in proc.stdout  # the traceback is for staff


def test_results_are_written_after_each_test(tmp_path):
    out = tmp_path / "results.json"
    proc = run_plugin(harness.CASES / "progress", out, env={"AG_RESULTS": str(out)})
    doc = harness.validate(json.loads(out.read_text()))
    # test_second_sees_first asserted, mid-run, what the file said then
    assert [t["status"] for t in doc["tests"]] == ["passed"] * 3, proc.stdout[-2000:]
    assert doc["score"] == 6


def test_declared_points_reads_source_without_importing(tmp_path):
    from autograder.plugin.metadata import declared_points

    assert declared_points(harness.CASES / "broken_collection" / "test_broken.py") == 10.5
    (tmp_path / "test_syntax.py").write_text("def test_x(:\n")
    assert declared_points(tmp_path / "test_syntax.py") == 0.0


def test_wrapper_values_found_through_hypothesis_and_wraps():
    from gradescope_utils.autograder_utils.decorators import partial_credit
    from hypothesis import given, strategies as st

    from autograder.plugin.metadata import function_chain

    @given(x=st.integers())
    @partial_credit(3)
    def below(x, set_score):
        pass

    @partial_credit(3)
    @given(x=st.integers())
    def above(x, set_score):
        pass

    for fn in (below, above):
        chain = function_chain(fn)
        assert any(getattr(f, "__weight__", None) == 3 for f in chain)
    assert below.hypothesis.inner_test in function_chain(below)
    assert above.__wrapped__ in function_chain(above)


def test_the_run_budget_ends_grading_on_our_terms(tmp_path):
    out = tmp_path / "results.json"
    run_plugin(harness.CASES / "budget", out, "--total-timeout", "3", "--test-timeout", "100")
    doc = harness.validate(json.loads(out.read_text()))
    one, two, three = doc["tests"]
    assert (one["score"], one["status"]) == (1, "passed")
    assert two["score"] == 0 and "ran out during this test" in two["output"]
    assert three["extra_data"]["outcome"] == "not run" and three["output"].startswith("**Not run:**")
    assert sum(t["max_score"] for t in doc["tests"]) == 6 and doc["score"] == 1
    assert doc["output"].startswith("**1 / 6 points**")  # a finished grading, not an error
    assert doc["execution_time"] < 6
