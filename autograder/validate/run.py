"""`python -m autograder validate`: the command, and the Validation that drives one run.

A run copies the course into a root-only folder (as setup.sh does on Gradescope), claims a
sandbox user per slot, materialises the corpus' cases, grades them all in one pool (each in
its own grading process), then hands the results to .verdicts and prints .figures. The
exit code says whether any expectation was violated.
"""
from __future__ import annotations

import argparse
import dataclasses
import fnmatch
import json
import os
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

from autograder.batch import SlotUsers
from autograder.commands import EXIT_STOPPED, sigterm_as_interrupt
# The one place validate reads the course configuration and grades: keep it small, so that a
# change of grading's API is reconciled here only.
from autograder.grading import grade, load_course
from autograder.validate.corpus import KINDS, Case, Corpus, CorpusError, load_corpus, materialise
from autograder.validate.figures import figure_lines, figures, mutant_lines, mutant_records, pct
from autograder.validate.jobs import Graded, Job, run_jobs
from autograder.validate.pasteable import pasteable_hints, solution_expressions
from autograder.validate.randomised import randomised
from autograder.validate.suite import SuiteTest, select, suite_tests
from autograder.validate.verdicts import (Verdict, check_agreement, check_degenerate, check_determinism, check_full,
                                          check_hostile, check_mutant, check_zero, is_grader_error, secret_markers)

EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE, EXIT_GRADER = 0, 1, 2, 3
# What `--compare-portable` adds to a twin grading's environment (sandbox/grader/backend.py's switch;
# validate names it rather than importing the sandbox).
PORTABLE = {"AUTOGRADER_PORTABLE": "1"}


def protected_course(course, dest: Path) -> Path:
    """A copy of the course (config, suite, reference, template, data) in a root-only folder,
    as setup.sh arranges on Gradescope, so that the sandbox user cannot read the reference
    or the hidden tests however the working tree's permissions are. Returns its config."""
    dest.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(dest, 0o700)
    root = course.root
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".git", ".hypothesis")
    for path in (course.suite, course.reference, course.template, root / "data"):
        if not path.exists():
            continue
        try:
            relative = path.relative_to(root)
        except ValueError:
            raise CorpusError(f"{path} is outside the course root {root}; cannot protect it") from None
        if path.is_dir():
            shutil.copytree(path, dest / relative, ignore=ignore, dirs_exist_ok=True)
    shutil.copy2(course.config_path, dest / course.config_path.name)
    # Folders between the root and the suite may hold conftest.py/__init__.py the suite needs.
    for parent in course.suite.relative_to(root).parents:
        for name in ("conftest.py", "__init__.py"):
            src = root / parent / name
            if parent != Path(".") and src.is_file():
                shutil.copy2(src, dest / parent / name)
    return dest / course.config_path.name


def configure(parser: argparse.ArgumentParser, command: str) -> None:
    parser.description = ("Grade the validation corpus (reference, template, correct variants, mutants, "
                          "hostile submissions) and check that every grade is what it must be.")
    parser.add_argument("--quick", action="store_true", help="only the corpus entries marked quick (for CI)")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="gradings at a time (default: cores)")
    parser.add_argument("--only", action="append", default=[], metavar="PATTERN",
                        help="only corpus entries whose id matches this glob (repeatable); "
                             "the reference is always graded")
    parser.add_argument("--randomised", "--randomized", action="store_true",
                        help="TA mode: grade the reference under fresh seeds with more examples")
    parser.add_argument("--seeds", type=int, default=50, help="seeds for --randomised (default 50)")
    parser.add_argument("--examples", type=int, default=100,
                        help="Hypothesis examples per test for --randomised (default 100)")
    parser.add_argument("--exact", action="store_true",
                        help="grade mutants and the template with full Hypothesis shrinking, as for students")
    parser.add_argument("--no-determinism", action="store_true", help="skip the determinism check")
    parser.add_argument("--compare-portable", nargs="?", const="all", default=None, choices=("all", "quick"),
                        help="also grade every case but the hostile ones in the portable sandbox (a student's "
                             "`check` on macOS/Windows: AUTOGRADER_PORTABLE=1) and require every test's points "
                             "to agree with the full sandbox's; `quick`: only the reference, the template and "
                             "the entries marked quick (CI's share, which must fit its time on a slow machine)")
    parser.add_argument("--corpus", type=Path, default=None, help="corpus folder (default: <course>/validation)")
    parser.add_argument("--config", type=Path, default=None, help="autograder.cfg to use")
    parser.add_argument("--report", type=Path, default=None, help="also write every figure and verdict as JSON here")
    parser.add_argument("--keep", type=Path, default=None, help="keep the graded submissions and results here")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds per grading before it is stopped")
    parser.add_argument("--min-blame", type=float, default=0.9,
                        help="blame precision (mean over killed mutants) the full corpus must reach (default 0.9)")
    parser.add_argument("--min-diagnosis", type=float, default=0.85,
                        help="diagnosis rate (killed mutants whose hints name their mistake, and nothing else) "
                             "the full corpus must reach (default 0.85)")


def run(args: argparse.Namespace, command: str = "validate") -> int:
    with sigterm_as_interrupt():  # until the work folder is gone, whenever a SIGTERM comes
        try:
            return _run(args)
        except KeyboardInterrupt:  # Ctrl-C or SIGTERM: the gradings are stopped, their folders gone
            print("\nvalidate: interrupted; nothing was judged", file=sys.stderr)
            return EXIT_STOPPED


def _run(args: argparse.Namespace) -> int:
    try:
        course = load_course(args.config)
        corpus = load_corpus(args.corpus or course.root / "validation")
    except (CorpusError, FileNotFoundError) as err:
        print(f"validate: {err}", file=sys.stderr)
        return EXIT_PROBLEMS
    if args.jobs < 1 or args.seeds < 1 or args.examples < 1:
        print("validate: --jobs, --seeds and --examples must be at least 1", file=sys.stderr)
        return EXIT_USAGE
    work = Path(tempfile.mkdtemp(prefix="autograder-validate-"))
    os.chmod(work, 0o700)
    try:
        return Validation(args, course, corpus, work).run()
    except CorpusError as err:
        print(f"validate: {err}", file=sys.stderr)
        return EXIT_PROBLEMS
    finally:
        if args.keep:
            shutil.copytree(work, args.keep, dirs_exist_ok=True, ignore=shutil.ignore_patterns("course"))
        shutil.rmtree(work, ignore_errors=True)


class Validation:
    """One run: its work folder, slots and course copy; the jobs it grades; what it found."""

    def __init__(self, args, course, corpus: Corpus, work: Path, grade_fn: Callable[..., dict] | None = None):
        self.args, self.corpus, self.work = args, corpus, work
        # Root (CI, Gradescope): grade from a root-only copy, as on Gradescope.
        self.config = protected_course(course, work / "course") if os.geteuid() == 0 else course.config_path
        self.course = load_course(self.config)
        self.bases = {"reference": self.course.reference, "template": self.course.template}
        self.values = {"@@COURSE_ROOT@@": str(self.course.root), "@@RESULTS_DIR@@": str(work / "results")}
        self.grade_fn = grade_fn or (lambda sub, **kw: grade(sub, config=self.config, **kw))
        # Claimed exclusively (as regrade does): another grading on this machine that shared
        # a user would have its workers killed by our sweeps, and change our grades.
        self.slot_users = SlotUsers(max(args.jobs, 1))  # its locks are held until run() ends
        self.users = self.slot_users.names
        self.violations: list[str] = []
        self.report: dict[str, Any] = {"quick": args.quick, "randomised": args.randomised}
        (work / "results").mkdir(mode=0o700)
        (work / "submissions").mkdir(mode=0o700)

    # -- helpers
    def say(self, text: str = "") -> None:
        print(text, flush=True)

    def selected(self, case: Case) -> bool:
        if self.args.only:
            return any(fnmatch.fnmatchcase(case.id, p) for p in self.args.only)
        return case.quick or not self.args.quick

    def job(self, label: str, submission: Path, mode: str | None, tag: str = "", extra: tuple = (),
            env: dict | None = None) -> Job:
        name = re.sub(r"[^\w.-]+", "_", label + tag)
        # This package is also the pytest plugin that sets the validation mode (see __init__).
        args = ("-p", "autograder.validate", "--validation-mode", mode) if mode else ()
        return Job(label, submission, self.work / "results" / f"{name}.json", args + tuple(extra),
                   self.args.timeout, dict(env or {}))

    def submission(self, case: Case) -> Path:
        return materialise(case, self.bases, self.work / "submissions" / case.id, self.values)

    def grade_all(self, jobs: list[Job]) -> list[Graded]:
        started = time.monotonic()

        def progress(g: Graded, done: int, count: int) -> None:
            self.say(f"  [{done}/{count}] {g.job.label}: {g.doc.get('score', 0):g} "
                     f"({g.seconds:.0f} s, {time.monotonic() - started:.0f} s so far)")

        return run_jobs(jobs, self.args.jobs, self.grade_fn, self.users, progress)

    def violation(self, text: str) -> None:
        self.violations.append(text)

    def record(self, verdicts: list[Verdict]) -> None:
        for v in verdicts:
            self.report.setdefault("verdicts", []).append(
                {"label": v.label, "kind": v.kind, "ok": v.ok, "problems": v.problems, "score": v.score,
                 "max_score": v.max_score, "seconds": round(v.seconds, 1), "lost": v.lost,
                 **{k: x for k, x in v.extra.items() if k != "scores"}})
            if not v.ok:
                self.violation(f"{v.label}: " + "; ".join(v.problems))

    # -- the run
    def run(self) -> int:
        started = time.monotonic()
        try:
            if self.args.randomised:
                randomised(self)
            else:
                corpus_run(self)
        finally:
            self.slot_users.close()
        elapsed = time.monotonic() - started
        self.report["seconds"] = round(elapsed, 1)
        self.report["violations"] = self.violations
        self.say()
        if self.args.report:
            self.args.report.parent.mkdir(parents=True, exist_ok=True)
            self.args.report.write_text(json.dumps(self.report, indent=2, default=str) + "\n")
        if self.violations:
            self.say(f"VALIDATION FAILED: {len(self.violations)} violation(s) in {elapsed:.0f} s")
            for v in self.violations:
                self.say(f"  - {v}")
            return EXIT_PROBLEMS
        self.say(f"validation passed in {elapsed:.0f} s")
        return EXIT_OK


# ================================================================ the corpus run


def corpus_run(validation: Validation) -> None:
    """Grade the chosen cases (and the reference, the template, the determinism pairs) in
    one pool, then judge them against the live suite the reference's results list."""
    args, say = validation.args, validation.say
    cases = [c for c in validation.corpus.cases if validation.selected(c)]
    skipped_root = [c for c in cases if c.kind == "hostile" and c.requires_root and os.geteuid() != 0]
    cases = [c for c in cases if c not in skipped_root]
    want_template = not args.only or any(fnmatch.fnmatchcase("template", p) for p in args.only)
    counts = {k: sum(1 for c in cases if c.kind == k) for k in KINDS}
    say(f"validate: {'quick subset' if args.quick else 'full corpus'}: reference, "
        f"{'template, ' if want_template else ''}{counts['variant']} variants, "
        f"{counts['mutant']} mutants, {counts['hostile']} hostile, {counts['degenerate']} degenerate; "
        f"{args.jobs} at a time")
    for c in skipped_root:
        say(f"  (hostile {c.id} needs root to mean anything; not run as uid {os.geteuid()})")

    chosen = [c for c in cases if c.kind == "mutant" and c.determinism][:3]
    if len(chosen) < 3 and not args.only and not args.no_determinism:
        validation.violation(f"determinism: the corpus marks {len(chosen)} mutants for the check; 3 are needed")
    graded = validation.grade_all(corpus_jobs(validation, cases, chosen, want_template))
    portable = {g.job.label: g for g in graded if g.job.env}
    by_label: dict[str, list[Graded]] = {}
    for g in graded:
        if g.job.env:
            continue
        by_label.setdefault(g.job.label, []).append(g)
    main = {label: g for label, gs in by_label.items() for g in gs if "-again" not in g.job.out.name}
    again = {label: [g for g in gs if "-again" in g.job.out.name] for label, gs in by_label.items()}

    # The reference defines the live suite every selector is resolved against.
    ref = main.pop("reference")
    suite = suite_tests(ref.doc)
    ref_verdict = check_full("reference", "reference", ref)
    validation.record([ref_verdict])
    if not suite or is_grader_error(ref.doc):
        validation.violation("the reference could not be graded; nothing else can be judged")
        return
    validation.report["suite"] = [dataclasses.asdict(t) for t in suite]
    check_selectors(validation, suite)
    judge(validation, cases, main, suite, ref_verdict)
    if args.compare_portable:
        compare_modes(validation, {"reference": ref, **main}, portable)
    if not args.no_determinism:
        pairs = {"reference": [ref] + again.get("reference", [])}
        pairs.update({f"mutant {c.id}": again.get(f"mutant {c.id}", []) for c in chosen})
        say()
        say(f"Determinism: {', '.join(pairs)}: each graded twice as for students")
        rows, lines, problems = check_determinism(pairs, main)
        for line in lines:
            say(line)
        validation.violations += problems
        validation.report["determinism"] = rows


def corpus_jobs(validation: Validation, cases: list[Case], chosen: list[Case], want_template: bool) -> list[Job]:
    args, job, course = validation.args, validation.job, validation.course
    mode_for_failing = None if args.exact else "fast"
    # The reference grades alongside the rest: only the verdicts need the suite it lists.
    jobs = [job("reference", course.reference, None)]
    if want_template:
        jobs.append(job("template", course.template, mode_for_failing))
    for case in cases:
        # Mutants, and attacks on the template (which fail every test anyway), in fast mode;
        # attacks on the reference as for students, time limits and shrinking included.
        mode = mode_for_failing if case.kind in ("mutant", "degenerate") or case.base == "template" else None
        jobs.append(job(f"{case.kind} {case.id}", validation.submission(case), mode))
    if args.compare_portable:
        # Each case once more in the portable sandbox, in the same validation mode. Not the
        # attacks: the portable sandbox does not isolate (README, "Isolation"), so on this
        # machine, as root, an attack could reach what it was written to reach, and its points
        # may rightly differ from those the full sandbox allows it.
        twins = [j for j in jobs if not j.label.startswith("hostile")]
        if args.compare_portable == "quick":
            quick = {"reference", "template"} | {f"{c.kind} {c.id}" for c in cases if c.quick}
            twins = [j for j in twins if j.label in quick]
        jobs += [job(j.label, j.submission, None, "-portable", j.extra, PORTABLE) for j in twins]
    if not args.no_determinism:
        # Graded as for students (no validation mode): the reference once more, the chosen
        # mutants twice. The same pool, so these overlap with the rest.
        jobs.append(job("reference", course.reference, None, "-again"))
        for case in chosen:
            for attempt in (1, 2):
                jobs.append(job(f"mutant {case.id}", validation.work / "submissions" / case.id, None,
                                f"-again{attempt}"))
    # Likely slow ones first, so that the pool does not end waiting on one long grading.
    jobs.sort(key=lambda j: 0 if j.label.startswith(("hostile", "template")) else 1)
    return jobs


def compare_modes(validation: Validation, sandboxed: dict[str, Graded], portable: dict[str, Graded]) -> None:
    """Every test's points, full sandbox against portable, for each case graded both ways."""
    pairs = {label: (g, portable[label]) for label, g in sandboxed.items() if label in portable}
    rows, problems = check_agreement(pairs)
    # What the comparison costs: the portable gradings' time against the same cases sandboxed.
    seconds = {mode: round(sum(pair[i].seconds for pair in pairs.values()), 1)
               for i, mode in enumerate(("sandboxed", "portable"))}
    validation.report["modes"] = {"compared": sorted(pairs), "disagreements": rows, "seconds": seconds}
    validation.violations += problems
    validation.say()
    validation.say(f"Portable and sandboxed modes: {len(pairs)} submissions graded in both "
                   f"({seconds['sandboxed']:.0f} s of gradings sandboxed, {seconds['portable']:.0f} s portable), "
                   + ("every test's points agree" if not problems else f"{len(rows)} test(s) disagree:"))
    for problem in problems:
        validation.say(f"  {problem}")


def check_selectors(validation: Validation, suite: list[SuiteTest]) -> None:
    """Parts whose selectors match no test: a part the suite does not grade."""
    parts = validation.corpus.parts
    empty = [p.name for p in parts.values() if not select(p.tests, suite)]
    validation.report["untested_parts"] = empty
    for name in empty:
        validation.say(f"  part {name!r}: no test in the suite matches {', '.join(parts[name].tests)}")


def judge(validation: Validation, cases: list[Case], main: dict[str, Graded], suite: list[SuiteTest],
          ref_verdict: Verdict) -> None:
    """Every case's verdict, the kill matrix and the figures, against their targets."""
    args, corpus = validation.args, validation.corpus
    verdicts, mutants, correct = [], [], [ref_verdict]
    if "template" in main:
        verdicts.append(check_zero("template", main["template"]))
    for case in cases:
        g = main[f"{case.kind} {case.id}"]
        if case.kind == "variant":
            v = check_full(f"variant {case.id}", "variant", g, select(case.exempt, suite))
            correct.append(v)
            verdicts.append(v)
        elif case.kind == "mutant":
            m = check_mutant(case, g, corpus, suite)
            mutants.append(m)
            verdicts.append(m.verdict)
        elif case.kind == "degenerate":
            verdicts.append(check_degenerate(case, g, suite))
        else:
            markers = secret_markers(validation.course, case.base)
            verdicts.append(check_hostile(case, g, suite, markers, validation.values))
    validation.record(verdicts)
    if mutants:
        validation.report["mutants"] = mutant_records(mutants)
    stats = figures(mutants, correct)
    validation.report["figures"] = stats
    for line in mutant_lines(mutants, suite) + figure_lines(stats, correct):
        validation.say(line)
    degenerate = [v for v in verdicts if v.kind == "degenerate"]
    if degenerate:
        validation.say("\nDegenerate submissions (right in shape only)")
        for v in degenerate:
            earned = ", ".join(f"{k} (+{x:g})" for k, x in v.extra.get("earned", {}).items()) or "nothing"
            validation.say(f"  {v.label.split(' ', 1)[1]}: {v.score:g} points; earned {earned}"
                           + ("" if v.ok else "  <- NOT ALLOWED: " + "; ".join(v.problems)))
    targets = not args.quick and not args.only
    blame = stats["blame_precision_mean"]
    if targets and blame is not None and blame < args.min_blame:
        validation.violation(f"blame precision {pct(blame)} is under the {pct(args.min_blame)} target")
    diagnosis = stats["diagnosis_rate"]
    if targets and diagnosis is not None and diagnosis < args.min_diagnosis:
        validation.violation(f"diagnosis rate {pct(diagnosis)} is under the {pct(args.min_diagnosis)} target")
    for m in mutants:  # a wrong hint is worse than none, on any subset
        for key, mistake in m.false_hints:
            validation.violation(f"mutant {m.case.id} ({m.case.mistake}): {key} gives a hint about {mistake}")
    # Attacks' outputs hold what the submission printed, which may be anything.
    check_hints_paste_nothing(validation, {label: g.doc for label, g in main.items()
                                           if not label.startswith("hostile")})


def check_hints_paste_nothing(validation: Validation, docs: dict[str, dict]) -> None:
    """A hint guides; it never holds a line of the reference's solution regions."""
    found = pasteable_hints(docs, solution_expressions(validation.course.reference))
    validation.report["pasteable_hints"] = found
    for problem in found:
        validation.violation(problem)
