"""What the class report reads out of the results: the headline of a failure, the most
common failures per test, and zeros that look like a packaging mistake (nothing could be
imported). Plain text only; report.py escapes it."""
from __future__ import annotations

import collections
import re

from autograder.batch import natural_key
from autograder.regrade.tables import Row, is_informative, is_passed

MAX_MESSAGE = 200

# How a test's output opens when the submission's code could not be imported at all: the
# plugin names a missing file (plugin.missing_file_text), or the student's error is one
# raised while importing (autograder.sandbox.grader.errors: "Your code raised `SyntaxError` at ..."),
# or, when many tests failed on the same import, its short line (plugin/summary.py).
_IMPORT_FAILURE = re.compile(r"^\s*(?:\*\*)?(?:Your submission has no `|Not graded:\*\* "
                             r"|Your code raised `(?:ModuleNotFoundError|ImportError|SyntaxError|IndentationError"
                             r"|TabError)`)")
# Lines of the top-level output about the upload itself (submission.py's notes and warnings,
# and the static scan's files that do not parse).
_UPLOAD_NOTE = re.compile(r"Your submission has no |Your submission has none |Python cannot read this file|Your files were inside "
                          r"|No files were found")


def plain(line: str) -> str:
    """A line of our Markdown as plain text: heading, quote, list and emphasis marks and code
    backticks removed (names keep their underscores), whitespace collapsed."""
    text = re.sub(r"^\s*(?:[#>]+\s*)+", "", line)
    text = re.sub(r"^\s*[-*]\s+", "", text)
    text = re.sub(r"\*\*|`+", "", text)
    return re.sub(r"\s+", " ", text).strip(" -:")


def failure_message(test: dict) -> str:
    """The headline of a failed test's output: its first line with words, Markdown marks
    removed, numbers kept (they often say which case failed)."""
    for line in str(test.get("output") or "").splitlines():
        text = plain(line)
        if re.search(r"[A-Za-z]", text):
            return text[:MAX_MESSAGE] + ("…" if len(text) > MAX_MESSAGE else "")
    return "(no message)"


def failures_by_test(rows: list[Row], top: int) -> list[tuple[str, int, int, list[tuple[str, int]]]]:
    """[(test, failed, seen, [(message, count), ...])], worst pass rate first. Informative
    (0-point) tests lose no points, so they are not failures here."""
    counters: dict[str, collections.Counter] = {}
    seen: collections.Counter = collections.Counter()
    for row in rows:
        for label, test in row.tests():
            if is_informative(test):
                continue
            seen[label] += 1
            if not is_passed(test):
                counters.setdefault(label, collections.Counter())[failure_message(test)] += 1
    table = []
    for label, counter in counters.items():
        failed = sum(counter.values())
        ordered = sorted(counter.items(), key=lambda item: (-item[1], item[0]))
        table.append((label, failed, seen[label], ordered[:top]))
    table.sort(key=lambda entry: (-entry[1] / entry[2], natural_key(entry[0])))
    return table


def _said_at_the_top(output: str) -> list[str]:
    """The import failures the plugin states once at the top when many tests share them, and
    the modules it set aside at import (their first item: the file, line and error)."""
    lines, found = output.splitlines(), []
    for i, line in enumerate(lines):
        if "Your code could not be imported" not in line and "Part of your code stopped while it was imported" not in line:
            continue
        for following in lines[i + 1:]:
            text = re.sub(r"^In \d+ tests: ", "", plain(following))
            if re.search(r"[A-Za-z]", text):
                found.append(text[:MAX_MESSAGE])
                break
    return found


def import_failure(row: Row) -> list[str] | None:
    """Why a graded submission scored 0 because nothing of it could be imported (a likely
    packaging mistake: files nested in a folder, a package missing or misnamed, a file
    Python cannot read), as plain-text reasons; None when its zero has another cause.

    It counts when the total is 0 and most of the tests worth points failed at import."""
    results = row.results
    if not results or row.total() != 0:
        return None
    scored = [t for t in results.get("tests") or [] if not is_informative(t)]
    at_import = [t for t in scored if _IMPORT_FAILURE.match(str(t.get("output") or ""))]
    if not scored or 2 * len(at_import) <= len(scored):
        return None
    headlines = collections.Counter(failure_message(t) for t in at_import)
    reasons = _said_at_the_top(str(results.get("output") or ""))[:1] \
        or [sorted(headlines.items(), key=lambda item: (-item[1], item[0]))[0][0]]
    for line in str(results.get("output") or "").splitlines():
        text = plain(line)
        if _UPLOAD_NOTE.search(text) and text not in reasons:
            reasons.append(text[:MAX_MESSAGE])
    return reasons[:6]
