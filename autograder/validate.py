"""`python -m autograder validate`: prove that the grader grades right.

It grades, each in its own grading process (autograder.grading.grade):
  the reference          must earn full marks;
  the template           must earn nothing;
  every correct variant  must earn full marks (but for tests it declares style-sensitive);
  every mutant           must lose points in its own tests (a realistic student mistake);
  every hostile case     must leave a valid, truthful results.json within its score cap;
and prints a kill matrix (mutants x failed tests) with the kill rate, the false-fail rate
and blame precision (the share of a mutant's lost points that fall in its own part).
`--randomised` grades the reference under fresh Hypothesis seeds with more examples.

The corpus (default: <course root>/validation, format in its README.md) holds replacements
over the reference or the template, never full copies. The engine knows nothing about the
course: parts are named by the corpus, and tests are found by tag, name or number through
selectors resolved against the live suite (the tests the reference's results.json lists),
so renaming a test never silently changes what a mutant is checked against.

This module is also a small pytest plugin (`-p autograder.validate`), loaded only into
validation grading runs, that changes Hypothesis' settings there:
  --validation-mode fast    no shrink/explain phases. Pass/fail is decided in the generate
                            phase, so scores are the same; only failure messages are less
                            minimal. Mutants and the template fail many tests, and shrinking
                            each through a worker costs seconds. The determinism check grades
                            in the real mode and also confirms that the scores agree.
  --validation-mode random  derandomize off (seed from --hypothesis-seed) and
                            --validation-examples examples per test: the randomised mode.
"""
from __future__ import annotations

import argparse
import dataclasses
import fnmatch
import json
import os
import random
import re
import shutil
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any, Callable, Iterable

import pytest

from autograder import results as results_mod
from autograder.batch import SlotUsers, run_on_slots

EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE, EXIT_GRADER = 0, 1, 2, 3
KINDS = ("mutant", "variant", "hostile")
BASES = ("reference", "template")
SELECTOR_KINDS = ("tag", "test", "number", "file")
# Placeholders a hostile snippet may use, so that an attack aims at the real targets.
PLACEHOLDERS = ("@@COURSE_ROOT@@", "@@RESULTS_DIR@@")
HACK_MARKER = "HACKED-BY-SUBMISSION"
MAX_RESULTS_BYTES = 2 * 1024 * 1024


class CorpusError(Exception):
    """The corpus is malformed; the message names the file and the entry."""


# ================================================================ the corpus


@dataclasses.dataclass
class Edit:
    file: str
    old: str
    new: str


@dataclasses.dataclass
class Case:
    kind: str
    id: str
    description: str
    source: str
    base: str = "reference"
    edits: list[Edit] = dataclasses.field(default_factory=list)
    files: dict[str, str] = dataclasses.field(default_factory=dict)
    quick: bool = False
    # mutants
    part: str | None = None
    fails: list[str] = dataclasses.field(default_factory=list)
    determinism: bool = False
    mistake: str | None = None  # its class in the corpus' vocabulary (parts.yaml `mistakes`)
    # variants: tests a correct variant may lose points in (declared style-sensitive)
    exempt: list[str] = dataclasses.field(default_factory=list)
    # hostile
    max_score: str | float | None = None   # a number, "full", or None (then: derived from lose)
    min_score: str | float | None = None
    lose: list[str] = dataclasses.field(default_factory=list)
    others_pass: bool = False
    grader_error_ok: bool = False
    requires_root: bool = False
    shows: list[str] = dataclasses.field(default_factory=list)  # proof in results.json that it ran


@dataclasses.dataclass
class Part:
    name: str
    tests: list[str]
    description: str = ""


@dataclasses.dataclass
class Corpus:
    root: Path
    parts: dict[str, Part]
    integration: list[str]
    cases: list[Case]
    # The classes of mistakes (parts.yaml `mistakes`) that mutants declare and the suite's
    # hints name (a failed test's extra_data["hints"]); `neutral` hints name no mistake.
    mistakes: dict[str, str] = dataclasses.field(default_factory=dict)
    neutral: list[str] = dataclasses.field(default_factory=list)

    def of_kind(self, kind: str) -> list[Case]:
        return [c for c in self.cases if c.kind == kind]


def _yaml_load(path: Path) -> Any:
    import yaml

    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        raise CorpusError(f"{path}: not valid YAML: {err}") from None


def _selector_problem(selector: Any) -> str | None:
    if not isinstance(selector, str) or ":" not in selector:
        return f"selector {selector!r} is not KIND:PATTERN"
    kind, pattern = selector.split(":", 1)
    if kind not in SELECTOR_KINDS:
        return f"selector {selector!r}: KIND must be one of {', '.join(SELECTOR_KINDS)}"
    if not pattern:
        return f"selector {selector!r} has an empty pattern"
    return None


def _as_list(value: Any) -> list:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


CASE_KEYS = {
    "common": {"id", "description", "base", "edits", "file", "old", "new", "files", "quick"},
    "mutant": {"part", "fails", "determinism", "mistake"},
    "variant": {"exempt"},
    "hostile": {"max_score", "min_score", "lose", "others_pass", "grader_error_ok", "requires_root", "shows"},
}


def _parse_case(kind: str, raw: Any, where: str) -> Case:
    if not isinstance(raw, dict):
        raise CorpusError(f"{where}: each entry is a mapping")
    ident = raw.get("id")
    where = f"{where} ({ident})" if ident else where
    unknown = set(raw) - CASE_KEYS["common"] - CASE_KEYS[kind]
    if unknown:
        raise CorpusError(f"{where}: unknown keys {sorted(unknown)} for a {kind}")
    for key in ("id", "description"):
        if not isinstance(raw.get(key), str) or not raw[key].strip():
            raise CorpusError(f"{where}: `{key}` is required (a non-empty string)")
    if not re.fullmatch(r"[a-z0-9][a-z0-9-]*", ident):
        raise CorpusError(f"{where}: id must be lowercase letters, digits and dashes")
    edits = []
    if "file" in raw or "old" in raw or "new" in raw:
        edits.append({"file": raw.get("file"), "old": raw.get("old"), "new": raw.get("new")})
    edits += _as_list(raw.get("edits"))
    parsed = []
    for i, e in enumerate(edits):
        if not isinstance(e, dict) or set(e) != {"file", "old", "new"} \
                or not all(isinstance(e[k], str) for k in ("file", "old", "new")):
            raise CorpusError(f"{where}: edit {i + 1} needs `file`, `old` and `new` (strings)")
        if not e["old"].strip():
            raise CorpusError(f"{where}: edit {i + 1} has an empty `old` snippet")
        parsed.append(Edit(e["file"], e["old"], e["new"]))
    files = raw.get("files") or {}
    if not isinstance(files, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in files.items()):
        raise CorpusError(f"{where}: `files` maps relative paths to contents")
    for name in files:
        if name.startswith("/") or ".." in Path(name).parts:
            raise CorpusError(f"{where}: file {name!r} must stay inside the submission")
    if not parsed and not files:
        raise CorpusError(f"{where}: a {kind} must change something (edits or files)")
    base = raw.get("base", "reference")
    if base not in BASES:
        raise CorpusError(f"{where}: base must be one of {BASES}")
    case = Case(kind=kind, id=ident, description=" ".join(raw["description"].split()), source=where,
                base=base, edits=parsed, files=dict(files), quick=bool(raw.get("quick", False)))
    selectors: list[str] = []
    if kind == "mutant":
        case.part = raw.get("part")
        if not isinstance(case.part, str):
            raise CorpusError(f"{where}: a mutant names its `part`")
        case.fails = [str(s) for s in _as_list(raw.get("fails"))]
        case.determinism = bool(raw.get("determinism", False))
        mistake = raw.get("mistake")
        if mistake is not None and (not isinstance(mistake, str) or not mistake.strip()):
            raise CorpusError(f"{where}: `mistake` is the name of a mistake class")
        case.mistake = mistake
        selectors = case.fails
    elif kind == "variant":
        case.exempt = [str(s) for s in _as_list(raw.get("exempt"))]
        selectors = case.exempt
    else:
        for key in ("max_score", "min_score"):
            value = raw.get(key)
            if value is not None and value != "full" and not isinstance(value, (int, float)):
                raise CorpusError(f"{where}: {key} is a number or \"full\"")
            setattr(case, key, value)
        case.lose = [str(s) for s in _as_list(raw.get("lose"))]
        case.others_pass = bool(raw.get("others_pass", False))
        case.grader_error_ok = bool(raw.get("grader_error_ok", False))
        case.requires_root = bool(raw.get("requires_root", False))
        case.shows = [str(s) for s in _as_list(raw.get("shows"))]
        if case.max_score is None and case.min_score is None and not case.lose:
            raise CorpusError(f"{where}: a hostile case needs max_score, min_score or tests it must lose")
        selectors = case.lose
    for s in selectors:
        problem = _selector_problem(s)
        if problem:
            raise CorpusError(f"{where}: {problem}")
    return case


def load_corpus(root: Path) -> Corpus:
    """parts.yaml, mutants/*.yaml, variants.yaml and hostile.yaml below `root`, checked."""
    root = Path(root)
    parts_doc = _yaml_load(root / "parts.yaml") if (root / "parts.yaml").exists() else None
    if not isinstance(parts_doc, dict) or not isinstance(parts_doc.get("parts"), dict):
        raise CorpusError(f"{root / 'parts.yaml'}: needs a `parts` mapping")
    parts = {}
    for name, spec in parts_doc["parts"].items():
        spec = spec if isinstance(spec, dict) else {"tests": spec}
        tests = [str(s) for s in _as_list(spec.get("tests"))]
        if not tests:
            raise CorpusError(f"parts.yaml: part {name!r} lists no test selectors")
        for s in tests:
            problem = _selector_problem(s)
            if problem:
                raise CorpusError(f"parts.yaml: part {name!r}: {problem}")
        parts[name] = Part(name, tests, str(spec.get("description", "")))
    integration = [str(s) for s in _as_list(parts_doc.get("integration"))]
    for s in integration:
        problem = _selector_problem(s)
        if problem:
            raise CorpusError(f"parts.yaml: integration: {problem}")

    mistakes = parts_doc.get("mistakes") or {}
    if not isinstance(mistakes, dict) or not all(isinstance(k, str) for k in mistakes):
        raise CorpusError("parts.yaml: `mistakes` maps each class of mistake to what it means")
    neutral = [str(s) for s in _as_list(parts_doc.get("neutral_hints"))]

    files = [(kind, path) for kind, path in
             [("mutant", p) for p in sorted((root / "mutants").glob("*.yaml"))]
             + [("variant", root / "variants.yaml"), ("hostile", root / "hostile.yaml")]
             if path.exists()]
    cases: list[Case] = []
    for kind, path in files:
        doc = _yaml_load(path)
        key = {"mutant": "mutants", "variant": "variants", "hostile": "hostile"}[kind]
        entries = doc.get(key) if isinstance(doc, dict) else None
        if not isinstance(entries, list):
            raise CorpusError(f"{path}: needs a list `{key}`")
        for i, raw in enumerate(entries):
            cases.append(_parse_case(kind, raw, f"{path.relative_to(root)}[{i}]"))
    seen: dict[str, str] = {}
    for case in cases:
        if case.id in seen or case.id in BASES:
            raise CorpusError(f"{case.source}: id {case.id!r} is already used ({seen.get(case.id, 'reserved')})")
        seen[case.id] = case.source
        if case.kind == "mutant" and case.part not in parts:
            raise CorpusError(f"{case.source}: part {case.part!r} is not in parts.yaml")
        if case.kind == "mutant" and mistakes and case.mistake not in mistakes:
            raise CorpusError(f"{case.source}: `mistake` must be one of parts.yaml's mistakes"
                              + (f", not {case.mistake!r}" if case.mistake else ""))
    return Corpus(root, parts, integration, cases, {str(k): str(v) for k, v in mistakes.items()}, neutral)


# ================================================================ applying edits


def _indent_of(line: str) -> int:
    return len(line) - len(line.lstrip())


def _block(snippet: str) -> list[str]:
    return textwrap.dedent(snippet).strip("\n").split("\n")


def _find_block(lines: list[str], block: list[str]) -> list[tuple[int, str]]:
    """Where the lines of `block` occur in `lines` with one extra indentation prefix."""
    first_indent = _indent_of(block[0])
    hits = []
    for i in range(len(lines) - len(block) + 1):
        line = lines[i]
        if line.strip() != block[0].strip() or _indent_of(line) < first_indent:
            continue
        prefix = line[: _indent_of(line) - first_indent]
        if all((b.strip() == "" and f.strip() == "") or f == prefix + b
               for b, f in zip(block, lines[i:i + len(block)])):
            hits.append((i, prefix))
    return hits


def edit_span(text: str, edit: Edit) -> tuple[int, int, str]:
    """(first line, last line, new text) of applying `edit` to `text`; lines are 1-based.

    Both snippets on one line: `old` is a substring that must occur exactly once. Otherwise
    `old` is a block of whole lines, matched at any indentation (YAML block scalars lose it)
    exactly once, and `new` is re-indented to match."""
    if "\n" not in edit.old.strip("\n") and "\n" not in edit.new.strip("\n"):
        old, new = edit.old.strip("\n"), edit.new.strip("\n")
        count = text.count(old)
        if count != 1:
            raise CorpusError(f"{edit.file}: the snippet {old!r} occurs {count} times (must be once)")
        start = text.index(old)
        first = text.count("\n", 0, start) + 1
        return first, first + old.count("\n"), text.replace(old, new, 1)
    lines = text.split("\n")
    block = _block(edit.old)
    hits = _find_block(lines, block)
    if len(hits) != 1:
        raise CorpusError(f"{edit.file}: the block starting {block[0].strip()!r} occurs "
                          f"{len(hits)} times (must be once)")
    i, prefix = hits[0]
    new_lines = [prefix + l if l.strip() else "" for l in _block(edit.new)] if edit.new.strip() else []
    lines[i:i + len(block)] = new_lines
    return i + 1, i + len(block), "\n".join(lines)


def substitute(text: str, values: dict[str, str]) -> str:
    for key, value in values.items():
        text = text.replace(key, value)
    return text


def materialise(case: Case, bases: dict[str, Path], dest: Path, values: dict[str, str] | None = None) -> Path:
    """Write the case's submission to `dest`: its base, edited, plus its new files."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "predictions.npy")
    shutil.copytree(bases[case.base], dest, ignore=ignore)
    values = values or {}
    for edit in case.edits:
        path = dest / edit.file
        if not path.is_file():
            raise CorpusError(f"{case.source}: no file {edit.file} in the {case.base}")
        _, _, text = edit_span(path.read_text(encoding="utf-8"),
                               Edit(edit.file, substitute(edit.old, values), substitute(edit.new, values)))
        path.write_text(text, encoding="utf-8")
    for name, content in case.files.items():
        path = dest / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(substitute(content, values), encoding="utf-8")
    for path in sorted(dest.rglob("*.py")):
        try:
            compile(path.read_text(encoding="utf-8"), str(path), "exec")
        except SyntaxError as err:
            raise CorpusError(f"{case.source}: {path.relative_to(dest)} does not compile after the edits: {err}") from None
    return dest


# ================================================================ the live suite and selectors


@dataclasses.dataclass(frozen=True)
class SuiteTest:
    key: str          # the pytest node id (or the name when there is none)
    name: str
    number: str
    tags: tuple[str, ...]
    max_score: float
    function: str
    file: str

    def label(self) -> str:
        return self.number or self.function


def suite_tests(doc: dict) -> list[SuiteTest]:
    found = []
    for t in doc.get("tests", []):
        nodeid = str((t.get("extra_data") or {}).get("nodeid") or t.get("name", ""))
        path, _, function = nodeid.partition("::")
        found.append(SuiteTest(key=nodeid, name=str(t.get("name", "")), number=str(t.get("number", "")),
                               tags=tuple(t.get("tags") or ()), max_score=float(t.get("max_score", 0)),
                               function=function.split("[")[0] or str(t.get("name", "")),
                               file=Path(path).name if function else ""))
    return found


def matches(selector: str, test: SuiteTest) -> bool:
    kind, pattern = selector.split(":", 1)
    if kind == "tag":  # tag:a+b needs both; tag:a+!b needs a and not b
        return all((t[1:] not in test.tags) if t.startswith("!") else (t in test.tags)
                   for t in pattern.split("+"))
    if kind == "test":
        return fnmatch.fnmatchcase(test.function, pattern) or fnmatch.fnmatchcase(test.name, pattern)
    if kind == "number":
        return fnmatch.fnmatchcase(test.number, pattern)
    return fnmatch.fnmatchcase(test.file, pattern)


def select(selectors: Iterable[str], tests: Iterable[SuiteTest]) -> list[SuiteTest]:
    selectors = list(selectors)
    return [t for t in tests if any(matches(s, t) for s in selectors)]


# ================================================================ grading many submissions


@dataclasses.dataclass
class Job:
    label: str          # e.g. "mutant dense-forward-no-bias"
    submission: Path
    out: Path
    extra: tuple[str, ...] = ()
    timeout_s: float | None = None


@dataclasses.dataclass
class Graded:
    job: Job
    doc: dict
    seconds: float


def run_jobs(jobs: list[Job], workers: int, grade_fn: Callable[..., dict], users: list[str | None],
             progress: Callable[[Graded, int, int], None] | None = None) -> list[Graded]:
    """Grade every job, `workers` at a time, each slot with its own sandbox user. Results
    come back in the order of `jobs`."""
    def one(job: Job, user: str | None, slot: int) -> Graded:
        started = time.monotonic()
        kwargs: dict[str, Any] = {"out": job.out, "extra_pytest_args": job.extra, "timeout_s": job.timeout_s}
        if user is not None:
            kwargs["sandbox_user"] = user
        try:
            doc = grade_fn(job.submission, **kwargs)
        except Exception as err:  # noqa: BLE001 - one broken grading must not hide the others
            doc = results_mod.grader_error(f"validate: grading raised {type(err).__name__}: {err}")
        return Graded(job, doc, time.monotonic() - started)

    done: list[Graded] = []

    def finished(graded: Graded) -> None:
        done.append(graded)
        if progress:
            progress(graded, len(done), len(jobs))

    graded = run_on_slots(jobs, users[:max(workers, 1)], one, finished)
    order = {id(job): index for index, job in enumerate(jobs)}
    return sorted(graded, key=lambda g: order[id(g.job)])


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


# ================================================================ checking the results


def is_grader_error(doc: dict) -> bool:
    return results_mod.is_incomplete(doc)


def test_scores(doc: dict) -> dict[str, tuple[float, float]]:
    """key -> (score, max_score) for every test of a results document."""
    return {t.key: (float(raw.get("score", 0)), float(raw.get("max_score", 0)))
            for t, raw in zip(suite_tests(doc), doc.get("tests", []))}


def outputs(doc: dict) -> dict[str, str]:
    return {t.key: str(raw.get("output", "")) for t, raw in zip(suite_tests(doc), doc.get("tests", []))}


def hint_classes(doc: dict) -> dict[str, list]:
    """key -> the mistake classes of the hints in each failed test's feedback (its
    extra_data["hints"]; None for a hint that names no class)."""
    found = {}
    for t, raw in zip(suite_tests(doc), doc.get("tests", [])):
        hints = (raw.get("extra_data") or {}).get("hints")
        if float(raw.get("score", 0)) < float(raw.get("max_score", 0)) - 1e-9 and isinstance(hints, list) and hints:
            found[t.key] = [h if isinstance(h, str) else None for h in hints]
    return found


def lost_points(doc: dict) -> dict[str, float]:
    return {key: m - s for key, (s, m) in test_scores(doc).items() if s < m - 1e-9}


def total(doc: dict) -> float:
    return float(sum(m for _, m in test_scores(doc).values()))


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
    found = list(results_mod.problems(doc))
    try:
        import jsonschema

        schema = json.loads(results_mod.SCHEMA_PATH.read_text())
        found += [f"schema: {e.message}" for e in jsonschema.Draft7Validator(schema).iter_errors(doc)]
    except ImportError:  # the grading image has no jsonschema; problems() checks the same rules
        pass
    return found


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
    if "WorkerCrashed" in output or "Grader error" in output or "could not check your result" in output:
        return "crash"
    if "Time limit" in output or "WorkerTimeout" in output or "did not finish within" in output:
        return "time limit"
    return "property"


def headline(output: str) -> str:
    """The line of a failure message that says what happened."""
    lines = [l.strip() for l in output.splitlines() if l.strip() and not l.strip().startswith("```")]
    telling = [l for l in lines if any(w in l for w in ("Error", "Worker", "Worst", "returned", "Time limit"))]
    return ((telling or lines or [""])[0])[:200]


# ================================================================ figures and the matrix


def figures(mutants: list[MutantResult], correct: list[Verdict]) -> dict[str, Any]:
    killed = sum(1 for m in mutants if m.killed)
    blames = [m.blame for m in mutants if m.killed and m.blame is not None]
    own = sum(m.own_lost for m in mutants if m.killed)
    foreign = sum(m.foreign_lost for m in mutants if m.killed)
    integ = sum(m.integration_lost for m in mutants if m.killed)
    declared = [m for m in mutants if m.killed and m.case.mistake]
    diagnosed = sum(1 for m in declared if m.diagnosed)
    tests_run = sum(len(verdict_scores(v)) for v in correct)
    tests_failed = sum(len(v.lost) - len(v.extra.get("exempt_lost", {})) for v in correct)
    return {
        "mutants": len(mutants), "killed": killed,
        "kill_rate": killed / len(mutants) if mutants else None,
        "blame_precision_mean": sum(blames) / len(blames) if blames else None,
        "blame_precision_pooled": own / (own + foreign) if own + foreign > 0 else None,
        "blame_precision_with_integration": own / (own + foreign + integ) if own + foreign + integ > 0 else None,
        "diagnosed": diagnosed, "diagnosable": len(declared),
        "diagnosis_rate": diagnosed / len(declared) if declared else None,
        "false_hints": sum(len(m.false_hints) for m in mutants),
        "correct_submissions": len(correct), "correct_test_runs": tests_run,
        "false_failures": tests_failed,
        "false_fail_rate": tests_failed / tests_run if tests_run else None,
    }


def verdict_scores(verdict: Verdict) -> dict:
    return verdict.extra.get("scores", {})


def pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}%"


def kill_matrix(mutants: list[MutantResult], suite: list[SuiteTest], width: int = 120) -> str:
    """Rows: mutants. Columns: every test some mutant failed, in suite order. Cells:
    'X' lost points in its own part, 'i' in an integration test, 'x' elsewhere, '.' passed."""
    failed_keys = {k for m in mutants for k in m.verdict.lost}
    columns = [t for t in suite if t.key in failed_keys]
    if not columns:
        return "(no mutant failed any test)"
    labels = [t.label() for t in columns]
    name_w = min(max(len(m.case.id) for m in mutants), 40)
    height = max(len(l) for l in labels)
    lines = []
    for row in range(height):
        cells = "".join((l.rjust(height)[row]) for l in labels)
        lines.append(" " * (name_w + 9) + cells)
    lines.append(" " * (name_w + 9) + "-" * len(columns))
    for m in mutants:
        own = {t.key for t in m.part_tests} | {t.key for t in m.own_tests}
        integ = {t.key for t in m.integration}
        cells = "".join(("X" if t.key in own else "i" if t.key in integ else "x") if t.key in m.verdict.lost else "."
                        for t in columns)
        status = "killed" if m.killed else "ALIVE "
        lines.append(f"{m.case.id[:name_w]:<{name_w}}  {status} {cells}")
    lines.append("")
    lines.append("X lost points in its own part, i in an integration test, x elsewhere; columns are test numbers:")
    legend = [f"{t.label()} {t.function}" for t in columns]
    col_w = max(len(s) for s in legend) + 2
    per_line = max(1, width // col_w)
    for i in range(0, len(legend), per_line):
        lines.append("  " + "".join(s.ljust(col_w) for s in legend[i:i + per_line]).rstrip())
    return "\n".join(lines)


# ================================================================ the command


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
    from autograder.grading import load_course

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
    def __init__(self, args, course, corpus: Corpus, work: Path, grade_fn: Callable[..., dict] | None = None):
        from autograder.grading import grade, load_course

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

    def job(self, label: str, submission: Path, mode: str | None, tag: str = "", extra: tuple = ()) -> Job:
        name = re.sub(r"[^\w.-]+", "_", label + tag)
        args = ("-p", "autograder.validate", "--validation-mode", mode) if mode else ()
        return Job(label, submission, self.work / "results" / f"{name}.json", args + tuple(extra),
                   self.args.timeout)

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

    # -- the run
    def run(self) -> int:
        started = time.monotonic()
        try:
            if self.args.randomised:
                self.randomised()
            else:
                self.corpus_run()
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

    def corpus_run(self) -> None:
        args = self.args
        cases = [c for c in self.corpus.cases if self.selected(c)]
        skipped_root = [c for c in cases if c.kind == "hostile" and c.requires_root and os.geteuid() != 0]
        cases = [c for c in cases if c not in skipped_root]
        want_template = not args.only or any(fnmatch.fnmatchcase("template", p) for p in args.only)
        mode_for_failing = None if args.exact else "fast"
        counts = {k: sum(1 for c in cases if c.kind == k) for k in KINDS}
        self.say(f"validate: {'quick subset' if args.quick else 'full corpus'}: reference, "
                 f"{'template, ' if want_template else ''}{counts['variant']} variants, "
                 f"{counts['mutant']} mutants, {counts['hostile']} hostile; {args.jobs} at a time")
        for c in skipped_root:
            self.say(f"  (hostile {c.id} needs root to mean anything; not run as uid {os.geteuid()})")

        chosen = [c for c in cases if c.kind == "mutant" and c.determinism][:3]
        if len(chosen) < 3 and not args.only and not args.no_determinism:
            self.violation(f"determinism: the corpus marks {len(chosen)} mutants for the check; 3 are needed")
        # The reference grades alongside the rest: only the verdicts need the suite it lists.
        jobs = [self.job("reference", self.course.reference, None)]
        if want_template:
            jobs.append(self.job("template", self.course.template, mode_for_failing))
        for case in cases:
            # Mutants, and attacks on the template (which fail every test anyway), in fast mode;
            # attacks on the reference as for students, time limits and shrinking included.
            mode = mode_for_failing if case.kind == "mutant" or case.base == "template" else None
            jobs.append(self.job(f"{case.kind} {case.id}", self.submission(case), mode))
        if not args.no_determinism:
            # Graded as for students (no validation mode): the reference once more, the chosen
            # mutants twice. The same pool, so these overlap with the rest.
            jobs.append(self.job("reference", self.course.reference, None, "-again"))
            for case in chosen:
                for attempt in (1, 2):
                    jobs.append(self.job(f"mutant {case.id}", self.work / "submissions" / case.id, None,
                                         f"-again{attempt}"))
        # Likely slow ones first, so that the pool does not end waiting on one long grading.
        jobs.sort(key=lambda j: 0 if j.label.startswith(("hostile", "template")) else 1)
        graded = self.grade_all(jobs)
        by_label: dict[str, list[Graded]] = {}
        for g in graded:
            by_label.setdefault(g.job.label, []).append(g)
        main = {label: g for label, gs in by_label.items() for g in gs if "-again" not in g.job.out.name}
        again = {label: [g for g in gs if "-again" in g.job.out.name] for label, gs in by_label.items()}

        # The reference defines the live suite every selector is resolved against.
        ref = main.pop("reference")
        suite = suite_tests(ref.doc)
        ref_verdict = check_full("reference", "reference", ref)
        self.record([ref_verdict])
        if not suite or is_grader_error(ref.doc):
            self.violation("the reference could not be graded; nothing else can be judged")
            return
        self.report["suite"] = [dataclasses.asdict(t) for t in suite]
        self.check_selectors(suite)

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
                m = check_mutant(case, g, self.corpus, suite)
                mutants.append(m)
                verdicts.append(m.verdict)
            else:
                verdicts.append(check_hostile(case, g, suite, secret_markers(self.course, case.base), self.values))
        self.record(verdicts)
        self.print_mutants(mutants, suite)
        stats = figures(mutants, correct)
        self.report["figures"] = stats
        self.print_figures(stats, mutants, correct, skipped_root)
        blame = stats["blame_precision_mean"]
        if not args.quick and not args.only and blame is not None and blame < args.min_blame:
            self.violation(f"blame precision {pct(blame)} is under the {pct(args.min_blame)} target")
        diagnosis = stats["diagnosis_rate"]
        if not args.quick and not args.only and diagnosis is not None and diagnosis < args.min_diagnosis:
            self.violation(f"diagnosis rate {pct(diagnosis)} is under the {pct(args.min_diagnosis)} target")
        for m in mutants:  # a wrong hint is worse than none, on any subset
            for key, mistake in m.false_hints:
                self.violation(f"mutant {m.case.id} ({m.case.mistake}): {key} gives a hint about {mistake}")
        if not args.no_determinism:
            pairs = {"reference": [ref] + again.get("reference", [])}
            pairs.update({f"mutant {c.id}": again.get(f"mutant {c.id}", []) for c in chosen})
            self.determinism(pairs, main)

    def check_selectors(self, suite: list[SuiteTest]) -> None:
        """Parts whose selectors match no test: a part the suite does not grade."""
        empty = [p.name for p in self.corpus.parts.values() if not select(p.tests, suite)]
        self.report["untested_parts"] = empty
        for name in empty:
            self.say(f"  part {name!r}: no test in the suite matches {', '.join(self.corpus.parts[name].tests)}")

    def record(self, verdicts: list[Verdict]) -> None:
        for v in verdicts:
            self.report.setdefault("verdicts", []).append(
                {"label": v.label, "kind": v.kind, "ok": v.ok, "problems": v.problems, "score": v.score,
                 "max_score": v.max_score, "seconds": round(v.seconds, 1), "lost": v.lost,
                 **{k: x for k, x in v.extra.items() if k != "scores"}})
            if not v.ok:
                self.violation(f"{v.label}: " + "; ".join(v.problems))

    def print_mutants(self, mutants: list[MutantResult], suite: list[SuiteTest]) -> None:
        if not mutants:
            return
        self.say()
        self.say("Kill matrix")
        self.say(kill_matrix(mutants, suite))
        self.report["mutants"] = [
            {"id": m.case.id, "part": m.case.part, "description": m.case.description, "killed": m.killed,
             "own_tests": [t.label() for t in m.own_tests], "lost": m.verdict.lost,
             "blame": m.blame, "own_lost": m.own_lost, "foreign_lost": m.foreign_lost,
             "integration_lost": m.integration_lost, "mistake": m.case.mistake, "diagnosed": m.diagnosed,
             "right_hints": m.right_hints, "false_hints": [list(f) for f in m.false_hints],
             "untagged_hints": m.untagged_hints} for m in mutants]
        alive = [m for m in mutants if not m.killed]
        if alive:
            self.say()
            self.say(f"Surviving mutants ({len(alive)}):")
            for m in alive:
                self.say(f"  {m.case.id} [{m.case.part}]: {m.case.description}")
                self.say(f"      {'; '.join(m.verdict.problems)}")
        mis = [m for m in mutants if m.killed and m.blame is not None and m.blame < 1]
        if mis:
            self.say()
            self.say("Mutants that also lost points outside their part:")
            for m in mis:
                own = {t.key for t in m.part_tests} | {t.key for t in m.own_tests} | {t.key for t in m.integration}
                elsewhere = [k for k in m.verdict.lost if k not in own]
                self.say(f"  {m.case.id} [{m.case.part}] blame {pct(m.blame)}: also {', '.join(elsewhere)}")
        undiagnosed = [m for m in mutants if m.killed and m.case.mistake and not m.diagnosed]
        if undiagnosed:
            self.say()
            self.say("Mutants whose feedback does not name their mistake:")
            for m in undiagnosed:
                said = ([f"false: {k} says {c}" for k, c in m.false_hints]
                        + ([f"untagged in {', '.join(sorted(set(m.untagged_hints)))}"] if m.untagged_hints else [])
                        + ([] if m.right_hints or m.false_hints else ["no hint of its class"]))
                self.say(f"  {m.case.id} ({m.case.mistake}): {'; '.join(said)}")

    def print_figures(self, stats: dict, mutants, correct, skipped_root) -> None:
        self.say()
        self.say("Figures")
        self.say(f"  kill rate          {pct(stats['kill_rate'])}  ({stats['killed']} of {stats['mutants']} mutants "
                 f"lose points in their own tests)")
        self.say(f"  blame precision    {pct(stats['blame_precision_mean'])} mean over killed mutants, "
                 f"{pct(stats['blame_precision_pooled'])} pooled over their lost points "
                 f"({pct(stats['blame_precision_with_integration'])} counting integration tests as elsewhere)")
        self.say(f"  diagnosis rate     {pct(stats['diagnosis_rate'])}  ({stats['diagnosed']} of {stats['diagnosable']} "
                 f"killed mutants get a hint of their mistake class and none of another; "
                 f"{stats['false_hints']} false hints)")
        self.say(f"  false-fail rate    {pct(stats['false_fail_rate'])}  ({stats['false_failures']} failed of "
                 f"{stats['correct_test_runs']} tests run on {stats['correct_submissions']} correct submissions)")
        exempt = [(v.label, k) for v in correct for k in v.extra.get("exempt_lost", {})]
        for label, key in exempt:
            self.say(f"  (declared style-sensitive, not counted: {label} lost points in {key})")

    # -- determinism
    def determinism(self, pairs: dict[str, list[Graded]], main: dict[str, Graded]) -> None:
        self.say()
        self.say(f"Determinism: {', '.join(pairs)}: each graded twice as for students")
        rows = []
        for label, gradings in pairs.items():
            if len(gradings) != 2:
                self.violation(f"determinism: {label} was graded {len(gradings)} times, not twice")
                continue
            first, second = gradings
            diff = first_difference(comparable(first.doc), comparable(second.doc))
            row = {"label": label, "identical": diff is None, "difference": diff}
            line = f"  {label}: {'identical apart from execution_time' if diff is None else 'DIFFERENT at ' + diff}"
            if diff:
                self.violation(f"determinism: {label} graded twice differs at {diff}")
            fast = main.get(label)
            if fast is not None and fast.job.extra:
                # The kill matrix used fast mode; it must score exactly as the real mode does.
                row["fast_mode_scores_agree"] = test_scores(fast.doc) == test_scores(first.doc)
                line += "; fast-mode scores " + ("agree" if row["fast_mode_scores_agree"] else "DIFFER")
                if not row["fast_mode_scores_agree"]:
                    self.violation(f"fast mode: {label} scores differently without shrinking")
            self.say(line)
            rows.append(row)
        self.report["determinism"] = rows

    # -- randomised
    def randomised(self) -> None:
        args = self.args
        seeds = [random.SystemRandom().randrange(2**32) for _ in range(args.seeds)]
        self.say(f"validate --randomised: the reference under {len(seeds)} fresh seeds, "
                 f"{args.examples} examples per test, {args.jobs} at a time")
        jobs = [self.job(f"reference seed {s}", self.course.reference, "random",
                         extra=("--validation-examples", str(args.examples), f"--hypothesis-seed={s}"))
                for s in seeds]
        graded = self.grade_all(jobs)
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
        self.say()
        self.say(f"Reference under fresh seeds: {len(verdicts) - len(failed)} of {len(verdicts)} gradings gave "
                 f"full marks: false-fail rate {pct(rate)} per grading"
                 + (f" (under {pct(bound)} at 95% confidence)" if bound is not None else ""))
        self.say(f"  per test run: {sum(failed_tests.values())} failed of {runs}, {test_rate:.2e}"
                 + (f" (under {test_bound:.2e} at 95% confidence)" if test_bound is not None else ""))
        for key, n in sorted(failed_tests.items()):
            self.say(f"  {key}: failed under {n} seed(s)")
        failures = []
        for g, v in zip(graded, verdicts):
            for raw in g.doc.get("tests", []):
                key = (raw.get("extra_data") or {}).get("nodeid") or raw.get("name")
                if key in v.lost:
                    output = str(raw.get("output", ""))
                    failures.append({"grading": g.job.label, "test": key, "cause": failure_cause(output),
                                     "output": output[:4000]})
                    self.say(f"  {g.job.label}, {key}: {failure_cause(output)}: {headline(output)}")
        causes = {c: sum(1 for f in failures if f["cause"] == c) for c in ("property", "crash", "time limit")}
        self.say(f"  causes: {causes['property']} property failure(s) (the test's own verdict), "
                 f"{causes['crash']} worker crash(es) and {causes['time limit']} time limit(s) "
                 f"(the machine or the engine, not the test)")
        for t in statistical:
            self.say(f"  statistical test {t.label()} {t.function}: failed under {failed_tests.get(t.key, 0)} "
                     f"of {len(graded)} seeds")
        for v in failed:
            self.violation(f"{v.label}: " + "; ".join(v.problems))
        self.report["randomised"] = {"seeds": seeds, "examples": args.examples, "gradings": len(verdicts),
                                     "failed_gradings": len(failed), "rate": rate, "bound_95": bound,
                                     "test_rate": test_rate, "test_bound_95": test_bound,
                                     "test_runs": runs, "failed_tests": failed_tests, "failures": failures,
                                     "seconds": [round(g.seconds, 1) for g in graded]}


# ================================================================ pytest plugin (validation runs only)


def pytest_addoption(parser) -> None:
    group = parser.getgroup("validation", "autograder validate (never used for real grades)")
    group.addoption("--validation-mode", choices=("fast", "random"), default=None,
                    help="fast: no shrinking; random: fresh seed (--hypothesis-seed), more examples")
    group.addoption("--validation-examples", type=int, default=None, help="examples per test (random mode)")


@pytest.hookimpl(trylast=True)
def pytest_configure(config) -> None:
    """After the engine's plugin loaded its reproducible profile, adjust it for this run."""
    mode = config.getoption("--validation-mode")
    if mode is None:
        return
    from hypothesis import Phase, settings

    if mode == "fast":
        phases = tuple(p for p in settings.default.phases if p not in (Phase.shrink, Phase.explain))
        settings.register_profile("validation-fast", parent=settings.default, phases=phases)
        settings.load_profile("validation-fast")
        return
    extra = {}
    if config.getoption("--validation-examples"):
        extra["max_examples"] = config.getoption("--validation-examples")
    settings.register_profile("validation-random", parent=settings.default, derandomize=False, **extra)
    settings.load_profile("validation-random")
