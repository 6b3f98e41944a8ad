"""Does the student kit hold an answer? Two checks of the Python files that go to students.

1. Equivalence (fails the build): every reference solution region (the lines between
   `# BEGIN SOLUTION` and `# END SOLUTION`, see template.py) is parsed and normalised:
   docstrings dropped, every name (locals, arguments, modules) renamed by order of first
   use, numbers compared as floats. Each function of the kit is normalised the same way,
   and every run of consecutive statements of its body is compared with each region. A
   renamed, reformatted copy of a solution is then the same tree. Regions too small to be
   an answer (`return self.w`) are not compared: they would match innocent code.
2. Fingerprints (fail the build too): textual patterns of closed forms of the homework's
   parts (exp-normalise, the sigmoid and its derivative, a softmax Jacobian, MSE,
   cross-entropy, one-hot rows of an identity, RMSProp/Adam's second moment), in every
   function and in module-level code (a lambda in a table), strings blanked. They catch an
   oracle written differently from the reference. The suite's public tests name expected
   values through tests/graded/judge.py (closed forms stay in the hidden folder), so the kit
   has none; a finding is an answer about to ship, or code to reword.
"""
from __future__ import annotations

import ast
import copy
import re
import textwrap
from dataclasses import dataclass
from pathlib import Path

BEGIN = re.compile(r"^[ \t]*# BEGIN SOLUTION")
END = re.compile(r"^[ \t]*# END SOLUTION\s*$")
MIN_NODES = 14  # smaller regions (a return of one attribute, a call) are not answers on their own

FINGERPRINTS: list[tuple[str, re.Pattern]] = [
    ("exp-normalise (softmax)", re.compile(r"exp\([^\n]*-[^\n]*max\(|max\([^\n]*\n[^\n]*exp\([^\n]*\n[^\n]*/[^\n]*sum\("
                                           r"|exp\([^\n]*\)\s*/[^\n]*exp\([^\n]*\)\.sum\(")),
    ("logistic 1 / (1 + exp(-x)) (sigmoid)", re.compile(r"1(?:\.0)?\s*/\s*\(1(?:\.0)?\s*\+\s*[\w.]*exp\(\s*-")),
    ("y * (1 - y) (sigmoid derivative)", re.compile(r"\b(\w+)\s*\*\s*\(1(?:\.0)?\s*-\s*\1\)")),
    ("diag(y) - outer(y, y) (softmax Jacobian)",
     re.compile(r"(?:diag|eye|einsum)\([^\n]*\)[^\n]*-[^\n]*(?:outer|einsum|newaxis|None\])")),
    ("mean of squared differences (MSE)", re.compile(r"mean\(\s*\(?[^\n]*-[^\n]*\)?\s*\*\*\s*2")),
    ("-sum(y * log(p)) (cross-entropy)", re.compile(r"-\s*[\w.]*(?:sum|mean)\([^\n]*\*\s*[\w.]*log\(|\*\s*[\w.]*log\([^\n]*\)[^\n]*\.sum\(")),
    ("rows of an identity matrix (one-hot)", re.compile(r"(?:eye|identity)\([^\n]*\)\s*\[")),
    ("(1 - beta) * g ** 2 (RMSProp/Adam second moment)", re.compile(r"\(1\s*-\s*\w+\)\s*\*\s*\w+\s*\*\*\s*2")),
]


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


@dataclass(frozen=True)
class Fingerprint:
    kit_file: str
    function: str
    line: int
    formula: str

    def __str__(self) -> str:
        return f"{self.kit_file}:{self.line} {self.function}(): {self.formula}"


# ---------------------------------------------------------------- normalising


class _Canonical(ast.NodeTransformer):
    """Names renamed by order of first use; docstrings and annotations dropped; numbers as floats."""

    def __init__(self):
        self.names: dict[str, str] = {}

    def _name(self, name: str) -> str:
        return self.names.setdefault(name, f"v{len(self.names)}")

    def visit_Name(self, node):
        return ast.copy_location(ast.Name(id=self._name(node.id), ctx=ast.Load()), node)

    def visit_arg(self, node):
        return ast.copy_location(ast.arg(arg=self._name(node.arg), annotation=None), node)

    def visit_Constant(self, node):
        value = node.value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = float(value)
        return ast.copy_location(ast.Constant(value=value), node)

    def visit_AnnAssign(self, node):
        if node.value is None:
            return None
        return self.visit(ast.copy_location(ast.Assign(targets=[node.target], value=node.value), node))

    def visit_FunctionDef(self, node):
        node.returns = None
        node.decorator_list = []
        return self.generic_visit(node)

    visit_AsyncFunctionDef = visit_FunctionDef


def _without_docstrings(statements: list) -> list:
    return [s for s in statements
            if not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant) and isinstance(s.value.value, str))]


def normalised(statements: list) -> str:
    """A canonical dump of statements: equal for renamed or reformatted copies."""
    module = ast.Module(body=copy.deepcopy(_without_docstrings(statements)), type_ignores=[])
    canonical = _Canonical().visit(module)
    ast.fix_missing_locations(canonical)
    return ast.dump(canonical, annotate_fields=False, include_attributes=False)


def _size(statements: list) -> int:
    return sum(1 for s in statements for _ in ast.walk(s))


# ---------------------------------------------------------------- the reference's regions


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
                statements = _without_docstrings(statements)
                if _size(statements) >= MIN_NODES:
                    regions.append(Region(path.relative_to(reference).as_posix(), start_line, statements))
    return regions


# ---------------------------------------------------------------- the kit's functions


def _functions(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            yield node


def _parsed(kit: list[tuple[str, str]]):
    """(archive name, syntax tree) of each kit file that parses: one that does not holds no
    function or formula to compare."""
    for name, source in kit:
        try:
            yield name, ast.parse(source)
        except SyntaxError:
            continue


def equivalent_functions(regions: list[Region], kit: list[tuple[str, str]]) -> list[Match]:
    """(archive name, source) of the kit's Python files -> every function holding a region."""
    by_length: dict[int, dict[str, Region]] = {}
    for region in regions:
        by_length.setdefault(len(region.statements), {})[normalised(region.statements)] = region
    found = []
    for name, tree in _parsed(kit):
        for function in _functions(tree):
            body = _without_docstrings(function.body)
            hit = None
            for length, wanted in by_length.items():
                for start in range(0, len(body) - length + 1):
                    hit = wanted.get(normalised(body[start:start + length]))
                    if hit:
                        break
                if hit:
                    break
            if hit:
                found.append(Match(name, function.name, function.lineno, hit))
    return found


class _StringsBlanked(ast.NodeTransformer):
    """Text is not code: a TODO that spells the formula out is no oracle."""

    def visit_Constant(self, node):
        return ast.Constant(value="") if isinstance(node.value, str) else node

    def visit_JoinedStr(self, node):
        return ast.Constant(value="")


def fingerprints(kit: list[tuple[str, str]]) -> list[Fingerprint]:
    found = []
    for name, tree in _parsed(kit):
        # Functions (methods included) one by one; the rest of the module (tables, lambdas) as one.
        module_level = [s for s in tree.body
                        if not isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))]
        for where, line, body in [("<module>", 1, module_level)] + [(f.name, f.lineno, f.body) for f in _functions(tree)]:
            text = ast.unparse(_StringsBlanked().visit(ast.Module(
                body=copy.deepcopy(_without_docstrings(body)), type_ignores=[])))
            for formula in closed_forms_in(text):
                found.append(Fingerprint(name, where, line, formula))
    return found


def closed_forms_in(code: str) -> list[str]:
    """The FINGERPRINTS formulas that `code` (strings already blanked) spells out."""
    return [formula for formula, pattern in FINGERPRINTS if pattern.search(code)]


# ---------------------------------------------------------------- which helpers the kit needs


def referenced_names(source: str) -> set[str]:
    """Modules a file imports (every dotted prefix) and the strings it passes to calls: a
    helper loaded by name, e.g. worker_side("probes"), is reached through its string."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set()
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                names.update(".".join(parts[:i]) for i in range(1, len(parts) + 1))
        elif isinstance(node, ast.ImportFrom) and node.module:
            parts = node.module.split(".")
            names.update(".".join(parts[:i]) for i in range(1, len(parts) + 1))
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.Call):
            names.update(arg.value for arg in node.args
                         if isinstance(arg, ast.Constant) and isinstance(arg.value, str) and len(arg.value) < 100)
    return names


def reachable(roots: list[Path], helpers: dict[Path, set[str]]) -> set[Path]:
    """Helpers reached from `roots` by imports or names, transitively. `helpers` maps each
    helper file to the names that designate it (module name, dotted path, file name)."""
    seen: set[Path] = set()
    todo = list(roots)
    done: set[Path] = set()
    while todo:
        path = todo.pop()
        if path in done:
            continue
        done.add(path)
        names = referenced_names(path.read_text(encoding="utf-8", errors="replace")) if path.suffix == ".py" else set()
        for helper, aliases in helpers.items():
            if helper not in seen and names & aliases:
                seen.add(helper)
                todo.append(helper)
    return seen
