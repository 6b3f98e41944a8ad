"""The validation corpus: reading it (parts.yaml, mutants/*.yaml, variants.yaml, hostile.yaml)
and materialising each case as a submission folder.

A case is a set of replacements over the reference or the template, never a full copy (the
format is in validation/README.md). Everything here is checked as it is read, and a
CorpusError names the file and the entry, so a malformed corpus never grades at all.
"""
from __future__ import annotations

import dataclasses
import re
import shutil
import textwrap
from pathlib import Path
from typing import Any

import yaml

from autograder.validate.degenerate import KINDS as RETURNS, make_degenerate

KINDS = ("mutant", "variant", "hostile", "degenerate")
BASES = ("reference", "template")
SELECTOR_KINDS = ("tag", "test", "number", "file")
# Placeholders a hostile snippet may use, so that an attack aims at the real targets.
PLACEHOLDERS = ("@@COURSE_ROOT@@", "@@RESULTS_DIR@@")


class CorpusError(Exception):
    """The corpus is malformed; the message names the file and the entry."""


# ================================================================ reading the corpus


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
    # degenerate: what every student-written function returns (autograder/validate/degenerate.py),
    # and the tests whose right answer is that value (it may earn their points)
    returns: str | None = None
    may_earn: list[str] = dataclasses.field(default_factory=list)


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
    "degenerate": {"returns", "may_earn"},
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
    if not parsed and not files and not (kind == "degenerate" and raw.get("returns")):
        raise CorpusError(f"{where}: a {kind} must change something (edits, files or, degenerate, returns)")
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
    elif kind == "degenerate":
        case.returns = raw.get("returns")
        if case.returns is not None and case.returns not in RETURNS:
            raise CorpusError(f"{where}: returns is one of {', '.join(RETURNS)}")
        if case.returns is not None and case.base != "reference":
            raise CorpusError(f"{where}: a degenerate `returns` applies to the reference")
        case.may_earn = [str(s) for s in _as_list(raw.get("may_earn"))]
        selectors = case.may_earn
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
             + [("variant", root / "variants.yaml"), ("hostile", root / "hostile.yaml"),
                ("degenerate", root / "degenerate.yaml")]
             if path.exists()]
    cases: list[Case] = []
    for kind, path in files:
        doc = _yaml_load(path)
        key = {"mutant": "mutants", "variant": "variants", "hostile": "hostile", "degenerate": "degenerate"}[kind]
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
    if case.returns:
        make_degenerate(dest, case.returns)
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

