"""The top of results.json: the score line (or that the run is not finished), where to start,
and what the run noticed about the submission; and the whole document around it."""
from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from autograder import results as results_mod
from autograder.results import TestEntry
from autograder.untrusted import code_span


MIN_SHARED_IMPORT_FAILURE = 2  # tests failing on the same import: said once, at the top


def document(grading: Any, final: bool, elapsed: float) -> dict[str, Any]:
    """The results of the run so far (`final`: the run has ended) or a grader error."""
    tests = grading.collection_errors + [grading.entries[i.nodeid] for i in grading.items if i.nodeid in grading.entries]
    tests, shared = _said_once(tests, getattr(grading, "import_failures", {}))
    leaderboard = [grading.leaderboard[i.nodeid] for i in grading.items if i.nodeid in grading.leaderboard]
    if final and grading.log.errors:
        detail = "Problems: " + "; ".join(sorted(set(grading.log.errors))[:5])
        return results_mod.grader_error(detail, tests, elapsed)
    return results_mod.assemble(tests, output=top_output(grading, final, tests, shared),
                                execution_time=elapsed, leaderboard=leaderboard)


def _said_once(tests: list[TestEntry], failures: dict) -> tuple[list[TestEntry], list[tuple[Any, int]]]:
    """Tests that failed because the same import failed: a short line each, and the failure
    with its count (for the top of the results) instead of one copy per test."""
    groups: dict[str, list[str]] = {}
    for nodeid, failure in failures.items():
        groups.setdefault(failure.key, []).append(nodeid)
    shared_keys = {key for key, ids in groups.items() if len(ids) >= MIN_SHARED_IMPORT_FAILURE}
    if not shared_keys:
        return tests, []
    out = []
    for t in tests:
        failure = failures.get(t.extra_data.get("nodeid"))
        if failure is not None and failure.key in shared_keys and t.status != "passed":
            t = dataclasses.replace(t, extra_data=dict(t.extra_data, import_failure=True), output=(
                f"**Not graded:** {failure.short}, so this test could not run. The whole message is "
                f"at the top of the results."))
        out.append(t)
    shared = [(next(failures[i] for i in groups[key]), len(groups[key])) for key in groups if key in shared_keys]
    return out, shared


def top_output(grading: Any, final: bool, tests: list[TestEntry], shared=()) -> str:
    done = sum(1 for t in tests if t.extra_data.get("outcome") != "not run")
    parts = []
    if not final:
        # TA tools read this opening as "incomplete" (results.is_incomplete).
        parts.append(results_mod.did_not_finish(f"{done} of {len(tests)} tests have run so far; "
                                                f"the others earn nothing until they run."))
    else:
        score = sum(t.score for t in tests)
        maximum = sum(t.max_score for t in tests)
        passed = sum(1 for t in tests if t.status == "passed")
        # The numbers as results.json holds them (rounded to 6 places), not format_points'
        # 6 significant digits: the line must agree with the score beside it.
        parts.append(f"**{results_mod.clean_number(score)} / {results_mod.clean_number(maximum)} points**; "
                     f"{passed} of {len(tests)} tests passed.")
        start = where_to_start(grading.items, [t for t in tests if not t.extra_data.get("import_failure")])
        if start:
            parts.append(start)
    if shared:
        count = sum(n for _, n in shared)
        opening = (f"**Your code could not be imported** in {count} of {len(tests)} tests, which "
                   f"therefore could not run. Fix this first:")
        if len(shared) == 1:
            parts.append(f"{opening}\n\n{shared[0][0].markdown}")
        else:
            parts.append(opening)
            parts += [f"In {n} tests: {failure.markdown}" for failure, n in shared]
    set_aside = getattr(grading, "set_aside", ())
    if set_aside:
        parts.append("**Python cannot read part of your code**, so only that part was set aside:\n\n"
                     + "\n".join(f"- {s.markdown()}" for s in set_aside))
    parts += [f"**Note:** {note}" for note in grading.notes]
    prepared = grading.prepared
    if prepared is not None and (prepared.notes or prepared.warnings):
        parts.append("About your submission:\n\n" + prepared.markdown())
    if grading.static_warnings:
        parts.append("Imports to check:\n\n" + "\n".join(f"- {w}" for w in grading.static_warnings))
    if grading.substitutions:
        parts.append("Stand-ins used while grading (your code imported them; the grader does not "
                     "provide them): " + ", ".join(code_span(n, 60) for n in sorted(grading.substitutions)[:20]) + ".")
    return "\n\n".join(parts)


def where_to_start(items: list[pytest.Item], tests: list[TestEntry]) -> str:
    """When several tests lost points, the one to fix first: the lowest in the suite's
    order of parts, since one mistake there often fails the tests built on it. The order
    is the tests' numbers, unless a test declares a `fix_first_rank` user property (a
    suite's conftest may rank e.g. end-to-end tests after every unit test)."""
    ranks = {item.nodeid: dict(getattr(item, "user_properties", ()) or ()).get("fix_first_rank", 0)
             for item in items}
    # Only tests students can see now: the summary is always shown, and must not name a
    # hidden test before its results are published.
    failed = [t for t in tests if t.max_score > 0 and t.score < t.max_score and t.visibility == "visible"
              and t.extra_data.get("outcome") not in ("not run", "collection error")]
    if len(failed) < 2:
        return ""

    def order(t: TestEntry):
        rank = ranks.get(t.extra_data.get("nodeid"), 0)
        return (rank if isinstance(rank, (int, float)) else 0, results_mod.number_key({"number": t.number}))

    first = min(failed, key=order)
    label = f"test {first.number} ({first.name})" if first.number else f"the test {first.name}"
    return (f"**Where to start:** {len(failed)} tests lost points. Start with {label}: it checks the most "
            f"basic part among them, and one mistake there often fails the tests built on it too.")
