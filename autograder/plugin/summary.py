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
    tests, shared = _said_once(tests, getattr(grading, "import_failures", {}), _imports_set_aside(grading))
    leaderboard = [grading.leaderboard[i.nodeid] for i in grading.items if i.nodeid in grading.leaderboard]
    if final and grading.log.errors:
        detail = "Problems: " + "; ".join(sorted(set(grading.log.errors))[:5])
        return results_mod.grader_error(detail, tests, elapsed)
    return results_mod.assemble(tests, output=top_output(grading, final, tests, shared),
                                execution_time=elapsed, leaderboard=leaderboard)


def _imports_set_aside(grading: Any) -> dict:
    student_code = getattr(grading, "student_code", None)
    return getattr(student_code, "imports_set_aside", None) or {}


def _stopped_by(failure: Any, records: dict) -> Any:
    """The module set aside at import whose error this import failure is, or None."""
    for record in records.values():
        # (Not the message: the worker cuts it, and a SyntaxError's shows its place again.)
        if record.file and (record.type_name, record.file, record.line) == \
                (failure.type_name, failure.file, failure.line):
            return record
    return None


def _said_once(tests: list[TestEntry], failures: dict, records: dict | None = None
               ) -> tuple[list[TestEntry], list[tuple[Any, int]]]:
    """Tests that failed because the same import failed: a short line each, and the failure
    with its count (for the top of the results) instead of one copy per test."""
    groups: dict[str, list[str]] = {}
    for nodeid, failure in failures.items():
        groups.setdefault(failure.key, []).append(nodeid)
    shared_keys = {key for key, ids in groups.items() if len(ids) >= MIN_SHARED_IMPORT_FAILURE}
    if not shared_keys:
        return tests, []
    # A group is told as a module set aside at import when its first failure is one.
    set_aside = {key for key in shared_keys if _stopped_by(failures[groups[key][0]], records or {}) is not None}
    out = []
    for t in tests:
        failure = failures.get(t.extra_data.get("nodeid"))
        if failure is not None and failure.key in shared_keys and t.status != "passed":
            if failure.key in set_aside:
                short = (f"**Not graded:** importing {code_span(failure.module, 100)} stopped at "
                         f"{code_span(failure.file)} line {failure.line} with {code_span(failure.type_name, 100)}, "
                         f"before it defined what this test needs. The whole message is at the top of the results.")
            else:
                short = (f"**Not graded:** {failure.short}, so this test could not run. The whole message is "
                         f"at the top of the results.")
            t = dataclasses.replace(t, extra_data=dict(t.extra_data, import_failure=True), output=short)
        out.append(t)
    shared = [(failures[groups[key][0]], len(groups[key])) for key in groups if key in shared_keys]
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
    records = _imports_set_aside(grading)
    aside_shared = [(failure, n) for failure, n in shared if _stopped_by(failure, records) is not None]
    shared = [item for item in shared if item not in aside_shared]
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
    # An error already told above (a missing file every module imports) is not told again.
    told = {(failure.type_name, failure.message) for failure, _ in shared}
    stopped = set_aside_at_import({k: r for k, r in records.items() if (r.type_name, r.message) not in told},
                                  aside_shared)
    if stopped:
        parts.append(stopped)
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


def set_aside_at_import(records: dict, shared=()) -> str:
    """Modules that raised while they were imported and were kept as far as they ran
    (sandbox/inside/partial_import.py): one item per error (where it was raised; for a missing
    module, wherever it was imported), with the modules it stopped, and the error's whole
    message when tests that needed what it never reached share it (`shared`: (ImportFailure,
    count) said once, see _said_once)."""
    groups: dict[tuple, list] = {}
    for record in records.values():
        # One error is one place, but a missing module or name stops every file importing it.
        place = () if record.type_name in ("ModuleNotFoundError", "ImportError") else (record.file, record.line)
        groups.setdefault((record.type_name, record.message, *place), []).append(record)
    if not groups:
        return ""
    items = []
    for (kind, message, *_), stopped in list(groups.items())[:10]:
        origins = list(dict.fromkeys((r.file, r.line) for r in stopped))
        error = f"{code_span(kind, 100)} {code_span(message)}"
        if len(origins) == 1 and origins[0][0]:
            file, line = origins[0]
            first = next((r for r in stopped if r.stopped_file == file), stopped[0])
            others = [r for r in stopped if r is not first]
            if first.unreadable:
                text = (f"{code_span(file)} line {line}: {error}. Python cannot read this file, so nothing "
                        f"in {code_span(first.module, 100)} is defined: the tests that need it fail with "
                        f"this error, everything else is graded.")
            else:
                text = (f"{code_span(file)} line {line}: {error}. Importing {code_span(first.module, 100)} "
                        f"stopped there: what it defines after that line is missing, and the tests that "
                        f"need it fail with this error; everything before it is graded.")
        else:
            others = stopped
            text = (f"{error} stopped the import of " + ", ".join(
                f"{code_span(r.file, 100)} at line {r.line}" if r.file else code_span(r.module, 100)
                for r in stopped[:8]) + (", ..." if len(stopped) > 8 else "") +
                ": what each defines after that line is missing, and the tests that need it fail with "
                "this error; everything before it is graded.")
            others = []
        if others:
            text += " It also stopped " + ", ".join(
                f"{code_span(r.stopped_file or r.module, 100)} at line {r.stopped_line}" for r in others[:5]) + "."
        failing = [(f, n) for f, n in shared if f.type_name == kind and (f.file, f.line) in origins]
        if failing:
            count = sum(n for _, n in failing)
            text += (f" {count} {'test needs' if count == 1 else 'tests need'} what it did not reach; "
                     f"they were not graded:\n\n" + _indented(failing[0][0].markdown))
        items.append(f"- {text}")
    return ("**Part of your code stopped while it was imported**, so only what comes after "
            "the failing line was set aside:\n\n" + "\n".join(items) + "\n\n"
            "Fix each line named here. Code at the top level of a file runs every time the file is "
            "imported: what does not belong there goes into a function or under "
            "`if __name__ == \"__main__\":`.")


def _indented(markdown: str) -> str:
    """`markdown` as the continuation of a list item (fences included)."""
    return "\n".join(f"  {line}" if line else "" for line in markdown.strip("\n").splitlines())
