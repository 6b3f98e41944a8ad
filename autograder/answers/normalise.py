"""Normalised syntax trees: a renamed, reformatted or re-wrapped copy of code becomes the same
tree, and the kit's files parsed once."""
from __future__ import annotations

import ast
import copy

# Calls that only convert their first argument to an array: an answer wrapped in them is
# still the answer.
CONVERSIONS = frozenset({"asarray", "asanyarray", "array", "ascontiguousarray", "float64", "atleast_2d"})


def call_name(func: ast.AST) -> str:
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return ""


def attribute_chain(node: ast.AST) -> str | None:
    """`a.b.c` for an attribute chain rooted at a name, else None."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    return ".".join([node.id] + parts[::-1])


class Unwrapped(ast.NodeTransformer):
    """Conversions replaced by what they convert, `np.newaxis` by None."""

    def __init__(self, conversions: frozenset = CONVERSIONS):
        self.conversions = conversions

    def visit_Call(self, node):
        self.generic_visit(node)
        if (call_name(node.func) in self.conversions and len(node.args) == 1
                and not isinstance(node.args[0], ast.Starred)):
            return node.args[0]
        return node

    def visit_Attribute(self, node):
        if node.attr == "newaxis" and isinstance(node.value, ast.Name):
            return ast.copy_location(ast.Constant(value=None), node)
        return self.generic_visit(node)


def local_conversions(tree: ast.AST) -> frozenset:
    """CONVERSIONS and the file's own functions that only convert (or return) their first
    argument, e.g. `def plain(v): return np.array(v, dtype=np.float64)`."""
    found = set(CONVERSIONS)
    for _ in range(2):  # a wrapper of a wrapper
        for node in ast.walk(tree):
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) or not node.args.args:
                continue
            body = without_docstrings(node.body)
            if len(body) != 1 or not isinstance(body[0], ast.Return) or body[0].value is None:
                continue
            value = Unwrapped(frozenset(found)).visit(copy.deepcopy(body[0].value))
            if isinstance(value, ast.Name) and value.id == node.args.args[0].arg:
                found.add(node.name)
    return frozenset(found)


class _Canonical(ast.NodeTransformer):
    """Names renamed by order of first use (an attribute chain such as `self.w` is one name);
    docstrings and annotations dropped; numbers as floats."""

    def __init__(self):
        self.names: dict[str, str] = {}

    def visit_Call(self, node):
        # A called attribute is an operation (np.sum, x.reshape): its name stays, its object is visited.
        if isinstance(node.func, ast.Attribute):
            node.func.value = self.visit(node.func.value)
            node.args = [self.visit(a) for a in node.args]
            node.keywords = [self.visit(k) for k in node.keywords]
            return node
        return self.generic_visit(node)

    def visit_Attribute(self, node):
        chain = attribute_chain(node)
        if chain is None:
            return self.generic_visit(node)
        return ast.copy_location(ast.Name(id=self._name(chain), ctx=ast.Load()), node)

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


def without_docstrings(statements: list) -> list:
    return [s for s in statements
            if not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant) and isinstance(s.value.value, str))]


def normalised(statements: list, conversions: frozenset = CONVERSIONS) -> str:
    """A canonical dump of statements: equal for renamed, reformatted or re-wrapped copies."""
    module = ast.Module(body=copy.deepcopy(without_docstrings(statements)), type_ignores=[])
    canonical = _Canonical().visit(Unwrapped(conversions).visit(module))
    ast.fix_missing_locations(canonical)
    return ast.dump(canonical, annotate_fields=False, include_attributes=False)


def node_count(statements: list) -> int:
    return sum(1 for s in statements for _ in ast.walk(s))


def functions_of(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            yield node


def parsed_files(kit: list[tuple[str, str]]):
    """(archive name, syntax tree) of each kit file that parses: one that does not holds no
    function or formula to compare."""
    for name, source in kit:
        try:
            yield name, ast.parse(source)
        except SyntaxError:
            continue
