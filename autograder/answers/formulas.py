"""Check 2: fingerprints of the homework's closed forms, textual and structural, under any names."""
from __future__ import annotations

import ast
import copy
import re
from dataclasses import dataclass

from autograder.answers.normalise import (CONVERSIONS, call_name, attribute_chain, functions_of, parsed_files, Unwrapped,
                                         without_docstrings, local_conversions)

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
class Fingerprint:
    kit_file: str
    function: str
    line: int
    formula: str

    def __str__(self) -> str:
        return f"{self.kit_file}:{self.line} {self.function}(): {self.formula}"


class _StringsBlanked(ast.NodeTransformer):
    """Text is not code: a TODO that spells the formula out is no oracle."""

    def visit_Constant(self, node):
        return ast.Constant(value="") if isinstance(node.value, str) else node

    def visit_JoinedStr(self, node):
        return ast.Constant(value="")


def fingerprints(kit: list[tuple[str, str]]) -> list[Fingerprint]:
    found = []
    for name, tree in parsed_files(kit):
        conversions = local_conversions(tree)
        # Functions (methods included) one by one; the rest of the module (tables, lambdas) as one.
        module_level = [s for s in tree.body
                        if not isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))]
        for where, line, body in [("<module>", 1, module_level)] + [(f.name, f.lineno, f.body) for f in functions_of(tree)]:
            module = _StringsBlanked().visit(ast.Module(body=copy.deepcopy(without_docstrings(body)), type_ignores=[]))
            for formula in closed_forms_in(ast.unparse(module)) + structural_forms_in(module, conversions):
                found.append(Fingerprint(name, where, line, formula))
    return found


def closed_forms_in(code: str) -> list[str]:
    """The FINGERPRINTS formulas that `code` (strings already blanked) spells out."""
    return [formula for formula, pattern in FINGERPRINTS if pattern.search(code)]


def formulas_in(source: str) -> list[str]:
    """Every formula (textual and structural) anywhere in one file's source, strings blanked."""
    tree = _StringsBlanked().visit(ast.parse(source))
    found = closed_forms_in(ast.unparse(tree)) + structural_forms_in(tree, local_conversions(tree))
    return list(dict.fromkeys(found))


# ---------------------------------------------------------------- structural fingerprints

AFFINE = "x @ w + b (Dense forward)"
PER_SAMPLE_INPUT = "x[:, :, None] as a gradient (Dense weight gradient)"
DESCENT_STEP = "p -= lr * g (gradient-descent step, SGD)"
STRUCTURAL = [AFFINE, PER_SAMPLE_INPUT, DESCENT_STEP]
MATMUL_CALLS = frozenset({"dot", "matmul"})


def _plain(node: ast.AST) -> bool:
    """A value read as it is: a name, an attribute chain, or an item of one (self.inputs[0])."""
    if isinstance(node, ast.Name) or attribute_chain(node) is not None:
        return True
    if isinstance(node, ast.Subscript):
        index = node.slice
        return _plain(node.value) and (isinstance(index, (ast.Constant, ast.Name))
                                       or (isinstance(index, ast.UnaryOp) and isinstance(index.operand, ast.Constant)))
    return False


def _matmul_of_plain(node: ast.AST) -> bool:
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.MatMult):
        return _plain(node.left) and _plain(node.right)
    if isinstance(node, ast.Call) and call_name(node.func) in MATMUL_CALLS and not node.keywords:
        operands = list(node.args)
        if isinstance(node.func, ast.Attribute) and _plain(node.func.value) and len(operands) == 1:
            operands = [node.func.value] + operands  # x.dot(w)
        return len(operands) == 2 and all(map(_plain, operands))
    return False


def _is_none(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and node.value is None


def _per_sample_column(node: ast.AST) -> bool:
    """x[:, :, None] (or x[..., None] of a plain x, np.expand_dims(x, -1 / 2))."""
    if isinstance(node, ast.Subscript) and _plain(node.value) and isinstance(node.slice, ast.Tuple):
        items = node.slice.elts
        full = [isinstance(i, ast.Slice) and i.lower is None and i.upper is None and i.step is None for i in items]
        if len(items) == 3 and full[0] and full[1] and _is_none(items[2]):
            return True
        if len(items) == 2 and isinstance(items[0], ast.Constant) and items[0].value is Ellipsis and _is_none(items[1]):
            return True
    if (isinstance(node, ast.Call) and call_name(node.func) == "expand_dims" and len(node.args) == 2
            and _plain(node.args[0]) and isinstance(node.args[1], (ast.Constant, ast.UnaryOp))):
        return True
    return False


def _factors(node: ast.AST) -> list:
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mult):
        return _factors(node.left) + _factors(node.right)
    return [node]


def _step(node: ast.AST) -> bool:
    """lr * g: a product of at least two factors, with no call, division or power inside (a
    rescaled step such as RMSProp's g / sqrt(v) is another formula)."""
    factors = _factors(node)
    return len(factors) >= 2 and any(map(_plain, factors)) and not any(
        isinstance(n, (ast.Call, ast.Lambda)) or (isinstance(n, ast.BinOp) and not isinstance(n.op, (ast.Mult, ast.Sub, ast.Add)))
        for f in factors for n in ast.walk(f))


def _same(a: ast.AST, b: ast.AST) -> bool:
    strip = (lambda n: n.value if isinstance(n, ast.Subscript) and isinstance(n.slice, ast.Constant)
             and n.slice.value is Ellipsis else n)  # p[...] is p
    return ast.dump(strip(a), annotate_fields=False) == ast.dump(strip(b), annotate_fields=False).replace("Store()", "Load()") \
        or ast.dump(strip(a), annotate_fields=False).replace("Store()", "Load()") == ast.dump(strip(b), annotate_fields=False)


def _descent(node: ast.AST) -> bool:
    if isinstance(node, ast.AugAssign) and isinstance(node.op, ast.Sub):
        return _step(node.value)
    update = None
    if isinstance(node, ast.Assign) and len(node.targets) == 1:
        target, update = node.targets[0], node.value
    elif (isinstance(node, ast.Call) and call_name(node.func) == "assign" and isinstance(node.func, ast.Attribute)
          and len(node.args) == 1):
        target, update = node.func.value, node.args[0]
    return (update is not None and isinstance(update, ast.BinOp) and isinstance(update.op, ast.Sub)
            and _same(target, update.left) and _step(update.right))


def structural_forms_in(tree: ast.AST, conversions: frozenset = CONVERSIONS) -> list[str]:
    """The STRUCTURAL formulas in `tree` (a module or a body), conversions stripped first."""
    tree = Unwrapped(conversions).visit(copy.deepcopy(tree))
    found = []
    values = []  # what is handed on as a value: returned, listed, assigned, a lambda's result
    for node in ast.walk(tree):
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add) and (
                (_matmul_of_plain(node.left) and _plain(node.right))
                or (_matmul_of_plain(node.right) and _plain(node.left))):
            found.append(AFFINE)
        if isinstance(node, (ast.Return, ast.Assign)) and node.value is not None:
            values.append(node.value)
        elif isinstance(node, ast.Lambda):
            values.append(node.body)
        elif isinstance(node, (ast.List, ast.Tuple)) and not isinstance(getattr(node, "ctx", None), ast.Store):
            values.extend(node.elts)
        if _descent(node):
            found.append(DESCENT_STEP)
    if any(_per_sample_column(v) for v in values):
        found.append(PER_SAMPLE_INPUT)
    return [formula for formula in STRUCTURAL if formula in found]
