"""`validate --randomised`: the reference under fresh Hypothesis seeds with more examples.

The derandomised grades prove nothing about the examples they never draw: here the reference
is graded under many random seeds (the plugin's `--validation-mode random`), and what fails
is counted per grading and per test run, with its cause (the property, a worker crash, a
time limit). With no failure in n trials, 3/n bounds the false-fail rate at 95% confidence.
"""
from __future__ import annotations

import random

from autograder.validate.figures import pct
from autograder.validate.suite import suite_tests, test_scores
from autograder.validate.verdicts import check_full, failure_cause, headline


def randomised(validation) -> None:
    """Grade the reference under `--seeds` fresh seeds on `validation` (a run.Validation),
    print what failed, and add its figures and violations to the validation's report."""
    args = validation.args
    seeds = [random.SystemRandom().randrange(2**32) for _ in range(args.seeds)]
    validation.say(f"validate --randomised: the reference under {len(seeds)} fresh seeds, "
                   f"{args.examples} examples per test, {args.jobs} at a time")
    jobs = [validation.job(f"reference seed {s}", validation.course.reference, "random",
                           extra=("--validation-examples", str(args.examples), f"--hypothesis-seed={s}"))
            for s in seeds]
    graded = validation.grade_all(jobs)
    verdicts = [check_full(g.job.label, "reference", g) for g in graded]
    failed = [v for v in verdicts if not v.ok]
    runs = sum(len(test_scores(g.doc)) for g in graded)
    failed_tests: dict[str, int] = {}
    for v in failed:
        for key in v.lost:
            failed_tests[key] = failed_tests.get(key, 0) + 1
    rate = len(failed) / len(verdicts)
    test_rate = sum(failed_tests.values()) / runs if runs else 0.0
    # With no failure in n trials, 3/n bounds the rate at 95% confidence (the rule of three).
    bound = min(1.0, 3 / len(verdicts)) if not failed else None
    test_bound = min(1.0, 3 / runs) if runs and not failed_tests else None
    suite = suite_tests(graded[0].doc) if graded else []
    statistical = [t for t in suite if "statistical" in t.tags]
    validation.say()
    validation.say(f"Reference under fresh seeds: {len(verdicts) - len(failed)} of {len(verdicts)} gradings gave "
                   f"full marks: false-fail rate {pct(rate)} per grading"
                   + (f" (under {pct(bound)} at 95% confidence)" if bound is not None else ""))
    validation.say(f"  per test run: {sum(failed_tests.values())} failed of {runs}, {test_rate:.2e}"
                   + (f" (under {test_bound:.2e} at 95% confidence)" if test_bound is not None else ""))
    for key, n in sorted(failed_tests.items()):
        validation.say(f"  {key}: failed under {n} seed(s)")
    failures = []
    for g, v in zip(graded, verdicts):
        for raw in g.doc.get("tests", []):
            key = (raw.get("extra_data") or {}).get("nodeid") or raw.get("name")
            if key in v.lost:
                output = str(raw.get("output", ""))
                failures.append({"grading": g.job.label, "test": key, "cause": failure_cause(output),
                                       "output": output[:4000]})
                validation.say(f"  {g.job.label}, {key}: {failure_cause(output)}: {headline(output)}")
    causes = {c: sum(1 for f in failures if f["cause"] == c) for c in ("property", "crash", "time limit")}
    validation.say(f"  causes: {causes['property']} property failure(s) (the test's own verdict), "
                   f"{causes['crash']} worker crash(es) and {causes['time limit']} time limit(s) "
                   f"(the machine or the engine, not the test)")
    for t in statistical:
        validation.say(f"  statistical test {t.label()} {t.function}: failed under {failed_tests.get(t.key, 0)} "
                       f"of {len(graded)} seeds")
    for v in failed:
        validation.violation(f"{v.label}: " + "; ".join(v.problems))
    validation.report["randomised"] = {"seeds": seeds, "examples": args.examples, "gradings": len(verdicts),
                                       "failed_gradings": len(failed), "rate": rate, "bound_95": bound,
                                       "test_rate": test_rate, "test_bound_95": test_bound,
                                       "test_runs": runs, "failed_tests": failed_tests, "failures": failures,
                                       "seconds": [round(g.seconds, 1) for g in graded]}

