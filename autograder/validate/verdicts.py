"""Checking results against what the corpus expects: full marks (reference, variants), no
marks (template), kill, blame and diagnosis (mutants), the hostile checks (a valid, truthful
results.json within its cap, with no secret in it), and determinism (two gradings agree).

Every check reads a results document only through autograder.results and .suite, and returns
a Verdict whose `problems` say in words what is wrong.
"""
from __future__ import annotations

import dataclasses
import json
import re
from typing import Any

# A TA-side dependency (pyproject's dev list), like the corpus' yaml: validate never runs in
# the grading image, whose results.problems() checks the same rules without it.
import jsonschema

from autograder import results as results_mod
from autograder.validate.corpus import Case, Corpus, substitute
from autograder.validate.jobs import Graded
from autograder.validate.suite import (SuiteTest, hint_classes, lost_points, outputs, select, suite_tests, test_scores,
                                     total)

HACK_MARKER = "HACKED-BY-SUBMISSION"
MAX_RESULTS_BYTES = 2 * 1024 * 1024


def is_grader_error(doc: dict) -> bool:
    return results_mod.is_incomplete(doc)


@dataclasses.dataclass
class Verdict:
    label: str
    kind: str
    ok: bool
    problems: list[str]
    score: float
    max_score: float
    seconds: float
    lost: dict[str, float] = dataclasses.field(default_factory=dict)
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)


def schema_problems(doc: dict) -> list[str]:
    schema = json.loads(results_mod.SCHEMA_PATH.read_text())
    return list(results_mod.problems(doc)) + [f"schema: {e.message}"
                                              for e in jsonschema.Draft7Validator(schema).iter_errors(doc)]


def check_full(label: str, kind: str, graded: Graded, exempt: list[SuiteTest] = ()) -> Verdict:
    doc = graded.doc
    lost = lost_points(doc)
    exempt_keys = {t.key for t in exempt}
    problems = []
    if is_grader_error(doc):
        problems.append("grader error: " + str(doc.get("output", ""))[:300])
    bad = {k: v for k, v in lost.items() if k not in exempt_keys}
    if bad:
        texts = outputs(doc)
        problems.append("lost points in " + ", ".join(
            f"{k} (-{v:g}, {failure_cause(texts.get(k, ''))}: {headline(texts.get(k, ''))[:100]})"
            for k, v in bad.items()))
    return Verdict(label, kind, not problems, problems, float(doc.get("score", 0)), total(doc),
                   graded.seconds, lost, {"exempt_lost": {k: v for k, v in lost.items() if k in exempt_keys},
                                          "scores": test_scores(doc)})


def check_zero(label: str, graded: Graded) -> Verdict:
    doc = graded.doc
    problems = []
    if is_grader_error(doc):
        problems.append("grader error: " + str(doc.get("output", ""))[:300])
    earned = {k: s for k, (s, m) in test_scores(doc).items() if s > 0}
    if earned:
        problems.append("earned points in " + ", ".join(f"{k} (+{v:g})" for k, v in earned.items()))
    return Verdict(label, "template", not problems, problems, float(doc.get("score", 0)), total(doc),
                   graded.seconds, lost_points(doc))


@dataclasses.dataclass
class MutantResult:
    case: Case
    verdict: Verdict
    own_tests: list[SuiteTest]        # what it must fail (resolved `fails`, or its part)
    part_tests: list[SuiteTest]       # its part, for blame
    integration: list[SuiteTest]
    killed: bool
    own_lost: float
    foreign_lost: float
    integration_lost: float
    # Diagnosis: the hints its feedback gave, by test, sorted by what they name.
    right_hints: list[str] = dataclasses.field(default_factory=list)     # test keys
    false_hints: list[tuple[str, str]] = dataclasses.field(default_factory=list)  # (test, class)
    untagged_hints: list[str] = dataclasses.field(default_factory=list)  # test keys

    @property
    def diagnosed(self) -> bool:
        return self.killed and bool(self.right_hints) and not self.false_hints

    @property
    def blame(self) -> float | None:
        blamed = self.own_lost + self.foreign_lost
        return self.own_lost / blamed if blamed > 0 else None


def check_mutant(case: Case, graded: Graded, corpus: Corpus, suite: list[SuiteTest]) -> MutantResult:
    doc = graded.doc
    lost = lost_points(doc)
    part_tests = select(corpus.parts[case.part].tests, suite)
    own = select(case.fails, suite) if case.fails else part_tests
    integration = select(corpus.integration, suite)
    integration_keys = {t.key for t in integration}
    part_keys = {t.key for t in part_tests} | {t.key for t in own}
    problems = []
    if is_grader_error(doc):
        problems.append("grader error: " + str(doc.get("output", ""))[:300])
    killed = any(t.key in lost for t in own) and not is_grader_error(doc)
    if not own:
        problems.append("no test in the suite matches " + ", ".join(case.fails or corpus.parts[case.part].tests))
    elif not killed:
        problems.append("survived: no points lost in " + ", ".join(t.label() for t in own)
                        + (f" (lost points elsewhere: {', '.join(sorted(lost))})" if lost else ""))
    own_lost = sum(v for k, v in lost.items() if k in part_keys)
    integration_lost = sum(v for k, v in lost.items() if k in integration_keys and k not in part_keys)
    foreign_lost = sum(v for k, v in lost.items() if k not in part_keys and k not in integration_keys)
    verdict = Verdict(f"mutant {case.id}", "mutant", not problems, problems,
                      float(doc.get("score", 0)), total(doc), graded.seconds, lost)
    result = MutantResult(case, verdict, own, part_tests, integration, killed, own_lost, foreign_lost,
                          integration_lost)
    if case.mistake:
        for key, classes in hint_classes(doc).items():
            for c in classes:
                if c is None:
                    result.untagged_hints.append(key)
                elif c == case.mistake:
                    result.right_hints.append(key)
                elif c not in corpus.neutral:
                    result.false_hints.append((key, c))
    return result


def secret_markers(course, base: str) -> list[str]:
    """Text that must never reach a results.json: solution markers (when the submission has
    none of its own) and the source of hidden test functions."""
    markers = ["# BEGIN SOLUTION", "# END SOLUTION"] if base == "template" else []
    public = course.public_suite
    defs: set[str] = set()
    public_defs: set[str] = set()
    for path in course.suite.rglob("test_*.py"):
        names = set(re.findall(r"^def (test_\w+)\(", path.read_text(encoding="utf-8", errors="replace"), re.M))
        (public_defs if public in path.parents else defs).update(names)
    return markers + [f"def {name}(" for name in sorted(defs - public_defs)]


def check_hostile(case: Case, graded: Graded, suite: list[SuiteTest], markers: list[str],
                  values: dict[str, str] | None = None) -> Verdict:
    doc = graded.doc
    problems = schema_problems(doc)
    full = sum(t.max_score for t in suite)
    score = float(doc.get("score", 0)) if isinstance(doc.get("score"), (int, float)) else 0.0
    text = json.dumps(doc, ensure_ascii=False)
    if is_grader_error(doc) and not case.grader_error_ok:
        problems.append("grader error: " + str(doc.get("output", ""))[:300])
    scores = test_scores(doc)
    listed = sum(s for s, _ in scores.values())
    if abs(listed - score) > 1e-6:
        problems.append(f"score {score:g} is not the sum of the test scores ({listed:g})")
    if {t.key for t in suite} - set(scores) and not is_grader_error(doc):
        problems.append("tests missing from results.json: " + ", ".join(sorted({t.key for t in suite} - set(scores))))
    lose = select(case.lose, suite)
    if case.lose and not lose:
        problems.append("no test in the suite matches " + ", ".join(case.lose))
    cap = full if case.max_score == "full" else (float(case.max_score) if case.max_score is not None else full)
    if case.lose:
        cap = min(cap, full - sum(t.max_score for t in lose))
    if score > cap + 1e-6:
        problems.append(f"score {score:g} is over its cap {cap:g}")
    floor = full if case.min_score == "full" else float(case.min_score or 0)
    if score < floor - 1e-6:
        problems.append(f"score {score:g} is under the {floor:g} it must keep")
    still = [t.key for t in lose if scores.get(t.key, (0, 0))[0] > 0]
    if still:
        problems.append("earned points in tests it must lose: " + ", ".join(still))
    if case.others_pass:
        lose_keys = {t.key for t in lose}
        hurt = [k for k, v in lost_points(doc).items() if k not in lose_keys]
        if hurt:
            problems.append("the attack also cost points elsewhere: " + ", ".join(hurt))
    if HACK_MARKER in str(doc.get("output", "")) or doc.get("score") == 1000:
        problems.append("results.json carries the submission's forged content")
    missing = [s for s in (substitute(s, values or {}) for s in case.shows) if s not in text]
    if missing:
        problems.append("the attack left no trace (did it run?): no " + ", ".join(repr(s) for s in missing))
    leaked = [m for m in markers if m in text]
    if leaked:
        problems.append("results.json shows secret text: " + ", ".join(leaked))
    size = len(text.encode("utf-8"))
    if size > MAX_RESULTS_BYTES:
        problems.append(f"results.json is {size:,} bytes (over {MAX_RESULTS_BYTES:,})")
    return Verdict(f"hostile {case.id}", "hostile", not problems, problems, score, full, graded.seconds,
                   lost_points(doc), {"cap": cap})


def check_degenerate(case: Case, graded: Graded, suite: list[SuiteTest]) -> Verdict:
    """A degenerate submission (zeros, ones, the input echoed, random values, NaN, a tape that
    returns its sources) earns nothing but in the tests whose right answer it gives
    (`may_earn`): every other point it earns is a test that compares the student only with
    the student."""
    doc = graded.doc
    problems = []
    if is_grader_error(doc):
        problems.append("grader error: " + str(doc.get("output", ""))[:300])
    allowed = {t.key for t in select(case.may_earn, suite)}
    if case.may_earn and not allowed:
        problems.append("no test in the suite matches " + ", ".join(case.may_earn))
    scores = test_scores(doc)
    by_key = {t.key: t for t in suite}
    earned = {k: s for k, (s, _) in scores.items() if s > 0 and k not in allowed}
    if earned:
        problems.append("earned points it must not, in " + ", ".join(
            f"{by_key[k].label() if k in by_key else k} (+{v:g})" for k, v in sorted(earned.items())))
    return Verdict(f"degenerate {case.id}", "degenerate", not problems, problems, float(doc.get("score", 0)),
                   total(doc), graded.seconds, lost_points(doc),
                   {"earned": {by_key[k].label() if k in by_key else k: s for k, (s, _) in scores.items() if s > 0}})


def comparable(doc: dict) -> dict:
    """A results document without what may differ between two gradings of one submission."""
    doc = json.loads(json.dumps(doc))
    doc.pop("execution_time", None)
    for t in doc.get("tests", []):
        t.pop("execution_time", None)
    return doc


def first_difference(a: Any, b: Any, path: str = "") -> str | None:
    if type(a) is not type(b):
        return f"{path or '/'}: {type(a).__name__} vs {type(b).__name__}"
    if isinstance(a, dict):
        for key in sorted(set(a) | set(b), key=str):
            if key not in a or key not in b:
                return f"{path}/{key}: only in {'second' if key not in a else 'first'}"
            found = first_difference(a[key], b[key], f"{path}/{key}")
            if found:
                return found
        return None
    if isinstance(a, list):
        if len(a) != len(b):
            return f"{path}: {len(a)} vs {len(b)} items"
        for i, (x, y) in enumerate(zip(a, b)):
            found = first_difference(x, y, f"{path}/{i}")
            if found:
                return found
        return None
    if a != b:
        if isinstance(a, str):
            # Show where the texts part, not their common beginning.
            at = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
            start = max(0, at - 40)
            return f"{path} (character {at}): {a[start:at + 60]!r} vs {b[start:at + 60]!r}"
        return f"{path}: {str(a)[:120]!r} vs {str(b)[:120]!r}"
    return None


def failure_cause(output: str) -> str:
    """Why a test of a correct submission failed: its property, or the machinery around it."""
    if "WorkerCrashed" in output or "The process running your code stopped" in output \
            or "Grader error" in output or "could not check your result" in output:
        return "crash"
    if "Time limit" in output or "WorkerTimeout" in output or "did not finish within" in output:
        return "time limit"
    return "property"


def headline(output: str) -> str:
    """The line of a failure message that says what happened."""
    lines = [l.strip() for l in output.splitlines() if l.strip() and not l.strip().startswith("```")]
    telling = [l for l in lines if any(w in l for w in ("Error", "Worker", "Worst", "returned", "Time limit"))]
    return ((telling or lines or [""])[0])[:200]


def check_determinism(pairs: dict[str, list[Graded]],
                      main: dict[str, Graded]) -> tuple[list[dict], list[str], list[str]]:
    """Each pair, one submission graded twice as for students, must agree but for timings;
    and where the kill matrix graded it in fast mode, that must have scored the same.
    Returns (rows for the report, lines to print, problems)."""
    rows, lines, problems = [], [], []
    for label, gradings in pairs.items():
        if len(gradings) != 2:
            problems.append(f"determinism: {label} was graded {len(gradings)} times, not twice")
            continue
        first, second = gradings
        diff = first_difference(comparable(first.doc), comparable(second.doc))
        row = {"label": label, "identical": diff is None, "difference": diff}
        line = f"  {label}: {'identical apart from execution_time' if diff is None else 'DIFFERENT at ' + diff}"
        if diff:
            problems.append(f"determinism: {label} graded twice differs at {diff}")
        fast = main.get(label)
        if fast is not None and fast.job.extra:
            row["fast_mode_scores_agree"] = test_scores(fast.doc) == test_scores(first.doc)
            line += "; fast-mode scores " + ("agree" if row["fast_mode_scores_agree"] else "DIFFER")
            if not row["fast_mode_scores_agree"]:
                problems.append(f"fast mode: {label} scores differently without shrinking")
        lines.append(line)
        rows.append(row)
    return rows, lines, problems


def check_agreement(pairs: dict[str, tuple[Graded, Graded]]) -> tuple[list[dict], list[str]]:
    """Each submission graded in the full sandbox and in the portable one (a student's
    `check`, forced with AUTOGRADER_PORTABLE=1), in the same validation mode: every test
    must earn the same points in both. Returns (one row per disagreeing test: submission,
    test, both points; problems). A grading that did not finish, or a test only one mode
    lists, is a disagreement too."""
    rows, problems = [], []
    for label, (sandboxed, portable) in pairs.items():
        unfinished = [(mode, g) for mode, g in (("sandboxed", sandboxed), ("portable", portable))
                      if is_grader_error(g.doc)]
        for mode, g in unfinished:
            problems.append(f"modes: {label}: the {mode} grading did not finish: {headline(g.doc.get('output', ''))}")
        if unfinished:
            continue
        tests = {t.key: t for t in suite_tests(sandboxed.doc) + suite_tests(portable.doc)}
        full, port = test_scores(sandboxed.doc), test_scores(portable.doc)
        for key in sorted(tests, key=lambda k: results_mod.number_key({"number": tests[k].number})):
            a, b = (full.get(key, (None,))[0], port.get(key, (None,))[0])
            if a != b:
                name = tests[key].label()
                rows.append({"submission": label, "test": name, "sandboxed": a, "portable": b})
                problems.append(f"modes: {label}: {name} earns {_points(a)} sandboxed but {_points(b)} portable")
    return rows, problems


def _points(score: float | None) -> str:
    return "nothing (not listed)" if score is None else f"{score:g}"
