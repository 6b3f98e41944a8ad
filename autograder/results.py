"""The results.json model and its writer.

Only the trusted process writes results.json, and it always writes a complete, valid
document: a temporary file in the same directory is filled, flushed to disk and then
renamed over the old one (os.replace is atomic on POSIX), so a reader, or Gradescope after
a kill, sees either the previous valid file or the new one, never half of one.

The shape follows Gradescope's specification (results.schema.json beside this file).
`problems()` checks the same rules without jsonschema, because the grading image installs
only what grading needs; the project's tests check every document with jsonschema itself.
"""
from __future__ import annotations

import json
import math
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from autograder.atomic import write_text_atomic
from autograder.untrusted import code_span, fence, live_markup

SCHEMA_PATH = Path(__file__).with_name("results.schema.json")

# Set by the project's tests: live markup in an output is then an error, not a repair.
STRICT_MARKDOWN_ENV = "AUTOGRADER_STRICT_MARKDOWN"

VISIBILITIES = ("hidden", "after_due_date", "after_published", "visible")
FORMATS = ("text", "html", "simple_format", "md", "ansi")
TEST_KEYS = {"score", "max_score", "status", "name", "name_format", "number", "output",
             "output_format", "tags", "visibility", "extra_data"}
TOP_KEYS = {"score", "execution_time", "output", "output_format", "test_output_format",
            "test_name_format", "visibility", "stdout_visibility", "extra_data", "tests",
            "leaderboard"}

# What a student may see of their own program's output, per test and in total.
STUDENT_OUTPUT_CAP = 3000


@dataclass
class TestEntry:
    """One Gradescope test. `extra_data` carries the pytest node id for TA tools."""

    name: str
    max_score: float
    score: float = 0.0
    status: str = "failed"
    number: str | None = None
    output: str = ""
    tags: list[str] = field(default_factory=list)
    visibility: str = "visible"
    extra_data: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "name": self.name,
            "score": clean_number(self.score),
            "max_score": clean_number(self.max_score),
            "status": self.status,
            "output": self.output,
            "output_format": "md",
            "tags": [str(t) for t in self.tags],
            "visibility": self.visibility if self.visibility in VISIBILITIES else "visible",
        }
        if self.number is not None:
            entry["number"] = str(self.number)
        if self.extra_data:
            entry["extra_data"] = dict(self.extra_data)
        return entry


def clean_number(value: Any) -> float:
    """A finite float rounded to 6 places: JSON has no NaN, and 0.1+0.2 should print as 0.3."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return 0.0
    if not math.isfinite(number):
        return 0.0
    rounded = round(number, 6)
    return int(rounded) if rounded == int(rounded) and abs(rounded) < 2**53 else rounded


def assemble(tests: Iterable[TestEntry], *, output: str, execution_time: float,
             leaderboard: Iterable[dict[str, Any]] = ()) -> dict[str, Any]:
    """The whole document. The top-level score is always the sum of the test scores. Tests
    are listed in `number` order ("1.10" after "1.9"), as Gradescope shows them; tests
    without a number (e.g. a file that could not be loaded) come last, in their order."""
    entries = sorted((t.to_json() for t in tests), key=number_key)
    return {
        "score": clean_number(sum(e["score"] for e in entries)),
        "execution_time": clean_number(max(execution_time, 0.0)),
        "output": output,
        "output_format": "md",
        "stdout_visibility": "hidden",
        "tests": entries,
        "leaderboard": list(leaderboard),
    }


def number_key(test: dict[str, Any]) -> tuple:
    """Gradescope's order: by number, part by part, numerically where a part is a number."""
    number = str(test.get("number") or "")
    if not number:
        return (1,)
    return (0, *[(0, int(p), "") if p.isdigit() else (1, 0, p) for p in number.split(".")])


def fallback(explanation: str) -> dict[str, Any]:
    """What results.json says before grading has produced anything: zero, and why."""
    return {
        "score": 0,
        "execution_time": 0,
        "output": explanation,
        "output_format": "md",
        "stdout_visibility": "hidden",
        "tests": [],
        "leaderboard": [],
    }


FALLBACK_TEXT = (
    "**Grading did not finish.** The autograder stopped before it could report any result "
    "(this usually means the whole run was killed, for example for using too much memory "
    "or time). This is not a judgement of your code; please contact the course staff."
)

GRADER_ERROR_TEXT = (
    "**Grader error.** Something went wrong inside the autograder itself, not in your "
    "code, so this score is not your grade. The course staff have the details."
)


# The openings of a top-level output that say the run did not complete. Only the trusted
# side writes them (fallback, grader_error, the plugin's unfinished run); TA tools read them.
DID_NOT_FINISH = "**Grading did not finish"
INCOMPLETE_OPENINGS = (GRADER_ERROR_TEXT.split(" Something")[0], DID_NOT_FINISH)


def did_not_finish(reason: str) -> str:
    """The opening of an output that says the run stopped early, and why (Markdown)."""
    return f"{DID_NOT_FINISH}:** {reason}"


def is_incomplete(doc: dict[str, Any]) -> bool:
    """True when results.json says that grading did not complete (so its score is no grade)."""
    return str(doc.get("output") or "").startswith(INCOMPLETE_OPENINGS)


def format_points(value: Any) -> str:
    """Points as people write them: 5, 2.5, 97.375, to the 6 decimals results.json keeps
    (never an exponent, never a digit lost to 6 significant figures: scores.csv is compared
    by `diff`); anything else as it is."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    if not math.isfinite(number):
        return str(number)
    rounded = round(number, 6)
    if rounded == int(rounded):
        return str(int(rounded))
    return f"{rounded:.6f}".rstrip("0")


def grader_error(detail: str = "", tests: Iterable[TestEntry] = (),
                 execution_time: float = 0.0) -> dict[str, Any]:
    """A valid document that says the grader failed. Score 0: an unfinished run earns nothing
    until staff look; the tests that did run stay listed so staff can see how far it got."""
    text = GRADER_ERROR_TEXT + (f"\n\n{detail}" if detail else "")
    doc = assemble(tests, output=text, execution_time=execution_time)
    doc["score"] = 0
    return doc


class LiveMarkup(ValueError):
    """An output field would render raw HTML, a link or an image: student text escaped its
    code span or fence somewhere, which is a grader bug."""


def write_atomic(path: Path | str, results: dict[str, Any], *, staff_log=None) -> None:
    """Replace `path` with `results` in one step. Raises ValueError on an invalid document.
    Every output field is checked first (inert_outputs); `staff_log(line)` hears of repairs."""
    found = problems(results)
    if found:
        raise ValueError("refusing to write invalid results.json: " + "; ".join(found))
    results = inert_outputs(results, staff_log)
    write_text_atomic(path, json.dumps(results, indent=2, allow_nan=False, ensure_ascii=False) + "\n")


def inert_outputs(doc: dict[str, Any], staff_log=None) -> dict[str, Any]:
    """`doc` with no output field that renders raw HTML, a link or an image (CommonMark).
    Our templates write none, so one is student text that escaped its code span: with
    $AUTOGRADER_STRICT_MARKDOWN set (the project's tests) that raises LiveMarkup; otherwise
    the field is shown as a fenced block of its own source, inert, and staff are told."""

    def checked(where: str, text: Any) -> Any:
        live = live_markup(text) if isinstance(text, str) and text else ()
        if not live:
            return text
        line = f"autograder: GRADER BUG: live markup in {where} ({'; '.join(live[:3])}); shown escaped"
        if os.environ.get(STRICT_MARKDOWN_ENV):
            raise LiveMarkup(f"{line}:\n{text[:3000]}")
        (staff_log or (lambda s: sys.stderr.write(s + "\n")))(line)
        return fence(text) if where.endswith("output") else code_span(text, cap=200)

    out = dict(doc)
    if "output" in out:
        out["output"] = checked("output", out["output"])
    if isinstance(out.get("tests"), list):
        out["tests"] = [dict(test, **{key: checked(f"tests[{i}].{key}", test[key])
                                      for key in ("name", "output") if key in test})
                        for i, test in enumerate(out["tests"])]
    return out


def read(path: Path | str) -> dict[str, Any]:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def problems(doc: Any) -> list[str]:
    """Rule violations of Gradescope's specification (the schema's rules, in plain Python)."""
    found: list[str] = []

    def is_number(v: Any) -> bool:
        return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)

    if not isinstance(doc, dict):
        return ["the document is not an object"]
    found += [f"unknown top-level key {k!r}" for k in doc if k not in TOP_KEYS]
    for key in ("score", "execution_time"):
        if key in doc and not is_number(doc[key]):
            found.append(f"{key} is not a finite number")
    for key in ("output",):
        if key in doc and not isinstance(doc[key], str):
            found.append(f"{key} is not a string")
    for key in ("output_format", "test_output_format", "test_name_format"):
        if key in doc and doc[key] not in FORMATS:
            found.append(f"{key} {doc[key]!r} is not a format")
    for key in ("visibility", "stdout_visibility"):
        if key in doc and doc[key] not in VISIBILITIES:
            found.append(f"{key} {doc[key]!r} is not a visibility")
    tests = doc.get("tests", [])
    if not isinstance(tests, list):
        return found + ["tests is not a list"]
    for i, test in enumerate(tests):
        if not isinstance(test, dict):
            found.append(f"tests[{i}] is not an object")
            continue
        found += [f"tests[{i}]: unknown key {k!r}" for k in test if k not in TEST_KEYS]
        for key in ("score", "max_score"):
            if key in test and not is_number(test[key]):
                found.append(f"tests[{i}].{key} is not a finite number")
        if "status" in test and test["status"] not in ("passed", "failed"):
            found.append(f"tests[{i}].status {test['status']!r}")
        for key in ("name", "number", "output"):
            if key in test and not isinstance(test[key], str):
                found.append(f"tests[{i}].{key} is not a string")
        if "visibility" in test and test["visibility"] not in VISIBILITIES:
            found.append(f"tests[{i}].visibility {test['visibility']!r}")
        if "output_format" in test and test["output_format"] not in FORMATS:
            found.append(f"tests[{i}].output_format {test['output_format']!r}")
        if "tags" in test and not (isinstance(test["tags"], list)
                                   and all(isinstance(t, str) for t in test["tags"])):
            found.append(f"tests[{i}].tags is not a list of strings")
    if "score" not in doc and not all(isinstance(t, dict) and "score" in t for t in tests):
        found.append("no top-level score and some test has no score")
    for i, row in enumerate(doc.get("leaderboard", [])):
        if not (isinstance(row, dict) and isinstance(row.get("name"), str)
                and (is_number(row.get("value")) or isinstance(row.get("value"), str))
                and row.get("order", "desc") in ("asc", "desc")
                and set(row) <= {"name", "value", "order"}):
            found.append(f"leaderboard[{i}] is malformed")
    return found


def fenced(text: str, cap: int = STUDENT_OUTPUT_CAP) -> str:
    """Untrusted text as a Markdown code block that it cannot break out of (the rule lives
    in autograder/untrusted.py): control characters dropped, capped, a fence longer than
    any run of backticks inside."""
    return fence(text, cap=cap)
