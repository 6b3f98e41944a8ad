"""Does the student kit hold an answer? Two checks of the Python files that go to students.

1. Equivalence (fails the build): every reference solution region (the lines between
   `# BEGIN SOLUTION` and `# END SOLUTION`, see template.py) is parsed and normalised:
   docstrings dropped, every name (locals, arguments, modules) renamed by order of first
   use, numbers compared as floats, attribute chains (`self.w`) as one name, `np.newaxis`
   as None, and array conversions (`np.asarray(x)`, `np.array(x, dtype=float)`, and any
   function of the same file that only converts its argument, e.g. a `plain(v)` helper) as
   their argument. Each function of the kit is normalised the same way, and every run of
   consecutive statements of its body is compared with each region. A renamed,
   reformatted or re-wrapped copy of a solution is then the same tree. Regions too small to
   be an answer (`return self.w`) are not compared: they would match innocent code.
2. Fingerprints (fail the build too): textual patterns of closed forms of the homework's
   parts (exp-normalise, the sigmoid and its derivative, a softmax Jacobian, MSE,
   cross-entropy, one-hot rows of an identity, RMSProp/Adam's second moment), in every
   function and in module-level code (a lambda in a table), strings blanked; and structural
   patterns of the syntax tree, conversions stripped as above, for forms too short for
   text: an affine map `x @ w + b` (Dense's forward), a per-sample `x[:, :, None]` given as
   a value (Dense's weight gradient), a gradient-descent step `p -= lr * g` (SGD). They
   catch an oracle written differently from the reference, under any names. The suite's public tests name expected
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


# Calls that only convert their first argument to an array: an answer wrapped in them is
# still the answer.
CONVERSIONS = frozenset({"asarray", "asanyarray", "array", "ascontiguousarray", "float64", "atleast_2d"})


def _call_name(func: ast.AST) -> str:
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return ""


def _chain(node: ast.AST) -> str | None:
    """`a.b.c` for an attribute chain rooted at a name, else None."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    return ".".join([node.id] + parts[::-1])


class _Unwrapped(ast.NodeTransformer):
    """Conversions replaced by what they convert, `np.newaxis` by None."""

    def __init__(self, conversions: frozenset = CONVERSIONS):
        self.conversions = conversions

    def visit_Call(self, node):
        self.generic_visit(node)
        if (_call_name(node.func) in self.conversions and len(node.args) == 1
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
            body = _without_docstrings(node.body)
            if len(body) != 1 or not isinstance(body[0], ast.Return) or body[0].value is None:
                continue
            value = _Unwrapped(frozenset(found)).visit(copy.deepcopy(body[0].value))
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
        chain = _chain(node)
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


def _without_docstrings(statements: list) -> list:
    return [s for s in statements
            if not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant) and isinstance(s.value.value, str))]


def normalised(statements: list, conversions: frozenset = CONVERSIONS) -> str:
    """A canonical dump of statements: equal for renamed, reformatted or re-wrapped copies."""
    module = ast.Module(body=copy.deepcopy(_without_docstrings(statements)), type_ignores=[])
    canonical = _Canonical().visit(_Unwrapped(conversions).visit(module))
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
        conversions = local_conversions(tree)
        for function in _functions(tree):
            body = _without_docstrings(function.body)
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


class _StringsBlanked(ast.NodeTransformer):
    """Text is not code: a TODO that spells the formula out is no oracle."""

    def visit_Constant(self, node):
        return ast.Constant(value="") if isinstance(node.value, str) else node

    def visit_JoinedStr(self, node):
        return ast.Constant(value="")


def fingerprints(kit: list[tuple[str, str]]) -> list[Fingerprint]:
    found = []
    for name, tree in _parsed(kit):
        conversions = local_conversions(tree)
        # Functions (methods included) one by one; the rest of the module (tables, lambdas) as one.
        module_level = [s for s in tree.body
                        if not isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))]
        for where, line, body in [("<module>", 1, module_level)] + [(f.name, f.lineno, f.body) for f in _functions(tree)]:
            module = _StringsBlanked().visit(ast.Module(body=copy.deepcopy(_without_docstrings(body)), type_ignores=[]))
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
    if isinstance(node, ast.Name) or _chain(node) is not None:
        return True
    if isinstance(node, ast.Subscript):
        index = node.slice
        return _plain(node.value) and (isinstance(index, (ast.Constant, ast.Name))
                                       or (isinstance(index, ast.UnaryOp) and isinstance(index.operand, ast.Constant)))
    return False


def _matmul_of_plain(node: ast.AST) -> bool:
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.MatMult):
        return _plain(node.left) and _plain(node.right)
    if isinstance(node, ast.Call) and _call_name(node.func) in MATMUL_CALLS and not node.keywords:
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
    if (isinstance(node, ast.Call) and _call_name(node.func) == "expand_dims" and len(node.args) == 2
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
    elif (isinstance(node, ast.Call) and _call_name(node.func) == "assign" and isinstance(node.func, ast.Attribute)
          and len(node.args) == 1):
        target, update = node.func.value, node.args[0]
    return (update is not None and isinstance(update, ast.BinOp) and isinstance(update.op, ast.Sub)
            and _same(target, update.left) and _step(update.right))


def structural_forms_in(tree: ast.AST, conversions: frozenset = CONVERSIONS) -> list[str]:
    """The STRUCTURAL formulas in `tree` (a module or a body), conversions stripped first."""
    tree = _Unwrapped(conversions).visit(copy.deepcopy(tree))
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
