"""The live suite, read from a results.json, and the selectors that name its tests.

The reference's results.json lists the suite every selector is resolved against: a test is
found by tag, name, number or file (`tag:dense`, `test:test_mse_*`, `number:4.*`,
`file:test_layers.py`), so renaming a test never silently changes what a mutant is checked
against. The per-test readers (scores, outputs, hints) use the same keys.
"""
from __future__ import annotations

import dataclasses
import fnmatch
from pathlib import Path
from typing import Iterable


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


# ================================================================ reading a results document


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

