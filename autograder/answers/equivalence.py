"""Check 1: a kit function that holds a reference solution region, renamed or reformatted."""
from __future__ import annotations

import ast
import re
import textwrap
from dataclasses import dataclass
from pathlib import Path

from autograder.answers.normalise import functions_of, parsed_files, node_count, without_docstrings, local_conversions, normalised

BEGIN = re.compile(r"^[ \t]*# BEGIN SOLUTION")
END = re.compile(r"^[ \t]*# END SOLUTION\s*$")
MIN_NODES = 14  # smaller regions (a return of one attribute, a call) are not answers on their own
@dataclass(frozen=True)
class Region:
    file: str
    line: int
    statements: list

    def __hash__(self):
        return hash((self.file, self.line))


@dataclass(frozen=True)
class Match:
    kit_file: str
    function: str
    line: int
    region: Region

    def __str__(self) -> str:
        return (f"{self.kit_file}:{self.line} {self.function}() is the reference's solution at "
                f"{self.region.file}:{self.region.line}, renamed or reformatted")


def solution_regions(reference: Path) -> list[Region]:
    regions = []
    for path in sorted(reference.rglob("*.py")):
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
        start = None
        for number, line in enumerate(lines, start=1):
            if BEGIN.match(line):
                start = number
            elif END.match(line) and start is not None:
                body = textwrap.dedent("\n".join(lines[start:number - 1]))
                start_line, start = start, None
                try:
                    statements = ast.parse(body).body
                except SyntaxError:
                    continue  # a fragment that is not whole statements (rare): nothing to compare
                statements = without_docstrings(statements)
                if node_count(statements) >= MIN_NODES:
                    regions.append(Region(path.relative_to(reference).as_posix(), start_line, statements))
    return regions


def equivalent_functions(regions: list[Region], kit: list[tuple[str, str]]) -> list[Match]:
    """(archive name, source) of the kit's Python files -> every function holding a region."""
    by_length: dict[int, dict[str, Region]] = {}
    for region in regions:
        by_length.setdefault(len(region.statements), {})[normalised(region.statements)] = region
    found = []
    for name, tree in parsed_files(kit):
        conversions = local_conversions(tree)
        for function in functions_of(tree):
            body = without_docstrings(function.body)
            hit = None
            for length, wanted in by_length.items():
                for start in range(0, len(body) - length + 1):
                    hit = wanted.get(normalised(body[start:start + length], conversions))
                    if hit:
                        break
                if hit:
                    break
            if hit:
                found.append(Match(name, function.name, function.lineno, hit))
    return found
