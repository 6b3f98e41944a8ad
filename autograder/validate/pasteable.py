"""Hints that hold a line of the solution: validate's check that a hint guides without
handing over code a student could paste.

The solution is what the reference's solution regions hold (`# BEGIN SOLUTION` ...
`# END SOLUTION`, autograder/template.py). Every expression of those regions big enough to be
an answer (several operations, not `1 - eps` or `g ** 2`) is normalised: names renamed by
order of first use, numbers as floats, `np.`/`math.` dropped from calls, conversions such as
`np.asarray(...)` unwrapped, and sizes (`y.shape[-1]`, `len(x)`) read as plain names. A hint's
text is searched for every run of words that parses as a Python expression (`^` read as a
power, as hints write it); one that normalises to a solution expression is a violation.
"""
from __future__ import annotations

import ast
import copy
import re
import textwrap
from pathlib import Path
from typing import Iterable

from autograder.answers.normalise import Unwrapped, attribute_chain
from autograder.template import find_regions

MODULES = ("np", "numpy", "math")
# An answer has at least this many expression nodes and operations (calls, operators,
# indexing): `(28 - width) // 2` has 5 and 2; `1 - eps` (3, 1) is a notation, not a line.
MIN_NODES, MIN_OPERATIONS = 5, 2
OPERATIONS = (ast.Call, ast.BinOp, ast.UnaryOp, ast.Subscript, ast.Compare)
MAX_WORDS = 16  # the longest run of words tried as an expression


class _Sizes(ast.NodeTransformer):
    """`x.shape[i]`, `x.shape`, `x.size`, `len(x)`: a size, read as one name."""

    def visit_Subscript(self, node):
        if isinstance(node.value, ast.Attribute) and node.value.attr == "shape":
            return ast.copy_location(ast.Name(id="size:" + ast.dump(node), ctx=ast.Load()), node)
        return self.generic_visit(node)

    def visit_Attribute(self, node):
        if node.attr in ("shape", "size"):
            return ast.copy_location(ast.Name(id="size:" + ast.dump(node), ctx=ast.Load()), node)
        return self.generic_visit(node)

    def visit_Call(self, node):
        if isinstance(node.func, ast.Name) and node.func.id == "len" and len(node.args) == 1:
            return ast.copy_location(ast.Name(id="size:" + ast.dump(node), ctx=ast.Load()), node)
        return self.generic_visit(node)


class _Canonical(ast.NodeTransformer):
    """Functions keep their names (without np.); variables and attribute chains are renamed by
    order of first use; numbers are floats; `^` is a power."""

    def __init__(self):
        self.names: dict[str, str] = {}

    def _name(self, name: str) -> str:
        return self.names.setdefault(name, f"v{len(self.names)}")

    def visit_Call(self, node):
        func = node.func
        chain = attribute_chain(func) if isinstance(func, ast.Attribute) else None
        if chain and chain.split(".")[0] in MODULES:
            name = "fn:" + func.attr
            node.func = ast.Name(id=name, ctx=ast.Load())
        elif isinstance(func, ast.Name):
            node.func = ast.Name(id="fn:" + func.id, ctx=ast.Load())
        elif isinstance(func, ast.Attribute):  # a method: its name stays, its object is renamed
            func.value = self.visit(func.value)
        else:
            node.func = self.visit(func)
        node.args = [self.visit(a) for a in node.args]
        node.keywords = [self.visit(k) for k in node.keywords]
        return node

    def visit_Attribute(self, node):
        chain = attribute_chain(node)
        if chain is None:
            return self.generic_visit(node)
        return ast.copy_location(ast.Name(id=self._name(chain), ctx=ast.Load()), node)

    def visit_Name(self, node):
        if node.id.startswith("fn:"):
            return node
        return ast.copy_location(ast.Name(id=self._name(node.id), ctx=ast.Load()), node)

    def visit_Constant(self, node):
        value = node.value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = float(value)
        return ast.copy_location(ast.Constant(value=value), node)

    def visit_BinOp(self, node):
        self.generic_visit(node)
        if isinstance(node.op, ast.BitXor):
            node.op = ast.Pow()
        return node


def _count(node: ast.AST) -> tuple[int, int]:
    """(expression nodes, operations) of an expression; a called function's name is no node."""
    called = {id(n.func) for n in ast.walk(node) if isinstance(n, ast.Call)}
    nodes = [n for n in ast.walk(node) if isinstance(n, ast.expr) and id(n) not in called]
    return len(nodes), sum(1 for n in nodes if isinstance(n, OPERATIONS))


def significant(node: ast.AST) -> bool:
    nodes, operations = _count(node)
    return nodes >= MIN_NODES and operations >= MIN_OPERATIONS


def canonical(node: ast.expr) -> str:
    tree = Unwrapped().visit(copy.deepcopy(node))
    tree = _Sizes().visit(tree)
    tree = _Canonical().visit(tree)
    return ast.dump(tree, annotate_fields=False, include_attributes=False)


def _region_code(lines: list[str]) -> list[ast.AST]:
    """The syntax trees of a region's lines: as one block, or line by line if it does not parse."""
    body = textwrap.dedent("\n".join(lines))
    try:
        return [ast.parse(body)]
    except SyntaxError:
        trees = []
        for line in lines:
            try:
                trees.append(ast.parse(line.strip()))
            except SyntaxError:
                continue
        return trees


def solution_expressions(reference: Path) -> dict[str, str]:
    """normalised expression -> `file:line: source` for every answer-sized expression in the
    reference's solution regions."""
    found: dict[str, str] = {}
    for path in sorted(Path(reference).rglob("*.py")):
        if "__pycache__" in path.parts:
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        lines = text.splitlines()
        name = path.relative_to(reference).as_posix()
        for region in find_regions(text, name):
            body = lines[region.begin:region.end - 1]
            for tree in _region_code(body):
                for node in ast.walk(tree):
                    if isinstance(node, ast.expr) and significant(node):
                        line = region.begin + getattr(node, "lineno", 1)
                        source = ast.unparse(node)
                        found.setdefault(canonical(node), f"{name}:{line}: {source}")
    return found


def code_fragments(text: str) -> Iterable[ast.expr]:
    """Every answer-sized expression written in a hint: its code spans, and every run of
    words of its prose that parses as one."""
    spans = re.findall(r"`([^`]+)`", text)
    words = re.sub(r"`|\*\*", " ", text).split()
    candidates = list(spans)
    for i in range(len(words)):
        for j in range(i + 1, min(len(words), i + MAX_WORDS) + 1):
            candidates.append(" ".join(words[i:j]).rstrip(".,;:"))
    seen = set()
    for candidate in candidates:
        candidate = candidate.strip()
        if not candidate or candidate in seen:
            continue
        seen.add(candidate)
        try:
            tree = ast.parse(candidate, mode="eval")
        except (SyntaxError, ValueError, RecursionError):
            continue
        for node in ast.walk(tree.body):
            if isinstance(node, ast.expr) and significant(node):
                yield node


def pasted_lines(hint: str, solutions: dict[str, str]) -> list[str]:
    """The solution lines (`file:line: source`) a hint's text holds."""
    hits = []
    for node in code_fragments(hint):
        where = solutions.get(canonical(node))
        if where and where not in hits:
            hits.append(where)
    # A part of a line found with the whole line is the same finding.
    source = lambda where: where.split(": ", 1)[1]
    return [h for h in hits if not any(h != o and source(h) in source(o) for o in hits)]


HINT = re.compile(r"\*\*Hint:\*\*\s*(.+?)(?:\n\n|\Z)", re.S)


def hints_in(output: str) -> list[str]:
    """The hint paragraphs of a failed test's Markdown output."""
    return [m.group(1).strip() for m in HINT.finditer(output or "")]


def pasteable_hints(docs: dict[str, dict], solutions: dict[str, str]) -> list[str]:
    """One violation per hint holding solution lines, found in the outputs of the results documents
    (label -> results.json)."""
    problems, seen = [], set()
    for label, doc in docs.items():
        # A hint may name other tests, "2.1 (Dense forward x @ w + b)": their
        # titles are in every student's list of tests already, not something a hint hands over.
        titles = sorted({str(t.get("name", "")) for t in doc.get("tests", []) or [] if t.get("name")},
                        key=len, reverse=True)
        for test in doc.get("tests", []) or []:
            for hint in hints_in(str(test.get("output", ""))):
                text = hint
                for title in titles:
                    text = text.replace(f"({title})", " ")
                lines = pasted_lines(text, solutions)
                if not lines or hint in seen:
                    continue
                seen.add(hint)
                name = test.get("number") or test.get("name", "?")
                problems.append(f"{label}: the hint of {name} holds a line of the solution "
                                f"({'; '.join(lines)}): {hint[:160]!r}")
    return problems
